import { enqueueSync, getJob } from '../../src/jobs/queue';
import { DEFAULT_JOBS_OPTIONS, JobsService, type JobsOptions } from '../../src/jobs/service';
import { JobAbortedError, type SyncJob, type SyncJobHandler } from '../../src/jobs/types';
import { SyncWorker } from '../../src/jobs/worker';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { silentLogger } from '../helpers/runtime';
import { FAST_POLICY, seedConnections, waitFor } from './fixtures/data';

let t: TestDatabase;
let tenantId: string;
let a: string;
let b: string;
const stoppers: Array<() => Promise<void>> = [];

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
afterEach(async () => {
  while (stoppers.length > 0) await stoppers.pop()!();
});

function options(overrides: Partial<JobsOptions> = {}): JobsOptions {
  return {
    ...DEFAULT_JOBS_OPTIONS,
    instanceId: `test-${Math.random().toString(16).slice(2, 8)}`,
    scheduler: false,
    leaseMs: 2_000,
    heartbeatMs: 200,
    pollMs: 50,
    stopGraceMs: 100,
    policy: FAST_POLICY,
    ...overrides,
  };
}

function startService(handler: SyncJobHandler, overrides: Partial<JobsOptions> = {}): JobsService {
  const service = new JobsService(t.db, handler, options(overrides), silentLogger());
  service.start();
  stoppers.push(() => service.stop());
  return service;
}

/** A promise with its resolve function, for handlers the test releases by hand. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

const jobStatus = async (id: string) => (await getJob(t.db, tenantId, id))?.status;

test('Synchronize returns at once; the worker runs the job and records progress', async () => {
  const seen: SyncJob[] = [];
  const release = gate();
  const service = startService(async (job) => {
    seen.push(job);
    await job.reportProgress({ phase: 'pulling', counts: { users: 3 } });
    await release.promise;
  });
  const { jobId, joined } = await service.synchronize(tenantId, a);
  expect(joined).toBe(false);
  const running = await waitFor('the job to report progress', async () => {
    const status = await service.status(tenantId, a);
    return status.running?.progress ? status : undefined;
  });
  expect(running.running).toMatchObject({ id: jobId, status: 'running', progress: { phase: 'pulling', counts: { users: 3 } } });
  // Clicking again while it runs joins the running job.
  expect(await service.synchronize(tenantId, a)).toMatchObject({ jobId, joined: true, status: 'running' });
  release.open();
  await waitFor('the job to succeed', async () => ((await jobStatus(jobId)) === 'succeeded' ? true : undefined));
  expect(seen.map((job) => ({ id: job.id, trigger: job.trigger, mode: job.mode, dryRun: job.dryRun, attempt: job.attempt }))).toEqual([
    { id: jobId, trigger: 'manual', mode: 'full', dryRun: false, attempt: 1 },
  ]);
  expect((await service.status(tenantId, a)).last?.id).toBe(jobId);
});

test('a failing handler is retried with backoff and dead-lettered after max attempts', async () => {
  const attempts: number[] = [];
  const service = startService(async (job) => {
    attempts.push(job.attempt);
    throw new Error(`source unreachable (attempt ${job.attempt})`);
  });
  const { jobId } = await service.synchronize(tenantId, a);
  await waitFor('the job to be dead', async () => ((await jobStatus(jobId)) === 'dead' ? true : undefined));
  expect(attempts).toEqual([1, 2, 3]);
  expect((await getJob(t.db, tenantId, jobId))?.lastError).toBe('Error: source unreachable (attempt 3) (gave up after 3 attempts)');
});

test('a handler that fails once succeeds on retry', async () => {
  const service = startService(async (job) => {
    if (job.attempt === 1) throw new Error('transient');
  });
  const { jobId } = await service.synchronize(tenantId, a);
  await waitFor('the job to succeed', async () => ((await jobStatus(jobId)) === 'succeeded' ? true : undefined));
  const { rows } = await t.db.query('SELECT attempt, outcome, error FROM sync_job_attempts WHERE job_id = $1 ORDER BY attempt', [jobId]);
  expect(rows).toEqual([
    { attempt: 1, outcome: 'failed', error: 'Error: transient' },
    { attempt: 2, outcome: 'succeeded', error: null },
  ]);
});

test('one running sync per connection, in parallel across connections', async () => {
  let running = 0;
  let maxRunningOnA = 0;
  let runningOnA = 0;
  const service = startService(
    async (job) => {
      running += 1;
      if (job.connectionId === a) maxRunningOnA = Math.max(maxRunningOnA, (runningOnA += 1));
      await new Promise((resolve) => setTimeout(resolve, 150));
      if (job.connectionId === a) runningOnA -= 1;
      running -= 1;
    },
    { concurrency: 2 },
  );
  const first = await service.synchronize(tenantId, a);
  const other = await service.synchronize(tenantId, b);
  await waitFor('both to run', async () => ((await jobStatus(first.jobId)) === 'running' && (await jobStatus(other.jobId)) === 'running' ? true : undefined));
  const change = await service.directoryChanged(tenantId, a);
  expect(change.joined).toBe(false);
  await waitFor('all jobs to finish', async () => ((await jobStatus(change.jobId)) === 'succeeded' ? true : undefined));
  expect(maxRunningOnA).toBe(1);
  expect(running).toBe(0);
});

test('cancelling a running job aborts the handler and records it cancelled', async () => {
  const service = startService((_job, signal) => untilAborted(signal));
  const { jobId } = await service.synchronize(tenantId, a);
  await waitFor('the job to run', async () => ((await jobStatus(jobId)) === 'running' ? true : undefined));
  await service.cancel(tenantId, jobId);
  await waitFor('the job to be cancelled', async () => ((await jobStatus(jobId)) === 'cancelled' ? true : undefined));
});

test('stop hands a running job back without using an attempt; another instance finishes it', async () => {
  const reasons: unknown[] = [];
  const first = startService(async (_job, signal) => {
    await untilAborted(signal).catch((error) => {
      reasons.push(error);
      throw error;
    });
  });
  const { jobId } = await first.synchronize(tenantId, a);
  await waitFor('the job to run', async () => ((await jobStatus(jobId)) === 'running' ? true : undefined));
  await first.stop();
  expect(reasons).toEqual([new JobAbortedError('stopping')]);
  expect(await getJob(t.db, tenantId, jobId)).toMatchObject({ status: 'queued', attempt: 0 });

  const attempts: number[] = [];
  startService(async (job) => {
    attempts.push(job.attempt);
  });
  await waitFor('the job to succeed elsewhere', async () => ((await jobStatus(jobId)) === 'succeeded' ? true : undefined));
  expect(attempts).toEqual([1]);
});

test('a worker that loses its lease aborts its handler and does not overwrite the new owner', async () => {
  const aborted = gate();
  const worker = new SyncWorker(
    t.db,
    async (_job, signal) => {
      await untilAborted(signal).catch((error) => {
        if (error instanceof JobAbortedError && error.reason === 'lease_lost') aborted.open();
        throw error;
      });
    },
    { ...options(), concurrency: 1 },
    silentLogger(),
  );
  worker.start();
  stoppers.push(() => worker.stop());
  const { jobId } = await enqueueSync(t.db, { tenantId, connectionId: a, trigger: 'manual' }, FAST_POLICY);
  await waitFor('the job to run', async () => ((await jobStatus(jobId)) === 'running' ? true : undefined));
  // Another instance took the job over (as after a long pause of this one): the token changed.
  await t.db.query(`UPDATE sync_jobs SET lease_token = gen_random_uuid(), lease_owner = 'other' WHERE id = $1`, [jobId]);
  await aborted.promise;
  await waitFor('the worker to let go', async () => (worker.activeJobIds().length === 0 ? true : undefined));
  expect(await getJob(t.db, tenantId, jobId)).toMatchObject({ status: 'running', attempt: 1 });
});

test('setSchedule validates and stores; status shows the next runs, or why a stored schedule is not running', async () => {
  const service = new JobsService(t.db, async () => undefined, options({ worker: false }), silentLogger());
  await expect(service.setSchedule(tenantId, a, { kind: 'daily', time: '25:00', timeZone: 'UTC' })).rejects.toThrow(
    'Invalid schedule: time: time must be HH:MM on a 24-hour clock, for example "02:30" or "18:00"',
  );
  expect(await service.setSchedule(tenantId, a, { kind: 'daily', time: '02:30', timeZone: 'UTC' })).toEqual({ kind: 'daily', time: '02:30', timeZone: 'UTC' });
  const status = await service.status(tenantId, a, new Date('2025-01-01T12:00:00Z'));
  expect(status.schedule).toEqual({
    description: 'daily at 02:30 (UTC)',
    nextRuns: ['2025-01-02', '2025-01-03', '2025-01-04', '2025-01-05', '2025-01-06'].map((d) => new Date(`${d}T02:30:00Z`)),
    error: null,
  });
  expect(status).toMatchObject({ running: null, queued: [], last: null });

  await t.db.query(`UPDATE connections SET schedule = '{"kind":"daily","time":"2:30","timeZone":"UTC"}'::jsonb WHERE id = $1`, [a]);
  expect((await service.status(tenantId, a)).schedule).toMatchObject({ description: 'invalid schedule (not running)', nextRuns: [], error: expect.stringMatching(/^Invalid schedule: time/) });

  expect(await service.setSchedule(tenantId, a, null)).toBeNull();
  expect((await service.status(tenantId, a)).schedule).toBeNull();
  const other = await seedConnections(t.db, 1);
  await expect(service.setSchedule(tenantId, other.connectionIds[0]!, null)).rejects.toThrow(/does not exist in tenant/);
});
