import request from 'supertest';
import type { App } from '../../src/app';
import { TenantStore } from '../../src/connect/tenants';
import { ConnectionService, type Provider } from '../../src/connections/service';
import { createLogger } from '../../src/logging/logger';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { testApp } from '../helpers/runtime';

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

export interface ScimConnection {
  id: string;
  token: string;
  /** Path prefix of this connection's SCIM endpoint. */
  base: string;
}

/**
 * The real app (createApp: SCIM mounted where production mounts it) over a fresh test database, with
 * helpers to make connections and to call their SCIM endpoints.
 */
export class ScimFixture {
  private constructor(
    readonly t: TestDatabase,
    readonly app: App['app'],
    readonly connections: ConnectionService,
    readonly tenants: TenantStore,
    readonly logLines: Record<string, unknown>[],
  ) {}

  static async start(env: Record<string, string> = {}): Promise<ScimFixture> {
    const t = await createTestDatabase();
    const logLines: Record<string, unknown>[] = [];
    const logger = createLogger({
      level: 'info',
      destination: { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) },
    });
    const runtime = await testApp(t.db, { SCIM_RATE_LIMIT_PER_SECOND: '0', SCIM_AUTH_CACHE_SECONDS: '0', ...env }, logger);
    const connections = new ConnectionService(t.db, { baseUrl: runtime.config.baseUrl, tokenGraceSeconds: 60 });
    return new ScimFixture(t, runtime.app, connections, new TenantStore(t.db, runtime.secrets), logLines);
  }

  async connection(options: { clientKey?: string; name?: string; provider?: Provider } = {}): Promise<ScimConnection> {
    const clientKey = options.clientKey ?? 'tenant-a';
    if (!(await this.tenants.findByClientKey(clientKey))) {
      await this.tenants.createLocal({ clientKey, baseUrl: `https://${clientKey}.atlassian.net` });
    }
    const { connection, token } = await this.connections.create({
      tenantClientKey: clientKey,
      name: options.name ?? `IdP ${Math.random().toString(36).slice(2)}`,
      provider: options.provider ?? 'generic',
    });
    return { id: connection.id, token, base: `/scim/v2/${connection.id}` };
  }

  /** A request to `c`'s endpoint with its bearer token. */
  call(c: ScimConnection, method: 'get' | 'post' | 'put' | 'patch' | 'delete', path: string, body?: unknown, contentType = 'application/scim+json') {
    const req = request(this.app)[method](`${c.base}${path}`).set('Authorization', `Bearer ${c.token}`);
    if (body === undefined) return req;
    return req.set('Content-Type', contentType).send(typeof body === 'string' ? body : JSON.stringify(body));
  }

  async createUser(c: ScimConnection, userName: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const res = await this.call(c, 'post', '/Users', { schemas: [USER_SCHEMA], userName, active: true, ...extra });
    if (res.status !== 201) throw new Error(`create user ${userName}: ${res.status} ${res.text}`);
    return res.body as Record<string, unknown>;
  }

  async createGroup(c: ScimConnection, displayName: string, members: string[] = []): Promise<Record<string, unknown>> {
    const res = await this.call(c, 'post', '/Groups', { schemas: [GROUP_SCHEMA], displayName, members: members.map((value) => ({ value })) });
    if (res.status !== 201) throw new Error(`create group ${displayName}: ${res.status} ${res.text}`);
    return res.body as Record<string, unknown>;
  }

  async changes(connectionId: string): Promise<{ entity: string; action: string; entity_id: string; member_id: string | null }[]> {
    const { rows } = await this.t.db.query<{ entity: string; action: string; entity_id: string; member_id: string | null }>(
      'SELECT entity, action, entity_id, member_id FROM directory_changes WHERE connection_id = $1 ORDER BY id',
      [connectionId],
    );
    return rows;
  }

  async stop(): Promise<void> {
    await this.t.destroy();
  }
}

export function patch(...operations: Record<string, unknown>[]) {
  return { schemas: [PATCH_OP], Operations: operations };
}
