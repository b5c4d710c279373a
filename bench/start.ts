/**
 * `npm run bench:start`: how long `npm start` takes on a warm install, from the command to the first 200 from
 * /readyz, and how much of it the build check costs. Prints JSON.
 *
 * A warm install: dependencies installed, the build current, the embedded database created and migrated. One
 * unmeasured start makes it so (it compiles if needed and migrates a fresh temporary data folder), then RUNS
 * measured starts follow. Each start runs in a process group of its own, stopped with SIGTERM once ready.
 * The machine's load average is printed beside the figures: on a busy machine wall-clock times stretch.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../src/db/migrate';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const TIMEOUT_MS = 120_000;

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function ready(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;
  } catch {
    return false;
  }
}

/** The embedded database is what a first install uses; a DATABASE_URL in the bench's environment would bypass it. */
function withoutDatabaseUrl(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { DATABASE_URL: _ignored, ...rest } = env;
  return rest;
}

/** One `npm start`: milliseconds from spawn to the first 200 from /readyz. */
async function startOnce(dataDir: string): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn('npm', ['start', '--silent'], {
    cwd: projectRoot(),
    env: { ...withoutDatabaseUrl(process.env), PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
    stdio: 'ignore',
    detached: true,
  });
  try {
    for (;;) {
      if (await ready(port)) return Math.round(performance.now() - started);
      if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode} before /readyz answered`);
      if (performance.now() - started > TIMEOUT_MS) throw new Error(`/readyz did not answer within ${TIMEOUT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    if (child.exitCode === null) process.kill(-child.pid!, 'SIGTERM');
    await exited;
  }
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ugs-bench-start-'));
  try {
    const coldMs = await startOnce(dataDir);
    const checkStarted = performance.now();
    const check = spawnSync(process.execPath, [path.join(projectRoot(), 'scripts', 'build-if-stale.js'), 'tsconfig.build.json'], { cwd: projectRoot() });
    const buildCheckMs = Math.round(performance.now() - checkStarted);
    if (check.status !== 0) throw new Error(`the build check failed: ${check.stderr.toString()}`);
    const warmMs: number[] = [];
    for (let i = 0; i < RUNS; i += 1) warmMs.push(await startOnce(dataDir));
    const sorted = [...warmMs].sort((a, b) => a - b);
    process.stdout.write(
      `${JSON.stringify(
        {
          bench: 'start',
          firstStartMs: coldMs,
          warmStartToReadyzMs: warmMs,
          warmMedianMs: sorted[Math.floor(sorted.length / 2)],
          buildCheckMs,
          cpus: os.cpus().length,
          loadAverage1m: Math.round(os.loadavg()[0]! * 100) / 100,
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
