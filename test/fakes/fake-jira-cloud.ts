import { randomUUID } from 'node:crypto';
import { FakeServer, FakeService, basicAuth, fakeId, intParam, page, type FakeRequest, type FakeResponse } from './fake-server';

/**
 * A stateful fake of the Jira Cloud platform REST API v3 for users, groups, memberships and leads,
 * following Atlassian's OpenAPI spec (paths, parameters, bodies, response shapes and paging limits:
 * group/member and group/bulk at most 50 a page, users/search at most 1000, project/search at most 100).
 * Site-admin email + API token over HTTP Basic, as the app's Jira Cloud target uses.
 */

export interface FakeJiraUser {
  accountId: string;
  emailAddress: string;
  displayName: string;
  active: boolean;
  accountType: 'atlassian' | 'app' | 'customer';
  products: Set<string>;
  /** Privacy settings hide the email from API responses. */
  emailHidden: boolean;
  /**
   * App access suspended in the organization (org API v2 suspend): the account stays active, but no product
   * lets it in. Set through updateAccount by a paired org fake.
   */
  suspended: boolean;
}

/** An application role (Jira product): the groups granting it and those new users of the product join. */
export interface FakeApplicationRole {
  key: string;
  name: string;
  groups: Set<string>;
  defaultGroups: Set<string>;
}

export interface FakeJiraGroup {
  groupId: string;
  name: string;
  members: Set<string>;
}

export interface FakeJiraProject {
  id: string;
  key: string;
  name: string;
  leadAccountId: string | null;
}

export interface FakeJiraComponent {
  id: string;
  name: string;
  projectKey: string;
  leadAccountId: string | null;
}

export interface FakeJiraOptions {
  /** email → API token of accounts that may call the API. */
  credentials?: Record<string, string>;
  /** Emails among the credentials that are site admins (may write). Default: all. */
  siteAdmins?: string[];
  /** Users the site may hold; a create beyond it answers 400 as Jira does when the licence is full. */
  licenceLimit?: number;
  /**
   * Application roles by key with the group names that grant them (the first is the default group new users of
   * the product joins). Default: a Jira Software site, `jira-software` granted by `jira-software-users`.
   */
  applicationRoles?: Record<string, string[]>;
}

export const JIRA_PRODUCTS = ['jira-core', 'jira-servicedesk', 'jira-product-discovery', 'jira-software'];

const error = (status: number, ...messages: string[]): FakeResponse => ({ status, body: { errorMessages: messages, errors: {} } });

export class FakeJiraCloud extends FakeService {
  readonly server: FakeServer;
  readonly users = new Map<string, FakeJiraUser>();
  readonly groups = new Map<string, FakeJiraGroup>();
  readonly projects = new Map<string, FakeJiraProject>();
  readonly components = new Map<string, FakeJiraComponent>();
  readonly applicationRoles = new Map<string, FakeApplicationRole>();
  private readonly groupIdsByName = new Map<string, string>();
  private readonly userIdsByEmail = new Map<string, string>();
  private readonly principals = new Map<string, string>();
  private readonly siteAdmins: Set<string>;
  licenceLimit: number;

  constructor(options: FakeJiraOptions = {}) {
    super();
    const credentials = options.credentials ?? { 'admin@example.com': 'jira-token' };
    this.siteAdmins = new Set(options.siteAdmins ?? Object.keys(credentials));
    this.licenceLimit = options.licenceLimit ?? Number.POSITIVE_INFINITY;
    this.server = new FakeServer(basicAuth(credentials), () => ({ status: 401, body: 'Client must be authenticated to access this resource.' }));
    const roles = options.applicationRoles ?? { 'jira-software': ['jira-software-users'] };
    for (const [key, groups] of Object.entries(roles)) {
      for (const name of groups) if (!this.groupByName(name)) this.addGroup(name);
      const name = key.split('-').map((w) => w[0]!.toUpperCase() + w.slice(1)).join(' ');
      this.applicationRoles.set(key, { key, name, groups: new Set(groups), defaultGroups: new Set(groups.slice(0, 1)) });
    }
    for (const email of Object.keys(credentials)) {
      const admin = this.addUser({ emailAddress: email, displayName: 'Site Admin', products: ['jira-software'] });
      this.principals.set(email, admin.accountId);
    }
    this.routes();
  }

  // ---- seeding and inspection -------------------------------------------------------------------

  addUser(input: { emailAddress: string; displayName?: string; active?: boolean; accountType?: FakeJiraUser['accountType']; products?: string[]; emailHidden?: boolean; accountId?: string }): FakeJiraUser {
    const user: FakeJiraUser = {
      accountId: input.accountId ?? `5b10ac8d${fakeId('')}${randomUUID().slice(0, 8)}`,
      emailAddress: input.emailAddress,
      displayName: input.displayName ?? input.emailAddress.split('@')[0]!,
      active: input.active ?? true,
      accountType: input.accountType ?? 'atlassian',
      products: new Set(input.products ?? []),
      emailHidden: input.emailHidden ?? false,
      suspended: false,
    };
    this.users.set(user.accountId, user);
    this.userIdsByEmail.set(user.emailAddress.toLowerCase(), user.accountId);
    // Jira grants a product by adding the user to the product's default groups.
    for (const product of user.products) {
      for (const name of this.applicationRoles.get(product)?.defaultGroups ?? []) this.groupByName(name)?.members.add(user.accountId);
    }
    return user;
  }

  /**
   * The products the account can use: those whose application role lists a group it is a member of (nothing
   * while its app access is suspended in the organization).
   */
  productAccess(accountId: string): string[] {
    const user = this.users.get(accountId);
    if (!user || !user.active || user.suspended) return [];
    const inGroups = new Set(this.userGroups(accountId).map((g) => g.name.toLowerCase()));
    return [...this.applicationRoles.values()].filter((role) => [...role.groups].some((g) => inGroups.has(g.toLowerCase()))).map((role) => role.key).sort();
  }

  /** A group of that name (names are unique in Jira: an existing one gets the members added). */
  addGroup(name: string, members: string[] = []): FakeJiraGroup {
    const existing = this.groupByName(name);
    if (existing) {
      for (const member of members) existing.members.add(member);
      return existing;
    }
    const group: FakeJiraGroup = { groupId: randomUUID(), name, members: new Set(members) };
    this.groups.set(group.groupId, group);
    this.groupIdsByName.set(name.toLowerCase(), group.groupId);
    return group;
  }

  addProject(key: string, name: string, leadAccountId: string | null): FakeJiraProject {
    const project: FakeJiraProject = { id: String(10000 + this.projects.size), key, name, leadAccountId };
    this.projects.set(key, project);
    return project;
  }

  addComponent(projectKey: string, name: string, leadAccountId: string | null): FakeJiraComponent {
    const component: FakeJiraComponent = { id: String(20000 + this.components.size), name, projectKey, leadAccountId };
    this.components.set(component.id, component);
    return component;
  }

  /** A change made outside the Jira API (the org API's lifecycle and profile calls on a managed account). */
  updateAccount(accountId: string, changes: { emailAddress?: string; displayName?: string; active?: boolean; suspended?: boolean }): void {
    const user = this.users.get(accountId);
    if (!user) return;
    if (changes.emailAddress !== undefined && changes.emailAddress !== user.emailAddress) {
      this.userIdsByEmail.delete(user.emailAddress.toLowerCase());
      user.emailAddress = changes.emailAddress;
      this.userIdsByEmail.set(user.emailAddress.toLowerCase(), accountId);
    }
    if (changes.displayName !== undefined) user.displayName = changes.displayName;
    if (changes.active !== undefined) user.active = changes.active;
    if (changes.suspended !== undefined) user.suspended = changes.suspended;
  }

  groupByName(name: string): FakeJiraGroup | undefined {
    const id = this.groupIdsByName.get(name.toLowerCase());
    return id ? this.groups.get(id) : undefined;
  }

  userByEmail(email: string): FakeJiraUser | undefined {
    const id = this.userIdsByEmail.get(email.toLowerCase());
    return id ? this.users.get(id) : undefined;
  }

  membershipCount(): number {
    let count = 0;
    for (const group of this.groups.values()) count += group.members.size;
    return count;
  }

  // ---- response shapes ----------------------------------------------------------------------------

  private userJson(user: FakeJiraUser): Record<string, unknown> {
    return {
      self: `${this.baseUrl}/rest/api/3/user?accountId=${user.accountId}`,
      accountId: user.accountId,
      accountType: user.accountType,
      ...(user.emailHidden ? {} : { emailAddress: user.emailAddress }),
      displayName: user.displayName,
      active: user.active,
      timeZone: 'Etc/UTC',
      locale: 'en_US',
    };
  }

  private userDetailsJson(user: FakeJiraUser): Record<string, unknown> {
    return {
      self: `${this.baseUrl}/rest/api/3/user?accountId=${user.accountId}`,
      accountId: user.accountId,
      accountType: user.accountType,
      ...(user.emailHidden ? {} : { emailAddress: user.emailAddress }),
      displayName: user.displayName,
      active: user.active,
      timeZone: 'Etc/UTC',
    };
  }

  private groupJson(group: FakeJiraGroup): Record<string, unknown> {
    return {
      name: group.name,
      groupId: group.groupId,
      self: `${this.baseUrl}/rest/api/3/group?groupId=${group.groupId}`,
      users: { size: group.members.size, items: [], 'max-results': 50, 'start-index': 0, 'end-index': 0 },
      expand: 'users',
    };
  }

  private applicationRoleJson(role: FakeApplicationRole): Record<string, unknown> {
    const details = (names: Iterable<string>) => [...names].map((name) => ({ name, groupId: this.groupByName(name)?.groupId ?? null, self: `${this.baseUrl}/rest/api/3/group?groupId=${this.groupByName(name)?.groupId ?? ''}` }));
    const userCount = [...this.users.keys()].filter((id) => this.productAccess(id).includes(role.key)).length;
    return {
      key: role.key,
      name: role.name,
      groups: [...role.groups],
      groupDetails: details(role.groups),
      defaultGroups: [...role.defaultGroups],
      defaultGroupsDetails: details(role.defaultGroups),
      selectedByDefault: false,
      defined: false,
      numberOfSeats: 35000,
      remainingSeats: 35000 - userCount,
      userCount,
      userCountDescription: 'users',
      hasUnlimitedSeats: false,
      platform: role.key === 'jira-core',
    };
  }

  private projectJson(project: FakeJiraProject): Record<string, unknown> {
    const lead = project.leadAccountId ? this.users.get(project.leadAccountId) : undefined;
    return {
      self: `${this.baseUrl}/rest/api/3/project/${project.id}`,
      id: project.id,
      key: project.key,
      name: project.name,
      projectTypeKey: 'software',
      simplified: false,
      style: 'classic',
      isPrivate: false,
      expand: 'description,lead,issueTypes,url,projectKeys,permissions,insight',
      ...(lead ? { lead: this.userJson(lead) } : {}),
    };
  }

  private componentJson(component: FakeJiraComponent): Record<string, unknown> {
    const lead = component.leadAccountId ? this.users.get(component.leadAccountId) : undefined;
    const project = this.projects.get(component.projectKey);
    return {
      self: `${this.baseUrl}/rest/api/3/component/${component.id}`,
      id: component.id,
      name: component.name,
      assigneeType: 'PROJECT_DEFAULT',
      realAssigneeType: 'PROJECT_DEFAULT',
      isAssigneeTypeValid: false,
      project: component.projectKey,
      projectId: Number(project?.id ?? 0),
      ...(lead ? { lead: this.userJson(lead) } : {}),
    };
  }

  // ---- helpers ----------------------------------------------------------------------------------------

  private requireAdmin(request: FakeRequest): FakeResponse | null {
    return this.siteAdmins.has(request.principal) ? null : error(403, 'You do not have permission to perform this operation. Site administration is required.');
  }

  /** groupId or groupname, never both (the spec: "cannot be used with"). */
  private findGroup(query: URLSearchParams): { group?: FakeJiraGroup; response?: FakeResponse } {
    const groupId = query.get('groupId');
    const groupname = query.get('groupname');
    if (groupId && groupname) return { response: error(400, 'You must specify either groupId or groupname, not both.') };
    if (!groupId && !groupname) return { response: error(400, 'You must specify a group name or group ID.') };
    const group = groupId ? this.groups.get(groupId) : this.groupByName(groupname!);
    return group ? { group } : { response: error(404, `Group ${groupId ?? groupname} does not exist.`) };
  }

  private userGroups(accountId: string): FakeJiraGroup[] {
    return [...this.groups.values()].filter((group) => group.members.has(accountId));
  }

  private routes(): void {
    const s = this.server;
    const base = '/rest/api/3';

    s.route('GET', `${base}/myself`, (request) => {
      const user = this.users.get(this.principals.get(request.principal)!)!;
      return { status: 200, body: this.userJson(user) };
    });

    s.route('GET', `${base}/mypermissions`, (request) => {
      const wanted = (request.query.get('permissions') ?? '').split(',').map((p) => p.trim()).filter(Boolean);
      if (wanted.length === 0) return error(400, 'The permissions query parameter is required.');
      const admin = this.siteAdmins.has(request.principal);
      const permissions: Record<string, unknown> = {};
      for (const key of wanted) {
        permissions[key] = { id: String(Object.keys(permissions).length), key, name: key, type: 'GLOBAL', description: key, havePermission: admin || key === 'USER_PICKER' };
      }
      return { status: 200, body: { permissions } };
    });

    // Get all application roles (Administer Jira): each role with the groups that grant it and its default groups.
    s.route('GET', `${base}/applicationrole`, (request) => {
      const denied = this.requireAdmin(request);
      if (denied) return denied;
      return { status: 200, body: [...this.applicationRoles.values()].map((role) => this.applicationRoleJson(role)) };
    });

    // Get all users: active, inactive and app users, maxResults up to 1000.
    s.route('GET', `${base}/users/search`, (request) => {
      const startAt = intParam(request.query, 'startAt', 0, 0, Number.MAX_SAFE_INTEGER);
      const maxResults = intParam(request.query, 'maxResults', 50, 1, 1000);
      const values: unknown[] = [];
      let index = 0;
      for (const user of this.users.values()) {
        if (index >= startAt + maxResults) break;
        if (index >= startAt) values.push(this.userJson(user));
        index += 1;
      }
      return { status: 200, body: values };
    });

    s.route('GET', `${base}/user`, (request) => {
      const accountId = request.query.get('accountId');
      if (!accountId) return error(400, 'The accountId query parameter needs to be provided.');
      const user = this.users.get(accountId);
      return user ? { status: 200, body: this.userJson(user) } : error(404, `The user with account ID '${accountId}' does not exist.`);
    });

    // Active users matching the prefix of displayName or (visible) emailAddress; at most the first 1000 matches.
    s.route('GET', `${base}/user/search`, (request) => {
      const query = (request.query.get('query') ?? '').toLowerCase();
      const accountId = request.query.get('accountId');
      if (!query && !accountId && !request.query.get('property')) return error(400, 'One of query, accountId or property is required.');
      const startAt = intParam(request.query, 'startAt', 0, 0, 1000);
      const maxResults = intParam(request.query, 'maxResults', 50, 1, 1000);
      const matches: FakeJiraUser[] = [];
      for (const user of this.users.values()) {
        if (!user.active) continue;
        if (accountId && user.accountId !== accountId) continue;
        if (query) {
          const words = user.displayName.toLowerCase().split(/\s+/);
          const byName = words.some((word) => word.startsWith(query)) || user.displayName.toLowerCase().startsWith(query);
          const byEmail = !user.emailHidden && user.emailAddress.toLowerCase().startsWith(query);
          if (!byName && !byEmail) continue;
        }
        matches.push(user);
        if (matches.length >= 1000) break;
      }
      return { status: 200, body: matches.slice(startAt, startAt + maxResults).map((user) => this.userJson(user)) };
    });

    s.route('GET', `${base}/user/groups`, (request) => {
      const accountId = request.query.get('accountId');
      if (!accountId) return error(400, 'The accountId query parameter needs to be provided.');
      if (!this.users.has(accountId)) return error(404, `The user with account ID '${accountId}' does not exist.`);
      return {
        status: 200,
        body: this.userGroups(accountId).map((group) => ({ name: group.name, groupId: group.groupId, self: `${this.baseUrl}${base}/group?groupId=${group.groupId}` })),
      };
    });

    // Create user: emailAddress and products are required; an existing user with access answers 201 with
    // that user, one without product access answers 400 (both as the spec describes).
    s.route('POST', `${base}/user`, (request) => {
      const denied = this.requireAdmin(request);
      if (denied) return denied;
      const body = request.body as { emailAddress?: unknown; products?: unknown } | null;
      if (!body || typeof body.emailAddress !== 'string' || !body.emailAddress.includes('@')) {
        return { status: 400, body: { errorMessages: [], errors: { emailAddress: 'You must specify a valid email address.' } } };
      }
      if (!Array.isArray(body.products) || body.products.some((p) => !JIRA_PRODUCTS.includes(String(p)))) {
        return { status: 400, body: { errorMessages: [], errors: { products: `products is required; valid values: ${JIRA_PRODUCTS.join(', ')}` } } };
      }
      const existing = this.userByEmail(body.emailAddress);
      if (existing) {
        if (existing.products.size === 0 && body.products.length > 0) {
          return error(400, 'The user already exists but has no access to Jira.');
        }
        return { status: 201, body: this.userJson(existing) };
      }
      // Counting is O(users): skip it when there is no limit (the sync benchmark creates 10,000 users).
      if (Number.isFinite(this.licenceLimit) && this.countSiteUsers() >= this.licenceLimit) return error(400, 'You have reached the user limit for your licence.');
      const user = this.addUser({ emailAddress: body.emailAddress, products: body.products.map(String) });
      return { status: 201, body: this.userJson(user) };
    });

    // Remove the user from the site (the Atlassian account itself stays).
    s.route('DELETE', `${base}/user`, (request) => {
      const denied = this.requireAdmin(request);
      if (denied) return denied;
      const accountId = request.query.get('accountId');
      if (!accountId) return error(400, 'The accountId query parameter needs to be provided.');
      const user = this.users.get(accountId);
      if (!user) return error(404, `The user with account ID '${accountId}' does not exist.`);
      for (const group of this.groups.values()) group.members.delete(accountId);
      this.users.delete(accountId);
      this.userIdsByEmail.delete(user.emailAddress.toLowerCase());
      return { status: 204 };
    });

    s.route('GET', `${base}/group/bulk`, (request) => {
      const startAt = intParam(request.query, 'startAt', 0, 0, Number.MAX_SAFE_INTEGER);
      const maxResults = intParam(request.query, 'maxResults', 50, 1, 50);
      const ids = new Set(request.query.getAll('groupId'));
      const names = new Set(request.query.getAll('groupName').map((n) => n.toLowerCase()));
      let all = [...this.groups.values()];
      if (ids.size > 0 || names.size > 0) all = all.filter((g) => ids.has(g.groupId) || names.has(g.name.toLowerCase()));
      const { values, isLast } = page(all, startAt, maxResults);
      return {
        status: 200,
        body: {
          self: `${this.baseUrl}${base}/group/bulk?startAt=${startAt}&maxResults=${maxResults}`,
          ...(isLast ? {} : { nextPage: `${this.baseUrl}${base}/group/bulk?startAt=${startAt + maxResults}&maxResults=${maxResults}` }),
          maxResults,
          startAt,
          total: all.length,
          isLast,
          values: values.map((group) => ({ groupId: group.groupId, name: group.name })),
        },
      };
    });

    s.route('POST', `${base}/group`, (request) => {
      const denied = this.requireAdmin(request);
      if (denied) return denied;
      const name = (request.body as { name?: unknown } | null)?.name;
      if (typeof name !== 'string' || !name.trim()) return { status: 400, body: { errorMessages: [], errors: { name: 'You must specify a group name.' } } };
      if (this.groupByName(name)) return error(400, 'A group with that name already exists.');
      return { status: 201, body: this.groupJson(this.addGroup(name)) };
    });

    s.route('DELETE', `${base}/group`, (request) => {
      const denied = this.requireAdmin(request);
      if (denied) return denied;
      const { group, response } = this.findGroup(request.query);
      if (!group) return response!;
      this.groups.delete(group.groupId);
      this.groupIdsByName.delete(group.name.toLowerCase());
      return { status: 200 };
    });

    s.route('GET', `${base}/group/member`, (request) => {
      const { group, response } = this.findGroup(request.query);
      if (!group) return response!;
      const startAt = intParam(request.query, 'startAt', 0, 0, Number.MAX_SAFE_INTEGER);
      const maxResults = intParam(request.query, 'maxResults', 50, 1, 50);
      const includeInactive = request.query.get('includeInactiveUsers') === 'true';
      const members: FakeJiraUser[] = [];
      for (const accountId of group.members) {
        const user = this.users.get(accountId);
        if (user && (includeInactive || user.active)) members.push(user);
      }
      const { values, isLast } = page(members, startAt, maxResults);
      const self = `${this.baseUrl}${base}/group/member?groupId=${group.groupId}&includeInactiveUsers=${includeInactive}`;
      return {
        status: 200,
        body: {
          self: `${self}&startAt=${startAt}&maxResults=${maxResults}`,
          ...(isLast ? {} : { nextPage: `${self}&startAt=${startAt + maxResults}&maxResults=${maxResults}` }),
          maxResults,
          startAt,
          total: members.length,
          isLast,
          values: values.map((user) => this.userDetailsJson(user)),
        },
      };
    });

    s.route('POST', `${base}/group/user`, (request) => {
      const denied = this.requireAdmin(request);
      if (denied) return denied;
      const { group, response } = this.findGroup(request.query);
      if (!group) return response!;
      const accountId = (request.body as { accountId?: unknown } | null)?.accountId;
      if (typeof accountId !== 'string' || !this.users.has(accountId)) return error(404, 'Specified user does not exist or you do not have required permissions');
      if (group.members.has(accountId)) return error(400, `Cannot add user. User is already a member of '${group.name}'`);
      group.members.add(accountId);
      return { status: 201, body: this.groupJson(group) };
    });

    s.route('DELETE', `${base}/group/user`, (request) => {
      const denied = this.requireAdmin(request);
      if (denied) return denied;
      const { group, response } = this.findGroup(request.query);
      if (!group) return response!;
      const accountId = request.query.get('accountId');
      if (!accountId) return error(400, 'The accountId query parameter needs to be provided.');
      if (!this.users.has(accountId)) return error(404, 'Specified user does not exist or you do not have required permissions');
      if (!group.members.has(accountId)) return error(400, `Cannot remove user '${accountId}' from group '${group.name}' since user is not a member of '${group.name}'`);
      group.members.delete(accountId);
      return { status: 200 };
    });

    s.route('GET', `${base}/project/search`, (request) => {
      const startAt = intParam(request.query, 'startAt', 0, 0, Number.MAX_SAFE_INTEGER);
      const maxResults = intParam(request.query, 'maxResults', 50, 1, 100);
      const all = [...this.projects.values()];
      const { values, isLast } = page(all, startAt, maxResults);
      const expandLead = (request.query.get('expand') ?? '').split(',').includes('lead');
      return {
        status: 200,
        body: {
          self: `${this.baseUrl}${base}/project/search?startAt=${startAt}&maxResults=${maxResults}`,
          ...(isLast ? {} : { nextPage: `${this.baseUrl}${base}/project/search?startAt=${startAt + maxResults}&maxResults=${maxResults}` }),
          maxResults,
          startAt,
          total: all.length,
          isLast,
          values: values.map((project) => {
            const json = this.projectJson(project);
            if (!expandLead) delete json.lead;
            return json;
          }),
        },
      };
    });

    s.route('GET', `${base}/project/:projectIdOrKey`, (request) => {
      const project = this.findProject(request.params.projectIdOrKey!);
      return project ? { status: 200, body: this.projectJson(project) } : error(404, 'No project could be found with key.');
    });

    s.route('PUT', `${base}/project/:projectIdOrKey`, (request) => {
      const denied = this.requireAdmin(request);
      if (denied) return denied;
      const project = this.findProject(request.params.projectIdOrKey!);
      if (!project) return error(404, 'No project could be found with key.');
      const leadAccountId = (request.body as { leadAccountId?: unknown } | null)?.leadAccountId;
      if (leadAccountId !== undefined) {
        if (typeof leadAccountId !== 'string' || !this.users.get(leadAccountId)?.active) {
          return { status: 400, body: { errorMessages: [], errors: { projectLead: 'The project lead must be an active user.' } } };
        }
        project.leadAccountId = leadAccountId;
      }
      return { status: 200, body: this.projectJson(project) };
    });

    s.route('GET', `${base}/project/:projectIdOrKey/components`, (request) => {
      const project = this.findProject(request.params.projectIdOrKey!);
      if (!project) return error(404, 'No project could be found with key.');
      return { status: 200, body: [...this.components.values()].filter((c) => c.projectKey === project.key).map((c) => this.componentJson(c)) };
    });

    s.route('PUT', `${base}/component/:id`, (request) => {
      const denied = this.requireAdmin(request);
      if (denied) return denied;
      const component = this.components.get(request.params.id!);
      if (!component) return error(404, `The component with id ${request.params.id} does not exist.`);
      const leadAccountId = (request.body as { leadAccountId?: unknown } | null)?.leadAccountId;
      if (leadAccountId !== undefined) {
        if (leadAccountId === '') component.leadAccountId = null;
        else if (typeof leadAccountId !== 'string' || !this.users.get(leadAccountId)?.active) {
          return { status: 400, body: { errorMessages: [], errors: { leadAccountId: 'The user does not exist or is not active.' } } };
        } else component.leadAccountId = leadAccountId;
      }
      return { status: 200, body: this.componentJson(component) };
    });
  }

  private findProject(idOrKey: string): FakeJiraProject | undefined {
    return this.projects.get(idOrKey) ?? [...this.projects.values()].find((p) => p.id === idOrKey);
  }

  private countSiteUsers(): number {
    let count = 0;
    for (const user of this.users.values()) if (user.accountType === 'atlassian') count += 1;
    return count;
  }
}
