// Policy compute at scale: 10k pods, 10k K8s NetworkPolicies (one per pod, each allowing
// ingress from the next pod on TCP 80), 100 nodes. Compared with the numbers Antrea published
// for the same shape in PR #2333 (2 s, 170 MB) — a constant anchor, not measured here.
import { computeNodePolicies } from '../../src/policy/compute/compute.js';
import { K8sNetworkPolicySchema } from '../../src/api/k8s-networkpolicy.js';
import type { Inventory, InventoryPod } from '../../src/agent/inventory/types.js';
import type { Bench, BenchRow } from './harness.js';

const PODS = 10_000;
const NODES = 100;
const ANCHOR = 'Antrea PR #2333 published (not measured here)';

function world(): { inventory: Inventory; policies: ReturnType<typeof K8sNetworkPolicySchema.parse>[] } {
  const pods = new Map<string, InventoryPod>();
  for (let i = 0; i < PODS; i++) {
    const ns = `ns-${i % 100}`;
    pods.set(`${ns}/pod-${i}`, {
      namespace: ns, name: `pod-${i}`, uid: `u${i}`, labels: { app: `app-${i}` },
      ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, ips: [], nodeName: `node-${i % NODES}`, hostNetwork: false, phase: 'Running', ports: [],
    });
  }
  const namespaces = new Map(Array.from({ length: 100 }, (_, n) => [`ns-${n}`, { name: `ns-${n}`, labels: { 'kubernetes.io/metadata.name': `ns-${n}` } }]));
  const nodes = new Map(Array.from({ length: NODES }, (_, n) => [`node-${n}`, { name: `node-${n}`, podCIDRs: [], labels: {} }]));
  const policies = Array.from({ length: PODS }, (_, i) => K8sNetworkPolicySchema.parse({
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: `np-${i}`, namespace: `ns-${i % 100}` },
    spec: { podSelector: { matchLabels: { app: `app-${i}` } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: `app-${(i + 1) % PODS}` } } }], ports: [{ port: 80 }] }] },
  }));
  return { inventory: { nodes, namespaces, pods }, policies };
}

export const bench: Bench = {
  name: 'policy-compute',
  async run(): Promise<BenchRow[]> {
    const { inventory, policies } = world();
    computeNodePolicies({ policies: policies.slice(0, 100) }, inventory); // warm up the JIT
    const times: number[] = [];
    let heapMB = 0;
    for (let round = 0; round < 3; round++) {
      (globalThis as { gc?: () => void }).gc?.();
      const heap0 = process.memoryUsage().heapUsed;
      const t0 = process.hrtime.bigint();
      const result = computeNodePolicies({ policies }, inventory);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      heapMB = Math.max(heapMB, (process.memoryUsage().heapUsed - heap0) / 2 ** 20);
      const rules = [...result.nodes.values()].reduce((n, s) => n + s.rules.length, 0);
      if (rules !== PODS || result.errors.length) throw new Error(`expected ${PODS} rules and no errors, got ${rules} and ${result.errors.length}`);
    }
    const ms = Math.min(...times);
    return [
      { metric: 'policy compute 10k pods × 10k K8s NPs (time)', unit: 'ms', seine: ms, anchor: 2000, anchorLabel: ANCHOR, better: 'lower', goal: '< 1000 ms' },
      { metric: 'policy compute 10k pods × 10k K8s NPs (heap growth)', unit: 'MB', seine: heapMB, anchor: 170, anchorLabel: ANCHOR, better: 'lower', goal: '< 100 MB' },
    ];
  },
};
