import type { Queryable } from '../db/database';
import type { InstallPayload, TenantStore } from './tenants';

/**
 * ACE's store adapter contract, backed by our database: `clientInfo` lives in `tenants` (secret sealed),
 * anything else ACE wants to keep per tenant in `connect_store`.
 */
export class ConnectStoreAdapter {
  constructor(
    private readonly db: Queryable,
    private readonly tenants: TenantStore,
  ) {}

  async get(key: string, clientKey: string): Promise<unknown> {
    if (key === 'clientInfo') return this.tenants.clientInfo(clientKey);
    const { rows } = await this.db.query<{ value: unknown }>('SELECT value FROM connect_store WHERE client_key = $1 AND key = $2', [
      clientKey ?? '',
      key,
    ]);
    return rows[0]?.value ?? null;
  }

  async set(key: string, value: unknown, clientKey: string): Promise<unknown> {
    if (key === 'clientInfo') {
      await this.tenants.saveInstall(value as InstallPayload);
    } else {
      await this.db.query(
        `INSERT INTO connect_store (client_key, key, value) VALUES ($1, $2, $3)
         ON CONFLICT (client_key, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
        [clientKey ?? '', key, JSON.stringify(value)],
      );
    }
    return this.get(key, clientKey);
  }

  async saveInstallation(value: InstallPayload, clientKey: string): Promise<unknown> {
    const saved = await this.set('clientInfo', value, clientKey);
    const installationId = (value as { installationId?: string }).installationId;
    if (installationId) await this.associateInstallations(installationId, clientKey);
    return saved;
  }

  async del(key: string, clientKey: string): Promise<void> {
    if (key === 'clientInfo') {
      await this.tenants.markUninstalled(clientKey);
      return;
    }
    await this.db.query('DELETE FROM connect_store WHERE client_key = $1 AND key = $2', [clientKey ?? '', key]);
  }

  getAllClientInfos(): Promise<InstallPayload[]> {
    return this.tenants.allClientInfos();
  }

  isMemoryStore(): boolean {
    return false;
  }

  async associateInstallations(forgeInstallationId: string, clientKey: string): Promise<void> {
    await this.set(`forge-installation:${forgeInstallationId}`, clientKey, '');
  }

  async deleteAssociation(forgeInstallationId: string): Promise<void> {
    await this.del(`forge-installation:${forgeInstallationId}`, '');
  }

  async getClientSettingsForForgeInstallation(forgeInstallationId: string): Promise<unknown> {
    const clientKey = await this.get(`forge-installation:${forgeInstallationId}`, '');
    return typeof clientKey === 'string' ? this.tenants.clientInfo(clientKey) : null;
  }

  forForgeInstallation(installationId: string) {
    const scope = `forge:${installationId}`;
    return {
      get: (key: string) => this.get(key, scope),
      set: (key: string, value: unknown) => this.set(key, value, scope),
      del: (key: string) => this.del(key, scope),
    };
  }
}
