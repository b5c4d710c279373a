/**
 * The contract between the job queue and whatever runs a sync. The queue knows nothing about sources,
 * targets or plans: it hands a job to a SyncJobHandler and records how that ended.
 */

export type SyncTrigger = 'manual' | 'schedule' | 'change';
export type SyncMode = 'full' | 'incremental';
export type SyncJobStatus = 'queued' | 'running' | 'succeeded' | 'dead' | 'superseded' | 'cancelled';

/** What a handler may report while it runs; the admin UI shows it. */
export interface JobProgress {
  phase: string;
  counts?: Record<string, number>;
  /** The sync run this job started (sync_runs id), once the engine has one. */
  runId?: string;
}

export interface SyncJob {
  id: string;
  tenantId: string;
  connectionId: string;
  trigger: SyncTrigger;
  mode: SyncMode;
  dryRun: boolean;
  /** 1 on the first attempt, counting up on each retry or take-over. */
  attempt: number;
  /** Records phase and counts on the job row; a no-op once the job's lease is gone. */
  reportProgress(progress: JobProgress): Promise<void>;
}

/**
 * Runs one sync job. Resolves = done, throws = this attempt failed (retried with backoff until the job's
 * attempts are used up). The signal aborts when the job is cancelled, the instance stops, or the lease was
 * lost; the handler should stop at its next safe point and throw. A job can run again after a crash
 * mid-run, so the handler must be idempotent (the sync engine is: it plans from current state).
 */
export interface SyncJobHandler {
  (job: SyncJob, signal: AbortSignal): Promise<void>;
}

/** A job row as the API and the admin UI see it. */
export interface SyncJobView {
  id: string;
  tenantId: string;
  connectionId: string;
  trigger: SyncTrigger;
  mode: SyncMode;
  dryRun: boolean;
  status: SyncJobStatus;
  attempt: number;
  maxAttempts: number;
  requests: number;
  runAfter: Date;
  progress: JobProgress | null;
  lastError: string | null;
  supersededBy: string | null;
  cancelRequested: boolean;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface EnqueueRequest {
  tenantId: string;
  connectionId: string;
  trigger: SyncTrigger;
  /** Default: full, except for 'change' triggers, which default to incremental. */
  mode?: SyncMode;
  dryRun?: boolean;
}

export interface EnqueueResult {
  jobId: string;
  /** true when the request joined a job that was already queued or running instead of adding one. */
  joined: boolean;
  status: SyncJobStatus;
}

export class ConnectionNotFoundError extends Error {
  constructor(readonly tenantId: string, readonly connectionId: string) {
    super(`Connection ${connectionId} does not exist in tenant ${tenantId}`);
    this.name = 'ConnectionNotFoundError';
  }
}

/** Why a job's AbortSignal fired (signal.reason). */
export class JobAbortedError extends Error {
  constructor(readonly reason: 'cancelled' | 'stopping' | 'lease_lost') {
    super(
      reason === 'cancelled'
        ? 'The sync job was cancelled'
        : reason === 'stopping'
          ? 'This instance is stopping; the sync job will be resumed by an instance that is running'
          : 'This instance lost the sync job\'s lease; another instance may now run it',
    );
    this.name = 'JobAbortedError';
  }
}
