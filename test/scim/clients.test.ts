import request from 'supertest';
import { usingPostgres } from '../helpers/database';
import { ENTERPRISE, ERROR_SCHEMA, GROUP_SCHEMA, LIST_RESPONSE, patch, ScimFixture, USER_SCHEMA, type ScimConnection } from './support';

/**
 * Every request shape the real clients are documented to send (the reference list of what Entra ID,
 * Okta, miniOrange, JumpCloud and OneLogin send and require), replayed against the real app.
 */
describe(`what real SCIM clients send (${usingPostgres ? 'Postgres' : 'PGlite'})`, () => {
  let f: ScimFixture;
  beforeAll(async () => {
    f = await ScimFixture.start();
  }, 60_000);
  afterAll(async () => {
    await f.stop();
  });

  const q = (filter: string) => encodeURIComponent(filter);

  describe('every client', () => {
    let c: ScimConnection;
    beforeAll(async () => {
      c = await f.connection({ provider: 'generic', name: 'every' });
    });

    it('answers application/scim+json and accepts both body types', async () => {
      const res = await f.call(c, 'post', '/Users', { userName: 'ct@example.com' }, 'application/json');
      expect(res.status).toBe(201);
      expect(res.headers['content-type']).toMatch(/^application\/scim\+json/);
    });

    it('answers errors with status as a string and scimType', async () => {
      const res = await f.call(c, 'post', '/Users', { userName: 'CT@example.com' });
      expect(res.body).toEqual({ schemas: [ERROR_SCHEMA], status: '409', scimType: 'uniqueness', detail: expect.any(String) });
    });

    it('keeps users visible whatever their active state; only a delete removes them', async () => {
      const user = await f.createUser(c, 'inactive@example.com', { active: false });
      const found = await f.call(c, 'get', `/Users?filter=${q('userName eq "inactive@example.com"')}`);
      expect(found.body.Resources[0]).toMatchObject({ id: user.id, active: false });
    });

    it('serves ServiceProviderConfig, ResourceTypes and Schemas', async () => {
      for (const path of ['/ServiceProviderConfig', '/ResourceTypes', '/Schemas']) expect((await f.call(c, 'get', path)).status).toBe(200);
    });

    it('answers a wrong or missing token with 401 and a SCIM error body', async () => {
      const res = await request(f.app).get(`${c.base}/Users`).set('Authorization', 'Bearer wrong-token-wrong-token');
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ schemas: [ERROR_SCHEMA], status: '401' });
    });
  });

  describe('Microsoft Entra ID', () => {
    let c: ScimConnection;
    beforeAll(async () => {
      c = await f.connection({ provider: 'entra', name: 'entra' });
    });

    it('passes the connection test: userName eq <random guid> answers 200 with an empty ListResponse', async () => {
      const res = await f.call(c, 'get', `/Users?filter=${q('userName eq "8c4bd3e5-8a3a-4b26-9a7b-0a8e4e1b7c2d"')}`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ schemas: [LIST_RESPONSE], totalResults: 0, startIndex: 1, itemsPerPage: 0, Resources: [] });
    });

    const entraUser = {
      schemas: [USER_SCHEMA, ENTERPRISE],
      externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
      userName: 'Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@testuser.com',
      active: true,
      emails: [{ primary: true, type: 'work', value: 'Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com' }],
      meta: { resourceType: 'User' },
      name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
      roles: [],
    };

    it('creates a user with core + enterprise schemas, meta.resourceType and roles: []', async () => {
      const res = await f.call(c, 'post', '/Users', entraUser);
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ userName: entraUser.userName, externalId: entraUser.externalId, active: true, emails: entraUser.emails, name: entraUser.name });
      expect(res.body.roles).toBeUndefined();
      expect(res.body.meta).toMatchObject({ resourceType: 'User', location: expect.stringContaining(`/Users/${res.body.id}`) });
    });

    it('accepts explicit nulls, "True" as a boolean and the malformed extension URN, storing nothing for nulls', async () => {
      const res = await f.call(c, 'post', '/Users', {
        schemas: [USER_SCHEMA, 'urn:ietf:params:scim:schemas:extension:enterprise:2.0User'],
        userName: 'older.tenant@example.com',
        active: 'True',
        phoneNumbers: null,
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0User': { manager: null, department: 'Finance' },
      });
      expect(res.status).toBe(201);
      expect(res.body.active).toBe(true);
      expect(res.body).not.toHaveProperty('phoneNumbers');
      expect(res.body[ENTERPRISE]).toEqual({ department: 'Finance' });
      expect(res.body.schemas).toEqual([USER_SCHEMA, ENTERPRISE]);
    });

    it('looks users up by userName, externalId and work email, and groups by displayName without members', async () => {
      const u = await f.createUser(c, 'lookup@contoso.com', { externalId: 'obj-1', emails: [{ value: 'Lookup@Contoso.com', type: 'work', primary: true }] });
      await f.createGroup(c, 'Contoso Sales', [u.id as string]);
      for (const filter of ['userName eq "LOOKUP@contoso.com"', 'externalId eq "obj-1"', 'emails[type eq "work"].value eq "lookup@contoso.com"', 'userName eq "lookup@contoso.com" and externalId eq "obj-1"']) {
        const res = await f.call(c, 'get', `/Users?filter=${q(filter)}`);
        expect(res.body.Resources.map((r: { id: string }) => r.id)).toEqual([u.id]);
      }
      const groups = await f.call(c, 'get', `/Groups?excludedAttributes=members&filter=${q('displayName eq "Contoso Sales"')}`);
      expect(groups.body.totalResults).toBe(1);
      expect(groups.body.Resources[0]).not.toHaveProperty('members');
    });

    it('updates with capitalised ops, string booleans, filtered paths that create entries, and dotted/URN no-path keys', async () => {
      const u = await f.createUser(c, 'patch.me@contoso.com', { emails: [{ value: 'old@contoso.com', type: 'work', primary: true }] });
      const res = await f.call(
        c,
        'patch',
        `/Users/${u.id}`,
        patch(
          { op: 'Replace', path: 'active', value: 'False' },
          { op: 'Replace', path: 'emails[type eq "work"].value', value: 'a@b.c' },
          { op: 'Add', path: 'phoneNumbers[type eq "mobile"].value', value: '+61 400 000 000' },
          { op: 'replace', value: { displayName: 'x', 'name.givenName': 'y', [`${ENTERPRISE}:employeeNumber`]: 'z' } },
          { op: 'Add', path: `${ENTERPRISE}:manager`, value: '271' },
        ),
      );
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        active: false,
        emails: [{ value: 'a@b.c', type: 'work', primary: true }],
        phoneNumbers: [{ type: 'mobile', value: '+61 400 000 000' }],
        displayName: 'x',
        name: { givenName: 'y' },
        [ENTERPRISE]: { employeeNumber: 'z', manager: { value: '271' } },
      });
    });

    it('creates a group (with the ADSCIM schema) empty, then adds and removes members in batches, answering 204', async () => {
      const users = await Promise.all([1, 2, 3, 4, 5].map((n) => f.createUser(c, `batch${n}@contoso.com`)));
      const ids = users.map((u) => u.id as string);
      const created = await f.call(c, 'post', '/Groups', {
        schemas: [GROUP_SCHEMA, 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group'],
        externalId: 'grp-ext',
        displayName: 'Batch Group',
        meta: { resourceType: 'Group' },
      });
      expect(created.status).toBe(201);
      const path = `/Groups/${created.body.id}`;
      const add = await f.call(c, 'patch', path, patch({ op: 'Add', path: 'members', value: ids.map((value) => ({ $ref: null, value })) }));
      expect(add.status).toBe(204);
      const remove = await f.call(c, 'patch', path, patch({ op: 'Remove', path: 'members', value: [{ value: ids[0] }, { value: ids[1] }] }));
      expect(remove.status).toBe(204);
      const newer = await f.call(c, 'patch', path, patch({ op: 'remove', path: `members[value eq "${ids[2]}"]` }));
      expect(newer.status).toBe(204);
      const members = (await f.call(c, 'get', path)).body.members.map((m: { value: string }) => m.value).sort();
      expect(members).toEqual([ids[3], ids[4]].sort());
    });

    it('disables before deleting: active false, then DELETE answers 204', async () => {
      const u = await f.createUser(c, 'leaver@contoso.com');
      expect((await f.call(c, 'patch', `/Users/${u.id}`, patch({ op: 'Replace', path: 'active', value: 'False' }))).body.active).toBe(false);
      expect((await f.call(c, 'delete', `/Users/${u.id}`)).status).toBe(204);
    });
  });

  describe('Okta', () => {
    let c: ScimConnection;
    beforeAll(async () => {
      c = await f.connection({ provider: 'okta', name: 'okta' });
    });

    it('checks existence with userName eq, startIndex=1&count=100 (User-Agent Okta SCIM Client 1.0.0)', async () => {
      await f.createUser(c, 'test.user@okta.local');
      const res = await f
        .call(c, 'get', '/Users?filter=userName%20eq%20%22test.user%40okta.local%22&startIndex=1&count=100')
        .set('User-Agent', 'Okta SCIM Client 1.0.0');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ totalResults: 1, startIndex: 1, itemsPerPage: 1 });
    });

    it('creates with groups: [], password and locale over plain application/json; never returns the password', async () => {
      const res = await f.call(
        c,
        'post',
        '/Users',
        {
          schemas: [USER_SCHEMA],
          userName: 'new.okta@example.com',
          name: { givenName: 'New', familyName: 'Okta' },
          emails: [{ primary: true, value: 'new.okta@example.com', type: 'work' }],
          displayName: 'New Okta',
          locale: 'en-US',
          externalId: '00u1',
          groups: [],
          password: 'Sup3rS3cret!',
          active: true,
        },
        'application/json',
      );
      expect(res.status).toBe(201);
      expect(res.body.locale).toBe('en-US');
      expect(res.body).not.toHaveProperty('password');
      const { rows } = await f.t.db.query('SELECT resource::text AS r FROM directory_users WHERE id = $1', [res.body.id]);
      expect(rows[0]!.r).not.toContain('Sup3rS3cret');
    });

    it('updates by GET then full PUT, and deactivates by a no-path replace', async () => {
      const u = await f.createUser(c, 'put.me@example.com', { name: { givenName: 'Put', familyName: 'Me' } });
      const current = (await f.call(c, 'get', `/Users/${u.id}`)).body;
      const put = await f.call(c, 'put', `/Users/${u.id}`, { ...current, name: { givenName: 'Putt', familyName: 'Me' } });
      expect(put.status).toBe(200);
      expect(put.body.name.givenName).toBe('Putt');
      const off = await f.call(c, 'patch', `/Users/${u.id}`, patch({ op: 'replace', value: { active: false } }));
      expect(off.body.active).toBe(false);
    });

    it('imports users and groups page by page (startIndex 1, 101, …)', async () => {
      const imp = await f.connection({ provider: 'okta', name: 'okta-import' });
      await f.t.db.query(
        `INSERT INTO directory_users (connection_id, user_name, resource)
         SELECT $1, 'imp' || n || '@example.com', jsonb_build_object('schemas', jsonb_build_array($2::text), 'userName', 'imp' || n || '@example.com')
           FROM generate_series(1, 150) n`,
        [imp.id, USER_SCHEMA],
      );
      const first = (await f.call(imp, 'get', '/Users?startIndex=1&count=100')).body;
      const second = (await f.call(imp, 'get', '/Users?startIndex=101&count=100')).body;
      expect([first.totalResults, first.itemsPerPage, second.startIndex, second.itemsPerPage]).toEqual([150, 100, 101, 50]);
      const ids = new Set([...first.Resources, ...second.Resources].map((r: { id: string }) => r.id));
      expect(ids.size).toBe(150);
      expect((await f.call(imp, 'get', '/Groups?startIndex=1&count=100')).body).toMatchObject({ totalResults: 0, Resources: [] });
    });

    it('renames a group with its own id inside the value, resent with membership changes, and pushes members in full', async () => {
      const users = await Promise.all(['o1', 'o2', 'o3'].map((n) => f.createUser(c, `${n}@okta.example`)));
      const [o1, o2, o3] = users.map((u) => u.id as string) as [string, string, string];
      const group = await f.createGroup(c, 'Okta Group', [o1]);
      const path = `/Groups/${group.id}`;
      const rename = await f.call(
        c,
        'patch',
        path,
        patch(
          { op: 'replace', value: { id: group.id, displayName: 'Okta Group Renamed' } },
          { op: 'remove', path: `members[value eq "${o1}"]` },
          { op: 'add', path: 'members', value: [{ value: o2, display: 'o2@okta.example' }] },
        ),
      );
      expect(rename.status).toBe(204);
      let read = (await f.call(c, 'get', path)).body;
      expect(read.displayName).toBe('Okta Group Renamed');
      expect(read.members.map((m: { value: string }) => m.value)).toEqual([o2]);
      await f.call(c, 'patch', path, patch({ op: 'replace', path: 'members', value: [{ value: o1 }, { value: o3 }] }));
      read = (await f.call(c, 'get', path)).body;
      expect(read.members.map((m: { value: string }) => m.value).sort()).toEqual([o1, o3].sort());
    });

    it('answers GET /Users/<unknown> with 404 and a detail, and a bad token with 401', async () => {
      const res = await f.call(c, 'get', '/Users/010101010101');
      expect(res.status).toBe(404);
      expect(res.body.detail).toEqual(expect.any(String));
      expect((await request(f.app).get(`${c.base}/Groups`).set('Authorization', 'Bearer nope-nope-nope-nope')).status).toBe(401);
    });
  });

  describe('miniOrange (SCIM Server (Destination) app)', () => {
    it('passes Test Connection and handles the required attribute mappings, group toggles and deprovisioning', async () => {
      const c = await f.connection({ provider: 'miniorange', name: 'miniorange' });
      expect((await f.call(c, 'get', '/ServiceProviderConfig')).status).toBe(200);
      expect((await f.call(c, 'get', `/Users?filter=${q('userName eq "probe"')}`)).status).toBe(200);
      const user = await f.call(c, 'post', '/Users', {
        schemas: [USER_SCHEMA],
        userName: 'mo.user',
        name: { givenName: 'Mini', familyName: 'Orange' },
        emails: [{ type: 'work', value: 'mo.user@example.com', primary: true }],
        displayName: 'Mini Orange',
        active: true,
      });
      expect(user.status).toBe(201);
      const byEmail = await f.call(c, 'get', `/Users?filter=${q('emails[type eq "work"].value eq "mo.user@example.com"')}`);
      expect(byEmail.body.totalResults).toBe(1);
      const group = await f.createGroup(c, 'Jira Users');
      expect((await f.call(c, 'get', `/Groups?filter=${q('displayName eq "jira users"')}`)).body.totalResults).toBe(1);
      expect((await f.call(c, 'patch', `/Groups/${group.id}`, patch({ op: 'add', path: 'members', value: [{ value: user.body.id }] }))).status).toBe(204);
      expect((await f.call(c, 'patch', `/Groups/${group.id}`, patch({ op: 'replace', path: 'displayName', value: 'Jira Members' }))).status).toBe(204);
      expect((await f.call(c, 'patch', `/Groups/${group.id}`, patch({ op: 'remove', path: 'members', value: [{ value: user.body.id }] }))).status).toBe(204);
      expect((await f.call(c, 'delete', `/Groups/${group.id}`)).status).toBe(204);
      expect((await f.call(c, 'delete', `/Users/${user.body.id}`)).status).toBe(204);
    });
  });

  describe('JumpCloud and OneLogin', () => {
    it("JumpCloud's test connection creates and deletes a test user and group, and adopts an existing group by displayName", async () => {
      const c = await f.connection({ provider: 'jumpcloud', name: 'jumpcloud' });
      const user = await f.createUser(c, 'jc-test-user@example.com');
      const group = await f.createGroup(c, 'jc-test-group');
      expect((await f.call(c, 'delete', `/Users/${user.id}`)).status).toBe(204);
      expect((await f.call(c, 'delete', `/Groups/${group.id}`)).status).toBe(204);
      const existing = await f.createGroup(c, 'Engineering');
      const lookup = await f.call(c, 'get', `/Groups?filter=${q('displayName eq "Engineering"')}`);
      expect(lookup.body.Resources[0].id).toBe(existing.id);
      expect((await f.call(c, 'post', '/Groups', { schemas: [GROUP_SCHEMA], displayName: 'engineering' })).status).toBe(409);
    });

    it('OneLogin: accepts edited templates (flattened extension keys, numbers as strings, lower-case operations) and stores them strictly', async () => {
      const c = await f.connection({ provider: 'onelogin', name: 'onelogin' });
      const res = await f.call(c, 'post', '/Users', {
        schemas: [USER_SCHEMA],
        userName: 'ol.user@example.com',
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber': 1234,
        customAttribute: 'dropped',
        emails: { value: 'ol.user@example.com', type: 'work' },
      });
      expect(res.status).toBe(201);
      expect(res.body[ENTERPRISE]).toEqual({ employeeNumber: '1234' });
      expect(res.body.customAttribute).toBeUndefined();
      expect(res.body.emails).toEqual([{ value: 'ol.user@example.com', type: 'work' }]);
      const p = await f.call(c, 'patch', `/Users/${res.body.id}`, { operations: [{ op: 'replace', path: 'title', value: 'Lead' }] });
      expect(p.status).toBe(200);
      expect(p.body.title).toBe('Lead');
    });
  });
});
