import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Database, Queryable } from '../db/database';
import {
  ConnectionNotFoundError,
  type EnqueueRequest,
  type EnqueueResult,
  type JobProgress,
  type SyncJobStatus,
  type SyncJobView,
  type SyncMode,
  type SyncTrigger,
} from './types';

/**
 * The durable sync queue: plain SQL on the app's own tables (migrations/006_jobs.sql), the same on Postgres
 * and the embedded PGlite. docs/jobs.md says why this is not pg-boss.
 *
 * Invariants the partial unique indexes hold even under races between instances:
 *  - at most one queued job per (connection, dry run) and one running job per connection;
 *  - a running job has a lease (owner, token, expiry) renewed by heartbeat; every write to a running job is
 *    guarded by its lease token, so an instance that lost the lease cannot overwrite the job's new owner.
 */

export interface QueuePolicy {
  maxAttempts: number;
  /** Backoff before retry n (n = 1, 2, …) is min(maxMs, baseMs · 2^(n-1)), with up to 20 % jitter. */
  backoff: { baseMs: number; maxMs: number };
  /** 'change' jobs wait this long before they may start, so a burst of SCIM writes becomes one run. */
  changeDebounceMs: number;
}

export const DEFAULT_QUEUE_POLICY: QueuePolicy = {
  maxAttempts: 5,
  backoff: { baseMs: 30_000, maxMs: 15 * 60_000 },
  changeDebounceMs: 5_000,
};

interface JobRow {
  id: string;
  tenant_id: string;
  connection_id: string;
  trigger: SyncTrigger;
  mode: SyncMode;
  dry_run: boolean;
  status: SyncJobStatus;
  attempt: number;
  max_attempts: number;
  requests: number;
  run_after: Date;
  progress: JobProgress | null;
  last_error: string | null;
  superseded_by: string | null;
  cancel_requested: boolean;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

const JOB_COLUMNS = `id, tenant_id, connection_id, trigger, mode, dry_run, status, attempt, max_attempts, requests, run_after,
  progress, last_error, superseded_by, cancel_requested, created_at, started_at, finished_at`;

function view(row: JobRow): SyncJobView {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    connectionId: row.connection_id,
    trigger: row.trigger,
    mode: row.mode,
    dryRun: row.dry_run,
    status: row.status,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    requests: row.requests,
    runAfter: row.run_after,
    progress: row.progress,
    lastError: row.last_error,
    supersededBy: row.superseded_by,
    cancelRequested: row.cancel_requested,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

const UNIQUE_VIOLATION = '23505';

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string } | null)?.code === UNIQUE_VIOLATION;
}

/** Error text kept on the job: one line of what went wrong, bounded, never a stack or a request body. */
export function errorSummary(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.length > 2000 ? `${text.slice(0, 1997)}...` : text;
}

export function backoffMs(policy: QueuePolicy, failedAttempt: number, random: () => number = Math.random): number {
  const exponential = Math.min(policy.backoff.maxMs, policy.backoff.baseMs * 2 ** Math.max(0, failedAttempt - 1));
  return Math.round(exponential * (1 - 0.2 * random()));
}

/**
 * Adds a sync job for a connection, or joins the one already waiting or running, in one statement-level
 * atomic step (safe against concurrent Synchronize clicks and schedule ticks on several instances).
 *
 * - A queued job of the same kind (dry run or not) is joined; a full request upgrades a queued incremental
 *   job to full, and a manual or scheduled request lifts the change debounce.
 * - A running job is joined by a manual or scheduled request when it already does what was asked (full, or
 *   the request is incremental). A 'change' while a job runs queues exactly one more job after it: the
 *   running one may have read the directory before the change.
 *
 * Pass a transaction client as `db` to enqueue atomically with another write (the scheduler's slot claim).
 */
export async function enqueueSync(db: Queryable, request: EnqueueRequest, policy: QueuePolicy = DEFAULT_QUEUE_POLICY): Promise<EnqueueResult> {
  const mode: SyncMode = request.mode ?? (request.trigger === 'change' ? 'incremental' : 'full');
  const dryRun = request.dryRun ?? false;
  const delayMs = request.trigger === 'change' ? policy.changeDebounceMs : 0;

  // Two rounds at most: a concurrent enqueue can win the insert between our look and our insert.
  for (let round = 0; round < 3; round += 1) {
    const { rows: existing } = await db.query<{ id: string; status: SyncJobStatus; mode: SyncMode; dry_run: boolean }>(
      `SELECT id, status, mode, dry_run FROM sync_jobs
        WHERE tenant_id = $1 AND connection_id = $2 AND status IN ('queued', 'running')`,
      [request.tenantId, request.connectionId],
    );
    const queued = existing.find((job) => job.status === 'queued' && job.dry_run === dryRun);
    if (queued) {
      const { rows } = await db.query<{ id: string; status: SyncJobStatus }>(
        `UPDATE sync_jobs
            SET requests = requests + 1,
                mode = CASE WHEN $2 = 'full' THEN 'full' ELSE mode END,
                trigger = CASE WHEN $2 = 'full' AND mode = 'incremental' THEN $3 ELSE trigger END,
                run_after = CASE WHEN $3 = 'change' THEN run_after ELSE LEAST(run_after, now()) END,
                updated_at = now()
          WHERE id = $1 AND status = 'queued'
          RETURNING id, status`,
        [queued.id, mode, request.trigger],
      );
      if (rows[0]) return { jobId: rows[0].id, joined: true, status: rows[0].status };
      continue; // it started or finished meanwhile: look again
    }
    const running = existing.find((job) => job.status === 'running' && job.dry_run === dryRun);
    if (running && request.trigger !== 'change' && (running.mode === 'full' || mode === 'incremental')) {
      const { rows } = await db.query<{ id: string; status: SyncJobStatus }>(
        `UPDATE sync_jobs SET requests = requests + 1, updated_at = now()
          WHERE id = $1 AND status = 'running' RETURNING id, status`,
        [running.id],
      );
      if (rows[0]) return { jobId: rows[0].id, joined: true, status: rows[0].status };
      continue;
    }
    // The connection must exist in this tenant: the insert reads it, so a wrong pair inserts nothing.
    const { rows: inserted } = await db.query<{ id: string; status: SyncJobStatus }>(
      `INSERT INTO sync_jobs (tenant_id, connection_id, trigger, mode, dry_run, max_attempts, run_after)
       SELECT c.tenant_id, c.id, $3, $4, $5, $6, now() + make_interval(secs => $7::double precision / 1000)
         FROM connections c WHERE c.tenant_id = $1 AND c.id = $2
       ON CONFLICT (connection_id, dry_run) WHERE status = 'queued' DO NOTHING
       RETURNING id, status`,
      [request.tenantId, request.connectionId, request.trigger, mode, dryRun, policy.maxAttempts, delayMs],
    );
    if (inserted[0]) return { jobId: inserted[0].id, joined: false, status: inserted[0].status };
    const { rowCount } = await db.query('SELECT 1 FROM connections WHERE tenant_id = $1 AND id = $2', [request.tenantId, request.connectionId]);
    if (!rowCount) throw new ConnectionNotFoundError(request.tenantId, request.connectionId);
    // Lost the race to another enqueue: the next round joins its job.
  }
  throw new Error(`Could not enqueue a sync for connection ${request.connectionId}: the queue kept changing under concurrent requests`);
}

export interface ClaimedJob {
  id: string;
  tenantId: string;
  connectionId: string;
  trigger: SyncTrigger;
  mode: SyncMode;
  dryRun: boolean;
  attempt: number;
  maxAttempts: number;
  leaseToken: string;
}

/**
 * Takes the oldest ready job whose connection has nothing running, and leases it to `owner`. Returns null
 * when nothing is ready. SKIP LOCKED keeps instances from waiting on each other; the partial unique index
 * on running jobs settles the rare race where two instances pick two jobs of one connection.
 */
export async function claimNext(db: Database, owner: string, leaseMs: number): Promise<ClaimedJob | null> {
  const leaseToken = randomUUID();
  try {
    return await db.transaction(async (client) => {
      const { rows } = await client.query<{
        id: string;
        tenant_id: string;
        connection_id: string;
        trigger: SyncTrigger;
        mode: SyncMode;
        dry_run: boolean;
        attempt: number;
        max_attempts: number;
      }>(
        `WITH candidate AS (
           SELECT j.id FROM sync_jobs j
            WHERE j.status = 'queued' AND j.run_after <= now()
              AND NOT EXISTS (SELECT 1 FROM sync_jobs r WHERE r.connection_id = j.connection_id AND r.status = 'running')
            ORDER BY j.run_after, j.created_at
            LIMIT 1
            FOR UPDATE SKIP LOCKED)
         UPDATE sync_jobs j
            SET status = 'running', attempt = j.attempt + 1, lease_owner = $1, lease_token = $2,
                lease_expires_at = now() + make_interval(secs => $3::double precision / 1000), heartbeat_at = now(),
                started_at = COALESCE(j.started_at, now()), updated_at = now()
           FROM candidate WHERE j.id = candidate.id
         RETURNING j.id, j.tenant_id, j.connection_id, j.trigger, j.mode, j.dry_run, j.attempt, j.max_attempts`,
        [owner, leaseToken, leaseMs],
      );
      const row = rows[0];
      if (!row) return null;
      await client.query(
        `INSERT INTO sync_job_attempts (job_id, attempt, instance) VALUES ($1, $2, $3)
         ON CONFLICT (job_id, attempt) DO UPDATE SET instance = EXCLUDED.instance, started_at = now(), finished_at = NULL, outcome = NULL, error = NULL`,
        [row.id, row.attempt, owner],
      );
      return {
        id: row.id,
        tenantId: row.tenant_id,
        connectionId: row.connection_id,
        trigger: row.trigger,
        mode: row.mode,
        dryRun: row.dry_run,
        attempt: row.attempt,
        maxAttempts: row.max_attempts,
        leaseToken,
      };
    });
  } catch (error) {
    if (isUniqueViolation(error)) return null; // another instance started a job of this connection first
    throw error;
  }
}

/** Renews the lease. Returns null when the lease is gone (expired and taken, or the job was finished). */
export async function heartbeat(db: Queryable, jobId: string, leaseToken: string, leaseMs: number): Promise<{ cancelRequested: boolean } | null> {
  const { rows } = await db.query<{ cancel_requested: boolean }>(
    `UPDATE sync_jobs SET lease_expires_at = now() + make_interval(secs => $3::double precision / 1000), heartbeat_at = now()
      WHERE id = $1 AND lease_token = $2 AND status = 'running'
      RETURNING cancel_requested`,
    [jobId, leaseToken, leaseMs],
  );
  return rows[0] ? { cancelRequested: rows[0].cancel_requested } : null;
}

export async function reportProgress(db: Queryable, jobId: string, leaseToken: string, progress: JobProgress): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE sync_jobs SET progress = $3::jsonb, updated_at = now() WHERE id = $1 AND lease_token = $2 AND status = 'running'`,
    [jobId, leaseToken, JSON.stringify(progress)],
  );
  return (rowCount ?? 0) > 0;
}

async function finishAttempt(client: Queryable, jobId: string, attempt: number, outcome: string, error: string | null): Promise<void> {
  await client.query(
    `UPDATE sync_job_attempts SET finished_at = now(), outcome = $3, error = $4 WHERE job_id = $1 AND attempt = $2`,
    [jobId, attempt, outcome, error],
  );
}

/** Marks the job succeeded. False when the lease was no longer ours (another instance owns the job now). */
export async function complete(db: Database, job: ClaimedJob): Promise<boolean> {
  return db.transaction(async (client) => {
    const { rowCount } = await client.query(
      `UPDATE sync_jobs SET status = 'succeeded', finished_at = now(), updated_at = now(), last_error = NULL,
              lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
        WHERE id = $1 AND lease_token = $2 AND status = 'running'`,
      [job.id, job.leaseToken],
    );
    if (!rowCount) return false;
    await finishAttempt(client, job.id, job.attempt, 'succeeded', null);
    return true;
  });
}

export async function markCancelled(db: Database, job: ClaimedJob, reason: string): Promise<boolean> {
  return db.transaction(async (client) => {
    const { rowCount } = await client.query(
      `UPDATE sync_jobs SET status = 'cancelled', finished_at = now(), updated_at = now(), last_error = $3,
              lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
        WHERE id = $1 AND lease_token = $2 AND status = 'running'`,
      [job.id, job.leaseToken, reason],
    );
    if (!rowCount) return false;
    await finishAttempt(client, job.id, job.attempt, 'cancelled', reason);
    return true;
  });
}

type Requeue = { kind: 'retry'; delayMs: number; countsAsAttempt: boolean; outcome: 'failed' | 'lease_expired' | 'released' };

/**
 * Ends a running attempt that did not succeed: back to queued (after `delayMs`), or dead when its attempts
 * are used up. When another job of the connection is already queued, that job takes over this one's work
 * (upgraded to full if this one was full) and this one is marked superseded, keeping one queued job per
 * connection. Runs inside `client`'s transaction with the job row locked.
 */
async function requeueLocked(
  client: pg.PoolClient,
  job: { id: string; connection_id: string; dry_run: boolean; mode: SyncMode; attempt: number; max_attempts: number },
  how: Requeue,
  error: string,
): Promise<SyncJobStatus> {
  await finishAttempt(client, job.id, job.attempt, how.outcome, error);
  const attempt = how.countsAsAttempt ? job.attempt : job.attempt - 1;
  if (how.countsAsAttempt && attempt >= job.max_attempts) {
    await client.query(
      `UPDATE sync_jobs SET status = 'dead', finished_at = now(), updated_at = now(), last_error = $2,
              lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
        WHERE id = $1`,
      [job.id, `${error} (gave up after ${attempt} attempts)`],
    );
    return 'dead';
  }
  const { rows: other } = await client.query<{ id: string }>(
    `UPDATE sync_jobs SET mode = CASE WHEN $3 = 'full' THEN 'full' ELSE mode END, requests = requests + 1, updated_at = now()
      WHERE connection_id = $1 AND dry_run = $2 AND status = 'queued'
      RETURNING id`,
    [job.connection_id, job.dry_run, job.mode],
  );
  if (other[0]) {
    await client.query(
      `UPDATE sync_jobs SET status = 'superseded', superseded_by = $2, finished_at = now(), updated_at = now(), last_error = $3,
              lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
        WHERE id = $1`,
      [job.id, other[0].id, error],
    );
    return 'superseded';
  }
  await client.query(
    `UPDATE sync_jobs SET status = 'queued', attempt = $2, last_error = $3,
            run_after = now() + make_interval(secs => $4::double precision / 1000), updated_at = now(),
            lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, progress = NULL
      WHERE id = $1`,
    [job.id, attempt, error, how.delayMs],
  );
  return 'queued';
}

async function lockOwned(client: pg.PoolClient, job: ClaimedJob) {
  const { rows } = await client.query<{ id: string; connection_id: string; dry_run: boolean; mode: SyncMode; attempt: number; max_attempts: number }>(
    `SELECT id, connection_id, dry_run, mode, attempt, max_attempts FROM sync_jobs
      WHERE id = $1 AND lease_token = $2 AND status = 'running' FOR UPDATE`,
    [job.id, job.leaseToken],
  );
  return rows[0] ?? null;
}

/** The handler threw: retry with backoff, or dead-letter. Null when the lease was no longer ours. */
export async function fail(db: Database, job: ClaimedJob, error: unknown, policy: QueuePolicy): Promise<SyncJobStatus | null> {
  return db.transaction(async (client) => {
    const row = await lockOwned(client, job);
    if (!row) return null;
    return requeueLocked(client, row, { kind: 'retry', delayMs: backoffMs(policy, row.attempt), countsAsAttempt: true, outcome: 'failed' }, errorSummary(error));
  });
}

/** This instance stops before the job finished: hand it back at once, without counting the attempt. */
export async function release(db: Database, job: ClaimedJob, reason: string): Promise<SyncJobStatus | null> {
  return db.transaction(async (client) => {
    const row = await lockOwned(client, job);
    if (!row) return null;
    return requeueLocked(client, row, { kind: 'retry', delayMs: 0, countsAsAttempt: false, outcome: 'released' }, reason);
  });
}

/**
 * Recovers running jobs whose lease expired (their instance died or hung): each goes back to queued at once
 * (the job did nothing wrong; the attempt still counts, so a job that kills every instance ends dead).
 * `exceptIds`: jobs this instance is running itself, which it must never take from itself.
 */
export async function recoverExpired(db: Database, exceptIds: string[], limit = 20): Promise<Array<{ id: string; status: SyncJobStatus; owner: string | null }>> {
  return db.transaction(async (client) => {
    const { rows } = await client.query<{ id: string; connection_id: string; dry_run: boolean; mode: SyncMode; attempt: number; max_attempts: number; lease_owner: string | null }>(
      `SELECT id, connection_id, dry_run, mode, attempt, max_attempts, lease_owner FROM sync_jobs
        WHERE status = 'running' AND lease_expires_at < now() AND NOT (id = ANY($1::uuid[]))
        ORDER BY lease_expires_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED`,
      [exceptIds, limit],
    );
    const recovered: Array<{ id: string; status: SyncJobStatus; owner: string | null }> = [];
    for (const row of rows) {
      const status = await requeueLocked(
        client,
        row,
        { kind: 'retry', delayMs: 0, countsAsAttempt: true, outcome: 'lease_expired' },
        `lease expired: instance ${row.lease_owner ?? 'unknown'} stopped renewing it (crashed, killed or cut off)`,
      );
      recovered.push({ id: row.id, status, owner: row.lease_owner });
    }
    return recovered;
  });
}

/**
 * Cancels a job: a queued job at once; a running job is asked to stop (its worker sees the request on the
 * next heartbeat and aborts the handler). Returns the job after the change, or null if it does not exist.
 */
export async function cancelJob(db: Queryable, tenantId: string, jobId: string): Promise<SyncJobView | null> {
  const { rows } = await db.query<JobRow>(
    `UPDATE sync_jobs
        SET status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
            finished_at = CASE WHEN status = 'queued' THEN now() ELSE finished_at END,
            cancel_requested = CASE WHEN status = 'running' THEN true ELSE cancel_requested END,
            updated_at = now()
      WHERE tenant_id = $1 AND id = $2
      RETURNING ${JOB_COLUMNS}`,
    [tenantId, jobId],
  );
  return rows[0] ? view(rows[0]) : null;
}

export async function getJob(db: Queryable, tenantId: string, jobId: string): Promise<SyncJobView | null> {
  const { rows } = await db.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM sync_jobs WHERE tenant_id = $1 AND id = $2`, [tenantId, jobId]);
  return rows[0] ? view(rows[0]) : null;
}

export interface ConnectionJobs {
  running: SyncJobView | null;
  queued: SyncJobView[];
  /** The most recent job that ended (succeeded, dead, superseded or cancelled). */
  last: SyncJobView | null;
}

/** What the admin UI shows for a connection: what runs now, what waits, and how the last job ended. */
export async function connectionJobs(db: Queryable, tenantId: string, connectionId: string): Promise<ConnectionJobs> {
  const { rows: active } = await db.query<JobRow>(
    `SELECT ${JOB_COLUMNS} FROM sync_jobs
      WHERE tenant_id = $1 AND connection_id = $2 AND status IN ('queued', 'running')
      ORDER BY created_at`,
    [tenantId, connectionId],
  );
  const { rows: ended } = await db.query<JobRow>(
    `SELECT ${JOB_COLUMNS} FROM sync_jobs
      WHERE tenant_id = $1 AND connection_id = $2 AND status NOT IN ('queued', 'running')
      ORDER BY finished_at DESC NULLS LAST, created_at DESC
      LIMIT 1`,
    [tenantId, connectionId],
  );
  const running = active.find((row) => row.status === 'running');
  return {
    running: running ? view(running) : null,
    queued: active.filter((row) => row.status === 'queued').map(view),
    last: ended[0] ? view(ended[0]) : null,
  };
}

export async function listJobs(db: Queryable, tenantId: string, connectionId: string, limit = 50): Promise<SyncJobView[]> {
  const { rows } = await db.query<JobRow>(
    `SELECT ${JOB_COLUMNS} FROM sync_jobs WHERE tenant_id = $1 AND connection_id = $2 ORDER BY created_at DESC LIMIT $3`,
    [tenantId, connectionId, Math.min(Math.max(1, limit), 500)],
  );
  return rows.map(view);
}

/** Deletes finished jobs and old schedule claims past the retention period (their history lives in sync_runs). */
export async function pruneFinished(db: Queryable, retentionDays: number): Promise<{ jobs: number; claims: number }> {
  const jobs = await db.query(
    `DELETE FROM sync_jobs WHERE finished_at < now() - make_interval(days => $1)
        AND status IN ('succeeded', 'dead', 'superseded', 'cancelled')
        AND NOT EXISTS (SELECT 1 FROM sync_jobs s WHERE s.superseded_by = sync_jobs.id)`,
    [retentionDays],
  );
  const claims = await db.query(`DELETE FROM schedule_claims WHERE claimed_at < now() - make_interval(days => $1)`, [retentionDays]);
  return { jobs: jobs.rowCount ?? 0, claims: claims.rowCount ?? 0 };
}
