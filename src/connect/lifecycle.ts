import type { Express } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import type { Logger } from '../logging/logger';
import type { TenantStore } from './tenants';

/**
 * /installed is mounted by ACE (signed install: RS256 JWT checked against Atlassian's install keys, the
 * audience against our baseUrl, the clientKey against the JWT issuer) and saved through our store adapter.
 * /uninstalled is ours, behind the same check.
 */
export function mountLifecycle(app: Express, addon: AddOn, tenants: TenantStore, logger: Logger): void {
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
