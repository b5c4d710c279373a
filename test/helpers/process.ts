import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../../src/db/migrate';

/**
 * Runs the compiled app (dist/, built by `npm test` before jest starts) as a real child process.
 * Its environment is exactly what the test gives plus PATH: nothing leaks in from the developer's shell.
 */
export interface AppProcess {
  child: ChildProcess;
  url: Promise<string>;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function distPath(...segments: string[]): string {
  return path.join(projectRoot(), 'dist', ...segments);
}

const running = new Set<ChildProcess>();

/** SIGKILLs every child still running: call it in afterEach/afterAll so a failed test leaves no process behind. */
export async function killAllProcesses(): Promise<void> {
  const exits = [...running].map(
    (child) =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  );
  await Promise.all(exits);
}

export function spawnNode(script: string, args: string[], env: Record<string, string>): AppProcess {
  const child = spawn(process.execPath, [script, ...args], {
    cwd: projectRoot(),
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let resolveUrl: (url: string) => void;
  let rejectUrl: (error: Error) => void;
  const url = new Promise<string>((resolve, reject) => {
    resolveUrl = resolve;
    rejectUrl = reject;
  });
  url.catch(() => undefined);
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    const match = /"listen":"(http:\/\/[^"]+)"/.exec(out);
    if (match) resolveUrl(match[1]!);
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  running.add(child);
  const exit = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      running.delete(child);
      rejectUrl(new Error(`process exited with ${code} before listening:\n${err}`));
      resolve(code);
    });
  });
  return {
    child,
    url,
    stdout: () => out,
    stderr: () => err,
    exit,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exit;
    },
  };
}

export function spawnServer(env: Record<string, string>): AppProcess {
  return spawnNode(distPath('src', 'server.js'), [], { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env });
}

export async function runCliProcess(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawnNode(distPath('src', 'cli', 'index.js'), args, env);
  const code = await proc.exit;
  return { code, stdout: proc.stdout(), stderr: proc.stderr() };
}
