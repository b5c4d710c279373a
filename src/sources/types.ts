/**
 * A Source pulls users, groups and memberships from an IdP's API. One file per IdP implements it; the
 * puller (src/sources/pull.ts) writes what they yield into the connection's directory.
 *
 * Sources stream: each method pages through the API and yields as it goes, so memory does not grow
 * with the directory. A method that cannot finish throws SourceError; a pull that saw an error is
 * partial and must never be used to decide who is gone from the IdP.
 */

export type SourceKind = 'miniorange' | 'okta' | 'entra' | 'keycloak' | 'scim';

export interface SourceUser {
  /** The IdP's stable id for the user: it becomes the directory user's externalId. */
  externalId: string;
  userName: string;
  email: string | null;
  givenName: string | null;
  familyName: string | null;
  displayName: string | null;
  active: boolean;
}

export interface SourceGroup {
  externalId: string;
  displayName: string;
}

export interface SourceCheck {
  ok: boolean;
  message: string;
  details?: Record<string, unknown>;
}

/** A user the directory already holds (pushed by SCIM or pulled before), as a refresh-only source needs it. */
export interface KnownUser {
  /** Null for a pushed user whose IdP sent no externalId. */
  externalId: string | null;
  userName: string;
  active: boolean;
}

export interface Source {
  readonly kind: SourceKind;
  /**
   * 'directory' (the default): users() and groups() list everything the IdP holds, so a complete pull may
   * remove what it no longer lists. 'known-users': the IdP documents no way to list its users or groups
   * (miniOrange); a pull only refreshes users the directory already holds (refreshUsers), reads no groups
   * and never removes anyone.
   */
  readonly coverage?: 'directory' | 'known-users';
  /** For coverage 'known-users': the IdP's current view of each known user; users it does not know are skipped. */
  refreshUsers?(known: AsyncIterable<KnownUser>): AsyncIterable<SourceUser>;
  testConnection(): Promise<SourceCheck>;
  users(): AsyncIterable<SourceUser>;
  groups(): AsyncIterable<SourceGroup>;
  /** externalIds of the users in a group (nested groups flattened where the IdP has them). */
  groupMembers(groupExternalId: string): AsyncIterable<string>;
}

export class SourceError extends Error {
  constructor(
    message: string,
    readonly source: SourceKind,
    readonly status: number | null = null,
  ) {
    super(message);
    this.name = 'SourceError';
  }
}
