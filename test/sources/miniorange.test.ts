import { IdpDirectory } from '../fakes/idp/directory-data';
import { FakeMiniOrange } from '../fakes/idp/fake-miniorange';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { TEST_ENCRYPTION_KEYS } from '../helpers/runtime';
import { changeCounts, createConnection, directoryState, seedDirectory } from './harness';
import { MINIORANGE_CANNOT_LIST, MINIORANGE_ENDPOINTS, MiniOrangeSource, miniOrangeSignature } from '../../src/sources/miniorange';
import { parsePullConfig, savePullConfig, type MiniOrangePullConfig } from '../../src/sources/config';
import { testPullConfig } from '../../src/sources';
import { pullConnection } from '../../src/sources/pull';
import { SecretBox } from '../../src/security/crypto';
import type { Database } from '../../src/db/database';

/**
 * miniOrange documents its signed admin API for single users only (users/search, users/get, create,
 * update); no public document or client shows a way to list users, groups or group members. The source
 * therefore calls only documented endpoints: "Test connection" is a signed users/search, and a pull
 * refreshes the users the directory already holds (pushed by miniOrange's SCIM app) without reading groups
 * or removing anyone. The fake serves only the documented endpoints, so any call to an invented one fails.
 */

const directory = new IdpDirectory();
seedDirectory(directory);
const fake = new FakeMiniOrange({ data: directory, customerKey: '241765', apiKey: 'mo-api-key-1' });
const DOCUMENTED = new Set<string>(Object.values(MINIORANGE_ENDPOINTS));

const config = (extra: Partial<MiniOrangePullConfig> = {}) =>
  parsePullConfig({ kind: 'miniorange', baseUrl: fake.baseUrl, customerKey: '241765', apiKey: 'mo-api-key-1', ...extra }) as MiniOrangePullConfig;

beforeAll(async () => {
  await fake.start();
});
afterAll(() => fake.stop());
beforeEach(() => {
  seedDirectory(directory);
  fake.server.clearLog();
  fake.server.clearFaults();
  fake.options.clockOffsetMs = 0;
});

describe('miniOrange source: documented endpoints only', () => {
  test('the Authorization header is the documented lowercase hex SHA-512 of customerKey + timestamp + apiKey', () => {
    // sha512("1" + "2" + "3") computed independently
    expect(miniOrangeSignature('1', '2', '3')).toBe(
      '3c9909afec25354d551dae21590bb26e38d53f2173b8d3dc3eee4c047e7ab1c1eb8b85103e3be7ba613b31bb5c9c36214dc9f14a42fd7a2fdb84856bca5c44c2',
    );
  });

  test('Test connection is a signed users/search (documented), and says what a pull can and cannot do', async () => {
    const check = await testPullConfig(config());
    expect(check).toMatchObject({ ok: true, message: expect.stringMatching(/SCIM/) });
    expect(fake.server.log.map((entry) => entry.path)).toEqual([MINIORANGE_ENDPOINTS.searchUser]);
    const wrong = await testPullConfig(config({ apiKey: 'not-the-key' }));
    expect(wrong).toMatchObject({ ok: false, message: expect.stringMatching(/401/) });
    expect(wrong.message).not.toContain('not-the-key');
  });

  test('listing users, groups or members is refused with the reason, without calling any undocumented endpoint', async () => {
    const source = new MiniOrangeSource(config());
    expect(source.coverage).toBe('known-users');
    const drain = async (items: AsyncIterable<unknown>) => {
      for await (const _ of items) void _;
    };
    await expect(drain(source.users())).rejects.toThrow(MINIORANGE_CANNOT_LIST);
    await expect(drain(source.groups())).rejects.toThrow(/SCIM Server \(Destination\)/);
    await expect(drain(source.groupMembers('g-sales'))).rejects.toThrow(/no way to list/);
    expect(fake.server.log).toEqual([]);
  });

  test('a clock the server disagrees with is refused unless useServerTime signs with the server clock', async () => {
    fake.options.clockOffsetMs = 10 * 60_000;
    await expect(new MiniOrangeSource(config()).testConnection()).rejects.toThrow(/authentication failed \(401\)/);
    await expect(new MiniOrangeSource(config({ useServerTime: true })).testConnection()).resolves.toMatchObject({ ok: true });
    expect(fake.server.log.some((entry) => entry.path === MINIORANGE_ENDPOINTS.serverTime)).toBe(true);
  });

  test('endpoint paths stay configurable per connection (customer-specific deployments)', async () => {
    await expect(new MiniOrangeSource(config({ endpoints: { searchUser: '/custom/users/search' } })).testConnection()).rejects.toThrow(/\/custom\/users\/search: answered 404/);
  });
});

describe('miniOrange pull: refreshes the users already known, reads no groups, removes no one', () => {
  let t: TestDatabase;
  let db: Database;
  const secrets = SecretBox.fromKeyList(TEST_ENCRYPTION_KEYS);

  beforeAll(async () => {
    t = await createTestDatabase();
    db = t.db;
  });
  afterAll(() => t.destroy());

  /** Users as miniOrange's SCIM app would have pushed them (origin 'push'). */
  async function pushed(connectionId: string, users: Array<{ userName: string; externalId: string | null; givenName: string; active: boolean }>): Promise<void> {
    for (const user of users) {
      await db.query(
        `INSERT INTO directory_users (connection_id, user_name, external_id, display_name, given_name, family_name, primary_email, active, resource, origin)
         VALUES ($1, $2, $3, $4, $5, NULL, $2, $6, '{}'::jsonb, 'push')`,
        [connectionId, user.userName, user.externalId, user.givenName, user.givenName, user.active],
      );
    }
  }

  test('known users get miniOrange’s current names; unknown ones and every group stay as pushed', async () => {
    await t.truncate();
    const connectionId = await createConnection(db, 'miniorange');
    await savePullConfig(db, secrets, connectionId, { kind: 'miniorange', baseUrl: fake.baseUrl, customerKey: '241765', apiKey: 'mo-api-key-1' });
    await pushed(connectionId, [
      { userName: 'user1@example.com', externalId: 'scim-1', givenName: 'Old', active: true },
      { userName: 'user2@example.com', externalId: 'scim-2', givenName: 'Given2', active: true },
      { userName: 'left@example.com', externalId: 'scim-9', givenName: 'Left', active: true },
    ]);
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO directory_groups (connection_id, display_name, external_id, resource, origin) VALUES ($1, 'pushed-group', 'pg', '{}'::jsonb, 'push') RETURNING id`,
      [connectionId],
    );
    expect(rows).toHaveLength(1);

    const result = await pullConnection({ db, secrets }, connectionId);
    expect(result).toMatchObject({ complete: true, scope: 'known-users' });
    expect(result.error).toBeUndefined();
    expect(result.users).toMatchObject({ seen: 2, updated: 2, removed: 0 });
    expect(result.groups).toMatchObject({ seen: 0, removed: 0 });

    const state = await directoryState(db, connectionId);
    expect(state.users).toEqual([
      expect.objectContaining({ user_name: 'left@example.com', external_id: 'scim-9', given_name: 'Left', active: true }),
      // The pushed id stays the user's id; the name is miniOrange's.
      expect.objectContaining({ user_name: 'user1@example.com', external_id: 'scim-1', given_name: 'Given1', family_name: 'Family1', active: true }),
      expect.objectContaining({ user_name: 'user2@example.com', external_id: 'scim-2' }),
    ]);
    expect(state.groups).toEqual([expect.objectContaining({ display_name: 'pushed-group' })]);
    expect(await changeCounts(db, connectionId)).toEqual({ 'user:updated': 2 });
    for (const entry of fake.server.log) expect(DOCUMENTED.has(entry.path)).toBe(true);
  });

  test('a user miniOrange reports inactive becomes inactive; a second pull changes nothing', async () => {
    await t.truncate();
    const connectionId = await createConnection(db, 'miniorange');
    await savePullConfig(db, secrets, connectionId, { kind: 'miniorange', baseUrl: fake.baseUrl, customerKey: '241765', apiKey: 'mo-api-key-1' });
    await pushed(connectionId, [{ userName: 'user6@example.com', externalId: 'scim-6', givenName: 'Given6', active: true }]);
    await expect(pullConnection({ db, secrets }, connectionId)).resolves.toMatchObject({ complete: true, users: { updated: 1 } });
    expect((await directoryState(db, connectionId)).users[0]).toMatchObject({ active: false });
    await expect(pullConnection({ db, secrets }, connectionId)).resolves.toMatchObject({ complete: true, users: { seen: 1, updated: 0 } });
  });
});
