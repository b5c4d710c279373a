import { ADMIN_PAGES } from '../web/pages';

/**
 * The app as Atlassian sees it, in one place. Both install paths are produced from this list:
 * - `atlassian-connect.json`, the Connect descriptor ACE serves (existing Connect installs), and
 * - `manifest.yml`, the Forge manifest of the same app as "Connect on Forge" (`forge deploy` / `forge install`).
 * `npm run connect:generate` writes both files; test/connect/app-definition.test.ts fails when either file no
 * longer matches this list, and test/connect/manifest-parity.test.ts compares the two files module by module.
 */

export const APP = {
  key: 'user-group-sync-for-atlassian',
  name: 'User & Group Sync for Atlassian',
  description:
    'Keeps Jira, Confluence and Bitbucket users and groups in step with your identity provider (SCIM 2.0 push and directory pull).',
  vendor: { name: 'User & Group Sync', url: 'https://example.com' },
  licensing: false,
} as const;

/** Connect scopes the app asks for, and the Forge scope Atlassian defines for each (Connect on Forge). */
export const CONNECT_SCOPES = ['READ', 'ACT_AS_USER'] as const;

export type ConnectScope = 'READ' | 'WRITE' | 'DELETE' | 'PROJECT_ADMIN' | 'ADMIN' | 'ACT_AS_USER' | 'ACCESS_EMAIL_ADDRESSES';

/** The `*:connect-jira` scopes as @forge/manifest lists them (its scopes/ folder). */
export const FORGE_SCOPE_FOR_CONNECT_SCOPE: Record<ConnectScope, string> = {
  READ: 'read:connect-jira',
  WRITE: 'write:connect-jira',
  DELETE: 'delete:connect-jira',
  PROJECT_ADMIN: 'project-admin:connect-jira',
  ADMIN: 'admin:connect-jira',
  ACT_AS_USER: 'act-as-user:connect-jira',
  ACCESS_EMAIL_ADDRESSES: 'access-email-addresses:connect-jira',
};

export const LIFECYCLE = { installed: '/installed', uninstalled: '/uninstalled' } as const;

const SECTION_KEY = 'ugs-section';

export interface ConnectModule {
  key: string;
  [field: string]: unknown;
}

/**
 * Every Connect module of the app, by descriptor module type. The admin pages come from the pages the server
 * mounts (src/web/pages.ts), so a page cannot exist on one side only.
 */
export const CONNECT_MODULES: Record<'webSections' | 'adminPages', ConnectModule[]> = {
  webSections: [{ key: SECTION_KEY, location: 'admin_plugins_menu', name: { value: 'User & Group Sync' }, weight: 100 }],
  adminPages: ADMIN_PAGES.map((page, index) => ({
    key: page.key,
    name: { value: page.title },
    url: page.path,
    location: `admin_plugins_menu/${SECTION_KEY}`,
    weight: (index + 1) * 10,
    conditions: [{ condition: 'user_is_admin' }],
  })),
};

/** The Connect descriptor; ACE replaces `{{localBaseUrl}}` with APP_BASE_URL when it serves it. */
export function connectDescriptor() {
  return {
    key: APP.key,
    name: APP.name,
    description: APP.description,
    vendor: APP.vendor,
    baseUrl: '{{localBaseUrl}}',
    links: { self: '{{localBaseUrl}}/atlassian-connect.json', homepage: '{{localBaseUrl}}' },
    authentication: { type: 'jwt' },
    lifecycle: LIFECYCLE,
    apiMigrations: { 'signed-install': true, 'context-qsh': true, gdpr: true },
    scopes: [...CONNECT_SCOPES],
    enableLicensing: APP.licensing,
    modules: CONNECT_MODULES,
  };
}

export const FORGE = {
  /** A syntactically valid app ARI that names no app: `forge register` replaces it with the real one. */
  placeholderAppId: 'ari:cloud:ecosystem::app/00000000-0000-0000-0000-000000000000',
  /** Required by the manifest schema; no Forge function runs (the backend is the remote below). */
  runtime: 'nodejs22.x',
  remoteKey: 'connect',
  /** Manifest variables, read by the Forge CLI from its environment at `forge deploy` time. */
  keyVariable: 'CONNECT_APP_KEY',
  baseUrlVariable: 'APP_BASE_URL',
  lifecycleKey: 'ugs-lifecycle',
} as const;

/** The Forge manifest (Connect on Forge) with the same modules, keys, URLs, scopes and lifecycle. */
export function forgeManifest(appId: string = FORGE.placeholderAppId) {
  const connectModules: Record<string, ConnectModule[]> = {
    'jira:lifecycle': [{ key: FORGE.lifecycleKey, ...LIFECYCLE }],
  };
  for (const [type, modules] of Object.entries(CONNECT_MODULES)) connectModules[`jira:${type}`] = modules;
  return {
    app: {
      id: appId,
      description: APP.description,
      runtime: { name: FORGE.runtime },
      licensing: { enabled: APP.licensing },
      connect: { key: `\${${FORGE.keyVariable}}`, remote: FORGE.remoteKey, authentication: 'jwt' },
    },
    environment: {
      // The key defaults to the descriptor's (production); dev and staging deploy with their own key.
      // The base URL has no default, so `forge deploy` stops when it is not given.
      variables: [{ key: FORGE.keyVariable, default: APP.key }, FORGE.baseUrlVariable],
    },
    remotes: [{ key: FORGE.remoteKey, baseUrl: `\${${FORGE.baseUrlVariable}}` }],
    permissions: { scopes: CONNECT_SCOPES.map((scope) => FORGE_SCOPE_FOR_CONNECT_SCOPE[scope]) },
    connectModules,
  };
}

// ---- writing the files ------------------------------------------------------------------------------

const MANIFEST_HEADER = [
  'Forge manifest of this app as "Connect on Forge": the Connect modules below are served by this server',
  '(the `connect` remote), exactly as atlassian-connect.json declares them.',
  'Generated from src/connect/app-definition.ts by `npm run connect:generate`: edit that file, not this one.',
  'Deploy: APP_BASE_URL=https://your-public-url forge deploy -e production (see README, "Deploy to your Jira site").',
];

const MANIFEST_COMMENTS: Record<string, string> = {
  'app.id': 'Placeholder: replace with the id from `forge register` (it rewrites this line).',
  'app.connect.key': 'The descriptor key by default; set CONNECT_APP_KEY to deploy dev/staging under their own key.',
  'remotes': 'APP_BASE_URL: the public https base URL of this server (the same value the server runs with).',
};

const PLAIN_STRING = /^[A-Za-z_/][A-Za-z0-9_./-]*$/;
const YAML_WORDS = /^(true|false|yes|no|on|off|null|y|n)$/i;

function scalar(value: unknown): string {
  if (typeof value === 'string') return PLAIN_STRING.test(value) && !YAML_WORDS.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null) return 'null';
  throw new Error(`cannot write ${typeof value} to the manifest`);
}

const isScalar = (value: unknown) => value === null || typeof value !== 'object';

/** Block-style YAML for plain JSON data (strings are JSON-quoted unless unambiguous), with comments by path. */
function yamlLines(value: unknown, indent: number, path: string): string[] {
  const pad = ' '.repeat(indent);
  if (Array.isArray(value)) {
    return value.flatMap((item, index) => {
      if (isScalar(item)) return [`${pad}- ${scalar(item)}`];
      const lines = yamlLines(item, indent + 2, `${path}[${index}]`);
      lines[0] = `${pad}- ${lines[0]!.slice(indent + 2)}`;
      return lines;
    });
  }
  return Object.entries(value as Record<string, unknown>).flatMap(([key, child]) => {
    const childPath = path ? `${path}.${key}` : key;
    const name = /^[A-Za-z][A-Za-z0-9_:-]*$/.test(key) ? key : JSON.stringify(key);
    const comment = MANIFEST_COMMENTS[childPath];
    const head = comment ? [`${pad}# ${comment}`] : [];
    if (isScalar(child)) return [...head, `${pad}${name}: ${scalar(child)}`];
    if (Array.isArray(child) && child.length === 0) return [...head, `${pad}${name}: []`];
    return [...head, `${pad}${name}:`, ...yamlLines(child, indent + 2, childPath)];
  });
}

export function renderManifest(manifest: ReturnType<typeof forgeManifest>): string {
  return [...MANIFEST_HEADER.map((line) => `# ${line}`), ...yamlLines(manifest, 0, '')].join('\n') + '\n';
}

export function renderDescriptor(descriptor: ReturnType<typeof connectDescriptor>): string {
  return `${JSON.stringify(descriptor, null, 2)}\n`;
}
