// Impact preview, the pure part: the world after a change (the stored objects with the change's
// objects put in or taken out), and each recorded connection's verdict before and after, sorted
// into newly denied, newly allowed and unchanged. The verdicts come from the evaluator (any
// object with its evaluate()), so the preview means exactly what the evaluation endpoint says.
import { findKind, qualifiedKind, type ManifestObject } from '../api/kinds.js';
import type { ImpactCounts, ImpactEntry, RecordedConnection, VerdictBrief } from '../api/impact.js';
import type { Inventory } from '../api/inventory.js';
import { policyObjectsOf } from './compute/compute.js';
import { EvalError, PolicyEvaluator } from './evaluate/evaluate.js';

/** What the preview needs of a verdict (the evaluator's EvalVerdict has these fields and more). */
export interface VerdictLike {
  action: 'Allow' | 'Drop' | 'Reject';
  decidedBy: string;
  policy?: { kind: string; namespace?: string; name: string };
  ruleName?: string;
  ruleIndex?: number;
}

export interface ConnectionEvaluator {
  evaluate(q: {
    source: { ip: string; namespace?: string; pod?: string };
    destination: { ip: string; namespace?: string; pod?: string };
    protocol?: 'TCP' | 'UDP' | 'SCTP' | 'ICMP';
    port?: number;
  }): VerdictLike;
}

/**
 * The evaluator of a world for recorded connections. A recorded pod may be gone since: then the
 * connection is evaluated by its addresses (a pod that holds the address now, or none); a
 * connection neither way resolves (an address two pods claim) counts as unchanged, decidedBy
 * `unresolved`.
 */
export function evaluatorFor(objects: readonly ManifestObject[], inventory: Inventory): ConnectionEvaluator {
  const ev = new PolicyEvaluator({ objects: policyObjectsOf(objects), inventory });
  return {
    evaluate(q) {
      try {
        return ev.evaluate(q);
      } catch (err) {
        if (!(err instanceof EvalError)) throw err;
      }
      try {
        return ev.evaluate({ ...q, source: { ip: q.source.ip }, destination: { ip: q.destination.ip } });
      } catch (err) {
        if (!(err instanceof EvalError)) throw err;
        return { action: 'Allow', decidedBy: 'unresolved' };
      }
    },
  };
}

/** `Kind.group/namespace/name`: what an applied object replaces. */
export function manifestKey(o: ManifestObject): string {
  const info = findKind(o.apiVersion, o.kind);
  const ns = (o.metadata as { namespace?: string }).namespace ?? (info?.namespaced ? 'default' : '');
  return `${info ? qualifiedKind(info) : o.kind}/${ns}/${o.metadata.name}`;
}

/** The objects after applying `apply` (create or replace by key) and deleting `remove`. */
export function worldAfter(current: readonly ManifestObject[], apply: readonly ManifestObject[], remove: readonly ManifestObject[] = []): ManifestObject[] {
  const out = new Map(current.map((o) => [manifestKey(o), o]));
  for (const o of remove) out.delete(manifestKey(o));
  for (const o of apply) out.set(manifestKey(o), o);
  return [...out.values()];
}

const SHORT: Record<string, string> = {
  AntreaClusterNetworkPolicy: 'acnp', ClusterNetworkPolicy: 'acnp',
  AntreaNetworkPolicy: 'anp', K8sNetworkPolicy: 'netpol', NetworkPolicy: 'netpol',
  AdminNetworkPolicy: 'anp.policy.networking.k8s.io', BaselineAdminNetworkPolicy: 'banp',
};

export function verdictBrief(v: VerdictLike): VerdictBrief {
  const p = v.policy;
  if (!p) return { action: v.action, decidedBy: v.decidedBy };
  const rule = v.ruleName ?? (v.ruleIndex !== undefined ? String(v.ruleIndex) : undefined);
  const name = `${SHORT[p.kind] ?? p.kind}/${p.namespace ? `${p.namespace}/` : ''}${p.name}${rule ? `:${rule}` : ''}`;
  return { action: v.action, decidedBy: v.decidedBy, policy: name };
}

export interface ImpactOutcome {
  counts: ImpactCounts;
  newlyDenied: ImpactEntry[];
  newlyAllowed: ImpactEntry[];
  truncated: boolean;
}

/**
 * Every connection evaluated in both worlds; lists cut at `limit` rows (newest first). Both boxes
 * of an inter-node connection record it: counts take only the rows `owned` says this box speaks
 * for (so the fleet's sums count each once), lists take every changed row (so a connection still
 * shows when its other box is offline; the controller merges duplicates).
 */
export function previewImpact(
  rows: readonly { connection: RecordedConnection; owned: boolean }[], before: ConnectionEvaluator, after: ConnectionEvaluator, limit: number,
): ImpactOutcome {
  const counts: ImpactCounts = { connections: 0, newlyDenied: 0, newlyAllowed: 0, unchangedAllowed: 0, unchangedDenied: 0 };
  const newlyDenied: ImpactEntry[] = [];
  const newlyAllowed: ImpactEntry[] = [];
  let truncated = false;
  for (const { connection: c, owned } of rows) {
    if (owned) counts.connections++;
    const q = { source: c.source, destination: c.destination, protocol: c.protocol, ...(c.protocol === 'ICMP' ? {} : { port: c.port }) };
    const b = before.evaluate(q);
    const a = after.evaluate(q);
    const was = b.action === 'Allow';
    const is = a.action === 'Allow';
    if (was === is) {
      if (owned && is) counts.unchangedAllowed++;
      else if (owned) counts.unchangedDenied++;
      continue;
    }
    const list = was ? newlyDenied : newlyAllowed;
    if (owned && was) counts.newlyDenied++;
    else if (owned) counts.newlyAllowed++;
    if (list.length < limit) list.push({ ...c, before: verdictBrief(b), after: verdictBrief(a) });
    else truncated = true;
  }
  return { counts, newlyDenied, newlyAllowed, truncated };
}
