import assert from 'node:assert/strict';
import { referenceProblems, type ObjectView } from '../../../src/controller/references.js';

const tier = (name: string, priority: number): ObjectView => ({ kind: 'Tier', name, spec: { priority } });
const acnp = (name: string, tierName?: string): ObjectView & { group: string } => ({ kind: 'ClusterNetworkPolicy', group: 'crd.antrea.io', name, spec: { priority: 1, ...(tierName ? { tier: tierName } : {}) } });
const knp = (name: string): ObjectView & { group: string } => ({ kind: 'NetworkPolicy', group: 'networking.k8s.io', namespace: 'default', name, spec: {} });
const only = (...names: string[]) => (o: ObjectView) => names.includes(o.name);

describe('controller cross-object checks', () => {
  it('accepts policies in built-in, default and existing custom tiers', () => {
    const after = [tier('mytier', 10), acnp('a', 'mytier'), acnp('b', 'securityops'), acnp('c'), acnp('d', 'Emergency'), knp('k')];
    assert.deepEqual(referenceProblems(after, () => true), []);
  });

  it('rejects a policy in an unknown tier on spec.tier', () => {
    assert.deepEqual(referenceProblems([acnp('web', 'nope')], only('web')), [
      { object: 'ClusterNetworkPolicy web', field: 'spec.tier', message: 'unknown tier "nope" (create the Tier first)' },
    ]);
  });

  it('rejects a tier whose priority another tier holds, built-in or custom', () => {
    assert.deepEqual(referenceProblems([tier('t1', 100)], only('t1')).map((p) => p.message), ['priority 100 is already taken by tier securityops']);
    assert.deepEqual(referenceProblems([tier('old', 20), tier('new', 20)], only('new')).map((p) => `${p.object} ${p.field}`), ['Tier new spec.priority']);
  });

  it('refuses to delete a tier that policies still use', () => {
    const after = [acnp('web', 'mytier')]; // the tier itself is gone from `after`
    assert.deepEqual(referenceProblems(after, () => false, ['mytier']), [
      { object: 'Tier mytier', field: 'metadata.name', message: 'tier mytier is still used by ClusterNetworkPolicy web' },
    ]);
  });

  it('ignores problems of objects the change does not touch', () => {
    assert.deepEqual(referenceProblems([acnp('old', 'gone'), acnp('new')], only('new')), []);
  });
});
