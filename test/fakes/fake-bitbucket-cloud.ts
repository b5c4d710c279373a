import { FakeServer, FakeService, basicAuth, fakeId, intParam, type FakeResponse } from './fake-server';

/**
 * A stateful fake of Bitbucket Cloud for one or more workspaces: 2.0 user, workspace and members
 * (read-only, `{values, page, pagelen, next}` with pagelen at most 100) and the 1.0 groups API
 * (groups with members inline, form-encoded create, PUT/DELETE membership; 409 when already a member).
 */

export interface FakeBitbucketUser {
  accountId: string;
  uuid: string;
  displayName: string;
  nickname: string;
}

export interface FakeBitbucketGroup {
  name: string;
  slug: string;
  members: Set<string>;
}

const error = (status: number, message: string): FakeResponse => ({ status, body: { type: 'error', error: { message } } });

export function slugify(name: string): string {
  return name.trim().toLowerCase().replace(/\s+/g, '-').replace(/[^a-z0-9_-]/g, '');
}

export class FakeBitbucketCloud extends FakeService {
  readonly server: FakeServer;
  readonly members = new Map<string, FakeBitbucketUser>();
  readonly groups = new Map<string, FakeBitbucketGroup>();
  private readonly admin: FakeBitbucketUser;

  constructor(readonly workspace = 'acme', credentials: Record<string, string> = { 'admin@example.com': 'bb-token' }) {
    super();
    this.server = new FakeServer(basicAuth(credentials), () => error(401, 'Unauthorized'));
    this.admin = this.addMember('Workspace Admin');
    this.routes();
  }

  /** A workspace member; `accountId` is the Atlassian account's (the same id as on the user's Jira site). */
  addMember(displayName: string, accountId?: string): FakeBitbucketUser {
    const id = fakeId('');
    const user: FakeBitbucketUser = { accountId: accountId ?? `557057:${id}`, uuid: `{${id}}`, displayName, nickname: slugify(displayName) };
    this.members.set(user.accountId, user);
    return user;
  }

  addGroup(name: string, members: string[] = []): FakeBitbucketGroup {
    const group: FakeBitbucketGroup = { name, slug: slugify(name), members: new Set(members) };
    this.groups.set(group.slug, group);
    return group;
  }

  private routes(): void {
    const s = this.server;
    const userJson = (u: FakeBitbucketUser) => ({ type: 'user', account_id: u.accountId, uuid: u.uuid, display_name: u.displayName, nickname: u.nickname });
    const groupJson = (g: FakeBitbucketGroup) => ({
      name: g.name,
      slug: g.slug,
      permission: 'read',
      auto_add: false,
      email_forwarding_disabled: false,
      members: [...g.members].map((id) => userJson(this.members.get(id)!)),
      owner: { type: 'team', username: this.workspace },
    });
    const ws = (workspace: string | undefined) => workspace === this.workspace;

    s.route('GET', '/2.0/user', () => ({ status: 200, body: userJson(this.admin) }));
    s.route('GET', '/2.0/workspaces/:workspace', (r) => (ws(r.params.workspace) ? { status: 200, body: { type: 'workspace', slug: this.workspace, name: 'Acme' } } : error(404, 'No workspace')));
    s.route('GET', '/2.0/workspaces/:workspace/members', (r) => {
      if (!ws(r.params.workspace)) return error(404, 'No workspace');
      const page = intParam(r.query, 'page', 1, 1, Number.MAX_SAFE_INTEGER);
      const pagelen = intParam(r.query, 'pagelen', 10, 1, 100);
      const all = [...this.members.values()];
      const values = all.slice((page - 1) * pagelen, page * pagelen).map((u) => ({ type: 'workspace_membership', user: userJson(u), workspace: { slug: this.workspace } }));
      const more = page * pagelen < all.length;
      return { status: 200, body: { pagelen, page, size: all.length, values, ...(more ? { next: `${this.baseUrl}/2.0/workspaces/${this.workspace}/members?page=${page + 1}&pagelen=${pagelen}` } : {}) } };
    });
    s.route('GET', '/2.0/workspaces/:workspace/members/:member', (r) => {
      const user = ws(r.params.workspace) ? this.members.get(r.params.member!) : undefined;
      return user ? { status: 200, body: { type: 'workspace_membership', user: userJson(user) } } : error(404, 'Not a member');
    });
    s.route('GET', '/1.0/groups/:workspace', (r) => (ws(r.params.workspace) ? { status: 200, body: [...this.groups.values()].map(groupJson) } : error(404, 'No workspace')));
    s.route('POST', '/1.0/groups/:workspace', (r) => {
      if (!ws(r.params.workspace)) return error(404, 'No workspace');
      const name = (r.body as { name?: unknown } | null)?.name;
      if (typeof name !== 'string' || !name.trim()) return error(400, 'name is required');
      if (this.groups.has(slugify(name))) return error(400, 'A group with this name already exists');
      return { status: 200, body: groupJson(this.addGroup(name)) };
    });
    s.route('DELETE', '/1.0/groups/:workspace/:group', (r) => (ws(r.params.workspace) && this.groups.delete(r.params.group!) ? { status: 204 } : error(404, 'Group not found')));
    s.route('GET', '/1.0/groups/:workspace/:group/members', (r) => {
      const group = ws(r.params.workspace) ? this.groups.get(r.params.group!) : undefined;
      return group ? { status: 200, body: [...group.members].map((id) => userJson(this.members.get(id)!)) } : error(404, 'Group not found');
    });
    s.route('PUT', '/1.0/groups/:workspace/:group/members/:member', (r) => {
      const group = ws(r.params.workspace) ? this.groups.get(r.params.group!) : undefined;
      if (!group) return error(404, 'Group not found');
      const user = this.members.get(r.params.member!);
      if (!user) return error(404, 'User is not a member of the workspace');
      if (group.members.has(user.accountId)) return error(409, 'User is already a member of the group');
      group.members.add(user.accountId);
      return { status: 200, body: userJson(user) };
    });
    s.route('DELETE', '/1.0/groups/:workspace/:group/members/:member', (r) => {
      const group = ws(r.params.workspace) ? this.groups.get(r.params.group!) : undefined;
      if (!group || !group.members.delete(r.params.member!)) return error(404, 'Not found');
      return { status: 204 };
    });
  }
}
