import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../../src/db/migrate';

/**
 * scripts/build-if-stale.js (run by `npm start` and `npm run sandbox`) on a tiny project of its own: it compiles
 * when there is no build, when a source changed, when a file is new or an output is missing, and otherwise
 * does nothing, so a warm start does not wait for tsc.
 */
describe('build-if-stale', () => {
  let dir: string;
  const script = path.join(projectRoot(), 'scripts', 'build-if-stale.js');
  const tsconfig = () => path.join(dir, 'tsconfig.json');

  /** Runs the check; returns why it compiled, or null when it found the build current. */
  function check(): string | null {
    const result = spawnSync(process.execPath, [script, tsconfig()], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`build-if-stale exited ${result.status}: ${result.stdout}${result.stderr}`);
    const reason = /Compiling \((.*)\)/.exec(result.stderr);
    return reason ? reason[1]! : null;
  }

  /** An edit after the last build: the build is dated a minute back (its inputs two), the file saved now. */
  const touchLater = (file: string) => {
    const older = new Date(Date.now() - 120_000);
    for (const input of [tsconfig(), path.join(dir, 'src', 'a.ts')]) fs.utimesSync(input, older, older);
    const earlier = new Date(Date.now() - 60_000);
    fs.utimesSync(path.join(dir, 'dist', '.tsbuildinfo'), earlier, earlier);
    const now = new Date();
    fs.utimesSync(file, now, now);
  };

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ugs-build-check-'));
    fs.mkdirSync(path.join(dir, 'src'));
    fs.writeFileSync(path.join(dir, 'src', 'a.ts'), 'export const a: number = 1;\n');
    fs.writeFileSync(
      tsconfig(),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'commonjs', strict: true, rootDir: '.', outDir: 'dist', types: [], incremental: true, tsBuildInfoFile: 'dist/.tsbuildinfo' },
        include: ['src'],
      }),
    );
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('compiles when there is no build, then finds the build current', () => {
    expect(check()).toBe('no build yet');
    expect(fs.existsSync(path.join(dir, 'dist', 'src', 'a.js'))).toBe(true);
    expect(check()).toBeNull();
  });

  it('compiles again after a source changes, and only once', () => {
    touchLater(path.join(dir, 'src', 'a.ts'));
    expect(check()).toMatch(/a\.ts changed$/);
    expect(check()).toBeNull();
  });

  it('compiles when a file is new or an output is missing', () => {
    fs.writeFileSync(path.join(dir, 'src', 'b.ts'), 'export const b = 2;\n');
    expect(check()).toMatch(/b\.ts is new$/);
    expect(fs.existsSync(path.join(dir, 'dist', 'src', 'b.js'))).toBe(true);
    fs.rmSync(path.join(dir, 'dist', 'src', 'a.js'));
    expect(check()).toMatch(/a\.js is missing$/);
    expect(fs.existsSync(path.join(dir, 'dist', 'src', 'a.js'))).toBe(true);
    expect(check()).toBeNull();
  });

  it('compiles when the tsconfig changes, and fails like tsc when the code does not compile', () => {
    touchLater(tsconfig());
    expect(check()).toMatch(/tsconfig\.json changed$/);
    fs.writeFileSync(path.join(dir, 'src', 'a.ts'), 'export const a: number = "one";\n');
    touchLater(path.join(dir, 'src', 'a.ts'));
    expect(() => check()).toThrow(/exited 2/);
    // The failed compile is remembered: the next start compiles (and fails) again instead of starting stale code.
    expect(() => check()).toThrow(/exited 2/);
  });
});
