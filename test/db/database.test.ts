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
});
