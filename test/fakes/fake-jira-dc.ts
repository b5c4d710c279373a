import { FakeServer, FakeService, anyAuth, basicAuth, bearerAuth, intParam, page, type FakeRequest, type FakeResponse } from './fake-server';

/**
 * A stateful fake of Jira Data Center's REST API v2 for users, groups, memberships and leads, as Atlassian's
 * Jira DC REST reference documents it:
 * - auth: a personal access token (`Authorization: Bearer`) or HTTP Basic username:password;
 * - `GET /user/search`: "The maximum allowed value is 100 (the combination of maxResults and startAt is
 *   limited to the first 100 results)" since Jira 10 (JRASERVER-78660); 1000 before (`userSearchCap`);
 * - `GET /user/list`: cursor paging `{self, maxResults, isLast, values, nextCursor, nextPage}`, default 2000,
 *   available since Jira DC 10.3 LTS and 11.0 (`userListEndpoint: false` is an older release: 404);
 * - `GET /groups/picker`: substring match, sorted, `exclude` honoured, at most `jira.ajax.autocomplete.limit`
 *   groups (default 20) plus the `total` match count; a request line above 8 KB is refused (Tomcat's default);
 * - `GET /group/member`: startAt/maxResults (at most 50) with `isLast`;
 * - errors as `{errorMessages, errors}`; fault injection and 429 + Retry-After from FakeServer.
 * Users are keyed by username (`name`), groups by name. Usable outside jest: `start()` / `stop()`.
 */

export interface FakeJiraDcUser {
  name: string;
  key: string;
  emailAddress: string;
  displayName: string;
  active: boolean;
}

export interface FakeJiraDcOptions {
  /** PAT → username. */
  tokens?: Record<string, string>;
  /** username → password for HTTP Basic. */
  passwords?: Record<string, string>;
  /** Usernames with the ADMINISTER global permission. Default: every credential's user. */
  admins?: string[];
  /** Whether `GET /rest/api/2/user/list` exists (Jira DC 10.3 LTS and 11+). Default true. */
  userListEndpoint?: boolean;
  /** Results `GET /user/search` returns at most, across startAt (100 since Jira 10; 1000 in Jira 9). */
  userSearchCap?: number;
  /** `jira.ajax.autocomplete.limit`: groups the picker returns at most. */
  groupPickerLimit?: number;
}


const error = (status: number, ...messages: string[]): FakeResponse => ({ status, body: { errorMessages: messages, errors: {} } });

export class FakeJiraDc extends FakeService {
  readonly server: FakeServer;
  readonly users = new Map<string, FakeJiraDcUser>();
  readonly groups = new Map<string, Set<string>>();
  readonly projects = new Map<string, { key: string; name: string; lead: string | null }>();
  readonly components = new Map<string, { id: string; name: string; projectKey: string; lead: string | null }>();
  private readonly admins: Set<string>;
  userListEndpoint: boolean;
  userSearchCap: number;
  groupPickerLimit: number;
  /** Off only to test a client against a server that ignores `exclude`. */
  honourPickerExclude = true;

  constructor(options: FakeJiraDcOptions = {}) {
    super();
    const tokens = options.tokens ?? { 'jira-dc-pat': 'admin' };
    const passwords = options.passwords ?? { admin: 'admin-password' };
    this.admins = new Set(options.admins ?? [...Object.values(tokens), ...Object.keys(passwords)]);
    this.userListEndpoint = options.userListEndpoint ?? true;
    this.userSearchCap = options.userSearchCap ?? 100;
    this.groupPickerLimit = options.groupPickerLimit ?? 20;
    this.server = new FakeServer(anyAuth(bearerAuth(tokens), basicAuth(passwords)), () => error(401, 'You are not authenticated. Authentication required to perform this operation.'));
    for (const name of new Set([...Object.values(tokens), ...Object.keys(passwords)])) this.addUser(name);
    this.groups.set('jira-software-users', new Set());
    this.groups.set('jira-administrators', new Set([...this.admins]));
    this.routes();
  }

  addUser(name: string, input: { emailAddress?: string; displayName?: string; active?: boolean } = {}): FakeJiraDcUser {
    const user: FakeJiraDcUser = {
      name,
      key: `JIRAUSER${10000 + this.users.size}`,
      emailAddress: input.emailAddress ?? `${name}@example.com`,
      displayName: input.displayName ?? name,
      active: input.active ?? true,
    };
    this.users.set(name, user);
    return user;
  }

  addGroup(name: string, members: string[] = []): Set<string> {
    const group = new Set(members);
    this.groups.set(name, group);
    return group;
  }

  addProject(key: string, name: string, lead: string | null): void {
    this.projects.set(key, { key, name, lead });
  }

  addComponent(projectKey: string, name: string, lead: string | null): string {
    const id = String(10000 + this.components.size);
    this.components.set(id, { id, name, projectKey, lead });
    return id;
  }

  userByEmail(email: string): FakeJiraDcUser | undefined {
    return [...this.users.values()].find((u) => u.emailAddress.toLowerCase() === email.toLowerCase());
  }

  private userJson(u: FakeJiraDcUser) {
    return {
      self: `${this.baseUrl}/rest/api/2/user?username=${encodeURIComponent(u.name)}`,
      key: u.key,
      name: u.name,
      emailAddress: u.emailAddress,
      displayName: u.displayName,
      active: u.active,
      timeZone: 'UTC',
      locale: 'en_US',
    };
  }

  private user(name: string | null): FakeJiraDcUser | undefined {
    return name ? this.users.get(name) ?? [...this.users.values()].find((u) => u.name.toLowerCase() === name.toLowerCase()) : undefined;
  }

  private admin(request: FakeRequest): FakeResponse | null {
    return this.admins.has(request.principal) ? null : error(403, 'You do not have the permission to perform this operation. Jira administrators only.');
  }

  private groupOf(request: FakeRequest): { name: string; members: Set<string> } | FakeResponse {
    const name = request.query.get('groupname');
    if (!name) return error(400, 'Group name must be specified.');
    const members = this.groups.get(name);
    return members ? { name, members } : error(404, `Specified group does not exist or you do not have required permissions.`);
  }

  private routes(): void {
    const s = this.server;
    const base = '/rest/api/2';

    s.route('GET', `${base}/myself`, (r) => ({ status: 200, body: this.userJson(this.users.get(r.principal)!) }));
    s.route('GET', `${base}/mypermissions`, (r) => {
      const wanted = (r.query.get('permissions') ?? '').split(',').filter(Boolean);
      const permissions: Record<string, unknown> = {};
      for (const key of wanted.length > 0 ? wanted : ['ADMINISTER']) {
        permissions[key] = { key, name: key, type: 'GLOBAL', havePermission: key === 'ADMINISTER' ? this.admins.has(r.principal) : true };
      }
      return { status: 200, body: { permissions } };
    });

    s.route('GET', `${base}/user/list`, (r) => {
      if (!this.userListEndpoint) return error(404, 'null for uri: /rest/api/2/user/list');
      // The cursor is opaque to clients; here it is an offset. An unknown cursor is never a 404 (as documented).
      const cursor = Math.max(0, Number.parseInt(r.query.get('cursor') ?? '0', 10) || 0);
      const maxResults = intParam(r.query, 'maxResults', 2000, 1, 2000);
      const all = [...this.users.values()];
      const values = all.slice(cursor, cursor + maxResults).map((u) => this.userJson(u));
      const next = cursor + values.length;
      const isLast = next >= all.length;
      return {
        status: 200,
        body: {
          self: `${this.baseUrl}${base}/user/list?cursor=${cursor}&maxResults=${maxResults}`,
          maxResults,
          isLast,
          values,
          ...(isLast ? {} : { nextCursor: String(next), nextPage: `${this.baseUrl}${base}/user/list?cursor=${next}&maxResults=${maxResults}` }),
        },
      };
    });

    s.route('GET', `${base}/user/search`, (r) => {
      const query = r.query.get('username');
      if (query === null) return error(400, 'The username query parameter was not provided');
      const includeActive = r.query.get('includeActive') !== 'false';
      const includeInactive = r.query.get('includeInactive') === 'true';
      const startAt = intParam(r.query, 'startAt', 0, 0, Number.MAX_SAFE_INTEGER);
      const maxResults = intParam(r.query, 'maxResults', 50, 1, this.userSearchCap);
      const needle = query.toLowerCase();
      const matches = [...this.users.values()]
        .filter((u) => (u.active ? includeActive : includeInactive))
        // "." and "%" match everyone on real servers; otherwise a prefix of a username, display-name word or email.
        .filter((u) => needle === '.' || needle === '%' || [u.name, u.emailAddress, ...u.displayName.split(/\s+/)].some((v) => v.toLowerCase().startsWith(needle)))
        .sort((a, b) => a.name.localeCompare(b.name));
      // Only the first `userSearchCap` matches are reachable, whatever startAt says.
      const reachable = matches.slice(0, this.userSearchCap);
      return { status: 200, body: reachable.slice(startAt, startAt + maxResults).map((u) => this.userJson(u)) };
    });

    s.route('GET', `${base}/user`, (r) => {
      const user = this.user(r.query.get('username') ?? r.query.get('key'));
      if (!user) return error(404, `The user named '${r.query.get('username') ?? ''}' does not exist`);
      const expand = (r.query.get('expand') ?? '').split(',');
      const groups = [...this.groups.entries()].filter(([, m]) => m.has(user.name)).map(([name]) => ({ name, self: `${this.baseUrl}${base}/group?groupname=${encodeURIComponent(name)}` }));
      return { status: 200, body: { ...this.userJson(user), ...(expand.includes('groups') ? { groups: { size: groups.length, items: groups } } : {}) } };
    });

    s.route('POST', `${base}/user`, (r) => {
      const denied = this.admin(r);
      if (denied) return denied;
      const body = (r.body ?? {}) as { name?: unknown; emailAddress?: unknown; displayName?: unknown; password?: unknown };
      const errors: Record<string, string> = {};
      if (typeof body.name !== 'string' || !body.name) errors.username = 'You must specify a username.';
      if (typeof body.emailAddress !== 'string' || !body.emailAddress.includes('@')) errors.email = 'You must specify a valid email address.';
      if (typeof body.displayName !== 'string' || !body.displayName) errors.fullName = 'You must specify a full name.';
      if (Object.keys(errors).length > 0) return { status: 400, body: { errorMessages: [], errors } };
      if (this.user(body.name as string)) return { status: 400, body: { errorMessages: [], errors: { username: 'A user with that username already exists.' } } };
      const user = this.addUser(body.name as string, { emailAddress: body.emailAddress as string, displayName: body.displayName as string });
      // New users join the default group of the application, as Jira does.
      this.groups.get('jira-software-users')?.add(user.name);
      return { status: 201, body: this.userJson(user) };
    });

    s.route('PUT', `${base}/user`, (r) => {
      const denied = this.admin(r);
      if (denied) return denied;
      const user = this.user(r.query.get('username') ?? r.query.get('key'));
      if (!user) return error(404, 'The user does not exist.');
      const body = (r.body ?? {}) as { displayName?: unknown; emailAddress?: unknown; active?: unknown; name?: unknown };
      if (body.emailAddress !== undefined && (typeof body.emailAddress !== 'string' || !body.emailAddress.includes('@'))) {
        return { status: 400, body: { errorMessages: [], errors: { email: 'You must specify a valid email address.' } } };
      }
      if (typeof body.displayName === 'string') user.displayName = body.displayName;
      if (typeof body.emailAddress === 'string') user.emailAddress = body.emailAddress;
      if (typeof body.active === 'boolean') user.active = body.active;
      return { status: 200, body: this.userJson(user) };
    });

    s.route('DELETE', `${base}/user`, (r) => {
      const denied = this.admin(r);
      if (denied) return denied;
      const user = this.user(r.query.get('username') ?? r.query.get('key'));
      if (!user) return error(404, 'The user does not exist.');
      this.users.delete(user.name);
      for (const members of this.groups.values()) members.delete(user.name);
      return { status: 204 };
    });

    s.route('GET', `${base}/groups/picker`, (r) => {
      if (r.path.length + r.query.toString().length > 8192) return { status: 414, body: 'Request-URI Too Long' };
      const needle = (r.query.get('query') ?? '').toLowerCase();
      const limit = Math.min(intParam(r.query, 'maxResults', this.groupPickerLimit, 1, Number.MAX_SAFE_INTEGER), this.groupPickerLimit);
      const excluded = new Set(this.honourPickerExclude ? r.query.getAll('exclude').map((name) => name.toLowerCase()) : []);
      const matches = [...this.groups.keys()]
        .filter((name) => name.toLowerCase().includes(needle) && !excluded.has(name.toLowerCase()))
        .sort((a, b) => a.localeCompare(b));
      const shown = matches.slice(0, limit);
      return {
        status: 200,
        body: { header: `Showing ${shown.length} of ${matches.length} matching groups`, total: matches.length, groups: shown.map((name) => ({ name, html: name, labels: [] })) },
      };
    });

    s.route('POST', `${base}/group`, (r) => {
      const denied = this.admin(r);
      if (denied) return denied;
      const name = (r.body as { name?: unknown } | null)?.name;
      if (typeof name !== 'string' || !name) return error(400, 'You must specify a valid group name.');
      if ([...this.groups.keys()].some((g) => g.toLowerCase() === name.toLowerCase())) return error(400, 'A group or user with this name already exists.');
      this.groups.set(name, new Set());
      return { status: 201, body: { name, self: `${this.baseUrl}${base}/group?groupname=${encodeURIComponent(name)}`, users: { size: 0, items: [] } } };
    });

    s.route('DELETE', `${base}/group`, (r) => {
      const denied = this.admin(r);
      if (denied) return denied;
      const found = this.groupOf(r);
      if ('status' in found) return found;
      this.groups.delete(found.name);
      return { status: 200 };
    });

    s.route('GET', `${base}/group/member`, (r) => {
      const found = this.groupOf(r);
      if ('status' in found) return found;
      const includeInactive = r.query.get('includeInactiveUsers') === 'true';
      const startAt = intParam(r.query, 'startAt', 0, 0, Number.MAX_SAFE_INTEGER);
      const maxResults = intParam(r.query, 'maxResults', 50, 1, 50);
      const members = [...found.members].map((name) => this.users.get(name)!).filter((u) => u && (includeInactive || u.active));
      const { values, isLast } = page(members, startAt, maxResults);
      const next = `${this.baseUrl}${base}/group/member?groupname=${encodeURIComponent(found.name)}&startAt=${startAt + maxResults}&maxResults=${maxResults}`;
      return { status: 200, body: { self: `${this.baseUrl}${base}/group/member`, ...(isLast ? {} : { nextPage: next }), maxResults, startAt, total: members.length, isLast, values: values.map((u) => this.userJson(u)) } };
    });

    s.route('POST', `${base}/group/user`, (r) => {
      const denied = this.admin(r);
      if (denied) return denied;
      const found = this.groupOf(r);
      if ('status' in found) return found;
      const user = this.user(String((r.body as { name?: unknown } | null)?.name ?? ''));
      if (!user) return error(404, 'Specified user does not exist or you do not have required permissions.');
      if (found.members.has(user.name)) return error(400, `Cannot add user. '${user.name}' is already a member of '${found.name}'`);
      found.members.add(user.name);
      return { status: 201, body: { name: found.name } };
    });

    s.route('DELETE', `${base}/group/user`, (r) => {
      const denied = this.admin(r);
      if (denied) return denied;
      const found = this.groupOf(r);
      if ('status' in found) return found;
      const user = this.user(r.query.get('username'));
      if (!user) return error(404, 'Specified user does not exist or you do not have required permissions.');
      if (!found.members.has(user.name)) return error(400, `Cannot remove user '${user.name}' from group '${found.name}' since user is not a member of '${found.name}'`);
      found.members.delete(user.name);
      return { status: 200 };
    });

    const projectJson = (p: { key: string; name: string; lead: string | null }) => ({
      key: p.key,
      name: p.name,
      ...(p.lead && this.users.get(p.lead) ? { lead: this.userJson(this.users.get(p.lead)!) } : {}),
    });
    s.route('GET', `${base}/project`, () => ({ status: 200, body: [...this.projects.values()].map(projectJson) }));
    s.route('PUT', `${base}/project/:key`, (r) => {
      const project = this.projects.get(r.params.key!);
      if (!project) return error(404, 'No project could be found with key.');
      const lead = (r.body as { lead?: unknown } | null)?.lead;
      if (typeof lead === 'string') {
        if (!this.users.has(lead)) return { status: 400, body: { errorMessages: [], errors: { projectLead: 'The user you have specified as project lead does not exist.' } } };
        project.lead = lead;
      }
      return { status: 200, body: projectJson(project) };
    });
    s.route('GET', `${base}/project/:key/components`, (r) => {
      if (!this.projects.has(r.params.key!)) return error(404, 'No project could be found with key.');
      const components = [...this.components.values()].filter((c) => c.projectKey === r.params.key);
      return { status: 200, body: components.map((c) => ({ id: c.id, name: c.name, ...(c.lead && this.users.get(c.lead) ? { lead: this.userJson(this.users.get(c.lead)!) } : {}) })) };
    });
    s.route('PUT', `${base}/component/:id`, (r) => {
      const component = this.components.get(r.params.id!);
      if (!component) return error(404, `The component with id ${r.params.id} does not exist.`);
      const lead = (r.body as { leadUserName?: unknown } | null)?.leadUserName;
      if (typeof lead === 'string') component.lead = lead || null;
      return { status: 200, body: { id: component.id, name: component.name } };
    });
  }
}
