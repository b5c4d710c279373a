import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Config } from '../config';
import type { Database, Queryable } from '../db/database';
import type { Logger } from '../logging/logger';
import { cancelJob, connectionJobs, DEFAULT_QUEUE_POLICY, enqueueSync, getJob, listJobs, pruneFinished, type ConnectionJobs, type QueuePolicy } from './queue';
import { describeSchedule, nextRuns, parseSchedule, ScheduleError, type Schedule, type ScheduleOptions } from './schedule';
import { Scheduler, type FiredSlot } from './scheduler';
import { ConnectionNotFoundError, type EnqueueResult, type SyncJobHandler, type SyncJobView, type SyncMode } from './types';
import { SyncWorker } from './worker';

export interface JobsOptions {
  instanceId: string;
  /** Run the worker (take jobs from the queue) on this instance. */
  worker: boolean;
  /** Run the schedule ticker on this instance. Every instance may: slots are claimed in the database. */
  scheduler: boolean;
  concurrency: number;
  leaseMs: number;
  heartbeatMs: number;
  pollMs: number;
  stopGraceMs: number;
  tickSeconds: number;
  retentionDays: number;
  schedule: ScheduleOptions;
  policy: QueuePolicy;
}

export function defaultInstanceId(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/** JobsOptions from the app's configuration (see the JOBS_* variables in .env.example). */
export function jobsOptionsFrom(config: Config): JobsOptions {
  const jobs = config.jobs;
  return {
    instanceId: defaultInstanceId(),
    worker: jobs.workerEnabled,
    scheduler: jobs.schedulerEnabled,
    concurrency: jobs.concurrency,
    leaseMs: jobs.leaseSeconds * 1000,
    heartbeatMs: Math.max(500, Math.floor((jobs.leaseSeconds * 1000) / 4)),
    pollMs: jobs.pollMs,
    stopGraceMs: config.shutdownGraceMs,
    tickSeconds: jobs.schedulerTickSeconds,
    retentionDays: jobs.retentionDays,
    schedule: { allowSeconds: jobs.allowSecondsInSchedules },
    policy: {
      maxAttempts: jobs.maxAttempts,
      backoff: { baseMs: jobs.retryBaseSeconds * 1000, maxMs: jobs.retryMaxSeconds * 1000 },
      changeDebounceMs: jobs.changeDebounceMs,
    },
  };
}

export const DEFAULT_JOBS_OPTIONS: Omit<JobsOptions, 'instanceId'> = {
  worker: true,
  scheduler: true,
  concurrency: 2,
  leaseMs: 60_000,
  heartbeatMs: 15_000,
  pollMs: 1_000,
  stopGraceMs: 10_000,
  tickSeconds: 60,
  retentionDays: 30,
  schedule: { allowSeconds: false },
  policy: DEFAULT_QUEUE_POLICY,
};

export interface ConnectionSyncStatus extends ConnectionJobs {
  schedule: { description: string; nextRuns: Date[]; error: string | null } | null;
}

/**
 * The jobs capability as the rest of the app sees it: start/stop with the process, Synchronize, the change
 * trigger, and the status the admin UI shows. Every read and write is scoped to a tenant.
 */
export class JobsService {
  readonly worker: SyncWorker | undefined;
  readonly scheduler: Scheduler | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Database,
    handler: SyncJobHandler,
    readonly options: JobsOptions,
    private readonly logger: Logger,
  ) {
    const log = logger.child({ component: 'jobs', instance: options.instanceId });
    if (options.worker) {
      this.worker = new SyncWorker(db, handler, options, log);
    }
    if (options.scheduler) {
      this.scheduler = new Scheduler(db, options, log, (slot: FiredSlot) => {
        if (!slot.joined) this.worker?.wake();
      });
    }
  }

  start(): void {
    this.worker?.start();
    this.scheduler?.start();
    const prune = () =>
      pruneFinished(this.db, this.options.retentionDays).catch((error) => this.logger.warn({ err: error }, 'pruning finished sync jobs failed'));
    this.pruneTimer = setInterval(prune, 6 * 60 * 60 * 1000);
    this.pruneTimer.unref();
  }

  /** Graceful stop (SIGTERM): no new ticks or claims; running jobs finish or are handed back. */
  async stop(): Promise<void> {
    clearInterval(this.pruneTimer);
    await this.scheduler?.stop();
    await this.worker?.stop();
  }

  /** The Synchronize button: a full sync, returned at once; joins a sync already queued or running. */
  async synchronize(tenantId: string, connectionId: string, options: { dryRun?: boolean; mode?: SyncMode } = {}): Promise<EnqueueResult> {
    const result = await enqueueSync(this.db, { tenantId, connectionId, trigger: 'manual', mode: options.mode ?? 'full', dryRun: options.dryRun }, this.options.policy);
    if (!result.joined) this.worker?.wake();
    return result;
  }

  /**
   * A SCIM write changed the connection's directory: an incremental sync after the debounce. Pass the
   * write's transaction client to enqueue atomically with it.
   */
  async directoryChanged(tenantId: string, connectionId: string, db: Queryable = this.db): Promise<EnqueueResult> {
    return enqueueSync(db, { tenantId, connectionId, trigger: 'change', mode: 'incremental' }, this.options.policy);
  }

  job(tenantId: string, jobId: string): Promise<SyncJobView | null> {
    return getJob(this.db, tenantId, jobId);
  }

  jobs(tenantId: string, connectionId: string, limit?: number): Promise<SyncJobView[]> {
    return listJobs(this.db, tenantId, connectionId, limit);
  }

  cancel(tenantId: string, jobId: string): Promise<SyncJobView | null> {
    return cancelJob(this.db, tenantId, jobId);
  }

  /** Running, queued and last job of a connection, with its schedule's description and next run times. */
  async status(tenantId: string, connectionId: string, now: Date = new Date()): Promise<ConnectionSyncStatus> {
    const jobs = await connectionJobs(this.db, tenantId, connectionId);
    const { rows } = await this.db.query<{ schedule: unknown }>('SELECT schedule FROM connections WHERE tenant_id = $1 AND id = $2', [tenantId, connectionId]);
    const raw = rows[0]?.schedule;
    let schedule: ConnectionSyncStatus['schedule'] = null;
    if (raw) {
      try {
        const parsed = parseSchedule(raw, this.options.schedule);
        schedule = { description: describeSchedule(parsed), nextRuns: nextRuns(parsed, now, 5), error: null };
      } catch (error) {
        // A stored schedule that no longer validates never fires; show why instead of failing the page.
        if (!(error instanceof ScheduleError)) throw error;
        schedule = { description: 'invalid schedule (not running)', nextRuns: [], error: error.message };
      }
    }
    return { ...jobs, schedule };
  }

  /** Validates and stores a connection's schedule (null = none). Returns what was stored. */
  async setSchedule(tenantId: string, connectionId: string, input: unknown): Promise<Schedule | null> {
    const schedule = input === null ? null : parseSchedule(input, this.options.schedule);
    const { rowCount } = await this.db.query(
      'UPDATE connections SET schedule = $3::jsonb, updated_at = now() WHERE tenant_id = $1 AND id = $2',
      [tenantId, connectionId, schedule === null ? null : JSON.stringify(schedule)],
    );
    if (!rowCount) throw new ConnectionNotFoundError(tenantId, connectionId);
    return schedule;
  }
}
