import type { Database, Queryable } from '../db/database';
import type { SourceGroup, SourceUser } from '../sources/types';
import { recordChanges, type NewChange } from './changes';

/**
 * The bulk landing of a pull: batches of users and groups from a source are upserted into a connection's
 * directory, each batch in one transaction with its outbox entries (origin 'pull'), and each group's
 * members are replaced with set-based SQL. Memory stays flat: the caller streams batches, members are
 * staged in pull_staged_members, and "seen in this pull" is a column (last_pull_id), not a set in memory.
 *
 * Matching: users by externalId, then by userName (case-insensitive); groups by externalId, then by
 * displayName. A matched pushed row is updated in place (and its origin becomes 'pull') only when the
 * pull changes something. Rows the pull cannot land without breaking a uniqueness rule (two IdP users
 * with one userName, a rename onto a taken name) are skipped and counted as conflicts, never guessed at.
 */

export interface EntityCounts {
  seen: number;
  created: number;
  updated: number;
  removed: number;
  conflicts: number;
}

export interface ImportCounts {
  users: EntityCounts;
  groups: EntityCounts;
  memberships: { added: number; removed: number; unresolved: number };
}

export function emptyCounts(): ImportCounts {
  const entity = (): EntityCounts => ({ seen: 0, created: 0, updated: 0, removed: 0, conflicts: 0 });
  return { users: entity(), groups: entity(), memberships: { added: 0, removed: 0, unresolved: 0 } };
}

/** recordChanges sends six parameters per change; Postgres takes at most 65535 per statement. */
const CHANGE_CHUNK = 5000;
const REMOVE_CHUNK = 1000;
const MAX_CONFLICT_NOTES = 20;
/** Staged member rows kept in memory before one INSERT writes them. */
const STAGE_BUFFER = 5000;
/** Groups whose memberships one transaction replaces. */
const GROUPS_PER_REPLACE = 100;
/** Staged member rows resolved and added (with their outbox rows) per statement. */
const MEMBERSHIP_SLICE = 5000;

async function recordInChunks(client: Queryable, changes: NewChange[]): Promise<void> {
  for (let i = 0; i < changes.length; i += CHANGE_CHUNK) await recordChanges(client, changes.slice(i, i + CHANGE_CHUNK));
}

const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';

/**
 * The SCIM resource a pulled user stands for. Nulls mark attributes the IdP no longer has: the update
 * merges this over the stored resource (keeping attributes a push added) and then strips the nulls.
 */
function userResource(user: SourceUser): Record<string, unknown> {
  return {
    schemas: [USER_SCHEMA],
    userName: user.userName,
    externalId: user.externalId,
    name: user.givenName === null && user.familyName === null ? null : { givenName: user.givenName, familyName: user.familyName },
    displayName: user.displayName,
    emails: user.email ? [{ value: user.email, type: 'work', primary: true }] : null,
    active: user.active,
  };
}

function groupResource(group: SourceGroup): Record<string, unknown> {
  return { schemas: [GROUP_SCHEMA], displayName: group.displayName, externalId: group.externalId };
}

interface ExistingUser {
  id: string;
  external_id: string | null;
  user_name: string;
  display_name: string | null;
  given_name: string | null;
  family_name: string | null;
  primary_email: string | null;
  active: boolean;
  last_pull_id: string | null;
}

interface ExistingGroup {
  id: string;
  external_id: string | null;
  display_name: string;
  last_pull_id: string | null;
}

function userChanged(existing: ExistingUser, user: SourceUser): boolean {
  return (
    existing.user_name !== user.userName ||
    existing.external_id !== user.externalId ||
    existing.display_name !== user.displayName ||
    existing.given_name !== user.givenName ||
    existing.family_name !== user.familyName ||
    existing.primary_email !== user.email ||
    existing.active !== user.active
  );
}

/**
 * Decides, for one batch, which input matches which stored row. Pure: the queries feed it and the
 * writes follow its answer.
 */
export function planBatch<I, E extends { id: string; external_id: string | null; last_pull_id: string | null }>(
  inputs: I[],
  existing: E[],
  keyOf: (item: I) => { externalId: string; name: string },
  nameOf: (row: E) => string,
  pullId: string,
): { matches: Array<{ input: I; row: E | null }>; conflicts: Array<{ input: I; reason: string; keepRow: E | null }> } {
  const byExternalId = new Map<string, E>();
  const byName = new Map<string, E>();
  for (const row of existing) {
    if (row.external_id !== null && !byExternalId.has(row.external_id)) byExternalId.set(row.external_id, row);
    byName.set(nameOf(row).toLowerCase(), row);
  }
  const claimedRows = new Set<string>();
  const claimedNames = new Set<string>();
  const claimedExternalIds = new Set<string>();
  const matches: Array<{ input: I; row: E | null }> = [];
  const conflicts: Array<{ input: I; reason: string; keepRow: E | null }> = [];

  for (const input of inputs) {
    const { externalId, name } = keyOf(input);
    const nameKey = name.toLowerCase();
    if (claimedExternalIds.has(externalId)) {
      conflicts.push({ input, reason: `the IdP listed id "${externalId}" twice`, keepRow: null });
      continue;
    }
    claimedExternalIds.add(externalId);
    const byId = byExternalId.get(externalId);
    const row = byId ?? byName.get(nameKey) ?? null;
    if (row && row.last_pull_id === pullId && (claimedRows.has(row.id) || row.external_id !== externalId)) {
      // An earlier batch of this pull already landed another IdP identity on this row.
      conflicts.push({ input, reason: `"${name}" is already taken by another ${byId ? 'entry with this id' : 'IdP entry'} in this pull`, keepRow: null });
      continue;
    }
    if (row && claimedRows.has(row.id)) {
      conflicts.push({ input, reason: `"${name}" matches a directory entry another IdP entry in this batch already took`, keepRow: null });
      continue;
    }
    const holder = byName.get(nameKey);
    if (claimedNames.has(nameKey) || (holder && row && holder.id !== row.id)) {
      conflicts.push({ input, reason: `"${name}" is already used by another directory entry`, keepRow: row });
      if (row) claimedRows.add(row.id);
      continue;
    }
    if (row) claimedRows.add(row.id);
    claimedNames.add(nameKey);
    matches.push({ input, row });
  }
  return { matches, conflicts };
}

export class DirectoryImport {
  readonly counts: ImportCounts = emptyCounts();
  /** The first few conflicts, for the run's record (never more, so a bad IdP cannot fill memory). */
  readonly conflictNotes: string[] = [];

  constructor(
    private readonly db: Database,
    readonly connectionId: string,
    readonly pullId: string,
  ) {}

  private noteConflict(kind: string, reason: string): void {
    if (this.conflictNotes.length < MAX_CONFLICT_NOTES) this.conflictNotes.push(`${kind}: ${reason}`);
  }

  /** Lands one batch of users in one transaction. */
  async upsertUsers(users: SourceUser[]): Promise<void> {
    if (users.length === 0) return;
    this.counts.users.seen += users.length;
    await this.db.transaction(async (client) => {
      const { rows: existing } = await client.query<ExistingUser>(
        `SELECT id, external_id, user_name, display_name, given_name, family_name, primary_email, active, last_pull_id
           FROM directory_users
          WHERE connection_id = $1 AND (external_id = ANY($2::text[]) OR lower(user_name) = ANY($3::text[]))`,
        [this.connectionId, users.map((u) => u.externalId), users.map((u) => u.userName.toLowerCase())],
      );
      const plan = planBatch(users, existing, (u) => ({ externalId: u.externalId, name: u.userName }), (r) => r.user_name, this.pullId);

      const seenIds: string[] = [];
      const inserts: SourceUser[] = [];
      const updates: Array<{ id: string; user: SourceUser }> = [];
      for (const { input, row } of plan.matches) {
        if (!row) inserts.push(input);
        else if (userChanged(row, input)) updates.push({ id: row.id, user: input });
        else seenIds.push(row.id);
      }
      for (const conflict of plan.conflicts) {
        this.counts.users.conflicts++;
        this.noteConflict('user', conflict.reason);
        // The IdP still has this user; only its rename could not land. Keep it from looking gone.
        if (conflict.keepRow) seenIds.push(conflict.keepRow.id);
      }

      const changes: NewChange[] = [];
      if (inserts.length > 0) {
        const { rows } = await client.query<{ id: string }>(
          `INSERT INTO directory_users
             (connection_id, user_name, external_id, display_name, given_name, family_name, primary_email, active, resource, origin, last_pull_id)
           SELECT $1, t.user_name, t.external_id, t.display_name, t.given_name, t.family_name, t.primary_email, t.active,
                  jsonb_strip_nulls(t.resource), 'pull', $2
             FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::boolean[], $10::jsonb[])
                  AS t(user_name, external_id, display_name, given_name, family_name, primary_email, active, resource)
           RETURNING id`,
          [this.connectionId, this.pullId, ...userColumns(inserts)],
        );
        this.counts.users.created += rows.length;
        for (const row of rows) changes.push({ connectionId: this.connectionId, entity: 'user', entityId: row.id, action: 'created', origin: 'pull' });
      }
      if (updates.length > 0) {
        const { rows } = await client.query<{ id: string }>(
          `UPDATE directory_users d
              SET user_name = t.user_name, external_id = t.external_id, display_name = t.display_name,
                  given_name = t.given_name, family_name = t.family_name, primary_email = t.primary_email,
                  active = t.active, resource = jsonb_strip_nulls(d.resource || t.resource), origin = 'pull',
                  last_pull_id = $2, version = d.version + 1, updated_at = now()
             FROM unnest($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::boolean[], $11::jsonb[])
                  AS t(id, user_name, external_id, display_name, given_name, family_name, primary_email, active, resource)
            WHERE d.id = t.id AND d.connection_id = $1
           RETURNING d.id`,
          [this.connectionId, this.pullId, updates.map((u) => u.id), ...userColumns(updates.map((u) => u.user))],
        );
        this.counts.users.updated += rows.length;
        for (const row of rows) changes.push({ connectionId: this.connectionId, entity: 'user', entityId: row.id, action: 'updated', origin: 'pull' });
      }
      await markSeen(client, 'directory_users', this.connectionId, this.pullId, seenIds);
      await recordInChunks(client, changes);
    });
  }

  /** Lands one batch of groups; returns the directory id of each group whose members should be read. */
  async upsertGroups(groups: SourceGroup[]): Promise<Array<{ group: SourceGroup; groupId: string }>> {
    if (groups.length === 0) return [];
    this.counts.groups.seen += groups.length;
    return this.db.transaction(async (client) => {
      const { rows: existing } = await client.query<ExistingGroup>(
        `SELECT id, external_id, display_name, last_pull_id
           FROM directory_groups
          WHERE connection_id = $1 AND (external_id = ANY($2::text[]) OR lower(display_name) = ANY($3::text[]))`,
        [this.connectionId, groups.map((g) => g.externalId), groups.map((g) => g.displayName.toLowerCase())],
      );
      const plan = planBatch(groups, existing, (g) => ({ externalId: g.externalId, name: g.displayName }), (r) => r.display_name, this.pullId);

      const landed: Array<{ group: SourceGroup; groupId: string }> = [];
      const seenIds: string[] = [];
      const inserts: SourceGroup[] = [];
      const updates: Array<{ id: string; group: SourceGroup }> = [];
      for (const { input, row } of plan.matches) {
        if (!row) inserts.push(input);
        else {
          landed.push({ group: input, groupId: row.id });
          if (row.display_name !== input.displayName || row.external_id !== input.externalId) updates.push({ id: row.id, group: input });
          else seenIds.push(row.id);
        }
      }
      for (const conflict of plan.conflicts) {
        this.counts.groups.conflicts++;
        this.noteConflict('group', conflict.reason);
        if (conflict.keepRow) seenIds.push(conflict.keepRow.id);
      }

      const changes: NewChange[] = [];
      if (inserts.length > 0) {
        const { rows } = await client.query<{ id: string; external_id: string }>(
          `INSERT INTO directory_groups (connection_id, display_name, external_id, resource, origin, last_pull_id)
           SELECT $1, t.display_name, t.external_id, t.resource, 'pull', $2
             FROM unnest($3::text[], $4::text[], $5::jsonb[]) AS t(display_name, external_id, resource)
           RETURNING id, external_id`,
          [this.connectionId, this.pullId, inserts.map((g) => g.displayName), inserts.map((g) => g.externalId), inserts.map((g) => JSON.stringify(groupResource(g)))],
        );
        const byExternalId = new Map(inserts.map((g) => [g.externalId, g]));
        for (const row of rows) {
          landed.push({ group: byExternalId.get(row.external_id)!, groupId: row.id });
          changes.push({ connectionId: this.connectionId, entity: 'group', entityId: row.id, action: 'created', origin: 'pull' });
        }
        this.counts.groups.created += rows.length;
      }
      if (updates.length > 0) {
        const { rows } = await client.query<{ id: string }>(
          `UPDATE directory_groups d
              SET display_name = t.display_name, external_id = t.external_id, resource = d.resource || t.resource,
                  origin = 'pull', last_pull_id = $2, version = d.version + 1, updated_at = now()
             FROM unnest($3::uuid[], $4::text[], $5::text[], $6::jsonb[]) AS t(id, display_name, external_id, resource)
            WHERE d.id = t.id AND d.connection_id = $1
           RETURNING d.id`,
          [
            this.connectionId,
            this.pullId,
            updates.map((u) => u.id),
            updates.map((u) => u.group.displayName),
            updates.map((u) => u.group.externalId),
            updates.map((u) => JSON.stringify(groupResource(u.group))),
          ],
        );
        this.counts.groups.updated += rows.length;
        for (const row of rows) changes.push({ connectionId: this.connectionId, entity: 'group', entityId: row.id, action: 'updated', origin: 'pull' });
      }
      await markSeen(client, 'directory_groups', this.connectionId, this.pullId, seenIds);
      await recordInChunks(client, changes);
      return landed;
    });
  }

  /** Members waiting to be written to the staging table, across groups (flushed at STAGE_BUFFER rows). */
  private stagedGroupIds: string[] = [];
  private stagedExternalIds: string[] = [];
  /** Groups whose members are all staged and whose memberships can now be replaced. */
  private completedGroups: string[] = [];

  /** Adds members (IdP user ids) of a group as the source streams them. */
  async addMembers(groupId: string, userExternalIds: string[]): Promise<void> {
    for (const id of userExternalIds) {
      this.stagedGroupIds.push(groupId);
      this.stagedExternalIds.push(id);
    }
    if (this.stagedExternalIds.length >= STAGE_BUFFER) await this.writeStaged();
  }

  /** Every member of the group has been added: its memberships are replaced at the next flush. */
  async completeGroup(groupId: string): Promise<void> {
    this.completedGroups.push(groupId);
    if (this.completedGroups.length >= GROUPS_PER_REPLACE) await this.flushMemberships();
  }

  /** Writes what is staged and replaces the memberships of every completed group. */
  async flushMemberships(): Promise<void> {
    await this.writeStaged();
    const groupIds = this.completedGroups;
    this.completedGroups = [];
    if (groupIds.length > 0) await this.replaceMembers(groupIds);
  }

  private async writeStaged(): Promise<void> {
    if (this.stagedExternalIds.length === 0) return;
    const groupIds = this.stagedGroupIds;
    const externalIds = this.stagedExternalIds;
    this.stagedGroupIds = [];
    this.stagedExternalIds = [];
    await this.db.query(
      `INSERT INTO pull_staged_members (pull_id, connection_id, group_id, user_external_id)
       SELECT $1, $2, t.group_id, t.user_external_id FROM unnest($3::uuid[], $4::text[]) AS t(group_id, user_external_id)`,
      [this.pullId, this.connectionId, groupIds, externalIds],
    );
  }

  /**
   * Makes each group's memberships exactly its staged members that are directory users of this
   * connection — set-based over many groups at once, in one transaction with the outbox entries — then
   * drops the staged rows.
   */
  private async replaceMembers(groupIds: string[]): Promise<void> {
    await this.db.transaction(async (client) => {
      const changedGroups = new Set<string>();
      const membership = (row: { group_id: string; user_id: string }, action: 'added' | 'removed'): NewChange => ({
        connectionId: this.connectionId,
        entity: 'membership',
        entityId: row.group_id,
        memberId: row.user_id,
        action,
        origin: 'pull',
      });
      // Keyset slices over the staged rows, so a 100k-member group never holds 100k outbox rows in memory.
      for (let after = 0; ; ) {
        const slice = await client.query<{ last: number | null }>(
          `SELECT max(seq) AS last FROM (
             SELECT seq FROM pull_staged_members WHERE pull_id = $1 AND group_id = ANY($2::uuid[]) AND seq > $3 ORDER BY seq LIMIT ${MEMBERSHIP_SLICE}) x`,
          [this.pullId, groupIds, after],
        );
        const last = slice.rows[0]?.last ?? null;
        if (last === null) break;
        const added = await client.query<{ group_id: string; user_id: string }>(
          `INSERT INTO directory_memberships (group_id, user_id, connection_id)
           SELECT DISTINCT s.group_id, u.id, $2::uuid
             FROM pull_staged_members s
             JOIN directory_users u ON u.connection_id = $2 AND u.external_id = s.user_external_id
            WHERE s.pull_id = $1 AND s.group_id = ANY($3::uuid[]) AND s.seq > $4 AND s.seq <= $5
           ON CONFLICT DO NOTHING
           RETURNING group_id, user_id`,
          [this.pullId, this.connectionId, groupIds, after, last],
        );
        after = Number(last);
        this.counts.memberships.added += added.rows.length;
        for (const row of added.rows) changedGroups.add(row.group_id);
        await recordInChunks(client, added.rows.map((r) => membership(r, 'added')));
      }
      {
        const removed = await client.query<{ group_id: string; user_id: string }>(
          // EXCEPT, not NOT EXISTS: a set difference the planner hashes, whatever it guesses about the
          // freshly filled staging table (a correlated NOT EXISTS went quadratic on a 50k-member group).
          `DELETE FROM directory_memberships m
            USING (
              SELECT group_id, user_id FROM directory_memberships
               WHERE group_id = ANY($3::uuid[]) AND connection_id = $2
              EXCEPT
              SELECT s.group_id, u.id FROM pull_staged_members s
                JOIN directory_users u ON u.connection_id = $2 AND u.external_id = s.user_external_id
               WHERE s.pull_id = $1 AND s.group_id = ANY($3::uuid[])) gone
            WHERE m.group_id = gone.group_id AND m.user_id = gone.user_id
           RETURNING m.group_id, m.user_id`,
          [this.pullId, this.connectionId, groupIds],
        );
        this.counts.memberships.removed += removed.rows.length;
        for (const row of removed.rows) changedGroups.add(row.group_id);
        await recordInChunks(client, removed.rows.map((r) => membership(r, 'removed')));
      }
      const unresolved = await client.query<{ count: number }>(
        `SELECT count(*)::int AS count FROM (
           SELECT DISTINCT s.group_id, s.user_external_id
             FROM pull_staged_members s
            WHERE s.pull_id = $1 AND s.group_id = ANY($3::uuid[])
              AND NOT EXISTS (SELECT 1 FROM directory_users u WHERE u.connection_id = $2 AND u.external_id = s.user_external_id)) x`,
        [this.pullId, this.connectionId, groupIds],
      );
      this.counts.memberships.unresolved += unresolved.rows[0]?.count ?? 0;
      if (changedGroups.size > 0) {
        // A group's members are part of the group resource (SCIM ETag): its version moves with them.
        await client.query('UPDATE directory_groups SET version = version + 1, updated_at = now() WHERE connection_id = $1 AND id = ANY($2::uuid[])', [
          this.connectionId,
          [...changedGroups],
        ]);
      }
      await client.query('DELETE FROM pull_staged_members WHERE pull_id = $1 AND group_id = ANY($2::uuid[])', [this.pullId, groupIds]);
    });
  }

  /**
   * After a COMPLETE pull only: removes the users and groups of origin 'pull' that this pull did not see,
   * with 'deleted' outbox entries, in one transaction. Pushed rows are the SCIM client's to delete.
   */
  async removeUnseen(): Promise<void> {
    await this.db.transaction(async (client) => {
      for (const [table, entity, counts] of [
        ['directory_groups', 'group', this.counts.groups],
        ['directory_users', 'user', this.counts.users],
      ] as const) {
        for (;;) {
          const { rows } = await client.query<{ id: string }>(
            `DELETE FROM ${table} WHERE id IN (
               SELECT id FROM ${table}
                WHERE connection_id = $1 AND origin = 'pull' AND last_pull_id IS DISTINCT FROM $2
                LIMIT ${REMOVE_CHUNK})
             RETURNING id`,
            [this.connectionId, this.pullId],
          );
          if (rows.length === 0) break;
          counts.removed += rows.length;
          await recordInChunks(
            client,
            rows.map((row) => ({ connectionId: this.connectionId, entity, entityId: row.id, action: 'deleted' as const, origin: 'pull' as const })),
          );
        }
      }
    });
  }

  /** Drops whatever this pull staged and did not finish (a failed or aborted pull). */
  async discardStaged(): Promise<void> {
    this.stagedGroupIds = [];
    this.stagedExternalIds = [];
    this.completedGroups = [];
    await this.db.query('DELETE FROM pull_staged_members WHERE pull_id = $1', [this.pullId]);
  }
}

function userColumns(users: SourceUser[]): unknown[] {
  return [
    users.map((u) => u.userName),
    users.map((u) => u.externalId),
    users.map((u) => u.displayName),
    users.map((u) => u.givenName),
    users.map((u) => u.familyName),
    users.map((u) => u.email),
    users.map((u) => u.active),
    users.map((u) => JSON.stringify(userResource(u))),
  ];
}

async function markSeen(client: Queryable, table: 'directory_users' | 'directory_groups', connectionId: string, pullId: string, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await client.query(
    `UPDATE ${table} SET last_pull_id = $2 WHERE connection_id = $1 AND id = ANY($3::uuid[]) AND last_pull_id IS DISTINCT FROM $2`,
    [connectionId, pullId, ids],
  );
}
