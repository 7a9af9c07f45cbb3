// The six built-in tiers, served as Antrea serves them: listed with the stored (custom) tiers,
// readable by name, and never written. They are not in the store; policy computation and the
// reference checks already know them from STATIC_TIERS, so this only shapes what REST shows.
import type { StoredObject } from '../api/controller-api.js';
import { STATIC_TIERS } from '../api/tier.js';
import { HttpError } from '../api/http.js';

const DESCRIPTIONS: Record<string, string> = {
  emergency: 'Emergency Tier',
  securityops: 'SecurityOps Tier',
  networkops: 'NetworkOps Tier',
  platform: 'Platform Tier',
  application: 'Application Tier',
  baseline: 'Baseline Tier',
};

export const isStaticTier = (name: string): boolean => STATIC_TIERS.some((t) => t.name === name);

/** The built-in tiers as objects; `since` (the controller's start) is their creation time, as Antrea creates them at start-up. */
export function staticTierObjects(apiVersion: string, since: string): StoredObject[] {
  return STATIC_TIERS.map((t) => ({
    apiVersion,
    kind: 'Tier',
    metadata: { name: t.name, uid: `builtin-tier-${t.name}`, generation: 1, resourceVersion: '0', creationTimestamp: since },
    spec: { priority: t.priority, description: DESCRIPTIONS[t.name] },
  }));
}

/** Built-in and stored tiers together, by priority (what `get tiers` shows). */
export function withStaticTiers(stored: StoredObject[], apiVersion: string, since: string): StoredObject[] {
  const prio = (o: StoredObject) => (o.spec as { priority?: number } | undefined)?.priority ?? 256;
  return [...staticTierObjects(apiVersion, since), ...stored].sort((a, b) => prio(a) - prio(b) || a.metadata.name.localeCompare(b.metadata.name));
}

/** 403 naming the tier when a write touches a built-in one (Antrea's webhook refuses them too). */
export function rejectStaticTierWrites(names: readonly string[], verb: 'changed' | 'deleted'): void {
  const hit = names.filter(isStaticTier);
  if (!hit.length) return;
  const list = hit.map((n) => `${n} (priority ${STATIC_TIERS.find((t) => t.name === n)!.priority})`).join(', ');
  throw new HttpError(403, 'Forbidden', `${hit.length > 1 ? 'tiers' : 'tier'} ${list} ${hit.length > 1 ? 'are' : 'is'} built in and cannot be ${verb}`, hit.map((n) => ({ field: 'metadata.name', message: `tier ${n} (priority ${STATIC_TIERS.find((t) => t.name === n)!.priority}) is built in and cannot be ${verb}` })));
}
