// Service rule sync: 1k ClusterIP Services × 10 endpoints realized by Seine (plan + flows +
// select groups, applied by the OpenFlow layer in one bundle) into a real private userspace
// OVS, against `iptables-restore` of the equivalent kube-proxy iptables-mode nat rules
// (KUBE-SERVICES → KUBE-SVC-* with statistic-mode random per endpoint → KUBE-SEP-* DNAT), in
// a throwaway network namespace, in the same run.
//   full:        all 1k Services from an empty switch / empty nat table
//   one change:  one endpoint of one Service replaced (Seine: the datapath's diff, one bundle
//                against its mirror; kube-proxy iptables mode rewrites its whole table with
//                iptables-restore --noflush, which is what the anchor times)
// Antrea publishes no AntreaProxy sync figures we could find (its metric
// antrea_proxy_sync_proxy_rules_duration_seconds exists, without published values).
import { createHash } from 'node:crypto';
import { run } from '../../src/lib/exec.js';
import { bridgeMgmt, type OvsInstance } from '../../src/lab/ovs-instance.js';
import { OvsdbClient } from '../../src/agent/ovs/ovsdb.js';
import { VSwitch } from '../../src/agent/ovs/vswitch.js';
import { Pipeline } from '../../src/agent/ovs/pipeline.js';
import { defaultFlows } from '../../src/agent/ovs/default-flows.js';
import { OpenFlowBridge } from '../../src/agent/ovs/bridge.js';
import { CookieAllocator } from '../../src/agent/ovs/cookie.js';
import { allocateGroupIds } from '../../src/agent/ovs/group.js';
import { groupKeys, serviceFlows } from '../../src/agent/service/flows.js';
import { planServices } from '../../src/agent/service/plan.js';
import { LEARNED_FLOWS } from '../../src/agent/flows/accounting.js';
import type { Inventory, InventoryEndpointSlice, InventoryService } from '../../src/api/inventory.js';
import { startPrivateOvs, stopPrivateOvs } from '../helpers/private-ovs.js';
import { timeMs, type Bench, type BenchRow } from './harness.js';

const SERVICES = Number(process.env.SEINE_BENCH_SERVICES ?? 1000);
const ENDPOINTS = 10;
const REPEAT = Number(process.env.BENCH_REPEAT ?? 5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const svcIP = (i: number) => `10.43.${(i >> 8) & 255}.${i & 255}`;
const epIP = (i: number, k: number, shift = 0) => {
  const n = i * ENDPOINTS + k + shift;
  return `10.42.${(n >> 8) & 127}.${(n & 255) || 1}`;
};

function inventory(shiftService = -1): Inventory {
  const services = new Map<string, InventoryService>();
  const endpointSlices = new Map<string, InventoryEndpointSlice>();
  for (let i = 0; i < SERVICES; i++) {
    services.set(`bench/s${i}`, { namespace: 'bench', name: `s${i}`, type: 'ClusterIP', clusterIP: svcIP(i + 256), ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 0 }], affinitySeconds: 0, externalTrafficPolicy: 'Cluster', internalTrafficPolicy: 'Cluster' });
    endpointSlices.set(`bench/s${i}-x`, {
      namespace: 'bench', name: `s${i}-x`, service: `s${i}`, ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
      endpoints: Array.from({ length: ENDPOINTS }, (_, k) => ({ ip: i === shiftService && k === 0 ? '10.42.200.1' : epIP(i, k), serving: true, terminating: false, nodeName: k % 2 ? 'box2' : 'box1' })),
    });
  }
  return { nodes: new Map(), namespaces: new Map(), pods: new Map(), services, endpointSlices };
}

const chain = (prefix: string, key: string) => `${prefix}-${createHash('sha256').update(key).digest('base64').replace(/[^A-Z0-9]/gi, '').slice(0, 16).toUpperCase()}`;

/** kube-proxy iptables mode's nat table for the same Services (pkg/proxy/iptables/proxier.go shapes). */
function kubeProxyRules(inv: Inventory): string {
  const chains = [':KUBE-SERVICES - [0:0]', ':KUBE-MARK-MASQ - [0:0]'];
  const rules = ['-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000'];
  for (const svc of inv.services!.values()) {
    const slice = inv.endpointSlices!.get(`bench/${svc.name}-x`)!;
    const name = `${svc.namespace}/${svc.name}:http`;
    const svcChain = chain('KUBE-SVC', name);
    chains.push(`:${svcChain} - [0:0]`);
    rules.push(`-A KUBE-SERVICES -d ${svc.clusterIP}/32 -p tcp -m comment --comment "${name} cluster IP" -m tcp --dport 80 -j ${svcChain}`);
    rules.push(`-A ${svcChain} ! -s 10.42.0.0/16 -d ${svc.clusterIP}/32 -p tcp -m comment --comment "${name} cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ`);
    const n = slice.endpoints.length;
    slice.endpoints.forEach((e, k) => {
      const sep = chain('KUBE-SEP', `${name}/${e.ip}`);
      chains.push(`:${sep} - [0:0]`);
      const left = n - k;
      rules.push(`-A ${svcChain} -m comment --comment "${name} -> ${e.ip}:8080"${left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(10)}` : ''} -j ${sep}`);
      rules.push(`-A ${sep} -s ${e.ip}/32 -m comment --comment "${name}" -j KUBE-MARK-MASQ`);
      rules.push(`-A ${sep} -p tcp -m comment --comment "${name}" -m tcp -j DNAT --to-destination ${e.ip}:8080`);
    });
  }
  return ['*nat', ...chains, ...rules, 'COMMIT', ''].join('\n');
}

export const bench: Bench = {
  name: 'services',
  async run(): Promise<BenchRow[]> {
    const pipeline = Pipeline.build();
    let inst: OvsInstance | undefined;
    let client: OvsdbClient | undefined;
    const ipt = `seine-iptb-${process.pid}`;
    await run('ip', ['netns', 'add', ipt]);
    try {
      inst = await startPrivateOvs('svcbench');
      client = await OvsdbClient.connect({ remote: inst.dbRemote });
      const vs = new VSwitch(client);
      await vs.ensureBridge('br-int', { datapathType: 'netdev', failMode: 'secure', protocols: ['OpenFlow15'] });
      await vs.waitOfport('br-int');
      const mgmt = bridgeMgmt(inst, 'br-int');
      const ofctl = (...args: string[]) => run('ovs-ofctl', ['-O', 'OpenFlow15', ...args], { env: inst!.env });
      const cookies = new CookieAllocator(1);
      const defaults = defaultFlows(pipeline, 1);
      const base = inventory();
      const changed = inventory(SERVICES >> 1);
      /** What the agent does per sync: plan, build flows and groups, apply the difference in one bundle. */
      const seineSync = async (bridge: OpenFlowBridge, inv: Inventory) => {
        const plans = planServices(inv, 'box1');
        const { flows, groups } = serviceFlows(plans, { gatewayIP: '10.42.0.1', pods: [], groupIds: allocateGroupIds(groupKeys(plans)) }, pipeline, cookies);
        return bridge.reconcile([...defaults, ...flows], { groups });
      };
      const iptRestore = (text: string) => run('ip', ['netns', 'exec', ipt, 'iptables-restore', '--noflush'], { input: text });
      const iptFlush = () => run('ip', ['netns', 'exec', ipt, 'iptables', '-t', 'nat', '-F']).then(() => run('ip', ['netns', 'exec', ipt, 'iptables', '-t', 'nat', '-X']));
      const kpBase = kubeProxyRules(base);
      const kpChanged = kubeProxyRules(changed);
      // A `:CHAIN - [0:0]` line flushes that chain even with --noflush: each restore replaces
      // kube-proxy's chains whole, as kube-proxy's own full syncs do.
      const kpFull = (text: string) => text;

      const full: number[] = [];
      const fullAnchor: number[] = [];
      const one: number[] = [];
      const oneAnchor: number[] = [];
      let counts = { flows: 0, groups: 0, rules: kpBase.split('\n').filter((l) => l.startsWith('-A')).length };
      for (let r = 0; r < REPEAT; r++) {
        // Empty switch and empty nat table each round.
        await ofctl('del-flows', mgmt);
        await ofctl('del-groups', mgmt);
        await iptFlush();
        const bridge = new OpenFlowBridge({ mgmt, tables: pipeline, env: inst.env, soleWriter: true, foreign: LEARNED_FLOWS });
        const runSeine = async () => full.push((await timeMs(() => seineSync(bridge, base)))[0]);
        const runAnchor = async () => fullAnchor.push((await timeMs(() => iptRestore(kpFull(kpBase))))[0]);
        if (r % 2) { await runAnchor(); await runSeine(); } else { await runSeine(); await runAnchor(); }
        // One endpoint of one Service changes.
        const [ms, res] = await timeMs(() => seineSync(bridge, changed));
        one.push(ms);
        if (r === 0) {
          if (res.added + res.modified + res.deleted > 4) throw new Error(`one endpoint change touched ${res.added}/${res.modified}/${res.deleted} flows`);
          counts = { ...counts, flows: (await bridge.dumpFlows()).length, groups: (await bridge.dumpGroups()).length };
        }
        oneAnchor.push((await timeMs(() => iptRestore(kpFull(kpChanged))))[0]);
      }
      if (counts.groups !== SERVICES) throw new Error(`expected ${SERVICES} groups on the switch, found ${counts.groups}`);
      process.stderr.write(`services: ${SERVICES} Services × ${ENDPOINTS} endpoints = ${counts.flows} flows + ${counts.groups} groups in OVS; ${counts.rules} iptables rules\n`);
      const label = `iptables-restore of kube-proxy's ${counts.rules} nat rules`;
      return [
        { metric: `service sync, ${SERVICES}×${ENDPOINTS} from empty (median of ${REPEAT})`, unit: 'ms', seine: median(full), anchor: median(fullAnchor), anchorLabel: label, better: 'lower' },
        { metric: 'service sync, one endpoint changed', unit: 'ms', seine: median(one), anchor: median(oneAnchor), anchorLabel: `${label} (kube-proxy rewrites the table)`, better: 'lower' },
      ];
    } finally {
      client?.close();
      if (inst) await stopPrivateOvs(inst);
      await run('ip', ['netns', 'del', ipt], { allowFailure: true });
    }
  },
};
