import path from 'node:path';
import fs from 'node:fs';
import { runner } from 'node-pg-migrate';
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
