import { z } from 'zod';
import type { KeycloakPullConfig } from './config';
import { joinUrl, SourceHttp, type SourceHttpOptions } from './http';
import { requestToken, tokenError } from './oauth';
import { SourceError, type Source, type SourceCheck, type SourceGroup, type SourceUser } from './types';

/**
 * Keycloak Admin REST API with a confidential client's service account (client credentials; realm-management
 * roles view-users / query-users / query-groups). Paging is `first`/`max`; a page shorter than `max` is
 * the last. Groups are a tree: before Keycloak 23 GET /groups returns it whole in `subGroups`; from 23 on it
 * returns top-level groups with `subGroupCount` and the children come from GET /groups/{id}/children.
 * Both are read. Every group becomes a directory group named by its path ("parent/child"), since names
 * are unique only among siblings; with flattenSubgroups a group's members include its subgroups' members.
 */

type KeycloakGroup = { id: string; name: string; path?: string | undefined; subGroupCount?: number | undefined; subGroups?: KeycloakGroup[] | undefined };

const groupSchema: z.ZodType<KeycloakGroup> = z.lazy(() =>
  z
    .object({
      id: z.string().min(1),
      name: z.string().min(1),
      path: z.string().optional(),
      subGroupCount: z.number().int().nonnegative().optional(),
      subGroups: z.array(groupSchema).optional(),
    })
    .loose(),
);

const userSchema = z
  .object({
    id: z.string().min(1),
    username: z.string().min(1),
    email: z.string().nullish(),
    firstName: z.string().nullish(),
    lastName: z.string().nullish(),
    enabled: z.boolean().optional(),
    serviceAccountClientLink: z.string().optional(),
  })
  .loose();

const memberSchema = z.object({ id: z.string().min(1) }).loose();

export class KeycloakSource implements Source {
  readonly kind = 'keycloak' as const;
  readonly http: SourceHttp;
  private token: { value: string; expiresAt: number } | null = null;
  /** Child group ids per group, filled while groups() walks the tree; groupMembers uses it to flatten. */
  private readonly children = new Map<string, string[]>();

  constructor(
    private readonly config: KeycloakPullConfig,
    http: SourceHttpOptions = {},
  ) {
    this.http = new SourceHttp('keycloak', http);
  }

  async testConnection(): Promise<SourceCheck> {
    await this.get('/users?first=0&max=1', z.array(userSchema));
    await this.get('/groups?first=0&max=1', z.array(groupSchema));
    return { ok: true, message: `Connected to Keycloak realm "${this.config.realm}"; the client can read users and groups.` };
  }

  async *users(): AsyncIterable<SourceUser> {
    for await (const user of this.paged('/users?briefRepresentation=false', userSchema)) {
      if (user.serviceAccountClientLink) continue; // a client's service account, not a person
      const givenName = user.firstName ?? null;
      const familyName = user.lastName ?? null;
      yield {
        externalId: user.id,
        userName: user.username,
        email: user.email ?? null,
        givenName,
        familyName,
        displayName: [givenName, familyName].filter(Boolean).join(' ') || null,
        active: user.enabled ?? true,
      };
    }
  }

  async *groups(): AsyncIterable<SourceGroup> {
    this.children.clear();
    for await (const group of this.paged('/groups?briefRepresentation=true', groupSchema)) {
      yield* this.walk(group, group.path ?? `/${group.name}`);
    }
  }

  async *groupMembers(groupExternalId: string): AsyncIterable<string> {
    const pending = [groupExternalId];
    const visited = new Set<string>();
    while (pending.length > 0) {
      const id = pending.pop()!;
      if (visited.has(id)) continue;
      visited.add(id);
      for await (const member of this.paged(`/groups/${encodeURIComponent(id)}/members?briefRepresentation=true`, memberSchema)) {
        yield member.id;
      }
      if (this.config.flattenSubgroups) pending.push(...(this.children.get(id) ?? []));
    }
  }

  private async *walk(group: KeycloakGroup, path: string): AsyncIterable<SourceGroup> {
    yield { externalId: group.id, displayName: path.replace(/^\/+/, '') };
    const childIds: string[] = [];
    this.children.set(group.id, childIds);
    const children: AsyncIterable<KeycloakGroup> | KeycloakGroup[] =
      group.subGroups && group.subGroups.length > 0
        ? group.subGroups
        : (group.subGroupCount ?? 0) > 0
          ? this.paged(`/groups/${encodeURIComponent(group.id)}/children?briefRepresentation=true`, groupSchema)
          : [];
    for await (const child of children) {
      childIds.push(child.id);
      yield* this.walk(child, child.path ?? `${path}/${child.name}`);
    }
  }

  private async *paged<T>(pathWithQuery: string, item: z.ZodType<T>): AsyncIterable<T> {
    const max = this.config.pageSize;
    const schema = z.array(item);
    const separator = pathWithQuery.includes('?') ? '&' : '?';
    for (let first = 0; ; first += max) {
      const page = await this.get(`${pathWithQuery}${separator}first=${first}&max=${max}`, schema);
      yield* page;
      if (page.length < max) return;
    }
  }

  private async get<T>(pathWithQuery: string, schema: z.ZodType<T>): Promise<T> {
    const url = joinUrl(this.config.baseUrl, `/admin/realms/${encodeURIComponent(this.config.realm)}${pathWithQuery}`);
    try {
      return (await this.http.json(url, schema, { headers: { Authorization: `Bearer ${await this.accessToken()}` } })).body;
    } catch (error) {
      // Keycloak's service-account tokens are short-lived (5 min by default): renew once on 401.
      if (!(error instanceof SourceError) || error.status !== 401 || this.token === null) throw error;
      this.token = null;
      return (await this.http.json(url, schema, { headers: { Authorization: `Bearer ${await this.accessToken()}` } })).body;
    }
  }

  private async accessToken(): Promise<string> {
    if (this.token && this.token.expiresAt > Date.now() + 10_000) return this.token.value;
    const realm = this.config.tokenRealm ?? this.config.realm;
    const url = joinUrl(this.config.baseUrl, `/realms/${encodeURIComponent(realm)}/protocol/openid-connect/token`);
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: this.config.clientId, client_secret: this.config.clientSecret });
    const body = await requestToken(this.http, url, form).catch((error: unknown) => {
      throw tokenError('keycloak', `Keycloak realm "${realm}" (check the client id, secret and that service accounts are enabled)`, error);
    });
    const lifetime = Number(body.expires_in ?? 300);
    this.token = { value: body.access_token, expiresAt: Date.now() + (Number.isFinite(lifetime) ? lifetime : 300) * 1000 };
    return this.token.value;
  }
}
