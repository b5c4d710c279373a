import {
  TargetError,
  type AccountChanges,
  type ComponentLead,
  type ConnectionCheck,
  type NewAccount,
  type ProjectLead,
  type Target,
  type TargetAccount,
  type TargetCapabilities,
  type TargetGroup,
  type TargetKind,
} from '../../src/targets/types';

/**
 * An in-memory Target that behaves like the products do where the engine depends on it: writes are
 * idempotent (adding a member twice, removing one that is not there, deleting what is gone all succeed),
 * creating a cloud user with an email that exists returns that account (Jira Cloud answers 201 with it),
 * creating a group whose name is taken is a 400, unknown groups and users are 404s, reads are paged.
 *
 * The state lives in MemoryTargetState so that a "crashed" engine's target can be replaced by a fresh handle
 * over the same data, as a restarted process would reconnect to the same site.
 */

export const CAPABILITIES: Record<TargetKind, TargetCapabilities> = {
  'jira-cloud': { createUser: true, updateUser: false, deactivateUser: false, reactivateUser: false, deleteUser: true, createGroup: true, deleteGroup: true, manageMembership: true, leads: true },
  'confluence-cloud': { createUser: false, updateUser: false, deactivateUser: false, reactivateUser: false, deleteUser: false, createGroup: true, deleteGroup: true, manageMembership: true, leads: false },
  'bitbucket-cloud': { createUser: false, updateUser: false, deactivateUser: false, reactivateUser: false, deleteUser: false, createGroup: true, deleteGroup: true, manageMembership: true, leads: false },
  'bitbucket-dc': { createUser: true, updateUser: true, deactivateUser: false, reactivateUser: false, deleteUser: true, createGroup: true, deleteGroup: true, manageMembership: true, leads: false },
  'jira-dc': { createUser: true, updateUser: true, deactivateUser: true, reactivateUser: true, deleteUser: true, createGroup: true, deleteGroup: true, manageMembership: true, leads: true },
  'confluence-dc': { createUser: true, updateUser: true, deactivateUser: true, reactivateUser: true, deleteUser: true, createGroup: true, deleteGroup: true, manageMembership: true, leads: false },
  'atlassian-org': { createUser: false, updateUser: true, deactivateUser: true, reactivateUser: true, deleteUser: false, createGroup: false, deleteGroup: false, manageMembership: false, leads: false },
};

const CLOUD: ReadonlySet<TargetKind> = new Set(['jira-cloud', 'confluence-cloud', 'bitbucket-cloud', 'atlassian-org']);

export class MemoryTargetState {
  readonly accounts = new Map<string, TargetAccount & { username: string; products: string[] }>();
  readonly groups = new Map<string, TargetGroup>();
  readonly members = new Map<string, Set<string>>();
  readonly projects = new Map<string, ProjectLead>();
  readonly components = new Map<string, ComponentLead>();
  private nextAccount = 1;
  private nextGroup = 1;

  newAccountId(): string {
    return `acc-${String(this.nextAccount++).padStart(5, '0')}`;
  }

  newGroupId(): string {
    return `grp-${String(this.nextGroup++).padStart(5, '0')}`;
  }

  /** Seeds an account that exists before the sync (not created by it). */
  addAccount(account: { email: string; displayName?: string; active?: boolean; accountId?: string }): TargetAccount {
    const accountId = account.accountId ?? this.newAccountId();
    const created = { accountId, email: account.email, displayName: account.displayName ?? null, active: account.active ?? true, username: account.email, products: [] };
    this.accounts.set(accountId, created);
    return { ...created };
  }

  addGroup(name: string): TargetGroup {
    const group = { groupId: this.newGroupId(), name };
    this.groups.set(group.groupId, group);
    this.members.set(group.groupId, new Set());
    return group;
  }

  groupByName(name: string): TargetGroup | undefined {
    return [...this.groups.values()].find((g) => g.name.toLowerCase() === name.toLowerCase());
  }

  accountByEmail(email: string): (TargetAccount & { username: string }) | undefined {
    return [...this.accounts.values()].find((a) => a.email?.toLowerCase() === email.toLowerCase());
  }

  /** Group names of an account, sorted. */
  groupsOf(accountId: string): string[] {
    return [...this.groups.values()].filter((g) => this.members.get(g.groupId)?.has(accountId)).map((g) => g.name).sort();
  }

  /** Member emails of a group, sorted. */
  membersOf(name: string): string[] {
    const group = this.groupByName(name);
    if (!group) return [];
    return [...(this.members.get(group.groupId) ?? [])].map((id) => this.accounts.get(id)?.email ?? id).sort();
  }
}

type Method = keyof Target & string;

interface Failure {
  method: Method;
  error: () => Error;
  remaining: number;
  when?: (args: unknown[]) => boolean;
}

const WRITES = new Set<Method>([
  'createUser', 'updateUser', 'deactivateUser', 'reactivateUser', 'deleteUser', 'createGroup', 'deleteGroup', 'addMember', 'removeMember', 'setProjectLead', 'setComponentLead',
]);

export class MemoryTarget implements Target {
  readonly capabilities: TargetCapabilities;
  /** Calls per method (a paged read counts one per page). */
  readonly calls: Partial<Record<Method, number>> = {};
  /** Every write call in order, as `method args…`. */
  readonly writeLog: string[] = [];
  private failures: Failure[] = [];
  private crashAfter: number | null = null;
  private writesSinceCrashArmed = 0;
  crashed = false;

  constructor(
    readonly kind: TargetKind,
    readonly state: MemoryTargetState = new MemoryTargetState(),
    options: { capabilities?: Partial<TargetCapabilities>; pageSize?: number } = {},
  ) {
    this.capabilities = { ...CAPABILITIES[kind], ...options.capabilities };
    this.pageSize = options.pageSize ?? 50;
  }

  private readonly pageSize: number;

  get writeCount(): number {
    return this.writeLog.length;
  }

  get readCount(): number {
    return Object.entries(this.calls).filter(([m]) => !WRITES.has(m as Method)).reduce((n, [, c]) => n + (c ?? 0), 0);
  }

  /** The next `times` calls of `method` (matching `when`) throw `error()` without changing anything. */
  failOn(method: Method, error: () => Error, times = 1, when?: (args: unknown[]) => boolean): this {
    this.failures.push({ method, error, remaining: times, when });
    return this;
  }

  static rateLimited(kind: TargetKind = 'jira-cloud'): () => Error {
    return () => new TargetError('Rate limit exceeded', 429, kind, 'POST /rest/api/3/group/user', true);
  }

  static serverError(kind: TargetKind = 'jira-cloud'): () => Error {
    return () => new TargetError('Internal server error', 500, kind, 'POST /rest/api/3/user', true);
  }

  /**
   * After `writes` more writes the process "dies": the last of them is applied but never answers, and every
   * later call hangs. A test then drops this handle and runs again with a new one over the same state.
   */
  crashAfterWrites(writes: number): this {
    this.crashAfter = writes;
    this.writesSinceCrashArmed = 0;
    return this;
  }

  private hang(): Promise<never> {
    return new Promise<never>(() => undefined);
  }

  private async enter(method: Method, args: unknown[]): Promise<void> {
    if (this.crashed) return this.hang();
    this.calls[method] = (this.calls[method] ?? 0) + 1;
    const failure = this.failures.find((f) => f.method === method && f.remaining > 0 && (!f.when || f.when(args)));
    if (failure) {
      failure.remaining -= 1;
      throw failure.error();
    }
  }

  /** Runs a write: counts it, applies it, and crashes afterwards when the switch says so. */
  private async write<T>(method: Method, args: unknown[], apply: () => T): Promise<T> {
    await this.enter(method, args);
    const result = apply();
    this.writeLog.push([method, ...args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a)))].join(' '));
    if (this.crashAfter !== null && ++this.writesSinceCrashArmed >= this.crashAfter) {
      this.crashed = true;
      return this.hang();
    }
    return result;
  }

  private notFound(what: string): TargetError {
    return new TargetError(`${what} not found`, 404, this.kind);
  }

  private unsupported(what: string): TargetError {
    return new TargetError(`${this.kind} cannot ${what}`, 405, this.kind);
  }

  private async *paged<T>(method: Method, items: () => T[]): AsyncIterable<T> {
    const all = items();
    for (let start = 0; start === 0 || start < all.length; start += this.pageSize) {
      await this.enter(method, [start]);
      for (const item of all.slice(start, start + this.pageSize)) yield item;
    }
  }

  async testConnection(): Promise<ConnectionCheck> {
    await this.enter('testConnection', []);
    return { ok: true, message: 'memory target' };
  }

  listUsers(): AsyncIterable<TargetAccount> {
    return this.paged('listUsers', () => [...this.state.accounts.values()].map(({ accountId, email, displayName, active }) => ({ accountId, email, displayName, active })));
  }

  async getUser(accountId: string): Promise<TargetAccount | null> {
    await this.enter('getUser', [accountId]);
    const a = this.state.accounts.get(accountId);
    return a ? { accountId: a.accountId, email: a.email, displayName: a.displayName, active: a.active } : null;
  }

  async findUserByEmail(email: string): Promise<TargetAccount | null> {
    await this.enter('findUserByEmail', [email]);
    const a = this.state.accountByEmail(email);
    return a ? { accountId: a.accountId, email: a.email, displayName: a.displayName, active: a.active } : null;
  }

  listGroups(): AsyncIterable<TargetGroup> {
    return this.paged('listGroups', () => [...this.state.groups.values()].map((g) => ({ ...g })));
  }

  async *listGroupMembers(groupId: string): AsyncIterable<string> {
    const members = this.state.members.get(groupId);
    if (!members) throw this.notFound(`group ${groupId}`);
    yield* this.paged('listGroupMembers', () => [...members]);
  }

  async listUserGroups(accountId: string): Promise<TargetGroup[]> {
    await this.enter('listUserGroups', [accountId]);
    return [...this.state.groups.values()].filter((g) => this.state.members.get(g.groupId)?.has(accountId)).map((g) => ({ ...g }));
  }

  createUser(account: NewAccount): Promise<TargetAccount> {
    return this.write('createUser', [account.email], () => {
      if (!this.capabilities.createUser) throw this.unsupported('create users');
      const existing = CLOUD.has(this.kind)
        ? this.state.accountByEmail(account.email)
        : [...this.state.accounts.values()].find((a) => a.username.toLowerCase() === account.username.toLowerCase());
      if (existing) {
        if (!CLOUD.has(this.kind)) throw new TargetError(`A user with username ${account.username} already exists`, 400, this.kind);
        return { accountId: existing.accountId, email: existing.email, displayName: existing.displayName, active: existing.active };
      }
      const accountId = CLOUD.has(this.kind) ? this.state.newAccountId() : account.username;
      const created = { accountId, email: account.email, displayName: account.displayName, active: true, username: account.username, products: account.products };
      this.state.accounts.set(accountId, created);
      return { accountId, email: created.email, displayName: created.displayName, active: true };
    });
  }

  updateUser(accountId: string, changes: AccountChanges): Promise<void> {
    return this.write('updateUser', [accountId, changes], () => {
      if (!this.capabilities.updateUser) throw this.unsupported('update users');
      const account = this.state.accounts.get(accountId);
      if (!account) throw this.notFound(`user ${accountId}`);
      if (changes.displayName !== undefined) account.displayName = changes.displayName;
      if (changes.email !== undefined) account.email = changes.email;
    });
  }

  deactivateUser(accountId: string): Promise<void> {
    return this.write('deactivateUser', [accountId], () => {
      if (!this.capabilities.deactivateUser) throw this.unsupported('deactivate users');
      const account = this.state.accounts.get(accountId);
      if (!account) throw this.notFound(`user ${accountId}`);
      account.active = false;
    });
  }

  reactivateUser(accountId: string): Promise<void> {
    return this.write('reactivateUser', [accountId], () => {
      if (!this.capabilities.reactivateUser) throw this.unsupported('reactivate users');
      const account = this.state.accounts.get(accountId);
      if (!account) throw this.notFound(`user ${accountId}`);
      account.active = true;
    });
  }

  deleteUser(accountId: string): Promise<void> {
    return this.write('deleteUser', [accountId], () => {
      if (!this.capabilities.deleteUser) throw this.unsupported('delete users');
      this.state.accounts.delete(accountId);
      for (const members of this.state.members.values()) members.delete(accountId);
    });
  }

  createGroup(name: string): Promise<TargetGroup> {
    return this.write('createGroup', [name], () => {
      if (!this.capabilities.createGroup) throw this.unsupported('create groups');
      if (this.state.groupByName(name)) throw new TargetError(`Group name '${name}' is already used`, 400, this.kind);
      return { ...this.state.addGroup(name) };
    });
  }

  deleteGroup(groupId: string): Promise<void> {
    return this.write('deleteGroup', [groupId], () => {
      this.state.groups.delete(groupId);
      this.state.members.delete(groupId);
    });
  }

  addMember(groupId: string, accountId: string): Promise<void> {
    return this.write('addMember', [groupId, accountId], () => {
      const members = this.state.members.get(groupId);
      if (!members) throw this.notFound(`group ${groupId}`);
      if (!this.state.accounts.has(accountId)) throw this.notFound(`user ${accountId}`);
      members.add(accountId);
    });
  }

  removeMember(groupId: string, accountId: string): Promise<void> {
    return this.write('removeMember', [groupId, accountId], () => {
      const members = this.state.members.get(groupId);
      if (!members) throw this.notFound(`group ${groupId}`);
      members.delete(accountId);
    });
  }

  listProjectLeads(): AsyncIterable<ProjectLead> {
    return this.paged('listProjectLeads', () => [...this.state.projects.values()].map((p) => ({ ...p })));
  }

  setProjectLead(projectKey: string, accountId: string): Promise<void> {
    return this.write('setProjectLead', [projectKey, accountId], () => {
      const project = this.state.projects.get(projectKey);
      if (!project) throw this.notFound(`project ${projectKey}`);
      if (!this.state.accounts.has(accountId)) throw new TargetError('The lead must be an existing user', 400, this.kind);
      project.leadAccountId = accountId;
    });
  }

  listComponentLeads(): AsyncIterable<ComponentLead> {
    return this.paged('listComponentLeads', () => [...this.state.components.values()].map((c) => ({ ...c })));
  }

  setComponentLead(componentId: string, accountId: string): Promise<void> {
    return this.write('setComponentLead', [componentId, accountId], () => {
      const component = this.state.components.get(componentId);
      if (!component) throw this.notFound(`component ${componentId}`);
      component.leadAccountId = accountId === '' ? null : accountId;
    });
  }
}
