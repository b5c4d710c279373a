import fs from 'node:fs';
import { openDatabase, type Database } from '../../src/db/database';
import { migrate } from '../../src/db/migrate';
import { enqueueSync, getJob } from '../../src/jobs/queue';
import { createPostgresDatabase, usingPostgres } from '../helpers/database';
import { distPath, spawnNode, type AppProcess } from '../helpers/process';
import { seedConnections, waitFor } from './fixtures/data';

/**
 * Two app processes on one Postgres, each running the schedule ticker and the worker: every schedule slot
 * runs once, and a job whose process is SIGKILLed mid-run completes on the other without duplicate writes.
 * Needs real Postgres (the embedded database serves one process) and the compiled fixture in dist/.
 */

const SLOT_SECONDS = 2;
const WORKER_SCRIPT = distPath('test', 'jobs', 'fixtures', 'worker-process.js');

const suite = usingPostgres ? describe : describe.skip;
if (!usingPostgres) {
  // eslint-disable-next-line no-console
  console.warn('two-process jobs test skipped: set DATABASE_URL to a Postgres server (the embedded database serves one process)');
}

suite('two app processes on one Postgres', () => {
  let db: Database;
  let dropDatabase: () => Promise<void>;
  let url: string;
  let tenantId: string;
  let scheduled: string[];
  let slowConnection: string;
  const children: AppProcess[] = [];

  const spawnInstance = () => {
    const child = spawnNode(WORKER_SCRIPT, [], { DATABASE_URL: url, LEASE_MS: '3000', HEARTBEAT_MS: '500', POLL_MS: '200', TICK_SECONDS: '1' });
    children.push(child);
    return child;
  };
  const ready = (child: AppProcess) =>
    waitFor(`instance ${child.child.pid} to start (stderr: ${child.stderr()})`, async () => (child.stdout().includes('"ready":true') ? true : undefined), 20_000);

  beforeAll(async () => {
    if (!fs.existsSync(WORKER_SCRIPT)) {
      throw new Error(`${WORKER_SCRIPT} is missing: build first with "npx tsc -p tsconfig.json" (npm test does)`);
    }
    const created = await createPostgresDatabase();
    url = created.url;
    dropDatabase = created.drop;
    db = await openDatabase({ kind: 'postgres', url, poolMax: 3, ssl: false });
    await migrate(db);
    await db.query(`CREATE TABLE test_executions (job_id uuid NOT NULL, attempt integer NOT NULL, pid integer NOT NULL, instance text NOT NULL,
                      started_at timestamptz NOT NULL DEFAULT clock_timestamp(), finished_at timestamptz)`);
    // No unique key on purpose: only the queue's guarantees keep effects single.
    await db.query(`CREATE TABLE test_effects (job_id uuid NOT NULL, step integer NOT NULL, pid integer NOT NULL,
                      created_at timestamptz NOT NULL DEFAULT clock_timestamp())`);
    const schedule = { kind: 'cron', expression: `*/${SLOT_SECONDS} * * * * *`, timeZone: 'UTC' };
    const seeded = await seedConnections(db, 2, schedule);
    tenantId = seeded.tenantId;
    scheduled = seeded.connectionIds;
    const { rows } = await db.query<{ id: string }>(`INSERT INTO connections (tenant_id, name, provider) VALUES ($1, 'slow import', 'miniorange') RETURNING id`, [tenantId]);
    slowConnection = rows[0]!.id;
    spawnInstance();
    spawnInstance();
    await Promise.all(children.map(ready));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(children.map((child) => child.stop('SIGKILL')));
    await db?.close();
    await dropDatabase?.();
  });

  test('over several slots each slot runs exactly once', async () => {
    const SLOTS = 5;
    await waitFor(
      `${SLOTS} slots per scheduled connection to run`,
      async () => {
        const { rows } = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM schedule_claims c JOIN sync_jobs j ON j.id = c.job_id
            WHERE j.status = 'succeeded' GROUP BY c.connection_id`,
        );
        return rows.length === scheduled.length && rows.every((row) => row.n >= SLOTS) ? true : undefined;
      },
      40_000,
      200,
    );
    for (const connectionId of scheduled) {
      const { rows: claims } = await db.query<{ slot_at: Date; job_id: string; joined: boolean }>(
        `SELECT slot_at, job_id, joined FROM schedule_claims WHERE connection_id = $1 ORDER BY slot_at`,
        [connectionId],
      );
      // No slot skipped between the first and the last claimed one (ticks every second, slots every 2 s).
      const gaps = claims.slice(1).map((claim, i) => (claim.slot_at.getTime() - claims[i]!.slot_at.getTime()) / 1000);
      expect(new Set(gaps)).toEqual(new Set([SLOT_SECONDS]));
      // Each slot became its own job (the fast handler never overlaps the next slot) …
      expect(new Set(claims.map((claim) => claim.job_id)).size).toBe(claims.length);
      const { rows: runs } = await db.query<{ job_id: string; executions: number; effects: number }>(
        `SELECT c.job_id,
                (SELECT count(*)::int FROM test_executions e WHERE e.job_id = c.job_id) AS executions,
                (SELECT count(*)::int FROM test_effects f WHERE f.job_id = c.job_id) AS effects
           FROM schedule_claims c JOIN sync_jobs j ON j.id = c.job_id
          WHERE c.connection_id = $1 AND j.status = 'succeeded'`,
        [connectionId],
      );
      expect(runs.length).toBeGreaterThanOrEqual(SLOTS);
      // … that ran once and wrote once.
      for (const run of runs) expect([run.job_id, run.executions, run.effects]).toEqual([run.job_id, 1, 1]);
    }
    // Which instance wins a slot is a race; that exactly one does, whichever it is, is what matters here.
  }, 60_000);

  test('a job whose process is SIGKILLed mid-run completes on the other, without duplicate writes', async () => {
    // Stop the schedules so only the slow job is in play.
    await db.query('UPDATE connections SET schedule = NULL WHERE tenant_id = $1', [tenantId]);
    const { jobId } = await enqueueSync(db, { tenantId, connectionId: slowConnection, trigger: 'manual' });
    const victimPid = await waitFor('the slow job to write its second step', async () => {
      const { rows } = await db.query<{ pid: number; steps: number }>(
        `SELECT e.pid, (SELECT count(*)::int FROM test_effects f WHERE f.job_id = e.job_id) AS steps
           FROM test_executions e WHERE e.job_id = $1 AND e.attempt = 1`,
        [jobId],
      );
      return rows[0] && rows[0].steps >= 2 ? rows[0].pid : undefined;
    });
    const victim = children.find((child) => child.child.pid === victimPid)!;
    const survivor = children.find((child) => child.child.pid !== victimPid)!;
    expect(victim).toBeDefined();
    victim.child.kill('SIGKILL');
    await victim.exit;

    await waitFor('the job to succeed on the surviving instance', async () => ((await getJob(db, tenantId, jobId))?.status === 'succeeded' ? true : undefined), 30_000, 200);

    const { rows: executions } = await db.query<{ attempt: number; pid: number; started_at: Date; finished_at: Date | null }>(
      'SELECT attempt, pid, started_at, finished_at FROM test_executions WHERE job_id = $1 ORDER BY attempt',
      [jobId],
    );
    expect(executions.map((e) => [e.attempt, e.pid, e.finished_at !== null])).toEqual([
      [1, victimPid, false],
      [2, survivor.child.pid, true],
    ]);
    const { rows: attempts } = await db.query<{ attempt: number; outcome: string }>(
      'SELECT attempt, outcome FROM sync_job_attempts WHERE job_id = $1 ORDER BY attempt',
      [jobId],
    );
    expect(attempts).toEqual([
      { attempt: 1, outcome: 'lease_expired' },
      { attempt: 2, outcome: 'succeeded' },
    ]);
    // The two runs never overlapped: the take-over started after the killed run's last write.
    const { rows: lastVictimWrite } = await db.query<{ at: Date }>('SELECT max(created_at) AS at FROM test_effects WHERE job_id = $1 AND pid = $2', [jobId, victimPid]);
    expect(executions[1]!.started_at.getTime()).toBeGreaterThan(lastVictimWrite[0]!.at.getTime());
    // Every step written exactly once, partly by each process.
    const { rows: effects } = await db.query<{ step: number; n: number; pids: number }>(
      'SELECT step, count(*)::int AS n, count(DISTINCT pid)::int AS pids FROM test_effects WHERE job_id = $1 GROUP BY step ORDER BY step',
      [jobId],
    );
    expect(effects.map((e) => e.step)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect(effects.every((e) => e.n === 1)).toBe(true);
    const { rows: writers } = await db.query<{ pid: number }>('SELECT DISTINCT pid FROM test_effects WHERE job_id = $1 ORDER BY pid', [jobId]);
    expect(writers.map((w) => w.pid).sort()).toEqual([victimPid, survivor.child.pid].sort());
  }, 60_000);

  test('SIGTERM stops the surviving instance cleanly', async () => {
    const survivor = children.find((child) => child.child.exitCode === null && child.child.signalCode === null)!;
    expect(await survivor.stop('SIGTERM')).toBe(0);
    const { rows } = await db.query(`SELECT id FROM sync_jobs WHERE status = 'running'`);
    expect(rows).toEqual([]);
  }, 30_000);
});
