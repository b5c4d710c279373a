import { ContractChecker, SPECS, SPECS_DIR, loadSpecs } from '../contract/openapi';
import { JiraCloudTarget } from '../../src/targets/jira-cloud';
import { FakeJiraCloud } from '../fakes/fake-jira-cloud';
import type { LoggedRequest } from '../fakes/fake-server';
import { allowLoopbackEgress } from '../helpers/runtime';
import { collect } from '../helpers/targets';

beforeAll(allowLoopbackEgress);

/**
 * Keeps the Jira adapter and the fake Jira honest against Atlassian's published OpenAPI spec for the
 * Jira Cloud platform REST API v3: (1) every request the adapter sends in a realistic scenario is an
 * operation of the spec with declared, well-typed parameters and a valid body, and (2) every response
 * of the fake matches the spec's schema for its status. The spec is reference data kept outside the
 * repository; without it this test is skipped. The checks themselves are test/contract/openapi.ts.
 */

const { specs } = loadSpecs([SPECS.jiraCloudV3]);
const hasSpec = specs.length === 1;
const SPEC_PATH = `${SPECS_DIR}/${SPECS.jiraCloudV3.file}`;

/** Limits the spec states in parameter descriptions rather than in schemas. */
const DESCRIBED_LIMITS: Record<string, Record<string, number>> = {
  'GET /rest/api/3/group/member': { maxResults: 50 },
  'GET /rest/api/3/users/search': { maxResults: 1000 },
  'GET /rest/api/3/project/search': { maxResults: 100 },
};

if (!hasSpec) {
  // eslint-disable-next-line no-console
  console.warn(`Jira Cloud contract test skipped: the OpenAPI spec is not at ${SPEC_PATH}`);
}

(hasSpec ? describe : describe.skip)('Jira Cloud adapter and fake against the OpenAPI spec', () => {
  const checker = new ContractChecker(specs, DESCRIBED_LIMITS);
  const jira = new FakeJiraCloud();
  let log: LoggedRequest[] = [];

  beforeAll(async () => {
    await jira.start();
    jira.server.recordResponses = true;
    const target = new JiraCloudTarget({ http: { baseUrl: jira.baseUrl, email: 'admin@example.com', apiToken: 'jira-token', baseBackoffMs: 1 } });

    // A realistic sync: read everything, create, adopt, group and membership changes, leads, deprovision.
    const seeded = Array.from({ length: 120 }, (_, i) => jira.addUser({ emailAddress: `seed${i}@example.com`, displayName: `Seed ${i}`, products: ['jira-software'] }));
    jira.addUser({ emailAddress: 'hidden@example.com', emailHidden: true });
    jira.addUser({ emailAddress: 'app@connect.invalid', accountType: 'app' });
    const existing = jira.addGroup('jira-software-users', seeded.slice(0, 70).map((u) => u.accountId));
    jira.addProject('OPS', 'Operations', seeded[0]!.accountId);
    const component = jira.addComponent('OPS', 'Pager', seeded[0]!.accountId);

    await target.testConnection();
    await collect(target.listUsers());
    const groups = await collect(target.listGroups());
    for (const group of groups) await collect(target.listGroupMembers(group.groupId));
    await collect(target.listProjectLeads());
    await collect(target.listComponentLeads());

    const created = await target.createUser({ email: 'new.person@example.com', displayName: 'New Person', username: 'new.person', products: ['jira-software'] });
    await target.createUser({ email: 'new.person@example.com', displayName: 'New Person', username: 'new.person', products: ['jira-software'] });
    await target.findUserByEmail('seed5@example.com');
    await target.getUser(created.accountId);
    await target.getUser('557058:does-not-exist');
    const team = await target.createGroup('team-blue');
    await target.createGroup('team-blue');
    await target.addMember(team.groupId, created.accountId);
    await target.addMember(team.groupId, created.accountId);
    await target.addMember(existing.groupId, created.accountId);
    await target.listUserGroups(created.accountId);
    await target.removeMember(existing.groupId, created.accountId);
    await target.removeMember(existing.groupId, created.accountId);
    await target.setProjectLead('OPS', created.accountId);
    await target.setComponentLead(component.id, created.accountId);
    await target.deleteUser(seeded[1]!.accountId);
    await target.deleteUser(seeded[1]!.accountId);
    await target.deleteGroup(team.groupId);
    await target.deleteGroup(team.groupId);
    await target.createUser({ email: 'bad-email', displayName: null, username: 'x', products: ['jira-software'] }).catch(() => undefined);

    log = [...jira.server.log];
  });
  afterAll(() => jira.stop());

  it('exercised every operation the adapter uses', () => {
    const operations = new Set(log.map((r) => `${r.method} ${checker.findOperation(r.method, r.path)?.template ?? r.path}`));
    expect([...operations].sort()).toEqual(
      [
        'DELETE /rest/api/3/group',
        'DELETE /rest/api/3/group/user',
        'DELETE /rest/api/3/user',
        'GET /rest/api/3/group/bulk',
        'GET /rest/api/3/group/member',
        'GET /rest/api/3/myself',
        'GET /rest/api/3/mypermissions',
        'GET /rest/api/3/project/search',
        'GET /rest/api/3/project/{projectIdOrKey}/components',
        'GET /rest/api/3/user',
        'GET /rest/api/3/user/groups',
        'GET /rest/api/3/user/search',
        'GET /rest/api/3/users/search',
        'POST /rest/api/3/group',
        'POST /rest/api/3/group/user',
        'POST /rest/api/3/user',
        'PUT /rest/api/3/component/{id}',
        'PUT /rest/api/3/project/{projectIdOrKey}',
      ].sort(),
    );
  });

  it('sends only operations of the spec, with declared and valid parameters and bodies', () => {
    const problems = log.flatMap((request) => checker.checkRequest(request));
    expect(problems).toEqual([]);
  });

  it("answers with the spec's response schema for every status", () => {
    const problems = log.flatMap((request) => checker.checkResponse(request));
    expect(problems).toEqual([]);
    // The check is live: it catches a body that breaks the schema.
    const broken: LoggedRequest = { method: 'GET', route: '', path: '/rest/api/3/group/bulk', query: '', body: null, status: 200, response: { values: [{ name: 7 }] } };
    expect(checker.checkResponse(broken)).toHaveLength(1);
  });

  it('rejects requests the spec does not allow (the checker itself is live)', () => {
    const bad: LoggedRequest[] = [
      { method: 'GET', route: '', path: '/rest/api/3/group/member', query: '?groupId=x&maxResults=100', body: null, status: 200 },
      { method: 'POST', route: '', path: '/rest/api/3/user', query: '', body: { products: ['jira-software'] }, status: 400 },
      { method: 'GET', route: '', path: '/rest/api/3/user/groups', query: '?username=bob', body: null, status: 200 },
      { method: 'PATCH', route: '', path: '/rest/api/3/group', query: '', body: null, status: 405 },
    ];
    for (const request of bad) expect(checker.checkRequest(request).length).toBeGreaterThan(0);
  });
});
