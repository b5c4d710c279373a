import { z } from 'zod';
import { HttpClient, type HttpClientOptions } from './http';
import { capabilitiesOf } from './capabilities';
import type { AccountLifecycle } from './jira-cloud';
import { answered, parseBody, queryParamOf, unsupported } from './support';
import type { AccountChanges, ConnectionCheck, NewAccount, Target, TargetAccount, TargetGroup } from './types';

/**
 * The Atlassian organization APIs (api.atlassian.com) with an org admin API key (Bearer). They do what
 * the product REST APIs cannot: suspend and restore a user's access to the organization's apps (v2
 * directories), update managed accounts' profiles and emails (user management API), and manage the org
 * directory's groups (v2, cursor paging `{data, links.next}`).
 *
 * As Atlassian documents them:
 * - `POST /admin/v2/orgs/{orgId}/directories/{directoryId}/users/{accountId}/suspend` / `.../restore` remove and
 *   give back app access only (roles and group memberships come back on restore). That is what "deactivate in
 *   Jira/Confluence" means. `POST /users/{id}/manage/lifecycle/disable` would block the Atlassian account
 *   everywhere (every org, every product), so the sync never calls it.
 * - `PATCH /users/{id}/manage/profile` changes only the `profile.write` fields (name, nickname, …); an email
 *   goes to `PUT /users/{id}/manage/email`.
 * - Members of a group are listed by `GET /admin/v2/orgs/{orgId}/directories/{directoryId}/users?groupIds=`
 *   (at most 100 a page, cursor in `links.next`); there is no group-memberships listing endpoint.
 * - `GET /admin/v1/orgs/{orgId}/users` lists managed accounts only, so users are read from the v2 directory
 *   users endpoint, which lists every user of the directory, managed or not.
 *
 * Used on its own as a target, and as the AccountLifecycle of Jira/Confluence Cloud targets.
 */

export interface AtlassianOrgOptions {
  http: Omit<HttpClientOptions, 'target' | 'auth'> & { apiKey: string };
  orgId: string;
  directoryId?: string;
}

/** A user of the v2 directory users endpoint; `status` is the composite of account and membership status. */
const directoryUser = z.object({
  accountId: z.string(),
  accountType: z.string().optional(),
  status: z.string().optional(),
  accountStatus: z.string().optional(),
  membershipStatus: z.string().optional(),
  name: z.string().nullable().optional(),
  nickname: z.string().nullable().optional(),
  email: z.string().nullable().optional(),
});
type DirectoryUser = z.infer<typeof directoryUser>;
const cursorPage = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), links: z.object({ next: z.string().nullable().optional() }).optional() });
const orgGroup = z.object({ id: z.string(), name: z.string() });

/** Page size of the v2 directory users endpoint (its documented maximum). */
export const ORG_USERS_PAGE = 100;

export class AtlassianOrgTarget implements Target, AccountLifecycle {
  readonly kind = 'atlassian-org' as const;
  readonly capabilities = capabilitiesOf('atlassian-org');
  readonly http: HttpClient;
  private directoryId: string | undefined;
  private directoryLookup: Promise<string> | undefined;

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

  /** Every user of the org directory (managed or not), by the v2 directory users endpoint. */
  async *listUsers(): AsyncIterable<TargetAccount> {
    for await (const user of this.directoryUsers({})) {
      if (user.accountType && user.accountType !== 'atlassian') continue;
      yield toAccount(user);
    }
  }

  async getUser(accountId: string): Promise<TargetAccount | null> {
    for await (const user of this.directoryUsers({ accountIds: [accountId] })) if (user.accountId === accountId) return toAccount(user);
    return null;
  }

  /** `searchTerm` matches nickname and email; the exact email is picked among the matches. */
  async findUserByEmail(email: string): Promise<TargetAccount | null> {
    const wanted = email.trim().toLowerCase();
    for await (const user of this.directoryUsers({ searchTerm: wanted })) if (user.email?.toLowerCase() === wanted) return toAccount(user);
    return null;
  }

  async *listGroups(): AsyncIterable<TargetGroup> {
    yield* this.groupPages({});
  }

  private async *groupPages(filter: { accountIds?: string[] }): AsyncIterable<TargetGroup> {
    const directoryId = await this.directory();
    let cursor: string | null = null;
    do {
      const { body }: { body: z.infer<ReturnType<typeof cursorPage<typeof orgGroup>>> } = await this.http.json(
        {
          method: 'GET',
          path: '/admin/v2/orgs/{orgId}/directories/{directoryId}/groups',
          params: { orgId: this.options.orgId, directoryId },
          query: { ...filter, cursor: cursor ?? undefined },
        },
        cursorPage(orgGroup),
      );
      for (const group of body.data) yield { groupId: group.id, name: group.name };
      cursor = nextCursor(body.links?.next);
    } while (cursor);
  }

  /** `GET /admin/v2/orgs/{orgId}/directories/{directoryId}/users`, filtered, cursor-paged. */
  private async *directoryUsers(filter: { groupIds?: string[]; accountIds?: string[]; searchTerm?: string }): AsyncIterable<DirectoryUser> {
    const directoryId = await this.directory();
    let cursor: string | null = null;
    do {
      const { body }: { body: z.infer<ReturnType<typeof cursorPage<typeof directoryUser>>> } = await this.http.json(
        {
          method: 'GET',
          path: '/admin/v2/orgs/{orgId}/directories/{directoryId}/users',
          params: { orgId: this.options.orgId, directoryId },
          query: { ...filter, limit: ORG_USERS_PAGE, cursor: cursor ?? undefined },
        },
        cursorPage(directoryUser),
      );
      yield* body.data;
      cursor = nextCursor(body.links?.next);
    } while (cursor);
  }

  /** Members through the directory users endpoint filtered by `groupIds` (the API has no memberships listing). */
  async *listGroupMembers(groupId: string): AsyncIterable<string> {
    for await (const user of this.directoryUsers({ groupIds: [groupId] })) yield user.accountId;
  }

  /** The groups endpoint filtered by `accountIds`: one user's groups without reading every group. */
  async listUserGroups(accountId: string): Promise<TargetGroup[]> {
    const groups: TargetGroup[] = [];
    for await (const group of this.groupPages({ accountIds: [accountId] })) groups.push(group);
    return groups;
  }

  async createUser(_account: NewAccount): Promise<TargetAccount> {
    throw unsupported('atlassian-org', 'create a user', 'accounts are created by the product targets or by the identity provider');
  }

  /** The name through the profile API, an email through the email API (the profile refuses one). */
  async updateUser(accountId: string, changes: AccountChanges): Promise<void> {
    if (changes.displayName) {
      await this.http.request({ method: 'PATCH', path: '/users/{accountId}/manage/profile', params: { accountId }, body: { name: changes.displayName }, idempotent: true });
    }
    if (changes.email) {
      await this.http.request({ method: 'PUT', path: '/users/{accountId}/manage/email', params: { accountId }, body: { email: changes.email }, idempotent: true });
    }
  }

  /** Suspends the user's access to the organization's apps (the account itself stays usable elsewhere). */
  async deactivateUser(accountId: string): Promise<void> {
    await this.setAccess(accountId, 'suspend');
  }

  /** Restores app access; Atlassian gives back the roles and group memberships the user had before. */
  async reactivateUser(accountId: string): Promise<void> {
    await this.setAccess(accountId, 'restore');
  }

  /**
   * Atlassian does not document the answer to suspending a suspended user (or restoring an active one), so
   * any 4xx but 401/403/404 is checked against the user's membership status instead of its wording: already
   * in the wanted state = done.
   */
  private async setAccess(accountId: string, action: 'suspend' | 'restore'): Promise<void> {
    const directoryId = await this.directory();
    const path = `/admin/v2/orgs/{orgId}/directories/{directoryId}/users/{accountId}/${action}`;
    const response = await this.http.request({
      method: 'POST',
      path,
      params: { orgId: this.options.orgId, directoryId, accountId },
      idempotent: true,
      accept: [400, 409, 412, 422],
    });
    if (response.status < 300) return;
    let current: DirectoryUser | undefined;
    for await (const user of this.directoryUsers({ accountIds: [accountId] })) if (user.accountId === accountId) current = user;
    const suspended = current ? isSuspended(current) : undefined;
    if (suspended === (action === 'suspend')) return;
    throw answered('atlassian-org', `POST ${path}`, response.status, response.body);
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

  /** The configured directory, or the org's first one (looked up once, even by concurrent calls). */
  private directory(): Promise<string> {
    if (this.directoryId) return Promise.resolve(this.directoryId);
    this.directoryLookup ??= this.lookUpDirectory().catch((error: unknown) => {
      this.directoryLookup = undefined; // a failed lookup is tried again by the next call
      throw error;
    });
    return this.directoryLookup;
  }

  private async lookUpDirectory(): Promise<string> {
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

function nextCursor(next: string | null | undefined): string | null {
  if (!next) return null;
  // The API answers either an opaque cursor or a URL carrying it.
  return /^https?:\/\//.test(next) || next.startsWith('/') ? queryParamOf(next, 'cursor') : next;
}

function isSuspended(user: DirectoryUser): boolean {
  return user.membershipStatus === 'suspended' || user.status === 'suspended';
}

/** Active = the account is active and its access to the directory's apps is not suspended. */
function toAccount(user: DirectoryUser): TargetAccount {
  return {
    accountId: user.accountId,
    email: user.email ?? null,
    displayName: user.name ?? user.nickname ?? null,
    active: (user.accountStatus ?? 'active') === 'active' && !isSuspended(user),
  };
}
