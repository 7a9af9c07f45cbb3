import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManifestError, loadManifestFile, parseManifests } from '../../../src/api/manifest.js';
import { problemLines } from './helpers.js';

const tierYaml = (name: string, priority: number | string) => `apiVersion: crd.antrea.io/v1beta1
kind: Tier
metadata:
  name: ${name}
spec:
  priority: ${priority}
`;

const acnpYaml = `apiVersion: crd.antrea.io/v1alpha1
kind: ClusterNetworkPolicy
metadata:
  name: web-allow
spec:
  priority: 5
  appliedTo:
    - podSelector: {matchLabels: {app: web}}
  ingress:
    - action: Allow
      ports: [{protocol: TCP, port: 80}]
`;

describe('api: manifest loading', () => {
  it('loads multi-document YAML, skipping empty documents, v1alpha1 included', () => {
    const objects = parseManifests(`---\n${acnpYaml}---\n# only a comment\n---\n${tierYaml('edge', 20)}---\n`, 'all.yaml');
    assert.deepEqual(
      objects.map((o) => `${o.apiVersion} ${o.kind}/${o.metadata.name}`),
      ['crd.antrea.io/v1alpha1 ClusterNetworkPolicy/web-allow', 'crd.antrea.io/v1beta1 Tier/edge'],
    );
  });

  it('narrows the result on kind', () => {
    const [obj] = parseManifests(tierYaml('edge', 20), 't.yaml');
    assert.ok(obj && obj.kind === 'Tier');
    assert.equal(obj.spec.priority, 20); // typed: TierSpec
  });

  it('returns nothing when one document of many is bad, and lists every problem', () => {
    const text = `${acnpYaml}---\n${tierYaml('edge', 20)}---\n${tierYaml('bad', 300)}---\n${tierYaml('worse', '"x"')}`;
    assert.throws(() => parseManifests(text, 'policy.yaml'), ManifestError);
    assert.deepEqual(problemLines(text), [
      'policy.yaml doc 3 (Tier bad): spec.priority: must be <= 255, got 300',
      'policy.yaml doc 4 (Tier worse): spec.priority: expected number, got string',
    ]);
  });

  it('counts documents by position, empty ones included', () => {
    const lines = problemLines(`---\n---\n${tierYaml('bad', 300)}`);
    assert.deepEqual(lines, ['policy.yaml doc 2 (Tier bad): spec.priority: must be <= 255, got 300']);
  });

  it('exposes problems as data for REST and Node-RED', () => {
    try {
      parseManifests(tierYaml('bad', 300), 'api');
      assert.fail('expected a ManifestError');
    } catch (err) {
      assert.ok(err instanceof ManifestError);
      assert.deepEqual(err.problems, [
        { source: 'api', doc: 1, kind: 'Tier', name: 'bad', path: 'spec.priority', message: 'must be <= 255, got 300' },
      ]);
    }
  });

  it('loads kind: List and names items 1-based', () => {
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'crd.antrea.io/v1beta1', kind: 'Tier', metadata: { name: 'a' }, spec: { priority: 10 } },
        { apiVersion: 'crd.antrea.io/v1beta1', kind: 'Tier', metadata: { name: 'b' }, spec: { priority: 11 } },
        { apiVersion: 'crd.antrea.io/v1beta1', kind: 'Tier', metadata: { name: 'c' }, spec: { priority: 'high' } },
      ],
    };
    assert.deepEqual(problemLines(JSON.stringify(list), 'list.json'), [
      'list.json doc 1 item 3 (Tier c): spec.priority: expected number, got string',
    ]);
    list.items[2]!.spec.priority = 12;
    assert.deepEqual(
      parseManifests(JSON.stringify(list), 'list.json').map((o) => o.metadata.name),
      ['a', 'b', 'c'],
    );
  });

  it('rejects a List without items', () => {
    assert.deepEqual(problemLines('apiVersion: v1\nkind: List\n'), ['policy.yaml doc 1 (List ?): items: required']);
  });

  it('loads JSON, pretty-printed with tabs too', () => {
    const obj = { apiVersion: 'crd.antrea.io/v1beta1', kind: 'Tier', metadata: { name: 'json' }, spec: { priority: 30 } };
    assert.equal(parseManifests(JSON.stringify(obj), 'tier.json')[0]?.metadata.name, 'json');
    assert.equal(parseManifests(JSON.stringify(obj, null, '\t'), 'tier.json')[0]?.metadata.name, 'json');
    assert.deepEqual(
      parseManifests(JSON.stringify([obj, { ...obj, metadata: { name: 'json2' } }]), 'tiers.json').map((o) => o.metadata.name),
      ['json', 'json2'],
    );
  });

  it('names the line of a YAML syntax error', () => {
    const text = `${tierYaml('ok', 20)}---\napiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata:\n  name: a: b\nspec: {}\n`;
    const lines = problemLines(text, 'tiers.yaml');
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^tiers\.yaml doc 2: YAML syntax error at line 11, column \d+: Nested mappings are not allowed/);
  });

  it('names the line of a JSON syntax error', () => {
    const lines = problemLines('{\n  "apiVersion": "v1",\n  "kind": "List",\n  "items": [\n}\n', 'broken.json');
    assert.match(lines[0]!, /^broken\.json doc 1: YAML syntax error at line 5, column 1: /);
  });

  it('rejects duplicate keys like the API server', () => {
    const lines = problemLines(`${tierYaml('dup', 20)}spec:\n  priority: 21\n`);
    assert.match(lines[0]!, /YAML syntax error at line 7, column 1: Map keys must be unique/);
  });

  it('reports unknown kinds with their apiVersion', () => {
    assert.deepEqual(problemLines('apiVersion: x/y\nkind: Foo\nmetadata: {name: bar}\n'), ['policy.yaml doc 1 (Foo bar): unknown kind "Foo" (apiVersion x/y)']);
  });

  it('reports a missing apiVersion and kind, and non-objects', () => {
    assert.deepEqual(problemLines('metadata: {name: x}\n'), ['policy.yaml doc 1 (? x): apiVersion: required', 'policy.yaml doc 1 (? x): kind: required']);
    assert.deepEqual(problemLines('just a string\n'), [
      'policy.yaml doc 1 (? ?): expected a Kubernetes object (apiVersion, kind, metadata, spec), got string',
    ]);
  });

  it('tells Antrea and Kubernetes NetworkPolicy apart by apiVersion', () => {
    const k8s = `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np}\nspec:\n  podSelector: {}\n  ingress: [{from: [{podSelector: {}}]}]\n`;
    const [obj] = parseManifests(k8s, 'np.yaml');
    assert.ok(obj && obj.kind === 'NetworkPolicy' && obj.apiVersion === 'networking.k8s.io/v1');
    // The same spec is not an Antrea NetworkPolicy: priority and appliedTo are missing, podSelector unknown.
    const lines = problemLines(k8s.replace('networking.k8s.io/v1', 'crd.antrea.io/v1beta1'));
    assert.ok(lines.some((l) => l.endsWith('spec.priority: required')));
    assert.ok(lines.some((l) => l.endsWith('spec.podSelector: unknown field "podSelector"')));
  });

  it('returns an empty list for empty input', () => {
    assert.deepEqual(parseManifests('', 'empty.yaml'), []);
    assert.deepEqual(parseManifests('# nothing\n', 'empty.yaml'), []);
  });

  it('loadManifestFile names problems by the file base name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seine-api-'));
    try {
      const file = join(dir, 'policy.yaml');
      writeFileSync(file, acnpYaml.replace('action: Allow', 'action: Deny'));
      await assert.rejects(loadManifestFile(file), {
        name: 'ManifestError',
        message: 'policy.yaml doc 1 (ClusterNetworkPolicy web-allow): spec.ingress[0].action: expected one of Allow|Drop|Reject|Pass, got "Deny"',
      });
      writeFileSync(file, acnpYaml);
      assert.equal((await loadManifestFile(file)).length, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
