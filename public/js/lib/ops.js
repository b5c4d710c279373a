/**
 * An operation of a run as the Synchronize and History tables show it. The sentence and the names in it come
 * from the API (src/sync/describe.ts), so the pages, the CSV and the tests read the same words.
 */
import { h } from './dom.js';

/** A cell that keeps the table's layout: long text is cut with an ellipsis and shown whole on hover. */
export function clipCell(text, attrs) {
  var value = text === null || text === undefined || text === '' ? '—' : String(text);
  return h('td', Object.assign({ class: 'ugs-clip', title: value }, attrs || {}), value);
}

/** The target as "acme (Jira)"; a deleted target by its id. */
export function targetCell(op) {
  return clipCell(op.targetName ? op.targetName + ' (' + op.targetProduct + ')' : 'deleted target ' + op.targetId);
}

/** A status lozenge for runs, ops and jobs; a status this page does not know is shown as it is. */
export function statusLozenge(status) {
  var s = String(status || '');
  var kind = /^succeeded_with|warning/.test(s) ? ' aui-lozenge-moved' : /^(succeeded|done)$/.test(s) ? ' aui-lozenge-success' : /^(failed|partial|dead)$/.test(s) ? ' aui-lozenge-error' : s === 'awaiting_confirmation' ? ' aui-lozenge-moved' : /^(running|queued)$/.test(s) ? ' aui-lozenge-current' : '';
  return h('span', { class: 'aui-lozenge' + kind }, s.replace(/_/g, ' '));
}

/** Per-user warnings a run may carry (strings, or objects naming the user and what happened). */
export function warningItems(warnings) {
  return (Array.isArray(warnings) ? warnings : []).map(function (w) {
    if (typeof w === 'string') return h('li', {}, w);
    var who = w.userDisplay || w.user || w.email || w.userName || '';
    var what = w.message || w.warning || w.text || JSON.stringify(w);
    return h('li', {}, (who ? who + ': ' : '') + what);
  });
}

export var TRIGGERS = { manual: 'Started by hand', schedule: 'On schedule', change: 'A change pushed by the IdP', confirm: 'Confirmation of a stopped run' };
