import type { Queryable } from '../db/database';
import type { DirectoryChange } from '../directory/types';
import type { DirectorySnapshot, SnapshotGroup, SnapshotUser } from './rules';

/**
 * The engine's read model of a connection's directory, read straight from the directory_* tables with
 * keyset paging (constant memory per page, no OFFSET scans). Every query is scoped to the connection.
 */

const PAGE = 5000;

interface UserRow {
  id: string;
  user_name: string;
  primary_email: string | null;
  display_name: string | null;
  given_name: string | null;
  family_name: string | null;
  active: boolean;
}

interface GroupRow {
  id: string;
  display_name: string;
}

interface MemberRow {
  group_id: string;
  user_id: string;
}

const USER_COLUMNS = 'id, user_name, primary_email, display_name, given_name, family_name, active';

function toUser(row: UserRow): SnapshotUser {
  return {
    id: row.id,
    userName: row.user_name,
    email: row.primary_email,
    displayName: row.display_name,
    givenName: row.given_name,
    familyName: row.family_name,
    active: row.active,
  };
}

/**
 * Pages through `table` in (created_at, id) order. The cursor's timestamp travels as text: a JS Date keeps
 * milliseconds only, and rows written in one statement share a microsecond timestamp, so a Date cursor would
 * return the same page for ever.
 */
async function readPaged<R extends { id: string; cursor_at: string }>(
  db: Queryable,
  table: 'directory_users' | 'directory_groups',
  columns: string,
  connectionId: string,
  pageSize: number,
): Promise<R[]> {
  const all: R[] = [];
  let cursor: { at: string; id: string } | null = null;
  for (;;) {
    const page: R[] = cursor
      ? (
          await db.query<R>(
            `SELECT ${columns}, created_at::text AS cursor_at FROM ${table}
              WHERE connection_id = $1 AND (created_at, id) > ($2::timestamptz, $3::uuid)
              ORDER BY created_at, id LIMIT ${pageSize}`,
            [connectionId, cursor.at, cursor.id],
          )
        ).rows
      : (
          await db.query<R>(
            `SELECT ${columns}, created_at::text AS cursor_at FROM ${table} WHERE connection_id = $1 ORDER BY created_at, id LIMIT ${pageSize}`,
            [connectionId],
          )
        ).rows;
    all.push(...page);
    if (page.length < pageSize) return all;
    const last: R = page[page.length - 1]!;
    cursor = { at: last.cursor_at, id: last.id };
  }
}

/** The whole directory of a connection. */
export async function readDirectory(db: Queryable, connectionId: string, pageSize = PAGE): Promise<DirectorySnapshot> {
  const users = (await readPaged<UserRow & { cursor_at: string }>(db, 'directory_users', USER_COLUMNS, connectionId, pageSize)).map(toUser);
  const groups = (await readPaged<GroupRow & { cursor_at: string }>(db, 'directory_groups', 'id, display_name', connectionId, pageSize)).map((r) => ({
    id: r.id,
    displayName: r.display_name,
  }));

  const memberships: DirectorySnapshot['memberships'] = [];
  let memberCursor: { groupId: string; userId: string } | null = null;
  for (;;) {
    const rows: MemberRow[] = memberCursor
      ? (
          await db.query<MemberRow>(
            `SELECT group_id, user_id FROM directory_memberships
              WHERE connection_id = $1 AND (group_id, user_id) > ($2::uuid, $3::uuid)
              ORDER BY group_id, user_id LIMIT ${pageSize}`,
            [connectionId, memberCursor.groupId, memberCursor.userId],
          )
        ).rows
      : (
          await db.query<MemberRow>(
            `SELECT group_id, user_id FROM directory_memberships WHERE connection_id = $1 ORDER BY group_id, user_id LIMIT ${pageSize}`,
            [connectionId],
          )
        ).rows;
    memberships.push(...rows.map((r) => ({ groupId: r.group_id, userId: r.user_id })));
    if (rows.length < pageSize) break;
    const last: MemberRow = rows[rows.length - 1]!;
    memberCursor = { groupId: last.group_id, userId: last.user_id };
  }
  return { users, groups, memberships };
}

/** The given users (those that still exist), all their memberships and the groups those name, plus `groupIds`. */
export async function readDirectorySubset(
  db: Queryable,
  connectionId: string,
  userIds: string[],
  groupIds: string[] = [],
): Promise<DirectorySnapshot> {
  const users: SnapshotUser[] = [];
  const memberships: DirectorySnapshot['memberships'] = [];
  for (let i = 0; i < userIds.length; i += PAGE) {
    const chunk = userIds.slice(i, i + PAGE);
    const { rows } = await db.query<UserRow>(
      `SELECT ${USER_COLUMNS} FROM directory_users WHERE connection_id = $1 AND id = ANY($2::uuid[])`,
      [connectionId, chunk],
    );
    users.push(...rows.map(toUser));
    const members = await db.query<{ group_id: string; user_id: string }>(
      'SELECT group_id, user_id FROM directory_memberships WHERE connection_id = $1 AND user_id = ANY($2::uuid[])',
      [connectionId, chunk],
    );
    memberships.push(...members.rows.map((r) => ({ groupId: r.group_id, userId: r.user_id })));
  }
  const wantedGroups = [...new Set([...memberships.map((m) => m.groupId), ...groupIds])];
  const groups: SnapshotGroup[] = [];
  for (let i = 0; i < wantedGroups.length; i += PAGE) {
    const { rows } = await db.query<{ id: string; display_name: string }>(
      'SELECT id, display_name FROM directory_groups WHERE connection_id = $1 AND id = ANY($2::uuid[])',
      [connectionId, wantedGroups.slice(i, i + PAGE)],
    );
    groups.push(...rows.map((r) => ({ id: r.id, displayName: r.display_name })));
  }
  return { users, groups, memberships };
}

/** Members of the given groups (a renamed group changes what every member maps to). */
export async function membersOfGroups(db: Queryable, connectionId: string, groupIds: string[]): Promise<string[]> {
  if (groupIds.length === 0) return [];
  const { rows } = await db.query<{ user_id: string }>(
    'SELECT DISTINCT user_id FROM directory_memberships WHERE connection_id = $1 AND group_id = ANY($2::uuid[])',
    [connectionId, groupIds],
  );
  return rows.map((r) => r.user_id);
}

export interface TouchedScope {
  userIds: string[];
  /**
   * Groups created or renamed (their mapping may need a target group, and a rename re-maps every member), and
   * groups a member left (their target group stays managed, so the membership is removed there too).
   */
  groupIds: string[];
  renamedGroupIds: string[];
  /**
   * Set when an incremental run cannot know what to touch from the changes alone: a deleted group's members are
   * gone from the directory with it, so only a full run sees whom it affected.
   */
  needsFullRun: string | null;
}

/** What an incremental run must look at, from the outbox. */
export function touchedByChanges(changes: DirectoryChange[]): TouchedScope {
  const users = new Set<string>();
  const groups = new Set<string>();
  const renamed = new Set<string>();
  let needsFullRun: string | null = null;
  for (const change of changes) {
    if (change.entity === 'user') users.add(change.entityId);
    else if (change.entity === 'membership') {
      if (change.memberId) users.add(change.memberId);
      else needsFullRun ??= `membership change ${change.id} names no member`;
      // The member's remaining memberships no longer name the group it left; without it in the snapshot an
      // on-the-fly mapping would not see its target group as managed, and the removal would wait for a full run.
      if (change.action === 'removed') groups.add(change.entityId);
    } else if (change.entity === 'group') {
      if (change.action === 'deleted') needsFullRun ??= `group ${change.entityId} was deleted`;
      else {
        groups.add(change.entityId);
        if (change.action === 'updated') renamed.add(change.entityId);
      }
    }
  }
  return { userIds: [...users].sort(), groupIds: [...groups].sort(), renamedGroupIds: [...renamed].sort(), needsFullRun };
}
