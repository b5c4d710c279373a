/**
 * Forms: field errors from the API ({error: 'validation', fields: {path: message}}) are shown next to the
 * element whose data-field is that path (or its nearest parent path); values are read and written by that path.
 */
import { $all, h } from './dom.js';
import { failed, showMessage } from './messages.js';

export function clearErrors(form) {
  $all('.error[data-error-for]', form).forEach(function (el) { el.remove(); });
  $all('[aria-invalid="true"]', form).forEach(function (el) { el.removeAttribute('aria-invalid'); });
}

export function fieldElement(form, path) {
  var parts = path.split('.');
  while (parts.length) {
    var el = form.querySelector('[data-field="' + parts.join('.') + '"]');
    if (el) return el;
    parts.pop();
  }
  return null;
}

/** The visible name of a field (its label without the required marker), for the banner. */
function labelOf(form, el) {
  var label = el.id ? form.querySelector('label[for="' + el.id + '"]') : null;
  if (!label) return '';
  var copy = label.cloneNode(true);
  $all('.icon-required, .assistive', copy).forEach(function (marker) { marker.remove(); });
  return copy.textContent.trim();
}

/**
 * Each message goes beside its field, and the banner repeats them all (named by the field's label), so a
 * message is seen whether the field is in view or not.
 */
export function showErrors(form, fields) {
  var lines = [];
  var first = null;
  Object.keys(fields).forEach(function (path, index) {
    var el = path ? fieldElement(form, path) : null;
    if (!el) { lines.push(fields[path]); return; }
    var id = 'error-' + index + '-' + Math.random().toString(36).slice(2, 7);
    var message = h('div', { class: 'error', id: id, 'data-error-for': path }, fields[path]);
    el.setAttribute('aria-invalid', 'true');
    el.setAttribute('aria-describedby', ((el.getAttribute('aria-describedby') || '') + ' ' + id).trim());
    el.parentNode.insertBefore(message, el.nextSibling);
    var label = labelOf(form, el);
    lines.push(label ? label + ': ' + fields[path] : fields[path]);
    if (!first) first = el;
  });
  showMessage('error', (lines.length > 1 ? 'Check these fields: ' : '') + lines.join(' · '));
  if (first && first.focus) first.focus();
}

/** Runs a form action: clears old errors, shows field errors inline, other failures on top. */
export function attempt(form, action) {
  clearErrors(form);
  return Promise.resolve().then(action).catch(function (error) {
    if (error.data && error.data.fields) showErrors(form, error.data.fields);
    else failed(error);
  });
}

export function onSubmit(form, action) {
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    attempt(form, action);
  });
}

/** Value of a form field by its data-field path, typed by its element. */
export function readField(el) {
  if (el.type === 'checkbox') return el.checked;
  if (el.getAttribute('data-list') !== null) return el.value.split(',').map(function (s) { return s.trim(); }).filter(Boolean);
  if (el.getAttribute('data-lines') !== null) return el.value.split('\n').map(function (s) { return s.trim(); }).filter(Boolean);
  if (el.getAttribute('data-type') === 'number') return el.value === '' ? null : Number(el.value);
  return el.value;
}
export function writeField(el, value) {
  if (el.type === 'checkbox') el.checked = Boolean(value);
  else if (el.getAttribute('data-list') !== null) el.value = (value || []).join(', ');
  else if (el.getAttribute('data-lines') !== null) el.value = (value || []).join('\n');
  else el.value = value === null || value === undefined ? '' : String(value);
}
export function get(obj, path) {
  return path.split('.').reduce(function (o, k) { return o === null || o === undefined ? undefined : o[k]; }, obj);
}
export function set(obj, path, value) {
  var keys = path.split('.');
  var o = obj;
  keys.slice(0, -1).forEach(function (k) { if (typeof o[k] !== 'object' || o[k] === null) o[k] = {}; o = o[k]; });
  o[keys[keys.length - 1]] = value;
}

export function renderFields(container, specs, values, prefix) {
  container.textContent = '';
  specs.forEach(function (spec) {
    var name = (prefix ? prefix + '.' : '') + spec[0];
    var id = 'field-' + name.replace(/\./g, '-');
    var secret = spec[3];
    var stored = secret && values && values[spec[0]];
    // Required unless the label says optional, or a stored secret may be kept by leaving the field empty.
    var required = !/\(optional\)/.test(spec[1]) && !stored;
    var input = h('input', { class: 'text long-field', id: id, name: name, 'data-field': name, type: secret ? 'password' : 'text', placeholder: stored ? 'Stored — leave empty to keep' : spec[2] || '', autocomplete: 'off', 'aria-required': required ? 'true' : null });
    if (values && !secret && values[spec[0]] !== undefined) input.value = values[spec[0]];
    container.appendChild(h('div', { class: 'field-group' }, h('label', { for: id }, spec[1], required ? requiredMarker() : null), input));
  });
}

export function collect(container) {
  var out = {};
  $all('[data-field]', container).forEach(function (el) {
    var value = readField(el);
    if (value === '' && el.type === 'password') return;
    if (value === '') return;
    set(out, el.getAttribute('data-field'), value);
  });
  return out;
}

/** AUI's required marker (an icon whose text "required" is read by screen readers). */
export function requiredMarker() {
  return h('span', { class: 'aui-icon icon-required' }, 'required');
}
