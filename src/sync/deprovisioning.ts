import { capabilitiesOf } from '../targets/capabilities';
import type { TargetKind } from '../targets/types';
import { productName, residualAccessReason } from './plan';
import type { DeprovisionAction, SyncSettings } from './settings';

/**
 * What deactivating (or deleting) a user in the IdP does on each of the current targets, in words an admin
 * reads on the User Sync page. Pure: the same rules plan() applies (strongest action first), stated ahead.
 */

export interface DeprovisionTarget {
  id: string;
  name: string;
  kind: TargetKind;
  enabled: boolean;
  /** The atlassian-org target that suspends this cloud target's accounts. */
  orgTargetId?: string | null;
  /** A Confluence Cloud target written through the Jira Cloud target of the same site. */
  sharesDirectoryWith?: string | null;
}

export type DeprovisionEffect = 'suspend' | 'deactivate' | 'delete' | 'remove-from-site' | 'remove-groups' | 'nothing' | 'not-synced';

export interface DeprovisionPreview {
  targetId: string;
  name: string;
  kind: TargetKind;
  effect: DeprovisionEffect;
  /** True when the product keeps no access after it (as far as its API can tell). */
  removesAllAccess: boolean;
  sentence: string;
  /** Why access may remain: each such user is a warning on the run that deprovisions them. */
  warning: string | null;
}

const ORG_MANAGED: ReadonlySet<TargetKind> = new Set(['jira-cloud', 'confluence-cloud']);

export function describeDeprovisioning(settings: SyncSettings, targets: DeprovisionTarget[], action: DeprovisionAction = settings.user.onInactive): DeprovisionPreview[] {
  const enabled = targets.filter((t) => t.enabled);
  const byId = new Map(enabled.map((t) => [t.id, t]));
  return enabled.map((t) => {
    const base = { targetId: t.id, name: t.name, kind: t.kind };
    if (t.kind === 'atlassian-org') {
      return { ...base, effect: 'not-synced', removesAllAccess: true, warning: null, sentence: "Suspends the app access of the Jira and Confluence Cloud accounts of the targets linked to this organization (org API v2 suspend; the Atlassian account itself stays usable elsewhere); reactivation restores it, with the user's roles and groups." };
    }
    const through = t.sharesDirectoryWith ? byId.get(t.sharesDirectoryWith) : undefined;
    const writer = through ?? t;
    const served = through ? `Written through "${through.name}" (same site): ` : '';
    const org = writer.orgTargetId && ORG_MANAGED.has(writer.kind) ? byId.get(writer.orgTargetId) : undefined;
    const caps = capabilitiesOf(writer.kind, Boolean(org));
    const product = productName(t.kind);
    const ops = settings.user.operations;
    if (action === 'ignore') {
      return { ...base, effect: 'nothing', removesAllAccess: false, warning: null, sentence: `${served}Nothing: the sync settings say to do nothing, so the user keeps ${product} access.` };
    }
    if (action === 'delete' && ops.delete && caps.deleteUser) {
      return { ...base, effect: 'delete', removesAllAccess: true, warning: null, sentence: `${served}Deletes the user's ${product} account.` };
    }
    if (!ops.deactivate) {
      const warning = 'deactivation is turned off in the sync settings';
      return { ...base, effect: 'nothing', removesAllAccess: false, warning, sentence: `${served}Nothing is removed: ${warning}. Each such user is a warning on the run.` };
    }
    if (caps.deactivateUser) {
      if (org) {
        return { ...base, effect: 'suspend', removesAllAccess: true, warning: null, sentence: `${served}Suspends the user's access to the organization's apps through "${org.name}" (org API v2 suspend): no Jira, Confluence or other app access, the account stays. Reactivation restores it, with the user's roles and groups.` };
      }
      return { ...base, effect: 'deactivate', removesAllAccess: true, warning: null, sentence: `${served}Deactivates the user in ${product} (its REST API); reactivation activates the same account again.` };
    }
    if (settings.user.deactivateFallback === 'remove-from-site' && caps.deleteUser) {
      const warning = through ? residualAccessReason(t.kind, false) : null;
      return { ...base, effect: 'remove-from-site', removesAllAccess: warning === null, warning, sentence: `${served}Removes the user from the site (the Atlassian account stays); reactivation invites the account again.${warning ? ` ${product} access may remain: ${warning}.` : ''}` };
    }
    if (settings.user.deactivateFallback === 'remove-groups' && caps.manageMembership) {
      const warning = residualAccessReason(t.kind, writer.kind === 'jira-cloud');
      const groups =
        writer.kind === 'jira-cloud'
          ? "every group that grants Jira access (Jira's application roles), the new-user default groups, the product-access groups listed below and the managed groups"
          : 'the new-user default groups, the product-access groups listed below and the managed groups';
      return {
        ...base,
        effect: 'remove-groups',
        removesAllAccess: warning === null,
        warning,
        sentence: `${served}${caps.deleteUser || ORG_MANAGED.has(writer.kind) ? `${productName(writer.kind)} cannot deactivate without an organization target: ` : ''}removes the user from ${groups}; reactivation adds back exactly those groups.${warning ? ` ${product} access may remain: ${warning}. Each such user is a warning on the run.` : ''}`,
      };
    }
    const warning = `${writer.kind} cannot deactivate here and the sync settings say to do nothing where a product cannot deactivate`;
    return { ...base, effect: 'nothing', removesAllAccess: false, warning, sentence: `${served}Nothing is removed: ${warning}. Each such user is a warning on the run.` };
  });
}
