import type { DirectoryChange } from '../../src/directory/types';
import { readDirectory, readDirectorySubset, touchedByChanges } from '../../src/sync/snapshot';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../helpers/database';
import { createTenantAndConnection, DirectoryFixture } from './fixtures';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.destroy();
});

describe(`directory snapshot (${usingPostgres ? 'Postgres' : 'PGlite'})`, () => {
  it('pages through rows written in one statement (one shared microsecond timestamp) without repeating or losing any', async () => {
    const { connectionId } = await createTenantAndConnection(t.db);
    const other = await createTenantAndConnection(t.db);
    for (const id of [connectionId, other.connectionId]) {
      await t.db.query(
        "INSERT INTO directory_users (connection_id, user_name, primary_email, resource) SELECT $1, 'u' || i, 'u' || i || '@corp.com', '{}' FROM generate_series(1, 7) i",
        [id],
      );
      await t.db.query("INSERT INTO directory_groups (connection_id, display_name, resource) SELECT $1, 'g' || i, '{}' FROM generate_series(1, 5) i", [id]);
      await t.db.query(
        `INSERT INTO directory_memberships (group_id, user_id, connection_id)
         SELECT g.id, u.id, $1 FROM directory_users u CROSS JOIN directory_groups g WHERE u.connection_id = $1 AND g.connection_id = $1`,
        [id],
      );
    }
    const snapshot = await readDirectory(t.db, connectionId, 2);
    expect(snapshot.users.map((u) => u.userName).sort()).toEqual(['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7']);
    expect(snapshot.groups.map((g) => g.displayName).sort()).toEqual(['g1', 'g2', 'g3', 'g4', 'g5']);
    expect(snapshot.memberships).toHaveLength(35);
    expect(new Set(snapshot.memberships.map((m) => `${m.groupId}/${m.userId}`)).size).toBe(35);
    const userIds = new Set(snapshot.users.map((u) => u.id));
    expect(snapshot.memberships.every((m) => userIds.has(m.userId))).toBe(true);
  });

  it('reads the touched users with all their memberships and the groups those name', async () => {
    const { connectionId } = await createTenantAndConnection(t.db);
    const dir = new DirectoryFixture(t.db, connectionId);
    const ann = await dir.addUser({ userName: 'ann@corp.com' });
    const ben = await dir.addUser({ userName: 'ben@corp.com' });
    const devs = await dir.addGroup('devs', [ann, ben]);
    await dir.addGroup('ops', [ben]);
    const empty = await dir.addGroup('empty');
    const subset = await readDirectorySubset(t.db, connectionId, [ann, '00000000-0000-0000-0000-000000000000'], [empty]);
    expect(subset.users.map((u) => u.userName)).toEqual(['ann@corp.com']);
    expect(subset.memberships).toEqual([{ groupId: devs, userId: ann }]);
    expect(subset.groups.map((g) => g.displayName).sort()).toEqual(['devs', 'empty']);
  });
});

describe('touchedByChanges', () => {
  const change = (entity: DirectoryChange['entity'], action: DirectoryChange['action'], entityId: string, memberId: string | null = null): DirectoryChange => ({
    id: 1,
    connectionId: 'c',
    entity,
    entityId,
    memberId,
    action,
    origin: 'push',
    createdAt: new Date(0),
  });
  it.each<[string, DirectoryChange[], Partial<ReturnType<typeof touchedByChanges>>]>([
    ['user changes touch the user', [change('user', 'created', 'u1'), change('user', 'deleted', 'u2')], { userIds: ['u1', 'u2'], needsFullRun: null }],
    ['membership changes touch the member', [change('membership', 'added', 'g1', 'u3')], { userIds: ['u3'], groupIds: [] }],
    ['a removed membership also touches the group the member left', [change('membership', 'removed', 'g1', 'u3')], { userIds: ['u3'], groupIds: ['g1'], renamedGroupIds: [] }],
    ['a created group is looked at (created when missing)', [change('group', 'created', 'g1')], { groupIds: ['g1'], renamedGroupIds: [] }],
    ['a renamed group re-maps its members', [change('group', 'updated', 'g1')], { groupIds: ['g1'], renamedGroupIds: ['g1'] }],
    ['a deleted group needs a full run', [change('group', 'deleted', 'g1')], { needsFullRun: 'group g1 was deleted' }],
  ])('%s', (_name, changes, expected) => {
    expect(touchedByChanges(changes)).toMatchObject(expected);
  });
});
