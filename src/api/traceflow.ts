// Antrea Traceflow (tf): inject a tagged packet (or catch the first live one) and report what each
// observation point did with it. Spec rules follow Antrea's admission webhook and docs/traceflow-guide.md.
import { z } from 'zod';
import { ObjectMetaSchema } from './meta.js';
import { IPAddressSchema } from './net.js';

export const TRACEFLOW_API_VERSIONS = ['crd.antrea.io/v1alpha1', 'crd.antrea.io/v1beta1'] as const;
export const DEFAULT_TRACEFLOW_TIMEOUT_SECONDS = 20;

const byte = z.number().int().min(0).max(255);
const uint16 = z.number().int().min(0).max(65535);
const port = z.number().int().min(1).max(65535);

export const TraceflowSourceSchema = z.strictObject({
  namespace: z.string().optional(),
  pod: z.string().optional(),
  ip: IPAddressSchema.optional(),
});

export const TraceflowDestinationSchema = z.strictObject({
  namespace: z.string().optional(),
  pod: z.string().optional(),
  service: z.string().optional(),
  ip: IPAddressSchema.optional(),
});

export const TraceflowPacketSchema = z.strictObject({
  ipHeader: z.strictObject({ protocol: byte.optional(), ttl: byte.optional(), flags: z.number().int().min(0).max(7).optional() }).optional(),
  ipv6Header: z.strictObject({ nextHeader: uint16.optional(), hopLimit: uint16.optional() }).optional(),
  transportHeader: z
    .strictObject({
      icmp: z.strictObject({ id: uint16.optional(), sequence: uint16.optional() }).optional(),
      udp: z.strictObject({ srcPort: port.optional(), dstPort: port.optional() }).optional(),
      tcp: z.strictObject({ srcPort: port.optional(), dstPort: port.optional(), flags: byte.optional() }).optional(),
    })
    .superRefine((t, ctx) => {
      const set = (['icmp', 'udp', 'tcp'] as const).filter((k) => t[k] !== undefined);
      if (set.length > 1) ctx.addIssue({ code: 'custom', path: [set[1]!], message: `cannot be set together with ${set[0]}` });
    })
    .optional(),
});

type Ctx = z.core.$RefinementCtx;
const reject = (ctx: Ctx, path: string[], message: string) => ctx.addIssue({ code: 'custom', path, message });

export const TraceflowSpecSchema = z
  .strictObject({
    source: TraceflowSourceSchema.optional(),
    destination: TraceflowDestinationSchema.optional(),
    packet: TraceflowPacketSchema.optional(),
    liveTraffic: z.boolean().optional(),
    droppedOnly: z.boolean().optional(),
    timeout: z.number().int().min(1).max(300).optional(),
  })
  .superRefine((spec, ctx) => {
    const live = spec.liveTraffic === true;
    const src = spec.source ?? {};
    const dst = spec.destination ?? {};
    if (spec.droppedOnly && !live) reject(ctx, ['droppedOnly'], 'droppedOnly is only allowed with liveTraffic: true');
    if (src.ip !== undefined && src.pod !== undefined) reject(ctx, ['source', 'ip'], 'set either source.pod or source.ip, not both');
    if (src.ip !== undefined && !live) reject(ctx, ['source', 'ip'], 'a source IP is only allowed with liveTraffic: true (an injected packet needs a source Pod)');
    if (!live && src.ip === undefined) {
      if (src.pod === undefined) reject(ctx, ['source', 'pod'], 'required: a Traceflow without liveTraffic needs a source Pod');
      if (src.namespace === undefined) reject(ctx, ['source', 'namespace'], 'required: a Traceflow without liveTraffic needs the source Pod namespace');
    } else if (src.pod !== undefined && src.namespace === undefined) {
      reject(ctx, ['source', 'namespace'], 'required with source.pod');
    }
    const targets = (['pod', 'service', 'ip'] as const).filter((k) => dst[k] !== undefined);
    if (targets.length > 1) reject(ctx, ['destination', targets[1]!], `cannot be set together with destination.${targets[0]}`);
    if ((dst.pod !== undefined || dst.service !== undefined) && dst.namespace === undefined) {
      reject(ctx, ['destination', 'namespace'], `required with destination.${dst.pod !== undefined ? 'pod' : 'service'}`);
    }
    if (!live && targets.length === 0) reject(ctx, ['destination'], 'required: a Traceflow without liveTraffic needs a destination pod, service or ip');
    if (live && src.pod === undefined && dst.pod === undefined) {
      reject(ctx, ['destination', 'pod'], 'either the source or the destination must be a Pod');
    }
  });
export type TraceflowSpec = z.infer<typeof TraceflowSpecSchema>;

export const TraceflowPhaseSchema = z.enum(['Running', 'Succeeded', 'Failed']);
export const TraceflowComponentSchema = z.enum(['SpoofGuard', 'LB', 'Routing', 'NetworkPolicy', 'Forwarding', 'Egress']);
export const TraceflowActionSchema = z.enum([
  'Delivered',
  'Received',
  'Forwarded',
  'Dropped',
  'Rejected',
  'ForwardedOutOfOverlay',
  'MarkedForSNAT',
  'ForwardedToEgressNode',
]);

export const TraceflowObservationSchema = z.looseObject({
  component: TraceflowComponentSchema,
  componentInfo: z.string().optional(),
  action: TraceflowActionSchema,
  pod: z.string().optional(),
  dstMAC: z.string().optional(),
  /** kind:namespace/name of the policy that decided, e.g. AntreaClusterNetworkPolicy:web-allow. */
  networkPolicy: z.string().optional(),
  /** Seine extension: the name of the rule inside networkPolicy that decided. */
  networkPolicyRule: z.string().optional(),
  egress: z.string().optional(),
  ttl: z.number().int().optional(),
  translatedSrcIP: z.string().optional(),
  translatedDstIP: z.string().optional(),
  tunnelDstIP: z.string().optional(),
  egressIP: z.string().optional(),
  egressNode: z.string().optional(),
  srcPodIP: z.string().optional(),
});
export type TraceflowObservation = z.infer<typeof TraceflowObservationSchema>;

export const TraceflowNodeResultSchema = z.looseObject({
  node: z.string(),
  role: z.enum(['Sender', 'Receiver']),
  timestamp: z.number().int().optional(),
  observations: z.array(TraceflowObservationSchema),
});

/** Live traffic: the packet that was traced (Antrea's capturedPacket). */
export const TraceflowCapturedPacketSchema = z.looseObject({
  srcIP: z.string().optional(),
  dstIP: z.string().optional(),
  length: z.number().int().optional(),
  ipHeader: z.looseObject({ protocol: z.number().int().optional(), ttl: z.number().int().optional() }).optional(),
  transportHeader: z.looseObject({}).optional(),
});
export type TraceflowCapturedPacket = z.infer<typeof TraceflowCapturedPacketSchema>;

export const TraceflowStatusSchema = z.looseObject({
  phase: TraceflowPhaseSchema.optional(),
  reason: z.string().optional(),
  /** Small integer carried in the IP DSCP bits that marks the traced packet. */
  dataplaneTag: z.number().int().min(0).max(63).optional(),
  startTime: z.string().optional(),
  results: z.array(TraceflowNodeResultSchema).optional(),
  capturedPacket: TraceflowCapturedPacketSchema.optional(),
});
export type TraceflowStatus = z.infer<typeof TraceflowStatusSchema>;

export const TraceflowSchema = z.strictObject({
  apiVersion: z.enum(TRACEFLOW_API_VERSIONS),
  kind: z.literal('Traceflow'),
  metadata: ObjectMetaSchema,
  spec: TraceflowSpecSchema,
  status: TraceflowStatusSchema.optional(),
});
export type Traceflow = z.infer<typeof TraceflowSchema>;

// ---- Controller ↔ agent request/response (rpc methods traceflow.start / .collect / .stop) ----

export const DataplaneTagSchema = z.number().int().min(1).max(63);
export const TraceflowRoleSchema = z.enum(['Sender', 'Receiver']);
export type TraceflowNodeResult = z.infer<typeof TraceflowNodeResultSchema>;

/** The packet the sender's agent builds and injects as if its source Pod sent it. */
export const TraceflowInjectSchema = z.strictObject({
  sourcePod: z.strictObject({ namespace: z.string().min(1), name: z.string().min(1) }),
  dstIP: IPAddressSchema,
  protocol: z.enum(['icmp', 'tcp', 'udp']),
  srcPort: port.optional(),
  dstPort: port.optional(),
  ttl: z.number().int().min(1).max(255).optional(),
  icmpId: uint16.optional(),
  icmpSequence: uint16.optional(),
  tcpFlags: byte.optional(),
});
export type TraceflowInject = z.infer<typeof TraceflowInjectSchema>;

/** Live traffic: the sender tags the source Pod's own packets that match these filters. */
export const TraceflowLiveSchema = z.strictObject({
  sourcePod: z.strictObject({ namespace: z.string().min(1), name: z.string().min(1) }),
  dstIP: IPAddressSchema.optional(),
  protocol: z.enum(['icmp', 'tcp', 'udp']).optional(),
  srcPort: port.optional(),
  dstPort: port.optional(),
});
export type TraceflowLive = z.infer<typeof TraceflowLiveSchema>;

export const TraceflowStartParamsSchema = z
  .strictObject({
    tag: DataplaneTagSchema,
    role: TraceflowRoleSchema,
    /** The agent removes the tag's flows after this long whatever happens (the controller may be gone). */
    timeoutMs: z.number().int().min(100).max(300_000),
    /** Sender only: the packet to inject once the flows are in. */
    inject: TraceflowInjectSchema.optional(),
    /** Sender only: tag the first matching live packets instead of injecting one. */
    live: TraceflowLiveSchema.optional(),
    /** Report only drops (no observation at delivery or forwarding). */
    droppedOnly: z.boolean().optional(),
  })
  .refine((p) => !(p.inject && p.live), { path: ['live'], message: 'cannot be set together with inject' });
export type TraceflowStartParams = z.infer<typeof TraceflowStartParamsSchema>;

export const TraceflowCollectParamsSchema = z.strictObject({
  tag: DataplaneTagSchema,
  /** How long to wait for the node's final observation. */
  waitMs: z.number().int().min(0).max(300_000),
});

export const TraceflowCollectResultSchema = z.strictObject({
  /** The node saw the packet reach a final decision point (delivery, tunnel, drop …). */
  done: z.boolean(),
  result: TraceflowNodeResultSchema.optional(),
  /** Live traffic: the packet that was traced, as the sender saw it. */
  capturedPacket: TraceflowCapturedPacketSchema.optional(),
});
export type TraceflowCollectResult = z.infer<typeof TraceflowCollectResultSchema>;

/**
 * What a start answers. A sender that injected its packet waits a moment for its own observation
 * (it follows the packet-out at once) and sends it along: the controller then needs no collect
 * round trip from it. The session stays until collect, stop or its timeout, as before, so a
 * controller that ignores the result and collects still gets it. Not strict: an older agent
 * answers without `result`, a newer one may add fields.
 */
export const TraceflowStartResultSchema = z.object({
  installed: z.literal(true),
  injected: z.boolean(),
  result: TraceflowNodeResultSchema.optional(),
  capturedPacket: TraceflowCapturedPacketSchema.optional(),
});
export type TraceflowStartResult = z.infer<typeof TraceflowStartResultSchema>;

export const TraceflowStopParamsSchema = z.strictObject({ tag: DataplaneTagSchema });

const transportProtocol = z.enum(['icmp', 'tcp', 'udp']);

/**
 * destination.service: the sender's box turns the Service into the packet's destination (its
 * ClusterIP, as Antrea's agent does) from the Services it watches itself — the controller keeps
 * none. `protocol`/`dstPort` are what the spec gave; an injected packet without them gets the
 * Service's first port.
 */
export const TraceflowResolveParamsSchema = z.strictObject({
  service: z.strictObject({ namespace: z.string().min(1), name: z.string().min(1) }),
  protocol: transportProtocol.optional(),
  dstPort: port.optional(),
  /** Live traffic: the filter stays as open as the spec left it (no port is picked). */
  live: z.boolean().optional(),
});
export type TraceflowResolveParams = z.infer<typeof TraceflowResolveParamsSchema>;

export const TraceflowServiceDestinationSchema = z.strictObject({
  dstIP: IPAddressSchema,
  protocol: transportProtocol.optional(),
  dstPort: port.optional(),
  /** The endpoints the sender's load balancing may pick for that port (their nodes listen as receivers). */
  endpointIPs: z.array(IPAddressSchema),
});
export type TraceflowServiceDestination = z.infer<typeof TraceflowServiceDestinationSchema>;

/** Either the destination, or why there is none: a reason naming the spec field. */
export const TraceflowResolveResultSchema = z.union([
  z.strictObject({ destination: TraceflowServiceDestinationSchema }),
  z.strictObject({ problem: z.string().min(1) }),
]);
export type TraceflowResolveResult = z.infer<typeof TraceflowResolveResultSchema>;

/** The rpc method names (controller → agent). */
export const TRACEFLOW_RPC = { start: 'traceflow.start', collect: 'traceflow.collect', stop: 'traceflow.stop', resolve: 'traceflow.resolve' } as const;
