import { FakeServer, FakeService, bearerAuth, intParam, type FakeResponse } from './fake-server';

/**
 * A stateful fake of Bitbucket Data Center's admin REST API (`/rest/api/1.0`, personal access token):
 * users and groups by name, pages `{size, limit, isLastPage, start, nextPageStart, values}` (limit at
 * most 1000), user creation through query parameters, add-users / remove-group memberships.
 */

export interface FakeBitbucketDcUser {
  name: string;
  emailAddress: string;
  displayName: string;
  active: boolean;
}

const error = (status: number, message: string): FakeResponse => ({ status, body: { errors: [{ context: null, message, exceptionName: null }] } });

export class FakeBitbucketDc extends FakeService {
  readonly server: FakeServer;
  readonly users = new Map<string, FakeBitbucketDcUser>();
  readonly groups = new Map<string, Set<string>>();

  constructor(tokens: Record<string, string> = { 'bbdc-pat': 'admin' }) {
    super();
    this.server = new FakeServer(bearerAuth(tokens), () => error(401, 'Authentication failed. Please check your credentials and try again.'));
    this.groups.set('stash-users', new Set());
    this.routes();
  }

  addUser(name: string, emailAddress = `${name}@example.com`): FakeBitbucketDcUser {
    const user: FakeBitbucketDcUser = { name, emailAddress, displayName: name, active: true };
    this.users.set(name, user);
    return user;
  }

  private routes(): void {
    const s = this.server;
    const base = '/rest/api/1.0';
    const userJson = (u: FakeBitbucketDcUser) => ({ name: u.name, emailAddress: u.emailAddress, id: 1, displayName: u.displayName, active: u.active, slug: u.name.toLowerCase(), type: 'NORMAL' });
    const paged = <T>(query: URLSearchParams, items: T[]): FakeResponse => {
      const start = intParam(query, 'start', 0, 0, Number.MAX_SAFE_INTEGER);
      const limit = intParam(query, 'limit', 25, 1, 1000);
      const values = items.slice(start, start + limit);
      const isLastPage = start + values.length >= items.length;
      return { status: 200, body: { size: values.length, limit, isLastPage, start, values, ...(isLastPage ? {} : { nextPageStart: start + values.length }) } };
    };
    const filtered = (filter: string | null) =>
      [...this.users.values()].filter((u) => !filter || [u.name, u.emailAddress, u.displayName].some((v) => v.toLowerCase().includes(filter.toLowerCase())));

    s.route('GET', `${base}/application-properties`, () => ({ status: 200, body: { version: '8.19.0', buildNumber: '8019000', displayName: 'Bitbucket' } }));
    s.route('GET', `${base}/admin/users`, (r) => paged(r.query, filtered(r.query.get('filter')).map(userJson)));
    s.route('POST', `${base}/admin/users`, (r) => {
      const name = r.query.get('name');
      const email = r.query.get('emailAddress');
      if (!name || !email || !r.query.get('displayName')) return error(400, 'name, displayName and emailAddress are required');
      if (!r.query.get('password') && r.query.get('notify') !== 'true') return error(400, 'A password is required unless notify is true');
      if (this.users.has(name)) return error(409, `A user with the name ${name} already exists`);
      const user = this.addUser(name, email);
      user.displayName = r.query.get('displayName')!;
      if (r.query.get('addToDefaultGroup') !== 'false') this.groups.get('stash-users')!.add(name);
      return { status: 204 };
    });
    s.route('PUT', `${base}/admin/users`, (r) => {
      const body = (r.body ?? {}) as { name?: string; displayName?: string; email?: string };
      const user = this.users.get(body.name ?? '');
      if (!user) return error(404, 'No such user');
      if (body.displayName) user.displayName = body.displayName;
      if (body.email) user.emailAddress = body.email;
      return { status: 200, body: userJson(user) };
    });
    s.route('DELETE', `${base}/admin/users`, (r) => {
      const name = r.query.get('name') ?? '';
      const user = this.users.get(name);
      if (!user) return error(404, 'No such user');
      this.users.delete(name);
      for (const members of this.groups.values()) members.delete(name);
      return { status: 200, body: userJson(user) };
    });
    s.route('GET', `${base}/admin/groups`, (r) => paged(r.query, [...this.groups.keys()].map((name) => ({ name, deletable: true }))));
    s.route('POST', `${base}/admin/groups`, (r) => {
      const name = r.query.get('name');
      if (!name) return error(400, 'name is required');
      if (this.groups.has(name)) return error(409, `A group named ${name} already exists`);
      this.groups.set(name, new Set());
      return { status: 200, body: { name, deletable: true } };
    });
    s.route('DELETE', `${base}/admin/groups`, (r) => {
      const name = r.query.get('name') ?? '';
      return this.groups.delete(name) ? { status: 200, body: { name, deletable: true } } : error(404, 'No such group');
    });
    s.route('GET', `${base}/admin/groups/more-members`, (r) => {
      const members = this.groups.get(r.query.get('context') ?? '');
      if (!members) return error(404, 'No such group');
      return paged(r.query, [...members].map((name) => userJson(this.users.get(name)!)));
    });
    s.route('GET', `${base}/admin/users/more-members`, (r) => {
      const name = r.query.get('context') ?? '';
      if (!this.users.has(name)) return error(404, 'No such user');
      return paged(r.query, [...this.groups.entries()].filter(([, members]) => members.has(name)).map(([group]) => ({ name: group, deletable: true })));
    });
    s.route('POST', `${base}/admin/groups/add-users`, (r) => {
      const body = (r.body ?? {}) as { group?: string; users?: string[] };
      const members = this.groups.get(body.group ?? '');
      if (!members) return error(404, 'No such group');
      if (!Array.isArray(body.users) || body.users.some((u) => !this.users.has(u))) return error(404, 'No such user');
      for (const user of body.users) members.add(user);
      return { status: 204 };
    });
    s.route('POST', `${base}/admin/users/remove-group`, (r) => {
      const body = (r.body ?? {}) as { context?: string; itemName?: string };
      if (!this.users.has(body.context ?? '')) return error(404, 'No such user');
      const members = this.groups.get(body.itemName ?? '');
      if (!members) return error(404, 'No such group');
      members.delete(body.context!);
      return { status: 204 };
    });
  }
}
