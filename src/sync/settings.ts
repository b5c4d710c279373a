import { z } from 'zod';
import type { Queryable, Database } from '../db/database';
import { recordAudit } from './audit';

/**
 * The user and group sync rules of one connection, stored in connections.settings (jsonb) with
 * connections.settings_version bumped on every save.
 *
 * Versioning: `schemaVersion` is the shape of the JSON; `settings_version` counts saves (optimistic
 * concurrency for the admin UI). A stored document of an older shape is upgraded on read by
 * upgradeSettings(); a new shape adds a schema, bumps CURRENT_SCHEMA_VERSION and adds one upgrade step.
 *
 * Defaults are safe: nothing is deleted; deprovisioning only ever touches accounts this connection created
 * or adopted (links.managed); memberships outside the groups this connection manages are kept.
 */

export const CURRENT_SCHEMA_VERSION = 1;

/** A JavaScript regular expression an admin typed: length-capped and checked to compile. */
const regexSource = z
  .string()
  .min(1)
  .max(500)
  .refine((source) => {
    try {
      new RegExp(source);
      return true;
    } catch {
      return false;
    }
  }, 'is not a valid regular expression');

/** `value.replace(new RegExp(pattern), replacement)`: `$1`… insert capture groups; no match leaves the value as is. */
export const transformSchema = z.object({
  pattern: regexSource,
  replacement: z.string().max(500),
});
export type Transform = z.infer<typeof transformSchema>;

/** Which IdP groups a rule applies to: empty include = all; an exclude match always wins. Case-insensitive. */
export const nameFiltersSchema = z.object({
  include: z.array(regexSource).max(100).default([]),
  exclude: z.array(regexSource).max(100).default([]),
});
export type NameFilters = z.infer<typeof nameFiltersSchema>;

const groupName = z.string().trim().min(1).max(255);

/** Jira Cloud product keys accepted by POST /rest/api/3/user (`products`). */
export const JIRA_PRODUCTS = ['jira-core', 'jira-servicedesk', 'jira-product-discovery', 'jira-software'] as const;

/** What the engine does with a managed account whose user is inactive in, or gone from, the IdP. */
export const deprovisionAction = z.enum(['deactivate', 'delete', 'ignore']);
export type DeprovisionAction = z.infer<typeof deprovisionAction>;

export const userSettingsSchema = z.object({
  /**
   * The target user directory new accounts go into where a product has several (Data Center); informational
   * on cloud. Which accounts the connection manages is decided by its links (created or adopted), never by this.
   */
  directory: z.string().max(255).nullable().default(null),
  operations: z
    .object({
      create: z.boolean().default(true),
      update: z.boolean().default(true),
      deactivate: z.boolean().default(true),
      delete: z.boolean().default(false),
    })
    .prefault({}),
  onInactive: deprovisionAction.default('deactivate'),
  onGone: deprovisionAction.default('deactivate'),
  /**
   * When a target cannot deactivate (Jira Cloud without an org API key): remove the account from the groups
   * this connection manages and from `productAccessGroups`, or remove it from the site, or do nothing.
   */
  deactivateFallback: z.enum(['remove-groups', 'remove-from-site', 'none']).default('remove-groups'),
  /** Groups that grant product access (e.g. jira-software-users-SITE); only used by the remove-groups fallback. */
  productAccessGroups: z.array(groupName).max(100).default([]),
  usernameTransform: transformSchema.nullable().default(null),
  emailTransform: transformSchema.nullable().default(null),
  /** Jira Cloud products granted on create; [] = none (access through groups). */
  productsOnCreate: z.array(z.enum(JIRA_PRODUCTS)).default([]),
  /** Link an existing account with the same email instead of creating a duplicate. */
  adoptByEmail: z.boolean().default(true),
  /** accountId that takes over projects led by an account being deprovisioned; null = keep such accounts. */
  defaultProjectLead: z.string().min(1).max(255).nullable().default(null),
  /** accountId that takes over components; null = the component's lead is cleared. */
  defaultComponentLead: z.string().min(1).max(255).nullable().default(null),
});

export const manualMappingSchema = z.object({
  /** IdP group display name (case-insensitive). */
  idpGroup: groupName,
  targetGroups: z.array(groupName).min(1).max(50),
});

export const groupSettingsSchema = z.object({
  mapping: z.enum(['none', 'manual', 'on-the-fly']).default('none'),
  manual: z
    .object({
      mappings: z.array(manualMappingSchema).max(5000).default([]),
      /** IdP groups that pass the filters and have no mapping become target groups of the same name. */
      importIdpGroups: z.boolean().default(false),
      filters: nameFiltersSchema.prefault({}),
      keepExistingMemberships: z.boolean().default(true),
    })
    .prefault({}),
  onTheFly: z
    .object({
      rename: transformSchema.nullable().default(null),
      filters: nameFiltersSchema.prefault({}),
      keepExistingUserGroups: z.boolean().default(true),
    })
    .prefault({}),
  defaultGroups: z
    .object({
      /** Added once, when the connection creates or adopts the account; never removed by the sync. */
      newUsers: z.array(groupName).max(100).default([]),
      /** Every active account of the connection is kept in these. */
      allUsers: z.array(groupName).max(100).default([]),
    })
    .prefault({}),
  /** Create a mapped target group that does not exist yet. */
  createMissingGroups: z.boolean().default(true),
  /** Also remove memberships in groups the connection does not manage (only when keep-existing is off). */
  removeUnmanagedMemberships: z.boolean().default(false),
  /** Delete target groups this connection created once no IdP group maps to them (full runs only). */
  deleteGroupsGoneFromIdp: z.boolean().default(false),
});

export const safetySettingsSchema = z.object({
  /** A run that would deactivate or delete more than max(min, percent% of managed users) waits for confirmation. */
  deprovisionThresholdPercent: z.number().min(0).max(100).default(10),
  deprovisionThresholdMin: z.number().int().min(0).default(10),
});

export const settingsSchema = z.object({
  schemaVersion: z.literal(CURRENT_SCHEMA_VERSION),
  user: userSettingsSchema.prefault({}),
  group: groupSettingsSchema.prefault({}),
  safety: safetySettingsSchema.prefault({}),
});

export type SyncSettings = z.infer<typeof settingsSchema>;
/** What a caller may send: every field optional, defaults filled in. */
export type SyncSettingsInput = z.input<typeof settingsSchema>;

export function defaultSettings(): SyncSettings {
  return settingsSchema.parse({ schemaVersion: CURRENT_SCHEMA_VERSION });
}

export class SettingsError extends Error {
  constructor(
    message: string,
    readonly issues: string[] = [],
  ) {
    super(issues.length > 0 ? `${message}: ${issues.join('; ')}` : message);
    this.name = 'SettingsError';
  }
}

/**
 * Brings a stored document of any known shape to the current one. Version 0 is the unversioned document
 * (the migration default `{}` or a partial object): it has the current field names, so it is parsed as is.
 */
export function upgradeSettings(raw: unknown): SyncSettings {
  const document: Record<string, unknown> =
    raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? { ...(raw as Record<string, unknown>) } : {};
  const version = document.schemaVersion ?? 0;
  if (version === 0) document.schemaVersion = 1;
  else if (typeof version !== 'number' || version > CURRENT_SCHEMA_VERSION || version < 0) {
    throw new SettingsError(`Unknown settings schemaVersion ${String(version)}`);
  }
  // Future steps: if (document.schemaVersion === 1) { …reshape…; document.schemaVersion = 2; }
  return parseSettings(document);
}

export function parseSettings(input: unknown): SyncSettings {
  const parsed = settingsSchema.safeParse(input);
  if (!parsed.success) {
    throw new SettingsError(
      'Invalid sync settings',
      parsed.error.issues.map((issue) => `${issue.path.join('.') || '(settings)'}: ${issue.message}`),
    );
  }
  return parsed.data;
}

export interface StoredSettings {
  settings: SyncSettings;
  /** connections.settings_version: bumps on every save. */
  version: number;
}

export class ConnectionNotFoundError extends Error {
  constructor(readonly connectionId: string) {
    super(`Connection ${connectionId} not found for this tenant`);
    this.name = 'ConnectionNotFoundError';
  }
}

export class SettingsConflictError extends Error {
  constructor(
    readonly expectedVersion: number,
    readonly actualVersion: number,
  ) {
    super(`Settings were changed by someone else (version ${actualVersion}, expected ${expectedVersion}); reload and retry`);
    this.name = 'SettingsConflictError';
  }
}

export async function getSettings(db: Queryable, tenantId: string, connectionId: string): Promise<StoredSettings> {
  const { rows } = await db.query<{ settings: unknown; settings_version: number }>(
    'SELECT settings, settings_version FROM connections WHERE id = $1 AND tenant_id = $2',
    [connectionId, tenantId],
  );
  const row = rows[0];
  if (!row) throw new ConnectionNotFoundError(connectionId);
  return { settings: upgradeSettings(row.settings), version: row.settings_version };
}

export interface SaveSettingsRequest {
  tenantId: string;
  connectionId: string;
  /** Jira accountId of the admin who saved (from the Connect context JWT). */
  actor: string;
  settings: unknown;
  /** The settings_version the admin's form was loaded at; a mismatch means a concurrent edit. */
  expectedVersion?: number;
}

export interface SettingChange {
  path: string;
  before: unknown;
  after: unknown;
}

/** Validates, stores and audits new settings; returns them with the new version and what changed. */
export async function saveSettings(
  db: Database,
  request: SaveSettingsRequest,
): Promise<StoredSettings & { changes: SettingChange[] }> {
  const next = parseSettings(
    request.settings !== null && typeof request.settings === 'object'
      ? { schemaVersion: CURRENT_SCHEMA_VERSION, ...(request.settings as object) }
      : request.settings,
  );
  return db.transaction(async (client) => {
    const { rows } = await client.query<{ settings: unknown; settings_version: number }>(
      'SELECT settings, settings_version FROM connections WHERE id = $1 AND tenant_id = $2 FOR UPDATE',
      [request.connectionId, request.tenantId],
    );
    const row = rows[0];
    if (!row) throw new ConnectionNotFoundError(request.connectionId);
    if (request.expectedVersion !== undefined && request.expectedVersion !== row.settings_version) {
      throw new SettingsConflictError(request.expectedVersion, row.settings_version);
    }
    const previous = upgradeSettings(row.settings);
    const changes = diffSettings(previous, next);
    if (changes.length === 0) return { settings: previous, version: row.settings_version, changes };
    const version = row.settings_version + 1;
    await client.query(
      'UPDATE connections SET settings = $1, settings_version = $2, updated_at = now() WHERE id = $3 AND tenant_id = $4',
      [JSON.stringify(next), version, request.connectionId, request.tenantId],
    );
    await recordAudit(client, {
      tenantId: request.tenantId,
      connectionId: request.connectionId,
      actor: request.actor,
      action: 'settings.update',
      details: { fromVersion: row.settings_version, toVersion: version, changes },
    });
    return { settings: next, version, changes };
  });
}

/** Leaf-by-leaf differences (arrays compared whole), sorted by path: what the audit log shows. */
export function diffSettings(before: unknown, after: unknown, path = ''): SettingChange[] {
  const isObject = (value: unknown): value is Record<string, unknown> =>
    value !== null && typeof value === 'object' && !Array.isArray(value);
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((key) => diffSettings(before[key], after[key], path ? `${path}.${key}` : key));
  }
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  return [{ path: path || '(root)', before: before ?? null, after: after ?? null }];
}
