import { ConnectionService } from '../../src/connections/service';
import { usingPostgres } from '../helpers/database';
import { ENTERPRISE, ERROR_SCHEMA, GROUP_SCHEMA, LIST_RESPONSE, patch, ScimFixture, USER_SCHEMA, type ScimConnection } from './support';

/**
 * What the public conformance suites check on top of the RFC examples: every published schema
 * attribute against RFC 7643 §7, the discovery documents a client builds its models from, the root
 * search (RFC 7644 §3.4.3), PATCH on the whole enterprise extension, and `active` as stored.
 */

type Attribute = Record<string, unknown> & { name: string; subAttributes?: Attribute[] };

const TYPES = ['string', 'boolean', 'decimal', 'integer', 'dateTime', 'reference', 'complex', 'binary'];
const MUTABILITY = ['readOnly', 'readWrite', 'immutable', 'writeOnly'];
const RETURNED = ['always', 'never', 'default', 'request'];
const UNIQUENESS = ['none', 'server', 'global'];
const CHARACTERISTICS = ['name', 'type', 'multiValued', 'description', 'required', 'canonicalValues', 'caseExact', 'mutability', 'returned', 'uniqueness', 'referenceTypes', 'subAttributes'];
// RFC 7643 §2.1 ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA; "$ref" is the one name §2.4 adds.
const ATTRNAME = /^(?:[A-Za-z][A-Za-z0-9_-]*|\$ref)$/;

/** Every way an attribute definition breaks RFC 7643 §7 (and §2.3's rules per type), as readable strings. */
function violations(attribute: Attribute, path: string, resourceTypes: string[], depth: number, allowNestedComplex: (path: string) => boolean): string[] {
  const out: string[] = [];
  const fail = (message: string) => out.push(`${path}: ${message}`);
  for (const key of Object.keys(attribute)) if (!CHARACTERISTICS.includes(key)) fail(`unknown characteristic ${key}`);
  if (typeof attribute.name !== 'string' || !ATTRNAME.test(attribute.name)) fail(`name ${String(attribute.name)} is not an ATTRNAME`);
  if (!TYPES.includes(attribute.type as string)) fail(`type ${String(attribute.type)} is not one of ${TYPES.join(', ')}`);
  for (const key of ['multiValued', 'required', 'caseExact']) if (typeof attribute[key] !== 'boolean') fail(`${key} must be a boolean`);
  if (typeof attribute.description !== 'string' || attribute.description === '') fail('description must be a non-empty string');
  if (!MUTABILITY.includes(attribute.mutability as string)) fail(`mutability ${String(attribute.mutability)} is not one of ${MUTABILITY.join(', ')}`);
  if (!RETURNED.includes(attribute.returned as string)) fail(`returned ${String(attribute.returned)} is not one of ${RETURNED.join(', ')}`);
  if (!UNIQUENESS.includes(attribute.uniqueness as string)) fail(`uniqueness ${String(attribute.uniqueness)} is not one of ${UNIQUENESS.join(', ')}`);
  if (attribute.canonicalValues !== undefined && !(Array.isArray(attribute.canonicalValues) && attribute.canonicalValues.every((v) => typeof v === 'string'))) {
    fail('canonicalValues must be an array of strings');
  }
  // §7: a writeOnly value SHALL NOT be returned.
  if (attribute.mutability === 'writeOnly' && attribute.returned !== 'never') fail('a writeOnly attribute must be returned "never"');
  if (attribute.type === 'reference') {
    const types = attribute.referenceTypes;
    if (!Array.isArray(types) || types.length === 0) fail('a reference needs referenceTypes');
    else for (const t of types) if (t !== 'external' && t !== 'uri' && !resourceTypes.includes(t as string)) fail(`referenceType ${String(t)} is neither external, uri nor a resource type`);
    // §2.3.7: a reference is case exact.
    if (attribute.caseExact !== true) fail('a reference is case exact');
  } else if (attribute.referenceTypes !== undefined) fail('referenceTypes apply to references only');
  // §2.3.6: a binary is case exact and has no uniqueness.
  if (attribute.type === 'binary' && (attribute.caseExact !== true || attribute.uniqueness !== 'none')) fail('a binary is case exact with no uniqueness');
  // §2.3.2: a boolean has no case sensitivity or uniqueness; §2.3.8: neither has a complex attribute.
  if ((attribute.type === 'boolean' || attribute.type === 'complex') && (attribute.caseExact !== false || attribute.uniqueness !== 'none')) {
    fail(`a ${String(attribute.type)} has no case sensitivity or uniqueness`);
  }
  if (attribute.type === 'complex') {
    if (!Array.isArray(attribute.subAttributes) || attribute.subAttributes.length === 0) fail('a complex attribute needs subAttributes');
    // §2.3.8: a complex attribute has no complex sub-attributes.
    else if (depth > 0 && !allowNestedComplex(path)) fail('a sub-attribute cannot be complex');
  } else if (attribute.subAttributes !== undefined) fail('subAttributes apply to complex attributes only');
  const names = new Set<string>();
  for (const sub of attribute.subAttributes ?? []) {
    if (names.has(sub.name.toLowerCase())) fail(`sub-attribute ${sub.name} is declared twice`);
    names.add(sub.name.toLowerCase());
    out.push(...violations(sub, `${path}.${sub.name}`, resourceTypes, depth + 1, allowNestedComplex));
  }
  return out;
}

describe(`SCIM conformance (${usingPostgres ? 'Postgres' : 'PGlite'})`, () => {
  let f: ScimFixture;
  let c: ScimConnection;

  beforeAll(async () => {
    f = await ScimFixture.start();
    c = await f.connection({ name: 'conformance' });
  }, 60_000);
  afterAll(async () => {
    await f.stop();
  });

  describe('discovery', () => {
    it('publishes every schema attribute as RFC 7643 §7 defines it, recursively', async () => {
      const types = (await f.call(c, 'get', '/ResourceTypes')).body.Resources.map((r: { name: string }) => r.name) as string[];
      const res = await f.call(c, 'get', '/Schemas');
      expect(res.status).toBe(200);
      const schemas = res.body.Resources as { id: string; name: string; attributes: Attribute[]; schemas: string[] }[];
      expect(schemas.map((s) => s.name)).toEqual(['User', 'EnterpriseUser', 'Group', 'ServiceProviderConfig', 'ResourceType', 'Schema']);
      const problems: string[] = [];
      let checked = 0;
      const count = (list: Attribute[]): number => list.reduce((n, a) => n + 1 + count(a.subAttributes ?? []), 0);
      for (const schema of schemas) {
        expect(schema.schemas).toEqual(['urn:ietf:params:scim:schemas:core:2.0:Schema']);
        expect(schema.id).toMatch(/^urn:ietf:params:scim:schemas:/);
        const names = new Set<string>();
        for (const attribute of schema.attributes) {
          if (names.has(attribute.name.toLowerCase())) problems.push(`${schema.name}.${attribute.name}: declared twice`);
          names.add(attribute.name.toLowerCase());
          // RFC 7643 §8.7.2 itself describes subAttributes with the attribute characteristics one level down.
          problems.push(...violations(attribute, `${schema.name}.${attribute.name}`, types, 0, (path) => path === 'Schema.attributes.subAttributes'));
        }
        checked += count(schema.attributes);
      }
      expect(problems).toEqual([]);
      expect(checked).toBeGreaterThan(100);
    });

    it('catches what it is there to catch: a reference without referenceTypes, a complex without subAttributes, values outside the sets', () => {
      const base = { multiValued: false, description: 'd', required: false, caseExact: false, mutability: 'readWrite', returned: 'default', uniqueness: 'none' };
      const none = () => false;
      expect(violations({ ...base, name: 'value', type: 'reference' }, 'User.photos.value', ['User'], 1, none)).toEqual([
        'User.photos.value: a reference needs referenceTypes',
        'User.photos.value: a reference is case exact',
      ]);
      expect(violations({ ...base, name: 'name', type: 'complex' }, 'User.name', [], 0, none)).toEqual(['User.name: a complex attribute needs subAttributes']);
      expect(violations({ ...base, name: 'x', type: 'text', mutability: 'sometimes', returned: 'maybe', uniqueness: 'tenant' }, 'X.x', [], 0, none)).toHaveLength(4);
      expect(violations({ ...base, name: 'm', type: 'reference', caseExact: true, referenceTypes: ['Widget'] }, 'X.m', ['User'], 0, none)).toEqual([
        'X.m: referenceType Widget is neither external, uri nor a resource type',
      ]);
    });

    it('lists ResourceTypes whose schemas and extensions are all published, and the three discovery schemas', async () => {
      const schemaIds = (await f.call(c, 'get', '/Schemas')).body.Resources.map((s: { id: string }) => s.id) as string[];
      for (const type of (await f.call(c, 'get', '/ResourceTypes')).body.Resources as { schema: string; schemaExtensions: { schema: string; required: boolean }[]; endpoint: string }[]) {
        expect(schemaIds).toContain(type.schema);
        expect(Array.isArray(type.schemaExtensions)).toBe(true);
        for (const extension of type.schemaExtensions) expect(schemaIds).toContain(extension.schema);
        expect(type.endpoint).toMatch(/^\//);
      }
      for (const id of ['ServiceProviderConfig', 'ResourceType', 'Schema']) {
        const res = await f.call(c, 'get', `/Schemas/urn:ietf:params:scim:schemas:core:2.0:${id}`);
        expect(res.status).toBe(200);
        expect(res.body.name).toBe(id);
      }
    });

    it('answers 405 to anything but GET on the discovery endpoints', async () => {
      for (const path of ['/ServiceProviderConfig', '/ResourceTypes', '/Schemas', '/ResourceTypes/User', `/Schemas/${USER_SCHEMA}`]) {
        for (const method of ['post', 'put', 'patch', 'delete'] as const) {
          const res = await f.call(c, method, path, {});
          expect({ path, method, status: res.status }).toEqual({ path, method, status: 405 });
          expect(res.body).toMatchObject({ schemas: [ERROR_SCHEMA], status: '405' });
          expect(res.headers.allow).toBe('GET');
        }
      }
    });
  });

  describe('POST /.search at the service root (RFC 7644 §3.4.3)', () => {
    let q: ScimConnection;
    const SEARCH = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
    beforeAll(async () => {
      q = await f.connection({ name: 'root search' });
      const ann = await f.createUser(q, 'ann@example.com', { displayName: 'Ann' });
      await f.createUser(q, 'bob@example.com', { displayName: 'Bob' });
      await f.createGroup(q, 'Admins', [ann.id as string]);
      await f.createGroup(q, 'Builders');
    });
    const search = (body: unknown) => f.call(q, 'post', '/.search', body);

    it('returns users and groups in one ListResponse, users first', async () => {
      const res = await search({ schemas: [SEARCH] });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ schemas: [LIST_RESPONSE], totalResults: 4, startIndex: 1, itemsPerPage: 4 });
      expect(res.body.Resources.map((r: { meta: { resourceType: string } }) => r.meta.resourceType)).toEqual(['User', 'User', 'Group', 'Group']);
      expect(res.body.Resources[2].members).toHaveLength(1);
    });

    it('filters across types: an attribute one type lacks matches none of that type', async () => {
      const byName = await search({ schemas: [SEARCH], filter: 'displayName sw "b"' });
      expect(byName.body.totalResults).toBe(2);
      expect(byName.body.Resources.map((r: { displayName: string }) => r.displayName)).toEqual(['Bob', 'Builders']);
      const users = await search({ schemas: [SEARCH], filter: 'userName eq "ann@example.com"' });
      expect(users.body.Resources.map((r: { userName: string }) => r.userName)).toEqual(['ann@example.com']);
      const bad = await search({ schemas: [SEARCH], filter: 'nosuch eq "x"' });
      expect(bad.status).toBe(400);
      expect(bad.body.scimType).toBe('invalidFilter');
    });

    it('pages across the types with startIndex/count and keeps totalResults', async () => {
      const page = await search({ schemas: [SEARCH], startIndex: 2, count: 2 });
      expect(page.body).toMatchObject({ totalResults: 4, startIndex: 2, itemsPerPage: 2 });
      expect(page.body.Resources.map((r: { userName?: string; displayName: string }) => r.userName ?? r.displayName)).toEqual(['bob@example.com', 'Admins']);
      const past = await search({ schemas: [SEARCH], startIndex: 10, count: 2 });
      expect(past.body).toMatchObject({ totalResults: 4, itemsPerPage: 0, Resources: [] });
    });

    it('sorts across the types by sortBy and projects with attributes', async () => {
      const res = await search({ schemas: [SEARCH], sortBy: 'displayName', sortOrder: 'descending', attributes: ['displayName'] });
      expect(res.body.Resources.map((r: { displayName: string }) => r.displayName)).toEqual(['Builders', 'Bob', 'Ann', 'Admins']);
      expect(Object.keys(res.body.Resources[0]).sort()).toEqual(['displayName', 'id', 'meta', 'schemas']);
      // Groups have no userName: they sort as having no value, last ascending and first descending.
      const byUserName = await search({ schemas: [SEARCH], sortBy: 'userName', sortOrder: 'descending' });
      expect(byUserName.body.Resources.map((r: { userName?: string; displayName: string }) => r.userName ?? r.displayName)).toEqual(['Admins', 'Builders', 'bob@example.com', 'ann@example.com']);
      const bad = await search({ schemas: [SEARCH], sortBy: 'nosuch' });
      expect(bad.status).toBe(400);
    });

    it('refuses a body that is not a SearchRequest', async () => {
      const res = await search({ schemas: [USER_SCHEMA] });
      expect(res.status).toBe(400);
      expect(res.body.scimType).toBe('invalidSyntax');
    });
  });

  describe('PATCH with the enterprise extension URN as path', () => {
    it('accepts a value object that carries schemas, like the no-path form', async () => {
      const user = await f.createUser(c, 'ext@example.com');
      const res = await f.call(c, 'patch', `/Users/${user.id}`, patch({
        op: 'add',
        path: ENTERPRISE,
        value: { schemas: [ENTERPRISE], employeeNumber: '42', department: 'R&D', manager: { value: user.id } },
      }));
      expect(res.status).toBe(200);
      expect(res.body[ENTERPRISE]).toEqual({ employeeNumber: '42', department: 'R&D', manager: { value: user.id } });
      expect(res.body.schemas).toEqual([USER_SCHEMA, ENTERPRISE]);
      const replaced = await f.call(c, 'patch', `/Users/${user.id}`, patch({ op: 'replace', path: ENTERPRISE, value: { schemas: [ENTERPRISE], department: 'Ops' } }));
      expect(replaced.status).toBe(200);
      expect(replaced.body[ENTERPRISE].department).toBe('Ops');
    });
  });

  describe('active as stored', () => {
    it('returns a user created without active as active, in every response', async () => {
      const created = await f.call(c, 'post', '/Users', { schemas: [USER_SCHEMA], userName: 'noactive@example.com' });
      expect(created.status).toBe(201);
      expect(created.body.active).toBe(true);
      const id = created.body.id as string;
      expect((await f.call(c, 'get', `/Users/${id}`)).body.active).toBe(true);
      const list = await f.call(c, 'get', `/Users?filter=${encodeURIComponent('userName eq "noactive@example.com"')}`);
      expect(list.body.Resources[0].active).toBe(true);
      const put = await f.call(c, 'put', `/Users/${id}`, { schemas: [USER_SCHEMA], userName: 'noactive@example.com', displayName: 'No Active' });
      expect(put.body.active).toBe(true);
      const patched = await f.call(c, 'patch', `/Users/${id}`, patch({ op: 'replace', path: 'title', value: 'Tester' }));
      expect(patched.body.active).toBe(true);
      const searched = await f.call(c, 'post', '/Users/.search', { filter: 'active eq true and userName eq "noactive@example.com"' });
      expect(searched.body.Resources.map((r: { active: boolean }) => r.active)).toEqual([true]);
      const { rows } = await f.t.db.query<{ active: boolean }>('SELECT active FROM directory_users WHERE id = $1', [id]);
      expect(rows[0]!.active).toBe(true);
    });

    it('returns active false once deactivated, and true again after the attribute is removed', async () => {
      const user = await f.createUser(c, 'toggle@example.com');
      const off = await f.call(c, 'patch', `/Users/${user.id}`, patch({ op: 'replace', path: 'active', value: false }));
      expect(off.body.active).toBe(false);
      expect((await f.call(c, 'get', `/Users/${user.id}`)).body.active).toBe(false);
      const removed = await f.call(c, 'patch', `/Users/${user.id}`, patch({ op: 'remove', path: 'active' }));
      expect(removed.body.active).toBe(true);
    });
  });

  it('keeps group resources free of user-only attributes', async () => {
    const group = await f.createGroup(c, 'Plain');
    expect(group.schemas).toEqual([GROUP_SCHEMA]);
    expect(group.active).toBeUndefined();
  });

  describe('token cache (SCIM_AUTH_CACHE_SECONDS)', () => {
    let cached: ScimFixture;
    beforeAll(async () => {
      cached = await ScimFixture.start({ SCIM_AUTH_CACHE_SECONDS: '60' });
    }, 60_000);
    afterAll(async () => {
      await cached.stop();
    });

    it('looks a token up once for concurrent requests, never caches a refusal, and keeps hashing and comparing', async () => {
      const k = await cached.connection({ name: 'cached' });
      const original = ConnectionService.prototype.authenticate;
      // A slow lookup, so that every request arrives while the first is still being checked.
      const lookups = jest.spyOn(ConnectionService.prototype, 'authenticate').mockImplementation(async function (this: ConnectionService, ...args) {
        await new Promise((resolve) => setTimeout(resolve, 150));
        return original.apply(this, args);
      });
      try {
        const answers = await Promise.all(Array.from({ length: 6 }, () => cached.call(k, 'get', '/Users?count=1')));
        expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
        expect(lookups).toHaveBeenCalledTimes(1);
        await cached.call(k, 'get', '/Users?count=1');
        expect(lookups).toHaveBeenCalledTimes(1);
        const wrong = { ...k, token: `${k.token.slice(0, -4)}AAAA` };
        expect((await cached.call(wrong, 'get', '/Users')).status).toBe(401);
        expect((await cached.call(wrong, 'get', '/Users')).status).toBe(401);
        expect(lookups).toHaveBeenCalledTimes(3);
      } finally {
        lookups.mockRestore();
      }
    });
  });
});
