import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ENTERPRISE, GROUP_SCHEMA, PATCH_OP, ScimFixture, USER_SCHEMA, type ScimConnection } from './support';

/**
 * A bounded, seeded fuzz of the SCIM endpoint over real HTTP: a few thousand hostile requests (random
 * and wrong-typed bodies, broken JSON, prototype keys, huge values, odd filters, paths and headers) from
 * two tenants. Whatever it sends, the server must answer below 500, stay up, and leave the directory
 * consistent. FUZZ_SEED and FUZZ_REQUESTS reproduce or widen a run; a failure prints the seed and the
 * requests that broke it.
 */

jest.setTimeout(240_000);

const SEED = Number(process.env.FUZZ_SEED ?? 20261203);
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 2000);

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  constructor(readonly random: () => number) {}
  int(max: number): number {
    return Math.floor(this.random() * max);
  }
  chance(p: number): boolean {
    return this.random() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  string(maxLength = 40): string {
    const alphabet = 'abcXYZ019 _-.@"\\/[](){}:;,\'%&?=+*\u0000\u00e9\u4e2d\ud83d\ude00\n\t';
    const length = this.chance(0.05) ? 2000 + this.int(9000) : this.int(maxLength);
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet[this.int(alphabet.length)];
    return out;
  }
}

const PROTO_KEYS = ['__proto__', 'constructor', 'toString', 'prototype', 'hasOwnProperty', 'valueOf', '__defineGetter__'];
const ATTRIBUTES = ['userName', 'displayName', 'externalId', 'active', 'emails', 'emails.value', 'emails.type', 'name', 'name.givenName', 'name.familyName', 'members', 'members.value', 'groups', 'title', 'meta.created', 'meta.lastModified', 'id', 'phoneNumbers', 'addresses.locality', `${ENTERPRISE}:department`, `${ENTERPRISE}:manager`, 'nonsense', ...PROTO_KEYS];
const OPS = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le', 'pr', 'xx'];

function value(g: Gen, depth = 0): unknown {
  switch (g.int(depth > 2 ? 6 : 9)) {
    case 0:
      return g.string();
    case 1:
      return g.int(2) === 0 ? g.int(1e6) - 5e5 : g.random() * 1e300;
    case 2:
      return g.chance(0.5);
    case 3:
      return null;
    case 4:
      return g.pick(PROTO_KEYS);
    case 5:
      return '2026-12-03T08:00:00Z';
    case 6:
      return Array.from({ length: g.chance(0.1) ? 50 + g.int(200) : g.int(4) }, () => value(g, depth + 1));
    default: {
      const out: Record<string, unknown> = {};
      for (let i = g.int(5); i > 0; i--) out[g.chance(0.3) ? g.pick(PROTO_KEYS) : g.pick([...ATTRIBUTES, g.string(10)])] = value(g, depth + 1);
      return out;
    }
  }
}

function filter(g: Gen, ids: string[], depth = 0): string {
  const literal = () => g.pick([`"${g.string(20).replace(/["\\]/g, '')}"`, 'true', 'false', 'null', String(g.int(100)), '"2026-01-01T00:00:00Z"', `"${g.pick(ids)}"`]);
  switch (g.int(depth > 2 ? 3 : 7)) {
    case 0:
    case 1:
      return `${g.pick(ATTRIBUTES)} ${g.pick(OPS)}${g.chance(0.1) ? '' : ` ${literal()}`}`;
    case 2:
      return g.string(30);
    case 3:
      return `(${filter(g, ids, depth + 1)}) ${g.pick(['and', 'or', 'AND'])} ${filter(g, ids, depth + 1)}`;
    case 4:
      return `not (${filter(g, ids, depth + 1)})`;
    case 5:
      return `${g.pick(['emails', 'members', 'groups', 'addresses', ...PROTO_KEYS])}[${filter(g, ids, depth + 1)}]${g.chance(0.5) ? `.${g.pick(['value', 'type', '__proto__'])} ${g.pick(OPS)} ${literal()}` : ''}`;
    default:
      return `${g.pick(ATTRIBUTES)}[value eq "${g.pick(ids)}"]`;
  }
}

function user(g: Gen, ids: string[]): unknown {
  const body: Record<string, unknown> = { schemas: g.chance(0.9) ? [USER_SCHEMA] : value(g), userName: g.chance(0.8) ? `fuzz-${g.int(400)}` : value(g) };
  if (g.chance(0.5)) body.emails = Array.from({ length: g.chance(0.05) ? 90 + g.int(30) : g.int(3) }, (_, i) => (g.chance(0.9) ? { value: `f${i}-${g.int(1000)}@x.io`, primary: g.chance(0.3), type: g.pick(['work', 'home', 7]) } : value(g)));
  if (g.chance(0.4)) body.name = g.chance(0.8) ? { givenName: g.string(), familyName: value(g) } : value(g);
  if (g.chance(0.3)) body.active = g.pick([true, false, 'True', 'no', 1, null]);
  if (g.chance(0.2)) body[ENTERPRISE] = { department: value(g), manager: g.chance(0.5) ? { value: g.pick(ids) } : value(g) };
  if (g.chance(0.2)) body.groups = [{ value: g.pick(ids) }];
  for (let i = g.int(3); i > 0; i--) body[g.pick([...PROTO_KEYS, ...ATTRIBUTES])] = value(g);
  return body;
}

function group(g: Gen, ids: string[]): unknown {
  const body: Record<string, unknown> = { schemas: [GROUP_SCHEMA], displayName: g.chance(0.85) ? `fuzz-group-${g.int(60)}` : value(g) };
  if (g.chance(0.6)) body.members = Array.from({ length: g.int(6) }, () => (g.chance(0.85) ? { value: g.pick(ids), display: g.string(8) } : value(g)));
  if (g.chance(0.2)) body[g.pick(PROTO_KEYS)] = value(g);
  return body;
}

function patchBody(g: Gen, ids: string[]): unknown {
  const operations = Array.from({ length: g.chance(0.05) ? 200 + g.int(1000) : 1 + g.int(4) }, () => {
    const op: Record<string, unknown> = { op: g.pick(['add', 'Add', 'replace', 'remove', 'Remove', 'move', 7]) };
    const path = g.pick([
      'members',
      `members[value eq "${g.pick(ids)}"]`,
      `members[${filter(g, ids, 2)}]`,
      'displayName',
      'userName',
      'emails',
      'emails[type eq "work"].value',
      'name.givenName',
      'active',
      `${ENTERPRISE}:department`,
      `${ENTERPRISE}:manager`,
      ENTERPRISE,
      ...PROTO_KEYS,
      g.string(20),
      undefined,
    ]);
    if (path !== undefined) op.path = path;
    if (g.chance(0.85)) op.value = g.pick([() => value(g), () => [{ value: g.pick(ids) }], () => g.string(), () => ({ displayName: g.string(12) }), () => ({ [g.pick(PROTO_KEYS)]: value(g) })])();
    return op;
  });
  return { schemas: g.chance(0.9) ? [PATCH_OP] : value(g), Operations: g.chance(0.95) ? operations : value(g) };
}

/** JSON text that may carry a literal "__proto__" key, broken syntax, or deep nesting. */
function serialise(g: Gen, body: unknown): string {
  const text = JSON.stringify(body) ?? 'null';
  switch (g.int(20)) {
    case 0:
      return text.slice(0, g.int(text.length));
    case 1:
      return `{"__proto__": {"admin": true, "userName": "x"}, "schemas": ["${USER_SCHEMA}"], "userName": "proto-${g.int(50)}"}`;
    case 2:
      return `${'['.repeat(5000)}${']'.repeat(5000)}`;
    case 3:
      return `{"constructor": {"prototype": {"polluted": true}}, "displayName": "c-${g.int(50)}", "userName": "c-${g.int(50)}"}`;
    default:
      return text;
  }
}

/** A path segment from any string: lone surrogates (which the generator makes on purpose) become U+FFFD. */
const segment = (text: string) => encodeURIComponent(text.replace(/[\ud800-\udfff]/g, '\ufffd'));

interface Answer {
  method: string;
  path: string;
  status: number;
  body: string;
}

describe(`SCIM fuzz (seed ${SEED}, ${REQUESTS} requests)`, () => {
  let f: ScimFixture;
  let a: ScimConnection;
  let b: ScimConnection;
  let server: http.Server;
  let port: number;

  beforeAll(async () => {
    f = await ScimFixture.start({ SCIM_UNAUTHENTICATED_PER_SECOND: '50', SCIM_UNAUTHENTICATED_BURST: '200', LOG_LEVEL: 'silent' });
    a = await f.connection({ clientKey: 'fuzz-a' });
    b = await f.connection({ clientKey: 'fuzz-b' });
    server = http.createServer(f.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await f.stop();
  });

  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  afterAll(() => agent.destroy());

  function send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers: { ...headers, ...(body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ method, path, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8').slice(0, 300) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  it('answers every hostile request below 500, stays up, and leaves the directory consistent', async () => {
    const g = new Gen(prng(SEED));
    // A few real users and groups in both tenants, so that ids in bodies and filters sometimes hit.
    const ids: string[] = ['00000000-0000-4000-8000-000000000000', 'not-a-uuid', '', '__proto__'];
    for (const c of [a, b]) {
      for (let i = 0; i < 8; i++) ids.push(String((await f.createUser(c, `seed-${i}`)).id));
      ids.push(String((await f.createGroup(c, 'seed-group', ids.slice(-3))).id));
    }
    const tokens = [a.token, a.token, a.token, b.token, 'wrong', ''];
    const failures: Answer[] = [];
    let closedEarlyCount = 0;
    const slow: { ms: number; method: string; path: string; status: number; body?: string }[] = [];
    const statuses = new Map<number, number>();

    for (let i = 0; i < REQUESTS; i++) {
      const c = g.chance(0.8) ? a : b;
      const kind = g.pick(['Users', 'Groups', 'Users', 'Groups', 'ServiceProviderConfig', 'Schemas', 'ResourceTypes', 'Bulk', 'Me', segment(g.string(12))]);
      const tail = g.pick(['', '', `/${segment(g.pick(ids))}`, `/${segment(g.pick(ids))}`, '/.search', `/${segment(g.pick(PROTO_KEYS))}`, `/${segment(g.string(10))}`, '/%E0%A4%A', '/..%2f..%2fetc']);
      const method = g.pick(['GET', 'GET', 'POST', 'PUT', 'PATCH', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD']);
      const query = new URLSearchParams();
      if (g.chance(0.4)) query.append('filter', filter(g, ids));
      if (g.chance(0.15)) query.append(g.pick(['sortBy', 'sortby']), g.pick([...ATTRIBUTES, g.string(10)]));
      if (g.chance(0.1)) query.append('sortOrder', g.pick(['ascending', 'descending', 'sideways', '']));
      if (g.chance(0.2)) query.append('count', g.pick(['0', '-1', '1', '1000', '99999999999', 'abc', '1e3', ' 5 ']));
      if (g.chance(0.1)) query.append('count', '2');
      if (g.chance(0.15)) query.append('startIndex', g.pick(['0', '-5', '2', '1000000', 'x', '9007199254740993']));
      if (g.chance(0.15)) query.append(g.pick(['attributes', 'excludedAttributes']), g.pick([...ATTRIBUTES, ATTRIBUTES.join(','), g.string(20)]));
      const qs = query.toString();
      const path = `/scim/v2/${g.chance(0.97) ? c.id : segment(g.pick(ids))}/${kind}${tail}${qs ? `?${qs}` : ''}`;

      const headers: Record<string, string> = {};
      const token = g.chance(0.85) ? (c === a ? a.token : b.token) : g.pick(tokens);
      if (g.chance(0.97)) headers.Authorization = g.pick([`Bearer ${token}`, `bearer ${token}`, `Basic ${token}`, `Bearer ${token} extra`]);
      if (g.chance(0.8)) headers['Content-Type'] = g.pick(['application/scim+json', 'application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'multipart/form-data; boundary=x']);
      if (g.chance(0.05)) headers['If-Match'] = g.pick(['*', 'W/"1"', '"x"', g.string(20).replace(/[^\x20-\x7e]/g, '')]);
      if (g.chance(0.05)) headers['If-None-Match'] = 'W/"1"';
      if (g.chance(0.05)) headers['X-Request-Id'] = g.string(30).replace(/[^\x20-\x7e]/g, '');
      if (g.chance(0.05)) headers['X-Forwarded-For'] = g.pick(['127.0.0.1', '::1', '10.0.0.1, 127.0.0.1']);

      let body: string | undefined;
      if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
        const shape = method === 'PATCH' ? patchBody(g, ids) : kind === 'Groups' ? group(g, ids) : kind === 'Users' ? user(g, ids) : value(g);
        body = serialise(g, shape);
      } else if (g.chance(0.05)) body = serialise(g, value(g));

      const t0 = performance.now();
      const answer = await send(method, path, headers, body).catch((error: Error) => ({ method, path, status: 0, body: `${error.message} (body ${body?.length ?? 0} bytes: ${body?.slice(0, 200)})` }));
      if (process.env.FUZZ_TRACE) slow.push({ ms: performance.now() - t0, method, path: path.slice(0, 200), status: answer.status, body: body?.slice(0, 300) });
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      // 501 is the designed answer of /Bulk and /Me (RFC 7644 §3.7, §3.11): not a failure.
      const designed = answer.status === 501 && /^(Bulk|Me)$/.test(kind);
      // A server may answer (413, 404, 415…) before a large body has arrived and close the connection
      // (RFC 9112 §9.6); a client still writing then sees a reset instead of the answer. Not a failure if
      // the server is still there for the next request.
      const closedEarly = answer.status === 0 && /ECONNRESET|EPIPE/.test(answer.body) && (body?.length ?? 0) > 64 * 1024;
      if (closedEarly) closedEarlyCount++;
      if ((answer.status >= 500 && !designed) || (answer.status === 0 && !closedEarly)) failures.push(answer);
    }

    if (process.env.FUZZ_TRACE) process.stderr.write(`${JSON.stringify({ failures: failures.slice(0, 10), slow: slow.sort((x, y) => y.ms - x.ms).slice(0, 8) }, null, 1)}\n`);
    // Nothing broke, and something of everything was tried.
    expect({ seed: SEED, failures: failures.slice(0, 10), count: failures.length }).toEqual({ seed: SEED, failures: [], count: 0 });
    expect([...statuses.keys()]).toEqual(expect.arrayContaining([200, 201, 400, 401, 404]));

    // The server is up (also after the connections it closed early).
    expect(closedEarlyCount).toBeLessThan(REQUESTS / 50);
    expect((await send('GET', `/scim/v2/${a.id}/ServiceProviderConfig`, { Authorization: `Bearer ${a.token}` })).status).toBe(200);

    // Every membership joins a user and a group of its own connection.
    const { rows: strays } = await f.t.db.query(
      `SELECT m.* FROM directory_memberships m
         LEFT JOIN directory_users u ON u.id = m.user_id AND u.connection_id = m.connection_id
         LEFT JOIN directory_groups g ON g.id = m.group_id AND g.connection_id = m.connection_id
        WHERE u.id IS NULL OR g.id IS NULL`,
    );
    expect(strays).toEqual([]);

    // What SCIM says is what the tables hold, for both tenants; nothing of Object.prototype was polluted.
    for (const c of [a, b]) {
      const counts = (await f.t.db.query<{ users: number; groups: number }>(
        'SELECT (SELECT count(*) FROM directory_users WHERE connection_id = $1) AS users, (SELECT count(*) FROM directory_groups WHERE connection_id = $1) AS groups',
        [c.id],
      )).rows[0]!;
      const users = JSON.parse((await send('GET', `/scim/v2/${c.id}/Users?count=0`, { Authorization: `Bearer ${c.token}` })).body) as { totalResults: number };
      expect(users.totalResults).toBe(counts.users);
      const groups = await f.call(c, 'get', '/Groups?count=1000');
      expect(groups.body.totalResults).toBe(counts.groups);
      for (const grp of groups.body.Resources as { id: string; members?: unknown[] }[]) {
        const n = (await f.t.db.query<{ n: number }>('SELECT count(*) AS n FROM directory_memberships WHERE group_id = $1', [grp.id])).rows[0]!.n;
        expect({ group: grp.id, members: (grp.members ?? []).length }).toEqual({ group: grp.id, members: n });
      }
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });
});
