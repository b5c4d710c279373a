import type { Queryable } from '../db/database';
import type { SecretBox } from './crypto';

/**
 * Every column that holds a value sealed with SecretBox. A new sealed column must be listed here, or key
 * rotation (`cli secrets re-encrypt`) would leave it on a key the operator is about to remove.
 */
export const SEALED_COLUMNS = [
  { table: 'tenants', column: 'shared_secret_sealed' },
  { table: 'targets', column: 'credentials_sealed' },
  { table: 'connections', column: 'pull_config_sealed' },
] as const;

/**
 * Re-seals, with the primary key, every sealed value that another key sealed. Row by row with a
 * compare-and-set, so a value changed meanwhile by the app is left alone (it is already on the primary key).
 */
export async function resealAll(db: Queryable, secrets: SecretBox): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const { table, column } of SEALED_COLUMNS) {
    const { rows } = await db.query<{ id: string; sealed: string }>(`SELECT id, ${column} AS sealed FROM ${table} WHERE ${column} IS NOT NULL`);
    let changed = 0;
    for (const row of rows) {
      if (!secrets.needsReseal(row.sealed)) continue;
      const result = await db.query(`UPDATE ${table} SET ${column} = $2 WHERE id = $1 AND ${column} = $3`, [
        row.id,
        secrets.seal(secrets.open(row.sealed)),
        row.sealed,
      ]);
      changed += result.rowCount ?? 0;
    }
    counts[`${table}.${column}`] = changed;
  }
  return counts;
}
