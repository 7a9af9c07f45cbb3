// Register, ct_mark and ct_label fields the policy tables use: Antrea's layout
// (docs/design/ovs-pipeline.md, "OVS Registers" and "OVS Ct Label"), so dumps read the same.
import type { Direction } from '../../policy/compute/types.js';

/** reg0 bit 10: denied (Drop/Reject) by an Antrea-native rule; the metric table drops it. */
export const AP_DENY = '0x400/0x400';
/** reg0 bits 11-12: APDispositionField. */
export const DISPOSITION = { Drop: '0x800/0x1800', Reject: '0x1000/0x1800', Pass: '0x1800/0x1800' } as const;
/** reg3: APConjIDField, the conjunction id of the denying rule. */
export const CONJ_ID_REG = 'reg3';
/** reg5 / reg6: the conjunction id of the last egress / ingress rule hit (Traceflow reads them). */
export const TRACE_CONJ_REG: Record<Direction, string> = { egress: 'reg5', ingress: 'reg6' };

const LOW32 = 0xffffffffn;
/** ct_label bits 0-31 hold the ingress rule id, bits 32-63 the egress one (the flow exporter reads them back). */
export function ctLabel(direction: Direction, conjId: number): { value: string; mask: string } {
  const shift = direction === 'ingress' ? 0n : 32n;
  return { value: `0x${(BigInt(conjId) << shift).toString(16)}`, mask: `0x${(LOW32 << shift).toString(16)}` };
}

export const hex = (n: number): string => `0x${n.toString(16)}`;
