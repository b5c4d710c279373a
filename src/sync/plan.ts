import type { AccessGroup, AccountChanges, ComponentLead, NewAccount, ProjectLead, TargetAccount, TargetCapabilities, TargetGroup, TargetKind } from '../targets/types';
import { groupKey, type DesiredAccount, type DesiredState } from './rules';
import type { SyncSettings } from './settings';

/**
 * plan = diff(desired, actual, links): pure and deterministic. One operation per needed change and none
 * when nothing differs, ordered so each can succeed:
 *   create groups → create/link users → update/reactivate users → add memberships → reassign leads →
 *   remove memberships → deactivate/delete users → delete groups.
 * Every operation has a stable key (target, kind, subject), so the same change planned twice has one key.
 */

export const STEPS = [
  'create-groups',
  'create-users',
  'update-users',
  'add-memberships',
  'reassign-leads',
  'remove-memberships',
  'deprovision-users',
  'delete-groups',
] as const;
export type Step = (typeof STEPS)[number];

interface OpBase {
  key: string;
  /** The target whose state the op changes. */
  targetId: string;
  /** The target that receives the call: itself, or the org API for lifecycle calls a product cannot make. */
  executeOn: string;
  step: Step;
  /** Keys of ops that must have succeeded first; if one did not, this op is skipped. */
  dependsOn: string[];
}

export type SyncOp = OpBase &
  (
    | { kind: 'create-group'; groupKey: string; groupName: string }
    | { kind: 'create-user'; userId: string; account: NewAccount; origin: 'created' }
    /** No target call: records that an existing account is this connection's (adopted by email, or a create cut off by a crash). */
    | { kind: 'link-user'; userId: string; accountId: string; origin: 'created' | 'adopted'; userName: string; email: string | null }
    | { kind: 'update-user'; userId: string; accountId: string; changes: AccountChanges }
    | { kind: 'reactivate-user'; userId: string; accountId: string }
    /** restore: gives back a membership that deprovisioning removed (the account is active in the IdP again). */
    | { kind: 'add-member'; userId: string; accountId: string | null; groupKey: string; groupName: string; groupId: string | null; restore?: boolean }
    /** deprovision: taken out as the deactivate fallback 'remove-groups' (counts towards the safety threshold). */
    | { kind: 'remove-member'; userId: string; accountId: string; groupKey: string; groupName: string; groupId: string; deprovision?: boolean }
    | { kind: 'set-project-lead'; projectKey: string; fromAccountId: string; toAccountId: string }
    /** toAccountId '' clears the component's lead. */
    | { kind: 'set-component-lead'; componentId: string; projectKey: string; fromAccountId: string; toAccountId: string }
    /** method: 'suspended' = org v2 suspend (app access only), 'deactivated' = the product's own deactivate (Data Center). */
    | { kind: 'deactivate-user'; userId: string; accountId: string; reason: 'inactive' | 'gone'; method?: 'suspended' | 'deactivated' }
    /**
     * No target call: records that the account is deprovisioned on a target that cannot deactivate, with the
     * groups its removal ops took it out of (what reactivation gives back). Depends on those removals.
     */
    | { kind: 'mark-deprovisioned'; userId: string; accountId: string; reason: 'inactive' | 'gone'; removedGroups: Array<{ groupId: string; name: string }> }
    /** No target call: the account's access is restored (depends on the restoring add-member ops). */
    | { kind: 'mark-restored'; userId: string; accountId: string }
    | { kind: 'delete-user'; userId: string; accountId: string; reason: 'inactive' | 'gone' | 'remove-from-site' }
    | { kind: 'delete-group'; groupKey: string; groupName: string; groupId: string }
  );

export type OpKind = SyncOp['kind'];

/** Ops that make no call to a target. */
export function isTargetWrite(op: SyncOp): boolean {
  return op.kind !== 'link-user' && op.kind !== 'mark-deprovisioned' && op.kind !== 'mark-restored';
}

export function isDeprovision(op: SyncOp): boolean {
  return (
    op.kind === 'deactivate-user' ||
    op.kind === 'delete-user' ||
    op.kind === 'mark-deprovisioned' ||
    (op.kind === 'remove-member' && op.deprovision === true)
  );
}

/** How an account was deprovisioned on a target (deprovisioned_access), so reactivation undoes exactly that. */
export interface DeprovisionRecord {
  directoryUserId: string;
  accountId: string;
  method: 'suspended' | 'deactivated' | 'groups-removed';
  removedGroups: Array<{ groupId: string; name: string }>;
}

/** A user whose access the run could not fully remove, and why: shown on the run, which ends with warnings. */
export interface RunWarning {
  targetId: string;
  /** The product that keeps granting access (a Confluence site served through Jira's target names Confluence). */
  kind: TargetKind;
  userId: string;
  /** The user's name as the admin knows it (IdP userName or email). */
  user: string;
  message: string;
}

const PRODUCT_NAMES: Record<TargetKind, string> = {
  'jira-cloud': 'Jira',
  'confluence-cloud': 'Confluence',
  'bitbucket-cloud': 'Bitbucket',
  'bitbucket-dc': 'Bitbucket',
  'jira-dc': 'Jira',
  'confluence-dc': 'Confluence',
  'atlassian-org': 'Atlassian',
};

/**
 * Why access stays after the strongest deprovisioning a kind can do without a deactivate, in the vendor's
 * terms; null when removing the groups takes all product access away (the product lists them).
 */
export function residualAccessReason(kind: TargetKind, accessGroupsKnown: boolean): string | null {
  switch (kind) {
    case 'jira-cloud':
      return accessGroupsKnown
        ? null
        : 'Jira Cloud has no deactivate without an organization target and its application roles could not be read, so groups granting Jira access may remain';
    case 'confluence-cloud':
      return 'Confluence Cloud has no API to deactivate a user or remove site access without an organization target, and its REST API does not say which groups grant Confluence access (set in Atlassian Administration); only the managed and product-access groups were removed';
    case 'bitbucket-cloud':
      return 'Bitbucket Cloud workspace membership is read-only in its API, so the user stays a workspace member; only the groups the sync manages were removed, and permissions given to the user directly remain';
    case 'bitbucket-dc':
      return "Bitbucket Data Center's REST API has no deactivate; only the managed and product-access groups were removed, so licensed access through other groups or direct permissions may remain (choose 'Remove from the site' to delete the user)";
    case 'jira-dc':
    case 'confluence-dc':
      return null;
    case 'atlassian-org':
      return null;
  }
}

export function productName(kind: TargetKind): string {
  return PRODUCT_NAMES[kind];
}

export interface PlanTarget {
  targetId: string;
  kind: TargetKind;
  capabilities: TargetCapabilities;
  /** The Atlassian organization API target that deactivates, reactivates and updates these accounts when the product cannot. */
  lifecycleVia?: { targetId: string; capabilities: TargetCapabilities };
  /** The product reports which groups grant access (Target.listAccessGroups). */
  accessGroupsReadable?: boolean;
  /** Kinds served through this target's writes (a Confluence Cloud site on this Jira site): warned for too. */
  alsoServes?: TargetKind[];
}

export interface LinkRecord {
  directoryUserId: string;
  accountId: string | null;
  managed: boolean;
  origin: 'created' | 'adopted';
  state: 'pending' | 'active' | 'deactivated' | 'removed';
  userName: string | null;
  email: string | null;
}

/** A group this connection created in the target (the only kind it may delete). */
export interface CreatedGroup {
  key: string;
  groupId: string;
  name: string;
}

export interface ActualState {
  /** Every account of the target (full run) or every account looked up for the touched users (incremental). */
  accounts: TargetAccount[];
  /** Every group of the target. */
  groups: TargetGroup[];
  /** accountId → ids of the groups it is a member of, among the groups whose membership was read. */
  memberOf: ReadonlyMap<string, ReadonlySet<string>>;
  /** The groups whose membership is known ('all' when each account's groups were read whole). */
  membershipKnown: ReadonlySet<string> | 'all';
  /** Project and component leads; read only when the plan deprovisions someone on a target with leads. */
  leads?: { projects: ProjectLead[]; components: ComponentLead[] };
  /** Groups that grant product access (Jira application roles); read only when the plan removes access by groups. */
  accessGroups?: AccessGroup[];
  /** Accounts whose `memberOf` holds all their groups (read per account), whatever `membershipKnown` says. */
  userGroupsKnown?: ReadonlySet<string>;
}

export interface PlanInput {
  target: PlanTarget;
  desired: DesiredState;
  actual: ActualState;
  /** Links of the users in scope: all of the connection's on a full run, the touched users' on an incremental one. */
  links: LinkRecord[];
  createdGroups: CreatedGroup[];
  settings: SyncSettings;
  /** Full runs see the whole directory; only they may delete groups. */
  complete: boolean;
  /** What earlier runs took away from the users in scope (deprovisioned_access). */
  deprovisioned?: DeprovisionRecord[];
  /**
   * directory user → the Atlassian account id another cloud target of the connection links it to. Jira,
   * Confluence and Bitbucket Cloud share Atlassian accounts, so a product that hides emails (Bitbucket) or
   * cannot search them (Confluence) still finds the user's account by that id.
   */
  atlassianAccountIds?: ReadonlyMap<string, string>;
}

export interface PlanNotes {
  [code: string]: { count: number; examples: string[] };
}

export interface TargetPlan {
  targetId: string;
  ops: SyncOp[];
  /** What the rules wanted but could not or may not do, counted by reason. */
  notes: PlanNotes;
  /** The plan deprovisions someone on a target with leads but `actual.leads` was not read: read them and plan again. */
  needsLeads: boolean;
  /** Directory user ids this plan deactivates or deletes. */
  deprovisionedUsers: string[];
  /** Users whose access this plan cannot fully remove (and why). */
  warnings: RunWarning[];
  /**
   * Removing access by groups needs what was not read: the product's access groups and/or every group of these
   * accounts. Read them (Target.listAccessGroups, listUserGroups) and plan again.
   */
  needsAccess: { accessGroups: boolean; accounts: string[] } | null;
}

const MAX_NOTE_EXAMPLES = 5;
const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function plan(input: PlanInput): TargetPlan {
  const { target, desired, actual, settings } = input;
  const t = target.targetId;
  const caps = target.capabilities;
  const via = target.lifecycleVia;
  const ops: SyncOp[] = [];
  const notes: PlanNotes = {};
  const note = (code: string, example: string) => {
    const entry = (notes[code] ??= { count: 0, examples: [] });
    entry.count += 1;
    if (entry.examples.length < MAX_NOTE_EXAMPLES) entry.examples.push(example);
  };

  // What this target can do, itself or through the org API.
  const lifecycle = (capability: 'deactivateUser' | 'reactivateUser' | 'updateUser'): string | null =>
    caps[capability] ? t : via?.capabilities[capability] ? via.targetId : null;

  const accountsById = new Map(actual.accounts.map((a) => [a.accountId, a]));
  const accountsByEmail = new Map<string, TargetAccount | null>();
  for (const account of [...actual.accounts].sort((a, b) => byString(a.accountId, b.accountId))) {
    if (!account.email) continue;
    const email = account.email.toLowerCase();
    // Two accounts with one email: ambiguous, adopt neither.
    accountsByEmail.set(email, accountsByEmail.has(email) ? null : account);
  }
  const groupsByKey = new Map<string, TargetGroup>();
  for (const group of actual.groups) if (!groupsByKey.has(groupKey(group.name))) groupsByKey.set(groupKey(group.name), group);
  const groupsById = new Map(actual.groups.map((g) => [g.groupId, g]));
  const known = (groupId: string) => actual.membershipKnown === 'all' || actual.membershipKnown.has(groupId);
  const linksByUser = new Map(input.links.map((l) => [l.directoryUserId, l]));

  // 1. Groups.
  const creatingGroup = new Map<string, string>(); // group key → create op key
  const unavailableGroups = new Set<string>();
  for (const group of desired.groups) {
    if (groupsByKey.has(group.key)) continue;
    if (group.createIfMissing && caps.createGroup) {
      const key = `${t}|create-group|${group.key}`;
      ops.push({ key, targetId: t, executeOn: t, step: 'create-groups', dependsOn: [], kind: 'create-group', groupKey: group.key, groupName: group.name });
      creatingGroup.set(group.key, key);
    } else {
      unavailableGroups.add(group.key);
      note(group.createIfMissing ? 'group-create-unsupported' : 'group-missing', group.name);
    }
  }
  const groupNames = new Map(desired.groups.map((g) => [g.key, g.name]));

  const managedGroups = new Set([...desired.managedGroups, ...input.createdGroups.map((g) => g.key)]);
  const protectedGroups = new Set(desired.protectedGroups);
  const deprovisionOpsByUser = new Map<string, { accountId: string; ops: SyncOp[] }>();
  const records = new Map((input.deprovisioned ?? []).map((r) => [r.directoryUserId, r]));
  const warnings: RunWarning[] = [];
  let needsAccessGroups = false;
  const needsAccounts = new Set<string>();
  const accessKeys = new Set((actual.accessGroups ?? []).map((g) => groupKey(g.name)));
  const fullyKnown = (accountId: string) => actual.membershipKnown === 'all' || actual.userGroupsKnown?.has(accountId) === true;
  const warn = (kind: TargetKind, userId: string, who: string, reason: string) =>
    warnings.push({ targetId: t, kind, userId, user: who, message: `${who} keeps ${productName(kind)} access: ${reason}` });
  /** Warnings for the products served through this target's writes (Confluence on this Jira site). */
  const warnServed = (userId: string, who: string) => {
    for (const kind of target.alsoServes ?? []) {
      const reason = residualAccessReason(kind, false);
      if (reason) warn(kind, userId, who, reason);
    }
  };

  /**
   * The strongest deprovisioning the target allows: deactivate (the org's v2 suspend for cloud accounts, the
   * product's own deactivate on Data Center), else the configured fallback: out of every group that grants
   * product access (the product's own list where it has one, the configured product-access groups, the
   * new-user defaults this connection added) and every managed group, or removal from the site. Whatever
   * access remains is a warning on the run, once: when the account is first deprovisioned.
   */
  const addDeprovision = (userId: string, who: string, account: TargetAccount, action: 'deactivate' | 'delete' | 'ignore', reason: 'inactive' | 'gone', link: LinkRecord) => {
    if (action === 'ignore') return;
    const ops: SyncOp[] = [];
    const ops_ = settings.user.operations;
    const already = link.state === 'deactivated' || records.has(userId);
    let effective: 'deactivate' | 'delete' | null = action;
    if (effective === 'delete' && !(ops_.delete && caps.deleteUser)) {
      note(ops_.delete ? 'delete-unsupported-deactivating' : 'delete-not-allowed-deactivating', userId);
      effective = 'deactivate';
    }
    if (effective === 'deactivate' && !ops_.deactivate) {
      note('deactivate-not-allowed', userId);
      effective = null;
    }
    const mark = (removals: SyncOp[]) => {
      const removedGroups = removals.flatMap((op) => (op.kind === 'remove-member' ? [{ groupId: op.groupId, name: op.groupName }] : []));
      ops.push({ key: `${t}|mark-deprovisioned|${userId}`, targetId: t, executeOn: t, step: 'deprovision-users', dependsOn: removals.map((op) => op.key).sort(), kind: 'mark-deprovisioned', userId, accountId: account.accountId, reason, removedGroups });
    };
    if (effective === null) {
      if (!already) {
        mark([]);
        warn(target.kind, userId, who, 'deactivation is turned off in the sync settings');
        warnServed(userId, who);
      }
    } else if (effective === 'delete') {
      ops.push({ key: `${t}|delete-user|${userId}`, targetId: t, executeOn: t, step: 'deprovision-users', dependsOn: [], kind: 'delete-user', userId, accountId: account.accountId, reason });
    } else {
      const executeOn = lifecycle('deactivateUser');
      if (executeOn) {
        if (!already && account.active) {
          const method = executeOn === t ? 'deactivated' : 'suspended';
          ops.push({ key: `${t}|deactivate-user|${userId}`, targetId: t, executeOn, step: 'deprovision-users', dependsOn: [], kind: 'deactivate-user', userId, accountId: account.accountId, reason, method });
        }
      } else if (settings.user.deactivateFallback === 'remove-from-site' && caps.deleteUser) {
        ops.push({ key: `${t}|delete-user|${userId}`, targetId: t, executeOn: t, step: 'deprovision-users', dependsOn: [], kind: 'delete-user', userId, accountId: account.accountId, reason: 'remove-from-site' });
        if (!already) warnServed(userId, who);
      } else if (settings.user.deactivateFallback === 'remove-groups' && caps.manageMembership) {
        // An account deprovisioned earlier only loses memberships the ordinary read sees again (re-added to a managed
        // group): reading every such account's groups on every full run would cost a call per former user.
        if (!already && target.accessGroupsReadable && !actual.accessGroups) needsAccessGroups = true;
        if (!already && !fullyKnown(account.accountId)) needsAccounts.add(account.accountId);
        const removable = new Set([...managedGroups, ...desired.productAccessGroups, ...desired.newUserGroups, ...accessKeys]);
        const removals: SyncOp[] = [];
        for (const groupId of [...(actual.memberOf.get(account.accountId) ?? [])].sort()) {
          const group = groupsById.get(groupId);
          if (!group || !(known(groupId) || fullyKnown(account.accountId))) continue;
          const gk = groupKey(group.name);
          if (!removable.has(gk) && !desired.removeUnmanagedMemberships) continue;
          removals.push({ key: `${t}|remove-member|${gk}|${userId}`, targetId: t, executeOn: t, step: 'remove-memberships', dependsOn: [], kind: 'remove-member', userId, accountId: account.accountId, groupKey: gk, groupName: group.name, groupId, deprovision: true });
        }
        ops.push(...removals);
        // Removals on an account already deprovisioned (someone added a group back) are recorded too.
        if (!already || removals.length > 0) mark(removals);
        if (!already) {
          const residual = residualAccessReason(target.kind, Boolean(actual.accessGroups));
          if (residual) warn(target.kind, userId, who, residual);
          warnServed(userId, who);
        }
      } else {
        note('deactivate-unsupported', userId);
        if (!already) {
          mark([]);
          warn(target.kind, userId, who, settings.user.deactivateFallback === 'none'
            ? `${target.kind} cannot deactivate here and the sync settings say to do nothing where a product cannot deactivate`
            : `${target.kind} can neither deactivate this account nor manage its groups`);
          warnServed(userId, who);
        }
      }
    }
    if (ops.length > 0) deprovisionOpsByUser.set(userId, { accountId: account.accountId, ops });
  };

  // 2–6. Users in the directory.
  for (const want of desired.accounts) {
    const userId = want.userId;
    const link = linksByUser.get(userId);
    const usableLink = link && link.managed && link.accountId && link.state !== 'pending' ? link : undefined;
    let account: TargetAccount | undefined = usableLink ? accountsById.get(usableLink.accountId!) : undefined;
    if (link && !link.managed) {
      note('account-not-managed', userId);
      continue;
    }
    let isNew = false;
    let userOpKey: string | null = null;

    if (!account) {
      const atlassianId = input.atlassianAccountIds?.get(userId);
      const byEmail = (want.email ? accountsByEmail.get(want.email.toLowerCase()) : undefined) ?? (atlassianId ? accountsById.get(atlassianId) : undefined);
      if (byEmail === null) {
        note('email-ambiguous', userId);
        continue;
      }
      const resumingCreate = link?.state === 'pending';
      if (byEmail && (resumingCreate || (usableLink && link?.origin === 'created') || settings.user.adoptByEmail) && (want.active || resumingCreate)) {
        const origin = resumingCreate || usableLink ? link!.origin : 'adopted';
        userOpKey = `${t}|link-user|${userId}`;
        ops.push({ key: userOpKey, targetId: t, executeOn: t, step: 'create-users', dependsOn: [], kind: 'link-user', userId, accountId: byEmail.accountId, origin, userName: want.userName, email: want.email });
        account = byEmail;
        // New to this connection (new-user default groups apply): adopted now, or created by the cut-off run.
        isNew = resumingCreate || !usableLink;
      } else if (byEmail) {
        if (want.active) note('email-in-use-not-adopted', userId);
        continue;
      } else if (!want.active) {
        continue; // nothing to create for a user the IdP says is inactive
      } else if (!settings.user.operations.create) {
        note('create-not-allowed', userId);
        continue;
      } else if (!caps.createUser) {
        note('create-unsupported', userId);
        continue;
      } else if (!want.email) {
        note('create-without-email', userId);
        continue;
      } else {
        userOpKey = `${t}|create-user|${userId}`;
        ops.push({
          key: userOpKey,
          targetId: t,
          executeOn: t,
          step: 'create-users',
          dependsOn: [],
          kind: 'create-user',
          userId,
          origin: 'created',
          account: {
            email: want.email,
            displayName: want.displayName,
            username: want.userName,
            givenName: want.givenName,
            familyName: want.familyName,
            products: target.kind === 'jira-cloud' ? want.products : [],
          },
        });
        isNew = true;
      }
    }

    const who = want.userName || want.email || userId;
    if (!want.active) {
      if (account && link) addDeprovision(userId, who, account, settings.user.onInactive, 'inactive', link);
      continue;
    }

    // Reactivation gives back exactly what deprovisioning took: the suspension or deactivation is undone, or
    // the removed groups are added back (below, with the wanted ones).
    const record = records.get(userId);
    const restoreKeys = new Map<string, { groupId: string; name: string }>();
    if (account && record?.method === 'groups-removed') {
      for (const group of record.removedGroups) restoreKeys.set(groupKey(group.name), group);
    } else if (account && (record || !account.active || link?.state === 'deactivated')) {
      const executeOn = lifecycle('reactivateUser');
      // The org's restore gives back suspended app access; it cannot re-enable an Atlassian account that is
      // deactivated itself (not by this sync), and planning it would repeat on every run.
      if (executeOn && executeOn !== t && !record && link?.state !== 'deactivated') {
        note('account-deactivated-not-suspended', userId);
      } else if (executeOn) {
        ops.push({ key: `${t}|reactivate-user|${userId}`, targetId: t, executeOn, step: 'update-users', dependsOn: userOpKey ? [userOpKey] : [], kind: 'reactivate-user', userId, accountId: account.accountId });
      } else if (!account.active) note('reactivate-unsupported', userId);
      else ops.push({ key: `${t}|mark-restored|${userId}`, targetId: t, executeOn: t, step: 'deprovision-users', dependsOn: [], kind: 'mark-restored', userId, accountId: account.accountId });
    }
    const restoring = account !== undefined && record?.method === 'groups-removed';

    if (account && settings.user.operations.update) {
      const changes = accountChanges(want, account);
      if (changes) {
        const executeOn = lifecycle('updateUser');
        if (executeOn) {
          ops.push({ key: `${t}|update-user|${userId}`, targetId: t, executeOn, step: 'update-users', dependsOn: userOpKey ? [userOpKey] : [], kind: 'update-user', userId, accountId: account.accountId, changes });
        } else note('update-unsupported', userId);
      }
    }

    if (!caps.manageMembership) {
      if (restoring) ops.push({ key: `${t}|mark-restored|${userId}`, targetId: t, executeOn: t, step: 'deprovision-users', dependsOn: [], kind: 'mark-restored', userId, accountId: account!.accountId });
      continue;
    }
    const wanted = new Set(want.groups);
    if (isNew) for (const key of desired.newUserGroups) wanted.add(key);
    const current = account ? (actual.memberOf.get(account.accountId) ?? new Set<string>()) : new Set<string>();
    const restoreOps: string[] = [];
    for (const [key, removed] of [...restoreKeys].sort(([a], [b]) => byString(a, b))) {
      const group = groupsByKey.get(key) ?? groupsById.get(removed.groupId);
      if (!group) {
        note('restore-group-gone', `${userId}: ${removed.name}`);
        continue;
      }
      if (current.has(group.groupId) || wanted.has(key)) continue;
      const opKey = `${t}|add-member|${key}|${userId}`;
      restoreOps.push(opKey);
      ops.push({ key: opKey, targetId: t, executeOn: t, step: 'add-memberships', dependsOn: userOpKey ? [userOpKey] : [], kind: 'add-member', userId, accountId: account!.accountId, groupKey: key, groupName: group.name, groupId: group.groupId, restore: true });
    }
    for (const key of [...wanted].sort()) {
      if (unavailableGroups.has(key)) continue;
      const group = groupsByKey.get(key);
      if (group && current.has(group.groupId)) continue;
      const dependsOn = [creatingGroup.get(key), userOpKey].filter((k): k is string => Boolean(k));
      if (restoreKeys.has(key)) restoreOps.push(`${t}|add-member|${key}|${userId}`);
      ops.push({
        key: `${t}|add-member|${key}|${userId}`,
        targetId: t,
        executeOn: t,
        step: 'add-memberships',
        dependsOn,
        kind: 'add-member',
        userId,
        accountId: account?.accountId ?? null,
        groupKey: key,
        groupName: group?.name ?? groupNames.get(key) ?? key,
        groupId: group?.groupId ?? null,
        ...(restoreKeys.has(key) ? { restore: true } : {}),
      });
    }
    if (restoring) {
      ops.push({ key: `${t}|mark-restored|${userId}`, targetId: t, executeOn: t, step: 'deprovision-users', dependsOn: restoreOps.sort(), kind: 'mark-restored', userId, accountId: account!.accountId });
    }
    if (account && !desired.keepExistingMemberships) {
      for (const groupId of [...current].sort()) {
        const group = groupsById.get(groupId);
        if (!group || !known(groupId)) continue;
        const gk = groupKey(group.name);
        if (wanted.has(gk) || protectedGroups.has(gk) || restoreKeys.has(gk)) continue;
        if (!managedGroups.has(gk) && !desired.removeUnmanagedMemberships) continue;
        ops.push({ key: `${t}|remove-member|${gk}|${userId}`, targetId: t, executeOn: t, step: 'remove-memberships', dependsOn: [], kind: 'remove-member', userId, accountId: account.accountId, groupKey: gk, groupName: group.name, groupId });
      }
    }
  }

  // Users gone from the IdP: their managed links remain.
  const inDirectory = new Set(desired.accounts.map((a) => a.userId));
  for (const link of [...input.links].sort((a, b) => byString(a.directoryUserId, b.directoryUserId))) {
    if (inDirectory.has(link.directoryUserId) || !link.managed || !link.accountId || link.state === 'pending' || link.state === 'removed') continue;
    const account = accountsById.get(link.accountId);
    if (account) addDeprovision(link.directoryUserId, link.userName || link.email || link.directoryUserId, account, settings.user.onGone, 'gone', link);
  }

  // 5. Leads move before their account is deprovisioned; without a default project lead the account stays.
  let needsLeads = false;
  if (deprovisionOpsByUser.size > 0 && caps.leads) {
    if (!actual.leads) {
      needsLeads = true;
    } else {
      const leavingAccounts = new Map([...deprovisionOpsByUser].map(([userId, d]) => [d.accountId, userId]));
      const projectLead = settings.user.defaultProjectLead;
      const componentLead = settings.user.defaultComponentLead;
      const blocked = new Set<string>();
      for (const project of actual.leads.projects) {
        const userId = project.leadAccountId ? leavingAccounts.get(project.leadAccountId) : undefined;
        if (userId && (!projectLead || leavingAccounts.has(projectLead))) blocked.add(userId);
      }
      for (const userId of [...blocked].sort()) {
        deprovisionOpsByUser.delete(userId);
        note('project-lead-without-default', userId);
      }
      const leadOps = new Map<string, string[]>(); // userId → lead op keys
      for (const project of [...actual.leads.projects].sort((a, b) => byString(a.projectKey, b.projectKey))) {
        const userId = project.leadAccountId ? leavingAccounts.get(project.leadAccountId) : undefined;
        if (!userId || blocked.has(userId)) continue;
        const key = `${t}|set-project-lead|${project.projectKey}`;
        ops.push({ key, targetId: t, executeOn: t, step: 'reassign-leads', dependsOn: [], kind: 'set-project-lead', projectKey: project.projectKey, fromAccountId: project.leadAccountId!, toAccountId: projectLead! });
        leadOps.set(userId, [...(leadOps.get(userId) ?? []), key]);
      }
      const newComponentLead = componentLead && !leavingAccounts.has(componentLead) ? componentLead : '';
      for (const component of [...actual.leads.components].sort((a, b) => byString(a.componentId, b.componentId))) {
        const userId = component.leadAccountId ? leavingAccounts.get(component.leadAccountId) : undefined;
        if (!userId || blocked.has(userId)) continue;
        const key = `${t}|set-component-lead|${component.componentId}`;
        ops.push({ key, targetId: t, executeOn: t, step: 'reassign-leads', dependsOn: [], kind: 'set-component-lead', componentId: component.componentId, projectKey: component.projectKey, fromAccountId: component.leadAccountId!, toAccountId: newComponentLead });
        leadOps.set(userId, [...(leadOps.get(userId) ?? []), key]);
      }
      for (const [userId, d] of deprovisionOpsByUser) {
        const deps = leadOps.get(userId) ?? [];
        for (const op of d.ops) op.dependsOn = [...op.dependsOn, ...deps].sort();
      }
    }
  }
  // A user whose deprovisioning removes memberships must not also get ordinary removals of the same groups.
  const seen = new Set(ops.map((op) => op.key));
  for (const d of deprovisionOpsByUser.values()) for (const op of d.ops) if (!seen.has(op.key)) {
    seen.add(op.key);
    ops.push(op);
  }

  // 8. Groups this connection created that no rule maps to any more.
  if (input.complete && settings.group.deleteGroupsGoneFromIdp && caps.deleteGroup) {
    const stillWanted = new Set([...desired.groups.map((g) => g.key), ...desired.managedGroups]);
    for (const created of [...input.createdGroups].sort((a, b) => byString(a.key, b.key))) {
      if (stillWanted.has(created.key)) continue;
      const group = groupsByKey.get(created.key);
      if (!group || group.groupId !== created.groupId) continue;
      ops.push({ key: `${t}|delete-group|${created.key}`, targetId: t, executeOn: t, step: 'delete-groups', dependsOn: [], kind: 'delete-group', groupKey: created.key, groupName: group.name, groupId: group.groupId });
    }
  }

  const stepIndex = new Map(STEPS.map((s, i) => [s, i]));
  ops.sort((a, b) => stepIndex.get(a.step)! - stepIndex.get(b.step)! || byString(a.key, b.key));
  const needsAccess = needsAccessGroups || needsAccounts.size > 0 ? { accessGroups: needsAccessGroups, accounts: [...needsAccounts].sort() } : null;
  warnings.sort((a, b) => byString(a.userId, b.userId) || byString(a.kind, b.kind));
  return { targetId: t, ops, notes, needsLeads, deprovisionedUsers: [...deprovisionOpsByUser.keys()].sort(), warnings, needsAccess };
}

/** What to change on an existing account; null when nothing differs. A hidden email (null) is never "changed". */
export function accountChanges(want: DesiredAccount, account: TargetAccount): AccountChanges | null {
  const changes: AccountChanges = {};
  if (want.displayName && want.displayName !== account.displayName) changes.displayName = want.displayName;
  if (want.email && account.email && want.email.toLowerCase() !== account.email.toLowerCase()) changes.email = want.email;
  return Object.keys(changes).length > 0 ? changes : null;
}
