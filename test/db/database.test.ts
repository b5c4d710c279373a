import { openDatabase } from '../../src/db/database';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../helpers/database';

describe(`database layer (${usingPostgres ? 'Postgres' : 'PGlite'})`, () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => {
    await t.destroy();
  });

  it('applies the migrations and reports what it runs on', async () => {
    expect(t.db.kind).toBe(usingPostgres ? 'postgres' : 'pglite');
    const { rows } = await t.db.query<{ name: string }>('SELECT name FROM pgmigrations ORDER BY id');
    expect(rows.map((r) => r.name)).toEqual(expect.arrayContaining(['001_foundation', '002_directory']));
  });

  it('commits a transaction that resolves and rolls back one that throws', async () => {
    await t.db.transaction(async (client) => {
      await client.query("INSERT INTO connect_store (client_key, key, value) VALUES ('a', 'kept', '1')");
    });
    await expect(
      t.db.transaction(async (client) => {
        await client.query("INSERT INTO connect_store (client_key, key, value) VALUES ('a', 'lost', '1')");
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const { rows } = await t.db.query<{ key: string }>("SELECT key FROM connect_store WHERE client_key = 'a' ORDER BY key");
    expect(rows.map((r) => r.key)).toEqual(['kept']);
  });

  it('keeps working after failed queries, inside and outside transactions', async () => {
    await t.db.query("INSERT INTO connect_store (client_key, key, value) VALUES ($1, $2, '1')", ['dup', 'k']);
    await expect(
      t.db.query("INSERT INTO connect_store (client_key, key, value) VALUES ($1, $2, '1')", ['dup', 'k']),
    ).rejects.toThrow(/duplicate key/);
    await expect(t.db.query('SELECT $1::int AS n', ['not a number'])).rejects.toThrow();
    await expect(
      t.db.transaction(async (client) => {
        await client.query("INSERT INTO connect_store (client_key, key, value) VALUES ($1, $2, '1')", ['dup', 'k']);
      }),
    ).rejects.toThrow(/duplicate key/);
    await expect(t.db.pool.query('SELECT $1::int AS n', ['still not'])).rejects.toThrow();
    const { rows } = await t.db.query<{ n: number }>('SELECT count(*) AS n FROM connect_store WHERE client_key = $1', ['dup']);
    expect(rows[0]!.n).toBe(1);
  });

  it('returns bigint counts as numbers', async () => {
    const { rows } = await t.db.query<{ n: number }>('SELECT count(*) AS n FROM tenants');
    expect(rows[0]!.n).toBe(0);
  });
  // Postgres only: PGlite runs every statement in-process, with no parse/plan round trip to save.
  (usingPostgres ? it : it.skip)('prepares each parameterised statement once per connection, and at most 500 of them', async () => {
    // One client outside a transaction (a failed statement must not abort the ones after it).
    const client = await t.db.pool.connect();
    try {
      const text = 'SELECT $1::int + 1 AS n';
      expect((await client.query<{ n: number }>(text, [1])).rows[0]!.n).toBe(2);
      expect((await client.query<{ n: number }>(text, [41])).rows[0]!.n).toBe(42);
      const prepared = async () => (await client.query<{ name: string; statement: string }>('SELECT name, statement FROM pg_prepared_statements')).rows;
      expect((await prepared()).filter((p) => p.statement === text)).toEqual([{ name: expect.stringMatching(/^ugs_[0-9a-f]{24}$/), statement: text }]);

      // A statement that fails to parse is not kept: it fails the same way again, and others still run.
      await expect(client.query('SELEC $1::int', [1])).rejects.toThrow(/syntax error/);
      await expect(client.query('SELEC $1::int', [1])).rejects.toThrow(/syntax error/);
      expect((await client.query<{ n: number }>(text, [2])).rows[0]!.n).toBe(3);

      // Dynamic texts (filters) cannot fill a connection with prepared statements: past 500, they run unnamed.
      for (let i = 0; i < 520; i++) expect((await client.query<{ n: number }>(`SELECT $1::int + ${i} AS n`, [1])).rows[0]!.n).toBe(1 + i);
      const named = (await prepared()).filter((p) => p.name.startsWith('ugs_'));
      expect(named.length).toBeLessThanOrEqual(500);
      expect(named.map((p) => p.statement)).not.toContain('SELECT $1::int + 519 AS n');
    } finally {
      client.release();
    }
  });
  (usingPostgres ? it : it.skip)('sends statements unnamed when DATABASE_PREPARED_STATEMENTS is off (poolers that cannot carry them)', async () => {
    const plain = await openDatabase({ ...(t.config as Extract<typeof t.config, { kind: 'postgres' }>), poolMax: 1, preparedStatements: false });
    try {
      expect((await plain.query<{ n: number }>('SELECT $1::int * 2 AS n', [21])).rows[0]!.n).toBe(42);
      const { rows } = await plain.query<{ n: number }>("SELECT count(*) AS n FROM pg_prepared_statements WHERE name LIKE 'ugs_%'");
      expect(rows[0]!.n).toBe(0);
    } finally {
      await plain.close();
    }
  });
});
