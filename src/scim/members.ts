import { badRequest } from './errors';
import { checkMemberCount, SCIM_LIMITS } from './limits';
import { memberIdsFromFilter, parsePath, type PatchOperation } from './patch';
import { memberIdsOf } from './resource';
import { GROUP_KIND } from './schemas';

/**
 * The `members` operations of a group PATCH folded, in order, into one net change, which the repository
 * applies with a few set-based statements whatever the number of operations: an IdP that sends 1,000
 * single-member removes costs what one remove of 1,000 members costs.
 *
 * Folding keeps the meaning of applying the operations one by one: a later operation on a member
 * overrides an earlier one, `replace` (or a remove of all members) starts from the given set. Every id an
 * add or replace names must be a user of the directory, even if a later operation removes it again (as
 * when the operations ran one by one, the whole PATCH is then refused).
 */
export interface MembershipPlan {
  /** Set when a replace (or a remove of all members) occurred: the members the group ends with. */
  replaceWith?: Set<string>;
  /** Without replaceWith: members to add and to remove (disjoint). */
  add: Set<string>;
  remove: Set<string>;
  /** Every id named by an add or replace. */
  mustExist: Set<string>;
}

// `members[value eq "id"]`, the form IdPs use to remove one member, recognised without the filter parser.
const ONE_MEMBER = /^\s*members\s*\[\s*value\s+eq\s+"([^"\\]*)"\s*\]\s*$/i;

export function emptyPlan(): MembershipPlan {
  return { add: new Set(), remove: new Set(), mustExist: new Set() };
}

/** Whether an operation's path names the members attribute (with or without a filter). */
export function isMembersOperation(operation: PatchOperation): boolean {
  if (ONE_MEMBER.test(operation.path)) return true;
  return parsePath(GROUP_KIND, operation.path).attribute?.name === 'members';
}

/** memberIdsOf, lower-cased, with a fast path for the usual `{ "value": "<id>" }` entries (a PATCH may name 10,000). */
function idsOf(value: unknown): string[] {
  if (Array.isArray(value)) {
    const out: string[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) {
      const id = (value[i] as { value?: unknown } | null)?.value;
      if (typeof id !== 'string' || id === '') return memberIdsOf(value).map((v) => v.toLowerCase());
      out[i] = id.toLowerCase();
    }
    return out;
  }
  return memberIdsOf(value).map((v) => v.toLowerCase());
}

function removeIds(plan: MembershipPlan, ids: string[]): void {
  for (const id of ids) {
    if (plan.replaceWith) plan.replaceWith.delete(id);
    else {
      plan.add.delete(id);
      plan.remove.add(id);
    }
  }
}

function addIds(plan: MembershipPlan, ids: string[]): void {
  for (const id of ids) {
    plan.mustExist.add(id);
    if (plan.replaceWith) plan.replaceWith.add(id);
    else {
      plan.remove.delete(id);
      plan.add.add(id);
    }
  }
}

/** Folds one `members` operation into the plan; refuses a plan that names more than `maxMembers` members. */
export function planMemberOperation(plan: MembershipPlan, operation: PatchOperation, maxMembers: number = SCIM_LIMITS.maxMembers): void {
  foldMemberOperation(plan, operation);
  // Single-member removes count too: 60 adds and 41 `members[value eq …]` removes name 101 members.
  checkMemberCount(plan.mustExist.size + plan.remove.size, maxMembers);
}

function foldMemberOperation(plan: MembershipPlan, operation: PatchOperation): void {
  const lower = (ids: string[]) => ids.map((id) => id.toLowerCase());
  const single = ONE_MEMBER.exec(operation.path);
  if (single) {
    if (operation.op !== 'remove') throw badRequest('invalidPath', `${operation.op} on ${operation.path}: use path "members" with a value`);
    removeIds(plan, lower([single[1]!]));
    return;
  }
  const path = parsePath(GROUP_KIND, operation.path);
  if (path.sub) throw badRequest('invalidPath', `${operation.path}: members are added, replaced or removed whole`);
  if (path.filter !== undefined) {
    if (operation.op !== 'remove') throw badRequest('invalidPath', `${operation.op} on ${operation.path}: use path "members" with a value`);
    removeIds(plan, lower(memberIdsFromFilter(path.filter)));
    return;
  }
  switch (operation.op) {
    case 'add':
      addIds(plan, idsOf(operation.value));
      break;
    case 'replace':
      plan.replaceWith = new Set();
      plan.add.clear();
      plan.remove.clear();
      addIds(plan, idsOf(operation.value));
      break;
    case 'remove':
      if (operation.value === undefined) {
        plan.replaceWith = new Set();
        plan.add.clear();
        plan.remove.clear();
      } else removeIds(plan, idsOf(operation.value));
      break;
  }
}
