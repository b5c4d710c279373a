import { AtlassianOrgTarget } from '../../src/targets/atlassian-org';
import { ConfluenceCloudTarget } from '../../src/targets/confluence-cloud';
import { ConfluenceDcTarget } from '../../src/targets/confluence-dc';
import { JiraDcTarget } from '../../src/targets/jira-dc';
import type { Target } from '../../src/targets/types';
import { SPECS, describeContract } from '../contract/openapi';
import { FakeAtlassianOrg } from '../fakes/fake-atlassian-org';
import { FakeConfluenceCloud } from '../fakes/fake-confluence-cloud';
import { FakeConfluenceDc } from '../fakes/fake-confluence-dc';
import { FakeJiraDc } from '../fakes/fake-jira-dc';
import type { FakeServer } from '../fakes/fake-server';
import { allowLoopbackEgress } from '../helpers/runtime';
import { FAST_RETRIES } from '../helpers/targets';

// The fakes listen on loopback: reach them through the operator's allow-list, as the app would.
beforeAll(allowLoopbackEgress);

/**
 * The adapters and fakes of Confluence Cloud, the Atlassian organization, Jira DC and Confluence DC held to
 * the OpenAPI documents Atlassian publishes for them (file names and sources: test/contract/openapi.ts SPECS,
 * docs/targets.md). Each runs only when its spec is in ../shared/specs/; otherwise it is skipped and says which
 * file it needs and where Atlassian publishes it.
 */

async function drain<T>(items: AsyncIterable<T>): Promise<void> {
  for await (const _ of items) void _;
}

/** Reads and writes every method of the Target interface the kind supports, tolerating refusals. */
async function exercise(target: Target, user: string, other: string): Promise<void> {
  const attempt = (work: () => Promise<unknown>) => work().catch(() => undefined);
  await target.testConnection();
  await drain(target.listUsers());
  for await (const group of target.listGroups()) await drain(target.listGroupMembers(group.groupId));
  await target.getUser(user);
  await target.getUser('no-such-account');
  await target.findUserByEmail('nobody@example.com');
  await target.listUserGroups(user);
  const group = await target.createGroup('contract-team');
  await target.createGroup('contract-team');
  await target.addMember(group.groupId, user);
  await target.addMember(group.groupId, user);
  await target.removeMember(group.groupId, user);
  await target.removeMember(group.groupId, user);
  await target.deleteGroup(group.groupId);
  await target.deleteGroup(group.groupId);
  if (target.capabilities.createUser) await attempt(() => target.createUser({ email: 'new.person@example.com', displayName: 'New Person', username: 'new.person', products: [] }));
  if (target.capabilities.updateUser) await attempt(() => target.updateUser(user, { displayName: 'Renamed Person' }));
  if (target.capabilities.deactivateUser) await attempt(() => target.deactivateUser(other));
  if (target.capabilities.reactivateUser) await attempt(() => target.reactivateUser(other));
  if (target.capabilities.deleteUser) await attempt(() => target.deleteUser(other));
}

async function recorded(fake: { server: FakeServer; start(): Promise<string>; stop(): Promise<void> }, work: () => Promise<void>) {
  await fake.start();
  fake.server.recordResponses = true;
  try {
    await work();
    return [...fake.server.log];
  } finally {
    await fake.stop();
  }
}

describeContract('Confluence Cloud adapter and fake', [SPECS.confluenceCloudV1], {
  describedLimits: { 'GET /wiki/rest/api/group': { limit: 200 }, 'GET /wiki/rest/api/group/{groupId}/membersByGroupId': { limit: 200 } },
  run: () => {
    const fake = new FakeConfluenceCloud();
    return recorded(fake, async () => {
      const people = Array.from({ length: 30 }, (_, i) => fake.addUser({ email: `p${i}@example.com`, guest: i === 3 }));
      fake.addGroup('confluence-users', people.map((p) => p.accountId));
      const target = new ConfluenceCloudTarget({ http: { baseUrl: fake.baseUrl, email: 'admin@example.com', apiToken: 'confluence-token', ...FAST_RETRIES } });
      await exercise(target, people[0]!.accountId, people[1]!.accountId);
    });
  },
});

describeContract('Atlassian organization adapter and fake', [SPECS.atlassianOrgAdmin, SPECS.atlassianUserManagement], {
  run: () => {
    const fake = new FakeAtlassianOrg({ apiKeys: { 'org-key': 'admin' }, orgId: 'org-9' });
    return recorded(fake, async () => {
      const users = Array.from({ length: 5 }, (_, i) => fake.addUser({ email: `o${i}@example.com` }));
      const target = new AtlassianOrgTarget({ http: { baseUrl: fake.baseUrl, apiKey: 'org-key', ...FAST_RETRIES }, orgId: 'org-9' });
      await exercise(target, users[0]!.accountId, users[1]!.accountId);
      await target.updateUser(users[2]!.accountId, { email: 'changed@example.com' }).catch(() => undefined);
    });
  },
});

describeContract('Jira Data Center adapter and fake', [SPECS.jiraDc], {
  describedLimits: { 'GET /rest/api/2/user/search': { maxResults: 100 }, 'GET /rest/api/2/group/member': { maxResults: 50 } },
  run: () => {
    const fake = new FakeJiraDc();
    return recorded(fake, async () => {
      for (let i = 0; i < 10; i += 1) fake.addUser(`user${i}`);
      fake.addGroup('developers', ['user0', 'user1']);
      fake.addProject('OPS', 'Operations', 'user0');
      const component = fake.addComponent('OPS', 'Pager', 'user0');
      const target = new JiraDcTarget({ http: { baseUrl: fake.baseUrl, token: 'jira-dc-pat', ...FAST_RETRIES } });
      await exercise(target, 'user0', 'user1');
      await drain(target.listProjectLeads());
      await drain(target.listComponentLeads());
      await target.setProjectLead('OPS', 'user2');
      await target.setComponentLead(component, 'user2');
      fake.userListEndpoint = false;
      await drain(target.listUsers());
    });
  },
});

describeContract('Confluence Data Center adapter and fake', [SPECS.confluenceDc], {
  run: () => {
    const fake = new FakeConfluenceDc();
    return recorded(fake, async () => {
      for (let i = 0; i < 10; i += 1) fake.addUser(`user${i}`);
      fake.addGroup('writers', ['user0']);
      const target = new ConfluenceDcTarget({ http: { baseUrl: fake.baseUrl, token: 'confluence-dc-pat', ...FAST_RETRIES } });
      await exercise(target, 'user0', 'user1');
    });
  },
});
