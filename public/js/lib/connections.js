/** The IdP apps (connections) and the picker the per-connection pages share (remembered in localStorage). */
import { api } from './api.js';
import { $, h } from './dom.js';
import { showMessage } from './messages.js';

var CONNECTION_KEY = 'ugs.connectionId';

export var connections = [];
export function loadConnections() {
  return api('GET', '/connections').then(function (body) { connections = body.connections; return connections; });
}
export function storedConnectionId() {
  try { return window.localStorage.getItem(CONNECTION_KEY); } catch (e) { return null; }
}
export function storeConnectionId(id) {
  try { window.localStorage.setItem(CONNECTION_KEY, id); } catch (e) { /* storage may be blocked in a third-party frame */ }
}

/** Fills the picker; calls onChange(connectionId) now and whenever the admin picks another app. */
export function connectionPicker(onChange) {
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
