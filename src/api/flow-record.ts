// One connection as the flow exporter reports it. Field names are the IPFIX information element
// names Antrea exports (IANA, reverse IANA 29305, Antrea 56506), so a record maps 1:1 onto an
// IPFIX data record and onto what Antrea's collectors and dashboards expect.
import { z } from 'zod';
import { EpochMsParamSchema as epochMs } from './controller-api.js';
import { ipFamily } from './net.js';

export const IANA_ENTERPRISE_ID = 0;
export const IANA_REVERSE_ENTERPRISE_ID = 29305;
/** go-ipfix's registry value; Antrea's docs say 56505, a typo. */
export const ANTREA_ENTERPRISE_ID = 56506;

const counter = z.number().int().nonnegative();
const seconds = z.number().int().nonnegative();
const ipv4 = z.string().refine((s) => ipFamily(s) === 4, { error: 'expected an IPv4 address' });
const ipv6 = z.string().refine((s) => ipFamily(s) === 6, { error: 'expected an IPv6 address' });
// Antrea sends '' for "not a pod / no policy"; absent and '' mean the same here.
const text = z.string().default('');

/** 1 K8s NetworkPolicy, 2 Antrea NetworkPolicy, 3 Antrea ClusterNetworkPolicy, 4 AdminNetworkPolicy, 5 BaselineAdminNetworkPolicy (Antrea's codes); 0 none. */
export const PolicyTypeCode = { None: 0, K8sNetworkPolicy: 1, AntreaNetworkPolicy: 2, AntreaClusterNetworkPolicy: 3, AdminNetworkPolicy: 4, BaselineAdminNetworkPolicy: 5 } as const;
/** 1 Allow, 2 Drop, 3 Reject; 0 no rule. */
export const RuleActionCode = { None: 0, Allow: 1, Drop: 2, Reject: 3 } as const;
/** 1 intra-node, 2 inter-node, 3 pod to external, 4 external to pod. */
export const FlowTypeCode = { IntraNode: 1, InterNode: 2, ToExternal: 3, FromExternal: 4 } as const;

const policyType = z.number().int().min(0).max(3).default(0);
const ruleAction = z.number().int().min(0).max(3).default(0);

export const FlowRecordSchema = z
  .strictObject({
    flowStartSeconds: seconds,
    flowEndSeconds: seconds,
    /** IANA flowEndReason: 1 idle timeout, 2 active timeout, 3 end of flow, 4 forced end, 5 lack of resources. */
    flowEndReason: z.number().int().min(1).max(5).optional(),

    sourceIPv4Address: ipv4.optional(),
    destinationIPv4Address: ipv4.optional(),
    sourceIPv6Address: ipv6.optional(),
    destinationIPv6Address: ipv6.optional(),
    sourceTransportPort: z.number().int().min(0).max(65535),
    destinationTransportPort: z.number().int().min(0).max(65535),
    protocolIdentifier: z.number().int().min(0).max(255),

    packetTotalCount: counter,
    octetTotalCount: counter,
    packetDeltaCount: counter,
    octetDeltaCount: counter,
    reversePacketTotalCount: counter,
    reverseOctetTotalCount: counter,
    reversePacketDeltaCount: counter,
    reverseOctetDeltaCount: counter,

    sourcePodNamespace: text,
    sourcePodName: text,
    sourceNodeName: text,
    destinationPodNamespace: text,
    destinationPodName: text,
    destinationNodeName: text,
    destinationClusterIPv4: ipv4.optional(),
    destinationClusterIPv6: ipv6.optional(),
    destinationServicePort: z.number().int().min(0).max(65535).default(0),
    destinationServicePortName: text,

    ingressNetworkPolicyName: text,
    ingressNetworkPolicyNamespace: text,
    ingressNetworkPolicyType: policyType,
    ingressNetworkPolicyRuleName: text,
    ingressNetworkPolicyRuleAction: ruleAction,
    egressNetworkPolicyName: text,
    egressNetworkPolicyNamespace: text,
    egressNetworkPolicyType: policyType,
    egressNetworkPolicyRuleName: text,
    egressNetworkPolicyRuleAction: ruleAction,

    /** Conntrack TCP state name (ESTABLISHED, TIME_WAIT…); '' for other protocols. */
    tcpState: text,
    flowType: z.number().int().min(1).max(4),
  })
  .superRefine((r, ctx) => {
    const v4 = r.sourceIPv4Address !== undefined || r.destinationIPv4Address !== undefined;
    const v6 = r.sourceIPv6Address !== undefined || r.destinationIPv6Address !== undefined;
    if (v4 === v6) {
      ctx.addIssue({ code: 'custom', path: ['sourceIPv4Address'], message: 'required: exactly one address family (sourceIPv4Address/destinationIPv4Address or the IPv6 pair)' });
      return;
    }
    const pair = v4 ? (['sourceIPv4Address', 'destinationIPv4Address'] as const) : (['sourceIPv6Address', 'destinationIPv6Address'] as const);
    for (const field of pair) if (r[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'required' });
    if (r.flowEndSeconds < r.flowStartSeconds) {
      ctx.addIssue({ code: 'custom', path: ['flowEndSeconds'], message: `must not be before flowStartSeconds (${r.flowStartSeconds})` });
    }
  });
export type FlowRecord = z.infer<typeof FlowRecordSchema>;
/** What producers may omit (empty strings and zero codes default). */
export type FlowRecordInput = z.input<typeof FlowRecordSchema>;

/** The record's source and destination addresses, whichever family it carries. */
export function flowAddresses(r: FlowRecord): { source: string; destination: string } {
  return {
    source: r.sourceIPv4Address ?? r.sourceIPv6Address ?? '',
    destination: r.destinationIPv4Address ?? r.destinationIPv6Address ?? '',
  };
}

/** A batch as the agent publishes it on `seine/v1/nodes/<node>/flows`. */
export const FlowRecordBatchSchema = z.strictObject({
  records: z.array(FlowRecordSchema),
  /** Records the outbox dropped since the previous batch because its bound was hit. */
  dropped: z.number().int().nonnegative().default(0),
});
export type FlowRecordBatch = z.infer<typeof FlowRecordBatchSchema>;

/** One node's view of a connection in the fleet store (Antrea's aggregator keeps the same per side). */
export const FlowSideSchema = z.strictObject({
  node: z.string(),
  packetTotalCount: counter,
  octetTotalCount: counter,
  reversePacketTotalCount: counter,
  reverseOctetTotalCount: counter,
  flowEndSeconds: seconds,
  /** Bits per second since this node's previous record of the connection (Antrea's throughputFrom…Node). */
  throughput: counter.default(0),
  reverseThroughput: counter.default(0),
});
export type FlowSide = z.infer<typeof FlowSideSchema>;

/**
 * A connection as the controller keeps it: the source node's and the destination node's
 * records joined (egress policy from the source node, ingress policy from the destination
 * node), with each side's counters (Antrea's …FromSourceNode / …FromDestinationNode).
 */
export const AggregatedFlowSchema = z.strictObject({
  record: FlowRecordSchema,
  fromSourceNode: FlowSideSchema.optional(),
  fromDestinationNode: FlowSideSchema.optional(),
  /** The pods' labels as JSON objects (Antrea's sourcePodLabels/destinationPodLabels), from what the nodes report; '' when unknown. */
  sourcePodLabels: z.string().default(''),
  destinationPodLabels: z.string().default(''),
});
export type AggregatedFlow = z.infer<typeof AggregatedFlowSchema>;

/**
 * GET /api/v1/flows's query parameters (strings, as in the URL). since/until: milliseconds since
 * the epoch (as GET /api/v1/events' since), compared with each connection's flowEndSeconds —
 * connections last seen in [since, until].
 */
export const FleetFlowQuerySchema = z
  .object({
    pod: z.string().min(1).optional(),
    namespace: z.string().min(1).optional(),
    policy: z.string().min(1).optional(),
    limit: z.string().regex(/^[1-9]\d{0,5}$/, 'expected a whole number 1-100000').transform(Number).refine((n) => n <= 100_000, 'expected a whole number 1-100000').optional(),
    since: epochMs.optional(),
    until: epochMs.optional(),
  })
  .refine((q) => q.since === undefined || q.until === undefined || q.since <= q.until, { path: ['until'], message: 'must not be before since' });
export type FleetFlowQuery = z.infer<typeof FleetFlowQuerySchema>;

/** IPFIX element for each FlowRecord field: [enterpriseId, elementId]. */
export const FLOW_RECORD_IPFIX_ELEMENTS = {
  flowStartSeconds: [IANA_ENTERPRISE_ID, 150],
  flowEndSeconds: [IANA_ENTERPRISE_ID, 151],
  flowEndReason: [IANA_ENTERPRISE_ID, 136],
  sourceIPv4Address: [IANA_ENTERPRISE_ID, 8],
  destinationIPv4Address: [IANA_ENTERPRISE_ID, 12],
  sourceIPv6Address: [IANA_ENTERPRISE_ID, 27],
  destinationIPv6Address: [IANA_ENTERPRISE_ID, 28],
  sourceTransportPort: [IANA_ENTERPRISE_ID, 7],
  destinationTransportPort: [IANA_ENTERPRISE_ID, 11],
  protocolIdentifier: [IANA_ENTERPRISE_ID, 4],
  packetTotalCount: [IANA_ENTERPRISE_ID, 86],
  octetTotalCount: [IANA_ENTERPRISE_ID, 85],
  packetDeltaCount: [IANA_ENTERPRISE_ID, 2],
  octetDeltaCount: [IANA_ENTERPRISE_ID, 1],
  reversePacketTotalCount: [IANA_REVERSE_ENTERPRISE_ID, 86],
  reverseOctetTotalCount: [IANA_REVERSE_ENTERPRISE_ID, 85],
  reversePacketDeltaCount: [IANA_REVERSE_ENTERPRISE_ID, 2],
  reverseOctetDeltaCount: [IANA_REVERSE_ENTERPRISE_ID, 1],
  sourcePodNamespace: [ANTREA_ENTERPRISE_ID, 100],
  sourcePodName: [ANTREA_ENTERPRISE_ID, 101],
  destinationPodNamespace: [ANTREA_ENTERPRISE_ID, 102],
  destinationPodName: [ANTREA_ENTERPRISE_ID, 103],
  sourceNodeName: [ANTREA_ENTERPRISE_ID, 104],
  destinationNodeName: [ANTREA_ENTERPRISE_ID, 105],
  destinationClusterIPv4: [ANTREA_ENTERPRISE_ID, 106],
  destinationClusterIPv6: [ANTREA_ENTERPRISE_ID, 107],
  destinationServicePort: [ANTREA_ENTERPRISE_ID, 108],
  destinationServicePortName: [ANTREA_ENTERPRISE_ID, 109],
  ingressNetworkPolicyName: [ANTREA_ENTERPRISE_ID, 110],
  ingressNetworkPolicyNamespace: [ANTREA_ENTERPRISE_ID, 111],
  egressNetworkPolicyName: [ANTREA_ENTERPRISE_ID, 112],
  egressNetworkPolicyNamespace: [ANTREA_ENTERPRISE_ID, 113],
  ingressNetworkPolicyType: [ANTREA_ENTERPRISE_ID, 115],
  egressNetworkPolicyType: [ANTREA_ENTERPRISE_ID, 118],
  tcpState: [ANTREA_ENTERPRISE_ID, 136],
  flowType: [ANTREA_ENTERPRISE_ID, 137],
  ingressNetworkPolicyRuleAction: [ANTREA_ENTERPRISE_ID, 139],
  egressNetworkPolicyRuleAction: [ANTREA_ENTERPRISE_ID, 140],
  ingressNetworkPolicyRuleName: [ANTREA_ENTERPRISE_ID, 141],
  egressNetworkPolicyRuleName: [ANTREA_ENTERPRISE_ID, 142],
} as const satisfies Record<keyof FlowRecord, readonly [number, number]>;

/**
 * The aggregator's own elements (Antrea 56506), after the FlowRecord's in its templates: each
 * side's counters, pod labels, throughput (bits/s since the previous record) and end times.
 */
export const AGGREGATOR_IPFIX_ELEMENTS = {
  packetTotalCountFromSourceNode: 120,
  octetTotalCountFromSourceNode: 121,
  packetDeltaCountFromSourceNode: 122,
  octetDeltaCountFromSourceNode: 123,
  reversePacketTotalCountFromSourceNode: 124,
  reverseOctetTotalCountFromSourceNode: 125,
  reversePacketDeltaCountFromSourceNode: 126,
  reverseOctetDeltaCountFromSourceNode: 127,
  packetTotalCountFromDestinationNode: 128,
  octetTotalCountFromDestinationNode: 129,
  packetDeltaCountFromDestinationNode: 130,
  octetDeltaCountFromDestinationNode: 131,
  reversePacketTotalCountFromDestinationNode: 132,
  reverseOctetTotalCountFromDestinationNode: 133,
  reversePacketDeltaCountFromDestinationNode: 134,
  reverseOctetDeltaCountFromDestinationNode: 135,
  sourcePodLabels: 143,
  destinationPodLabels: 144,
  throughput: 145,
  reverseThroughput: 146,
  throughputFromSourceNode: 147,
  throughputFromDestinationNode: 148,
  reverseThroughputFromSourceNode: 149,
  reverseThroughputFromDestinationNode: 150,
  flowEndSecondsFromSourceNode: 151,
  flowEndSecondsFromDestinationNode: 152,
} as const;
export type AggregatorElement = keyof typeof AGGREGATOR_IPFIX_ELEMENTS;
