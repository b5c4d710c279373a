import { z } from 'zod';
import { capabilitiesOf } from './capabilities';
import { HttpClient, productMessage, type HttpClientOptions } from './http';
import { answered, parseBody } from './support';
import type { AccountChanges, ComponentLead, ConnectionCheck, NewAccount, ProjectLead, Target, TargetAccount, TargetGroup } from './types';

/**
 * Jira Data Center (`/rest/api/2`) with a personal access token of a Jira administrator. Users are
 * identified by username (`name`), groups by name. Unlike Jira Cloud, Data Center can deactivate
 * (`active: false` on the user) and update profiles.
 */

export interface JiraDcOptions {
  http: Omit<HttpClientOptions, 'target' | 'auth'> & { token: string };
  notifyOnCreate?: boolean;
}

export const JIRA_DC_LIMITS = { usersPage: 1000, membersPage: 50, groupPicker: 10_000 } as const;

const dcUser = z.object({
  name: z.string(),
  key: z.string().optional(),
  emailAddress: z.string().nullable().optional(),
  displayName: z.string().nullable().optional(),
  active: z.boolean().optional(),
});

export class JiraDcTarget implements Target {
  readonly kind = 'jira-dc' as const;
  readonly capabilities = capabilitiesOf('jira-dc');
  readonly http: HttpClient;
  private readonly notifyOnCreate: boolean;

  constructor(options: JiraDcOptions) {
    const { token, ...http } = options.http;
    this.http = new HttpClient({ ...http, target: 'jira-dc', auth: { kind: 'bearer', token } });
    this.notifyOnCreate = options.notifyOnCreate ?? false;
  }

  async testConnection(): Promise<ConnectionCheck> {
    try {
      const { body: me } = await this.http.json({ method: 'GET', path: '/rest/api/2/myself' }, dcUser);
      const { body } = await this.http.json(
        { method: 'GET', path: '/rest/api/2/mypermissions', query: { permissions: 'ADMINISTER' } },
        z.object({ permissions: z.record(z.string(), z.object({ havePermission: z.boolean().optional() })) }),
      );
      const admin = body.permissions.ADMINISTER?.havePermission === true;
      return {
        ok: admin,
        message: admin ? `Connected as ${me.name} with Jira administration rights.` : `Connected as ${me.name}, who is not a Jira administrator.`,
        details: { username: me.name, administer: admin },
      };
    } catch (error) {
      return { ok: false, message: error instanceof Error ? error.message : String(error) };
    }
  }

  /** `username=.` matches every user in Jira DC's user search; inactive users are included. */
  async *listUsers(): AsyncIterable<TargetAccount> {
    for (let startAt = 0; ; startAt += JIRA_DC_LIMITS.usersPage) {
      const { body } = await this.http.json(
        {
          method: 'GET',
          path: '/rest/api/2/user/search',
          query: { username: '.', includeInactive: true, startAt, maxResults: JIRA_DC_LIMITS.usersPage },
        },
        z.array(dcUser),
      );
      for (const user of body) yield toAccount(user);
      if (body.length < JIRA_DC_LIMITS.usersPage) return;
    }
  }

  async getUser(username: string): Promise<TargetAccount | null> {
    const response = await this.http.request({ method: 'GET', path: '/rest/api/2/user', query: { username }, accept: [404] });
    return response.status === 404 ? null : toAccount(parseBody('jira-dc', dcUser, response.body, 'GET /rest/api/2/user'));
  }

  async findUserByEmail(email: string): Promise<TargetAccount | null> {
    const wanted = email.trim().toLowerCase();
    const { body } = await this.http.json(
      { method: 'GET', path: '/rest/api/2/user/search', query: { username: wanted, includeInactive: true, maxResults: 50 } },
      z.array(dcUser),
    );
    const match = body.find((user) => user.emailAddress?.toLowerCase() === wanted);
    return match ? toAccount(match) : null;
  }

  async *listGroups(): AsyncIterable<TargetGroup> {
    const { body } = await this.http.json(
      { method: 'GET', path: '/rest/api/2/groups/picker', query: { query: '', maxResults: JIRA_DC_LIMITS.groupPicker } },
      z.object({ groups: z.array(z.object({ name: z.string() })) }),
    );
    for (const group of body.groups) yield { groupId: group.name, name: group.name };
  }

  async *listGroupMembers(groupId: string): AsyncIterable<string> {
    for (let startAt = 0; ; ) {
      const { body } = await this.http.json(
        {
          method: 'GET',
          path: '/rest/api/2/group/member',
          query: { groupname: groupId, includeInactiveUsers: true, startAt, maxResults: JIRA_DC_LIMITS.membersPage },
        },
        z.object({ values: z.array(dcUser), isLast: z.boolean().optional() }),
      );
      for (const user of body.values) yield user.name;
      if (body.isLast !== false || body.values.length === 0) return;
      startAt += body.values.length;
    }
  }

  async listUserGroups(username: string): Promise<TargetGroup[]> {
    const { body } = await this.http.json(
      { method: 'GET', path: '/rest/api/2/user', query: { username, expand: 'groups' } },
      dcUser.extend({ groups: z.object({ items: z.array(z.object({ name: z.string() })) }).optional() }),
    );
    return (body.groups?.items ?? []).map((group) => ({ groupId: group.name, name: group.name }));
  }

  /** A username in use answers 400; the existing user is returned so a re-run creates no duplicate. */
  async createUser(account: NewAccount): Promise<TargetAccount> {
    const response = await this.http.request({
      method: 'POST',
      path: '/rest/api/2/user',
      body: {
        name: account.username,
        emailAddress: account.email,
        displayName: account.displayName ?? account.username,
        ...(this.notifyOnCreate ? { notification: 'true' } : {}),
      },
      idempotent: true,
      accept: [400],
    });
    if (response.status === 400) {
      const existing = await this.getUser(account.username);
      if (existing) return existing;
      throw answered('jira-dc', 'POST /rest/api/2/user', 400, response.body);
    }
    return toAccount(parseBody('jira-dc', dcUser, response.body, 'POST /rest/api/2/user'));
  }

  async updateUser(username: string, changes: AccountChanges): Promise<void> {
    const body: Record<string, string> = {};
    if (changes.displayName) body.displayName = changes.displayName;
    if (changes.email) body.emailAddress = changes.email;
    if (Object.keys(body).length > 0) await this.http.request({ method: 'PUT', path: '/rest/api/2/user', query: { username }, body });
  }

  async deactivateUser(username: string): Promise<void> {
    await this.http.request({ method: 'PUT', path: '/rest/api/2/user', query: { username }, body: { active: false } });
  }

  async reactivateUser(username: string): Promise<void> {
    await this.http.request({ method: 'PUT', path: '/rest/api/2/user', query: { username }, body: { active: true } });
  }

  async deleteUser(username: string): Promise<void> {
    await this.http.request({ method: 'DELETE', path: '/rest/api/2/user', query: { username }, accept: [404] });
  }

  async createGroup(name: string): Promise<TargetGroup> {
    const response = await this.http.request({ method: 'POST', path: '/rest/api/2/group', body: { name }, idempotent: true, accept: [400] });
    if (response.status === 400 && !/already exists/i.test(productMessage(response.body))) throw answered('jira-dc', 'POST /rest/api/2/group', 400, response.body);
    return { groupId: name, name };
  }

  async deleteGroup(groupId: string): Promise<void> {
    await this.http.request({ method: 'DELETE', path: '/rest/api/2/group', query: { groupname: groupId }, accept: [404] });
  }

  async addMember(groupId: string, username: string): Promise<void> {
    const response = await this.http.request({
      method: 'POST',
      path: '/rest/api/2/group/user',
      query: { groupname: groupId },
      body: { name: username },
      idempotent: true,
      accept: [400],
    });
    if (response.status === 400 && !/already a member/i.test(productMessage(response.body))) throw answered('jira-dc', 'POST /rest/api/2/group/user', 400, response.body);
  }

  async removeMember(groupId: string, username: string): Promise<void> {
    const response = await this.http.request({
      method: 'DELETE',
      path: '/rest/api/2/group/user',
      query: { groupname: groupId, username },
      accept: [400, 404],
    });
    if (response.status === 400 && !/not a member/i.test(productMessage(response.body))) throw answered('jira-dc', 'DELETE /rest/api/2/group/user', 400, response.body);
  }

  async *listProjectLeads(): AsyncIterable<ProjectLead> {
    for (const project of await this.projects()) {
      yield { projectKey: project.key, projectName: project.name, leadAccountId: project.lead?.name ?? null };
    }
  }

  async setProjectLead(projectKey: string, username: string): Promise<void> {
    await this.http.request({ method: 'PUT', path: '/rest/api/2/project/{key}', params: { key: projectKey }, body: { lead: username } });
  }

  async *listComponentLeads(): AsyncIterable<ComponentLead> {
    for (const project of await this.projects()) {
      const { body } = await this.http.json(
        { method: 'GET', path: '/rest/api/2/project/{key}/components', params: { key: project.key } },
        z.array(z.object({ id: z.string(), name: z.string(), lead: dcUser.optional() })),
      );
      for (const component of body) {
        yield { componentId: component.id, componentName: component.name, projectKey: project.key, leadAccountId: component.lead?.name ?? null };
      }
    }
  }

  async setComponentLead(componentId: string, username: string): Promise<void> {
    await this.http.request({ method: 'PUT', path: '/rest/api/2/component/{id}', params: { id: componentId }, body: { leadUserName: username } });
  }

  private async projects() {
    const { body } = await this.http.json(
      { method: 'GET', path: '/rest/api/2/project', query: { expand: 'lead' } },
      z.array(z.object({ key: z.string(), name: z.string(), lead: dcUser.optional() })),
    );
    return body;
  }
}

function toAccount(user: z.infer<typeof dcUser>): TargetAccount {
  return { accountId: user.name, email: user.emailAddress ?? null, displayName: user.displayName ?? null, active: user.active ?? true };
}
