/**
 * The directory an IdP fake serves, independent of any vendor's wire shape: each fake renders it the
 * way its API documents. Two implementations: IdpDirectory (mutable arrays, for tests that change the
 * IdP between pulls) and SyntheticDirectory (computed from indexes, so a 50k-user bench costs the fake
 * no memory and the process's RSS measures the pull alone).
 */

export interface IdpUser {
  id: string;
  userName: string;
  email: string | null;
  givenName: string | null;
  familyName: string | null;
  active: boolean;
}

export interface IdpGroup {
  id: string;
  name: string;
  /** Set for nested groups (Keycloak subgroups, Entra groups inside groups). */
  parentId: string | null;
}

export interface IdpData {
  userTotal(): number;
  users(start: number, count: number): IdpUser[];
  user(id: string): IdpUser | undefined;
  groupTotal(): number;
  groups(start: number, count: number): IdpGroup[];
  group(id: string): IdpGroup | undefined;
  /** Direct members (user ids) of a group. */
  memberTotal(groupId: string): number;
  members(groupId: string, start: number, count: number): string[];
  /** Direct child groups. */
  children(groupId: string): IdpGroup[];
}

export class IdpDirectory implements IdpData {
  readonly userList: IdpUser[] = [];
  readonly groupList: IdpGroup[] = [];
  readonly memberships = new Map<string, string[]>();

  addUser(user: Partial<IdpUser> & { id: string; userName: string }): IdpUser {
    const full: IdpUser = { email: null, givenName: null, familyName: null, active: true, ...user };
    this.userList.push(full);
    return full;
  }

  removeUser(id: string): void {
    const index = this.userList.findIndex((u) => u.id === id);
    if (index >= 0) this.userList.splice(index, 1);
    for (const [groupId, members] of this.memberships) this.memberships.set(groupId, members.filter((m) => m !== id));
  }

  addGroup(group: { id: string; name: string; parentId?: string | null; members?: string[] }): IdpGroup {
    const full: IdpGroup = { id: group.id, name: group.name, parentId: group.parentId ?? null };
    this.groupList.push(full);
    this.memberships.set(group.id, [...(group.members ?? [])]);
    return full;
  }

  setMembers(groupId: string, members: string[]): void {
    this.memberships.set(groupId, [...members]);
  }

  userTotal(): number {
    return this.userList.length;
  }
  users(start: number, count: number): IdpUser[] {
    return this.userList.slice(start, start + count);
  }
  user(id: string): IdpUser | undefined {
    return this.userList.find((u) => u.id === id);
  }
  groupTotal(): number {
    return this.groupList.length;
  }
  groups(start: number, count: number): IdpGroup[] {
    return this.groupList.slice(start, start + count);
  }
  group(id: string): IdpGroup | undefined {
    return this.groupList.find((g) => g.id === id);
  }
  memberTotal(groupId: string): number {
    return this.memberships.get(groupId)?.length ?? 0;
  }
  members(groupId: string, start: number, count: number): string[] {
    return (this.memberships.get(groupId) ?? []).slice(start, start + count);
  }
  children(groupId: string): IdpGroup[] {
    return this.groupList.filter((g) => g.parentId === groupId);
  }
}

/**
 * `userCount` users u0…; `groupCount` groups g0…: g0 holds everyone, and user i is also in group
 * 1 + (i mod (groupCount − 1)). Nothing is stored.
 */
export class SyntheticDirectory implements IdpData {
  constructor(
    readonly userCount: number,
    readonly groupCount: number,
  ) {}

  private userAt(i: number): IdpUser {
    return {
      id: `u${i}`,
      userName: `user${i}@example.com`,
      email: `user${i}@example.com`,
      givenName: `Given${i}`,
      familyName: `Family${i}`,
      active: i % 50 !== 0,
    };
  }

  private index(id: string, prefix: string, total: number): number | null {
    if (!id.startsWith(prefix)) return null;
    const n = Number(id.slice(prefix.length));
    return Number.isInteger(n) && n >= 0 && n < total ? n : null;
  }

  userTotal(): number {
    return this.userCount;
  }
  users(start: number, count: number): IdpUser[] {
    const out: IdpUser[] = [];
    for (let i = start; i < Math.min(this.userCount, start + count); i++) out.push(this.userAt(i));
    return out;
  }
  user(id: string): IdpUser | undefined {
    const i = this.index(id, 'u', this.userCount);
    return i === null ? undefined : this.userAt(i);
  }
  groupTotal(): number {
    return this.groupCount;
  }
  groups(start: number, count: number): IdpGroup[] {
    const out: IdpGroup[] = [];
    for (let g = start; g < Math.min(this.groupCount, start + count); g++) out.push({ id: `g${g}`, name: g === 0 ? 'everyone' : `group-${g}`, parentId: null });
    return out;
  }
  group(id: string): IdpGroup | undefined {
    const g = this.index(id, 'g', this.groupCount);
    return g === null ? undefined : { id, name: g === 0 ? 'everyone' : `group-${g}`, parentId: null };
  }
  memberTotal(groupId: string): number {
    const g = this.index(groupId, 'g', this.groupCount);
    if (g === null) return 0;
    if (g === 0) return this.userCount;
    const stride = this.groupCount - 1;
    const first = g - 1;
    return first >= this.userCount ? 0 : Math.floor((this.userCount - 1 - first) / stride) + 1;
  }
  members(groupId: string, start: number, count: number): string[] {
    const g = this.index(groupId, 'g', this.groupCount);
    if (g === null) return [];
    const total = this.memberTotal(groupId);
    const out: string[] = [];
    for (let k = start; k < Math.min(total, start + count); k++) out.push(`u${g === 0 ? k : g - 1 + k * (this.groupCount - 1)}`);
    return out;
  }
  children(): IdpGroup[] {
    return [];
  }
}

/** Every member of a group and of its descendants, once each (what Graph's transitiveMembers returns). */
export function transitiveMembers(data: IdpData, groupId: string): string[] {
  const seen = new Set<string>();
  const visitedGroups = new Set<string>();
  const pending = [groupId];
  while (pending.length > 0) {
    const id = pending.pop()!;
    if (visitedGroups.has(id)) continue;
    visitedGroups.add(id);
    const total = data.memberTotal(id);
    for (const member of data.members(id, 0, total)) seen.add(member);
    for (const child of data.children(id)) pending.push(child.id);
  }
  return [...seen];
}
