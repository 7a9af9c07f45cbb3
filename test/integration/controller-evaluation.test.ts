// NetworkPolicyEvaluation on a real controller: two agents' sync modules report their pods
// (with labels and declared ports) over MQTT, policies are applied through REST, and
// POST /api/v1/networkpolicyevaluation and `seinectl query networkpolicyevaluation` (the real
// binary) answer from the store and the reported inventories: Antrea's response fields, K8s
// isolation and "no policy" stated as such, named ports resolved on the reporting node's pod,
// 404 naming a pod, 422 naming a field, read tokens allowed. Verdicts against real traffic are
// in policy-matrix.test.ts.
import assert from 'node:assert/strict';
import type { NodeReported } from '../../src/api/node-state.js';
import type { Controller } from '../../src/controller/main.js';
import { distProgram } from '../../src/lib/paths.js';
import { spawnCollect } from '../helpers/spawn.js';
import { api, clientFlags, startAgent, startController, tempDir, waitFor, type TestAgent } from './controller-fixture.js';

const ADMIN = 'admin-token-0123456789abcdef';
const READER = 'reader-token-0123456789abcdef';
const NPE = '/api/v1/networkpolicyevaluation';

const NAMESPACES = { prod: { 'kubernetes.io/metadata.name': 'prod', env: 'prod' }, dev: { 'kubernetes.io/metadata.name': 'dev', env: 'dev' } };
const INVENTORIES: Record<string, NodeReported['inventory']> = {
  box1: {
    pods: [
      { namespace: 'prod', name: 'web', ips: ['10.42.1.10'], labels: { app: 'web' }, ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
      { namespace: 'prod', name: 'client', ips: ['10.42.1.20'], labels: { role: 'client' } },
    ],
    namespaces: NAMESPACES,
  },
  box2: {
    pods: [
      { namespace: 'prod', name: 'db', ips: ['10.42.2.10'], labels: { app: 'db' }, ports: [{ name: 'http', port: 9090, protocol: 'TCP' }] },
      { namespace: 'dev', name: 'client', ips: ['10.42.2.20'], labels: { role: 'client' } },
    ],
    namespaces: NAMESPACES,
  },
};

const POLICIES = {
  apiVersion: 'v1',
  kind: 'List',
  items: [
    { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'db-deny', namespace: 'prod' }, spec: { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'] } },
    {
      apiVersion: 'crd.antrea.io/v1beta1', kind: 'ClusterNetworkPolicy', metadata: { name: 'no-dev-http' },
      spec: {
        priority: 5, tier: 'securityops', appliedTo: [{ podSelector: {}, namespaceSelector: { matchLabels: { env: 'prod' } } }],
        ingress: [{ action: 'Reject', name: 'dev-http', ports: [{ port: 'http' }], from: [{ namespaceSelector: { matchLabels: { env: 'dev' } } }] }],
      },
    },
  ],
};

const pod = (ref: string) => {
  const [namespace, name] = ref.split('/');
  return { pod: { namespace, name } };
};

describe('NetworkPolicyEvaluation (REST and seinectl)', function () {
  this.timeout(30_000);
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let c: Controller;
  const agents: TestAgent[] = [];
  const evaluate = (request: unknown, token: string = ADMIN) => api(c.restUrl, 'POST', NPE, { apiVersion: 'controlplane.antrea.io/v1beta2', kind: 'NetworkPolicyEvaluation', request }, token);

  before(async function () {
    tmp = await tempDir('seine-ctl-npe-');
    c = await startController(tmp.dir, { auth: { adminTokens: [ADMIN], readOnlyTokens: [READER] } });
    for (const node of ['box1', 'box2']) {
      const password = await c.nodes.createCredentials(node, 'test');
      agents.push(await startAgent({ node, url: c.brokerUrl, password, dir: tmp.dir, inventory: () => INVENTORIES[node]! }));
    }
    assert.equal((await api(c.restUrl, 'POST', '/api/v1/apply', POLICIES, ADMIN)).status, 200);
    // Both nodes' reports are in once the db pod (box2) and the web pod (box1) are found.
    await waitFor('both inventories reported', async () => (await evaluate({ source: pod('prod/web'), destination: pod('prod/db') })).status === 200);
  });
  after(async function () {
    for (const a of agents) await a.stop();
    await c?.stop();
    await tmp?.remove();
  });

  it('K8s isolation: Drop, named as such with the isolating policy and rule index -1 (Antrea\'s shape)', async function () {
    const r = await evaluate({ source: pod('prod/web'), destination: pod('prod/db'), protocol: 'TCP', port: 5432 }, READER);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.kind, 'NetworkPolicyEvaluation');
    assert.deepEqual(r.body.request.source, { pod: { namespace: 'prod', name: 'web' } });
    const res = r.body.response;
    assert.equal(res.action, 'Drop');
    assert.equal(res.decidedBy, 'k8s-isolation');
    assert.deepEqual({ ...res.networkPolicy, uid: undefined }, { type: 'K8sNetworkPolicy', namespace: 'prod', name: 'db-deny', uid: undefined });
    assert.match(res.networkPolicy.uid, /-/, 'the stored object\'s uid');
    assert.equal(res.ruleIndex, -1);
    assert.deepEqual(res.rule, { direction: 'In', action: 'Drop' });
    assert.deepEqual(res.source, { ip: '10.42.1.10', pod: { namespace: 'prod', name: 'web' }, node: 'box1' });
    assert.deepEqual(res.destination, { ip: '10.42.2.10', pod: { namespace: 'prod', name: 'db' }, node: 'box2' });
    assert.match(res.message, /ingress of prod\/db is isolated by K8s NetworkPolicy prod\/db-deny/);
  });

  it('a named port resolves on the destination pod as its node reports it', async function () {
    const web = await evaluate({ source: pod('dev/client'), destination: pod('prod/web'), protocol: 'TCP', port: 8080 });
    assert.equal(web.body.response.action, 'Reject');
    assert.equal(web.body.response.decidedBy, 'policy');
    assert.deepEqual(web.body.response.networkPolicy.name, 'no-dev-http');
    assert.equal(web.body.response.networkPolicy.tier, 'securityops');
    assert.deepEqual(web.body.response.rule, { direction: 'In', name: 'dev-http', action: 'Reject' });
    assert.equal((await evaluate({ source: pod('dev/client'), destination: pod('prod/web'), protocol: 'TCP', port: 9090 })).body.response.action, 'Allow');
    // db's "http" is 9090: the Reject decides before the isolation would.
    assert.equal((await evaluate({ source: pod('dev/client'), destination: pod('prod/db'), port: 9090 })).body.response.action, 'Reject');
    assert.equal((await evaluate({ source: pod('dev/client'), destination: pod('prod/db'), port: 8080 })).body.response.decidedBy, 'k8s-isolation');
  });

  it('no policy is stated as such; an address outside the pods has no egress side', async function () {
    const r = await evaluate({ source: pod('prod/client'), destination: pod('dev/client'), protocol: 'UDP', port: 53 });
    assert.equal(r.body.response.action, 'Allow');
    assert.equal(r.body.response.decidedBy, 'no-policy');
    assert.equal(r.body.response.networkPolicy, undefined);
    assert.match(r.body.response.message, /no rule applies/);
    const out = await evaluate({ source: { ip: '192.0.2.7' }, destination: pod('prod/web'), protocol: 'TCP', port: 8080 });
    assert.equal(out.body.response.action, 'Allow');
    assert.equal(out.body.response.egress, undefined);
    assert.equal(out.body.response.ingress.decidedBy, 'no-policy');
  });

  it('404 naming a pod no node reports, 422 naming the field, 405 for GET', async function () {
    const missing = await evaluate({ source: pod('prod/nope'), destination: pod('prod/web') });
    assert.equal(missing.status, 404);
    assert.match(missing.body.message, /request\.source\.pod: Pod prod\/nope not found/);
    const bad = await evaluate({ source: pod('prod/web'), destination: { ip: '10.0.0.300' } });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.details.causes[0].field, 'request.destination.ip');
    const icmpPort = await evaluate({ source: pod('prod/web'), destination: pod('prod/db'), protocol: 'ICMP', port: 80 });
    assert.equal(icmpPort.status, 422);
    assert.equal(icmpPort.body.details.causes[0].field, 'request.port');
    // A Go client's body (empty metadata, as antctl serializes it) is taken as it is.
    const goBody = { kind: 'NetworkPolicyEvaluation', apiVersion: 'controlplane.antrea.io/v1beta2', metadata: { creationTimestamp: null }, request: { source: pod('prod/web'), destination: pod('prod/db') } };
    assert.equal((await api(c.restUrl, 'POST', NPE, goBody, ADMIN)).body.response.decidedBy, 'k8s-isolation');
    const unknown = await api(c.restUrl, 'POST', NPE, { request: { source: pod('prod/web'), destination: pod('prod/db') }, extra: 1 }, ADMIN);
    assert.equal(unknown.status, 422);
    assert.equal(unknown.body.details.causes[0].field, 'extra');
    assert.equal((await api(c.restUrl, 'GET', NPE, undefined, ADMIN)).status, 405);
    assert.equal((await api(c.restUrl, 'POST', NPE, { request: {} }, null)).status, 401);
  });

  it('the answer follows the store: deleting the policy turns the Reject into no policy', async function () {
    const cnp = '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies/no-dev-http';
    assert.equal((await api(c.restUrl, 'DELETE', cnp, undefined, ADMIN)).status, 200);
    try {
      assert.equal((await evaluate({ source: pod('dev/client'), destination: pod('prod/web'), port: 8080 })).body.response.decidedBy, 'no-policy');
    } finally {
      assert.equal((await api(c.restUrl, 'POST', '/api/v1/apply', POLICIES, ADMIN)).status, 200);
    }
  });

  it('the OpenAPI document has the path and both schemas', async function () {
    const { body } = await api(c.restUrl, 'GET', '/openapi.json');
    assert.ok(body.paths[NPE].post);
    assert.ok(body.components.schemas.NetworkPolicyEvaluation.properties.request);
    assert.ok(body.components.schemas.NetworkPolicyEvaluationResult.properties.response);
  });

  describe('seinectl query networkpolicyevaluation', function () {
    const seinectl = (args: string[]) =>
      spawnCollect(process.execPath, [distProgram('cli/seinectl.js'), ...clientFlags(c.restUrl), '--token', READER, 'query', 'networkpolicyevaluation', ...args], { env: { PATH: process.env.PATH, HOME: tmp.dir } });

    it('table by default: Antrea\'s columns, DECIDED-BY and the sentence', async function () {
      const r = await seinectl(['-S', 'dev/client', '-D', 'prod/web', '--port', '8080', '--protocol', 'tcp']);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.deepEqual(lines[0]!.split(/\s+/), ['NAME', 'NAMESPACE', 'POLICY-TYPE', 'RULE-INDEX', 'DIRECTION', 'ACTION', 'DECIDED-BY']);
      assert.deepEqual(lines[1]!.split(/\s+/), ['no-dev-http', 'AntreaClusterNetworkPolicy', '0', 'In', 'Reject', 'policy']);
      assert.match(lines[2]!, /^Reject by rule 0 \(dev-http\) of ClusterNetworkPolicy no-dev-http in tier securityops, priority 5, on the ingress of prod\/web$/);
    });

    it('-o json and -o yaml carry the whole NetworkPolicyEvaluation; an IP works as an end', async function () {
      const j = await seinectl(['-S', 'prod/web', '-D', '10.42.2.10', '-o', 'json']);
      assert.equal(j.code, 0, j.stderr);
      const body = JSON.parse(j.stdout);
      assert.equal(body.response.decidedBy, 'k8s-isolation');
      assert.deepEqual(body.response.destination.pod, { namespace: 'prod', name: 'db' });
      const y = await seinectl(['-S', 'prod/client', '-D', 'dev/client', '--protocol', 'udp', '--port', '53', '-o', 'yaml']);
      assert.equal(y.code, 0, y.stderr);
      assert.match(y.stdout, /decidedBy: no-policy/);
    });

    it('errors name the pod or the flag, exit status 1', async function () {
      const missing = await seinectl(['-S', 'prod/ghost', '-D', 'prod/web']);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /request\.source\.pod: Pod prod\/ghost not found/);
      const badPort = await seinectl(['-S', 'prod/web', '-D', 'prod/db', '--port', '70000']);
      assert.equal(badPort.code, 1);
      assert.match(badPort.stderr, /request\.port/);
      const badEnd = await seinectl(['-S', 'a/b/c', '-D', 'prod/db']);
      assert.equal(badEnd.code, 1);
      assert.match(badEnd.stderr, /--source a\/b\/c: expected NAMESPACE\/POD, POD or an IP address/);
    });
  });
});
