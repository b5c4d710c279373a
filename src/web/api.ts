import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Config } from '../config';
import type { TenantStore } from '../connect/tenants';
import { ConnectionError, ConnectionService, PROVIDERS, type Connection } from '../connections/service';
import type { Database, Queryable } from '../db/database';
import { DirectoryRepository } from '../directory/repository';
import type { JobsService } from '../jobs/service';
import { describeSchedule, nextRuns, parseSchedule, scheduleSchema } from '../jobs/schedule';
import type { Logger } from '../logging/logger';
import type { SecretBox } from '../security/crypto';
import { describePullConfig, pullConfigSchema, readPullConfig, savePullConfig } from '../sources/config';
import { testPullConfig } from '../sources';
import { describeAudit, listAudit, recordAudit, type AuditAction } from '../sync/audit';
import { applyTransform, passesFilters } from '../sync/rules';
import { getSettings, nameFiltersSchema, saveSettings, settingsSchema, transformSchema } from '../sync/settings';
import { describeDeprovisioning } from '../sync/deprovisioning';
import type { SyncEngine } from '../sync/runs';
import { requireAdmin, adminOf, type AdminCheck } from './auth';
import { ApiError, apiErrorHandler, notFound, route } from './http';
import { ValidationError, parseInput } from './validation';
import { TargetStore, type StoredTarget } from '../targets/store';
import { targetInputSchema } from '../targets/config';
import { TargetError } from '../targets/types';
import { CAPABILITY_MATRIX, capabilitiesOf } from '../targets/capabilities';
import type { TargetDependencies } from '../targets/factory';
import { describeOps, exportRunOpsCsv, getRun, listRunOps, listRuns, opCounts } from '../sync/history';
import { opsQuerySchema, runsQuerySchema } from './history';

export interface AdminApiDependencies {
  config: Config;
  db: Database;
  logger: Logger;
  secrets: SecretBox;
  tenants: TenantStore;
  adminCheck: AdminCheck;
  /** Enqueues Synchronize and reports job status (the worker may run on another instance). */
  jobs: JobsService;
  /** Confirms a run stopped at the safety threshold; absent until the engine is wired with its targets. */
  engine?: SyncEngine;
  /** HTTP tuning for the target adapters the pickers and "Test connection" open (tests shorten timeouts). */
  targetDependencies?: TargetDependencies;
}

/** The providers the "Add New App" chooser offers, miniOrange first, with the names admins know them by. */
export const PROVIDER_LABELS: Record<(typeof PROVIDERS)[number], string> = {
  miniorange: 'miniOrange',
  entra: 'Microsoft Entra ID (Azure AD)',
  okta: 'Okta',
  onelogin: 'OneLogin',
  jumpcloud: 'JumpCloud',
  google: 'Google Workspace',
  keycloak: 'Keycloak',
  generic: 'Other SCIM 2.0 provider',
};

const uuid = z.uuid({ message: 'must be an id' });

const createConnectionBody = z.object({
  provider: z.enum(PROVIDERS, { message: 'choose a provider' }),
  name: z.string().trim().min(1, 'enter a name for this app').max(200, 'at most 200 characters'),
});
const renameBody = z.object({ name: createConnectionBody.shape.name });
const rotateBody = z.object({ graceSeconds: z.number().int().min(0).max(30 * 86400).optional() }).default({});

/** A page saves the sections it shows (user + safety, or group) in one transaction. */
const saveSettingsBody = z.object({
  settings: z.object({ user: z.unknown().optional(), group: z.unknown().optional(), safety: z.unknown().optional() }).strict(),
  expectedVersion: z.number().int().min(1).optional(),
});

const previewBody = z.object({
  names: z.array(z.string().max(500)).max(200),
  transform: transformSchema.nullable().default(null),
  filters: nameFiltersSchema.prefault({}),
});

const scheduleBody = z.object({ schedule: z.unknown() });

const syncBody = z.object({ dryRun: z.boolean().default(false) }).default({ dryRun: false });

const pickerQuery = z.object({ q: z.string().max(200).default(''), limit: z.coerce.number().int().min(1).max(100).default(25) });

const auditQuery = z.object({
  connectionId: uuid.optional(),
  beforeId: z.coerce.number().int().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

function connectionJson(connection: Connection) {
  return {
    id: connection.id,
    name: connection.name,
    provider: connection.provider,
    providerLabel: PROVIDER_LABELS[connection.provider],
    scimBaseUrl: connection.scimBaseUrl,
    createdAt: connection.createdAt,
    updatedAt: connection.updatedAt,
  };
}

/** Admin changes go to the same audit log as settings changes, in the same transaction as the change. */
async function audit(db: Queryable, res: Response, connectionId: string | null, action: string, details: Record<string, unknown>): Promise<void> {
  const admin = adminOf(res);
  // The audit log's action names are the sync module's; the admin pages add theirs (connection.*, schedule.*, …).
  await recordAudit(db, { tenantId: admin.tenant.id, connectionId, actor: admin.accountId, action: action as AuditAction, details });
}

function targetJson(target: StoredTarget) {
  const withOrg = 'orgTargetId' in target.settings && Boolean(target.settings.orgTargetId);
  return {
    id: target.id,
    name: target.name,
    kind: target.kind,
    baseUrl: target.baseUrl,
    settings: target.settings,
    credentialFields: target.credentialFields,
    site: target.site,
    sharesDirectoryWith: target.sharesDirectoryWith,
    enabled: target.enabled,
    lastCheck: target.lastCheck,
    lastCheckedAt: target.lastCheckedAt,
    capabilities: capabilitiesOf(target.kind, withOrg),
    instead: CAPABILITY_MATRIX[target.kind].instead,
  };
}

const targetPatchBody = z
  .object({
    name: z.string().optional(),
    baseUrl: z.string().optional(),
    settings: z.record(z.string(), z.unknown()).optional(),
    credentials: z.record(z.string(), z.unknown()).optional(),
    enabled: z.boolean().optional(),
  })
  .strict();

/** Reads at most this many groups from a target to answer one picker query (the picker filters by name). */
const PICKER_SCAN_LIMIT = 5000;

/**
 * Runs a call that reads a target's answers. An answer of a shape the adapter did not expect can surface as
 * a plain TypeError; it is still the target's fault, so it becomes a TargetError (a 502), never a 500.
 */
async function fromTarget<T>(target: StoredTarget, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name === 'TargetError' || name === 'EgressError' || name === 'TargetNotFoundError' || error instanceof ApiError) throw error;
    throw new TargetError(`${target.kind} answered in a shape this app does not understand`, null, target.kind);
  }
}

function connectionOf(res: Response): Connection {
  return res.locals.connection as Connection;
}

/**
 * The JSON API behind the admin pages, mounted at /api. Every route, including ones added later, sits behind
 * requireAdmin (context JWT + Jira administrator check), which is the first handler of this router; every
 * route with :connectionId is checked to belong to the caller's tenant before its handler runs.
 */
export function createAdminApi(deps: AdminApiDependencies): Router {
  const { db, secrets, config, jobs } = deps;
  const connections = new ConnectionService(db, { baseUrl: config.baseUrl, tokenGraceSeconds: config.scim.tokenGraceSeconds });
  const directory = new DirectoryRepository(db);
  const targets = new TargetStore(db, secrets);
  const targetDependencies = deps.targetDependencies ?? {};
  // The test a save runs answers within seconds: one retry, a short timeout (the Test connection button waits longer).
  const saveTestDependencies: TargetDependencies = { ...targetDependencies, http: { maxRetries: 1, timeoutMs: 10_000, ...targetDependencies.http } };
  const api = Router();

  api.use(requireAdmin(deps.tenants, deps.adminCheck, deps.logger));
  // Nothing the API answers is cacheable: it is per user and changes with every save.
  api.use((_req, res, next) => {
    res.set('cache-control', 'no-store');
    next();
  });

  api.param('connectionId', (req, res, next, id: string) => {
    const tenantId = adminOf(res).tenant.id;
    connections.get(id, tenantId).then((connection) => {
      if (!connection) return next(notFound('Connection'));
      res.locals.connection = connection;
      next();
    }, next);
  });

  // ---- who am I ----------------------------------------------------------------------------------

  api.get(
    '/me',
    route(async (_req, res) => {
      const admin = adminOf(res);
      const { tenant } = admin;
      res.json({
        accountId: admin.accountId,
        site: tenant.baseUrl,
        local: tenant.origin === 'local',
        // Diagnostics: which flavour installed this site, and its Forge installation id when on Forge.
        installation: {
          flavour: tenant.origin === 'local' ? 'local' : tenant.forgeInstallationId ? 'connect-on-forge' : 'connect',
          forgeInstallationId: tenant.forgeInstallationId,
        },
      });
    }),
  );

  // ---- Configured IdPs -------------------------------------------------------------------------------

  api.get(
    '/providers',
    route(async (_req, res) => {
      res.json({ providers: PROVIDERS.map((id) => ({ id, label: PROVIDER_LABELS[id] })) });
    }),
  );

  api.get(
    '/connections',
    route(async (_req, res) => {
      const admin = adminOf(res);
      const list = await connections.list({ tenantClientKey: admin.tenant.clientKey });
      res.json({ connections: list.map(connectionJson) });
    }),
  );

  api.post(
    '/connections',
    route(async (req, res) => {
      const body = parseInput(createConnectionBody, req.body);
      const admin = adminOf(res);
      let created;
      try {
        created = await connections.create({ tenantClientKey: admin.tenant.clientKey, name: body.name, provider: body.provider });
      } catch (error) {
        if (error instanceof ConnectionError && error.code === 'conflict') throw new ValidationError({ name: 'an app with this name already exists' });
        throw error;
      }
      await audit(db, res, created.connection.id, 'connection.create', { name: created.connection.name, provider: created.connection.provider });
      // The token is in this response and nowhere else: only its hash is stored.
      res.status(201).json({ connection: connectionJson(created.connection), token: created.token });
    }),
  );

  api.get(
    '/connections/:connectionId',
    route(async (_req, res) => {
      const connection = connectionOf(res);
      const [tokens, pull] = await Promise.all([connections.listTokens(connection.id), readPullConfig(db, secrets, connection.id)]);
      res.json({
        connection: connectionJson(connection),
        tokens: tokens.map((t) => ({ id: t.id, createdAt: t.createdAt, expiresAt: t.expiresAt, revokedAt: t.revokedAt, lastUsedAt: t.lastUsedAt, active: t.active })),
        pull: pull ? describePullConfig(pull) : null,
      });
    }),
  );

  api.patch(
    '/connections/:connectionId',
    route(async (req, res) => {
      const body = parseInput(renameBody, req.body);
      const before = connectionOf(res);
      let renamed;
      try {
        renamed = await connections.rename(before.id, body.name);
      } catch (error) {
        if (error instanceof ConnectionError && error.code === 'conflict') throw new ValidationError({ name: 'an app with this name already exists' });
        throw error;
      }
      await audit(db, res, before.id, 'connection.rename', { from: before.name, to: renamed.name });
      res.json({ connection: connectionJson(renamed) });
    }),
  );

  api.delete(
    '/connections/:connectionId',
    route(async (_req, res) => {
      const connection = connectionOf(res);
      await db.transaction(async (client) => {
        // Written first: the audit row's connection_id is set to NULL by the delete, its details keep the name.
        await audit(client, res, connection.id, 'connection.delete', { id: connection.id, name: connection.name, provider: connection.provider });
        await client.query('DELETE FROM connections WHERE id = $1 AND tenant_id = $2', [connection.id, connection.tenantId]);
      });
      res.status(204).end();
    }),
  );

  api.post(
    '/connections/:connectionId/token/rotate',
    route(async (req, res) => {
      const body = parseInput(rotateBody, req.body ?? {});
      const connection = connectionOf(res);
      const rotated = await connections.rotateToken(connection.id, { graceSeconds: body.graceSeconds });
      await audit(db, res, connection.id, 'connection.token.rotate', { previousTokensExpireAt: rotated.previousTokensExpireAt });
      res.json({ token: rotated.token, previousTokensExpireAt: rotated.previousTokensExpireAt, scimBaseUrl: connection.scimBaseUrl });
    }),
  );

  api.post(
    '/connections/:connectionId/token/revoke',
    route(async (_req, res) => {
      const connection = connectionOf(res);
      const revoked = await connections.revokeTokens(connection.id);
      await audit(db, res, connection.id, 'connection.token.revoke', { revoked });
      res.json({ revoked });
    }),
  );

  // ---- pull credentials ------------------------------------------------------------------------------

  api.get(
    '/connections/:connectionId/pull',
    route(async (_req, res) => {
      const pull = await readPullConfig(db, secrets, connectionOf(res).id);
      res.json({ pull: pull ? describePullConfig(pull) : null });
    }),
  );

  api.put(
    '/connections/:connectionId/pull',
    route(async (req, res) => {
      const connection = connectionOf(res);
      const input = z.object({ kind: z.string() }).loose().safeParse(req.body);
      if (!input.success) throw new ValidationError({ kind: 'choose what to pull from' });
      const saved = await db.transaction(async (client) => {
        const config = await savePullConfig(client, secrets, connection.id, req.body);
        await audit(client, res, connection.id, 'connection.pull.save', { kind: config?.kind ?? null });
        return config;
      });
      // Saved whatever the test finds: the admin may be fixing the IdP side next. The page shows what it found.
      const test = saved ? await testPullConfig(saved) : null;
      res.json({ pull: saved ? describePullConfig(saved) : null, test });
    }),
  );

  api.delete(
    '/connections/:connectionId/pull',
    route(async (_req, res) => {
      const connection = connectionOf(res);
      await db.transaction(async (client) => {
        await savePullConfig(client, secrets, connection.id, null);
        await audit(client, res, connection.id, 'connection.pull.remove', {});
      });
      res.status(204).end();
    }),
  );

  api.post(
    '/connections/:connectionId/pull/test',
    route(async (req, res) => {
      const connection = connectionOf(res);
      // Test what the form holds when it sends a complete config, else what is stored.
      const candidate = req.body && typeof req.body === 'object' && 'kind' in req.body ? parseInput(pullConfigSchema, req.body) : null;
      const config = candidate ?? (await readPullConfig(db, secrets, connection.id));
      if (!config) throw new ApiError(400, 'no_pull_config', 'This app has no pull credentials yet');
      res.json(await testPullConfig(config));
    }),
  );

  // ---- targets ---------------------------------------------------------------------------------------

  const targetOf = async (req: Request, res: Response) => {
    const targetId = parseInput(uuid, req.params.targetId, 'targetId');
    const target = await targets.get(adminOf(res).tenant.id, targetId);
    if (!target) throw notFound('Target');
    return target;
  };

  api.get(
    '/targets',
    route(async (_req, res) => {
      const list = await targets.list(adminOf(res).tenant.id);
      res.json({ targets: list.map(targetJson) });
    }),
  );

  api.post(
    '/targets',
    route(async (req, res) => {
      // The store validates too; parsing here gives the form its field paths.
      parseInput(targetInputSchema, req.body);
      const created = await targets.create(adminOf(res).tenant.id, req.body);
      await audit(db, res, null, 'target.create', { targetId: created.id, name: created.name, kind: created.kind });
      // Saved whatever the test finds (the admin may fix the token next); the page shows what it found.
      const test = await targets.testConnection(created.tenantId, created.id, saveTestDependencies);
      res.status(201).json({ target: targetJson((await targets.get(created.tenantId, created.id)) ?? created), test });
    }),
  );

  api.patch(
    '/targets/:targetId',
    route(async (req, res) => {
      const target = await targetOf(req, res);
      const patch = parseInput(targetPatchBody, req.body);
      // Empty secret fields in the form mean "keep the stored one".
      const credentials = patch.credentials ? Object.fromEntries(Object.entries(patch.credentials).filter(([, v]) => v !== '' && v !== undefined)) : undefined;
      const updated = await targets.update(target.tenantId, target.id, { ...patch, credentials: credentials && Object.keys(credentials).length > 0 ? credentials : undefined });
      const changes = (['name', 'baseUrl', 'enabled'] as const)
        .filter((field) => patch[field] !== undefined && updated[field] !== target[field])
        .map((field) => ({ field, before: target[field], after: updated[field] }));
      await audit(db, res, null, 'target.update', {
        targetId: target.id,
        name: updated.name,
        fields: Object.keys(patch),
        changes,
        credentialsChanged: Boolean(credentials && Object.keys(credentials).length > 0),
      });
      const test = await targets.testConnection(updated.tenantId, updated.id, saveTestDependencies);
      res.json({ target: targetJson((await targets.get(updated.tenantId, updated.id)) ?? updated), test });
    }),
  );

  api.delete(
    '/targets/:targetId',
    route(async (req, res) => {
      const target = await targetOf(req, res);
      await targets.remove(target.tenantId, target.id);
      await audit(db, res, null, 'target.delete', { targetId: target.id, name: target.name, kind: target.kind });
      res.status(204).end();
    }),
  );

  api.post(
    '/targets/:targetId/test',
    route(async (req, res) => {
      const target = await targetOf(req, res);
      res.json(await targets.testConnection(target.tenantId, target.id, targetDependencies));
    }),
  );

  api.get(
    '/targets/:targetId/groups',
    route(async (req, res) => {
      const target = await targetOf(req, res);
      const query = parseInput(pickerQuery, req.query);
      const needle = query.q.toLowerCase();
      const groups: Array<{ groupId: string; name: string }> = [];
      await fromTarget(target, async () => {
        const adapter = await targets.open(target.tenantId, target.id, targetDependencies);
        let scanned = 0;
        for await (const group of adapter.listGroups()) {
          if (++scanned > PICKER_SCAN_LIMIT || groups.length >= query.limit) break;
          if (group.name.toLowerCase().includes(needle)) groups.push({ groupId: group.groupId, name: group.name });
        }
      });
      res.json({ groups });
    }),
  );

  /** Projects and components with their current leads (the lead pickers show who leads what today). */
  api.get(
    '/targets/:targetId/leads',
    route(async (req, res) => {
      const target = await targetOf(req, res);
      const projects: unknown[] = [];
      const components: unknown[] = [];
      await fromTarget(target, async () => {
        const adapter = await targets.open(target.tenantId, target.id, targetDependencies);
        if (adapter.listProjectLeads) for await (const lead of adapter.listProjectLeads()) if (projects.push(lead) >= 500) break;
        if (adapter.listComponentLeads) for await (const lead of adapter.listComponentLeads()) if (components.push(lead) >= 500) break;
      });
      res.json({ projects, components });
    }),
  );

  // ---- directory pickers -----------------------------------------------------------------------------

  api.get(
    '/connections/:connectionId/directory/groups',
    route(async (req, res) => {
      const query = parseInput(pickerQuery, req.query);
      const pattern = `%${query.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      const page = await directory.listGroups(connectionOf(res).id, {
        where: (params) => `lower(g.display_name) LIKE ${params.add(pattern)}`,
        orderBy: () => 'lower(g.display_name)',
        offset: 0,
        limit: query.limit,
      });
      res.json({ total: page.total, groups: page.items.map((g) => ({ id: g.id, displayName: g.displayName })) });
    }),
  );

  api.get(
    '/connections/:connectionId/directory/users',
    route(async (req, res) => {
      const query = parseInput(pickerQuery, req.query);
      const pattern = `%${query.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      const page = await directory.listUsers(connectionOf(res).id, {
        where: (params) => {
          const p = params.add(pattern);
          return `(lower(u.user_name) LIKE ${p} OR lower(coalesce(u.display_name, '')) LIKE ${p})`;
        },
        orderBy: () => 'lower(u.user_name)',
        offset: 0,
        limit: query.limit,
      });
      res.json({
        total: page.total,
        users: page.items.map((u) => ({ id: u.id, userName: u.userName, displayName: u.displayName ?? null, active: u.active })),
      });
    }),
  );

  /** Target accounts this connection created or adopted: the candidates for default project/component lead. */
  api.get(
    '/connections/:connectionId/accounts',
    route(async (req, res) => {
      const query = parseInput(pickerQuery, req.query);
      const pattern = `%${query.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      const { rows } = await db.query<{ account_id: string; user_name: string | null; email: string | null; target_id: string }>(
        `SELECT DISTINCT ON (account_id) account_id, user_name, email, target_id FROM links
          WHERE connection_id = $1 AND tenant_id = $2 AND account_id IS NOT NULL AND state = 'active'
            AND (lower(coalesce(user_name, '')) LIKE $3 OR lower(coalesce(email, '')) LIKE $3 OR lower(account_id) LIKE $3)
          ORDER BY account_id LIMIT $4`,
        [connectionOf(res).id, adminOf(res).tenant.id, pattern, query.limit],
      );
      res.json({ accounts: rows.map((r) => ({ accountId: r.account_id, userName: r.user_name, email: r.email, targetId: r.target_id })) });
    }),
  );

  // ---- user and group sync settings --------------------------------------------------------------------

  api.get(
    '/connections/:connectionId/settings',
    route(async (_req, res) => {
      const stored = await getSettings(db, adminOf(res).tenant.id, connectionOf(res).id);
      res.json(stored);
    }),
  );

  api.put(
    '/connections/:connectionId/settings',
    route(async (req, res) => {
      const body = parseInput(saveSettingsBody, req.body);
      const admin = adminOf(res);
      const connection = connectionOf(res);
      const current = await getSettings(db, admin.tenant.id, connection.id);
      const sent = Object.fromEntries(Object.entries(body.settings).filter(([, value]) => value !== undefined));
      const candidate = { ...current.settings, ...sent };
      // Validated here too (saveSettings validates again) for field paths the form shows next to each field.
      const parsed = parseInput(settingsSchema, candidate);
      const saved = await saveSettings(db, {
        tenantId: admin.tenant.id,
        connectionId: connection.id,
        actor: admin.accountId,
        settings: parsed,
        expectedVersion: body.expectedVersion ?? current.version,
      });
      res.json({ settings: saved.settings, version: saved.version, changes: saved.changes });
    }),
  );

  /** What deactivating / deleting a user in the IdP does on each current target (User Sync page). */
  api.get(
    '/connections/:connectionId/deprovisioning',
    route(async (_req, res) => {
      const tenantId = adminOf(res).tenant.id;
      const { settings } = await getSettings(db, tenantId, connectionOf(res).id);
      const list = (await targets.list(tenantId)).map((t) => ({
        id: t.id,
        name: t.name,
        kind: t.kind,
        enabled: t.enabled,
        orgTargetId: (t.settings as { orgTargetId?: string | null }).orgTargetId ?? null,
        sharesDirectoryWith: t.sharesDirectoryWith,
      }));
      res.json({
        onInactive: describeDeprovisioning(settings, list, settings.user.onInactive),
        onGone: describeDeprovisioning(settings, list, settings.user.onGone),
      });
    }),
  );

  /** Live preview of a rename/transform and filters: what each name becomes and whether the filters keep it. */
  api.post(
    '/rules/preview',
    route(async (req, res) => {
      const body = parseInput(previewBody, req.body);
      res.json({
        results: body.names.map((name) => ({
          input: name,
          output: applyTransform(name, body.transform),
          kept: passesFilters(name, body.filters),
        })),
      });
    }),
  );

  // ---- schedule --------------------------------------------------------------------------------------

  const scheduleOptions = { allowSeconds: config.jobs.allowSecondsInSchedules };

  api.get(
    '/connections/:connectionId/schedule',
    route(async (_req, res) => {
      const { rows } = await db.query<{ schedule: unknown }>('SELECT schedule FROM connections WHERE id = $1 AND tenant_id = $2', [
        connectionOf(res).id,
        adminOf(res).tenant.id,
      ]);
      const raw = rows[0]?.schedule ?? null;
      if (!raw) return res.json({ schedule: null, description: null, nextRuns: [] });
      const schedule = parseSchedule(raw, scheduleOptions);
      res.json({ schedule, description: describeSchedule(schedule), nextRuns: nextRuns(schedule, new Date(), 5) });
    }),
  );

  api.post(
    '/schedule/preview',
    route(async (req, res) => {
      const schedule = validSchedule(parseInput(scheduleBody, req.body).schedule);
      res.json({ schedule, description: describeSchedule(schedule), nextRuns: nextRuns(schedule, new Date(), 5) });
    }),
  );

  api.put(
    '/connections/:connectionId/schedule',
    route(async (req, res) => {
      const input = parseInput(scheduleBody, req.body).schedule;
      const schedule = input === null ? null : validSchedule(input);
      const connection = connectionOf(res);
      await db.transaction(async (client) => {
        const { rows: previous } = await client.query<{ schedule: unknown }>('SELECT schedule FROM connections WHERE tenant_id = $1 AND id = $2', [connection.tenantId, connection.id]);
        const before = describeStoredSchedule(previous[0]?.schedule ?? null);
        await client.query('UPDATE connections SET schedule = $3::jsonb, updated_at = now() WHERE tenant_id = $1 AND id = $2', [
          connection.tenantId,
          connection.id,
          schedule === null ? null : JSON.stringify(schedule),
        ]);
        await audit(client, res, connection.id, 'schedule.update', { schedule, before, description: schedule ? describeSchedule(schedule) : 'never' });
      });
      res.json(schedule ? { schedule, description: describeSchedule(schedule), nextRuns: nextRuns(schedule, new Date(), 5) } : { schedule: null, description: null, nextRuns: [] });
    }),
  );

  /** "daily at 02:00 (Europe/Berlin)", "never", or "an invalid schedule" for the audit's before → after. */
  function describeStoredSchedule(raw: unknown): string {
    if (!raw) return 'never';
    try {
      return describeSchedule(parseSchedule(raw, scheduleOptions));
    } catch {
      return 'an invalid schedule';
    }
  }

  function validSchedule(input: unknown) {
    const parsed = parseInput(scheduleSchema, input);
    try {
      // Cron expressions are checked beyond the schema (field count, parseable in the time zone).
      return parseSchedule(parsed, scheduleOptions);
    } catch (error) {
      const problems = (error as { problems?: string[] }).problems ?? [(error as Error).message];
      throw new ValidationError({ expression: problems.map((p) => p.replace(/^expression: /, '')).join('; ') });
    }
  }

  // ---- Synchronize -----------------------------------------------------------------------------------

  api.post(
    '/connections/:connectionId/sync',
    route(async (req, res) => {
      const body = parseInput(syncBody, req.body ?? {});
      const admin = adminOf(res);
      const connection = connectionOf(res);
      const result = await jobs.synchronize(admin.tenant.id, connection.id, { dryRun: body.dryRun });
      if (!result.joined) await audit(db, res, connection.id, body.dryRun ? 'sync.dry_run' : 'sync.start', { jobId: result.jobId });
      res.status(202).json(result);
    }),
  );

  api.get(
    '/connections/:connectionId/sync',
    route(async (_req, res) => {
      const admin = adminOf(res);
      const connection = connectionOf(res);
      const status = await jobs.status(admin.tenant.id, connection.id);
      // The run the page shows: the running job's, else the connection's newest (whatever started it: the
      // button, the schedule, a SCIM change or a confirmation), so a run the page did not start is seen too.
      const runningRunId = status.running?.progress?.runId;
      let run = (runningRunId ? await getRun(db, admin.tenant.id, runningRunId) : null) ?? (await listRuns(db, { tenantId: admin.tenant.id, connectionId: connection.id, limit: 1 })).runs[0] ?? null;
      // A job that started but has no run yet is not the previous run: the page shows it as starting.
      const startedAt = status.running?.startedAt;
      if (status.running && !runningRunId && run && startedAt && run.startedAt.getTime() < new Date(startedAt).getTime() - 1000) run = null;
      const { rows: targetCount } = await db.query<{ n: number }>('SELECT count(*) AS n FROM targets WHERE tenant_id = $1 AND enabled', [admin.tenant.id]);
      res.json({
        ...status,
        run,
        opsByStatus: run ? await opCounts(db, admin.tenant.id, run.id) : {},
        targets: Number(targetCount[0]?.n ?? 0),
      });
    }),
  );

  api.get(
    '/jobs/:jobId',
    route(async (req, res) => {
      const jobId = parseInput(uuid, req.params.jobId, 'jobId');
      const job = await jobs.job(adminOf(res).tenant.id, jobId);
      if (!job) throw notFound('Job');
      res.json({ job });
    }),
  );

  api.post(
    '/jobs/:jobId/cancel',
    route(async (req, res) => {
      const jobId = parseInput(uuid, req.params.jobId, 'jobId');
      const job = await jobs.cancel(adminOf(res).tenant.id, jobId);
      if (!job) throw notFound('Job');
      await audit(db, res, job.connectionId, 'sync.cancel', { jobId, trigger: job.trigger, status: job.status });
      res.json({ job });
    }),
  );

  /** The run named in the path, of this tenant, stopped at the safety threshold; and the engine to act on it. */
  async function runAwaitingConfirmation(req: Request, res: Response) {
    const runId = parseInput(uuid, req.params.runId, 'runId');
    const admin = adminOf(res);
    if (!deps.engine) throw new ApiError(503, 'engine_unavailable', 'The sync engine is not running on this instance');
    const { rows } = await db.query<{ status: string }>('SELECT status FROM sync_runs WHERE id = $1 AND tenant_id = $2', [runId, admin.tenant.id]);
    if (!rows[0]) throw notFound('Run');
    if (rows[0].status !== 'awaiting_confirmation') throw new ApiError(409, 'not_awaiting_confirmation', 'This run is not waiting for confirmation');
    return { runId, admin, engine: deps.engine };
  }

  api.post(
    '/runs/:runId/confirm',
    route(async (req, res) => {
      const { runId, admin, engine } = await runAwaitingConfirmation(req, res);
      // Applying may take long: the page follows the confirm run in the history; the engine audits the confirmation.
      engine.confirmRun({ tenantId: admin.tenant.id, runId, actor: admin.accountId }).catch((error: unknown) => {
        deps.logger.warn({ err: error, runId }, 'confirmed run failed');
      });
      res.status(202).json({ confirming: runId });
    }),
  );

  /** Declines a run stopped at the safety threshold: it ends cancelled and changes nothing. */
  api.post(
    '/runs/:runId/cancel',
    route(async (req, res) => {
      const { runId, admin, engine } = await runAwaitingConfirmation(req, res);
      await engine.cancelRun({ tenantId: admin.tenant.id, runId, actor: admin.accountId });
      res.json({ cancelled: runId });
    }),
  );

  // ---- history ---------------------------------------------------------------------------------------

  api.get(
    '/runs',
    route(async (req, res) => {
      const query = parseInput(runsQuerySchema, req.query);
      res.json(await listRuns(db, { ...query, tenantId: adminOf(res).tenant.id }));
    }),
  );

  const runOf = async (req: Request, res: Response) => {
    const runId = parseInput(uuid, req.params.runId, 'runId');
    const run = await getRun(db, adminOf(res).tenant.id, runId);
    if (!run) throw notFound('Run');
    return run;
  };

  api.get(
    '/runs/:runId',
    route(async (req, res) => {
      const run = await runOf(req, res);
      res.json({ run, opsByStatus: await opCounts(db, adminOf(res).tenant.id, run.id) });
    }),
  );

  api.get(
    '/runs/:runId/ops',
    route(async (req, res) => {
      const run = await runOf(req, res);
      const query = parseInput(opsQuerySchema, req.query);
      const tenantId = adminOf(res).tenant.id;
      const { total, ops } = await listRunOps(db, { ...query, tenantId, runId: run.id });
      res.json({ total, ops: await describeOps(db, tenantId, ops) });
    }),
  );

  api.get(
    '/runs/:runId/ops.csv',
    route(async (req, res) => {
      const run = await runOf(req, res);
      res.set('content-type', 'text/csv; charset=utf-8');
      res.set('content-disposition', `attachment; filename="sync-run-${run.id}.csv"`);
      for await (const line of exportRunOpsCsv(db, adminOf(res).tenant.id, run.id)) {
        if (!res.write(line)) await new Promise((resolve) => res.once('drain', resolve));
      }
      res.end();
    }),
  );

  // ---- audit log -------------------------------------------------------------------------------------

  api.get(
    '/audit',
    route(async (req, res) => {
      const query = parseInput(auditQuery, req.query);
      const admin = adminOf(res);
      if (query.connectionId && !(await connections.get(query.connectionId, admin.tenant.id))) throw notFound('Connection');
      const entries = await listAudit(db, { tenantId: admin.tenant.id, connectionId: query.connectionId, beforeId: query.beforeId, limit: query.limit });
      res.json({ entries: entries.map((entry) => ({ ...entry, text: describeAudit(entry) })) });
    }),
  );

  api.use((req: Request, _res: Response, next) => next(notFound(`API route ${req.method} ${req.path}`)));
  api.use(apiErrorHandler(deps.logger));
  return api;
}
