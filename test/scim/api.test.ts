import express from 'express';
import request from 'supertest';
import { DirectoryRepository } from '../../src/directory/repository';
import { createScimRouter } from '../../src/scim/router';
import { usingPostgres } from '../helpers/database';
import { silentLogger, testConfig } from '../helpers/runtime';
import { ENTERPRISE, ERROR_SCHEMA, GROUP_SCHEMA, LIST_RESPONSE, patch, ScimFixture, USER_SCHEMA, type ScimConnection } from './support';

/** The SCIM protocol over HTTP on the real app: RFC 7644's examples and error rules. */
describe(`SCIM protocol (${usingPostgres ? 'Postgres' : 'PGlite'})`, () => {
  let f: ScimFixture;
  let c: ScimConnection;

  beforeAll(async () => {
    f = await ScimFixture.start();
    c = await f.connection({ name: 'main' });
  }, 60_000);
  afterAll(async () => {
    await f.stop();
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });

  const expectScimError = (res: request.Response, status: number, scimType?: string) => {
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/scim\+json/);
    expect(res.body).toMatchObject({ schemas: [ERROR_SCHEMA], status: String(status), ...(scimType ? { scimType } : {}) });
    expect(typeof res.body.detail).toBe('string');
  };

  describe('discovery', () => {
    it('serves ServiceProviderConfig with patch, filter, sort and etag supported and bulk not', async () => {
      const res = await f.call(c, 'get', '/ServiceProviderConfig');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/scim\+json/);
      expect(res.body).toMatchObject({
        patch: { supported: true },
        bulk: { supported: false, maxPayloadSize: 1048576 },
        filter: { supported: true, maxResults: 1000 },
        sort: { supported: true },
        etag: { supported: true },
        changePassword: { supported: false },
      });
      expect(res.body.authenticationSchemes[0].type).toBe('oauthbearertoken');
    });

    it('serves ResourceTypes and Schemas, each as a ListResponse and by id', async () => {
      const types = await f.call(c, 'get', '/ResourceTypes');
      expect(types.body.schemas).toEqual([LIST_RESPONSE]);
      expect(types.body.Resources.map((r: { id: string }) => r.id)).toEqual(['User', 'Group']);
      expect(types.body.Resources[0].schemaExtensions).toEqual([{ schema: ENTERPRISE, required: false }]);
      expect((await f.call(c, 'get', '/ResourceTypes/Group')).body.endpoint).toBe('/Groups');

      const schemas = await f.call(c, 'get', '/Schemas');
      expect(schemas.body.totalResults).toBe(6);
      const user = await f.call(c, 'get', `/Schemas/${USER_SCHEMA}`);
      const userName = user.body.attributes.find((a: { name: string }) => a.name === 'userName');
      expect(userName).toMatchObject({ type: 'string', required: true, caseExact: false, uniqueness: 'server' });
      expect((await f.call(c, 'get', `/Schemas/${ENTERPRISE}`)).body.name).toBe('EnterpriseUser');
      expectScimError(await f.call(c, 'get', '/Schemas/urn:nope'), 404);
    });

    it('answers Bulk as not implemented and unknown endpoints as SCIM 404s', async () => {
      expectScimError(await f.call(c, 'post', '/Bulk', { schemas: [] }), 501);
      expectScimError(await f.call(c, 'get', '/Widgets'), 404);
    });
  });

  describe('authentication and isolation', () => {
    it('refuses a missing, malformed or wrong token with a SCIM 401', async () => {
      expectScimError(await request(f.app).get(`${c.base}/Users`), 401);
      expectScimError(await request(f.app).get(`${c.base}/Users`).set('Authorization', `Basic ${c.token}`), 401);
      expectScimError(await request(f.app).get(`${c.base}/Users`).set('Authorization', `Bearer ${c.token}x`), 401);
      expectScimError(await request(f.app).get('/scim/v2/not-a-uuid/Users').set('Authorization', `Bearer ${c.token}`), 401);
    });

    it('keeps each connection to its own directory, in the same tenant and across tenants', async () => {
      const sibling = await f.connection({ name: 'sibling' });
      const foreign = await f.connection({ clientKey: 'tenant-b', name: 'foreign' });
      const user = await f.createUser(c, 'isolated@example.com');
      // A token works only on its own connection's URL.
      expectScimError(await request(f.app).get(`${c.base}/Users/${user.id}`).set('Authorization', `Bearer ${sibling.token}`), 401);
      expectScimError(await request(f.app).get(`${c.base}/Users/${user.id}`).set('Authorization', `Bearer ${foreign.token}`), 401);
      // On their own URLs, the other connections see none of it.
      for (const other of [sibling, foreign]) {
        expectScimError(await f.call(other, 'get', `/Users/${user.id}`), 404);
        expectScimError(await f.call(other, 'patch', `/Users/${user.id}`, patch({ op: 'replace', path: 'active', value: false })), 404);
        expectScimError(await f.call(other, 'delete', `/Users/${user.id}`), 404);
        const list = await f.call(other, 'get', `/Users?filter=${encodeURIComponent('userName eq "isolated@example.com"')}`);
        expect(list.body.totalResults).toBe(0);
        // The same userName is free in another directory.
        expect((await f.call(other, 'post', '/Users', { userName: 'isolated@example.com' })).status).toBe(201);
        // Another directory's user cannot be made a member.
        const group = await f.createGroup(other, `g-${other.id}`);
        expectScimError(await f.call(other, 'patch', `/Groups/${group.id}`, patch({ op: 'add', path: 'members', value: [{ value: user.id }] })), 400, 'invalidValue');
      }
      expect((await f.call(c, 'get', `/Users/${user.id}`)).status).toBe(200);
    });

    it('refuses revoked tokens and tokens of an uninstalled tenant; a rotated token keeps working for the grace period', async () => {
      const conn = await f.connection({ clientKey: 'tenant-c', name: 'rotating' });
      const { token: next } = await f.connections.rotateToken(conn.id, { graceSeconds: 3600 });
      expect((await f.call(conn, 'get', '/Users')).status).toBe(200);
      expect((await f.call({ ...conn, token: next }, 'get', '/Users')).status).toBe(200);
      await f.connections.rotateToken(conn.id, { graceSeconds: 0 });
      expectScimError(await f.call(conn, 'get', '/Users'), 401);
      expectScimError(await f.call({ ...conn, token: next }, 'get', '/Users'), 401);

      const fresh = await f.connections.rotateToken(conn.id);
      const current = { ...conn, token: fresh.token };
      expect((await f.call(current, 'get', '/Users')).status).toBe(200);
      await f.tenants.markUninstalled('tenant-c');
      expectScimError(await f.call(current, 'get', '/Users'), 401);
    });

    it('logs method, path, status, duration and connection, and no tokens, bodies or filter values', async () => {
      await f.createUser(c, 'logged.person@example.com', { name: { givenName: 'Logged', familyName: 'Person' } });
      await f.call(c, 'get', `/Users?filter=${encodeURIComponent('userName eq "logged.person@example.com"')}&count=5`);
      const lines = f.logLines.filter((l) => l.component === 'scim');
      const last = lines[lines.length - 1]!;
      expect(last).toMatchObject({ method: 'GET', status: 200, connectionId: c.id, query: { filter: '[redacted]', count: '5' } });
      expect(typeof last.durationMs).toBe('number');
      const all = JSON.stringify(f.logLines);
      expect(all).not.toContain('logged.person');
      expect(all).not.toContain('Logged');
      expect(all).not.toContain(c.token);
    });
  });

  describe('users (RFC 7644 §3.3–3.6)', () => {
    const bjensen = {
      schemas: [USER_SCHEMA],
      userName: 'bjensen',
      externalId: 'bjensen',
      name: { formatted: 'Ms. Barbara J Jensen III', familyName: 'Jensen', givenName: 'Barbara' },
    };

    it('creates (201, Location, ETag, meta), reads, replaces and deletes a user', async () => {
      const created = await f.call(c, 'post', '/Users', bjensen);
      expect(created.status).toBe(201);
      expect(created.headers['content-type']).toMatch(/^application\/scim\+json/);
      const id = created.body.id as string;
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(created.headers.location).toBe(`https://app.example.test${c.base}/Users/${id}`);
      expect(created.headers.etag).toBe('W/"1"');
      expect(created.body).toMatchObject({
        ...bjensen,
        id,
        meta: { resourceType: 'User', location: created.headers.location, version: 'W/"1"' },
      });
      expect(Date.parse(created.body.meta.created)).not.toBeNaN();
      expect(created.body.meta.lastModified).toBe(created.body.meta.created);

      const read = await f.call(c, 'get', `/Users/${id}`);
      expect(read.status).toBe(200);
      expect(read.body).toEqual(created.body);

      const replaced = await f.call(c, 'put', `/Users/${id}`, {
        schemas: [USER_SCHEMA],
        id,
        userName: 'bjensen',
        externalId: 'bjensen',
        name: { familyName: 'Jensen', givenName: 'Barbara', middleName: 'Jane' },
        emails: [{ value: 'bjensen@example.com', type: 'work', primary: true }],
        active: false,
      });
      expect(replaced.status).toBe(200);
      expect(replaced.body.name).toEqual({ familyName: 'Jensen', givenName: 'Barbara', middleName: 'Jane' });
      expect(replaced.body.active).toBe(false);
      expect(replaced.body.meta.version).toBe('W/"2"');
      expect(replaced.headers.etag).toBe('W/"2"');

      const deleted = await f.call(c, 'delete', `/Users/${id}`);
      expect(deleted.status).toBe(204);
      expect(deleted.text).toBe('');
      expectScimError(await f.call(c, 'get', `/Users/${id}`), 404);
      expectScimError(await f.call(c, 'delete', `/Users/${id}`), 404);
      expectScimError(await f.call(c, 'put', `/Users/${id}`, bjensen), 404);
    });

    it('refuses a second user with the same userName in any case (409 uniqueness), and records no change for it', async () => {
      await f.createUser(c, 'Unique.Person@example.com');
      const before = (await f.changes(c.id)).length;
      expectScimError(await f.call(c, 'post', '/Users', { schemas: [USER_SCHEMA], userName: 'unique.person@EXAMPLE.com' }), 409, 'uniqueness');
      const other = await f.createUser(c, 'other.person@example.com');
      expectScimError(await f.call(c, 'patch', `/Users/${other.id}`, patch({ op: 'replace', path: 'userName', value: 'UNIQUE.person@example.com' })), 409, 'uniqueness');
      expect((await f.changes(c.id)).length).toBe(before + 1);
    });

    it('answers 404 with detail for unknown and malformed ids', async () => {
      const unknown = await f.call(c, 'get', '/Users/00000000-0000-4000-8000-000000000000');
      expectScimError(unknown, 404);
      expect(unknown.body.detail).toMatch(/not found/);
      expectScimError(await f.call(c, 'get', '/Users/whatever'), 404);
    });

    it('patches with the RFC examples: no-path replace with lower-case names, add to a multi-valued attribute', async () => {
      const user = await f.createUser(c, 'babs@example.com', { emails: [{ value: 'babs@example.com', type: 'work', primary: true }] });
      const res = await f.call(
        c,
        'patch',
        `/Users/${user.id}`,
        patch({ op: 'replace', value: { emails: [{ value: 'bjensen@example.com', type: 'work', primary: true }], nickname: 'Babs' } }),
      );
      expect(res.status).toBe(200);
      expect(res.body.nickName).toBe('Babs');
      expect(res.body.emails).toEqual([{ value: 'bjensen@example.com', type: 'work', primary: true }]);
      const added = await f.call(c, 'patch', `/Users/${user.id}`, patch({ op: 'add', path: 'emails', value: [{ value: 'babs@home.example', type: 'home' }] }));
      expect(added.body.emails).toHaveLength(2);
      expect(added.body.meta.version).toBe('W/"3"');
    });

    it('writes nothing for a PATCH that changes nothing', async () => {
      const user = await f.createUser(c, 'idempotent@example.com', { displayName: 'Same' });
      const before = (await f.changes(c.id)).length;
      const res = await f.call(c, 'patch', `/Users/${user.id}`, patch({ op: 'replace', path: 'displayName', value: 'Same' }));
      expect(res.status).toBe(200);
      expect(res.body.meta.version).toBe('W/"1"');
      expect((await f.changes(c.id)).length).toBe(before);
    });

    it('returns attributes / excludedAttributes, always keeping id, schemas and meta', async () => {
      const user = await f.createUser(c, 'projected@example.com', { name: { givenName: 'P', familyName: 'Q' }, displayName: 'PQ', [ENTERPRISE]: { department: 'D', costCenter: 'C' } });
      const only = await f.call(c, 'get', `/Users/${user.id}?attributes=userName,name.givenName,${ENTERPRISE}:department`);
      expect(Object.keys(only.body).sort()).toEqual(['id', 'meta', 'name', 'schemas', 'userName', ENTERPRISE].sort());
      expect(only.body.name).toEqual({ givenName: 'P' });
      expect(only.body[ENTERPRISE]).toEqual({ department: 'D' });
      const without = await f.call(c, 'get', `/Users/${user.id}?excludedAttributes=name,displayName,id,meta`);
      expect(without.body.name).toBeUndefined();
      expect(without.body.displayName).toBeUndefined();
      expect(without.body).toHaveProperty('id', user.id);
      expect(without.body).toHaveProperty('meta');
      const listed = await f.call(c, 'get', `/Users?filter=${encodeURIComponent('userName eq "projected@example.com"')}&attributes=displayName`);
      expect(listed.body.Resources).toEqual([{ schemas: user.schemas, id: user.id, displayName: 'PQ', meta: user.meta }]);
    });

    it('honours If-Match (412 on mismatch) and If-None-Match (304)', async () => {
      const user = await f.createUser(c, 'etag@example.com');
      const stale = await f
        .call(c, 'patch', `/Users/${user.id}`, patch({ op: 'replace', path: 'displayName', value: 'x' }))
        .set('If-Match', 'W/"7"');
      expectScimError(stale, 412);
      const fresh = await f.call(c, 'patch', `/Users/${user.id}`, patch({ op: 'replace', path: 'displayName', value: 'x' })).set('If-Match', 'W/"1"');
      expect(fresh.status).toBe(200);
      expectScimError(await f.call(c, 'put', `/Users/${user.id}`, { userName: 'etag@example.com' }).set('If-Match', 'W/"1"'), 412);
      expectScimError(await f.call(c, 'delete', `/Users/${user.id}`).set('If-Match', '"1"'), 412);
      expect((await f.call(c, 'get', `/Users/${user.id}`).set('If-None-Match', 'W/"2"')).status).toBe(304);
      expect((await f.call(c, 'get', `/Users/${user.id}`).set('If-None-Match', 'W/"1"')).status).toBe(200);
      expect((await f.call(c, 'delete', `/Users/${user.id}`).set('If-Match', '*')).status).toBe(204);
    });
  });

  describe('queries (RFC 7644 §3.4.2)', () => {
    let q: ScimConnection;
    beforeAll(async () => {
      q = await f.connection({ name: 'queries' });
      for (const name of ['delta', 'alpha', 'echo', 'charlie', 'bravo']) await f.createUser(q, `${name}@example.com`, { displayName: name.toUpperCase() });
    });

    it('answers an empty ListResponse with numeric counters', async () => {
      const res = await f.call(q, 'get', `/Users?filter=${encodeURIComponent('userName eq "0f8e0a4c-2d6b-4e0e-a6b0-1d1b4e0c9f11"')}`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ schemas: [LIST_RESPONSE], totalResults: 0, startIndex: 1, itemsPerPage: 0, Resources: [] });
    });

    it('pages with startIndex/count in a stable order and reports the total', async () => {
      const all = (await f.call(q, 'get', '/Users')).body;
      expect(all.totalResults).toBe(5);
      const pages = [];
      for (let start = 1; start <= 5; start += 2) {
        const page = (await f.call(q, 'get', `/Users?startIndex=${start}&count=2`)).body;
        expect(page).toMatchObject({ totalResults: 5, startIndex: start });
        pages.push(...page.Resources.map((r: { id: string }) => r.id));
      }
      expect(pages).toEqual(all.Resources.map((r: { id: string }) => r.id));
      expect((await f.call(q, 'get', '/Users?count=0')).body).toMatchObject({ totalResults: 5, itemsPerPage: 0, Resources: [] });
      expect((await f.call(q, 'get', '/Users?startIndex=0&count=1')).body).toMatchObject({ startIndex: 1, itemsPerPage: 1 });
      expect((await f.call(q, 'get', '/Users?startIndex=9')).body).toMatchObject({ totalResults: 5, startIndex: 9, itemsPerPage: 0 });
      expectScimError(await f.call(q, 'get', '/Users?count=many'), 400, 'invalidValue');
    });

    it('sorts by sortBy / sortOrder', async () => {
      const asc = (await f.call(q, 'get', '/Users?sortBy=userName')).body.Resources.map((r: { userName: string }) => r.userName.split('@')[0]);
      expect(asc).toEqual(['alpha', 'bravo', 'charlie', 'delta', 'echo']);
      const desc = (await f.call(q, 'get', '/Users?sortBy=displayName&sortOrder=descending&count=2')).body.Resources.map((r: { displayName: string }) => r.displayName);
      expect(desc).toEqual(['ECHO', 'DELTA']);
      expectScimError(await f.call(q, 'get', '/Users?sortBy=nothing'), 400, 'invalidValue');
    });

    it('filters with logical operators, and answers a bad filter with 400 invalidFilter', async () => {
      const res = await f.call(q, 'get', `/Users?filter=${encodeURIComponent('(userName sw "a" or userName sw "B") and not (displayName eq "bravo")')}`);
      expect(res.body.Resources.map((r: { displayName: string }) => r.displayName)).toEqual(['ALPHA']);
      expectScimError(await f.call(q, 'get', `/Users?filter=${encodeURIComponent('userName eq')}`), 400, 'invalidFilter');
      expectScimError(await f.call(q, 'get', `/Users?filter=a&filter=b`), 400, 'invalidFilter');
    });

    it('reads the query string as IdPs write it: + for spaces, odd parameter names ignored, a bad escape refused', async () => {
      const plus = await f.call(q, 'get', `/Users?filter=userName+eq+%22alpha@example.com%22`);
      expect(plus.body.Resources.map((r: { displayName: string }) => r.displayName)).toEqual(['ALPHA']);
      const odd = await f.call(q, 'get', `/Users?__proto__=x&constructor=y&toString=z&count=1`);
      expect(odd.status).toBe(200);
      expect(odd.body).toMatchObject({ totalResults: 5, itemsPerPage: 1 });
      // The endpoint is found whatever the case of its prefix, and a query may follow the connection id directly.
      expect((await request(f.app).get(`/SCIM/V2/${q.id}/Users?count=0`).set('Authorization', `Bearer ${q.token}`)).body).toMatchObject({ totalResults: 5 });
      expectScimError(await request(f.app).get(`/scim/v2/${q.id}?count=0`).set('Authorization', `Bearer ${q.token}`), 404);
      // A connection id that is not valid percent-encoding is no SCIM endpoint; the app answers, not a crash.
      const malformed = await request(f.app).get('/scim/v2/%E0%A4%A/Users').set('Authorization', `Bearer ${q.token}`);
      expect(malformed.status).toBeGreaterThanOrEqual(400);
      expect(malformed.status).toBeLessThan(500);
    });

    it('searches with POST /.search', async () => {
      const res = await f.call(q, 'post', '/Users/.search', {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'],
        filter: 'userName ew "o@example.com"',
        sortBy: 'userName',
        attributes: ['userName'],
        startIndex: 1,
        count: 10,
      });
      expect(res.status).toBe(200);
      expect(res.body.Resources.map((r: { userName: string }) => r.userName)).toEqual(['bravo@example.com', 'echo@example.com']);
      expect(res.body.Resources[0].displayName).toBeUndefined();
    });
  });

  describe('groups and memberships', () => {
    it('creates a group with members, reads it with members, and refuses a duplicate displayName', async () => {
      const a = await f.createUser(c, 'member.a@example.com', { displayName: 'Member A' });
      const group = await f.createGroup(c, 'Tour Guides', [a.id as string]);
      expect(group.members).toEqual([{ value: a.id, $ref: `https://app.example.test${c.base}/Users/${a.id}`, display: 'Member A', type: 'User' }]);
      const read = await f.call(c, 'get', `/Groups/${group.id}`);
      expect(read.body.members).toHaveLength(1);
      expect(read.body.meta).toMatchObject({ resourceType: 'Group', location: `https://app.example.test${c.base}/Groups/${group.id}` });
      // the user shows its group
      const user = await f.call(c, 'get', `/Users/${a.id}`);
      expect(user.body.groups).toEqual([{ value: group.id, $ref: `https://app.example.test${c.base}/Groups/${group.id}`, display: 'Tour Guides', type: 'direct' }]);
      expectScimError(await f.call(c, 'post', '/Groups', { schemas: [GROUP_SCHEMA], displayName: 'tour guides' }), 409, 'uniqueness');
    });

    it('rejects members that name unknown users, storing nothing', async () => {
      const before = (await f.changes(c.id)).length;
      expectScimError(
        await f.call(c, 'post', '/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Ghosts', members: [{ value: '00000000-0000-4000-8000-000000000000' }] }),
        400,
        'invalidValue',
      );
      const list = await f.call(c, 'get', `/Groups?filter=${encodeURIComponent('displayName eq "Ghosts"')}`);
      expect(list.body.totalResults).toBe(0);
      const group = await f.createGroup(c, 'Real');
      const known = await f.createUser(c, 'known@example.com');
      expectScimError(
        await f.call(c, 'patch', `/Groups/${group.id}`, patch({ op: 'add', path: 'members', value: [{ value: known.id }, { value: 'nobody' }] })),
        400,
        'invalidValue',
      );
      expect((await f.call(c, 'get', `/Groups/${group.id}`)).body.members).toBeUndefined();
      expect((await f.changes(c.id)).length).toBe(before + 2);
    });

    it('patches memberships with the RFC examples as row operations, answering 204 with the new ETag', async () => {
      const repo = DirectoryRepository.prototype;
      const users = await Promise.all(['m1', 'm2', 'm3', 'm4'].map((n) => f.createUser(c, `${n}@example.com`)));
      const [m1, m2, m3, m4] = users.map((u) => u.id as string) as [string, string, string, string];
      const group = await f.createGroup(c, 'Patched');
      const readMembers = jest.spyOn(repo, 'membersOfGroups');
      const pageMembers = jest.spyOn(repo, 'groupMembers');

      const add = await f.call(c, 'patch', `/Groups/${group.id}`, patch({ op: 'add', path: 'members', value: [{ display: 'M1', $ref: `${c.base}/Users/${m1}`, value: m1 }, { value: m2 }, { value: m3 }] }));
      expect(add.status).toBe(204);
      expect(add.headers.etag).toBe('W/"2"');
      const remove = await f.call(c, 'patch', `/Groups/${group.id}`, patch({ op: 'remove', path: `members[value eq "${m2}"]` }));
      expect(remove.status).toBe(204);
      // adding an existing member again is not an error and changes nothing
      expect((await f.call(c, 'patch', `/Groups/${group.id}`, patch({ op: 'add', path: 'members', value: [{ value: m1 }] }))).headers.etag).toBe('W/"3"');
      expect(readMembers).not.toHaveBeenCalled();
      expect(pageMembers).not.toHaveBeenCalled();

      const members = async () => ((await f.call(c, 'get', `/Groups/${group.id}`)).body.members ?? []).map((m: { value: string }) => m.value).sort();
      expect(await members()).toEqual([m1, m3].sort());

      await f.call(c, 'patch', `/Groups/${group.id}`, patch({ op: 'replace', path: 'members', value: [{ value: m3 }, { value: m4 }] }));
      expect(await members()).toEqual([m3, m4].sort());
      await f.call(c, 'patch', `/Groups/${group.id}`, patch({ op: 'remove', path: 'members' }));
      expect(await members()).toEqual([]);

      const changes = (await f.changes(c.id)).filter((ch) => ch.entity === 'membership' && ch.entity_id === group.id);
      // Per PATCH the rows' order is the database's; across PATCHes it is the order of the requests.
      const steps = [
        [['added', m1], ['added', m2], ['added', m3]],
        [['removed', m2]],
        [['removed', m1], ['added', m4]],
        [['removed', m3], ['removed', m4]],
      ];
      let at = 0;
      for (const step of steps) {
        const got = changes.slice(at, at + step.length).map((ch) => `${ch.action}:${ch.member_id}`).sort();
        expect(got).toEqual(step.map(([action, id]) => `${action}:${id}`).sort());
        at += step.length;
      }
      expect(changes).toHaveLength(at);
    });

    it('does not load members for excludedAttributes=members', async () => {
      const u = await f.createUser(c, 'excluded.member@example.com');
      await f.createGroup(c, 'Excluded Members', [u.id as string]);
      const readMembers = jest.spyOn(DirectoryRepository.prototype, 'membersOfGroups');
      const res = await f.call(c, 'get', `/Groups?excludedAttributes=members&filter=${encodeURIComponent('displayName eq "excluded members"')}`);
      expect(res.body.totalResults).toBe(1);
      expect(res.body.Resources[0].members).toBeUndefined();
      expect(readMembers).not.toHaveBeenCalled();
    });

    it('renames with PUT and keeps members a PUT does not mention', async () => {
      const u = await f.createUser(c, 'kept.member@example.com');
      const group = await f.createGroup(c, 'Before', [u.id as string]);
      const res = await f.call(c, 'put', `/Groups/${group.id}`, { schemas: [GROUP_SCHEMA], displayName: 'After' });
      expect(res.status).toBe(200);
      expect(res.body.displayName).toBe('After');
      expect(res.body.members).toHaveLength(1);
      const cleared = await f.call(c, 'put', `/Groups/${group.id}`, { schemas: [GROUP_SCHEMA], displayName: 'After', members: [] });
      expect(cleared.body.members).toBeUndefined();
    });

    it('deleting a user removes its memberships and records them', async () => {
      const u = await f.createUser(c, 'leaving@example.com');
      const group = await f.createGroup(c, 'Left Behind', [u.id as string]);
      expect((await f.call(c, 'delete', `/Users/${u.id}`)).status).toBe(204);
      expect((await f.call(c, 'get', `/Groups/${group.id}`)).body.members).toBeUndefined();
      const changes = await f.changes(c.id);
      expect(changes.slice(-2).map((ch) => [ch.entity, ch.action])).toEqual([
        ['membership', 'removed'],
        ['user', 'deleted'],
      ]);
    });
  });

  describe('request bodies', () => {
    it('accepts application/json and application/scim+json', async () => {
      expect((await f.call(c, 'post', '/Users', { userName: 'json@example.com' }, 'application/json')).status).toBe(201);
      expect((await f.call(c, 'post', '/Users', { userName: 'scim@example.com' }, 'application/scim+json; charset=utf-8')).status).toBe(201);
    });

    it('answers malformed JSON with 400 invalidSyntax and an oversized body with 413', async () => {
      expectScimError(await f.call(c, 'post', '/Users', '{"userName": ', 'application/scim+json'), 400, 'invalidSyntax');
      const big = { userName: 'big@example.com', displayName: 'x'.repeat(1_100_000) };
      expectScimError(await f.call(c, 'post', '/Users', big), 413);
      expectScimError(await f.call(c, 'post', '/Users', [1, 2]), 400, 'invalidSyntax');
    });
  });

  it('limits each connection to its configured rate with 429 and Retry-After', async () => {
    const limited = await f.connection({ name: 'limited' });
    const other = await f.connection({ name: 'unlimited-neighbour' });
    const app = express().use(
      '/scim/v2/:connectionId',
      createScimRouter({ config: testConfig({ SCIM_RATE_LIMIT_PER_SECOND: '0.5', SCIM_RATE_LIMIT_BURST: '2' }), db: f.t.db, logger: silentLogger() }),
    );
    const get = (conn: ScimConnection) => request(app).get(`${conn.base}/Users`).set('Authorization', `Bearer ${conn.token}`);
    expect((await get(limited)).status).toBe(200);
    expect((await get(limited)).status).toBe(200);
    const refused = await get(limited);
    expectScimError(refused, 429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // the limit is per connection
    expect((await get(other)).status).toBe(200);
  });
});
