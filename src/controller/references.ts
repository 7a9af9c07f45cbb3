// Checks that need more than one object, as Antrea's admission webhook makes them: a policy's
// tier must exist, no two tiers share a priority, and a tier still referenced cannot go.
// Pure: given the objects as they would be after a change, the problems the change causes.
import { STATIC_TIERS, effectiveTierName } from '../api/tier.js';

export interface ObjectView {
  kind: string;
  namespace?: string;
  name: string;
  spec: unknown;
}

export interface ReferenceProblem {
  /** `ClusterNetworkPolicy web-allow`, `NetworkPolicy prod/db`, `Tier mytier`. */
  object: string;
  field: string;
  message: string;
}

const label = (o: ObjectView) => `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`;
// The upstream ClusterNetworkPolicy (policy.networking.k8s.io) shares the kind name; its `tier` is Admin/Baseline, not a Tier.
const isAntreaPolicy = (o: ObjectView, group?: string) =>
  (o.kind === 'ClusterNetworkPolicy' && group !== 'policy.networking.k8s.io') || (o.kind === 'NetworkPolicy' && group !== 'networking.k8s.io');

/**
 * Problems in `after` that involve `touched` objects (those being applied), plus policies left
 * pointing at a tier in `deletedTiers`.
 */
export function referenceProblems(
  after: readonly (ObjectView & { group?: string })[],
  touched: (o: ObjectView) => boolean,
  deletedTiers: readonly string[] = [],
): ReferenceProblem[] {
  const problems: ReferenceProblem[] = [];
  const tiers = after.filter((o) => o.kind === 'Tier');
  const priorities = new Map<number, string>(STATIC_TIERS.map((t) => [t.priority, t.name]));
  const tierNames = new Set<string>(STATIC_TIERS.map((t) => t.name));
  // Stored tiers first, so a touched tier is the one reported as the newcomer.
  for (const t of [...tiers.filter((x) => !touched(x)), ...tiers.filter(touched)]) {
    tierNames.add(t.name);
    const priority = (t.spec as { priority?: number }).priority;
    if (priority === undefined) continue;
    const holder = priorities.get(priority);
    if (holder && holder !== t.name && touched(t)) problems.push({ object: label(t), field: 'spec.priority', message: `priority ${priority} is already taken by tier ${holder}` });
    else if (!holder) priorities.set(priority, t.name);
  }
  for (const p of after) {
    if (!isAntreaPolicy(p, p.group)) continue;
    const tier = effectiveTierName((p.spec as { tier?: string }).tier);
    if (tierNames.has(tier)) continue;
    if (deletedTiers.includes(tier)) problems.push({ object: `Tier ${tier}`, field: 'metadata.name', message: `tier ${tier} is still used by ${label(p)}` });
    else if (touched(p)) problems.push({ object: label(p), field: 'spec.tier', message: `unknown tier "${tier}" (create the Tier first)` });
  }
  return problems;
}
