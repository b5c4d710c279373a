import { CONFLUENCE_CLOUD_LIMITS, ConfluenceCloudTarget } from '../../src/targets/confluence-cloud';
import { FakeConfluenceCloud } from '../fakes/fake-confluence-cloud';
import { allowLoopbackEgress } from '../helpers/runtime';
import { FAST_RETRIES, collect } from '../helpers/targets';

// The fakes listen on loopback: reach them through the operator's allow-list, as the app would.
beforeAll(allowLoopbackEgress);

/**
 * What Confluence Cloud's user and group APIs do that a naive client misses: the CQL user search hides guests
 * unless `sitePermissionTypeFilter=all`, it cannot page past 10,000 matches, and `GET /group/by-name` is
 * deprecated in favour of the group picker. The fake behaves that way; the adapter must still see everyone.
 */

describe('Confluence Cloud target: users and groups as the API really answers', () => {
  let fake: FakeConfluenceCloud;
  let target: ConfluenceCloudTarget;
  beforeEach(async () => {
    fake = new FakeConfluenceCloud();
    await fake.start();
    target = new ConfluenceCloudTarget({ http: { baseUrl: fake.baseUrl, email: 'admin@example.com', apiToken: 'confluence-token', ...FAST_RETRIES } });
  });
  afterEach(() => fake.stop());

  it('the fake hides guests from a plain search and returns nothing past 10,000, as the real search does', async () => {
    fake.addUser({ email: 'guest@partner.example', guest: true });
    const plain = await fetch(`${fake.baseUrl}/wiki/rest/api/search/user?cql=type%3Duser&limit=100`, { headers: { Authorization: `Basic ${Buffer.from('admin@example.com:confluence-token').toString('base64')}` } });
    const body = (await plain.json()) as { results: Array<{ user: { email: string } }> };
    expect(body.results.map((r) => r.user.email)).toEqual(['admin@example.com']);
    const past = await fetch(`${fake.baseUrl}/wiki/rest/api/search/user?cql=type%3Duser&start=10000&limit=10&sitePermissionTypeFilter=all`, {
      headers: { Authorization: `Basic ${Buffer.from('admin@example.com:confluence-token').toString('base64')}` },
    });
    expect(((await past.json()) as { results: unknown[] }).results).toEqual([]);
  });

  it('lists guests too (sitePermissionTypeFilter=all)', async () => {
    const guests = [1, 2, 3].map((i) => fake.addUser({ email: `guest${i}@partner.example`, guest: true }));
    const users = await collect(target.listUsers());
    for (const guest of guests) expect(users.map((u) => u.accountId)).toContain(guest.accountId);
    for (const call of fake.server.requests('GET', '/wiki/rest/api/search/user')) expect(new URLSearchParams(call.query).get('sitePermissionTypeFilter')).toBe('all');
    // A small site is read by the search alone.
    expect(fake.server.requests('GET', '/wiki/rest/api/group/:groupId/membersByGroupId')).toHaveLength(0);
  });

  it('sees every user with product access on a site past the 10,000-result search window', async () => {
    const people = Array.from({ length: CONFLUENCE_CLOUD_LIMITS.searchWindow + 250 }, (_, i) => fake.addUser({ email: `p${i}@corp.example`, guest: i % 500 === 0 }));
    fake.addGroup('confluence-users', people.slice(0, 6_000).map((u) => u.accountId));
    fake.addGroup('confluence-guests', people.filter((u) => u.guest).map((u) => u.accountId));
    fake.addGroup('contractors', people.slice(5_500).map((u) => u.accountId));
    const users = await collect(target.listUsers());
    const ids = new Set(users.map((u) => u.accountId));
    expect(ids.size).toBe(users.length);
    for (const person of people) expect(ids.has(person.accountId)).toBe(true);
    for (const call of fake.server.requests('GET', '/wiki/rest/api/search/user')) {
      const query = new URLSearchParams(call.query);
      expect(Number(query.get('start')) + Number(query.get('limit'))).toBeLessThanOrEqual(CONFLUENCE_CLOUD_LIMITS.searchWindow);
    }
  });

  it('finds a group whose name is taken through the group picker, never the deprecated by-name', async () => {
    const existing = fake.addGroup('Writers');
    fake.addGroup('writers-emea');
    await expect(target.createGroup('writers')).resolves.toEqual({ groupId: existing.id, name: 'Writers' });
    expect(fake.server.requests('GET', '/wiki/rest/api/group/picker')).toHaveLength(1);
    expect(fake.server.log.filter((r) => r.path.endsWith('/group/by-name'))).toEqual([]);
    await expect(target.createGroup('')).rejects.toThrow(/400/);
  });
});
