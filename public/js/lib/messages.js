/** The page banner (#page-message) and Jira's flags. */
import { $, h } from './dom.js';

export function showMessage(kind, text) {
  var box = $('#page-message');
  box.textContent = '';
  if (!text) return;
  box.appendChild(h('div', { class: 'aui-message aui-message-' + kind }, h('p', {}, text)));
}

export function flag(kind, text) {
  showMessage(kind, text);
  if (window.AP.flag) window.AP.flag.create({ type: kind, body: text, close: 'auto' });
}

export function failed(error) {
  if (error.status === 401) showMessage('error', 'Your session has expired or is not valid. Reload the page.');
  else if (error.status === 403) showMessage('error', 'Only Jira administrators can use User & Group Sync.');
  else showMessage('error', error.message || String(error));
}
