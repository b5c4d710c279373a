import { z } from 'zod';
import type { Queryable } from '../db/database';

/**
 * Read-only queries over the sync engine's history tables (sync_runs, sync_ops; migrations/005_sync.sql) for
 * the History and Synchronize pages. Every query is scoped to the caller's tenant.
 */

export const RUN_STATUSES = ['running', 'awaiting_confirmation', 'succeeded', 'partial', 'failed', 'cancelled', 'superseded'] as const;
export const RUN_TRIGGERS = ['manual', 'schedule', 'change', 'confirm'] as const;
export const OP_STATUSES = ['planned', 'running', 'succeeded', 'failed', 'skipped'] as const;

const booleanParam = z.enum(['true', 'false']).transform((value) => value === 'true');
const dateParam = z.iso.date({ message: 'must be a date (YYYY-MM-DD)' });

export const runsQuerySchema = z.object({
  connectionId: z.uuid({ message: 'must be an id' }).optional(),
  status: z.enum(RUN_STATUSES).optional(),
  trigger: z.enum(RUN_TRIGGERS).optional(),
  dryRun: booleanParam.optional(),
  from: dateParam.optional(),
  to: dateParam.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(25),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});
export type RunsQuery = z.output<typeof runsQuerySchema>;

export const opsQuerySchema = z.object({
  status: z.enum(OP_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).max(10_000_000).default(0),
});
export type OpsQuery = z.output<typeof opsQuerySchema>;

export interface RunView {
  id: string;
  connectionId: string;
  connectionName: string | null;
  trigger: string;
  mode: string;
  dryRun: boolean;
  status: string;
  phase: string;
  confirmsRunId: string | null;
  actor: string | null;
  counts: { total: number; succeeded: number; failed: number; skipped: number; writeCalls: number };
  managedUsers: number | null;
  deprovisions: number | null;
  deprovisionThreshold: number | null;
  summary: Record<string, unknown>;
  error: string | null;
  startedAt: Date;
  finishedAt: Date | null;
  durationMs: number | null;
}

export interface OpView {
  seq: number;
  targetId: string;
  kind: string;
  step: string;
  status: string;
  attempts: number;
  accountId: string | null;
  groupName: string | null;
  detail: Record<string, unknown>;
  error: string | null;
  finishedAt: Date | null;
}

const RUN_COLUMNS = `r.id, r.connection_id, c.name AS connection_name, r.trigger, r.mode, r.dry_run, r.status, r.phase,
  r.confirms_run_id, r.actor, r.ops_total, r.ops_succeeded, r.ops_failed, r.ops_skipped, r.write_calls, r.managed_users,
  r.deprovisions, r.deprovision_threshold, r.summary, r.error, r.started_at, r.finished_at, r.duration_ms`;

interface RunRow {
  id: string;
  connection_id: string;
  connection_name: string | null;
  trigger: string;
  mode: string;
  dry_run: boolean;
  status: string;
  phase: string;
  confirms_run_id: string | null;
  actor: string | null;
  ops_total: number;
  ops_succeeded: number;
  ops_failed: number;
  ops_skipped: number;
  write_calls: number;
  managed_users: number | null;
  deprovisions: number | null;
  deprovision_threshold: number | null;
  summary: Record<string, unknown>;
  error: string | null;
  started_at: Date;
  finished_at: Date | null;
  duration_ms: number | null;
}

function toRun(row: RunRow): RunView {
  return {
    id: row.id,
    connectionId: row.connection_id,
    connectionName: row.connection_name,
    trigger: row.trigger,
    mode: row.mode,
    dryRun: row.dry_run,
    status: row.status,
    phase: row.phase,
    confirmsRunId: row.confirms_run_id,
    actor: row.actor,
    counts: { total: row.ops_total, succeeded: row.ops_succeeded, failed: row.ops_failed, skipped: row.ops_skipped, writeCalls: row.write_calls },
    managedUsers: row.managed_users,
    deprovisions: row.deprovisions,
    deprovisionThreshold: row.deprovision_threshold,
    summary: row.summary ?? {},
    error: row.error,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    durationMs: row.duration_ms,
  };
}

export async function listRuns(db: Queryable, tenantId: string, query: RunsQuery): Promise<{ total: number; runs: RunView[] }> {
  const where = ['r.tenant_id = $1'];
  const params: unknown[] = [tenantId];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    where.push(sql.replace('?', `$${params.length}`));
  };
  if (query.connectionId) add('r.connection_id = ?', query.connectionId);
  if (query.status) add('r.status = ?', query.status);
  if (query.trigger) add('r.trigger = ?', query.trigger);
  if (query.dryRun !== undefined) add('r.dry_run = ?', query.dryRun);
  if (query.from) add('r.started_at >= ?::date', query.from);
  if (query.to) add("r.started_at < (?::date + interval '1 day')", query.to);
  const filter = where.join(' AND ');
  const { rows: counted } = await db.query<{ total: string }>(`SELECT count(*) AS total FROM sync_runs r WHERE ${filter}`, params);
  const { rows } = await db.query<RunRow>(
    `SELECT ${RUN_COLUMNS} FROM sync_runs r LEFT JOIN connections c ON c.id = r.connection_id
      WHERE ${filter} ORDER BY r.started_at DESC, r.id LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
    [...params, query.limit, query.offset],
  );
  return { total: Number(counted[0]?.total ?? 0), runs: rows.map(toRun) };
}

export async function getRun(db: Queryable, tenantId: string, runId: string): Promise<RunView | null> {
  const { rows } = await db.query<RunRow>(
    `SELECT ${RUN_COLUMNS} FROM sync_runs r LEFT JOIN connections c ON c.id = r.connection_id WHERE r.tenant_id = $1 AND r.id = $2`,
    [tenantId, runId],
  );
  return rows[0] ? toRun(rows[0]) : null;
}

/** Ops per status of one run (the progress bar while it applies). */
export async function opCounts(db: Queryable, tenantId: string, runId: string): Promise<Record<string, number>> {
  const { rows } = await db.query<{ status: string; n: string }>(
    'SELECT status, count(*) AS n FROM sync_ops WHERE tenant_id = $1 AND run_id = $2 GROUP BY status',
    [tenantId, runId],
  );
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

interface OpRow {
  seq: number;
  target_id: string;
  kind: string;
  step: string;
  status: string;
  attempts: number;
  account_id: string | null;
  group_name: string | null;
  detail: Record<string, unknown>;
  error: string | null;
  finished_at: Date | null;
}

const OP_COLUMNS = 'seq, target_id, kind, step, status, attempts, account_id, group_name, detail, error, finished_at';

function toOp(row: OpRow): OpView {
  return {
    seq: row.seq,
    targetId: row.target_id,
    kind: row.kind,
    step: row.step,
    status: row.status,
    attempts: row.attempts,
    accountId: row.account_id,
    groupName: row.group_name,
    detail: row.detail ?? {},
    error: row.error,
    finishedAt: row.finished_at,
  };
}

export async function listOps(db: Queryable, tenantId: string, runId: string, query: OpsQuery): Promise<{ total: number; ops: OpView[] }> {
  const params: unknown[] = [tenantId, runId];
  let filter = 'tenant_id = $1 AND run_id = $2';
  if (query.status) {
    params.push(query.status);
    filter += ` AND status = $${params.length}`;
  }
  const { rows: counted } = await db.query<{ total: string }>(`SELECT count(*) AS total FROM sync_ops WHERE ${filter}`, params);
  const { rows } = await db.query<OpRow>(
    `SELECT ${OP_COLUMNS} FROM sync_ops WHERE ${filter} ORDER BY seq LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
    [...params, query.limit, query.offset],
  );
  return { total: Number(counted[0]?.total ?? 0), ops: rows.map(toOp) };
}

/** RFC 4180 field; a leading = + - @ is prefixed with ' so a spreadsheet does not run it as a formula. */
export function csvField(value: unknown): string {
  let text = value === null || value === undefined ? '' : value instanceof Date ? value.toISOString() : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const OPS_CSV_HEADER = ['seq', 'target', 'kind', 'step', 'status', 'attempts', 'account_id', 'group', 'user', 'error', 'finished_at'];

/** All ops of a run as CSV lines, read in keyset pages so a large run does not sit in memory at once. */
export async function* opsCsv(db: Queryable, tenantId: string, runId: string, pageSize = 1000): AsyncGenerator<string> {
  yield `${OPS_CSV_HEADER.join(',')}\r\n`;
  let after = -1;
  for (;;) {
    const { rows } = await db.query<OpRow>(
      `SELECT ${OP_COLUMNS} FROM sync_ops WHERE tenant_id = $1 AND run_id = $2 AND seq > $3 ORDER BY seq LIMIT $4`,
      [tenantId, runId, after, pageSize],
    );
    for (const row of rows) {
      const user = (row.detail?.userName ?? row.detail?.email ?? null) as unknown;
      yield `${[row.seq, row.target_id, row.kind, row.step, row.status, row.attempts, row.account_id, row.group_name, user, row.error, row.finished_at].map(csvField).join(',')}\r\n`;
    }
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1]!.seq;
  }
}
