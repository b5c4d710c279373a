import type { TargetStore } from '../targets/store';
import type { TargetDependencies } from '../targets/factory';
import type { TargetResolver } from './runs';

/**
 * The engine's view of a tenant's targets: every enabled target in the store, opened with its sealed
 * credentials. A Confluence Cloud target on Jira's site carries `sharesDirectoryWith`, so the engine
 * writes users and groups once, through Jira.
 */
export function storeTargetResolver(store: TargetStore, dependencies: TargetDependencies = {}): TargetResolver {
  return async (tenantId) => {
    const enabled = (await store.list(tenantId)).filter((target) => target.enabled);
    return Promise.all(
      enabled.map(async (stored) => ({
        targetId: stored.id,
        kind: stored.kind,
        target: await store.open(tenantId, stored.id, dependencies),
        sharesDirectoryWith: stored.sharesDirectoryWith ?? undefined,
      })),
    );
  };
}
