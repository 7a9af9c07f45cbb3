// A node's last report as the controller keeps it: one object per node, updated in place from
// each parsed report (issue #22, the controller's RSS over rounds). A 10k fleet reports every
// round; replacing each node's long-lived parsed report turned the whole fleet's reports into
// old-generation garbage every round (V8's major GCs then saw-toothed the RSS). Here only what
// changed is replaced: an object's generation and phase are written into its entry, a pod, a
// namespace's labels or the node labels only when their content differs, and the parsed report
// (young, short-lived) is dropped. What moved is returned, so the span and the realization
// index follow without keeping copies of their own to compare against.
import type { NodeReported, RealizedObject } from '../../api/node-state.js';

type Pod = NodeReported['inventory']['pods'][number];

/** What absorbing a report changed in a node's kept report. */
export interface ReportDelta {
  /** Objects whose generation, phase or reason moved, or that came or went: key → as it was (undefined: not reported before). */
  readonly objects: ReadonlyMap<string, Readonly<RealizedObject> | undefined>;
  /** Pods (`namespace/name`) added or changed → the kept pod, or gone → undefined. */
  readonly pods: ReadonlyMap<string, Pod | undefined>;
  /** Namespaces whose labels came, changed (→ the kept labels) or went (→ undefined). */
  readonly namespaces: ReadonlyMap<string, Readonly<Record<string, string>> | undefined>;
  /** The node's own labels changed. */
  readonly nodeLabels: boolean;
}

const NOTHING: ReadonlyMap<string, never> = new Map<string, never>();

/** Whether a delta changed nothing the spans or the realization index read. */
export const emptyDelta = (d: ReportDelta): boolean => !d.objects.size && !d.pods.size && !d.namespaces.size && !d.nodeLabels;

/** The fields absorbReport compares and replaces as wholes (the schema is strict: there are no others). */
const WHOLE_FIELDS = ['storeId', 'errors', 'policyStats', 'update', 'nodeLatency', 'wireGuard', 'agentVersion'] as const;

/**
 * Takes `next` (freshly parsed) into `kept` (the node's kept report, changed in place); returns
 * what moved. Unchanged parts of `kept` stay the same objects, so long-lived memory stays put.
 */
export function absorbReport(kept: NodeReported, next: NodeReported): ReportDelta {
  kept.observedGeneration = next.observedGeneration;
  kept.uptimeSeconds = next.uptimeSeconds;
  const fields = kept as unknown as Record<string, unknown>;
  const incoming = next as unknown as Record<string, unknown>;
  for (const key of WHOLE_FIELDS) {
    if (incoming[key] === undefined) {
      if (key in fields) delete fields[key];
    } else if (!jsonEqual(fields[key], incoming[key])) fields[key] = incoming[key];
  }
  const objects = absorbObjects(kept.objects, next.objects);
  const inv = kept.inventory;
  const pods = absorbPods(inv, next.inventory.pods);
  const namespaces = absorbLabelMaps(inv, next.inventory.namespaces);
  const nodeLabels = !jsonEqual(inv.nodeLabels, next.inventory.nodeLabels);
  if (nodeLabels) {
    if (next.inventory.nodeLabels) inv.nodeLabels = next.inventory.nodeLabels;
    else delete inv.nodeLabels;
  }
  return { objects, pods, namespaces, nodeLabels };
}

/** What a node's report leaving (node removed or disabled) takes away: everything it held. */
export function removalDelta(kept: NodeReported): ReportDelta {
  return {
    objects: new Map(Object.entries(kept.objects)),
    pods: new Map(kept.inventory.pods.map((p) => [`${p.namespace}/${p.name}`, undefined])),
    namespaces: new Map(Object.keys(kept.inventory.namespaces ?? {}).map((n) => [n, undefined])),
    nodeLabels: kept.inventory.nodeLabels !== undefined,
  };
}

/** What a node's first report brings: everything in it. */
export function arrivalDelta(kept: NodeReported): ReportDelta {
  return {
    objects: new Map(Object.keys(kept.objects).map((k) => [k, undefined])),
    pods: new Map(kept.inventory.pods.map((p) => [`${p.namespace}/${p.name}`, p])),
    namespaces: new Map(Object.entries(kept.inventory.namespaces ?? {})),
    nodeLabels: kept.inventory.nodeLabels !== undefined,
  };
}

function absorbObjects(kept: NodeReported['objects'], next: NodeReported['objects']): ReadonlyMap<string, RealizedObject | undefined> {
  let moved: Map<string, RealizedObject | undefined> | undefined;
  for (const key in next) {
    const n = next[key]!;
    const k = kept[key];
    if (k && k.generation === n.generation && k.phase === n.phase && k.reason === n.reason) continue;
    (moved ??= new Map()).set(key, k && { generation: k.generation, phase: k.phase, ...(k.reason !== undefined ? { reason: k.reason } : {}) });
    // The common move (a new generation Realized) is written into the entry; a reason coming or going takes the new one.
    if (k && (k.reason === undefined) === (n.reason === undefined)) {
      k.generation = n.generation;
      k.phase = n.phase;
      if (n.reason !== undefined) k.reason = n.reason;
    } else kept[key] = n;
  }
  for (const key in kept) {
    if (key in next) continue;
    (moved ??= new Map()).set(key, kept[key]);
    delete kept[key];
  }
  return moved ?? NOTHING;
}

function absorbPods(inv: NodeReported['inventory'], next: readonly Pod[]): ReadonlyMap<string, Pod | undefined> {
  const kept = inv.pods;
  // The common case: the same pods in the same order.
  if (kept.length === next.length && kept.every((p, i) => jsonEqual(p, next[i]))) return NOTHING;
  const byKey = new Map(kept.map((p) => [`${p.namespace}/${p.name}`, p]));
  const moved = new Map<string, Pod | undefined>();
  const pods = next.map((n) => {
    const key = `${n.namespace}/${n.name}`;
    const k = byKey.get(key);
    byKey.delete(key);
    if (k && jsonEqual(k, n)) return k;
    moved.set(key, n);
    return n;
  });
  for (const key of byKey.keys()) if (!moved.has(key)) moved.set(key, undefined);
  inv.pods = pods;
  return moved;
}

function absorbLabelMaps(inv: NodeReported['inventory'], next: Record<string, Record<string, string>> | undefined): ReadonlyMap<string, Record<string, string> | undefined> {
  const kept = inv.namespaces;
  if (jsonEqual(kept, next)) return NOTHING;
  const moved = new Map<string, Record<string, string> | undefined>();
  const out: Record<string, Record<string, string>> = {};
  for (const [name, labels] of Object.entries(next ?? {})) {
    const k = kept?.[name];
    if (k && jsonEqual(k, labels)) out[name] = k;
    else {
      out[name] = labels;
      moved.set(name, labels);
    }
  }
  for (const name of Object.keys(kept ?? {})) if (!(name in out)) moved.set(name, undefined);
  if (next) inv.namespaces = out;
  else delete inv.namespaces;
  return moved;
}

/** Deep equality of JSON values (objects compared by their keys, in any order); allocates nothing for equal scalars. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let n = 0;
  for (const key in x) {
    if (x[key] === undefined) continue;
    if (!jsonEqual(x[key], y[key])) return false;
    n++;
  }
  let m = 0;
  for (const key in y) if (y[key] !== undefined) m++;
  return n === m;
}
