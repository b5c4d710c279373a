import { loadConfig } from '../../src/config';
import { EMBEDDED_DATABASE_LIMITS, SCIM_LIMITS, scimLimitsFor } from '../../src/scim/limits';
import { usingPostgres } from '../helpers/database';
import { ERROR_SCHEMA, GROUP_SCHEMA, LIST_RESPONSE, ScimFixture, patch, type ScimConnection } from './support';

/**
 * Members per request and bytes per page depend on the database: the embedded database is one session on
 * the server's thread, so its defaults are lower (one tenant's largest request must not hold the others for
 * long); SCIM_MAX_MEMBERS and SCIM_MAX_PAGE_BYTES set them on either database.
 */

jest.setTimeout(120_000);

function expectTooMany(res: { status: number; body: Record<string, unknown> }): void {
  expect({ status: res.status, schemas: res.body.schemas, scimType: res.body.scimType }).toEqual({ status: 400, schemas: [ERROR_SCHEMA], scimType: 'tooMany' });
}

async function seedUsers(f: ScimFixture, connectionId: string, count: number, emailsEach = 1): Promise<string[]> {
  const { rows } = await f.t.db.query<{ id: string }>(
    `INSERT INTO directory_users (connection_id, user_name, primary_email, active, resource)
     SELECT $1, 'm' || n, 'm' || n || '@example.test', true,
            jsonb_build_object('userName', 'm' || n,
              'emails', (SELECT jsonb_agg(jsonb_build_object('value', 'e' || k || '.m' || n || '@example.test')) FROM generate_series(1, $3) k))
       FROM generate_series(1, $2) n RETURNING id`,
    [connectionId, count, emailsEach],
  );
  return rows.map((r) => r.id);
}

describe('limits per database', () => {
  it('resolves to the embedded database\'s lower defaults, Postgres\'s ceilings, or what is configured', () => {
    expect(scimLimitsFor('pglite', {})).toEqual(EMBEDDED_DATABASE_LIMITS);
    expect(EMBEDDED_DATABASE_LIMITS).toEqual({ maxMembers: 500, maxPageBytes: 128 * 1024 });
    expect(scimLimitsFor('postgres', {})).toEqual({ maxMembers: SCIM_LIMITS.maxMembers, maxPageBytes: 1024 * 1024 });
    const configured = loadConfig({ SCIM_MAX_MEMBERS: '2000', SCIM_MAX_PAGE_BYTES: String(512 * 1024) }).scim;
    expect(scimLimitsFor('pglite', configured)).toEqual({ maxMembers: 2000, maxPageBytes: 512 * 1024 });
    expect(scimLimitsFor('postgres', configured)).toEqual({ maxMembers: 2000, maxPageBytes: 512 * 1024 });
  });

  it('refuses a members limit outside 100..maxMembers and a page under 64 KiB', () => {
    expect(() => loadConfig({ SCIM_MAX_MEMBERS: '99' })).toThrow(/SCIM_MAX_MEMBERS/);
    expect(() => loadConfig({ SCIM_MAX_MEMBERS: String(SCIM_LIMITS.maxMembers + 1) })).toThrow(/SCIM_MAX_MEMBERS/);
    expect(() => loadConfig({ SCIM_MAX_MEMBERS: 'many' })).toThrow(/SCIM_MAX_MEMBERS/);
    expect(() => loadConfig({ SCIM_MAX_PAGE_BYTES: '1000' })).toThrow(/SCIM_MAX_PAGE_BYTES/);
  });
});

describe(`default limits on this database (${usingPostgres ? 'Postgres' : 'PGlite'})`, () => {
  let f: ScimFixture;
  let c: ScimConnection;
  const limits = scimLimitsFor(usingPostgres ? 'postgres' : 'pglite', {});

  beforeAll(async () => {
    f = await ScimFixture.start();
    c = await f.connection({ clientKey: 'tenant-limits' });
  });
  afterAll(async () => {
    await f.stop();
  });

  it('accepts a PATCH naming maxMembers members and refuses one more with 400 tooMany, changing nothing', async () => {
    const users = await seedUsers(f, c.id, limits.maxMembers + 1);
    const group = await f.createGroup(c, 'limit-group');
    const members = async () => (await f.t.db.query<{ n: number }>('SELECT count(*) AS n FROM directory_memberships WHERE group_id = $1', [group.id])).rows[0]!.n;
    const add = (ids: string[]) => patch({ op: 'add', path: 'members', value: ids.map((value) => ({ value })) });
    const over = await f.call(c, 'patch', `/Groups/${group.id}`, add(users));
    expectTooMany(over);
    expect(String(over.body.detail)).toContain(`at most ${limits.maxMembers}`);
    expect(await members()).toBe(0);
    expect((await f.call(c, 'patch', `/Groups/${group.id}`, add(users.slice(0, limits.maxMembers)))).status).toBe(204);
    expect(await members()).toBe(limits.maxMembers);
  });
});

describe('SCIM_MAX_MEMBERS and SCIM_MAX_PAGE_BYTES set', () => {
  let f: ScimFixture;
  let c: ScimConnection;
  let users: string[];

  beforeAll(async () => {
    f = await ScimFixture.start({ SCIM_MAX_MEMBERS: '100', SCIM_MAX_PAGE_BYTES: String(64 * 1024) });
    c = await f.connection({ clientKey: 'tenant-limits-set' });
    users = await seedUsers(f, c.id, 101, 20);
  });
  afterAll(async () => {
    await f.stop();
  });

  const value = (ids: string[]) => ids.map((id) => ({ value: id }));

  it('counts every members operation of a PATCH together', async () => {
    const group = await f.createGroup(c, 'patched');
    const removes = users.slice(60, 101).map((id) => ({ op: 'remove', path: `members[value eq "${id}"]` }));
    expectTooMany(await f.call(c, 'patch', `/Groups/${group.id}`, patch({ op: 'add', path: 'members', value: value(users.slice(0, 60)) }, ...removes)));
    expect((await f.call(c, 'patch', `/Groups/${group.id}`, patch({ op: 'add', path: 'members', value: value(users.slice(0, 60)) }, ...removes.slice(1)))).status).toBe(204);
  });

  it('refuses a POST or PUT naming more members than the limit', async () => {
    expectTooMany(await f.call(c, 'post', '/Groups', { schemas: [GROUP_SCHEMA], displayName: 'too-many', members: value(users) }));
    const created = await f.call(c, 'post', '/Groups', { schemas: [GROUP_SCHEMA], displayName: 'just-enough', members: value(users.slice(0, 100)) });
    expect(created.status).toBe(201);
    expectTooMany(await f.call(c, 'put', `/Groups/${created.body.id}`, { schemas: [GROUP_SCHEMA], displayName: 'just-enough', members: value(users) }));
    expect((await f.call(c, 'put', `/Groups/${created.body.id}`, { schemas: [GROUP_SCHEMA], displayName: 'just-enough', members: value(users.slice(1)) })).status).toBe(200);
  });

  it('cuts pages at the configured bytes, and the client still pages on to every user', async () => {
    const seen = new Set<string>();
    let startIndex = 1;
    let pages = 0;
    for (;;) {
      const res = await f.call(c, 'get', `/Users?count=1000&startIndex=${startIndex}`);
      expect(res.body.schemas).toEqual([LIST_RESPONSE]);
      expect(res.body.totalResults).toBe(101);
      // The cut counts stored bytes; rendering adds id and meta to each user.
      expect(res.text.length).toBeLessThan(64 * 1024 * 1.5);
      for (const r of res.body.Resources as { id: string }[]) seen.add(r.id);
      pages++;
      startIndex += Number(res.body.itemsPerPage);
      if (startIndex > 101) break;
    }
    expect(seen.size).toBe(101);
    expect(pages).toBeGreaterThanOrEqual(2);
  });
});
