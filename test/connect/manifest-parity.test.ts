import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { projectRoot } from '../../src/db/migrate';
import { FORGE_SCOPE_FOR_CONNECT_SCOPE, type ConnectScope } from '../../src/connect/app-definition';

/**
 * The two install paths must offer the same app: the Connect descriptor (existing Connect installs) and the
 * Forge manifest (Connect on Forge). This reads the two committed files as Atlassian would, without the code
 * that generates them, and compares them module by module.
 */
type Module = { key: string; [field: string]: unknown };
type ModuleLists = Record<string, Module[]>;

const descriptor = JSON.parse(fs.readFileSync(path.join(projectRoot(), 'atlassian-connect.json'), 'utf8')) as {
  key: string;
  baseUrl: string;
  authentication: { type: string };
  lifecycle: Record<string, string>;
  scopes: ConnectScope[];
  enableLicensing: boolean;
  modules: ModuleLists;
};
const manifest = parse(fs.readFileSync(path.join(projectRoot(), 'manifest.yml'), 'utf8')) as {
  app: { connect: { key: string; remote: string; authentication: string }; licensing?: { enabled: boolean } };
  environment: { variables: Array<string | { key: string; default: string }> };
  remotes: Array<{ key: string; baseUrl: string }>;
  permissions: { scopes: string[] };
  connectModules: ModuleLists;
};

const LIFECYCLE = 'jira:lifecycle';

function byId(lists: ModuleLists, typeOf: (type: string) => string): Map<string, Module> {
  const modules = new Map<string, Module>();
  for (const [type, list] of Object.entries(lists)) {
    for (const module of list) modules.set(`${typeOf(type)} ${module.key}`, module);
  }
  return modules;
}

const descriptorModules = byId(descriptor.modules, (type) => `jira:${type}`);
const manifestModules = byId(
  Object.fromEntries(Object.entries(manifest.connectModules).filter(([type]) => type !== LIFECYCLE)),
  (type) => type,
);
const everyModule = [...new Set([...descriptorModules.keys(), ...manifestModules.keys()])].sort();

/** `${NAME}` -> NAME, the manifest variable a field is bound to. */
const variableOf = (value: string) => /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(value)?.[1];

describe('atlassian-connect.json and manifest.yml declare the same app', () => {
  it('has modules to compare', () => {
    expect(descriptorModules.size).toBeGreaterThan(0);
  });

  it.each(everyModule)('module %s is on both sides, identical', (id) => {
    const inDescriptor = descriptorModules.get(id);
    const inManifest = manifestModules.get(id);
    expect({ id, inDescriptor: inDescriptor !== undefined, inManifest: inManifest !== undefined }).toEqual({ id, inDescriptor: true, inManifest: true });
    expect(inManifest).toEqual(inDescriptor);
  });

  it('has the same lifecycle URLs (one jira:lifecycle entry)', () => {
    const lifecycle = manifest.connectModules[LIFECYCLE];
    expect(lifecycle).toHaveLength(1);
    const { key: _key, ...urls } = lifecycle![0]!;
    expect(urls).toEqual(descriptor.lifecycle);
  });

  it('binds app.connect.key to a variable whose default is the descriptor key', () => {
    const name = variableOf(manifest.app.connect.key);
    expect(name).toBeDefined();
    const declared = manifest.environment.variables.find((v) => typeof v === 'object' && v.key === name);
    expect(declared).toEqual({ key: name, default: descriptor.key });
  });

  it('points the Connect remote at the base URL the descriptor is served from (APP_BASE_URL), with JWT', () => {
    expect(descriptor.baseUrl).toBe('{{localBaseUrl}}'); // ACE fills it with APP_BASE_URL
    const remote = manifest.remotes.find((r) => r.key === manifest.app.connect.remote);
    expect(remote).toBeDefined();
    expect(variableOf(remote!.baseUrl)).toBe('APP_BASE_URL');
    expect(manifest.environment.variables).toContain('APP_BASE_URL');
    expect(descriptor.authentication.type).toBe('jwt');
    expect(manifest.app.connect.authentication).toBe(descriptor.authentication.type);
  });

  it('asks for the same scopes', () => {
    expect([...manifest.permissions.scopes].sort()).toEqual(descriptor.scopes.map((s) => FORGE_SCOPE_FOR_CONNECT_SCOPE[s]).sort());
  });

  it('has the same licensing', () => {
    expect(manifest.app.licensing?.enabled ?? false).toBe(descriptor.enableLicensing);
  });
});
