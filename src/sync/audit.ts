import type { Queryable } from '../db/database';

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
