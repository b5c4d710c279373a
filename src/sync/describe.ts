/**
 * Operations and audit entries in words for people: who (display name and email), which group, which target
 * (its name and product). One place, pure, so the Synchronize page, History, the CSV export and the tests all
 * read the same sentence. Lookups come from the caller (src/sync/history.ts loads them for a page of ops).
 */

/** The product a target kind is, as an admin names it. */
export const PRODUCT_NAMES: Record<string, string> = {
  'jira-cloud': 'Jira',
  'confluence-cloud': 'Confluence',
  'bitbucket-cloud': 'Bitbucket',
  'jira-dc': 'Jira Data Center',
  'confluence-dc': 'Confluence Data Center',
  'bitbucket-dc': 'Bitbucket Data Center',
  'atlassian-org': 'Atlassian organization',
};

/** Jira Cloud product keys (POST /rest/api/3/user `products`) as the products are sold. */
export const JIRA_PRODUCT_NAMES: Record<string, string> = {
  'jira-software': 'Jira Software',
  'jira-servicedesk': 'Jira Service Management',
  'jira-core': 'Jira Work Management',
  'jira-product-discovery': 'Jira Product Discovery',
};

export interface PersonInfo {
  displayName: string | null;
  email: string | null;
  userName?: string | null;
}

export interface OpLookups {
  /** Targets by id. */
  targets: ReadonlyMap<string, { name: string; kind: string }>;
  /** IdP directory users by id. */
  users: ReadonlyMap<string, PersonInfo>;
  /** Target accounts by accountId (from the connection's links), for ops that only carry an accountId. */
  accounts: ReadonlyMap<string, PersonInfo>;
}

/** What the History API and the CSV need of an op. */
export interface OpRecord {
  kind: string;
  targetId: string;
  directoryUserId: string | null;
  accountId: string | null;
  groupName: string | null;
  detail: Record<string, unknown>;
}

export interface OpDescription {
  /** The sentence: "Add Alice Doe <alice@example.com> to idp-engineering in Jira (acme)". */
  label: string;
  targetName: string | null;
  /** Product name ("Jira", "Confluence"…); null when the target was deleted. */
  targetProduct: string | null;
  /** "Alice Doe <alice@example.com>" or whatever is known of the person; null for group-only ops. */
  userDisplay: string | null;
  userDisplayName: string | null;
  userEmail: string | null;
}

const str = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);

/** "Alice Doe <alice@example.com>", "alice@example.com", "alice", or null when nothing is known. */
export function personText(person: PersonInfo | null | undefined): string | null {
  if (!person) return null;
  const name = str(person.displayName);
  const email = str(person.email);
  if (name && email && name !== email) return `${name} <${email}>`;
  return name ?? email ?? str(person.userName) ?? null;
}

/** "Jira (acme)"; a deleted target is named by its id. */
export function targetText(lookups: OpLookups, targetId: string): string {
  const target = lookups.targets.get(targetId);
  if (!target) return `deleted target ${targetId}`;
  return `${PRODUCT_NAMES[target.kind] ?? target.kind} (${target.name})`;
}

function accountText(lookups: OpLookups, accountId: string | null): string {
  if (!accountId) return 'nobody';
  const known = personText(lookups.accounts.get(accountId));
  return known ? `${known} (account ${accountId})` : `account ${accountId}`;
}

function personOf(op: OpRecord, lookups: OpLookups): PersonInfo | null {
  const d = op.detail;
  const account = (d.account && typeof d.account === 'object' ? d.account : {}) as Record<string, unknown>;
  const fromDirectory = op.directoryUserId ? lookups.users.get(op.directoryUserId) : undefined;
  const fromAccount = op.accountId ? lookups.accounts.get(op.accountId) : undefined;
  const displayName = str(fromDirectory?.displayName) ?? str(account.displayName) ?? str(fromAccount?.displayName) ?? null;
  const email = str(fromDirectory?.email) ?? str(account.email) ?? str(d.email) ?? str(fromAccount?.email) ?? null;
  const userName = str(fromDirectory?.userName) ?? str(d.userName) ?? str(account.username) ?? str(fromAccount?.userName) ?? null;
  if (!displayName && !email && !userName) return null;
  return { displayName, email, userName };
}

const REASONS: Record<string, string> = {
  inactive: 'inactive in the IdP',
  gone: 'removed from the IdP',
  'remove-from-site': 'the product cannot deactivate, so the account is removed from the site',
};

/** A kind the describer does not know yet ("reset-password") reads as words. */
const kindWords = (kind: string) => {
  const words = kind.replace(/[-_]/g, ' ').replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
};

/** The op as a sentence, with the names it uses, from the op record and the lookups. Pure. */
export function describeOp(op: OpRecord, lookups: OpLookups): OpDescription {
  const d = op.detail;
  const target = lookups.targets.get(op.targetId);
  const inTarget = `in ${targetText(lookups, op.targetId)}`;
  const person = personOf(op, lookups);
  const who = personText(person) ?? (op.accountId ? `account ${op.accountId}` : 'a user');
  const group = op.groupName ?? str(d.groupName) ?? 'a group';
  const reason = REASONS[String(d.reason)] ? ` (${REASONS[String(d.reason)]})` : '';
  let label: string;
  let aboutPerson = true;
  switch (op.kind) {
    case 'create-group':
      label = `Create group ${group} ${inTarget}`;
      aboutPerson = false;
      break;
    case 'delete-group':
      label = `Delete group ${group} ${inTarget} (no IdP group maps to it any more)`;
      aboutPerson = false;
      break;
    case 'create-user': {
      const products = Array.isArray((d.account as { products?: unknown } | undefined)?.products) ? ((d.account as { products: string[] }).products) : [];
      label = `Create ${who} ${inTarget}` + (products.length ? `, with ${products.map((p) => JIRA_PRODUCT_NAMES[p] ?? p).join(', ')}` : '');
      break;
    }
    case 'link-user':
      label = `Link ${who} to existing account ${op.accountId ?? '?'} ${inTarget}`;
      break;
    case 'update-user': {
      const changes = (d.changes && typeof d.changes === 'object' ? d.changes : {}) as Record<string, unknown>;
      const parts = Object.entries(changes).map(([field, value]) => `${field === 'displayName' ? 'name' : field} → ${value === null ? '(none)' : String(value)}`);
      label = `Update ${who} ${inTarget}` + (parts.length ? `: ${parts.join(', ')}` : '');
      break;
    }
    case 'reactivate-user':
      label = `Reactivate ${who} ${inTarget}`;
      break;
    case 'add-member':
      label = `Add ${who} to ${group} ${inTarget}`;
      break;
    case 'remove-member':
      label = `Remove ${who} from ${group} ${inTarget}` + (d.deprovision === true ? ' (instead of deactivating)' : '');
      break;
    case 'deactivate-user':
      label = `Deactivate ${who} ${inTarget}${reason}`;
      break;
    case 'delete-user':
      label = `Remove ${who} from ${targetText(lookups, op.targetId)}${reason}`;
      break;
    case 'set-project-lead':
      label = `Make ${accountText(lookups, str(d.toAccountId))} lead of project ${String(d.projectKey ?? '?')} ${inTarget}, instead of ${accountText(lookups, str(d.fromAccountId))}`;
      aboutPerson = false;
      break;
    case 'set-component-lead':
      label = str(d.toAccountId)
        ? `Make ${accountText(lookups, str(d.toAccountId))} lead of component ${String(d.componentId ?? '?')} of project ${String(d.projectKey ?? '?')} ${inTarget}, instead of ${accountText(lookups, str(d.fromAccountId))}`
        : `Clear the lead of component ${String(d.componentId ?? '?')} of project ${String(d.projectKey ?? '?')} ${inTarget} (was ${accountText(lookups, str(d.fromAccountId))})`;
      aboutPerson = false;
      break;
    default:
      label = `${kindWords(op.kind)}${person || op.accountId ? ` ${who}` : ''}${op.groupName ? ` (${op.groupName})` : ''} ${inTarget}`;
  }
  return {
    label,
    targetName: target?.name ?? null,
    targetProduct: target ? (PRODUCT_NAMES[target.kind] ?? target.kind) : null,
    userDisplay: aboutPerson ? (personText(person) ?? (op.accountId ? `account ${op.accountId}` : null)) : null,
    userDisplayName: aboutPerson ? (person?.displayName ?? null) : null,
    userEmail: aboutPerson ? (person?.email ?? null) : null,
  };
}
