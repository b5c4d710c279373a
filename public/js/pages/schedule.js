/** Schedule: when a full sync runs, with the next run times previewed as the admin types. */
import { api } from '../lib/api.js';
import { connectionPicker } from '../lib/connections.js';
import { $, $all, fillDatalist, h } from '../lib/dom.js';
import { clearErrors, onSubmit, showErrors } from '../lib/forms.js';
import { fmtDate, fmtInZone, localZone } from '../lib/format.js';
import { showMessage } from '../lib/messages.js';

export default function init() {
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
    // In the schedule's own zone (what the admin set), labelled, with the viewer's local time beside it.
    var zone = body.schedule && body.schedule.timeZone;
    var local = localZone();
    $('#next-runs-heading').textContent = zone ? 'Next runs (' + zone + ')' : 'Next runs';
    (body.nextRuns || []).forEach(function (d) {
      var here = zone && zone !== local ? h('span', { class: 'description' }, ' — ' + fmtInZone(d, local) + ' your time (' + local + ')') : null;
      list.appendChild(h('li', {}, h('strong', {}, zone ? fmtInZone(d, zone) + ' ' + zone : fmtDate(d)), here));
    });
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
