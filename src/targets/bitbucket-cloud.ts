import { z } from 'zod';
import { capabilitiesOf } from './capabilities';
import { HttpClient, type HttpClientOptions } from './http';
import { answered, parseBody, queryParamOf, unsupported } from './support';
import type { AccountChanges, ConnectionCheck, NewAccount, Target, TargetAccount, TargetGroup } from './types';

/**
 * Bitbucket Cloud with workspace admin credentials (basic auth: username or Atlassian email + API
 * token / app password). Workspace members are read-only in 2.0 (`/2.0/workspaces/{ws}/members`);
 * groups and memberships live only in the 1.0 groups API, which Atlassian keeps until platform groups
 * replace it. Groups are keyed by slug; users by Atlassian account_id.
 */

export interface BitbucketCloudOptions {
  http: Omit<HttpClientOptions, 'target' | 'auth'> & { username: string; apiToken: string };
  workspace: string;
}

const bbUser = z.object({
  account_id: z.string().optional().nullable(),
  uuid: z.string().optional(),
  display_name: z.string().optional().nullable(),
  nickname: z.string().optional().nullable(),
});
const member = z.object({ user: bbUser });
const memberPage = z.object({ values: z.array(member), next: z.string().optional(), pagelen: z.number().optional() });
const bbGroup = z.object({ name: z.string(), slug: z.string(), members: z.array(bbUser).optional() });

/** 2.0 pages hold at most 100. */
export const BITBUCKET_CLOUD_LIMITS = { membersPage: 100 } as const;

export class BitbucketCloudTarget implements Target {
  readonly kind = 'bitbucket-cloud' as const;
  readonly capabilities = capabilitiesOf('bitbucket-cloud');
  readonly http: HttpClient;
  private readonly workspace: string;

  constructor(options: BitbucketCloudOptions) {
    const { username, apiToken, ...http } = options.http;
    this.http = new HttpClient({ ...http, target: 'bitbucket-cloud', auth: { kind: 'basic', username, password: apiToken } });
    this.workspace = options.workspace;
  }

  async testConnection(): Promise<ConnectionCheck> {
    try {
      const { body: me } = await this.http.json({ method: 'GET', path: '/2.0/user' }, bbUser);
      const { body: ws } = await this.http.json(
        { method: 'GET', path: '/2.0/workspaces/{workspace}', params: { workspace: this.workspace } },
        z.object({ slug: z.string(), name: z.string().optional() }),
      );
      // Reading the groups needs workspace admin rights: the check proves what the writes need.
      await this.http.request({ method: 'GET', path: '/1.0/groups/{workspace}', params: { workspace: this.workspace } });
      return { ok: true, message: `Connected to workspace ${ws.name ?? ws.slug} as ${me.display_name ?? me.nickname ?? 'the configured user'}.`, details: { workspace: ws.slug } };
    } catch (error) {
      return { ok: false, message: error instanceof Error ? error.message : String(error) };
    }
  }

  /** Workspace members (emails are not exposed by Bitbucket Cloud). */
  async *listUsers(): AsyncIterable<TargetAccount> {
    for (let page: string | null = '1'; page; ) {
      const { body }: { body: z.infer<typeof memberPage> } = await this.http.json(
        {
          method: 'GET',
          path: '/2.0/workspaces/{workspace}/members',
          params: { workspace: this.workspace },
          query: { page, pagelen: BITBUCKET_CLOUD_LIMITS.membersPage },
        },
        memberPage,
      );
      for (const entry of body.values) if (entry.user.account_id) yield toAccount(entry.user);
      page = queryParamOf(body.next, 'page');
    }
  }

  async getUser(accountId: string): Promise<TargetAccount | null> {
    const response = await this.http.request({
      method: 'GET',
      path: '/2.0/workspaces/{workspace}/members/{member}',
      params: { workspace: this.workspace, member: accountId },
      accept: [404],
    });
    if (response.status === 404) return null;
    return toAccount(parseBody('bitbucket-cloud', member, response.body, 'GET /2.0/workspaces/{workspace}/members/{member}').user);
  }

  async findUserByEmail(_email: string): Promise<TargetAccount | null> {
    return null;
  }

  async *listGroups(): AsyncIterable<TargetGroup> {
    for (const group of await this.groups()) yield { groupId: group.slug, name: group.name };
  }

  async *listGroupMembers(groupId: string): AsyncIterable<string> {
    const { body } = await this.http.json(
      { method: 'GET', path: '/1.0/groups/{workspace}/{group}/members', params: { workspace: this.workspace, group: groupId } },
      z.array(bbUser),
    );
    for (const user of body) if (user.account_id) yield user.account_id;
  }

  async listUserGroups(accountId: string): Promise<TargetGroup[]> {
    return (await this.groups())
      .filter((group) => group.members?.some((m) => m.account_id === accountId))
      .map((group) => ({ groupId: group.slug, name: group.name }));
  }

  async createUser(_account: NewAccount): Promise<TargetAccount> {
    throw unsupported('bitbucket-cloud', 'create a user', 'users join a workspace by invitation; their groups are managed once they are members');
  }

  async updateUser(_accountId: string, _changes: AccountChanges): Promise<void> {
    throw unsupported('bitbucket-cloud', 'update a user', 'Atlassian accounts own their profile');
  }

  async deactivateUser(_accountId: string): Promise<void> {
    throw unsupported('bitbucket-cloud', 'deactivate a user', 'remove the user from the managed groups');
  }

  async reactivateUser(_accountId: string): Promise<void> {
    throw unsupported('bitbucket-cloud', 'reactivate a user', 'add the user back to the managed groups');
  }

  async deleteUser(_accountId: string): Promise<void> {
    throw unsupported('bitbucket-cloud', 'remove a user from the workspace', 'remove the user from the managed groups');
  }

  /** The 1.0 API takes a form body; a name already in use is looked up and returned. */
  async createGroup(name: string): Promise<TargetGroup> {
    const response = await this.http.request({
      method: 'POST',
      path: '/1.0/groups/{workspace}',
      params: { workspace: this.workspace },
      form: { name },
      idempotent: true,
      accept: [400, 409],
    });
    if (response.status < 300) {
      const group = parseBody('bitbucket-cloud', bbGroup, response.body, 'POST /1.0/groups/{workspace}');
      return { groupId: group.slug, name: group.name };
    }
    const existing = (await this.groups()).find((g) => g.name.toLowerCase() === name.toLowerCase());
    if (existing) return { groupId: existing.slug, name: existing.name };
    throw answered('bitbucket-cloud', 'POST /1.0/groups/{workspace}', response.status, response.body);
  }

  async deleteGroup(groupId: string): Promise<void> {
    await this.http.request({ method: 'DELETE', path: '/1.0/groups/{workspace}/{group}', params: { workspace: this.workspace, group: groupId }, accept: [404] });
  }

  /** 409 = already a member. The 1.0 API wants an (empty) JSON body on this PUT. */
  async addMember(groupId: string, accountId: string): Promise<void> {
    await this.http.request({
      method: 'PUT',
      path: '/1.0/groups/{workspace}/{group}/members/{member}',
      params: { workspace: this.workspace, group: groupId, member: accountId },
      body: {},
      accept: [409],
    });
  }

  async removeMember(groupId: string, accountId: string): Promise<void> {
    await this.http.request({
      method: 'DELETE',
      path: '/1.0/groups/{workspace}/{group}/members/{member}',
      params: { workspace: this.workspace, group: groupId, member: accountId },
      accept: [404],
    });
  }

  private async groups(): Promise<z.infer<typeof bbGroup>[]> {
    const { body } = await this.http.json({ method: 'GET', path: '/1.0/groups/{workspace}', params: { workspace: this.workspace } }, z.array(bbGroup));
    return body;
  }
}

function toAccount(user: z.infer<typeof bbUser>): TargetAccount {
  return { accountId: user.account_id!, email: null, displayName: user.display_name ?? user.nickname ?? null, active: true };
}
