import { ScimError } from '../../src/scim/errors';
import { applyPatch, memberIdsFromFilter, parsePatch, parsePath } from '../../src/scim/patch';
import { normaliseBody } from '../../src/scim/quirks';
import { coerceGroup, coerceResource, coerceUser } from '../../src/scim/resource';
import { ENTERPRISE_USER_SCHEMA as ENTERPRISE, GROUP_KIND, USER_KIND } from '../../src/scim/schemas';

/** PATCH parsing, vendor quirks and resource coercion: pure, table-driven, no database. */

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const body = (...Operations: Record<string, unknown>[]) => ({ schemas: [PATCH_OP], Operations });

const stored = () =>
  coerceResource(USER_KIND, {
    userName: 'alice@example.com',
    active: true,
    displayName: 'Alice',
    name: { givenName: 'Alice', familyName: 'Adams' },
    emails: [{ value: 'alice@example.com', type: 'work', primary: true }],
  });

function patchUser(resource: Record<string, unknown>, ...operations: Record<string, unknown>[]) {
  const ops = parsePatch(USER_KIND, body(...operations), { resourceType: 'User', resourceId: 'u-1' });
  return coerceResource(USER_KIND, applyPatch(USER_KIND, resource, ops));
}

function scimError(work: () => unknown): ScimError {
  try {
    work();
  } catch (error) {
    if (error instanceof ScimError) return error;
    throw error;
  }
  throw new Error('expected a ScimError');
}

describe('PATCH operations on a user', () => {
  it('replaces, adds and removes simple attributes (RFC 7644 §3.5.2)', () => {
    let r = patchUser(stored(), { op: 'replace', path: 'displayName', value: 'Alice A.' });
    expect(r.displayName).toBe('Alice A.');
    r = patchUser(r, { op: 'add', path: 'title', value: 'Engineer' });
    expect(r.title).toBe('Engineer');
    r = patchUser(r, { op: 'remove', path: 'title' });
    expect(r.title).toBeUndefined();
    r = patchUser(r, { op: 'replace', path: 'name.familyName', value: 'Archer' });
    expect(r.name).toEqual({ givenName: 'Alice', familyName: 'Archer' });
  });

  it('matches op names and attribute names case-insensitively (Entra "Replace", "Add", "Remove")', () => {
    let r = patchUser(stored(), { op: 'Replace', path: 'DisplayName', value: 'X' });
    expect(r.displayName).toBe('X');
    r = patchUser(r, { op: 'Add', path: 'NAME.GIVENNAME', value: 'Y' });
    expect((r.name as Record<string, unknown>).givenName).toBe('Y');
    r = patchUser(r, { op: 'Remove', path: 'displayname' });
    expect(r.displayName).toBeUndefined();
  });

  it('turns booleans sent as strings into booleans ("False", "True")', () => {
    expect(patchUser(stored(), { op: 'Replace', path: 'active', value: 'False' }).active).toBe(false);
    expect(patchUser(stored(), { op: 'replace', value: { active: 'True' } }).active).toBe(true);
    expect(scimError(() => patchUser(stored(), { op: 'replace', path: 'active', value: 'perhaps' })).scimType).toBe('invalidValue');
  });

  it('deactivates by a no-path replace (Okta)', () => {
    expect(patchUser(stored(), { op: 'replace', value: { active: false } }).active).toBe(false);
  });

  it('replaces on a filtered path, and creates the entry when the filter matches nothing (Entra)', () => {
    let r = patchUser(stored(), { op: 'Replace', path: 'emails[type eq "work"].value', value: 'a@b.c' });
    expect(r.emails).toEqual([{ value: 'a@b.c', type: 'work', primary: true }]);
    r = patchUser(r, { op: 'Add', path: 'phoneNumbers[type eq "mobile"].value', value: '+1 555 0100' });
    expect(r.phoneNumbers).toEqual([{ type: 'mobile', value: '+1 555 0100' }]);
    r = patchUser(r, { op: 'Replace', path: 'phoneNumbers[type eq "work"].value', value: '+1 555 0199' });
    expect(r.phoneNumbers).toEqual([
      { type: 'mobile', value: '+1 555 0100' },
      { type: 'work', value: '+1 555 0199' },
    ]);
    r = patchUser(r, { op: 'replace', path: 'addresses[type eq "work"]', value: { locality: 'Sydney' } });
    expect(r.addresses).toEqual([{ locality: 'Sydney', type: 'work' }]);
  });

  it('removes values selected by a filter, and removing what is not there changes nothing', () => {
    let r = patchUser(stored(), { op: 'add', path: 'emails', value: [{ value: 'home@example.com', type: 'home' }] });
    expect(r.emails).toHaveLength(2);
    r = patchUser(r, { op: 'remove', path: 'emails[type eq "home"]' });
    expect(r.emails).toEqual([{ value: 'alice@example.com', type: 'work', primary: true }]);
    expect(patchUser(r, { op: 'remove', path: 'phoneNumbers[type eq "fax"]' })).toEqual(r);
    expect(patchUser(r, { op: 'remove', path: 'nickName' })).toEqual(r);
  });

  it('reads a no-path replace with dotted and URN keys (the dot in 2.0 is not a separator)', () => {
    const r = patchUser(stored(), {
      op: 'replace',
      value: {
        displayName: 'x',
        'name.givenName': 'y',
        [`${ENTERPRISE}:employeeNumber`]: 'z',
        [ENTERPRISE]: { department: 'R&D' },
      },
    });
    expect(r.displayName).toBe('x');
    expect((r.name as Record<string, unknown>).givenName).toBe('y');
    expect(r[ENTERPRISE]).toEqual({ employeeNumber: 'z', department: 'R&D' });
    expect(r.schemas).toEqual(['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE]);
  });

  it('reads the manager sent as a bare string, and the malformed enterprise URN', () => {
    let r = patchUser(stored(), { op: 'Add', path: `${ENTERPRISE}:manager`, value: '271' });
    expect(r[ENTERPRISE]).toEqual({ manager: { value: '271' } });
    r = patchUser(r, { op: 'Replace', path: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0User:department', value: 'Ops' });
    expect(r[ENTERPRISE]).toEqual({ manager: { value: '271' }, department: 'Ops' });
    r = patchUser(r, { op: 'Remove', path: `${ENTERPRISE}:manager` });
    expect(r[ENTERPRISE]).toEqual({ department: 'Ops' });
    r = patchUser(r, { op: 'remove', path: ENTERPRISE });
    expect(r[ENTERPRISE]).toBeUndefined();
    expect(r.schemas).toEqual(['urn:ietf:params:scim:schemas:core:2.0:User']);
  });

  it('treats a null value as removal (RFC 7643 §2.5), with or without a path', () => {
    let r = patchUser(stored(), { op: 'replace', path: 'displayName', value: null });
    expect(r.displayName).toBeUndefined();
    r = patchUser(stored(), { op: 'replace', value: { displayName: null, title: 'T' } });
    expect(r.displayName).toBeUndefined();
    expect(r.title).toBe('T');
  });

  it('keeps at most one primary value: the one set last', () => {
    const r = patchUser(stored(), { op: 'add', path: 'emails', value: [{ value: 'new@example.com', type: 'work', primary: true }] });
    expect((r.emails as { primary?: boolean }[]).map((e) => e.primary)).toEqual([false, true]);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['an unknown op', { op: 'move', path: 'title', value: 'x' }, 'invalidSyntax'],
    ['remove without a path', { op: 'remove' }, 'noTarget'],
    ['add without a value', { op: 'add', path: 'title' }, 'invalidValue'],
    ['a no-path add of a scalar', { op: 'add', value: 'x' }, 'invalidValue'],
    ['an unknown attribute', { op: 'replace', path: 'shoeSize', value: 42 }, 'invalidPath'],
    ['a read-only attribute', { op: 'replace', path: 'id', value: 'x' }, 'mutability'],
    ['meta', { op: 'replace', path: 'meta.created', value: 'x' }, 'mutability'],
    ['a malformed path', { op: 'replace', path: 'emails[type eq "work"', value: 'x' }, 'invalidPath'],
    ['a filter on a single-valued attribute', { op: 'replace', path: 'name[givenName eq "a"]', value: 'x' }, 'invalidPath'],
    ['an unknown schema', { op: 'replace', path: 'urn:example:custom:1.0:x', value: 'x' }, 'invalidPath'],
    ['a wrong type', { op: 'replace', path: 'name', value: 'just a string' }, 'invalidValue'],
    ['removing the userName', { op: 'remove', path: 'userName' }, 'invalidValue'],
  ])('rejects %s', (_label, operation, scimType) => {
    const error = scimError(() => patchUser(stored(), operation));
    expect(error.status).toBe(400);
    expect(error.scimType).toBe(scimType);
  });

  it('rejects envelopes that are not PatchOp requests', () => {
    expect(scimError(() => parsePatch(USER_KIND, { schemas: [PATCH_OP], Operations: [] }, { resourceType: 'User' })).scimType).toBe('invalidSyntax');
    expect(scimError(() => parsePatch(USER_KIND, { schemas: ['urn:x'], Operations: [{ op: 'add', value: {} }] }, { resourceType: 'User' })).scimType).toBe('invalidSyntax');
    expect(scimError(() => parsePatch(USER_KIND, [1, 2], { resourceType: 'User' })).scimType).toBe('invalidSyntax');
    // lower-case "operations" from template-driven clients is read as Operations
    expect(parsePatch(USER_KIND, { operations: [{ Op: 'Replace', Path: 'title', Value: 'x' }] }, { resourceType: 'User' })).toEqual([
      { op: 'replace', path: 'title', value: 'x' },
    ]);
  });
});

describe('PATCH operations on a group', () => {
  const ctx = { resourceType: 'Group' as const, resourceId: 'AAAAAAAA-0000-4000-8000-000000000001' };

  it("drops Okta's own id from a no-path replace, and refuses another id", () => {
    const ops = parsePatch(GROUP_KIND, body({ op: 'replace', value: { id: 'aaaaaaaa-0000-4000-8000-000000000001', displayName: 'New' } }), ctx);
    expect(ops).toEqual([{ op: 'replace', path: 'displayName', value: 'New' }]);
    expect(scimError(() => parsePatch(GROUP_KIND, body({ op: 'replace', value: { id: 'other', displayName: 'New' } }), ctx)).scimType).toBe('mutability');
  });

  it('keeps member operations explicit for the row operations', () => {
    const ops = parsePatch(
      GROUP_KIND,
      body(
        { op: 'Add', path: 'members', value: [{ $ref: null, value: 'u1' }] },
        { op: 'Remove', path: 'members', value: [{ value: 'u2' }] },
        { op: 'remove', path: 'members[value eq "u3"]' },
        { op: 'replace', value: { members: [{ value: 'u4' }] } },
      ),
      ctx,
    );
    expect(ops.map((o) => [o.op, parsePath(GROUP_KIND, o.path).attribute?.name, parsePath(GROUP_KIND, o.path).filter])).toEqual([
      ['add', 'members', undefined],
      ['remove', 'members', undefined],
      ['remove', 'members', 'value eq "u3"'],
      ['replace', 'members', undefined],
    ]);
    expect(memberIdsFromFilter('value eq "u3" or value eq "u4"')).toEqual(['u3', 'u4']);
    expect(scimError(() => memberIdsFromFilter('display eq "x"')).scimType).toBe('invalidFilter');
  });

  it('renames through scim-patch and coerces the result', () => {
    const resource = coerceGroup({ displayName: 'Old' }).group.resource;
    const ops = parsePatch(GROUP_KIND, body({ op: 'Replace', path: 'displayName', value: 'New' }), ctx);
    expect(coerceGroup(applyPatch(GROUP_KIND, resource, ops)).group.displayName).toBe('New');
  });
});

describe('resource coercion: liberal in, strict stored', () => {
  it('stores nothing for explicit nulls, drops read-only, write-only and unknown attributes', () => {
    const write = coerceUser({
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE],
      id: 'client-chosen',
      userName: 'u@example.com',
      password: 'never stored',
      groups: [{ value: 'g' }],
      meta: { resourceType: 'User' },
      phoneNumbers: null,
      roles: [],
      shoeSize: 42,
      active: 'True',
      [ENTERPRISE]: { manager: null, department: null },
    });
    expect(write.resource).toEqual({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'u@example.com', active: true });
    expect(write.active).toBe(true);
  });

  it('derives the indexed columns (primary email, else first work, else first)', () => {
    const write = coerceUser({
      userName: 'u',
      externalId: 'e',
      name: { givenName: 'G', familyName: 'F' },
      emails: [{ value: 'home@x', type: 'home' }, { value: 'work@x', type: 'work' }],
    });
    expect(write).toMatchObject({ userName: 'u', externalId: 'e', givenName: 'G', familyName: 'F', primaryEmail: 'work@x', active: true });
  });

  it('accepts the malformed enterprise URN and a bare-string manager in a body (Entra)', () => {
    const normalised = normaliseBody(
      {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0User'],
        userName: 'u',
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0User': { employeeNumber: '7', manager: '271' },
      },
      { resourceType: 'User' },
    );
    expect(coerceUser(normalised).resource[ENTERPRISE]).toEqual({ employeeNumber: '7', manager: { value: '271' } });
  });

  it('requires userName and displayName, and rejects wrong types', () => {
    expect(scimError(() => coerceUser({ name: { givenName: 'x' } })).scimType).toBe('invalidValue');
    expect(scimError(() => coerceGroup({ members: [] })).scimType).toBe('invalidValue');
    expect(scimError(() => coerceUser({ userName: 'u', emails: 'not-an-object' })).scimType).toBe('invalidValue');
    expect(scimError(() => coerceUser({ userName: { nested: true } })).scimType).toBe('invalidValue');
    expect(scimError(() => coerceGroup({ displayName: 'g', members: [{ display: 'no value' }] })).scimType).toBe('invalidValue');
  });

  it('keeps group members apart from the stored group', () => {
    const { group, memberIds } = coerceGroup({
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group', 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group'],
      displayName: 'g',
      members: [{ value: 'u1', display: 'x' }],
    });
    expect(group.resource).toEqual({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'g' });
    expect(memberIds).toEqual(['u1']);
    expect(coerceGroup({ displayName: 'g' }).memberIds).toBeUndefined();
  });
});
