import { randomUUID } from 'node:crypto';
import {
  backoffMs,
  cancelJob,
  claimNext,
  complete,
  connectionJobs,
  enqueueSync,
  fail,
  getJob,
  heartbeat,
  recoverExpired,
  release,
  reportProgress,
} from '../../src/jobs/queue';
import { ConnectionNotFoundError } from '../../src/jobs/types';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { FAST_POLICY, seedConnections } from './fixtures/data';

let t: TestDatabase;
let tenantId: string;
let a: string;
let b: string;

beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.destroy();
});
beforeEach(async () => {
  await t.truncate();
  const seeded = await seedConnections(t.db, 2);
  tenantId = seeded.tenantId;
  [a, b] = seeded.connectionIds as [string, string];
});

const LEASE = 30_000;
const expireLeases = () => t.db.query(`UPDATE sync_jobs SET lease_expires_at = now() - interval '1 second' WHERE status = 'running'`);

describe('enqueue', () => {
  test('a second Synchronize while one is queued joins it', async () => {
    const first = await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'manual' }, FAST_POLICY);
    const second = await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'manual' }, FAST_POLICY);
    expect(first).toEqual({ jobId: expect.any(String), joined: false, status: 'queued' });
    expect(second).toEqual({ jobId: first.jobId, joined: true, status: 'queued' });
    expect((await getJob(t.db, tenantId, first.jobId))?.requests).toBe(2);
  });

  test('a second Synchronize while one runs joins the running job', async () => {
    const first = await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'manual' }, FAST_POLICY);
    const claimed = await claimNext(t.db, 'i1', LEASE);
    expect(claimed?.id).toBe(first.jobId);
    const second = await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'manual' }, FAST_POLICY);
    expect(second).toEqual({ jobId: first.jobId, joined: true, status: 'running' });
  });

  test('concurrent Synchronize requests create one job', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, () => enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'manual' }, FAST_POLICY)));
    expect(new Set(results.map((r) => r.jobId)).size).toBe(1);
    expect(results.filter((r) => !r.joined)).toHaveLength(1);
    const { rows } = await t.db.query('SELECT id FROM sync_jobs WHERE connection_id = $1', [a]);
    expect(rows).toHaveLength(1);
  });

  test('changes during a run queue exactly one more run; more changes join it', async () => {
    const full = await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'manual' }, FAST_POLICY);
    await claimNext(t.db, 'i1', LEASE);
    const c1 = await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'change' }, FAST_POLICY);
    const c2 = await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'change' }, FAST_POLICY);
    const c3 = await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'change' }, FAST_POLICY);
    expect(c1.jobId).not.toBe(full.jobId);
    expect(c1.joined).toBe(false);
    expect([c2.jobId, c3.jobId]).toEqual([c1.jobId, c1.jobId]);
    const jobs = await connectionJobs(t.db, tenantId, a);
    expect(jobs.running?.id).toBe(full.jobId);
    expect(jobs.queued.map((j) => [j.id, j.mode, j.trigger, j.requests])).toEqual([[c1.jobId, 'incremental', 'change', 3]]);
  });

  test('a change job waits out the debounce; a manual request lifts it and upgrades to full', async () => {
    const policy = { ...FAST_POLICY, changeDebounceMs: 60_000 };
    const change = await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'change' }, policy);
    expect(await claimNext(t.db, 'i1', LEASE)).toBeNull();
    const manual = await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'manual' }, policy);
    expect(manual).toMatchObject({ jobId: change.jobId, joined: true });
    const claimed = await claimNext(t.db, 'i1', LEASE);
    expect(claimed).toMatchObject({ id: change.jobId, mode: 'full', trigger: 'manual' });
  });

  test('a dry run does not join a real run', async () => {
    const real = await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'manual' }, FAST_POLICY);
    const dry = await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'manual', dryRun: true }, FAST_POLICY);
    expect(dry.jobId).not.toBe(real.jobId);
    expect(dry.joined).toBe(false);
  });

  test('a connection of another tenant is refused', async () => {
    const other = await seedConnections(t.db, 1);
    await expect(enqueueSync(t.db, { tenantId, connectionId: other.connectionIds[0]!, trigger: 'manual' }, FAST_POLICY)).rejects.toBeInstanceOf(ConnectionNotFoundError);
    await expect(enqueueSync(t.db, { tenantId, connectionId: randomUUID(), trigger: 'manual' }, FAST_POLICY)).rejects.toBeInstanceOf(ConnectionNotFoundError);
  });

  test('reads are scoped to the tenant', async () => {
    const job = await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'manual' }, FAST_POLICY);
    const other = await seedConnections(t.db, 1);
    expect(await getJob(t.db, other.tenantId, job.jobId)).toBeNull();
    expect(await cancelJob(t.db, other.tenantId, job.jobId)).toBeNull();
    expect((await getJob(t.db, tenantId, job.jobId))?.status).toBe('queued');
  });
});

describe('claim and lease', () => {
  test('one running job per connection; other connections proceed', async () => {
    const a1 = await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'manual' }, FAST_POLICY);
    await claimNext(t.db, 'i1', LEASE);
    await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'change' }, FAST_POLICY);
    const b1 = await enqueueSync(t.db, { tenantId, connectionId: b, trigger: 'manual' }, FAST_POLICY);
    const next = await claimNext(t.db, 'i2', LEASE);
    expect(next?.id).toBe(b1.jobId);
    expect(await claimNext(t.db, 'i2', LEASE)).toBeNull();
    expect((await getJob(t.db, tenantId, a1.jobId))?.status).toBe('running');
  });

  test('concurrent claims never run two jobs of one connection', async () => {
    await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'manual' }, FAST_POLICY);
    await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'manual', dryRun: true }, FAST_POLICY);
    const claims = await Promise.all(Array.from({ length: 6 }, (_, i) => claimNext(t.db, `i${i}`, LEASE)));
    expect(claims.filter(Boolean)).toHaveLength(1);
  });

  test('a heartbeat renews the lease; a stale token cannot write', async () => {
    await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'manual' }, FAST_POLICY);
    const job = (await claimNext(t.db, 'i1', LEASE))!;
    expect(await heartbeat(t.db, job.id, job.leaseToken, LEASE)).toEqual({ cancelRequested: false });
    const stale = { ...job, leaseToken: randomUUID() };
    expect(await heartbeat(t.db, stale.id, stale.leaseToken, LEASE)).toBeNull();
    expect(await reportProgress(t.db, stale.id, stale.leaseToken, { phase: 'x' })).toBe(false);
    expect(await complete(t.db, stale)).toBe(false);
    expect(await reportProgress(t.db, job.id, job.leaseToken, { phase: 'pulling', counts: { users: 10 } })).toBe(true);
    expect((await getJob(t.db, tenantId, job.id))?.progress).toEqual({ phase: 'pulling', counts: { users: 10 } });
    expect(await complete(t.db, job)).toBe(true);
    expect((await getJob(t.db, tenantId, job.id))?.status).toBe('succeeded');
  });

  test('an expired lease is recovered and the job runs again; the old owner is fenced out', async () => {
    await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'manual' }, FAST_POLICY);
    const first = (await claimNext(t.db, 'dead-instance', LEASE))!;
    expect(await recoverExpired(t.db, [])).toEqual([]);
    await expireLeases();
    expect(await recoverExpired(t.db, [])).toEqual([{ id: first.id, status: 'queued', owner: 'dead-instance' }]);
    const second = (await claimNext(t.db, 'live-instance', LEASE))!;
    expect(second).toMatchObject({ id: first.id, attempt: 2 });
    expect(await complete(t.db, first)).toBe(false);
    expect(await complete(t.db, second)).toBe(true);
    const { rows } = await t.db.query('SELECT attempt, instance, outcome FROM sync_job_attempts WHERE job_id = $1 ORDER BY attempt', [first.id]);
    expect(rows).toEqual([
      { attempt: 1, instance: 'dead-instance', outcome: 'lease_expired' },
      { attempt: 2, instance: 'live-instance', outcome: 'succeeded' },
    ]);
  });

  test('an instance never recovers a job it is running itself', async () => {
    await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'manual' }, FAST_POLICY);
    const job = (await claimNext(t.db, 'i1', LEASE))!;
    await expireLeases();
    expect(await recoverExpired(t.db, [job.id])).toEqual([]);
  });
});

describe('failure, retry and dead-lettering', () => {
  test('backoff doubles up to the cap, with bounded jitter', () => {
    const policy = { ...FAST_POLICY, backoff: { baseMs: 1000, maxMs: 5000 } };
    expect([1, 2, 3, 4].map((n) => backoffMs(policy, n, () => 0))).toEqual([1000, 2000, 4000, 5000]);
    expect(backoffMs(policy, 1, () => 1)).toBe(800);
  });

  test('a failed attempt is retried after a backoff, then dead after max attempts', async () => {
    const policy = { ...FAST_POLICY, maxAttempts: 2, backoff: { baseMs: 60_000, maxMs: 60_000 } };
    const { jobId } = await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'manual' }, policy);
    const first = (await claimNext(t.db, 'i1', LEASE))!;
    expect(await fail(t.db, first, new Error('IdP answered 503'), policy)).toBe('queued');
    const queued = (await getJob(t.db, tenantId, jobId))!;
    expect(queued.lastError).toBe('Error: IdP answered 503');
    expect(queued.runAfter.getTime()).toBeGreaterThan(Date.now() + 30_000);
    expect(await claimNext(t.db, 'i1', LEASE)).toBeNull(); // still backing off
    await t.db.query('UPDATE sync_jobs SET run_after = now() WHERE id = $1', [jobId]);
    const second = (await claimNext(t.db, 'i1', LEASE))!;
    expect(second.attempt).toBe(2);
    expect(await fail(t.db, second, new Error('IdP answered 503 again'), policy)).toBe('dead');
    const dead = (await getJob(t.db, tenantId, jobId))!;
    expect(dead.status).toBe('dead');
    expect(dead.lastError).toBe('Error: IdP answered 503 again (gave up after 2 attempts)');
    expect(dead.finishedAt).not.toBeNull();
  });

  test('a failed job whose connection already has a queued job is folded into it', async () => {
    const running = await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'manual' }, FAST_POLICY);
    const job = (await claimNext(t.db, 'i1', LEASE))!;
    const next = await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'change' }, FAST_POLICY);
    expect(await fail(t.db, job, new Error('boom'), FAST_POLICY)).toBe('superseded');
    const failed = (await getJob(t.db, tenantId, running.jobId))!;
    expect(failed).toMatchObject({ status: 'superseded', supersededBy: next.jobId });
    // The queued incremental job inherits the failed full run's scope.
    expect((await getJob(t.db, tenantId, next.jobId))?.mode).toBe('full');
  });

  test('a released job goes back at once without using an attempt', async () => {
    const { jobId } = await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'manual' }, FAST_POLICY);
    const job = (await claimNext(t.db, 'i1', LEASE))!;
    expect(await release(t.db, job, 'instance stopping')).toBe('queued');
    const again = (await claimNext(t.db, 'i2', LEASE))!;
    expect(again).toMatchObject({ id: jobId, attempt: 1 });
  });
});

describe('cancel', () => {
  test('a queued job is cancelled at once; a running one is asked to stop via its heartbeat', async () => {
    const q = await enqueueSync(t.db, { tenantId, connectionId: b, trigger: 'manual' }, FAST_POLICY);
    expect((await cancelJob(t.db, tenantId, q.jobId))?.status).toBe('cancelled');

    await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'manual' }, FAST_POLICY);
    const job = (await claimNext(t.db, 'i1', LEASE))!;
    const cancelled = await cancelJob(t.db, tenantId, job.id);
    expect(cancelled).toMatchObject({ status: 'running', cancelRequested: true });
    expect(await heartbeat(t.db, job.id, job.leaseToken, LEASE)).toEqual({ cancelRequested: true });
  });
});
