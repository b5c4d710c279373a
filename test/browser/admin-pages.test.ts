import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium, type BrowserContext, type Frame, type Page } from 'playwright-core';
import { createApp } from '../../src/app';
import type { JobsService } from '../../src/jobs/service';
import { createSyncServices } from '../../src/runtime';
import { SecretBox } from '../../src/security/crypto';
import { projectRoot } from '../../src/db/migrate';
import { FakeJiraCloud } from '../fakes/fake-jira-cloud';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { silentLogger, testConfig } from '../helpers/runtime';
import { ZOD_DEFAULT_PHRASES } from '../../src/web/validation';

/**
 * The admin pages in Debian's chromium, through the /dev stand-in Jira host, against the real app on a random
 * port over a test database, with the sync worker running and a fake Jira Cloud on loopback as the target.
 * One browser and one page for the whole file. Screenshots of every page go to test-artifacts/screenshots/.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOTS = path.join(projectRoot(), 'test-artifacts', 'screenshots');
const haveChromium = fs.existsSync(CHROMIUM);
const describeIfChromium = haveChromium ? describe : describe.skip;
if (!haveChromium) console.warn(`Browser tests skipped: no chromium at ${CHROMIUM} (apt-get install -y chromium)`);

jest.setTimeout(180_000);

describeIfChromium('admin pages in a browser', () => {
  let tdb: TestDatabase;
  let server: http.Server;
  let baseUrl: string;
  let jira: FakeJiraCloud;
  let jobs: JobsService;
  let browser: BrowserContext;
  let page: Page;
  let userDataDir: string;

  beforeAll(async () => {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    tdb = await createTestDatabase();
    jira = new FakeJiraCloud({ credentials: { 'admin@example.com': 'jira-token' } });
    await jira.start();
    // SCIM pushes queue a debounced incremental sync; a long debounce keeps it waiting so the dry run below
    // sees the pushed users as not yet in Jira. Synchronize then joins that queued job and runs it at once.
    const config = testConfig({ DEV_HOST_ENABLED: 'true', JOBS_POLL_MS: '200', JOBS_CHANGE_DEBOUNCE_MS: '600000' });
    const secrets = SecretBox.fromKeyList(config.encryptionKeys!);
    const logger = silentLogger();
    // A short heartbeat: a cancelled job learns of it within half a second.
    const services = createSyncServices({ config, db: tdb.db, logger, secrets }, { jobs: { scheduler: false, pollMs: 200, heartbeatMs: 500 } });
    jobs = services.jobs;
    const engine = services.engine;
    const app = createApp({ config, db: tdb.db, logger, secrets, web: { jobs, engine } });
    await app.ready;
    jobs.start();
    server = http.createServer(app.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ugs-chromium-'));
    // A fresh profile per run (playwright passes it to chromium as --user-data-dir).
    browser = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 800 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    // Nothing but loopback: Atlassian's all.js is never requested by /dev frames; block anything else outright.
    await page.route(/^https?:\/\/(?!127\.0\.0\.1)/, (route) => route.abort());
  });

  afterAll(async () => {
    await browser?.close();
    await jobs?.stop();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await jira?.stop();
    await tdb?.destroy();
    if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  });

  /** Opens an admin page in the dev host and returns its frame once the page's script has loaded its data. */
  async function open(key: string): Promise<Frame> {
    await page.goto(`${baseUrl}/dev?page=${key}`);
    const frame = page.frameLocator('#app-frame');
    await frame.locator('body[data-ready="true"]').waitFor({ timeout: 30_000 });
    return page.frames().find((f) => f.url().includes('ugs-dev=1'))!;
  }

  const shot = (name: string) => page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });

  /** No page text carries zod's default wording. */
  async function expectNoLibraryText(frame: Frame) {
    const text = (await frame.locator('body').textContent()) ?? '';
    expect(ZOD_DEFAULT_PHRASES.filter((phrase) => text.includes(phrase))).toEqual([]);
  }

  const SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:';
  const scim = async (resource: string, body: unknown, method = 'POST') => {
    const res = await fetch(`${baseUrl}/scim/v2/${connectionId}/${resource}`, {
      method,
      headers: { authorization: `Bearer ${scimToken}`, 'content-type': 'application/scim+json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBeLessThan(300);
    return (await res.json()) as { id: string };
  };

  let connectionId = '';
  let scimToken = '';

  it('adds a miniOrange connection and shows its SCIM base URL and token once', async () => {
    const frame = await open('ugs-idps');
    await frame.getByRole('button', { name: 'Add New App' }).click();
    // miniOrange is the first provider and chosen by default.
    await expect(frame.locator('#provider-choices input').first().getAttribute('value')).resolves.toBe('miniorange');
    expect(await frame.locator('#provider-miniorange').isChecked()).toBe(true);
    // An empty name is refused next to the field.
    await frame.getByRole('button', { name: 'Create app' }).click();
    await frame.locator('.error[data-error-for="name"]').waitFor();
    await frame.getByLabel('App name').fill('miniOrange production');
    await frame.getByRole('button', { name: 'Create app' }).click();
    await frame.locator('#secret-panel:not([hidden])').waitFor();
    scimToken = await frame.locator('#scim-token').inputValue();
    const scimBaseUrl = await frame.locator('#scim-base-url').inputValue();
    expect(scimToken.length).toBeGreaterThan(30);
    connectionId = /\/scim\/v2\/([0-9a-f-]{36})$/.exec(scimBaseUrl)![1]!;
    // What to do next in miniOrange: where the URL and token go, which provisioning features to switch on.
    await expect(frame.locator('[data-checklist="miniorange"]').textContent()).resolves.toContain('SCIM Server (Destination)');
    await shot('01-configured-idps');
    await frame.getByRole('button', { name: 'Done' }).click();
    await frame.getByRole('cell', { name: 'miniOrange production', exact: true }).waitFor();
  });

  let adaId = '';
  it('receives users and groups from the IdP over SCIM with that token', async () => {
    const ada = await scim('Users', { schemas: [`${SCHEMA}User`], userName: 'ada@example.com', displayName: 'Ada Lovelace', name: { givenName: 'Ada', familyName: 'Lovelace' }, emails: [{ value: 'ada@example.com', primary: true }], active: true });
    const alan = await scim('Users', { schemas: [`${SCHEMA}User`], userName: 'alan@example.com', emails: [{ value: 'alan@example.com', primary: true }], active: true });
    adaId = ada.id;
    await scim('Groups', { schemas: [`${SCHEMA}Group`], displayName: 'Engineering', members: [{ value: ada.id }, { value: alan.id }] });
  });

  it('says honestly that there is nothing to sync into while there are no targets', async () => {
    const frame = await open('ugs-synchronize');
    await frame.locator('#no-targets:not([hidden])').waitFor();
    expect(await frame.locator('#no-targets').textContent()).toContain('No targets yet: add one');
    expect(await frame.locator('#no-targets a[data-module="ugs-targets"]').count()).toBe(1);
    expect(await frame.locator('#dry-run').isDisabled()).toBe(true);
    expect(await frame.locator('#synchronize').isDisabled()).toBe(true);
    expect(await frame.locator('body').textContent()).not.toContain('already match');
    // Group sync is off until a mapping is chosen, and the page says so.
    await frame.locator('#group-sync-off:not([hidden])').waitFor();
    await shot('02a-synchronize-no-targets');
  });

  it('shows the outcome of a pull-credentials test beside its button, even when the request is refused', async () => {
    const frame = await open('ugs-idps');
    await frame.getByRole('button', { name: 'Manage miniOrange production' }).click();
    await frame.locator('#connection-detail:not([hidden])').waitFor();
    await frame.locator('#pull-kind').selectOption('okta');
    await frame.getByRole('button', { name: 'Test connection' }).click();
    // An incomplete form: the API refuses with 400; the outcome says why beside the button, the fields too.
    await frame.locator('#pull-test-result.ugs-bad').waitFor();
    const outcome = await frame.locator('#pull-test-result').textContent();
    expect(outcome).toMatch(/^Not tested: .*Enter the API token/);
    await frame.locator('.error[data-error-for="apiToken"]', { hasText: 'Enter the API token' }).waitFor();
    expect(outcome).not.toContain('Testing');
    await expectNoLibraryText(frame);
    await shot('02b-pull-test-outcome');
  });

  it('adds the fake Jira Cloud as a target: errors in words, a refused token saved with a warning, then fixed', async () => {
    const frame = await open('ugs-targets');
    await frame.getByRole('button', { name: 'Add target' }).click();
    await frame.locator('#target-kind').selectOption('jira-cloud');
    await frame.locator('#target-name').fill('acme');
    await frame.getByLabel('Base URL').fill(jira.baseUrl);
    await frame.getByLabel('Site-admin email').fill('admin@example.com');
    // Required fields are marked; a missing one is named beside the field and in the banner, in words.
    expect(await frame.locator('label[for="field-credentials-apiToken"] .icon-required').count()).toBe(1);
    await frame.getByRole('button', { name: 'Save target' }).click();
    await frame.locator('.error[data-error-for="credentials.apiToken"]', { hasText: 'Enter the API token' }).waitFor();
    expect(await frame.locator('#page-message').textContent()).toContain('Enter the API token');
    await expectNoLibraryText(frame);
    await shot('02c-target-validation');

    await frame.getByLabel('API token').fill('wrong-token');
    await frame.getByRole('button', { name: 'Save target' }).click();
    // Saved anyway, and the connection test it ran says what it found.
    await frame.locator('#page-message .aui-message-warning', { hasText: 'Saved. Connection test: Failed' }).waitFor();
    expect(await frame.locator('#page-message').textContent()).toContain('401');
    await frame.getByRole('cell', { name: 'acme', exact: true }).waitFor();
    await shot('02d-target-saved-with-warning');

    await frame.getByRole('button', { name: 'Edit' }).click();
    await frame.getByLabel('API token').fill('jira-token');
    await frame.getByRole('button', { name: 'Save target' }).click();
    await frame.locator('#page-message .aui-message-success', { hasText: 'Saved. Connection test: OK' }).waitFor();
    await frame.getByRole('button', { name: 'Test connection' }).click();
    // The outcome is written beside the button.
    await frame.locator('[data-test-outcome].ugs-ok', { hasText: 'OK: Connected as' }).waitFor();
    await shot('02-targets');
  });

  it('shows the user sync settings and refuses an invalid regex inline without saving', async () => {
    const frame = await open('ugs-user-sync');
    await frame.getByLabel('Username pattern (regex)').fill('([a-z');
    await frame.getByRole('button', { name: 'Save user sync settings' }).click();
    await frame.locator('.error[data-error-for^="user.usernameTransform"]').waitFor();
    await frame.getByLabel('Username pattern (regex)').fill('');
    // What a deactivation does on the Jira target added above (no org target: the access groups come off).
    await frame.locator('#deprovision-preview li[data-effect="remove-groups"]', { hasText: "Jira's application roles" }).waitFor();
    await frame.locator('.ugs-deprovision').screenshot({ path: path.join(SCREENSHOTS, '03c-user-sync-deactivation.png') });
    // A number out of range is refused with a sentence that says what to enter.
    await frame.locator('#threshold-percent').fill('500');
    await frame.getByRole('button', { name: 'Save user sync settings' }).click();
    await frame.locator('.error[data-error-for="safety.deprovisionThresholdPercent"]', { hasText: 'Enter a number from 0 to 100' }).waitFor();
    expect(await frame.locator('#page-message').textContent()).toContain('Enter a number from 0 to 100');
    await expectNoLibraryText(frame);
    // Products show their names, and each rule option says what it does.
    expect(await frame.locator('label[for="product-jira-software"]').textContent()).toBe('Jira Software');
    expect(await frame.locator('#on-gone-help').textContent()).toContain('Only accounts this app created or adopted');
    expect(await frame.locator('#threshold-help a').getAttribute('href')).toBe('/help/sync#confirmation-threshold');
    await shot('03-user-sync');
    await frame.locator('#on-inactive').scrollIntoViewIfNeeded();
    await shot('03a-user-sync-help');
    await frame.locator('#products-help').scrollIntoViewIfNeeded();
    await shot('03b-user-sync-products');
    await frame.locator('#threshold-percent').fill('10');
  });

  it('configures a manual group mapping', async () => {
    const frame = await open('ugs-group-sync');
    // AUI hides native checkboxes and radios and draws a glyph after each: every one must have its glyph, drawn.
    const toggles = frame.locator('form.aui .checkbox > input, form.aui .radio > input');
    expect(await toggles.count()).toBeGreaterThan(5);
    expect(await frame.locator('form.aui .checkbox > input + .aui-form-glyph, form.aui .radio > input + .aui-form-glyph').count()).toBe(await toggles.count());
    type Styles = { getComputedStyle(element: unknown, pseudo: string): { width: string } };
    const glyph = await frame.locator('#mapping-manual + .aui-form-glyph').evaluate((el) => (globalThis as unknown as Styles).getComputedStyle(el, '::before').width);
    expect(parseFloat(glyph)).toBeGreaterThan(0);
    await frame.locator('label[for="mapping-manual"]').click();
    await frame.getByRole('button', { name: 'Add mapping' }).click();
    await frame.getByLabel('IdP group', { exact: true }).fill('Engineering');
    await frame.getByLabel('Target groups', { exact: true }).fill('jira-engineering');
    await frame.getByRole('button', { name: 'Save group sync settings' }).click();
    await frame.locator('#page-message .aui-message-success').waitFor();
    await shot('04-group-sync');
    // The on-the-fly preview shows what a name becomes and whether the filters keep it.
    await frame.locator('label[for="mapping-otf"]').click();
    await frame.getByLabel('Rename pattern (regex)').fill('^(.*)$');
    await frame.getByLabel('Replacement ($1 …)').fill('idp-$1');
    await frame.getByLabel('Exclude IdP groups matching (one regex a line)').last().fill('^Temp');
    await frame.getByLabel('Try a group name').fill('Temp staff');
    await frame.locator('#preview-table td', { hasText: 'idp-Engineering' }).waitFor();
    await frame.locator('#preview-table tr', { hasText: 'Temp staff' }).locator('.ugs-dropped').waitFor();
    await shot('05-group-sync-preview');
  });

  it('saves a schedule and shows its next runs', async () => {
    const frame = await open('ugs-schedule');
    await frame.getByLabel('Run a full sync').selectOption('daily');
    await frame.getByLabel('At (HH:MM)').fill('02:30');
    await frame.getByLabel('Time zone').fill('Europe/Berlin');
    await frame.getByRole('button', { name: 'Save schedule' }).click();
    await frame.locator('#page-message .aui-message-success').waitFor();
    expect(await frame.locator('#next-runs li').count()).toBe(5);
    // Next runs in the schedule's zone, labelled, at the time it was set for.
    expect(await frame.locator('#next-runs-heading').textContent()).toBe('Next runs (Europe/Berlin)');
    expect(await frame.locator('#next-runs li').first().textContent()).toMatch(/02:30.*Europe\/Berlin/);
    await shot('06-schedule');
  });

  it('runs a dry run that shows the plan and changes nothing, then a Synchronize whose progress reaches done', async () => {
    const frame = await open('ugs-synchronize');
    await frame.locator('#group-sync-off[data-checked]').waitFor({ state: 'attached' });
    expect(await frame.locator('#group-sync-off').isHidden()).toBe(true);
    await frame.getByRole('button', { name: 'Dry run' }).click();
    await frame.locator('#plan-panel:not([hidden])').waitFor({ timeout: 60_000 });
    expect(await frame.locator('#sync-state').textContent()).toBe('succeeded');
    expect(await frame.locator('#plan-table tbody tr').count()).toBeGreaterThan(0);
    // Rows name the person and the target with its product.
    const labels = await frame.locator('#plan-table td[data-label]').allTextContents();
    expect(labels).toContain('Create Ada Lovelace <ada@example.com> in Jira (acme)');
    expect(labels).toContain('Add Ada Lovelace <ada@example.com> to jira-engineering in Jira (acme)');
    expect(await frame.locator('#plan-table tbody tr', { hasText: 'Create Ada Lovelace' }).locator('td').nth(4).textContent()).toBe('acme (Jira)');
    expect(await frame.locator('#sync-facts').textContent()).toContain('Started by hand');
    expect(jira.userByEmail('ada@example.com')).toBeUndefined();
    await shot('07-dry-run');

    await frame.getByRole('button', { name: 'Synchronize', exact: true }).click();
    await frame.locator('#plan-heading', { hasText: 'Changes' }).waitFor({ timeout: 60_000 });
    expect(await frame.locator('#sync-state').textContent()).toBe('succeeded');
    expect(await frame.locator('#sync-progress').getAttribute('aria-valuenow')).toBe('100');
    await shot('08-synchronize-done');

    const ada = jira.userByEmail('ada@example.com');
    expect(ada).toBeDefined();
    expect(jira.groupByName('jira-engineering')?.members.has(ada!.accountId)).toBe(true);
  });

  it('opens the run in the history with its operations, and the audit log shows the admin changes', async () => {
    // Per-user warnings a run may carry (deprovisioning adds them) are listed with the run.
    await tdb.db.query(
      `UPDATE sync_runs SET summary = summary || '{"warnings":[{"userDisplay":"Ada Lovelace <ada@example.com>","message":"leads project ENG; kept active"}]}'::jsonb
        WHERE id = (SELECT id FROM sync_runs WHERE connection_id = $1 ORDER BY started_at DESC LIMIT 1)`,
      [connectionId],
    );
    const frame = await open('ugs-history');
    await frame.getByRole('button', { name: 'Open run' }).first().click();
    await frame.locator('#run-detail:not([hidden])').waitFor();
    await frame.locator('#ops-table tbody tr td', { hasText: 'succeeded' }).first().waitFor();
    expect(await frame.locator('#run-summary').textContent()).toContain('manual');
    expect(await frame.locator('#run-summary .ugs-warnings').textContent()).toBe('Ada Lovelace <ada@example.com>: leads project ENG; kept active');
    // Operations name the person, the group and the target; the audit log speaks in sentences.
    await frame.locator('#ops-table td[data-label]', { hasText: 'Add Ada Lovelace <ada@example.com> to jira-engineering in Jira (acme)' }).waitFor();
    expect(await frame.locator('#ops-table thead').textContent()).toContain('Target');
    await frame.locator('#audit-table td', { hasText: 'Created the IdP app miniOrange production (miniOrange).' }).waitFor();
    await frame.locator('#audit-table tr[data-action="settings.update"] td', { hasText: 'Manual mappings: (none) → Engineering → jira-engineering' }).first().waitFor();
    await frame.locator('#audit-table td', { hasText: 'Changed the schedule: never → ' }).waitFor();
    await frame.locator('#ops-table').scrollIntoViewIfNeeded();
    await shot('09a-history-run');
    await frame.locator('#audit-table').scrollIntoViewIfNeeded();
    await shot('09b-audit-log');
    // Filters: no failed real runs.
    await frame.getByLabel('Status').first().selectOption('failed');
    await frame.getByRole('button', { name: 'Filter' }).click();
    await frame.locator('#runs-table td', { hasText: 'No runs match.' }).waitFor();
    await shot('09-history');
  });

  it('shows live a run it did not start (a SCIM change), with its trigger, and Cancel stops it between operations', async () => {
    const frame = await open('ugs-synchronize');
    await frame.locator('#sync-title', { hasText: 'Last sync' }).waitFor();
    // Each call to Jira takes a while, so the run is still applying when Cancel is clicked.
    jira.server.latencyMs = 500;
    const PEOPLE = 40;
    for (let i = 0; i < PEOPLE; i++) {
      await scim('Users', { schemas: [`${SCHEMA}User`], userName: `person${i}@example.com`, displayName: `Person ${i}`, emails: [{ value: `person${i}@example.com`, primary: true }], active: true });
    }
    // The pushes queued one change-triggered sync; the test configuration debounces it for ten minutes: make it due.
    await tdb.db.query("UPDATE sync_jobs SET run_after = now() WHERE connection_id = $1 AND status = 'queued'", [connectionId]);
    await frame.locator('#sync-title', { hasText: 'Current sync' }).waitFor({ timeout: 30_000 });
    expect(await frame.locator('#sync-facts').textContent()).toContain('A change pushed by the IdP');
    expect(await frame.locator('#synchronize').isDisabled()).toBe(true);
    expect(await frame.locator('#dry-run').isDisabled()).toBe(true);
    await frame.locator('#sync-counts', { hasText: /[1-9]\d* done/ }).waitFor({ timeout: 60_000 });
    await frame.locator('#plan-table td[data-label]', { hasText: 'Create Person' }).first().waitFor();
    await shot('10-live-change-run');

    await frame.getByRole('button', { name: 'Cancel run' }).click();
    await frame.locator('#sync-state', { hasText: 'cancelled' }).waitFor({ timeout: 30_000 }).catch(async (error: unknown) => {
      await shot('11-cancel-failed');
      throw new Error(`${String(error)}; the page shows: ${await frame.locator('#sync-status').textContent()}`);
    });
    await frame.locator('#plan-table td', { hasText: 'skipped' }).first().waitFor();
    const created = Array.from({ length: PEOPLE }, (_, i) => jira.userByEmail(`person${i}@example.com`)).filter(Boolean);
    expect(created.length).toBeGreaterThan(0);
    expect(created.length).toBeLessThan(PEOPLE);
    expect(await frame.locator('#synchronize').isDisabled()).toBe(false);
    await shot('11-cancelled');
    jira.server.latencyMs = 0;
  });

  it('can be used with the keyboard: the page tabs are reachable and labelled', async () => {
    const frame = await open('ugs-idps');
    await frame.locator('a[data-module="ugs-idps"]').focus();
    await page.keyboard.press('Tab');
    expect(await frame.evaluate('document.activeElement && document.activeElement.textContent')).toBe('Targets');
    // Every form control has a label (for=id, aria-label, or a wrapping label).
    const unlabelled = await frame.evaluate(`Array.from(document.querySelectorAll('input:not([type="hidden"]), select, textarea')).filter(function (el) {
      var id = el.getAttribute('id');
      return !(id && document.querySelector('label[for="' + id + '"]')) && !el.getAttribute('aria-label') && !el.closest('label');
    }).length`);
    expect(unlabelled).toBe(0);
  });
});
