// Impact preview and recommendation over the boxes' recorded connections: the REST bodies, the
// request/response methods a box answers, and what a box sends back. A box evaluates its own
// flow store, so requests carry policy objects and a time window, never per-connection data;
// answers carry one row per distinct connection (source, destination, port, protocol).
import { z } from 'zod';
import { findKind, qualifiedKind, type ManifestObject } from './kinds.js';
import { NamespaceNameSchema, NodeNameSchema } from './meta.js';
import { UPSTREAM_POLICY_KINDS } from './admin-policy.js';
import { IPAddressSchema } from './net.js';

export const IMPACT_RPC = { impact: 'flows.impact', connections: 'flows.connections' } as const;

/** Kinds the policy computation takes: what a preview may change and what a box needs to evaluate. */
export const POLICY_WORLD_KINDS: ReadonlySet<string> = new Set([
  'ClusterNetworkPolicy.crd.antrea.io', 'NetworkPolicy.crd.antrea.io', 'NetworkPolicy.networking.k8s.io', ...UPSTREAM_POLICY_KINDS,
  'Tier.crd.antrea.io', 'ClusterGroup.crd.antrea.io', 'Group.crd.antrea.io',
]);

const UNITS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;
/** `90s`, `30m`, `24h`, `7d` → seconds (at most 400 days: more than any store keeps). */
export const DurationSchema = z
  .string()
  .regex(/^[1-9]\d{0,5}[smhd]$/, 'expected a duration like 30m, 24h or 7d')
  .transform((s) => Number(s.slice(0, -1)) * UNITS[s.slice(-1) as keyof typeof UNITS])
  .refine((n) => n <= 400 * 86_400, 'at most 400d');

/**
 * One policy object of the world (a kind the computation takes), validated by its kind's schema;
 * problems name the field under the object (`current[3].spec.ingress[0].action`).
 */
export const PolicyManifestSchema = z.unknown().transform((value, ctx): ManifestObject => {
  const o = value as { apiVersion?: unknown; kind?: unknown } | null;
  const info = o && typeof o === 'object' && typeof o.apiVersion === 'string' && typeof o.kind === 'string' ? findKind(o.apiVersion, o.kind) : undefined;
  if (!info || !POLICY_WORLD_KINDS.has(qualifiedKind(info))) {
    ctx.addIssue({ code: 'custom', path: ['kind'], message: `expected a policy kind (${[...POLICY_WORLD_KINDS].join(', ')})`, input: (o as { kind?: unknown } | null)?.kind });
    return z.NEVER;
  }
  const parsed = info.schema.safeParse(value, { reportInput: true });
  if (!parsed.success) {
    for (const i of parsed.error.issues) ctx.addIssue({ code: 'custom', path: [...i.path], message: i.message, input: i.input });
    return z.NEVER;
  }
  return parsed.data as ManifestObject;
});

export const PROTOCOLS = ['TCP', 'UDP', 'SCTP', 'ICMP'] as const;
export type ConnectionProtocol = (typeof PROTOCOLS)[number];
/** IANA protocol numbers of the protocols policies name (ICMPv6 counts as ICMP, as in Antrea's rules). */
export const PROTOCOL_NUMBERS: Readonly<Record<number, ConnectionProtocol>> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP', 1: 'ICMP', 58: 'ICMP' };

export const ConnectionEndpointSchema = z.strictObject({
  ip: IPAddressSchema,
  /** Set for a pod of the cluster; absent for an address outside it. */
  namespace: z.string().min(1).optional(),
  pod: z.string().min(1).optional(),
});
export type ConnectionEndpoint = z.infer<typeof ConnectionEndpointSchema>;

/** A distinct connection a box recorded in the window: every record of it counted once per connection. */
export const RecordedConnectionSchema = z.strictObject({
  source: ConnectionEndpointSchema,
  /** The endpoint after Service load balancing (policies see that one). */
  destination: ConnectionEndpointSchema,
  /** Destination port (0 for ICMP). */
  port: z.number().int().min(0).max(65535),
  protocol: z.enum(PROTOCOLS),
  /** The Service address the client used, when it went through one. */
  service: z.strictObject({ ip: IPAddressSchema, port: z.number().int().min(0).max(65535) }).optional(),
  /** Unix seconds of the latest record. */
  lastSeen: z.number().int().nonnegative(),
  /** Distinct connections (conntrack entries) of this source, destination, port and protocol. */
  count: z.number().int().positive(),
});
export type RecordedConnection = z.infer<typeof RecordedConnectionSchema>;

/** Identity of a connection row across boxes (both ends of an inter-node connection record it). */
export const connectionKey = (c: Pick<RecordedConnection, 'source' | 'destination' | 'port' | 'protocol'>): string =>
  `${c.protocol}|${c.source.ip}|${c.destination.ip}|${c.port}`;

export const VerdictBriefSchema = z.strictObject({
  action: z.enum(['Allow', 'Drop', 'Reject']),
  decidedBy: z.string(),
  /** `acnp/name`, `anp/ns/name` or `netpol/ns/name`, with the rule (name or index) after a colon. */
  policy: z.string().optional(),
});
export type VerdictBrief = z.infer<typeof VerdictBriefSchema>;

export const ImpactEntrySchema = RecordedConnectionSchema.extend({
  before: VerdictBriefSchema,
  after: VerdictBriefSchema,
  /** The boxes that recorded it (the controller fills this when merging). */
  nodes: z.array(NodeNameSchema).optional(),
});
export type ImpactEntry = z.infer<typeof ImpactEntrySchema>;

const seconds = z.number().int().nonnegative();
/** At most this many rows per list in an answer (the counts stay exact). */
export const IMPACT_LIST_MAX = 5_000;

export const ImpactRpcParamsSchema = z
  .strictObject({
    /** The policy objects the controller stores now (kinds of POLICY_WORLD_KINDS). */
    current: z.array(PolicyManifestSchema).max(20_000),
    /** Objects the change creates or replaces (same kind, namespace and name). */
    apply: z.array(PolicyManifestSchema).max(5_000).default([]),
    /** Objects the change deletes. */
    remove: z.array(PolicyManifestSchema).max(5_000).default([]),
    since: seconds,
    until: seconds,
    limit: z.number().int().min(1).max(IMPACT_LIST_MAX).default(1000),
  })
  .refine((p) => p.since <= p.until, { path: ['until'], message: 'must not be before since' });
export type ImpactRpcParams = z.input<typeof ImpactRpcParamsSchema>;

export const ImpactCountsSchema = z.strictObject({
  /** Distinct connections evaluated. */
  connections: z.number().int().nonnegative(),
  newlyDenied: z.number().int().nonnegative(),
  newlyAllowed: z.number().int().nonnegative(),
  unchangedAllowed: z.number().int().nonnegative(),
  unchangedDenied: z.number().int().nonnegative(),
});
export type ImpactCounts = z.infer<typeof ImpactCountsSchema>;

export const ImpactNodeResultSchema = z.strictObject({
  counts: ImpactCountsSchema,
  newlyDenied: z.array(ImpactEntrySchema),
  newlyAllowed: z.array(ImpactEntrySchema),
  /** A list was cut at the limit (the counts are whole). */
  truncated: z.boolean(),
  /** Time the box took: store scan, evaluations. */
  ms: z.number().nonnegative(),
});
export type ImpactNodeResult = z.infer<typeof ImpactNodeResultSchema>;

export const ConnectionsRpcParamsSchema = z
  .strictObject({
    since: seconds,
    until: seconds,
    /** Only connections no rule denied (for recommendations). */
    allowedOnly: z.boolean().default(true),
    limit: z.number().int().min(1).max(50_000).default(10_000),
  })
  .refine((p) => p.since <= p.until, { path: ['until'], message: 'must not be before since' });
export type ConnectionsRpcParams = z.input<typeof ConnectionsRpcParamsSchema>;

export const ConnectionsRpcResultSchema = z.strictObject({
  connections: z.array(RecordedConnectionSchema),
  truncated: z.boolean(),
});
export type ConnectionsRpcResult = z.infer<typeof ConnectionsRpcResultSchema>;

/** Boxes asked and boxes not heard from (offline, timed out, failed), each with why. */
export const NodesHeardSchema = z.strictObject({
  answered: z.array(NodeNameSchema),
  notHeard: z.array(z.strictObject({ node: NodeNameSchema, reason: z.string() })),
});
export type NodesHeard = z.infer<typeof NodesHeardSchema>;

const timeoutMs = z.number().int().min(100).max(120_000).default(10_000);

/** POST /api/v1/impact: the manifests of the change (JSON or YAML List/array in `items`) and the window. */
export const ImpactRequestSchema = z.strictObject({
  items: z.array(z.unknown()).min(1, 'expected at least one object'),
  /** How far back: connections last seen within it. */
  since: DurationSchema.default(86_400),
  /** `apply` (create or replace) or `delete` the objects. */
  operation: z.enum(['apply', 'delete']).default('apply'),
  timeoutMs,
  limit: z.number().int().min(1).max(IMPACT_LIST_MAX).default(1000),
});
export type ImpactRequest = z.input<typeof ImpactRequestSchema>;

export const ImpactResultSchema = z.strictObject({
  kind: z.literal('ImpactPreview'),
  window: z.strictObject({ since: seconds, until: seconds }),
  counts: ImpactCountsSchema,
  newlyDenied: z.array(ImpactEntrySchema),
  newlyAllowed: z.array(ImpactEntrySchema),
  truncated: z.boolean(),
  nodes: NodesHeardSchema,
});
export type ImpactResult = z.infer<typeof ImpactResultSchema>;

/** POST /api/v1/recommendation. */
export const RecommendRequestSchema = z.strictObject({
  namespace: NamespaceNameSchema,
  since: DurationSchema.default(7 * 86_400),
  kind: z.enum(['netpol', 'acnp']).default('netpol'),
  timeoutMs,
});
export type RecommendRequest = z.input<typeof RecommendRequestSchema>;

export const RecommendResultSchema = z.strictObject({
  kind: z.literal('Recommendation'),
  namespace: z.string(),
  window: z.strictObject({ since: seconds, until: seconds }),
  /** Distinct allowed connections the policies were written from. */
  connections: z.number().int().nonnegative(),
  items: z.array(z.record(z.string(), z.unknown())),
  /** What could not be expressed as asked (a pod without labels, a box's list cut short). */
  warnings: z.array(z.string()),
  nodes: NodesHeardSchema,
});
export type RecommendResult = z.infer<typeof RecommendResultSchema>;
