import path from 'node:path';
import type { Express, Request, Response } from 'express';
import { z } from 'zod';
import type { Config } from '../config';
import { mintContextJwt } from '../connect/jwt';
import type { TenantStore } from '../connect/tenants';
import { projectRoot } from '../db/migrate';
import { ADMIN_PAGES } from './pages';

/** The local tenant the development host acts for, and the Jira user it signs tokens as. */
export const DEV_TENANT_CLIENT_KEY = 'local-dev';
export const DEV_ACCOUNT_ID = 'local-dev-admin';

export interface DevHostDependencies {
  config: Config;
  tenants: TenantStore;
}

/**
 * /dev: a stand-in Jira for development without a Jira site. It frames the admin pages the way Jira's admin
 * area does (top bar, the app's menu section, an iframe with a page JWT in its URL) and gives the frame a
 * local AP (context tokens from /dev/token, navigation between the app's pages). It acts for the local tenant
 * `local-dev` (created on first use), whose user counts as a Jira administrator outside production only.
 * Mounted only when config.devHostEnabled, which the configuration refuses in production.
 */
/**
 * Whether a request comes from this machine, by the socket's address: X-Forwarded-For and req.ip (with
 * "trust proxy" on) are the client's to choose, the socket's peer is not.
 */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const ip = address.toLowerCase().replace(/^::ffff:/, '');
  return ip === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip);
}

export function mountDevHost(app: Express, deps: DevHostDependencies): void {
  const { config, tenants } = deps;
  if (!config.devHostEnabled) return;

  // The development host signs admin tokens for the local tenant: only this machine may ask for them,
  // whatever HOST the server listens on.
  app.use('/dev', (req: Request, res: Response, next) => {
    if (isLoopbackAddress(req.socket.remoteAddress)) return next();
    res.status(403).json({ error: 'forbidden', message: 'The development host answers loopback clients only' });
  });

  /** The local tenant and its shared secret; created once, then reused (a new secret would void open pages). */
  async function devTenant(): Promise<{ clientKey: string; sharedSecret: string }> {
    const existing = await tenants.clientInfo(DEV_TENANT_CLIENT_KEY);
    if (existing) return { clientKey: existing.clientKey, sharedSecret: existing.sharedSecret };
    const created = await tenants.createLocal({ clientKey: DEV_TENANT_CLIENT_KEY, baseUrl: `${config.baseUrl}/dev/jira` });
    return { clientKey: created.tenant.clientKey, sharedSecret: created.sharedSecret };
  }

  const pageQuery = z.object({ page: z.enum(ADMIN_PAGES.map((p) => p.key) as [string, ...string[]]).default(ADMIN_PAGES[0].key) });

  app.get('/dev', async (req: Request, res: Response, next) => {
    try {
      const parsed = pageQuery.safeParse(req.query);
      const key = parsed.success ? parsed.data.page : ADMIN_PAGES[0].key;
      const page = ADMIN_PAGES.find((p) => p.key === key)!;
      const tenant = await devTenant();
      const url = `${page.path}?ugs-dev=1`;
      const jwt = mintContextJwt({ ...tenant, accountId: DEV_ACCOUNT_ID, method: 'GET', url });
      res.set('cache-control', 'no-store');
      res.render('dev-host', {
        layout: false,
        title: `${page.title} · Development Jira`,
        frameSrc: `${url}&jwt=${encodeURIComponent(jwt)}`,
        nav: ADMIN_PAGES.map((p) => ({ key: p.key, title: p.title, current: p.key === page.key })),
        pageTitle: page.title,
      });
    } catch (error) {
      next(error);
    }
  });

  /** What AP.context.getToken() answers inside Jira: a short-lived context-qsh token for the current user. */
  app.get('/dev/token', async (_req: Request, res: Response, next) => {
    try {
      const tenant = await devTenant();
      res.set('cache-control', 'no-store');
      res.json({ token: mintContextJwt({ ...tenant, accountId: DEV_ACCOUNT_ID, method: 'GET', url: '/', qsh: 'context', lifetimeSeconds: 180 }), expiresIn: 180 });
    } catch (error) {
      next(error);
    }
  });

  app.get('/dev/ap-shim.js', (_req: Request, res: Response) => {
    res.sendFile(path.join(projectRoot(), 'public', 'dev', 'ap-shim.js'));
  });
}
