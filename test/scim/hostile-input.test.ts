import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { SCIM_LIMITS } from '../../src/scim/limits';
import { ERROR_SCHEMA, GROUP_SCHEMA, LIST_RESPONSE, ScimFixture, USER_SCHEMA, patch, type ScimConnection } from './support';

/**
 * Input that used to stall every tenant or answer 500 (issue: "one request stalls every tenant", "500s
 * from input"): oversized values, huge PATCHes and pages, prototype keys in filters, slow bodies and
 * floods without a token. Each answer is a SCIM error a client can act on, never a 500.
 */

jest.setTimeout(180_000);

let f: ScimFixture;
let c: ScimConnection;

beforeAll(async () => {
  // The ceilings themselves, on either database (the embedded database's lower defaults: database-limits.test.ts).
  f = await ScimFixture.start({ SCIM_MAX_PAGE_BYTES: String(1024 * 1024), SCIM_MAX_MEMBERS: String(SCIM_LIMITS.maxMembers) });
  c = await f.connection({ clientKey: 'tenant-hostile' });
});

afterAll(async () => {
  await f.stop();
});

function expectScimError(res: { status: number; body: Record<string, unknown> }, status: number, scimType?: string): void {
  expect({ status: res.status, schemas: res.body.schemas, scimType: res.body.scimType }).toEqual({ status, schemas: [ERROR_SCHEMA], scimType });
}

/** Users written straight to the table (as data stored before the limits existed would be), in one statement. */
async function seedUsers(connectionId: string, prefix: string, count: number, emailsEach: number): Promise<void> {
  await f.t.db.query(
    `INSERT INTO directory_users (connection_id, user_name, primary_email, active, resource)
     SELECT $1, $2 || n, $2 || n || '@example.test', true,
            jsonb_build_object('schemas', jsonb_build_array($3::text), 'userName', $2 || n,
              'emails', (SELECT jsonb_agg(jsonb_build_object('value', 'e' || k || '.' || $2 || n || '@example.test', 'type', 'other')) FROM generate_series(1, $4) k))
       FROM generate_series(1, $5) n`,
    [connectionId, prefix, USER_SCHEMA, emailsEach, count],
  );
}

describe('attribute lengths (an ~8 KB userName used to hit the btree row limit: 500)', () => {
  it('refuses an 8 KB userName with 400 invalidValue, on POST, PUT and PATCH', async () => {
    const huge = 'u'.repeat(8 * 1024);
    expectScimError(await f.call(c, 'post', '/Users', { schemas: [USER_SCHEMA], userName: huge }), 400, 'invalidValue');
    const user = await f.createUser(c, 'length-check');
    expectScimError(await f.call(c, 'put', `/Users/${user.id}`, { schemas: [USER_SCHEMA], userName: huge }), 400, 'invalidValue');
    expectScimError(await f.call(c, 'patch', `/Users/${user.id}`, patch({ op: 'replace', path: 'userName', value: huge })), 400, 'invalidValue');
    // Multi-byte characters: 8 KB of them is far past the index limit in bytes.
    expectScimError(await f.call(c, 'post', '/Users', { schemas: [USER_SCHEMA], userName: 'ü'.repeat(3000) }), 400, 'invalidValue');
  });

  it('accepts identifiers up to the advertised length and refuses one character more', async () => {
    const max = SCIM_LIMITS.maxIdentifierLength;
    const ok = await f.call(c, 'post', '/Users', { schemas: [USER_SCHEMA], userName: `${'a'.repeat(max - 2)}ok`, externalId: 'x'.repeat(max), emails: [{ value: `${'m'.repeat(max - 13)}@example.test` }] });
    expect(ok.status).toBe(201);
    expectScimError(await f.call(c, 'post', '/Users', { schemas: [USER_SCHEMA], userName: 'b'.repeat(max + 1) }), 400, 'invalidValue');
    expectScimError(await f.call(c, 'post', '/Users', { schemas: [USER_SCHEMA], userName: 'ext', externalId: 'x'.repeat(max + 1) }), 400, 'invalidValue');
    expectScimError(await f.call(c, 'post', '/Users', { schemas: [USER_SCHEMA], userName: 'mail', emails: [{ value: 'm'.repeat(max + 1) }] }), 400, 'invalidValue');
    expectScimError(await f.call(c, 'post', '/Groups', { schemas: [GROUP_SCHEMA], displayName: 'g'.repeat(max + 1) }), 400, 'invalidValue');
    expectScimError(await f.call(c, 'post', '/Users', { schemas: [USER_SCHEMA], userName: 'title', title: 't'.repeat(SCIM_LIMITS.maxStringLength + 1) }), 400, 'invalidValue');
  });
});

describe('values per multi-valued attribute (a user with 24,000 emails used to be accepted)', () => {
  it('refuses 24,000 emails with 400 tooMany', async () => {
    const emails = Array.from({ length: 24_000 }, (_, i) => ({ value: `m${i}@x.io` }));
    const body = JSON.stringify({ schemas: [USER_SCHEMA], userName: 'many-mails', emails });
    expect(body.length).toBeLessThan(1024 * 1024);
    expectScimError(await f.call(c, 'post', '/Users', body), 400, 'tooMany');
    expect((await f.call(c, 'get', `/Users?filter=${encodeURIComponent('userName eq "many-mails"')}`)).body.totalResults).toBe(0);
  });

  it('accepts maxValues values and refuses one more, also when a PATCH adds them', async () => {
    const emails = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ value: `${tag}${i}@example.test` }));
    const user = await f.createUser(c, 'hundred-mails', { emails: emails(SCIM_LIMITS.maxValues, 'a') });
    expectScimError(await f.call(c, 'post', '/Users', { schemas: [USER_SCHEMA], userName: 'too-many', emails: emails(SCIM_LIMITS.maxValues + 1, 'b') }), 400, 'tooMany');
    expectScimError(await f.call(c, 'patch', `/Users/${user.id}`, patch({ op: 'add', path: 'emails', value: emails(1, 'c') })), 400, 'tooMany');
  });

  it('refuses a PATCH with more than maxOperations operations, before applying any', async () => {
    const user = await f.createUser(c, 'ops-check');
    const ops = Array.from({ length: SCIM_LIMITS.maxOperations + 1 }, (_, i) => ({ op: 'replace', path: 'displayName', value: `n${i}` }));
    expectScimError(await f.call(c, 'patch', `/Users/${user.id}`, patch(...ops)), 400, 'tooMany');
    expect((await f.call(c, 'get', `/Users/${user.id}`)).body.displayName).toBeUndefined();
  });

  it('advertises the limits in /ServiceProviderConfig', async () => {
    const res = await f.call(c, 'get', '/ServiceProviderConfig');
    expect(res.body.patch).toEqual({ supported: true, maxOperations: SCIM_LIMITS.maxOperations });
  });
});

describe('group membership PATCHes (a 1 MB PATCH of ~12,000 member removes on an 8,000-member group took 14 s)', () => {
  let groupId: string;
  let members: string[];

  beforeAll(async () => {
    await seedUsers(c.id, 'member', 8000, 1);
    const { rows } = await f.t.db.query<{ id: string }>(`SELECT id FROM directory_users WHERE connection_id = $1 AND user_name LIKE 'member%' ORDER BY user_name`, [c.id]);
    members = rows.map((r) => r.id);
    const group = await f.createGroup(c, 'eight-thousand');
    groupId = String(group.id);
    await f.t.db.query(`INSERT INTO directory_memberships (group_id, user_id, connection_id) SELECT $2, unnest($3::uuid[]), $1`, [c.id, groupId, members]);
  });

  const memberCount = async () => (await f.t.db.query<{ n: number }>('SELECT count(*) AS n FROM directory_memberships WHERE group_id = $1', [groupId])).rows[0]!.n;

  it('refuses the 1 MB PATCH of 12,000 single-member removes with 400 tooMany, leaving the group as it was', async () => {
    const ops = Array.from({ length: 12_000 }, (_, i) => ({ op: 'remove', path: `members[value eq "${members[i % members.length]}"]` }));
    const body = JSON.stringify(patch(...ops));
    expect(body.length).toBeGreaterThan(900_000);
    expectScimError(await f.call(c, 'patch', `/Groups/${groupId}`, body), 400, 'tooMany');
    expect(await memberCount()).toBe(8000);
  });

  it('applies the largest accepted PATCHes as one change: 1,000 removes by filter, then 7,000 removes by value', async () => {
    const before = (await f.changes(c.id)).length;
    const byFilter = members.slice(0, 1000).map((id) => ({ op: 'remove', path: `members[value eq "${id}"]` }));
    expect((await f.call(c, 'patch', `/Groups/${groupId}`, patch(...byFilter))).status).toBe(204);
    expect(await memberCount()).toBe(7000);
    const byValue = { op: 'remove', path: 'members', value: members.slice(1000).map((value) => ({ value })) };
    expect((await f.call(c, 'patch', `/Groups/${groupId}`, patch(byValue))).status).toBe(204);
    expect(await memberCount()).toBe(0);
    const changes = (await f.changes(c.id)).slice(before);
    expect(changes).toHaveLength(8000);
    expect(new Set(changes.map((ch) => `${ch.entity}:${ch.action}:${ch.entity_id}`))).toEqual(new Set([`membership:removed:${groupId}`]));
    expect(new Set(changes.map((ch) => ch.member_id)).size).toBe(8000);
  });

  it('folds operations in order: a later operation on a member wins, replace starts over, unknown ids refuse the whole PATCH', async () => {
    const [a, b, d, e] = members as [string, string, string, string];
    const res = await f.call(
      c,
      'patch',
      `/Groups/${groupId}`,
      patch(
        { op: 'add', path: 'members', value: [{ value: a }, { value: b }] },
        { op: 'remove', path: `members[value eq "${a}"]` },
        { op: 'add', path: 'members', value: [{ value: d }] },
        { op: 'remove', path: 'members', value: [{ value: d }] },
        { op: 'add', path: 'members', value: [{ value: a }] },
      ),
    );
    expect(res.status).toBe(204);
    const current = async () => (await f.t.db.query<{ user_id: string }>('SELECT user_id FROM directory_memberships WHERE group_id = $1 ORDER BY user_id', [groupId])).rows.map((r) => r.user_id);
    expect(await current()).toEqual([a, b].sort());
    expect((await f.call(c, 'patch', `/Groups/${groupId}`, patch({ op: 'replace', path: 'members', value: [{ value: e }] }, { op: 'add', path: 'members', value: [{ value: d }] }))).status).toBe(204);
    expect(await current()).toEqual([d, e].sort());
    const stranger = '00000000-0000-4000-8000-000000000001';
    expectScimError(await f.call(c, 'patch', `/Groups/${groupId}`, patch({ op: 'add', path: 'members', value: [{ value: stranger }] }, { op: 'remove', path: `members[value eq "${stranger}"]` }, { op: 'remove', path: 'members' })), 400, 'invalidValue');
    expect(await current()).toEqual([d, e].sort());
    expect((await f.call(c, 'patch', `/Groups/${groupId}`, patch({ op: 'remove', path: 'members' }))).status).toBe(204);
    expect(await current()).toEqual([]);
  });

  it('refuses more than maxMembers member values in one request', async () => {
    const value = Array.from({ length: SCIM_LIMITS.maxMembers + 1 }, () => ({ value: members[0] }));
    expectScimError(await f.call(c, 'patch', `/Groups/${groupId}`, patch({ op: 'add', path: 'members', value })), 400, 'tooMany');
    expectScimError(await f.call(c, 'post', '/Groups', { schemas: [GROUP_SCHEMA], displayName: 'too-big', members: value }), 400, 'tooMany');
  });
});

describe('list answers bounded by bytes (GET /Users?count=1000 of 24,000-email users answered 110 MB)', () => {
  it('stops a page at SCIM_MAX_PAGE_BYTES, keeps totalResults truthful, and lets the client page on to every user', async () => {
    const other = await f.connection({ clientKey: 'tenant-hostile', name: 'bulky' });
    // 24 users of ~140 KB each (2,400 emails): over 3 MB in all, three times the 1 MB cap of this fixture.
    await seedUsers(other.id, 'bulky', 24, 2400);
    const seen = new Set<string>();
    let startIndex = 1;
    let pages = 0;
    for (;;) {
      const res = await f.call(other, 'get', `/Users?count=1000&startIndex=${startIndex}`);
      expect(res.status).toBe(200);
      expect(res.body.schemas).toEqual([LIST_RESPONSE]);
      expect(res.body.totalResults).toBe(24);
      expect(res.body.itemsPerPage).toBe((res.body.Resources as unknown[]).length);
      expect(res.body.itemsPerPage).toBeLessThan(24);
      expect(res.text.length).toBeLessThan(1024 * 1024 + 300 * 1024);
      for (const r of res.body.Resources as { id: string }[]) seen.add(r.id);
      pages++;
      if (startIndex - 1 + Number(res.body.itemsPerPage) >= 24) break;
      expect(res.body.itemsPerPage).toBeGreaterThan(0);
      startIndex += Number(res.body.itemsPerPage);
    }
    expect(seen.size).toBe(24);
    expect(pages).toBeGreaterThanOrEqual(3);
  });
});

describe('a sorted search across resource types (POST /.search with sortBy)', () => {
  it('stops at SCIM_MAX_PAGE_BYTES too, in order, and refuses a page it cannot compute instead of holding every row', async () => {
    const other = await f.connection({ clientKey: 'tenant-hostile', name: 'bulky-root' });
    await seedUsers(other.id, 'root', 24, 2400);
    const search = (startIndex: number) =>
      f.call(other, 'post', '/.search', { schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'], sortBy: 'userName', startIndex, count: 1000 });
    const first = await search(1);
    expect(first.status).toBe(200);
    expect(first.body.totalResults).toBe(24);
    expect(first.text.length).toBeLessThan(1024 * 1024 + 300 * 1024);
    const names = (first.body.Resources as { userName: string }[]).map((r) => r.userName);
    expect(names.length).toBe(first.body.itemsPerPage);
    expect(names.length).toBeGreaterThan(0);
    expect(names.length).toBeLessThan(24);
    expect(names).toEqual([...names].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase())));
    // The next page would need every row before it again, past the cap: a 400 that says where to go instead.
    const next = await search(1 + names.length);
    expect({ status: next.status, scimType: next.body.scimType }).toEqual({ status: 400, scimType: 'tooMany' });
    expect(next.body.detail).toMatch(/search \/Users or \/Groups/);
  });
});

describe('prototype keys in filters and sortBy (a plain-object lookup answered 500)', () => {
  const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', '__proto__.x', 'constructor.name', 'valueOf'];
  it.each(['/Users', '/Groups'])('answers 400 invalidFilter for each on %s', async (endpoint) => {
    for (const name of names) {
      const res = await f.call(c, 'get', `${endpoint}?filter=${encodeURIComponent(`${name} eq "1"`)}`);
      expect({ name, status: res.status, scimType: res.body.scimType }).toEqual({ name, status: 400, scimType: 'invalidFilter' });
      const inPath = await f.call(c, 'get', `${endpoint}?filter=${encodeURIComponent(`emails[${name} eq "1"]`)}`);
      expect({ name, status: inPath.status }).toEqual({ name, status: 400 });
    }
  });

  it.each(['/Users', '/Groups'])('answers 400 for each as sortBy on %s', async (endpoint) => {
    for (const name of names) {
      const res = await f.call(c, 'get', `${endpoint}?sortBy=${encodeURIComponent(name)}`);
      expect({ name, status: res.status, scimType: res.body.scimType }).toEqual({ name, status: 400, scimType: 'invalidValue' });
    }
  });

  it('answers 400 for prototype keys as PATCH paths and attribute names', async () => {
    const user = await f.createUser(c, 'proto-patch');
    for (const name of ['__proto__', 'constructor', 'toString']) {
      const res = await f.call(c, 'patch', `/Users/${user.id}`, patch({ op: 'replace', path: name, value: 'x' }));
      expect({ name, status: res.status }).toEqual({ name, status: 400 });
      const attrs = await f.call(c, 'get', `/Users/${user.id}?attributes=${name}`);
      expect({ name, status: attrs.status }).toEqual({ name, status: 200 });
    }
  });
});

describe('requests without a valid token', () => {
  let g: ScimFixture;
  let gc: ScimConnection;
  let server: http.Server;
  let port: number;

  beforeAll(async () => {
    g = await ScimFixture.start({ SCIM_UNAUTHENTICATED_PER_SECOND: '0.5', SCIM_UNAUTHENTICATED_BURST: '3', SCIM_BODY_TIMEOUT_SECONDS: '1' });
    gc = await g.connection({ clientKey: 'tenant-flood' });
    server = http.createServer(g.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await g.stop();
  });

  it('answers 429 with Retry-After once an address has used its budget, while a valid token keeps working', async () => {
    const bad = { ...gc, token: 'not-a-token' };
    // The valid token is accepted once before the flood, as an IdP's would be.
    expect((await g.call(gc, 'get', '/Users')).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await g.call(bad, 'get', '/Users')).status);
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(statuses.slice(3)).toEqual([429, 429, 429]);
    const limited = await g.call(bad, 'get', '/Users').set('X-Forwarded-For', '203.0.113.9');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(limited.body.schemas).toEqual([ERROR_SCHEMA]);
    expect((await g.call(gc, 'get', '/Users')).status).toBe(200);
  });

  it('does not wait for a slow body: answers 408 and closes the connection within the body timeout', async () => {
    const outcome = await new Promise<{ status: number; closed: boolean }>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write(
          `POST /scim/v2/${gc.id}/Users HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${gc.token}\r\nContent-Type: application/scim+json\r\nContent-Length: 100000\r\n\r\n{"schemas":`,
        );
      });
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString('utf8')));
      socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), closed: true }));
      socket.on('error', reject);
      setTimeout(() => {
        socket.destroy();
        resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), closed: false });
      }, 20_000).unref();
    });
    // Without the body timeout the server would still be waiting when the client gives up (closed: false).
    expect(outcome).toEqual({ status: 408, closed: true });
  });
});
