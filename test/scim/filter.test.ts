import { DirectoryRepository } from '../../src/directory/repository';
import { ScimError } from '../../src/scim/errors';
import { filterToSql, sortToSql } from '../../src/scim/filter';
import { coerceGroup, coerceUser } from '../../src/scim/resource';
import { GROUP_KIND, USER_KIND } from '../../src/scim/schemas';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../helpers/database';

/** Filter → SQL, run against real rows: every operator, logical combinations, value paths, case rules. */
describe(`SCIM filter → SQL (${usingPostgres ? 'Postgres' : 'PGlite'})`, () => {
  let t: TestDatabase;
  let repo: DirectoryRepository;
  let connectionId: string;
  let otherConnectionId: string;
  const ids: Record<string, string> = {};
  let groupId: string;

  const USERS = [
    {
      userName: 'Alice@Example.com',
      externalId: 'ext-A',
      displayName: 'Alice Adams',
      name: { givenName: 'Alice', familyName: 'Adams' },
      title: 'Engineer',
      emails: [
        { value: 'alice@example.com', type: 'work', primary: true },
        { value: 'alice@home.example', type: 'home' },
      ],
      active: true,
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { department: 'R&D', manager: { value: 'm-1' } },
    },
    {
      userName: 'bob@example.com',
      externalId: 'ext-B',
      displayName: 'Bob Brown',
      name: { givenName: 'Bob', familyName: 'Brown' },
      emails: [{ value: 'bob@corp.example', type: 'work' }],
      active: false,
    },
    {
      userName: 'carol_100%@example.org',
      displayName: 'Carol',
      name: { givenName: 'Carol', familyName: 'Clark' },
      emails: [{ value: 'carol@home.example', type: 'home', primary: true }],
      active: true,
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { department: 'Sales' },
    },
  ];

  beforeAll(async () => {
    t = await createTestDatabase();
    repo = new DirectoryRepository(t.db);
    await t.db.query("INSERT INTO tenants (client_key, base_url, shared_secret_sealed) VALUES ('t', 'https://t.atlassian.net', 'x')");
    const { rows } = await t.db.query<{ id: string }>(
      "INSERT INTO connections (tenant_id, name, provider) SELECT id, n, 'generic' FROM tenants, (VALUES ('one'), ('two')) v(n) RETURNING id",
    );
    connectionId = rows[0]!.id;
    otherConnectionId = rows[1]!.id;
    for (const user of USERS) {
      const created = await repo.createUser(connectionId, coerceUser({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], ...user }));
      ids[user.userName] = created.id;
    }
    // The same userName in another connection must never show up here.
    await repo.createUser(otherConnectionId, coerceUser({ userName: 'alice@example.com' }));
    const group = await repo.createGroup(connectionId, coerceGroup({ displayName: 'Engineering', externalId: 'g-1' }).group);
    groupId = group.id;
    await repo.addMembers(connectionId, groupId, [ids['Alice@Example.com']!]);
    await repo.createGroup(connectionId, coerceGroup({ displayName: 'Sales' }).group);
  }, 60_000);
  afterAll(async () => {
    await t.destroy();
  });

  async function userNames(filter: string): Promise<string[]> {
    const page = await repo.listUsers(connectionId, { where: filterToSql(USER_KIND, filter), offset: 0, limit: 100 });
    expect(page.total).toBe(page.items.length);
    return page.items.map((u) => u.userName).sort();
  }

  const alice = 'Alice@Example.com';
  const bob = 'bob@example.com';
  const carol = 'carol_100%@example.org';

  it.each<[string, string[]]>([
    ['userName eq "alice@example.com"', [alice]],
    ['userName eq "ALICE@EXAMPLE.COM"', [alice]],
    ['USERNAME Eq "alice@example.com"', [alice]],
    ['userName ne "alice@example.com"', [bob, carol]],
    ['userName co "EXAMPLE"', [alice, bob, carol]],
    ['userName co "100%"', [carol]],
    ['userName co "_"', [carol]],
    ['userName sw "B"', [bob]],
    ['userName ew ".ORG"', [carol]],
    ['userName gt "b"', [bob, carol]],
    ['userName ge "bob@example.com"', [bob, carol]],
    ['userName lt "b"', [alice]],
    ['userName le "bob@example.com"', [alice, bob]],
    ['externalId eq "ext-A"', [alice]],
    ['externalId eq "EXT-A"', []],
    ['externalId pr', [alice, bob]],
    ['not (externalId pr)', [carol]],
    ['displayName eq "bob brown"', [bob]],
    ['name.givenName eq "carol"', [carol]],
    ['name.familyName sw "b"', [bob]],
    ['active eq true', [alice, carol]],
    ['active eq false', [bob]],
    ['active ne true', [bob]],
    ['title pr', [alice]],
    ['title eq "engineer"', [alice]],
    ['emails eq "bob@corp.example"', [bob]],
    ['emails.value eq "ALICE@home.example"', [alice]],
    ['emails.type eq "home"', [alice, carol]],
    ['emails[type eq "work"]', [alice, bob]],
    ['emails[type eq "work" and value co "corp"]', [bob]],
    ['emails[type eq "work"].value eq "alice@example.com"', [alice]],
    // one element must match both: Alice's home address is not her work address
    ['emails[type eq "work"].value eq "alice@home.example"', []],
    ['emails[primary eq true]', [alice, carol]],
    ['emails[not (primary eq true)]', [alice, bob]],
    ['emails pr', [alice, bob, carol]],
    ['phoneNumbers pr', []],
    ['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d"', [alice]],
    ['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m-1"', [alice]],
    ['urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob@example.com"', [bob]],
    ['userName eq "alice@example.com" or userName eq "bob@example.com"', [alice, bob]],
    ['userName sw "a" and active eq true', [alice]],
    ['active eq true and (userName sw "a" or userName sw "c")', [alice, carol]],
    ['active eq true and not (userName sw "a")', [carol]],
    ['not (userName sw "a" or userName sw "b")', [carol]],
    ['userName sw "a" or userName sw "b" and active eq true', [alice]],
    ['meta.created gt "2000-01-01T00:00:00Z"', [alice, bob, carol]],
    ['meta.lastModified lt "2000-01-01T00:00:00Z"', []],
    ['displayName eq null', []],
  ])('%s', async (filter, expected) => {
    expect(await userNames(filter)).toEqual(expected.sort());
  });

  it('filters by id, and an id that is not a uuid matches nothing', async () => {
    expect(await userNames(`id eq "${ids[bob]}"`)).toEqual([bob]);
    expect(await userNames('id eq "not-a-uuid"')).toEqual([]);
    expect(await userNames(`id ne "${ids[bob]}"`)).toEqual([alice, carol]);
  });

  it("filters users by their groups and groups by their members", async () => {
    expect(await userNames(`groups.value eq "${groupId}"`)).toEqual([alice]);
    const groups = async (filter: string) =>
      (await repo.listGroups(connectionId, { where: filterToSql(GROUP_KIND, filter), offset: 0, limit: 10 })).items.map((g) => g.displayName).sort();
    expect(await groups(`members.value eq "${ids[alice]}"`)).toEqual(['Engineering']);
    expect(await groups(`members[value eq "${ids[bob]}"]`)).toEqual([]);
    expect(await groups('members pr')).toEqual(['Engineering']);
    expect(await groups('displayName eq "ENGINEERING"')).toEqual(['Engineering']);
    expect(await groups('externalId eq "g-1"')).toEqual(['Engineering']);
    expect(await groups('not (members pr)')).toEqual(['Sales']);
  });

  it.each([
    ['userName eq', 'incomplete'],
    ['userName xx "a"', 'unknown operator'],
    ['nosuchAttribute eq "a"', 'unknown attribute'],
    ['password eq "secret"', 'write-only attribute'],
    ['active gt true', 'ordering a boolean'],
    ['active eq "maybe"', 'not a boolean'],
    ['meta.created gt "yesterday"', 'not a dateTime'],
    ['urn:example:custom:attr eq "x"', 'unknown schema'],
    ['emails[type eq "work"', 'unclosed bracket'],
    ['(userName eq "a"', 'unclosed parenthesis'],
  ])('rejects %s (%s) as invalidFilter', async (filter) => {
    let error: unknown;
    try {
      await userNames(filter);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ScimError);
    expect((error as ScimError).status).toBe(400);
    expect((error as ScimError).scimType).toBe('invalidFilter');
  });

  it('keeps values out of the SQL text (parameters only)', () => {
    const params = { values: [] as unknown[], add(v: unknown) { this.values.push(v); return `$${this.values.length}`; } };
    const sql = filterToSql(USER_KIND, `userName eq "x'); DROP TABLE tenants; --"`)(params as never);
    expect(sql).not.toContain('DROP');
    expect(params.values).toEqual(["x'); DROP TABLE tenants; --"]);
  });

  it('sorts case-insensitively in either order and pages with a stable order', async () => {
    const sorted = async (sortBy: string, order?: string) =>
      (await repo.listUsers(connectionId, { orderBy: sortToSql(USER_KIND, sortBy, order), offset: 0, limit: 10 })).items.map((u) => u.userName);
    expect(await sorted('userName')).toEqual([alice, bob, carol]);
    expect(await sorted('userName', 'descending')).toEqual([carol, bob, alice]);
    expect(await sorted('name.familyName', 'ascending')).toEqual([alice, bob, carol]);
    expect(await sorted('emails')).toEqual([alice, bob, carol]);
    expect(() => sortToSql(USER_KIND, 'userName', 'sideways')).toThrow(ScimError);

    const page1 = await repo.listUsers(connectionId, { offset: 0, limit: 2 });
    const page2 = await repo.listUsers(connectionId, { offset: 2, limit: 2 });
    const beyond = await repo.listUsers(connectionId, { offset: 10, limit: 2 });
    expect(page1.total).toBe(3);
    expect(page2.total).toBe(3);
    expect(beyond).toEqual({ total: 3, items: [] });
    expect([...page1.items, ...page2.items].map((u) => u.id)).toEqual(
      (await repo.listUsers(connectionId, { offset: 0, limit: 10 })).items.map((u) => u.id),
    );
    expect((await repo.listUsers(connectionId, { offset: 0, limit: 0 })).total).toBe(3);
  });

  it('answers userName eq from the lower(user_name) index, not a scan', async () => {
    const params = { values: [connectionId] as unknown[], add(v: unknown) { this.values.push(v); return `$${this.values.length}`; } };
    const where = filterToSql(USER_KIND, 'userName eq "alice@example.com"')(params as never);
    await t.db.query('SET enable_seqscan = off');
    try {
      const { rows } = await t.db.query<{ 'QUERY PLAN': string }>(`EXPLAIN SELECT id FROM directory_users u WHERE u.connection_id = $1 AND ${where}`, params.values);
      expect(rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/directory_users_user_name/);
    } finally {
      await t.db.query('SET enable_seqscan = on');
    }
  });
  it('marks only a unique-key eq as matching at most one row', () => {
    const pins = (kind: typeof USER_KIND, text: string) => filterToSql(kind, text).atMostOne;
    expect(pins(USER_KIND, 'userName eq "alice@example.com"')).toBe(true);
    expect(pins(USER_KIND, 'USERNAME eq "alice@example.com"')).toBe(true);
    expect(pins(USER_KIND, 'urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a"')).toBe(true);
    expect(pins(USER_KIND, `id eq "${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}"`)).toBe(true);
    expect(pins(GROUP_KIND, 'displayName eq "Design"')).toBe(true);
    // Not unique, not equality, or not alone: the general path (order, total, byte cap).
    expect(pins(USER_KIND, 'displayName eq "Alice Adams"')).toBe(false);
    expect(pins(USER_KIND, 'externalId eq "ext-A"')).toBe(false);
    expect(pins(USER_KIND, 'userName co "alice"')).toBe(false);
    expect(pins(USER_KIND, 'userName ne "alice@example.com"')).toBe(false);
    expect(pins(USER_KIND, 'userName eq "alice@example.com" or userName eq "bob@example.com"')).toBe(false);
    expect(pins(USER_KIND, 'userName eq "alice@example.com" and active eq true')).toBe(false);
    expect(pins(USER_KIND, 'not (userName eq "alice@example.com")')).toBe(false);
    expect(pins(GROUP_KIND, 'externalId eq "g"')).toBe(false);
  });

  it('pages a unique-key lookup like any other list: the total stays 1 past the first page', async () => {
    const lookup = (filter: string, offset: number, limit = 10) => repo.listUsers(connectionId, { where: filterToSql(USER_KIND, filter), offset, limit, maxBytes: 64 * 1024 });
    const found = await lookup('userName eq "ALICE@example.com"', 0);
    expect(found.total).toBe(1);
    expect(found.items.map((u) => u.id)).toEqual([ids[alice]]);
    expect(await lookup('userName eq "alice@example.com"', 1)).toEqual({ total: 1, items: [] });
    expect(await lookup('userName eq "alice@example.com"', 0, 0)).toEqual({ total: 1, items: [] });
    expect(await lookup('userName eq "nobody@example.com"', 0)).toEqual({ total: 0, items: [] });
    expect(await lookup('userName eq "nobody@example.com"', 3)).toEqual({ total: 0, items: [] });
    // Scoped to the connection like every list.
    const other = await repo.listUsers(otherConnectionId, { where: filterToSql(USER_KIND, 'userName eq "alice@example.com"'), offset: 0, limit: 10 });
    expect(other.total).toBe(1);
    expect(other.items[0]!.id).not.toBe(ids[alice]);
    const withGroups = await repo.listUsers(connectionId, { where: filterToSql(USER_KIND, 'userName eq "alice@example.com"'), offset: 0, limit: 10, withGroups: true });
    expect(withGroups.items[0]!.groups.map((g) => g.groupId)).toEqual([groupId]);
    const group = await repo.listGroups(connectionId, { where: filterToSql(GROUP_KIND, 'displayName eq "ENGINEERING"'), offset: 0, limit: 10 });
    expect(group.items.map((g) => g.id)).toEqual([groupId]);
  });
});
