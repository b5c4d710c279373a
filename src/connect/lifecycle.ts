import type { Express, NextFunction, Request, RequestHandler, Response } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import * as jwt from 'atlassian-jwt';
import { z } from 'zod';
import type { Logger } from '../logging/logger';
import { AuthError } from '../web/auth';
import { InstallKeyError, InstallKeys, isPlainKeyId } from './install-keys';
import type { TenantStore } from './tenants';

export interface LifecycleOptions {
  /** APP_BASE_URL: the audience Atlassian signs lifecycle callbacks for. */
  baseUrl: string;
  /** CONNECT_HOST_ALLOWLIST: globs a product's host must match to install the app. */
  hostAllowlist: readonly string[];
  /** Where the signing keys come from (Atlassian's key servers, or CONNECT_KEYS_CDN_URL). */
  keys: InstallKeys;
}

/**
 * /installed and /uninstalled are ours, behind one verification of Atlassian's signed lifecycle JWT
 * (verifySignedLifecycle). ACE's own install route is switched off (`setupInstallRoute: false` in src/app.ts):
 * its verification fetches the signing key with the `request` package, which follows redirects, reads answers
 * of any size and is not held to the egress rules. A verified install is saved by ACE's postInstallation,
 * through our store adapter, as before.
 */
export function mountLifecycle(app: Express, addon: AddOn, tenants: TenantStore, logger: Logger, options: LifecycleOptions): void {
  addon.on('host_settings_saved', (clientKey: string) => {
    logger.info({ clientKey }, 'tenant installed');
  });

  app.post('/installed', verifySignedLifecycle({ ...options, checkHost: true }, logger), addon.postInstallation());

  app.post('/uninstalled', verifySignedLifecycle({ ...options, checkHost: false }, logger), async (req, res, next) => {
    try {
      const clientKey = (req.body as { clientKey?: string }).clientKey ?? '';
      const changed = await tenants.markUninstalled(clientKey);
      logger.info({ clientKey, changed }, 'tenant uninstalled');
      res.status(204).end();
    } catch (error) {
      next(error);
    }
  });
}

const claimsSchema = z
  .object({
    iss: z.string().min(1),
    aud: z.union([z.string(), z.array(z.string())]),
    exp: z.number(),
    qsh: z.string().min(1),
  })
  .loose();

const lifecycleBodySchema = z.object({ clientKey: z.string().min(1), baseUrl: z.string().optional() }).loose();

/** CONNECT_HOST_ALLOWLIST globs as ACE reads its `whitelist`: `*` stands for any run of characters within one label. */
function hostAllowed(host: string, globs: readonly string[]): boolean {
  return globs.some((glob) => new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^.]*')}$`, 'i').test(host));
}

/** The lifecycle JWT: `Authorization: JWT <token>`, as Atlassian sends it, or a `jwt` query parameter. */
function lifecycleToken(req: Request): string | null {
  const header = /^JWT\s+(\S+)$/i.exec(req.get('authorization') ?? '')?.[1];
  if (header) return header;
  return typeof req.query.jwt === 'string' && req.query.jwt.length > 0 ? req.query.jwt : null;
}

/**
 * What ACE's `authenticateInstall()` checks for an RS256-signed lifecycle callback, with the key fetched
 * through src/egress (InstallKeys):
 * - the body names a clientKey and (for /installed) a baseUrl whose host is in the allow-list; the baseUrl
 *   also tells which of Atlassian's key servers to ask;
 * - the token is RS256, its `kid` a plain key id, its signature verifies with that key;
 * - audience = our base URL, issuer = the body's clientKey, the query hash matches this request, not expired.
 * Differences from ACE: every failure is a 401 with a JSON message (ACE answers 400 for a bad signature and
 * 404 when the key cannot be had), and `exp` is required (ACE accepts a token without one).
 */
export async function verifyLifecycleJwt(req: Request, options: LifecycleOptions & { checkHost: boolean }, now: number = Date.now()): Promise<string> {
  const body = lifecycleBodySchema.safeParse(req.body);
  if (!body.success) throw new AuthError(401, 'unauthenticated', 'The lifecycle payload names no clientKey');
  const { clientKey, baseUrl = '' } = body.data;
  if (options.checkHost) {
    let host = '';
    try {
      host = new URL(baseUrl).hostname;
    } catch {
      // No host: refused below.
    }
    if (!host || !hostAllowed(host, options.hostAllowlist)) {
      throw new AuthError(
        401,
        'unauthenticated',
        `Host at ${baseUrl} is not authorized to register as the host does not match the registration allowlist (${options.hostAllowlist.join(',')})`,
      );
    }
  }

  const token = lifecycleToken(req);
  let algorithm: unknown;
  let kid: unknown;
  try {
    algorithm = token ? jwt.getAlgorithm(token) : undefined;
    kid = token ? jwt.getKeyId(token) : undefined;
  } catch {
    throw new AuthError(401, 'unauthenticated', 'Malformed JWT');
  }
  if (!token || algorithm !== jwt.AsymmetricAlgorithm.RS256) {
    throw new AuthError(401, 'unauthenticated', 'Unexpected or missing JWT token, failed to verify installation');
  }
  if (!isPlainKeyId(kid)) throw new AuthError(401, 'unauthenticated', 'The install JWT names a key id this app does not fetch');

  let publicKey: string;
  try {
    publicKey = await options.keys.publicKey(kid, baseUrl);
  } catch (error) {
    if (error instanceof InstallKeyError) throw new KeyUnavailable(kid, error.message);
    throw error;
  }

  let verified: unknown;
  try {
    verified = jwt.decodeAsymmetric(token, publicKey, jwt.AsymmetricAlgorithm.RS256, false);
  } catch {
    throw new AuthError(401, 'unauthenticated', 'JWT signature does not verify with the published key');
  }
  const claims = claimsSchema.safeParse(verified);
  if (!claims.success) throw new AuthError(401, 'unauthenticated', 'JWT lacks required claims (iss, aud, exp, qsh)');
  const audiences = Array.isArray(claims.data.aud) ? claims.data.aud : [claims.data.aud];
  const ours = options.baseUrl.replace(/\/+$/, '');
  if (!audiences.some((audience) => audience.replace(/\/+$/, '') === ours)) {
    throw new AuthError(401, 'unauthenticated', 'JWT claim did not contain the correct audience (aud) claim');
  }
  if (Math.floor(now / 1000) >= claims.data.exp) throw new AuthError(401, 'unauthenticated', 'Authentication request has expired');
  const expectedQsh = jwt.createQueryStringHash(jwt.fromExpressRequest(req), false, options.baseUrl);
  if (claims.data.qsh !== expectedQsh) throw new AuthError(401, 'unauthenticated', 'Authentication failed: query hash does not match');
  if (claims.data.iss !== clientKey) throw new AuthError(401, 'unauthenticated', 'clientKey in install payload did not match authenticated client');
  return clientKey;
}

/**
 * The signing key could not be had. Why (each key server's answer, or the egress rule that refused it, with
 * the address a name resolved to) is the operator's business: it goes to the log. Anyone can post
 * /installed, so the caller learns only that the key was unavailable.
 */
class KeyUnavailable extends AuthError {
  constructor(
    kid: string,
    readonly detail: string,
  ) {
    super(401, 'unauthenticated', `Could not get the public key with key id ${kid}; the app's log says why`);
  }
}

function verifySignedLifecycle(options: LifecycleOptions & { checkHost: boolean }, logger: Logger): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    verifyLifecycleJwt(req, options).then(
      () => next(),
      (error: unknown) => {
        if (!(error instanceof AuthError)) return next(error);
        logger.warn({ path: req.path, reason: error instanceof KeyUnavailable ? error.detail : error.message }, 'lifecycle callback refused');
        res.status(error.status).json({ error: error.code, message: error.message });
      },
    );
  };
}
