import fs from 'node:fs';
import path from 'node:path';
import express, { type Express } from 'express';
import hbs from 'hbs';
import type { AddOn } from 'atlassian-connect-express';
import type { Config } from '../config';
import type { TenantStore } from '../connect/tenants';
import type { Database } from '../db/database';
import { projectRoot } from '../db/migrate';
import { JobsService, jobsOptionsFrom } from '../jobs/service';
import type { Logger } from '../logging/logger';
import type { SecretBox } from '../security/crypto';
import type { SyncEngine } from '../sync/runs';
import { createAdminApi } from './api';
import { JiraAdminCheck, type AdminCheck } from './auth';
import { mountDevHost } from './dev';
import { mountHelp } from './help';
import { mountAdminPages } from './pages';

export interface WebDependencies {
  config: Config;
  db: Database;
  logger: Logger;
  secrets: SecretBox;
  tenants: TenantStore;
  /** Default: ask Jira (JiraAdminCheck). Tests inject their own. */
  adminCheck?: AdminCheck;
  /**
   * The jobs service Synchronize enqueues into. Default: one without worker or ticker: the API only enqueues
   * and reads, and whichever instance runs the worker takes the job from the shared queue.
   */
  jobs?: JobsService;
  /** Confirms runs stopped at the safety threshold; the confirm route answers 503 without it. */
  engine?: SyncEngine;
}

const STATIC_OPTIONS = { index: false, maxAge: '1h', fallthrough: false } as const;
/**
 * The pages' scripts are ES modules that import each other: a browser holding some of them from an older
 * release for an hour would mix versions. They are revalidated on every load instead (a 304 via the ETag).
 */
const APP_STATIC_OPTIONS = {
  ...STATIC_OPTIONS,
  setHeaders: (res: { setHeader(name: string, value: string): void }, file: string) => {
    if (file.endsWith('.js')) res.setHeader('cache-control', 'no-cache');
  },
};

/** Mounts the admin UI: static assets (the app's own and AUI, never from a CDN), the pages, /api and /dev. */
export function mountWeb(app: Express, addon: AddOn, deps: WebDependencies): { adminCheck: AdminCheck; jobs: JobsService } {
  const { config } = deps;
  const adminCheck =
    deps.adminCheck ??
    new JiraAdminCheck({
      oauthServerUrl: config.adminCheck.oauthServerUrl,
      cacheMs: config.adminCheck.cacheMs,
      isProduction: config.isProduction,
      logger: deps.logger,
    });
  const jobs =
    deps.jobs ??
    new JobsService(
      deps.db,
      async () => {
        throw new Error('this jobs service only enqueues; the worker runs elsewhere');
      },
      { ...jobsOptionsFrom(config), worker: false, scheduler: false },
      deps.logger,
    );

  registerPartials(path.join(projectRoot(), 'views', 'partials'));
  app.use('/static', express.static(path.join(projectRoot(), 'public'), APP_STATIC_OPTIONS));
  app.use('/aui', express.static(path.join(projectRoot(), 'node_modules', '@atlassian', 'aui', 'dist', 'aui'), STATIC_OPTIONS));

  mountAdminPages(app, addon, { config });
  mountHelp(app);
  app.use('/api', createAdminApi({ ...deps, adminCheck, jobs }));
  mountDevHost(app, { config, tenants: deps.tenants });
  return { adminCheck, jobs };
}

/** Partials are read once, synchronously, so the first page render never races their registration. */
function registerPartials(dir: string): void {
  for (const file of fs.readdirSync(dir)) {
    if (file.endsWith('.hbs')) hbs.registerPartial(path.basename(file, '.hbs'), fs.readFileSync(path.join(dir, file), 'utf8'));
  }
}
