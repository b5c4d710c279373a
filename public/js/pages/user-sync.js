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

/**
 * What a deactivation in the IdP does on each current target, from GET /api/connections/{id}/deprovisioning.
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
