import { z } from 'zod';
import { egress, type UrlRules } from '../egress';
import { cloudRules } from '../egress/vendors';
import type { TargetKind } from './types';

/**
 * What an admin configures per target, validated with zod: the base URL, non-secret settings, and the
 * credentials (sealed at rest by the store, never returned by it). One schema per kind.
 */

export const TARGET_KINDS = [
  'jira-cloud',
  'confluence-cloud',
  'bitbucket-cloud',
  'bitbucket-dc',
  'jira-dc',
  'confluence-dc',
  'atlassian-org',
] as const satisfies readonly TargetKind[];

/**
 * The URL rules of each kind (src/egress): cloud kinds reach only their vendor's hosts, over https; Data
 * Center kinds any public host, over http too (such servers often run without TLS). Non-public addresses
 * (loopback, RFC 1918, link-local, …) only where the operator lists them in EGRESS_ALLOW; a listed host is
 * also exempt from the vendor-host and https rules, which is how tests reach their loopback fakes.
 */
export function targetUrlRules(kind: TargetKind): UrlRules {
  switch (kind) {
    case 'jira-cloud':
    case 'confluence-cloud':
    case 'bitbucket-cloud':
    case 'atlassian-org':
      return cloudRules(kind);
    default:
      return { what: `a ${kind} target` };
  }
}

function baseUrl(kind: TargetKind, options: { stripSuffix?: RegExp } = {}) {
  return z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .transform((value) => {
      let url = value.replace(/[?#].*$/, '').replace(/\/+$/, '');
      if (options.stripSuffix) url = url.replace(options.stripSuffix, '');
      return url;
    })
    .superRefine((value, context) => {
      const refusal = egress().policy.refusalForUrl(value, targetUrlRules(kind));
      if (refusal) context.addIssue({ code: 'custom', message: refusal.message });
    });
}

/** HTTP client tuning; the defaults suit Atlassian Cloud's burst limits. */
export const limitsSchema = z
  .object({
    concurrency: z.int().min(1).max(16).default(4),
    maxRetries: z.int().min(0).max(10).default(5),
    timeoutMs: z.int().min(1000).max(120_000).default(30_000),
  })
  .prefault({});

const siteCredentials = z.object({ email: z.email(), apiToken: z.string().trim().min(1) }).strict();
const tokenCredentials = z.object({ token: z.string().trim().min(1) }).strict();

export const targetInputSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('jira-cloud'),
    name: z.string().trim().min(1).max(100),
    baseUrl: baseUrl('jira-cloud'),
    settings: z
      .object({
        /** The atlassian-org target that deactivates, reactivates and updates this site's managed accounts. */
        orgTargetId: z.uuid().optional(),
        limits: limitsSchema,
      })
      .strict()
      .prefault({}),
    credentials: siteCredentials,
  }),
  z.object({
    kind: z.literal('confluence-cloud'),
    name: z.string().trim().min(1).max(100),
    // The site root: `https://x.atlassian.net/wiki` is stored as `https://x.atlassian.net`.
    baseUrl: baseUrl('confluence-cloud', { stripSuffix: /\/wiki$/ }),
    settings: z.object({ orgTargetId: z.uuid().optional(), limits: limitsSchema }).strict().prefault({}),
    credentials: siteCredentials,
  }),
  z.object({
    kind: z.literal('bitbucket-cloud'),
    name: z.string().trim().min(1).max(100),
    baseUrl: baseUrl('bitbucket-cloud').default('https://api.bitbucket.org'),
    settings: z
      .object({
        workspace: z.string().regex(/^[A-Za-z0-9_.-]{1,62}$/, 'a workspace slug (letters, digits, - _ .)'),
        limits: limitsSchema,
      })
      .strict(),
    credentials: z.object({ username: z.string().trim().min(1), apiToken: z.string().trim().min(1) }).strict(),
  }),
  z.object({
    kind: z.literal('bitbucket-dc'),
    name: z.string().trim().min(1).max(100),
    baseUrl: baseUrl('bitbucket-dc'),
    settings: z.object({ limits: limitsSchema, addToDefaultGroup: z.boolean().default(true) }).strict().prefault({}),
    credentials: tokenCredentials,
  }),
  z.object({
    kind: z.literal('jira-dc'),
    name: z.string().trim().min(1).max(100),
    baseUrl: baseUrl('jira-dc'),
    settings: z.object({ limits: limitsSchema, notifyOnCreate: z.boolean().default(false) }).strict().prefault({}),
    credentials: tokenCredentials,
  }),
  z.object({
    kind: z.literal('confluence-dc'),
    name: z.string().trim().min(1).max(100),
    baseUrl: baseUrl('confluence-dc'),
    settings: z.object({ limits: limitsSchema, notifyOnCreate: z.boolean().default(true) }).strict().prefault({}),
    credentials: tokenCredentials,
  }),
  z.object({
    kind: z.literal('atlassian-org'),
    name: z.string().trim().min(1).max(100),
    baseUrl: baseUrl('atlassian-org').default('https://api.atlassian.com'),
    settings: z
      .object({
        orgId: z.string().trim().min(1),
        /** The org directory whose groups this target manages; the first directory when absent. */
        directoryId: z.string().trim().min(1).optional(),
        limits: limitsSchema,
      })
      .strict(),
    credentials: z.object({ apiKey: z.string().trim().min(1) }).strict(),
  }),
]);

export type TargetInput = z.input<typeof targetInputSchema>;
export type TargetDefinition = z.output<typeof targetInputSchema>;
export type TargetSettings<K extends TargetKind> = Extract<TargetDefinition, { kind: K }>['settings'];
export type TargetCredentials<K extends TargetKind> = Extract<TargetDefinition, { kind: K }>['credentials'];

/**
 * The Atlassian site a cloud target lives on (origin of its base URL), or null for kinds that are not
 * site products. Jira Cloud and Confluence Cloud on one site share users and groups.
 */
export function siteOf(kind: TargetKind, url: string): string | null {
  if (kind !== 'jira-cloud' && kind !== 'confluence-cloud') return null;
  return new URL(url).origin.toLowerCase();
}
