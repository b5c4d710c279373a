/** Targets: the Atlassian products users and groups are written to, their credentials and connection test. */
import { api } from '../lib/api.js';
import { $, $all, h } from '../lib/dom.js';
import { collect, onSubmit, renderFields } from '../lib/forms.js';
import { PRODUCT_NAMES, checkText } from '../lib/format.js';
import { failed, showMessage } from '../lib/messages.js';

var TARGET_FIELDS = {
  'jira-cloud': [['credentials.email', 'Site-admin email'], ['credentials.apiToken', 'API token', '', true]],
  'confluence-cloud': [['credentials.email', 'Site-admin email'], ['credentials.apiToken', 'API token', '', true]],
  'bitbucket-cloud': [['settings.workspace', 'Workspace'], ['credentials.username', 'Username'], ['credentials.apiToken', 'API token', '', true]],
  'bitbucket-dc': [['credentials.token', 'Personal access token', '', true]],
  'jira-dc': [['credentials.token', 'Personal access token', '', true]],
  'confluence-dc': [['credentials.token', 'Personal access token', '', true]],
  'atlassian-org': [['settings.orgId', 'Organization id'], ['credentials.apiKey', 'Org API key', '', true]],
};
var CAPABILITY_LABELS = { createUser: 'create users', updateUser: 'update users', deactivateUser: 'deactivate', deleteUser: 'remove users', createGroup: 'create groups', manageMembership: 'memberships', leads: 'leads' };

export default function init() {
  var editing = null;
  var panel = $('#target-form-panel');
  var form = $('#target-form');

  function fields() { renderFields($('#target-fields'), TARGET_FIELDS[$('#target-kind').value] || [], null); }
  $('#target-kind').addEventListener('change', fields);

  function render() {
    return api('GET', '/targets').then(function (body) {
      var tbody = $('#targets-table tbody');
      tbody.textContent = '';
      $('#targets-empty').hidden = body.targets.length > 0;
      body.targets.forEach(function (t) {
        var can = Object.keys(CAPABILITY_LABELS).filter(function (k) { return t.capabilities[k]; }).map(function (k) { return CAPABILITY_LABELS[k]; }).join(', ');
        var check = t.lastCheck ? checkText(t.lastCheck) : 'not tested';
        var outcome = h('span', { class: 'ugs-test-outcome', role: 'status', 'aria-live': 'polite', 'data-test-outcome': t.id });
        tbody.appendChild(h('tr', { 'data-target': t.id },
          h('td', { class: 'ugs-clip', title: t.name }, t.name), h('td', {}, PRODUCT_NAMES[t.kind] || t.kind), h('td', { class: 'ugs-clip', title: t.baseUrl }, h('code', {}, t.baseUrl)), h('td', {}, can || '—', t.sharesDirectoryWith ? ' (shares users and groups with Jira)' : ''),
          h('td', { class: 'ugs-clip', title: check }, check),
          h('td', {},
            h('button', { type: 'button', class: 'aui-button', onclick: function () { testTarget(t, outcome); } }, 'Test connection'), ' ', outcome, ' ',
            h('button', { type: 'button', class: 'aui-button', onclick: function () { edit(t); } }, 'Edit'), ' ',
            h('button', { type: 'button', class: 'aui-button', onclick: function () { removeTarget(t); } }, 'Delete'))));
      });
    });
  }

  /** The outcome is written beside the button, whatever happens (found, refused, or the request failed). */
  function testTarget(t, outcome) {
    outcome.className = 'ugs-test-outcome';
    outcome.textContent = 'Testing…';
    api('POST', '/targets/' + t.id + '/test', {}).then(function (result) {
      outcome.className = 'ugs-test-outcome ' + (result.ok ? 'ugs-ok' : 'ugs-bad');
      outcome.textContent = checkText(result);
      showMessage(result.ok ? 'success' : 'error', t.name + ': ' + checkText(result));
    }, function (error) {
      outcome.className = 'ugs-test-outcome ugs-bad';
      outcome.textContent = 'Not tested: ' + (error.message || 'the request failed');
      failed(error);
    });
  }

  function removeTarget(t) {
    var box = $('#target-test-result');
    box.textContent = '';
    box.appendChild(h('div', { class: 'aui-message aui-message-warning' }, h('p', {}, 'Delete target ' + t.name + '? Accounts in it stay.'),
      h('button', { type: 'button', class: 'aui-button', onclick: function () { api('DELETE', '/targets/' + t.id).then(function () { box.textContent = ''; showMessage('success', 'Deleted ' + t.name + '.'); return render(); }).catch(failed); } }, 'Yes, delete'),
      h('button', { type: 'button', class: 'aui-button aui-button-link', onclick: function () { box.textContent = ''; } }, 'Cancel')));
  }

  function edit(t) {
    editing = t;
    panel.hidden = false;
    $('#target-form-heading').textContent = 'Edit ' + t.name;
    $('#target-kind').value = t.kind;
    $('#target-kind').disabled = true;
    $('#target-name').value = t.name;
    $('#target-base-url').value = t.baseUrl;
    renderFields($('#target-fields'), TARGET_FIELDS[t.kind] || [], null);
    $all('#target-fields input[type="password"]').forEach(function (el) { el.placeholder = 'Stored — leave empty to keep'; });
    $('#target-name').focus();
  }

  $('#add-target-button').addEventListener('click', function () {
    editing = null;
    panel.hidden = false;
    $('#target-form-heading').textContent = 'Add target';
    $('#target-kind').disabled = false;
    form.reset();
    fields();
    $('#target-kind').focus();
  });
  $('#cancel-target').addEventListener('click', function () { panel.hidden = true; });

  onSubmit(form, function () {
    var body = collect($('#target-fields'));
    body.name = $('#target-name').value;
    if ($('#target-base-url').value) body.baseUrl = $('#target-base-url').value;
    var request = editing ? api('PATCH', '/targets/' + editing.id, body) : api('POST', '/targets', Object.assign({ kind: $('#target-kind').value }, body));
    return request.then(function (body) {
      panel.hidden = true;
      // Saved either way; what the connection test found decides how the message reads.
      var test = body.test;
      if (!test) showMessage('success', 'Saved.');
      else showMessage(test.ok ? 'success' : 'warning', 'Saved. Connection test: ' + checkText(test) + (test.ok ? '' : ' Fix it with Edit: syncs into this target fail until the test passes.'));
      return render();
    });
  });

  fields();
  return render();
}
