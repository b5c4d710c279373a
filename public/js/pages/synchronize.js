/**
 * Synchronize: dry run or apply, and the connection's current run, whatever started it (this page, the
 * schedule, a SCIM change, a confirmation): trigger, start, elapsed time, live counts and the changes in words.
 * Cancel asks the job to stop; the engine stops the run before its next operation.
 */
import { api } from '../lib/api.js';
import { connectionPicker } from '../lib/connections.js';
import { $, h } from '../lib/dom.js';
import { PHASES, fmtDate, fmtDuration } from '../lib/format.js';
import { failed, showMessage } from '../lib/messages.js';
import { TRIGGERS, clipCell, statusLozenge, targetCell, warningItems } from '../lib/ops.js';

var ACTIVE_MS = 1000;
var IDLE_MS = 3000;

export default function init() {
  var connectionId = null;
  var timer = null;
  var shownRun = null;
  /** The job this page's button queued: shown as queued until it runs (a change job may be waiting too). */
  var pendingJobId = null;
  var status = null;

  function percentOf(run, done) {
    if (run.status !== 'running') return 100;
    if (run.phase === 'applying' && run.opsTotal) return Math.max(10, Math.round((done / run.opsTotal) * 100));
    return { reading_directory: 10, reading_targets: 25, planning: 40 }[run.phase] || 5;
  }

  function setState(percent, state, phase, counts) {
    $('#sync-status').hidden = false;
    $('#sync-progress-bar').style.width = percent + '%';
    $('#sync-progress').setAttribute('aria-valuenow', String(percent));
    var lozenge = $('#sync-state');
    var drawn = statusLozenge(state);
    lozenge.className = drawn.className;
    lozenge.textContent = state;
    $('#sync-phase').textContent = phase ? PHASES[phase] || phase : '';
    $('#sync-counts').textContent = counts || '';
  }

  function facts(pairs) {
    var dl = $('#sync-facts');
    dl.textContent = '';
    pairs.forEach(function (pair) { dl.appendChild(h('dt', {}, pair[0])); dl.appendChild(h('dd', { 'data-fact': pair[0] }, pair[1])); });
  }

  function showRun(run, opsByStatus, job) {
    var done = (opsByStatus.succeeded || 0) + (opsByStatus.failed || 0) + (opsByStatus.skipped || 0);
    var running = run.status === 'running';
    var elapsed = running ? Date.now() - new Date(run.startedAt).getTime() : run.durationMs;
    $('#sync-title').textContent = (running ? 'Current ' : 'Last ') + (run.dryRun ? 'dry run' : 'sync');
    facts([
      ['Trigger', (TRIGGERS[run.trigger] || run.trigger) + (run.mode === 'incremental' ? ' (changed users only)' : '')],
      ['Started', fmtDate(run.startedAt) + (run.actor ? ' by ' + run.actor : '')],
      [running ? 'Elapsed' : 'Took', fmtDuration(elapsed)],
    ]);
    var counts = run.opsTotal + ' change(s): ' + (opsByStatus.succeeded || 0) + ' done, ' + (opsByStatus.failed || 0) + ' failed, ' + (opsByStatus.skipped || 0) + ' skipped' +
      (running && job && job.cancelRequested ? ' — cancelling: stops before the next operation' : '') + (run.error ? ' — ' + run.error : '');
    setState(percentOf(run, done), run.status, run.phase, counts);
    var warnings = $('#sync-warnings');
    warnings.textContent = '';
    warningItems(run.warnings || (run.summary && run.summary.warnings)).forEach(function (li) { warnings.appendChild(li); });
    warnings.hidden = !warnings.children.length;
    $('#confirm-panel').hidden = run.status !== 'awaiting_confirmation';
    if (run.status === 'awaiting_confirmation') {
      $('#confirm-text').textContent = 'This run would deactivate or delete ' + run.deprovisions + ' account(s), more than the safety threshold of ' + run.deprovisionThreshold + '. Check the planned changes, then confirm to apply them.';
      $('#confirm-run').setAttribute('data-run', run.id);
    }
    // The changes are listed as they are applied, and once more when the run ends.
    if (running && run.phase !== 'applying') return null;
    if (!running && shownRun === run.id) return null;
    if (!running) shownRun = run.id;
    return showPlan(run);
  }

  function showPlan(run) {
    return api('GET', '/runs/' + run.id + '/ops?limit=200').then(function (body) {
      $('#plan-panel').hidden = false;
      $('#plan-heading').textContent = run.dryRun ? 'Dry run: what would change' : 'Changes';
      var summary;
      if (body.total > 0) summary = body.total + ' change(s)' + (body.total > body.ops.length ? ', first ' + body.ops.length + ' shown (all in History)' : '') + '.';
      else if (run.status === 'failed') summary = 'The run failed before it changed anything' + (run.error ? ': ' + run.error : '.');
      else if (run.status === 'cancelled') summary = 'The run was cancelled before it changed anything.';
      else if (run.status === 'running') summary = 'Planning…';
      else if (status && status.targets === 0) summary = 'No targets yet, so nothing to change.';
      else summary = 'Nothing to change: the targets already match the IdP.';
      $('#plan-summary').textContent = summary;
      var tbody = $('#plan-table tbody');
      tbody.textContent = '';
      body.ops.forEach(function (op) {
        tbody.appendChild(h('tr', { 'data-op': op.seq }, h('td', {}, op.seq), clipCell(op.label, { 'data-label': '' }), clipCell(op.userDisplay), clipCell(op.groupName), targetCell(op), h('td', {}, statusLozenge(op.status))));
      });
    });
  }

  function render(body) {
    status = body;
    var noTargets = body.targets === 0;
    $('#no-targets').hidden = !noTargets;
    var job = body.running;
    var mine = pendingJobId && body.queued.some(function (q) { return q.id === pendingJobId; });
    if (pendingJobId && !mine && !(job && job.id === pendingJobId)) pendingJobId = null;
    var run = body.run;
    var active = Boolean(job) || Boolean(mine) || Boolean(run && run.status === 'running');
    $('#dry-run').disabled = active || noTargets;
    $('#synchronize').disabled = active || noTargets;
    var cancel = $('#cancel-run');
    cancel.hidden = !job && !mine;
    cancel.disabled = Boolean(job && job.cancelRequested);
    cancel.textContent = job && job.cancelRequested ? 'Cancelling…' : 'Cancel run';
    cancel.setAttribute('data-job', job ? job.id : mine ? pendingJobId : '');
    var waiting = body.queued.filter(function (q) { return q.id !== pendingJobId; });
    $('#queued-note').hidden = waiting.length === 0 || Boolean(job);
    if (waiting.length) $('#queued-note').textContent = 'Queued: ' + waiting.map(function (q) { return (TRIGGERS[q.trigger] || q.trigger) + (q.dryRun ? ' (dry run)' : '') + ', due ' + fmtDate(q.runAfter); }).join('; ') + '.';

    if (mine && !job) {
      $('#sync-title').textContent = 'Queued';
      facts([['Trigger', TRIGGERS.manual], ['Queued', fmtDate(new Date())]]);
      setState(2, 'queued', null, '');
      $('#plan-panel').hidden = true;
      return null;
    }
    if (job && !run) {
      $('#sync-title').textContent = 'Starting';
      facts([['Trigger', TRIGGERS[job.trigger] || job.trigger], ['Started', fmtDate(job.startedAt)]]);
      setState(5, 'running', job.progress ? job.progress.phase : null, '');
      return null;
    }
    if (!run) { $('#sync-status').hidden = true; return null; }
    return showRun(run, body.opsByStatus || {}, job);
  }

  function refresh() {
    clearTimeout(timer);
    var id = connectionId;
    return api('GET', '/connections/' + id + '/sync').then(function (body) {
      if (id !== connectionId) return null;
      return Promise.resolve(render(body)).then(function () {
        var active = body.running || (body.run && body.run.status === 'running') || pendingJobId;
        timer = setTimeout(refresh, active ? ACTIVE_MS : IDLE_MS);
      });
    }).catch(function (error) {
      failed(error);
      timer = setTimeout(refresh, IDLE_MS);
    });
  }

  function trigger(dryRun) {
    $('#dry-run').disabled = true;
    $('#synchronize').disabled = true;
    api('POST', '/connections/' + connectionId + '/sync', { dryRun: dryRun }).then(function (result) {
      pendingJobId = result.jobId;
      shownRun = null;
      $('#plan-panel').hidden = true;
      $('#confirm-panel').hidden = true;
      showMessage(result.joined ? 'info' : undefined, result.joined ? 'A sync of this app was already queued or running; this page follows it.' : undefined);
      return refresh();
    }).catch(function (error) { failed(error); return refresh(); });
  }
  $('#dry-run').addEventListener('click', function () { trigger(true); });
  $('#synchronize').addEventListener('click', function () { trigger(false); });
  $('#cancel-run').addEventListener('click', function () {
    var jobId = $('#cancel-run').getAttribute('data-job');
    if (!jobId) return;
    $('#cancel-run').disabled = true;
    api('POST', '/jobs/' + jobId + '/cancel', {}).then(function (body) {
      showMessage('info', body.job.status === 'cancelled' ? 'Cancelled before it started.' : 'Cancelling: the run stops before its next operation. Changes already made stay.');
      return refresh();
    }).catch(failed);
  });
  $('#confirm-run').addEventListener('click', function () {
    var runId = $('#confirm-run').getAttribute('data-run');
    api('POST', '/runs/' + runId + '/confirm', {}).then(function () {
      $('#confirm-panel').hidden = true;
      showMessage('info', 'Confirmed. The changes are being applied; this page follows them.');
      return refresh();
    }).catch(failed);
  });
  $('#decline-run').addEventListener('click', function () {
    var runId = $('#confirm-run').getAttribute('data-run');
    api('POST', '/runs/' + runId + '/cancel', {}).then(function () {
      $('#confirm-panel').hidden = true;
      showMessage('info', 'Not applied: the run is cancelled and nothing changed.');
      shownRun = null;
      return refresh();
    }).catch(failed);
  });
  // Stop polling when the page is left (Jira keeps the frame only while the page is shown).
  window.addEventListener('pagehide', function () { clearTimeout(timer); });

  return connectionPicker(function (id) {
    connectionId = id;
    pendingJobId = null;
    shownRun = null;
    $('#sync-status').hidden = true;
    $('#plan-panel').hidden = true;
    $('#group-sync-off').hidden = true;
    $('#group-sync-off').removeAttribute('data-checked');
    // Group sync is off by default: say so where the admin is about to sync, not only on its settings page.
    api('GET', '/connections/' + id + '/settings').then(function (body) {
      if (id !== connectionId) return;
      $('#group-sync-off').hidden = body.settings.group.mapping !== 'none';
      $('#group-sync-off').setAttribute('data-checked', id);
    }).catch(function () { /* a hint only */ });
    return refresh();
  });
}
