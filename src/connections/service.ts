import type { Database } from '../db/database';
import { digestsEqual, hashToken, randomToken } from '../security/crypto';

/**
 * IdP connections ("Configured IDPs") of a tenant and their SCIM bearer tokens. Free of HTTP: the CLI,
 * the SCIM router and the admin UI all call this.
 *
 * Tokens are 256 random bits, shown once, stored only as SHA-256, looked up by hash and compared in
 * constant time. Rotation issues a new token and lets the old ones live for a grace period, so the IdP
 * can be reconfigured without a gap; revocation ends them at once.
 */

export const PROVIDERS = ['miniorange', 'entra', 'okta', 'onelogin', 'jumpcloud', 'google', 'keycloak', 'generic'] as const;
export type Provider = (typeof PROVIDERS)[number];

export interface Connection {
  id: string;
  tenantId: string;
  tenantClientKey: string;
  name: string;
  provider: Provider;
  scimBaseUrl: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface TokenInfo {
  id: string;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  active: boolean;
}

/** Who a valid bearer token speaks for. */
export interface AuthenticatedConnection {
  connectionId: string;
  tenantId: string;
  provider: Provider;
  tokenId: string;
}

export class ConnectionError extends Error {
  constructor(
    message: string,
    readonly code: 'not_found' | 'conflict' | 'invalid',
  ) {
    super(message);
    this.name = 'ConnectionError';
  }
}

interface ConnectionRow {
  id: string;
  tenant_id: string;
  client_key: string;
  name: string;
  provider: Provider;
  created_at: Date;
  updated_at: Date;
}

const SELECT_CONNECTION = `SELECT c.id, c.tenant_id, t.client_key, c.name, c.provider, c.created_at, c.updated_at
  FROM connections c JOIN tenants t ON t.id = c.tenant_id`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** last_used_at is written at most this often per token: it is for admins, not worth a write per request. */
const LAST_USED_RESOLUTION_MS = 60_000;

export interface ConnectionServiceOptions {
  /** Public base URL of the app; SCIM base URLs are `{baseUrl}/scim/v2/{connectionId}`. */
  baseUrl: string;
  /** How long a rotated-out token keeps working. */
  tokenGraceSeconds: number;
}

export class ConnectionService {
  constructor(
    private readonly db: Database,
    private readonly options: ConnectionServiceOptions,
  ) {}

  scimBaseUrl(connectionId: string): string {
    return `${this.options.baseUrl}/scim/v2/${connectionId}`;
  }

  private toConnection(row: ConnectionRow): Connection {
    return {
      id: row.id,
      tenantId: row.tenant_id,
      tenantClientKey: row.client_key,
      name: row.name,
      provider: row.provider,
      scimBaseUrl: this.scimBaseUrl(row.id),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  /** Creates a connection for an installed tenant and its first token (returned once, never stored). */
  async create(input: { tenantClientKey: string; name: string; provider: Provider }): Promise<{ connection: Connection; token: string }> {
    const name = input.name.trim();
    if (name === '' || name.length > 200) throw new ConnectionError('name must be 1 to 200 characters', 'invalid');
    if (!PROVIDERS.includes(input.provider)) throw new ConnectionError(`provider must be one of ${PROVIDERS.join(', ')}`, 'invalid');
    return this.db.transaction(async (client) => {
      const { rows: tenants } = await client.query<{ id: string }>(
        'SELECT id FROM tenants WHERE client_key = $1 AND uninstalled_at IS NULL',
        [input.tenantClientKey],
      );
      if (!tenants[0]) throw new ConnectionError(`no installed tenant with clientKey "${input.tenantClientKey}"`, 'not_found');
      let id: string;
      try {
        const { rows } = await client.query<{ id: string }>(
          'INSERT INTO connections (tenant_id, name, provider) VALUES ($1, $2, $3) RETURNING id',
          [tenants[0].id, name, input.provider],
        );
        id = rows[0]!.id;
      } catch (error) {
        if ((error as { code?: string }).code === '23505') throw new ConnectionError(`this tenant already has a connection named "${name}"`, 'conflict');
        throw error;
      }
      const token = randomToken(32);
      await client.query('INSERT INTO connection_tokens (connection_id, token_hash) VALUES ($1, $2)', [id, hashToken(token)]);
      const { rows } = await client.query<ConnectionRow>(`${SELECT_CONNECTION} WHERE c.id = $1`, [id]);
      return { connection: this.toConnection(rows[0]!), token };
    });
  }

  async list(filter: { tenantClientKey?: string } = {}): Promise<Connection[]> {
    const { rows } = filter.tenantClientKey
      ? await this.db.query<ConnectionRow>(`${SELECT_CONNECTION} WHERE t.client_key = $1 ORDER BY c.created_at, c.id`, [filter.tenantClientKey])
      : await this.db.query<ConnectionRow>(`${SELECT_CONNECTION} ORDER BY t.client_key, c.created_at, c.id`);
    return rows.map((r) => this.toConnection(r));
  }

  async get(id: string, tenantId?: string): Promise<Connection | null> {
    if (!UUID.test(id)) return null;
    const { rows } = tenantId
      ? await this.db.query<ConnectionRow>(`${SELECT_CONNECTION} WHERE c.id = $1 AND c.tenant_id = $2`, [id, tenantId])
      : await this.db.query<ConnectionRow>(`${SELECT_CONNECTION} WHERE c.id = $1`, [id]);
    return rows[0] ? this.toConnection(rows[0]) : null;
  }

  private async require(id: string): Promise<Connection> {
    const connection = await this.get(id);
    if (!connection) throw new ConnectionError(`connection ${id} not found`, 'not_found');
    return connection;
  }

  async rename(id: string, name: string): Promise<Connection> {
    await this.require(id);
    const trimmed = name.trim();
    if (trimmed === '' || trimmed.length > 200) throw new ConnectionError('name must be 1 to 200 characters', 'invalid');
    try {
      await this.db.query('UPDATE connections SET name = $2, updated_at = now() WHERE id = $1', [id, trimmed]);
    } catch (error) {
      if ((error as { code?: string }).code === '23505') throw new ConnectionError(`this tenant already has a connection named "${trimmed}"`, 'conflict');
      throw error;
    }
    return this.require(id);
  }

  /** Deletes the connection with its tokens and its whole directory (cascade). */
  async delete(id: string): Promise<boolean> {
    if (!UUID.test(id)) return false;
    const { rowCount } = await this.db.query('DELETE FROM connections WHERE id = $1', [id]);
    return (rowCount ?? 0) > 0;
  }

  /**
   * Issues a new token. Tokens already active keep working for `graceSeconds` (default: the configured
   * grace period; 0 ends them now), so the IdP can switch over without failed pushes.
   */
  async rotateToken(id: string, options: { graceSeconds?: number } = {}): Promise<{ token: string; previousTokensExpireAt: Date }> {
    await this.require(id);
    const grace = options.graceSeconds ?? this.options.tokenGraceSeconds;
    if (!Number.isFinite(grace) || grace < 0) throw new ConnectionError('graceSeconds must be 0 or more', 'invalid');
    return this.db.transaction(async (client) => {
      const { rows } = await client.query<{ expires_at: Date }>(`SELECT now() + make_interval(secs => $1) AS expires_at`, [grace]);
      const expiresAt = rows[0]!.expires_at;
      await client.query(
        `UPDATE connection_tokens SET expires_at = $2
          WHERE connection_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)`,
        [id, expiresAt],
      );
      const token = randomToken(32);
      await client.query('INSERT INTO connection_tokens (connection_id, token_hash) VALUES ($1, $2)', [id, hashToken(token)]);
      return { token, previousTokensExpireAt: expiresAt };
    });
  }

  /** Revokes one token, or every still-valid token of the connection; returns how many were revoked. */
  async revokeTokens(id: string, tokenId?: string): Promise<number> {
    await this.require(id);
    const { rowCount } = tokenId
      ? await this.db.query('UPDATE connection_tokens SET revoked_at = now() WHERE connection_id = $1 AND id = $2 AND revoked_at IS NULL', [id, tokenId])
      : await this.db.query(
          'UPDATE connection_tokens SET revoked_at = now() WHERE connection_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())',
          [id],
        );
    return rowCount ?? 0;
  }

  async listTokens(id: string): Promise<TokenInfo[]> {
    const { rows } = await this.db.query<{ id: string; created_at: Date; expires_at: Date | null; revoked_at: Date | null; last_used_at: Date | null; active: boolean }>(
      `SELECT id, created_at, expires_at, revoked_at, last_used_at,
              (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())) AS active
         FROM connection_tokens WHERE connection_id = $1 ORDER BY created_at, id`,
      [id],
    );
    return rows.map((r) => ({ id: r.id, createdAt: r.created_at, expiresAt: r.expires_at, revokedAt: r.revoked_at, lastUsedAt: r.last_used_at, active: r.active }));
  }

  /**
   * The connection a bearer token speaks for, or null: unknown, revoked or expired tokens, tokens of
   * another connection than `connectionId`, and tokens of an uninstalled tenant are all refused.
   */
  async authenticate(connectionId: string, token: string): Promise<AuthenticatedConnection | null> {
    if (!UUID.test(connectionId) || token.length < 16 || token.length > 512) return null;
    const presented = hashToken(token);
    const { rows } = await this.db.query<{ token_id: string; token_hash: string; connection_id: string; tenant_id: string; provider: Provider; stale: boolean }>(
      `SELECT ct.id AS token_id, ct.token_hash, c.id AS connection_id, c.tenant_id, c.provider,
              (ct.last_used_at IS NULL OR ct.last_used_at < now() - make_interval(secs => $2)) AS stale
         FROM connection_tokens ct
         JOIN connections c ON c.id = ct.connection_id
         JOIN tenants t ON t.id = c.tenant_id
        WHERE ct.token_hash = $1 AND ct.revoked_at IS NULL AND (ct.expires_at IS NULL OR ct.expires_at > now())
          AND t.uninstalled_at IS NULL`,
      [presented, LAST_USED_RESOLUTION_MS / 1000],
    );
    const row = rows[0];
    if (!row || !digestsEqual(row.token_hash, presented) || row.connection_id !== connectionId.toLowerCase()) return null;
    if (row.stale) await this.db.query('UPDATE connection_tokens SET last_used_at = now() WHERE id = $1', [row.token_id]);
    return { connectionId: row.connection_id, tenantId: row.tenant_id, provider: row.provider, tokenId: row.token_id };
  }
}
