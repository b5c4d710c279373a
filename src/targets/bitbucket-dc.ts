import { z } from 'zod';
import { capabilitiesOf } from './capabilities';
import { HttpClient, type HttpClientOptions } from './http';
import { parseBody, randomPassword, unsupported } from './support';
import type { AccountChanges, ConnectionCheck, NewAccount, Target, TargetAccount, TargetGroup } from './types';

/**
 * Bitbucket Data Center (`/rest/api/1.0`, admin endpoints) with a personal access token of a
 * system/ADMIN user. Users and groups are keyed by name. Paged responses are
 * `{size, limit, isLastPage, start, nextPageStart, values}`.
 */

export interface BitbucketDcOptions {
  http: Omit<HttpClientOptions, 'target' | 'auth'> & { token: string };
  addToDefaultGroup?: boolean;
}

export const BITBUCKET_DC_LIMITS = { page: 1000 } as const;

const dcUser = z.object({
  name: z.string(),
  emailAddress: z.string().nullable().optional(),
  displayName: z.string().nullable().optional(),
  active: z.boolean().optional(),
});
const dcGroup = z.object({ name: z.string() });
const dcPage = <T extends z.ZodType>(item: T) =>
  z.object({ values: z.array(item), isLastPage: z.boolean(), nextPageStart: z.number().nullable().optional(), start: z.number().optional() });

export class BitbucketDcTarget implements Target {
  readonly kind = 'bitbucket-dc' as const;
  readonly capabilities = capabilitiesOf('bitbucket-dc');
  readonly http: HttpClient;
  private readonly addToDefaultGroup: boolean;

  constructor(options: BitbucketDcOptions) {
    const { token, ...http } = options.http;
    this.http = new HttpClient({ ...http, target: 'bitbucket-dc', auth: { kind: 'bearer', token } });
    this.addToDefaultGroup = options.addToDefaultGroup ?? true;
  }

  async testConnection(): Promise<ConnectionCheck> {
    try {
      const { body } = await this.http.json(
        { method: 'GET', path: '/rest/api/1.0/application-properties' },
        z.object({ version: z.string().optional(), displayName: z.string().optional() }),
      );
      // Listing users through the admin API proves the token has the rights the writes need.
      await this.http.request({ method: 'GET', path: '/rest/api/1.0/admin/users', query: { limit: 1 } });
      return { ok: true, message: `Connected to ${body.displayName ?? 'Bitbucket'} ${body.version ?? ''} with admin rights.`.replace(/\s+\./, '.'), details: { version: body.version } };
    } catch (error) {
      return { ok: false, message: error instanceof Error ? error.message : String(error) };
    }
  }

  async *listUsers(): AsyncIterable<TargetAccount> {
    yield* this.paged('/rest/api/1.0/admin/users', {}, dcUser, toAccount);
  }

  async getUser(username: string): Promise<TargetAccount | null> {
    for await (const user of this.paged('/rest/api/1.0/admin/users', { filter: username }, dcUser, (u) => u)) {
      if (user.name.toLowerCase() === username.toLowerCase()) return toAccount(user);
    }
    return null;
  }

  async findUserByEmail(email: string): Promise<TargetAccount | null> {
    const wanted = email.trim().toLowerCase();
    for await (const user of this.paged('/rest/api/1.0/admin/users', { filter: wanted }, dcUser, (u) => u)) {
      if (user.emailAddress?.toLowerCase() === wanted) return toAccount(user);
    }
    return null;
  }

  async *listGroups(): AsyncIterable<TargetGroup> {
    yield* this.paged('/rest/api/1.0/admin/groups', {}, dcGroup, (g) => ({ groupId: g.name, name: g.name }));
  }

  async *listGroupMembers(groupId: string): AsyncIterable<string> {
    yield* this.paged('/rest/api/1.0/admin/groups/more-members', { context: groupId }, dcUser, (u) => u.name);
  }

  async listUserGroups(username: string): Promise<TargetGroup[]> {
    const groups: TargetGroup[] = [];
    for await (const group of this.paged('/rest/api/1.0/admin/users/more-members', { context: username }, dcGroup, (g) => ({ groupId: g.name, name: g.name }))) {
      groups.push(group);
    }
    return groups;
  }

  /**
   * Creation takes query parameters. Users sign in through SSO or reset their password, so a random
   * password is set (never stored or logged). A username in use (409) returns the existing user.
   */
  async createUser(account: NewAccount): Promise<TargetAccount> {
    const response = await this.http.request({
      method: 'POST',
      path: '/rest/api/1.0/admin/users',
      query: {
        name: account.username,
        password: randomPassword(),
        displayName: account.displayName ?? account.username,
        emailAddress: account.email,
        addToDefaultGroup: this.addToDefaultGroup,
        notify: false,
      },
      idempotent: true,
      accept: [409],
    });
    if (response.status === 409) {
      const existing = await this.getUser(account.username);
      if (existing) return existing;
    }
    return { accountId: account.username, email: account.email, displayName: account.displayName ?? account.username, active: true };
  }

  async updateUser(username: string, changes: AccountChanges): Promise<void> {
    const body: Record<string, string> = { name: username };
    if (changes.displayName) body.displayName = changes.displayName;
    if (changes.email) body.email = changes.email;
    await this.http.request({ method: 'PUT', path: '/rest/api/1.0/admin/users', body });
  }

  async deactivateUser(_username: string): Promise<void> {
    throw unsupported('bitbucket-dc', 'deactivate a user', 'remove the user from the licensed groups, or delete the user');
  }

  async reactivateUser(_username: string): Promise<void> {
    throw unsupported('bitbucket-dc', 'reactivate a user', 'add the user back to the licensed groups');
  }

  async deleteUser(username: string): Promise<void> {
    await this.http.request({ method: 'DELETE', path: '/rest/api/1.0/admin/users', query: { name: username }, accept: [404] });
  }

  async createGroup(name: string): Promise<TargetGroup> {
    const response = await this.http.request({ method: 'POST', path: '/rest/api/1.0/admin/groups', query: { name }, idempotent: true, accept: [409] });
    if (response.status < 300) {
      const group = parseBody('bitbucket-dc', dcGroup, response.body, 'POST /rest/api/1.0/admin/groups');
      return { groupId: group.name, name: group.name };
    }
    return { groupId: name, name };
  }

  async deleteGroup(groupId: string): Promise<void> {
    await this.http.request({ method: 'DELETE', path: '/rest/api/1.0/admin/groups', query: { name: groupId }, accept: [404] });
  }

  /** add-users takes one group and many users and does nothing for users already in it. */
  async addMember(groupId: string, username: string): Promise<void> {
    await this.http.request({ method: 'POST', path: '/rest/api/1.0/admin/groups/add-users', body: { group: groupId, users: [username] }, idempotent: true });
  }

  /** `context` is the user and `itemName` the group (the reference's own example has them swapped). */
  async removeMember(groupId: string, username: string): Promise<void> {
    await this.http.request({
      method: 'POST',
      path: '/rest/api/1.0/admin/users/remove-group',
      body: { context: username, itemName: groupId },
      idempotent: true,
      accept: [404],
    });
  }

  private async *paged<I, O>(path: string, query: Record<string, string>, item: z.ZodType<I>, map: (item: I) => O): AsyncIterable<O> {
    for (let start: number | null = 0; start !== null; ) {
      const { body }: { body: z.infer<ReturnType<typeof dcPage<z.ZodType<I>>>> } = await this.http.json(
        { method: 'GET', path, query: { ...query, start, limit: BITBUCKET_DC_LIMITS.page } },
        dcPage(item),
      );
      for (const entry of body.values) yield map(entry as I);
      start = body.isLastPage || body.values.length === 0 ? null : (body.nextPageStart ?? start + body.values.length);
    }
  }
}

function toAccount(user: z.infer<typeof dcUser>): TargetAccount {
  return { accountId: user.name, email: user.emailAddress ?? null, displayName: user.displayName ?? null, active: user.active ?? true };
}
