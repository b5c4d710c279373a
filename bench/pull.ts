/**
 * `npm run bench:pull`: pulls a synthetic IdP (50k users, 2k groups, ~100k memberships) from the fake
 * miniOrange and the fake Graph into a connection's directory and prints JSON: users/s and peak RSS.
 * Each scenario runs in a child process of its own, so its peak RSS is its own; 10k-user runs beside the
 * 50k ones show whether memory grows with the directory (it should not: the pull streams).
 *
 * Database: embedded PGlite in a temporary folder by default; DATABASE_URL = a Postgres server (a
 * temporary database is created and dropped per scenario). The fakes compute their data from indexes,
 * so they add no memory that grows with the directory.
 */
import { execFileSync, fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase, type Database } from '../src/db/database';
import { migrate } from '../src/db/migrate';
import { loadConfig } from '../src/config';
import { configureEgress } from '../src/egress';
import { SecretBox } from '../src/security/crypto';
import { savePullConfig, type PullConfigInput } from '../src/sources/config';
import { pullConnection } from '../src/sources/pull';
import { SyntheticDirectory } from '../test/fakes/idp/directory-data';
import { FakeGraph } from '../test/fakes/idp/fake-graph';
import { FakeScimServer, SCIM_BASE_PATH } from '../test/fakes/idp/fake-scim-server';
import { createPostgresDatabase } from '../test/helpers/database';

// miniOrange cannot list its directory (docs/sources.md): the paged-listing path is measured with a SCIM server.
type Kind = 'scim' | 'entra';

interface Scenario {
  source: Kind;
  users: number;
  groups: number;
}

const SCENARIOS: Scenario[] = [
  { source: 'scim', users: 10_000, groups: 2_000 },
  { source: 'scim', users: 50_000, groups: 2_000 },
  { source: 'entra', users: 10_000, groups: 2_000 },
  { source: 'entra', users: 50_000, groups: 2_000 },
];

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

async function runScenario(scenario: Scenario): Promise<Record<string, unknown>> {
  // The fakes listen on loopback: the operator setting that lets outbound calls reach them.
  configureEgress(loadConfig({ NODE_ENV: 'test', EGRESS_ALLOW: '127.0.0.1' }).egress);
  let db: Database;
  let cleanup: () => Promise<void>;
  if (process.env.DATABASE_URL) {
    const created = await createPostgresDatabase();
    db = await openDatabase({ kind: 'postgres', url: created.url, poolMax: 5, ssl: false });
    cleanup = async () => {
      await db.close();
      await created.drop();
    };
  } else {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-pull-'));
    db = await openDatabase({ kind: 'pglite', dataDir });
    cleanup = async () => {
      await db.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    };
  }
  try {
    await migrate(db);
    const { rows: tenants } = await db.query<{ id: string }>(
      `INSERT INTO tenants (client_key, base_url, shared_secret_sealed) VALUES ('bench', 'https://bench.atlassian.net', 'x') RETURNING id`,
    );
    const { rows } = await db.query<{ id: string }>(`INSERT INTO connections (tenant_id, name, provider) VALUES ($1, 'bench', $2) RETURNING id`, [
      tenants[0]!.id,
      scenario.source === 'scim' ? 'generic' : scenario.source,
    ]);
    const connectionId = rows[0]!.id;
    const secrets = SecretBox.fromKeyList(`bench:${Buffer.alloc(32, 7).toString('base64')}`);
    const data = new SyntheticDirectory(scenario.users, scenario.groups);

    let fake: { start(): Promise<string>; stop(): Promise<void>; server: { logRequests: boolean; counts: { total: number } } };
    let config: () => PullConfigInput;
    if (scenario.source === 'scim') {
      const scim = new FakeScimServer({ data, token: 'bench-token', maxResults: 1000 });
      fake = scim;
      config = () => ({ kind: 'scim', baseUrl: `${scim.baseUrl}${SCIM_BASE_PATH}`, bearerToken: 'bench-token', pageSize: 1000 });
    } else {
      const graph = new FakeGraph({ data, tenantId: 'bench-tenant', clientId: 'bench-client', clientSecret: 'bench-secret' });
      fake = graph;
      config = () => ({
        kind: 'entra',
        tenantId: 'bench-tenant',
        clientId: 'bench-client',
        clientSecret: 'bench-secret',
        authorityBaseUrl: graph.baseUrl,
        graphBaseUrl: graph.baseUrl,
        pageSize: 999,
      });
    }
    fake.server.logRequests = false;
    await fake.start();
    await savePullConfig(db, secrets, connectionId, config());

    global.gc?.();
    const baselineRss = process.memoryUsage().rss;
    let sampledPeak = baselineRss;
    let peakHeap = process.memoryUsage().heapUsed;
    const sampler = setInterval(() => {
      const usage = process.memoryUsage();
      sampledPeak = Math.max(sampledPeak, usage.rss);
      peakHeap = Math.max(peakHeap, usage.heapUsed);
    }, 100);
    const started = performance.now();
    const result = await pullConnection({ db, secrets }, connectionId);
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    sampledPeak = Math.max(sampledPeak, process.memoryUsage().rss);
    await fake.stop();
    if (!result.complete) throw new Error(`pull failed: ${result.error}`);

    return {
      source: scenario.source === 'entra' ? 'graph' : 'scim',
      database: db.kind,
      users: result.users.seen,
      groups: result.groups.seen,
      membershipsAdded: result.memberships.added,
      requests: fake.server.counts.total,
      seconds: Math.round(seconds * 100) / 100,
      usersPerSecond: Math.round(result.users.seen / seconds),
      baselineRssMB: mb(baselineRss),
      peakRssMB: mb(sampledPeak),
      pullRssGrowthMB: mb(sampledPeak - baselineRss),
      // The JS heap alone: with PGlite, RSS also holds the embedded database's own memory.
      peakHeapUsedMB: mb(peakHeap),
      maxRssMB: mb(process.resourceUsage().maxRSS * 1024),
    };
  } finally {
    await cleanup();
  }
}

async function main(): Promise<void> {
  const arg = process.argv.find((a) => a.startsWith('--scenario='));
  if (arg) {
    const [source, users, groups] = arg.slice('--scenario='.length).split(':');
    const outcome = await runScenario({ source: source as Kind, users: Number(users), groups: Number(groups) });
    // The IPC channel keeps the child alive: leave once the parent has the numbers.
    process.send?.(outcome, () => process.exit(0));
    return;
  }

  const results: Array<Record<string, unknown>> = [];
  for (const scenario of SCENARIOS) {
    const outcome = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const child = fork(__filename, [`--scenario=${scenario.source}:${scenario.users}:${scenario.groups}`], {
        execArgv: ['--expose-gc'],
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
      let message: Record<string, unknown> | null = null;
      child.on('message', (m) => (message = m as Record<string, unknown>));
      child.on('exit', (code) => (code === 0 && message ? resolve(message) : reject(new Error(`scenario ${JSON.stringify(scenario)} exited with ${code}`))));
    });
    results.push(outcome);
    process.stderr.write(`bench:pull ${JSON.stringify(outcome)}\n`);
  }

  const memory: Record<string, unknown> = {};
  for (const source of ['scim', 'graph']) {
    const small = results.find((r) => r.source === source && r.users === 10_000);
    const large = results.find((r) => r.source === source && r.users === 50_000);
    if (small && large) {
      memory[source] = {
        peakRssMB10k: small.peakRssMB,
        peakRssMB50k: large.peakRssMB,
        // 5x the users; a streaming pull keeps this near 1.
        peakRssRatio50kTo10k: Math.round(((large.peakRssMB as number) / (small.peakRssMB as number)) * 100) / 100,
        peakHeapUsedMB10k: small.peakHeapUsedMB,
        peakHeapUsedMB50k: large.peakHeapUsedMB,
      };
    }
  }
  let cpu = 'unknown';
  try {
    cpu = os.cpus()[0]?.model ?? execFileSync('uname', ['-m']).toString().trim();
  } catch {
    // informational only
  }
  process.stdout.write(
    `${JSON.stringify({ bench: 'pull', node: process.version, cpus: os.cpus().length, cpu, database: results[0]?.database, results, memory }, null, 2)}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
