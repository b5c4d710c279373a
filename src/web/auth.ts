import type { NextFunction, Request, RequestHandler, Response } from 'express';
import * as jwt from 'atlassian-jwt';
import { z } from 'zod';
import type { InstallPayload, Tenant, TenantStore } from '../connect/tenants';
import type { Logger } from '../logging/logger';
import { egressFetch } from '../egress';

/**
 * Who is calling the admin API: the tenant (from the context JWT's issuer) and the Jira user the JWT speaks
 * for. Set on res.locals.admin by requireContextJwt, after the administrator check by requireJiraAdmin.
 */
export interface AdminIdentity {
  tenant: Tenant;
  clientInfo: InstallPayload;
  accountId: string;
}

export class AuthError extends Error {
  constructor(
    readonly status: 401 | 403,
    readonly code: 'unauthenticated' | 'forbidden',
    message: string,
  ) {
    super(message);
    this.name = 'AuthError';
  }
}

const claimsSchema = z
  .object({
    iss: z.string().min(1),
    sub: z.string().min(1).optional(),
    exp: z.number(),
    iat: z.number().optional(),
    qsh: z.string().min(1),
    context: z.object({ user: z.object({ accountId: z.string().min(1).optional() }).loose().optional() }).loose().optional(),
  })
  .loose();

/**
 * Longest lifetime (exp - iat, and exp - now) accepted for a context JWT. Atlassian's context tokens live
 * minutes (Atlassian Connect Express, Atlassian's own framework, issues 15-minute tokens by default,
 * maxTokenAge); an hour leaves room for clock skew and nothing more.
 */
export const MAX_CONTEXT_JWT_LIFETIME_SECONDS = 3600;

/** The JWT of an `Authorization: JWT <token>` header; the API accepts no token in the query string (it would be logged). */
function tokenFrom(req: Request): string | null {
  const header = req.headers.authorization;
  if (!header || !header.startsWith('JWT ')) return null;
  const token = header.slice(4).trim();
  return token.length > 0 ? token : null;
}

/**
 * Verifies a Connect context JWT the way ACE's `authenticate(true)` does for `AP.context.getToken()` tokens
 * (HS256 with the tenant's shared secret, not expired, issuer = an installed tenant), with two differences
 * that matter for an API: every failure is a 401 (ACE answers 400 for a bad signature and 500 for store
 * errors), and only context tokens (`qsh: "context-qsh"`) or a query hash that matches this very request are
 * accepted; ACE's own session tokens (no qsh, issued by the app) are not.
 */
export async function verifyContextJwt(tenants: TenantStore, req: Request, now: number = Date.now()): Promise<AdminIdentity> {
  const token = tokenFrom(req);
  if (!token) throw new AuthError(401, 'unauthenticated', 'Missing context JWT (Authorization: JWT <token>)');

  let unverified: unknown;
  try {
    unverified = jwt.decodeSymmetric(token, '', jwt.SymmetricAlgorithm.HS256, true);
  } catch {
    throw new AuthError(401, 'unauthenticated', 'Malformed JWT');
  }
  const issuer = z.object({ iss: z.string().min(1) }).loose().safeParse(unverified);
  if (!issuer.success) throw new AuthError(401, 'unauthenticated', 'JWT has no issuer');

  const clientInfo = await tenants.clientInfo(issuer.data.iss);
  const tenant = clientInfo ? await tenants.findByClientKey(clientInfo.clientKey) : null;
  if (!clientInfo || !tenant || tenant.uninstalledAt) throw new AuthError(401, 'unauthenticated', 'Unknown or uninstalled tenant');

  let verified: unknown;
  try {
    verified = jwt.decodeSymmetric(token, clientInfo.sharedSecret, jwt.SymmetricAlgorithm.HS256, false);
  } catch {
    throw new AuthError(401, 'unauthenticated', 'JWT signature does not verify');
  }
  const claims = claimsSchema.safeParse(verified);
  if (!claims.success) throw new AuthError(401, 'unauthenticated', 'JWT lacks required claims (exp, qsh)');
  const nowSeconds = Math.floor(now / 1000);
  if (nowSeconds >= claims.data.exp) throw new AuthError(401, 'unauthenticated', 'JWT expired; reload the page');
  // A context token lives minutes; one that claims to live for hours was not made by the product for a page
  // (or, leaked, would stay usable for that long).
  const lifetime = claims.data.exp - (claims.data.iat ?? nowSeconds);
  if (lifetime > MAX_CONTEXT_JWT_LIFETIME_SECONDS || claims.data.exp - nowSeconds > MAX_CONTEXT_JWT_LIFETIME_SECONDS) {
    throw new AuthError(401, 'unauthenticated', `JWT lifetime is implausible (more than ${MAX_CONTEXT_JWT_LIFETIME_SECONDS} s)`);
  }

  if (claims.data.qsh !== 'context-qsh') {
    const expected = jwt.createQueryStringHash(jwt.fromExpressRequest(req), false);
    if (claims.data.qsh !== expected) throw new AuthError(401, 'unauthenticated', 'JWT query hash does not match this request');
  }

  const accountId = claims.data.context?.user?.accountId ?? claims.data.sub;
  if (!accountId) throw new AuthError(401, 'unauthenticated', 'JWT names no user');
  return { tenant, clientInfo, accountId };
}

/** Is this Jira user an administrator of this tenant's Jira? Behind an interface so tests can answer directly. */
export interface AdminCheck {
  isAdmin(identity: AdminIdentity): Promise<boolean>;
}

export interface JiraAdminCheckOptions {
  /** Atlassian's authorization server (config CONNECT_OAUTH_SERVER_URL). */
  oauthServerUrl: string;
  /** How long one (tenant, account) answer is reused. */
  cacheMs: number;
  /** Local tenants (no Jira to ask) count their JWT user as admin, outside production only. */
  isProduction: boolean;
  fetch?: typeof fetch;
  now?: () => number;
  timeoutMs?: number;
  logger?: Logger;
}

const tokenResponseSchema = z.object({ access_token: z.string().min(1), expires_in: z.number().optional(), token_type: z.string().optional() }).loose();
const myPermissionsSchema = z.object({
  permissions: z.record(z.string(), z.object({ havePermission: z.boolean() }).loose()),
});

const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/**
 * Asks Jira, as the user, whether they hold the global ADMINISTER permission: a Connect app impersonates the
 * user with the OAuth 2.0 JWT bearer grant (ACT_AS_USER scope): POST {authServer}/oauth2/token with an
 * assertion signed with the tenant's shared secret (claims as in Atlassian's atlassian-oauth2 library:
 * iss urn:atlassian:connect:clientid:{oauthClientId}, sub urn:atlassian:connect:useraccountid:{accountId},
 * tnt = the site's baseUrl, aud = the auth server), then GET /rest/api/3/mypermissions?permissions=ADMINISTER
 * with the access token. Answers are cached per (tenant, account) for cacheMs; concurrent checks share one call.
 */
export class JiraAdminCheck implements AdminCheck {
  private readonly cache = new Map<string, { admin: boolean; expiresAt: number }>();
  private readonly inFlight = new Map<string, Promise<boolean>>();
  private readonly fetch: typeof fetch;
  private readonly now: () => number;

  constructor(private readonly options: JiraAdminCheckOptions) {
    this.fetch = options.fetch ?? egressFetch;
    this.now = options.now ?? Date.now;
  }

  async isAdmin(identity: AdminIdentity): Promise<boolean> {
    if (identity.tenant.origin === 'local') return !this.options.isProduction;
    const key = `${identity.tenant.id}\u0000${identity.accountId}`;
    const cached = this.cache.get(key);
    if (cached && cached.expiresAt > this.now()) return cached.admin;
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const check = this.askJira(identity)
      .then((admin) => {
        this.cache.set(key, { admin, expiresAt: this.now() + this.options.cacheMs });
        if (this.cache.size > 10_000) this.pruneExpired();
        return admin;
      })
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, check);
    return check;
  }

  /** Forget cached answers (all, or one tenant's). */
  clear(tenantId?: string): void {
    if (!tenantId) return this.cache.clear();
    for (const key of this.cache.keys()) if (key.startsWith(`${tenantId}\u0000`)) this.cache.delete(key);
  }

  private pruneExpired(): void {
    const now = this.now();
    for (const [key, entry] of this.cache) if (entry.expiresAt <= now) this.cache.delete(key);
  }

  private async askJira(identity: AdminIdentity): Promise<boolean> {
    const oauthClientId = typeof identity.clientInfo.oauthClientId === 'string' ? identity.clientInfo.oauthClientId : null;
    if (!oauthClientId) {
      throw new AdminCheckUnavailableError('the install payload carries no oauthClientId (is the ACT_AS_USER scope granted?)');
    }
    const authServer = this.options.oauthServerUrl.replace(/\/+$/, '');
    const nowSeconds = Math.floor(this.now() / 1000);
    const assertion = jwt.encodeSymmetric(
      {
        iss: `urn:atlassian:connect:clientid:${oauthClientId}`,
        sub: `urn:atlassian:connect:useraccountid:${identity.accountId}`,
        tnt: identity.tenant.baseUrl,
        aud: authServer,
        iat: nowSeconds,
        exp: nowSeconds + 60,
      },
      identity.clientInfo.sharedSecret,
      jwt.SymmetricAlgorithm.HS256,
    );
    const tokenResponse = await this.call(`${authServer}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion, scope: 'READ' }).toString(),
    });
    if (!tokenResponse.ok) {
      throw new AdminCheckUnavailableError(`the authorization server answered ${tokenResponse.status} to the token request`);
    }
    const token = tokenResponseSchema.safeParse(await tokenResponse.json().catch(() => null));
    if (!token.success) throw new AdminCheckUnavailableError('the authorization server sent no access_token');

    const permissionsUrl = `${identity.tenant.baseUrl.replace(/\/+$/, '')}/rest/api/3/mypermissions?permissions=ADMINISTER`;
    const permissionsResponse = await this.call(permissionsUrl, {
      method: 'GET',
      headers: { authorization: `Bearer ${token.data.access_token}`, accept: 'application/json' },
    });
    // The user exists but Jira refuses them: not an admin of this site.
    if (permissionsResponse.status === 401 || permissionsResponse.status === 403) return false;
    if (!permissionsResponse.ok) throw new AdminCheckUnavailableError(`Jira answered ${permissionsResponse.status} to mypermissions`);
    const permissions = myPermissionsSchema.safeParse(await permissionsResponse.json().catch(() => null));
    if (!permissions.success) throw new AdminCheckUnavailableError('Jira sent an unexpected mypermissions response');
    return permissions.data.permissions.ADMINISTER?.havePermission === true;
  }

  private async call(url: string, init: RequestInit): Promise<globalThis.Response> {
    try {
      return await this.fetch(url, { ...init, signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000) });
    } catch (error) {
      throw new AdminCheckUnavailableError(`could not reach ${new URL(url).origin}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

/** Jira could not be asked: the API answers 503 (never "yes" by default). */
export class AdminCheckUnavailableError extends Error {
  constructor(reason: string) {
    super(`Cannot check Jira administrator permission: ${reason}`);
    this.name = 'AdminCheckUnavailableError';
  }
}

export function adminOf(res: Response): AdminIdentity {
  const admin = res.locals.admin as AdminIdentity | undefined;
  if (!admin) throw new Error('adminOf() used on a route without requireAdmin()');
  return admin;
}

/**
 * Context JWT, then the administrator check, on every call. Failures: 401 (no/invalid JWT),
 * 403 (not a Jira administrator), 503 (Jira could not be asked).
 */
export function requireAdmin(tenants: TenantStore, adminCheck: AdminCheck, logger: Logger): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    (async () => {
      const identity = await verifyContextJwt(tenants, req);
      const admin = await adminCheck.isAdmin(identity);
      if (!admin) throw new AuthError(403, 'forbidden', 'Only Jira administrators can use User & Group Sync');
      res.locals.admin = identity;
    })().then(
      () => next(),
      (error: unknown) => {
        if (error instanceof AuthError) {
          res.status(error.status).json({ error: error.code, message: error.message });
        } else if (error instanceof AdminCheckUnavailableError) {
          logger.warn({ err: error }, 'administrator check failed');
          res.status(503).json({ error: 'admin_check_unavailable', message: error.message });
        } else {
          next(error);
        }
      },
    );
  };
}
