// Userdata of the policy packet-ins (Reject now; logging later): says which rule sent the
// packet, so the agent's responder needs no flow lookup. Layout:
//   byte 0: category (1 = network policy), byte 1: operation (bit 0 log, bit 1 reject),
//   byte 2: direction (0 ingress, 1 egress), bytes 3-6: conjunction id, big-endian.
import type { Direction } from '../../policy/compute/types.js';

export const PACKET_IN_CATEGORY_POLICY = 1;
export const OP_LOG = 1;
export const OP_REJECT = 2;

export interface PolicyPacketIn {
  operations: number;
  direction: Direction;
  conjId: number;
}

export function encodeUserdata(u: PolicyPacketIn): string {
  const b = Buffer.alloc(7);
  b[0] = PACKET_IN_CATEGORY_POLICY;
  b[1] = u.operations;
  b[2] = u.direction === 'ingress' ? 0 : 1;
  b.writeUInt32BE(u.conjId, 3);
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('.');
}

export function decodeUserdata(data: Buffer): PolicyPacketIn | undefined {
  if (data.length < 7 || data[0] !== PACKET_IN_CATEGORY_POLICY) return undefined;
  return { operations: data[1]!, direction: data[2] === 0 ? 'ingress' : 'egress', conjId: data.readUInt32BE(3) };
}
