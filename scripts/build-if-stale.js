#!/usr/bin/env node
'use strict';
/**
 * `node scripts/build-if-stale.js <tsconfig>` compiles the project with `tsc -p <tsconfig>` only when its build
 * is out of date, so that `npm start` on a warm install starts at once instead of spending seconds in tsc
 * (even an incremental tsc re-reads every file; this reads only their modification times).
 *
 * The build is out of date when: there is no build info yet; the last compile reported errors or left files
 * un-emitted; a tsconfig, or any of the project's own files the last compile read, is newer than the build
 * info or gone; a compiled file's output is missing; or a .ts file under the tsconfig's include folders was not
 * part of the last compile (a new file). Plain JavaScript, because it runs before anything is compiled.
 */
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const tsconfigPath = path.resolve(root, process.argv[2] || 'tsconfig.build.json');

/** The tsconfig with its `extends` chain merged (compilerOptions merged, include from the nearest). */
function readTsconfig(file) {
  const own = JSON.parse(fs.readFileSync(file, 'utf8'));
  const files = [file];
  if (!own.extends) return { ...own, files };
  const base = readTsconfig(path.resolve(path.dirname(file), own.extends));
  return {
    include: own.include || base.include,
    compilerOptions: { ...base.compilerOptions, ...own.compilerOptions },
    files: [...base.files, ...files],
  };
}

function mtime(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return null;
  }
}

function tsFilesUnder(dir, out = []) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) tsFilesUnder(full, out);
    else if (entry.name.endsWith('.ts')) out.push(full);
  }
  return out;
}

const config = readTsconfig(tsconfigPath);
const options = config.compilerOptions || {};
const configDir = path.dirname(tsconfigPath);
const outDir = path.resolve(configDir, options.outDir || '.');
const rootDir = path.resolve(configDir, options.rootDir || '.');
const buildInfoPath = path.resolve(configDir, options.tsBuildInfoFile || path.join(outDir, 'tsconfig.tsbuildinfo'));

/** Diagnostics tsc kept in the build info: `[fileId, [diagnostic, …]]` entries. */
function hasDiagnostics(info) {
  return ['semanticDiagnosticsPerFile', 'syntacticDiagnosticsPerFile', 'emitDiagnosticsPerFile'].some((key) =>
    (info[key] || []).some((entry) => Array.isArray(entry) && Array.isArray(entry[1]) && entry[1].length > 0),
  );
}

/** Why the build is stale, or null when it is current. */
function staleness() {
  const built = mtime(buildInfoPath);
  if (built === null) return 'no build yet';
  let info;
  try {
    info = JSON.parse(fs.readFileSync(buildInfoPath, 'utf8'));
  } catch {
    return 'unreadable build info';
  }
  if (info.errors || (info.affectedFilesPendingEmit && info.affectedFilesPendingEmit.length) || hasDiagnostics(info)) {
    return 'the last compile reported errors or left files unwritten';
  }
  for (const file of config.files) if (mtime(file) > built) return `${path.relative(root, file)} changed`;
  const compiled = new Set();
  for (const name of info.fileNames || []) {
    const file = path.resolve(path.dirname(buildInfoPath), name);
    if (file.includes(`${path.sep}node_modules${path.sep}`)) continue;
    compiled.add(file);
    const changed = mtime(file);
    if (changed === null) return `${path.relative(root, file)} is gone`;
    if (changed > built) return `${path.relative(root, file)} changed`;
    if (!file.endsWith('.d.ts') && file.endsWith('.ts')) {
      const output = path.join(outDir, path.relative(rootDir, file)).replace(/\.ts$/, '.js');
      if (mtime(output) === null) {
        // An incremental tsc does not emit again what it believes it emitted: forget the build to emit it all.
        fs.rmSync(buildInfoPath, { force: true });
        return `${path.relative(root, output)} is missing`;
      }
    }
  }
  for (const dir of config.include || []) {
    for (const file of tsFilesUnder(path.resolve(configDir, dir))) if (!compiled.has(file)) return `${path.relative(root, file)} is new`;
  }
  return null;
}

const reason = staleness();
if (reason === null) process.exit(0);

process.stderr.write(`Compiling (${reason})…\n`);
const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
const started = new Date();
const result = spawnSync(process.execPath, [tsc, '-p', tsconfigPath], { stdio: 'inherit', cwd: root });
if (result.status !== 0) process.exit(result.status === null ? 1 : result.status);
// The build is as new as the sources tsc read, not as its end: a file saved while tsc ran counts as changed next
// time. (tsc also leaves the build info untouched when a file was merely saved again without a change.)
if (mtime(buildInfoPath) !== null) fs.utimesSync(buildInfoPath, started, started);
