import { JiraDcTarget } from '../../src/targets/jira-dc';
import { TargetError } from '../../src/targets/types';
import { FakeJiraDc } from '../fakes/fake-jira-dc';
import { allowLoopbackEgress } from '../helpers/runtime';
import { FAST_RETRIES, collect } from '../helpers/targets';

// The fakes listen on loopback: reach them through the operator's allow-list, as the app would.
beforeAll(allowLoopbackEgress);

/**
 * The Jira Data Center adapter against a fake that keeps Jira DC's documented limits: the user search
 * answers at most 100 results in total (Jira 10+), `/user/list` exists from 10.3 LTS, the group picker
 * stops at jira.ajax.autocomplete.limit, group members come 50 a page.
 */

function target(fake: FakeJiraDc, token = 'jira-dc-pat'): JiraDcTarget {
  return new JiraDcTarget({ http: { baseUrl: fake.baseUrl, token, ...FAST_RETRIES } });
}

describe('Jira Data Center target', () => {
  let fake: FakeJiraDc;
  beforeEach(async () => {
    fake = new FakeJiraDc();
    await fake.start();
  });
  afterEach(() => fake.stop());

  it('checks the connection with a personal access token; a wrong token is a clear 401 without the secret', async () => {
    await expect(target(fake).testConnection()).resolves.toMatchObject({ ok: true, details: { username: 'admin', administer: true } });
    const wrong = await target(fake, 'bad-pat-4711').testConnection();
    expect(wrong).toMatchObject({ ok: false, message: expect.stringMatching(/401/) });
    expect(wrong.message).not.toContain('bad-pat-4711');
    // The fake takes HTTP Basic as Jira DC does, so scripts and the sandbox can use either.
    const basic = await fetch(`${fake.baseUrl}/rest/api/2/myself`, { headers: { Authorization: `Basic ${Buffer.from('admin:admin-password').toString('base64')}` } });
    expect(basic.status).toBe(200);
  });

  it('a token of a user without the ADMINISTER permission connects but is reported as not an administrator', async () => {
    const limited = new FakeJiraDc({ tokens: { 'admin-pat': 'admin', 'dev-pat': 'dev' }, admins: ['admin'] });
    await limited.start();
    try {
      await expect(target(limited, 'dev-pat').testConnection()).resolves.toMatchObject({ ok: false, message: expect.stringMatching(/not a Jira administrator/) });
    } finally {
      await limited.stop();
    }
  });

  it('lists every user through /user/list (10.3 LTS and later), by cursor, inactive ones included', async () => {
    for (let i = 0; i < 2_345; i += 1) fake.addUser(`user${String(i).padStart(4, '0')}`, { active: i % 10 !== 0 });
    const users = await collect(target(fake).listUsers());
    expect(users).toHaveLength(2_346);
    expect(new Set(users.map((u) => u.accountId)).size).toBe(2_346);
    expect(users.filter((u) => !u.active)).toHaveLength(235);
    const calls = fake.server.requests('GET', '/rest/api/2/user/list');
    expect(calls).toHaveLength(3);
    expect(calls.map((c) => new URLSearchParams(c.query).get('cursor'))).toEqual([null, '1000', '2000']);
    expect(fake.server.requests('GET', '/rest/api/2/user/search')).toHaveLength(0);
  });

  it('without /user/list (before 10.3) the 100-result search cap is filled in from group members, and no page asks for more than 100', async () => {
    fake.userListEndpoint = false;
    const grouped = Array.from({ length: 340 }, (_, i) => fake.addUser(`person${String(i).padStart(3, '0')}`, { active: i % 7 !== 0 }).name);
    fake.addGroup('engineering', grouped.slice(0, 200));
    fake.addGroup('sales', grouped.slice(150));
    const users = await collect(target(fake).listUsers());
    const names = new Set(users.map((u) => u.accountId));
    expect(names.size).toBe(users.length);
    for (const name of grouped) expect(names.has(name)).toBe(true);
    expect(names.has('admin')).toBe(true);
    for (const call of fake.server.requests('GET', '/rest/api/2/user/search')) {
      expect(Number(new URLSearchParams(call.query).get('maxResults'))).toBeLessThanOrEqual(100);
    }
    for (const call of fake.server.requests('GET', '/rest/api/2/group/member')) {
      expect(Number(new URLSearchParams(call.query).get('maxResults'))).toBeLessThanOrEqual(50);
    }
  });

  it('a small site before 10.3 is listed by the search alone', async () => {
    fake.userListEndpoint = false;
    for (let i = 0; i < 40; i += 1) fake.addUser(`small${i}`);
    expect(await collect(target(fake).listUsers())).toHaveLength(41);
    expect(fake.server.requests('GET', '/rest/api/2/group/member')).toHaveLength(0);
  });

  it('sees every group although the picker stops at jira.ajax.autocomplete.limit (20), paging by exclude', async () => {
    const names = Array.from({ length: 75 }, (_, i) => `team-${['red', 'blue', 'green'][i % 3]}-${i}`);
    for (const name of names) fake.addGroup(name);
    const groups = await collect(target(fake).listGroups());
    expect(groups.map((g) => g.name).sort()).toEqual([...names, 'jira-administrators', 'jira-software-users'].sort());
    expect(new Set(groups.map((g) => g.name)).size).toBe(groups.length);
    expect(fake.server.requests('GET', '/rest/api/2/groups/picker')).toHaveLength(4);
  });

  it('splits the query when the exclusions would overflow the request line, and still sees every group', async () => {
    const words = ['engineering', 'sales', 'support', 'operations', 'data-platform', 'design', 'legal', 'finance', 'people', 'product'];
    const names = Array.from({ length: 900 }, (_, i) => `${words[i % 10]}-department-team-${i}`);
    for (const name of names) fake.addGroup(name);
    const groups = await collect(target(fake).listGroups());
    expect(groups).toHaveLength(902);
    const calls = fake.server.requests('GET', '/rest/api/2/groups/picker');
    expect(calls.every((c) => c.status === 200 && c.path.length + c.query.length <= 8192)).toBe(true);
    expect(calls.length).toBeLessThan(200);
  });

  it('fails clearly, naming jira.ajax.autocomplete.limit, when the picker cannot reach every group', async () => {
    fake.honourPickerExclude = false;
    fake.groupPickerLimit = 1;
    fake.addGroup('ab');
    fake.addGroup('b');
    await expect(collect(target(fake).listGroups())).rejects.toThrow(/jira\.ajax\.autocomplete\.limit/);
  });

  it('pages group members at 50 and reads one user with their groups', async () => {
    const members = Array.from({ length: 120 }, (_, i) => fake.addUser(`m${i}`).name);
    fake.addGroup('big', members);
    expect(await collect(target(fake).listGroupMembers('big'))).toEqual(members);
    expect(fake.server.requests('GET', '/rest/api/2/group/member')).toHaveLength(3);
    await expect(target(fake).listUserGroups('m3')).resolves.toEqual([{ groupId: 'big', name: 'big' }]);
    await expect(target(fake).getUser('nobody')).resolves.toBeNull();
    await expect(target(fake).findUserByEmail('M5@example.com')).resolves.toMatchObject({ accountId: 'm5' });
  });

  it('creates, updates, deactivates, reactivates and deletes users idempotently', async () => {
    const t = target(fake);
    const created = await t.createUser({ email: 'ann@corp.example', displayName: 'Ann Archer', username: 'ann', products: [] });
    expect(created).toMatchObject({ accountId: 'ann', email: 'ann@corp.example', active: true });
    await expect(t.createUser({ email: 'ann@corp.example', displayName: 'Ann Archer', username: 'ann', products: [] })).resolves.toMatchObject({ accountId: 'ann' });
    expect(fake.server.requests('POST', '/rest/api/2/user').map((r) => r.status)).toEqual([201, 400]);
    await t.updateUser('ann', { displayName: 'Ann Baker', email: 'ann.baker@corp.example' });
    expect(fake.users.get('ann')).toMatchObject({ displayName: 'Ann Baker', emailAddress: 'ann.baker@corp.example' });
    await t.deactivateUser('ann');
    expect(fake.users.get('ann')!.active).toBe(false);
    await t.reactivateUser('ann');
    expect(fake.users.get('ann')!.active).toBe(true);
    await t.deleteUser('ann');
    await t.deleteUser('ann');
    expect(fake.users.has('ann')).toBe(false);
    await expect(t.createUser({ email: 'not-an-email', displayName: null, username: 'x', products: [] })).rejects.toBeInstanceOf(TargetError);
  });

  it('manages groups and memberships idempotently whatever the wording of the 400s', async () => {
    const t = target(fake);
    fake.addUser('bob');
    await expect(t.createGroup('release')).resolves.toEqual({ groupId: 'release', name: 'release' });
    await expect(t.createGroup('release')).resolves.toEqual({ groupId: 'release', name: 'release' });
    await t.addMember('release', 'bob');
    await t.addMember('release', 'bob');
    expect([...fake.groups.get('release')!]).toEqual(['bob']);
    await t.removeMember('release', 'bob');
    await t.removeMember('release', 'bob');
    expect(fake.groups.get('release')!.size).toBe(0);
    await t.deleteGroup('release');
    await t.deleteGroup('release');
    expect(fake.groups.has('release')).toBe(false);
    await expect(t.addMember('no-such-group', 'bob')).rejects.toBeInstanceOf(TargetError);
  });

  it('honours 429 + Retry-After and retries the same call', async () => {
    fake.addUser('carol');
    fake.addGroup('ops');
    fake.server.queueRateLimit(2, 0, { method: 'POST', path: '/rest/api/2/group/user' });
    await target(fake).addMember('ops', 'carol');
    expect(fake.server.requests('POST', '/rest/api/2/group/user').map((r) => r.status)).toEqual([429, 429, 201]);
    expect(fake.groups.get('ops')!.has('carol')).toBe(true);
  });

  it('a write whose answer was lost after it applied is retried without a duplicate or an error', async () => {
    fake.addGroup('ops');
    fake.server.queueDrop(1, { method: 'POST', path: '/rest/api/2/user' }, true);
    fake.server.queueDrop(1, { method: 'POST', path: '/rest/api/2/group/user' }, true);
    fake.server.queueDrop(1, { method: 'POST', path: '/rest/api/2/group' }, true);
    const t = target(fake);
    await expect(t.createUser({ email: 'dan@corp.example', displayName: 'Dan Day', username: 'dan', products: [] })).resolves.toMatchObject({ accountId: 'dan' });
    await t.addMember('ops', 'dan');
    await expect(t.createGroup('night-shift')).resolves.toEqual({ groupId: 'night-shift', name: 'night-shift' });
    expect([...fake.users.keys()].filter((name) => name === 'dan')).toHaveLength(1);
    expect(fake.groups.get('ops')!.has('dan')).toBe(true);
    expect(fake.server.requests('POST', '/rest/api/2/group/user').map((r) => r.status)).toEqual([0, 400]);
  });

  it('reads and reassigns project and component leads by username', async () => {
    fake.addUser('lead');
    fake.addUser('next');
    fake.addProject('OPS', 'Operations', 'lead');
    const component = fake.addComponent('OPS', 'Pager', 'lead');
    const t = target(fake);
    await expect(collect(t.listProjectLeads())).resolves.toEqual([{ projectKey: 'OPS', projectName: 'Operations', leadAccountId: 'lead' }]);
    await expect(collect(t.listComponentLeads())).resolves.toEqual([{ componentId: component, componentName: 'Pager', projectKey: 'OPS', leadAccountId: 'lead' }]);
    await t.setProjectLead('OPS', 'next');
    await t.setComponentLead(component, 'next');
    expect(fake.projects.get('OPS')!.lead).toBe('next');
    expect(fake.components.get(component)!.lead).toBe('next');
  });
});
