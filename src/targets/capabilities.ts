import type { TargetCapabilities, TargetKind } from './types';

/**
 * The capability matrix: what each product's API can do, and what the engine does instead where it
 * cannot. docs/targets.md renders the same facts for admins; a test keeps the adapters in step with it.
 */

export interface CapabilityEntry {
  capabilities: TargetCapabilities;
  /** Capabilities gained when an atlassian-org target is attached (deactivate, reactivate, profile update). */
  withOrg?: Partial<TargetCapabilities>;
  /** What the engine does where the product cannot, in words an admin reads. */
  instead: Partial<Record<keyof TargetCapabilities, string>>;
}

const none: TargetCapabilities = {
  createUser: false,
  updateUser: false,
  deactivateUser: false,
  reactivateUser: false,
  deleteUser: false,
  createGroup: false,
  deleteGroup: false,
  manageMembership: false,
  leads: false,
};

export const CAPABILITY_MATRIX: Record<TargetKind, CapabilityEntry> = {
  'jira-cloud': {
    capabilities: { ...none, createUser: true, deleteUser: true, createGroup: true, deleteGroup: true, manageMembership: true, leads: true },
    withOrg: { updateUser: true, deactivateUser: true, reactivateUser: true },
    instead: {
      deactivateUser:
        'Without an org API key Jira Cloud cannot deactivate: the admin chooses between removing the product-access groups (the account stays, without access) and removing the user from the site.',
      reactivateUser: 'Without an org API key: the product-access groups are added back (or the user is re-invited by creating it again).',
      updateUser: 'Without an org API key profiles are not updated: Atlassian accounts own their name and email.',
    },
  },
  'confluence-cloud': {
    capabilities: { ...none, createGroup: true, deleteGroup: true, manageMembership: true },
    withOrg: { updateUser: true, deactivateUser: true, reactivateUser: true },
    instead: {
      createUser: 'Confluence Cloud has no user-create API: accounts come from the site (through the Jira Cloud target on the same site, or an invitation).',
      deleteUser: 'Removing access = removing the Confluence product-access groups.',
      deactivateUser: 'As Jira Cloud: through the org API when configured, otherwise by removing product-access groups.',
    },
  },
  'bitbucket-cloud': {
    capabilities: { ...none, createGroup: true, deleteGroup: true, manageMembership: true },
    instead: {
      createUser: 'Workspace members are read-only in the API: users join by invitation; the engine manages their group memberships once they are members.',
      deleteUser: 'Deprovisioning removes the user from every group the connection manages.',
      deactivateUser: 'Deprovisioning removes the user from every group the connection manages.',
    },
  },
  'bitbucket-dc': {
    capabilities: { ...none, createUser: true, updateUser: true, deleteUser: true, createGroup: true, deleteGroup: true, manageMembership: true },
    instead: {
      deactivateUser: 'No deactivate in the REST API: deactivation removes the user from the licensed groups (or deletes them, if the admin allows delete).',
    },
  },
  'jira-dc': {
    capabilities: {
      ...none,
      createUser: true,
      updateUser: true,
      deactivateUser: true,
      reactivateUser: true,
      deleteUser: true,
      createGroup: true,
      deleteGroup: true,
      manageMembership: true,
      leads: true,
    },
    instead: {},
  },
  'confluence-dc': {
    capabilities: {
      ...none,
      createUser: true,
      updateUser: true,
      deactivateUser: true,
      reactivateUser: true,
      deleteUser: true,
      createGroup: true,
      deleteGroup: true,
      manageMembership: true,
    },
    instead: {},
  },
  'atlassian-org': {
    capabilities: {
      ...none,
      updateUser: true,
      deactivateUser: true,
      reactivateUser: true,
      createGroup: true,
      deleteGroup: true,
      manageMembership: true,
    },
    instead: {
      createUser: 'Accounts are created by the product targets (Jira Cloud create user) or by the identity provider through Atlassian Guard.',
      deleteUser: 'The org API deactivates managed accounts; removal from a site happens on the product target.',
    },
  },
};

/** The capabilities of a kind, with or without an attached org target. */
export function capabilitiesOf(kind: TargetKind, withOrg = false): TargetCapabilities {
  const entry = CAPABILITY_MATRIX[kind];
  return { ...entry.capabilities, ...(withOrg ? entry.withOrg : {}) };
}
