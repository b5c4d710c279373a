import { z } from 'zod';
import { capabilitiesOf } from './capabilities';
import { HttpClient, type HttpClientOptions } from './http';
import { answered, randomPassword } from './support';
import type { AccountChanges, ConnectionCheck, NewAccount, Target, TargetAccount, TargetGroup } from './types';

/**
 * Confluence Data Center (`/rest/api`, user-management endpoints of 8.4 and later) with a personal
 * access token of a Confluence administrator. Users are keyed by username, groups by name.
 * Membership writes (`PUT/DELETE /rest/api/user/{username}/group/{groupName}`) are idempotent by
 * documentation.
 */

export interface ConfluenceDcOptions {
  http: Omit<HttpClientOptions, 'target' | 'auth'> & { token: string };
  notifyOnCreate?: boolean;
}

export const CONFLUENCE_DC_LIMITS = { page: 200 } as const;

const dcUser = z.object({
  username: z.string(),
  userKey: z.string().optional(),
  displayName: z.string().nullable().optional(),
  email: z.string().nullable().optional(),
  status: z.string().optional(),
});
const dcGroup = z.object({ name: z.string() });
const results = <T extends z.ZodType>(item: T) => z.object({ results: z.array(item), size: z.number(), _links: z.object({ next: z.string().optional() }).optional() });

export class ConfluenceDcTarget implements Target {
  readonly kind = 'confluence-dc' as const;
  readonly capabilities = capabilitiesOf('confluence-dc');
  readonly http: HttpClient;
  private readonly notifyOnCreate: boolean;

  constructor(options: ConfluenceDcOptions) {
    const { token, ...http } = options.http;
    this.http = new HttpClient({ ...http, target: 'confluence-dc', auth: { kind: 'bearer', token } });
    this.notifyOnCreate = options.notifyOnCreate ?? true;
  }

  async testConnection(): Promise<ConnectionCheck> {
    try {
      const { body } = await this.http.json({ method: 'GET', path: '/rest/api/user/current' }, dcUser.extend({ type: z.string().optional() }));
      if (body.type === 'anonymous') return { ok: false, message: 'The token was not accepted (anonymous user).' };
      return { ok: true, message: `Connected to Confluence as ${body.username}.`, details: { username: body.username } };
    } catch (error) {
      return { ok: false, message: error instanceof Error ? error.message : String(error) };
    }
  }

  /** `GET /rest/api/user/list`: every registered user, disabled ones included (8.4+); `status` says which. */
  async *listUsers(): AsyncIterable<TargetAccount> {
    yield* this.paged('/rest/api/user/list', { expand: 'status' }, dcUser, toAccount);
  }

  async getUser(username: string): Promise<TargetAccount | null> {
    const response = await this.http.request({ method: 'GET', path: '/rest/api/user', query: { username, expand: 'status' }, accept: [404] });
    if (response.status === 404) return null;
    const parsed = dcUser.safeParse(response.body);
    return parsed.success ? toAccount(parsed.data) : null;
  }

  /** No email lookup in Confluence DC's REST API: a scan of the users (adoption is rare on DC). */
  async findUserByEmail(email: string): Promise<TargetAccount | null> {
    const wanted = email.trim().toLowerCase();
    for await (const user of this.listUsers()) if (user.email?.toLowerCase() === wanted) return user;
    return null;
  }

  async *listGroups(): AsyncIterable<TargetGroup> {
    yield* this.paged('/rest/api/group', {}, dcGroup, (g) => ({ groupId: g.name, name: g.name }));
  }

  async *listGroupMembers(groupId: string): AsyncIterable<string> {
    yield* this.paged(`/rest/api/group/{groupName}/member`, {}, dcUser, (u) => u.username, { groupName: groupId });
  }

  async listUserGroups(username: string): Promise<TargetGroup[]> {
    const groups: TargetGroup[] = [];
    for await (const group of this.paged('/rest/api/user/memberof', { username }, dcGroup, (g) => ({ groupId: g.name, name: g.name }))) groups.push(group);
    return groups;
  }

  async createUser(account: NewAccount): Promise<TargetAccount> {
    const response = await this.http.request({
      method: 'POST',
      path: '/rest/api/admin/user',
      body: {
        userName: account.username.toLowerCase(),
        fullName: account.displayName ?? account.username,
        email: account.email,
        ...(this.notifyOnCreate ? { notifyViaEmail: true } : { password: randomPassword(), notifyViaEmail: false }),
      },
      idempotent: true,
      accept: [400, 409],
    });
    if (response.status >= 400) {
      const existing = await this.getUser(account.username.toLowerCase());
      if (existing) return existing;
      throw answered('confluence-dc', 'POST /rest/api/admin/user', response.status, response.body);
    }
    return { accountId: account.username.toLowerCase(), email: account.email, displayName: account.displayName ?? account.username, active: true };
  }

  async updateUser(username: string, changes: AccountChanges): Promise<void> {
    const body: Record<string, string> = {};
    if (changes.displayName) body.fullName = changes.displayName;
    if (changes.email) body.email = changes.email;
    if (Object.keys(body).length > 0) await this.http.request({ method: 'PUT', path: '/rest/api/admin/user/{username}', params: { username }, body });
  }

  async deactivateUser(username: string): Promise<void> {
    await this.http.request({ method: 'PUT', path: '/rest/api/admin/user/{username}/disable', params: { username } });
  }

  async reactivateUser(username: string): Promise<void> {
    await this.http.request({ method: 'PUT', path: '/rest/api/admin/user/{username}/enable', params: { username } });
  }

  async deleteUser(username: string): Promise<void> {
    await this.http.request({ method: 'DELETE', path: '/rest/api/admin/user/{username}', params: { username }, accept: [404] });
  }

  async createGroup(name: string): Promise<TargetGroup> {
    const response = await this.http.request({ method: 'POST', path: '/rest/api/admin/group', body: { type: 'group', name }, idempotent: true, accept: [400, 409] });
    if (response.status >= 400) {
      // A name in use is refused in undocumented words: whether the group is there is asked instead.
      const existing = await this.http.request({ method: 'GET', path: '/rest/api/group/{groupName}', params: { groupName: name }, accept: [404] });
      if (existing.status === 404) throw answered('confluence-dc', 'POST /rest/api/admin/group', response.status, response.body);
    }
    return { groupId: name, name };
  }

  async deleteGroup(groupId: string): Promise<void> {
    await this.http.request({ method: 'DELETE', path: '/rest/api/admin/group/{groupName}', params: { groupName: groupId }, accept: [404] });
  }

  async addMember(groupId: string, username: string): Promise<void> {
    await this.http.request({ method: 'PUT', path: '/rest/api/user/{username}/group/{groupName}', params: { username, groupName: groupId } });
  }

  async removeMember(groupId: string, username: string): Promise<void> {
    await this.http.request({ method: 'DELETE', path: '/rest/api/user/{username}/group/{groupName}', params: { username, groupName: groupId }, accept: [404] });
  }

  private async *paged<I, O>(path: string, query: Record<string, string>, item: z.ZodType<I>, map: (item: I) => O, params?: Record<string, string>): AsyncIterable<O> {
    for (let start = 0; ; ) {
      const { body }: { body: z.infer<ReturnType<typeof results<z.ZodType<I>>>> } = await this.http.json(
        { method: 'GET', path, params, query: { ...query, start, limit: CONFLUENCE_DC_LIMITS.page } },
        results(item),
      );
      for (const entry of body.results) yield map(entry as I);
      // The `next` link is the documented "there is more"; a server may clamp the limit below what was asked.
      if (body.results.length === 0 || !body._links?.next) return;
      start += body.results.length;
    }
  }
}

/** `status` (an expansion) is "current" for enabled users; disabled ones read as deactivated. */
function toAccount(user: z.infer<typeof dcUser>): TargetAccount {
  return { accountId: user.username, email: user.email ?? null, displayName: user.displayName ?? null, active: !/deactivat|disabled|inactive/i.test(user.status ?? '') };
}
