// Least-privilege policies from recorded allowed connections (pure). Each workload of the
// namespace that took part in a recorded connection gets one policy: ingress from the peers seen
// reaching it, egress to the peers it reached, each on the ports seen. Pods are grouped into
// workloads by their `app` label (else app.kubernetes.io/name, else all their labels), and the
// workloads of another namespace collapse into that namespace when all its pods talked alike
// (same ports to the same target). Peers outside the cluster are /32 (/128) ipBlocks.
//
// K8s NetworkPolicy cannot name ICMP: a peer seen over ICMP gets a rule with no ports (all
// traffic from or to it), so the recommendation never denies what was recorded. ACNP says ICMP
// (`protocols: [{icmp: {}}]`), and adds a baseline-tier default deny for the namespace.
import type { RecordedConnection } from '../api/impact.js';

export interface RecommendPod {
  name: string;
  labels: Record<string, string>;
}

export interface RecommendInput {
  namespace: string;
  kind: 'netpol' | 'acnp';
  connections: readonly RecordedConnection[];
  /** The pods of a namespace (every box's reported pods), for labels and "all pods of it". */
  podsOf(namespace: string): readonly RecommendPod[];
}

export interface Recommendation {
  items: Record<string, unknown>[];
  /** What could not be expressed as asked (e.g. a pod with no labels). */
  warnings: string[];
}

const NS_LABEL = 'kubernetes.io/metadata.name';
/** Labels that differ per pod of one workload. */
const PER_POD = new Set(['pod-template-hash', 'controller-revision-hash', 'statefulset.kubernetes.io/pod-name', 'pod-template-generation']);

/** The labels that name a pod's workload; undefined when it has none to select it by. */
export function workloadLabels(labels: Record<string, string>): Record<string, string> | undefined {
  if (labels.app) return { app: labels.app };
  if (labels['app.kubernetes.io/name']) return { 'app.kubernetes.io/name': labels['app.kubernetes.io/name'] };
  const rest = Object.entries(labels).filter(([k]) => !PER_POD.has(k)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return rest.length ? Object.fromEntries(rest) : undefined;
}

type Peer =
  | { type: 'workload'; namespace: string; labels: Record<string, string> }
  | { type: 'namespace'; namespace: string }
  | { type: 'ip'; ip: string };

const peerKey = (p: Peer) => (p.type === 'ip' ? `ip|${p.ip}` : p.type === 'namespace' ? `ns|${p.namespace}` : `wl|${p.namespace}|${JSON.stringify(p.labels)}`);
/** `TCP/80`, `UDP/53`, `ICMP/0`. */
type PortKey = string;

interface Target {
  labels: Record<string, string>;
  ingress: Map<string, { peer: Peer; ports: Set<PortKey> }>;
  egress: Map<string, { peer: Peer; ports: Set<PortKey> }>;
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'pods';

export function recommend(input: RecommendInput): Recommendation {
  const warnings = new Set<string>();
  const labelsOf = new Map<string, Record<string, string>>();
  const pods = (ns: string) => {
    const list = input.podsOf(ns);
    for (const p of list) labelsOf.set(`${ns}/${p.name}`, p.labels);
    return list;
  };
  const seenNs = new Set<string>();
  const workloadOf = (ns: string, pod: string) => {
    if (!seenNs.has(ns)) (pods(ns), seenNs.add(ns));
    const labels = labelsOf.get(`${ns}/${pod}`);
    return labels ? workloadLabels(labels) : undefined;
  };
  const peerOf = (e: RecordedConnection['source']): Peer => {
    if (e.namespace && e.pod) {
      const wl = workloadOf(e.namespace, e.pod);
      if (wl) return { type: 'workload', namespace: e.namespace, labels: wl };
      warnings.add(`pod ${e.namespace}/${e.pod} has no labels to select it by (or is gone): allowed by its address ${e.ip}`);
    }
    return { type: 'ip', ip: e.ip };
  };

  const targets = new Map<string, Target>();
  const targetOf = (e: RecordedConnection['source']): Target | undefined => {
    if (e.namespace !== input.namespace || !e.pod) return undefined;
    const wl = workloadOf(e.namespace, e.pod);
    if (!wl) {
      warnings.add(`pod ${e.namespace}/${e.pod} has no labels to select it by (or is gone): no policy applies to it`);
      return undefined;
    }
    const key = JSON.stringify(wl);
    let t = targets.get(key);
    if (!t) targets.set(key, (t = { labels: wl, ingress: new Map(), egress: new Map() }));
    return t;
  };
  const add = (side: Map<string, { peer: Peer; ports: Set<PortKey> }>, peer: Peer, port: PortKey) => {
    const k = peerKey(peer);
    let e = side.get(k);
    if (!e) side.set(k, (e = { peer, ports: new Set() }));
    e.ports.add(port);
  };
  for (const c of input.connections) {
    const port = `${c.protocol}/${c.protocol === 'ICMP' ? 0 : c.port}`;
    const dst = targetOf(c.destination);
    if (dst) add(dst.ingress, peerOf(c.source), port);
    const src = targetOf(c.source);
    if (src) add(src.egress, peerOf(c.destination), port);
  }

  const items: Record<string, unknown>[] = [];
  for (const t of [...targets.values()].sort((a, b) => cmp(JSON.stringify(a.labels), JSON.stringify(b.labels)))) {
    const ingress = rulesOf(collapseNamespaces(t.ingress, pods), input, 'from');
    const egress = rulesOf(collapseNamespaces(t.egress, pods), input, 'to');
    const name = `recommend-${slug(Object.values(t.labels).join('-'))}`.slice(0, 63).replace(/-+$/, '');
    if (input.kind === 'netpol') {
      items.push({
        apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy',
        metadata: { name, namespace: input.namespace },
        spec: { podSelector: { matchLabels: t.labels }, policyTypes: ['Ingress', 'Egress'], ingress, egress },
      });
    } else {
      items.push({
        apiVersion: 'crd.antrea.io/v1beta1', kind: 'ClusterNetworkPolicy',
        metadata: { name: `${name}-${slug(input.namespace)}`.slice(0, 253) },
        spec: {
          priority: 5, tier: 'application',
          appliedTo: [{ podSelector: { matchLabels: t.labels }, namespaceSelector: { matchLabels: { [NS_LABEL]: input.namespace } } }],
          ingress, egress,
        },
      });
    }
  }
  if (input.kind === 'acnp' && items.length) {
    items.push({
      apiVersion: 'crd.antrea.io/v1beta1', kind: 'ClusterNetworkPolicy',
      metadata: { name: `recommend-default-deny-${slug(input.namespace)}`.slice(0, 253) },
      spec: {
        priority: 100, tier: 'baseline',
        appliedTo: [{ namespaceSelector: { matchLabels: { [NS_LABEL]: input.namespace } } }],
        ingress: [{ action: 'Drop', name: 'default-deny-ingress' }],
        egress: [{ action: 'Drop', name: 'default-deny-egress' }],
      },
    });
  }
  return { items, warnings: [...warnings].sort() };
}

/**
 * Another namespace's workloads become one namespace peer when every pod of that namespace is
 * among them and they used the same ports (the namespace "talks alike"); at least two workloads,
 * else a workload selector says the same more narrowly.
 */
function collapseNamespaces(side: Map<string, { peer: Peer; ports: Set<PortKey> }>, pods: (ns: string) => readonly RecommendPod[]): { peer: Peer; ports: Set<PortKey> }[] {
  const byNs = new Map<string, { peer: Extract<Peer, { type: 'workload' }>; ports: Set<PortKey> }[]>();
  const out: { peer: Peer; ports: Set<PortKey> }[] = [];
  for (const e of side.values()) {
    if (e.peer.type !== 'workload') {
      out.push(e);
      continue;
    }
    const list = byNs.get(e.peer.namespace) ?? [];
    list.push(e as { peer: Extract<Peer, { type: 'workload' }>; ports: Set<PortKey> });
    byNs.set(e.peer.namespace, list);
  }
  for (const [ns, list] of byNs) {
    const portsKey = (s: Set<PortKey>) => [...s].sort().join(',');
    const same = list.every((e) => portsKey(e.ports) === portsKey(list[0]!.ports));
    const covered = new Set(list.map((e) => JSON.stringify(e.peer.labels)));
    const all = pods(ns).every((p) => {
      const wl = workloadLabels(p.labels);
      return wl !== undefined && covered.has(JSON.stringify(wl));
    });
    if (list.length >= 2 && same && all) out.push({ peer: { type: 'namespace', namespace: ns }, ports: list[0]!.ports });
    else out.push(...list);
  }
  return out;
}

/** One rule per distinct port set, its peers sorted; ICMP as K8s can say it (no ports) or ACNP (protocols). */
function rulesOf(entries: { peer: Peer; ports: Set<PortKey> }[], input: RecommendInput, field: 'from' | 'to'): Record<string, unknown>[] {
  const acnp = input.kind === 'acnp';
  const groups = new Map<string, { ports: PortKey[]; peers: Peer[] }>();
  const put = (ports: PortKey[], peer: Peer) => {
    const k = ports.join(',');
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { ports, peers: [] }));
    g.peers.push(peer);
  };
  for (const e of entries) {
    const ports = [...e.ports].sort(comparePorts);
    const icmp = ports.some((p) => p.startsWith('ICMP/'));
    const transport = ports.filter((p) => !p.startsWith('ICMP/'));
    if (!icmp) put(transport, e.peer);
    else if (!acnp) put([], e.peer); // K8s NetworkPolicy: all ports (ICMP cannot be named)
    else {
      put(['ICMP/0'], e.peer);
      if (transport.length) put(transport, e.peer);
    }
  }
  const rules: Record<string, unknown>[] = [];
  let i = 0;
  for (const g of [...groups.values()].sort((a, b) => cmp(a.ports.join(','), b.ports.join(',')))) {
    const peers = g.peers.sort((a, b) => cmp(peerKey(a), peerKey(b))).map((p) => peerSpec(p, input));
    const rule: Record<string, unknown> = acnp ? { action: 'Allow', name: `${field === 'from' ? 'in' : 'out'}-${i++}`, [field]: peers } : { [field]: peers };
    if (g.ports[0] === 'ICMP/0') rule.protocols = [{ icmp: {} }];
    else if (g.ports.length) rule.ports = g.ports.map((p) => ({ protocol: p.split('/')[0], port: Number(p.split('/')[1]) }));
    rules.push(rule);
  }
  return rules;
}

function peerSpec(p: Peer, input: RecommendInput): Record<string, unknown> {
  if (p.type === 'ip') return { ipBlock: { cidr: `${p.ip}/${p.ip.includes(':') ? 128 : 32}` } };
  const nsSel = { namespaceSelector: { matchLabels: { [NS_LABEL]: p.namespace } } };
  if (p.type === 'namespace') return p.namespace === input.namespace && input.kind === 'netpol' ? { podSelector: {} } : nsSel;
  // K8s: a podSelector alone means the policy's own namespace; ACNP: every namespace, so it is named.
  if (p.namespace === input.namespace && input.kind === 'netpol') return { podSelector: { matchLabels: p.labels } };
  return { podSelector: { matchLabels: p.labels }, ...nsSel };
}

function comparePorts(a: PortKey, b: PortKey): number {
  const [pa, na] = a.split('/');
  const [pb, nb] = b.split('/');
  return cmp(pa!, pb!) || Number(na) - Number(nb);
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
