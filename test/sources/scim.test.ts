import { IdpDirectory } from '../fakes/idp/directory-data';
import { FakeScimServer } from '../fakes/idp/fake-scim-server';
import { describeSourceContract, seedDirectory } from './harness';
import { ScimSource } from '../../src/sources/scim';
import { parsePullConfig, type ScimPullConfig } from '../../src/sources/config';

const directory = new IdpDirectory();
seedDirectory(directory, (n) => `scim-u-${n}`, (name) => `scim-g-${name}`);
const fake = new FakeScimServer({ data: directory, token: 'scim-bearer' });

describeSourceContract(() => ({
  name: 'SCIM 2.0 server',
  fake,
  directory,
  seed: () => seedDirectory(directory, (n) => `scim-u-${n}`, (name) => `scim-g-${name}`),
  provider: 'generic',
  config: () => ({ kind: 'scim', baseUrl: fake.scimBaseUrl, bearerToken: 'scim-bearer', pageSize: 3 }),
  badConfig: () => ({ kind: 'scim', baseUrl: fake.scimBaseUrl, bearerToken: 'wrong', pageSize: 3 }),
  userListPath: /\/scim\/v2\/Users$/,
  memberPath: /\/scim\/v2\/Groups\/[^/]+$/,
  throttleOnce: () => {
    fake.server.queueRateLimit(1, 2, { path: /\/Users$/ });
    return 2000;
  },
  externalIdOf: (n) => `scim-u-${n}`,
  userNameOf: (n) => `user${n}@example.com`,
}));

describe('SCIM source specifics', () => {
  beforeAll(async () => {
    seedDirectory(directory, (n) => `scim-u-${n}`, (name) => `scim-g-${name}`);
    await fake.start();
  });
  afterAll(() => fake.stop());

  test('a server that serves fewer than count per page is still read to the end', async () => {
    fake.options.maxResults = 2;
    try {
      const source = new ScimSource(parsePullConfig({ kind: 'scim', baseUrl: fake.scimBaseUrl, bearerToken: 'scim-bearer', pageSize: 50 }) as ScimPullConfig);
      const ids: string[] = [];
      for await (const user of source.users()) ids.push(user.externalId);
      expect(ids).toHaveLength(7);
      expect(new Set(ids).size).toBe(7);
    } finally {
      fake.options.maxResults = 100;
    }
  });

  test('group members of type Group are not taken for users; groups are listed without members', async () => {
    directory.addGroup({ id: 'scim-g-nested', name: 'nested', parentId: 'scim-g-sales', members: [] });
    try {
      fake.server.clearLog();
      const source = new ScimSource(parsePullConfig({ kind: 'scim', baseUrl: fake.scimBaseUrl, bearerToken: 'scim-bearer' }) as ScimPullConfig);
      const members: string[] = [];
      for await (const id of source.groupMembers('scim-g-sales')) members.push(id);
      expect(members).toEqual(['scim-u-4', 'scim-u-5']);
      for await (const _ of source.groups()) void _;
      expect(fake.server.log.find((entry) => entry.path.endsWith('/Groups'))!.query).toContain('excludedAttributes=members');
    } finally {
      directory.groupList.pop();
    }
  });
});
