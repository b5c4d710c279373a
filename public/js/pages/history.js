/** History: runs with filters, one run's operations and CSV export, the audit log. */
import { api, qs, token } from '../lib/api.js';
import { loadConnections } from '../lib/connections.js';
import { $, $all, h } from '../lib/dom.js';
import { onSubmit } from '../lib/forms.js';
import { PHASES, fmtDate, fmtDuration } from '../lib/format.js';
import { failed } from '../lib/messages.js';
import { TRIGGERS, clipCell, statusLozenge, targetCell, warningItems } from '../lib/ops.js';

export default function init() {
  var filterForm = $('#runs-filter');
  var runsOffset = 0;
  var opsOffset = 0;
  var currentRun = null;
  var LIMIT = 20;

  function filters() {
    var out = {};
    $all('select, input', filterForm).forEach(function (el) { if (el.name && el.value) out[el.name] = el.value; });
    return out;
  }

  function loadRuns() {
    var params = Object.assign(filters(), { limit: LIMIT, offset: runsOffset });
    return api('GET', '/runs' + qs(params)).then(function (body) {
      var tbody = $('#runs-table tbody');
      tbody.textContent = '';
      body.runs.forEach(function (run) {
        tbody.appendChild(h('tr', { 'data-run': run.id },
          h('td', {}, fmtDate(run.startedAt)), h('td', {}, run.connectionName || '—'),
          h('td', {}, (TRIGGERS[run.trigger] || run.trigger) + (run.dryRun ? ' (dry run)' : '')),
          h('td', {}, statusLozenge(run.status)),
          h('td', {}, run.opsTotal + ' (' + run.opsSucceeded + ' / ' + run.opsFailed + ' / ' + run.opsSkipped + ')'),
          h('td', {}, fmtDuration(run.durationMs)),
          h('td', {}, h('button', { type: 'button', class: 'aui-button aui-button-link', onclick: function () { openRun(run.id); } }, 'Open run'))));
      });
      if (!body.runs.length) tbody.appendChild(h('tr', {}, h('td', { colspan: 7 }, 'No runs match.')));
      $('#runs-page').textContent = body.total ? (runsOffset + 1) + '–' + (runsOffset + body.runs.length) + ' of ' + body.total : '';
      $('#runs-prev').disabled = runsOffset === 0;
      $('#runs-next').disabled = runsOffset + body.runs.length >= body.total;
    });
  }

  function openRun(id) {
    opsOffset = 0;
    return api('GET', '/runs/' + id).then(function (body) {
      currentRun = body.run;
      var run = body.run;
      var panel = $('#run-detail');
      panel.hidden = false;
      $('#run-heading').textContent = 'Run of ' + (run.connectionName || 'a deleted app') + ', ' + fmtDate(run.startedAt);
      var dl = $('#run-summary');
      dl.textContent = '';
      [['Status', run.status.replace(/_/g, ' ')], ['Phase', PHASES[run.phase] || run.phase], ['Trigger', (TRIGGERS[run.trigger] || run.trigger) + ' (' + run.trigger + ')' + (run.dryRun ? ', dry run' : '')], ['Mode', run.mode],
        ['Changes', run.opsTotal + ' planned, ' + run.opsSucceeded + ' done, ' + run.opsFailed + ' failed, ' + run.opsSkipped + ' skipped'],
        ['Write calls', run.writeCalls], ['Duration', fmtDuration(run.durationMs)], ['Started by', run.actor || TRIGGERS[run.trigger] || run.trigger], ['Error', run.error || '—']]
        .forEach(function (pair) { dl.appendChild(h('dt', {}, pair[0])); dl.appendChild(h('dd', {}, String(pair[1]))); });
      var warnings = warningItems(run.warnings || (run.summary && run.summary.warnings));
      if (warnings.length) { dl.appendChild(h('dt', {}, 'Warnings')); dl.appendChild(h('dd', {}, h.apply(null, ['ul', { class: 'ugs-warnings' }].concat(warnings)))); }
      panel.focus();
      return loadOps();
    }).catch(failed);
  }

  function loadOps() {
    var params = { status: $('#ops-status').value, limit: 50, offset: opsOffset };
    return api('GET', '/runs/' + currentRun.id + '/ops' + qs(params)).then(function (body) {
      var tbody = $('#ops-table tbody');
      tbody.textContent = '';
      body.ops.forEach(function (op) {
        tbody.appendChild(h('tr', { 'data-op': op.seq }, h('td', {}, op.seq), clipCell(op.label, { 'data-label': '' }), clipCell(op.userDisplay), clipCell(op.groupName), targetCell(op), h('td', {}, statusLozenge(op.status)), clipCell(op.error)));
      });
      if (!body.ops.length) tbody.appendChild(h('tr', {}, h('td', { colspan: 7 }, 'No operations.')));
      $('#ops-page').textContent = body.total ? (opsOffset + 1) + '–' + (opsOffset + body.ops.length) + ' of ' + body.total : '';
      $('#ops-prev').disabled = opsOffset === 0;
      $('#ops-next').disabled = opsOffset + body.ops.length >= body.total;
    });
  }

  function loadAudit() {
    return api('GET', '/audit?limit=50').then(function (body) {
      var tbody = $('#audit-table tbody');
      tbody.textContent = '';
      body.entries.forEach(function (e) {
        tbody.appendChild(h('tr', { 'data-action': e.action }, h('td', {}, fmtDate(e.createdAt)), clipCell(e.actor), h('td', {}, e.text || e.action), h('td', {}, h('code', {}, e.action))));
      });
    });
  }

  onSubmit(filterForm, function () { runsOffset = 0; return loadRuns(); });
  $('#runs-prev').addEventListener('click', function () { runsOffset = Math.max(0, runsOffset - LIMIT); loadRuns().catch(failed); });
  $('#runs-next').addEventListener('click', function () { runsOffset += LIMIT; loadRuns().catch(failed); });
  onSubmit($('#ops-filter'), function () { opsOffset = 0; return loadOps(); });
  $('#ops-prev').addEventListener('click', function () { opsOffset = Math.max(0, opsOffset - 50); loadOps().catch(failed); });
  $('#ops-next').addEventListener('click', function () { opsOffset += 50; loadOps().catch(failed); });
  $('#export-csv').addEventListener('click', function () {
    token().then(function (jwt) {
      return fetch('/api/runs/' + currentRun.id + '/ops.csv', { headers: { authorization: 'JWT ' + jwt } });
    }).then(function (res) {
      if (!res.ok) throw new Error('Export failed (' + res.status + ')');
      return res.blob();
    }).then(function (blob) {
      var link = h('a', { href: URL.createObjectURL(blob), download: 'sync-run-' + currentRun.id + '.csv' });
      document.body.appendChild(link);
      link.click();
      link.remove();
    }).catch(failed);
  });

  return loadConnections().then(function (list) {
    var select = $('#filter-connection');
    list.forEach(function (c) { select.appendChild(h('option', { value: c.id }, c.name)); });
    return Promise.all([loadRuns(), loadAudit()]);
  });
}
