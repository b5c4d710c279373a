import type { Express } from 'express';
import type { AddOn } from 'atlassian-connect-express';

/** Admin pages rendered inside Jira's admin area. Every page request carries a context JWT. */
export function mountAdminPages(app: Express, addon: AddOn): void {
  app.get('/admin', addon.authenticate(), (req, res) => {
    res.render('admin-home', {
      title: 'User & Group Sync',
      clientKey: res.locals.clientKey,
      hostBaseUrl: res.locals.hostBaseUrl,
    });
  });
}
