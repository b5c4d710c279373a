import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Frame, type Page } from 'playwright-core';
import { projectRoot } from '../../src/db/migrate';
import { MINIORANGE_CREDENTIALS, SANDBOX_NAMES, startSandbox, type Sandbox } from '../../sandbox/sandbox';
import { createPostgresDatabase, usingPostgres } from '../helpers/database';
import { silentLogger, TEST_ENCRYPTION_KEYS } from '../helpers/runtime';

/**
 * README.md's "Try it", step by step, in Debian's chromium: the sandbox as `npm run sandbox` starts it
 * (startSandbox, on ephemeral ports) → create a miniOrange app on the admin pages → its pull credentials →
 * group sync → push users and a group by SCIM → dry run → Synchronize → deactivate a user by SCIM → the
 * change-triggered run → History and its CSV. The shell steps are the README's own code blocks, run in one
 * bash session as a reader would paste them. Screenshots of each step: test-artifacts/screenshots/try-it-*.png.
 *
 * What the pages will say about people, targets and live runs is still growing: the `expect…` helpers at the
 * bottom hold those assertions, as far as today's pages go, so they are extended in one place.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(projectRoot(), 'test-artifacts');
const SCREENSHOTS = path.join(ARTIFACTS, 'screenshots');
const haveChromium = fs.existsSync(CHROMIUM);
const describeIfChromium = haveChromium ? describe : describe.skip;
if (!haveChromium) console.warn(`Browser tests skipped: no chromium at ${CHROMIUM} (apt-get install -y chromium)`);

jest.setTimeout(240_000);

/** The README's fenced block that follows `<!-- try-it:NAME -->`, unindented. */
function readmeBlock(name: string): string {
  const readme = fs.readFileSync(path.join(projectRoot(), 'README.md'), 'utf8');
  const match = new RegExp(`<!-- try-it:${name} -->\\s*\\n([ \\t]*)\`\`\`sh\\n([\\s\\S]*?)\\n[ \\t]*\`\`\``).exec(readme);
  if (!match) throw new Error(`README.md has no "try-it:${name}" shell block`);
  const indent = match[1]!;
  return match[2]!
    .split('\n')
    .map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line))
    .join('\n');
}

/** One bash session for the whole walk, so variables set by one README block are there for the next. */
class Shell {
  private readonly bash: ChildProcessWithoutNullStreams;
  private output = '';
  private waiting: (() => void) | null = null;

  constructor() {
    this.bash = spawn('bash', ['--noprofile', '--norc'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: os.tmpdir() } });
    this.bash.stdout.on('data', (chunk: Buffer) => this.receive(chunk));
    this.bash.stderr.on('data', (chunk: Buffer) => this.receive(chunk));
  }

  private receive(chunk: Buffer): void {
    this.output += chunk.toString('utf8');
    this.waiting?.();
  }

  /** Runs a script in the session; resolves with what it printed once it is done, rejects on a non-zero status. */
  async run(script: string, timeoutMs = 60_000): Promise<string> {
    const marker = `__done_${Math.random().toString(36).slice(2)}__`;
    const start = this.output.length;
    this.bash.stdin.write(`${script}\nprintf '\\n${marker}%s\\n' "$?"\n`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.output.indexOf(marker, start);
      const end = at >= 0 ? this.output.indexOf('\n', at) : -1;
      if (end >= 0) {
        const status = Number(this.output.slice(at + marker.length, end));
        const printed = this.output.slice(start, at);
        if (status !== 0) throw new Error(`shell step failed with status ${status}:\n${script}\n---\n${printed}`);
        return printed;
      }
      if (Date.now() > deadline) throw new Error(`shell step did not finish within ${timeoutMs} ms:\n${script}\n---\n${this.output.slice(start)}`);
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        setTimeout(resolve, 200);
      });
    }
  }

  close(): void {
    this.bash.stdin.end();
    this.bash.kill();
  }
}

async function waitUntil(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describeIfChromium('README "Try it" in a browser, against the sandbox', () => {
  let sandbox: Sandbox;
  let dropDatabase: (() => Promise<void>) | undefined;
  let browser: BrowserContext;
  let page: Page;
  let userDataDir: string;
  let shell: Shell;
  let connectionId = '';

  beforeAll(async () => {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    let databaseUrl: string | undefined;
    if (usingPostgres) {
      const created = await createPostgresDatabase();
      databaseUrl = created.url;
      dropDatabase = created.drop;
    }
    // The same start as `npm run sandbox`, on ephemeral ports, with a database of the test's own.
    sandbox = await startSandbox({
      port: 0,
      dataDir: 'memory://',
      databaseUrl,
      env: { ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS, LOG_LEVEL: 'silent', JOBS_POLL_MS: '200', SHUTDOWN_GRACE_SECONDS: '1' },
      logger: silentLogger(),
    });
    shell = new Shell();

    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ugs-chromium-'));
    browser = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      acceptDownloads: true,
      // Tall enough that a screenshot shows a whole plan (the admin page scrolls inside the dev host's frame).
      viewport: { width: 1280, height: 1600 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    // Loopback only (the sandbox's base URL is http://localhost:PORT).
    await page.route(/^https?:\/\/(?!127\.0\.0\.1|localhost)/, (route) => route.abort());
  });

  afterAll(async () => {
    shell?.close();
    await browser?.close();
    await sandbox?.stop();
    await dropDatabase?.();
    if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  });

  async function open(key: string): Promise<Frame> {
    await page.goto(`${sandbox.devUrl}?page=${key}`);
    await page.frameLocator('#app-frame').locator('body[data-ready="true"]').waitFor({ timeout: 30_000 });
    return page.frames().find((f) => f.url().includes('ugs-dev=1'))!;
  }

  const shot = (name: string) => page.screenshot({ path: path.join(SCREENSHOTS, `try-it-${name}.png`), fullPage: true });

  /** The newest run of the app created below, as History and Synchronize read it. */
  async function latestRun(): Promise<{ trigger: string; status: string; dry_run: boolean } | undefined> {
    const { rows } = await sandbox.runtime.db.query<{ trigger: string; status: string; dry_run: boolean }>(
      'SELECT trigger, status, dry_run FROM sync_runs WHERE connection_id = $1 ORDER BY started_at DESC LIMIT 1',
      [connectionId],
    );
    return rows[0];
  }

  it('1. the sandbox made the local tenant its miniOrange app and a target per fake', async () => {
    const frame = await open('ugs-idps');
    await frame.getByRole('cell', { name: SANDBOX_NAMES.connection, exact: true }).waitFor();
    await shot('01-sandbox-idps');
    const targets = await open('ugs-targets');
    for (const name of [SANDBOX_NAMES.jira, SANDBOX_NAMES.confluence, SANDBOX_NAMES.bitbucket, SANDBOX_NAMES.org]) {
      await targets.getByRole('cell', { name, exact: true }).waitFor();
    }
    await shot('01-sandbox-targets');
  });

  it('2. creates a miniOrange app and takes its SCIM base URL and token into the shell', async () => {
    const frame = await open('ugs-idps');
    await frame.getByRole('button', { name: 'Add New App' }).click();
    expect(await frame.locator('#provider-miniorange').isChecked()).toBe(true);
    await frame.getByLabel('App name').fill('miniOrange');
    await frame.getByRole('button', { name: 'Create app' }).click();
    await frame.locator('#secret-panel:not([hidden])').waitFor();
    const scim = await frame.locator('#scim-base-url').inputValue();
    const token = await frame.locator('#scim-token').inputValue();
    connectionId = /\/scim\/v2\/([0-9a-f-]{36})$/.exec(scim)![1]!;
    await shot('02-app-created');
    await frame.getByRole('button', { name: 'Done' }).click();
    // The README's line, with the values the page showed.
    await shell.run(`export SCIM='${scim}' TOKEN='${token}'`);
  });

  it('3. saves pull credentials for the fake miniOrange and tests them', async () => {
    const frame = await open('ugs-idps');
    await frame.getByRole('button', { name: 'Manage miniOrange', exact: true }).click();
    await frame.getByLabel('Pull from').selectOption('miniorange');
    const fields = frame.locator('#pull-fields');
    await fields.getByLabel('Base URL').fill(sandbox.fakes.miniOrange.baseUrl);
    await fields.getByLabel('Customer key').fill(MINIORANGE_CREDENTIALS.customerKey);
    await fields.getByLabel('API key').fill(MINIORANGE_CREDENTIALS.apiKey);
    await frame.getByRole('button', { name: 'Save credentials' }).click();
    await frame.locator('#page-message .aui-message-success').waitFor();
    await frame.getByRole('button', { name: 'Test connection' }).click();
    await frame.locator('#pull-test-result.ugs-ok').waitFor({ timeout: 30_000 });
    expect(await frame.locator('#pull-test-result').textContent()).toContain('Connected to miniOrange');
    await shot('03-pull-credentials');
  });

  it('4. pushes two people and a group by SCIM with the README commands; the change syncs by itself', async () => {
    const printed = await shell.run(readmeBlock('push'));
    expect(printed).toContain('"displayName":"Design"');
    const { jira } = sandbox.fakes;
    await waitUntil('Alice and Bob with accounts in the fake Jira', () => Boolean(jira.userByEmail('alice@example.com') && jira.userByEmail('bob@example.com')));
    await waitUntil('the change-triggered run to finish', async () => (await latestRun())?.status === 'succeeded');
    expect(await latestRun()).toMatchObject({ trigger: 'change', dry_run: false });
    // Group sync is off until the admin chooses how: the group is not in Jira yet.
    expect(jira.groupByName('Design')).toBeUndefined();
    const frame = await open('ugs-synchronize');
    await frame.locator('#plan-panel:not([hidden])').waitFor({ timeout: 30_000 });
    await expectLivePageShowsRun(frame, { trigger: 'change', person: { email: 'alice@example.com' } });
    await shot('04-pushed-and-synced');
  });

  it('5. turns group sync on, on the fly', async () => {
    const frame = await open('ugs-group-sync');
    await frame.locator('label[for="mapping-otf"]').click();
    await frame.getByRole('button', { name: 'Save group sync settings' }).click();
    await frame.locator('#page-message .aui-message-success').waitFor();
    await shot('05-group-sync');
  });

  it('6. dry run: lists what would change, naming people and targets, changing nothing', async () => {
    const frame = await open('ugs-synchronize');
    await frame.getByRole('button', { name: 'Dry run' }).click();
    await frame.locator('#plan-heading', { hasText: 'Dry run' }).waitFor({ timeout: 90_000 });
    expect(await frame.locator('#sync-state').textContent()).toBe('succeeded');
    await expectRowsNamePeople(frame, ['Alice Doe <alice@example.com>', 'Bob Stone <bob@example.com>']);
    await expectRowsNameTargets(frame, [SANDBOX_NAMES.jira]);
    expect(sandbox.fakes.jira.groupByName('Design')).toBeUndefined();
    await shot('06-dry-run');
  });

  it('7. Synchronize applies it and the progress reaches done', async () => {
    const frame = await open('ugs-synchronize');
    await frame.getByRole('button', { name: 'Synchronize', exact: true }).click();
    await frame.locator('#plan-heading', { hasText: 'Changes' }).waitFor({ timeout: 90_000 });
    expect(await frame.locator('#sync-state').textContent()).toBe('succeeded');
    expect(await frame.locator('#sync-progress').getAttribute('aria-valuenow')).toBe('100');
    const { jira } = sandbox.fakes;
    const design = jira.groupByName('Design');
    expect(design?.members.has(jira.userByEmail('alice@example.com')!.accountId)).toBe(true);
    expect(design?.members.has(jira.userByEmail('bob@example.com')!.accountId)).toBe(true);
    await shot('07-synchronized');
  });

  it('8. deactivating Bob by SCIM starts a run that deactivates his account, and Synchronize shows it', async () => {
    await shell.run(readmeBlock('deactivate'));
    const bob = sandbox.fakes.jira.userByEmail('bob@example.com')!;
    await waitUntil("Bob's access suspended through the organization", () => sandbox.fakes.jira.productAccess(bob.accountId).length === 0);
    await waitUntil('the change-triggered run to finish', async () => {
      const run = await latestRun();
      return run?.trigger === 'change' && run.status === 'succeeded';
    });
    const frame = await open('ugs-synchronize');
    await frame.locator('#plan-panel:not([hidden])').waitFor({ timeout: 30_000 });
    await expectLivePageShowsRun(frame, { trigger: 'change', person: { email: 'bob@example.com', accountId: bob.accountId }, change: 'deactivate' });
    await shot('08-deactivated');
  });

  it('9. History lists the runs with their triggers; the run opens, and its CSV downloads', async () => {
    const frame = await open('ugs-history');
    await frame.locator('#runs-table td', { hasText: 'A change pushed by the IdP' }).first().waitFor();
    await frame.locator('#runs-table td', { hasText: 'Started by hand (dry run)' }).first().waitFor();
    await frame.getByRole('button', { name: 'Open run' }).first().click();
    await frame.locator('#run-detail:not([hidden])').waitFor();
    await frame.locator('#ops-table tbody tr td', { hasText: 'succeeded' }).first().waitFor();
    expect(await frame.locator('#run-summary').textContent()).toContain('change');
    await shot('09-history');

    const [download] = await Promise.all([page.waitForEvent('download'), frame.getByRole('button', { name: 'Export CSV' }).click()]);
    const csvPath = path.join(ARTIFACTS, 'try-it-deactivation-run.csv');
    await download.saveAs(csvPath);
    const bob = sandbox.fakes.jira.userByEmail('bob@example.com')!;
    expectCsvNamesPeople(fs.readFileSync(csvPath, 'utf8'), { person: { email: 'bob@example.com', accountId: bob.accountId }, change: 'deactivate' });
    await frame.locator('#audit-table td', { hasText: 'connection.create' }).waitFor();
  });
});

// ---- What the pages say about people, targets and runs ------------------------------------------------------
// Op rows name a person by display name and email and a target by its name and product ("Add Alice Doe
// <alice@example.com> to Design in Jira (…)"); the live Synchronize page follows the connection's current run,
// whatever started it.

/** Every listed person appears in the plan's rows. */
async function expectRowsNamePeople(frame: Frame, emails: string[]): Promise<void> {
  const rows = await frame.locator('#plan-table tbody tr').allTextContents();
  expect(rows.length).toBeGreaterThan(0);
  for (const email of emails) expect(rows.some((row) => row.includes(email))).toBe(true);
}

/** The rows name targets by their names, never by id. */
async function expectRowsNameTargets(frame: Frame, targetNames: string[]): Promise<void> {
  const rows = await frame.locator('#plan-table tbody tr').allTextContents();
  for (const name of targetNames) expect(rows.some((row) => row.includes(name))).toBe(true);
  for (const row of rows) expect(row).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/);
}

/** Who a row is about: rows and the CSV must name the person by email (the accountId alone is not enough). */
interface Person {
  email: string;
  accountId?: string;
}
const names = (text: string, person: Person) => text.includes(person.email);

/**
 * The Synchronize page shows a run the page did not start (a SCIM change) once it is over: its state and its
 * operations. A live page would show it while it runs, with its trigger, start and elapsed time.
 */
async function expectLivePageShowsRun(frame: Frame, run: { trigger: 'change'; person: Person; change?: string }): Promise<void> {
  expect(await frame.locator('#sync-state').textContent()).toBe('succeeded');
  const rows = await frame.locator('#plan-table tbody tr').allTextContents();
  const row = rows.find((text) => names(text, run.person) && (!run.change || text.toLowerCase().includes(run.change)));
  if (!row) throw new Error(`no row ${run.change ?? ''} for ${run.person.email} among:\n${rows.join('\n')}`);
}

/** The run's CSV has a row for the person's change. */
function expectCsvNamesPeople(csv: string, expected: { person: Person; change: string }): void {
  const lines = csv.trim().split(/\r?\n/);
  expect(lines.length).toBeGreaterThan(1);
  if (!lines.some((line) => line.toLowerCase().includes(expected.change) && names(line, expected.person))) {
    throw new Error(`no CSV line ${expected.change} for ${expected.person.email} in:\n${csv}`);
  }
}
