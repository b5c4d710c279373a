import cron, { type ScheduledTask } from 'node-cron';
import type { Database } from '../db/database';
import type { Logger } from '../logging/logger';
import { enqueueSync, type QueuePolicy } from './queue';
import { latestSlot, parseSchedule, ScheduleError, type ScheduleOptions } from './schedule';

export interface SchedulerOptions {
  instanceId: string;
  /** Seconds between ticks: 60 in production (a tick each minute); a divisor of 60 below that (tests). */
  tickSeconds: number;
  schedule: ScheduleOptions;
  policy: QueuePolicy;
}

export interface FiredSlot {
  tenantId: string;
  connectionId: string;
  slotAt: Date;
  jobId: string;
  joined: boolean;
}

interface ScheduledConnection {
  id: string;
  tenant_id: string;
  schedule: unknown;
  armed_at: Date | null;
  last_slot_at: Date | null;
  changed: boolean;
}

/**
 * Fires each connection's schedule slots, exactly once across every instance.
 *
 * node-cron ticks on every instance. A tick fires, per connection, the latest slot at or before now that no
 * instance claimed yet: the claim is a row in schedule_claims whose primary key (connection, slot) lets one
 * INSERT win, and the sync job is enqueued in the same transaction, so a crash cannot claim a slot without
 * its job. After downtime only the latest missed slot fires (at most one catch-up), and slots from before a
 * schedule was set or changed never fire.
 */
export class Scheduler {
  private task: ScheduledTask | undefined;
  private ticking: Promise<FiredSlot[]> | undefined;

  constructor(
    private readonly db: Database,
    private readonly options: SchedulerOptions,
    private readonly logger: Logger,
    private readonly onFired: (slot: FiredSlot) => void = () => undefined,
  ) {
    const t = options.tickSeconds;
    if (!(t === 60 || (Number.isInteger(t) && t >= 1 && t < 60 && 60 % t === 0))) {
      throw new Error(`Scheduler tick must be 60 seconds or a whole divisor of 60; got ${t}`);
    }
  }

  start(): void {
    if (this.task) return;
    const pattern = this.options.tickSeconds === 60 ? '* * * * *' : `*/${this.options.tickSeconds} * * * * *`;
    this.task = cron.schedule(
      pattern,
      async () => {
        await this.tick();
      },
      { name: `sync-scheduler:${this.options.instanceId}`, noOverlap: true },
    );
  }

  /** Stops ticking and waits for a tick in progress. (Not cron.shutdown(): that stops every task in the process.) */
  async stop(): Promise<void> {
    const task = this.task;
    this.task = undefined;
    if (task) {
      await task.stop();
      await task.destroy();
    }
    await this.ticking?.catch(() => undefined);
  }

  /** One pass over every scheduled connection. Public so tests can drive time. */
  tick(now: Date = new Date()): Promise<FiredSlot[]> {
    const run = this.runTick(now).catch((error) => {
      this.logger.error({ err: error }, 'schedule tick failed');
      return [] as FiredSlot[];
    });
    this.ticking = run;
    return run;
  }

  private async runTick(now: Date): Promise<FiredSlot[]> {
    // A system pass across tenants; every write below is keyed by the connection it reads.
    const { rows } = await this.db.query<ScheduledConnection>(
      `SELECT c.id, c.tenant_id, c.schedule, s.armed_at, s.last_slot_at,
              (s.connection_id IS NULL OR s.schedule IS DISTINCT FROM c.schedule) AS changed
         FROM connections c LEFT JOIN schedule_state s ON s.connection_id = c.id
        WHERE c.schedule IS NOT NULL AND c.schedule <> 'null'::jsonb`,
    );
    const fired: FiredSlot[] = [];
    for (const row of rows) {
      try {
        const slot = await this.fireDue(row, now);
        if (slot) {
          fired.push(slot);
          this.onFired(slot);
        }
      } catch (error) {
        const log = { err: error, connectionId: row.id, tenantId: row.tenant_id };
        if (error instanceof ScheduleError) this.logger.warn(log, 'connection has an invalid schedule; skipped');
        else this.logger.error(log, 'firing a connection schedule failed');
      }
    }
    return fired;
  }

  private async fireDue(row: ScheduledConnection, now: Date): Promise<FiredSlot | null> {
    const schedule = parseSchedule(row.schedule, this.options.schedule);
    if (row.changed) {
      // New or edited schedule: arm it from now. Concurrent instances may both arm it; the later write only
      // moves armed_at by the gap between their ticks.
      await this.db.query(
        `INSERT INTO schedule_state (connection_id, schedule, armed_at) VALUES ($1, $2::jsonb, $3)
         ON CONFLICT (connection_id) DO UPDATE SET schedule = EXCLUDED.schedule, armed_at = EXCLUDED.armed_at
          WHERE schedule_state.schedule IS DISTINCT FROM EXCLUDED.schedule`,
        [row.id, JSON.stringify(row.schedule), now],
      );
      return null;
    }
    const slot = latestSlot(schedule, now);
    if (!slot || (row.armed_at && slot <= row.armed_at) || (row.last_slot_at && slot <= row.last_slot_at)) return null;

    return this.db.transaction(async (client) => {
      const { rows: claimed } = await client.query(
        `INSERT INTO schedule_claims (connection_id, slot_at, claimed_by) VALUES ($1, $2, $3)
         ON CONFLICT (connection_id, slot_at) DO NOTHING RETURNING slot_at`,
        [row.id, slot, this.options.instanceId],
      );
      if (claimed.length === 0) return null; // another instance fired this slot
      const result = await enqueueSync(client, { tenantId: row.tenant_id, connectionId: row.id, trigger: 'schedule', mode: 'full' }, this.options.policy);
      await client.query(`UPDATE schedule_claims SET job_id = $3, joined = $4 WHERE connection_id = $1 AND slot_at = $2`, [row.id, slot, result.jobId, result.joined]);
      await client.query(
        `UPDATE schedule_state SET last_slot_at = GREATEST(COALESCE(last_slot_at, $2), $2) WHERE connection_id = $1`,
        [row.id, slot],
      );
      this.logger.info({ connectionId: row.id, tenantId: row.tenant_id, slotAt: slot.toISOString(), jobId: result.jobId, joined: result.joined }, 'schedule slot fired');
      return { tenantId: row.tenant_id, connectionId: row.id, slotAt: slot, jobId: result.jobId, joined: result.joined };
    });
  }
}
