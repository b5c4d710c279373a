/** Configured IdPs: add an app (SCIM base URL + token shown once), tokens, pull credentials, delete. */
import { api } from '../lib/api.js';
import { connections, loadConnections, storeConnectionId } from '../lib/connections.js';
import { $, $all, copyButtons, h } from '../lib/dom.js';
import { attempt, collect, onSubmit, renderFields } from '../lib/forms.js';
import { checkText, fmtDate } from '../lib/format.js';
import { checklist } from '../lib/checklists.js';
import { failed, showMessage } from '../lib/messages.js';

var PULL_FIELDS = {
  miniorange: [['baseUrl', 'Base URL', 'https://login.xecurify.com'], ['customerKey', 'Customer key'], ['apiKey', 'API key', '', true]],
  okta: [['baseUrl', 'Okta org URL', 'https://example.okta.com'], ['apiToken', 'API token', '', true], ['appId', 'App id (optional)']],
  entra: [['tenantId', 'Directory (tenant) id'], ['clientId', 'Application (client) id'], ['clientSecret', 'Client secret', '', true]],
  keycloak: [['baseUrl', 'Server URL', 'https://sso.example.com'], ['realm', 'Realm'], ['clientId', 'Client id'], ['clientSecret', 'Client secret', '', true]],
  scim: [['baseUrl', 'SCIM base URL'], ['bearerToken', 'Bearer token', '', true]],
};

export default function init() {
  var selected = null;
  var table = $('#connections-table tbody');
  var addPanel = $('#add-app');
  var addButton = $('#add-app-button');

  function render() {
    return loadConnections().then(function (list) {
      table.textContent = '';
      $('#connections-empty').hidden = list.length > 0;
      list.forEach(function (c) {
        table.appendChild(h('tr', { 'data-connection': c.id },
          h('td', {}, c.name), h('td', {}, c.providerLabel), h('td', {}, h('code', {}, c.scimBaseUrl)), h('td', {}, fmtDate(c.createdAt)),
          h('td', {}, h('button', { type: 'button', class: 'aui-button aui-button-link', onclick: function () { openDetail(c.id); } }, 'Manage ' + c.name))));
      });
    });
  }

  api('GET', '/providers').then(function (body) {
    var box = $('#provider-choices');
    body.providers.forEach(function (p, index) {
      var id = 'provider-' + p.id;
      box.appendChild(h('label', { for: id }, h('input', { type: 'radio', name: 'provider', id: id, value: p.id, checked: index === 0 }), h('span', {}, p.label)));
    });
  }).catch(failed);

  addButton.addEventListener('click', function () {
    addPanel.hidden = false;
    addButton.setAttribute('aria-expanded', 'true');
    $('#app-name').focus();
  });
  $('#cancel-add-app').addEventListener('click', function () { addPanel.hidden = true; addButton.setAttribute('aria-expanded', 'false'); addButton.focus(); });

  function showSecret(scimBaseUrl, secret, provider) {
    $('#scim-base-url').value = scimBaseUrl;
    $('#scim-token').value = secret;
    var box = $('#setup-checklist');
    box.textContent = '';
    if (provider) box.appendChild(checklist(provider));
    var panel = $('#secret-panel');
    panel.hidden = false;
    panel.focus();
  }
  $('#secret-done').addEventListener('click', function () { $('#secret-panel').hidden = true; $('#scim-token').value = ''; });

  onSubmit($('#add-app-form'), function () {
    var checked = $('input[name="provider"]:checked');
    return api('POST', '/connections', { provider: checked ? checked.value : '', name: $('#app-name').value }).then(function (body) {
      addPanel.hidden = true;
      addButton.setAttribute('aria-expanded', 'false');
      $('#app-name').value = '';
      storeConnectionId(body.connection.id);
      showMessage('success', 'Created ' + body.connection.name + '.');
      showSecret(body.connection.scimBaseUrl, body.token, body.connection.provider);
      return render();
    });
  });

  var storedPull = null;
  function openDetail(id) {
    selected = connections.filter(function (c) { return c.id === id; })[0];
    return api('GET', '/connections/' + id).then(function (body) {
      var panel = $('#connection-detail');
      panel.hidden = false;
      $('#detail-heading').textContent = body.connection.name;
      $('#rename-name').value = body.connection.name;
      $('#detail-scim-url').value = body.connection.scimBaseUrl;
      var setup = $('#detail-checklist');
      setup.textContent = '';
      setup.appendChild(checklist(body.connection.provider));
      var tokens = $('#tokens-table tbody');
      tokens.textContent = '';
      body.tokens.forEach(function (t) {
        tokens.appendChild(h('tr', {}, h('td', {}, fmtDate(t.createdAt)), h('td', {}, fmtDate(t.lastUsedAt)), h('td', {}, t.expiresAt ? fmtDate(t.expiresAt) : 'never'),
          h('td', {}, h('span', { class: 'aui-lozenge ' + (t.active ? 'aui-lozenge-success' : 'aui-lozenge-subtle') }, t.active ? 'active' : t.revokedAt ? 'revoked' : 'expired'))));
      });
      storedPull = body.pull;
      $('#pull-kind').value = body.pull ? body.pull.kind : '';
      renderFields($('#pull-fields'), PULL_FIELDS[$('#pull-kind').value] || [], body.pull);
      outcome(null, '');
      $('#delete-name').textContent = body.connection.name;
      $('#detail-heading').focus && panel.scrollIntoView();
    }).catch(failed);
  }

  onSubmit($('#rename-form'), function () {
    return api('PATCH', '/connections/' + selected.id, { name: $('#rename-name').value }).then(function () {
      showMessage('success', 'Renamed.');
      return render().then(function () { return openDetail(selected.id); });
    });
  });

  $('#rotate-token').addEventListener('click', function () {
    api('POST', '/connections/' + selected.id + '/token/rotate', {}).then(function (body) {
      showSecret(body.scimBaseUrl, body.token);
      showMessage('success', 'New token issued. The previous token keeps working until ' + fmtDate(body.previousTokensExpireAt) + '.');
      return openDetail(selected.id);
    }).catch(failed);
  });
  $('#revoke-tokens').addEventListener('click', function () { $('#revoke-confirm').hidden = false; $('#revoke-yes').focus(); });
  $('#revoke-no').addEventListener('click', function () { $('#revoke-confirm').hidden = true; $('#revoke-tokens').focus(); });
  $('#revoke-yes').addEventListener('click', function () {
    api('POST', '/connections/' + selected.id + '/token/revoke', {}).then(function (body) {
      $('#revoke-confirm').hidden = true;
      showMessage('success', body.revoked + ' token(s) revoked.');
      return openDetail(selected.id);
    }).catch(failed);
  });

  $('#pull-kind').addEventListener('change', function () { renderFields($('#pull-fields'), PULL_FIELDS[$('#pull-kind').value] || [], null); });
  onSubmit($('#pull-form'), function () {
    var kind = $('#pull-kind').value;
    if (!kind) return api('DELETE', '/connections/' + selected.id + '/pull').then(function () { showMessage('success', 'Pull credentials removed.'); });
    var body = collect($('#pull-fields'));
    body.kind = kind;
    return api('PUT', '/connections/' + selected.id + '/pull', body).then(function (saved) {
      // Saved either way; the test that ran with the save says whether pulls will work.
      return openDetail(selected.id).then(function () {
        var test = saved && saved.test;
        if (test) outcome(test.ok, checkText(test));
        showMessage(!test || test.ok ? 'success' : 'warning', 'Pull credentials saved.' + (test ? ' Connection test: ' + checkText(test) : ''));
      });
    });
  });

  /** The test's outcome beside the button, always: found, refused, or why it could not be tried. */
  function outcome(ok, text) {
    var box = $('#pull-test-result');
    box.className = 'ugs-test-outcome ' + (ok === null ? '' : ok ? 'ugs-ok' : 'ugs-bad');
    box.textContent = text;
  }
  $('#pull-test').addEventListener('click', function () {
    var form = $('#pull-form');
    attempt(form, function () {
      var kind = $('#pull-kind').value;
      var body = collect($('#pull-fields'));
      // The stored credentials are tested when the form only leaves their secrets empty; otherwise the form is,
      // so a missing field is named ("Enter the API token") instead of "nothing stored".
      var secretsEmpty = $all('input[type="password"]', form).every(function (el) { return el.value === ''; });
      var useStored = storedPull && storedPull.kind === kind && secretsEmpty;
      var complete = kind && !useStored;
      if (complete) body.kind = kind;
      outcome(null, 'Testing…');
      return api('POST', '/connections/' + selected.id + '/pull/test', complete ? body : {}).then(function (result) {
        outcome(result.ok, checkText(result));
      }, function (error) {
        var fields = error.data && error.data.fields;
        outcome(false, 'Not tested: ' + (fields ? Object.keys(fields).map(function (k) { return fields[k]; }).join(' · ') : error.message || 'the request failed'));
        throw error;
      });
    });
  });

  $('#delete-app').addEventListener('click', function () { $('#delete-confirm').hidden = false; $('#delete-yes').focus(); });
  $('#delete-no').addEventListener('click', function () { $('#delete-confirm').hidden = true; $('#delete-app').focus(); });
  $('#delete-yes').addEventListener('click', function () {
    api('DELETE', '/connections/' + selected.id).then(function () {
      $('#delete-confirm').hidden = true;
      $('#connection-detail').hidden = true;
      showMessage('success', 'Deleted ' + selected.name + '.');
      return render();
    }).catch(failed);
  });

  copyButtons(document);
  return render();
}
