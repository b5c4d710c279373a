import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import lockfile from 'proper-lockfile';
import type { Config } from '../config';
import { currentParty, SessionTurns } from './turns';

/** Anything that can run a query: the database, its pool, or a client inside a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
}

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  readonly pool: pg.Pool;
  /** Runs `work` in one transaction on one client; commits when it resolves, rolls back when it throws. */
  transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export class DataDirLockedError extends Error {
  constructor(readonly dataDir: string) {
    super(
      `The embedded database in "${dataDir}" is in use by another process of this app. ` +
        'Stop that process, point DATA_DIR at another folder, or set DATABASE_URL to share a Postgres server between processes.',
    );
    this.name = 'DataDirLockedError';
  }
}

// Bigint counts come back as JS numbers; our counts stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/**
 * `turns`, when given, orders the calls that wait for the pool's one connection (the embedded database):
 * each call, query or whole transaction, takes a turn in the name of the party it is made for.
 */
function wrap(kind: Database['kind'], pool: pg.Pool, onClose: () => Promise<void>, turns?: SessionTurns): Database {
  let closed = false;
  const inTurn = <T>(work: () => Promise<T>): Promise<T> => (turns ? turns.run(currentParty(), work) : work());
  return {
    kind,
    pool,
    query: (text, params) => inTurn(() => pool.query(text, params)),
    transaction: (work) =>
      inTurn(async () => {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          const result = await work(client);
          await client.query('COMMIT');
          return result;
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw error;
        } finally {
          client.release();
        }
      }),
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
      await onClose();
    },
  };
}

/** How many distinct statements a Postgres connection keeps prepared; statements past it run unnamed. */
const MAX_PREPARED_STATEMENTS = 500;
const preparedNames = new Map<string, string>();

/** The prepared-statement name of a statement's text, or undefined once MAX_PREPARED_STATEMENTS are named. */
function preparedName(text: string): string | undefined {
  const known = preparedNames.get(text);
  if (known !== undefined || preparedNames.size >= MAX_PREPARED_STATEMENTS) return known;
  const name = `ugs_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
  preparedNames.set(text, name);
  return name;
}

/**
 * A Postgres client that sends every parameterised statement as a named prepared statement: Postgres
 * parses and plans it once per connection instead of on every call. That was most of a SCIM lookup's
 * database time (the statements are fixed texts with bind parameters; only their values vary). Texts
 * are named by their hash, so the same text always has the same name and different texts never share
 * one; after MAX_PREPARED_STATEMENTS distinct texts (dynamic filters can make many) the rest run
 * unnamed, which bounds what each connection holds.
 */
class PreparingClient extends pg.Client {
  override query(...args: unknown[]): never {
    const [first, values] = args;
    if (typeof first === 'string' && Array.isArray(values)) {
      const name = preparedName(first);
      if (name !== undefined) args = [{ name, text: first, values }, ...args.slice(2)];
    }
    return (super.query as (...a: unknown[]) => never)(...args);
  }
}

export interface OpenOptions {
  /** Called when the embedded database's folder lock is lost (another process may now write to it). */
  onLockCompromised?: (error: Error) => void;
}

export async function openDatabase(database: Config['database'], options: OpenOptions = {}): Promise<Database> {
  if (database.kind === 'postgres') {
    const pool = new pg.Pool({
      connectionString: database.url,
      max: database.poolMax,
      ssl: database.ssl ? { rejectUnauthorized: true } : undefined,
      application_name: 'user-group-sync',
      Client: database.preparedStatements === false ? pg.Client : PreparingClient,
    });
    // An idle client losing its connection must not crash the process; the next query reconnects.
    pool.on('error', () => undefined);
    return wrap('postgres', pool, async () => undefined);
  }
  return openEmbedded(database.dataDir, options);
}

async function openEmbedded(dataDir: string, options: OpenOptions): Promise<Database> {
  // Loaded lazily: a Postgres deployment never pays for the WASM build.
  const { PGlite } = await import('@electric-sql/pglite');
  const { createPgConfig, PglitePgConnection } = await import('@electric-sql/pglite/node-postgres');

  let releaseLock: () => Promise<void> = async () => undefined;
  let storage = dataDir;
  if (!dataDir.startsWith('memory://')) {
    const absolute = path.resolve(dataDir);
    fs.mkdirSync(absolute, { recursive: true });
    // PGlite has no lock between processes; two on one folder silently lose writes. Hold our own.
    try {
      releaseLock = await lockfile.lock(absolute, {
        lockfilePath: path.join(absolute, 'app.lock'),
        stale: 10_000,
        update: 2_000,
        retries: 0,
        realpath: false,
        onCompromised: (error) => options.onLockCompromised?.(error),
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ELOCKED') throw new DataDirLockedError(dataDir);
      throw error;
    }
    storage = path.join(absolute, 'pgdata');
  }

  try {
    const lite = await PGlite.create(storage);
    // createPgConfig shares ONE connection object between every client the pool makes. pg-pool destroys a
    // client whose query failed (pool.query releases it with the error), which ends that shared object,
    // and every later query then fails with "Connection terminated unexpectedly". Each client gets a
    // connection object of its own instead; they all speak to the same PGlite session.
    class EmbeddedClient extends pg.Client {
      constructor(options: pg.ClientConfig = {}) {
        super({ ...options, connection: new PglitePgConnection({ pglite: lite }) } as pg.ClientConfig);
      }
    }
    // pool size 1: PGlite is a single session; more clients would interleave transactions.
    const pool = new pg.Pool({ ...createPgConfig(lite), max: 1, Client: EmbeddedClient } as pg.PoolConfig);
    pool.on('error', () => undefined);
    // One session for every tenant: calls take turns by party (./turns), so one tenant's queue of large
    // requests does not stand between another tenant and the database.
    return wrap(
      'pglite',
      pool,
      async () => {
        await lite.close();
        await releaseLock();
      },
      new SessionTurns(),
    );
  } catch (error) {
    await releaseLock();
    throw error;
  }
}
