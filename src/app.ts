import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import express, { type ErrorRequestHandler, type Express } from 'express';
import ace, { type AddOn } from 'atlassian-connect-express';
import type { Config } from './config';
import type { Database } from './db/database';
import { projectRoot } from './db/migrate';
import type { Logger } from './logging/logger';
import { redactText } from './logging/logger';
import { httpLogger } from './logging/http';
import type { SecretBox } from './security/crypto';
import { TenantStore } from './connect/tenants';
import { ConnectStoreAdapter } from './connect/store';
import { mountLifecycle } from './connect/lifecycle';
import { InstallKeys } from './connect/install-keys';
import { mountWeb, type WebDependencies } from './web';
import { createScimHandler } from './scim/router';
import { configureEgress } from './egress';

export interface AppDependencies {
  config: Config;
  db: Database;
  logger: Logger;
  secrets: SecretBox;
  /** Admin UI collaborators (src/web): the administrator check, the jobs service and the sync engine. */
  web?: Pick<WebDependencies, 'adminCheck' | 'jobs' | 'engine'>;
}

export interface App {
  /** The request handler: SCIM first (served before Express, see createScimHandler), then the Express app. */
  app: (req: IncomingMessage, res: ServerResponse) => void;
  /** The Express app behind `app` (everything but SCIM). */
  express: Express;
  addon: AddOn;
  tenants: TenantStore;
  /** Resolves once ACE has mounted the descriptor (it does so on the next tick). */
  ready: Promise<void>;
}

const STORE_ADAPTER = 'user-group-sync-postgres';

/** ACE logs through this; its messages can embed install payloads, so every string is scrubbed. */
function aceLogger(logger: Logger) {
  const line = (args: unknown[]) =>
    redactText(args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? a.message : JSON.stringify(a))).join(' '));
  return {
    info: (...args: unknown[]) => logger.debug({ component: 'ace' }, line(args)),
    warn: (...args: unknown[]) => logger.warn({ component: 'ace' }, line(args)),
    error: (...args: unknown[]) => logger.error({ component: 'ace' }, line(args)),
  };
}

export function createApp({ config, db, logger, secrets, web }: AppDependencies): App {
  const app = express();
  app.set('env', config.env);
  app.set('trust proxy', true);
  app.disable('x-powered-by');
  app.set('view engine', 'hbs');
  app.set('views', path.join(projectRoot(), 'views'));

  // Every outbound call of this process (targets, sources, the administrator check, install keys) follows the
  // operator's egress settings.
  configureEgress(config.egress);

  const tenants = new TenantStore(db, secrets);
  const store = new ConnectStoreAdapter(db, tenants);
  ace.store.register(STORE_ADAPTER, () => store as unknown as ace.StoreAdapter);

  // SCIM first: it parses its own bodies (before the global JSON parser) and writes its own request log,
  // which names the connection and leaves out filter values (they carry userNames and emails).
  const jobs = web?.jobs;
  const onDirectoryChanged = jobs
    ? ({ tenantId, connectionId }: { tenantId: string; connectionId: string }) => {
        jobs.directoryChanged(tenantId, connectionId).catch((error: unknown) => {
          logger.warn({ err: error, connectionId }, 'could not queue the incremental sync after a SCIM change; the next run takes it');
        });
      }
    : undefined;
  const scim = createScimHandler({ config, db, logger, onDirectoryChanged });
  app.use(httpLogger(logger));
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      await db.query('SELECT 1');
      res.json({ status: 'ready', database: db.kind });
    } catch {
      res.status(503).json({ status: 'unavailable', database: db.kind });
    }
  });

  app.use(express.json({ limit: config.maxBodyBytes }));
  app.use(express.urlencoded({ extended: false, limit: config.maxBodyBytes }));

  const aceMode = {
    localBaseUrl: config.baseUrl,
    port: String(config.port),
    watch: false,
    store: { adapter: STORE_ADAPTER },
    whitelist: config.connect.hostAllowlist.join(','),
    product: 'jira',
    // /installed is ours (src/connect/lifecycle.ts): ACE's would fetch the signing key outside src/egress.
    setupInstallRoute: false,
  };
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const addon = ace(
    app,
    // NODE_ENV=test reads ACE's development block.
    { config: { development: aceMode, production: aceMode } },
    aceLogger(logger) as unknown as Console,
    () => {
      // ACE mounts the descriptor on the next tick; handlers that must come last go here.
      app.use((req, res) => {
        res.status(404).json({ error: 'not_found', message: `No route for ${req.method} ${req.path}` });
      });
      app.use(errorHandler(logger, config));
      markReady();
    },
  );
  app.use(addon.middleware());

  mountLifecycle(app, addon, tenants, logger, {
    baseUrl: config.baseUrl,
    hostAllowlist: config.connect.hostAllowlist,
    keys: new InstallKeys({ keyServerOverride: config.connect.keysCdnUrl }),
  });
  mountWeb(app, addon, { config, db, logger, secrets, tenants, ...web });

  return { app: (req, res) => scim(req, res, () => app(req, res)), express: app, addon, tenants, ready };
}

function errorHandler(logger: Logger, config: Config): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const status = typeof error?.status === 'number' && error.status >= 400 && error.status < 600 ? error.status : 500;
    if (status >= 500) logger.error({ err: error, reqId: req.id }, 'request failed');
    if (res.headersSent) return;
    const expose = status < 500 || !config.isProduction;
    res.status(status).json({
      error: status === 413 ? 'payload_too_large' : status < 500 ? 'bad_request' : 'internal_error',
      message: expose ? String(error?.message ?? error) : 'Internal error',
      requestId: req.id,
    });
  };
}
