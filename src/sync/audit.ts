import type { Queryable } from '../db/database';
import { PRODUCT_NAMES } from './describe';

/** Who changed what, for the admin UI. Details never carry secrets: settings hold none, runs only ids. */
export type AuditAction = 'settings.update' | 'run.confirm' | 'run.cancel';

export interface AuditEntry {
  id: number;
  tenantId: string;
  connectionId: string | null;
  /** Jira accountId of the admin. */
  actor: string;
  action: AuditAction;
  details: Record<string, unknown>;
  createdAt: Date;
}

export async function recordAudit(
  db: Queryable,
  entry: { tenantId: string; connectionId: string | null; actor: string; action: AuditAction; details: Record<string, unknown> },
): Promise<void> {
  await db.query(
    'INSERT INTO audit_log (tenant_id, connection_id, actor, action, details) VALUES ($1, $2, $3, $4, $5)',
    [entry.tenantId, entry.connectionId, entry.actor, entry.action, JSON.stringify(entry.details)],
  );
}

/** Newest first; `beforeId` pages backwards (keyset). */
export async function listAudit(
  db: Queryable,
  query: { tenantId: string; connectionId?: string; limit?: number; beforeId?: number },
): Promise<AuditEntry[]> {
  const limit = Math.min(Math.max(query.limit ?? 50, 1), 500);
  const { rows } = await db.query<{
    id: number;
    tenant_id: string;
    connection_id: string | null;
    actor: string;
    action: AuditAction;
    details: Record<string, unknown>;
    created_at: Date;
  }>(
    `SELECT id, tenant_id, connection_id, actor, action, details, created_at FROM audit_log
      WHERE tenant_id = $1 AND ($2::uuid IS NULL OR connection_id = $2) AND ($3::bigint IS NULL OR id < $3)
      ORDER BY id DESC LIMIT $4`,
    [query.tenantId, query.connectionId ?? null, query.beforeId ?? null, limit],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    tenantId: r.tenant_id,
    connectionId: r.connection_id,
    actor: r.actor,
    action: r.action,
    details: r.details,
    createdAt: r.created_at,
  }));
}

/** Settings paths as the pages label them (the rest read as their path). */
const SETTING_LABELS: Record<string, string> = {
  'user.operations.create': 'Create accounts',
  'user.operations.update': 'Update accounts',
  'user.operations.deactivate': 'Deactivate accounts',
  'user.operations.delete': 'Delete accounts',
  'user.onInactive': 'User inactive in the IdP',
  'user.onGone': 'User removed from the IdP',
  'user.deactivateFallback': 'Where a product cannot deactivate',
  'user.productAccessGroups': 'Product-access groups',
  'user.productsOnCreate': 'Products granted on create',
  'user.adoptByEmail': 'Adopt existing accounts by email',
  'user.defaultProjectLead': 'Default project lead',
  'user.defaultComponentLead': 'Default component lead',
  'group.mapping': 'Group mapping',
  'group.manual.mappings': 'Manual mappings',
  'group.manual.importIdpGroups': 'Import unmapped IdP groups',
  'group.manual.keepExistingMemberships': 'Keep existing memberships',
  'group.onTheFly.rename': 'On-the-fly rename',
  'group.onTheFly.keepExistingUserGroups': 'Keep existing user groups',
  'group.defaultGroups.newUsers': 'Default groups for new users',
  'group.defaultGroups.allUsers': 'Default groups for all users',
  'group.createMissingGroups': 'Create missing target groups',
  'group.removeUnmanagedMemberships': 'Remove unmanaged memberships',
  'group.deleteGroupsGoneFromIdp': 'Delete groups gone from the IdP',
  'safety.deprovisionThresholdPercent': 'Confirmation threshold (%)',
  'safety.deprovisionThresholdMin': 'Confirmation threshold (minimum)',
};

/** A value in an audit sentence: short, readable, never raw JSON braces for the common shapes. */
export function auditValue(value: unknown): string {
  if (value === null || value === undefined || value === '') return '(none)';
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (Array.isArray(value)) {
    if (value.length === 0) return '(none)';
    return value
      .map((item) =>
        item && typeof item === 'object' && 'idpGroup' in item
          ? `${String((item as { idpGroup: unknown }).idpGroup)} → ${auditValue((item as { targetGroups?: unknown }).targetGroups)}`
          : auditValue(item),
      )
      .join(', ');
  }
  if (typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if ('pattern' in o && 'replacement' in o) return `/${String(o.pattern)}/ → ${String(o.replacement)}`;
    return Object.entries(o)
      .map(([k, v]) => `${k} ${auditValue(v)}`)
      .join(', ');
  }
  const text = String(value);
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}

const PROVIDER_NAMES: Record<string, string> = {
  miniorange: 'miniOrange',
  entra: 'Microsoft Entra ID',
  okta: 'Okta',
  onelogin: 'OneLogin',
  jumpcloud: 'JumpCloud',
  google: 'Google Workspace',
  keycloak: 'Keycloak',
  generic: 'SCIM 2.0',
};


/**
 * An audit entry as a sentence with before → after ("User removed from the IdP: deactivate → delete"). Pure;
 * actions it does not know read as their name and details, so a new action is never hidden.
 */
export function describeAudit(entry: { action: string; details: Record<string, unknown> }): string {
  const d = entry.details ?? {};
  const name = typeof d.name === 'string' ? d.name : null;
  switch (entry.action) {
    case 'settings.update': {
      const changes = Array.isArray(d.changes) ? (d.changes as Array<{ path: string; before: unknown; after: unknown }>) : [];
      if (changes.length === 0) return 'Saved the sync settings (no change).';
      return `Changed the sync settings: ${changes.map((c) => `${SETTING_LABELS[c.path] ?? c.path}: ${auditValue(c.before)} → ${auditValue(c.after)}`).join('; ')}.`;
    }
    case 'run.confirm':
      return `Confirmed run ${String(d.runId ?? '')} above the safety threshold.`;
    case 'run.cancel':
      return `Cancelled run ${String(d.runId ?? '')} that waited for confirmation.`;
    case 'connection.create':
      return `Created the IdP app ${name ?? '?'} (${PROVIDER_NAMES[String(d.provider)] ?? String(d.provider ?? '?')}).`;
    case 'connection.rename':
      return `Renamed the IdP app: ${auditValue(d.from)} → ${auditValue(d.to)}.`;
    case 'connection.delete':
      return `Deleted the IdP app ${name ?? '?'}.`;
    case 'connection.token.rotate':
      return `Issued a new SCIM token; the previous one works until ${auditValue(d.previousTokensExpireAt)}.`;
    case 'connection.token.revoke':
      return `Revoked ${auditValue(d.revoked)} SCIM token(s).`;
    case 'connection.pull.save':
      return `Saved the pull credentials${d.before !== undefined ? ` (${auditValue(d.before)} → ${auditValue(d.kind)})` : ` (${auditValue(d.kind)})`}.`;
    case 'connection.pull.remove':
      return 'Removed the pull credentials.';
    case 'schedule.update':
      return `Changed the schedule: ${auditValue(d.before ?? (d.schedule === undefined ? undefined : '?'))} → ${auditValue(d.description ?? (d.schedule === null ? 'never' : d.schedule))}.`;
    case 'target.create':
      return `Added the target ${name ?? '?'} (${PRODUCT_NAMES[String(d.kind)] ?? String(d.kind ?? '?')}).`;
    case 'target.update': {
      const changes = Array.isArray(d.changes) ? (d.changes as Array<{ field: string; before: unknown; after: unknown }>) : [];
      const parts = changes.map((c) => `${c.field}: ${auditValue(c.before)} → ${auditValue(c.after)}`);
      if (d.credentialsChanged === true) parts.push('new credentials');
      if (parts.length === 0 && Array.isArray(d.fields)) parts.push(`${(d.fields as unknown[]).join(', ')} saved`);
      return `Changed the target ${name ?? String(d.targetId ?? '?')}${parts.length ? `: ${parts.join('; ')}` : ''}.`;
    }
    case 'target.delete':
      return `Deleted the target ${name ?? '?'} (${PRODUCT_NAMES[String(d.kind)] ?? String(d.kind ?? '?')}).`;
    case 'sync.start':
      return 'Started a Synchronize.';
    case 'sync.dry_run':
      return 'Started a dry run.';
    case 'sync.cancel':
      return `Cancelled a sync${d.trigger ? ` (${String(d.trigger)})` : ''}.`;
    default:
      return `${entry.action}${Object.keys(d).length ? `: ${auditValue(d)}` : ''}.`;
  }
}
