// The network-policy traffic matrix (issue 5, first "Done when" item): real TCP/UDP/ICMP
// connects between lab pods on two boxes, each classified as allowed, dropped (no answer within
// 1 s) or rejected (an immediate refusal), under Kubernetes NetworkPolicies and Antrea
// ClusterNetworkPolicies / NetworkPolicies applied with the real seinectl through the
// controller, MQTT and each box's agent.
//
// Every case applies its manifests, waits until both boxes report the new desired generation
// realized, then polls its whole expectation table until it holds (policies propagate
// asynchronously), and deletes its manifests again so cases are independent.
//
// Once real traffic matches a table, every row is also asked of the controller's
// NetworkPolicyEvaluation (POST /api/v1/networkpolicyevaluation, issue 19): its action must equal
// the verdict measured (allowed = Allow, dropped = Drop, rejected = Reject), and it must name the
// deciding policy — the row's fifth element ('-': no policy decided), else the case's only
// policy for a denied row.
//
// Lab: boxes b1, b2; namespaces alpha {team: a} and beta {team: b}; every pod listens on TCP
// 8080-8083 and 9000 and UDP 5353-5354 (echo). Declared (named) ports: alpha/web http=8080,
// dns=5353/UDP; alpha/db http=8081; beta/web http=8082.
//
//   alpha/web  b1  app=web      alpha/cli  b2  role=client    alpha/db  b2  app=db
//   beta/cli   b1  role=client  beta/web   b2  app=web
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Lab } from '../../src/lab/lab.js';
import { parseLabSpec } from '../../src/lab/spec.js';
import type { LabState, PodState } from '../../src/lab/state.js';
import { run } from '../../src/lib/exec.js';
import { sleep } from '../../src/lib/process.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { labApi, newLab, removeLab, seinectl } from './lab-fixture.js';
import { Traffic, type Proto, type Verdict } from './traffic.js';

const TCP_PORTS = [8080, 8081, 8082, 8083, 9000];
const UDP_PORTS = [5353, 5354];

const LAB = {
  encap: 'geneve',
  boxes: [{ name: 'b1' }, { name: 'b2' }],
  namespaces: [
    { name: 'alpha', labels: { team: 'a' } },
    { name: 'beta', labels: { team: 'b' } },
  ],
  pods: [
    { name: 'web', namespace: 'alpha', box: 'b1', labels: { app: 'web' }, ports: ['http=8080/TCP', 'dns=5353/UDP'] },
    { name: 'cli', namespace: 'alpha', box: 'b2', labels: { role: 'client' } },
    { name: 'db', namespace: 'alpha', box: 'b2', labels: { app: 'db' }, ports: ['http=8081/TCP'] },
    { name: 'cli', namespace: 'beta', box: 'b1', labels: { role: 'client' } },
    { name: 'web', namespace: 'beta', box: 'b2', labels: { app: 'web' }, ports: ['http=8082/TCP'] },
  ],
};

type PodRef = 'alpha/web' | 'alpha/cli' | 'alpha/db' | 'beta/cli' | 'beta/web';
/** [from, to, what, expected, deciding policy?]; what is `tcp/8080`, `udp/5353` or `icmp`; '-' for no policy. */
type Expect = [PodRef, PodRef, string, Verdict, string?];

const A = 'allowed' as const;
const D = 'dropped' as const;
const R = 'rejected' as const;

// --- manifest builders -----------------------------------------------------------------------

const netpol = (name: string, ns: string, spec: string) => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ${name}, namespace: ${ns}}
spec:
${indent(spec, 2)}
`;
const acnp = (name: string, spec: string) => `apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: ${name}}
spec:
${indent(spec, 2)}
`;
const anp = (name: string, ns: string, spec: string) => `apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: ${name}, namespace: ${ns}}
spec:
${indent(spec, 2)}
`;
function indent(s: string, n: number): string {
  return s
    .trim()
    .split('\n')
    .map((l) => ' '.repeat(n) + l)
    .join('\n');
}
const docs = (...d: string[]) => d.join('---\n');

/** ACNP applied to alpha/web with ingress rules given as YAML. */
const toWeb = (name: string, tier: string, priority: number, ingress: string) =>
  acnp(name, `priority: ${priority}\ntier: ${tier}\nappliedTo:\n  - podSelector: {matchLabels: {app: web}}\n    namespaceSelector: {matchLabels: {team: a}}\ningress:\n${indent(ingress, 2)}`);

const dropFromClients = (name: string, tier: string, prio: number) => toWeb(name, tier, prio, '- action: Drop\n  from: [{podSelector: {matchLabels: {role: client}}}]');
const allowFromClients = (name: string, tier: string, prio: number) => toWeb(name, tier, prio, '- action: Allow\n  from: [{podSelector: {matchLabels: {role: client}}}]');

interface Case {
  name: string;
  manifests: (ip: (p: PodRef) => string) => string;
  expect: Expect[];
}

describe('network policy traffic matrix (2 boxes, TCP/UDP/ICMP)', function () {
  this.timeout(240_000);
  let lab: Lab | undefined;
  let state: LabState;
  let server = '';
  let traffic: Traffic;
  let fileNo = 0;

  const pod = (ref: PodRef): PodState => {
    const [ns, name] = ref.split('/');
    const p = state.pods.find((x) => x.namespace === ns && x.name === name);
    assert.ok(p, `no pod ${ref}`);
    return p;
  };
  const ip = (ref: PodRef) => pod(ref).ip!;

  async function generations(): Promise<{ desired: number; realized: number | null }[]> {
    const nodes = (await labApi<{ desiredGeneration: number; realizedGeneration: number | null }[]>(server, 'GET', '/api/v1/nodes')).body;
    return nodes.map((n) => ({ desired: n.desiredGeneration, realized: n.realizedGeneration }));
  }

  /** Waits until every box realized its desired generation, after it moved past `before`. */
  async function settle(before: number): Promise<void> {
    const end = Date.now() + 10_000;
    for (;;) {
      const g = await generations();
      const sum = g.reduce((s, n) => s + n.desired, 0);
      const moved = sum > before || Date.now() > end - 8_000;
      if (moved && g.every((n) => n.realized === n.desired)) return;
      if (Date.now() > end) assert.fail(`boxes did not realize their desired state: ${JSON.stringify(g)}`);
      await sleep(100);
    }
  }
  const desiredSum = async () => (await generations()).reduce((s, n) => s + n.desired, 0);

  async function seinectlFile(verb: 'apply' | 'delete', yaml: string): Promise<string> {
    const file = path.join(lab!.dir, `m${++fileNo}.yaml`);
    await writeFile(file, yaml);
    const before = await desiredSum();
    const r = await seinectl(server, [verb, '-f', file]);
    assert.equal(r.code, 0, `seinectl ${verb}: ${r.stderr}`);
    await settle(before);
    return file;
  }
  const apply = (yaml: string) => seinectlFile('apply', yaml);
  async function remove(file: string): Promise<void> {
    const before = await desiredSum();
    const r = await seinectl(server, ['delete', '-f', file]);
    assert.equal(r.code, 0, `seinectl delete: ${r.stderr}`);
    await settle(before);
  }

  async function observe(e: Expect): Promise<{ verdict: Verdict; detail: string; ms: number }> {
    const [proto, port] = e[2].split('/') as [Proto, string?];
    return traffic.probe(pod(e[0]), pod(e[1]), proto, Number(port ?? 0));
  }

  /**
   * Polls the whole table until every probe gives its expected verdict (propagation is
   * asynchronous), then checks the evaluation endpoint against it. `policies`: the case's policy
   * names (one: it must decide every denied row; none: nothing may decide).
   */
  async function expectTable(table: Expect[], ms = 8000, policies?: string[]): Promise<void> {
    const end = Date.now() + ms;
    for (;;) {
      const got = await Promise.all(table.map(observe));
      const wrong = table.flatMap((e, i) => (got[i]!.verdict === e[3] ? [] : [`${e[0]} -> ${e[1]} ${e[2]}: want ${e[3]}, got ${got[i]!.verdict} (${got[i]!.detail}, ${got[i]!.ms} ms)`]));
      // A reject must be an immediate refusal, not a slow one.
      const slow = table.flatMap((e, i) => (e[3] === 'rejected' && got[i]!.verdict === 'rejected' && got[i]!.ms > 700 ? [`${e[0]} -> ${e[1]} ${e[2]}: refused after ${got[i]!.ms} ms`] : []));
      if (!wrong.length && !slow.length) break;
      if (Date.now() > end) assert.fail(`after ${ms} ms:\n  ${[...wrong, ...slow].join('\n  ')}\n  flows: ${await dumpAllFlows()}`);
      await sleep(200);
    }
    await expectEvaluation(table, policies);
  }

  const ACTION: Record<Verdict, string> = { allowed: 'Allow', dropped: 'Drop', rejected: 'Reject' };
  let evaluations = 0;

  /** What the evaluation endpoint answers for one row. */
  async function evaluate(e: Expect): Promise<{ action: string; decidedBy: string; policy?: string; message: string }> {
    const [proto, port] = e[2].split('/') as [Proto, string?];
    const end = (ref: PodRef) => ({ pod: { namespace: ref.split('/')[0], name: ref.split('/')[1] } });
    const request = {
      source: end(e[0]), destination: end(e[1]), protocol: proto.toUpperCase(),
      // The probe's ping is an echo request.
      ...(proto === 'icmp' ? { icmpType: 8, icmpCode: 0 } : { port: Number(port) }),
    };
    const r = await labApi(server, 'POST', '/api/v1/networkpolicyevaluation', { apiVersion: 'controlplane.antrea.io/v1beta2', kind: 'NetworkPolicyEvaluation', request });
    assert.equal(r.status, 200, `evaluation of ${e.slice(0, 3).join(' ')}: ${JSON.stringify(r.body)}`);
    evaluations++;
    const res = r.body.response;
    return { action: res.action, decidedBy: res.decidedBy, ...(res.networkPolicy ? { policy: res.networkPolicy.name } : {}), message: res.message };
  }

  /**
   * Every row asked of the evaluation endpoint. The answer comes from the nodes' reports, which
   * follow a label change about as fast as the datapath does: mismatches are asked again for up
   * to 3 s before they fail.
   */
  async function expectEvaluation(table: Expect[], policies?: string[]): Promise<void> {
    const end = Date.now() + 3000;
    for (;;) {
      const got = await Promise.all(table.map(evaluate));
      const wrong = table.flatMap((e, i) => {
        const g = got[i]!;
        const row = `${e[0]} -> ${e[1]} ${e[2]}`;
        if (g.action !== ACTION[e[3]]) return [`${row}: traffic ${e[3]}, evaluation says ${g.action} (${g.message})`];
        const want = e[4] ?? (policies?.length === 0 ? '-' : policies?.length === 1 && e[3] !== 'allowed' ? policies[0] : undefined);
        if (want === '-' && g.decidedBy !== 'no-policy') return [`${row}: want no policy, evaluation says ${g.message}`];
        if (want !== undefined && want !== '-' && g.policy !== want) return [`${row}: want policy ${want}, evaluation says ${g.message}`];
        return [];
      });
      if (!wrong.length) return;
      if (Date.now() > end) assert.fail(`evaluation disagrees:\n  ${wrong.join('\n  ')}`);
      await sleep(200);
    }
  }

  /** Names of the policies (not tiers or groups) in a case's manifests. */
  const policyNames = (yaml: string) =>
    yaml.split(/^---$/m).flatMap((doc) => (/^kind: (NetworkPolicy|ClusterNetworkPolicy)$/m.test(doc) ? [/metadata: \{name: ([^,}]+)/.exec(doc)![1]!] : []));

  /** Writes every box's flows next to the lab (the failure message names the file). */
  async function dumpAllFlows(): Promise<string> {
    // Outside the lab dir, so it outlives the lab for a post-mortem (flows and conntrack of both boxes).
    const file = path.join(os.tmpdir(), `seine-matrix-flows-${Date.now()}.txt`);
    const parts = await Promise.all(
      state.boxes.map(async (b) => {
        const r = await run('ovs-ofctl', ['-O', 'OpenFlow15', 'dump-flows', `unix:${path.join(b.ovsDir, 'br-int.mgmt')}`], { env: { ...process.env, OVS_RUNDIR: b.ovsDir }, allowFailure: true });
        const ct = await run('ovs-appctl', ['-t', path.join(b.ovsDir, 'ovs-vswitchd.ctl'), 'dpctl/dump-conntrack'], { env: { ...process.env, OVS_RUNDIR: b.ovsDir }, allowFailure: true });
        return `## ${b.name}\n${r.stdout}\n## ${b.name} conntrack\n${ct.stdout}${ct.stderr}`;
      }),
    );
    await writeFile(file, parts.join('\n'));
    return file;
  }

  async function runCase(c: Case): Promise<void> {
    const yaml = c.manifests(ip);
    const file = await apply(yaml);
    try {
      await expectTable(c.expect, 8000, policyNames(yaml));
    } finally {
      await remove(file);
    }
  }

  before(async function () {
    this.timeout(120_000);
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping');
    lab = await newLab('matrix');
    state = await lab.up(parseLabSpec(LAB, 'matrix'));
    state = await lab.current();
    server = state.controller!.url;
    traffic = new Traffic(lab, 1);
    await traffic.install();
    await Promise.all(state.pods.map((p) => traffic.listen(p, TCP_PORTS, UDP_PORTS)));
    // Custom tiers live for the whole suite (a tier in use cannot be deleted).
    await apply(
      docs(
        'apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata: {name: early}\nspec: {priority: 20}\n',
        'apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata: {name: late}\nspec: {priority: 240}\n',
      ),
    );
    // First try (ms 0: one observation): the first packet to the other box is not lost.
    await expectTable([
      ['alpha/cli', 'alpha/web', 'icmp', A],
      ['beta/cli', 'beta/web', 'icmp', A],
      ['alpha/web', 'alpha/db', 'icmp', A],
      ['beta/web', 'beta/cli', 'icmp', A],
    ], 0, []);
  });

  after(async () => {
    process.stderr.write(`policy matrix: ${evaluations} evaluation answers checked against real traffic\n`);
    if (lab && !process.env.MATRIX_KEEP_LAB) await removeLab(lab);
  });

  it('no policy: TCP, UDP and ICMP flow between every namespace and both boxes', () =>
    expectTable([
      ['alpha/cli', 'alpha/web', 'tcp/8080', A],
      ['beta/cli', 'alpha/db', 'udp/5353', A],
      ['alpha/db', 'beta/web', 'icmp', A],
      ['beta/web', 'alpha/web', 'tcp/9000', A],
    ], 8000, []));

  describe('Kubernetes NetworkPolicy', () => {
    const cases: Case[] = [
      {
        name: 'podSelector peer: only same-namespace pods with the label',
        manifests: () => netpol('web-from-clients', 'alpha', 'podSelector: {matchLabels: {app: web}}\ningress:\n  - from:\n      - podSelector: {matchLabels: {role: client}}'),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', A],
          ['alpha/db', 'alpha/web', 'tcp/8080', D],
          ['beta/cli', 'alpha/web', 'tcp/8080', D],
          ['alpha/db', 'alpha/cli', 'tcp/8080', A], // not selected, not isolated
        ],
      },
      {
        name: 'namespaceSelector peer: every pod of the matching namespaces',
        manifests: () => netpol('web-from-beta', 'alpha', 'podSelector: {matchLabels: {app: web}}\ningress:\n  - from:\n      - namespaceSelector: {matchLabels: {team: b}}'),
        expect: [
          ['beta/cli', 'alpha/web', 'tcp/8080', A],
          ['beta/web', 'alpha/web', 'udp/5353', A],
          ['alpha/cli', 'alpha/web', 'tcp/8080', D],
        ],
      },
      {
        name: 'namespaceSelector and podSelector in one peer: pods matching both',
        manifests: () => netpol('web-from-beta-clients', 'alpha', 'podSelector: {matchLabels: {app: web}}\ningress:\n  - from:\n      - namespaceSelector: {matchLabels: {team: b}}\n        podSelector: {matchLabels: {role: client}}'),
        expect: [
          ['beta/cli', 'alpha/web', 'tcp/8080', A],
          ['beta/web', 'alpha/web', 'tcp/8080', D],
          ['alpha/cli', 'alpha/web', 'tcp/8080', D],
        ],
      },
      {
        name: 'two peers in one rule are a union (namespace OR pod)',
        manifests: () => netpol('web-two-peers', 'alpha', 'podSelector: {matchLabels: {app: web}}\ningress:\n  - from:\n      - namespaceSelector: {matchLabels: {team: b}}\n      - podSelector: {matchLabels: {role: client}}'),
        expect: [
          ['beta/web', 'alpha/web', 'tcp/8080', A],
          ['alpha/cli', 'alpha/web', 'tcp/8080', A],
          ['alpha/db', 'alpha/web', 'tcp/8080', D],
        ],
      },
      {
        name: 'ipBlock with except: the excepted address is not allowed',
        manifests: (ip) => netpol('web-ipblock', 'alpha', `podSelector: {matchLabels: {app: web}}\ningress:\n  - from:\n      - ipBlock: {cidr: 10.42.0.0/16, except: [${ip('beta/cli')}/32]}`),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', A],
          ['beta/web', 'alpha/web', 'tcp/8080', A],
          ['beta/cli', 'alpha/web', 'tcp/8080', D],
        ],
      },
      {
        name: 'TCP port: only that port and protocol',
        manifests: () => netpol('web-tcp-8080', 'alpha', 'podSelector: {matchLabels: {app: web}}\ningress:\n  - ports: [{protocol: TCP, port: 8080}]'),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', A],
          ['alpha/cli', 'alpha/web', 'tcp/8081', D],
          ['alpha/cli', 'alpha/web', 'udp/5353', D],
          ['alpha/cli', 'alpha/web', 'icmp', D],
        ],
      },
      {
        name: 'UDP port: only that port and protocol',
        manifests: () => netpol('web-udp-5353', 'alpha', 'podSelector: {matchLabels: {app: web}}\ningress:\n  - ports: [{protocol: UDP, port: 5353}]'),
        expect: [
          ['beta/cli', 'alpha/web', 'udp/5353', A],
          ['beta/cli', 'alpha/web', 'udp/5354', D],
          ['beta/cli', 'alpha/web', 'tcp/5353', D],
        ],
      },
      {
        name: 'protocol defaults to TCP when only a port is given',
        manifests: () => netpol('web-port-only', 'alpha', 'podSelector: {matchLabels: {app: web}}\ningress:\n  - ports: [{port: 5353}]'),
        expect: [
          ['beta/cli', 'alpha/web', 'udp/5353', D],
          ['beta/cli', 'alpha/web', 'tcp/8080', D],
        ],
      },
      {
        name: 'named port resolves per pod from its declared ports',
        manifests: () => netpol('all-http', 'alpha', 'podSelector: {}\ningress:\n  - ports: [{port: http}]'),
        expect: [
          ['beta/cli', 'alpha/web', 'tcp/8080', A],
          ['beta/cli', 'alpha/web', 'tcp/8081', D],
          ['beta/cli', 'alpha/db', 'tcp/8081', A],
          ['beta/cli', 'alpha/db', 'tcp/8080', D],
          ['alpha/web', 'alpha/cli', 'tcp/8080', D], // cli declares no port named http
        ],
      },
      {
        name: 'named UDP port',
        manifests: () => netpol('web-dns', 'alpha', 'podSelector: {matchLabels: {app: web}}\ningress:\n  - ports: [{protocol: UDP, port: dns}]'),
        expect: [
          ['alpha/cli', 'alpha/web', 'udp/5353', A],
          ['alpha/cli', 'alpha/web', 'udp/5354', D],
        ],
      },
      {
        name: 'endPort: an inclusive port range',
        manifests: () => netpol('web-range', 'alpha', 'podSelector: {matchLabels: {app: web}}\ningress:\n  - ports: [{protocol: TCP, port: 8080, endPort: 8082}]'),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', A],
          ['alpha/cli', 'alpha/web', 'tcp/8082', A],
          ['alpha/cli', 'alpha/web', 'tcp/8083', D],
          ['alpha/cli', 'alpha/web', 'tcp/9000', D],
        ],
      },
      {
        name: 'policyTypes default to Ingress: egress of the selected pod stays open',
        manifests: () => netpol('web-ingress-default', 'alpha', 'podSelector: {matchLabels: {app: web}}\ningress:\n  - from:\n      - podSelector: {matchLabels: {role: client}}'),
        expect: [
          ['alpha/db', 'alpha/web', 'tcp/8080', D],
          ['alpha/web', 'alpha/db', 'tcp/8080', A],
          ['alpha/web', 'beta/web', 'udp/5353', A],
        ],
      },
      {
        name: 'an egress section makes policyTypes [Ingress, Egress] by default',
        manifests: () => netpol('web-both-default', 'alpha', 'podSelector: {matchLabels: {app: web}}\negress:\n  - to:\n      - namespaceSelector: {matchLabels: {team: b}}'),
        expect: [
          ['alpha/web', 'beta/web', 'tcp/8080', A],
          ['alpha/web', 'alpha/db', 'tcp/8080', D],
          ['alpha/cli', 'alpha/web', 'tcp/8080', D], // ingress isolated with no ingress rule
        ],
      },
      {
        name: 'Egress-only isolation: outgoing dropped, incoming and its replies still flow',
        manifests: () => netpol('web-no-egress', 'alpha', 'podSelector: {matchLabels: {app: web}}\npolicyTypes: [Egress]'),
        expect: [
          ['alpha/web', 'alpha/db', 'tcp/8080', D],
          ['alpha/web', 'beta/cli', 'udp/5353', D],
          ['alpha/cli', 'alpha/web', 'tcp/8080', A],
          ['beta/cli', 'alpha/web', 'udp/5354', A],
        ],
      },
      {
        name: 'isolation is per pod and direction: unselected pods stay open',
        manifests: () => netpol('web-deny-in', 'alpha', 'podSelector: {matchLabels: {app: web}}\npolicyTypes: [Ingress]'),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', D],
          ['alpha/cli', 'alpha/db', 'tcp/8080', A],
          ['alpha/web', 'alpha/db', 'tcp/8080', A],
          ['beta/cli', 'beta/web', 'tcp/8080', A],
        ],
      },
      {
        name: 'K8s isolation drops: it does not refuse',
        manifests: () => netpol('web-deny-all', 'alpha', 'podSelector: {matchLabels: {app: web}}\npolicyTypes: [Ingress]'),
        expect: [
          ['beta/cli', 'alpha/web', 'tcp/8080', D],
          ['beta/cli', 'alpha/web', 'udp/5353', D],
          ['beta/cli', 'alpha/web', 'icmp', D],
        ],
      },
      {
        name: 'two allow policies on one pod are a union',
        manifests: () =>
          docs(
            netpol('u1', 'alpha', 'podSelector: {matchLabels: {app: web}}\ningress:\n  - from: [{podSelector: {matchLabels: {role: client}}}]\n    ports: [{port: 8080}]'),
            netpol('u2', 'alpha', 'podSelector: {matchLabels: {app: web}}\ningress:\n  - from: [{namespaceSelector: {matchLabels: {team: b}}}]\n    ports: [{port: 8081}]'),
          ),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', A, 'u1'],
          ['alpha/cli', 'alpha/web', 'tcp/8081', D, 'u1'],
          ['beta/web', 'alpha/web', 'tcp/8081', A, 'u2'],
          ['beta/web', 'alpha/web', 'tcp/8080', D, 'u1'],
          ['alpha/db', 'alpha/web', 'tcp/8081', D, 'u1'],
        ],
      },
      {
        name: 'egress to a named port resolves on each destination pod',
        manifests: () => netpol('cli-to-http', 'alpha', 'podSelector: {matchLabels: {role: client}}\npolicyTypes: [Egress]\negress:\n  - ports: [{port: http}]'),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', A],
          ['alpha/cli', 'alpha/web', 'tcp/8081', D],
          ['alpha/cli', 'alpha/db', 'tcp/8081', A],
          ['alpha/cli', 'beta/web', 'tcp/8082', A],
          ['alpha/cli', 'beta/web', 'tcp/8080', D],
        ],
      },
      {
        name: 'an empty ingress rule allows everything, whatever a deny-all policy says',
        manifests: () => docs(netpol('deny-all', 'alpha', 'podSelector: {}\npolicyTypes: [Ingress]'), netpol('web-open', 'alpha', 'podSelector: {matchLabels: {app: web}}\ningress:\n  - {}')),
        expect: [
          ['beta/cli', 'alpha/web', 'udp/5354', A, 'web-open'],
          ['beta/cli', 'alpha/web', 'icmp', A],
          ['beta/cli', 'alpha/db', 'tcp/8080', D, 'deny-all'],
        ],
      },
      {
        name: 'egress and ingress policies both apply across boxes (egress of cli AND ingress of web)',
        manifests: () =>
          docs(
            netpol('cli-out', 'alpha', 'podSelector: {matchLabels: {role: client}}\npolicyTypes: [Egress]\negress:\n  - ports: [{port: 8080, endPort: 8081}]'),
            netpol('web-in', 'alpha', 'podSelector: {matchLabels: {app: web}}\ningress:\n  - ports: [{port: 8081, endPort: 8082}]'),
          ),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8081', A, 'cli-out'],
          ['alpha/cli', 'alpha/web', 'tcp/8080', D, 'web-in'],
          ['alpha/cli', 'alpha/web', 'tcp/8082', D, 'cli-out'],
          ['beta/cli', 'alpha/web', 'tcp/8082', A, 'web-in'],
        ],
      },
    ];
    for (const c of cases) it(c.name, () => runCase(c));
  });

  describe('Antrea-native policies: tiers, priorities, actions', () => {
    const cases: Case[] = [
      {
        name: 'ACNP Drop by podSelector across namespaces; other sources unaffected',
        manifests: () => dropFromClients('drop-clients', 'application', 10),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', D],
          ['beta/cli', 'alpha/web', 'udp/5353', D],
          ['alpha/db', 'alpha/web', 'tcp/8080', A],
          ['alpha/cli', 'beta/web', 'tcp/8080', A],
        ],
      },
      {
        name: 'tier order: securityops Drop beats application Allow',
        manifests: () => docs(dropFromClients('so-drop', 'securityops', 10), allowFromClients('app-allow', 'application', 1)),
        expect: [['alpha/cli', 'alpha/web', 'tcp/8080', D, 'so-drop']],
      },
      {
        name: 'tier order: emergency Allow beats securityops Drop',
        manifests: () => docs(allowFromClients('em-allow', 'emergency', 10), dropFromClients('so-drop', 'securityops', 1)),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', A, 'em-allow'],
          ['beta/cli', 'alpha/web', 'tcp/8080', A, 'em-allow'],
        ],
      },
      {
        name: 'custom Tier (priority 20) comes before securityops (100)',
        manifests: () => docs(allowFromClients('early-allow', 'early', 10), dropFromClients('so-drop', 'securityops', 1)),
        expect: [['beta/cli', 'alpha/web', 'tcp/8080', A, 'early-allow']],
      },
      {
        name: 'custom Tier (priority 240) comes before application (250): its Drop wins',
        manifests: () => docs(dropFromClients('late-drop', 'late', 10), allowFromClients('app-allow', 'application', 1)),
        expect: [['beta/cli', 'alpha/web', 'tcp/8080', D, 'late-drop']],
      },
      {
        name: 'policy priority within a tier: lower number wins (Drop 5 over Allow 10)',
        manifests: () => docs(dropFromClients('p5-drop', 'application', 5), allowFromClients('p10-allow', 'application', 10)),
        expect: [['alpha/cli', 'alpha/web', 'tcp/8080', D, 'p5-drop']],
      },
      {
        name: 'policy priority within a tier: lower number wins (Allow 1.5 over Drop 2)',
        manifests: () => docs(allowFromClients('p15-allow', 'application', 1.5), dropFromClients('p2-drop', 'application', 2)),
        expect: [['alpha/cli', 'alpha/web', 'tcp/8080', A, 'p15-allow']],
      },
      {
        name: 'rule order within a policy: Allow 8080 then Drop the rest',
        manifests: () => toWeb('ordered', 'application', 5, '- action: Allow\n  from: [{podSelector: {matchLabels: {role: client}}}]\n  ports: [{protocol: TCP, port: 8080}]\n- action: Drop\n  from: [{podSelector: {matchLabels: {role: client}}}]'),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', A],
          ['alpha/cli', 'alpha/web', 'tcp/8081', D],
          ['beta/cli', 'alpha/web', 'icmp', D],
        ],
      },
      {
        name: 'rule order within a policy: an earlier Drop shadows a later Allow',
        manifests: () => toWeb('ordered2', 'application', 5, '- action: Drop\n  from: [{podSelector: {matchLabels: {role: client}}}]\n  ports: [{protocol: TCP, port: 8080}]\n- action: Allow\n  from: [{podSelector: {matchLabels: {role: client}}}]'),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', D],
          ['alpha/cli', 'alpha/web', 'tcp/8081', A],
        ],
      },
      {
        name: 'Pass skips the lower Antrea tiers (no K8s policy: allowed)',
        manifests: () => docs(toWeb('so-pass', 'securityops', 5, '- action: Pass\n  from: [{podSelector: {matchLabels: {role: client}}}]'), toWeb('app-drop', 'application', 5, '- action: Drop\n  from: [{namespaceSelector: {}}]')),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', A, '-'],
          ['beta/cli', 'alpha/web', 'tcp/8080', A, '-'],
          ['beta/web', 'alpha/web', 'tcp/8080', D, 'app-drop'],
        ],
      },
      {
        name: 'Pass hands the connection to K8s policies, which still isolate',
        manifests: () =>
          docs(
            toWeb('so-pass', 'securityops', 5, '- action: Pass\n  from: [{podSelector: {matchLabels: {role: client}}}]'),
            toWeb('app-allow-all', 'application', 5, '- action: Allow\n  from: [{namespaceSelector: {}}]'),
            netpol('web-8080', 'alpha', 'podSelector: {matchLabels: {app: web}}\ningress:\n  - ports: [{port: 8080}]'),
          ),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', A, 'web-8080'], // K8s allows
          ['alpha/cli', 'alpha/web', 'tcp/8081', D, 'web-8080'], // passed: the application Allow is skipped; K8s isolates
          ['alpha/db', 'alpha/web', 'tcp/8081', A, 'app-allow-all'], // not passed: application Allow
        ],
      },
      {
        name: 'Pass then baseline: with no K8s policy the baseline tier decides',
        manifests: () => docs(toWeb('so-pass', 'securityops', 5, '- action: Pass\n  from: [{podSelector: {matchLabels: {role: client}}}]'), toWeb('base-drop', 'baseline', 5, '- action: Drop\n  from: [{podSelector: {matchLabels: {role: client}}}]')),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', D, 'base-drop'],
          ['alpha/db', 'alpha/web', 'tcp/8080', A, '-'],
        ],
      },
      {
        name: 'baseline Allow cannot undo K8s isolation',
        manifests: () => docs(netpol('web-from-beta', 'alpha', 'podSelector: {matchLabels: {app: web}}\ningress:\n  - from: [{namespaceSelector: {matchLabels: {team: b}}}]'), toWeb('base-allow', 'baseline', 5, '- action: Allow\n  from: [{namespaceSelector: {}}]')),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', D, 'web-from-beta'],
          ['beta/cli', 'alpha/web', 'tcp/8080', A, 'web-from-beta'],
        ],
      },
      {
        name: 'K8s allow is evaluated before a baseline Drop',
        manifests: () => docs(netpol('web-from-beta', 'alpha', 'podSelector: {matchLabels: {app: web}}\ningress:\n  - from: [{namespaceSelector: {matchLabels: {team: b}}}]'), toWeb('base-drop', 'baseline', 5, '- action: Drop\n  from: [{namespaceSelector: {}}]')),
        expect: [
          ['beta/cli', 'alpha/web', 'tcp/8080', A, 'web-from-beta'],
          ['alpha/cli', 'alpha/web', 'tcp/8080', D, 'web-from-beta'],
        ],
      },
      {
        name: 'baseline Drop applies to pods no K8s policy selects',
        manifests: () => toWeb('base-drop', 'baseline', 5, '- action: Drop\n  from: [{namespaceSelector: {matchLabels: {team: b}}}]'),
        expect: [
          ['beta/cli', 'alpha/web', 'tcp/8080', D],
          ['alpha/cli', 'alpha/web', 'tcp/8080', A],
        ],
      },
      {
        name: 'application Allow lets traffic through K8s isolation',
        manifests: () => docs(netpol('web-deny', 'alpha', 'podSelector: {matchLabels: {app: web}}\npolicyTypes: [Ingress]'), allowFromClients('app-allow', 'application', 5)),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', A, 'app-allow'],
          ['alpha/db', 'alpha/web', 'tcp/8080', D, 'web-deny'],
        ],
      },
      {
        name: 'appliedTo at rule level: each rule protects its own pods',
        manifests: () =>
          acnp(
            'rule-applied',
            `priority: 5\ningress:\n  - action: Drop\n    appliedTo: [{podSelector: {matchLabels: {app: web}}, namespaceSelector: {matchLabels: {team: a}}}]\n    from: [{podSelector: {matchLabels: {role: client}}, namespaceSelector: {matchLabels: {team: a}}}]\n  - action: Drop\n    appliedTo: [{podSelector: {matchLabels: {app: db}}}]\n    from: [{namespaceSelector: {matchLabels: {team: b}}}]`,
          ),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', D],
          ['alpha/cli', 'alpha/db', 'tcp/8080', A],
          ['beta/cli', 'alpha/db', 'tcp/8080', D],
          ['beta/cli', 'alpha/web', 'tcp/8080', A],
        ],
      },
      {
        name: 'namespaces match Self: same-namespace allowed, the rest dropped',
        manifests: () =>
          acnp('self-only', `priority: 5\nappliedTo: [{podSelector: {matchLabels: {app: web}}}]\ningress:\n  - action: Allow\n    from: [{namespaces: {match: Self}}]\n  - action: Drop\n    from: [{namespaceSelector: {}}]`),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', A],
          ['beta/cli', 'alpha/web', 'tcp/8080', D],
          ['beta/cli', 'beta/web', 'tcp/8080', A],
          ['alpha/cli', 'beta/web', 'tcp/8080', D],
        ],
      },
      {
        name: 'ClusterGroup with childGroups (a selector group and an ipBlocks group)',
        manifests: (ip) =>
          docs(
            'apiVersion: crd.antrea.io/v1beta1\nkind: ClusterGroup\nmetadata: {name: cg-alpha-clients}\nspec:\n  namespaceSelector: {matchLabels: {team: a}}\n  podSelector: {matchLabels: {role: client}}\n',
            `apiVersion: crd.antrea.io/v1beta1\nkind: ClusterGroup\nmetadata: {name: cg-beta-web-ip}\nspec:\n  ipBlocks: [{cidr: ${ip('beta/web')}/32}]\n`,
            'apiVersion: crd.antrea.io/v1beta1\nkind: ClusterGroup\nmetadata: {name: cg-parent}\nspec:\n  childGroups: [cg-alpha-clients, cg-beta-web-ip]\n',
            toWeb('drop-group', 'application', 5, '- action: Drop\n  from: [{group: cg-parent}]'),
          ),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', D],
          ['beta/web', 'alpha/web', 'tcp/8080', D],
          ['beta/cli', 'alpha/web', 'tcp/8080', A],
          ['alpha/db', 'alpha/web', 'tcp/8080', A],
        ],
      },
      {
        name: 'ClusterGroup ipBlocks as an egress destination',
        manifests: (ip) =>
          docs(
            `apiVersion: crd.antrea.io/v1beta1\nkind: ClusterGroup\nmetadata: {name: cg-db}\nspec:\n  ipBlocks: [{cidr: ${ip('alpha/db')}/32}]\n`,
            acnp('no-db', 'priority: 5\nappliedTo: [{podSelector: {matchLabels: {role: client}}}]\negress:\n  - action: Drop\n    to: [{group: cg-db}]'),
          ),
        expect: [
          ['alpha/cli', 'alpha/db', 'tcp/8080', D],
          ['beta/cli', 'alpha/db', 'udp/5353', D],
          ['alpha/cli', 'alpha/web', 'tcp/8080', A],
          ['alpha/web', 'alpha/db', 'tcp/8080', A],
        ],
      },
      {
        name: 'Antrea NetworkPolicy with a Group of its namespace',
        manifests: () =>
          docs(
            'apiVersion: crd.antrea.io/v1beta1\nkind: Group\nmetadata: {name: clients, namespace: alpha}\nspec:\n  podSelector: {matchLabels: {role: client}}\n',
            anp('web-no-clients', 'alpha', 'priority: 5\nappliedTo: [{podSelector: {matchLabels: {app: web}}}]\ningress:\n  - action: Drop\n    from: [{group: clients}]'),
          ),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', D],
          ['beta/cli', 'alpha/web', 'tcp/8080', A],
          ['alpha/cli', 'beta/web', 'tcp/8080', A], // the ANP applies only in alpha
        ],
      },
      {
        name: 'ICMP in protocols (echo request): ping dropped, TCP and UDP still flow',
        manifests: () => toWeb('no-ping', 'application', 5, '- action: Drop\n  protocols: [{icmp: {icmpType: 8, icmpCode: 0}}]\n  from: [{namespaceSelector: {}}]'),
        expect: [
          ['alpha/cli', 'alpha/web', 'icmp', D],
          ['beta/cli', 'alpha/web', 'icmp', D],
          ['alpha/cli', 'alpha/web', 'tcp/8080', A],
          ['alpha/cli', 'alpha/web', 'udp/5353', A],
        ],
      },
      {
        name: 'ACNP ingress ipBlock peer',
        manifests: (ip) => toWeb('drop-cidr', 'application', 5, `- action: Drop\n  from: [{ipBlock: {cidr: ${ip('alpha/cli')}/32}}]`),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', D],
          ['beta/cli', 'alpha/web', 'tcp/8080', A],
        ],
      },
      {
        name: 'egress rule: Drop to a namespace',
        manifests: () => acnp('cli-no-beta', 'priority: 5\nappliedTo: [{podSelector: {matchLabels: {role: client}}, namespaceSelector: {matchLabels: {team: a}}}]\negress:\n  - action: Drop\n    to: [{namespaceSelector: {matchLabels: {team: b}}}]'),
        expect: [
          ['alpha/cli', 'beta/web', 'tcp/8080', D],
          ['alpha/cli', 'beta/cli', 'udp/5353', D],
          ['alpha/cli', 'alpha/web', 'tcp/8080', A],
          ['beta/web', 'alpha/cli', 'tcp/8080', A], // incoming is not egress
        ],
      },
      {
        name: 'egress ipBlock with except',
        manifests: (ip) => acnp('cli-cidr', `priority: 5\nappliedTo: [{podSelector: {matchLabels: {role: client}}, namespaceSelector: {matchLabels: {team: a}}}]\negress:\n  - action: Drop\n    to: [{ipBlock: {cidr: 10.42.0.0/16, except: [${ip('alpha/web')}/32]}}]`),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', A],
          ['alpha/cli', 'alpha/db', 'tcp/8080', D],
          ['alpha/cli', 'beta/cli', 'tcp/8080', D],
        ],
      },
      {
        name: 'ACNP endPort range and UDP port',
        manifests: () => toWeb('ranges', 'application', 5, '- action: Drop\n  ports: [{protocol: TCP, port: 8081, endPort: 8083}, {protocol: UDP, port: 5354}]\n  from: [{namespaceSelector: {}}]'),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', A],
          ['alpha/cli', 'alpha/web', 'tcp/8081', D],
          ['alpha/cli', 'alpha/web', 'tcp/8083', D],
          ['alpha/cli', 'alpha/web', 'tcp/9000', A],
          ['alpha/cli', 'alpha/web', 'udp/5354', D],
          ['alpha/cli', 'alpha/web', 'udp/5353', A],
        ],
      },
      {
        name: 'ACNP named port resolves per target pod',
        manifests: () => acnp('no-http', 'priority: 5\nappliedTo: [{podSelector: {}, namespaceSelector: {matchLabels: {team: a}}}]\ningress:\n  - action: Drop\n    ports: [{port: http}]\n    from: [{namespaceSelector: {}}]'),
        expect: [
          ['beta/cli', 'alpha/web', 'tcp/8080', D],
          ['beta/cli', 'alpha/web', 'tcp/8081', A],
          ['beta/cli', 'alpha/db', 'tcp/8081', D],
          ['beta/cli', 'alpha/db', 'tcp/8080', A],
        ],
      },
    ];
    for (const c of cases) it(c.name, () => runCase(c));
  });

  describe('policy updates', () => {
    it('re-applying a policy with Drop changed to Allow changes the verdict', async () => {
      await apply(toWeb('flip', 'application', 5, '- action: Drop\n  from: [{podSelector: {matchLabels: {role: client}}}]'));
      try {
        await expectTable([['beta/cli', 'alpha/web', 'tcp/8080', D, 'flip']]);
        await apply(docs(netpol('web-deny', 'alpha', 'podSelector: {matchLabels: {app: web}}\npolicyTypes: [Ingress]'), toWeb('flip', 'application', 5, '- action: Allow\n  from: [{podSelector: {matchLabels: {role: client}}}]')));
        await expectTable([
          ['beta/cli', 'alpha/web', 'tcp/8080', A, 'flip'],
          ['alpha/db', 'alpha/web', 'tcp/8080', D, 'web-deny'],
        ]);
      } finally {
        await remove(path.join(lab!.dir, `m${fileNo}.yaml`)); // holds both (flip is the same object)
      }
    });

    it('a pod label change moves the pod into a policy peer', async () => {
      const file = await apply(toWeb('drop-db', 'application', 5, '- action: Drop\n  from: [{podSelector: {matchLabels: {quarantine: "yes"}}}]'));
      try {
        await expectTable([['alpha/db', 'alpha/web', 'tcp/8080', A, '-']]);
        await lab!.labelPod({ namespace: 'alpha', name: 'db' }, [{ key: 'quarantine', value: 'yes' }]);
        await expectTable([['alpha/db', 'alpha/web', 'tcp/8080', D, 'drop-db']]);
        await lab!.labelPod({ namespace: 'alpha', name: 'db' }, [{ key: 'quarantine', remove: true }]);
        await expectTable([['alpha/db', 'alpha/web', 'tcp/8080', A, '-']]);
      } finally {
        await remove(file);
      }
    });

    it('a namespace label change moves its pods into a namespaceSelector peer', async () => {
      const file = await apply(toWeb('drop-ns', 'application', 5, '- action: Drop\n  from: [{namespaceSelector: {matchLabels: {quarantine: "yes"}}}]'));
      try {
        await expectTable([['beta/cli', 'alpha/web', 'tcp/8080', A, '-']]);
        await lab!.labelNamespace('beta', [{ key: 'quarantine', value: 'yes' }]);
        await expectTable([
          ['beta/cli', 'alpha/web', 'tcp/8080', D, 'drop-ns'],
          ['beta/web', 'alpha/web', 'udp/5353', D, 'drop-ns'],
          ['alpha/cli', 'alpha/web', 'tcp/8080', A, '-'],
        ]);
        await lab!.labelNamespace('beta', [{ key: 'quarantine', remove: true }]);
        await expectTable([['beta/cli', 'alpha/web', 'tcp/8080', A, '-']]);
      } finally {
        await remove(file);
      }
    });

    // Seine follows Antrea (docs/antrea-network-policy.md, "existing connection behavior",
    // antrea-io/antrea#5381): policy rules decide new connections; packets of an established
    // connection (ct_state=-new+est/+rel) skip every rule table, K8s isolation included. A Drop
    // or an isolation added while a TCP connection is open leaves that connection flowing (until
    // its conntrack entry expires); new connections are dropped.
    it('an ACNP Drop added while a TCP connection is open: the open connection keeps flowing, new ones are dropped', async () => {
      const conn = await traffic.open(pod('alpha/cli'), pod('alpha/web'), 8080);
      try {
        assert.equal(await conn.exchange(), 'ok');
        const file = await apply(dropFromClientsYaml());
        try {
          await expectTable([['alpha/cli', 'alpha/web', 'tcp/8080', D, 'drop-clients-upd']]);
          assert.equal(await conn.exchange(), 'ok', 'the established connection is cut');
          assert.equal(await conn.exchange(), 'ok');
        } finally {
          await remove(file);
        }
      } finally {
        conn.close();
      }
    });

    it('K8s isolation (Ingress and Egress) added while a TCP connection is open: it keeps flowing, new ones are dropped', async () => {
      const conn = await traffic.open(pod('beta/cli'), pod('alpha/web'), 8081);
      try {
        assert.equal(await conn.exchange(), 'ok');
        const file = await apply(netpol('web-deny', 'alpha', 'podSelector: {matchLabels: {app: web}}\npolicyTypes: [Ingress, Egress]'));
        try {
          await expectTable([
            ['beta/cli', 'alpha/web', 'tcp/8081', D, 'web-deny'],
            ['alpha/web', 'beta/cli', 'tcp/8081', D, 'web-deny'],
          ]);
          assert.equal(await conn.exchange(), 'ok', 'the established connection is cut');
        } finally {
          await remove(file);
        }
      } finally {
        conn.close();
      }
    });

    it('deleting a Drop reopens new connections', async () => {
      const file = await apply(dropFromClientsYaml());
      await expectTable([['alpha/cli', 'alpha/web', 'tcp/8080', D, 'drop-clients-upd']]);
      await remove(file);
      await expectTable([['alpha/cli', 'alpha/web', 'tcp/8080', A, '-']]);
    });
  });

  // Reject goes through the agent's responder (packet-in → TCP RST / ICMP host prohibited via
  // packet-out, src/agent/policy/reject*.ts): the probe must see a refusal within 700 ms, which
  // tells it apart from a drop (no answer within 1 s).
  describe('Reject (agent responder: TCP RST, ICMP unreachable)', () => {
    const cases: Case[] = [
      {
        name: 'ACNP Reject on TCP: an immediate refusal (RST), cross-box and same-box',
        manifests: () => toWeb('rej-tcp', 'application', 5, '- action: Reject\n  from: [{podSelector: {matchLabels: {role: client}}}]'),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', R],
          ['beta/cli', 'alpha/web', 'tcp/8080', R],
          ['alpha/db', 'alpha/web', 'tcp/8080', A],
        ],
      },
      {
        name: 'ACNP Reject on UDP: ICMP unreachable',
        manifests: () => toWeb('rej-udp', 'application', 5, '- action: Reject\n  ports: [{protocol: UDP, port: 5353}]\n  from: [{namespaceSelector: {}}]'),
        expect: [
          ['alpha/cli', 'alpha/web', 'udp/5353', R],
          ['beta/cli', 'alpha/web', 'udp/5353', R],
          ['alpha/cli', 'alpha/web', 'udp/5354', A],
        ],
      },
      {
        name: 'ACNP Reject on ICMP: ICMP unreachable',
        manifests: () => toWeb('rej-icmp', 'application', 5, '- action: Reject\n  protocols: [{icmp: {}}]\n  from: [{namespaceSelector: {}}]'),
        expect: [
          ['alpha/cli', 'alpha/web', 'icmp', R],
          ['beta/cli', 'alpha/web', 'icmp', R],
        ],
      },
      {
        name: 'egress Reject: refused at the source',
        manifests: () => acnp('rej-egress', 'priority: 5\nappliedTo: [{podSelector: {matchLabels: {role: client}}, namespaceSelector: {matchLabels: {team: a}}}]\negress:\n  - action: Reject\n    to: [{podSelector: {matchLabels: {app: web}}}]'),
        expect: [
          ['alpha/cli', 'alpha/web', 'tcp/8080', R],
          ['alpha/cli', 'beta/web', 'udp/5353', R],
          ['alpha/cli', 'alpha/db', 'tcp/8080', A],
        ],
      },
      {
        name: 'Reject in a higher tier wins over Allow, Drop and Reject told apart in one table',
        manifests: () =>
          docs(
            toWeb('so-rej', 'securityops', 5, '- action: Reject\n  from: [{podSelector: {matchLabels: {role: client}}, namespaceSelector: {matchLabels: {team: b}}}]\n- action: Drop\n  from: [{podSelector: {matchLabels: {role: client}}}]'),
            allowFromClients('app-allow', 'application', 1),
          ),
        expect: [
          ['beta/cli', 'alpha/web', 'tcp/8080', R, 'so-rej'],
          ['alpha/cli', 'alpha/web', 'tcp/8080', D, 'so-rej'],
          ['alpha/db', 'alpha/web', 'tcp/8080', A, '-'],
        ],
      },
    ];
    for (const c of cases) it(c.name, () => runCase(c));
  });

  function dropFromClientsYaml(): string {
    return toWeb('drop-clients-upd', 'application', 5, '- action: Drop\n  from: [{podSelector: {matchLabels: {role: client}}}]');
  }
});
