import { ConfluenceDcTarget } from '../../src/targets/confluence-dc';
import { TargetError } from '../../src/targets/types';
import { CONFLUENCE_DC_MAX_LIMIT, FakeConfluenceDc } from '../fakes/fake-confluence-dc';
import { allowLoopbackEgress } from '../helpers/runtime';
import { FAST_RETRIES, collect } from '../helpers/targets';

// The fakes listen on loopback: reach them through the operator's allow-list, as the app would.
beforeAll(allowLoopbackEgress);

/**
 * The Confluence Data Center adapter against a fake of the documented user-management REST API (8.4+):
 * start/limit pages with a `next` link, disabled users in `/user/list`, idempotent membership writes.
 */

describe('Confluence Data Center target', () => {
  let fake: FakeConfluenceDc;
  let target: ConfluenceDcTarget;
  beforeEach(async () => {
    fake = new FakeConfluenceDc();
    await fake.start();
    target = new ConfluenceDcTarget({ http: { baseUrl: fake.baseUrl, token: 'confluence-dc-pat', ...FAST_RETRIES } });
  });
  afterEach(() => fake.stop());

  it('checks the connection with a personal access token; a wrong token is a clear 401 without the secret', async () => {
    await expect(target.testConnection()).resolves.toMatchObject({ ok: true, details: { username: 'admin' } });
    const wrong = await new ConfluenceDcTarget({ http: { baseUrl: fake.baseUrl, token: 'bad-pat-0815', ...FAST_RETRIES } }).testConnection();
    expect(wrong).toMatchObject({ ok: false, message: expect.stringMatching(/401/) });
    expect(wrong.message).not.toContain('bad-pat-0815');
    const basic = await fetch(`${fake.baseUrl}/rest/api/user/current`, { headers: { Authorization: `Basic ${Buffer.from('admin:admin-password').toString('base64')}` } });
    expect(basic.status).toBe(200);
  });

  it('lists every registered user (disabled ones too, as inactive) through the documented /user/list, 200 a page', async () => {
    for (let i = 0; i < 450; i += 1) fake.addUser(`u${i}`, { enabled: i % 9 !== 0 });
    const users = await collect(target.listUsers());
    expect(users).toHaveLength(451);
    expect(users.filter((u) => !u.active)).toHaveLength(50);
    const calls = fake.server.requests('GET', '/rest/api/user/list');
    expect(calls).toHaveLength(3);
    for (const call of calls) expect(Number(new URLSearchParams(call.query).get('limit'))).toBeLessThanOrEqual(CONFLUENCE_DC_MAX_LIMIT);
    await expect(target.getUser('u9')).resolves.toMatchObject({ accountId: 'u9', active: false });
    await expect(target.getUser('nobody')).resolves.toBeNull();
    await expect(target.findUserByEmail('U10@example.com')).resolves.toMatchObject({ accountId: 'u10' });
  });

  it('pages groups and members and reads a user’s groups', async () => {
    const members = Array.from({ length: 230 }, (_, i) => fake.addUser(`m${i}`).username);
    for (let i = 0; i < 210; i += 1) fake.addGroup(`g${i}`);
    fake.addGroup('big', members);
    expect(await collect(target.listGroups())).toHaveLength(213);
    expect(await collect(target.listGroupMembers('big'))).toEqual(members);
    await expect(target.listUserGroups('m0')).resolves.toEqual([{ groupId: 'big', name: 'big' }]);
  });

  it('creates, updates, disables, enables and deletes users idempotently', async () => {
    const created = await target.createUser({ email: 'ann@corp.example', displayName: 'Ann Archer', username: 'Ann', products: [] });
    expect(created).toMatchObject({ accountId: 'ann', email: 'ann@corp.example', active: true });
    await expect(target.createUser({ email: 'ann@corp.example', displayName: 'Ann Archer', username: 'ann', products: [] })).resolves.toMatchObject({ accountId: 'ann' });
    await target.updateUser('ann', { displayName: 'Ann Baker', email: 'ann.baker@corp.example' });
    expect(fake.users.get('ann')).toMatchObject({ displayName: 'Ann Baker', email: 'ann.baker@corp.example' });
    await target.deactivateUser('ann');
    await target.deactivateUser('ann');
    expect(fake.users.get('ann')!.enabled).toBe(false);
    await target.reactivateUser('ann');
    expect(fake.users.get('ann')!.enabled).toBe(true);
    await target.deleteUser('ann');
    await target.deleteUser('ann');
    expect(fake.users.has('ann')).toBe(false);
  });

  it('manages groups and memberships idempotently whatever the wording of the 400s', async () => {
    fake.addUser('bob');
    await expect(target.createGroup('writers')).resolves.toEqual({ groupId: 'writers', name: 'writers' });
    await expect(target.createGroup('writers')).resolves.toEqual({ groupId: 'writers', name: 'writers' });
    await target.addMember('writers', 'bob');
    await target.addMember('writers', 'bob');
    expect([...fake.groups.get('writers')!]).toEqual(['bob']);
    await target.removeMember('writers', 'bob');
    await target.removeMember('writers', 'bob');
    await target.deleteGroup('writers');
    await target.deleteGroup('writers');
    expect(fake.groups.has('writers')).toBe(false);
    await expect(target.createGroup('')).rejects.toBeInstanceOf(TargetError);
  });

  it('honours 429 + Retry-After and a 503, then succeeds', async () => {
    fake.addUser('carol');
    fake.addGroup('ops');
    fake.server.queueRateLimit(1, 0, { method: 'PUT' });
    fake.server.queueStatus(1, 503, { method: 'PUT' });
    await target.addMember('ops', 'carol');
    expect(fake.server.requests('PUT').map((r) => r.status)).toEqual([429, 503, 204]);
    expect(fake.groups.get('ops')!.has('carol')).toBe(true);
  });

  it('a write whose answer was lost after it applied is retried without a duplicate or an error', async () => {
    fake.addGroup('ops');
    fake.server.queueDrop(1, { method: 'POST', path: '/rest/api/admin/user' }, true);
    fake.server.queueDrop(1, { method: 'POST', path: '/rest/api/admin/group' }, true);
    fake.server.queueDrop(1, { method: 'PUT', path: '/rest/api/user/:username/group/:groupName' }, true);
    await expect(target.createUser({ email: 'dan@corp.example', displayName: 'Dan Day', username: 'dan', products: [] })).resolves.toMatchObject({ accountId: 'dan' });
    await expect(target.createGroup('night-shift')).resolves.toEqual({ groupId: 'night-shift', name: 'night-shift' });
    await target.addMember('ops', 'dan');
    expect(fake.groups.get('ops')!.has('dan')).toBe(true);
    expect(fake.server.requests('POST', '/rest/api/admin/user').map((r) => r.status)).toEqual([0, 400]);
  });

  it('a user without administration rights is refused writes with a clear 403', async () => {
    const limited = new FakeConfluenceDc({ tokens: { 'admin-pat': 'admin', 'dev-pat': 'dev' }, admins: ['admin'] });
    await limited.start();
    try {
      const dev = new ConfluenceDcTarget({ http: { baseUrl: limited.baseUrl, token: 'dev-pat', ...FAST_RETRIES } });
      await expect(dev.createGroup('x')).rejects.toThrow(/403/);
    } finally {
      await limited.stop();
    }
  });
});
