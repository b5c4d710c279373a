/** Dates, durations and run phases as the pages show them. */

export function fmtDate(value) {
  if (!value) return '—';
  var d = new Date(value);
  return isNaN(d.getTime()) ? String(value) : d.toLocaleString();
}
export function fmtDuration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return ms + ' ms';
  var s = Math.round(ms / 1000);
  return s < 120 ? s + ' s' : Math.round(s / 60) + ' min';
}

export var PHASES = { reading_directory: 'Reading the IdP directory', reading_targets: 'Reading the targets', planning: 'Planning', awaiting_confirmation: 'Waiting for confirmation', applying: 'Applying changes', done: 'Done', failed: 'Failed' };
