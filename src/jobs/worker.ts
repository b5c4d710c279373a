import type { Database } from '../db/database';
import type { Logger } from '../logging/logger';
import { claimNext, complete, fail, heartbeat, markCancelled, recoverExpired, release, reportProgress, type ClaimedJob, type QueuePolicy } from './queue';
import { JobAbortedError, type SyncJobHandler } from './types';

export interface WorkerOptions {
  /** Identifies this instance in leases and the attempt trail (host:pid:random). */
  instanceId: string;
  /** Jobs this instance runs at once (each on a different connection). */
  concurrency: number;
  /** How long a lease lasts without a heartbeat; a dead instance's job is taken over after this. */
  leaseMs: number;
  /** How often a running job's lease is renewed; well under leaseMs. */
  heartbeatMs: number;
  /** How often the queue is polled for ready jobs and expired leases. */
  pollMs: number;
  /** On stop(): how long running jobs get to finish before they are aborted and handed back. */
  stopGraceMs: number;
  policy: QueuePolicy;
}

interface Active {
  job: ClaimedJob;
  controller: AbortController;
  done: Promise<void>;
}

/**
 * Polls the queue and runs jobs through the handler. One worker per instance; several instances share the
 * queue safely (claims skip locked rows, leases fence out an instance that lost its job).
 */
export class SyncWorker {
  private readonly active = new Map<string, Active>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private running = false;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly db: Database,
    private readonly handler: SyncJobHandler,
    private readonly options: WorkerOptions,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedulePoll(0);
  }

  /** Polls now instead of at the next interval (after an enqueue in this process). */
  wake(): void {
    if (this.running && !this.polling) this.schedulePoll(0);
  }

  /** Job ids this instance is running now. */
  activeJobIds(): string[] {
    return [...this.active.keys()];
  }

  private schedulePoll(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.polling = this.poll().finally(() => {
        this.polling = undefined;
        if (this.running) this.schedulePoll(this.options.pollMs);
      });
    }, delayMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    try {
      const recovered = await recoverExpired(this.db, this.activeJobIds());
      for (const job of recovered) {
        this.logger.warn({ jobId: job.id, previousOwner: job.owner, status: job.status }, 'recovered a sync job whose lease expired');
      }
      while (this.running && this.active.size < this.options.concurrency) {
        const job = await claimNext(this.db, this.options.instanceId, this.options.leaseMs);
        if (!job) break;
        this.begin(job);
      }
    } catch (error) {
      // The database may be restarting: log and try again at the next poll.
      this.logger.error({ err: error }, 'polling the sync queue failed');
    }
  }

  private begin(job: ClaimedJob): void {
    const controller = new AbortController();
    const entry: Active = { job, controller, done: Promise.resolve() };
    this.active.set(job.id, entry);
    entry.done = this.execute(job, controller).finally(() => {
      this.active.delete(job.id);
      // A slot is free: look for more work without waiting for the next interval.
      this.wake();
    });
  }

  private async execute(job: ClaimedJob, controller: AbortController): Promise<void> {
    const log = this.logger.child({ jobId: job.id, connectionId: job.connectionId, tenantId: job.tenantId, attempt: job.attempt });
    log.info({ trigger: job.trigger, mode: job.mode, dryRun: job.dryRun }, 'sync job started');
    let lastRenewed = Date.now();
    const beat = setInterval(() => {
      heartbeat(this.db, job.id, job.leaseToken, this.options.leaseMs).then(
        (result) => {
          if (!result) {
            controller.abort(new JobAbortedError('lease_lost'));
            return;
          }
          lastRenewed = Date.now();
          if (result.cancelRequested) controller.abort(new JobAbortedError('cancelled'));
        },
        (error) => {
          log.warn({ err: error }, 'renewing the sync job lease failed');
          // Past the lease another instance may have taken the job: stop before two runs overlap.
          if (Date.now() - lastRenewed >= this.options.leaseMs) controller.abort(new JobAbortedError('lease_lost'));
        },
      );
    }, this.options.heartbeatMs);
    beat.unref();

    let outcome: { ok: true } | { ok: false; error: unknown };
    try {
      await this.handler(
        {
          id: job.id,
          tenantId: job.tenantId,
          connectionId: job.connectionId,
          trigger: job.trigger,
          mode: job.mode,
          dryRun: job.dryRun,
          attempt: job.attempt,
          reportProgress: async (progress) => {
            await reportProgress(this.db, job.id, job.leaseToken, progress);
          },
        },
        controller.signal,
      );
      outcome = { ok: true };
    } catch (error) {
      outcome = { ok: false, error };
    } finally {
      clearInterval(beat);
    }

    const reason = controller.signal.aborted ? (controller.signal.reason as unknown) : undefined;
    try {
      if (reason instanceof JobAbortedError && reason.reason === 'lease_lost') {
        log.warn('sync job lease lost; the instance that holds it now finishes the job');
        return;
      }
      if (outcome.ok) {
        const done = await complete(this.db, job);
        if (done) log.info('sync job succeeded');
        else log.warn('sync job finished after its lease was lost; another instance owns it');
        return;
      }
      if (reason instanceof JobAbortedError && reason.reason === 'cancelled') {
        await markCancelled(this.db, job, 'cancelled by an admin');
        log.info('sync job cancelled');
        return;
      }
      if (reason instanceof JobAbortedError && reason.reason === 'stopping') {
        const status = await release(this.db, job, 'released: the instance running it stopped');
        log.info({ status }, 'sync job handed back for another instance');
        return;
      }
      const status = await fail(this.db, job, outcome.error, this.options.policy);
      log.warn({ err: outcome.error, status }, 'sync job attempt failed');
    } catch (error) {
      // The lease expires and another instance recovers the job.
      log.error({ err: error }, 'recording the end of a sync job failed');
    }
  }

  /**
   * Stops taking jobs; running jobs get stopGraceMs to finish, then are aborted and handed back to the queue
   * (not counted as a failed attempt). Handlers that ignore the abort keep their lease until this process
   * exits; the lease then expires and another instance recovers the job.
   */
  stop(): Promise<void> {
    return (this.stopping ??= (async () => {
      this.running = false;
      clearTimeout(this.timer);
      await this.polling;
      const all = () => Promise.allSettled([...this.active.values()].map((entry) => entry.done));
      if (this.active.size === 0) return;
      const finished = await Promise.race([all().then(() => true), delay(this.options.stopGraceMs).then(() => false)]);
      if (finished) return;
      for (const entry of this.active.values()) entry.controller.abort(new JobAbortedError('stopping'));
      await Promise.race([all(), delay(Math.max(1000, this.options.heartbeatMs))]);
    })());
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
