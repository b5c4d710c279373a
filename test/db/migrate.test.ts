import fs from 'node:fs';
import { openDatabase, type Database } from '../../src/db/database';
import { MIGRATIONS_DIR, migrate } from '../../src/db/migrate';
import { createPostgresDatabase, usingPostgres } from '../helpers/database';

/**
 * A start over an up-to-date database answers "nothing to apply" from one query, without the migration runner;
 * an empty database still gets every migration, once, through the runner.
 */
describe(`migrate (${usingPostgres ? 'Postgres' : 'PGlite'})`, () => {
  let db: Database;
  let drop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    if (usingPostgres) {
      const created = await createPostgresDatabase();
      drop = created.drop;
      db = await openDatabase({ kind: 'postgres', url: created.url, poolMax: 2, ssl: false });
    } else {
      db = await openDatabase({ kind: 'pglite', dataDir: 'memory://' });
    }
  });

  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  const files = () => fs.readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql')).map((f) => f.replace(/\.sql$/, '')).sort();

  it('applies every migration to an empty database, then finds nothing to apply', async () => {
    expect(await migrate(db)).toEqual(files());
    const messages: string[] = [];
    expect(await migrate(db, (message) => messages.push(message))).toEqual([]);
    // The runner logs as it works; an up-to-date database never reached it.
    expect(messages).toEqual([]);
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM pgmigrations');
    expect(rows[0]!.n).toBe(files().length);
  });
});
