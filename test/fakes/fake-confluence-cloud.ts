import { randomUUID } from 'node:crypto';
import { FakeServer, FakeService, basicAuth, fakeId, intParam, type FakeResponse } from './fake-server';

/**
 * A stateful fake of Confluence Cloud REST v1 groups and users (site admin email + API token):
 * groups and members at most 200 a page (400 above, as documented), `{results, start, limit, size, _links}`
 * pages, removal of a non-member answering 204. The user search (`GET /search/user`) behaves as the real one:
 * it reaches only the first 10,000 matches (CONFCLOUD-77954: nothing comes back past 10K) and, unless
 * `sitePermissionTypeFilter=all` (or `externalCollaborator`), returns licensed users only, no guests.
 * Groups are found by name through `GET /group/picker`; the deprecated `GET /group/by-name` is not served.
 */

export interface FakeConfluenceUser {
  accountId: string;
  email: string;
  displayName: string;
  accountType: 'atlassian' | 'app';
  /** Guests (external collaborators) are left out of the user search unless asked for. */
  guest: boolean;
}

export interface FakeConfluenceGroup {
  id: string;
  name: string;
  members: Set<string>;
}

const error = (status: number, message: string): FakeResponse => ({ status, body: { statusCode: status, message } });

export class FakeConfluenceCloud extends FakeService {
  readonly server: FakeServer;
  readonly users = new Map<string, FakeConfluenceUser>();
  readonly groups = new Map<string, FakeConfluenceGroup>();
  private readonly principals = new Map<string, string>();
  /** Matches the user search can reach, whatever start says. */
  searchWindow = 10_000;

  constructor(options: { credentials?: Record<string, string> } = {}) {
    super();
    const credentials = options.credentials ?? { 'admin@example.com': 'confluence-token' };
    this.server = new FakeServer(basicAuth(credentials), () => error(401, 'Unauthorized'));
    for (const email of Object.keys(credentials)) this.principals.set(email, this.addUser({ email, displayName: 'Site Admin' }).accountId);
    this.routes();
  }

  addUser(input: { email: string; displayName?: string; accountType?: FakeConfluenceUser['accountType']; guest?: boolean; accountId?: string }): FakeConfluenceUser {
    const user: FakeConfluenceUser = {
      accountId: input.accountId ?? `5b10ac8d${fakeId('')}`,
      email: input.email,
      displayName: input.displayName ?? input.email,
      accountType: input.accountType ?? 'atlassian',
      guest: input.guest ?? false,
    };
    this.users.set(user.accountId, user);
    return user;
  }

  addGroup(name: string, members: string[] = []): FakeConfluenceGroup {
    const group: FakeConfluenceGroup = { id: randomUUID(), name, members: new Set(members) };
    this.groups.set(group.id, group);
    return group;
  }

  groupByName(name: string): FakeConfluenceGroup | undefined {
    return [...this.groups.values()].find((g) => g.name.toLowerCase() === name.toLowerCase());
  }

  private routes(): void {
    const s = this.server;
    const base = '/wiki/rest/api';
    const userJson = (u: FakeConfluenceUser) => ({ type: 'known', accountId: u.accountId, accountType: u.accountType, email: u.email, publicName: u.displayName, displayName: u.displayName });
    const groupJson = (g: FakeConfluenceGroup) => ({ type: 'group', name: g.name, id: g.id });
    /** start/limit paging; limit above 200 is a 400, as documented. */
    const paged = <T>(query: URLSearchParams, items: T[], path: string): FakeResponse => {
      const raw = Number(query.get('limit') ?? 200);
      if (raw > 200) return error(400, 'limit must be at most 200');
      const start = intParam(query, 'start', 0, 0, Number.MAX_SAFE_INTEGER);
      const limit = intParam(query, 'limit', 200, 1, 200);
      const results = items.slice(start, start + limit);
      const more = start + results.length < items.length;
      return { status: 200, body: { results, start, limit, size: results.length, _links: { base: this.baseUrl, ...(more ? { next: `${path}?start=${start + limit}&limit=${limit}` } : {}) } } };
    };

    s.route('GET', `${base}/user/current`, (r) => ({ status: 200, body: userJson(this.users.get(this.principals.get(r.principal)!)!) }));
    s.route('GET', `${base}/user`, (r) => {
      const user = this.users.get(r.query.get('accountId') ?? '');
      return user ? { status: 200, body: userJson(user) } : error(404, 'No user found');
    });
    s.route('GET', `${base}/search/user`, (r) => {
      if (r.query.get('cql') !== 'type=user') return error(400, 'cql is required');
      const filter = r.query.get('sitePermissionTypeFilter') ?? 'none';
      if (!['none', 'externalCollaborator', 'all'].includes(filter)) return error(400, `Invalid sitePermissionTypeFilter: ${filter}`);
      const matches = [...this.users.values()].filter((u) => (filter === 'all' ? true : filter === 'externalCollaborator' ? u.guest : !u.guest));
      const start = Number(r.query.get('start') ?? 0);
      // Past the window the search answers an empty page with no next link, as the real one does.
      if (start >= this.searchWindow) return { status: 200, body: { results: [], start, limit: Number(r.query.get('limit') ?? 25), size: 0, totalSize: this.searchWindow, _links: { base: this.baseUrl } } };
      const reachable = matches.slice(0, this.searchWindow).map((u) => ({ user: userJson(u), entityType: 'user' }));
      const response = paged(r.query, reachable, `${base}/search/user`);
      (response.body as Record<string, unknown>).totalSize = Math.min(matches.length, this.searchWindow);
      return response;
    });
    s.route('GET', `${base}/user/memberof`, (r) => {
      const accountId = r.query.get('accountId') ?? '';
      if (!this.users.has(accountId)) return error(404, 'No user found');
      return paged(r.query, [...this.groups.values()].filter((g) => g.members.has(accountId)).map(groupJson), `${base}/user/memberof`);
    });
    s.route('GET', `${base}/group`, (r) => paged(r.query, [...this.groups.values()].map(groupJson), `${base}/group`));
    s.route('GET', `${base}/group/picker`, (r) => {
      const query = (r.query.get('query') ?? '').toLowerCase();
      if (!query) return error(400, 'query is required');
      return paged(r.query, [...this.groups.values()].filter((g) => g.name.toLowerCase().includes(query)).map(groupJson), `${base}/group/picker`);
    });
    s.route('GET', `${base}/group/by-id`, (r) => {
      const group = this.groups.get(r.query.get('id') ?? '');
      return group ? { status: 200, body: groupJson(group) } : error(404, 'Group not found');
    });
    s.route('POST', `${base}/group`, (r) => {
      const name = (r.body as { name?: unknown } | null)?.name;
      if (typeof name !== 'string' || !name) return error(400, 'name is required');
      if (this.groupByName(name)) return error(400, `A group with name ${name} already exists`);
      return { status: 201, body: groupJson(this.addGroup(name)) };
    });
    s.route('DELETE', `${base}/group/by-id`, (r) => (this.groups.delete(r.query.get('id') ?? '') ? { status: 204 } : error(404, 'Group not found')));
    s.route('GET', `${base}/group/:groupId/membersByGroupId`, (r) => {
      const group = this.groups.get(r.params.groupId!);
      if (!group) return error(404, 'Group not found');
      return paged(r.query, [...group.members].map((id) => userJson(this.users.get(id)!)), `${base}/group/${group.id}/membersByGroupId`);
    });
    s.route('POST', `${base}/group/userByGroupId`, (r) => {
      const group = this.groups.get(r.query.get('groupId') ?? '');
      if (!group) return error(404, 'Group not found');
      const accountId = (r.body as { accountId?: unknown } | null)?.accountId;
      if (typeof accountId !== 'string' || !this.users.has(accountId)) return error(404, 'User not found');
      group.members.add(accountId);
      return { status: 201 };
    });
    s.route('DELETE', `${base}/group/userByGroupId`, (r) => {
      const group = this.groups.get(r.query.get('groupId') ?? '');
      if (!group) return error(404, 'Group not found');
      group.members.delete(r.query.get('accountId') ?? '');
      return { status: 204 };
    });
  }
}
