import { FakeServer, FakeService, anyAuth, basicAuth, bearerAuth, intParam, type FakeRequest, type FakeResponse } from './fake-server';

/**
 * A stateful fake of Confluence Data Center's REST API (`/rest/api`, the user-management endpoints of 8.4
 * and later) as Atlassian's Confluence DC REST reference documents them:
 * - auth: a personal access token (`Authorization: Bearer`) or HTTP Basic username:password;
 * - `GET /user/list` (all registered users, disabled ones included; `expand=status`), `GET /group`,
 *   `GET /group/{groupName}/member`, `GET /user/memberof`: start/limit pages `{results, start, limit, size,
 *   _links: {next}}`, the limit clamped to a fixed system maximum (200 here);
 * - `POST /admin/user`, `PUT /admin/user/{username}`, `PUT …/disable` and `…/enable` (idempotent),
 *   `DELETE /admin/user/{username}`; `POST /admin/group`, `DELETE /admin/group/{groupName}`;
 *   `PUT` / `DELETE /user/{username}/group/{groupName}` (both idempotent by documentation);
 * - errors as `{statusCode, message}`; fault injection and 429 + Retry-After from FakeServer.
 * Usable outside jest: `start()` / `stop()`.
 */

export interface FakeConfluenceDcUser {
  username: string;
  userKey: string;
  displayName: string;
  email: string;
  enabled: boolean;
}

export interface FakeConfluenceDcOptions {
  /** PAT → username. */
  tokens?: Record<string, string>;
  /** username → password for HTTP Basic. */
  passwords?: Record<string, string>;
  /** Usernames in confluence-administrators. Default: every credential's user. */
  admins?: string[];
}

export const CONFLUENCE_DC_MAX_LIMIT = 200;

const error = (status: number, message: string): FakeResponse => ({ status, body: { statusCode: status, message, data: { authorized: status !== 401, valid: true, errors: [], successful: false } } });

export class FakeConfluenceDc extends FakeService {
  readonly server: FakeServer;
  readonly users = new Map<string, FakeConfluenceDcUser>();
  readonly groups = new Map<string, Set<string>>();

  constructor(options: FakeConfluenceDcOptions = {}) {
    super();
    const tokens = options.tokens ?? { 'confluence-dc-pat': 'admin' };
    const passwords = options.passwords ?? { admin: 'admin-password' };
    const admins = options.admins ?? [...Object.values(tokens), ...Object.keys(passwords)];
    this.server = new FakeServer(anyAuth(bearerAuth(tokens), basicAuth(passwords)), () => error(401, 'Basic or bearer authentication required'));
    for (const name of new Set([...Object.values(tokens), ...Object.keys(passwords)])) this.addUser(name);
    this.groups.set('confluence-users', new Set(this.users.keys()));
    this.groups.set('confluence-administrators', new Set(admins));
    this.routes();
  }

  addUser(username: string, input: { email?: string; displayName?: string; enabled?: boolean } = {}): FakeConfluenceDcUser {
    const user: FakeConfluenceDcUser = {
      username,
      userKey: `8a7f808a${String(this.users.size).padStart(24, '0')}`,
      displayName: input.displayName ?? username,
      email: input.email ?? `${username}@example.com`,
      enabled: input.enabled ?? true,
    };
    this.users.set(username, user);
    return user;
  }

  addGroup(name: string, members: string[] = []): Set<string> {
    const group = new Set(members);
    this.groups.set(name, group);
    return group;
  }

  userByEmail(email: string): FakeConfluenceDcUser | undefined {
    return [...this.users.values()].find((u) => u.email.toLowerCase() === email.toLowerCase());
  }

  private isAdmin(request: FakeRequest): boolean {
    return this.groups.get('confluence-administrators')?.has(request.principal) ?? false;
  }

  private userJson(u: FakeConfluenceDcUser, expand: string[] = []) {
    return {
      type: 'known',
      username: u.username,
      userKey: u.userKey,
      displayName: u.displayName,
      email: u.email,
      profilePicture: { path: '/images/icons/profilepics/default.svg', width: 48, height: 48, isDefault: true },
      // `status` is an expansion; the adapter asks for it where it needs enabled/disabled.
      ...(expand.includes('status') ? { status: u.enabled ? 'current' : 'deactivated' } : { _expandable: { status: '' } }),
      _links: { self: `${this.baseUrl}/rest/api/user?key=${u.userKey}` },
    };
  }

  private paged<T>(request: FakeRequest, items: T[]): FakeResponse {
    const start = intParam(request.query, 'start', 0, 0, Number.MAX_SAFE_INTEGER);
    const limit = intParam(request.query, 'limit', 25, 1, CONFLUENCE_DC_MAX_LIMIT);
    const results = items.slice(start, start + limit);
    const more = start + results.length < items.length;
    const query = new URLSearchParams(request.query);
    query.set('start', String(start + limit));
    query.set('limit', String(limit));
    return {
      status: 200,
      body: {
        results,
        start,
        limit,
        size: results.length,
        _links: { base: this.baseUrl, context: '', self: `${this.baseUrl}${request.path}`, ...(more ? { next: `${request.path}?${query.toString()}` } : {}) },
      },
    };
  }

  private routes(): void {
    const s = this.server;
    const base = '/rest/api';
    const expandOf = (r: FakeRequest) => (r.query.get('expand') ?? '').split(',');
    const admin = (r: FakeRequest): FakeResponse | null => (this.isAdmin(r) ? null : error(403, 'The calling user does not have permission to perform this action.'));

    s.route('GET', `${base}/user/current`, (r) => ({ status: 200, body: this.userJson(this.users.get(r.principal)!, expandOf(r)) }));
    s.route('GET', `${base}/user`, (r) => {
      const key = r.query.get('key');
      const user = key ? [...this.users.values()].find((u) => u.userKey === key) : this.users.get(r.query.get('username') ?? '');
      return user ? { status: 200, body: this.userJson(user, expandOf(r)) } : error(404, 'No user found with the given username or userkey.');
    });
    s.route('GET', `${base}/user/list`, (r) => this.paged(r, [...this.users.values()].map((u) => this.userJson(u, expandOf(r)))));
    s.route('GET', `${base}/user/memberof`, (r) => {
      const username = r.query.get('username') ?? '';
      if (!this.users.has(username)) return error(404, 'No user found with the given username.');
      const groups = [...this.groups.entries()].filter(([, members]) => members.has(username)).map(([name]) => ({ type: 'group', name }));
      return this.paged(r, groups);
    });
    s.route('GET', `${base}/group`, (r) => this.paged(r, [...this.groups.keys()].map((name) => ({ type: 'group', name }))));
    s.route('GET', `${base}/group/:groupName`, (r) =>
      this.groups.has(r.params.groupName!) ? { status: 200, body: { type: 'group', name: r.params.groupName } } : error(404, `Group ${r.params.groupName} does not exist.`),
    );
    s.route('GET', `${base}/group/:groupName/member`, (r) => {
      const members = this.groups.get(r.params.groupName!);
      if (!members) return error(404, `Group ${r.params.groupName} does not exist.`);
      return this.paged(r, [...members].map((name) => this.userJson(this.users.get(name)!, expandOf(r))));
    });

    s.route('POST', `${base}/admin/user`, (r) => {
      const denied = admin(r);
      if (denied) return denied;
      const body = (r.body ?? {}) as { userName?: unknown; fullName?: unknown; email?: unknown; password?: unknown; notifyViaEmail?: unknown };
      if (typeof body.userName !== 'string' || !body.userName || typeof body.fullName !== 'string' || typeof body.email !== 'string' || !body.email.includes('@')) {
        return error(400, 'userName, fullName and a valid email are required.');
      }
      if (!body.password && body.notifyViaEmail !== true) return error(400, 'A password is required unless notifyViaEmail is true.');
      if (this.users.has(body.userName)) return error(400, `A user with the same userName ${body.userName} already exists`);
      const user = this.addUser(body.userName, { email: body.email, displayName: body.fullName });
      this.groups.get('confluence-users')?.add(user.username);
      return { status: 200, body: this.userJson(user) };
    });
    s.route('PUT', `${base}/admin/user/:username`, (r) => {
      const denied = admin(r);
      if (denied) return denied;
      const user = this.users.get(r.params.username!);
      if (!user) return error(404, 'No user found with the given username.');
      const body = (r.body ?? {}) as { fullName?: unknown; email?: unknown };
      if (body.email !== undefined && (typeof body.email !== 'string' || !body.email.includes('@'))) return error(400, 'The email is not valid.');
      if (typeof body.fullName === 'string') user.displayName = body.fullName;
      if (typeof body.email === 'string') user.email = body.email;
      return { status: 200, body: this.userJson(user) };
    });
    for (const [action, enabled] of [['disable', false], ['enable', true]] as const) {
      s.route('PUT', `${base}/admin/user/:username/${action}`, (r) => {
        const denied = admin(r);
        if (denied) return denied;
        const user = this.users.get(r.params.username!);
        if (!user) return error(404, 'No user found with the given username.');
        user.enabled = enabled;
        return { status: 204 };
      });
    }
    s.route('DELETE', `${base}/admin/user/:username`, (r) => {
      const denied = admin(r);
      if (denied) return denied;
      const name = r.params.username!;
      if (!this.users.delete(name)) return error(404, 'No user found with the given username.');
      for (const members of this.groups.values()) members.delete(name);
      // Deletion is a long-running task on real servers; the fake finishes it at once.
      return { status: 202, body: { id: `task-${name}`, links: { status: `${this.baseUrl}${base}/longtask/task-${name}` } } };
    });

    s.route('POST', `${base}/admin/group`, (r) => {
      const denied = admin(r);
      if (denied) return denied;
      const name = (r.body as { name?: unknown } | null)?.name;
      if (typeof name !== 'string' || !name) return error(400, 'The group name is required.');
      if (this.groups.has(name)) return error(400, `Group ${name} already exists.`);
      this.groups.set(name, new Set());
      return { status: 200, body: { type: 'group', name } };
    });
    s.route('DELETE', `${base}/admin/group/:groupName`, (r) => {
      const denied = admin(r);
      if (denied) return denied;
      return this.groups.delete(r.params.groupName!) ? { status: 204 } : error(404, `Group ${r.params.groupName} does not exist.`);
    });
    s.route('PUT', `${base}/user/:username/group/:groupName`, (r) => {
      const denied = admin(r);
      if (denied) return denied;
      const members = this.groups.get(r.params.groupName!);
      if (!members) return error(404, `Group ${r.params.groupName} does not exist.`);
      if (!this.users.has(r.params.username!)) return error(404, 'No user found with the given username.');
      members.add(r.params.username!);
      return { status: 204 };
    });
    s.route('DELETE', `${base}/user/:username/group/:groupName`, (r) => {
      const denied = admin(r);
      if (denied) return denied;
      const members = this.groups.get(r.params.groupName!);
      if (!members) return error(404, `Group ${r.params.groupName} does not exist.`);
      if (!this.users.has(r.params.username!)) return error(404, 'No user found with the given username.');
      members.delete(r.params.username!);
      return { status: 204 };
    });
  }
}
