import { CallCounter } from '../../src/targets/http';
import { JiraCloudTarget, type AccountLifecycle } from '../../src/targets/jira-cloud';
import { TargetError } from '../../src/targets/types';
import { FakeJiraCloud } from '../fakes/fake-jira-cloud';
import { allowLoopbackEgress } from '../helpers/runtime';
import { collect } from '../helpers/targets';

beforeAll(allowLoopbackEgress);

const fastRetries = { baseBackoffMs: 1, maxBackoffMs: 5 };

describe('Jira Cloud target against the fake Jira', () => {
  let jira: FakeJiraCloud;
  let target: JiraCloudTarget;
  let counter: CallCounter;

  beforeEach(async () => {
    jira = new FakeJiraCloud({ credentials: { 'admin@example.com': 'jira-token', 'viewer@example.com': 'viewer-token' }, siteAdmins: ['admin@example.com'] });
    await jira.start();
    counter = new CallCounter();
    target = new JiraCloudTarget({ http: { baseUrl: jira.baseUrl, email: 'admin@example.com', apiToken: 'jira-token', counter, ...fastRetries } });
  });
  afterEach(() => jira.stop());

  it('tests the connection: who the credentials are and whether they administer Jira', async () => {
    await expect(target.testConnection()).resolves.toMatchObject({ ok: true, details: { administer: true } });
    const viewer = new JiraCloudTarget({ http: { baseUrl: jira.baseUrl, email: 'viewer@example.com', apiToken: 'viewer-token' } });
    await expect(viewer.testConnection()).resolves.toMatchObject({ ok: false, message: expect.stringMatching(/not a Jira administrator/) });
  });

  it('reports bad credentials clearly, without the token', async () => {
    const wrong = new JiraCloudTarget({ http: { baseUrl: jira.baseUrl, email: 'admin@example.com', apiToken: 'not-the-token-42' } });
    const check = await wrong.testConnection();
    expect(check.ok).toBe(false);
    expect(check.message).toMatch(/401.*authentication failed/);
    expect(check.message).not.toContain('not-the-token-42');
    await expect(collect(wrong.listGroups())).rejects.toMatchObject({ status: 401, target: 'jira-cloud' });
  });

  it('lists every person across pages of 1000, skipping app accounts, with hidden emails as null', async () => {
    for (let i = 0; i < 2345; i += 1) jira.addUser({ emailAddress: `u${i}@example.com`, active: i % 10 !== 0 });
    jira.addUser({ emailAddress: 'bot@connect.invalid', accountType: 'app' });
    jira.addUser({ emailAddress: 'private@example.com', emailHidden: true });
    const users = await collect(target.listUsers());
    expect(users).toHaveLength(2345 + 3); // + the two credential accounts + the private user
    expect(users.filter((u) => !u.active)).toHaveLength(235);
    expect(users.find((u) => u.displayName === 'private')).toMatchObject({ email: null });
    const pages = jira.server.requests('GET', '/rest/api/3/users/search');
    expect(pages.map((r) => new URLSearchParams(r.query).get('maxResults'))).toEqual(['1000', '1000', '1000', '1000']);
  });

  it('lists groups in pages of 50 and members in pages of at most 50, inactive members included', async () => {
    const people = Array.from({ length: 130 }, (_, i) => jira.addUser({ emailAddress: `m${i}@example.com`, active: i !== 7 }));
    for (let i = 0; i < 120; i += 1) jira.addGroup(`group-${i}`);
    const big = jira.addGroup('big', people.map((p) => p.accountId));
    const groups = await collect(target.listGroups());
    expect(groups).toHaveLength(122); // and the site's jira-software-users
    expect(groups.map((g) => g.name)).toContain('jira-software-users');
    expect(jira.server.requests('GET', '/rest/api/3/group/bulk')).toHaveLength(3);
    const members = await collect(target.listGroupMembers(big.groupId));
    expect(members).toEqual(people.map((p) => p.accountId));
    const memberPages = jira.server.requests('GET', '/rest/api/3/group/member');
    expect(memberPages).toHaveLength(3);
    for (const request of memberPages) expect(Number(new URLSearchParams(request.query).get('maxResults'))).toBeLessThanOrEqual(50);
  });

  it('gets a user, finds one by email (exactly), and lists their groups', async () => {
    const ann = jira.addUser({ emailAddress: 'Ann@Example.com', displayName: 'Ann Lee' });
    jira.addUser({ emailAddress: 'ann.other@example.com', displayName: 'Ann Other' });
    const hidden = jira.addUser({ emailAddress: 'hidden@example.com', emailHidden: true });
    const group = jira.addGroup('devs', [ann.accountId]);
    await expect(target.getUser(ann.accountId)).resolves.toEqual({ accountId: ann.accountId, email: 'Ann@Example.com', displayName: 'Ann Lee', active: true });
    await expect(target.getUser('no-such-account')).resolves.toBeNull();
    await expect(target.findUserByEmail('ann@example.com')).resolves.toMatchObject({ accountId: ann.accountId });
    await expect(target.findUserByEmail('hidden@example.com')).resolves.toBeNull();
    expect(hidden.emailHidden).toBe(true);
    await expect(target.listUserGroups(ann.accountId)).resolves.toEqual([{ groupId: group.groupId, name: 'devs' }]);
  });

  it('creates a user with products; creating the same email again returns the same account', async () => {
    const created = await target.createUser({ email: 'new@example.com', displayName: 'New', username: 'new', products: ['jira-software'] });
    expect(jira.users.get(created.accountId)).toMatchObject({ emailAddress: 'new@example.com', products: new Set(['jira-software']) });
    const again = await target.createUser({ email: 'new@example.com', displayName: 'New', username: 'new', products: ['jira-software'] });
    expect(again.accountId).toBe(created.accountId);
    expect([...jira.users.values()].filter((u) => u.emailAddress === 'new@example.com')).toHaveLength(1);
    expect(jira.server.requests('POST', '/rest/api/3/user').map((r) => r.body)).toEqual([
      { emailAddress: 'new@example.com', products: ['jira-software'] },
      { emailAddress: 'new@example.com', products: ['jira-software'] },
    ]);
  });

  it('returns an existing account without product access instead of failing the create', async () => {
    const existing = jira.addUser({ emailAddress: 'noaccess@example.com', products: [] });
    await expect(target.createUser({ email: 'noaccess@example.com', displayName: null, username: 'x', products: ['jira-software'] })).resolves.toMatchObject({
      accountId: existing.accountId,
    });
  });

  it('fails a create over the licence limit with the product message', async () => {
    jira.licenceLimit = 1;
    await expect(target.createUser({ email: 'over@example.com', displayName: null, username: 'x', products: [] })).rejects.toThrow(/user limit/);
  });

  it('deletes (removes from site) idempotently', async () => {
    const user = jira.addUser({ emailAddress: 'gone@example.com' });
    const group = jira.addGroup('g', [user.accountId]);
    await target.deleteUser(user.accountId);
    expect(jira.users.has(user.accountId)).toBe(false);
    expect(group.members.size).toBe(0);
    await expect(target.deleteUser(user.accountId)).resolves.toBeUndefined();
  });

  it('reads the groups that grant product access from the application roles; a product granted on create joins its default group', async () => {
    const groups = await target.listAccessGroups();
    expect(groups).toEqual([{ name: 'jira-software-users', groupId: jira.groupByName('jira-software-users')!.groupId, product: 'jira-software', isDefault: true }]);
    expect(jira.server.requests('GET', '/rest/api/3/applicationrole')).toHaveLength(1);
    const created = await target.createUser({ email: 'new@example.com', displayName: null, username: 'new', products: ['jira-software'] });
    expect(jira.productAccess(created.accountId)).toEqual(['jira-software']);
    await target.removeMember(jira.groupByName('jira-software-users')!.groupId, created.accountId);
    expect(jira.productAccess(created.accountId)).toEqual([]);

    // Several roles and groups, and a group granting two products: listed per product.
    const site = new FakeJiraCloud({ applicationRoles: { 'jira-software': ['jira-software-users', 'engineering'], 'jira-servicedesk': ['agents', 'engineering'] } });
    await site.start();
    try {
      const other = new JiraCloudTarget({ http: { baseUrl: site.baseUrl, email: 'admin@example.com', apiToken: 'jira-token', ...fastRetries } });
      const listed = (await other.listAccessGroups()).map((g) => `${g.product}:${g.name}${g.isDefault ? '*' : ''}`).sort();
      expect(listed).toEqual(['jira-servicedesk:agents*', 'jira-servicedesk:engineering', 'jira-software:engineering', 'jira-software:jira-software-users*']);
      // Administer Jira is required, as documented.
      const viewer = new JiraCloudTarget({ http: { baseUrl: jira.baseUrl, email: 'viewer@example.com', apiToken: 'viewer-token', ...fastRetries } });
      await expect(viewer.listAccessGroups()).rejects.toMatchObject({ status: 403 });
    } finally {
      await site.stop();
    }
  });

  it('creates groups idempotently: a name in use returns the existing group', async () => {
    const created = await target.createGroup('Team A');
    expect(jira.groupByName('Team A')?.groupId).toBe(created.groupId);
    const again = await target.createGroup('team a');
    expect(again).toEqual(created);
    expect([...jira.groups.values()].map((g) => g.name).sort()).toEqual(['Team A', 'jira-software-users']);
    await target.deleteGroup(created.groupId);
    expect(jira.groupByName('Team A')).toBeUndefined();
    await expect(target.deleteGroup(created.groupId)).resolves.toBeUndefined();
  });

  it('adds and removes members idempotently', async () => {
    const user = jira.addUser({ emailAddress: 'm@example.com' });
    const group = jira.addGroup('g');
    await target.addMember(group.groupId, user.accountId);
    await target.addMember(group.groupId, user.accountId);
    expect([...group.members]).toEqual([user.accountId]);
    await target.removeMember(group.groupId, user.accountId);
    await target.removeMember(group.groupId, user.accountId);
    expect(group.members.size).toBe(0);
    await target.removeMember('missing-group', user.accountId);
    await expect(target.addMember('missing-group', user.accountId)).rejects.toMatchObject({ status: 404 });
  });

  it('writes need a site admin: a non-admin gets a clear 403', async () => {
    const viewer = new JiraCloudTarget({ http: { baseUrl: jira.baseUrl, email: 'viewer@example.com', apiToken: 'viewer-token' } });
    await expect(viewer.createGroup('x')).rejects.toThrow(/403.*lack the permission/);
  });

  it('reads and reassigns project and component leads', async () => {
    const lead = jira.addUser({ emailAddress: 'lead@example.com' });
    const next = jira.addUser({ emailAddress: 'next@example.com' });
    for (let i = 0; i < 130; i += 1) jira.addProject(`P${i}`, `Project ${i}`, i === 3 ? lead.accountId : null);
    const component = jira.addComponent('P3', 'Backend', lead.accountId);
    jira.addComponent('P4', 'Frontend', null);
    const projects = await collect(target.listProjectLeads());
    expect(projects).toHaveLength(130);
    expect(projects.filter((p) => p.leadAccountId === lead.accountId)).toEqual([{ projectKey: 'P3', projectName: 'Project 3', leadAccountId: lead.accountId }]);
    const components = await collect(target.listComponentLeads());
    expect(components).toEqual([
      { componentId: component.id, componentName: 'Backend', projectKey: 'P3', leadAccountId: lead.accountId },
      { componentId: expect.any(String), componentName: 'Frontend', projectKey: 'P4', leadAccountId: null },
    ]);
    await target.setProjectLead('P3', next.accountId);
    await target.setComponentLead(component.id, next.accountId);
    expect(jira.projects.get('P3')!.leadAccountId).toBe(next.accountId);
    expect(component.leadAccountId).toBe(next.accountId);
  });

  it('cannot deactivate, reactivate or update without an org target, and says why', async () => {
    expect(target.capabilities).toMatchObject({ deactivateUser: false, reactivateUser: false, updateUser: false, deleteUser: true });
    const error = await target.deactivateUser('x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetError);
    expect((error as Error).message).toMatch(/organization target/);
  });

  it('delegates deactivate, reactivate and profile updates to the org lifecycle when configured', async () => {
    const calls: string[] = [];
    const lifecycle: AccountLifecycle = {
      deactivateUser: async (id) => void calls.push(`off ${id}`),
      reactivateUser: async (id) => void calls.push(`on ${id}`),
      updateUser: async (id, changes) => void calls.push(`update ${id} ${JSON.stringify(changes)}`),
    };
    const withOrg = new JiraCloudTarget({ http: { baseUrl: jira.baseUrl, email: 'admin@example.com', apiToken: 'jira-token' }, lifecycle });
    expect(withOrg.capabilities).toMatchObject({ deactivateUser: true, reactivateUser: true, updateUser: true });
    await withOrg.deactivateUser('a1');
    await withOrg.reactivateUser('a1');
    await withOrg.updateUser('a1', { displayName: 'Ann' });
    expect(calls).toEqual(['off a1', 'on a1', 'update a1 {"displayName":"Ann"}']);
  });

  describe('faults', () => {
    it('honours 429 Retry-After and lands the write once', async () => {
      const user = jira.addUser({ emailAddress: 'r@example.com' });
      const group = jira.addGroup('g');
      jira.server.queueRateLimit(2, 0, { method: 'POST', path: '/rest/api/3/group/user' });
      await target.addMember(group.groupId, user.accountId);
      expect(group.members.has(user.accountId)).toBe(true);
      expect(counter.snapshot()).toMatchObject({ writes: 3, writesThrottled: 2 });
    });

    it('retries 5xx and then succeeds', async () => {
      jira.server.queueStatus(2, 503, { path: '/rest/api/3/group/bulk' });
      jira.addGroup('a');
      await expect(collect(target.listGroups())).resolves.toHaveLength(2); // a, and the site's jira-software-users
    });

    it('stops after bounded retries with a TargetError', async () => {
      jira.server.queueStatus(20, 500, { path: '/rest/api/3/group/bulk' });
      const bounded = new JiraCloudTarget({ http: { baseUrl: jira.baseUrl, email: 'admin@example.com', apiToken: 'jira-token', maxRetries: 3, ...fastRetries } });
      await expect(collect(bounded.listGroups())).rejects.toMatchObject({ name: 'TargetError', status: 500, retryable: true });
      expect(jira.server.requests('GET', '/rest/api/3/group/bulk')).toHaveLength(4);
    });

    it('a write whose answer was lost is retried and still applied once', async () => {
      const user = jira.addUser({ emailAddress: 'd@example.com' });
      const group = jira.addGroup('g');
      jira.server.queueDrop(1, { method: 'POST', path: '/rest/api/3/group/user' }, true);
      await target.addMember(group.groupId, user.accountId);
      expect([...group.members]).toEqual([user.accountId]);
      jira.server.queueDrop(1, { method: 'POST', path: '/rest/api/3/group' }, true);
      const created = await target.createGroup('after-drop');
      expect([...jira.groups.values()].filter((g) => g.name === 'after-drop')).toEqual([expect.objectContaining({ groupId: created.groupId })]);
    });
  });
});
