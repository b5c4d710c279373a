import type { FakeServer } from '../fakes/fake-server';
import { E2eHarness, type OtherKinds } from './harness';

/**
 * One IdP connection syncing to all seven target kinds at once, each against its fake over real HTTP:
 * Jira Cloud (+ the Atlassian organization as its lifecycle), Confluence Cloud on a site of its own, Bitbucket
 * Cloud, Bitbucket DC, Jira DC and Confluence DC. SCIM creates users, a group and memberships; the
 * Synchronize button reconciles every target; a profile change reaches every kind that can take it; a
 * re-sync with nothing changed writes nothing anywhere.
 */

let h: E2eHarness;
let other: OtherKinds;

beforeAll(async () => {
  h = await E2eHarness.start();
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

/** Non-GET requests a fake answered 2xx, as "METHOD path". */
function writes(server: FakeServer): string[] {
  return server.log.filter((e) => e.method !== 'GET' && e.status >= 200 && e.status < 300).map((e) => `${e.method} ${e.path}`);
}

function allServers(): Record<string, FakeServer> {
  return {
    'jira-cloud': h.jira.server,
    'atlassian-org': h.org.server,
    'confluence-cloud': other.confluenceCloud.server,
    'bitbucket-cloud': other.bitbucketCloud.server,
    'bitbucket-dc': other.bitbucketDc.server,
    'jira-dc': other.jiraDc.server,
    'confluence-dc': other.confluenceDc.server,
  };
}

function clearAllLogs(): void {
  h.clearLogs();
  for (const server of Object.values(allServers())) server.clearLog();
}

/** Ops of any run that did not succeed, with their target kind: empty when every kind took every write. */
async function failedOps(): Promise<Array<{ kind: string; target: string; error: string | null }>> {
  const { rows } = await h.db.query<{ kind: string; target: string; error: string | null }>(
    `SELECT o.kind, t.kind AS target, o.error FROM sync_ops o JOIN targets t ON t.id::text = o.target_id
      WHERE o.connection_id = $1 AND o.status = 'failed' ORDER BY o.id`,
    [h.connectionId],
  );
  return rows;
}

async function synchronizeAndSettle(): Promise<void> {
  await h.synchronize();
  await h.settle({ timeoutMs: 30_000 });
}

describe('every target kind in one sync', () => {
  it('creates users, groups and memberships everywhere, updates profiles, and a no-change re-sync writes nothing', async () => {
    await h.scenario({ withOrg: true, settings: { user: { productsOnCreate: ['jira-software'] }, group: { mapping: 'on-the-fly' } } });
    other = await h.addEveryTargetKind();
    // Confluence Cloud has no create-user API: its site already holds the people (as Atlassian accounts do).
    const annCc = other.confluenceCloud.addUser({ email: 'ann@corp.example', displayName: 'Ann Archer' });
    const bobCc = other.confluenceCloud.addUser({ email: 'bob@corp.example', displayName: 'Bob Baker' });

    const ann = await h.createUser('ann@corp.example', { displayName: 'Ann Archer' });
    const bob = await h.createUser('bob@corp.example', { displayName: 'Bob Baker' });
    const engineering = await h.createGroup('Engineering');
    await h.addMembers(engineering, [ann, bob]);
    await h.settle({ timeoutMs: 30_000 });
    await synchronizeAndSettle();

    expect(await failedOps()).toEqual([]);
    expect((await h.runs()).map((r) => r.status).filter((status) => status === 'failed' || status === 'partial')).toEqual([]);

    // Jira Cloud: accounts created with the product, group and memberships.
    const annJ = h.jira.userByEmail('ann@corp.example')!;
    const bobJ = h.jira.userByEmail('bob@corp.example')!;
    expect(annJ && bobJ).toBeTruthy();
    expect([...h.jira.groupByName('Engineering')!.members].sort()).toEqual([annJ.accountId, bobJ.accountId].sort());

    // Confluence Cloud (its own site): the existing accounts adopted by email, the group created and filled.
    expect([...other.confluenceCloud.groupByName('Engineering')!.members].sort()).toEqual([annCc.accountId, bobCc.accountId].sort());

    // Jira DC, Confluence DC and Bitbucket DC: users created by username, the group and its members.
    expect(other.jiraDc.userByEmail('ann@corp.example')).toMatchObject({ displayName: 'Ann Archer', active: true });
    const jiraDcAnn = other.jiraDc.userByEmail('ann@corp.example')!.name;
    const jiraDcBob = other.jiraDc.userByEmail('bob@corp.example')!.name;
    expect([...other.jiraDc.groups.get('Engineering')!].sort()).toEqual([jiraDcAnn, jiraDcBob].sort());
    const confluenceDcAnn = other.confluenceDc.userByEmail('ann@corp.example')!;
    const confluenceDcBob = other.confluenceDc.userByEmail('bob@corp.example')!;
    expect([...other.confluenceDc.groups.get('Engineering')!].sort()).toEqual([confluenceDcAnn.username, confluenceDcBob.username].sort());
    const bitbucketDcUsers = [...other.bitbucketDc.users.values()].filter((u) => u.emailAddress.endsWith('@corp.example'));
    expect(bitbucketDcUsers).toHaveLength(2);
    expect([...other.bitbucketDc.groups.get('Engineering')!].sort()).toEqual(bitbucketDcUsers.map((u) => u.name).sort());

    // Bitbucket Cloud: the group is created; members cannot be matched (it exposes no emails) nor created.
    expect([...other.bitbucketCloud.groups.values()].map((g) => g.name)).toContain('Engineering');

    // A profile change: every kind that can update a profile gets it (cloud accounts through the org API).
    clearAllLogs();
    await h.patch('Users', bob, [{ op: 'Replace', path: 'displayName', value: 'Robert Baker' }]);
    await h.settle({ timeoutMs: 30_000 });
    expect(await failedOps()).toEqual([]);
    expect(other.jiraDc.userByEmail('bob@corp.example')!.displayName).toBe('Robert Baker');
    expect(other.confluenceDc.userByEmail('bob@corp.example')!.displayName).toBe('Robert Baker');
    expect([...other.bitbucketDc.users.values()].find((u) => u.emailAddress === 'bob@corp.example')!.displayName).toBe('Robert Baker');
    expect(h.org.users.get(bobJ.accountId)).toMatchObject({ name: 'Robert Baker' });
    expect(h.jira.users.get(bobJ.accountId)!.displayName).toBe('Robert Baker');
    expect(h.org.users.get(bobCc.accountId)).toMatchObject({ name: 'Robert Baker' });
    expect(other.confluenceCloud.users.get(bobCc.accountId)!.displayName).toBe('Robert Baker');

    // Nothing changed in the IdP: a full re-sync reads every target and writes to none.
    clearAllLogs();
    await synchronizeAndSettle();
    const written = Object.fromEntries(Object.entries(allServers()).map(([kind, server]) => [kind, writes(server)]));
    expect(written).toEqual({
      'jira-cloud': [],
      'atlassian-org': [],
      'confluence-cloud': [],
      'bitbucket-cloud': [],
      'bitbucket-dc': [],
      'jira-dc': [],
      'confluence-dc': [],
    });
    // …and it did read every one of them.
    for (const [kind, server] of Object.entries(allServers())) {
      if (kind === 'atlassian-org') continue;
      expect({ kind, reads: server.log.filter((e) => e.method === 'GET').length > 0 }).toEqual({ kind, reads: true });
    }
    expect((await h.runs()).at(-1)!.status).toBe('succeeded');
    expect(await failedOps()).toEqual([]);
  }, 120_000);
});
