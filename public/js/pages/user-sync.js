/** User Sync Settings: allowed operations, deprovisioning, products on create, transforms, leads, safety. */
import { api } from '../lib/api.js';
import { connectionPicker } from '../lib/connections.js';
import { $, $all, fillDatalist, h } from '../lib/dom.js';
import { emptyToNull, loadTargetGroups, settingsPage, transformFrom } from '../lib/settings.js';

export default function init() {
  // Jira Cloud's product keys (POST /rest/api/3/user `products`), shown by the names the products are sold under.
  var products = [['jira-software', 'Jira Software'], ['jira-servicedesk', 'Jira Service Management'], ['jira-core', 'Jira Work Management'], ['jira-product-discovery', 'Jira Product Discovery']];
  var box = $('#products-on-create');
  products.forEach(function (p) {
    var id = 'product-' + p[0];
    box.appendChild(h('div', { class: 'checkbox' }, h('input', { class: 'checkbox', type: 'checkbox', id: id, value: p[0], 'data-product': p[0], 'aria-describedby': 'products-help' }), h('span', { class: 'aui-form-glyph' }), h('label', { for: id, title: p[0] }, p[1])));
  });
  var page = settingsPage('#user-settings-form', ['user', 'safety'], function (state) {
    $all('[data-product]', box).forEach(function (el) { el.checked = state.settings.user.productsOnCreate.indexOf(el.value) >= 0; });
    api('GET', '/connections/' + state.connectionId + '/accounts?limit=100').then(function (body) {
      fillDatalist($('#accounts-list'), body.accounts.map(function (a) { return { value: a.accountId, label: (a.userName || a.email || a.accountId) }; }));
    }).catch(function () {});
    preview();
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
