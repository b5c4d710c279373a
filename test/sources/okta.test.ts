import { IdpDirectory } from '../fakes/idp/directory-data';
import { FakeOkta } from '../fakes/idp/fake-okta';
import { describeSourceContract, seedDirectory } from './harness';
import { OktaSource, nextLink, oktaStatusIsActive } from '../../src/sources/okta';
import { parsePullConfig, type OktaPullConfig } from '../../src/sources/config';

const directory = new IdpDirectory();
seedDirectory(directory, (n) => `00u${n}`, (name) => `00g-${name}`);
const fake = new FakeOkta({
  data: directory,
  apiToken: '00okta-token',
  apps: { '0oaJira': { label: 'Jira', users: ['00u1', '00u2', '00u4'], groups: ['00g-engineering'] } },
});

describeSourceContract(() => ({
  name: 'Okta',
  fake,
  directory,
  seed: () => seedDirectory(directory, (n) => `00u${n}`, (name) => `00g-${name}`),
  provider: 'okta',
  config: () => ({ kind: 'okta', baseUrl: fake.baseUrl, apiToken: '00okta-token', pageSize: 3 }),
  badConfig: () => ({ kind: 'okta', baseUrl: fake.baseUrl, apiToken: 'wrong', pageSize: 3 }),
  userListPath: /^\/api\/v1\/users$/,
  memberPath: /^\/api\/v1\/groups\/[^/]+\/users$/,
  throttleOnce: () => {
    // Okta's 429: no Retry-After, the window's reset as UTC epoch seconds.
    const reset = Math.floor(Date.now() / 1000) + 3;
    fake.server.queueStatus(1, 429, { path: /^\/api\/v1\/users$/ }, { 'X-Rate-Limit-Limit': '600', 'X-Rate-Limit-Remaining': '0', 'X-Rate-Limit-Reset': String(reset) });
    return 3000;
  },
  externalIdOf: (n) => `00u${n}`,
  userNameOf: (n) => `user${n}@example.com`,
}));

describe('Okta specifics', () => {
  const config = (extra: Partial<OktaPullConfig> = {}) =>
    parsePullConfig({ kind: 'okta', baseUrl: fake.baseUrl, apiToken: '00okta-token', pageSize: 2, ...extra }) as OktaPullConfig;

  beforeAll(async () => {
    seedDirectory(directory, (n) => `00u${n}`, (name) => `00g-${name}`);
    await fake.start();
  });
  afterAll(() => fake.stop());

  test('with an app id only the app\'s assigned users and groups are read', async () => {
    const source = new OktaSource(config({ appId: '0oaJira' }));
    const users = [];
    for await (const user of source.users()) users.push(user);
    expect(users.map((u) => u.externalId)).toEqual(['00u1', '00u2', '00u4']);
    expect(users[0]).toMatchObject({ userName: 'user1@example.com', email: 'user1@example.com', givenName: 'Given1', familyName: 'Family1', active: true });
    const groups = [];
    for await (const group of source.groups()) groups.push(group);
    expect(groups).toEqual([{ externalId: '00g-engineering', displayName: 'engineering' }]);
    expect((await source.testConnection()).message).toMatch(/Jira/);
  });

  test('user statuses map to active as documented in docs/sources.md', () => {
    for (const status of ['ACTIVE', 'PROVISIONED', 'RECOVERY', 'PASSWORD_EXPIRED', 'LOCKED_OUT']) expect(oktaStatusIsActive(status)).toBe(true);
    for (const status of ['STAGED', 'SUSPENDED', 'DEPROVISIONED']) expect(oktaStatusIsActive(status)).toBe(false);
  });

  test('the Link header\'s rel="next" is followed, only on the configured origin', async () => {
    expect(nextLink('<https://x.okta.com/api/v1/users?limit=2>; rel="self", <https://x.okta.com/api/v1/users?after=2&limit=2>; rel="next"')).toBe(
      'https://x.okta.com/api/v1/users?after=2&limit=2',
    );
    expect(nextLink('<https://x.okta.com/api/v1/users?limit=2>; rel="self"')).toBeNull();
    const hostile = new OktaSource(config(), {
      fetch: async () =>
        new Response('[]', { status: 200, headers: { 'content-type': 'application/json', link: '<https://evil.example/api/v1/users?after=2>; rel="next"' } }),
    });
    await expect((async () => { for await (const _ of hostile.users()) void _; })()).rejects.toThrow(/not the configured/);
  });
});
