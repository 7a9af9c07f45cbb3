// Antrea Tier: a named priority band for Antrea-native policies. Static checks only; tier-set
// checks (two tiers sharing a priority) need every tier and live in validateTierSet().
import { z } from 'zod';
import { ObjectMetaSchema, isDNS1123Subdomain } from './meta.js';

export const TIER_API_VERSIONS = ['crd.antrea.io/v1alpha1', 'crd.antrea.io/v1beta1'] as const;

/** The tiers Antrea creates at start-up; read-only. K8s NetworkPolicies sit between application and baseline. */
export const STATIC_TIERS = [
  { name: 'emergency', priority: 50 },
  { name: 'securityops', priority: 100 },
  { name: 'networkops', priority: 150 },
  { name: 'platform', priority: 200 },
  { name: 'application', priority: 250 },
  { name: 'baseline', priority: 253 },
] as const;

export const DEFAULT_TIER = 'application';
export const BASELINE_TIER = 'baseline';
/** Custom tiers must sort before the application tier. */
export const MAX_CUSTOM_TIER_PRIORITY = 249;

// Antrea still accepts the pre-1.0 CamelCase spellings of the static tiers in `spec.tier`.
const LEGACY_STATIC_TIER_NAMES = ['Emergency', 'SecurityOps', 'NetworkOps', 'Platform', 'Application', 'Baseline'];

/** The tier a policy's `spec.tier` refers to, lower-cased for the legacy spellings; default application. */
export function effectiveTierName(tier: string | undefined): string {
  if (tier === undefined || tier === '') return DEFAULT_TIER;
  return LEGACY_STATIC_TIER_NAMES.includes(tier) ? tier.toLowerCase() : tier;
}

/** `spec.tier` of an Antrea-native policy: a Tier's name. */
export const TierReferenceSchema = z.string().superRefine((tier, ctx) => {
  if (!isDNS1123Subdomain(tier) && !LEGACY_STATIC_TIER_NAMES.includes(tier)) {
    ctx.addIssue({
      code: 'custom',
      message: `invalid tier name ${JSON.stringify(tier)}: expected a Tier name (lowercase alphanumerics, "-" or ".")`,
    });
  }
});

export const TierSpecSchema = z.strictObject({
  // Antrea's CRD allows 0-255; 251, 252, 254, 255 are reserved and 250/253 belong to static tiers.
  priority: z.number().int().min(0).max(255),
  description: z.string().optional(),
});

export const TierSchema = z
  .strictObject({
    apiVersion: z.enum(TIER_API_VERSIONS),
    kind: z.literal('Tier'),
    metadata: ObjectMetaSchema,
    spec: TierSpecSchema,
  })
  .superRefine((tier, ctx) => {
    const name = tier.metadata.name;
    const priority = tier.spec.priority;
    if (priority < 0 || priority > 255) return; // already reported by TierSpecSchema
    const staticTier = STATIC_TIERS.find((t) => t.name === name);
    if (staticTier && priority !== staticTier.priority) {
      ctx.addIssue({
        code: 'custom',
        path: ['spec', 'priority'],
        message: `static tier ${name} has priority ${staticTier.priority}, got ${priority}`,
      });
    } else if (!staticTier && priority > MAX_CUSTOM_TIER_PRIORITY) {
      ctx.addIssue({
        code: 'custom',
        path: ['spec', 'priority'],
        message: `a custom tier needs a priority below 250 (250 and above are reserved for application, baseline and Antrea), got ${priority}`,
      });
    }
  });
export type Tier = z.infer<typeof TierSchema>;

export interface TierConflict {
  priority: number;
  /** Names of the tiers sharing this priority, in input order. */
  names: string[];
}

/**
 * Tiers that share a priority, which Antrea forbids. Pure: pass every tier that will exist,
 * static ones included if they should be considered.
 */
export function validateTierSet(tiers: readonly { metadata: { name?: string | undefined }; spec: { priority: number } }[]): TierConflict[] {
  const byPriority = new Map<number, string[]>();
  for (const tier of tiers) {
    const names = byPriority.get(tier.spec.priority) ?? [];
    names.push(tier.metadata.name ?? '?');
    byPriority.set(tier.spec.priority, names);
  }
  return [...byPriority.entries()]
    .filter(([, names]) => names.length > 1)
    .map(([priority, names]) => ({ priority, names }))
    .sort((a, b) => a.priority - b.priority);
}
