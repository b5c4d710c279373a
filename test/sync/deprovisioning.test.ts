import { describeDeprovisioning, type DeprovisionTarget } from '../../src/sync/deprovisioning';
import { parseSettings, type SyncSettingsInput } from '../../src/sync/settings';

const settings = (input: Omit<SyncSettingsInput, 'schemaVersion'> = {}) => parseSettings({ schemaVersion: 1, ...input });
const jira: DeprovisionTarget = { id: 'j', name: 'Jira', kind: 'jira-cloud', enabled: true };
const confluence: DeprovisionTarget = { id: 'c', name: 'Confluence', kind: 'confluence-cloud', enabled: true, sharesDirectoryWith: 'j' };
const org: DeprovisionTarget = { id: 'o', name: 'Acme org', kind: 'atlassian-org', enabled: true };

const effects = (s: ReturnType<typeof settings>, targets: DeprovisionTarget[]) => describeDeprovisioning(s, targets).map((p) => `${p.name}: ${p.effect}${p.warning ? ' (warning)' : ''}`);

describe('what a deactivation does, per current target (User Sync page)', () => {
  it('defaults, Jira and Confluence on one site, no org: Jira loses every access group; Confluence access may remain, and says why', () => {
    const preview = describeDeprovisioning(settings(), [jira, confluence]);
    expect(preview.map((p) => `${p.name}: ${p.effect}${p.warning ? ' (warning)' : ''}`)).toEqual(['Jira: remove-groups', 'Confluence: remove-groups (warning)']);
    expect(preview[0]!.sentence).toMatch(/every group that grants Jira access \(Jira's application roles\)/);
    expect(preview[0]!.removesAllAccess).toBe(true);
    expect(preview[1]!.sentence).toMatch(/^Written through "Jira" \(same site\): .*Confluence access may remain: Confluence Cloud has no API to deactivate a user or remove site access without an organization target/);
  });

  it('with an org target: suspension through the org, nothing left to warn about', () => {
    const linked = [{ ...jira, orgTargetId: 'o' }, confluence, org];
    expect(effects(settings(), linked)).toEqual(['Jira: suspend', 'Confluence: suspend', 'Acme org: not-synced']);
    expect(describeDeprovisioning(settings(), linked)[0]!.sentence).toMatch(/Suspends the user's access to the organization's apps through "Acme org"/);
  });

  it('follows the settings: remove from site, do nothing, deactivation off, delete allowed; Data Center deactivates; disabled targets are left out', () => {
    expect(effects(settings({ user: { deactivateFallback: 'remove-from-site' } }), [jira])).toEqual(['Jira: remove-from-site']);
    expect(effects(settings({ user: { deactivateFallback: 'none' } }), [jira])).toEqual(['Jira: nothing (warning)']);
    expect(effects(settings({ user: { operations: { deactivate: false } } }), [jira])).toEqual(['Jira: nothing (warning)']);
    expect(effects(settings({ user: { onInactive: 'delete', operations: { delete: true } } }), [jira])).toEqual(['Jira: delete']);
    expect(effects(settings({ user: { onInactive: 'ignore' } }), [jira])).toEqual(['Jira: nothing']);
    expect(effects(settings(), [{ id: 'd', name: 'Jira DC', kind: 'jira-dc', enabled: true }, { id: 'b', name: 'Bitbucket', kind: 'bitbucket-cloud', enabled: true }, { ...jira, enabled: false }])).toEqual([
      'Jira DC: deactivate',
      'Bitbucket: remove-groups (warning)',
    ]);
  });
});
