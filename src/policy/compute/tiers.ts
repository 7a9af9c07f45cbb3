// Tier name → priority: Antrea's static tiers plus the custom Tier objects. Kubernetes
// NetworkPolicy sits between application (250) and baseline (253); K8S_TIER_PRIORITY places it
// there for ordering (251 and 252 are reserved, so no Tier can take it).
import { BASELINE_TIER, STATIC_TIERS, effectiveTierName, type Tier } from '../../api/tier.js';
import { PolicyComputeError } from './errors.js';

export const K8S_TIER_PRIORITY = 251;
export const K8S_TIER_NAME = 'k8s';

/** A policy's place: tier name and priority; baseline rules go after K8s NetworkPolicy. */
export interface ResolvedTier {
  name: string;
  priority: number;
  baseline: boolean;
}

export class TierTable {
  private readonly byName = new Map<string, number>(STATIC_TIERS.map((t) => [t.name, t.priority]));

  constructor(tiers: readonly Tier[] = []) {
    for (const t of tiers) {
      const name = t.metadata.name;
      if (name && !this.byName.has(name)) this.byName.set(name, t.spec.priority);
    }
  }

  /** Name and priority of a policy's `spec.tier`; an unknown tier fails the policy, as Antrea's webhook does. */
  resolve(tier: string | undefined): ResolvedTier {
    const name = effectiveTierName(tier);
    const priority = this.byName.get(name);
    if (priority === undefined) throw new PolicyComputeError('spec.tier', `tier ${JSON.stringify(name)} does not exist`);
    return { name, priority, baseline: name === BASELINE_TIER };
  }
}
