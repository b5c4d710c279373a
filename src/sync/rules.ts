import type { NameFilters, SyncSettings, Transform } from './settings';

/**
 * desired = rules(directory, settings): pure and deterministic. No I/O, no clock, no randomness; the same
 * snapshot and settings always give the same result, sorted.
 */

/** The part of a directory user the rules read. */
export interface SnapshotUser {
  id: string;
  userName: string;
  email: string | null;
  displayName: string | null;
  givenName: string | null;
  familyName: string | null;
  active: boolean;
}

export interface SnapshotGroup {
  id: string;
  displayName: string;
}

/**
 * A connection's directory, or (incremental runs) the touched part of it: the touched users with all their
 * memberships and every group those memberships or the changes name.
 */
export interface DirectorySnapshot {
  users: SnapshotUser[];
  groups: SnapshotGroup[];
  memberships: Array<{ groupId: string; userId: string }>;
}

/** One account as the rules want it in every target. */
export interface DesiredAccount {
  userId: string;
  /** After the username transform. Data Center creates accounts with it. */
  userName: string;
  /** After the email transform; null when the IdP has none (then the account cannot be created on cloud). */
  email: string | null;
  displayName: string | null;
  givenName: string | null;
  familyName: string | null;
  active: boolean;
  /** Jira Cloud products granted on create. */
  products: string[];
  /** Keys (see groupKey) of the target groups the account belongs in, from the mapping and the all-users defaults. */
  groups: string[];
}

export interface DesiredGroup {
  key: string;
  /** The name a missing group is created with (the first spelling the rules met, in sorted order). */
  name: string;
  createIfMissing: boolean;
}

export interface DesiredState {
  accounts: DesiredAccount[];
  groups: DesiredGroup[];
  /** Added only when the connection creates or adopts an account. */
  newUserGroups: string[];
  /** Groups whose memberships this connection decides: the only ones it removes members from (keep-existing off). */
  managedGroups: string[];
  /** Groups no ordinary removal touches (new-user defaults, product-access groups). */
  protectedGroups: string[];
  /** Groups that the deactivate fallback 'remove-groups' takes a deprovisioned account out of, besides managed ones. */
  productAccessGroups: string[];
  keepExistingMemberships: boolean;
  removeUnmanagedMemberships: boolean;
}

/** Target group names compare case-insensitively (Jira, Confluence and Bitbucket all refuse a second spelling). */
export function groupKey(name: string): string {
  return name.trim().toLowerCase();
}

export function applyTransform(value: string, transform: Transform | null): string {
  if (!transform) return value;
  return value.replace(new RegExp(transform.pattern), transform.replacement);
}

export function passesFilters(name: string, filters: NameFilters): boolean {
  const matches = (source: string) => new RegExp(source, 'i').test(name);
  if (filters.include.length > 0 && !filters.include.some(matches)) return false;
  return !filters.exclude.some(matches);
}

/** The target groups one IdP group maps to under the settings (names, before dedupe). */
export function mapIdpGroup(idpGroupName: string, settings: SyncSettings): string[] {
  const group = settings.group;
  if (group.mapping === 'manual') {
    if (!passesFilters(idpGroupName, group.manual.filters)) return [];
    const key = groupKey(idpGroupName);
    const mapped = group.manual.mappings.filter((m) => groupKey(m.idpGroup) === key).flatMap((m) => m.targetGroups);
    if (mapped.length > 0) return mapped;
    return group.manual.importIdpGroups ? [idpGroupName.trim()] : [];
  }
  if (group.mapping === 'on-the-fly') {
    if (!passesFilters(idpGroupName, group.onTheFly.filters)) return [];
    const renamed = applyTransform(idpGroupName, group.onTheFly.rename).trim();
    return renamed ? [renamed] : [];
  }
  return [];
}

function emailOf(user: SnapshotUser): string | null {
  if (user.email) return user.email;
  // Many IdPs send the email as userName and no emails[]; use it when it looks like one.
  return /^[^@\s]+@[^@\s]+$/.test(user.userName) ? user.userName : null;
}

function uniqueKeys(names: Iterable<string>, spellings: Map<string, string>): string[] {
  const keys = new Set<string>();
  for (const name of names) {
    const key = groupKey(name);
    if (!key) continue;
    keys.add(key);
    if (!spellings.has(key)) spellings.set(key, name.trim());
  }
  return [...keys].sort();
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function desiredState(snapshot: DirectorySnapshot, settings: SyncSettings): DesiredState {
  const spellings = new Map<string, string>();
  const groupsSorted = [...snapshot.groups].sort((a, b) => byString(a.id, b.id));
  const targetsOfGroup = new Map<string, string[]>();
  for (const group of groupsSorted) {
    targetsOfGroup.set(group.id, uniqueKeys(mapIdpGroup(group.displayName, settings), spellings));
  }

  const membershipsOfUser = new Map<string, string[]>();
  for (const m of snapshot.memberships) {
    const list = membershipsOfUser.get(m.userId);
    if (list) list.push(m.groupId);
    else membershipsOfUser.set(m.userId, [m.groupId]);
  }

  const allUsersKeys = uniqueKeys(settings.group.defaultGroups.allUsers, spellings);
  const newUserKeys = uniqueKeys(settings.group.defaultGroups.newUsers, spellings);
  const productAccessKeys = uniqueKeys(settings.user.productAccessGroups, new Map());

  const accounts: DesiredAccount[] = [...snapshot.users]
    .sort((a, b) => byString(a.id, b.id))
    .map((user) => {
      const keys = new Set<string>(allUsersKeys);
      for (const groupId of membershipsOfUser.get(user.id) ?? []) {
        for (const key of targetsOfGroup.get(groupId) ?? []) keys.add(key);
      }
      const email = emailOf(user);
      return {
        userId: user.id,
        userName: applyTransform(user.userName, settings.user.usernameTransform),
        email: email === null ? null : applyTransform(email, settings.user.emailTransform),
        displayName: user.displayName ?? ([user.givenName, user.familyName].filter(Boolean).join(' ') || null),
        givenName: user.givenName,
        familyName: user.familyName,
        active: user.active,
        products: [...settings.user.productsOnCreate].sort(),
        groups: [...keys].sort(),
      };
    });

  const mappedKeys = new Set<string>();
  for (const keys of targetsOfGroup.values()) for (const key of keys) mappedKeys.add(key);
  // A manual mapping's target groups are the connection's to manage even while no IdP group maps to them,
  // so members the IdP no longer lists are removed (keep-existing off).
  const managed = new Set<string>([...mappedKeys, ...allUsersKeys]);
  if (settings.group.mapping === 'manual') {
    for (const key of uniqueKeys(settings.group.manual.mappings.flatMap((m) => m.targetGroups), spellings)) managed.add(key);
  }

  const groupKeys = new Set<string>([...mappedKeys, ...allUsersKeys, ...newUserKeys]);
  const groups: DesiredGroup[] = [...groupKeys].sort().map((key) => ({
    key,
    name: spellings.get(key) ?? key,
    createIfMissing: settings.group.createMissingGroups,
  }));

  const keepExisting =
    settings.group.mapping === 'manual'
      ? settings.group.manual.keepExistingMemberships
      : settings.group.mapping === 'on-the-fly'
        ? settings.group.onTheFly.keepExistingUserGroups
        : true;

  return {
    accounts,
    groups,
    newUserGroups: newUserKeys,
    managedGroups: [...managed].sort(),
    protectedGroups: [...new Set([...newUserKeys, ...productAccessKeys])].filter((key) => !managed.has(key)).sort(),
    productAccessGroups: productAccessKeys,
    keepExistingMemberships: keepExisting,
    removeUnmanagedMemberships: settings.group.removeUnmanagedMemberships,
  };
}
