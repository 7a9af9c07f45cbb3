// Service rule sync: 1k ClusterIP Services × 10 endpoints realized by Seine (plan + flows +
// select groups, applied by the OpenFlow layer in one bundle) into a real private userspace
// OVS, against `iptables-restore --noflush` of the equivalent kube-proxy iptables-mode nat rules
// (KUBE-SERVICES → KUBE-SVC-* with statistic-mode random per endpoint → KUBE-SEP-* DNAT), in
// a throwaway network namespace, in the same run.
//   full:        all 1k Services from an empty switch / empty nat table (kube-proxy's full sync)
//   one change:  one endpoint of one Service replaced. Seine: what the agent does, through the
//                Service feature (only the changed Service planned and built again; the inventory
//                keeps unchanged objects, as the agent's store does) and the bridge's reconcile
//                (only the flows that changed planned against its mirror), one bundle. Anchor: what kube-proxy's iptables mode restores today in a
//                partial sync (MinimizeIPTablesRestore, default since 1.27; pkg/proxy/iptables/
//                proxier.go): the top-level chains it always rewrites (KUBE-SERVICES with every
//                Service's jump rule, KUBE-MARK-MASQ) plus only the changed Service's KUBE-SVC and
//                KUBE-SEP chains. With > 1,000 endpoints kube-proxy is in large-cluster mode and
//                leaves the stale KUBE-SEP chain for a later periodic cleanup, so no -X line.
//                A second row times the restore of only that Service's chains (KUBE-SVC + its
//                KUBE-SEPs), the floor of any iptables restore of the change.
//   beside policy: the same change through the agent's Datapath (Datapath.desiredFlows: default
//                and connectivity flows, 1k+ network-policy flows from NetworkPolicyFeature, the
//                Service feature; then the bridge's reconcile), as a box with policies syncs a
//                Service change. Only the Service flows should be planned: the other features
//                keep their Flow objects while their inputs stay (flow-memo.ts). Host routes are
//                left out (the bench runs in the root namespace). Anchor: the same partial restore.
// Antrea publishes no AntreaProxy sync figures we could find (its metric
// antrea_proxy_sync_proxy_rules_duration_seconds exists, without published values). kube-proxy's
// nftables mode publishes one Service added to 10,000 in 141 ms (kubernetes PR #126013): a
// different operation at a different scale, so it is quoted in docs/services.md, not a row here.
import { createHash } from 'node:crypto';
import { run } from '../../src/lib/exec.js';
import { bridgeMgmt, type OvsInstance } from '../../src/lab/ovs-instance.js';
import { OvsdbClient } from '../../src/agent/ovs/ovsdb.js';
import { VSwitch } from '../../src/agent/ovs/vswitch.js';
import { Pipeline } from '../../src/agent/ovs/pipeline.js';
import { defaultFlows } from '../../src/agent/ovs/default-flows.js';
import { OpenFlowBridge } from '../../src/agent/ovs/bridge.js';
import { CookieAllocator } from '../../src/agent/ovs/cookie.js';
import { ServiceFeature } from '../../src/agent/service/feature.js';
import { Datapath } from '../../src/agent/datapath.js';
import { OvsPodPorts } from '../../src/agent/pod-ports.js';
import { NetworkPolicyFeature } from '../../src/agent/policy/feature.js';
import type { InternalRule, NodePolicySet } from '../../src/policy/compute/types.js';
import { LEARNED_FLOWS } from '../../src/agent/flows/accounting.js';
import type { Inventory, InventoryEndpointSlice, InventoryService } from '../../src/api/inventory.js';
import { startPrivateOvs, stopPrivateOvs } from '../helpers/private-ovs.js';
import { timeMs, withDeadline, type Bench, type BenchRow } from './harness.js';

const SERVICES = Number(process.env.SEINE_BENCH_SERVICES ?? 1000);
const ENDPOINTS = 10;
const REPEAT = Number(process.env.BENCH_REPEAT ?? 5);
/** Endpoint changes per round (changed, back, changed), each timed on both sides. */
const CHANGES = 3;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const svcIP = (i: number) => `10.43.${(i >> 8) & 255}.${i & 255}`;
const epIP = (i: number, k: number, shift = 0) => {
  const n = i * ENDPOINTS + k + shift;
  return `10.42.${(n >> 8) & 127}.${(n & 255) || 1}`;
};

function inventory(): Inventory {
  const services = new Map<string, InventoryService>();
  const endpointSlices = new Map<string, InventoryEndpointSlice>();
  for (let i = 0; i < SERVICES; i++) {
    services.set(`bench/s${i}`, { namespace: 'bench', name: `s${i}`, type: 'ClusterIP', clusterIP: svcIP(i + 256), ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 0 }], affinitySeconds: 0, externalTrafficPolicy: 'Cluster', internalTrafficPolicy: 'Cluster' });
    endpointSlices.set(`bench/s${i}-x`, {
      namespace: 'bench', name: `s${i}-x`, service: `s${i}`, ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
      endpoints: Array.from({ length: ENDPOINTS }, (_, k) => ({ ip: epIP(i, k), serving: true, terminating: false, nodeName: k % 2 ? 'box2' : 'box1' })),
    });
  }
  return { nodes: new Map(), namespaces: new Map(), pods: new Map(), services, endpointSlices };
}

/**
 * `base` with endpoint 0 of Service `i` replaced, as the agent's inventory store holds it: a new
 * object for the changed EndpointSlice, the very same objects for everything else.
 */
function withChangedEndpoint(base: Inventory, i: number): Inventory {
  const endpointSlices = new Map(base.endpointSlices);
  const key = `bench/s${i}-x`;
  const slice = base.endpointSlices!.get(key)!;
  endpointSlices.set(key, { ...slice, endpoints: slice.endpoints.map((e, k) => (k === 0 ? { ...e, ip: '10.42.200.1' } : e)) });
  return { ...base, endpointSlices };
}

/** 100 egress rules of one local pod, 10 peer addresses each: 1,300+ policy flows. */
function benchPolicies(): NodePolicySet {
  const rules: InternalRule[] = Array.from({ length: 100 }, (_, i) => ({
    id: `acnp:bench-${i}|egress|0`, policy: { kind: 'AntreaClusterNetworkPolicy', name: `bench-${i}` }, ruleName: 'r', direction: 'egress', action: i % 2 ? 'Allow' : 'Drop',
    layer: 'antrea', tier: 'application', order: { tierPriority: 250, policyPriority: i, ruleIndex: 0 },
    targets: [{ key: 'bench/client', ip: '10.42.0.5' }], peers: { any: false, ips: Array.from({ length: 10 }, (_, k) => `10.50.${i}.${k + 1}`), cidrs: [] },
    services: [{ protocol: 'TCP', port: 1000 + i }], enableLogging: false,
  }));
  return { node: 'box1', rules, isolated: { ingress: [], egress: [] } };
}

const chain = (prefix: string, key: string) => `${prefix}-${createHash('sha256').update(key).digest('base64').replace(/[^A-Z0-9]/gi, '').slice(0, 16).toUpperCase()}`;

/** One Service's part of kube-proxy iptables mode's nat table (pkg/proxy/iptables/proxier.go shapes). */
interface KubeProxyService {
  /** Its jump rule in KUBE-SERVICES (rewritten on every sync, full or partial). */
  servicesRule: string;
  /** Its own chains (KUBE-SVC-*, KUBE-SEP-*) as `:CHAIN - [0:0]` lines, and their rules. */
  chains: string[];
  rules: string[];
}

function kubeProxyServices(inv: Inventory): KubeProxyService[] {
  return [...inv.services!.values()].map((svc) => {
    const slice = inv.endpointSlices!.get(`bench/${svc.name}-x`)!;
    const name = `${svc.namespace}/${svc.name}:http`;
    const svcChain = chain('KUBE-SVC', name);
    const chains = [`:${svcChain} - [0:0]`];
    const rules = [`-A ${svcChain} ! -s 10.42.0.0/16 -d ${svc.clusterIP}/32 -p tcp -m comment --comment "${name} cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ`];
    const n = slice.endpoints.length;
    slice.endpoints.forEach((e, k) => {
      const sep = chain('KUBE-SEP', `${name}/${e.ip}`);
      chains.push(`:${sep} - [0:0]`);
      const left = n - k;
      rules.push(`-A ${svcChain} -m comment --comment "${name} -> ${e.ip}:8080"${left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(10)}` : ''} -j ${sep}`);
      rules.push(`-A ${sep} -s ${e.ip}/32 -m comment --comment "${name}" -j KUBE-MARK-MASQ`);
      rules.push(`-A ${sep} -p tcp -m comment --comment "${name}" -m tcp -j DNAT --to-destination ${e.ip}:8080`);
    });
    return { servicesRule: `-A KUBE-SERVICES -d ${svc.clusterIP}/32 -p tcp -m comment --comment "${name} cluster IP" -m tcp --dport 80 -j ${svcChain}`, chains, rules };
  });
}

// A `:CHAIN - [0:0]` line flushes that chain even with --noflush: every chain a restore names is
// replaced whole, as kube-proxy's own restores do.
const restoreText = (chains: string[], rules: string[]) => ['*nat', ...chains, ...rules, 'COMMIT', ''].join('\n');
const TOP_CHAINS = [':KUBE-SERVICES - [0:0]', ':KUBE-MARK-MASQ - [0:0]'];
const TOP_RULES = ['-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000'];

/** kube-proxy's full sync: every chain. */
function kubeProxyFull(svcs: KubeProxyService[]): string {
  return restoreText([...TOP_CHAINS, ...svcs.flatMap((s) => s.chains)], [...TOP_RULES, ...svcs.map((s) => s.servicesRule), ...svcs.flatMap((s) => s.rules)]);
}

/** kube-proxy's partial sync after Service `changed` changed: the top-level chains, and that Service's chains only. */
function kubeProxyPartial(svcs: KubeProxyService[], changed: number): string {
  const s = svcs[changed]!;
  return restoreText([...TOP_CHAINS, ...s.chains], [...TOP_RULES, ...svcs.map((x) => x.servicesRule), ...s.rules]);
}

/** Only Service `changed`'s own chains (KUBE-SVC + KUBE-SEPs): the floor of any restore of the change. */
function kubeProxyServiceOnly(svcs: KubeProxyService[], changed: number): string {
  return restoreText(svcs[changed]!.chains, svcs[changed]!.rules);
}

/** Bounds for the external tools: a restore of 32k rules took 74 s at load ~17 here. */
const TOOL_MS = 5 * 60_000;

export const bench: Bench = {
  name: 'services',
  deadlineMs: 45 * 60_000,
  async run(): Promise<BenchRow[]> {
    const pipeline = Pipeline.build();
    let inst: OvsInstance | undefined;
    let client: OvsdbClient | undefined;
    const ipt = `seine-iptb-${process.pid}`;
    await run('ip', ['netns', 'add', ipt], { timeoutMs: 30_000 });
    try {
      inst = await startPrivateOvs('svcbench');
      client = await OvsdbClient.connect({ remote: inst.dbRemote });
      const vs = new VSwitch(client);
      await vs.ensureBridge('br-int', { datapathType: 'netdev', failMode: 'secure', protocols: ['OpenFlow15'] });
      await withDeadline(vs.waitOfport('br-int'), 60_000, 'br-int getting its ofport');
      const mgmt = bridgeMgmt(inst, 'br-int');
      const ofctl = (...args: string[]) => run('ovs-ofctl', ['-O', 'OpenFlow15', ...args], { env: inst!.env, timeoutMs: TOOL_MS });
      const cookies = new CookieAllocator(1);
      const defaults = defaultFlows(pipeline, 1);
      const base = inventory();
      const changed = withChangedEndpoint(base, SERVICES >> 1); // = changedIndex below
      let current = base;
      const newFeature = () => new ServiceFeature({ nodeName: 'box1', inventory: () => current, gatewayIP: '10.42.0.1', pods: async () => [] });
      /** What the agent's datapath sync does: the feature's flows and groups, the difference applied in one bundle. */
      const phases = { featureMs: [] as number[], reconcileMs: [] as number[] };
      const seineSync = async (bridge: OpenFlowBridge, feature: ServiceFeature, inv: Inventory, change = false) => {
        current = inv;
        const [featureMs, flows] = await timeMs(() => feature.flows(pipeline, cookies));
        const [reconcileMs, res] = await timeMs(() => withDeadline(bridge.reconcile([...defaults, ...flows], { groups: feature.groups() }), TOOL_MS, 'Seine\'s service sync (reconcile)'));
        if (change) {
          phases.featureMs.push(featureMs);
          phases.reconcileMs.push(reconcileMs);
        }
        return res;
      };
      const iptRestore = (text: string) => run('ip', ['netns', 'exec', ipt, 'iptables-restore', '--noflush'], { input: text, timeoutMs: TOOL_MS });
      const iptables = (...args: string[]) => run('ip', ['netns', 'exec', ipt, 'iptables', ...args], { timeoutMs: TOOL_MS });
      const iptFlush = () => iptables('-t', 'nat', '-F').then(() => iptables('-t', 'nat', '-X'));
      const changedIndex = SERVICES >> 1;
      const kpBaseSvcs = kubeProxyServices(base);
      const kpChangedSvcs = kubeProxyServices(changed);
      const kpBase = kubeProxyFull(kpBaseSvcs);
      const kpPartial = kubeProxyPartial(kpChangedSvcs, changedIndex);
      const kpPartialBack = kubeProxyPartial(kpBaseSvcs, changedIndex);
      const kpOnlyBack = kubeProxyServiceOnly(kpBaseSvcs, changedIndex);

      const full: number[] = [];
      const fullAnchor: number[] = [];
      const one: number[] = [];
      const oneAnchor: number[] = [];
      const oneFloor: number[] = [];
      let counts = { flows: 0, groups: 0, rules: kpBase.split('\n').filter((l) => l.startsWith('-A')).length };
      for (let r = 0; r < REPEAT; r++) {
        // Empty switch and empty nat table each round.
        await ofctl('del-flows', mgmt);
        await ofctl('del-groups', mgmt);
        await iptFlush();
        const bridge = new OpenFlowBridge({ mgmt, tables: pipeline, env: inst.env, soleWriter: true, foreign: LEARNED_FLOWS });
        const feature = newFeature(); // cold: from empty, everything is planned and built
        const runSeine = async () => full.push((await timeMs(() => seineSync(bridge, feature, base)))[0]);
        const runAnchor = async () => fullAnchor.push((await timeMs(() => iptRestore(kpBase)))[0]);
        if (r % 2) { await runAnchor(); await runSeine(); } else { await runSeine(); await runAnchor(); }
        // One endpoint of one Service changes, back, and again (each side the same changes, so
        // neither pays alone for the system settling after the full sync).
        for (let k = 0; k < CHANGES; k++) {
          const [ms, res] = await timeMs(() => seineSync(bridge, feature, k % 2 ? base : changed, true));
          one.push(ms);
          if (r === 0 && k === 0) {
            if (res.added + res.modified + res.deleted > 4) throw new Error(`one endpoint change touched ${res.added}/${res.modified}/${res.deleted} flows`);
            counts = { ...counts, flows: (await bridge.dumpFlows()).length, groups: (await bridge.dumpGroups()).length };
          }
          // kube-proxy's partial restore of the same change, on the same table.
          oneAnchor.push((await timeMs(() => iptRestore(k % 2 ? kpPartialBack : kpPartial)))[0]);
          if (r === 0 && k === 0) await checkPartialRestore(iptables, kpBaseSvcs, kpChangedSvcs, changedIndex);
        }
        // The floor: only that Service's chains, restored back to the base endpoints.
        oneFloor.push((await timeMs(() => iptRestore(kpOnlyBack)))[0]);
      }
      if (counts.groups !== SERVICES) throw new Error(`expected ${SERVICES} groups on the switch, found ${counts.groups}`);

      // Beside policy: the agent's Datapath builds the whole desired set on every sync.
      await ofctl('del-flows', mgmt);
      await ofctl('del-groups', mgmt);
      await iptFlush();
      await iptRestore(kpBase);
      current = base;
      const dpBridge = new OpenFlowBridge({ mgmt, tables: pipeline, env: inst.env, soleWriter: true, foreign: LEARNED_FLOWS });
      const dpServices = newFeature();
      const policies = benchPolicies();
      const datapath: Datapath = new Datapath({
        bridge: dpBridge, pipeline, round: 2, podPorts: new OvsPodPorts(vs, 'br-int', () => datapath.sync()),
        network: { gateway: { name: 'svcb-gw0', ofport: 2, mac: '02:00:0a:2a:00:01', ip: '10.42.0.1', prefixLength: 24 } },
        podCIDR: '10.42.0.0/24', serviceCIDR: '10.43.0.0/16', peers: () => [],
        features: [new NetworkPolicyFeature(() => ({ policies, ofports: new Map() })), dpServices],
      });
      // Datapath.syncOnce without the host routes: desired flows, then one reconcile with the groups.
      const dpSync = async () => withDeadline(datapath.desiredFlows().then((d) => dpBridge.reconcile(d, { groups: dpServices.groups() })), TOOL_MS, 'the datapath sync beside policy');
      await dpSync();
      const dpFlows = (await dpBridge.dumpFlows()).length;
      const dpOne: number[] = [];
      const dpAnchor: number[] = [];
      for (let r = 0; r < REPEAT; r++) {
        for (let k = 0; k < CHANGES; k++) {
          current = (r * CHANGES + k) % 2 ? base : changed;
          const [ms, res] = await timeMs(dpSync);
          if (res.added + res.modified + res.deleted > 4) throw new Error(`beside policy: one endpoint change touched ${res.added}/${res.modified}/${res.deleted} flows`);
          dpOne.push(ms);
          dpAnchor.push((await timeMs(() => iptRestore((r * CHANGES + k) % 2 ? kpPartialBack : kpPartial)))[0]);
        }
      }
      process.stderr.write(`services: beside policy, ${dpFlows} flows in OVS (defaults, 1.3k+ policy, Services)\n`);
      process.stderr.write(`services: ${SERVICES} Services × ${ENDPOINTS} endpoints = ${counts.flows} flows + ${counts.groups} groups in OVS; ${counts.rules} iptables rules\n`);
      process.stderr.write(`services: one endpoint changed, medians: feature (plan + flows) ${median(phases.featureMs).toFixed(2)} ms, reconcile (plan + bundle) ${median(phases.reconcileMs).toFixed(2)} ms\n`);
      const partialRules = kpPartial.split('\n').filter((l) => l.startsWith('-A')).length;
      const floorRules = kpOnlyBack.split('\n').filter((l) => l.startsWith('-A')).length;
      return [
        { metric: `service sync, ${SERVICES}×${ENDPOINTS} from empty (median of ${REPEAT})`, unit: 'ms', seine: median(full), anchor: median(fullAnchor), anchorLabel: `iptables-restore of kube-proxy's ${counts.rules} nat rules (its full sync)`, better: 'lower' },
        {
          metric: `service sync, one endpoint changed (median of ${REPEAT}×${CHANGES})`, unit: 'ms', seine: median(one), anchor: median(oneAnchor),
          anchorLabel: `kube-proxy's partial restore: iptables-restore --noflush of KUBE-SERVICES + the Service's chains (${partialRules} rules)`, better: 'lower', goal: '< 20 ms, ratio >= 3',
        },
        {
          metric: `service sync, one endpoint changed, vs the Service's chains alone (median of ${REPEAT}×${CHANGES} / ${REPEAT})`, unit: 'ms', seine: median(one), anchor: median(oneFloor),
          anchorLabel: `iptables-restore --noflush of only the Service's KUBE-SVC + KUBE-SEP chains (${floorRules} rules; floor)`, better: 'lower',
        },
        {
          metric: `service sync, one endpoint changed, through the datapath beside 1.3k policy flows (${dpFlows} flows; median of ${REPEAT}×${CHANGES})`, unit: 'ms', seine: median(dpOne), anchor: median(dpAnchor),
          anchorLabel: `kube-proxy's partial restore: iptables-restore --noflush of KUBE-SERVICES + the Service's chains (${partialRules} rules)`, better: 'lower',
        },
      ];
    } finally {
      await client?.close();
      if (inst) await stopPrivateOvs(inst);
      await run('ip', ['netns', 'del', ipt], { allowFailure: true, timeoutMs: 30_000 });
    }
  },
};

/**
 * The partial restore must leave the same nat table a full restore of the changed Services would
 * (apart from the stale KUBE-SEP chain kube-proxy leaves in large-cluster mode): otherwise the
 * anchor would be timing less work than kube-proxy does.
 */
async function checkPartialRestore(iptables: (...args: string[]) => Promise<{ stdout: string }>, before: KubeProxyService[], after: KubeProxyService[], changed: number): Promise<void> {
  const svcChain = after[changed]!.chains[0]!.slice(1).split(' ')[0]!;
  const { stdout } = await iptables('-t', 'nat', '-S', svcChain);
  const want = after[changed]!.rules.filter((r) => r.startsWith(`-A ${svcChain} `)).length;
  const got = stdout.split('\n').filter((l) => l.startsWith(`-A ${svcChain} `)).length;
  const newSep = after[changed]!.chains.find((c) => !before[changed]!.chains.includes(c))?.slice(1).split(' ')[0];
  if (got !== want || !newSep || !stdout.includes(newSep)) throw new Error(`kube-proxy partial restore: ${svcChain} has ${got} rules (want ${want}), new endpoint chain ${newSep ?? '(none)'} ${newSep && stdout.includes(newSep) ? 'present' : 'missing'}`);
  const services = (await iptables('-t', 'nat', '-S', 'KUBE-SERVICES')).stdout.split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES ')).length;
  if (services !== after.length) throw new Error(`kube-proxy partial restore: KUBE-SERVICES has ${services} rules, want ${after.length}`);
}
