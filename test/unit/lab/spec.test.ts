import assert from 'node:assert/strict';
import { UserError } from '../../../src/lib/errors.js';
import { assignPods } from '../../../src/lab/lab.js';
import { parseLabSpec, specFromFlags } from '../../../src/lab/spec.js';

const rejects = (doc: unknown, re: RegExp) =>
  assert.throws(() => parseLabSpec(doc), (err: unknown) => err instanceof UserError && re.test(err.message) && !err.message.includes('\n'), String(re));

describe('lab spec (lab.yaml schema)', () => {
  it('fills defaults', () => {
    const spec = parseLabSpec({ boxes: [{ name: 'b1' }], pods: [{ name: 'web' }] });
    assert.equal(spec.encap, 'geneve');
    assert.equal(spec.runtime, 'direct');
    assert.deepEqual(spec.namespaces, []);
    assert.deepEqual(spec.pods[0], { name: 'web', namespace: 'default', labels: {}, ports: [] });
  });

  it('parses namespaces, labels, ports and the lab-wide encap', () => {
    const spec = parseLabSpec({
      encap: 'vxlan',
      boxes: [{ name: 'edge1' }, { name: 'edge2' }],
      namespaces: [{ name: 'shop', labels: { env: 'prod' } }],
      pods: [{ name: 'web', namespace: 'shop', box: 'edge2', labels: { app: 'web' }, ports: ['http=80/tcp'] }],
    });
    assert.equal(spec.encap, 'vxlan');
    assert.deepEqual(spec.pods[0].ports, [{ name: 'http', port: 80, protocol: 'TCP' }]);
  });

  it('names the field path of the first problem', () => {
    rejects(undefined, /^lab\.yaml: boxes: /);
    rejects({ boxes: [] }, /boxes: .*1/);
    rejects({ boxes: [{ name: 'Box1' }] }, /boxes\[0\]\.name: 'Box1' is not a valid name/);
    rejects({ boxes: [{ name: 'b' }], pods: [{ name: 'p', box: 'c' }] }, /pods\[0\]\.box: unknown box 'c'/);
    rejects({ boxes: [{ name: 'b' }], pods: [{ name: 'p', namespace: 'x' }] }, /pods\[0\]\.namespace: unknown namespace 'x'/);
    rejects({ boxes: [{ name: 'b' }], pods: [{ name: 'p', labels: { app: 'a b' } }] }, /pods\[0\]\.labels\.app: label value/);
    rejects({ boxes: [{ name: 'b' }], pods: [{ name: 'p', labels: { app: 3 } }] }, /pods\[0\]\.labels\.app: /);
    rejects({ boxes: [{ name: 'b' }], pods: [{ name: 'p', ports: ['http=99999/TCP'] }] }, /pods\[0\]\.ports\[0\]: bad port number/);
    rejects({ encap: 'stt', boxes: [{ name: 'b' }] }, /encap: expected one of/);
    rejects({ runtime: 'docker', boxes: [{ name: 'b' }] }, /runtime: expected one of direct\|containerd, got "docker"/);
    rejects({ boxes: [{ name: 'b', encap: 'gre' }] }, /boxes\[0\]\.encap: unknown field/);
    rejects({ boxes: [{ name: 'b' }, { name: 'b' }] }, /boxes\[1\]\.name: duplicate box 'b'/);
    rejects({ boxes: [{ name: 'underlay' }] }, /reserved/);
    rejects({ boxes: [{ name: 'b' }], extra: 1 }, /extra/);
  });

  it('takes runtime: containerd from lab.yaml and from the flags', () => {
    assert.equal(parseLabSpec({ runtime: 'containerd', boxes: [{ name: 'b' }] }).runtime, 'containerd');
    assert.equal(specFromFlags(1, 1, 'geneve', false, 'containerd').runtime, 'containerd');
  });

  it('builds the spec of `lab up --nodes N --pods-per-node M`', () => {
    const spec = specFromFlags(2, 3, 'gre');
    assert.deepEqual(spec.boxes.map((b) => b.name), ['box1', 'box2']);
    assert.equal(spec.pods.length, 6);
    assert.deepEqual(spec.pods.filter((p) => p.box === 'box2').map((p) => p.name), ['box2-pod1', 'box2-pod2', 'box2-pod3']);
    assert.equal(spec.encap, 'gre');
  });

  it('places pods without a box on the box with fewest pods', () => {
    const spec = parseLabSpec({ boxes: [{ name: 'a' }, { name: 'b' }], pods: [{ name: 'p1', box: 'a' }, { name: 'p2' }, { name: 'p3' }, { name: 'p4' }] });
    const byBox = assignPods(spec);
    assert.deepEqual(byBox.get('a')?.map((p) => p.name), ['p1', 'p3']);
    assert.deepEqual(byBox.get('b')?.map((p) => p.name), ['p2', 'p4']);
  });
});
