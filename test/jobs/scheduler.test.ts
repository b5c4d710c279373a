import { claimNext, connectionJobs } from '../../src/jobs/queue';
import { Scheduler, type SchedulerOptions } from '../../src/jobs/scheduler';
import { DEFAULT_JOBS_OPTIONS, JobsService } from '../../src/jobs/service';
import type { SyncJob } from '../../src/jobs/types';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { silentLogger } from '../helpers/runtime';
import { FAST_POLICY, seedConnections, waitFor } from './fixtures/data';

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.destroy();
});
beforeEach(async () => {
  await t.truncate();
});

const HOURLY = { kind: 'hourly', minute: 0, timeZone: 'UTC' };

function scheduler(instanceId: string, overrides: Partial<SchedulerOptions> = {}): Scheduler {
  return new Scheduler(t.db, { instanceId, tickSeconds: 60, schedule: {}, policy: FAST_POLICY, ...overrides }, silentLogger());
}

const at = (iso: string) => new Date(iso);

async function claims(connectionId: string) {
  const { rows } = await t.db.query<{ slot_at: Date; claimed_by: string; joined: boolean; job_id: string | null }>(
    'SELECT slot_at, claimed_by, joined, job_id FROM schedule_claims WHERE connection_id = $1 ORDER BY slot_at',
    [connectionId],
  );
  return rows.map((row) => ({ slot: row.slot_at.toISOString(), by: row.claimed_by, joined: row.joined, hasJob: row.job_id !== null }));
}

test('a new schedule is armed first and fires from its next slot, once across instances', async () => {
  const { tenantId, connectionIds: [c] } = await seedConnections(t.db, 1, HOURLY);
  const s1 = scheduler('instance-1');
  const s2 = scheduler('instance-2');
  // 10:30: the 10:00 slot passed before the schedule was seen, so nothing fires.
  expect(await s1.tick(at('2025-01-01T10:30:00Z'))).toEqual([]);
  expect(await s2.tick(at('2025-01-01T10:30:05Z'))).toEqual([]);
  const fired = await s1.tick(at('2025-01-01T11:00:01Z'));
  expect(fired).toEqual([{ tenantId, connectionId: c, slotAt: at('2025-01-01T11:00:00Z'), jobId: expect.any(String), joined: false }]);
  expect(await s2.tick(at('2025-01-01T11:00:02Z'))).toEqual([]);
  expect(await s1.tick(at('2025-01-01T11:01:00Z'))).toEqual([]);
  expect(await claims(c!)).toEqual([{ slot: '2025-01-01T11:00:00.000Z', by: 'instance-1', joined: false, hasJob: true }]);
  const jobs = await connectionJobs(t.db, tenantId, c!);
  expect(jobs.queued.map((j) => [j.id, j.trigger, j.mode])).toEqual([[fired[0]!.jobId, 'schedule', 'full']]);
});

test('instances ticking at the same moment claim each slot once', async () => {
  const { connectionIds } = await seedConnections(t.db, 3, HOURLY);
  const instances = ['i1', 'i2', 'i3', 'i4'].map((id) => scheduler(id));
  await Promise.all(instances.map((s) => s.tick(at('2025-01-01T09:59:00Z'))));
  for (const hour of ['10', '11', '12']) {
    const results = await Promise.all(instances.map((s) => s.tick(at(`2025-01-01T${hour}:00:00.500Z`))));
    expect(results.flat()).toHaveLength(3);
  }
  for (const c of connectionIds) {
    expect((await claims(c)).map((claim) => claim.slot)).toEqual(['2025-01-01T10:00:00.000Z', '2025-01-01T11:00:00.000Z', '2025-01-01T12:00:00.000Z']);
  }
});

test('after downtime only the latest missed slot fires', async () => {
  const { connectionIds: [c] } = await seedConnections(t.db, 1, HOURLY);
  const s = scheduler('i1');
  await s.tick(at('2025-01-01T09:30:00Z'));
  await s.tick(at('2025-01-01T10:00:10Z'));
  // Every instance was down from 10:01 until 15:20.
  const caughtUp = await s.tick(at('2025-01-01T15:20:00Z'));
  expect(caughtUp.map((f) => f.slotAt.toISOString())).toEqual(['2025-01-01T15:00:00.000Z']);
  expect(await s.tick(at('2025-01-01T15:21:00Z'))).toEqual([]);
  expect((await claims(c!)).map((claim) => claim.slot)).toEqual(['2025-01-01T10:00:00.000Z', '2025-01-01T15:00:00.000Z']);
});

test('a slot that comes while a sync runs joins it instead of queueing another', async () => {
  const { connectionIds: [c] } = await seedConnections(t.db, 1, HOURLY);
  const s = scheduler('i1');
  await s.tick(at('2025-01-01T09:30:00Z'));
  const [first] = await s.tick(at('2025-01-01T10:00:00Z'));
  const running = await claimNext(t.db, 'worker', 60_000);
  expect(running?.id).toBe(first!.jobId);
  const [second] = await s.tick(at('2025-01-01T11:00:00Z'));
  expect(second).toMatchObject({ jobId: first!.jobId, joined: true });
});

test('an edited schedule is re-armed: no slot from before the edit fires', async () => {
  const { connectionIds: [c] } = await seedConnections(t.db, 1, HOURLY);
  const s = scheduler('i1');
  await s.tick(at('2025-01-01T09:30:00Z'));
  await t.db.query(`UPDATE connections SET schedule = $2::jsonb WHERE id = $1`, [c, JSON.stringify({ kind: 'daily', time: '12:00', timeZone: 'UTC' })]);
  // 12:30: the 12:00 slot of the new schedule is before it was seen.
  expect(await s.tick(at('2025-01-01T12:30:00Z'))).toEqual([]);
  expect(await s.tick(at('2025-01-02T12:00:30Z'))).toHaveLength(1);
  expect((await claims(c!)).map((claim) => claim.slot)).toEqual(['2025-01-02T12:00:00.000Z']);
});

test('an invalid stored schedule is skipped without stopping the others', async () => {
  const good = await seedConnections(t.db, 1, HOURLY);
  const bad = await seedConnections(t.db, 1, { kind: 'hourly', minute: 99, timeZone: 'UTC' });
  const s = scheduler('i1');
  await s.tick(at('2025-01-01T09:30:00Z'));
  const fired = await s.tick(at('2025-01-01T10:00:00Z'));
  expect(fired.map((f) => f.connectionId)).toEqual([good.connectionIds[0]]);
  expect(await claims(bad.connectionIds[0]!)).toEqual([]);
});

test('node-cron ticks fire a seconds-level schedule and the worker runs it', async () => {
  const schedule = { kind: 'cron', expression: '*/2 * * * * *', timeZone: 'UTC' };
  const { connectionIds: [c] } = await seedConnections(t.db, 1, schedule);
  const ran: SyncJob[] = [];
  const service = new JobsService(
    t.db,
    async (job) => {
      ran.push(job);
    },
    { ...DEFAULT_JOBS_OPTIONS, instanceId: 'ticking', tickSeconds: 1, pollMs: 50, schedule: { allowSeconds: true }, policy: FAST_POLICY },
    silentLogger(),
  );
  service.start();
  try {
    await waitFor('a scheduled job to run', async () => (ran.length > 0 ? true : undefined), 10_000);
  } finally {
    await service.stop();
  }
  expect(ran[0]).toMatchObject({ connectionId: c, trigger: 'schedule', mode: 'full' });
});

test('the tick period must fit a minute', () => {
  expect(() => scheduler('i1', { tickSeconds: 7 })).toThrow('Scheduler tick must be 60 seconds or a whole divisor of 60; got 7');
});
