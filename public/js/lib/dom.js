/** DOM helpers shared by every page. Data goes into the page as text nodes only, never as HTML. */
import { flag } from './messages.js';

export function $(selector, root) { return (root || document).querySelector(selector); }
export function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

/** h('td', {class: 'x'}, 'text', childNode): an element with attributes and text/element children. */
export function h(tag, attrs) {
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

export function copyButtons(root) {
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

export function fillDatalist(list, values) {
  if (!list) return;
  list.textContent = '';
  values.forEach(function (v) { list.appendChild(h('option', { value: v.value }, v.label || v.value)); });
}
