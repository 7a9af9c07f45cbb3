// Userdata of Traceflow packet-ins: which tag and which kind of decision point sent the copy.
// Layout: byte 0 category (2 = traceflow; the policy packet-ins use 1), byte 1 the dataplane
// tag, byte 2 the point (below). The policy dispatcher ignores category 2 and vice versa.
export const PACKET_IN_CATEGORY_TRACEFLOW = 2;

export const TracePoint = {
  /** Output table: the packet leaves through reg1 (a pod, the tunnel or the gateway). */
  Output: 1,
  /** A metric table's deny flow: an Antrea-native Drop or Reject rule (reg3 = its conj id). */
  PolicyDeny: 2,
  /** EgressDefaultRule / IngressDefaultRule isolation drop (K8s NetworkPolicy). */
  Isolation: 3,
  /** Output table without an output port: dropped at the end of the pipeline. */
  NoOutput: 4,
} as const;
export type TracePointValue = (typeof TracePoint)[keyof typeof TracePoint];

export function encodeTraceUserdata(tag: number, point: TracePointValue): string {
  return [PACKET_IN_CATEGORY_TRACEFLOW, tag, point].map((x) => x.toString(16).padStart(2, '0')).join('.');
}

export function decodeTraceUserdata(data: Buffer | undefined): { tag: number; point: TracePointValue } | undefined {
  if (!data || data.length < 3 || data[0] !== PACKET_IN_CATEGORY_TRACEFLOW) return undefined;
  const point = data[2]!;
  if (point < 1 || point > 4) return undefined;
  return { tag: data[1]!, point: point as TracePointValue };
}
