import type { z } from 'zod';
import type { Queryable } from '../db/database';
import type { SecretBox } from '../security/crypto';
import { egress } from '../egress';
import { siteOf, targetInputSchema, targetUrlRules, type TargetDefinition } from './config';
import { createTarget, type TargetDependencies } from './factory';
import type { AtlassianOrgTarget } from './atlassian-org';
import { TargetError, type ConnectionCheck, type Target, type TargetKind } from './types';

/**
 * A tenant's targets in the `targets` table. Credentials are sealed with the app's SecretBox before
 * they reach the database and are never returned by this store's read methods: only the names of
 * the credential fields that are set. Every query is scoped to the tenant.
 *
 * Jira Cloud and Confluence Cloud on the same Atlassian site share users and groups: after every
 * change the store points each such Confluence target at the Jira target of its site
 * (`sharesDirectoryWith`), and the engine writes users and groups once, through Jira.
 */

export interface StoredTarget {
  id: string;
  tenantId: string;
  name: string;
  kind: TargetKind;
  baseUrl: string;
  settings: TargetDefinition['settings'];
  /** Which credential fields are set (never their values). */
  credentialFields: string[];
  /** The Atlassian site of a Jira/Confluence Cloud target (its origin), else null. */
  site: string | null;
  sharesDirectoryWith: string | null;
  enabled: boolean;
  lastCheck: ConnectionCheck | null;
  lastCheckedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface TargetPatch {
  name?: string;
  baseUrl?: string;
  settings?: Record<string, unknown>;
  /** Merged over the stored credentials: give only what changes (e.g. a rotated token). */
  credentials?: Record<string, unknown>;
  enabled?: boolean;
}

export class TargetConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`Invalid target configuration: ${issues.join('; ')}`);
    this.name = 'TargetConfigError';
  }
}

export class TargetNotFoundError extends Error {
  constructor(readonly targetId: string) {
    super(`Target ${targetId} not found`);
    this.name = 'TargetNotFoundError';
  }
}

interface TargetRow {
  id: string;
  tenant_id: string;
  name: string;
  kind: TargetKind;
  base_url: string;
  settings: TargetDefinition['settings'];
  credentials_sealed: string;
  shares_directory_with: string | null;
  enabled: boolean;
  last_check: ConnectionCheck | null;
  last_checked_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function issuesOf(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${issue.path.join('.') || '(target)'}: ${issue.message}`);
}

export class TargetStore {
  constructor(
    private readonly db: Queryable,
    private readonly secrets: SecretBox,
  ) {}

  /** Validates (zod, per kind) and stores a new target; credentials are sealed. */
  async create(tenantId: string, input: unknown): Promise<StoredTarget> {
    const parsed = targetInputSchema.safeParse(input);
    if (!parsed.success) throw new TargetConfigError(issuesOf(parsed.error));
    const definition = parsed.data;
    await this.checkReachable(definition);
    await this.checkReferences(tenantId, definition, null);
    await this.checkNameFree(tenantId, definition.name, null);
    try {
      const { rows } = await this.db.query<{ id: string }>(
        `INSERT INTO targets (tenant_id, name, kind, base_url, settings, credentials_sealed)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
        [tenantId, definition.name, definition.kind, definition.baseUrl, JSON.stringify(definition.settings), this.secrets.sealJson(definition.credentials)],
      );
      await this.recomputeSharing(tenantId);
      return (await this.get(tenantId, rows[0]!.id))!;
    } catch (error) {
      throw uniqueNameError(error, definition.name);
    }
  }

  /** Applies a patch, validating the whole result again; the kind never changes. */
  async update(tenantId: string, id: string, patch: TargetPatch): Promise<StoredTarget> {
    const current = await this.definition(tenantId, id);
    const candidate = {
      kind: current.kind,
      name: patch.name ?? current.name,
      baseUrl: patch.baseUrl ?? current.baseUrl,
      settings: { ...current.settings, ...(patch.settings ?? {}) },
      credentials: { ...current.credentials, ...(patch.credentials ?? {}) },
    };
    const parsed = targetInputSchema.safeParse(candidate);
    if (!parsed.success) throw new TargetConfigError(issuesOf(parsed.error));
    const definition = parsed.data;
    await this.checkReachable(definition);
    await this.checkReferences(tenantId, definition, id);
    await this.checkNameFree(tenantId, definition.name, id);
    try {
      await this.db.query(
        `UPDATE targets SET name = $3, base_url = $4, settings = $5, credentials_sealed = $6,
                enabled = COALESCE($7, enabled), updated_at = now(),
                -- a changed URL or credential makes the last check stale
                last_check = CASE WHEN base_url = $4 AND $8::boolean = false THEN last_check END,
                last_checked_at = CASE WHEN base_url = $4 AND $8::boolean = false THEN last_checked_at END
          WHERE tenant_id = $1 AND id = $2`,
        [
          tenantId,
          id,
          definition.name,
          definition.baseUrl,
          JSON.stringify(definition.settings),
          this.secrets.sealJson(definition.credentials),
          patch.enabled ?? null,
          patch.credentials !== undefined,
        ],
      );
    } catch (error) {
      throw uniqueNameError(error, definition.name);
    }
    await this.recomputeSharing(tenantId);
    return (await this.get(tenantId, id))!;
  }

  async get(tenantId: string, id: string): Promise<StoredTarget | null> {
    if (!UUID.test(id)) return null;
    const { rows } = await this.db.query<TargetRow>('SELECT * FROM targets WHERE tenant_id = $1 AND id = $2', [tenantId, id]);
    return rows[0] ? this.toStored(rows[0]) : null;
  }

  async list(tenantId: string): Promise<StoredTarget[]> {
    const { rows } = await this.db.query<TargetRow>('SELECT * FROM targets WHERE tenant_id = $1 ORDER BY created_at, id', [tenantId]);
    return rows.map((row) => this.toStored(row));
  }

  async remove(tenantId: string, id: string): Promise<boolean> {
    if (!UUID.test(id)) return false;
    const { rowCount } = await this.db.query('DELETE FROM targets WHERE tenant_id = $1 AND id = $2', [tenantId, id]);
    await this.recomputeSharing(tenantId);
    return (rowCount ?? 0) > 0;
  }

  /** The full definition with unsealed credentials: for building adapters only, never for responses or logs. */
  async definition(tenantId: string, id: string): Promise<TargetDefinition> {
    const row = UUID.test(id)
      ? (await this.db.query<TargetRow>('SELECT * FROM targets WHERE tenant_id = $1 AND id = $2', [tenantId, id])).rows[0]
      : undefined;
    if (!row) throw new TargetNotFoundError(id);
    return {
      kind: row.kind,
      name: row.name,
      baseUrl: row.base_url,
      settings: row.settings,
      credentials: this.secrets.openJson(row.credentials_sealed),
    } as TargetDefinition;
  }

  /**
   * The adapter for a stored target. A Jira/Confluence Cloud target with an `orgTargetId` gets that
   * org target as its lifecycle (deactivate, reactivate, profile updates).
   */
  async open(tenantId: string, id: string, dependencies: TargetDependencies = {}): Promise<Target> {
    const definition = await this.definition(tenantId, id);
    // Rows saved before today's rules (or before the operator narrowed EGRESS_ALLOW) are held to them too.
    const refusal = egress().policy.refusalForUrl(definition.baseUrl, targetUrlRules(definition.kind));
    if (refusal) throw new TargetError(`${definition.kind}: ${refusal.message}`, null, definition.kind);
    let lifecycle = dependencies.lifecycle;
    if (!lifecycle && (definition.kind === 'jira-cloud' || definition.kind === 'confluence-cloud') && definition.settings.orgTargetId) {
      lifecycle = (await this.open(tenantId, definition.settings.orgTargetId, { counter: dependencies.counter, http: dependencies.http })) as AtlassianOrgTarget;
    }
    return createTarget(definition, { ...dependencies, lifecycle });
  }

  /** Runs the adapter's check and keeps the outcome (message and non-secret details) on the row. */
  async testConnection(tenantId: string, id: string, dependencies: TargetDependencies = {}): Promise<ConnectionCheck> {
    let check: ConnectionCheck;
    try {
      check = await (await this.open(tenantId, id, dependencies)).testConnection();
    } catch (error) {
      if (error instanceof TargetNotFoundError) throw error;
      check = { ok: false, message: error instanceof Error ? error.message : String(error) };
    }
    await this.db.query('UPDATE targets SET last_check = $3, last_checked_at = now() WHERE tenant_id = $1 AND id = $2', [tenantId, id, JSON.stringify(check)]);
    return check;
  }

  /** Points every Confluence Cloud target at the Jira Cloud target on its site (the oldest, if several). */
  private async recomputeSharing(tenantId: string): Promise<void> {
    const { rows } = await this.db.query<Pick<TargetRow, 'id' | 'kind' | 'base_url' | 'shares_directory_with'>>(
      'SELECT id, kind, base_url, shares_directory_with FROM targets WHERE tenant_id = $1 ORDER BY created_at, id',
      [tenantId],
    );
    const jiraBySite = new Map<string, string>();
    for (const row of rows) {
      const site = siteOf(row.kind, row.base_url);
      if (row.kind === 'jira-cloud' && site && !jiraBySite.has(site)) jiraBySite.set(site, row.id);
    }
    for (const row of rows) {
      const site = siteOf(row.kind, row.base_url);
      const shares = row.kind === 'confluence-cloud' && site ? (jiraBySite.get(site) ?? null) : null;
      if (shares !== row.shares_directory_with) {
        await this.db.query('UPDATE targets SET shares_directory_with = $3 WHERE tenant_id = $1 AND id = $2', [tenantId, row.id, shares]);
      }
    }
  }

  /** The save-time DNS check: a name that resolves to a refused address now is refused now, not at the first run. */
  private async checkReachable(definition: TargetDefinition): Promise<void> {
    const refusal = await egress().checkUrl(definition.baseUrl, targetUrlRules(definition.kind));
    if (refusal) throw new TargetConfigError([`baseUrl: ${refusal.message}`]);
  }

  private async checkReferences(tenantId: string, definition: TargetDefinition, selfId: string | null): Promise<void> {
    if ((definition.kind === 'jira-cloud' || definition.kind === 'confluence-cloud') && definition.settings.orgTargetId) {
      const org = await this.get(tenantId, definition.settings.orgTargetId);
      if (!org || org.kind !== 'atlassian-org' || org.id === selfId) {
        throw new TargetConfigError(['settings.orgTargetId: must be an atlassian-org target of this tenant']);
      }
    }
  }

  /**
   * Checked before writing (the unique index still guards races on Postgres): an error inside a
   * parameterised statement leaves the embedded database's single connection unusable.
   */
  private async checkNameFree(tenantId: string, name: string, selfId: string | null): Promise<void> {
    const { rows } = await this.db.query<{ id: string }>('SELECT id FROM targets WHERE tenant_id = $1 AND name = $2', [tenantId, name]);
    if (rows.some((row) => row.id !== selfId)) throw new TargetConfigError([`name: a target named "${name}" already exists`]);
  }

  private toStored(row: TargetRow): StoredTarget {
    return {
      id: row.id,
      tenantId: row.tenant_id,
      name: row.name,
      kind: row.kind,
      baseUrl: row.base_url,
      settings: row.settings,
      credentialFields: Object.keys(this.secrets.openJson<Record<string, unknown>>(row.credentials_sealed)).sort(),
      site: siteOf(row.kind, row.base_url),
      sharesDirectoryWith: row.shares_directory_with,
      enabled: row.enabled,
      lastCheck: row.last_check,
      lastCheckedAt: row.last_checked_at,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }
}

function uniqueNameError(error: unknown, name: string): unknown {
  return (error as { code?: string }).code === '23505' ? new TargetConfigError([`name: a target named "${name}" already exists`]) : error;
}
