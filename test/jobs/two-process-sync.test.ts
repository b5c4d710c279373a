import fs from 'node:fs';
import { TenantStore } from '../../src/connect/tenants';
import { ConnectionService } from '../../src/connections/service';
import { openDatabase, type Database } from '../../src/db/database';
import { migrate } from '../../src/db/migrate';
import { enqueueSync, getJob } from '../../src/jobs/queue';
import { SecretBox } from '../../src/security/crypto';
import { saveSettings } from '../../src/sync/settings';
import { TargetStore } from '../../src/targets/store';
import { FakeJiraCloud } from '../fakes/fake-jira-cloud';
import type { LoggedRequest } from '../fakes/fake-server';
import { createPostgresDatabase, usingPostgres } from '../helpers/database';
import { distPath, spawnNode, type AppProcess } from '../helpers/process';
import { waitFor } from './fixtures/data';
import { allowLoopbackEgress } from '../helpers/runtime';

beforeAll(allowLoopbackEgress);

/**
 * Two app instances (the real sync job handler, engine and target store) on one Postgres and a fake Jira Cloud
 * served from this process. One full sync is enqueued; the instance running it is SIGKILLed part-way through its
 * writes. The job must complete on the other instance once the lease expires, Jira must end in exactly the
 * desired state, and no write may reach Jira twice for the same effect.
 * Needs real Postgres (the embedded database serves one process) and the compiled fixture in dist/.
 */

const WORKER_SCRIPT = distPath('test', 'jobs', 'fixtures', 'sync-worker-process.js');
const USERS = 300;
const GROUPS = 20;
const GROUPS_PER_USER = 3;
/** 20 groups are created first, then users: the kill lands while users are being created. */
const KILL_AFTER_WRITES = 150;
const ENCRYPTION_KEYS = `two-process:${Buffer.alloc(32, 9).toString('base64')}`;
const JIRA_ADMIN = { email: 'site-admin@example.com', apiToken: 'jira-api-token' };

const suite = usingPostgres ? describe : describe.skip;
if (!usingPostgres) {
  // eslint-disable-next-line no-console
  console.warn('two-process sync test skipped: set DATABASE_URL to a Postgres server (the embedded database serves one process)');
}

interface Instance {
  process: AppProcess;
  instanceId: string;
}

const isWrite = (entry: LoggedRequest) => entry.method !== 'GET';

suite('a sync job survives the SIGKILL of the instance running it (real engine, two processes)', () => {
  let db: Database;
  let dropDatabase: () => Promise<void>;
  let url: string;
  // No application roles: Jira must hold exactly the directory, without a product's own access group.
  const fake = new FakeJiraCloud({ credentials: { [JIRA_ADMIN.email]: JIRA_ADMIN.apiToken }, applicationRoles: {} });
  const instances: Instance[] = [];
  let tenantId: string;
  let connectionId: string;

  const diagnostics = () =>
    instances.map((i) => `${i.instanceId} exit=${i.process.child.exitCode ?? i.process.child.signalCode ?? 'running'} stderr=${i.process.stderr().slice(-2000)}`).join(' | ');

  const spawnInstance = async (): Promise<Instance> => {
    const child = spawnNode(WORKER_SCRIPT, [], {
      NODE_ENV: 'test',
      DATABASE_URL: url,
      DATABASE_POOL_MAX: '4',
      ENCRYPTION_KEYS,
      LOG_LEVEL: 'warn',
      JOBS_LEASE_SECONDS: '2',
      JOBS_POLL_MS: '100',
      JOBS_RETRY_BASE_SECONDS: '0.2',
      JOBS_RETRY_MAX_SECONDS: '1',
      SYNC_STALE_RUN_MS: '1000',
      EGRESS_ALLOW: '127.0.0.1', // the operator lets the instances reach the loopback fake Jira
    });
    const ready = await waitFor(
      `instance ${child.child.pid} to start (stderr: ${child.stderr()})`,
      async () => {
        const line = child.stdout().split('\n').find((l) => l.includes('"ready":true'));
        return line ? (JSON.parse(line) as { instanceId: string }) : undefined;
      },
      20_000,
    );
    const instance = { process: child, instanceId: ready.instanceId };
    instances.push(instance);
    return instance;
  };

  beforeAll(async () => {
    if (!fs.existsSync(WORKER_SCRIPT)) {
      throw new Error(`${WORKER_SCRIPT} is missing: build first with "npx tsc -p tsconfig.json" (npm test does)`);
    }
    const created = await createPostgresDatabase();
    url = created.url;
    dropDatabase = created.drop;
    db = await openDatabase({ kind: 'postgres', url, poolMax: 3, ssl: false });
    await migrate(db);

    fake.server.latencyMs = 10; // a run takes a few seconds, so the kill lands mid-way
    await fake.start();

    const secrets = SecretBox.fromKeyList(ENCRYPTION_KEYS);
    const { tenant } = await new TenantStore(db, secrets).createLocal({ clientKey: 'two-process-sync', baseUrl: 'https://two-process.atlassian.net' });
    tenantId = tenant.id;
    const { connection } = await new ConnectionService(db, { baseUrl: 'https://app.example', tokenGraceSeconds: 0 }).create({
      tenantClientKey: 'two-process-sync',
      name: 'IdP',
      provider: 'generic',
    });
    connectionId = connection.id;
    // Every IdP group becomes a Jira group of the same name, created when missing: every membership is needed.
    await saveSettings(db, { tenantId, connectionId, actor: 'test-admin', settings: { group: { mapping: 'on-the-fly' } } });
    await new TargetStore(db, secrets).create(tenantId, { kind: 'jira-cloud', name: 'Jira', baseUrl: fake.baseUrl, credentials: JIRA_ADMIN });

    await db.query(
      `INSERT INTO directory_users (connection_id, user_name, primary_email, display_name, resource)
       SELECT $1, 'user' || n || '@corp.example', 'user' || n || '@corp.example', 'User ' || n, '{}' FROM generate_series(1, $2) AS n`,
      [connectionId, USERS],
    );
    await db.query(
      `INSERT INTO directory_groups (connection_id, display_name, resource)
       SELECT $1, 'team-' || lpad(n::text, 2, '0'), '{}' FROM generate_series(1, $2) AS n`,
      [connectionId, GROUPS],
    );
    await db.query(
      `WITH u AS (SELECT id, row_number() OVER (ORDER BY user_name) - 1 AS i FROM directory_users WHERE connection_id = $1),
            g AS (SELECT id, row_number() OVER (ORDER BY display_name) - 1 AS j FROM directory_groups WHERE connection_id = $1)
       INSERT INTO directory_memberships (group_id, user_id, connection_id)
       SELECT g.id, u.id, $1 FROM u CROSS JOIN generate_series(0, $2 - 1) AS k JOIN g ON g.j = (u.i * $2 + k) % $3`,
      [connectionId, GROUPS_PER_USER, GROUPS],
    );

    await Promise.all([spawnInstance(), spawnInstance()]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(instances.map((instance) => instance.process.stop('SIGKILL')));
    await fake.stop();
    await db?.close();
    await dropDatabase?.();
  });

  test('the job completes on the surviving instance; Jira ends exactly as the directory says, each write made once', async () => {
    const { jobId } = await enqueueSync(db, { tenantId, connectionId, trigger: 'manual' });

    await waitFor(`the fake Jira to receive ${KILL_AFTER_WRITES} writes`, async () => (fake.server.counts.writes >= KILL_AFTER_WRITES ? true : undefined), 30_000, 5).catch(
      async (error: Error) => {
        throw new Error(`${error.message}; job: ${JSON.stringify(await getJob(db, tenantId, jobId))}; instances: ${diagnostics()}`);
      },
    );
    const { rows: owners } = await db.query<{ lease_owner: string | null; status: string }>('SELECT lease_owner, status FROM sync_jobs WHERE id = $1', [jobId]);
    const victim = instances.find((instance) => instance.instanceId === owners[0]?.lease_owner);
    const survivor = instances.find((instance) => instance !== victim)!;
    expect(owners[0]?.status).toBe('running');
    expect(victim).toBeDefined();
    victim!.process.child.kill('SIGKILL');
    await victim!.process.exit;
    const writesBeforeKill = fake.server.log.filter(isWrite).length;

    await waitFor('the job to succeed on the surviving instance', async () => {
      const job = await getJob(db, tenantId, jobId);
      if (job?.status === 'dead' || job?.status === 'cancelled') throw new Error(`the job ended ${job.status}: ${job.lastError}`);
      return job?.status === 'succeeded' ? job : undefined;
    }, 45_000, 100);

    // The take-over: the killed attempt's lease expired, the survivor finished the job (an attempt that found the
    // dead run not yet stale would fail and retry; none is expected with the stale window below the lease).
    const { rows: attempts } = await db.query<{ attempt: number; instance: string; outcome: string; error: string | null }>(
      'SELECT attempt, instance, outcome, error FROM sync_job_attempts WHERE job_id = $1 ORDER BY attempt',
      [jobId],
    );
    expect(attempts[0]).toMatchObject({ instance: victim!.instanceId, outcome: 'lease_expired' });
    expect(attempts[attempts.length - 1]).toMatchObject({ instance: survivor.instanceId, outcome: 'succeeded' });
    for (const middle of attempts.slice(1, -1)) expect(middle).toMatchObject({ instance: survivor.instanceId, outcome: 'failed', error: expect.stringMatching(/already running/) });

    // Two runs: the killed one, marked interrupted by the survivor's, and the survivor's, which finished the work.
    const { rows: runs } = await db.query<{ status: string; error: string | null; ops_total: number; ops_succeeded: number }>(
      'SELECT status, error, ops_total, ops_succeeded FROM sync_runs WHERE tenant_id = $1 AND connection_id = $2 ORDER BY started_at',
      [tenantId, connectionId],
    );
    expect(runs.map((run) => run.status)).toEqual(['failed', 'succeeded']);
    expect(runs[0]!.error).toMatch(/interrupted/);
    expect(runs[1]!.ops_succeeded).toBe(runs[1]!.ops_total);

    // Jira holds exactly the directory: one account per user, the 20 groups, each with exactly its members.
    const { rows: users } = await db.query<{ email: string }>('SELECT primary_email AS email FROM directory_users WHERE connection_id = $1', [connectionId]);
    const { rows: members } = await db.query<{ group_name: string; email: string }>(
      `SELECT g.display_name AS group_name, u.primary_email AS email FROM directory_memberships m
         JOIN directory_groups g ON g.id = m.group_id JOIN directory_users u ON u.id = m.user_id WHERE m.connection_id = $1`,
      [connectionId],
    );
    const siteEmails = [...fake.users.values()].map((user) => user.emailAddress).filter((email) => email !== JIRA_ADMIN.email);
    expect(siteEmails.sort()).toEqual(users.map((user) => user.email).sort());
    const actual: string[] = [];
    for (const group of fake.groups.values()) {
      for (const accountId of group.members) actual.push(`${group.name}|${fake.users.get(accountId)!.emailAddress}`);
    }
    expect(fake.groups.size).toBe(GROUPS);
    expect(actual.sort()).toEqual(members.map((m) => `${m.group_name}|${m.email}`).sort());

    // Each effect was written once: every write the fake received (429s excepted: not applied) has its own key,
    // and their number is the minimum, one per needed change. Both instances wrote part of it.
    const writes = fake.server.log.filter((entry) => isWrite(entry) && entry.status !== 429);
    const keyOf = (entry: LoggedRequest): string => {
      const body = entry.body as { emailAddress?: string; name?: string; accountId?: string } | null;
      if (entry.route === '/rest/api/3/user') return `create-user|${body?.emailAddress}`;
      if (entry.route === '/rest/api/3/group') return `create-group|${body?.name}`;
      if (entry.route === '/rest/api/3/group/user') return `add-member|${new URLSearchParams(entry.query).get('groupId')}|${body?.accountId}`;
      return `${entry.method} ${entry.route}`;
    };
    const counts = new Map<string, number>();
    for (const write of writes) counts.set(keyOf(write), (counts.get(keyOf(write)) ?? 0) + 1);
    expect([...counts.entries()].filter(([, n]) => n > 1)).toEqual([]);
    expect(writes.every((write) => write.status === 201)).toBe(true);
    expect(writes).toHaveLength(GROUPS + USERS + USERS * GROUPS_PER_USER);
    expect(writesBeforeKill).toBeGreaterThanOrEqual(KILL_AFTER_WRITES);
    expect(writes.length).toBeGreaterThan(writesBeforeKill);
  }, 90_000);

  test('SIGTERM stops the surviving instance cleanly', async () => {
    const survivor = instances.find((instance) => instance.process.child.exitCode === null && instance.process.child.signalCode === null)!;
    expect(await survivor.process.stop('SIGTERM')).toBe(0);
    const { rows } = await db.query(`SELECT id FROM sync_jobs WHERE status = 'running'`);
    expect(rows).toEqual([]);
  }, 30_000);
});
