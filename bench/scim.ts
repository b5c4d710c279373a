/**
 * SCIM throughput and latency, printed as JSON: `npm run bench:scim`.
 *
 * Runs the real app (createApp, SCIM router, token auth, rate limit off) on loopback over embedded
 * PGlite, or over Postgres when DATABASE_URL is set (in a scratch database created and dropped here).
 * The directory is seeded with SQL (generate_series), not through HTTP. Measures:
 *  - POST /Users (create user);
 *  - GET /Users?filter=userName eq "…" with 100k users in the directory;
 *  - PATCH /Groups/{id} adding one member to groups of 0, 10k and 100k members.
 *
 * Each is measured against the app and against the floor (bench/scim-floor.ts: a bare node:http handler
 * running the same SQL on the same pool and answering the same JSON), with the same client and
 * concurrency, in alternating slices (BENCH_ROUNDS, default 5). `ratioToFloor` is app req/s ÷ floor
 * req/s: the machine's load cancels out of it, so it is the figure to compare between runs. `statementsPerRequest` counts the SQL statements
 * (BEGIN and COMMIT included) each sends for one request; `sameSql` says whether they are the same (when
 * not, both lists go to stderr so the floor can be brought back in line).
 *
 * BENCH_PROFILE_DIR=<folder> writes the server thread's CPU profile of every slice there, app and floor
 * apart, to see where the time goes (open them in Chrome DevTools or any .cpuprofile viewer).
 */
import http from 'node:http';
import os from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import pg from 'pg';
import { Pool, type Dispatcher } from 'undici';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { createApp } from '../src/app';
import { loadConfig } from '../src/config';
import { TenantStore } from '../src/connect/tenants';
import { ConnectionService } from '../src/connections/service';
import { openDatabase, type Database } from '../src/db/database';
import { migrate } from '../src/db/migrate';
import { createLogger } from '../src/logging/logger';
import { SecretBox } from '../src/security/crypto';
import { createPostgresDatabase } from '../test/helpers/database';
import { createFloorServer } from './scim-floor';

const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 5) * 1000;
/** App and floor take turns in this many slices of each measurement, so a change in the machine's load hits both alike. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** When set, a folder: the server thread's CPU profile of each slice is written there (`<scenario>-<app|floor>-<round>.cpuprofile`). */
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR;

interface Stats {
  requests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * The load's HTTP client: an undici pool with one keep-alive connection per concurrent caller. It costs
 * about half the CPU of node:http's client per request, and on a small machine the load generator's CPU
 * is taken from the server and the database it measures.
 */
class Client {
  private readonly pool: Pool;
  constructor(
    port: number,
    private readonly token: string,
  ) {
    this.pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONCURRENCY, pipelining: 1 });
  }

  async request(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const res = await this.pool.request({
      method: method as Dispatcher.HttpMethod,
      path,
      headers: { authorization: `Bearer ${this.token}`, ...(payload ? { 'content-type': 'application/scim+json' } : {}) },
      body: payload,
    });
    return { status: res.statusCode, body: await res.body.text() };
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}

/**
 * What one measurement sends. The load runs in a worker thread with its own event loop, so the client's
 * work does not eat into the server's (a load generator in the server's thread would halve what it measures).
 */
type Scenario =
  | { kind: 'createUser'; prefix: string }
  | { kind: 'getByUserName'; users: number }
  | { kind: 'patchAddMember'; groupId: string; candidates: string[] };

interface LoadJob {
  port: number;
  token: string;
  /** `/scim/v2/{connectionId}` for the app, `/floor` for the floor. */
  base: string;
  scenario: Scenario;
  expectStatus: number;
  /** Index of the first request (a slice continues where the previous slice of the same load stopped). */
  start: number;
  limit: number;
  durationMs: number;
}

/** What one slice measured, raw, for the main side to add up. */
interface Slice {
  latencies: number[];
  seconds: number;
  errors: number;
}

function requestFor(scenario: Scenario, base: string, i: number): { method: string; path: string; body?: unknown } {
  switch (scenario.kind) {
    case 'createUser':
      return {
        method: 'POST',
        path: `${base}/Users`,
        body: {
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
          userName: `${scenario.prefix}${i}@bench.example`,
          name: { givenName: 'New', familyName: `N${i}` },
          emails: [{ value: `${scenario.prefix}${i}@bench.example`, type: 'work', primary: true }],
          active: true,
        },
      };
    case 'getByUserName': {
      const n = 1 + ((i * 7919) % scenario.users);
      return { method: 'GET', path: `${base}/Users?filter=${encodeURIComponent(`userName eq "USER${n}@bench.example"`)}` };
    }
    case 'patchAddMember':
      return {
        method: 'PATCH',
        path: `${base}/Groups/${scenario.groupId}`,
        body: {
          schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
          Operations: [{ op: 'Add', path: 'members', value: [{ value: scenario.candidates[i % scenario.candidates.length] }] }],
        },
      };
  }
}

/** Worker side: CONCURRENCY loops for `durationMs` (or `limit` calls), each call timed. */
async function runLoad(job: LoadJob): Promise<Slice> {
  const client = new Client(job.port, job.token);
  const latencies: number[] = [];
  let errors = 0;
  let issued = job.start;
  const started = performance.now();
  const deadline = started + job.durationMs;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline && issued < job.limit) {
        const { method, path, body } = requestFor(job.scenario, job.base, issued++);
        const t0 = performance.now();
        const res = await client.request(method, path, body);
        latencies.push(performance.now() - t0);
        if (res.status !== job.expectStatus) errors++;
      }
    }),
  );
  await client.close();
  return { latencies, seconds: (performance.now() - started) / 1000, errors };
}

function statsOf(slices: Slice[]): Stats {
  const latencies = slices.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const seconds = slices.reduce((n, s) => n + s.seconds, 0);
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    requests: latencies.length,
    requestsPerSecond: round(latencies.length / Math.max(0.001, seconds)),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    errors: slices.reduce((n, s) => n + s.errors, 0),
  };
}

/**
 * Main side: the load's worker thread, started once and kept for every slice, so each slice measures a
 * warm client (a fresh worker per slice spent the first part of every slice loading and compiling).
 */
class LoadWorker {
  private worker: Worker | undefined;
  private pending: { resolve: (slice: Slice) => void; reject: (error: Error) => void } | undefined;

  measure(job: LoadJob): Promise<Slice> {
    if (!this.worker) {
      this.worker = new Worker(__filename);
      this.worker.on('message', (slice: Slice) => this.settle((p) => p.resolve(slice)));
      this.worker.on('error', (error) => this.settle((p) => p.reject(error)));
      this.worker.on('exit', (code) => this.settle((p) => p.reject(new Error(`load worker exited with ${code}`))));
    }
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker!.postMessage(job);
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
  }

  private settle(how: (pending: NonNullable<LoadWorker['pending']>) => void): void {
    const pending = this.pending;
    this.pending = undefined;
    if (pending) how(pending);
  }
}
const loadWorker = new LoadWorker();
const measure = (job: LoadJob) => loadWorker.measure(job);

/** Runs `work` with the server thread's CPU profiler on and writes the profile to PROFILE_DIR. */
async function profiled<T>(name: string, work: () => Promise<T>): Promise<T> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    const result = await work();
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(path.join(PROFILE_DIR!, `${name}.cpuprofile`), JSON.stringify(profile));
    return result;
  } finally {
    session.disconnect();
  }
}

async function seedUsers(db: Database, connectionId: string, count: number): Promise<void> {
  await db.query(
    `INSERT INTO directory_users (connection_id, user_name, external_id, display_name, given_name, family_name, primary_email, active, resource)
     SELECT $1, 'user' || n || '@bench.example', 'ext-' || n, 'User ' || n, 'User', 'N' || n, 'user' || n || '@bench.example', true,
            jsonb_build_object(
              'schemas', jsonb_build_array('urn:ietf:params:scim:schemas:core:2.0:User'),
              'userName', 'user' || n || '@bench.example', 'externalId', 'ext-' || n, 'displayName', 'User ' || n,
              'name', jsonb_build_object('givenName', 'User', 'familyName', 'N' || n), 'active', true,
              'emails', jsonb_build_array(jsonb_build_object('value', 'user' || n || '@bench.example', 'type', 'work', 'primary', true)))
       FROM generate_series(1, $2) AS n`,
    [connectionId, count],
  );
  await db.query('ANALYZE directory_users');
}

async function seedGroup(db: Database, connectionId: string, name: string, members: number): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO directory_groups (connection_id, display_name, resource) VALUES ($1, $2, $3) RETURNING id`,
    [connectionId, name, JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: name })],
  );
  const groupId = rows[0]!.id;
  if (members > 0) {
    // The first `members` users by creation order; the bench adds users from the other end.
    await db.query(
      `INSERT INTO directory_memberships (group_id, user_id, connection_id)
       SELECT $2, id, $1 FROM directory_users WHERE connection_id = $1 ORDER BY created_at, id LIMIT $3`,
      [connectionId, groupId, members],
    );
  }
  await db.query('ANALYZE directory_memberships');
  return groupId;
}

/** The SQL statements sent while a probe runs (main thread only): every query goes through pg.Client. */
let recording: string[] | undefined;
const originalQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  const first = args[0] as string | { text?: string } | undefined;
  if (recording) recording.push(typeof first === 'string' ? first : first?.text ?? '');
  return (originalQuery as (...a: unknown[]) => unknown).apply(this, args);
} as typeof originalQuery;

async function main(): Promise<void> {
  const loadBefore = os.loadavg().map((n) => Math.round(n * 100) / 100);
  const adminUrl = process.env.DATABASE_URL;
  const scratch = adminUrl ? await createPostgresDatabase() : undefined;
  const config = loadConfig({
    NODE_ENV: 'test',
    APP_BASE_URL: 'https://bench.example.test',
    DATA_DIR: 'memory://',
    LOG_LEVEL: 'silent',
    ENCRYPTION_KEYS: `bench:${randomBytes(32).toString('base64')}`,
    SCIM_RATE_LIMIT_PER_SECOND: '0',
    ...(scratch ? { DATABASE_URL: scratch.url } : {}),
  });
  const db = await openDatabase(config.database);
  try {
    await migrate(db);
    const secrets = SecretBox.fromKeyList(config.encryptionKeys!);
    const app = createApp({ config, db, logger: createLogger({ level: 'silent' }), secrets });
    await app.ready;
    await new TenantStore(db, secrets).createLocal({ clientKey: 'bench', baseUrl: 'https://bench.atlassian.net' });
    const connections = new ConnectionService(db, { baseUrl: config.baseUrl, tokenGraceSeconds: 0 });
    const { connection, token } = await connections.create({ tenantClientKey: 'bench', name: 'bench', provider: 'entra' });

    const seedStarted = performance.now();
    await seedUsers(db, connection.id, USERS);
    const seedGroups = async (suffix: string) => ({
      members0: await seedGroup(db, connection.id, `empty${suffix}`, 0),
      members10k: await seedGroup(db, connection.id, `ten-thousand${suffix}`, Math.min(10_000, USERS)),
      members100k: await seedGroup(db, connection.id, `hundred-thousand${suffix}`, USERS),
    });
    const groups = { app: await seedGroups(''), floor: await seedGroups(' (floor)') };
    // The SQL probe adds its member to groups of its own, so the measured groups start at their sizes.
    const probeGroups = { app: await seedGroup(db, connection.id, 'probe', 0), floor: await seedGroup(db, connection.id, 'probe (floor)', 0) };
    const seedSeconds = (performance.now() - seedStarted) / 1000;

    const server = http.createServer(app.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const base = `/scim/v2/${connection.id}`;
    const floorServer = createFloorServer(db.pool, connection.id, connections.scimBaseUrl(connection.id), db.kind);
    await new Promise<void>((resolve) => floorServer.listen(0, '127.0.0.1', resolve));
    const floorPort = (floorServer.address() as AddressInfo).port;
    const target = { app: { port, base }, floor: { port: floorPort, base: '/floor' } };
    /** App and floor in turns, ROUNDS slices each; a limited load (PATCH candidates) is spread over the slices. */
    const compareLoads = async (app: Scenario, floor: Scenario, expectStatus: number, limits = { app: Infinity, floor: Infinity }) => {
      const slices = { app: [] as Slice[], floor: [] as Slice[] };
      const next = { app: 0, floor: 0 };
      for (let round = 0; round < ROUNDS; round++) {
        for (const to of ['app', 'floor'] as const) {
          const limit = Math.min(limits[to], next[to] + Math.ceil((limits[to] - next[to]) / (ROUNDS - round)));
          const job = { ...target[to], token, scenario: to === 'app' ? app : floor, expectStatus, start: next[to], limit, durationMs: DURATION_MS / ROUNDS };
          const slice = PROFILE_DIR ? await profiled(`${app.kind}-${to}-${round}`, () => measure(job)) : await measure(job);
          slices[to].push(slice);
          next[to] += slice.latencies.length;
        }
      }
      return compare(statsOf(slices.app), statsOf(slices.floor));
    };

    // Warm up both (JIT, plan caches) before measuring.
    for (const to of ['app', 'floor'] as const) {
      const warm = new Client(target[to].port, token);
      for (let i = 0; i < 200; i++) await warm.request('GET', `${target[to].base}/Users?filter=${encodeURIComponent(`userName eq "user${i + 1}@bench.example"`)}`);
      await warm.close();
    }

    /** One request to each of app and floor, recording the SQL each sends; their answers must agree. */
    const probe = async (method: string, path: (base: string) => string, body?: (to: string) => unknown) => {
      const out: Record<string, { statements: string[]; status: number; body: unknown }> = {};
      for (const to of ['app', 'floor'] as const) {
        const client = new Client(target[to].port, token);
        // A request first, so the token cache is warm: its one query per SCIM_AUTH_CACHE_SECONDS is not per request.
        await client.request('GET', `${target[to].base}/Users?filter=${encodeURIComponent('userName eq "user1@bench.example"')}`);
        recording = [];
        const res = await client.request(method, path(target[to].base), body?.(to));
        out[to] = { statements: recording, status: res.status, body: res.body ? JSON.parse(res.body) : undefined };
        recording = undefined;
        await client.close();
      }
      const normalise = (list: string[]) => list.map((sql) => sql.replace(/\s+/g, ' ').trim());
      const [appSql, floorSql] = [normalise(out.app!.statements), normalise(out.floor!.statements)];
      if (!isDeepStrictEqual(appSql, floorSql)) {
        // The floor has drifted from the app's SQL: say where, so it can be brought back in line.
        process.stderr.write(`${method} statements differ between app and floor:\napp:\n${appSql.join('\n')}\nfloor:\n${floorSql.join('\n')}\n`);
      }
      return {
        statementsPerRequest: { app: out.app!.statements.length, floor: out.floor!.statements.length },
        sameSql: isDeepStrictEqual(appSql, floorSql),
        app: out.app!,
        floor: out.floor!,
      };
    };
    const withoutVolatile = (resource: unknown) => {
      const { id: _id, meta: _meta, ...rest } = resource as Record<string, unknown>;
      return rest;
    };

    const compare = (app: Stats, floor: Stats) => ({ ratioToFloor: Math.round((app.requestsPerSecond / Math.max(0.001, floor.requestsPerSecond)) * 100) / 100, app, floor });

    const getPath = (b: string) => `${b}/Users?filter=${encodeURIComponent('userName eq "user42@bench.example"')}`;
    const getProbe = await probe('GET', getPath);
    if (!isDeepStrictEqual(getProbe.app.body, getProbe.floor.body)) throw new Error(`the floor answers GET differently:\n${JSON.stringify(getProbe.app.body)}\n${JSON.stringify(getProbe.floor.body)}`);
    const postProbe = await probe('POST', (b) => `${b}/Users`, (to) => requestFor({ kind: 'createUser', prefix: `probe-${to}-` }, '', 0).body);
    const [postApp, postFloor] = [postProbe.app.body, postProbe.floor.body].map((b) => JSON.parse(JSON.stringify(withoutVolatile(b)).replaceAll('probe-app-', 'probe-floor-')));
    if (postProbe.app.status !== 201 || postProbe.floor.status !== 201 || !isDeepStrictEqual(postApp, postFloor)) {
      throw new Error(`the floor answers POST differently:\n${JSON.stringify(postProbe.app.body)}\n${JSON.stringify(postProbe.floor.body)}`);
    }

    const createUser = await compareLoads({ kind: 'createUser', prefix: 'new' }, { kind: 'createUser', prefix: 'floor' }, 201);
    const getUsers = { kind: 'getByUserName', users: USERS } as const;
    const getByUserName = await compareLoads(getUsers, getUsers, 200);

    // Candidates to add: users that are in none of the groups yet (the newly created ones). Each PATCH
    // adds one user not yet a member; app and floor have groups and candidates of their own.
    const freshUsers = async (prefix: string) =>
      (await db.query<{ id: string }>(`SELECT id FROM directory_users WHERE connection_id = $1 AND user_name LIKE $2 ORDER BY created_at, id`, [connection.id, `${prefix}%`])).rows.map((r) => r.id);
    const candidates = { app: await freshUsers('new'), floor: await freshUsers('floor') };
    const patchBody = (id: string) => ({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'Add', path: 'members', value: [{ value: id }] }] });
    const patchProbe = await probe('PATCH', (b) => `${b}/Groups/${b === '/floor' ? probeGroups.floor : probeGroups.app}`, (to) => patchBody(to === 'floor' ? candidates.floor[0]! : candidates.app[0]!));
    const patchAddMember: Record<string, ReturnType<typeof compare>> = {};
    for (const label of Object.keys(groups.app) as (keyof typeof groups.app)[]) {
      patchAddMember[label] = await compareLoads(
        { kind: 'patchAddMember', groupId: groups.app[label], candidates: candidates.app },
        { kind: 'patchAddMember', groupId: groups.floor[label], candidates: candidates.floor },
        204,
        { app: candidates.app.length, floor: candidates.floor.length },
      );
    }
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => floorServer.close(() => resolve()));

    const ratio = patchAddMember.members100k!.app.p50Ms / Math.max(0.001, patchAddMember.members0!.app.p50Ms);
    const sql = (p: Awaited<ReturnType<typeof probe>>) => ({ statementsPerRequest: p.statementsPerRequest, sameSql: p.sameSql });
    process.stdout.write(
      `${JSON.stringify(
        {
          database: db.kind,
          usersInDirectory: USERS + createUser.app.requests + createUser.floor.requests,
          concurrency: CONCURRENCY,
          secondsPerMeasurement: DURATION_MS / 1000,
          slicesPerMeasurement: ROUNDS,
          seedSeconds: Math.round(seedSeconds * 10) / 10,
          machine: { cpus: os.cpus().length, loadAverageBefore: loadBefore, loadAverageAfter: os.loadavg().map((n) => Math.round(n * 100) / 100) },
          createUser: { ...createUser, ...sql(postProbe) },
          getByUserNameFilter: { ...getByUserName, ...sql(getProbe) },
          patchAddOneMember: { ...patchAddMember, ...sql(patchProbe) },
          patch100kVs0P50Ratio: Math.round(ratio * 100) / 100,
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await loadWorker.close();
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
  parentPort!.on('message', (job: LoadJob) => {
    runLoad(job).then((slice) => parentPort!.postMessage(slice));
  });
}
