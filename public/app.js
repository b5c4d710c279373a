/*
 * The admin pages' client: every read and write goes through the app's JSON API with a Connect context JWT
 * (AP.context.getToken()). Data is put into the page with textContent only, never as HTML.
 * Field errors from the API ({error: 'validation', fields: {path: message}}) are shown next to the element
 * whose data-field is that path (or its nearest parent path).
 */
(function () {
  'use strict';

  var page = document.body.getAttribute('data-page');
  var CONNECTION_KEY = 'ugs.connectionId';

  // ---- small helpers -------------------------------------------------------------------------------------

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  /** h('td', {class: 'x'}, 'text', childNode): an element with attributes and text/element children. */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === undefined || value === null || value === false) return;
      if (key.slice(0, 2) === 'on') el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? '' : String(value));
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      el.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
    }
    return el;
  }

  function fmtDate(value) {
    if (!value) return '—';
    var d = new Date(value);
    return isNaN(d.getTime()) ? String(value) : d.toLocaleString();
  }
  function fmtDuration(ms) {
    if (ms === null || ms === undefined) return '—';
    if (ms < 1000) return ms + ' ms';
    var s = Math.round(ms / 1000);
    return s < 120 ? s + ' s' : Math.round(s / 60) + ' min';
  }

  function token() {
    return new Promise(function (resolve, reject) {
      var result = window.AP.context.getToken(resolve);
      if (result && typeof result.then === 'function') result.then(resolve, reject);
    });
  }

  function api(method, path, body) {
    return token().then(function (jwt) {
      var headers = { authorization: 'JWT ' + jwt, accept: 'application/json' };
      if (body !== undefined) headers['content-type'] = 'application/json';
      return fetch('/api' + path, { method: method, headers: headers, body: body !== undefined ? JSON.stringify(body) : undefined });
    }).then(function (res) {
      if (res.status === 204) return null;
      var isJson = (res.headers.get('content-type') || '').indexOf('json') >= 0;
      return (isJson ? res.json() : res.text()).then(function (data) {
        if (!res.ok) {
          var error = new Error((data && data.message) || res.statusText);
          error.status = res.status;
          error.data = data;
          throw error;
        }
        return data;
      });
    });
  }

  function qs(params) {
    var parts = Object.keys(params).filter(function (k) { return params[k] !== '' && params[k] !== undefined && params[k] !== null; })
      .map(function (k) { return encodeURIComponent(k) + '=' + encodeURIComponent(params[k]); });
    return parts.length ? '?' + parts.join('&') : '';
  }

  function showMessage(kind, text) {
    var box = $('#page-message');
    box.textContent = '';
    if (!text) return;
    box.appendChild(h('div', { class: 'aui-message aui-message-' + kind }, h('p', {}, text)));
  }

  function flag(kind, text) {
    showMessage(kind, text);
    if (window.AP.flag) window.AP.flag.create({ type: kind, body: text, close: 'auto' });
  }

  function failed(error) {
    if (error.status === 401) showMessage('error', 'Your session has expired or is not valid. Reload the page.');
    else if (error.status === 403) showMessage('error', 'Only Jira administrators can use User & Group Sync.');
    else showMessage('error', error.message || String(error));
  }

  function clearErrors(form) {
    $all('.error[data-error-for]', form).forEach(function (el) { el.remove(); });
    $all('[aria-invalid="true"]', form).forEach(function (el) { el.removeAttribute('aria-invalid'); });
  }

  function fieldElement(form, path) {
    var parts = path.split('.');
    while (parts.length) {
      var el = form.querySelector('[data-field="' + parts.join('.') + '"]');
      if (el) return el;
      parts.pop();
    }
    return null;
  }

  function showErrors(form, fields) {
    var unplaced = [];
    var first = null;
    Object.keys(fields).forEach(function (path, index) {
      var el = path ? fieldElement(form, path) : null;
      if (!el) { unplaced.push((path ? path + ': ' : '') + fields[path]); return; }
      var id = 'error-' + index + '-' + Math.random().toString(36).slice(2, 7);
      var message = h('div', { class: 'error', id: id, 'data-error-for': path }, fields[path]);
      el.setAttribute('aria-invalid', 'true');
      el.setAttribute('aria-describedby', ((el.getAttribute('aria-describedby') || '') + ' ' + id).trim());
      el.parentNode.insertBefore(message, el.nextSibling);
      if (!first) first = el;
    });
    showMessage('error', unplaced.length ? unplaced.join('; ') : 'Some fields need attention.');
    if (first && first.focus) first.focus();
  }

  /** Runs a form action: clears old errors, shows field errors inline, other failures on top. */
  function attempt(form, action) {
    clearErrors(form);
    return Promise.resolve().then(action).catch(function (error) {
      if (error.data && error.data.fields) showErrors(form, error.data.fields);
      else failed(error);
    });
  }

  function onSubmit(form, action) {
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      attempt(form, action);
    });
  }

  /** Value of a form field by its data-field path, typed by its element. */
  function readField(el) {
    if (el.type === 'checkbox') return el.checked;
    if (el.getAttribute('data-list') !== null) return el.value.split(',').map(function (s) { return s.trim(); }).filter(Boolean);
    if (el.getAttribute('data-lines') !== null) return el.value.split('\n').map(function (s) { return s.trim(); }).filter(Boolean);
    if (el.getAttribute('data-type') === 'number') return el.value === '' ? null : Number(el.value);
    return el.value;
  }
  function writeField(el, value) {
    if (el.type === 'checkbox') el.checked = Boolean(value);
    else if (el.getAttribute('data-list') !== null) el.value = (value || []).join(', ');
    else if (el.getAttribute('data-lines') !== null) el.value = (value || []).join('\n');
    else el.value = value === null || value === undefined ? '' : String(value);
  }
  function get(obj, path) {
    return path.split('.').reduce(function (o, k) { return o === null || o === undefined ? undefined : o[k]; }, obj);
  }
  function set(obj, path, value) {
    var keys = path.split('.');
    var o = obj;
    keys.slice(0, -1).forEach(function (k) { if (typeof o[k] !== 'object' || o[k] === null) o[k] = {}; o = o[k]; });
    o[keys[keys.length - 1]] = value;
  }

  function copyButtons(root) {
    $all('[data-copy]', root).forEach(function (button) {
      button.addEventListener('click', function () {
        var input = document.getElementById(button.getAttribute('data-copy'));
        input.select();
        var done = function () { flag('success', 'Copied'); };
        if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand('copy'); done(); });
        else { document.execCommand('copy'); done(); }
      });
    });
  }

  function fillDatalist(list, values) {
    if (!list) return;
    list.textContent = '';
    values.forEach(function (v) { list.appendChild(h('option', { value: v.value }, v.label || v.value)); });
  }

  // ---- navigation and the connection picker ------------------------------------------------------------

  $all('[data-module]').forEach(function (link) {
    link.addEventListener('click', function (event) {
      event.preventDefault();
      window.AP.navigator.go('addonmodule', { moduleKey: link.getAttribute('data-module') });
    });
  });

  var connections = [];
  function loadConnections() {
    return api('GET', '/connections').then(function (body) { connections = body.connections; return connections; });
  }
  function storedConnectionId() {
    try { return window.localStorage.getItem(CONNECTION_KEY); } catch (e) { return null; }
  }
  function storeConnectionId(id) {
    try { window.localStorage.setItem(CONNECTION_KEY, id); } catch (e) { /* storage may be blocked in a third-party frame */ }
  }

  /** Fills the picker; calls onChange(connectionId) now and whenever the admin picks another app. */
  function connectionPicker(onChange) {
    var select = $('#connection-select');
    return loadConnections().then(function (list) {
      if (!list.length) {
        $('#no-connection').hidden = false;
        $('.ugs-connection-picker').hidden = true;
        $('#content').hidden = true;
        return;
      }
      list.forEach(function (c) { select.appendChild(h('option', { value: c.id }, c.name + ' (' + c.providerLabel + ')')); });
      var wanted = storedConnectionId();
      select.value = list.some(function (c) { return c.id === wanted; }) ? wanted : list[0].id;
      select.addEventListener('change', function () { storeConnectionId(select.value); showMessage(); onChange(select.value); });
      return onChange(select.value);
    });
  }

  // ---- Configured IdPs ------------------------------------------------------------------------------------

  var PULL_FIELDS = {
    miniorange: [['baseUrl', 'Base URL', 'https://login.xecurify.com'], ['customerKey', 'Customer key'], ['apiKey', 'API key', '', true]],
    okta: [['baseUrl', 'Okta org URL', 'https://example.okta.com'], ['apiToken', 'API token', '', true], ['appId', 'App id (optional)']],
    entra: [['tenantId', 'Directory (tenant) id'], ['clientId', 'Application (client) id'], ['clientSecret', 'Client secret', '', true]],
    keycloak: [['baseUrl', 'Server URL', 'https://sso.example.com'], ['realm', 'Realm'], ['clientId', 'Client id'], ['clientSecret', 'Client secret', '', true]],
    scim: [['baseUrl', 'SCIM base URL'], ['bearerToken', 'Bearer token', '', true]],
  };

  function renderFields(container, specs, values, prefix) {
    container.textContent = '';
    specs.forEach(function (spec) {
      var name = (prefix ? prefix + '.' : '') + spec[0];
      var id = 'field-' + name.replace(/\./g, '-');
      var secret = spec[3];
      var input = h('input', { class: 'text long-field', id: id, name: name, 'data-field': name, type: secret ? 'password' : 'text', placeholder: secret && values && values[spec[0]] ? 'Stored — leave empty to keep' : spec[2] || '', autocomplete: 'off' });
      if (values && !secret && values[spec[0]] !== undefined) input.value = values[spec[0]];
      container.appendChild(h('div', { class: 'field-group' }, h('label', { for: id }, spec[1]), input));
    });
  }

  function collect(container) {
    var out = {};
    $all('[data-field]', container).forEach(function (el) {
      var value = readField(el);
      if (value === '' && el.type === 'password') return;
      if (value === '') return;
      set(out, el.getAttribute('data-field'), value);
    });
    return out;
  }

  function initIdps() {
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

    function showSecret(scimBaseUrl, secret) {
      $('#scim-base-url').value = scimBaseUrl;
      $('#scim-token').value = secret;
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
        showSecret(body.connection.scimBaseUrl, body.token);
        return render();
      });
    });

    function openDetail(id) {
      selected = connections.filter(function (c) { return c.id === id; })[0];
      return api('GET', '/connections/' + id).then(function (body) {
        var panel = $('#connection-detail');
        panel.hidden = false;
        $('#detail-heading').textContent = body.connection.name;
        $('#rename-name').value = body.connection.name;
        $('#detail-scim-url').value = body.connection.scimBaseUrl;
        var tokens = $('#tokens-table tbody');
        tokens.textContent = '';
        body.tokens.forEach(function (t) {
          tokens.appendChild(h('tr', {}, h('td', {}, fmtDate(t.createdAt)), h('td', {}, fmtDate(t.lastUsedAt)), h('td', {}, t.expiresAt ? fmtDate(t.expiresAt) : 'never'),
            h('td', {}, h('span', { class: 'aui-lozenge ' + (t.active ? 'aui-lozenge-success' : 'aui-lozenge-subtle') }, t.active ? 'active' : t.revokedAt ? 'revoked' : 'expired'))));
        });
        $('#pull-kind').value = body.pull ? body.pull.kind : '';
        renderFields($('#pull-fields'), PULL_FIELDS[$('#pull-kind').value] || [], body.pull);
        $('#pull-test-result').textContent = '';
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
      return api('PUT', '/connections/' + selected.id + '/pull', body).then(function () { showMessage('success', 'Pull credentials saved.'); return openDetail(selected.id); });
    });
    $('#pull-test').addEventListener('click', function () {
      var form = $('#pull-form');
      attempt(form, function () {
        var kind = $('#pull-kind').value;
        var body = collect($('#pull-fields'));
        var complete = kind && $all('input[type="password"]', form).every(function (el) { return el.value !== ''; });
        if (complete) body.kind = kind;
        $('#pull-test-result').textContent = 'Testing…';
        return api('POST', '/connections/' + selected.id + '/pull/test', complete ? body : {}).then(function (result) {
          var box = $('#pull-test-result');
          box.textContent = '';
          box.appendChild(h('div', { class: 'aui-message aui-message-' + (result.ok ? 'success' : 'error') }, h('p', {}, result.message)));
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

  // ---- Targets ----------------------------------------------------------------------------------------------

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

  function initTargets() {
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
          var check = t.lastCheck ? (t.lastCheck.ok ? 'OK' : 'Failed: ' + t.lastCheck.message) : 'not tested';
          tbody.appendChild(h('tr', {},
            h('td', {}, t.name), h('td', {}, t.kind), h('td', {}, h('code', {}, t.baseUrl)), h('td', {}, can || '—', t.sharesDirectoryWith ? ' (shares users and groups with Jira)' : ''),
            h('td', {}, check),
            h('td', {},
              h('button', { type: 'button', class: 'aui-button', onclick: function () { testTarget(t); } }, 'Test connection'), ' ',
              h('button', { type: 'button', class: 'aui-button', onclick: function () { edit(t); } }, 'Edit'), ' ',
              h('button', { type: 'button', class: 'aui-button', onclick: function () { removeTarget(t); } }, 'Delete'))));
        });
      });
    }

    function testTarget(t) {
      var box = $('#target-test-result');
      box.textContent = 'Testing ' + t.name + '…';
      api('POST', '/targets/' + t.id + '/test', {}).then(function (result) {
        box.textContent = '';
        box.appendChild(h('div', { class: 'aui-message aui-message-' + (result.ok ? 'success' : 'error') }, h('p', {}, t.name + ': ' + result.message)));
        return render();
      }).catch(failed);
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
      return request.then(function () { panel.hidden = true; showMessage('success', 'Target saved.'); return render(); });
    });

    fields();
    return render();
  }

  // ---- User and Group Sync Settings -----------------------------------------------------------------------

  function settingsPage(formSelector, sections, afterLoad, beforeSave) {
    var form = $(formSelector);
    var state = { connectionId: null, version: null, settings: null };

    function load(connectionId) {
      state.connectionId = connectionId;
      clearErrors(form);
      return api('GET', '/connections/' + connectionId + '/settings').then(function (body) {
        state.version = body.version;
        state.settings = body.settings;
        $all('[data-field]', form).forEach(function (el) {
          var path = el.getAttribute('data-field');
          if (el.type === 'radio') return;
          if (el.tagName === 'DIV' || el.tagName === 'TABLE') return;
          writeField(el, get(body.settings, path));
        });
        return afterLoad(state);
      });
    }

    onSubmit(form, function () {
      var out = {};
      sections.forEach(function (s) { out[s] = JSON.parse(JSON.stringify(state.settings[s])); });
      $all('[data-field]', form).forEach(function (el) {
        if (el.tagName === 'DIV' || el.tagName === 'TABLE' || el.type === 'radio') return;
        set(out, el.getAttribute('data-field'), readField(el));
      });
      beforeSave(out);
      return api('PUT', '/connections/' + state.connectionId + '/settings', { settings: out, expectedVersion: state.version }).then(function (body) {
        state.version = body.version;
        state.settings = body.settings;
        showMessage('success', body.changes.length ? 'Saved (' + body.changes.length + ' change' + (body.changes.length === 1 ? '' : 's') + ').' : 'Nothing changed.');
      });
    });
    return { load: load, state: state, form: form };
  }

  /** Pattern + replacement inputs → a transform, or null when both are empty. */
  function transformFrom(out, path) {
    var t = get(out, path);
    if (!t || (!t.pattern && !t.replacement)) set(out, path, null);
  }
  function emptyToNull(out, path) { if (get(out, path) === '') set(out, path, null); }

  function loadTargetGroups(list) {
    return api('GET', '/targets').then(function (body) {
      var target = body.targets.filter(function (t) { return t.capabilities.manageMembership; })[0];
      if (!target) return;
      return api('GET', '/targets/' + target.id + '/groups?limit=100').then(function (groups) {
        fillDatalist(list, groups.groups.map(function (g) { return { value: g.name }; }));
      });
    }).catch(function () { /* pickers are a convenience: typing still works */ });
  }

  function initUserSync() {
    var products = ['jira-software', 'jira-servicedesk', 'jira-core', 'jira-product-discovery'];
    var box = $('#products-on-create');
    products.forEach(function (p) {
      var id = 'product-' + p;
      box.appendChild(h('div', { class: 'checkbox' }, h('input', { class: 'checkbox', type: 'checkbox', id: id, value: p, 'data-product': p }), h('span', { class: 'aui-form-glyph' }), h('label', { for: id }, p)));
    });
    var page = settingsPage('#user-settings-form', ['user', 'safety'], function (state) {
      $all('[data-product]', box).forEach(function (el) { el.checked = state.settings.user.productsOnCreate.indexOf(el.value) >= 0; });
      api('GET', '/connections/' + state.connectionId + '/accounts?limit=100').then(function (body) {
        fillDatalist($('#accounts-list'), body.accounts.map(function (a) { return { value: a.accountId, label: (a.userName || a.email || a.accountId) }; }));
      }).catch(function () {});
      preview();
      renderDeprovisionPreview($('#deprovision-preview'), state.connectionId);
    }, function (out) {
      out.user.productsOnCreate = $all('[data-product]', box).filter(function (el) { return el.checked; }).map(function (el) { return el.value; });
      transformFrom(out, 'user.usernameTransform');
      transformFrom(out, 'user.emailTransform');
      emptyToNull(out, 'user.defaultProjectLead');
      emptyToNull(out, 'user.defaultComponentLead');
    });

    var timer = null;
    function preview() {
      var sample = $('#transform-sample').value;
      var target = $('#transform-preview');
      if (!sample) { target.textContent = ''; return; }
      var useEmail = sample.indexOf('@') >= 0 && $('#email-pattern').value;
      var pattern = useEmail ? $('#email-pattern').value : $('#username-pattern').value;
      var replacement = useEmail ? $('#email-replacement').value : $('#username-replacement').value;
      api('POST', '/rules/preview', { names: [sample], transform: pattern ? { pattern: pattern, replacement: replacement } : null }).then(function (body) {
        target.textContent = sample + ' → ' + body.results[0].output;
      }).catch(function (error) { target.textContent = error.data && error.data.fields ? Object.values(error.data.fields).join('; ') : error.message; });
    }
    ['#transform-sample', '#username-pattern', '#username-replacement', '#email-pattern', '#email-replacement'].forEach(function (sel) {
      $(sel).addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(preview, 250); });
    });
    loadTargetGroups($('#target-groups-list'));
    return connectionPicker(page.load);
  }

  function initGroupSync() {
    var tbody = $('#mapping-table tbody');
    var idpGroups = [];

    function addRow(mapping) {
      var index = tbody.children.length;
      var idpId = 'mapping-idp-' + index + '-' + Math.random().toString(36).slice(2, 6);
      var targetId = idpId.replace('idp', 'target');
      var row = h('tr', { 'data-mapping-row': '' },
        h('td', {}, h('label', { for: idpId, class: 'assistive' }, 'IdP group'), h('input', { class: 'text', id: idpId, list: 'idp-groups-list', 'data-mapping': 'idpGroup', autocomplete: 'off' })),
        h('td', {}, h('label', { for: targetId, class: 'assistive' }, 'Target groups'), h('input', { class: 'text long-field', id: targetId, list: 'target-groups-list', 'data-mapping': 'targetGroups', autocomplete: 'off' })),
        h('td', {}, h('button', { type: 'button', class: 'aui-button aui-button-link', onclick: function () { row.remove(); renumber(); } }, 'Remove')));
      tbody.appendChild(row);
      $('[data-mapping="idpGroup"]', row).value = mapping ? mapping.idpGroup : '';
      $('[data-mapping="targetGroups"]', row).value = mapping ? mapping.targetGroups.join(', ') : '';
      renumber();
      return row;
    }
    /** Each row's inputs carry their settings path so the API's field errors land on the right cell. */
    function renumber() {
      $all('tr', tbody).forEach(function (row, i) {
        $('[data-mapping="idpGroup"]', row).setAttribute('data-field', 'group.manual.mappings.' + i + '.idpGroup');
        $('[data-mapping="targetGroups"]', row).setAttribute('data-field', 'group.manual.mappings.' + i + '.targetGroups');
      });
    }
    $('#add-mapping').addEventListener('click', function () { $('input', addRow(null)).focus(); });

    function mode() {
      var checked = $('input[name="group.mapping"]:checked');
      var value = checked ? checked.value : 'none';
      $('#manual-section').hidden = value !== 'manual';
      $('#otf-section').hidden = value !== 'on-the-fly';
      return value;
    }
    $all('input[name="group.mapping"]').forEach(function (el) { el.addEventListener('change', function () { mode(); preview(); }); });

    var page = settingsPage('#group-settings-form', ['group'], function (state) {
      var g = state.settings.group;
      $all('input[name="group.mapping"]').forEach(function (el) { el.checked = el.value === g.mapping; });
      mode();
      tbody.textContent = '';
      g.manual.mappings.forEach(addRow);
      writeField($('#otf-pattern'), g.onTheFly.rename ? g.onTheFly.rename.pattern : '');
      writeField($('#otf-replacement'), g.onTheFly.rename ? g.onTheFly.rename.replacement : '');
      return api('GET', '/connections/' + state.connectionId + '/directory/groups?limit=100').then(function (body) {
        idpGroups = body.groups.map(function (x) { return x.displayName; });
        fillDatalist($('#idp-groups-list'), idpGroups.map(function (n) { return { value: n }; }));
        preview();
      });
    }, function (out) {
      var checked = $('input[name="group.mapping"]:checked');
      out.group.mapping = checked ? checked.value : 'none';
      out.group.manual.mappings = $all('tr', tbody).map(function (row) {
        return {
          idpGroup: $('[data-mapping="idpGroup"]', row).value.trim(),
          targetGroups: $('[data-mapping="targetGroups"]', row).value.split(',').map(function (s) { return s.trim(); }).filter(Boolean),
        };
      });
      transformFrom(out, 'group.onTheFly.rename');
    });

    var timer = null;
    function preview() {
      if (mode() !== 'on-the-fly') return;
      var typed = $('#preview-name').value.trim();
      var names = (typed ? [typed] : []).concat(idpGroups.slice(0, 50));
      var pattern = $('#otf-pattern').value;
      var body = {
        names: names,
        transform: pattern ? { pattern: pattern, replacement: $('#otf-replacement').value } : null,
        filters: { include: readField($('#otf-include')), exclude: readField($('#otf-exclude')) },
      };
      var tb = $('#preview-table tbody');
      api('POST', '/rules/preview', body).then(function (result) {
        clearErrors(page.form);
        tb.textContent = '';
        result.results.forEach(function (r) {
          tb.appendChild(h('tr', {}, h('td', {}, r.input), h('td', {}, r.kept ? r.output : '—'),
            h('td', { class: r.kept ? 'ugs-kept' : 'ugs-dropped' }, r.kept ? 'synced' : 'filtered out')));
        });
      }).catch(function (error) {
        if (error.data && error.data.fields) {
          var mapped = {};
          Object.keys(error.data.fields).forEach(function (k) {
            mapped[k.replace(/^transform/, 'group.onTheFly.rename').replace(/^filters/, 'group.onTheFly.filters')] = error.data.fields[k];
          });
          clearErrors(page.form);
          showErrors(page.form, mapped);
        }
      });
    }
    ['#preview-name', '#otf-pattern', '#otf-replacement', '#otf-include', '#otf-exclude'].forEach(function (sel) {
      $(sel).addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(preview, 250); });
    });
    loadTargetGroups($('#target-groups-list'));
    return connectionPicker(page.load);
  }

  // ---- Schedule ---------------------------------------------------------------------------------------------

  function initSchedule() {
    var form = $('#schedule-form');
    var connectionId = null;
    var zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : ['UTC'];
    fillDatalist($('#time-zones'), zones.map(function (z) { return { value: z }; }));

    function kind() { return $('#schedule-kind').value; }
    function visible() {
      $all('[data-kinds]', form).forEach(function (group) { group.hidden = group.getAttribute('data-kinds').split(' ').indexOf(kind()) < 0; });
    }
    function current() {
      var k = kind();
      if (k === 'none') return null;
      var out = { kind: k, timeZone: $('#schedule-tz').value };
      if (k === 'hourly' || k === 'everyNHours') out.minute = Number($('#schedule-minute').value);
      if (k === 'everyNHours') out.hours = Number($('#schedule-hours').value);
      if (k === 'daily' || k === 'weekly') out.time = $('#schedule-time').value;
      if (k === 'weekly') out.day = $('#schedule-day').value;
      if (k === 'twiceDaily') out.times = [$('#schedule-time-1').value, $('#schedule-time-2').value];
      if (k === 'cron') out.expression = $('#schedule-expression').value;
      return out;
    }
    function show(body) {
      $('#schedule-description').textContent = body.description ? 'Runs ' + body.description + '.' : 'No schedule.';
      var list = $('#next-runs');
      list.textContent = '';
      (body.nextRuns || []).forEach(function (d) { list.appendChild(h('li', {}, fmtDate(d))); });
    }
    var timer = null;
    function preview() {
      var schedule = current();
      clearErrors(form);
      if (!schedule) return show({ description: null, nextRuns: [] });
      api('POST', '/schedule/preview', { schedule: schedule }).then(show).catch(function (error) {
        if (error.data && error.data.fields) { showErrors(form, error.data.fields); show({ description: null, nextRuns: [] }); }
      });
    }
    $('#schedule-kind').addEventListener('change', function () { visible(); preview(); });
    $all('input, select', form).forEach(function (el) { if (el.id !== 'schedule-kind') el.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(preview, 300); }); });

    function load(id) {
      connectionId = id;
      return api('GET', '/connections/' + id + '/schedule').then(function (body) {
        var s = body.schedule;
        $('#schedule-kind').value = s ? s.kind : 'none';
        $('#schedule-tz').value = s ? s.timeZone : Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
        if (s && s.minute !== undefined) $('#schedule-minute').value = s.minute;
        if (s && s.hours) $('#schedule-hours').value = String(s.hours);
        if (s && s.time) $('#schedule-time').value = s.time;
        if (s && s.day) $('#schedule-day').value = s.day;
        if (s && s.times) { $('#schedule-time-1').value = s.times[0]; $('#schedule-time-2').value = s.times[1]; }
        if (s && s.expression) $('#schedule-expression').value = s.expression;
        visible();
        show(body);
      });
    }
    onSubmit(form, function () {
      return api('PUT', '/connections/' + connectionId + '/schedule', { schedule: current() }).then(function (body) {
        show(body);
        showMessage('success', 'Schedule saved.');
      });
    });
    visible();
    return connectionPicker(load);
  }

  // ---- Synchronize ------------------------------------------------------------------------------------------

  var PHASES = { reading_directory: 'Reading the IdP directory', reading_targets: 'Reading the targets', planning: 'Planning', awaiting_confirmation: 'Waiting for confirmation', applying: 'Applying changes', done: 'Done', failed: 'Failed' };

  function opLabel(op) {
    var d = op.detail || {};
    var account = d.account || {};
    var user = d.userName || d.email || account.userName || account.emailAddress || account.email || op.accountId || '';
    var who = op.groupName ? op.groupName + (user && op.kind.indexOf('member') >= 0 ? ' ← ' + user : '') : user || d.projectKey || '';
    return { change: op.kind.replace(/_/g, ' ').replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase(), who: String(who) };
  }

  function initSynchronize() {
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
      lozenge.className = 'aui-lozenge ' + (state === 'succeeded' || state === 'done' ? 'aui-lozenge-success' : state === 'failed' || state === 'partial' ? 'aui-lozenge-error' : state === 'awaiting_confirmation' || state === 'succeeded_with_warnings' ? 'aui-lozenge-moved' : 'aui-lozenge-current');
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

  // ---- History ------------------------------------------------------------------------------------------

  function initHistory() {
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
            h('td', {}, run.trigger + (run.dryRun ? ' (dry run)' : '')),
            h('td', {}, h('span', { class: 'aui-lozenge' + (run.status === 'succeeded' ? ' aui-lozenge-success' : run.status === 'failed' || run.status === 'partial' ? ' aui-lozenge-error' : run.status === 'succeeded_with_warnings' ? ' aui-lozenge-moved' : '') }, run.status === 'succeeded_with_warnings' ? 'succeeded with warnings' : run.status)),
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
        [['Status', run.status], ['Phase', PHASES[run.phase] || run.phase], ['Trigger', run.trigger + (run.dryRun ? ' (dry run)' : '')], ['Mode', run.mode],
          ['Changes', run.opsTotal + ' planned, ' + run.opsSucceeded + ' done, ' + run.opsFailed + ' failed, ' + run.opsSkipped + ' skipped'],
          ['Write calls', run.writeCalls], ['Duration', fmtDuration(run.durationMs)], ['Started by', run.actor || run.trigger], ['Error', run.error || '—']]
          .forEach(function (pair) { dl.appendChild(h('dt', {}, pair[0])); dl.appendChild(h('dd', {}, String(pair[1]))); });
        renderRunWarnings(dl, run);
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
          var label = opLabel(op);
          tbody.appendChild(h('tr', {}, h('td', {}, op.seq), h('td', {}, label.change), h('td', {}, label.who), h('td', {}, op.status), h('td', {}, op.error || '')));
        });
        if (!body.ops.length) tbody.appendChild(h('tr', {}, h('td', { colspan: 5 }, 'No operations.')));
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
          tbody.appendChild(h('tr', {}, h('td', {}, fmtDate(e.createdAt)), h('td', {}, e.actor), h('td', {}, e.action), h('td', {}, h('code', {}, JSON.stringify(e.details).slice(0, 300)))));
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

  /** A run that succeeded with warnings: who keeps access and why, under the run's summary. */
  function renderRunWarnings(dl, run) {
    var warnings = (run.summary && run.summary.warnings) || [];
    if (!warnings.length) return;
    var more = (run.summary.warningCount || warnings.length) - Math.min(warnings.length, 50);
    dl.appendChild(h('dt', {}, 'Warnings'));
    dl.appendChild(h('dd', {}, h('ul', { class: 'ugs-warnings' }, warnings.slice(0, 50).map(function (w) { return h('li', {}, w.message); }).reduce(function (ul, li) { ul.appendChild(li); return ul; }, document.createDocumentFragment())),
      more > 0 ? ' … and ' + more + ' more (all in the CSV export).' : null));
  }

  /**
   * User Sync page: what a deactivation in the IdP does on each current target, from
   * GET /api/connections/{id}/deprovisioning. Self-contained: needs only a container element and the connection.
   */
  function renderDeprovisionPreview(container, connectionId) {
    if (!container || !connectionId) return Promise.resolve();
    container.textContent = 'Loading what a deactivation does…';
    return api('GET', '/connections/' + connectionId + '/deprovisioning').then(function (body) {
      container.textContent = '';
      if (!body.onInactive.length) { container.appendChild(h('p', {}, 'No targets yet: add one on the Targets page.')); return; }
      var list = h('ul', { class: 'ugs-deprovision-preview' });
      body.onInactive.forEach(function (t) {
        list.appendChild(h('li', { 'data-target-id': t.targetId, 'data-effect': t.effect },
          h('strong', {}, t.name), ' (' + t.kind + '): ', t.sentence,
          t.warning ? h('span', { class: 'aui-lozenge aui-lozenge-moved', title: t.warning }, 'access may remain') : null));
      });
      container.appendChild(list);
    }).catch(function (error) { container.textContent = 'Could not load what a deactivation does: ' + error.message; });
  }

  var PAGES = { idps: initIdps, targets: initTargets, 'user-sync': initUserSync, 'group-sync': initGroupSync, schedule: initSchedule, synchronize: initSynchronize, history: initHistory };
  var init = PAGES[page];
  if (init) {
    Promise.resolve().then(init).then(function () { document.body.setAttribute('data-ready', 'true'); }, function (error) {
      failed(error);
      document.body.setAttribute('data-ready', 'error');
    });
  }
})();
