import { SecretBox } from '../../src/security/crypto';
import { TargetConfigError, TargetNotFoundError, TargetStore } from '../../src/targets/store';
import { JiraCloudTarget } from '../../src/targets/jira-cloud';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { TEST_ENCRYPTION_KEYS, allowLoopbackEgress } from '../helpers/runtime';
import { FakeJiraCloud } from '../fakes/fake-jira-cloud';
import { FakeAtlassianOrg } from '../fakes/fake-atlassian-org';

beforeAll(allowLoopbackEgress);

describe('TargetStore', () => {
  let testDb: TestDatabase;
  let store: TargetStore;
  let tenantId: string;
  let otherTenantId: string;
  const secrets = SecretBox.fromKeyList(TEST_ENCRYPTION_KEYS);

  const jiraInput = (overrides: Record<string, unknown> = {}) => ({
    kind: 'jira-cloud',
    name: 'Jira',
    baseUrl: 'https://acme.atlassian.net/',
    credentials: { email: 'admin@acme.com', apiToken: 'ATATT-super-secret-token' },
    ...overrides,
  });

  beforeAll(async () => {
    testDb = await createTestDatabase();
    store = new TargetStore(testDb.db, secrets);
  });
  afterAll(() => testDb.destroy());
  beforeEach(async () => {
    await testDb.truncate();
    const insert = (key: string) =>
      testDb.db.query<{ id: string }>(`INSERT INTO tenants (client_key, base_url, shared_secret_sealed) VALUES ($1, 'https://x.atlassian.net', 'sealed') RETURNING id`, [key]);
    tenantId = (await insert('tenant-a')).rows[0]!.id;
    otherTenantId = (await insert('tenant-b')).rows[0]!.id;
  });

  it('stores a target with its credentials sealed: the raw row never holds the token', async () => {
    const stored = await store.create(tenantId, jiraInput());
    expect(stored).toMatchObject({
      kind: 'jira-cloud',
      name: 'Jira',
      baseUrl: 'https://acme.atlassian.net',
      credentialFields: ['apiToken', 'email'],
      site: 'https://acme.atlassian.net',
      settings: { limits: { concurrency: 4, maxRetries: 5, timeoutMs: 30000 } },
    });
    expect(JSON.stringify(stored)).not.toContain('ATATT-super-secret-token');
    const { rows } = await testDb.db.query('SELECT * FROM targets WHERE id = $1', [stored.id]);
    const raw = JSON.stringify(rows[0]);
    expect(raw).not.toContain('ATATT-super-secret-token');
    expect(raw).not.toContain('admin@acme.com');
    expect(rows[0]!.credentials_sealed).toMatch(/^v1\.test\./);
    const definition = await store.definition(tenantId, stored.id);
    expect(definition.credentials).toEqual({ email: 'admin@acme.com', apiToken: 'ATATT-super-secret-token' });
  });

  it.each([
    ['an unknown kind', { kind: 'gitlab' }, /kind/],
    ['a bad email', { credentials: { email: 'nope', apiToken: 'x' } }, /credentials\.email/],
    ['a missing token', { credentials: { email: 'a@b.co' } }, /credentials\.apiToken/],
    ['http to a remote host', { baseUrl: 'http://acme.atlassian.net' }, /reached over https only/],
    ['not a URL', { baseUrl: 'acme' }, /baseUrl/],
    ['unknown settings', { settings: { surprise: true } }, /settings/],
    ['an empty name', { name: ' ' }, /name/],
    ['a concurrency out of range', { settings: { limits: { concurrency: 99 } } }, /settings\.limits\.concurrency/],
  ])('rejects %s with a zod-backed TargetConfigError', async (_label, overrides, pattern) => {
    const error = await store.create(tenantId, jiraInput(overrides)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetConfigError);
    expect((error as TargetConfigError).issues.join('\n')).toMatch(pattern);
  });

  it('validates per kind: Bitbucket Cloud needs a workspace, the org API an orgId; defaults fill base URLs', async () => {
    await expect(store.create(tenantId, { kind: 'bitbucket-cloud', name: 'BB', settings: {}, credentials: { username: 'u', apiToken: 't' } })).rejects.toThrow(/settings\.workspace/);
    const bb = await store.create(tenantId, { kind: 'bitbucket-cloud', name: 'BB', settings: { workspace: 'acme' }, credentials: { username: 'u', apiToken: 't' } });
    expect(bb.baseUrl).toBe('https://api.bitbucket.org');
    await expect(store.create(tenantId, { kind: 'atlassian-org', name: 'Org', settings: {}, credentials: { apiKey: 'k' } })).rejects.toThrow(/settings\.orgId/);
    const dc = await store.create(tenantId, { kind: 'jira-dc', name: 'Jira DC', baseUrl: 'http://jira.internal:8080', credentials: { token: 'pat' } });
    expect(dc.baseUrl).toBe('http://jira.internal:8080');
  });

  it('allows http for loopback where the operator lists it in EGRESS_ALLOW (tests, local fakes)', async () => {
    await expect(store.create(tenantId, jiraInput({ baseUrl: 'http://127.0.0.1:4321' }))).resolves.toMatchObject({ baseUrl: 'http://127.0.0.1:4321' });
  });

  it('refuses a second target with the same name in a tenant, not across tenants', async () => {
    await store.create(tenantId, jiraInput());
    await expect(store.create(tenantId, jiraInput())).rejects.toThrow(/already exists/);
    await expect(store.create(otherTenantId, jiraInput())).resolves.toMatchObject({ tenantId: otherTenantId });
  });

  it('scopes every read and write to the tenant', async () => {
    const stored = await store.create(tenantId, jiraInput());
    await expect(store.get(otherTenantId, stored.id)).resolves.toBeNull();
    await expect(store.list(otherTenantId)).resolves.toEqual([]);
    await expect(store.definition(otherTenantId, stored.id)).rejects.toBeInstanceOf(TargetNotFoundError);
    await expect(store.update(otherTenantId, stored.id, { name: 'x' })).rejects.toBeInstanceOf(TargetNotFoundError);
    await expect(store.remove(otherTenantId, stored.id)).resolves.toBe(false);
    await expect(store.get(tenantId, 'not-a-uuid')).resolves.toBeNull();
  });

  it('updates by merging credentials (rotate a token without re-entering the email) and re-validates', async () => {
    const stored = await store.create(tenantId, jiraInput());
    const updated = await store.update(tenantId, stored.id, { credentials: { apiToken: 'rotated-token' }, settings: { limits: { concurrency: 2 } } });
    expect(updated.settings.limits.concurrency).toBe(2);
    expect((await store.definition(tenantId, stored.id)).credentials).toEqual({ email: 'admin@acme.com', apiToken: 'rotated-token' });
    await expect(store.update(tenantId, stored.id, { baseUrl: 'ftp://x' })).rejects.toBeInstanceOf(TargetConfigError);
    expect(await store.remove(tenantId, stored.id)).toBe(true);
    await expect(store.list(tenantId)).resolves.toEqual([]);
  });

  it('knows Confluence Cloud on the same site as Jira Cloud shares its directory, whichever is added first', async () => {
    const confluence = await store.create(tenantId, { ...jiraInput(), kind: 'confluence-cloud', name: 'Confluence', baseUrl: 'https://ACME.atlassian.net/wiki' });
    expect(confluence).toMatchObject({ baseUrl: 'https://ACME.atlassian.net', sharesDirectoryWith: null });
    const other = await store.create(tenantId, { ...jiraInput(), kind: 'confluence-cloud', name: 'Other wiki', baseUrl: 'https://other.atlassian.net/wiki' });
    const jira = await store.create(tenantId, jiraInput());
    expect((await store.get(tenantId, confluence.id))!.sharesDirectoryWith).toBe(jira.id);
    expect((await store.get(tenantId, other.id))!.sharesDirectoryWith).toBeNull();
    await store.update(tenantId, jira.id, { baseUrl: 'https://elsewhere.atlassian.net' });
    expect((await store.get(tenantId, confluence.id))!.sharesDirectoryWith).toBeNull();
    await store.update(tenantId, jira.id, { baseUrl: 'https://acme.atlassian.net' });
    expect((await store.get(tenantId, confluence.id))!.sharesDirectoryWith).toBe(jira.id);
    await store.remove(tenantId, jira.id);
    expect((await store.get(tenantId, confluence.id))!.sharesDirectoryWith).toBeNull();
  });

  it('tests the connection against the configured URL and keeps the outcome', async () => {
    const jira = new FakeJiraCloud({ credentials: { 'admin@acme.com': 'ATATT-super-secret-token' } });
    await jira.start();
    try {
      const stored = await store.create(tenantId, jiraInput({ baseUrl: jira.baseUrl }));
      const check = await store.testConnection(tenantId, stored.id);
      expect(check.ok).toBe(true);
      expect((await store.get(tenantId, stored.id))!.lastCheck).toMatchObject({ ok: true });

      await store.update(tenantId, stored.id, { credentials: { apiToken: 'wrong-token' } });
      expect((await store.get(tenantId, stored.id))!.lastCheck).toBeNull();
      const failed = await store.testConnection(tenantId, stored.id, { http: { maxRetries: 0 } });
      expect(failed).toMatchObject({ ok: false, message: expect.stringMatching(/401/) });
      expect(failed.message).not.toContain('wrong-token');
      const { rows } = await testDb.db.query('SELECT last_check FROM targets WHERE id = $1', [stored.id]);
      expect(JSON.stringify(rows[0])).not.toContain('wrong-token');
    } finally {
      await jira.stop();
    }
  });

  it('opens a Jira Cloud target with its org target as lifecycle, so deactivation works', async () => {
    const org = new FakeAtlassianOrg({ apiKeys: { 'org-key': 'org-admin' }, orgId: 'org-1' });
    await org.start();
    try {
      const orgTarget = await store.create(tenantId, { kind: 'atlassian-org', name: 'Org', baseUrl: org.baseUrl, settings: { orgId: 'org-1' }, credentials: { apiKey: 'org-key' } });
      const user = org.addUser({ email: 'ann@acme.com', name: 'Ann' });
      const stored = await store.create(tenantId, jiraInput({ baseUrl: 'http://127.0.0.1:1', settings: { orgTargetId: orgTarget.id } }));
      const target = await store.open(tenantId, stored.id);
      expect(target).toBeInstanceOf(JiraCloudTarget);
      expect(target.capabilities.deactivateUser).toBe(true);
      await target.deactivateUser(user.accountId);
      // Deactivation = the org's v2 suspend of app access; the account itself stays active.
      expect(org.users.get(user.accountId)).toMatchObject({ status: 'active', membership: 'suspended' });
      await expect(store.create(tenantId, jiraInput({ name: 'bad', settings: { orgTargetId: stored.id } }))).rejects.toThrow(/atlassian-org target/);
    } finally {
      await org.stop();
    }
  });
});
