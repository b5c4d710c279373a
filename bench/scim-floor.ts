/**
 * The floor of `bench:scim`: a bare `node:http` handler that runs the same SQL as the SCIM app on the
 * same pool and answers the same JSON, with nothing else (no Express, no auth, no coercion, no logs).
 * What the app costs above this is what the app adds to the database's own work.
 *
 * The SQL here must stay the SQL the app issues: the bench records the statements both send for one
 * request of each scenario and prints whether they are the same (`sameSql`).
 */
import http from 'node:http';
import type pg from 'pg';
import { CREATE_USER_SQL, membershipChangeSql, UNKNOWN_MEMBERS_SQL } from '../src/directory/repository';

type Json = Record<string, unknown>;

interface UserRow {
  id: string;
  resource: Json;
  version: number;
  created_at: Date;
  updated_at: Date;
  groups?: { groupId: string; displayName: string }[];
}

const USER_COLUMNS =
  'u.id, u.connection_id, u.user_name, u.external_id, u.display_name, u.given_name, u.family_name, u.primary_email, u.active, u.resource, u.origin, u.version, u.created_at, u.updated_at';

/** GET /Users?filter=userName eq "…": a unique-key lookup, the user with its groups in one statement. */
export const FLOOR_GET_SQL = `SELECT p.*, (SELECT COALESCE(jsonb_agg(jsonb_build_object('groupId', g.id, 'displayName', g.display_name) ORDER BY lower(g.display_name), g.id), '[]'::jsonb)
    FROM directory_memberships m JOIN directory_groups g ON g.id = m.group_id WHERE m.user_id = p.id) AS groups FROM (SELECT ${USER_COLUMNS} FROM directory_users u WHERE u.connection_id = $1 AND ((lower(u.user_name) = lower($2))) LIMIT $3 OFFSET $4) p`;

/** POST /Users: the user and its outbox row in one statement (the repository's own text, as the PATCH's below). */
export const FLOOR_CREATE_USER_SQL = CREATE_USER_SQL;

const GROUP_COLUMNS = 'g.id, g.connection_id, g.display_name, g.external_id, g.resource, g.origin, g.version, g.created_at, g.updated_at';

export const FLOOR_PATCH_SQL = {
  lock: `SELECT ${GROUP_COLUMNS} FROM directory_groups g WHERE g.connection_id = $1 AND g.id = $2 FOR UPDATE`,
  unknown: UNKNOWN_MEMBERS_SQL,
  change: membershipChangeSql(false),
  reread: `SELECT ${GROUP_COLUMNS} FROM directory_groups g WHERE g.connection_id = $1 AND g.id = $2`,
};

function renderUser(row: UserRow, scimBaseUrl: string): Json {
  const { schemas, ...rest } = row.resource;
  const groups = row.groups && row.groups.length > 0
    ? { groups: row.groups.map((g) => ({ value: g.groupId, $ref: `${scimBaseUrl}/Groups/${g.groupId}`, display: g.displayName, type: 'direct' })) }
    : {};
  return {
    schemas,
    id: row.id,
    ...rest,
    ...groups,
    meta: {
      resourceType: 'User',
      created: row.created_at.toISOString(),
      lastModified: row.updated_at.toISOString(),
      location: `${scimBaseUrl}/Users/${row.id}`,
      version: `W/"${row.version}"`,
    },
  };
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function answer(res: http.ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  if (body === undefined) {
    res.writeHead(status, headers).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/scim+json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) }).end(text);
}

async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
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
}

/**
 * Serves `/floor/Users` (GET with a `userName eq` filter, POST) and `PATCH /floor/Groups/{id}` (add
 * members) for one connection, answering what the app answers for the same requests.
 */
export function createFloorServer(pool: pg.Pool, connectionId: string, scimBaseUrl: string, kind: 'postgres' | 'pglite' = 'postgres'): http.Server {
  return http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => answer(res, 500, { detail: String(error) }));
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://floor');
    if (req.method === 'GET' && url.pathname === '/floor/Users') {
      const userName = /^userName eq "(.*)"$/.exec(url.searchParams.get('filter') ?? '')?.[1] ?? '';
      const { rows } = await pool.query<UserRow>(FLOOR_GET_SQL, [connectionId, userName, 1000, 0]);
      answer(res, 200, {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'],
        totalResults: rows.length,
        startIndex: 1,
        itemsPerPage: rows.length,
        Resources: rows.map((r) => renderUser(r, scimBaseUrl)),
      });
      return;
    }
    if (req.method === 'POST' && url.pathname === '/floor/Users') {
      const body = JSON.parse(await readBody(req)) as Json;
      const name = (body.name ?? {}) as Json;
      const emails = (body.emails ?? []) as Json[];
      const email = (emails.find((e) => e.primary === true) ?? emails[0])?.value ?? null;
      const { rows } = await pool.query<UserRow>(FLOOR_CREATE_USER_SQL, [
        connectionId, body.userName, body.externalId ?? null, body.displayName ?? null, name.givenName ?? null, name.familyName ?? null, email, body.active !== false, JSON.stringify(body), 'push',
      ]);
      const row = rows[0]!;
      answer(res, 201, renderUser({ ...row, groups: [] }, scimBaseUrl), { ETag: `W/"${row.version}"`, Location: `${scimBaseUrl}/Users/${row.id}` });
      return;
    }
    const patch = /^\/floor\/Groups\/([0-9a-f-]{36})$/.exec(url.pathname);
    if (req.method === 'PATCH' && patch) {
      const groupId = patch[1]!;
      const body = JSON.parse(await readBody(req)) as { Operations: { value: { value: string }[] }[] };
      const ids = body.Operations[0]!.value.map((v) => v.value.toLowerCase());
      const version = await inTransaction(pool, async (client) => {
        const literal = `{${ids.join(',')}}`;
        await client.query(FLOOR_PATCH_SQL.lock, [connectionId, groupId]);
        await client.query(FLOOR_PATCH_SQL.unknown, [connectionId, literal]);
        // On the embedded database the app skips the foreign-key checks it has already made (repository.applyMembership).
        if (kind === 'pglite') await client.query("SET LOCAL session_replication_role = 'replica'");
        await client.query(FLOOR_PATCH_SQL.change, [connectionId, groupId, literal, '{}', 'push']);
        if (kind === 'pglite') await client.query("SET LOCAL session_replication_role = 'origin'");
        const { rows: group } = await client.query<{ version: number }>(FLOOR_PATCH_SQL.reread, [connectionId, groupId]);
        return group[0]!.version;
      });
      answer(res, 204, undefined, { ETag: `W/"${version}"` });
      return;
    }
    answer(res, 404, { detail: 'no such floor endpoint' });
  }
}
