/** The User and Group Sync Settings pages' shared form: load, save with the version it was loaded at. */
import { api } from './api.js';
import { $, $all, fillDatalist } from './dom.js';
import { clearErrors, get, onSubmit, readField, set, writeField } from './forms.js';
import { showMessage } from './messages.js';

export function settingsPage(formSelector, sections, afterLoad, beforeSave) {
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
export function transformFrom(out, path) {
  var t = get(out, path);
  if (!t || (!t.pattern && !t.replacement)) set(out, path, null);
}
export function emptyToNull(out, path) { if (get(out, path) === '') set(out, path, null); }

export function loadTargetGroups(list) {
  return api('GET', '/targets').then(function (body) {
    var target = body.targets.filter(function (t) { return t.capabilities.manageMembership; })[0];
    if (!target) return;
    return api('GET', '/targets/' + target.id + '/groups?limit=100').then(function (groups) {
      fillDatalist(list, groups.groups.map(function (g) { return { value: g.name }; }));
    });
  }).catch(function () { /* pickers are a convenience: typing still works */ });
}
