import { isDeepStrictEqual } from 'node:util';
import type pg from 'pg';
import type { Database, Queryable } from '../db/database';
import { recordChanges, type NewChange } from './changes';
import { isUuid, SqlParams, type SqlCondition } from './sql';
import type { DirectoryGroup, DirectoryUser } from './types';

/**
 * The one way to read and write a connection's directory (directory_users, directory_groups,
 * directory_memberships). Every query is scoped to a connection id; every write records its change
 * events (outbox) in the same transaction, so a change is visible to the sync engine if and only if
 * the write committed.
 *
 * Writes called on the repository itself run in a transaction of their own; `transaction()` gives a
 * repository bound to one transaction for callers that combine several steps (read-check-write).
 */

export type Origin = 'push' | 'pull';
type Resource = Record<string, unknown>;

export interface StoredUser extends DirectoryUser {
  /** The accepted SCIM resource, without id and meta. */
  resource: Resource;
}

export interface StoredGroup extends DirectoryGroup {
  resource: Resource;
}

/** What a write stores: the resource plus the indexed columns derived from it. */
export interface UserWrite {
  userName: string;
  externalId: string | null;
  displayName: string | null;
  givenName: string | null;
  familyName: string | null;
  primaryEmail: string | null;
  active: boolean;
  resource: Resource;
}

export interface GroupWrite {
  displayName: string;
  externalId: string | null;
  resource: Resource;
}

export interface GroupMember {
  userId: string;
  userName: string;
  displayName: string | null;
}

export interface UserGroupRef {
  groupId: string;
  displayName: string;
}

export interface ListQuery {
  /** Condition over alias `u` (users) or `g` (groups); the connection scope is added here. */
  where?: SqlCondition;
  /** Leading ORDER BY terms over the same alias; (created_at, id) always follow for a stable order. */
  orderBy?: SqlCondition;
  offset: number;
  limit: number;
  /**
   * Stop the page early once its rows pass this many bytes (the stored resource's JSON, plus
   * `relationBytes` per membership row it will be rendered with); the first row is always returned.
   */
  maxBytes?: number;
  /** Estimated bytes one membership row adds to a rendered resource (a user's group, a group's member). */
  relationBytes?: number;
}

export interface Page<T> {
  total: number;
  items: T[];
}

export class DirectoryError extends Error {
  constructor(
    message: string,
    readonly code: 'conflict' | 'not_found' | 'unknown_members',
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'DirectoryError';
  }
}

interface UserRow {
  id: string;
  connection_id: string;
  user_name: string;
  external_id: string | null;
  display_name: string | null;
  given_name: string | null;
  family_name: string | null;
  primary_email: string | null;
  active: boolean;
  resource: Resource;
  origin: Origin;
  version: number;
  created_at: Date;
  updated_at: Date;
}

interface GroupRow {
  id: string;
  connection_id: string;
  display_name: string;
  external_id: string | null;
  resource: Resource;
  origin: Origin;
  version: number;
  created_at: Date;
  updated_at: Date;
}

/** The groups of a user of the page `p` (evaluated on the page only, not on every matching row). */
const GROUPS_OF_PAGE_USER = `(SELECT COALESCE(jsonb_agg(jsonb_build_object('groupId', g.id, 'displayName', g.display_name) ORDER BY lower(g.display_name), g.id), '[]'::jsonb)
    FROM directory_memberships m JOIN directory_groups g ON g.id = m.group_id WHERE m.user_id = p.id) AS groups`;

const USER_COLUMNS =
  'u.id, u.connection_id, u.user_name, u.external_id, u.display_name, u.given_name, u.family_name, u.primary_email, u.active, u.resource, u.origin, u.version, u.created_at, u.updated_at';
const GROUP_COLUMNS = 'g.id, g.connection_id, g.display_name, g.external_id, g.resource, g.origin, g.version, g.created_at, g.updated_at';

/** Of the ids in $2 (an array of uuids), those that are not users of connection $1. */
export const UNKNOWN_MEMBERS_SQL = `SELECT ARRAY(SELECT w.id FROM unnest($2::uuid[]) AS w(id) WHERE NOT EXISTS (
    SELECT 1 FROM directory_users u WHERE u.connection_id = $1 AND u.id = w.id)) AS unknown`;

/**
 * A group's net membership change in one statement ($1 connection, $2 group, $3 ids to keep or add, $4 ids
 * to remove, $5 origin): with `replace`, the group ends with exactly $3; otherwise $3 are added and $4
 * removed. Records one outbox row per membership added or removed and bumps the group's version when
 * anything changed. Data-modifying CTEs see one snapshot: the rows deleted and inserted are disjoint sets.
 */
export function membershipChangeSql(replace: boolean): string {
  return `WITH removed AS (
       DELETE FROM directory_memberships m
        WHERE m.connection_id = $1 AND m.group_id = $2 AND ${
          // Joins against the id lists (hash or index), never `= ANY(array)` per row, which costs
          // rows × ids: 10,000 ids on a 10,000-member group would be 10^8 comparisons.
          replace
            ? 'NOT EXISTS (SELECT 1 FROM unnest($3::uuid[]) AS k(id) WHERE k.id = m.user_id)'
            : 'm.user_id IN (SELECT r.id FROM unnest($4::uuid[]) AS r(id))'
        }
       RETURNING m.user_id),
     added AS (
       INSERT INTO directory_memberships (group_id, user_id, connection_id)
       SELECT $2, k.id, $1 FROM unnest($3::uuid[]) AS k(id)
       ON CONFLICT DO NOTHING RETURNING user_id),
     changes AS (
       INSERT INTO directory_changes (connection_id, entity, entity_id, member_id, action, origin)
       SELECT $1, 'membership', $2, user_id, 'removed', $5 FROM removed
       UNION ALL
       SELECT $1, 'membership', $2, user_id, 'added', $5 FROM added
       RETURNING id),
     bumped AS (
       UPDATE directory_groups SET version = version + 1, updated_at = now()
        WHERE connection_id = $1 AND id = $2 AND EXISTS (SELECT 1 FROM changes) RETURNING id)
     SELECT (SELECT count(*) FROM added) AS added, (SELECT count(*) FROM removed) AS removed, (SELECT count(*) FROM bumped) AS bumped,
            cardinality($4::uuid[]) AS asked_to_remove`;
}

/** A new user and its `created` change, in one statement. */
export const CREATE_USER_SQL = `WITH created AS (
    INSERT INTO directory_users AS u (connection_id, user_name, external_id, display_name, given_name, family_name, primary_email, active, resource, origin)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ${USER_COLUMNS}),
  change AS (
    INSERT INTO directory_changes (connection_id, entity, entity_id, action, origin) SELECT $1, 'user', id, 'created', $10 FROM created)
  SELECT * FROM created`;

function toUser(row: UserRow): StoredUser {
  return {
    id: row.id,
    connectionId: row.connection_id,
    userName: row.user_name,
    externalId: row.external_id,
    displayName: row.display_name,
    givenName: row.given_name,
    familyName: row.family_name,
    primaryEmail: row.primary_email,
    active: row.active,
    origin: row.origin,
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    resource: row.resource,
  };
}

function toGroup(row: GroupRow): StoredGroup {
  return {
    id: row.id,
    connectionId: row.connection_id,
    displayName: row.display_name,
    externalId: row.external_id,
    origin: row.origin,
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    resource: row.resource,
  };
}

function isUniqueViolation(error: unknown): error is { constraint?: string } {
  return (error as { code?: string })?.code === '23505';
}

/** ids that are not uuids can name no row: drop them before they reach a ::uuid[] cast. */
function uuids(ids: Iterable<string>): string[] {
  return [...new Set([...ids].filter(isUuid).map((id) => id.toLowerCase()))];
}

export class DirectoryRepository {
  constructor(
    private readonly db: Database,
    /** Set when this repository is bound to one open transaction. */
    private readonly client?: pg.PoolClient,
  ) {}

  private get q(): Queryable {
    return this.client ?? this.db;
  }

  /** Runs `work` with a repository bound to one transaction (commit on resolve, rollback on throw). */
  async transaction<T>(work: (tx: DirectoryRepository) => Promise<T>): Promise<T> {
    if (this.client) return work(this);
    return this.db.transaction((client) => work(new DirectoryRepository(this.db, client)));
  }

  private write<T>(work: (q: Queryable) => Promise<T>): Promise<T> {
    return this.client ? work(this.client) : this.db.transaction((client) => work(client));
  }

  // ---- users -------------------------------------------------------------------------------------

  async getUser(connectionId: string, id: string, options: { forUpdate?: boolean } = {}): Promise<StoredUser | null> {
    if (!isUuid(id)) return null;
    const { rows } = await this.q.query<UserRow>(
      `SELECT ${USER_COLUMNS} FROM directory_users u WHERE u.connection_id = $1 AND u.id = $2${options.forUpdate ? ' FOR UPDATE' : ''}`,
      [connectionId, id],
    );
    return rows[0] ? toUser(rows[0]) : null;
  }

  /** A user with its groups, read in one query (one round trip, one turn at the embedded database's session). */
  async getUserWithGroups(connectionId: string, id: string): Promise<(StoredUser & { groups: UserGroupRef[] }) | null> {
    if (!isUuid(id)) return null;
    const { rows } = await this.q.query<UserRow & { groups: UserGroupRef[] }>(
      `SELECT p.*, ${GROUPS_OF_PAGE_USER} FROM (SELECT ${USER_COLUMNS} FROM directory_users u WHERE u.connection_id = $1 AND u.id = $2) p`,
      [connectionId, id],
    );
    return rows[0] ? { ...toUser(rows[0]), groups: rows[0].groups } : null;
  }

  async getUserByUserName(connectionId: string, userName: string): Promise<StoredUser | null> {
    const { rows } = await this.q.query<UserRow>(
      `SELECT ${USER_COLUMNS} FROM directory_users u WHERE u.connection_id = $1 AND lower(u.user_name) = lower($2)`,
      [connectionId, userName],
    );
    return rows[0] ? toUser(rows[0]) : null;
  }

  async getUserByExternalId(connectionId: string, externalId: string): Promise<StoredUser | null> {
    const { rows } = await this.q.query<UserRow>(
      `SELECT ${USER_COLUMNS} FROM directory_users u WHERE u.connection_id = $1 AND u.external_id = $2 ORDER BY u.created_at, u.id LIMIT 1`,
      [connectionId, externalId],
    );
    return rows[0] ? toUser(rows[0]) : null;
  }

  /** Filtered, ordered, paged users: the filter and paging run in SQL. */
  /** With `withGroups`, each user comes with its groups, read in the same query (one round trip per page). */
  async listUsers(connectionId: string, query: ListQuery & { withGroups: true }): Promise<Page<StoredUser & { groups: UserGroupRef[] }>>;
  async listUsers(connectionId: string, query: ListQuery & { withGroups?: boolean }): Promise<Page<StoredUser & { groups?: UserGroupRef[] }>>;
  async listUsers(connectionId: string, query: ListQuery & { withGroups?: boolean }): Promise<Page<StoredUser & { groups?: UserGroupRef[] }>> {
    if (!query.withGroups) return this.list('directory_users', 'u', USER_COLUMNS, connectionId, query, toUser);
    return this.list('directory_users', 'u', USER_COLUMNS, connectionId, query, (row: UserRow & { groups: UserGroupRef[] }) => ({ ...toUser(row), groups: row.groups }), GROUPS_OF_PAGE_USER);
  }

  /** Of the given ids, those that are users of this connection. */
  async existingUserIds(connectionId: string, ids: Iterable<string>): Promise<Set<string>> {
    const candidates = uuids(ids);
    if (candidates.length === 0) return new Set();
    const { rows } = await this.q.query<{ id: string }>(
      'SELECT id FROM directory_users WHERE connection_id = $1 AND id = ANY($2::uuid[])',
      [connectionId, candidates],
    );
    return new Set(rows.map((r) => r.id));
  }

  async createUser(connectionId: string, user: UserWrite, origin: Origin = 'push'): Promise<StoredUser> {
    // One statement writes the user and its outbox row: atomic on its own (no BEGIN/COMMIT round trips),
    // committed before it returns when not inside a transaction.
    let row: UserRow;
    try {
      row = (await this.q.query<UserRow>(CREATE_USER_SQL, [
        connectionId, user.userName, user.externalId, user.displayName, user.givenName, user.familyName, user.primaryEmail, user.active, JSON.stringify(user.resource), origin,
      ])).rows[0]!;
    } catch (error) {
      if (isUniqueViolation(error)) throw new DirectoryError('userName is already taken in this directory', 'conflict', { attribute: 'userName' });
      throw error;
    }
    return toUser(row);
  }

  /** Replaces a user's stored resource and columns; bumps its version. */
  async updateUser(connectionId: string, id: string, user: UserWrite, origin: Origin = 'push'): Promise<StoredUser> {
    return this.write(async (q) => {
      let rows: UserRow[];
      try {
        ({ rows } = await q.query<UserRow>(
          `UPDATE directory_users AS u SET user_name = $3, external_id = $4, display_name = $5, given_name = $6, family_name = $7,
             primary_email = $8, active = $9, resource = $10, origin = $11, version = u.version + 1, updated_at = now()
           WHERE u.connection_id = $1 AND u.id = $2 RETURNING ${USER_COLUMNS}`,
          [connectionId, id, user.userName, user.externalId, user.displayName, user.givenName, user.familyName, user.primaryEmail, user.active, JSON.stringify(user.resource), origin],
        ));
      } catch (error) {
        if (isUniqueViolation(error)) throw new DirectoryError('userName is already taken in this directory', 'conflict', { attribute: 'userName' });
        throw error;
      }
      if (!rows[0]) throw new DirectoryError(`user ${id} not found`, 'not_found');
      await recordChanges(q, [{ connectionId, entity: 'user', entityId: id, action: 'updated', origin }]);
      return toUser(rows[0]);
    });
  }

  /** Deletes a user; its memberships go with it, each recorded as removed. False when it did not exist. */
  async deleteUser(connectionId: string, id: string, origin: Origin = 'push'): Promise<boolean> {
    if (!isUuid(id)) return false;
    return this.write(async (q) => {
      const { rows: memberships } = await q.query<{ group_id: string }>(
        'DELETE FROM directory_memberships WHERE connection_id = $1 AND user_id = $2 RETURNING group_id',
        [connectionId, id],
      );
      const { rowCount } = await q.query('DELETE FROM directory_users WHERE connection_id = $1 AND id = $2', [connectionId, id]);
      if (!rowCount) return false;
      await recordChanges(q, [
        ...memberships.map((m): NewChange => ({ connectionId, entity: 'membership', entityId: m.group_id, memberId: id, action: 'removed', origin })),
        { connectionId, entity: 'user', entityId: id, action: 'deleted', origin },
      ]);
      return true;
    });
  }

  /**
   * Creates or updates the user with this externalId (else this userName): the entry point for pulls.
   * Records a change only when something differs.
   */
  async upsertUser(connectionId: string, user: UserWrite, origin: Origin = 'pull'): Promise<{ user: StoredUser; action: 'created' | 'updated' | 'unchanged' }> {
    return this.transaction(async (tx) => {
      const existing =
        (user.externalId !== null ? await tx.getUserByExternalId(connectionId, user.externalId) : null) ??
        (await tx.getUserByUserName(connectionId, user.userName));
      if (!existing) return { user: await tx.createUser(connectionId, user, origin), action: 'created' as const };
      const same =
        existing.userName === user.userName &&
        existing.externalId === user.externalId &&
        existing.displayName === user.displayName &&
        existing.givenName === user.givenName &&
        existing.familyName === user.familyName &&
        existing.primaryEmail === user.primaryEmail &&
        existing.active === user.active &&
        isDeepStrictEqual(existing.resource, user.resource);
      if (same) return { user: existing, action: 'unchanged' as const };
      return { user: await tx.updateUser(connectionId, existing.id, user, origin), action: 'updated' as const };
    });
  }

  // ---- groups ------------------------------------------------------------------------------------

  async getGroup(connectionId: string, id: string, options: { forUpdate?: boolean } = {}): Promise<StoredGroup | null> {
    if (!isUuid(id)) return null;
    const { rows } = await this.q.query<GroupRow>(
      `SELECT ${GROUP_COLUMNS} FROM directory_groups g WHERE g.connection_id = $1 AND g.id = $2${options.forUpdate ? ' FOR UPDATE' : ''}`,
      [connectionId, id],
    );
    return rows[0] ? toGroup(rows[0]) : null;
  }

  async getGroupByDisplayName(connectionId: string, displayName: string): Promise<StoredGroup | null> {
    const { rows } = await this.q.query<GroupRow>(
      `SELECT ${GROUP_COLUMNS} FROM directory_groups g WHERE g.connection_id = $1 AND lower(g.display_name) = lower($2)`,
      [connectionId, displayName],
    );
    return rows[0] ? toGroup(rows[0]) : null;
  }

  async getGroupByExternalId(connectionId: string, externalId: string): Promise<StoredGroup | null> {
    const { rows } = await this.q.query<GroupRow>(
      `SELECT ${GROUP_COLUMNS} FROM directory_groups g WHERE g.connection_id = $1 AND g.external_id = $2 ORDER BY g.created_at, g.id LIMIT 1`,
      [connectionId, externalId],
    );
    return rows[0] ? toGroup(rows[0]) : null;
  }

  async listGroups(connectionId: string, query: ListQuery): Promise<Page<StoredGroup>> {
    return this.list('directory_groups', 'g', GROUP_COLUMNS, connectionId, query, toGroup);
  }

  async createGroup(connectionId: string, group: GroupWrite, origin: Origin = 'push'): Promise<StoredGroup> {
    return this.write(async (q) => {
      let row: GroupRow;
      try {
        row = (await q.query<GroupRow>(
          `INSERT INTO directory_groups AS g (connection_id, display_name, external_id, resource, origin)
           VALUES ($1, $2, $3, $4, $5) RETURNING ${GROUP_COLUMNS}`,
          [connectionId, group.displayName, group.externalId, JSON.stringify(group.resource), origin],
        )).rows[0]!;
      } catch (error) {
        if (isUniqueViolation(error)) throw new DirectoryError('displayName is already taken in this directory', 'conflict', { attribute: 'displayName' });
        throw error;
      }
      await recordChanges(q, [{ connectionId, entity: 'group', entityId: row.id, action: 'created', origin }]);
      return toGroup(row);
    });
  }

  async updateGroup(connectionId: string, id: string, group: GroupWrite, origin: Origin = 'push'): Promise<StoredGroup> {
    return this.write(async (q) => {
      let rows: GroupRow[];
      try {
        ({ rows } = await q.query<GroupRow>(
          `UPDATE directory_groups AS g SET display_name = $3, external_id = $4, resource = $5, origin = $6, version = g.version + 1, updated_at = now()
           WHERE g.connection_id = $1 AND g.id = $2 RETURNING ${GROUP_COLUMNS}`,
          [connectionId, id, group.displayName, group.externalId, JSON.stringify(group.resource), origin],
        ));
      } catch (error) {
        if (isUniqueViolation(error)) throw new DirectoryError('displayName is already taken in this directory', 'conflict', { attribute: 'displayName' });
        throw error;
      }
      if (!rows[0]) throw new DirectoryError(`group ${id} not found`, 'not_found');
      await recordChanges(q, [{ connectionId, entity: 'group', entityId: id, action: 'updated', origin }]);
      return toGroup(rows[0]);
    });
  }

  /** Deletes a group and (by cascade) its memberships: one change event, not one per member. */
  async deleteGroup(connectionId: string, id: string, origin: Origin = 'push'): Promise<boolean> {
    if (!isUuid(id)) return false;
    return this.write(async (q) => {
      const { rowCount } = await q.query('DELETE FROM directory_groups WHERE connection_id = $1 AND id = $2', [connectionId, id]);
      if (!rowCount) return false;
      await recordChanges(q, [{ connectionId, entity: 'group', entityId: id, action: 'deleted', origin }]);
      return true;
    });
  }

  async upsertGroup(connectionId: string, group: GroupWrite, origin: Origin = 'pull'): Promise<{ group: StoredGroup; action: 'created' | 'updated' | 'unchanged' }> {
    return this.transaction(async (tx) => {
      const existing =
        (group.externalId !== null ? await tx.getGroupByExternalId(connectionId, group.externalId) : null) ??
        (await tx.getGroupByDisplayName(connectionId, group.displayName));
      if (!existing) return { group: await tx.createGroup(connectionId, group, origin), action: 'created' as const };
      const same =
        existing.displayName === group.displayName &&
        existing.externalId === group.externalId &&
        isDeepStrictEqual(existing.resource, group.resource);
      if (same) return { group: existing, action: 'unchanged' as const };
      return { group: await tx.updateGroup(connectionId, existing.id, group, origin), action: 'updated' as const };
    });
  }

  // ---- memberships: row operations, O(k) in the members named, never in the group's size ----------

  /**
   * Adds users to a group. Every id must be a user of this connection, else nothing is added and a
   * DirectoryError('unknown_members') names the strangers. Returns the ids that were not members yet.
   */
  async addMembers(connectionId: string, groupId: string, userIds: Iterable<string>, origin: Origin = 'push'): Promise<string[]> {
    const requested = [...new Set([...userIds].map((id) => id.toLowerCase()))];
    if (requested.length === 0) return [];
    return this.write(async (q) => {
      const ids = uuids(requested);
      // One statement checks that every id is a user of this connection, inserts the new rows (only if
      // all are known) and bumps the group's version when anything was added: O(k) in the ids given.
      const { rows } = await q.query<{ known: number; added: string[] }>(
        `WITH wanted AS (SELECT DISTINCT unnest($3::uuid[]) AS id),
              known AS (SELECT u.id FROM directory_users u JOIN wanted w ON w.id = u.id WHERE u.connection_id = $1),
              inserted AS (
                INSERT INTO directory_memberships (group_id, user_id, connection_id)
                SELECT $2, id, $1 FROM known WHERE (SELECT count(*) FROM known) = $4
                ON CONFLICT DO NOTHING RETURNING user_id),
              bumped AS (
                UPDATE directory_groups SET version = version + 1, updated_at = now()
                 WHERE connection_id = $1 AND id = $2 AND EXISTS (SELECT 1 FROM inserted) RETURNING id)
         SELECT (SELECT count(*) FROM known) AS known, ARRAY(SELECT user_id::text FROM inserted) AS added, (SELECT count(*) FROM bumped) AS bumped`,
        [connectionId, groupId, ids, requested.length],
      );
      const known = rows[0]?.known ?? 0;
      if (known !== requested.length) {
        const { rows: found } = ids.length
          ? await q.query<{ id: string }>('SELECT id FROM directory_users WHERE connection_id = $1 AND id = ANY($2::uuid[])', [connectionId, ids])
          : { rows: [] };
        const foundIds = new Set(found.map((r) => r.id));
        const unknown = requested.filter((id) => !foundIds.has(id.toLowerCase()));
        throw new DirectoryError(`not users of this directory: ${unknown.slice(0, 10).join(', ')}`, 'unknown_members', { unknown });
      }
      const added = rows[0]?.added ?? [];
      await this.recordMembershipChanges(q, connectionId, groupId, added, 'added', origin);
      return added;
    });
  }

  /** Removes users from a group; ids that are not members are ignored. Returns the ids removed. */
  async removeMembers(connectionId: string, groupId: string, userIds: Iterable<string>, origin: Origin = 'push'): Promise<string[]> {
    const ids = uuids(userIds);
    if (ids.length === 0) return [];
    return this.write(async (q) => {
      const { rows } = await q.query<{ user_id: string }>(
        'DELETE FROM directory_memberships WHERE connection_id = $1 AND group_id = $2 AND user_id = ANY($3::uuid[]) RETURNING user_id',
        [connectionId, groupId, ids],
      );
      const removed = rows.map((r) => r.user_id);
      await this.afterMembershipChange(q, connectionId, groupId, removed, 'removed', origin);
      return removed;
    });
  }

  /** Makes the group's members exactly `userIds` (costs the group's size, as a full replace must). */
  async replaceMembers(connectionId: string, groupId: string, userIds: Iterable<string>, origin: Origin = 'push'): Promise<{ added: string[]; removed: string[] }> {
    const wanted = [...new Set(userIds)];
    return this.write(async (q) => {
      const tx = new DirectoryRepository(this.db, q as pg.PoolClient);
      const ids = uuids(wanted);
      const { rows } = await q.query<{ user_id: string }>(
        `DELETE FROM directory_memberships WHERE connection_id = $1 AND group_id = $2 AND NOT (user_id = ANY($3::uuid[])) RETURNING user_id`,
        [connectionId, groupId, ids],
      );
      const removed = rows.map((r) => r.user_id);
      await this.afterMembershipChange(q, connectionId, groupId, removed, 'removed', origin);
      const added = await tx.addMembers(connectionId, groupId, wanted, origin);
      return { added, removed };
    });
  }

  private async afterMembershipChange(q: Queryable, connectionId: string, groupId: string, userIds: string[], action: 'added' | 'removed', origin: Origin): Promise<void> {
    if (userIds.length === 0) return;
    // The group's ETag covers its members: bump its version (one row, whatever the group's size).
    await q.query('UPDATE directory_groups SET version = version + 1, updated_at = now() WHERE connection_id = $1 AND id = $2', [connectionId, groupId]);
    await this.recordMembershipChanges(q, connectionId, groupId, userIds, action, origin);
  }

  /** One outbox row per member, written by one statement from an array (no per-row bind parameters). */
  private async recordMembershipChanges(q: Queryable, connectionId: string, groupId: string, userIds: string[], action: 'added' | 'removed', origin: Origin): Promise<void> {
    if (userIds.length === 0) return;
    await q.query(
      `INSERT INTO directory_changes (connection_id, entity, entity_id, member_id, action, origin)
       SELECT $1, 'membership', $2, member, $4, $5 FROM unnest($3::uuid[]) AS member`,
      [connectionId, groupId, userIds, action, origin],
    );
  }

  /**
   * Applies a group's net membership change in one statement, whatever the number of members: either
   * `replaceWith` (the members the group ends with) or `add` and `remove` (disjoint). Every id of
   * `mustExist` must be a user of this connection, else nothing changes and a DirectoryError
   * ('unknown_members') names the strangers. Records one outbox row per membership added or removed and
   * bumps the group's version when anything changed.
   */
  async applyMembership(
    connectionId: string,
    groupId: string,
    plan: { replaceWith?: Iterable<string>; add: Iterable<string>; remove: Iterable<string>; mustExist: Iterable<string> },
    origin: Origin = 'push',
  ): Promise<{ added: number; removed: number }> {
    const mustExist = [...new Set([...plan.mustExist].map((id) => id.toLowerCase()))];
    const replace = plan.replaceWith !== undefined;
    const keep = uuids(plan.replaceWith ?? plan.add);
    const remove = replace ? [] : uuids(plan.remove);
    // Arrays travel as one array literal: the ids are checked uuids (hex and hyphens), so nothing needs
    // quoting, and node-postgres need not escape ten thousand elements one by one.
    const literal = (ids: string[]) => `{${ids.join(',')}}`;
    return this.write(async (q) => {
      if (mustExist.length > 0) {
        const valid = uuids(mustExist);
        const { rows } = await q.query<{ unknown: string[] }>(
          UNKNOWN_MEMBERS_SQL,
          [connectionId, literal(valid)],
        );
        const validSet = new Set(valid);
        const unknown = [...mustExist.filter((id) => !validSet.has(id)), ...(rows[0]?.unknown ?? [])];
        if (unknown.length > 0) throw new DirectoryError(`not users of this directory: ${unknown.slice(0, 10).join(', ')}`, 'unknown_members', { unknown });
      }
      if (!replace && keep.length === 0 && remove.length === 0) return { added: 0, removed: 0 };
      // The embedded database checks each foreign key of each row written with a query of its own, about
      // two thirds of this statement's time (10,000 members added: about 420 of 630 ms, on the server's
      // thread). Every key written is known to hold: the group's row is locked by the caller, every user id
      // was found in this connection just above, in this transaction, and PGlite is one session, so no other
      // transaction can remove either before the commit. The checks are skipped for this one statement.
      // On Postgres other sessions can delete concurrently: the checks stay.
      const trusted = this.db.kind === 'pglite';
      if (trusted) await q.query("SET LOCAL session_replication_role = 'replica'");
      // Data-modifying CTEs see one snapshot: the rows deleted and the rows inserted are disjoint sets
      // (removed ids are never in `keep`), so the statement is well defined.
      const { rows } = await q.query<{ added: number; removed: number }>(
        membershipChangeSql(replace),
        [connectionId, groupId, literal(keep), literal(remove), origin],
      );
      if (trusted) await q.query("SET LOCAL session_replication_role = 'origin'");
      return { added: Number(rows[0]?.added ?? 0), removed: Number(rows[0]?.removed ?? 0) };
    });
  }

  /** A page of a group's members in a stable order (user id); pass the last id seen as `after`. */
  async groupMembers(connectionId: string, groupId: string, page: { after?: string; limit: number }): Promise<GroupMember[]> {
    const params: unknown[] = [connectionId, groupId, page.limit];
    const after = page.after !== undefined && isUuid(page.after) ? ` AND m.user_id > $${params.push(page.after)}` : '';
    const { rows } = await this.q.query<{ user_id: string; user_name: string; display_name: string | null }>(
      `SELECT m.user_id, u.user_name, u.display_name FROM directory_memberships m JOIN directory_users u ON u.id = m.user_id
       WHERE m.connection_id = $1 AND m.group_id = $2${after} ORDER BY m.user_id LIMIT $3`,
      params,
    );
    return rows.map((r) => ({ userId: r.user_id, userName: r.user_name, displayName: r.display_name }));
  }

  /** Every member of the given groups (for rendering a page of groups), by group id. */
  async membersOfGroups(connectionId: string, groupIds: string[]): Promise<Map<string, GroupMember[]>> {
    const result = new Map<string, GroupMember[]>(groupIds.map((id) => [id, []]));
    if (groupIds.length === 0) return result;
    const { rows } = await this.q.query<{ group_id: string; user_id: string; user_name: string; display_name: string | null }>(
      `SELECT m.group_id, m.user_id, u.user_name, u.display_name FROM directory_memberships m JOIN directory_users u ON u.id = m.user_id
       WHERE m.connection_id = $1 AND m.group_id = ANY($2::uuid[]) ORDER BY m.group_id, m.user_id`,
      [connectionId, uuids(groupIds)],
    );
    for (const r of rows) result.get(r.group_id)?.push({ userId: r.user_id, userName: r.user_name, displayName: r.display_name });
    return result;
  }

  async isMember(connectionId: string, groupId: string, userId: string): Promise<boolean> {
    if (!isUuid(groupId) || !isUuid(userId)) return false;
    const { rows } = await this.q.query(
      'SELECT 1 FROM directory_memberships WHERE connection_id = $1 AND group_id = $2 AND user_id = $3',
      [connectionId, groupId, userId],
    );
    return rows.length > 0;
  }

  async countMembers(connectionId: string, groupId: string): Promise<number> {
    const { rows } = await this.q.query<{ n: number }>(
      'SELECT count(*) AS n FROM directory_memberships WHERE connection_id = $1 AND group_id = $2',
      [connectionId, groupId],
    );
    return rows[0]?.n ?? 0;
  }

  /** The groups of each given user, by user id. */
  async groupsOfUsers(connectionId: string, userIds: string[]): Promise<Map<string, UserGroupRef[]>> {
    const result = new Map<string, UserGroupRef[]>(userIds.map((id) => [id, []]));
    if (userIds.length === 0) return result;
    const { rows } = await this.q.query<{ user_id: string; group_id: string; display_name: string }>(
      `SELECT m.user_id, m.group_id, g.display_name FROM directory_memberships m JOIN directory_groups g ON g.id = m.group_id
       WHERE m.connection_id = $1 AND m.user_id = ANY($2::uuid[]) ORDER BY lower(g.display_name), g.id`,
      [connectionId, uuids(userIds)],
    );
    for (const r of rows) result.get(r.user_id)?.push({ groupId: r.group_id, displayName: r.display_name });
    return result;
  }

  async groupsOfUser(connectionId: string, userId: string): Promise<UserGroupRef[]> {
    return (await this.groupsOfUsers(connectionId, [userId])).get(userId) ?? [];
  }

  // ---- shared --------------------------------------------------------------------------------------

  private async list<Row extends pg.QueryResultRow, T>(
    table: string,
    alias: string,
    columns: string,
    connectionId: string,
    query: ListQuery,
    map: (row: Row) => T,
    /** Columns computed per row of the page (alias `p`), after LIMIT. */
    pageColumns?: string,
  ): Promise<Page<T>> {
    const params = new SqlParams();
    const scope = `${alias}.connection_id = ${params.add(connectionId)}`;
    const where = query.where ? `${scope} AND (${query.where(params)})` : scope;
    if (query.limit <= 0) {
      const { rows } = await this.q.query<{ n: number }>(`SELECT count(*) AS n FROM ${table} ${alias} WHERE ${where}`, params.values);
      return { total: rows[0]?.n ?? 0, items: [] };
    }
    if (query.where?.atMostOne) {
      // A unique-key lookup (`userName eq "…"`, what every IdP sends before a create): one index probe.
      // No order, window or size to compute over at most one row, and the total is the page's length.
      const { rows } = await this.q.query<Row>(
        `SELECT p.*${pageColumns ? `, ${pageColumns}` : ''} FROM (SELECT ${columns} FROM ${table} ${alias} WHERE ${where} LIMIT ${params.add(query.limit)} OFFSET ${params.add(query.offset)}) p`,
        params.values,
      );
      if (rows.length > 0 || query.offset === 0) return { total: rows.length, items: rows.map(map) };
      return this.list(table, alias, columns, connectionId, { ...query, limit: 0 }, map, pageColumns);
    }
    const order = [query.orderBy?.(params), `${alias}.created_at`, `${alias}.id`].filter(Boolean).join(', ');
    const limit = params.add(query.limit);
    const offset = params.add(query.offset);
    if (query.maxBytes !== undefined) return this.listBounded(table, alias, columns, connectionId, query, map, pageColumns, { params, where, order, limit, offset });
    // count(*) OVER () is computed before LIMIT: one query answers both the page and totalResults.
    const page = `SELECT ${columns}, count(*) OVER () AS total_count FROM ${table} ${alias} WHERE ${where} ORDER BY ${order} LIMIT ${limit} OFFSET ${offset}`;
    const { rows } = await this.q.query<Row & { total_count: number }>(
      pageColumns
        ? // row_number() over the same order keeps the page's order through the outer query.
          `SELECT p.*, ${pageColumns} FROM (SELECT ${columns}, count(*) OVER () AS total_count, row_number() OVER (ORDER BY ${order}) AS ordinal
             FROM ${table} ${alias} WHERE ${where} ORDER BY ${order} LIMIT ${limit} OFFSET ${offset}) p ORDER BY p.ordinal`
        : page,
      params.values,
    );
    if (rows.length > 0) return { total: Number(rows[0]!.total_count), items: rows.map(map) };
    if (query.offset === 0) return { total: 0, items: [] };
    // A page past the end still reports how many there are.
    return this.list(table, alias, columns, connectionId, { ...query, limit: 0 }, map, pageColumns);
  }

  /**
   * The page of `list`, cut where its size passes query.maxBytes: the sizes are summed in SQL over the
   * page's rows in order, so the rows past the cut never leave the database. totalResults stays the count
   * of every match; the client pages on with startIndex + itemsPerPage (RFC 7644 §3.4.2.4).
   */
  private async listBounded<Row extends pg.QueryResultRow, T>(
    table: string,
    alias: string,
    columns: string,
    connectionId: string,
    query: ListQuery,
    map: (row: Row) => T,
    pageColumns: string | undefined,
    sql: { params: SqlParams; where: string; order: string; limit: string; offset: string },
  ): Promise<Page<T>> {
    const { params, where, order, limit, offset } = sql;
    const maxBytes = params.add(query.maxBytes);
    const relationBytes = params.add(query.relationBytes ?? 0);
    const own = alias === 'u' ? 'user_id' : 'group_id';
    const relations = query.relationBytes ? `(SELECT count(*) FROM directory_memberships r WHERE r.${own} = s.id)` : '0';
    // Only ids travel through the ordering and the cut; the resources are joined for the rows kept. The
    // sizes are the stored resource_bytes, never the resources serialised; totalResults is a count of its
    // own (an index scan), not count(*) OVER (), which would hold every match's row until the page is known.
    // `sized` is materialised so that each row's membership count is taken once.
    const { rows } = await this.q.query<Row & { total_count: number }>(
      `WITH page AS (
         SELECT ${alias}.id, row_number() OVER (ORDER BY ${order}) AS ordinal
           FROM ${table} ${alias} WHERE ${where} ORDER BY ${order} LIMIT ${limit} OFFSET ${offset}),
       sized AS MATERIALIZED (
         SELECT s.id, s.ordinal, x.resource_bytes + ${relations} * ${relationBytes}::int AS approx_bytes
           FROM page s JOIN ${table} x ON x.id = s.id),
       running AS (
         SELECT z.*, sum(z.approx_bytes) OVER (ORDER BY z.ordinal) AS running_bytes FROM sized z),
       kept AS (
         SELECT k.id, k.ordinal FROM running k WHERE k.running_bytes - k.approx_bytes < ${maxBytes}::bigint)
       SELECT ${columns}, (SELECT count(*) FROM ${table} ${alias} WHERE ${where}) AS total_count${pageColumns ? `, ${pageColumns}` : ''}
         FROM kept p JOIN ${table} ${alias} ON ${alias}.id = p.id
        ORDER BY p.ordinal`,
      params.values,
    );
    if (rows.length > 0) return { total: Number(rows[0]!.total_count), items: rows.map(map) };
    if (query.offset === 0) return { total: 0, items: [] };
    return this.list(table, alias, columns, connectionId, { ...query, limit: 0 }, map, pageColumns);
  }
}
