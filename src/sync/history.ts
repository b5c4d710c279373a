import type { Queryable } from '../db/database';
import { describeOp, type OpDescription, type OpLookups, type PersonInfo } from './describe';
import type { RunMode, RunPhase, RunStatus, RunTrigger } from './runs';

/**
 * Run history for the admin UI: runs with filters and page numbers, one run with its ops, and a CSV export
 * of a run's ops. Every query is scoped to the tenant.
 */

export interface RunView {
  id: string;
  connectionId: string;
  connectionName: string | null;
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
  connection_name: string | null;
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

const RUN_COLUMNS = `r.id, r.connection_id, c.name AS connection_name, r.trigger, r.mode, r.dry_run, r.status, r.phase, r.ops_total,
  r.ops_succeeded, r.ops_failed, r.ops_skipped, r.write_calls, r.managed_users, r.deprovisions, r.deprovision_threshold, r.confirms_run_id,
  r.superseded_by, r.confirmed_by, r.actor, r.summary, r.error, r.started_at, r.finished_at, r.duration_ms`;

const RUNS_FROM = 'sync_runs r LEFT JOIN connections c ON c.id = r.connection_id';

const toRun = (r: RunRow): RunView => ({
  id: r.id,
  connectionId: r.connection_id,
  connectionName: r.connection_name,
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
  summary: r.summary ?? {},
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
  dryRun?: boolean;
  /** Runs started on or after this day (YYYY-MM-DD, UTC). */
  from?: string;
  /** Runs started on or before this day (YYYY-MM-DD, UTC). */
  to?: string;
  limit?: number;
  offset?: number;
}

/** Newest first, with the total that matches the filters (the History page shows page numbers). */
export async function listRuns(db: Queryable, query: RunQuery): Promise<{ total: number; runs: RunView[] }> {
  const where = ['r.tenant_id = $1'];
  const params: unknown[] = [query.tenantId];
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
  const limit = Math.min(Math.max(query.limit ?? 25, 1), 200);
  const { rows: counted } = await db.query<{ total: number }>(`SELECT count(*) AS total FROM sync_runs r WHERE ${filter}`, params);
  const { rows } = await db.query<RunRow>(
    `SELECT ${RUN_COLUMNS} FROM ${RUNS_FROM} WHERE ${filter}
      ORDER BY r.started_at DESC, r.id DESC LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
    [...params, limit, query.offset ?? 0],
  );
  return { total: Number(counted[0]?.total ?? 0), runs: rows.map(toRun) };
}

export async function getRun(db: Queryable, tenantId: string, runId: string): Promise<RunView | null> {
  const { rows } = await db.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM ${RUNS_FROM} WHERE r.id = $1 AND r.tenant_id = $2`, [runId, tenantId]);
  return rows[0] ? toRun(rows[0]) : null;
}

/** Ops per status of one run (the progress bar while it applies). */
export async function opCounts(db: Queryable, tenantId: string, runId: string): Promise<Record<string, number>> {
  const { rows } = await db.query<{ status: string; n: number }>(
    'SELECT status, count(*) AS n FROM sync_ops WHERE tenant_id = $1 AND run_id = $2 GROUP BY status',
    [tenantId, runId],
  );
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
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
  /** Only ops after this seq (keyset paging in plan order, for exports). */
  afterSeq?: number;
  /** Skip this many matching ops (page numbers in the admin UI). */
  offset?: number;
  limit?: number;
}

const OP_COLUMNS =
  'id, seq, op_key, target_id, kind, step, status, attempts, directory_user_id, account_id, group_name, detail, result, error, started_at, finished_at';

function opFilter(query: OpQuery): { sql: string; params: unknown[] } {
  return {
    sql: `run_id = $1 AND tenant_id = $2 AND ($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR kind = $4)
      AND ($5::text IS NULL OR target_id = $5) AND seq > $6`,
    params: [query.runId, query.tenantId, query.status ?? null, query.kind ?? null, query.targetId ?? null, query.afterSeq ?? 0],
  };
}

/** A run's ops in plan order, with the total that matches the filters. */
export async function listRunOps(db: Queryable, query: OpQuery): Promise<{ total: number; ops: OpView[]; nextAfterSeq: number | null }> {
  const limit = Math.min(Math.max(query.limit ?? 100, 1), 1000);
  const { sql, params } = opFilter(query);
  const { rows: counted } = await db.query<{ total: number }>(`SELECT count(*) AS total FROM sync_ops WHERE ${sql}`, params);
  const { rows } = await db.query<OpRow>(
    `SELECT ${OP_COLUMNS} FROM sync_ops WHERE ${sql} ORDER BY seq LIMIT $7 OFFSET $8`,
    [...params, limit + 1, query.offset ?? 0],
  );
  const page = rows.slice(0, limit).map(toOp);
  return { total: Number(counted[0]?.total ?? 0), ops: page, nextAfterSeq: rows.length > limit ? page[page.length - 1]!.seq : null };
}

/**
 * Names and ids both: a spreadsheet reader sees who and where, a script can join on the ids. `change` is the
 * same sentence the pages show.
 */
export const OPS_CSV_COLUMNS = [
  'seq',
  'change',
  'target_name',
  'target_product',
  'target_id',
  'kind',
  'step',
  'status',
  'attempts',
  'user_display_name',
  'user_email',
  'directory_user_id',
  'account_id',
  'group',
  'error',
  'finished_at',
] as const;

export type DescribedOp = OpView & OpDescription;

/** Targets, IdP users and linked accounts that a page of ops names, read in three queries. */
export async function loadOpLookups(db: Queryable, tenantId: string, ops: readonly OpView[]): Promise<OpLookups> {
  const userIds = [...new Set(ops.map((op) => op.directoryUserId).filter((id): id is string => Boolean(id)))];
  const accountIds = new Set<string>();
  for (const op of ops) {
    for (const id of [op.accountId, op.detail.fromAccountId, op.detail.toAccountId]) if (typeof id === 'string' && id) accountIds.add(id);
  }
  const [targets, users, accounts] = await Promise.all([
    db.query<{ id: string; name: string; kind: string }>('SELECT id::text AS id, name, kind FROM targets WHERE tenant_id = $1', [tenantId]),
    userIds.length === 0
      ? Promise.resolve({ rows: [] as PersonRow[] })
      : db.query<PersonRow>(
          `SELECT u.id::text AS id, u.user_name, u.display_name, u.given_name, u.family_name, u.primary_email AS email
             FROM directory_users u JOIN connections c ON c.id = u.connection_id
            WHERE c.tenant_id = $1 AND u.id = ANY($2::uuid[])`,
          [tenantId, userIds],
        ),
    accountIds.size === 0
      ? Promise.resolve({ rows: [] as PersonRow[] })
      : db.query<PersonRow>(
          `SELECT DISTINCT ON (l.account_id) l.account_id AS id, l.user_name, u.display_name, u.given_name, u.family_name, coalesce(u.primary_email, l.email) AS email
             FROM links l LEFT JOIN directory_users u ON u.id = l.directory_user_id
            WHERE l.tenant_id = $1 AND l.account_id = ANY($2::text[])
            ORDER BY l.account_id, l.updated_at DESC`,
          [tenantId, [...accountIds]],
        ),
  ]);
  return {
    targets: new Map(targets.rows.map((t) => [t.id, { name: t.name, kind: t.kind }])),
    users: new Map(users.rows.map((u) => [u.id, person(u)])),
    accounts: new Map(accounts.rows.map((a) => [a.id, person(a)])),
  };
}

interface PersonRow {
  id: string;
  user_name: string | null;
  display_name: string | null;
  given_name: string | null;
  family_name: string | null;
  email: string | null;
}

const person = (r: PersonRow): PersonInfo => ({
  displayName: r.display_name || [r.given_name, r.family_name].filter(Boolean).join(' ') || null,
  email: r.email,
  userName: r.user_name,
});

/** Ops with their sentence and the names in it (the History API and the Synchronize page show these). */
export async function describeOps(db: Queryable, tenantId: string, ops: readonly OpView[]): Promise<DescribedOp[]> {
  const lookups = await loadOpLookups(db, tenantId, ops);
  return ops.map((op) => ({ ...op, ...describeOp(op, lookups) }));
}

/** RFC 4180 field; a leading = + - @ is prefixed with ' so a spreadsheet does not run it as a formula. */
export function csvField(value: unknown): string {
  let text =
    value === null || value === undefined ? '' : value instanceof Date ? value.toISOString() : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** All ops of a run as CSV lines (header first), read in keyset pages so memory stays flat. */
export async function* exportRunOpsCsv(db: Queryable, tenantId: string, runId: string): AsyncIterable<string> {
  yield `${OPS_CSV_COLUMNS.join(',')}\r\n`;
  let afterSeq = 0;
  for (;;) {
    const { ops, nextAfterSeq } = await listRunOps(db, { tenantId, runId, afterSeq, limit: 1000 });
    for (const op of await describeOps(db, tenantId, ops)) {
      const row = [
        op.seq,
        op.label,
        op.targetName,
        op.targetProduct,
        op.targetId,
        op.kind,
        op.step,
        op.status,
        op.attempts,
        op.userDisplayName,
        op.userEmail,
        op.directoryUserId,
        op.accountId,
        op.groupName,
        op.error,
        op.finishedAt,
      ];
      yield `${row.map(csvField).join(',')}\r\n`;
    }
    if (nextAfterSeq === null) break;
    afterSeq = nextAfterSeq;
  }
  // A run that succeeded with warnings: one 'warning' row per user who keeps access, with the reason.
  const { rows } = await db.query<{ warnings: Array<{ targetId: string; user: string; message: string }> | null }>(
    "SELECT summary->'warnings' AS warnings FROM sync_runs WHERE id = $1 AND tenant_id = $2",
    [runId, tenantId],
  );
  for (const warning of rows[0]?.warnings ?? []) {
    yield `${['', warning.targetId, 'warning', '', 'warning', '', '', '', warning.user, warning.message, ''].map(csvField).join(',')}\r\n`;
  }
}
