import { z } from 'zod';
import { capabilitiesOf } from './capabilities';
import { HttpClient, type HttpClientOptions } from './http';
import { answered, parseBody } from './support';
import { TargetError, type AccountChanges, type ComponentLead, type ConnectionCheck, type NewAccount, type ProjectLead, type Target, type TargetAccount, type TargetGroup } from './types';

/**
 * Jira Data Center (`/rest/api/2`) with a personal access token of a Jira administrator. Users are
 * identified by username (`name`), groups by name. Unlike Jira Cloud, Data Center can deactivate
 * (`active: false` on the user) and update profiles.
 */

export interface JiraDcOptions {
  http: Omit<HttpClientOptions, 'target' | 'auth'> & { token: string };
  notifyOnCreate?: boolean;
}

/**
 * Documented limits: `/user/list` pages default to 2000 (we ask for 1000); `/user/search` returns at most 100
 * (Jira 10+); `/group/member` at most 50 a page. The picker's own cap is the server's jira.ajax.autocomplete.limit.
 */
export const JIRA_DC_LIMITS = {
  userListPage: 1000,
  userSearchPage: 100,
  membersPage: 50,
  groupPicker: 1000,
  /** Characters of `exclude=` parameters per picker call, well under Tomcat's default 8 KB request line. */
  groupPickerExcludeChars: 6000,
  groupPickerCalls: 5000,
} as const;

const userListPage = z.object({
  values: z.array(z.lazy(() => dcUser)),
  isLast: z.boolean().optional(),
  nextCursor: z.union([z.string(), z.number()]).nullable().optional(),
});

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

  /**
   * Every user, active or not. Jira DC 10.3 LTS and 11 list them with `GET /user/list` (cursor paging, no cap).
   * Older releases lack it (404); there the user search is the only list, and it is capped: 100 results in
   * total since Jira 10 ("the combination of maxResults and startAt is limited to the first 100 results"),
   * 1000 before (JRASERVER-65089). When the search may have been cut at its cap, the members of every group
   * are added (`GET /group/member`, paged with isLast): a user in no group has no application access, so it is
   * the only kind an older release can hide from this list (docs/targets.md).
   */
  async *listUsers(): AsyncIterable<TargetAccount> {
    let cursor: string | null = null;
    for (;;) {
      const response = await this.http.request({
        method: 'GET',
        path: '/rest/api/2/user/list',
        query: { ...(cursor === null ? {} : { cursor }), maxResults: JIRA_DC_LIMITS.userListPage },
        accept: cursor === null ? [404] : [],
      });
      if (response.status === 404) {
        yield* this.listUsersBySearch();
        return;
      }
      const body = parseBody('jira-dc', userListPage, response.body, 'GET /rest/api/2/user/list');
      for (const user of body.values) yield toAccount(user);
      const next = body.nextCursor === undefined || body.nextCursor === null ? null : String(body.nextCursor);
      if (body.isLast !== false || body.values.length === 0 || next === null || next === cursor) return;
      cursor = next;
    }
  }

  private async *listUsersBySearch(): AsyncIterable<TargetAccount> {
    const seen = new Set<string>();
    let capped = false;
    for (let startAt = 0; ; ) {
      const { body } = await this.http.json(
        {
          method: 'GET',
          path: '/rest/api/2/user/search',
          query: { username: '.', includeActive: true, includeInactive: true, startAt, maxResults: JIRA_DC_LIMITS.userSearchPage },
        },
        z.array(dcUser),
      );
      let fresh = 0;
      for (const user of body) {
        if (seen.has(user.name)) continue;
        seen.add(user.name);
        fresh += 1;
        yield toAccount(user);
      }
      // A full page may be followed by more, or by nothing because the server's cap was reached.
      if (body.length < JIRA_DC_LIMITS.userSearchPage || fresh === 0) {
        capped = body.length === JIRA_DC_LIMITS.userSearchPage || (fresh === 0 && seen.size > 0 && seen.size % JIRA_DC_LIMITS.userSearchPage === 0);
        break;
      }
      startAt += body.length;
    }
    if (!capped && seen.size % JIRA_DC_LIMITS.userSearchPage !== 0) return;
    for await (const group of this.listGroups()) {
      for await (const user of this.groupMemberAccounts(group.groupId)) {
        if (seen.has(user.name)) continue;
        seen.add(user.name);
        yield toAccount(user);
      }
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

  /**
   * The group picker is the only group list Jira DC offers. It returns at most `jira.ajax.autocomplete.limit`
   * groups (20 by default), sorted, with the `total` that matched, and takes `exclude` (groups to leave out).
   * So the adapter pages by exclusion: the same query again, excluding the groups already seen, until an empty
   * answer. The exclusions ride in the URL; when they would make it too long for the server, the query is split
   * into narrower substrings (the seen names' neighbouring characters on either side) that exclude less. A site
   * whose groups cannot all be reached this way fails clearly instead of syncing against a partial list.
   */
  async *listGroups(): AsyncIterable<TargetGroup> {
    const seen = new Map<string, string>();
    const asked = new Set<string>();
    const queue = [''];
    let total: number | null = null;
    let calls = 0;
    while (queue.length > 0 && (total === null || seen.size < total)) {
      const query = queue.shift()!;
      if (asked.has(query)) continue;
      asked.add(query);
      for (;;) {
        const excluded = [...seen.values()].filter((name) => name.toLowerCase().includes(query));
        if (excluded.reduce((length, name) => length + encodeURIComponent(name).length + 9, 0) > JIRA_DC_LIMITS.groupPickerExcludeChars) {
          queue.push(...narrower(query, excluded));
          break;
        }
        if (++calls > JIRA_DC_LIMITS.groupPickerCalls) break;
        const { body } = await this.http.json(
          { method: 'GET', path: '/rest/api/2/groups/picker', query: { query, maxResults: JIRA_DC_LIMITS.groupPicker, exclude: excluded } },
          z.object({ total: z.number().int().optional(), groups: z.array(z.object({ name: z.string() })) }),
        );
        if (query === '' && total === null) total = body.total ?? body.groups.length;
        const fresh = body.groups.filter((group) => !seen.has(group.name.toLowerCase()));
        for (const group of fresh) {
          seen.set(group.name.toLowerCase(), group.name);
          yield { groupId: group.name, name: group.name };
        }
        if (fresh.length === 0 || (total !== null && seen.size >= total)) break;
      }
      if (calls > JIRA_DC_LIMITS.groupPickerCalls) break;
    }
    if (total !== null && seen.size < total) {
      throw new TargetError(
        `jira-dc GET /rest/api/2/groups/picker: reached ${seen.size} of ${total} groups; the picker is capped by jira.ajax.autocomplete.limit — raise that system property above ${total}`,
        null,
        'jira-dc',
        'GET /rest/api/2/groups/picker',
      );
    }
  }

  async *listGroupMembers(groupId: string): AsyncIterable<string> {
    for await (const user of this.groupMemberAccounts(groupId)) yield user.name;
  }

  private async *groupMemberAccounts(groupId: string): AsyncIterable<z.infer<typeof dcUser>> {
    for (let startAt = 0; ; ) {
      const { body } = await this.http.json(
        {
          method: 'GET',
          path: '/rest/api/2/group/member',
          query: { groupname: groupId, includeInactiveUsers: true, startAt, maxResults: JIRA_DC_LIMITS.membersPage },
        },
        z.object({ values: z.array(dcUser), isLast: z.boolean().optional() }),
      );
      yield* body.values;
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
    // A name in use answers 400 in undocumented words: the picker says whether the group is there.
    if (response.status === 400 && !(await this.groupExists(name))) throw answered('jira-dc', 'POST /rest/api/2/group', 400, response.body);
    return { groupId: name, name };
  }

  async deleteGroup(groupId: string): Promise<void> {
    await this.http.request({ method: 'DELETE', path: '/rest/api/2/group', query: { groupname: groupId }, accept: [404] });
  }

  /**
   * Jira DC answers 400 when the user is already a member; its wording is not documented, so the membership
   * itself is checked before the 400 is treated as success.
   */
  async addMember(groupId: string, username: string): Promise<void> {
    const response = await this.http.request({
      method: 'POST',
      path: '/rest/api/2/group/user',
      query: { groupname: groupId },
      body: { name: username },
      idempotent: true,
      accept: [400],
    });
    if (response.status === 400 && !(await this.isMember(groupId, username))) throw answered('jira-dc', 'POST /rest/api/2/group/user', 400, response.body);
  }

  /** A 400 for a user who is not a member (any wording) or a 404 for a group that is gone both mean done. */
  async removeMember(groupId: string, username: string): Promise<void> {
    const response = await this.http.request({
      method: 'DELETE',
      path: '/rest/api/2/group/user',
      query: { groupname: groupId, username },
      accept: [400, 404],
    });
    if (response.status === 400 && (await this.isMember(groupId, username))) throw answered('jira-dc', 'DELETE /rest/api/2/group/user', 400, response.body);
  }

  private async groupExists(name: string): Promise<boolean> {
    const { body } = await this.http.json(
      { method: 'GET', path: '/rest/api/2/groups/picker', query: { query: name, maxResults: JIRA_DC_LIMITS.groupPicker } },
      z.object({ groups: z.array(z.object({ name: z.string() })) }),
    );
    return body.groups.some((group) => group.name.toLowerCase() === name.toLowerCase());
  }

  private async isMember(groupId: string, username: string): Promise<boolean> {
    const response = await this.http.request({ method: 'GET', path: '/rest/api/2/user', query: { username, expand: 'groups' }, accept: [404] });
    if (response.status === 404) return false;
    const user = parseBody('jira-dc', dcUser.extend({ groups: z.object({ items: z.array(z.object({ name: z.string() })) }).optional() }), response.body, 'GET /rest/api/2/user');
    return (user.groups?.items ?? []).some((group) => group.name.toLowerCase() === groupId.toLowerCase());
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

/**
 * Narrower picker queries covering the names that contain `query`: the query grown by one character on either
 * side, using the characters that neighbour it in the names seen so far.
 */
function narrower(query: string, names: string[]): string[] {
  const out = new Set<string>();
  for (const name of names.map((n) => n.toLowerCase())) {
    for (let at = name.indexOf(query); at >= 0; at = name.indexOf(query, at + 1)) {
      if (at > 0) out.add(name[at - 1]! + query);
      if (at + query.length < name.length) out.add(query + name[at + query.length]!);
      if (query === '') break;
    }
  }
  if (query === '') for (const name of names) for (const character of name.toLowerCase()) out.add(character);
  return [...out];
}

function toAccount(user: z.infer<typeof dcUser>): TargetAccount {
  return { accountId: user.name, email: user.emailAddress ?? null, displayName: user.displayName ?? null, active: user.active ?? true };
}
