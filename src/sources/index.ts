import type { PullConfig } from './config';
import { EntraSource } from './entra';
import type { SourceHttpOptions } from './http';
import { KeycloakSource } from './keycloak';
import { MiniOrangeSource } from './miniorange';
import { OktaSource } from './okta';
import { ScimSource } from './scim';
import type { Source, SourceCheck } from './types';

export type { Source, SourceCheck, SourceKind, SourceUser, SourceGroup } from './types';
export { SourceError } from './types';

/** The Source for a validated pull configuration. */
export function createSource(config: PullConfig, http: SourceHttpOptions = {}): Source {
  switch (config.kind) {
    case 'miniorange':
      return new MiniOrangeSource(config, http);
    case 'okta':
      return new OktaSource(config, http);
    case 'entra':
      return new EntraSource(config, http);
    case 'keycloak':
      return new KeycloakSource(config, http);
    case 'scim':
      return new ScimSource(config, http);
  }
}

/** The admin's "Test connection": asks the IdP for one page with these settings; never throws. */
export async function testPullConfig(config: PullConfig, http: SourceHttpOptions = {}): Promise<SourceCheck> {
  try {
    return await createSource(config, { maxRetries: 1, ...http }).testConnection();
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
}
