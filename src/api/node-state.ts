// The shadow a node syncs with the controller: desired state in (what the node must run, with a
// generation per object), reported state out (what it realized, per object, plus inventory).
import { z } from 'zod';
import { findQualifiedKind, qualifiedKind, type KindInfo } from './kinds.js';
import { LabelMapSchema, NodeNameSchema, isDNS1123Label, isDNS1123Subdomain } from './meta.js';
import { IPAddressSchema, PortNumberSchema, TransportProtocolSchema } from './net.js';
import { NodePolicyStatsSchema } from './policy-stats.js';
import { EgressAssignmentSchema } from './egress.js';
import { NodeLatencyReportSchema } from './node-config.js';
import { ReleaseTargetSchema, UpdateStatusSchema } from './release.js';
import { WireGuardIdentitySchema } from './wireguard.js';

const generation = z.number().int().nonnegative();

/**
 * The controller store's identity (random, made when the store was created). Generations count
 * within one store: a document from a different store starts a new epoch (a wiped or replaced
 * store restarts at generation 1), so the agent takes it whatever its generation.
 */
export const StoreIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, { error: 'expected 1-64 of A-Z a-z 0-9 _ -' });

export interface ObjectRef {
  kind: KindInfo;
  /** undefined for cluster-scoped kinds. */
  namespace?: string | undefined;
  name: string;
}

/**
 * Key of an object in desired/reported maps: `Kind.group/namespace/name`, with an empty namespace
 * for cluster-scoped kinds (`ClusterNetworkPolicy.crd.antrea.io//web-allow`). The group keeps
 * Kubernetes' and Antrea's NetworkPolicy apart.
 */
export function objectKey(ref: ObjectRef): string {
  return `${qualifiedKind(ref.kind)}/${ref.namespace ?? ''}/${ref.name}`;
}

/**
 * A well-formed key of a kind this build does not know (`Kind.group/namespace/name`): what a newer
 * controller sends when it adds a kind. The document stays valid (the box keeps enforcing the rest)
 * and the realizers report the object Failed, so a mixed-version fleet degrades per object.
 */
export function isUnknownKindKey(key: string): boolean {
  const parts = key.split('/');
  if (parts.length !== 3) return false;
  const [kindName, namespace, name] = parts as [string, string, string];
  if (findQualifiedKind(kindName) || !/^[A-Z][A-Za-z0-9]{0,62}\.[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(kindName)) return false;
  return isDNS1123Subdomain(name) && (namespace === '' || isDNS1123Label(namespace));
}

/** Inverse of objectKey(); undefined for a malformed key or an unknown kind. */
export function parseObjectKey(key: string): ObjectRef | undefined {
  const parts = key.split('/');
  if (parts.length !== 3) return undefined;
  const [kindName, namespace, name] = parts as [string, string, string];
  const kind = findQualifiedKind(kindName);
  if (!kind || !isDNS1123Subdomain(name)) return undefined;
  if (kind.namespaced !== (namespace !== '')) return undefined;
  if (namespace !== '' && !isDNS1123Label(namespace)) return undefined;
  return { kind, namespace: namespace === '' ? undefined : namespace, name };
}

export const DesiredObjectSchema = z.strictObject({
  /** Bumped by the controller whenever this object's spec changes. */
  generation,
  /** The object's spec, valid for its kind (checked by NodeDesiredSchema). */
  spec: z.unknown(),
  /** Egress only: the controller's allocation (IP, egress node, selected pods). */
  egress: EgressAssignmentSchema.optional(),
});
export type DesiredObject = z.infer<typeof DesiredObjectSchema>;

/** A desired document's shape: everything but what depends on each object's kind (desiredObjectIssues). */
export const NodeDesiredShapeSchema = z.strictObject({
  node: NodeNameSchema,
  /** Which controller store the generation counts in; absent only in documents of older controllers. */
  storeId: StoreIdSchema.optional(),
  /** Bumped whenever anything in `objects` changes; the node reports the last one it applied. */
  generation,
  objects: z.record(z.string(), DesiredObjectSchema),
  /** The release a rollout asks this node to run (absent: keep what runs). */
  release: ReleaseTargetSchema.optional(),
});

type RefinementIssue = Parameters<z.core.$RefinementCtx['addIssue']>[0];

/**
 * What is wrong with one object of a desired document beyond its shape: its key, and its spec
 * against its kind's schema (paths from the document). A well-formed key of a kind this build
 * does not know is no error (isUnknownKindKey).
 */
function desiredObjectIssues(key: string, spec: unknown): RefinementIssue[] {
  const ref = parseObjectKey(key);
  if (!ref) return isUnknownKindKey(key) ? [] : [{ code: 'custom', path: ['objects', key], message: 'invalid object key: expected Kind.group/namespace/name' }];
  const result = ref.kind.specSchema.safeParse(spec, { reportInput: true });
  return result.success ? [] : result.error.issues.map((issue) => ({ ...issue, path: ['objects', key, 'spec', ...issue.path] }) as RefinementIssue);
}

export const NodeDesiredSchema = NodeDesiredShapeSchema.superRefine((desired, ctx) => {
  for (const [key, object] of Object.entries(desired.objects)) for (const issue of desiredObjectIssues(key, object.spec)) ctx.addIssue(issue);
});
export type NodeDesired = z.infer<typeof NodeDesiredSchema>;

/**
 * The objects of the last desired document found valid through it, by key, with the text of
 * each spec. A box gets one document after another, mostly the same objects with one changed:
 * an object whose key and spec text are remembered passed desiredObjectIssues before, and
 * validity is a function of key and spec alone, so only the others are checked again. Holds
 * one document's spec texts; owned by one receiver (the agent's sync).
 */
export class DesiredObjectsMemo {
  private valid = new Map<string, string>();

  /**
   * Whether every object of `desired` (its shape already checked) passes desiredObjectIssues;
   * when they all do, the memo becomes this document's. No issues are made here: a refused
   * document is checked again by NodeDesiredSchema, for the same issues as without a memo.
   */
  objectsValid(desired: z.infer<typeof NodeDesiredShapeSchema>): boolean {
    const next = new Map<string, string>();
    for (const [key, object] of Object.entries(desired.objects)) {
      // A spec left out is text 'undefined', which no JSON text equals.
      const text = JSON.stringify(object.spec) ?? 'undefined';
      if (this.valid.get(key) !== text && desiredObjectIssues(key, object.spec).length > 0) return false;
      next.set(key, text);
    }
    this.valid = next;
    return true;
  }

  /** How many objects are remembered (tests). */
  get size(): number {
    return this.valid.size;
  }
}

export const RealizationPhaseSchema = z.enum(['Realized', 'Failed']);

export const RealizedObjectSchema = z
  .strictObject({
    /** The desired generation of this object the node has applied (or failed to apply). */
    generation,
    phase: RealizationPhaseSchema,
    reason: z.string().optional(),
  })
  .superRefine((o, ctx) => {
    if (o.phase === 'Failed' && !o.reason) ctx.addIssue({ code: 'custom', path: ['reason'], message: 'required when phase is Failed' });
  });
export type RealizedObject = z.infer<typeof RealizedObjectSchema>;

export const NodeErrorSchema = z.strictObject({
  /** Milliseconds since the epoch. */
  ts: z.number().int().nonnegative(),
  message: z.string().min(1),
  /** objectKey() of the object concerned, if any. */
  object: z.string().optional(),
  /** Module that hit the error (policy, ovs, sync…). */
  module: z.string().optional(),
});
export type NodeError = z.infer<typeof NodeErrorSchema>;

export const PodInventoryEntrySchema = z.strictObject({
  namespace: z.string().min(1),
  name: z.string().min(1),
  ips: z.array(IPAddressSchema),
  labels: LabelMapSchema.default({}),
  /** Declared container ports (named ports resolve against them); absent: none. */
  ports: z.array(z.strictObject({ name: z.string().min(1).optional(), port: PortNumberSchema, protocol: TransportProtocolSchema })).optional(),
  /** Host-side interface name and its OpenFlow port on the bridge, once attached. */
  interfaceName: z.string().optional(),
  ofPort: z.number().int().nonnegative().optional(),
});
export type PodInventoryEntry = z.infer<typeof PodInventoryEntrySchema>;

export const NodeReportedSchema = z.strictObject({
  node: NodeNameSchema,
  /** The NodeDesired generation fully processed (every object realized or failed). */
  observedGeneration: generation,
  /** The store that generation belongs to (the desired document's storeId). */
  storeId: StoreIdSchema.optional(),
  objects: z.record(z.string(), RealizedObjectSchema),
  /** Recent errors, newest last; bounded by the agent. */
  errors: z.array(NodeErrorSchema).default([]),
  inventory: z.strictObject({
    pods: z.array(PodInventoryEntrySchema),
    /** Namespace labels as the node sees them (selectors need them). */
    namespaces: z.record(z.string(), LabelMapSchema).optional(),
    /** The node's own labels (ExternalIPPool nodeSelectors need them). */
    nodeLabels: LabelMapSchema.optional(),
  }),
  agentVersion: z.string().min(1),
  uptimeSeconds: z.number().nonnegative(),
  /** Per-policy, per-rule traffic counters of this node's rules (current flow counters). */
  policyStats: z.array(NodePolicyStatsSchema).optional(),
  /** The updater's state (absent when the agent does not run from a release layout). */
  update: UpdateStatusSchema.optional(),
  /** Round-trip times to the peers' underlay addresses while a NodeLatencyMonitor exists. */
  nodeLatency: NodeLatencyReportSchema.optional(),
  /** With trafficEncryptionMode wireGuard: the box's public key and UDP port (peers read the key from its Node annotation). */
  wireGuard: WireGuardIdentitySchema.optional(),
});
export type NodeReported = z.infer<typeof NodeReportedSchema>;
