import { describeAudit } from '../../src/sync/audit';
import { describeOp, type OpLookups, type OpRecord } from '../../src/sync/describe';

/** Operations and audit entries in words: people by name and email, targets by name and product. */
describe('describeOp', () => {
  const JIRA = '11111111-1111-4111-8111-111111111111';
  const CONF = '22222222-2222-4222-8222-222222222222';
  const ALICE = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
  const lookups: OpLookups = {
    targets: new Map([
      [JIRA, { name: 'acme', kind: 'jira-cloud' }],
      [CONF, { name: 'acme wiki', kind: 'confluence-cloud' }],
    ]),
    users: new Map([[ALICE, { displayName: 'Alice Doe', email: 'alice@example.com', userName: 'alice' }]]),
    accounts: new Map([
      ['5b10ac8d0000000280765671', { displayName: 'Alice Doe', email: 'alice@example.com' }],
      ['lead-2', { displayName: 'Bob Lead', email: 'bob@example.com' }],
    ]),
  };
  const op = (o: Partial<OpRecord> & { kind: string }): OpRecord => ({ targetId: JIRA, directoryUserId: ALICE, accountId: null, groupName: null, detail: {}, ...o });

  it('names the person, the group and the target with its product', () => {
    const add = describeOp(op({ kind: 'add-member', accountId: '5b10ac8d0000000280765671', groupName: 'idp-engineering' }), lookups);
    expect(add.label).toBe('Add Alice Doe <alice@example.com> to idp-engineering in Jira (acme)');
    expect(add).toMatchObject({ targetName: 'acme', targetProduct: 'Jira', userDisplay: 'Alice Doe <alice@example.com>', userEmail: 'alice@example.com' });
    expect(describeOp(op({ kind: 'create-user', targetId: CONF }), lookups).label).toBe('Create Alice Doe <alice@example.com> in Confluence (acme wiki)');
    expect(describeOp(op({ kind: 'create-user', detail: { account: { products: ['jira-software'] } } }), lookups).label).toBe(
      'Create Alice Doe <alice@example.com> in Jira (acme), with Jira Software',
    );
    expect(describeOp(op({ kind: 'deactivate-user', accountId: '5b10ac8d0000000280765671', detail: { reason: 'gone' } }), lookups).label).toBe(
      'Deactivate Alice Doe <alice@example.com> in Jira (acme) (removed from the IdP)',
    );
    expect(describeOp(op({ kind: 'link-user', accountId: '5b10ac8d0000000280765671' }), lookups).label).toBe(
      'Link Alice Doe <alice@example.com> to existing account 5b10ac8d0000000280765671 in Jira (acme)',
    );
    expect(describeOp(op({ kind: 'update-user', accountId: 'x', detail: { changes: { displayName: 'Alice Smith' } } }), lookups).label).toBe(
      'Update Alice Doe <alice@example.com> in Jira (acme): name → Alice Smith',
    );
    expect(describeOp(op({ kind: 'remove-member', groupName: 'jira-users', detail: { deprovision: true } }), lookups).label).toBe(
      'Remove Alice Doe <alice@example.com> from jira-users in Jira (acme) (instead of deactivating)',
    );
  });

  it('falls back to what the op itself carries when the person left the directory', () => {
    const gone = describeOp(op({ kind: 'create-user', directoryUserId: 'ffffffff-ffff-4fff-8fff-ffffffffffff', detail: { account: { email: 'carol@example.com', displayName: 'Carol' } } }), lookups);
    expect(gone.label).toBe('Create Carol <carol@example.com> in Jira (acme)');
    const bare = describeOp(op({ kind: 'reactivate-user', directoryUserId: null, accountId: 'unknown-1' }), lookups);
    expect(bare.label).toBe('Reactivate account unknown-1 in Jira (acme)');
  });

  it('tells the same group in two products apart and names group and lead ops without a person', () => {
    const inJira = describeOp(op({ kind: 'create-group', directoryUserId: null, groupName: 'idp-engineering' }), lookups);
    const inConfluence = describeOp(op({ kind: 'create-group', directoryUserId: null, groupName: 'idp-engineering', targetId: CONF }), lookups);
    expect(inJira.label).toBe('Create group idp-engineering in Jira (acme)');
    expect(inConfluence.label).toBe('Create group idp-engineering in Confluence (acme wiki)');
    expect(inJira.userDisplay).toBeNull();
    const lead = describeOp(op({ kind: 'set-project-lead', directoryUserId: null, detail: { projectKey: 'ENG', fromAccountId: '5b10ac8d0000000280765671', toAccountId: 'lead-2' } }), lookups);
    expect(lead.label).toBe(
      'Make Bob Lead <bob@example.com> (account lead-2) lead of project ENG in Jira (acme), instead of Alice Doe <alice@example.com> (account 5b10ac8d0000000280765671)',
    );
  });

  it('names a deleted target by its id and reads an unknown kind as words', () => {
    expect(describeOp(op({ kind: 'add-member', targetId: 'gone', groupName: 'g' }), lookups)).toMatchObject({ targetName: null, targetProduct: null });
    expect(describeOp(op({ kind: 'add-member', targetId: 'gone', groupName: 'g' }), lookups).label).toContain('in deleted target gone');
    expect(describeOp(op({ kind: 'reset-password' }), lookups).label).toBe('Reset password Alice Doe <alice@example.com> in Jira (acme)');
  });
});

describe('describeAudit', () => {
  it('writes settings changes as sentences with before → after', () => {
    const text = describeAudit({
      action: 'settings.update',
      details: {
        changes: [
          { path: 'user.onGone', before: 'deactivate', after: 'delete' },
          { path: 'group.manual.mappings', before: [], after: [{ idpGroup: 'Engineering', targetGroups: ['jira-eng'] }] },
          { path: 'user.adoptByEmail', before: true, after: false },
        ],
      },
    });
    expect(text).toBe('Changed the sync settings: User removed from the IdP: deactivate → delete; Manual mappings: (none) → Engineering → jira-eng; Adopt existing accounts by email: on → off.');
    expect(text).not.toMatch(/[{}"]/);
  });

  it('covers the admin actions and never hides an unknown one', () => {
    expect(describeAudit({ action: 'connection.rename', details: { from: 'Old', to: 'New' } })).toBe('Renamed the IdP app: Old → New.');
    expect(describeAudit({ action: 'schedule.update', details: { before: 'never', description: 'daily at 02:30 (Europe/Berlin)' } })).toBe(
      'Changed the schedule: never → daily at 02:30 (Europe/Berlin).',
    );
    expect(describeAudit({ action: 'target.update', details: { name: 'acme', changes: [{ field: 'name', before: 'old', after: 'acme' }], credentialsChanged: true } })).toBe(
      'Changed the target acme: name: old → acme; new credentials.',
    );
    expect(describeAudit({ action: 'target.create', details: { name: 'acme', kind: 'jira-cloud' } })).toBe('Added the target acme (Jira).');
    expect(describeAudit({ action: 'something.new', details: { x: 1 } })).toBe('something.new: x 1.');
  });
});
