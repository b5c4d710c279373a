/**
 * A Target is one Atlassian product instance that the sync engine writes to. Every adapter speaks its
 * product's REST API behind this interface; nothing outside src/targets knows a URL or a payload.
 *
 * Conventions every adapter keeps:
 * - Reads are paged with the product's own limits and streamed (AsyncIterable); nothing loads a whole
 *   site unless the caller collects it.
 * - Writes are idempotent where the product allows: adding a member that is already there, removing
 *   one that is not, deleting what is gone, all succeed. So a re-run after a crash does no harm.
 * - Throttling (429, 503 + Retry-After, X-RateLimit-*) and retries live in the shared HTTP client
 *   (src/targets/http.ts), not in the adapters.
 * - Errors are TargetError with the HTTP status and the product's message, never a credential.
 */

export type TargetKind =
  | 'jira-cloud'
  | 'confluence-cloud'
  | 'bitbucket-cloud'
  | 'bitbucket-dc'
  | 'jira-dc'
  | 'confluence-dc'
  | 'atlassian-org';

/** A user account as the target knows it. Cloud products identify by accountId; Data Center by username. */
export interface TargetAccount {
  /** accountId (cloud) or username/key (Data Center): whatever the target's write calls take. */
  accountId: string;
  email: string | null;
  displayName: string | null;
  active: boolean;
}

export interface TargetGroup {
  /** groupId (cloud) or the group name (Data Center, Bitbucket, which key groups by name/slug). */
  groupId: string;
  name: string;
}

export interface NewAccount {
  email: string;
  displayName: string | null;
  /** Data Center needs a username; cloud ignores it. */
  username: string;
  givenName?: string | null;
  familyName?: string | null;
  /** Jira Cloud product keys granted on create (jira-software, jira-servicedesk, …); [] = none. */
  products: string[];
}

export interface AccountChanges {
  displayName?: string | null;
  email?: string;
}

/** What a target can do; the engine plans around what it cannot (see docs/ARCHITECTURE.md). */
export interface TargetCapabilities {
  createUser: boolean;
  updateUser: boolean;
  deactivateUser: boolean;
  reactivateUser: boolean;
  deleteUser: boolean;
  createGroup: boolean;
  deleteGroup: boolean;
  manageMembership: boolean;
  /** Projects and components with leads that must be reassigned before a lead is deprovisioned. */
  leads: boolean;
}

/** A group that grants access to a product, as the product reports it (Jira Cloud: its application roles). */
export interface AccessGroup {
  name: string;
  groupId: string | null;
  /** The product (application role key) the group grants, e.g. jira-software. */
  product: string;
  /** New users of the product join this group (the role's default group). */
  isDefault: boolean;
}

export interface ConnectionCheck {
  ok: boolean;
  message: string;
  /** Non-secret facts found while checking (site title, the account the credentials act as, …). */
  details?: Record<string, unknown>;
}

export interface ProjectLead {
  projectKey: string;
  projectName: string;
  leadAccountId: string | null;
}

export interface ComponentLead {
  componentId: string;
  componentName: string;
  projectKey: string;
  leadAccountId: string | null;
}

export interface Target {
  readonly kind: TargetKind;
  readonly capabilities: TargetCapabilities;

  testConnection(): Promise<ConnectionCheck>;

  listUsers(): AsyncIterable<TargetAccount>;
  getUser(accountId: string): Promise<TargetAccount | null>;
  findUserByEmail(email: string): Promise<TargetAccount | null>;
  listGroups(): AsyncIterable<TargetGroup>;
  listGroupMembers(groupId: string): AsyncIterable<string>;
  listUserGroups(accountId: string): Promise<TargetGroup[]>;

  createUser(account: NewAccount): Promise<TargetAccount>;
  updateUser(accountId: string, changes: AccountChanges): Promise<void>;
  deactivateUser(accountId: string): Promise<void>;
  reactivateUser(accountId: string): Promise<void>;
  deleteUser(accountId: string): Promise<void>;

  createGroup(name: string): Promise<TargetGroup>;
  deleteGroup(groupId: string): Promise<void>;
  addMember(groupId: string, accountId: string): Promise<void>;
  removeMember(groupId: string, accountId: string): Promise<void>;

  /**
   * The groups that grant product access, where the product's API tells them (Jira Cloud application roles).
   * Deprovisioning without a deactivate removes the account from these; absent = the product cannot tell.
   */
  listAccessGroups?(): Promise<AccessGroup[]>;

  listProjectLeads?(): AsyncIterable<ProjectLead>;
  setProjectLead?(projectKey: string, accountId: string): Promise<void>;
  listComponentLeads?(): AsyncIterable<ComponentLead>;
  setComponentLead?(componentId: string, accountId: string): Promise<void>;
}

export class TargetError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly target: TargetKind,
    /** Method and path (no query secrets) of the call that failed. */
    readonly request?: string,
    readonly retryable = false,
  ) {
    super(message);
    this.name = 'TargetError';
  }
}
