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

/** Target kinds as products (the API also sends targetProduct with each op). */
export var PRODUCT_NAMES = {
  'jira-cloud': 'Jira Cloud', 'confluence-cloud': 'Confluence Cloud', 'bitbucket-cloud': 'Bitbucket Cloud', 'bitbucket-dc': 'Bitbucket Data Center',
  'jira-dc': 'Jira Data Center', 'confluence-dc': 'Confluence Data Center', 'atlassian-org': 'Atlassian organization',
};

/** A connection test's result in a sentence: "OK: …" or "Failed: …". */
export function checkText(check) {
  var text = (check.ok ? 'OK' : 'Failed') + (check.message ? ': ' + check.message : '');
  return check.ok ? text : text + hint(check.message || '');
}

/** What an admin does about the usual failures (the message itself says what the product answered). */
function hint(message) {
  if (/\bcheck\b/i.test(message)) return '';
  if (/\b401\b|unauthori[sz]ed/i.test(message)) return ' — the credentials were refused: check the email and API token';
  if (/\b403\b|forbidden/i.test(message)) return ' — the account lacks the permission: use a site or org admin';
  if (/\b404\b/.test(message)) return ' — nothing found at that address: check the base URL';
  if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|fetch failed|timed? ?out/i.test(message)) return ' — nothing answered: check the base URL and the network';
  return '';
}

/** The viewer's time zone (IANA name), UTC when the browser does not say. */
export function localZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch (e) { return 'UTC'; }
}

/** A time in a given IANA zone: "Thu, 4 Dec 2026, 02:30". */
export function fmtInZone(value, zone) {
  var d = new Date(value);
  if (isNaN(d.getTime())) return String(value);
  try {
    return new Intl.DateTimeFormat(undefined, { timeZone: zone, weekday: 'short', year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }).format(d);
  } catch (e) {
    return d.toLocaleString();
  }
}
