import type { Queryable } from '../db/database';
import type { CreatedGroup, DeprovisionRecord, LinkRecord } from './plan';

/**
 * links: which target account belongs to which directory user, and whether this connection manages it
 * (created or adopted it). sync_groups: which target groups this connection created.
 * Every query is scoped to the connection (and through it, the tenant).
 */

interface LinkRow {
  directory_user_id: string;
  account_id: string | null;
  managed: boolean;
  origin: 'created' | 'adopted';
  state: LinkRecord['state'];
  user_name: string | null;
  email: string | null;
}

const toLink = (r: LinkRow): LinkRecord => ({
  directoryUserId: r.directory_user_id,
  accountId: r.account_id,
  managed: r.managed,
  origin: r.origin,
  state: r.state,
  userName: r.user_name,
  email: r.email,
});

/** All links of the connection on one target, or only those of the given directory users. */
export async function readLinks(db: Queryable, connectionId: string, targetId: string, userIds?: string[]): Promise<LinkRecord[]> {
  if (userIds && userIds.length === 0) return [];
  const { rows } = await db.query<LinkRow>(
    `SELECT directory_user_id, account_id, managed, origin, state, user_name, email FROM links
      WHERE connection_id = $1 AND target_id = $2 AND ($3::uuid[] IS NULL OR directory_user_id = ANY($3::uuid[]))
      ORDER BY directory_user_id`,
    [connectionId, targetId, userIds ?? null],
  );
  return rows.map(toLink);
}

/** Directory users with at least one managed account that is not removed: the base of the safety threshold. */
export async function countManagedUsers(db: Queryable, connectionId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(DISTINCT directory_user_id) AS n FROM links
      WHERE connection_id = $1 AND managed AND state IN ('active', 'deactivated')`,
    [connectionId],
  );
  return Number(rows[0]?.n ?? 0);
}

export interface LinkWrite {
  tenantId: string;
  connectionId: string;
  targetId: string;
  directoryUserId: string;
  accountId: string | null;
  origin: 'created' | 'adopted';
  state: LinkRecord['state'];
  userName: string | null;
  email: string | null;
}

export async function upsertLinks(db: Queryable, links: LinkWrite[]): Promise<void> {
  if (links.length === 0) return;
  await db.query(
    `INSERT INTO links (tenant_id, connection_id, target_id, directory_user_id, account_id, managed, origin, state, user_name, email)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::boolean[], $7::text[], $8::text[], $9::text[], $10::text[])
     ON CONFLICT (connection_id, target_id, directory_user_id) DO UPDATE SET
       account_id = COALESCE(EXCLUDED.account_id, links.account_id),
       managed = true,
       origin = EXCLUDED.origin,
       state = EXCLUDED.state,
       user_name = COALESCE(EXCLUDED.user_name, links.user_name),
       email = COALESCE(EXCLUDED.email, links.email),
       updated_at = now()`,
    [
      links.map((l) => l.tenantId),
      links.map((l) => l.connectionId),
      links.map((l) => l.targetId),
      links.map((l) => l.directoryUserId),
      links.map((l) => l.accountId),
      links.map(() => true),
      links.map((l) => l.origin),
      links.map((l) => l.state),
      links.map((l) => l.userName),
      links.map((l) => l.email),
    ],
  );
}

export async function setLinkStates(
  db: Queryable,
  connectionId: string,
  changes: Array<{ targetId: string; directoryUserId: string; state: LinkRecord['state'] }>,
): Promise<void> {
  if (changes.length === 0) return;
  await db.query(
    `UPDATE links SET state = c.state, updated_at = now()
       FROM unnest($2::text[], $3::uuid[], $4::text[]) AS c(target_id, directory_user_id, state)
      WHERE links.connection_id = $1 AND links.target_id = c.target_id AND links.directory_user_id = c.directory_user_id`,
    [connectionId, changes.map((c) => c.targetId), changes.map((c) => c.directoryUserId), changes.map((c) => c.state)],
  );
}

export async function readCreatedGroups(db: Queryable, connectionId: string, targetId: string): Promise<CreatedGroup[]> {
  const { rows } = await db.query<{ group_key: string; group_id: string; group_name: string }>(
    'SELECT group_key, group_id, group_name FROM sync_groups WHERE connection_id = $1 AND target_id = $2 ORDER BY group_key',
    [connectionId, targetId],
  );
  return rows.map((r) => ({ key: r.group_key, groupId: r.group_id, name: r.group_name }));
}

export async function recordCreatedGroups(
  db: Queryable,
  tenantId: string,
  connectionId: string,
  groups: Array<{ targetId: string; key: string; groupId: string; name: string }>,
): Promise<void> {
  if (groups.length === 0) return;
  await db.query(
    `INSERT INTO sync_groups (tenant_id, connection_id, target_id, group_key, group_id, group_name)
     SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[])
     ON CONFLICT (connection_id, target_id, group_key) DO UPDATE SET group_id = EXCLUDED.group_id, group_name = EXCLUDED.group_name`,
    [tenantId, connectionId, groups.map((g) => g.targetId), groups.map((g) => g.key), groups.map((g) => g.groupId), groups.map((g) => g.name)],
  );
}

export async function forgetCreatedGroups(
  db: Queryable,
  connectionId: string,
  groups: Array<{ targetId: string; key: string }>,
): Promise<void> {
  if (groups.length === 0) return;
  await db.query(
    `DELETE FROM sync_groups s USING unnest($2::text[], $3::text[]) AS g(target_id, group_key)
      WHERE s.connection_id = $1 AND s.target_id = g.target_id AND s.group_key = g.group_key`,
    [connectionId, groups.map((g) => g.targetId), groups.map((g) => g.key)],
  );
}

/** What deprovisioning took from the connection's accounts on one target (all, or the given users'). */
export async function readDeprovisioned(db: Queryable, connectionId: string, targetId: string, userIds?: string[]): Promise<DeprovisionRecord[]> {
  if (userIds && userIds.length === 0) return [];
  const { rows } = await db.query<{ directory_user_id: string; account_id: string; method: DeprovisionRecord['method']; removed_groups: DeprovisionRecord['removedGroups'] }>(
    `SELECT directory_user_id, account_id, method, removed_groups FROM deprovisioned_access
      WHERE connection_id = $1 AND target_id = $2 AND ($3::uuid[] IS NULL OR directory_user_id = ANY($3::uuid[]))
      ORDER BY directory_user_id`,
    [connectionId, targetId, userIds ?? null],
  );
  return rows.map((r) => ({ directoryUserId: r.directory_user_id, accountId: r.account_id, method: r.method, removedGroups: r.removed_groups ?? [] }));
}

export interface DeprovisionWrite extends DeprovisionRecord {
  tenantId: string;
  connectionId: string;
  targetId: string;
  runId: string;
}

/** Records (or adds to) what was taken away; removed groups accumulate until the access is restored. */
export async function saveDeprovisioned(db: Queryable, records: DeprovisionWrite[]): Promise<void> {
  if (records.length === 0) return;
  await db.query(
    `INSERT INTO deprovisioned_access (tenant_id, connection_id, target_id, directory_user_id, account_id, method, removed_groups, run_id)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::jsonb[], $8::uuid[])
     ON CONFLICT (connection_id, target_id, directory_user_id) DO UPDATE SET
       account_id = EXCLUDED.account_id,
       method = EXCLUDED.method,
       removed_groups = (SELECT COALESCE(jsonb_agg(DISTINCT g), '[]'::jsonb)
                           FROM jsonb_array_elements(deprovisioned_access.removed_groups || EXCLUDED.removed_groups) AS g),
       run_id = EXCLUDED.run_id`,
    [
      records.map((r) => r.tenantId),
      records.map((r) => r.connectionId),
      records.map((r) => r.targetId),
      records.map((r) => r.directoryUserId),
      records.map((r) => r.accountId),
      records.map((r) => r.method),
      records.map((r) => JSON.stringify(r.removedGroups)),
      records.map((r) => r.runId),
    ],
  );
}

/** Access restored: nothing left to give back. */
export async function forgetDeprovisioned(db: Queryable, connectionId: string, entries: Array<{ targetId: string; directoryUserId: string }>): Promise<void> {
  if (entries.length === 0) return;
  await db.query(
    `DELETE FROM deprovisioned_access d USING unnest($2::text[], $3::uuid[]) AS e(target_id, directory_user_id)
      WHERE d.connection_id = $1 AND d.target_id = e.target_id AND d.directory_user_id = e.directory_user_id`,
    [connectionId, entries.map((e) => e.targetId), entries.map((e) => e.directoryUserId)],
  );
}
