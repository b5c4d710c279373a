/**
 * Fairness between tenants, printed as JSON: `npm run bench:fairness`.
 *
 * Runs the real app (createApp, SCIM router, token auth, per-connection rate limit off so that tenant A
 * is as heavy as it can be) on loopback over embedded PGlite, or over Postgres when DATABASE_URL is set
 * (in a scratch database created and dropped here). Tenant A sends the largest requests the database's
 * limits accept (scimLimitsFor; SCIM_MAX_MEMBERS and SCIM_MAX_PAGE_BYTES may be set for a run), without
 * pause: PATCHes naming maxMembers members or carrying min(maxOperations, maxMembers) member removes on
 * groups of 10,000 members, and GET /Users?count=1000 pages of users with maxValues emails each (cut at
 * maxPageBytes). Meanwhile tenant B reads one small user at a time. Reports B's latency (and
 * the same without A, for reference), A's figures, and the server thread's event-loop delay
 * (perf_hooks.monitorEventLoopDelay): under the load, and per kind of A's requests sent alone
 * (`longestBlockAloneMs`: how long one such request holds the thread, with no wait for a CPU in it).
 * Goal: B's p99 below 250 ms.
 *
 * The load runs in worker threads with their own event loops, so the clients' work does not count as
 * the server's.
 */
import http from 'node:http';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { createApp } from '../src/app';
import { loadConfig } from '../src/config';
import { TenantStore } from '../src/connect/tenants';
import { ConnectionService } from '../src/connections/service';
import { openDatabase, type Database } from '../src/db/database';
import { migrate } from '../src/db/migrate';
import { createLogger } from '../src/logging/logger';
import { SCIM_LIMITS, scimLimitsFor } from '../src/scim/limits';
import { SecretBox } from '../src/security/crypto';
import { createPostgresDatabase } from '../test/helpers/database';

const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 20) * 1000;
const A_USERS = Number(process.env.BENCH_A_USERS ?? SCIM_LIMITS.maxMembers);
const A_PATCHERS = Number(process.env.BENCH_A_PATCHERS ?? 2);
const A_PAGERS = Number(process.env.BENCH_A_PAGERS ?? 2);
/** Times each of A's request kinds runs alone to measure how long it holds the server's thread. */
const BLOCK_ROUNDS = Number(process.env.BENCH_BLOCK_ROUNDS ?? 10);
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

interface Stats {
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  statuses: Record<string, number>;
  meanResponseBytes: number;
  meanRequestBytes: number;
}

type Role =
  | { kind: 'reader'; userIds: string[] }
  | { kind: 'pager' }
  | { kind: 'patcher'; groupId: string; members: string[]; maxMembers: number; index: number };

interface LoadJob {
  port: number;
  token: string;
  base: string;
  role: Role;
  durationMs: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round = (n: number) => Math.round(n * 100) / 100;

function request(agent: http.Agent, port: number, token: string, method: string, path: string, body?: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/scim+json', 'Content-Length': Buffer.byteLength(body) } : {}) },
      },
      (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => (bytes += chunk.length));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The PATCH bodies of a patcher, in turn: each names as many members as the limits accept. */
function patchBodies(members: string[], maxMembers: number): string[] {
  const all = { op: 'add', path: 'members', value: members.slice(0, maxMembers).map((value) => ({ value })) };
  const byFilter = members.slice(0, Math.min(SCIM_LIMITS.maxOperations, maxMembers)).map((id) => ({ op: 'remove', path: `members[value eq "${id}"]` }));
  return [
    JSON.stringify({ schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'members', value: all.value }] }),
    JSON.stringify({ schemas: [PATCH_OP], Operations: [all] }),
    JSON.stringify({ schemas: [PATCH_OP], Operations: byFilter }),
    JSON.stringify({ schemas: [PATCH_OP], Operations: [all] }),
  ];
}

/** Worker side: one client loop for durationMs. */
async function runLoad(job: LoadJob): Promise<Stats> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let responseBytes = 0;
  let requestBytes = 0;
  const bodies = job.role.kind === 'patcher' ? patchBodies(job.role.members, job.role.maxMembers) : [];
  const deadline = performance.now() + job.durationMs;
  for (let i = 0; performance.now() < deadline; i++) {
    let method = 'GET';
    let path: string;
    let body: string | undefined;
    switch (job.role.kind) {
      case 'reader':
        path = `${job.base}/Users/${job.role.userIds[i % job.role.userIds.length]}`;
        break;
      case 'pager':
        path = `${job.base}/Users?count=1000&startIndex=${1 + ((i * 997) % A_USERS)}`;
        break;
      case 'patcher':
        method = 'PATCH';
        path = `${job.base}/Groups/${job.role.groupId}`;
        body = bodies[(i + job.role.index) % bodies.length];
        break;
    }
    const t0 = performance.now();
    const res = await request(agent, job.port, job.token, method, path, body);
    latencies.push(performance.now() - t0);
    statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    responseBytes += res.bytes;
    requestBytes += body ? Buffer.byteLength(body) : 0;
  }
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    maxMs: round(latencies[latencies.length - 1] ?? 0),
    statuses,
    meanResponseBytes: Math.round(responseBytes / Math.max(1, latencies.length)),
    meanRequestBytes: Math.round(requestBytes / Math.max(1, latencies.length)),
  };
}

function measure(job: LoadJob): Promise<Stats> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(__filename, { workerData: job });
    worker.once('message', (stats: Stats) => resolve(stats));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`load worker exited with ${code}`));
    });
  });
}

/** Users of the largest accepted shape: maxValues emails each. */
async function seedUsers(db: Database, connectionId: string, prefix: string, count: number, emails: number): Promise<string[]> {
  for (let start = 1; start <= count; start += 1000) {
    await db.query(
      `INSERT INTO directory_users (connection_id, user_name, primary_email, active, resource)
       SELECT $1, $2 || n || '@bench.example', $2 || n || '@bench.example', true,
              jsonb_build_object('schemas', jsonb_build_array('urn:ietf:params:scim:schemas:core:2.0:User'),
                'userName', $2 || n || '@bench.example', 'displayName', 'User ' || n, 'active', true,
                'name', jsonb_build_object('givenName', 'User', 'familyName', 'N' || n),
                'emails', (SELECT jsonb_agg(jsonb_build_object('value', 'alias' || k || '.' || $2 || n || '@bench.example', 'type', 'other')) FROM generate_series(1, $3) k))
         FROM generate_series($4::int, $5::int) AS n`,
      [connectionId, prefix, emails, start, Math.min(count, start + 999)],
    );
  }
  await db.query('ANALYZE directory_users');
  const { rows } = await db.query<{ id: string }>('SELECT id FROM directory_users WHERE connection_id = $1 ORDER BY user_name', [connectionId]);
  return rows.map((r) => r.id);
}

async function main(): Promise<void> {
  const scratch = process.env.DATABASE_URL ? await createPostgresDatabase() : undefined;
  const config = loadConfig({
    NODE_ENV: 'test',
    APP_BASE_URL: 'https://bench.example.test',
    DATA_DIR: 'memory://',
    LOG_LEVEL: 'silent',
    ENCRYPTION_KEYS: `bench:${randomBytes(32).toString('base64')}`,
    SCIM_RATE_LIMIT_PER_SECOND: '0',
    // The limits under test may be set from outside; by default each database's own.
    ...(process.env.SCIM_MAX_MEMBERS ? { SCIM_MAX_MEMBERS: process.env.SCIM_MAX_MEMBERS } : {}),
    ...(process.env.SCIM_MAX_PAGE_BYTES ? { SCIM_MAX_PAGE_BYTES: process.env.SCIM_MAX_PAGE_BYTES } : {}),
    ...(scratch ? { DATABASE_URL: scratch.url } : {}),
  });
  const db = await openDatabase(config.database);
  const limits = scimLimitsFor(db.kind, config.scim);
  try {
    await migrate(db);
    const secrets = SecretBox.fromKeyList(config.encryptionKeys!);
    const app = createApp({ config, db, logger: createLogger({ level: 'silent' }), secrets });
    await app.ready;
    const tenants = new TenantStore(db, secrets);
    const connections = new ConnectionService(db, { baseUrl: config.baseUrl, tokenGraceSeconds: 0 });
    await tenants.createLocal({ clientKey: 'tenant-a', baseUrl: 'https://a.atlassian.net' });
    await tenants.createLocal({ clientKey: 'tenant-b', baseUrl: 'https://b.atlassian.net' });
    const a = await connections.create({ tenantClientKey: 'tenant-a', name: 'A', provider: 'entra' });
    const b = await connections.create({ tenantClientKey: 'tenant-b', name: 'B', provider: 'okta' });

    const seedStarted = performance.now();
    const aUsers = await seedUsers(db, a.connection.id, 'a', A_USERS, SCIM_LIMITS.maxValues);
    const bUsers = await seedUsers(db, b.connection.id, 'b', 1000, 2);
    // One group per patcher, each starting with every A user as a member.
    const groups: string[] = [];
    for (let i = 0; i < A_PATCHERS; i++) {
      const { rows } = await db.query<{ id: string }>(
        `INSERT INTO directory_groups (connection_id, display_name, resource) VALUES ($1, $2, $3) RETURNING id`,
        [a.connection.id, `big-${i}`, JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: `big-${i}` })],
      );
      groups.push(rows[0]!.id);
      await db.query(`INSERT INTO directory_memberships (group_id, user_id, connection_id) SELECT $2, id, $1 FROM directory_users WHERE connection_id = $1`, [a.connection.id, rows[0]!.id]);
    }
    await db.query('ANALYZE directory_memberships');
    const seedSeconds = (performance.now() - seedStarted) / 1000;

    const server = http.createServer(app.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const baseA = `/scim/v2/${a.connection.id}`;
    const baseB = `/scim/v2/${b.connection.id}`;
    const reader = (durationMs: number) => measure({ port, token: b.token, base: baseB, role: { kind: 'reader', userIds: bUsers }, durationMs });

    // Warm up every request kind (JIT, lazily loaded modules, plan caches), then B alone for reference.
    const warm = new http.Agent({ keepAlive: true });
    for (const body of patchBodies(aUsers, limits.maxMembers)) await request(warm, port, a.token, 'PATCH', `${baseA}/Groups/${groups[0]}`, body);
    for (let i = 0; i < 3; i++) await request(warm, port, a.token, 'GET', `${baseA}/Users?count=1000&startIndex=${1 + i * 500}`);
    warm.destroy();
    await reader(2000);
    const bAlone = await reader(Math.min(10_000, DURATION_MS / 2));

    // How long one request of each of A's kinds holds the server's thread when it runs alone (no other
    // load, so the figure is the request's own blocking, not time spent waiting for a CPU).
    const kinds = ['patchRemoveAll', 'patchAddAll', 'patchRemoveByFilter', 'patchAddAllAgain'] as const;
    const blocks: Record<string, number[]> = { page: [] };
    const alone = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const bodies = patchBodies(aUsers, limits.maxMembers);
    const blocked = async (send: () => Promise<unknown>) => {
      const histogram = monitorEventLoopDelay({ resolution: 1 });
      histogram.enable();
      await send();
      await new Promise((resolve) => setImmediate(resolve));
      histogram.disable();
      return histogram.max / 1e6;
    };
    for (let pass = 0; pass < BLOCK_ROUNDS; pass++) {
      for (const [i, kind] of kinds.entries()) {
        (blocks[kind] ??= []).push(await blocked(() => request(alone, port, a.token, 'PATCH', `${baseA}/Groups/${groups[0]}`, bodies[i])));
      }
      blocks.page!.push(await blocked(() => request(alone, port, a.token, 'GET', `${baseA}/Users?count=1000&startIndex=${1 + pass * 50}`)));
    }
    alone.destroy();
    const longestBlockAloneMs = Object.fromEntries(
      Object.entries(blocks).map(([kind, list]) => {
        const sorted = [...list].sort((x, y) => x - y);
        return [kind, { p50: round(percentile(sorted, 50)), max: round(sorted[sorted.length - 1] ?? 0) }];
      }),
    );

    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const [bUnderLoad, ...aLoads] = await Promise.all([
      reader(DURATION_MS),
      ...groups.map((groupId, index) => measure({ port, token: a.token, base: baseA, role: { kind: 'patcher', groupId, members: aUsers, maxMembers: limits.maxMembers, index }, durationMs: DURATION_MS })),
      ...Array.from({ length: A_PAGERS }, () => measure({ port, token: a.token, base: baseA, role: { kind: 'pager' }, durationMs: DURATION_MS })),
    ]);
    delay.disable();
    await new Promise<void>((resolve) => server.close(() => resolve()));

    const ns = (n: number) => round(n / 1e6);
    const patches = aLoads.slice(0, groups.length);
    const pages = aLoads.slice(groups.length);
    process.stdout.write(
      `${JSON.stringify(
        {
          database: db.kind,
          // The figures are wall-clock: on a machine busy with other work they include time the process waited for a CPU.
          machine: { cpus: os.cpus().length, loadAverage1m: round(os.loadavg()[0]!) },
          secondsUnderLoad: DURATION_MS / 1000,
          seedSeconds: round(seedSeconds),
          limits: { ...SCIM_LIMITS, ...limits },
          tenantA: {
            users: A_USERS,
            emailsPerUser: SCIM_LIMITS.maxValues,
            groupMembers: A_USERS,
            membersPerPatch: limits.maxMembers,
            patchers: patches,
            pagers: pages,
          },
          tenantB: { alone: bAlone, underLoad: bUnderLoad },
          eventLoopDelayMs: { max: ns(delay.max), p99: ns(delay.percentile(99)), mean: ns(delay.mean) },
          longestBlockAloneMs,
          goal: { tenantBP99Ms: 250, met: bUnderLoad.p99Ms < 250 },
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await db.close();
    await scratch?.drop();
  }
}

if (isMainThread) {
  main().catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    process.exit(1);
  });
} else {
  runLoad(workerData as LoadJob).then((stats) => parentPort!.postMessage(stats));
}
