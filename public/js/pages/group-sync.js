/** Group Sync Settings: manual or on-the-fly mapping with a live preview, default groups. */
import { api } from '../lib/api.js';
import { connectionPicker } from '../lib/connections.js';
import { $, $all, fillDatalist, h } from '../lib/dom.js';
import { clearErrors, readField, showErrors, writeField } from '../lib/forms.js';
import { loadTargetGroups, settingsPage, transformFrom } from '../lib/settings.js';

export default function init() {
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
