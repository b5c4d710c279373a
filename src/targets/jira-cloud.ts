import { z } from 'zod';
import { capabilitiesOf } from './capabilities';
import { HttpClient, productMessage as messageOf, type HttpClientOptions } from './http';
import {
  TargetError,
  type AccessGroup,
  type AccountChanges,
  type ComponentLead,
  type ConnectionCheck,
  type NewAccount,
  type ProjectLead,
  type Target,
  type TargetAccount,
  type TargetCapabilities,
  type TargetGroup,
} from './types';

/**
 * Jira Cloud (platform REST v3) with a site admin's email + API token. The Connect JWT cannot write
 * users or groups (every such operation is INACCESSIBLE to Connect), hence admin credentials.
 *
 * Jira Cloud's product API has no deactivate, reactivate or profile update: those go through the
 * Atlassian organization API when an org target is configured (`lifecycle`), and are reported as
 * unsupported otherwise so the engine plans around them (see docs/targets.md).
 */

/** What the organization API does for a product target (implemented by the atlassian-org target). */
export interface AccountLifecycle {
  deactivateUser(accountId: string): Promise<void>;
  reactivateUser(accountId: string): Promise<void>;
  updateUser(accountId: string, changes: AccountChanges): Promise<void>;
}

export interface JiraCloudOptions {
  http: Omit<HttpClientOptions, 'target' | 'auth'> & { email: string; apiToken: string };
  lifecycle?: AccountLifecycle;
}

const jiraUser = z.object({
  accountId: z.string(),
  accountType: z.string().optional(),
  emailAddress: z.string().optional().nullable(),
  displayName: z.string().optional().nullable(),
  active: z.boolean().optional(),
});
type JiraUser = z.infer<typeof jiraUser>;

const groupRef = z.object({ groupId: z.string().nullable().optional(), name: z.string() });
const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ startAt: z.number(), maxResults: z.number(), isLast: z.boolean().optional(), total: z.number().optional(), values: z.array(item) });

const groupName = z.object({ name: z.string().optional(), groupId: z.string().nullable().optional() });
const applicationRole = z.object({
  key: z.string(),
  groups: z.array(z.string()).optional(),
  groupDetails: z.array(groupName).optional(),
  defaultGroups: z.array(z.string()).optional(),
  defaultGroupsDetails: z.array(groupName).optional(),
});

const project = z.object({ id: z.string(), key: z.string(), name: z.string(), lead: jiraUser.optional() });
const component = z.object({ id: z.string(), name: z.string(), lead: jiraUser.optional() });

/** Paging limits from the spec. */
export const JIRA_CLOUD_LIMITS = { usersPage: 1000, groupsPage: 50, membersPage: 50, projectsPage: 100, userSearchPage: 1000 } as const;

const ALREADY_MEMBER = /already a member/i;
const NOT_A_MEMBER = /not a member/i;

export class JiraCloudTarget implements Target {
  readonly kind = 'jira-cloud' as const;
  readonly capabilities: TargetCapabilities;
  readonly http: HttpClient;
  private readonly lifecycle?: AccountLifecycle;

  constructor(options: JiraCloudOptions) {
    const { email, apiToken, ...http } = options.http;
    this.http = new HttpClient({ ...http, target: 'jira-cloud', auth: { kind: 'basic', username: email, password: apiToken } });
    this.lifecycle = options.lifecycle;
    this.capabilities = capabilitiesOf('jira-cloud', Boolean(options.lifecycle));
  }

  async testConnection(): Promise<ConnectionCheck> {
    try {
      const { body: me } = await this.http.json({ method: 'GET', path: '/rest/api/3/myself' }, jiraUser);
      const { body } = await this.http.json(
        { method: 'GET', path: '/rest/api/3/mypermissions', query: { permissions: 'ADMINISTER' } },
        z.object({ permissions: z.record(z.string(), z.object({ havePermission: z.boolean().optional() })) }),
      );
      const admin = body.permissions.ADMINISTER?.havePermission === true;
      return {
        ok: admin,
        message: admin
          ? `Connected as ${me.displayName ?? me.accountId} with Jira administration rights.`
          : `Connected as ${me.displayName ?? me.accountId}, but this account is not a Jira administrator: user and group writes will fail.`,
        details: { accountId: me.accountId, administer: admin, lifecycleThroughOrg: Boolean(this.lifecycle) },
      };
    } catch (error) {
      return { ok: false, message: error instanceof Error ? error.message : String(error) };
    }
  }

  /** Every Atlassian account on the site (active and inactive); app and customer accounts are skipped. */
  async *listUsers(): AsyncIterable<TargetAccount> {
    // Keep reading until an empty page: this endpoint may return short pages before the end.
    for (let startAt = 0; ; startAt += JIRA_CLOUD_LIMITS.usersPage) {
      const { body } = await this.http.json(
        { method: 'GET', path: '/rest/api/3/users/search', query: { startAt, maxResults: JIRA_CLOUD_LIMITS.usersPage } },
        z.array(jiraUser),
      );
      if (body.length === 0) return;
      for (const user of body) if (isPerson(user)) yield toAccount(user);
    }
  }

  async getUser(accountId: string): Promise<TargetAccount | null> {
    const response = await this.http.request({ method: 'GET', path: '/rest/api/3/user', query: { accountId }, accept: [404] });
    if (response.status === 404) return null;
    return toAccount(parseWith(jiraUser, response.body, 'GET /rest/api/3/user'));
  }

  /** Exact email match among active users; a user whose email privacy hides it cannot be found this way. */
  async findUserByEmail(email: string): Promise<TargetAccount | null> {
    const wanted = email.trim().toLowerCase();
    const { body } = await this.http.json(
      { method: 'GET', path: '/rest/api/3/user/search', query: { query: wanted, maxResults: 50 } },
      z.array(jiraUser),
    );
    const match = body.find((user) => isPerson(user) && user.emailAddress?.toLowerCase() === wanted);
    return match ? toAccount(match) : null;
  }

  async *listGroups(): AsyncIterable<TargetGroup> {
    for (let startAt = 0; ; ) {
      const { body } = await this.http.json(
        { method: 'GET', path: '/rest/api/3/group/bulk', query: { startAt, maxResults: JIRA_CLOUD_LIMITS.groupsPage } },
        pageOf(groupRef),
      );
      for (const group of body.values) if (group.groupId) yield { groupId: group.groupId, name: group.name };
      if (body.isLast !== false || body.values.length === 0) return;
      startAt += body.values.length;
    }
  }

  async *listGroupMembers(groupId: string): AsyncIterable<string> {
    for (let startAt = 0; ; ) {
      const { body } = await this.http.json(
        {
          method: 'GET',
          path: '/rest/api/3/group/member',
          query: { groupId, includeInactiveUsers: true, startAt, maxResults: JIRA_CLOUD_LIMITS.membersPage },
        },
        pageOf(jiraUser),
      );
      for (const user of body.values) yield user.accountId;
      if (body.isLast !== false || body.values.length === 0) return;
      startAt += body.values.length;
    }
  }

  async listUserGroups(accountId: string): Promise<TargetGroup[]> {
    const { body } = await this.http.json({ method: 'GET', path: '/rest/api/3/user/groups', query: { accountId } }, z.array(groupRef));
    return body.filter((group) => group.groupId).map((group) => ({ groupId: group.groupId!, name: group.name }));
  }

  /**
   * Jira answers 201 with the existing account when the email already has site access, so a create
   * repeated after a crash returns the same account instead of a duplicate. An existing account
   * without product access answers 400; then the account is looked up by email and returned.
   */
  async createUser(account: NewAccount): Promise<TargetAccount> {
    const response = await this.http.request({
      method: 'POST',
      path: '/rest/api/3/user',
      body: { emailAddress: account.email, products: account.products },
      idempotent: true,
      accept: [400],
    });
    if (response.status === 400) {
      const existing = await this.findUserByEmail(account.email);
      if (existing) return existing;
      throw new TargetError(
        `jira-cloud POST /rest/api/3/user answered 400: ${messageOf(response.body)}`,
        400,
        'jira-cloud',
        'POST /rest/api/3/user',
      );
    }
    const created = toAccount(parseWith(jiraUser, response.body, 'POST /rest/api/3/user'));
    return { ...created, email: created.email ?? account.email };
  }

  async updateUser(accountId: string, changes: AccountChanges): Promise<void> {
    await this.requireLifecycle('update a user profile').updateUser(accountId, changes);
  }

  async deactivateUser(accountId: string): Promise<void> {
    await this.requireLifecycle('deactivate a user').deactivateUser(accountId);
  }

  async reactivateUser(accountId: string): Promise<void> {
    await this.requireLifecycle('reactivate a user').reactivateUser(accountId);
  }

  /** Removes the user from the site (the Atlassian account stays). Already gone = done. */
  async deleteUser(accountId: string): Promise<void> {
    await this.http.request({ method: 'DELETE', path: '/rest/api/3/user', query: { accountId }, accept: [404] });
  }

  /** A name in use answers 400: the existing group is returned, so a re-run creates no duplicate. */
  async createGroup(name: string): Promise<TargetGroup> {
    const response = await this.http.request({ method: 'POST', path: '/rest/api/3/group', body: { name }, idempotent: true, accept: [400] });
    if (response.status === 201 || response.status === 200) {
      const group = parseWith(groupRef, response.body, 'POST /rest/api/3/group');
      if (group.groupId) return { groupId: group.groupId, name: group.name };
    }
    const existing = await this.findGroupByName(name);
    if (existing) return existing;
    throw new TargetError(`jira-cloud POST /rest/api/3/group answered ${response.status}: ${messageOf(response.body)}`, response.status, 'jira-cloud', 'POST /rest/api/3/group');
  }

  async findGroupByName(name: string): Promise<TargetGroup | null> {
    const { body } = await this.http.json(
      { method: 'GET', path: '/rest/api/3/group/bulk', query: { groupName: [name], maxResults: JIRA_CLOUD_LIMITS.groupsPage } },
      pageOf(groupRef),
    );
    const group = body.values.find((g) => g.name.toLowerCase() === name.toLowerCase() && g.groupId);
    return group ? { groupId: group.groupId!, name: group.name } : null;
  }

  async deleteGroup(groupId: string): Promise<void> {
    await this.http.request({ method: 'DELETE', path: '/rest/api/3/group', query: { groupId }, accept: [404] });
  }

  async addMember(groupId: string, accountId: string): Promise<void> {
    const response = await this.http.request({
      method: 'POST',
      path: '/rest/api/3/group/user',
      query: { groupId },
      body: { accountId },
      idempotent: true,
      accept: [400],
    });
    if (response.status === 400 && !ALREADY_MEMBER.test(messageOf(response.body))) {
      throw new TargetError(`jira-cloud POST /rest/api/3/group/user answered 400: ${messageOf(response.body)}`, 400, 'jira-cloud', 'POST /rest/api/3/group/user');
    }
  }

  /** Not a member, group gone or user gone all mean the membership is already absent. */
  async removeMember(groupId: string, accountId: string): Promise<void> {
    const response = await this.http.request({
      method: 'DELETE',
      path: '/rest/api/3/group/user',
      query: { groupId, accountId },
      accept: [400, 404],
    });
    if (response.status === 400 && !NOT_A_MEMBER.test(messageOf(response.body))) {
      throw new TargetError(`jira-cloud DELETE /rest/api/3/group/user answered 400: ${messageOf(response.body)}`, 400, 'jira-cloud', 'DELETE /rest/api/3/group/user');
    }
  }

  /**
   * `GET /rest/api/3/applicationrole` (Administer Jira): every Jira product with the groups that grant it and
   * its default groups (those a user granted the product on create joins). Jira Cloud has no other way to
   * take product access away without the organization API.
   */
  async listAccessGroups(): Promise<AccessGroup[]> {
    const { body } = await this.http.json({ method: 'GET', path: '/rest/api/3/applicationrole' }, z.array(applicationRole));
    const groups: AccessGroup[] = [];
    for (const role of body) {
      const defaults = new Set([...(role.defaultGroups ?? []), ...(role.defaultGroupsDetails ?? []).flatMap((g) => (g.name ? [g.name] : []))].map((n) => n.toLowerCase()));
      const details = new Map((role.groupDetails ?? []).flatMap((g) => (g.name ? [[g.name.toLowerCase(), g.groupId ?? null] as const] : [])));
      const names = new Set([...(role.groups ?? []), ...(role.groupDetails ?? []).flatMap((g) => (g.name ? [g.name] : []))]);
      for (const name of names) {
        groups.push({ name, groupId: details.get(name.toLowerCase()) ?? null, product: role.key, isDefault: defaults.has(name.toLowerCase()) });
      }
    }
    return groups;
  }

  async *listProjectLeads(): AsyncIterable<ProjectLead> {
    for await (const item of this.projects()) {
      yield { projectKey: item.key, projectName: item.name, leadAccountId: item.lead?.accountId ?? null };
    }
  }

  async setProjectLead(projectKey: string, accountId: string): Promise<void> {
    await this.http.request({ method: 'PUT', path: '/rest/api/3/project/{projectIdOrKey}', params: { projectIdOrKey: projectKey }, body: { leadAccountId: accountId } });
  }

  async *listComponentLeads(): AsyncIterable<ComponentLead> {
    for await (const item of this.projects()) {
      const { body } = await this.http.json(
        { method: 'GET', path: '/rest/api/3/project/{projectIdOrKey}/components', params: { projectIdOrKey: item.key } },
        z.array(component),
      );
      for (const c of body) {
        yield { componentId: c.id, componentName: c.name, projectKey: item.key, leadAccountId: c.lead?.accountId ?? null };
      }
    }
  }

  async setComponentLead(componentId: string, accountId: string): Promise<void> {
    await this.http.request({ method: 'PUT', path: '/rest/api/3/component/{id}', params: { id: componentId }, body: { leadAccountId: accountId } });
  }

  private async *projects(): AsyncIterable<z.infer<typeof project>> {
    for (let startAt = 0; ; ) {
      const { body } = await this.http.json(
        { method: 'GET', path: '/rest/api/3/project/search', query: { expand: 'lead', startAt, maxResults: JIRA_CLOUD_LIMITS.projectsPage } },
        pageOf(project),
      );
      yield* body.values;
      if (body.isLast !== false || body.values.length === 0) return;
      startAt += body.values.length;
    }
  }

  private requireLifecycle(what: string): AccountLifecycle {
    if (!this.lifecycle) {
      throw new TargetError(
        `jira-cloud cannot ${what} through the product API; configure an Atlassian organization target (org API key) for it`,
        null,
        'jira-cloud',
      );
    }
    return this.lifecycle;
  }
}

function isPerson(user: JiraUser): boolean {
  return user.accountType === undefined || user.accountType === 'atlassian';
}

function toAccount(user: JiraUser): TargetAccount {
  return {
    accountId: user.accountId,
    email: user.emailAddress ?? null,
    displayName: user.displayName ?? null,
    active: user.active ?? true,
  };
}

function parseWith<T>(schema: z.ZodType<T>, body: unknown, request: string): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new TargetError(`jira-cloud ${request}: unexpected response (${parsed.error.issues[0]?.message ?? 'invalid'})`, null, 'jira-cloud', request);
  return parsed.data;
}
