import { randomUUID } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { TEST_ENCRYPTION_KEYS, allowLoopbackEgress } from '../helpers/runtime';
import { IdpDirectory } from '../fakes/idp/directory-data';
import { FakeScimServer } from '../fakes/idp/fake-scim-server';
import { DirectoryImport } from '../../src/directory/import';
import { SecretBox } from '../../src/security/crypto';
import { savePullConfig } from '../../src/sources/config';
import { listPullRuns, pullConnection } from '../../src/sources/pull';
import type { SourceUser } from '../../src/sources/types';
import { changeCounts, createConnection, directoryState, seedDirectory } from './harness';

beforeAll(allowLoopbackEgress);

const user = (n: number, extra: Partial<SourceUser> = {}): SourceUser => ({
  externalId: `ext-${n}`,
  userName: `user${n}@example.com`,
  email: `user${n}@example.com`,
  givenName: `Given${n}`,
  familyName: `Family${n}`,
  displayName: null,
  active: true,
  ...extra,
});

describe('directory import (the landing of pulled data)', () => {
  let testDb: TestDatabase;
  let connectionId: string;
  const db = () => testDb.db;

  async function newPull(): Promise<DirectoryImport> {
    const { rows } = await db().query<{ id: string }>(
      `INSERT INTO pull_runs (connection_id, source_kind, status) VALUES ($1, 'scim', 'complete') RETURNING id`,
      [connectionId],
    );
    return new DirectoryImport(db(), connectionId, rows[0]!.id);
  }

  async function pushUser(userName: string, externalId: string | null, resource: Record<string, unknown> = {}): Promise<string> {
    const { rows } = await db().query<{ id: string }>(
      `INSERT INTO directory_users (connection_id, user_name, external_id, active, resource, origin) VALUES ($1, $2, $3, true, $4, 'push') RETURNING id`,
      [connectionId, userName, externalId, JSON.stringify({ userName, ...resource })],
    );
    return rows[0]!.id;
  }

  beforeAll(async () => {
    testDb = await createTestDatabase();
  });
  afterAll(() => testDb.destroy());
  beforeEach(async () => {
    await testDb.truncate();
    connectionId = await createConnection(db(), 'generic');
  });

  test('a pushed user is matched by userName, updated in place, and keeps what the push added', async () => {
    const pushedId = await pushUser('User1@Example.com', null, { 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { department: 'R&D' } });
    const pull = await newPull();
    await pull.upsertUsers([user(1)]);
    const { rows } = await db().query<{ id: string; external_id: string; origin: string; version: number; resource: Record<string, unknown> }>('SELECT id, external_id, origin, version, resource FROM directory_users WHERE connection_id = $1', [connectionId]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: pushedId, external_id: 'ext-1', origin: 'pull', version: 2 });
    expect(rows[0]!.resource['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']).toEqual({ department: 'R&D' });
    expect(rows[0]!.resource.name).toEqual({ givenName: 'Given1', familyName: 'Family1' });
    expect(pull.counts.users).toMatchObject({ created: 0, updated: 1 });
  });

  test('a complete pull removes only pulled rows it did not see; pushed rows are the SCIM client\'s', async () => {
    await pushUser('pushed@example.com', 'scim-1');
    const first = await newPull();
    await first.upsertUsers([user(1), user(2)]);
    await first.upsertGroups([{ externalId: 'g1', displayName: 'team' }]);
    await first.removeUnseen();
    const second = await newPull();
    await second.upsertUsers([user(1)]);
    await second.removeUnseen();
    expect(second.counts.users.removed).toBe(1);
    expect(second.counts.groups.removed).toBe(1);
    const state = await directoryState(db(), connectionId);
    expect(state.users.map((u) => u.user_name)).toEqual(['pushed@example.com', 'user1@example.com']);
    expect(state.groups).toEqual([]);
    expect((await changeCounts(db(), connectionId))['user:deleted']).toBe(1);
  });

  test('two IdP users with one userName: the second is a conflict, not an overwrite', async () => {
    const pull = await newPull();
    await pull.upsertUsers([user(1), user(2, { userName: 'USER1@example.com' })]);
    await pull.upsertUsers([user(3, { userName: 'user1@EXAMPLE.com' })]);
    expect(pull.counts.users).toMatchObject({ created: 1, conflicts: 2 });
    expect(pull.conflictNotes[0]).toMatch(/user:/);
    const { rows } = await db().query('SELECT external_id FROM directory_users WHERE connection_id = $1', [connectionId]);
    expect(rows).toEqual([{ external_id: 'ext-1' }]);
  });

  test('a rename onto a taken userName is skipped but the user is kept (not taken for gone)', async () => {
    const first = await newPull();
    await first.upsertUsers([user(1), user(2)]);
    const second = await newPull();
    await second.upsertUsers([user(1, { userName: 'user2@example.com' }), user(2)]);
    await second.removeUnseen();
    expect(second.counts.users).toMatchObject({ conflicts: 1, removed: 0, updated: 0 });
    const state = await directoryState(db(), connectionId);
    expect(state.users.map((u) => u.external_id).sort()).toEqual(['ext-1', 'ext-2']);
  });

  test('members the directory does not know are counted as unresolved and not linked', async () => {
    const pull = await newPull();
    await pull.upsertUsers([user(1)]);
    const [landed] = await pull.upsertGroups([{ externalId: 'g1', displayName: 'team' }]);
    await pull.addMembers(landed!.groupId, ['ext-1', 'ext-unknown', 'ext-1']);
    await pull.completeGroup(landed!.groupId);
    await pull.flushMemberships();
    expect(pull.counts.memberships).toEqual({ added: 1, removed: 0, unresolved: 1 });
    const { rows } = await db().query<{ version: number }>('SELECT version FROM directory_groups WHERE id = $1', [landed!.groupId]);
    expect(rows[0]!.version).toBe(2);
  });

  test('a large batch lands without hitting the parameter limit; a group larger than one membership slice lands whole', async () => {
    const pull = await newPull();
    const many = Array.from({ length: 6000 }, (_, i) => user(i));
    await pull.upsertUsers(many);
    expect(pull.counts.users.created).toBe(6000);
    const [landed] = await pull.upsertGroups([{ externalId: 'g-all', displayName: 'all' }]);
    // one id twice, far apart: in different slices
    await pull.addMembers(landed!.groupId, [...many.map((u) => u.externalId), 'ext-1']);
    await pull.completeGroup(landed!.groupId);
    await pull.flushMemberships();
    expect(pull.counts.memberships.added).toBe(6000);
    expect((await changeCounts(db(), connectionId))['membership:added']).toBe(6000);
  });
});

describe('pullConnection as the job queue calls it', () => {
  let testDb: TestDatabase;
  const secrets = SecretBox.fromKeyList(TEST_ENCRYPTION_KEYS);
  const directory = new IdpDirectory();
  const fake = new FakeScimServer({ data: directory, token: 'tok' });
  let connectionId: string;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    await fake.start();
  });
  afterAll(async () => {
    await fake.stop();
    await testDb.destroy();
  });
  beforeEach(async () => {
    await testDb.truncate();
    seedDirectory(directory);
    fake.server.latencyMs = 0;
    connectionId = await createConnection(testDb.db, 'generic');
    await savePullConfig(testDb.db, secrets, connectionId, { kind: 'scim', baseUrl: fake.scimBaseUrl, bearerToken: 'tok', pageSize: 2 });
  });

  test('a connection without a pull source, or an unknown one, is an error result, not a throw', async () => {
    const pushOnly = await createConnection(testDb.db, 'okta');
    expect((await pullConnection({ db: testDb.db, secrets }, pushOnly)).error).toMatch(/no pull source/);
    expect((await pullConnection({ db: testDb.db, secrets }, randomUUID())).error).toMatch(/not found/);
  });

  test('a second pull of the same connection while one runs is refused; its phase and counts are readable meanwhile', async () => {
    fake.server.latencyMs = 30;
    const running = pullConnection({ db: testDb.db, secrets }, connectionId);
    for (let i = 0; i < 100 && (await listPullRuns(testDb.db, connectionId)).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const second = await pullConnection({ db: testDb.db, secrets }, connectionId);
    expect(second.complete).toBe(false);
    expect(second.error).toMatch(/already running/);
    const [live] = await listPullRuns(testDb.db, connectionId);
    expect(live!.status).toBe('running');
    expect(['starting', 'users', 'groups', 'memberships']).toContain(live!.phase);
    const first = await running;
    expect(first.complete).toBe(true);
    const [done] = await listPullRuns(testDb.db, connectionId);
    expect(done).toMatchObject({ status: 'complete', phase: 'done' });
    expect(done!.counts.users).toMatchObject({ created: 7 });
  });

  test('a running pull whose process died (stale heartbeat) is taken over', async () => {
    await testDb.db.query(
      `INSERT INTO pull_runs (connection_id, source_kind, heartbeat_at) VALUES ($1, 'scim', now() - interval '1 hour')`,
      [connectionId],
    );
    const result = await pullConnection({ db: testDb.db, secrets }, connectionId);
    expect(result.complete).toBe(true);
    const runs = await listPullRuns(testDb.db, connectionId);
    expect(runs.map((r) => r.status).sort()).toEqual(['abandoned', 'complete']);
  });

  test('an aborted pull stops, is recorded failed, and removes no one', async () => {
    await pullConnection({ db: testDb.db, secrets }, connectionId);
    directory.removeUser('u7');
    const controller = new AbortController();
    fake.server.latencyMs = 20;
    const pending = pullConnection({ db: testDb.db, secrets }, connectionId, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('shutting down')), 50);
    const result = await pending;
    expect(result.complete).toBe(false);
    expect(result.error).toMatch(/shutting down/);
    const state = await directoryState(testDb.db, connectionId);
    expect(state.users).toHaveLength(7);
  });
});
