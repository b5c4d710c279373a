import type { Queryable } from '../db/database';
import type { RunMode, RunPhase, RunStatus, RunTrigger } from './runs';

/**
 * Run history for the admin UI: runs with filters and keyset paging, one run with its ops, and a CSV export
 * of a run's ops. Every query is scoped to the tenant.
 */

export interface RunView {
  id: string;
  connectionId: string;
  trigger: RunTrigger;
  mode: RunMode;
  dryRun: boolean;
  status: RunStatus;
  phase: RunPhase;
  opsTotal: number;
  opsSucceeded: number;
  opsFailed: number;
  opsSkipped: number;
  writeCalls: number;
  managedUsers: number | null;
  deprovisions: number | null;
  deprovisionThreshold: number | null;
  confirmsRunId: string | null;
  supersededBy: string | null;
  confirmedBy: string | null;
  actor: string | null;
  summary: Record<string, unknown>;
  error: string | null;
  startedAt: Date;
  finishedAt: Date | null;
  durationMs: number | null;
}

interface RunRow {
  id: string;
  connection_id: string;
  trigger: RunTrigger;
  mode: RunMode;
  dry_run: boolean;
  status: RunStatus;
  phase: RunPhase;
  ops_total: number;
  ops_succeeded: number;
  ops_failed: number;
  ops_skipped: number;
  write_calls: number;
  managed_users: number | null;
  deprovisions: number | null;
  deprovision_threshold: number | null;
  confirms_run_id: string | null;
  superseded_by: string | null;
  confirmed_by: string | null;
  actor: string | null;
  summary: Record<string, unknown>;
  error: string | null;
  started_at: Date;
  finished_at: Date | null;
  duration_ms: number | null;
}

const RUN_COLUMNS = `id, connection_id, trigger, mode, dry_run, status, phase, ops_total, ops_succeeded, ops_failed, ops_skipped,
  write_calls, managed_users, deprovisions, deprovision_threshold, confirms_run_id, superseded_by, confirmed_by, actor, summary, error,
  started_at, finished_at, duration_ms`;

const toRun = (r: RunRow): RunView => ({
  id: r.id,
  connectionId: r.connection_id,
  trigger: r.trigger,
  mode: r.mode,
  dryRun: r.dry_run,
  status: r.status,
  phase: r.phase,
  opsTotal: r.ops_total,
  opsSucceeded: r.ops_succeeded,
  opsFailed: r.ops_failed,
  opsSkipped: r.ops_skipped,
  writeCalls: r.write_calls,
  managedUsers: r.managed_users,
  deprovisions: r.deprovisions,
  deprovisionThreshold: r.deprovision_threshold,
  confirmsRunId: r.confirms_run_id,
  supersededBy: r.superseded_by,
  confirmedBy: r.confirmed_by,
  actor: r.actor,
  summary: r.summary,
  error: r.error,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  durationMs: r.duration_ms,
});

export interface RunQuery {
  tenantId: string;
  connectionId?: string;
  status?: RunStatus;
  trigger?: RunTrigger;
  limit?: number;
  /** Keyset cursor: the `nextCursor` of the previous page. */
  cursor?: string;
}

function encodeCursor(startedAt: Date, id: string): string {
  return Buffer.from(JSON.stringify([startedAt.toISOString(), id])).toString('base64url');
}

function decodeCursor(cursor: string): { startedAt: string; id: string } | null {
  try {
    const [startedAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    return typeof startedAt === 'string' && typeof id === 'string' && /^[0-9a-f-]{36}$/i.test(id) ? { startedAt, id } : null;
  } catch {
    return null;
  }
}

/** Newest first. */
export async function listRuns(db: Queryable, query: RunQuery): Promise<{ runs: RunView[]; nextCursor: string | null }> {
  const limit = Math.min(Math.max(query.limit ?? 25, 1), 200);
  const cursor = query.cursor ? decodeCursor(query.cursor) : null;
  const { rows } = await db.query<RunRow>(
    `SELECT ${RUN_COLUMNS} FROM sync_runs
      WHERE tenant_id = $1 AND ($2::uuid IS NULL OR connection_id = $2) AND ($3::text IS NULL OR status = $3)
        AND ($4::text IS NULL OR trigger = $4)
        AND ($5::timestamptz IS NULL OR (started_at, id) < ($5::timestamptz, $6::uuid))
      ORDER BY started_at DESC, id DESC LIMIT $7`,
    [query.tenantId, query.connectionId ?? null, query.status ?? null, query.trigger ?? null, cursor?.startedAt ?? null, cursor?.id ?? null, limit + 1],
  );
  const page = rows.slice(0, limit).map(toRun);
  const last = page[page.length - 1];
  return { runs: page, nextCursor: rows.length > limit && last ? encodeCursor(last.startedAt, last.id) : null };
}

export async function getRun(db: Queryable, tenantId: string, runId: string): Promise<RunView | null> {
  const { rows } = await db.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM sync_runs WHERE id = $1 AND tenant_id = $2`, [runId, tenantId]);
  return rows[0] ? toRun(rows[0]) : null;
}

export interface OpView {
  id: number;
  seq: number;
  key: string;
  targetId: string;
  kind: string;
  step: string;
  status: 'planned' | 'running' | 'succeeded' | 'failed' | 'skipped';
  attempts: number;
  directoryUserId: string | null;
  accountId: string | null;
  groupName: string | null;
  detail: Record<string, unknown>;
  result: Record<string, unknown> | null;
  error: string | null;
  startedAt: Date | null;
  finishedAt: Date | null;
}

interface OpRow {
  id: number;
  seq: number;
  op_key: string;
  target_id: string;
  kind: string;
  step: string;
  status: OpView['status'];
  attempts: number;
  directory_user_id: string | null;
  account_id: string | null;
  group_name: string | null;
  detail: Record<string, unknown>;
  result: Record<string, unknown> | null;
  error: string | null;
  started_at: Date | null;
  finished_at: Date | null;
}

const toOp = (r: OpRow): OpView => ({
  id: Number(r.id),
  seq: r.seq,
  key: r.op_key,
  targetId: r.target_id,
  kind: r.kind,
  step: r.step,
  status: r.status,
  attempts: r.attempts,
  directoryUserId: r.directory_user_id,
  accountId: r.account_id,
  groupName: r.group_name,
  detail: r.detail,
  result: r.result,
  error: r.error,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

export interface OpQuery {
  tenantId: string;
  runId: string;
  status?: OpView['status'];
  kind?: string;
  targetId?: string;
  /** Only ops after this seq (keyset paging in plan order). */
  afterSeq?: number;
  limit?: number;
}

/** A run's ops in plan order. */
export async function listRunOps(db: Queryable, query: OpQuery): Promise<{ ops: OpView[]; nextAfterSeq: number | null }> {
  const limit = Math.min(Math.max(query.limit ?? 100, 1), 1000);
  const { rows } = await db.query<OpRow>(
    `SELECT id, seq, op_key, target_id, kind, step, status, attempts, directory_user_id, account_id, group_name, detail, result, error, started_at, finished_at
       FROM sync_ops
      WHERE run_id = $1 AND tenant_id = $2 AND ($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR kind = $4)
        AND ($5::text IS NULL OR target_id = $5) AND seq > $6
      ORDER BY seq LIMIT $7`,
    [query.runId, query.tenantId, query.status ?? null, query.kind ?? null, query.targetId ?? null, query.afterSeq ?? 0, limit + 1],
  );
  const page = rows.slice(0, limit).map(toOp);
  return { ops: page, nextAfterSeq: rows.length > limit ? page[page.length - 1]!.seq : null };
}

const CSV_COLUMNS = ['seq', 'target', 'kind', 'status', 'attempts', 'directory_user_id', 'account_id', 'group', 'error', 'started_at', 'finished_at'] as const;

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = value instanceof Date ? value.toISOString() : String(value);
  // A cell starting with = + - @ is a formula in spreadsheet apps; prefix it so it stays text.
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** All ops of a run as CSV lines (header first), paged from the database so memory stays flat. */
export async function* exportRunOpsCsv(db: Queryable, tenantId: string, runId: string): AsyncIterable<string> {
  yield `${CSV_COLUMNS.join(',')}\n`;
  let afterSeq = 0;
  for (;;) {
    const { ops, nextAfterSeq } = await listRunOps(db, { tenantId, runId, afterSeq, limit: 1000 });
    for (const op of ops) {
      yield `${[op.seq, op.targetId, op.kind, op.status, op.attempts, op.directoryUserId, op.accountId, op.groupName, op.error, op.startedAt, op.finishedAt].map(csvCell).join(',')}\n`;
    }
    if (nextAfterSeq === null) break;
    afterSeq = nextAfterSeq;
  }
}
