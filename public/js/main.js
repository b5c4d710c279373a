/*
 * The admin pages' client (plain ES modules, no build step): wires the page tabs, then loads the module of the
 * page named by <body data-page> (public/js/pages/<page>.js) and runs it. <body data-ready> tells tests and
 * screen readers when the page has loaded its data ("true") or failed ("error").
 */
import { $all } from './lib/dom.js';
import { failed } from './lib/messages.js';

$all('[data-module]').forEach(function (link) {
  link.addEventListener('click', function (event) {
    event.preventDefault();
    window.AP.navigator.go('addonmodule', { moduleKey: link.getAttribute('data-module') });
  });
});

var PAGES = ['idps', 'targets', 'user-sync', 'group-sync', 'schedule', 'synchronize', 'history'];
var page = document.body.getAttribute('data-page');
if (PAGES.indexOf(page) >= 0) {
  import('./pages/' + page + '.js')
    .then(function (module) { return module.default(); })
    .then(function () { document.body.setAttribute('data-ready', 'true'); }, function (error) {
      failed(error);
      document.body.setAttribute('data-ready', 'error');
    });
}
