import type { Express, Request, Response } from 'express';
import type { AddOn } from 'atlassian-connect-express';
import type { Config } from '../config';

/**
 * The admin pages: one Connect admin page module per page, all under the app's section of Jira's admin menu
 * (src/connect/app-definition.ts builds the descriptor's and the Forge manifest's admin page modules from this list).
 */
export const ADMIN_PAGES = [
  { key: 'ugs-idps', path: '/admin', view: 'idps', title: 'Configured IdPs', perConnection: false },
  { key: 'ugs-targets', path: '/admin/targets', view: 'targets', title: 'Targets', perConnection: false },
  { key: 'ugs-user-sync', path: '/admin/user-sync', view: 'user-sync', title: 'User Sync Settings', perConnection: true },
  { key: 'ugs-group-sync', path: '/admin/group-sync', view: 'group-sync', title: 'Group Sync Settings', perConnection: true },
  { key: 'ugs-schedule', path: '/admin/schedule', view: 'schedule', title: 'Schedule', perConnection: true },
  { key: 'ugs-synchronize', path: '/admin/synchronize', view: 'synchronize', title: 'Synchronize', perConnection: true },
  { key: 'ugs-history', path: '/admin/history', view: 'history', title: 'History', perConnection: false },
] as const;

export type AdminPage = (typeof ADMIN_PAGES)[number];

export const ATLASSIAN_ALL_JS = 'https://connect-cdn.atl-paas.net/all.js';

export interface AdminPagesDependencies {
  config: Config;
}

/**
 * Server-rendered page shells (handlebars + AUI). The page load is authenticated with the page JWT Jira puts
 * in the URL (ACE checks its signature and query hash); the shell holds no tenant data. Everything shown
 * comes from the JSON API, which checks the context JWT and the Jira administrator permission on every call,
 * so a non-admin who opens a page URL sees the API's refusal and nothing else.
 */
export function mountAdminPages(app: Express, addon: AddOn, deps: AdminPagesDependencies): void {
  const { config } = deps;

  /**
   * all.js from Atlassian provides the AP bridge inside Jira. The development host frames the pages itself
   * and marks its frames with `ugs-dev=1`: those load the local AP stand-in instead (never in production).
   */
  const layout = (req: Request, res: Response, page: AdminPage) => {
    const framedByDevHost = config.devHostEnabled && req.query['ugs-dev'] === '1';
    return {
      title: page.title,
      page: page.view,
      perConnection: page.perConnection,
      hostBaseUrl: String(res.locals.hostBaseUrl ?? ''),
      apScript: framedByDevHost ? '/dev/ap-shim.js' : ATLASSIAN_ALL_JS,
      nav: ADMIN_PAGES.map((p) => ({ key: p.key, title: p.title, path: p.path, current: p.key === page.key })),
    };
  };

  for (const page of ADMIN_PAGES) {
    app.get(page.path, addon.authenticate(), (req: Request, res: Response) => {
      res.set('cache-control', 'no-store');
      res.render(page.view, layout(req, res, page));
    });
  }
}
