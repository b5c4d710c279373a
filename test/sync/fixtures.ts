import { randomUUID } from 'node:crypto';
import type { Database } from '../../src/db/database';
import { recordChanges } from '../../src/directory/changes';

/**
 * Writes a connection's directory the way the SCIM layer does (row + outbox entry in one transaction), so
 * engine tests exercise the same tables and change events as production.
 */

export async function createTenantAndConnection(db: Database, settings: unknown = {}): Promise<{ tenantId: string; connectionId: string }> {
  const tenant = await db.query<{ id: string }>(
    "INSERT INTO tenants (client_key, base_url, shared_secret_sealed) VALUES ($1, 'https://example.atlassian.net', 'sealed') RETURNING id",
    [`client-${randomUUID()}`],
  );
  const tenantId = tenant.rows[0]!.id;
  const connection = await db.query<{ id: string }>(
    "INSERT INTO connections (tenant_id, name, provider, settings) VALUES ($1, $2, 'miniorange', $3) RETURNING id",
    [tenantId, `idp-${randomUUID()}`, JSON.stringify(settings)],
  );
  return { tenantId, connectionId: connection.rows[0]!.id };
}

export interface UserInput {
  userName: string;
  email?: string | null;
  displayName?: string | null;
  active?: boolean;
}

export class DirectoryFixture {
  constructor(
    private readonly db: Database,
    readonly connectionId: string,
  ) {}

  async addUser(user: UserInput): Promise<string> {
    return this.db.transaction(async (client) => {
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO directory_users (connection_id, user_name, primary_email, display_name, active, resource)
         VALUES ($1, $2, $3, $4, $5, '{}') RETURNING id`,
        [this.connectionId, user.userName, user.email === undefined ? user.userName : user.email, user.displayName ?? null, user.active ?? true],
      );
      const id = rows[0]!.id;
      await recordChanges(client, [{ connectionId: this.connectionId, entity: 'user', entityId: id, action: 'created', origin: 'push' }]);
      return id;
    });
  }

  async updateUser(id: string, patch: { displayName?: string; email?: string; active?: boolean }): Promise<void> {
    await this.db.transaction(async (client) => {
      await client.query(
        `UPDATE directory_users SET display_name = COALESCE($3, display_name), primary_email = COALESCE($4, primary_email),
                active = COALESCE($5, active), version = version + 1, updated_at = now()
          WHERE connection_id = $1 AND id = $2`,
        [this.connectionId, id, patch.displayName ?? null, patch.email ?? null, patch.active ?? null],
      );
      await recordChanges(client, [{ connectionId: this.connectionId, entity: 'user', entityId: id, action: 'updated', origin: 'push' }]);
    });
  }

  async deleteUser(id: string): Promise<void> {
    await this.db.transaction(async (client) => {
      await client.query('DELETE FROM directory_users WHERE connection_id = $1 AND id = $2', [this.connectionId, id]);
      await recordChanges(client, [{ connectionId: this.connectionId, entity: 'user', entityId: id, action: 'deleted', origin: 'push' }]);
    });
  }

  async addGroup(displayName: string, members: string[] = []): Promise<string> {
    return this.db.transaction(async (client) => {
      const { rows } = await client.query<{ id: string }>(
        "INSERT INTO directory_groups (connection_id, display_name, resource) VALUES ($1, $2, '{}') RETURNING id",
        [this.connectionId, displayName],
      );
      const id = rows[0]!.id;
      await recordChanges(client, [{ connectionId: this.connectionId, entity: 'group', entityId: id, action: 'created', origin: 'push' }]);
      for (const userId of members) {
        await client.query('INSERT INTO directory_memberships (group_id, user_id, connection_id) VALUES ($1, $2, $3)', [id, userId, this.connectionId]);
        await recordChanges(client, [{ connectionId: this.connectionId, entity: 'membership', entityId: id, memberId: userId, action: 'added', origin: 'push' }]);
      }
      return id;
    });
  }

  async renameGroup(id: string, displayName: string): Promise<void> {
    await this.db.transaction(async (client) => {
      await client.query('UPDATE directory_groups SET display_name = $3 WHERE connection_id = $1 AND id = $2', [this.connectionId, id, displayName]);
      await recordChanges(client, [{ connectionId: this.connectionId, entity: 'group', entityId: id, action: 'updated', origin: 'push' }]);
    });
  }

  async deleteGroup(id: string): Promise<void> {
    await this.db.transaction(async (client) => {
      await client.query('DELETE FROM directory_groups WHERE connection_id = $1 AND id = $2', [this.connectionId, id]);
      await recordChanges(client, [{ connectionId: this.connectionId, entity: 'group', entityId: id, action: 'deleted', origin: 'push' }]);
    });
  }

  async addMember(groupId: string, userId: string): Promise<void> {
    await this.db.transaction(async (client) => {
      await client.query('INSERT INTO directory_memberships (group_id, user_id, connection_id) VALUES ($1, $2, $3)', [groupId, userId, this.connectionId]);
      await recordChanges(client, [{ connectionId: this.connectionId, entity: 'membership', entityId: groupId, memberId: userId, action: 'added', origin: 'push' }]);
    });
  }

  async removeMember(groupId: string, userId: string): Promise<void> {
    await this.db.transaction(async (client) => {
      await client.query('DELETE FROM directory_memberships WHERE group_id = $1 AND user_id = $2 AND connection_id = $3', [groupId, userId, this.connectionId]);
      await recordChanges(client, [{ connectionId: this.connectionId, entity: 'membership', entityId: groupId, memberId: userId, action: 'removed', origin: 'push' }]);
    });
  }

  async pendingCount(): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>('SELECT count(*) AS n FROM directory_changes WHERE connection_id = $1 AND consumed_at IS NULL', [this.connectionId]);
    return Number(rows[0]!.n);
  }
}
