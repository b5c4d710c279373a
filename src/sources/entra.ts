import { z } from 'zod';
import type { EntraPullConfig } from './config';
import { assertSameOrigin, joinUrl, SourceHttp, type SourceHttpOptions } from './http';
import { requestToken, tokenError } from './oauth';
import { SourceError, type Source, type SourceCheck, type SourceGroup, type SourceUser } from './types';

/**
 * Microsoft Entra ID through Microsoft Graph v1.0 with an app registration's client credentials
 * (application permissions User.Read.All + GroupMember.Read.All, or Directory.Read.All).
 * Paging follows @odata.nextLink; nested groups are flattened by reading each group's
 * transitiveMembers cast to microsoft.graph.user. 429/503 Retry-After is handled in http.ts.
 */

const userSchema = z
  .object({
    id: z.string().min(1),
    userPrincipalName: z.string().min(1),
    mail: z.string().nullish(),
    displayName: z.string().nullish(),
    givenName: z.string().nullish(),
    surname: z.string().nullish(),
    accountEnabled: z.boolean().nullish(),
  })
  .loose();

const groupSchema = z.object({ id: z.string().min(1), displayName: z.string().nullish() }).loose();
const memberSchema = z.object({ id: z.string().min(1) }).loose();

function pageSchema<T>(item: z.ZodType<T>) {
  return z.object({ value: z.array(item), '@odata.nextLink': z.string().optional() }).loose();
}

const USER_FIELDS = 'id,userPrincipalName,mail,displayName,givenName,surname,accountEnabled';

export class EntraSource implements Source {
  readonly kind = 'entra' as const;
  readonly http: SourceHttp;
  private token: { value: string; expiresAt: number } | null = null;

  constructor(
    private readonly config: EntraPullConfig,
    http: SourceHttpOptions = {},
  ) {
    this.http = new SourceHttp('entra', http);
  }

  async testConnection(): Promise<SourceCheck> {
    await this.graph(`/v1.0/users?$select=id&$top=1`, pageSchema(memberSchema));
    await this.graph(`/v1.0/groups?$select=id&$top=1`, pageSchema(memberSchema));
    return { ok: true, message: 'Connected to Microsoft Graph; the app can read users and groups.' };
  }

  async *users(): AsyncIterable<SourceUser> {
    for await (const user of this.pages(`/v1.0/users?$select=${USER_FIELDS}&$top=${this.config.pageSize}`, userSchema)) {
      yield {
        externalId: user.id,
        userName: user.userPrincipalName,
        email: user.mail ?? null,
        givenName: user.givenName ?? null,
        familyName: user.surname ?? null,
        displayName: user.displayName ?? null,
        active: user.accountEnabled ?? true,
      };
    }
  }

  async *groups(): AsyncIterable<SourceGroup> {
    for await (const group of this.pages(`/v1.0/groups?$select=id,displayName&$top=${this.config.pageSize}`, groupSchema)) {
      // Graph allows groups without a display name; the directory needs one, so fall back to the id.
      yield { externalId: group.id, displayName: group.displayName || group.id };
    }
  }

  async *groupMembers(groupExternalId: string): AsyncIterable<string> {
    const path = `/v1.0/groups/${encodeURIComponent(groupExternalId)}/transitiveMembers/microsoft.graph.user?$select=id&$top=${this.config.pageSize}`;
    for await (const member of this.pages(path, memberSchema)) yield member.id;
  }

  private async *pages<T>(path: string, item: z.ZodType<T>): AsyncIterable<T> {
    const schema = pageSchema(item);
    let url: string | null = joinUrl(this.config.graphBaseUrl, path);
    while (url) {
      const page: z.infer<typeof schema> = await this.graph(url, schema);
      yield* page.value;
      const next = page['@odata.nextLink'];
      url = next ? assertSameOrigin('entra', next, this.config.graphBaseUrl) : null;
    }
  }

  /** A Graph GET; a 401 (token expired or revoked meanwhile) gets one fresh token and one more try. */
  private async graph<T>(pathOrUrl: string, schema: z.ZodType<T>): Promise<T> {
    const url = pathOrUrl.startsWith('http') ? pathOrUrl : joinUrl(this.config.graphBaseUrl, pathOrUrl);
    try {
      return (await this.http.json(url, schema, { headers: { Authorization: `Bearer ${await this.accessToken()}` } })).body;
    } catch (error) {
      if (!(error instanceof SourceError) || error.status !== 401 || this.token === null) throw error;
      this.token = null;
      return (await this.http.json(url, schema, { headers: { Authorization: `Bearer ${await this.accessToken()}` } })).body;
    }
  }

  private async accessToken(): Promise<string> {
    if (this.token && this.token.expiresAt > Date.now() + 60_000) return this.token.value;
    const url = joinUrl(this.config.authorityBaseUrl, `/${encodeURIComponent(this.config.tenantId)}/oauth2/v2.0/token`);
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: this.config.clientId,
      client_secret: this.config.clientSecret,
      scope: `${new URL(this.config.graphBaseUrl).origin}/.default`,
    });
    const body = await requestToken(this.http, url, form).catch((error: unknown) => {
      throw tokenError('entra', 'Microsoft Entra ID (check the tenant id, client id and client secret)', error);
    });
    const lifetime = Number(body.expires_in ?? 3600);
    this.token = { value: body.access_token, expiresAt: Date.now() + (Number.isFinite(lifetime) ? lifetime : 3600) * 1000 };
    return this.token.value;
  }
}

