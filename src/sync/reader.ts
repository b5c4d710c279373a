import type { ComponentLead, ProjectLead, Target, TargetAccount, TargetGroup } from '../targets/types';
import type { ActualState } from './plan';
import { groupKey } from './rules';

/**
 * Reads what a target actually has, in the shape plan() compares against. Paging, throttling and retries
 * are the adapters' and the HTTP client's; this only decides WHAT to read.
 */

export interface ReadStats {
  accounts: number;
  groups: number;
  /** Groups whose member list was read (full runs) or accounts whose groups were read (incremental). */
  membershipLists: number;
  memberships: number;
  lookups: number;
}

export async function mapConcurrent<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

function addMembership(memberOf: Map<string, Set<string>>, accountId: string, groupId: string) {
  const set = memberOf.get(accountId);
  if (set) set.add(groupId);
  else memberOf.set(accountId, new Set([groupId]));
}

/**
 * Full read: every account and group, and the members of the groups that matter to the rules (`relevantGroups`
 * keys, or 'all' when the admin lets the sync remove memberships anywhere). Huge groups nobody maps are not read.
 */
export async function readTargetFull(
  target: Target,
  relevantGroups: ReadonlySet<string> | 'all',
  concurrency: number,
): Promise<{ actual: ActualState; stats: ReadStats }> {
  const [accounts, groups] = await Promise.all([collect(target.listUsers()), collect(target.listGroups())]);
  const toRead = target.capabilities.manageMembership
    ? groups.filter((g) => relevantGroups === 'all' || relevantGroups.has(groupKey(g.name)))
    : [];
  const memberOf = new Map<string, Set<string>>();
  let memberships = 0;
  await mapConcurrent(toRead, concurrency, async (group) => {
    for await (const accountId of target.listGroupMembers(group.groupId)) {
      addMembership(memberOf, accountId, group.groupId);
      memberships += 1;
    }
  });
  return {
    actual: { accounts, groups, memberOf, membershipKnown: new Set(toRead.map((g) => g.groupId)) },
    stats: { accounts: accounts.length, groups: groups.length, membershipLists: toRead.length, memberships, lookups: 0 },
  };
}

export interface AccountLookup {
  accountId: string | null;
  email: string | null;
}

/**
 * Incremental read: every group (cheap, and needed to know which exist), and for each touched user the linked
 * account and/or the account with its email, with all the groups of each account found.
 */
export async function readTargetForUsers(
  target: Target,
  lookups: AccountLookup[],
  concurrency: number,
): Promise<{ actual: ActualState; stats: ReadStats }> {
  const groups: TargetGroup[] = await collect(target.listGroups());
  const found = new Map<string, TargetAccount>();
  let calls = 0;
  await mapConcurrent(lookups, concurrency, async (lookup) => {
    let account: TargetAccount | null = null;
    if (lookup.accountId) {
      calls += 1;
      account = await target.getUser(lookup.accountId);
    }
    if (account) found.set(account.accountId, account);
    // The email lookup also finds a same-email account when the link points at one that is gone.
    if (!account && lookup.email) {
      calls += 1;
      const byEmail = await target.findUserByEmail(lookup.email);
      if (byEmail) found.set(byEmail.accountId, byEmail);
    }
  });
  const accounts = [...found.values()].sort((a, b) => (a.accountId < b.accountId ? -1 : 1));
  const memberOf = new Map<string, Set<string>>();
  let memberships = 0;
  if (target.capabilities.manageMembership) {
    await mapConcurrent(accounts, concurrency, async (account) => {
      calls += 1;
      const mine = await target.listUserGroups(account.accountId);
      memberOf.set(account.accountId, new Set(mine.map((g) => g.groupId)));
      memberships += mine.length;
    });
  }
  return {
    actual: { accounts, groups, memberOf, membershipKnown: 'all' },
    stats: { accounts: accounts.length, groups: groups.length, membershipLists: accounts.length, memberships, lookups: calls },
  };
}

export async function readLeads(target: Target): Promise<{ projects: ProjectLead[]; components: ComponentLead[] }> {
  const projects = target.listProjectLeads ? await collect(target.listProjectLeads()) : [];
  const components = target.listComponentLeads ? await collect(target.listComponentLeads()) : [];
  return { projects, components };
}
