import type { Express, NextFunction, Request, Response } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import type { Logger } from '../logging/logger';
import type { TenantStore } from './tenants';

/**
 * /installed is mounted by ACE (signed install: RS256 JWT checked against Atlassian's install keys, the
 * audience against our baseUrl, the clientKey against the JWT issuer) and saved through our store adapter.
 * /uninstalled is ours, behind the same check.
 */
export function mountLifecycle(app: Express, addon: AddOn, tenants: TenantStore, logger: Logger): void {
  app.use(['/installed', '/uninstalled'], installKeyIdGuard);
  addon.on('host_settings_saved', (clientKey: string) => {
    logger.info({ clientKey }, 'tenant installed');
  });

  app.post('/uninstalled', addon.authenticateInstall(), async (req, res, next) => {
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

/**
 * ACE fetches a signed install's public key from `{key server}/{kid}` with its own HTTP client (`request`),
 * outside src/egress. The key server is fixed (Atlassian's, or CONNECT_KEYS_CDN_URL, which src/config holds to
 * the egress rules at start); the `kid` comes from the caller's JWT header. It is held to a plain key-id
 * shape here, before ACE sees it, so it can only name a key on that server, never another path or host.
 */
const KEY_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}(\/[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}){0,4}$/;

export function installKeyIdGuard(req: Request, res: Response, next: NextFunction): void {
  const header = req.get('authorization') ?? '';
  const token = /^JWT\s+(\S+)$/i.exec(header)?.[1] ?? (typeof req.query.jwt === 'string' ? req.query.jwt : undefined);
  if (!token) return next();
  let kid: unknown;
  try {
    kid = (JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8')) as { kid?: unknown }).kid;
  } catch {
    return next(); // not a JWT at all: ACE refuses it
  }
  if (kid === undefined || (typeof kid === 'string' && KEY_ID.test(kid) && !kid.split('/').includes('..'))) return next();
  res.status(401).json({ error: 'unauthenticated', message: 'The install JWT names a key id this app does not fetch' });
}
