import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../db/migrate';
import { connectDescriptor, FORGE, forgeManifest, renderDescriptor, renderManifest } from './app-definition';

/**
 * Writes atlassian-connect.json and manifest.yml from src/connect/app-definition.ts (`npm run connect:generate`).
 * The app id that `forge register` wrote into manifest.yml is kept.
 */
export const DESCRIPTOR_FILE = path.join(projectRoot(), 'atlassian-connect.json');
export const MANIFEST_FILE = path.join(projectRoot(), 'manifest.yml');

/** The `app.id` line of an existing manifest, when it holds a real (registered) app ARI. */
export function registeredAppId(manifestText: string | null): string | undefined {
  const match = manifestText ? /^ {2}id: "?(ari:cloud:ecosystem::app\/[^\s"]+)"?\s*$/m.exec(manifestText) : null;
  return match && match[1] !== FORGE.placeholderAppId ? match[1] : undefined;
}

function main(): void {
  const existing = fs.existsSync(MANIFEST_FILE) ? fs.readFileSync(MANIFEST_FILE, 'utf8') : null;
  fs.writeFileSync(DESCRIPTOR_FILE, renderDescriptor(connectDescriptor()));
  fs.writeFileSync(MANIFEST_FILE, renderManifest(forgeManifest(registeredAppId(existing))));
  process.stdout.write(`${JSON.stringify({ wrote: [path.basename(DESCRIPTOR_FILE), path.basename(MANIFEST_FILE)] })}\n`);
}

if (require.main === module) main();
