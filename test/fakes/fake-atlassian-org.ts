import { randomUUID } from 'node:crypto';
import { FakeServer, FakeService, bearerAuth, fakeId, type FakeResponse } from './fake-server';
import type { FakeJiraCloud } from './fake-jira-cloud';

/**
 * A stateful fake of the Atlassian organization APIs (api.atlassian.com) with an org admin API key, held to
 * what Atlassian documents:
 * - user management API: managed-account lifecycle (disable/enable), profile (`PATCH …/manage/profile` takes
 *   only profile fields: an email there is refused) and email (`PUT …/manage/email`);
 * - org API v1: the org, and its managed accounts only (`GET /admin/v1/orgs/{orgId}/users`);
 * - org API v2: directories; the directory's users (`GET …/directories/{directoryId}/users`, filters
 *   `accountIds`, `groupIds`, `searchTerm`, `limit` ≤ 100, cursor in `links.next`), suspend / restore of a
 *   user's app access; groups (filter `accountIds`) and memberships (add, remove; there is no listing of a
 *   group's memberships: members are listed through the users endpoint's `groupIds`).
 * Assumed (undocumented): suspending a suspended user or restoring an active one answers 409.
 */

export interface FakeOrgUser {
  accountId: string;
  email: string;
  name: string;
  status: 'active' | 'inactive';
  /** Directory membership: a suspended user keeps the account but has no access to the organization's apps. */
  membership: 'active' | 'suspended';
  /** Managed (claimed through a verified domain) or not; `GET /admin/v1/orgs/{orgId}/users` lists managed ones only. */
  managed: boolean;
}

export interface FakeOrgGroup {
  id: string;
  name: string;
  members: Set<string>;
}

const PAGE = 100;
/** The v2 users endpoint's page size limit. */
const V2_USERS_MAX = 100;
const errors = (status: number, title: string): FakeResponse => ({ status, body: { errors: [{ status: String(status), title }] } });

export class FakeAtlassianOrg extends FakeService {
  readonly server: FakeServer;
  readonly users = new Map<string, FakeOrgUser>();
  readonly groups = new Map<string, FakeOrgGroup>();
  readonly orgId: string;
  readonly directoryId = randomUUID();
  /**
   * Accounts that live in a product fake (a Jira site's users): the org manages every account of its verified
   * domain, so an account missing here is looked up there on first use. Unset = only `addUser` accounts exist.
   */
  accountSource?: (accountId: string) => { email: string; name: string; active: boolean } | undefined;
  /** Called after a lifecycle or profile change, so a product fake can show it (a disabled account lists as inactive). */
  onAccountChanged?: (user: FakeOrgUser) => void;

  constructor(options: { apiKeys?: Record<string, string>; orgId?: string } = {}) {
    super();
    this.orgId = options.orgId ?? 'org-1';
    this.server = new FakeServer(bearerAuth(options.apiKeys ?? { 'org-api-key': 'org-admin' }), () => errors(401, 'Unauthorized'));
    this.routes();
  }

  /**
   * The org manages a Jira site's accounts, as on a real site: it finds them in the Jira fake, and its changes
   * show there (a disabled account lists as inactive, a suspended one keeps no product access).
   */
  manageAccountsOf(jira: FakeJiraCloud): void {
    this.accountSource = (accountId) => {
      const user = jira.users.get(accountId);
      return user ? { email: user.emailAddress, name: user.displayName, active: user.active } : undefined;
    };
    this.onAccountChanged = (user) =>
      jira.updateAccount(user.accountId, {
        emailAddress: user.email,
        displayName: user.name,
        active: user.status === 'active',
        suspended: user.membership === 'suspended',
      });
  }

  addUser(input: { email: string; name?: string; accountId?: string; status?: FakeOrgUser['status']; membership?: FakeOrgUser['membership']; managed?: boolean }): FakeOrgUser {
    const user: FakeOrgUser = {
      accountId: input.accountId ?? `712020:${fakeId('')}`,
      email: input.email,
      name: input.name ?? input.email,
      status: input.status ?? 'active',
      membership: input.membership ?? 'active',
      managed: input.managed ?? true,
    };
    this.users.set(user.accountId, user);
    return user;
  }

  addGroup(name: string, members: string[] = []): FakeOrgGroup {
    const group: FakeOrgGroup = { id: randomUUID(), name, members: new Set(members) };
    this.groups.set(group.id, group);
    return group;
  }

  private account(accountId: string): FakeOrgUser | undefined {
    const known = this.users.get(accountId);
    if (known) return known;
    const source = this.accountSource?.(accountId);
    return source ? this.addUser({ accountId, email: source.email, name: source.name, status: source.active ? 'active' : 'inactive' }) : undefined;
  }

  private cursorPage<T>(items: T[], cursor: string | null, size = PAGE): { data: T[]; links: { next?: string } } {
    const start = cursor ? Number(Buffer.from(cursor, 'base64url').toString('utf8')) : 0;
    const data = items.slice(start, start + size);
    const next = start + size < items.length ? Buffer.from(String(start + size)).toString('base64url') : undefined;
    return { data, links: next ? { next } : {} };
  }

  /** v2 user shape; `status` is the composite the API documents (active, suspended, deactivated). */
  private directoryUserJson(user: FakeOrgUser): Record<string, unknown> {
    return {
      accountId: user.accountId,
      accountType: 'atlassian',
      status: user.status === 'inactive' ? 'deactivated' : user.membership === 'suspended' ? 'suspended' : 'active',
      accountStatus: user.status,
      membershipStatus: user.membership,
      name: user.name,
      nickname: user.name,
      email: user.email,
      claimStatus: user.managed ? 'managed' : 'unmanaged',
    };
  }

  private routes(): void {
    const s = this.server;
    const org = (orgId: string | undefined) => orgId === this.orgId;
    const account = (user: FakeOrgUser) => ({ account_id: user.accountId, account_type: 'atlassian', account_status: user.status, name: user.name, email: user.email });

    s.route('GET', '/admin/v1/orgs/:orgId', (r) => (org(r.params.orgId) ? { status: 200, body: { data: { id: this.orgId, type: 'orgs', attributes: { name: 'Acme' } } } } : errors(404, 'Org not found')));
    s.route('GET', '/admin/v1/orgs/:orgId/users', (r) => {
      if (!org(r.params.orgId)) return errors(404, 'Org not found');
      return { status: 200, body: this.cursorPage([...this.users.values()].filter((u) => u.managed).map(account), r.query.get('cursor')) };
    });
    s.route('GET', '/users/:accountId/manage/profile', (r) => {
      const user = this.account(r.params.accountId!);
      return user ? { status: 200, body: { account: account(user) } } : errors(404, 'Not found');
    });
    s.route('PATCH', '/users/:accountId/manage/profile', (r) => {
      const user = this.account(r.params.accountId!);
      if (!user) return errors(404, 'Not found');
      const body = (r.body ?? {}) as { name?: unknown; email?: unknown };
      // The profile takes only the profile.write fields; the email has its own endpoint (email.set privilege).
      if ('email' in body) return errors(400, 'email is not a mutable profile field; use PUT /users/{account_id}/manage/email');
      if (typeof body.name === 'string') user.name = body.name;
      this.onAccountChanged?.(user);
      return { status: 200, body: { account: account(user) } };
    });
    s.route('PUT', '/users/:accountId/manage/email', (r) => {
      const user = this.account(r.params.accountId!);
      if (!user) return errors(404, 'Not found');
      const email = (r.body as { email?: unknown } | null)?.email;
      if (typeof email !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(email)) return errors(400, 'email is required');
      user.email = email;
      this.onAccountChanged?.(user);
      return { status: 204 };
    });
    for (const [action, status] of [['disable', 'inactive'], ['enable', 'active']] as const) {
      s.route('POST', `/users/:accountId/manage/lifecycle/${action}`, (r) => {
        const user = this.account(r.params.accountId!);
        if (!user) return errors(404, 'Not found');
        user.status = status;
        this.onAccountChanged?.(user);
        return { status: 204 };
      });
    }
    s.route('GET', '/admin/v2/orgs/:orgId/directories', (r) =>
      org(r.params.orgId) ? { status: 200, body: { data: [{ directoryId: this.directoryId, name: 'Acme directory' }], links: {} } } : errors(404, 'Org not found'),
    );
    const inDirectory = (params: Record<string, string>) => org(params.orgId) && params.directoryId === this.directoryId;
    s.route('GET', '/admin/v2/orgs/:orgId/directories/:directoryId/users', (r) => {
      if (!inDirectory(r.params)) return errors(404, 'Directory not found');
      const limit = Number(r.query.get('limit') ?? V2_USERS_MAX);
      if (!Number.isInteger(limit) || limit < 1 || limit > V2_USERS_MAX) return errors(400, `limit must be between 1 and ${V2_USERS_MAX}`);
      const accountIds = r.query.getAll('accountIds');
      const groupIds = r.query.getAll('groupIds');
      const term = r.query.get('searchTerm')?.toLowerCase();
      // Accounts named by id may live in the product fake and not be known here yet.
      for (const id of accountIds) this.account(id);
      const users = [...this.users.values()].filter(
        (u) =>
          (accountIds.length === 0 || accountIds.includes(u.accountId)) &&
          (groupIds.length === 0 || groupIds.some((g) => this.groups.get(g)?.members.has(u.accountId))) &&
          (!term || u.email.toLowerCase().includes(term) || u.name.toLowerCase().includes(term)),
      );
      return { status: 200, body: this.cursorPage(users.map((u) => this.directoryUserJson(u)), r.query.get('cursor'), limit) };
    });
    for (const [action, membership] of [['suspend', 'suspended'], ['restore', 'active']] as const) {
      s.route('POST', `/admin/v2/orgs/:orgId/directories/:directoryId/users/:accountId/${action}`, (r) => {
        if (!inDirectory(r.params)) return errors(404, 'Directory not found');
        const user = this.account(r.params.accountId!);
        if (!user) return errors(404, 'User not found');
        if (user.membership === membership) return errors(409, `User access is already ${membership}`);
        user.membership = membership;
        this.onAccountChanged?.(user);
        return { status: 204 };
      });
    }
    s.route('GET', '/admin/v2/orgs/:orgId/directories/:directoryId/groups', (r) => {
      if (!inDirectory(r.params)) return errors(404, 'Directory not found');
      const accountIds = r.query.getAll('accountIds');
      const groups = [...this.groups.values()].filter((g) => accountIds.length === 0 || accountIds.some((a) => g.members.has(a)));
      return { status: 200, body: this.cursorPage(groups.map((g) => ({ id: g.id, name: g.name })), r.query.get('cursor')) };
    });
    s.route('POST', '/admin/v2/orgs/:orgId/directories/:directoryId/groups', (r) => {
      if (!inDirectory(r.params)) return errors(404, 'Directory not found');
      const name = (r.body as { name?: unknown } | null)?.name;
      if (typeof name !== 'string' || !name) return errors(400, 'name is required');
      if ([...this.groups.values()].some((g) => g.name.toLowerCase() === name.toLowerCase())) return errors(409, 'A group with this name already exists');
      const group = this.addGroup(name);
      return { status: 201, body: { id: group.id, name: group.name } };
    });
    s.route('DELETE', '/admin/v2/orgs/:orgId/directories/:directoryId/groups/:groupId', (r) => {
      if (!inDirectory(r.params) || !this.groups.delete(r.params.groupId!)) return errors(404, 'Group not found');
      return { status: 204 };
    });
    s.route('POST', '/admin/v2/orgs/:orgId/directories/:directoryId/groups/:groupId/memberships', (r) => {
      const group = inDirectory(r.params) ? this.groups.get(r.params.groupId!) : undefined;
      if (!group) return errors(404, 'Group not found');
      const accountId = (r.body as { accountId?: unknown } | null)?.accountId;
      if (typeof accountId !== 'string' || !this.account(accountId)) return errors(404, 'User not found');
      if (group.members.has(accountId)) return errors(409, 'Already a member');
      group.members.add(accountId);
      return { status: 204 };
    });
    s.route('DELETE', '/admin/v2/orgs/:orgId/directories/:directoryId/groups/:groupId/memberships/:accountId', (r) => {
      const group = inDirectory(r.params) ? this.groups.get(r.params.groupId!) : undefined;
      if (!group || !group.members.delete(r.params.accountId!)) return errors(404, 'Membership not found');
      return { status: 204 };
    });
  }
}
