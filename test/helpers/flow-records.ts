// Synthetic but valid flow records for store tests and benches.
import { FlowRecordSchema, type FlowRecordInput } from '../../src/api/flow-record.js';
import type { StoredRecord } from '../../src/agent/flows/store.js';

export function syntheticRecord(i: number, endS: number, over: Partial<FlowRecordInput> = {}): StoredRecord {
  const record = FlowRecordSchema.parse({
    flowStartSeconds: endS - 5, flowEndSeconds: endS, flowEndReason: 2,
    sourceIPv4Address: `10.42.0.${2 + (i % 50)}`, destinationIPv4Address: '10.42.1.2',
    sourceTransportPort: 30000 + (i % 30000), destinationTransportPort: 80, protocolIdentifier: 6,
    packetTotalCount: 10, octetTotalCount: 1000, packetDeltaCount: 10, octetDeltaCount: 1000,
    reversePacketTotalCount: 5, reverseOctetTotalCount: 500, reversePacketDeltaCount: 5, reverseOctetDeltaCount: 500,
    sourcePodNamespace: 'shop', sourcePodName: `client-${i % 50}`, sourceNodeName: 'box1',
    destinationPodNamespace: 'shop', destinationPodName: 'web', destinationNodeName: 'box2',
    egressNetworkPolicyName: 'allow-web', egressNetworkPolicyType: 3, egressNetworkPolicyRuleName: 'to-web', egressNetworkPolicyRuleAction: 1,
    tcpState: 'ESTABLISHED', flowType: 2, ...over,
  });
  return { connKey: `c${i}`, record };
}

