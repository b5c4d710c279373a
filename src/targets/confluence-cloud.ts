import { z } from 'zod';
import { capabilitiesOf } from './capabilities';
import { HttpClient, productMessage, type HttpClientOptions } from './http';
import type { AccountLifecycle } from './jira-cloud';
import { answered, parseBody, unsupported } from './support';
import type { AccountChanges, ConnectionCheck, NewAccount, Target, TargetAccount, TargetCapabilities, TargetGroup } from './types';

/**
 * Confluence Cloud through REST v1 (v2 has no group endpoints), with a site admin's email + API token.
 * The base URL is the site root; every path starts with /wiki.
 *
 * Confluence Cloud has no user-create or delete API: accounts come from the Atlassian site. When the
 * site also runs Jira Cloud, both share users and groups; the target store records that
 * (`sharesDirectoryWith`) and the engine writes once, through Jira.
 */

export interface ConfluenceCloudOptions {
  http: Omit<HttpClientOptions, 'target' | 'auth'> & { email: string; apiToken: string };
  lifecycle?: AccountLifecycle;
}

/**
 * Documented page limits: groups and group members at most 200 a page. The user search reaches only its
 * first 10,000 matches (CONFCLOUD-77954): `searchWindow`.
 */
export const CONFLUENCE_CLOUD_LIMITS = { groupsPage: 200, membersPage: 200, usersPage: 100, searchWindow: 10_000 } as const;

const user = z.object({
  accountId: z.string(),
  accountType: z.string().optional(),
  email: z.string().nullable().optional(),
  displayName: z.string().nullable().optional(),
  publicName: z.string().nullable().optional(),
});
const group = z.object({ id: z.string(), name: z.string() });
const results = <T extends z.ZodType>(item: T) =>
  z.object({ results: z.array(item), start: z.number().optional(), limit: z.number().optional(), size: z.number(), _links: z.object({ next: z.string().optional() }).optional() });

export class ConfluenceCloudTarget implements Target {
  readonly kind = 'confluence-cloud' as const;
  readonly capabilities: TargetCapabilities;
  readonly http: HttpClient;
  private readonly lifecycle?: AccountLifecycle;

  constructor(options: ConfluenceCloudOptions) {
    const { email, apiToken, ...http } = options.http;
    this.http = new HttpClient({ ...http, target: 'confluence-cloud', auth: { kind: 'basic', username: email, password: apiToken } });
    this.lifecycle = options.lifecycle;
    this.capabilities = capabilitiesOf('confluence-cloud', Boolean(options.lifecycle));
  }

  async testConnection(): Promise<ConnectionCheck> {
    try {
      const { body } = await this.http.json({ method: 'GET', path: '/wiki/rest/api/user/current' }, user.extend({ type: z.string().optional() }));
      if (!body.accountId || body.accountType === 'anonymous') return { ok: false, message: 'The credentials were not accepted (anonymous user).' };
      return { ok: true, message: `Connected to Confluence as ${body.displayName ?? body.accountId}.`, details: { accountId: body.accountId } };
    } catch (error) {
      return { ok: false, message: error instanceof Error ? error.message : String(error) };
    }
  }

  /**
   * Confluence Cloud has no "all users" endpoint (CONFCLOUD-83983). The CQL user search is the list, with two
   * documented traps: without `sitePermissionTypeFilter=all` it returns licensed users only (no guests), and it
   * reaches only its first 10,000 matches (CONFCLOUD-77954). When a site has more, the members of every group
   * are read as well: product access comes through groups, so only people with no group (and no access) stay
   * out of the list on such a site (docs/targets.md).
   */
  async *listUsers(): AsyncIterable<TargetAccount> {
    const seen = new Set<string>();
    let start = 0;
    while (start < CONFLUENCE_CLOUD_LIMITS.searchWindow) {
      const limit = Math.min(CONFLUENCE_CLOUD_LIMITS.usersPage, CONFLUENCE_CLOUD_LIMITS.searchWindow - start);
      const { body } = await this.http.json(
        { method: 'GET', path: '/wiki/rest/api/search/user', query: { cql: 'type=user', sitePermissionTypeFilter: 'all', start, limit } },
        results(z.object({ user })).extend({ totalSize: z.number().optional() }),
      );
      for (const { user: found } of body.results) {
        if (seen.has(found.accountId)) continue;
        seen.add(found.accountId);
        if (isPerson(found)) yield toAccount(found);
      }
      start += body.results.length;
      if (body.results.length === 0 || (!body._links?.next && !(body.totalSize !== undefined && body.totalSize > start))) break;
    }
    // Below the window the search was complete; at it, nobody can tell what lies past it.
    if (start < CONFLUENCE_CLOUD_LIMITS.searchWindow) return;
    for await (const group of this.listGroups()) {
      for await (const member of this.paged(
        (start) => ({ method: 'GET', path: '/wiki/rest/api/group/{groupId}/membersByGroupId', params: { groupId: group.groupId }, query: { start, limit: CONFLUENCE_CLOUD_LIMITS.membersPage } }),
        user,
        (u) => u,
      )) {
        if (seen.has(member.accountId)) continue;
        seen.add(member.accountId);
        if (isPerson(member)) yield toAccount(member);
      }
    }
  }

  async getUser(accountId: string): Promise<TargetAccount | null> {
    const response = await this.http.request({ method: 'GET', path: '/wiki/rest/api/user', query: { accountId }, accept: [404] });
    if (response.status === 404) return null;
    return toAccount(parseBody('confluence-cloud', user, response.body, 'GET /wiki/rest/api/user'));
  }

  /** Confluence Cloud offers no lookup by email (privacy): adoption by email goes through Jira on the same site. */
  async findUserByEmail(_email: string): Promise<TargetAccount | null> {
    return null;
  }

  async *listGroups(): AsyncIterable<TargetGroup> {
    yield* this.paged(
      (start) => ({ method: 'GET', path: '/wiki/rest/api/group', query: { start, limit: CONFLUENCE_CLOUD_LIMITS.groupsPage } }),
      group,
      (g) => ({ groupId: g.id, name: g.name }),
    );
  }

  async *listGroupMembers(groupId: string): AsyncIterable<string> {
    yield* this.paged(
      (start) => ({
        method: 'GET',
        path: '/wiki/rest/api/group/{groupId}/membersByGroupId',
        params: { groupId },
        query: { start, limit: CONFLUENCE_CLOUD_LIMITS.membersPage },
      }),
      user,
      (u) => u.accountId,
    );
  }

  async listUserGroups(accountId: string): Promise<TargetGroup[]> {
    const groups: TargetGroup[] = [];
    for await (const g of this.paged(
      (start) => ({ method: 'GET', path: '/wiki/rest/api/user/memberof', query: { accountId, start, limit: CONFLUENCE_CLOUD_LIMITS.groupsPage } }),
      group,
      (item) => ({ groupId: item.id, name: item.name }),
    )) {
      groups.push(g);
    }
    return groups;
  }

  async createUser(_account: NewAccount): Promise<TargetAccount> {
    throw unsupported('confluence-cloud', 'create a user', 'accounts come from the Atlassian site (create them through the Jira Cloud target on the same site)');
  }

  async updateUser(accountId: string, changes: AccountChanges): Promise<void> {
    if (!this.lifecycle) throw unsupported('confluence-cloud', 'update a user profile', 'configure an Atlassian organization target');
    await this.lifecycle.updateUser(accountId, changes);
  }

  async deactivateUser(accountId: string): Promise<void> {
    if (!this.lifecycle) throw unsupported('confluence-cloud', 'deactivate a user', 'configure an Atlassian organization target, or remove product-access groups');
    await this.lifecycle.deactivateUser(accountId);
  }

  async reactivateUser(accountId: string): Promise<void> {
    if (!this.lifecycle) throw unsupported('confluence-cloud', 'reactivate a user', 'configure an Atlassian organization target, or add product-access groups back');
    await this.lifecycle.reactivateUser(accountId);
  }

  async deleteUser(_accountId: string): Promise<void> {
    throw unsupported('confluence-cloud', 'delete a user', 'remove the Confluence product-access groups instead');
  }

  /**
   * A name in use is looked up and returned, so a re-run after a crash creates no duplicate. The lookup is the
   * group picker (`GET /group/picker`, a partial-name search, matched exactly here): `GET /group/by-name` is
   * deprecated.
   */
  async createGroup(name: string): Promise<TargetGroup> {
    const response = await this.http.request({ method: 'POST', path: '/wiki/rest/api/group', body: { name }, idempotent: true, accept: [400, 409] });
    if (response.status < 300) {
      const created = parseBody('confluence-cloud', group, response.body, 'POST /wiki/rest/api/group');
      return { groupId: created.id, name: created.name };
    }
    for await (const found of this.paged(
      (start) => ({ method: 'GET', path: '/wiki/rest/api/group/picker', query: { query: name, start, limit: CONFLUENCE_CLOUD_LIMITS.groupsPage } }),
      group,
      (g) => (g.name.toLowerCase() === name.toLowerCase() ? g : null),
    )) {
      return { groupId: found.id, name: found.name };
    }
    throw answered('confluence-cloud', 'POST /wiki/rest/api/group', response.status, response.body);
  }

  async deleteGroup(groupId: string): Promise<void> {
    await this.http.request({ method: 'DELETE', path: '/wiki/rest/api/group/by-id', query: { id: groupId }, accept: [404] });
  }

  async addMember(groupId: string, accountId: string): Promise<void> {
    const response = await this.http.request({
      method: 'POST',
      path: '/wiki/rest/api/group/userByGroupId',
      query: { groupId },
      body: { accountId },
      idempotent: true,
      accept: [400, 409],
    });
    if (response.status >= 400 && !/already/i.test(productMessage(response.body))) {
      throw answered('confluence-cloud', 'POST /wiki/rest/api/group/userByGroupId', response.status, response.body);
    }
  }

  /** Confluence answers 204 also when the user is not a member; a group that is gone means the same. */
  async removeMember(groupId: string, accountId: string): Promise<void> {
    await this.http.request({ method: 'DELETE', path: '/wiki/rest/api/group/userByGroupId', query: { groupId, accountId }, accept: [404] });
  }

  private async *paged<I, O>(
    request: (start: number) => Parameters<HttpClient['request']>[0],
    item: z.ZodType<I>,
    map: (item: I) => O | null,
  ): AsyncIterable<O> {
    for (let start = 0; ; ) {
      const spec = request(start);
      const { body } = await this.http.json(spec, results(item));
      for (const entry of body.results) {
        const mapped = map(entry);
        if (mapped !== null) yield mapped;
      }
      const limit = Number(spec.query?.limit ?? 0);
      if (body.results.length === 0 || (!body._links?.next && body.size < limit)) return;
      start += body.results.length;
    }
  }
}

function isPerson(u: z.infer<typeof user>): boolean {
  return u.accountType === undefined || u.accountType === 'atlassian';
}

function toAccount(u: z.infer<typeof user>): TargetAccount {
  return { accountId: u.accountId, email: u.email ?? null, displayName: u.displayName ?? u.publicName ?? null, active: true };
}
