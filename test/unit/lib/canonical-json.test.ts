// canonicalJsonMemo writes exactly what canonicalJson writes (stored document hashes must not
// move when the publisher switched to it), and reuses the text of an object it has seen.
import assert from 'node:assert/strict';
import { canonicalJson, canonicalJsonMemo } from '../../../src/lib/canonical-json.js';

describe('canonicalJsonMemo', function () {
  it('writes the same text as canonicalJson', function () {
    const spec = { priority: 5, appliedTo: [{ podSelector: { matchLabels: { app: 'demo', 'a/b': 'x"y' } } }], ingress: [{ action: 'Allow', ports: [{ port: 80, protocol: 'TCP' }] }] };
    const values: unknown[] = [
      null, 0, -1.5, 'text', true, [], {}, [1, 'a', null],
      { b: 1, a: { d: [3, { z: 1, y: undefined }], c: undefined }, e: null },
      { 'ClusterNetworkPolicy.crd.antrea.io//fleet': { spec, generation: 3 }, 'Tier.crd.antrea.io//x': { generation: 1, spec: { priority: 10 }, egress: { podIPs: ['10.0.0.1'] } } },
      [undefined, () => 1, { f: () => 1, s: Symbol('x'), n: Number.NaN }],
      { date: new Date(0), nested: [[1, 2], [3]] },
    ];
    for (const v of values) assert.equal(canonicalJsonMemo(v, new WeakMap()), canonicalJson(v), JSON.stringify(v));
  });

  it('writes a shared object once per memo', function () {
    const spec = { b: 2, a: 1 };
    const memo = new WeakMap<object, string>();
    assert.equal(canonicalJsonMemo({ x: { spec }, y: { spec } }, memo), '{"x":{"spec":{"a":1,"b":2}},"y":{"spec":{"a":1,"b":2}}}');
    assert.equal(memo.get(spec), '{"a":1,"b":2}');
    spec.a = 9; // not seen again: the memo is per publication, for values that do not change under it
    assert.equal(canonicalJsonMemo({ z: spec }, memo), '{"z":{"a":1,"b":2}}');
  });
});
