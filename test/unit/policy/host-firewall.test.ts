// Host firewall (Antrea's NodeNetworkPolicy): admission checks on the field path, host rules
// computed from a policy and the inventory, the iptables-restore text the agent writes, counters
// read back and carried over, the controller's span by node labels, np.log fields of an NFLOG
// packet. The lab test (test/integration/host-firewall.test.ts) puts them on a real box.
import assert from 'node:assert/strict';
import { expectProblem, type Obj } from '../api/helpers.js';
import { computeHostRules, type HostRule } from '../../../src/policy/compute/host.js';
import { PolicyComputer, policyObjectsOf } from '../../../src/policy/compute/compute.js';
import { PodIndex } from '../../../src/policy/compute/pod-index.js';
import { GroupTable } from '../../../src/policy/compute/groups.js';
import { TierTable } from '../../../src/policy/compute/tiers.js';
import { countersByTag, HostFirewall, hostFirewallPlan, hostRuleSpec, ruleTag } from '../../../src/agent/policy/host-firewall.js';
import { hostLogFields } from '../../../src/agent/policy/host-log.js';
import { hostExemptions, overlayExemptions } from '../../../src/agent/policy/host-exemptions.js';
import { WG_EGRESS_PORT } from '../../../src/agent/egress/wireguard-path.js';
import { isOverlayExemption } from '../../../src/api/host-policy.js';
import { AgentConfigSchema } from '../../../src/api/config.js';
import { summarizeIPv4 } from '../../../src/lib/netlink/nflog.js';
import { NodeConfigSpan } from '../../../src/controller/node-config-span.js';
import { findQualifiedKind } from '../../../src/api/kinds.js';
import type { NodeReported } from '../../../src/api/node-state.js';
import type { StoredRecord } from '../../../src/controller/store/objects.js';
import type { InventoryNode } from '../../../src/api/inventory.js';
import { nodeView } from '../../../src/agent/inventory/convert.js';
import { inventoryFromState } from '../../../src/lab/inventory-file.js';
import type { LabState } from '../../../src/lab/state.js';
import type { run } from '../../../src/lib/exec.js';
import { acnp, clusterGroup, inventory, pod } from './fixtures.js';

const hostPolicy: Obj = {
  apiVersion: 'crd.antrea.io/v1beta1',
  kind: 'ClusterNetworkPolicy',
  metadata: { name: 'protect-box' },
  spec: {
    priority: 5,
    tier: 'securityops',
    appliedTo: [{ nodeSelector: { matchLabels: { site: 'shop' } } }],
    ingress: [{ action: 'Drop', name: 'no-ssh', ports: [{ protocol: 'TCP', port: 22 }] }],
  },
};

describe('host firewall: validation (nodeSelector in appliedTo)', () => {
  const cases: [string, (o: Obj) => void, string, string][] = [
    ['nodeSelector in a rule\'s appliedTo', (o) => {
      delete o.spec.appliedTo;
      o.spec.ingress[0].appliedTo = [{ nodeSelector: {} }];
    }, 'spec.ingress[0].appliedTo[0].nodeSelector', 'only be set in the policy-level appliedTo'],
    ['Nodes and Pods in one appliedTo', (o) => o.spec.appliedTo.push({ podSelector: {} }), 'spec.appliedTo[1]', 'cannot also apply to Pods'],
    ['an fqdn peer', (o) => (o.spec.egress = [{ action: 'Drop', to: [{ fqdn: 'example.com' }] }]), 'spec.egress[0].to[0].fqdn', 'fqdn peers cannot be used in a policy applied to Nodes'],
    ['toServices', (o) => (o.spec.egress = [{ action: 'Drop', toServices: [{ name: 'web', namespace: 'default' }] }]), 'spec.egress[0].toServices', 'toServices cannot be used in a policy applied to Nodes'],
    ['a namespaces peer', (o) => (o.spec.ingress[0].from = [{ namespaces: { match: 'Self' } }]), 'spec.ingress[0].from[0].namespaces', 'namespaces peers'],
    ['a named port', (o) => (o.spec.ingress[0].ports = [{ protocol: 'TCP', port: 'ssh' }]), 'spec.ingress[0].ports[0].port', 'a Node has no container ports'],
    ['nodeSelector with another field', (o) => (o.spec.appliedTo[0].podSelector = {}), 'spec.appliedTo[0].nodeSelector', 'cannot be combined'],
  ];
  for (const [title, edit, path, fragment] of cases) {
    it(`refuses ${title} on ${path}`, () => {
      const o = structuredClone(hostPolicy);
      edit(o);
      expectProblem(o, path, fragment);
    });
  }

  it('refuses nodeSelector in an Antrea NetworkPolicy (only ACNPs apply to Nodes)', () => {
    expectProblem({
      apiVersion: 'crd.antrea.io/v1beta1', kind: 'NetworkPolicy', metadata: { name: 'x', namespace: 'default' },
      spec: { priority: 1, appliedTo: [{ nodeSelector: {} }], ingress: [{ action: 'Drop' }] },
    }, 'spec.appliedTo[0].nodeSelector', 'unknown field');
  });
});

// As kubelet registers a Node: `kubernetes.io/hostname` is a label it sets, not the name itself.
function node(name: string, ip: string, podCIDR: string, labels: Record<string, string> = {}): InventoryNode {
  return { name, internalIP: ip, podCIDR, podCIDRs: [podCIDR], labels: { 'kubernetes.io/hostname': name, ...labels } };
}

describe('host firewall: rules from policies', () => {
  const inv = {
    ...inventory([pod('default', 'web', { app: 'web' }, '10.42.0.5'), pod('default', 'db', { app: 'db' }, '10.42.1.6', 'n2')]),
    nodes: new Map([['n1', node('n1', '192.168.0.1', '10.42.0.0/24', { site: 'shop' })], ['n2', node('n2', '192.168.0.2', '10.42.1.0/24', { site: 'plant' })]]),
  };
  const ctx = (groups = new GroupTable(), index = new PodIndex(inv)) => ({ index, groups, tiers: new TierTable() });

  it('is told apart from pod policy: compute() leaves it to the host computation', () => {
    const objs = policyObjectsOf([acnp('protect-box', hostPolicy.spec), acnp('pods', { priority: 1, appliedTo: [{ podSelector: {} }], ingress: [{ action: 'Drop' }] })]);
    assert.deepEqual(objs.hostPolicies!.map((p) => p.metadata.name), ['protect-box']);
    assert.deepEqual(objs.policies.map((p) => p.metadata.name), ['pods']);
  });

  it('resolves pod, node, group and ipBlock peers to IPv4 CIDRs and orders baseline last', () => {
    const p = acnp('hp', {
      priority: 3,
      tier: 'baseline',
      appliedTo: [{ nodeSelector: {} }],
      ingress: [{ action: 'Drop', name: 'rest' }],
    });
    const q = acnp('hq', {
      priority: 9,
      tier: 'emergency',
      appliedTo: [{ nodeSelector: { matchLabels: { site: 'shop' } } }],
      ingress: [{
        action: 'Allow', name: 'from-peers', ports: [{ protocol: 'TCP', port: 8080, endPort: 8090 }],
        from: [{ nodeSelector: { matchLabels: { site: 'plant' } } }, { podSelector: { matchLabels: { app: 'web' } } }, { group: 'dbs' }, { ipBlock: { cidr: '172.16.0.0/16', except: ['172.16.128.0/17'] } }],
      }],
      egress: [{ action: 'Reject', name: 'no-dns', protocols: [{ icmp: { icmpType: 8 } }], to: [{ nodeSelector: { matchLabels: { 'kubernetes.io/hostname': 'n1' } } }] }],
    });
    const r = computeHostRules([p, q], ctx(new GroupTable([clusterGroup('dbs', { podSelector: { matchLabels: { app: 'db' } } })])));
    assert.deepEqual(r.errors, []);
    // Directions go to different chains; within one tier, policy and index the id decides (egress < ingress).
    assert.deepEqual(r.rules.map((x) => [x.policy.name, x.ruleName, x.direction, x.baseline]), [
      ['hq', 'no-dns', 'egress', false], ['hq', 'from-peers', 'ingress', false], ['hp', 'rest', 'ingress', true],
    ]);
    // A node peer is its InternalIP and its gateway (the pod CIDR's first address), as in pod rules.
    assert.deepEqual(r.rules[1]!.cidrs, ['10.42.0.5/32', '10.42.1.1/32', '10.42.1.6/32', '172.16.0.0/17', '192.168.0.2/32']);
    assert.deepEqual(r.rules[1]!.services, [{ protocol: 'TCP', port: 8080, endPort: 8090 }]);
    assert.deepEqual(r.rules[0]!.cidrs, ['10.42.0.1/32', '192.168.0.1/32']);
    assert.deepEqual(r.rules[0]!.services, [{ protocol: 'ICMP', icmpType: 8 }]);
    assert.equal(r.rules[2]!.cidrs, undefined, 'no from: every address');
  });

  it('resolves a nodeSelector peer exactly as a pod rule does (one resolver), by the labels the Node carries', () => {
    const from = [{ nodeSelector: { matchLabels: { site: 'plant' } } }];
    const host = computeHostRules([acnp('h', { priority: 1, appliedTo: [{ nodeSelector: {} }], ingress: [{ action: 'Allow', from }] })], ctx());
    const pods = new PolicyComputer(inv).compute({ policies: [acnp('p', { priority: 1, appliedTo: [{ podSelector: {} }], ingress: [{ action: 'Allow', from }] })] });
    assert.deepEqual(host.rules[0]!.cidrs, pods.nodes.get('n2')!.rules[0]!.peers.cidrs);
    // The name alone is not a label: a Node registered without kubelet's hostname label is not picked by it.
    const bare: InventoryNode = { name: 'n3', internalIP: '192.168.0.3', podCIDRs: [], labels: {} };
    const byName = acnp('by-name', { priority: 1, appliedTo: [{ nodeSelector: {} }], egress: [{ action: 'Drop', to: [{ nodeSelector: { matchLabels: { 'kubernetes.io/hostname': 'n3' } } }] }] });
    assert.deepEqual(computeHostRules([byName], ctx(new GroupTable(), new PodIndex({ ...inv, nodes: new Map([...inv.nodes, ['n3', bare]]) }))).rules, []);
  });

  it("the lab's Nodes carry kubelet's hostname label, so a hostname peer picks the box from the inventory alone", () => {
    const box = (name: string, i: number) => ({ name, podCIDR: `10.42.${i}.0/24`, underlayIP: `172.31.250.${11 + i}` });
    const lab = inventoryFromState({ boxes: [box('box1', 0), box('box2', 1)], namespaces: [], pods: [], services: [] } as unknown as LabState) as { items: { kind: string }[] };
    const labNodes = lab.items.filter((o) => o.kind === 'Node').map((o) => nodeView(o as never));
    assert.deepEqual(labNodes.map((n) => n.labels['kubernetes.io/hostname']), ['box1', 'box2']);
    const index = new PodIndex({ ...inventory([]), nodes: new Map(labNodes.map((n) => [n.name, n])) });
    const p = acnp('h', { priority: 1, appliedTo: [{ nodeSelector: {} }], ingress: [{ action: 'Drop', from: [{ nodeSelector: { matchLabels: { 'kubernetes.io/hostname': 'box2' } } }] }] });
    assert.deepEqual(computeHostRules([p], ctx(new GroupTable(), index)).rules[0]!.cidrs, ['10.42.1.1/32', '172.31.250.12/32']);
  });

  it('follows Node changes through the index (a label added, an address moved)', () => {
    const index = new PodIndex(inv);
    const p = acnp('h', { priority: 1, appliedTo: [{ nodeSelector: {} }], ingress: [{ action: 'Drop', from: [{ nodeSelector: { matchLabels: { role: 'gw' } } }] }] });
    assert.deepEqual(computeHostRules([p], ctx(new GroupTable(), index)).rules, []);
    const n1 = inv.nodes.get('n1')!;
    index.updateNode('n1', { ...n1, labels: { ...n1.labels, role: 'gw' } });
    assert.deepEqual(computeHostRules([p], ctx(new GroupTable(), index)).rules[0]!.cidrs, ['10.42.0.1/32', '192.168.0.1/32']);
    index.updateNode('n1', { ...n1, internalIP: '192.168.0.9', labels: { ...n1.labels, role: 'gw' } });
    assert.deepEqual(computeHostRules([p], ctx(new GroupTable(), index)).rules[0]!.cidrs, ['10.42.0.1/32', '192.168.0.9/32']);
  });

  it('leaves out a rule whose peers select nothing, and fails a policy with an unknown tier alone', () => {
    const none = acnp('none', { priority: 1, appliedTo: [{ nodeSelector: {} }], ingress: [{ action: 'Drop', from: [{ podSelector: { matchLabels: { app: 'nobody' } } }] }] });
    const bad = acnp('bad', { priority: 1, tier: 'nope', appliedTo: [{ nodeSelector: {} }], ingress: [{ action: 'Drop' }] });
    const r = computeHostRules([none, bad], ctx());
    assert.deepEqual(r.rules, []);
    assert.deepEqual(r.errors.map((e) => [e.policy.name, e.path]), [['bad', 'spec.tier']]);
  });
});

function rule(over: Partial<HostRule> = {}): HostRule {
  return {
    id: 'host|acnp:protect-box|ingress|0', policy: { kind: 'AntreaClusterNetworkPolicy', name: 'protect-box', uid: 'ClusterNetworkPolicy.crd.antrea.io//protect-box' },
    ruleName: 'no-ssh', direction: 'ingress', ruleIndex: 0, action: 'Drop', baseline: false, tier: 'securityops',
    order: { tierPriority: 100, policyPriority: 5, ruleIndex: 0 }, services: [{ protocol: 'TCP', port: 22 }], enableLogging: false, ...over,
  };
}

describe('host firewall: iptables-restore text', () => {
  it('accepts established, loopback and the controller first, then the rules in order, then goto baseline', () => {
    const drop = rule({ cidrs: ['10.42.0.0/24', '10.0.0.9/32'], enableLogging: true });
    const pass = rule({ id: 'p', ruleName: 'pass', ruleIndex: 1, action: 'Pass' });
    const rej = rule({ id: 'r', ruleName: 'rej', ruleIndex: 0, direction: 'egress', action: 'Reject', baseline: true });
    delete pass.services;
    delete rej.services;
    const plan = hostFirewallPlan([drop, pass, rej], [{ ip: '192.168.77.1', what: 'controller' }]);
    const tag = ruleTag(hostRuleSpec(drop));
    const lines = plan.lines.filter((l) => l.startsWith('-A '));
    assert.deepEqual(lines, [
      '-A SEINE-HOST-INPUT -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "seine: established and related" -j ACCEPT',
      '-A SEINE-HOST-INPUT -i lo -m comment --comment "seine: loopback" -j ACCEPT',
      '-A SEINE-HOST-INPUT -j SEINE-POL-INGRESS-RULES',
      '-A SEINE-HOST-OUTPUT -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "seine: established and related" -j ACCEPT',
      '-A SEINE-HOST-OUTPUT -o lo -m comment --comment "seine: loopback" -j ACCEPT',
      '-A SEINE-HOST-OUTPUT -d 192.168.77.1/32 -p tcp -m comment --comment "seine: controller" -j ACCEPT',
      '-A SEINE-HOST-OUTPUT -j SEINE-POL-EGRESS-RULES',
      `-A SEINE-POL-INGRESS-RULES -s 10.42.0.0/24 -p tcp -m tcp --dport 22 -j NFLOG --nflog-group 1029 --nflog-prefix "${tag}"`,
      `-A SEINE-POL-INGRESS-RULES -s 10.42.0.0/24 -p tcp -m tcp --dport 22 -m comment --comment "${tag} acnp:protect-box ingress[0]" -j DROP`,
      `-A SEINE-POL-INGRESS-RULES -s 10.0.0.9/32 -p tcp -m tcp --dport 22 -j NFLOG --nflog-group 1029 --nflog-prefix "${tag}"`,
      `-A SEINE-POL-INGRESS-RULES -s 10.0.0.9/32 -p tcp -m tcp --dport 22 -m comment --comment "${tag} acnp:protect-box ingress[0]" -j DROP`,
      `-A SEINE-POL-INGRESS-RULES -m comment --comment "${ruleTag(hostRuleSpec(pass))} acnp:protect-box ingress[1]" -g SEINE-POL-INGRESS-BASELINE`,
      `-A SEINE-POL-EGRESS-BASELINE -p tcp -m comment --comment "${ruleTag(hostRuleSpec(rej))} acnp:protect-box egress[0]" -j REJECT --reject-with tcp-reset`,
      `-A SEINE-POL-EGRESS-BASELINE -m comment --comment "${ruleTag(hostRuleSpec(rej))} acnp:protect-box egress[0]" -j REJECT --reject-with icmp-host-prohibited`,
      '-A SEINE-POL-INGRESS-RULES -g SEINE-POL-INGRESS-BASELINE',
      '-A SEINE-POL-EGRESS-RULES -g SEINE-POL-EGRESS-BASELINE',
    ]);
    assert.equal(plan.lines[0], '*filter');
    assert.equal(plan.lines.at(-2), 'COMMIT');
    assert.equal(plan.tags.get(tag), drop);
  });

  it('checks every value against the contract before it reaches a line', () => {
    assert.throws(() => hostFirewallPlan([rule({ cidrs: ['10.0.0.1/32" -j ACCEPT #'] })], []), /cidrs/);
    assert.throws(() => hostFirewallPlan([rule({ cidrs: ['fd00::/64'] })], []), /IPv4/);
    assert.throws(() => hostFirewallPlan([rule({ policy: { kind: 'AntreaClusterNetworkPolicy', name: 'x" -j ACCEPT' } })], []), /policy/);
    assert.throws(() => hostFirewallPlan([], [{ ip: '1.2.3.4 -j DROP', what: 'controller' }]), /IPv4/);
  });

  it('a rule whose content changes gets a new tag (its counters restart, as a policy flow\'s would)', () => {
    assert.notEqual(ruleTag(hostRuleSpec(rule())), ruleTag(hostRuleSpec(rule({ services: [{ protocol: 'TCP', port: 23 }] }))));
    assert.equal(ruleTag(hostRuleSpec(rule())), ruleTag(hostRuleSpec(rule())));
  });
});

describe('host firewall: counters and apply', () => {
  const twoPeers = () => rule({ cidrs: ['10.42.0.0/24', '10.0.0.9/32'] });
  const tag = ruleTag(hostRuleSpec(twoPeers()));
  const saved = [
    '*filter',
    ':INPUT ACCEPT [10:1000]',
    '[7:420] -A SEINE-POL-INGRESS-RULES -s 10.42.0.0/24 -p tcp -m tcp --dport 22 -j NFLOG --nflog-prefix  "' + tag + '" --nflog-group 1029',
    `[3:180] -A SEINE-POL-INGRESS-RULES -s 10.42.0.0/24 -p tcp -m tcp --dport 22 -m comment --comment "${tag} acnp:protect-box ingress[0]" -j DROP`,
    `[2:120] -A SEINE-POL-INGRESS-RULES -s 10.0.0.9/32 -p tcp -m tcp --dport 22 -m comment --comment "${tag} acnp:protect-box ingress[0]" -j DROP`,
    `[9:900] -A SOMEONE-ELSE -m comment --comment "${tag} x" -j DROP`,
    'COMMIT',
  ].join('\n');

  it('sums a rule\'s lines in Seine\'s chains only (the NFLOG lines are not the verdict)', () => {
    assert.deepEqual([...countersByTag(saved)], [[tag, { packets: 5, bytes: 300 }]]);
  });

  it('touches nothing on a box that never had host rules; otherwise restores with the counters carried and hooks INPUT and OUTPUT once', async () => {
    const calls: string[] = [];
    const inputs: string[] = [];
    let chains = false;
    const exec = (async (cmd: string, args: string[], opts?: { input?: string }) => {
      calls.push(`${cmd} ${args.join(' ')}`);
      if (opts?.input) inputs.push(opts.input);
      if (cmd === 'iptables' && args.includes('-S')) return { code: chains ? 0 : 1, stdout: '', stderr: '' };
      if (cmd === 'iptables' && args.includes('-C')) return { code: 1, stdout: '', stderr: '' };
      if (cmd === 'iptables-save') return { code: 0, stdout: saved, stderr: '' };
      return { code: 0, stdout: '', stderr: '' };
    }) as unknown as typeof run;
    const fw = new HostFirewall({ exemptions: async () => [], exec });
    await fw.apply([]);
    assert.deepEqual(calls, ['iptables -w 5 -S SEINE-POL-INGRESS-RULES'], 'only the look for chains an earlier agent left');
    await fw.apply([twoPeers()]);
    assert.deepEqual(calls.filter((c) => c.startsWith('iptables ')).slice(1), [
      'iptables -w 5 -C INPUT -j SEINE-HOST-INPUT', 'iptables -w 5 -I INPUT 1 -j SEINE-HOST-INPUT',
      'iptables -w 5 -C OUTPUT -j SEINE-HOST-OUTPUT', 'iptables -w 5 -I OUTPUT 1 -j SEINE-HOST-OUTPUT',
    ]);
    assert.ok(calls.includes('iptables-restore -w 5 --noflush --counters'));
    assert.match(inputs[0]!, new RegExp(`\\n\\[3:180\\] -A SEINE-POL-INGRESS-RULES -s 10\\.42\\.0\\.0/24 .*-j DROP\\n\\[2:120\\] -A SEINE-POL-INGRESS-RULES -s 10\\.0\\.0\\.9/32 `));
    const stats = await fw.stats();
    assert.deepEqual(stats.map((s) => [s.ruleName, s.packets, s.bytes, s.sessions]), [['no-ssh', 5, 300, 5]]);
    const n = calls.length;
    await fw.apply([twoPeers()]);
    assert.equal(calls.length, n, 'the same rules again: nothing run');
    chains = true;
    const fresh = new HostFirewall({ exemptions: async () => [], exec });
    await fresh.apply([]);
    assert.match(inputs.at(-1)!, /:SEINE-POL-INGRESS-RULES - \[0:0\]/, 'a restarted agent with no host rules empties what the last one left');
  });
});

describe('host firewall: span and np.log', () => {
  it('sends a host policy to the boxes whose reported labels any of its nodeSelectors match', () => {
    const span = new NodeConfigSpan();
    const report = (labels: Record<string, string>) => ({ inventory: { pods: [], nodeLabels: labels } }) as unknown as NodeReported;
    span.noteReport('box1', report({ site: 'shop' }));
    span.noteReport('box2', report({ site: 'plant' }));
    const record = (spec: unknown) => ({ kind: findQualifiedKind('ClusterNetworkPolicy.crd.antrea.io')!, apiVersion: 'crd.antrea.io/v1beta1', name: 'x', spec } as unknown as StoredRecord);
    const wrapped = span.wrap(() => ['pods-span']);
    assert.deepEqual(wrapped(record(hostPolicy.spec), ['box1', 'box2', 'box3']), ['box1']);
    assert.deepEqual(wrapped(record({ ...hostPolicy.spec, appliedTo: [{ nodeSelector: { matchLabels: { site: 'shop' } } }, { nodeSelector: { matchLabels: { 'kubernetes.io/hostname': 'box2' } } }] }), ['box1', 'box2']), ['box1', 'box2']);
    assert.deepEqual(wrapped(record({ priority: 1, appliedTo: [{ podSelector: {} }] }), ['box1']), ['pods-span'], 'a pod policy keeps its own span');
    assert.equal(span.wrapInSpan(() => true)(record(hostPolicy.spec), 'box2', ['box1', 'box2']), false);
  });

  it('writes an NFLOG packet of a logged host rule as np.log fields', () => {
    const ip = Buffer.alloc(40);
    ip[0] = 0x45;
    ip.writeUInt16BE(60, 2);
    ip[9] = 6;
    Buffer.from([10, 42, 0, 2]).copy(ip, 12);
    Buffer.from([10, 42, 0, 1]).copy(ip, 16);
    ip.writeUInt16BE(40000, 20);
    ip.writeUInt16BE(22, 22);
    assert.deepEqual(summarizeIPv4(ip), { src: '10.42.0.2', dst: '10.42.0.1', protocol: 6, srcPort: 40000, dstPort: 22, length: 60 });
    const f = hostLogFields({ prefix: 'seine-x', payload: ip }, rule({ logLabel: 'ssh guard' }), 'box1')!;
    assert.equal(f.text, 'SEINE-POL-INGRESS-RULES AntreaClusterNetworkPolicy:protect-box no-ssh Ingress Drop <nil> box1 10.42.0.2 40000 10.42.0.1 22 TCP 60 ssh\\x20guard');
    assert.equal(summarizeIPv4(Buffer.from([0x60, 0, 0, 0])), undefined, 'not IPv4');
  });
});

describe('host firewall: exemptions', () => {
  it('keeps the controller\'s address (every TCP port) open, resolving names; none for a unix socket', async () => {
    const cfg = (url: string) => AgentConfigSchema.parse({ nodeName: 'box1', inventory: { source: 'file', path: '/tmp/inv.json' }, controller: { url, credentials: { username: 'u', password: 'p' } } });
    const controller = async (url: string) => (await hostExemptions(cfg(url))).filter((e) => !isOverlayExemption(e));
    assert.deepEqual(await controller('mqtt://192.168.77.1:1883'), [{ ip: '192.168.77.1', what: 'controller' }]);
    assert.deepEqual(await controller('mqtt://localhost:1883'), [{ ip: '127.0.0.1', what: 'controller' }]);
    assert.deepEqual(await controller('mqtts+unix:///run/seine/mqtt.sock'), []);
  });

  it('keeps the overlay open: the tunnel\'s port by type, none without encapsulation, WireGuard\'s port and its Egress VXLAN on the device', () => {
    const cfg = (extra: Record<string, unknown>) => AgentConfigSchema.parse({ nodeName: 'box1', inventory: { source: 'file', path: '/tmp/inv.json' }, ...extra });
    assert.deepEqual(overlayExemptions(cfg({})), [{ protocol: 'udp', port: 6081, what: 'tunnel' }]);
    assert.deepEqual(overlayExemptions(cfg({ tunnelType: 'vxlan', trafficEncapMode: 'hybrid' })), [{ protocol: 'udp', port: 4789, what: 'tunnel' }]);
    assert.deepEqual(overlayExemptions(cfg({ tunnelType: 'gre' })), [{ protocol: 'gre', what: 'tunnel' }]);
    assert.deepEqual(overlayExemptions(cfg({ trafficEncapMode: 'noEncap' })), []);
    assert.deepEqual(overlayExemptions(cfg({ trafficEncryptionMode: 'wireGuard', wireGuard: { port: 51821, interfaceName: 'wg-box1' } })), [
      { protocol: 'udp', port: 51821, what: 'wireguard' },
      { protocol: 'udp', port: WG_EGRESS_PORT, device: 'wg-box1', what: 'wireguard-egress' },
    ]);
  });

  it('writes the overlay\'s exemptions into INPUT and OUTPUT ahead of the rules, and checks them first', () => {
    const plan = hostFirewallPlan([rule()], [
      { protocol: 'udp', port: 6081, what: 'tunnel' },
      { protocol: 'udp', port: 4790, device: 'antrea-wg0', what: 'wireguard-egress' },
      { protocol: 'gre', what: 'tunnel' },
      { ip: '192.168.77.1', what: 'controller' },
    ]);
    const chain = (name: string) => plan.lines.filter((l) => l.startsWith(`-A ${name} `)).slice(2);
    assert.deepEqual(chain('SEINE-HOST-INPUT'), [
      '-A SEINE-HOST-INPUT -p udp -m udp --dport 6081 -m comment --comment "seine: tunnel" -j ACCEPT',
      '-A SEINE-HOST-INPUT -i antrea-wg0 -p udp -m udp --dport 4790 -m comment --comment "seine: wireguard-egress" -j ACCEPT',
      '-A SEINE-HOST-INPUT -p gre -m comment --comment "seine: tunnel" -j ACCEPT',
      '-A SEINE-HOST-INPUT -j SEINE-POL-INGRESS-RULES',
    ]);
    assert.deepEqual(chain('SEINE-HOST-OUTPUT'), [
      '-A SEINE-HOST-OUTPUT -p udp -m udp --dport 6081 -m comment --comment "seine: tunnel" -j ACCEPT',
      '-A SEINE-HOST-OUTPUT -o antrea-wg0 -p udp -m udp --dport 4790 -m comment --comment "seine: wireguard-egress" -j ACCEPT',
      '-A SEINE-HOST-OUTPUT -p gre -m comment --comment "seine: tunnel" -j ACCEPT',
      '-A SEINE-HOST-OUTPUT -d 192.168.77.1/32 -p tcp -m comment --comment "seine: controller" -j ACCEPT',
      '-A SEINE-HOST-OUTPUT -j SEINE-POL-EGRESS-RULES',
    ]);
    assert.throws(() => hostFirewallPlan([], [{ protocol: 'udp', what: 'tunnel' }]), /port/);
    assert.throws(() => hostFirewallPlan([], [{ protocol: 'udp', port: 1, device: 'wg0 -j DROP', what: 'wireguard-egress' }]), /interface name/);
  });
});
