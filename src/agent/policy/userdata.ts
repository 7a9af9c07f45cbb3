// Userdata of the reject packet-ins: says why the packet came to the agent, so the responder
// needs no flow lookup. Two categories (Antrea's PacketInCategoryNP and PacketInCategorySvcReject):
//   network policy (1), 7 bytes: byte 1 operation (bit 0 log, bit 1 reject), byte 2 direction
//     (0 ingress, 1 egress), bytes 3-6 conjunction id, big-endian;
//   Service without endpoints (4), 2 bytes: byte 1 operation (reject).
import type { Direction } from '../../policy/compute/types.js';

export const PACKET_IN_CATEGORY_POLICY = 1;
export const PACKET_IN_CATEGORY_SERVICE_NO_ENDPOINT = 4;
export const OP_LOG = 1;
export const OP_REJECT = 2;

/** Why a packet is rejected: a policy rule, or a Service port with no serving endpoint (answered like kube-proxy). */
export type RejectReason = 'policy' | 'serviceNoEndpoint';

export interface PolicyPacketIn {
  operations: number;
  direction: Direction;
  conjId: number;
  /** Absent when encoding a policy packet-in; decode always sets it. */
  reason?: RejectReason;
}

const hexBytes = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('.');

export function encodeUserdata(u: PolicyPacketIn): string {
  const b = Buffer.alloc(7);
  b[0] = PACKET_IN_CATEGORY_POLICY;
  b[1] = u.operations;
  b[2] = u.direction === 'ingress' ? 0 : 1;
  b.writeUInt32BE(u.conjId, 3);
  return hexBytes(b);
}

/** The userdata of the flow that rejects packets to a Service port without endpoints. */
export function encodeServiceNoEndpointUserdata(): string {
  return hexBytes(Buffer.from([PACKET_IN_CATEGORY_SERVICE_NO_ENDPOINT, OP_REJECT]));
}

export function decodeUserdata(data: Buffer): PolicyPacketIn | undefined {
  if (data.length >= 2 && data[0] === PACKET_IN_CATEGORY_SERVICE_NO_ENDPOINT) {
    return { operations: data[1]! & OP_REJECT, direction: 'ingress', conjId: 0, reason: 'serviceNoEndpoint' };
  }
  if (data.length < 7 || data[0] !== PACKET_IN_CATEGORY_POLICY) return undefined;
  return { operations: data[1]!, direction: data[2] === 0 ? 'ingress' : 'egress', conjId: data.readUInt32BE(3), reason: 'policy' };
}
