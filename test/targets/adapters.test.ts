import { AtlassianOrgTarget } from '../../src/targets/atlassian-org';
import { BitbucketCloudTarget } from '../../src/targets/bitbucket-cloud';
import { BitbucketDcTarget } from '../../src/targets/bitbucket-dc';
import { CAPABILITY_MATRIX, capabilitiesOf } from '../../src/targets/capabilities';
import { TARGET_KINDS, targetInputSchema } from '../../src/targets/config';
import { ConfluenceCloudTarget } from '../../src/targets/confluence-cloud';
import { createTarget } from '../../src/targets/factory';
import { TargetError, type Target } from '../../src/targets/types';
import { FakeAtlassianOrg } from '../fakes/fake-atlassian-org';
import { FakeBitbucketCloud } from '../fakes/fake-bitbucket-cloud';
import { FakeBitbucketDc } from '../fakes/fake-bitbucket-dc';
import { FakeConfluenceCloud } from '../fakes/fake-confluence-cloud';
import { allowLoopbackEgress } from '../helpers/runtime';
import { collect } from '../helpers/targets';

beforeAll(allowLoopbackEgress);

const fast = { baseBackoffMs: 1, maxBackoffMs: 5 };

describe('Confluence Cloud target', () => {
  const fake = new FakeConfluenceCloud();
  let target: ConfluenceCloudTarget;
  beforeAll(async () => {
    await fake.start();
    target = new ConfluenceCloudTarget({ http: { baseUrl: fake.baseUrl, email: 'admin@example.com', apiToken: 'confluence-token', ...fast } });
  });
  afterAll(() => fake.stop());

  it('checks the connection and fails clearly with a wrong token', async () => {
    await expect(target.testConnection()).resolves.toMatchObject({ ok: true });
    const wrong = new ConfluenceCloudTarget({ http: { baseUrl: fake.baseUrl, email: 'admin@example.com', apiToken: 'nope-123' } });
    const check = await wrong.testConnection();
    expect(check).toMatchObject({ ok: false, message: expect.stringMatching(/401/) });
    expect(check.message).not.toContain('nope-123');
  });

  it('pages groups and members at 200 and lists users without app accounts', async () => {
    const users = Array.from({ length: 450 }, (_, i) => fake.addUser({ email: `c${i}@example.com` }));
    fake.addUser({ email: 'app@x', accountType: 'app' });
    for (let i = 0; i < 250; i += 1) fake.addGroup(`cg-${i}`);
    const big = fake.addGroup('big', users.map((u) => u.accountId));
    expect(await collect(target.listGroups())).toHaveLength(251);
    expect(await collect(target.listGroupMembers(big.id))).toEqual(users.map((u) => u.accountId));
    expect((await collect(target.listUsers())).length).toBe(451);
    for (const request of fake.server.log) expect(Number(new URLSearchParams(request.query).get('limit') ?? 0)).toBeLessThanOrEqual(200);
    await expect(target.listUserGroups(users[0]!.accountId)).resolves.toEqual([{ groupId: big.id, name: 'big' }]);
  });

  it('writes groups and memberships idempotently; cannot create or delete users', async () => {
    const user = fake.addUser({ email: 'w@example.com' });
    const group = await target.createGroup('writers');
    await expect(target.createGroup('writers')).resolves.toEqual(group);
    await target.addMember(group.groupId, user.accountId);
    await target.addMember(group.groupId, user.accountId);
    expect([...fake.groups.get(group.groupId)!.members]).toEqual([user.accountId]);
    await target.removeMember(group.groupId, user.accountId);
    await target.removeMember(group.groupId, user.accountId);
    await target.deleteGroup(group.groupId);
    await target.deleteGroup(group.groupId);
    expect(fake.groups.has(group.groupId)).toBe(false);
    await expect(target.createUser({ email: 'x@y', displayName: null, username: 'x', products: [] })).rejects.toBeInstanceOf(TargetError);
    expect(target.capabilities).toEqual(capabilitiesOf('confluence-cloud'));
  });
});

describe('Bitbucket Cloud target', () => {
  const fake = new FakeBitbucketCloud('acme');
  let target: BitbucketCloudTarget;
  beforeAll(async () => {
    await fake.start();
    target = new BitbucketCloudTarget({ http: { baseUrl: fake.baseUrl, username: 'admin@example.com', apiToken: 'bb-token', ...fast }, workspace: 'acme' });
  });
  afterAll(() => fake.stop());

  it('checks the connection; a wrong workspace fails clearly', async () => {
    await expect(target.testConnection()).resolves.toMatchObject({ ok: true, details: { workspace: 'acme' } });
    const wrong = new BitbucketCloudTarget({ http: { baseUrl: fake.baseUrl, username: 'admin@example.com', apiToken: 'bb-token' }, workspace: 'other' });
    await expect(wrong.testConnection()).resolves.toMatchObject({ ok: false, message: expect.stringMatching(/404/) });
  });

  it('pages workspace members (pagelen 100) and manages 1.0 groups by slug idempotently', async () => {
    const people = Array.from({ length: 230 }, (_, i) => fake.addMember(`Person ${i}`));
    expect(await collect(target.listUsers())).toHaveLength(231);
    expect(fake.server.requests('GET', '/2.0/workspaces/:workspace/members')).toHaveLength(3);
    const group = await target.createGroup('Release Managers');
    expect(group).toEqual({ groupId: 'release-managers', name: 'Release Managers' });
    await expect(target.createGroup('Release Managers')).resolves.toEqual(group);
    expect(fake.server.requests('POST', '/1.0/groups/:workspace')[0]!.body).toEqual({ name: 'Release Managers' });
    await target.addMember(group.groupId, people[0]!.accountId);
    await target.addMember(group.groupId, people[0]!.accountId);
    await expect(collect(target.listGroupMembers(group.groupId))).resolves.toEqual([people[0]!.accountId]);
    await expect(target.listUserGroups(people[0]!.accountId)).resolves.toEqual([group]);
    await target.removeMember(group.groupId, people[0]!.accountId);
    await target.removeMember(group.groupId, people[0]!.accountId);
    await target.deleteGroup(group.groupId);
    await target.deleteGroup(group.groupId);
    expect(fake.groups.size).toBe(0);
    await expect(target.deleteUser(people[1]!.accountId)).rejects.toThrow(/cannot/);
  });
});

describe('Bitbucket Data Center target', () => {
  const fake = new FakeBitbucketDc();
  let target: BitbucketDcTarget;
  beforeAll(async () => {
    await fake.start();
    target = new BitbucketDcTarget({ http: { baseUrl: fake.baseUrl, token: 'bbdc-pat', ...fast } });
  });
  afterAll(() => fake.stop());

  it('checks the connection with the token; a wrong token is a clear 401', async () => {
    await expect(target.testConnection()).resolves.toMatchObject({ ok: true });
    const wrong = new BitbucketDcTarget({ http: { baseUrl: fake.baseUrl, token: 'bad-pat-999' } });
    const check = await wrong.testConnection();
    expect(check).toMatchObject({ ok: false, message: expect.stringMatching(/401.*Authentication failed/) });
    expect(check.message).not.toContain('bad-pat-999');
  });

  it('creates, finds, updates and deletes users idempotently; the password is never the same twice', async () => {
    const created = await target.createUser({ email: 'dana@example.com', displayName: 'Dana', username: 'dana', products: [] });
    expect(created).toMatchObject({ accountId: 'dana', email: 'dana@example.com' });
    await expect(target.createUser({ email: 'dana@example.com', displayName: 'Dana', username: 'dana', products: [] })).resolves.toMatchObject({ accountId: 'dana' });
    const passwords = fake.server.requests('POST', '/rest/api/1.0/admin/users').map((r) => new URLSearchParams(r.query).get('password'));
    expect(new Set(passwords).size).toBe(2);
    await expect(target.findUserByEmail('DANA@example.com')).resolves.toMatchObject({ accountId: 'dana' });
    await expect(target.getUser('dana')).resolves.toMatchObject({ displayName: 'Dana' });
    await target.updateUser('dana', { displayName: 'Dana S.' });
    expect(fake.users.get('dana')!.displayName).toBe('Dana S.');
    await expect(target.listUserGroups('dana')).resolves.toEqual([{ groupId: 'stash-users', name: 'stash-users' }]);
    await target.deleteUser('dana');
    await target.deleteUser('dana');
    expect(fake.users.has('dana')).toBe(false);
  });

  it('pages users and members and manages groups and memberships idempotently', async () => {
    for (let i = 0; i < 1200; i += 1) fake.addUser(`user${i}`);
    expect((await collect(target.listUsers())).length).toBe(1200);
    const group = await target.createGroup('devs');
    await expect(target.createGroup('devs')).resolves.toEqual(group);
    for (let i = 0; i < 1005; i += 1) await target.addMember('devs', `user${i}`);
    await target.addMember('devs', 'user0');
    expect((await collect(target.listGroupMembers('devs'))).length).toBe(1005);
    await target.removeMember('devs', 'user0');
    await target.removeMember('devs', 'user0');
    expect(fake.groups.get('devs')!.has('user0')).toBe(false);
    expect(fake.server.requests('POST', '/rest/api/1.0/admin/users/remove-group')[0]!.body).toEqual({ context: 'user0', itemName: 'devs' });
    await target.deleteGroup('devs');
    await target.deleteGroup('devs');
    expect(fake.groups.has('devs')).toBe(false);
  });
});

describe('Atlassian organization target', () => {
  const fake = new FakeAtlassianOrg({ apiKeys: { 'org-key': 'admin' }, orgId: 'org-9' });
  let target: AtlassianOrgTarget;
  beforeAll(async () => {
    await fake.start();
    target = new AtlassianOrgTarget({ http: { baseUrl: fake.baseUrl, apiKey: 'org-key', ...fast }, orgId: 'org-9' });
  });
  afterAll(() => fake.stop());

  it('checks the connection; a wrong key or org fails clearly', async () => {
    await expect(target.testConnection()).resolves.toMatchObject({ ok: true });
    const wrongKey = new AtlassianOrgTarget({ http: { baseUrl: fake.baseUrl, apiKey: 'leaked?' }, orgId: 'org-9' });
    await expect(wrongKey.testConnection()).resolves.toMatchObject({ ok: false, message: expect.stringMatching(/401/) });
    const wrongOrg = new AtlassianOrgTarget({ http: { baseUrl: fake.baseUrl, apiKey: 'org-key' }, orgId: 'nope' });
    await expect(wrongOrg.testConnection()).resolves.toMatchObject({ ok: false, message: expect.stringMatching(/404/) });
  });

  it('lists every directory user through v2 (v1 lists managed accounts only), by cursor, 100 a page', async () => {
    const before = fake.server.requests('GET', '/admin/v2/orgs/:orgId/directories/:directoryId/users').length;
    Array.from({ length: 249 }, (_, i) => fake.addUser({ email: `o${i}@example.com` }));
    const outsider = fake.addUser({ email: 'contractor@elsewhere.example', managed: false });
    const listed = await collect(target.listUsers());
    expect(listed).toHaveLength(250);
    expect(listed.map((u) => u.accountId)).toContain(outsider.accountId);
    expect(fake.server.requests('GET', '/admin/v2/orgs/:orgId/directories/:directoryId/users').length - before).toBe(3);
    const v1 = await fetch(`${fake.baseUrl}/admin/v1/orgs/org-9/users`, { headers: { authorization: 'Bearer org-key' } }).then((r) => r.json() as Promise<{ data: Array<{ account_id: string }> }>);
    expect(v1.data.map((u) => u.account_id)).not.toContain(outsider.accountId);
  });

  it('deactivates by suspending app access (v2 suspend/restore), never by disabling the account; idempotent', async () => {
    const ann = fake.addUser({ email: 'ann.s@example.com' });
    await target.deactivateUser(ann.accountId);
    await target.deactivateUser(ann.accountId); // already suspended: done, whatever the answer says
    expect(fake.users.get(ann.accountId)).toMatchObject({ membership: 'suspended', status: 'active' });
    await expect(target.getUser(ann.accountId)).resolves.toMatchObject({ active: false });
    await target.reactivateUser(ann.accountId);
    await target.reactivateUser(ann.accountId);
    expect(fake.users.get(ann.accountId)).toMatchObject({ membership: 'active', status: 'active' });
    expect(fake.server.log.filter((r) => r.path.includes('/manage/lifecycle/'))).toEqual([]);
    expect(fake.server.requests('POST', '/admin/v2/orgs/:orgId/directories/:directoryId/users/:accountId/suspend')).toHaveLength(2);
    await expect(target.getUser('712020:none')).resolves.toBeNull();
  });

  it('changes a name through the profile API and an email through the email API (the profile refuses an email)', async () => {
    const bob = fake.addUser({ email: 'bob.o@example.com' });
    await target.updateUser(bob.accountId, { displayName: 'Bob Lee', email: 'robert@example.com' });
    expect(fake.users.get(bob.accountId)).toMatchObject({ name: 'Bob Lee', email: 'robert@example.com' });
    expect(fake.server.requests('PATCH', '/users/:accountId/manage/profile').map((r) => r.body)).toEqual([{ name: 'Bob Lee' }]);
    expect(fake.server.requests('PUT', '/users/:accountId/manage/email').map((r) => r.body)).toEqual([{ email: 'robert@example.com' }]);
    const refused = await fetch(`${fake.baseUrl}/users/${bob.accountId}/manage/profile`, {
      method: 'PATCH',
      headers: { authorization: 'Bearer org-key', 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'x@example.com' }),
    });
    expect(refused.status).toBe(400);
    await expect(target.findUserByEmail('ROBERT@example.com')).resolves.toMatchObject({ accountId: bob.accountId });
  });

  it('manages directory groups and memberships idempotently', async () => {
    const user = fake.addUser({ email: 'g@example.com' });
    const group = await target.createGroup('org-team');
    await expect(target.createGroup('org-team')).resolves.toEqual(group);
    await target.addMember(group.groupId, user.accountId);
    await target.addMember(group.groupId, user.accountId);
    await expect(collect(target.listGroupMembers(group.groupId))).resolves.toEqual([user.accountId]);
    await expect(target.listUserGroups(user.accountId)).resolves.toEqual([group]);
    // Members come from the documented users endpoint filtered by groupIds; the fake has no memberships listing.
    expect(fake.server.requests('GET', '/admin/v2/orgs/:orgId/directories/:directoryId/users').at(-1)!.query).toContain(`groupIds=${group.groupId}`);
    const listing = await fetch(`${fake.baseUrl}/admin/v2/orgs/org-9/directories/${fake.directoryId}/groups/${group.groupId}/memberships`, { headers: { authorization: 'Bearer org-key' } });
    expect(listing.status).toBe(405);
    await target.removeMember(group.groupId, user.accountId);
    await target.removeMember(group.groupId, user.accountId);
    await target.deleteGroup(group.groupId);
    await target.deleteGroup(group.groupId);
    expect(fake.groups.size).toBe(0);
  });
});

describe('capability matrix and factory', () => {
  const samples: Record<string, unknown> = {
    'jira-cloud': { baseUrl: 'https://a.atlassian.net', credentials: { email: 'a@b.co', apiToken: 't' } },
    'confluence-cloud': { baseUrl: 'https://a.atlassian.net/wiki', credentials: { email: 'a@b.co', apiToken: 't' } },
    'bitbucket-cloud': { settings: { workspace: 'w' }, credentials: { username: 'u', apiToken: 't' } },
    'bitbucket-dc': { baseUrl: 'https://bb.example.com', credentials: { token: 't' } },
    'jira-dc': { baseUrl: 'https://jira.example.com', credentials: { token: 't' } },
    'confluence-dc': { baseUrl: 'https://wiki.example.com', credentials: { token: 't' } },
    'atlassian-org': { settings: { orgId: 'o' }, credentials: { apiKey: 'k' } },
  };

  it.each(TARGET_KINDS)('%s: the adapter built by the factory reports the matrix capabilities', (kind) => {
    const definition = targetInputSchema.parse({ kind, name: kind, ...(samples[kind] as object) });
    const target: Target = createTarget(definition);
    expect(target.kind).toBe(kind);
    expect(target.capabilities).toEqual(capabilitiesOf(kind));
    // Every capability the product lacks says what the engine does instead.
    const entry = CAPABILITY_MATRIX[kind];
    const essential = ['createUser', 'deactivateUser', 'deleteUser', 'createGroup', 'deleteGroup', 'manageMembership'] as const;
    for (const capability of essential) {
      if (!entry.capabilities[capability]) expect(entry.instead[capability]).toEqual(expect.any(String));
    }
    expect(typeof target.listProjectLeads === 'function').toBe(entry.capabilities.leads);
  });
});
