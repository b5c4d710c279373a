import { IdpDirectory } from '../fakes/idp/directory-data';
import { FakeGraph } from '../fakes/idp/fake-graph';
import { describeSourceContract, seedDirectory } from './harness';
import { EntraSource } from '../../src/sources/entra';
import { parsePullConfig, type EntraPullConfig } from '../../src/sources/config';

const directory = new IdpDirectory();
seedDirectory(directory, (n) => `0000000${n}-aaaa-bbbb-cccc-dddddddddddd`, (name) => `grp-${name}`);
const fake = new FakeGraph({ data: directory, tenantId: 'contoso-tenant', clientId: 'app-client-id', clientSecret: 'app-secret' });
const idOf = (n: number) => `0000000${n}-aaaa-bbbb-cccc-dddddddddddd`;

const baseConfig = () => ({
  kind: 'entra' as const,
  tenantId: 'contoso-tenant',
  clientId: 'app-client-id',
  clientSecret: 'app-secret',
  authorityBaseUrl: fake.baseUrl,
  graphBaseUrl: fake.baseUrl,
  pageSize: 3,
});

describeSourceContract(() => ({
  name: 'Microsoft Entra ID (Graph)',
  fake,
  directory,
  seed: () => seedDirectory(directory, idOf, (name) => `grp-${name}`),
  provider: 'entra',
  config: baseConfig,
  badConfig: () => ({ ...baseConfig(), clientSecret: 'wrong-secret' }),
  userListPath: /^\/v1\.0\/users$/,
  memberPath: /transitiveMembers\/microsoft\.graph\.user$/,
  throttleOnce: () => {
    fake.server.queueRateLimit(1, 2, { path: /^\/v1\.0\/users$/ });
    return 2000;
  },
  externalIdOf: idOf,
  userNameOf: (n) => `user${n}@example.com`,
}));

describe('Entra specifics', () => {
  const config = () => parsePullConfig(baseConfig()) as EntraPullConfig;

  beforeAll(async () => {
    seedDirectory(directory, idOf, (name) => `grp-${name}`);
    await fake.start();
  });
  afterAll(() => fake.stop());

  test('nested groups are flattened through transitiveMembers', async () => {
    directory.addGroup({ id: 'grp-backend', name: 'backend', parentId: 'grp-sales', members: [idOf(7)] });
    try {
      const source = new EntraSource(config());
      const members: string[] = [];
      for await (const id of source.groupMembers('grp-sales')) members.push(id);
      expect(members.sort()).toEqual([idOf(4), idOf(5), idOf(7)].sort());
    } finally {
      directory.groupList.pop();
    }
  });

  test('users are read with $select and $top, and every page follows @odata.nextLink', async () => {
    fake.server.clearLog();
    const source = new EntraSource(config());
    let count = 0;
    for await (const _ of source.users()) count++;
    expect(count).toBe(7);
    const pages = fake.server.log.filter((entry) => entry.path === '/v1.0/users');
    expect(pages).toHaveLength(3);
    expect(pages[0]!.query).toContain('$select=id,userPrincipalName');
    expect(pages[0]!.query).toContain('$top=3');
    expect(pages[1]!.query).toContain('skiptoken');
  });

  test('an expired token is renewed once on 401', async () => {
    const source = new EntraSource(config());
    await source.testConnection();
    const before = fake.tokenRequests;
    fake.revokeTokens();
    let count = 0;
    for await (const _ of source.groups()) count++;
    expect(count).toBe(3);
    expect(fake.tokenRequests).toBe(before + 1);
  });

  test('a wrong tenant is reported as an authentication problem', async () => {
    const source = new EntraSource({ ...config(), tenantId: 'other-tenant' });
    await expect(source.testConnection()).rejects.toThrow(/authentication failed: Microsoft Entra ID/);
  });
});
