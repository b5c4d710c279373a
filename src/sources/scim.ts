import { z } from 'zod';
import type { ScimPullConfig } from './config';
import { joinUrl, SourceHttp, type SourceHttpOptions } from './http';
import type { Source, SourceCheck, SourceGroup, SourceUser } from './types';

/**
 * Any SCIM 2.0 service provider (RFC 7644) read with a bearer token: GET /Users and /Groups paged by
 * 1-based startIndex/count (ListResponse), members inside each Group. Groups are listed without their
 * members (excludedAttributes=members) and each group's members are read on their own, so a large group
 * is never part of a list page; servers that ignore excludedAttributes still work, they just send more.
 */

const listResponse = <T>(item: z.ZodType<T>) =>
  z
    .object({
      totalResults: z.number().int().nonnegative(),
      startIndex: z.number().int().optional(),
      itemsPerPage: z.number().int().optional(),
      Resources: z.array(item).optional(),
    })
    .loose();

const userSchema = z
  .object({
    id: z.string().min(1),
    userName: z.string().min(1),
    displayName: z.string().nullish(),
    active: z.union([z.boolean(), z.enum(['true', 'false', 'True', 'False'])]).nullish(),
    name: z.object({ givenName: z.string().nullish(), familyName: z.string().nullish(), formatted: z.string().nullish() }).loose().nullish(),
    emails: z.array(z.object({ value: z.string(), primary: z.boolean().nullish(), type: z.string().nullish() }).loose()).nullish(),
  })
  .loose();

const groupSchema = z.object({ id: z.string().min(1), displayName: z.string().min(1) }).loose();

const groupMembersSchema = z
  .object({
    members: z.array(z.object({ value: z.string().min(1), type: z.string().nullish() }).loose()).nullish(),
  })
  .loose();

type ScimUser = z.infer<typeof userSchema>;

/** The primary email, else the work one, else the first. */
export function primaryEmail(emails: ScimUser['emails']): string | null {
  if (!emails || emails.length === 0) return null;
  return (emails.find((e) => e.primary) ?? emails.find((e) => e.type === 'work') ?? emails[0])!.value;
}

export class ScimSource implements Source {
  readonly kind = 'scim' as const;
  readonly http: SourceHttp;
  private readonly headers: Record<string, string>;

  constructor(
    private readonly config: ScimPullConfig,
    http: SourceHttpOptions = {},
  ) {
    this.http = new SourceHttp('scim', http);
    this.headers = { Authorization: `Bearer ${config.bearerToken}`, accept: 'application/scim+json, application/json' };
  }

  async testConnection(): Promise<SourceCheck> {
    const { body } = await this.http.json(joinUrl(this.config.baseUrl, '/Users?startIndex=1&count=1'), listResponse(userSchema), { headers: this.headers });
    return { ok: true, message: 'Connected to the SCIM server; it lists users.', details: { totalUsers: body.totalResults } };
  }

  async *users(): AsyncIterable<SourceUser> {
    for await (const user of this.paged('/Users', '', userSchema)) {
      const active = typeof user.active === 'string' ? user.active.toLowerCase() === 'true' : (user.active ?? true);
      yield {
        externalId: user.id,
        userName: user.userName,
        email: primaryEmail(user.emails),
        givenName: user.name?.givenName ?? null,
        familyName: user.name?.familyName ?? null,
        displayName: user.displayName ?? user.name?.formatted ?? null,
        active,
      };
    }
  }

  async *groups(): AsyncIterable<SourceGroup> {
    for await (const group of this.paged('/Groups', '&excludedAttributes=members', groupSchema)) {
      yield { externalId: group.id, displayName: group.displayName };
    }
  }

  async *groupMembers(groupExternalId: string): AsyncIterable<string> {
    const url = joinUrl(this.config.baseUrl, `/Groups/${encodeURIComponent(groupExternalId)}?attributes=members`);
    const { body } = await this.http.json(url, groupMembersSchema, { headers: this.headers });
    for (const member of body.members ?? []) {
      // Nested groups are not expanded here: a member of type Group is not a user.
      if (!member.type || member.type === 'User') yield member.value;
    }
  }

  private async *paged<T>(path: string, extraQuery: string, item: z.ZodType<T>): AsyncIterable<T> {
    const count = this.config.pageSize;
    const schema = listResponse(item);
    for (let startIndex = 1; ; ) {
      const url = joinUrl(this.config.baseUrl, `${path}?startIndex=${startIndex}&count=${count}${extraQuery}`);
      const { body } = await this.http.json(url, schema, { headers: this.headers });
      const resources = body.Resources ?? [];
      yield* resources;
      startIndex += resources.length;
      // Servers may cap count below what we asked; stop on an empty page or when past totalResults.
      if (resources.length === 0 || startIndex > body.totalResults) return;
    }
  }
}
