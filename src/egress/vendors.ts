import type { UrlRules } from './policy';

/**
 * The hosts each Atlassian cloud product answers on. Jira and Confluence Cloud sites are
 * `{site}.atlassian.net` (older sites `{site}.jira.com`; Atlassian's staging sites `{site}.jira-dev.com`,
 * which CONNECT_HOST_ALLOWLIST accepts too); Bitbucket Cloud's REST API is api.bitbucket.org; the
 * organization (admin) API is api.atlassian.com. Cloud credentials only travel over https.
 */
export const CLOUD_VENDOR_HOSTS = {
  'jira-cloud': ['*.atlassian.net', '*.jira.com', '*.jira-dev.com'],
  'confluence-cloud': ['*.atlassian.net', '*.jira.com', '*.jira-dev.com'],
  'bitbucket-cloud': ['api.bitbucket.org'],
  'atlassian-org': ['api.atlassian.com'],
} as const;

export function cloudRules(kind: keyof typeof CLOUD_VENDOR_HOSTS): UrlRules {
  return { vendorHosts: CLOUD_VENDOR_HOSTS[kind], httpsOnly: true, what: `a ${kind} target` };
}
