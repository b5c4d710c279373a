import type { Queryable } from '../db/database';
import type { ChangeAction, ChangeEntity, DirectoryChange } from './types';

export interface NewChange {
  connectionId: string;
  entity: ChangeEntity;
  entityId: string;
  memberId?: string | null;
  action: ChangeAction;
  origin: 'push' | 'pull';
}

/**
 * Appends to the outbox. Call it with the transaction's client, in the same transaction as the
 * directory write it describes: then a change is recorded if and only if the write committed.
 */
export async function recordChanges(client: Queryable, changes: NewChange[]): Promise<void> {
  if (changes.length === 0) return;
  const values: unknown[] = [];
  const tuples = changes.map((change, i) => {
    values.push(change.connectionId, change.entity, change.entityId, change.memberId ?? null, change.action, change.origin);
    const o = i * 6;
    return `($${o + 1}, $${o + 2}, $${o + 3}, $${o + 4}, $${o + 5}, $${o + 6})`;
  });
  await client.query(
    `INSERT INTO directory_changes (connection_id, entity, entity_id, member_id, action, origin) VALUES ${tuples.join(', ')}`,
    values,
  );
}

interface ChangeRow {
  id: number;
  connection_id: string;
  entity: ChangeEntity;
  entity_id: string;
  member_id: string | null;
  action: ChangeAction;
  origin: 'push' | 'pull';
  created_at: Date;
}

/** The oldest unconsumed changes of a connection, up to `limit`. */
export async function pendingChanges(db: Queryable, connectionId: string, limit = 1000): Promise<DirectoryChange[]> {
  const { rows } = await db.query<ChangeRow>(
    `SELECT id, connection_id, entity, entity_id, member_id, action, origin, created_at
       FROM directory_changes WHERE connection_id = $1 AND consumed_at IS NULL ORDER BY id LIMIT $2`,
    [connectionId, limit],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    connectionId: r.connection_id,
    entity: r.entity,
    entityId: r.entity_id,
    memberId: r.member_id,
    action: r.action,
    origin: r.origin,
    createdAt: r.created_at,
  }));
}

/** Marks changes up to and including `throughId` consumed (a sync run took them). */
export async function consumeChanges(db: Queryable, connectionId: string, throughId: number): Promise<number> {
  const result = await db.query(
    'UPDATE directory_changes SET consumed_at = now() WHERE connection_id = $1 AND id <= $2 AND consumed_at IS NULL',
    [connectionId, throughId],
  );
  return result.rowCount ?? 0;
}
