import { AtlassianOrgTarget } from './atlassian-org';
import { BitbucketCloudTarget } from './bitbucket-cloud';
import { BitbucketDcTarget } from './bitbucket-dc';
import type { TargetDefinition } from './config';
import { ConfluenceCloudTarget } from './confluence-cloud';
import { ConfluenceDcTarget } from './confluence-dc';
import type { CallCounter, HttpClientOptions } from './http';
import { JiraCloudTarget, type AccountLifecycle } from './jira-cloud';
import { JiraDcTarget } from './jira-dc';
import type { Target } from './types';

/** Test and benchmark knobs for the HTTP client; production leaves them unset. */
export type HttpOverrides = Partial<Omit<HttpClientOptions, 'target' | 'auth' | 'baseUrl'>>;

export interface TargetDependencies {
  counter?: CallCounter;
  /** The org target that deactivates, reactivates and updates managed accounts of a cloud site. */
  lifecycle?: AccountLifecycle;
  http?: HttpOverrides;
}

/** Builds the adapter for a validated target definition (credentials already unsealed). */
export function createTarget(definition: TargetDefinition, dependencies: TargetDependencies = {}): Target {
  const limits = definition.settings.limits;
  const http = { baseUrl: definition.baseUrl, ...limits, counter: dependencies.counter, ...dependencies.http };
  switch (definition.kind) {
    case 'jira-cloud':
      return new JiraCloudTarget({ http: { ...http, ...definition.credentials }, lifecycle: dependencies.lifecycle });
    case 'confluence-cloud':
      return new ConfluenceCloudTarget({ http: { ...http, ...definition.credentials }, lifecycle: dependencies.lifecycle });
    case 'bitbucket-cloud':
      return new BitbucketCloudTarget({ http: { ...http, ...definition.credentials }, workspace: definition.settings.workspace });
    case 'bitbucket-dc':
      return new BitbucketDcTarget({ http: { ...http, ...definition.credentials }, addToDefaultGroup: definition.settings.addToDefaultGroup });
    case 'jira-dc':
      return new JiraDcTarget({ http: { ...http, ...definition.credentials }, notifyOnCreate: definition.settings.notifyOnCreate });
    case 'confluence-dc':
      return new ConfluenceDcTarget({ http: { ...http, ...definition.credentials }, notifyOnCreate: definition.settings.notifyOnCreate });
    case 'atlassian-org':
      return new AtlassianOrgTarget({
        http: { ...http, ...definition.credentials },
        orgId: definition.settings.orgId,
        directoryId: definition.settings.directoryId,
      });
  }
}
