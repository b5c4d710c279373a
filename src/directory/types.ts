/**
 * The directory is this app's mirror of what an IdP says, one per connection (rows in directory_*).
 * SCIM pushes and source pulls write it; the sync engine reads it. These are the shapes the rest of
 * the app sees; SCIM-specific rendering lives in src/scim.
 */

export interface DirectoryUser {
  id: string;
  connectionId: string;
  userName: string;
  externalId: string | null;
  displayName: string | null;
  givenName: string | null;
  familyName: string | null;
  /** The primary (else first work, else first) email, as the rules and targets use it. */
  primaryEmail: string | null;
  active: boolean;
  origin: 'push' | 'pull';
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface DirectoryGroup {
  id: string;
  connectionId: string;
  displayName: string;
  externalId: string | null;
  origin: 'push' | 'pull';
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface DirectoryMembership {
  groupId: string;
  userId: string;
}

export type ChangeEntity = 'user' | 'group' | 'membership';
export type ChangeAction = 'created' | 'updated' | 'deleted' | 'added' | 'removed';

/** One row of the outbox (directory_changes). */
export interface DirectoryChange {
  id: number;
  connectionId: string;
  entity: ChangeEntity;
  entityId: string;
  memberId: string | null;
  action: ChangeAction;
  origin: 'push' | 'pull';
  createdAt: Date;
}
