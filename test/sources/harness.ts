import { randomUUID } from 'node:crypto';
import type { FakeServer } from '../fakes/fake-server';
import { IdpDirectory } from '../fakes/idp/directory-data';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { TEST_ENCRYPTION_KEYS, allowLoopbackEgress } from '../helpers/runtime';
import { SecretBox } from '../../src/security/crypto';
import { parsePullConfig, savePullConfig, type PullConfigInput } from '../../src/sources/config';
import { createSource, testPullConfig } from '../../src/sources';
import { pullConnection, type PullResult } from '../../src/sources/pull';
import type { SourceHttpOptions } from '../../src/sources/http';
import type { Database } from '../../src/db/database';

// Every suite that imports the harness reaches its loopback fake through the operator setting.
beforeAll(allowLoopbackEgress);

/**
 * The behaviour every source must show against its fake, run once per IdP: full pull, paging, rate-limit
 * handling, auth failure, a failed pull that removes no one, and a repeated pull that changes nothing.
 */

export interface SourceFixture {
  name: string;
  /** The fake, started by the harness; its data is `directory`. */
  fake: { server: FakeServer; start(): Promise<string>; stop(): Promise<void> };
  directory: IdpDirectory;
  /** Puts the seeded users and groups back (tests change the IdP). */
  seed(): void;
  provider: string;
  /** A config that pages: page size 3 against the 7 seeded users. */
  config(): PullConfigInput;
  /** Same, with a wrong secret. */
  badConfig(): PullConfigInput;
  /** The user-list request path, to count its pages in the fake's log. */
  userListPath: RegExp;
  /** A path only read while memberships are pulled (late in the pull). */
  memberPath: RegExp;
  /** Queues one throttled answer on the user list the way this IdP throttles; returns the wait it asks for (ms). */
  throttleOnce(): number;
  /** The SourceUser.externalId of seeded user n (1-based). */
  externalIdOf(n: number): string;
  /** The userName the directory should hold for seeded user n. */
  userNameOf(n: number): string;
}

/** Seven users (user 6 inactive) and three groups: engineering {1,2,3}, sales {4,5}, everyone {1..7}. */
export function seedDirectory(directory: IdpDirectory, userId: (n: number) => string = (n) => `u${n}`, groupId: (n: string) => string = (n) => `g-${n}`): void {
  directory.userList.length = 0;
  directory.groupList.length = 0;
  directory.memberships.clear();
  for (let n = 1; n <= 7; n++) {
    directory.addUser({
      id: userId(n),
      userName: `user${n}@example.com`,
      email: `user${n}@example.com`,
      givenName: `Given${n}`,
      familyName: `Family${n}`,
      active: n !== 6,
    });
  }
  directory.addGroup({ id: groupId('engineering'), name: 'engineering', members: [1, 2, 3].map(userId) });
  directory.addGroup({ id: groupId('sales'), name: 'sales', members: [4, 5].map(userId) });
  directory.addGroup({ id: groupId('everyone'), name: 'everyone', members: [1, 2, 3, 4, 5, 6, 7].map(userId) });
}

export async function createConnection(db: Database, provider: string): Promise<string> {
  const { rows: tenants } = await db.query<{ id: string }>(
    `INSERT INTO tenants (client_key, base_url, shared_secret_sealed) VALUES ($1, 'https://example.atlassian.net', 'sealed') RETURNING id`,
    [`tenant-${randomUUID()}`],
  );
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO connections (tenant_id, name, provider) VALUES ($1, $2, $3) RETURNING id`,
    [tenants[0]!.id, `conn-${randomUUID()}`, provider],
  );
  return rows[0]!.id;
}

export async function changeCounts(db: Database, connectionId: string): Promise<Record<string, number>> {
  const { rows } = await db.query<{ key: string; count: number }>(
    `SELECT entity || ':' || action AS key, count(*)::int AS count FROM directory_changes WHERE connection_id = $1 GROUP BY 1`,
    [connectionId],
  );
  return Object.fromEntries(rows.map((r) => [r.key, r.count]));
}

export async function directoryState(db: Database, connectionId: string) {
  const users = await db.query<{ user_name: string; external_id: string; primary_email: string | null; given_name: string | null; family_name: string | null; active: boolean; origin: string }>(
    'SELECT user_name, external_id, primary_email, given_name, family_name, active, origin FROM directory_users WHERE connection_id = $1 ORDER BY user_name',
    [connectionId],
  );
  const groups = await db.query<{ display_name: string; external_id: string }>(
    'SELECT display_name, external_id FROM directory_groups WHERE connection_id = $1 ORDER BY display_name',
    [connectionId],
  );
  const memberships = await db.query<{ group_name: string; user_name: string }>(
    `SELECT g.display_name AS group_name, u.user_name FROM directory_memberships m
       JOIN directory_groups g ON g.id = m.group_id JOIN directory_users u ON u.id = m.user_id
      WHERE m.connection_id = $1 ORDER BY 1, 2`,
    [connectionId],
  );
  const byGroup: Record<string, string[]> = {};
  for (const m of memberships.rows) (byGroup[m.group_name] ??= []).push(m.user_name);
  return { users: users.rows, groups: groups.rows, members: byGroup };
}

export function describeSourceContract(makeFixture: () => SourceFixture): void {
  const fixture = makeFixture();
  let testDb: TestDatabase;
  let db: Database;
  const secrets = SecretBox.fromKeyList(TEST_ENCRYPTION_KEYS);
  let connectionId: string;
  let waits: number[];
  const http = (): SourceHttpOptions => ({ sleep: async (ms) => void waits.push(ms), maxRetries: 2 });
  const pull = (): Promise<PullResult> => pullConnection({ db, secrets, http: http(), batchSize: 4 }, connectionId);

  describe(`${fixture.name} source against its fake`, () => {
    beforeAll(async () => {
      testDb = await createTestDatabase();
      db = testDb.db;
      await fixture.fake.start();
    });
    afterAll(async () => {
      await fixture.fake.stop();
      await testDb.destroy();
    });
    afterEach(() => fixture.fake.server.clearFaults());
    beforeEach(async () => {
      await testDb.truncate();
      fixture.fake.server.clearFaults();
      fixture.fake.server.clearLog();
      fixture.seed();
      waits = [];
      connectionId = await createConnection(db, fixture.provider);
      await savePullConfig(db, secrets, connectionId, fixture.config());
    });

    test('a full pull lands every user, group and membership and records the changes', async () => {
      const result = await pull();
      expect(result.error).toBeUndefined();
      expect(result.complete).toBe(true);
      expect(result.users).toMatchObject({ seen: 7, created: 7, updated: 0, removed: 0 });
      expect(result.groups).toMatchObject({ seen: 3, created: 3 });
      expect(result.memberships).toMatchObject({ added: 12, removed: 0, unresolved: 0 });

      const state = await directoryState(db, connectionId);
      expect(state.users).toHaveLength(7);
      const first = state.users.find((u) => u.external_id === fixture.externalIdOf(1))!;
      expect(first).toMatchObject({ user_name: fixture.userNameOf(1), primary_email: 'user1@example.com', given_name: 'Given1', family_name: 'Family1', active: true, origin: 'pull' });
      expect(state.users.find((u) => u.external_id === fixture.externalIdOf(6))!.active).toBe(false);
      expect(state.groups.map((g) => g.display_name)).toEqual(['engineering', 'everyone', 'sales']);
      expect(state.members.engineering).toEqual([1, 2, 3].map((n) => fixture.userNameOf(n)).sort());
      expect(state.members.sales).toHaveLength(2);
      expect(state.members.everyone).toHaveLength(7);
      expect(await changeCounts(db, connectionId)).toEqual({ 'user:created': 7, 'group:created': 3, 'membership:added': 12 });

      const { rows } = await db.query('SELECT status, phase FROM pull_runs WHERE id = $1', [result.pullId]);
      expect(rows[0]).toEqual({ status: 'complete', phase: 'done' });
    });

    test('users are read page by page', async () => {
      await pull();
      const pages = fixture.fake.server.log.filter((entry) => fixture.userListPath.test(entry.path) && entry.status === 200);
      expect(pages.length).toBeGreaterThanOrEqual(3);
    });

    test('a second identical pull records no changes', async () => {
      await pull();
      const before = await changeCounts(db, connectionId);
      const again = await pull();
      expect(again.complete).toBe(true);
      expect(again.users).toMatchObject({ seen: 7, created: 0, updated: 0, removed: 0 });
      expect(again.groups).toMatchObject({ created: 0, updated: 0, removed: 0 });
      expect(again.memberships).toMatchObject({ added: 0, removed: 0 });
      expect(await changeCounts(db, connectionId)).toEqual(before);
    });

    test('changes in the IdP reach the directory; a user gone from a complete pull is removed', async () => {
      await pull();
      fixture.directory.removeUser(fixture.externalIdOf(7));
      fixture.directory.user(fixture.externalIdOf(1))!.familyName = 'Renamed';
      fixture.directory.setMembers(fixture.directory.groupList[0]!.id, [1, 3].map((n) => fixture.externalIdOf(n)));
      const result = await pull();
      expect(result.complete).toBe(true);
      expect(result.users).toMatchObject({ updated: 1, removed: 1 });
      const state = await directoryState(db, connectionId);
      expect(state.users.map((u) => u.external_id)).not.toContain(fixture.externalIdOf(7));
      expect(state.users.find((u) => u.external_id === fixture.externalIdOf(1))!.family_name).toBe('Renamed');
      expect(state.members.engineering).toEqual([fixture.userNameOf(1), fixture.userNameOf(3)].sort());
      const changes = await changeCounts(db, connectionId);
      expect(changes['user:deleted']).toBe(1);
      expect(changes['user:updated']).toBe(1);
      // user 2 left engineering; user 7 left everyone when the IdP deleted them
      expect(changes['membership:removed']).toBe(2);
    });

    test('a throttled answer is waited out as the IdP asks, then the pull completes', async () => {
      const asked = fixture.throttleOnce();
      const result = await pull();
      expect(result.error).toBeUndefined();
      expect(result.complete).toBe(true);
      expect(fixture.fake.server.log.some((entry) => entry.status === 429 || entry.status === 503)).toBe(true);
      expect(Math.max(...waits)).toBeGreaterThanOrEqual(asked);
      expect(Math.max(...waits)).toBeLessThan(asked + 2_500);
    });

    test('wrong credentials fail with a clear authentication error', async () => {
      await savePullConfig(db, secrets, connectionId, fixture.badConfig());
      const result = await pull();
      expect(result.complete).toBe(false);
      expect(result.error).toMatch(/authentication failed/i);
      const check = await testPullConfig(fixture.badConfig() as never, { sleep: async () => undefined });
      expect(check.ok).toBe(false);
      expect(check.message).toMatch(/authentication failed/i);
      const good = await createSource(parsePullConfig(fixture.config())).testConnection();
      expect(good.ok).toBe(true);
    });

    test('a pull that fails mid-way deprovisions no one and is recorded as failed', async () => {
      await pull();
      fixture.directory.removeUser(fixture.externalIdOf(7));
      fixture.fake.server.queueStatus(50, 500, { path: fixture.memberPath });
      const result = await pull();
      expect(result.complete).toBe(false);
      expect(result.error).toMatch(/500/);
      expect(result.users.removed).toBe(0);
      const state = await directoryState(db, connectionId);
      expect(state.users.map((u) => u.external_id)).toContain(fixture.externalIdOf(7));
      expect((await changeCounts(db, connectionId))['user:deleted']).toBeUndefined();
      const { rows } = await db.query<{ status: string; error: string }>('SELECT status, error FROM pull_runs WHERE id = $1', [result.pullId]);
      expect(rows[0]!.status).toBe('failed');
      expect(rows[0]!.error).toMatch(/memberships/);
      const staged = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM pull_staged_members');
      expect(staged.rows[0]!.n).toBe(0);
    });
  });
}
