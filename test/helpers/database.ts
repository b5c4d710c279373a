import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Config } from '../../src/config';
import { openDatabase, type Database } from '../../src/db/database';
import { migrate } from '../../src/db/migrate';

/**
 * Tests run against real Postgres when DATABASE_URL is set (CI does), each test file in a database of
 * its own that is dropped afterwards; otherwise against embedded PGlite in memory.
 */
export const usingPostgres = Boolean(process.env.DATABASE_URL);

export interface TestDatabase {
  db: Database;
  config: Config['database'];
  /** Empties every app table (keeps the schema): call between tests that share the database. */
  truncate(): Promise<void>;
  /** Closes the pool and drops the test database. */
  destroy(): Promise<void>;
}

/** A fresh, empty Postgres database on the DATABASE_URL server; returns its URL and a drop function. */
export async function createPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const adminUrl = process.env.DATABASE_URL!;
  const name = `ugs_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

export async function createTestDatabase(): Promise<TestDatabase> {
  let config: Config['database'];
  let drop = async () => undefined as void;
  if (usingPostgres) {
    const created = await createPostgresDatabase();
    config = { kind: 'postgres', url: created.url, poolMax: 5, ssl: false };
    drop = created.drop;
  } else {
    config = { kind: 'pglite', dataDir: 'memory://' };
  }
  const db = await openDatabase(config);
  await migrate(db);
  return {
    db,
    config,
    async truncate() {
      const { rows } = await db.query<{ tablename: string }>(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'pgmigrations'",
      );
      if (rows.length > 0) await db.query(`TRUNCATE ${rows.map((r) => `"${r.tablename}"`).join(', ')} RESTART IDENTITY CASCADE`);
    },
    async destroy() {
      await db.close();
      await drop();
    },
  };
}
