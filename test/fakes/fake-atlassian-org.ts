import { randomUUID } from 'node:crypto';
import { FakeServer, bearerAuth, fakeId, type FakeResponse } from './fake-server';

/**
 * A stateful fake of the Atlassian organization APIs (api.atlassian.com) with an org admin API key:
 * managed-account lifecycle (disable/enable) and profile, the org's users (v1, cursor paging) and
 * the org directory's groups and memberships (v2, cursor paging `{data, links: {next}}`).
 */

export interface FakeOrgUser {
  accountId: string;
  email: string;
  name: string;
  status: 'active' | 'inactive';
}

export interface FakeOrgGroup {
  id: string;
  name: string;
  members: Set<string>;
}

const PAGE = 100;
const errors = (status: number, title: string): FakeResponse => ({ status, body: { errors: [{ status: String(status), title }] } });

export class FakeAtlassianOrg {
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
    this.orgId = options.orgId ?? 'org-1';
    this.server = new FakeServer(bearerAuth(options.apiKeys ?? { 'org-api-key': 'org-admin' }), () => errors(401, 'Unauthorized'));
    this.routes();
  }

  get baseUrl(): string {
    return this.server.baseUrl;
  }

  start(): Promise<string> {
    return this.server.start();
  }

  stop(): Promise<void> {
    return this.server.stop();
  }

  addUser(input: { email: string; name?: string; accountId?: string; status?: FakeOrgUser['status'] }): FakeOrgUser {
    const user: FakeOrgUser = { accountId: input.accountId ?? `712020:${fakeId('')}`, email: input.email, name: input.name ?? input.email, status: input.status ?? 'active' };
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

  private cursorPage<T>(items: T[], cursor: string | null): { data: T[]; links: { next?: string } } {
    const start = cursor ? Number(Buffer.from(cursor, 'base64url').toString('utf8')) : 0;
    const data = items.slice(start, start + PAGE);
    const next = start + PAGE < items.length ? Buffer.from(String(start + PAGE)).toString('base64url') : undefined;
    return { data, links: next ? { next } : {} };
  }

  private routes(): void {
    const s = this.server;
    const org = (orgId: string | undefined) => orgId === this.orgId;
    const account = (user: FakeOrgUser) => ({ account_id: user.accountId, account_type: 'atlassian', account_status: user.status, name: user.name, email: user.email });

    s.route('GET', '/admin/v1/orgs/:orgId', (r) => (org(r.params.orgId) ? { status: 200, body: { data: { id: this.orgId, type: 'orgs', attributes: { name: 'Acme' } } } } : errors(404, 'Org not found')));
    s.route('GET', '/admin/v1/orgs/:orgId/users', (r) => {
      if (!org(r.params.orgId)) return errors(404, 'Org not found');
      return { status: 200, body: this.cursorPage([...this.users.values()].map(account), r.query.get('cursor')) };
    });
    s.route('GET', '/users/:accountId/manage/profile', (r) => {
      const user = this.account(r.params.accountId!);
      return user ? { status: 200, body: { account: account(user) } } : errors(404, 'Not found');
    });
    s.route('PATCH', '/users/:accountId/manage/profile', (r) => {
      const user = this.account(r.params.accountId!);
      if (!user) return errors(404, 'Not found');
      const body = (r.body ?? {}) as { name?: unknown; email?: unknown };
      if (typeof body.name === 'string') user.name = body.name;
      if (typeof body.email === 'string') user.email = body.email;
      this.onAccountChanged?.(user);
      return { status: 200, body: { account: account(user) } };
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
    s.route('GET', '/admin/v2/orgs/:orgId/directories/:directoryId/groups', (r) => {
      if (!inDirectory(r.params)) return errors(404, 'Directory not found');
      return { status: 200, body: this.cursorPage([...this.groups.values()].map((g) => ({ id: g.id, name: g.name })), r.query.get('cursor')) };
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
    s.route('GET', '/admin/v2/orgs/:orgId/directories/:directoryId/groups/:groupId/memberships', (r) => {
      const group = inDirectory(r.params) ? this.groups.get(r.params.groupId!) : undefined;
      if (!group) return errors(404, 'Group not found');
      return { status: 200, body: this.cursorPage([...group.members].map((accountId) => ({ accountId })), r.query.get('cursor')) };
    });
    s.route('POST', '/admin/v2/orgs/:orgId/directories/:directoryId/groups/:groupId/memberships', (r) => {
      const group = inDirectory(r.params) ? this.groups.get(r.params.groupId!) : undefined;
      if (!group) return errors(404, 'Group not found');
      const accountId = (r.body as { accountId?: unknown } | null)?.accountId;
      if (typeof accountId !== 'string' || !this.users.has(accountId)) return errors(404, 'User not found');
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
