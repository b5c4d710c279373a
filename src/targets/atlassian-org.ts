import { z } from 'zod';
import { HttpClient, type HttpClientOptions } from './http';
import { capabilitiesOf } from './capabilities';
import type { AccountLifecycle } from './jira-cloud';
import { answered, parseBody, queryParamOf, unsupported } from './support';
import type { AccountChanges, ConnectionCheck, NewAccount, Target, TargetAccount, TargetGroup } from './types';

/**
 * The Atlassian organization APIs (api.atlassian.com) with an org admin API key (Bearer). They do what
 * the product REST APIs cannot for managed accounts: deactivate, reactivate and update profiles; and
 * they manage the org directory's groups (v2, cursor paging `{data, links.next}`).
 *
 * Used on its own as a target, and as the AccountLifecycle of Jira/Confluence Cloud targets.
 */

export interface AtlassianOrgOptions {
  http: Omit<HttpClientOptions, 'target' | 'auth'> & { apiKey: string };
  orgId: string;
  directoryId?: string;
}

const orgUser = z.object({
  account_id: z.string(),
  account_type: z.string().optional(),
  account_status: z.string().optional(),
  name: z.string().nullable().optional(),
  email: z.string().nullable().optional(),
});
const cursorPage = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), links: z.object({ next: z.string().nullable().optional() }).optional() });
const orgGroup = z.object({ id: z.string(), name: z.string() });
const profile = z.object({
  account: z.object({ account_id: z.string(), name: z.string().nullable().optional(), email: z.string().nullable().optional(), account_status: z.string().optional() }),
});

export class AtlassianOrgTarget implements Target, AccountLifecycle {
  readonly kind = 'atlassian-org' as const;
  readonly capabilities = capabilitiesOf('atlassian-org');
  readonly http: HttpClient;
  private directoryId: string | undefined;

  constructor(private readonly options: AtlassianOrgOptions) {
    const { apiKey, ...http } = options.http;
    this.http = new HttpClient({ ...http, target: 'atlassian-org', auth: { kind: 'bearer', token: apiKey } });
    this.directoryId = options.directoryId;
  }

  async testConnection(): Promise<ConnectionCheck> {
    try {
      const { body } = await this.http.json(
        { method: 'GET', path: '/admin/v1/orgs/{orgId}', params: { orgId: this.options.orgId } },
        z.object({ data: z.object({ id: z.string(), attributes: z.object({ name: z.string() }).partial().optional() }) }),
      );
      return { ok: true, message: `Connected to the organization ${body.data.attributes?.name ?? body.data.id}.`, details: { orgId: body.data.id } };
    } catch (error) {
      return { ok: false, message: error instanceof Error ? error.message : String(error) };
    }
  }

  async *listUsers(): AsyncIterable<TargetAccount> {
    let cursor: string | null = null;
    do {
      const { body }: { body: z.infer<ReturnType<typeof cursorPage<typeof orgUser>>> } = await this.http.json(
        { method: 'GET', path: '/admin/v1/orgs/{orgId}/users', params: { orgId: this.options.orgId }, query: { cursor: cursor ?? undefined } },
        cursorPage(orgUser),
      );
      for (const user of body.data) {
        if (user.account_type && user.account_type !== 'atlassian') continue;
        yield toAccount(user);
      }
      cursor = nextCursor(body.links?.next);
    } while (cursor);
  }

  async getUser(accountId: string): Promise<TargetAccount | null> {
    const response = await this.http.request({ method: 'GET', path: '/users/{accountId}/manage/profile', params: { accountId }, accept: [404] });
    if (response.status === 404) return null;
    return toAccount(parseBody('atlassian-org', profile, response.body, 'GET /users/{accountId}/manage/profile').account);
  }

  /** The org API has no lookup by email here: a scan of the org's users (the product targets search faster). */
  async findUserByEmail(email: string): Promise<TargetAccount | null> {
    const wanted = email.trim().toLowerCase();
    for await (const user of this.listUsers()) if (user.email?.toLowerCase() === wanted) return user;
    return null;
  }

  async *listGroups(): AsyncIterable<TargetGroup> {
    const directoryId = await this.directory();
    let cursor: string | null = null;
    do {
      const { body }: { body: z.infer<ReturnType<typeof cursorPage<typeof orgGroup>>> } = await this.http.json(
        {
          method: 'GET',
          path: '/admin/v2/orgs/{orgId}/directories/{directoryId}/groups',
          params: { orgId: this.options.orgId, directoryId },
          query: { cursor: cursor ?? undefined },
        },
        cursorPage(orgGroup),
      );
      for (const group of body.data) yield { groupId: group.id, name: group.name };
      cursor = nextCursor(body.links?.next);
    } while (cursor);
  }

  async *listGroupMembers(groupId: string): AsyncIterable<string> {
    const directoryId = await this.directory();
    let cursor: string | null = null;
    do {
      const { body }: { body: z.infer<ReturnType<typeof cursorPage<typeof membership>>> } = await this.http.json(
        {
          method: 'GET',
          path: '/admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/memberships',
          params: { orgId: this.options.orgId, directoryId, groupId },
          query: { cursor: cursor ?? undefined },
        },
        cursorPage(membership),
      );
      for (const member of body.data) yield member.accountId;
      cursor = nextCursor(body.links?.next);
    } while (cursor);
  }

  async listUserGroups(accountId: string): Promise<TargetGroup[]> {
    const groups: TargetGroup[] = [];
    for await (const group of this.listGroups()) {
      for await (const member of this.listGroupMembers(group.groupId)) {
        if (member === accountId) {
          groups.push(group);
          break;
        }
      }
    }
    return groups;
  }

  async createUser(_account: NewAccount): Promise<TargetAccount> {
    throw unsupported('atlassian-org', 'create a user', 'accounts are created by the product targets or by the identity provider');
  }

  async updateUser(accountId: string, changes: AccountChanges): Promise<void> {
    const body: Record<string, string> = {};
    if (changes.displayName) body.name = changes.displayName;
    if (changes.email) body.email = changes.email;
    if (Object.keys(body).length === 0) return;
    await this.http.request({ method: 'PATCH', path: '/users/{accountId}/manage/profile', params: { accountId }, body, idempotent: true });
  }

  /** Disabling an account that is already disabled is treated as done (409). */
  async deactivateUser(accountId: string): Promise<void> {
    await this.http.request({
      method: 'POST',
      path: '/users/{accountId}/manage/lifecycle/disable',
      params: { accountId },
      body: { message: 'Deactivated by the identity provider sync.' },
      idempotent: true,
      accept: [409],
    });
  }

  async reactivateUser(accountId: string): Promise<void> {
    await this.http.request({ method: 'POST', path: '/users/{accountId}/manage/lifecycle/enable', params: { accountId }, idempotent: true, accept: [409] });
  }

  async deleteUser(_accountId: string): Promise<void> {
    throw unsupported('atlassian-org', 'delete a user', 'deactivate it here, or remove it from the site on the product target');
  }

  async createGroup(name: string): Promise<TargetGroup> {
    const directoryId = await this.directory();
    const response = await this.http.request({
      method: 'POST',
      path: '/admin/v2/orgs/{orgId}/directories/{directoryId}/groups',
      params: { orgId: this.options.orgId, directoryId },
      body: { name, description: 'Managed by the identity provider sync' },
      idempotent: true,
      accept: [400, 409],
    });
    if (response.status < 300) {
      const group = parseBody('atlassian-org', orgGroup, response.body, 'POST groups');
      return { groupId: group.id, name: group.name };
    }
    for await (const group of this.listGroups()) if (group.name.toLowerCase() === name.toLowerCase()) return group;
    throw answered('atlassian-org', 'POST /admin/v2/orgs/{orgId}/directories/{directoryId}/groups', response.status, response.body);
  }

  async deleteGroup(groupId: string): Promise<void> {
    const directoryId = await this.directory();
    await this.http.request({
      method: 'DELETE',
      path: '/admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}',
      params: { orgId: this.options.orgId, directoryId, groupId },
      accept: [404],
    });
  }

  async addMember(groupId: string, accountId: string): Promise<void> {
    const directoryId = await this.directory();
    await this.http.request({
      method: 'POST',
      path: '/admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/memberships',
      params: { orgId: this.options.orgId, directoryId, groupId },
      body: { accountId },
      idempotent: true,
      accept: [409],
    });
  }

  async removeMember(groupId: string, accountId: string): Promise<void> {
    const directoryId = await this.directory();
    await this.http.request({
      method: 'DELETE',
      path: '/admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/memberships/{accountId}',
      params: { orgId: this.options.orgId, directoryId, groupId, accountId },
      accept: [404],
    });
  }

  /** The configured directory, or the org's first one (looked up once). */
  private async directory(): Promise<string> {
    if (this.directoryId) return this.directoryId;
    const { body } = await this.http.json(
      { method: 'GET', path: '/admin/v2/orgs/{orgId}/directories', params: { orgId: this.options.orgId } },
      cursorPage(z.object({ directoryId: z.string().optional(), id: z.string().optional(), name: z.string().optional() })),
    );
    const first = body.data[0];
    const id = first?.directoryId ?? first?.id;
    if (!id) throw unsupported('atlassian-org', 'manage groups', 'the organization has no directory');
    this.directoryId = id;
    return id;
  }
}

const membership = z.object({ accountId: z.string() });

function nextCursor(next: string | null | undefined): string | null {
  if (!next) return null;
  // The API answers either an opaque cursor or a URL carrying it.
  return /^https?:\/\//.test(next) || next.startsWith('/') ? queryParamOf(next, 'cursor') : next;
}

function toAccount(user: { account_id: string; name?: string | null; email?: string | null; account_status?: string }): TargetAccount {
  return { accountId: user.account_id, email: user.email ?? null, displayName: user.name ?? null, active: (user.account_status ?? 'active') === 'active' };
}
