/** Synchronize: dry run or apply, the current run's progress, confirmation above the safety threshold. */
import { api, qs } from '../lib/api.js';
import { connectionPicker } from '../lib/connections.js';
import { $, h } from '../lib/dom.js';
import { PHASES } from '../lib/format.js';
import { failed, showMessage } from '../lib/messages.js';
import { opLabel } from '../lib/ops.js';

export default function init() {
  var connectionId = null;
  var poll = null;
  var shownRun = null;
  var targetNames = {};
  api('GET', '/targets').then(function (body) { body.targets.forEach(function (t) { targetNames[t.id] = t.name; }); }).catch(function () {});

  function setProgress(percent, state, phase, counts) {
    $('#sync-status').hidden = false;
    $('#sync-progress-bar').style.width = percent + '%';
    $('#sync-progress').setAttribute('aria-valuenow', String(percent));
    var lozenge = $('#sync-state');
    lozenge.textContent = state;
    lozenge.className = 'aui-lozenge ' + (state === 'succeeded' || state === 'done' ? 'aui-lozenge-success' : state === 'failed' || state === 'partial' ? 'aui-lozenge-error' : state === 'awaiting_confirmation' ? 'aui-lozenge-moved' : 'aui-lozenge-current');
    $('#sync-phase').textContent = phase ? PHASES[phase] || phase : '';
    $('#sync-counts').textContent = counts || '';
  }

  function showPlan(run) {
    return api('GET', '/runs/' + run.id + '/ops?limit=200').then(function (body) {
      $('#plan-panel').hidden = false;
      $('#plan-heading').textContent = run.dryRun ? 'Dry run: what would change' : 'Changes';
      $('#plan-summary').textContent = body.total === 0 ? 'Nothing to change: the targets already match the IdP.' : body.total + ' change(s)' + (body.total > body.ops.length ? ', first ' + body.ops.length + ' shown (all in History)' : '') + '.';
      var tbody = $('#plan-table tbody');
      tbody.textContent = '';
      body.ops.forEach(function (op) {
        var label = opLabel(op);
        tbody.appendChild(h('tr', {}, h('td', {}, op.seq), h('td', {}, label.change), h('td', {}, label.who), h('td', {}, targetNames[op.targetId] || op.targetId), h('td', {}, op.status)));
      });
    });
  }

  // The job this page follows: the one its own button queued or joined; otherwise the running or last one.
  // (A queued job may be a SCIM change waiting out its debounce, which is not what the admin is watching.)
  var followJobId = null;

  function refresh() {
    var current = followJobId
      ? api('GET', '/jobs/' + followJobId).then(function (body) { return body.job; })
      : api('GET', '/connections/' + connectionId + '/sync').then(function (status) { return status.running || status.last || null; });
    return current.then(function (job) {
      if (!job) return stop();
      var active = job.status === 'running' || job.status === 'queued';
      return runIdOf(job).then(function (runId) { return follow(job, runId, active); });
    }).catch(function (error) { stop(); failed(error); });
  }

  /** The job's run: reported by the engine in the job's progress, else the connection's newest run since the job started. */
  function runIdOf(job) {
    if (job.progress && job.progress.runId) return Promise.resolve(job.progress.runId);
    if (!job.startedAt) return Promise.resolve(null);
    return api('GET', '/runs' + qs({ connectionId: connectionId, limit: 1 })).then(function (body) {
      var run = body.runs[0];
      return run && new Date(run.startedAt) >= new Date(new Date(job.startedAt).getTime() - 1000) ? run.id : null;
    });
  }

  function follow(job, runId, active) {
    {
      if (!runId) {
        setProgress(active ? 5 : 100, job.status, job.progress ? job.progress.phase : null, job.lastError || '');
        if (!active) stop();
        return;
      }
      return api('GET', '/runs/' + runId).then(function (body) {
        var run = body.run;
        var done = (body.opsByStatus.succeeded || 0) + (body.opsByStatus.failed || 0) + (body.opsByStatus.skipped || 0);
        var total = run.opsTotal;
        var finished = run.status !== 'running';
        var percent = finished ? 100 : run.phase === 'applying' && total ? Math.max(10, Math.round((done / total) * 100)) : { reading_directory: 10, reading_targets: 25, planning: 40 }[run.phase] || 5;
        var state = finished ? run.status : active ? 'running' : job.status;
        setProgress(percent, state, run.phase, total + ' change(s): ' + (body.opsByStatus.succeeded || 0) + ' done, ' + (body.opsByStatus.failed || 0) + ' failed, ' + (body.opsByStatus.skipped || 0) + ' skipped' + (run.error ? ' — ' + run.error : ''));
        $('#confirm-panel').hidden = run.status !== 'awaiting_confirmation';
        if (run.status === 'awaiting_confirmation') {
          $('#confirm-text').textContent = 'This run would deactivate or delete ' + run.deprovisions + ' account(s), more than the safety threshold of ' + run.deprovisionThreshold + '. Check the planned changes, then confirm to apply them.';
          $('#confirm-run').setAttribute('data-run', run.id);
        }
        if (finished && !active) {
          stop();
          if (shownRun !== run.id) { shownRun = run.id; return showPlan(run); }
        }
      });
    }
  }

  function start() {
    stop();
    poll = setInterval(refresh, 1000);
    return refresh();
  }
  function stop() { if (poll) clearInterval(poll); poll = null; }

  function trigger(dryRun) {
    shownRun = null;
    $('#plan-panel').hidden = true;
    $('#confirm-panel').hidden = true;
    setProgress(2, 'queued', null, '');
    api('POST', '/connections/' + connectionId + '/sync', { dryRun: dryRun }).then(function (result) {
      followJobId = result.jobId;
      if (result.joined) showMessage('info', 'A sync of this app is already queued or running; following it.');
      else showMessage();
      return start();
    }).catch(failed);
  }
  $('#dry-run').addEventListener('click', function () { trigger(true); });
  $('#synchronize').addEventListener('click', function () { trigger(false); });
  $('#confirm-run').addEventListener('click', function () {
    var runId = $('#confirm-run').getAttribute('data-run');
    api('POST', '/runs/' + runId + '/confirm', {}).then(function () {
      $('#confirm-panel').hidden = true;
      showMessage('info', 'Confirmed. The changes are being applied; follow them in History.');
    }).catch(failed);
  });

  return connectionPicker(function (id) {
    connectionId = id;
    followJobId = null;
    $('#sync-status').hidden = true;
    $('#plan-panel').hidden = true;
    shownRun = null;
    return start();
  });
}
