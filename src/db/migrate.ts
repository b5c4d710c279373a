import path from 'node:path';
import fs from 'node:fs';
import type { Database } from './database';

/** The project root (holds package.json and migrations/), from either src/ or the compiled dist/src/. */
export function projectRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`package.json not found above ${__dirname}`);
    dir = parent;
  }
  return dir;
}

export const MIGRATIONS_DIR = path.join(projectRoot(), 'migrations');

/**
 * Applies every pending SQL migration in one transaction. node-pg-migrate takes an advisory lock, so
 * several instances starting at once against one Postgres apply each migration once.
 */
export async function migrate(db: Database, log: (message: string) => void = () => undefined): Promise<string[]> {
  if (await allApplied(db)) return [];
  // Loaded only when there is something to apply: a warm start does not pay for the migration runner.
  const { runner } = await import('node-pg-migrate');
  const client = await db.pool.connect();
  try {
    const applied = await runner({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      migrationsTable: 'pgmigrations',
      direction: 'up',
      count: Infinity,
      singleTransaction: true,
      checkOrder: true,
      log,
    });
    return applied.map((migration) => migration.name);
  } finally {
    client.release();
  }
}

/**
 * Whether every migration file is recorded as applied: the usual case at start, answered with one query
 * instead of the runner's lock and checks. Anything else (a new file, no table yet) goes through the runner,
 * which takes the lock and checks the order.
 */
async function allApplied(db: Database): Promise<boolean> {
  const files = fs.readdirSync(MIGRATIONS_DIR).filter((name) => name.endsWith('.sql')).map((name) => name.slice(0, -'.sql'.length));
  const { rows: table } = await db.query<{ present: boolean }>("SELECT to_regclass('pgmigrations') IS NOT NULL AS present");
  if (!table[0]?.present) return false;
  const { rows } = await db.query<{ name: string }>('SELECT name FROM pgmigrations');
  const applied = new Set(rows.map((row) => row.name));
  return files.every((name) => applied.has(name));
}
