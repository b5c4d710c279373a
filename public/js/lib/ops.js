/** How an operation of a run reads in the Synchronize and History tables. */

export function opLabel(op) {
  var d = op.detail || {};
  var account = d.account || {};
  var user = d.userName || d.email || account.userName || account.emailAddress || account.email || op.accountId || '';
  var who = op.groupName ? op.groupName + (user && op.kind.indexOf('member') >= 0 ? ' ← ' + user : '') : user || d.projectKey || '';
  return { change: op.kind.replace(/_/g, ' ').replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase(), who: String(who) };
}
