import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Queryable } from '../db/database';
import type { SecretBox } from '../security/crypto';

/** What Atlassian posts to /installed (the fields we rely on; the rest is kept as sent). */
export const installPayloadSchema = z
  .object({
    key: z.string().min(1),
    clientKey: z.string().min(1).max(255),
    sharedSecret: z.string().min(1),
    baseUrl: z.url(),
    productType: z.string().optional(),
    /** Only in a Connect-on-Forge install: the Forge installation ARI (`ari:cloud:ecosystem::installation/…`). */
    installationId: z.string().min(1).max(512).nullish(),
  })
  .loose();

export type InstallPayload = z.infer<typeof installPayloadSchema>;

export interface Tenant {
  id: string;
  clientKey: string;
  baseUrl: string;
  productType: string;
  origin: 'connect' | 'local';
  /** The Forge installation ARI of a Connect-on-Forge install; null for a plain Connect or local tenant. */
  forgeInstallationId: string | null;
  installedAt: Date;
  updatedAt: Date;
  uninstalledAt: Date | null;
}

interface TenantRow {
  id: string;
  client_key: string;
  base_url: string;
  product_type: string;
  origin: 'connect' | 'local';
  forge_installation_id: string | null;
  installed_at: Date;
  updated_at: Date;
  uninstalled_at: Date | null;
}

const TENANT_COLUMNS = 'id, client_key, base_url, product_type, origin, forge_installation_id, installed_at, updated_at, uninstalled_at';

function toTenant(row: TenantRow): Tenant {
  return {
    id: row.id,
    clientKey: row.client_key,
    baseUrl: row.base_url,
    productType: row.product_type,
    origin: row.origin,
    forgeInstallationId: row.forge_installation_id,
    installedAt: row.installed_at,
    updatedAt: row.updated_at,
    uninstalledAt: row.uninstalled_at,
  };
}

export class TenantStore {
  constructor(
    private readonly db: Queryable,
    private readonly secrets: SecretBox,
  ) {}

  /**
   * Saves an install (first install or reinstall); a reinstall replaces the secret and clears uninstalled_at.
   * The Forge installation id follows the latest install, so a site that moves between plain Connect and
   * Connect on Forge shows the flavour it runs now.
   */
  async saveInstall(payload: InstallPayload, origin: Tenant['origin'] = 'connect'): Promise<Tenant> {
    const { sharedSecret, ...info } = installPayloadSchema.parse(payload);
    const { rows } = await this.db.query<TenantRow>(
      `INSERT INTO tenants (client_key, base_url, product_type, client_info, shared_secret_sealed, origin, forge_installation_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (client_key) DO UPDATE SET
         base_url = EXCLUDED.base_url, product_type = EXCLUDED.product_type, client_info = EXCLUDED.client_info,
         shared_secret_sealed = EXCLUDED.shared_secret_sealed, forge_installation_id = EXCLUDED.forge_installation_id,
         updated_at = now(), uninstalled_at = NULL
       RETURNING ${TENANT_COLUMNS}`,
      [
        info.clientKey,
        info.baseUrl,
        info.productType ?? 'jira',
        JSON.stringify(info),
        this.secrets.seal(sharedSecret),
        origin,
        info.installationId ?? null,
      ],
    );
    return toTenant(rows[0]!);
  }

  /** The install payload with its secret, as ACE expects it; null when unknown or uninstalled. */
  async clientInfo(clientKey: string): Promise<InstallPayload | null> {
    const { rows } = await this.db.query<{ client_info: Record<string, unknown>; shared_secret_sealed: string }>(
      'SELECT client_info, shared_secret_sealed FROM tenants WHERE client_key = $1 AND uninstalled_at IS NULL',
      [clientKey],
    );
    const row = rows[0];
    if (!row) return null;
    return { ...row.client_info, sharedSecret: this.secrets.open(row.shared_secret_sealed) } as InstallPayload;
  }

  async allClientInfos(): Promise<InstallPayload[]> {
    const { rows } = await this.db.query<{ client_key: string }>(
      'SELECT client_key FROM tenants WHERE uninstalled_at IS NULL ORDER BY client_key',
    );
    const infos = await Promise.all(rows.map((row) => this.clientInfo(row.client_key)));
    return infos.filter((info): info is InstallPayload => info !== null);
  }

  async findByClientKey(clientKey: string): Promise<Tenant | null> {
    const { rows } = await this.db.query<TenantRow>(`SELECT ${TENANT_COLUMNS} FROM tenants WHERE client_key = $1`, [clientKey]);
    return rows[0] ? toTenant(rows[0]) : null;
  }

  async findById(id: string): Promise<Tenant | null> {
    const { rows } = await this.db.query<TenantRow>(`SELECT ${TENANT_COLUMNS} FROM tenants WHERE id = $1`, [id]);
    return rows[0] ? toTenant(rows[0]) : null;
  }

  async list(): Promise<Tenant[]> {
    const { rows } = await this.db.query<TenantRow>(`SELECT ${TENANT_COLUMNS} FROM tenants ORDER BY installed_at, client_key`);
    return rows.map(toTenant);
  }

  /**
   * Uninstall keeps the tenant's configuration and history (a reinstall picks them up) but stops
   * everything acting for it: context JWTs no longer verify and its connections stop syncing.
   */
  async markUninstalled(clientKey: string): Promise<boolean> {
    const result = await this.db.query(
      'UPDATE tenants SET uninstalled_at = now(), updated_at = now() WHERE client_key = $1 AND uninstalled_at IS NULL',
      [clientKey],
    );
    return (result.rowCount ?? 0) > 0;
  }

  /** A tenant for local development and tests, without a Jira site. Returns its shared secret. */
  async createLocal(input: { clientKey: string; baseUrl: string; sharedSecret?: string }): Promise<{ tenant: Tenant; sharedSecret: string }> {
    const sharedSecret = input.sharedSecret ?? randomBytes(32).toString('base64url');
    const tenant = await this.saveInstall(
      { key: 'user-group-sync', clientKey: input.clientKey, baseUrl: input.baseUrl, sharedSecret, productType: 'jira' },
      'local',
    );
    return { tenant, sharedSecret };
  }
}
