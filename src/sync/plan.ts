import type { AccountChanges, ComponentLead, NewAccount, ProjectLead, TargetAccount, TargetCapabilities, TargetGroup, TargetKind } from '../targets/types';
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
    | { kind: 'add-member'; userId: string; accountId: string | null; groupKey: string; groupName: string; groupId: string | null }
    /** deprovision: taken out as the deactivate fallback 'remove-groups' (counts towards the safety threshold). */
    | { kind: 'remove-member'; userId: string; accountId: string; groupKey: string; groupName: string; groupId: string; deprovision?: boolean }
    | { kind: 'set-project-lead'; projectKey: string; fromAccountId: string; toAccountId: string }
    /** toAccountId '' clears the component's lead. */
    | { kind: 'set-component-lead'; componentId: string; projectKey: string; fromAccountId: string; toAccountId: string }
    | { kind: 'deactivate-user'; userId: string; accountId: string; reason: 'inactive' | 'gone' }
    | { kind: 'delete-user'; userId: string; accountId: string; reason: 'inactive' | 'gone' | 'remove-from-site' }
    | { kind: 'delete-group'; groupKey: string; groupName: string; groupId: string }
  );

export type OpKind = SyncOp['kind'];

/** Ops that make no call to a target. */
export function isTargetWrite(op: SyncOp): boolean {
  return op.kind !== 'link-user';
}

export function isDeprovision(op: SyncOp): boolean {
  return op.kind === 'deactivate-user' || op.kind === 'delete-user' || (op.kind === 'remove-member' && op.deprovision === true);
}

export interface PlanTarget {
  targetId: string;
  kind: TargetKind;
  capabilities: TargetCapabilities;
  /** The Atlassian organization API target that deactivates, reactivates and updates these accounts when the product cannot. */
  lifecycleVia?: { targetId: string; capabilities: TargetCapabilities };
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

  const addDeprovision = (userId: string, account: TargetAccount, action: 'deactivate' | 'delete' | 'ignore', reason: 'inactive' | 'gone') => {
    if (action === 'ignore') return;
    const ops: SyncOp[] = [];
    const ops_ = settings.user.operations;
    let effective: 'deactivate' | 'delete' | null = action;
    if (effective === 'delete' && !(ops_.delete && caps.deleteUser)) {
      note(ops_.delete ? 'delete-unsupported-deactivating' : 'delete-not-allowed-deactivating', userId);
      effective = 'deactivate';
    }
    if (effective === 'deactivate' && !ops_.deactivate) {
      note('deactivate-not-allowed', userId);
      effective = null;
    }
    if (effective === 'delete') {
      ops.push({ key: `${t}|delete-user|${userId}`, targetId: t, executeOn: t, step: 'deprovision-users', dependsOn: [], kind: 'delete-user', userId, accountId: account.accountId, reason });
    } else if (effective === 'deactivate') {
      const executeOn = lifecycle('deactivateUser');
      if (executeOn) {
        if (account.active) {
          ops.push({ key: `${t}|deactivate-user|${userId}`, targetId: t, executeOn, step: 'deprovision-users', dependsOn: [], kind: 'deactivate-user', userId, accountId: account.accountId, reason });
        }
      } else if (settings.user.deactivateFallback === 'remove-from-site' && caps.deleteUser) {
        ops.push({ key: `${t}|delete-user|${userId}`, targetId: t, executeOn: t, step: 'deprovision-users', dependsOn: [], kind: 'delete-user', userId, accountId: account.accountId, reason: 'remove-from-site' });
      } else if (settings.user.deactivateFallback === 'remove-groups' && caps.manageMembership) {
        const removable = new Set([...managedGroups, ...desired.productAccessGroups]);
        for (const groupId of [...(actual.memberOf.get(account.accountId) ?? [])].sort()) {
          const group = groupsById.get(groupId);
          if (!group || !known(groupId)) continue;
          const gk = groupKey(group.name);
          if (!removable.has(gk) && !desired.removeUnmanagedMemberships) continue;
          ops.push({ key: `${t}|remove-member|${gk}|${userId}`, targetId: t, executeOn: t, step: 'remove-memberships', dependsOn: [], kind: 'remove-member', userId, accountId: account.accountId, groupKey: gk, groupName: group.name, groupId, deprovision: true });
        }
      } else {
        note('deactivate-unsupported', userId);
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
      const byEmail = want.email ? accountsByEmail.get(want.email.toLowerCase()) : undefined;
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

    if (!want.active) {
      if (account) addDeprovision(userId, account, settings.user.onInactive, 'inactive');
      continue;
    }

    if (account && !account.active) {
      const executeOn = lifecycle('reactivateUser');
      if (executeOn) {
        ops.push({ key: `${t}|reactivate-user|${userId}`, targetId: t, executeOn, step: 'update-users', dependsOn: userOpKey ? [userOpKey] : [], kind: 'reactivate-user', userId, accountId: account.accountId });
      } else note('reactivate-unsupported', userId);
    }

    if (account && settings.user.operations.update) {
      const changes = accountChanges(want, account);
      if (changes) {
        const executeOn = lifecycle('updateUser');
        if (executeOn) {
          ops.push({ key: `${t}|update-user|${userId}`, targetId: t, executeOn, step: 'update-users', dependsOn: userOpKey ? [userOpKey] : [], kind: 'update-user', userId, accountId: account.accountId, changes });
        } else note('update-unsupported', userId);
      }
    }

    if (!caps.manageMembership) continue;
    const wanted = new Set(want.groups);
    if (isNew) for (const key of desired.newUserGroups) wanted.add(key);
    const current = account ? (actual.memberOf.get(account.accountId) ?? new Set<string>()) : new Set<string>();
    for (const key of [...wanted].sort()) {
      if (unavailableGroups.has(key)) continue;
      const group = groupsByKey.get(key);
      if (group && current.has(group.groupId)) continue;
      const dependsOn = [creatingGroup.get(key), userOpKey].filter((k): k is string => Boolean(k));
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
      });
    }
    if (account && !desired.keepExistingMemberships) {
      for (const groupId of [...current].sort()) {
        const group = groupsById.get(groupId);
        if (!group || !known(groupId)) continue;
        const gk = groupKey(group.name);
        if (wanted.has(gk) || protectedGroups.has(gk)) continue;
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
    if (account) addDeprovision(link.directoryUserId, account, settings.user.onGone, 'gone');
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
  return { targetId: t, ops, notes, needsLeads, deprovisionedUsers: [...deprovisionOpsByUser.keys()].sort() };
}

/** What to change on an existing account; null when nothing differs. A hidden email (null) is never "changed". */
export function accountChanges(want: DesiredAccount, account: TargetAccount): AccountChanges | null {
  const changes: AccountChanges = {};
  if (want.displayName && want.displayName !== account.displayName) changes.displayName = want.displayName;
  if (want.email && account.email && want.email.toLowerCase() !== account.email.toLowerCase()) changes.email = want.email;
  return Object.keys(changes).length > 0 ? changes : null;
}
