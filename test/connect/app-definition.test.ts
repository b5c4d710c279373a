import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { projectRoot } from '../../src/db/migrate';
import { ADMIN_PAGES } from '../../src/web/pages';
import { CONNECT_MODULES, connectDescriptor, FORGE, forgeManifest, renderManifest } from '../../src/connect/app-definition';
import { registeredAppId } from '../../src/connect/generate';

/** The committed descriptor and manifest are what src/connect/app-definition.ts generates (npm run connect:generate). */
/** Fails with the fix in the message: the committed files are regenerated, never edited by hand. */
function expectGenerated(file: string, committed: unknown, generated: unknown): void {
  try {
    expect(committed).toEqual(generated);
  } catch (error) {
    throw new Error(`${file} does not match src/connect/app-definition.ts: run \`npm run connect:generate\` and commit it.\n${(error as Error).message}`);
  }
}

describe('the app definition generates both committed files', () => {
  const descriptorText = fs.readFileSync(path.join(projectRoot(), 'atlassian-connect.json'), 'utf8');
  const manifestText = fs.readFileSync(path.join(projectRoot(), 'manifest.yml'), 'utf8');

  it('atlassian-connect.json is the generated descriptor', () => {
    expectGenerated('atlassian-connect.json', JSON.parse(descriptorText), connectDescriptor());
  });

  it('manifest.yml is the generated manifest (whatever app id forge register wrote)', () => {
    const committed = parse(manifestText) as ReturnType<typeof forgeManifest>;
    expectGenerated('manifest.yml', committed, forgeManifest(committed.app.id));
  });

  it('writes YAML that reads back as the manifest, with the app id placeholder documented', () => {
    const text = renderManifest(forgeManifest());
    expect(parse(text)).toEqual(forgeManifest());
    expect(text).toMatch(/# Placeholder: replace with the id from `forge register`.*\n {2}id: "ari:cloud:ecosystem::app\/0{8}-/);
  });

  it('has one admin page module per page the server mounts', () => {
    expect(CONNECT_MODULES.adminPages.map((m) => [m.key, m.url])).toEqual(ADMIN_PAGES.map((p) => [p.key, p.path]));
  });

  it('keeps a registered app id when regenerating, and not the placeholder', () => {
    const registered = 'ari:cloud:ecosystem::app/406d303d-0393-4ec4-ad7c-1435be94583a';
    expect(registeredAppId(renderManifest(forgeManifest(registered)))).toBe(registered);
    expect(registeredAppId(`app:\n  id: ${registered}\n`)).toBe(registered);
    expect(registeredAppId(renderManifest(forgeManifest(FORGE.placeholderAppId)))).toBeUndefined();
    expect(registeredAppId(null)).toBeUndefined();
  });
});
