import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { validate } from '@forge/manifest';
import { parse } from 'yaml';
import { projectRoot } from '../../src/db/migrate';

/**
 * manifest.yml checked with Atlassian's own validator (@forge/manifest, the library the Forge CLI uses for
 * `forge lint` and before `forge deploy`). `validate(false, file)` runs the full validation offline: no login,
 * no network. Manifest variables are read from the environment, as the CLI does at deploy time.
 */
const MANIFEST = path.join(projectRoot(), 'manifest.yml');

// The validator compiles its JSON schemas on first use: seconds on a busy machine.
jest.setTimeout(120_000);

type Result = Awaited<ReturnType<typeof validate>>;
const summary = (result: Result) => (result.errors ?? []).map((e) => `${e.level} ${e.reference} line ${e.line}: ${e.message}`);

async function validateWith(file: string, env: Record<string, string | undefined>): Promise<Result> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await validate(false, file);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('manifest.yml passes Atlassian\'s manifest validation', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ugs-manifest-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const DEPLOY_ENV = { APP_BASE_URL: 'https://ugs.example.com', CONNECT_APP_KEY: undefined };

  it('reports no error and no warning for the committed manifest', async () => {
    const result = await validateWith(MANIFEST, DEPLOY_ENV);
    expect(summary(result)).toEqual([]);
    expect(result.success).toBe(true);
  });

  // A clean validation says nothing if modules went missing: what is validated must be the whole app.
  it('validates a manifest that carries every module of atlassian-connect.json', () => {
    const descriptor = JSON.parse(fs.readFileSync(path.join(projectRoot(), 'atlassian-connect.json'), 'utf8')) as {
      modules: Record<string, Array<{ key: string }>>;
    };
    const manifest = parse(fs.readFileSync(MANIFEST, 'utf8')) as { connectModules: Record<string, Array<{ key: string }>> };
    const keys = (lists: Record<string, Array<{ key: string }>>, prefix: string) =>
      Object.entries(lists).flatMap(([type, list]) => list.map((m) => `${prefix}${type} ${m.key}`)).sort();
    const inManifest = keys(
      Object.fromEntries(Object.entries(manifest.connectModules).filter(([type]) => type !== 'jira:lifecycle')),
      '',
    );
    expect(inManifest).toEqual(keys(descriptor.modules, 'jira:'));
  });

  it('also passes with a dev or staging key given in CONNECT_APP_KEY', async () => {
    const result = await validateWith(MANIFEST, { ...DEPLOY_ENV, CONNECT_APP_KEY: 'user-group-sync-for-atlassian.staging' });
    expect(summary(result)).toEqual([]);
  });

  it('stops a deploy that does not say where the app runs (APP_BASE_URL unset)', async () => {
    const result = await validateWith(MANIFEST, { APP_BASE_URL: undefined });
    expect(result.success).toBe(false);
    expect(summary(result).join('\n')).toMatch(/APP_BASE_URL/);
  });

  // Each broken copy must be refused: this is what shows the validation above can fail.
  const original = fs.readFileSync(MANIFEST, 'utf8');
  const brokenCopies: Array<[string, (text: string) => string, RegExp]> = [
    ['an unknown Connect module type', (t) => t.replace('jira:adminPages:', 'jira:adminPagez:'), /invalid value 'jira:adminPagez' in connectModules/],
    ['an unknown scope', (t) => t.replace('read:connect-jira', 'read:connect-jiraa'), /read:connect-jiraa/],
    ['a Connect remote that is not declared', (t) => t.replace(/remote: connect$/m, 'remote: elsewhere'), /no remote found with key 'elsewhere'/],
    ['a second lifecycle entry', (t) => t.replace('      uninstalled: /uninstalled\n', '      uninstalled: /uninstalled\n    - key: again\n      installed: /installed\n'), /should contain only one element/],
    ['no app id', (t) => t.replace(/^ {2}id: .*$/m, ''), /id/],
    ['authentication other than jwt', (t) => t.replace('authentication: jwt', 'authentication: oauth2'), /allowed values are 'jwt'/],
  ];

  it.each(brokenCopies)('refuses a copy with %s', async (_name, breakIt, expected) => {
    const broken = breakIt(original);
    expect(broken).not.toBe(original);
    const file = path.join(dir, `${_name.replace(/\W+/g, '-')}.yml`);
    fs.writeFileSync(file, broken);
    const result = await validateWith(file, DEPLOY_ENV);
    expect(result.success).toBe(false);
    expect(summary(result).join('\n')).toMatch(expected);
  });
});
