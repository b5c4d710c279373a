/**
 * `npm run bench:sync`: the sync engine against the fake Jira Cloud, printed as JSON.
 *
 *  1. An initial full sync of 10,000 users, 500 groups and 50,000 memberships (the directory seeded with SQL;
 *     on-the-fly group mapping, so every IdP group becomes a Jira group and every membership is needed) into
 *     an empty Jira site that answers each call after `--latency` ms and rate-limits with a token bucket
 *     (`--rate` requests/s, `--burst` tokens; 429 + Retry-After + X-RateLimit-* when empty).
 *     Reported: write calls vs the minimum (one per needed change), read calls, 429s, wall time vs the lower
 *     bound the rate limit and the concurrency allow, peak RSS and heap.
 *  2. A re-sync right after with nothing changed: zero writes expected; reads and wall time.
 *  3. Deprovisioning `--deprovision` users (1,000 at full size) deactivated in the IdP, without an organization
 *     target: each must leave every group that grants Jira access (the application role's group, which the
 *     create with `jira-software` put them in) and every managed group, one call per membership and nothing
 *     more; their reactivation adds back exactly those memberships. Then, with an organization target attached,
 *     as many other users: one suspend call each. Reported per user and target: calls made vs the documented
 *     minimum, and whether any product access is left.
 *
 * Everything runs in this process (the engine, its HTTP client, and the fake with its request log off).
 * Database: embedded PGlite in a temporary folder by default; DATABASE_URL = a Postgres server (a scratch
 * database is created and dropped here). `--scale=0.1` runs a tenth of the size (quick checks); the figures in
 * docs/sync.md are for the full size. Other flags: `--concurrency=N` (HTTP client and engine, default: the
 * target's default), `--rate`, `--burst`, `--latency`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TenantStore } from '../src/connect/tenants';
import { ConnectionService } from '../src/connections/service';
import { openDatabase, type Database } from '../src/db/database';
import { migrate } from '../src/db/migrate';
import { loadConfig } from '../src/config';
import { configureEgress } from '../src/egress';
import { SecretBox } from '../src/security/crypto';
import { storeTargetResolver } from '../src/sync/resolve-targets';
import { createSyncEngine, type RunResult } from '../src/sync/runs';
import { parseSettings } from '../src/sync/settings';
import { limitsSchema } from '../src/targets/config';
import { CallCounter, type CallCounts } from '../src/targets/http';
import { TargetStore } from '../src/targets/store';
import { FakeAtlassianOrg } from '../test/fakes/fake-atlassian-org';
import { FakeJiraCloud } from '../test/fakes/fake-jira-cloud';
import { createPostgresDatabase } from '../test/helpers/database';

const FULL = { users: 10_000, groups: 500, memberships: 50_000 };

function flag(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  if (!arg) return fallback;
  const value = Number(arg.slice(name.length + 3));
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, got "${arg}"`);
  return value;
}

const scale = flag('scale', 1);
const latencyMs = flag('latency', 20);
const ratePerSecond = flag('rate', 100);
const burst = flag('burst', 100);
const concurrency = Math.round(flag('concurrency', limitsSchema.parse({}).concurrency));

const size = {
  users: Math.max(1, Math.round(FULL.users * scale)),
  groups: Math.max(1, Math.round(FULL.groups * scale)),
};
// Every user is in the same number of distinct groups (5 at full size), so each group has users × k / groups members.
const groupsPerUser = Math.min(size.groups, Math.max(1, Math.round(FULL.memberships / FULL.users)));
const memberships = size.users * groupsPerUser;
/** Users deprovisioned in each of phase 3's measurements (and reactivated, without an org). */
const deprovisionCount = Math.min(Math.floor(size.users / 2), Math.max(1, Math.round(flag('deprovision', 1000) * scale)));

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Peak RSS and heap over a phase, sampled every 50 ms (and at the end). */
class MemorySampler {
  baselineRss = 0;
  peakRss = 0;
  peakHeapUsed = 0;
  private timer: NodeJS.Timeout | undefined;

  start(): void {
    this.baselineRss = process.memoryUsage().rss;
    this.sample();
    this.timer = setInterval(() => this.sample(), 50);
  }

  stop(): { baselineRssMB: number; peakRssMB: number; peakHeapUsedMB: number } {
    clearInterval(this.timer);
    this.sample();
    return { baselineRssMB: mb(this.baselineRss), peakRssMB: mb(this.peakRss), peakHeapUsedMB: mb(this.peakHeapUsed) };
  }

  private sample(): void {
    const usage = process.memoryUsage();
    this.peakRss = Math.max(this.peakRss, usage.rss);
    this.peakHeapUsed = Math.max(this.peakHeapUsed, usage.heapUsed);
  }
}

async function openScratchDatabase(): Promise<{ db: Database; cleanup: () => Promise<void> }> {
  if (process.env.DATABASE_URL) {
    const created = await createPostgresDatabase();
    const db = await openDatabase({ kind: 'postgres', url: created.url, poolMax: 5, ssl: false });
    return {
      db,
      cleanup: async () => {
        await db.close();
        await created.drop();
      },
    };
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-sync-'));
  const db = await openDatabase({ kind: 'pglite', dataDir });
  return {
    db,
    cleanup: async () => {
      await db.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The directory in three statements: users, groups, then each user in `groupsPerUser` consecutive groups. */
async function seedDirectory(db: Database, connectionId: string): Promise<void> {
  await db.query(
    `INSERT INTO directory_users (connection_id, user_name, primary_email, display_name, active, resource)
     SELECT $1, 'user' || n || '@bench.example', 'user' || n || '@bench.example', 'User ' || n, true, '{}'::jsonb
       FROM generate_series(1, $2) AS n`,
    [connectionId, size.users],
  );
  await db.query(
    `INSERT INTO directory_groups (connection_id, display_name, resource)
     SELECT $1, 'bench-group-' || lpad(n::text, 5, '0'), '{}'::jsonb FROM generate_series(1, $2) AS n`,
    [connectionId, size.groups],
  );
  await db.query(
    `WITH u AS (SELECT id, row_number() OVER (ORDER BY user_name) - 1 AS i FROM directory_users WHERE connection_id = $1),
          g AS (SELECT id, row_number() OVER (ORDER BY display_name) - 1 AS j FROM directory_groups WHERE connection_id = $1)
     INSERT INTO directory_memberships (group_id, user_id, connection_id)
     SELECT g.id, u.id, $1 FROM u CROSS JOIN generate_series(0, $2 - 1) AS k JOIN g ON g.j = (u.i * $2 + k) % $3`,
    [connectionId, groupsPerUser, size.groups],
  );
  await db.query('ANALYZE directory_users; ANALYZE directory_groups; ANALYZE directory_memberships');
}

interface PhaseReport {
  status: string;
  opsTotal: number;
  wallSeconds: number;
  writeCalls: number;
  readCalls: number;
  throttled429: number;
  retries: number;
  callsByOperation: Record<string, number>;
  /** RSS when the phase started (the database, the fake's state, the directory already seeded). */
  baselineRssMB: number;
  peakRssMB: number;
  peakHeapUsedMB: number;
}

async function measureRun(run: () => Promise<RunResult>, counter: CallCounter, fake: FakeJiraCloud, others: FakeAtlassianOrg[] = []): Promise<PhaseReport> {
  counter.reset();
  fake.server.clearLog();
  for (const other of others) other.server.counts.throttled = 0;
  global.gc?.();
  const memory = new MemorySampler();
  memory.start();
  const started = performance.now();
  const result = await run();
  const wallSeconds = (performance.now() - started) / 1000;
  const peaks = memory.stop();
  const counts: CallCounts = counter.snapshot();
  const throttled = counts.readsThrottled + counts.writesThrottled;
  const callsByOperation: Record<string, number> = {};
  for (const [operation, count] of Object.entries(counts.byOperation)) callsByOperation[operation] = count.calls - count.throttled;
  const answered429 = fake.server.counts.throttled + others.reduce((n, o) => n + o.server.counts.throttled, 0);
  if (answered429 !== throttled) {
    throw new Error(`the client counted ${throttled} throttled calls, the fakes answered ${answered429} with 429`);
  }
  return {
    status: result.status,
    opsTotal: result.opsTotal,
    wallSeconds: round(wallSeconds),
    // Calls the product acted on: a 429 means it did not.
    writeCalls: counts.writes - counts.writesThrottled,
    readCalls: counts.reads - counts.readsThrottled,
    throttled429: throttled,
    retries: counts.retries,
    callsByOperation,
    ...peaks,
  };
}

/** The least time `calls` calls can take: the rate limit's, or the latency's spread over the calls in flight. */
function lowerBoundSeconds(calls: number): number {
  return Math.max(calls / ratePerSecond, (calls * latencyMs) / 1000 / concurrency);
}

async function main(): Promise<void> {
  // The fakes listen on loopback: the operator setting that lets outbound calls reach them.
  configureEgress(loadConfig({ NODE_ENV: 'test', EGRESS_ALLOW: '127.0.0.1' }).egress);
  const { db, cleanup } = await openScratchDatabase();
  const fake = new FakeJiraCloud({ credentials: { 'bench-admin@example.com': 'bench-token' } });
  const org = new FakeAtlassianOrg({ apiKeys: { 'bench-org-key': 'org-admin' } });
  try {
    await migrate(db);
    const secrets = SecretBox.fromKeyList(`bench:${Buffer.alloc(32, 7).toString('base64')}`);
    const { tenant } = await new TenantStore(db, secrets).createLocal({ clientKey: 'bench-sync', baseUrl: 'https://bench.atlassian.net' });
    const { connection } = await new ConnectionService(db, { baseUrl: 'https://app.example', tokenGraceSeconds: 0 }).create({
      tenantClientKey: 'bench-sync',
      name: 'bench',
      provider: 'generic',
    });
    // Accounts get Jira Software on create (Jira puts them in jira-software-users); the safety threshold is
    // lifted so phase 3 deprovisions its users without a confirmation.
    const settings = parseSettings({
      schemaVersion: 1,
      user: { productsOnCreate: ['jira-software'] },
      group: { mapping: 'on-the-fly' },
      safety: { deprovisionThresholdPercent: 100 },
    });
    await db.query('UPDATE connections SET settings = $3 WHERE tenant_id = $1 AND id = $2', [tenant.id, connection.id, JSON.stringify(settings)]);
    const seedStarted = performance.now();
    await seedDirectory(db, connection.id);
    const seedSeconds = (performance.now() - seedStarted) / 1000;

    fake.server.logRequests = false;
    fake.server.latencyMs = latencyMs;
    await fake.start();
    fake.server.setRateLimit({ capacity: burst, refillPerSecond: ratePerSecond });
    const store = new TargetStore(db, secrets);
    const jiraTarget = await store.create(tenant.id, {
      kind: 'jira-cloud',
      name: 'bench jira',
      baseUrl: fake.baseUrl,
      settings: { limits: { concurrency } },
      credentials: { email: 'bench-admin@example.com', apiToken: 'bench-token' },
    });
    const counter = new CallCounter();
    const engine = createSyncEngine({
      db,
      resolveTargets: storeTargetResolver(store, { counter }),
      concurrencyPerTarget: concurrency,
      readConcurrency: concurrency,
    });
    const sync = () => engine.startRun({ connectionId: connection.id, tenantId: tenant.id, trigger: 'manual', mode: 'full' });

    const initial = await measureRun(sync, counter, fake);
    const minimumWrites = size.users + size.groups + memberships;
    const initialCalls = initial.writeCalls + initial.readCalls;
    // The site's own jira-software-users (the application role's group) is not part of the directory.
    const roleGroups = new Set([...fake.applicationRoles.values()].flatMap((r) => [...r.groups].map((g) => g.toLowerCase())));
    const directoryGroups = () => [...fake.groups.values()].filter((g) => !roleGroups.has(g.name.toLowerCase()));
    const jiraState = { users: fake.users.size - 1, groups: directoryGroups().length, memberships: directoryGroups().reduce((n, g) => n + g.members.size, 0) };
    const stateMatches = jiraState.users === size.users && jiraState.groups === size.groups && jiraState.memberships === memberships;

    const resync = await measureRun(sync, counter, fake);
    const resyncCalls = resync.writeCalls + resync.readCalls;

    // 3. Deprovisioning. Users 1..N without an org (remove the groups), then reactivated; users N+1..2N with one.
    const accountOf = (n: number) => fake.userByEmail(`user${n}@bench.example`)!.accountId;
    const setActive = (from: number, to: number, active: boolean) =>
      db.query(`UPDATE directory_users SET active = $4 WHERE connection_id = $1 AND user_name = ANY(SELECT 'user' || n || '@bench.example' FROM generate_series($2::int, $3::int) AS n)`, [
        connection.id,
        from,
        to,
        active,
      ]);
    const first = Array.from({ length: deprovisionCount }, (_, i) => accountOf(i + 1));
    const membershipsOf = (accounts: string[]) => accounts.reduce((n, id) => n + [...fake.groups.values()].filter((g) => g.members.has(id)).length, 0);
    // The documented minimum without a deactivate: one DELETE /group/user per group that grants access or is managed.
    const minimumRemovals = membershipsOf(first);
    await setActive(1, deprovisionCount, false);
    const removeGroups = await measureRun(sync, counter, fake);
    const accessLeft = first.filter((id) => fake.productAccess(id).length > 0).length;
    const groupsLeft = membershipsOf(first);
    await setActive(1, deprovisionCount, true);
    const restore = await measureRun(sync, counter, fake);
    const restored = membershipsOf(first);

    await org.start();
    org.server.logRequests = false;
    org.server.latencyMs = latencyMs;
    org.accountSource = (accountId) => {
      const user = fake.users.get(accountId);
      return user ? { email: user.emailAddress, name: user.displayName, active: user.active } : undefined;
    };
    org.onAccountChanged = (user) => fake.updateAccount(user.accountId, { suspended: user.membership === 'suspended' });
    const orgTarget = await store.create(tenant.id, {
      kind: 'atlassian-org',
      name: 'bench org',
      baseUrl: org.baseUrl,
      settings: { orgId: org.orgId, limits: { concurrency } },
      credentials: { apiKey: 'bench-org-key' },
    });
    await store.update(tenant.id, jiraTarget.id, { settings: { orgTargetId: orgTarget.id, limits: { concurrency } } });
    // With an org the engine could also align display names; this measures deprovisioning alone.
    const withoutUpdates = { ...settings, user: { ...settings.user, operations: { ...settings.user.operations, update: false } } };
    await db.query('UPDATE connections SET settings = $3 WHERE tenant_id = $1 AND id = $2', [tenant.id, connection.id, JSON.stringify(withoutUpdates)]);
    const second = Array.from({ length: deprovisionCount }, (_, i) => accountOf(deprovisionCount + i + 1));
    await setActive(deprovisionCount + 1, 2 * deprovisionCount, false);
    const suspend = await measureRun(sync, counter, fake, [org]);
    const suspendedLeft = second.filter((id) => fake.productAccess(id).length > 0).length;
    const suspendAgain = await measureRun(sync, counter, fake, [org]);

    const deprovisioning = {
      users: deprovisionCount,
      withoutOrg: {
        action: 'remove from every access-granting and managed group (DELETE /rest/api/3/group/user)',
        ...removeGroups,
        minimumWrites: minimumRemovals,
        writesPerUser: round(removeGroups.writeCalls / deprovisionCount),
        minimumWritesPerUser: round(minimumRemovals / deprovisionCount),
        writesEqualMinimum: removeGroups.writeCalls === minimumRemovals,
        usersWithAccessLeft: accessLeft,
        membershipsLeft: groupsLeft,
      },
      reactivationWithoutOrg: {
        action: 'add back exactly the removed groups (POST /rest/api/3/group/user)',
        ...restore,
        minimumWrites: minimumRemovals,
        writesEqualMinimum: restore.writeCalls === minimumRemovals,
        membershipsRestored: restored === minimumRemovals,
      },
      withOrg: {
        action: 'suspend app access (POST /admin/v2/orgs/{orgId}/directories/{directoryId}/users/{accountId}/suspend)',
        ...suspend,
        minimumWrites: deprovisionCount,
        writesPerUser: round(suspend.writeCalls / deprovisionCount),
        minimumWritesPerUser: 1,
        writesEqualMinimum: suspend.writeCalls === deprovisionCount,
        usersWithAccessLeft: suspendedLeft,
        noChangeResyncWrites: suspendAgain.writeCalls,
      },
    };
    const deprovisioningOk =
      deprovisioning.withoutOrg.writesEqualMinimum &&
      accessLeft === 0 &&
      groupsLeft === 0 &&
      deprovisioning.reactivationWithoutOrg.writesEqualMinimum &&
      deprovisioning.reactivationWithoutOrg.membershipsRestored &&
      deprovisioning.withOrg.writesEqualMinimum &&
      suspendedLeft === 0 &&
      suspendAgain.writeCalls === 0;

    const initialBound = lowerBoundSeconds(initialCalls);
    const resyncBound = lowerBoundSeconds(resyncCalls);
    const report = {
      bench: 'sync',
      node: process.version,
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model ?? 'unknown',
      database: db.kind,
      scale,
      directory: { users: size.users, groups: size.groups, memberships, seedSeconds: round(seedSeconds) },
      fakeJira: { latencyMs, rateLimit: { refillPerSecond: ratePerSecond, burst }, concurrency },
      initialSync: {
        ...initial,
        minimumWrites,
        writesEqualMinimum: initial.writeCalls === minimumWrites,
        jiraState,
        jiraStateMatchesDirectory: stateMatches,
        lowerBoundSeconds: round(initialBound),
        wallOverBound: round(initial.wallSeconds / initialBound),
      },
      noChangeResync: {
        ...resync,
        zeroWrites: resync.writeCalls === 0,
        lowerBoundSeconds: round(resyncBound),
        wallOverBound: round(resync.wallSeconds / resyncBound),
      },
      deprovisioning,
      lowerBound: 'max(calls / rate, calls × latency / concurrency), calls = reads + writes the fake acted on',
      maxRssMB: mb(process.resourceUsage().maxRSS * 1024),
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    if (!report.initialSync.writesEqualMinimum || !stateMatches || !report.noChangeResync.zeroWrites || !deprovisioningOk) process.exitCode = 2;
  } finally {
    await fake.stop();
    await org.stop();
    await cleanup();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
