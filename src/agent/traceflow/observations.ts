// A Traceflow packet-in → Antrea's observations for this node. One copy reaches the agent per
// node, at the point where the packet's way through this box ended (userdata.ts); the path
// before it is read back from the registers the pipeline left: where it came from (in_port),
// which egress/ingress rules allowed it (reg5/reg6), which rule denied it (reg3), the output
// port (reg1) and the tunnel destination (tun_dst).
import type { TraceflowObservation } from '../../api/traceflow.js';
import type { PacketInEvent } from '../ovs/packet-in.js';
import type { TableName } from '../ovs/pipeline.js';
import type { RealizedRule } from '../policy/flows.js';
import { policyReference } from '../policy/log.js';
import { DISPOSITION } from '../policy/registers.js';
import { TracePoint, type TracePointValue } from './userdata.js';
import { EP_STATE_MASK, EpState } from '../service/registers.js';

export interface ObservationContext {
  tunnelPort?: number;
  gatewayPort: number;
  /** With WireGuard: the peer box whose pod CIDR holds `ip` (traffic to and from it crosses the WireGuard device behind the gateway). */
  wireGuardPeerOf?: (ip: string) => { name: string; underlayIP: string } | undefined;
  /** Local pod keys (`ns/name`) by OVS port. */
  podByPort: ReadonlyMap<number, string>;
  rule(conjId: number): RealizedRule | undefined;
  tableName(id: number): TableName | undefined;
}

const reg = (ev: PacketInEvent, name: string): number => {
  const v = ev.metadata[name];
  if (v === undefined) return 0;
  const n = Number(v.split('/')[0]);
  return Number.isFinite(n) ? n : 0;
};

function policyFields(rule: RealizedRule | undefined): Pick<TraceflowObservation, 'networkPolicy' | 'networkPolicyRule'> {
  if (!rule) return {};
  return { networkPolicy: policyReference(rule.rule), ...(rule.rule.ruleName ? { networkPolicyRule: rule.rule.ruleName } : {}) };
}

function allowedBy(conjId: number, ctx: ObservationContext): TraceflowObservation[] {
  const rule = conjId ? ctx.rule(conjId) : undefined;
  return rule ? [{ component: 'NetworkPolicy', componentInfo: rule.table, action: 'Forwarded', ...policyFields(rule) }] : [];
}

/** The observations of one node, in path order, ending with the decision at `point`. */
export function observationsOf(ev: PacketInEvent, point: TracePointValue, ctx: ObservationContext): TraceflowObservation[] {
  const obs: TraceflowObservation[] = [];
  const fromTunnel = ctx.tunnelPort !== undefined && ev.inPort === ctx.tunnelPort;
  const wgPeer = (ip: string | undefined) => (ip ? ctx.wireGuardPeerOf?.(ip) : undefined);
  // A remote pod's packet decrypted by the WireGuard device enters br-int through the gateway: the WireGuard hop, not a tunnel's.
  const fromWireGuard = ev.inPort === ctx.gatewayPort && wgPeer(ev.packet.nwSrc) !== undefined;
  obs.push(fromTunnel ? { component: 'Forwarding', componentInfo: 'Classifier', action: 'Received' }
    : fromWireGuard ? { component: 'Forwarding', componentInfo: 'WireGuard', action: 'Received' }
      : { component: 'SpoofGuard', componentInfo: 'SpoofGuard', action: 'Forwarded' });
  // Service load balancing chose an endpoint (reg4 ServiceEPState = EpSelected): the packet's
  // destination is now the endpoint's address (src/agent/service/registers.ts).
  if ((reg(ev, 'reg4') & EP_STATE_MASK) === EpState.Selected && ev.packet.nwDst) {
    obs.push({ component: 'LB', componentInfo: 'EndpointDNAT', action: 'Forwarded', translatedDstIP: ev.packet.nwDst });
  }
  const r0 = reg(ev, 'reg0');
  const table = ctx.tableName(ev.tableId);
  const egressDecision = table === 'EgressMetric' || table === 'EgressDefaultRule';
  obs.push(...allowedBy(reg(ev, 'reg5'), ctx));
  if (!egressDecision) {
    obs.push({ component: 'Routing', componentInfo: 'L3Forwarding', action: 'Forwarded' });
    obs.push(...allowedBy(reg(ev, 'reg6'), ctx));
  }
  switch (point) {
    case TracePoint.PolicyDeny: {
      const rejected = (r0 & 0x1800) === Number(DISPOSITION.Reject.split('/')[0]);
      obs.push({ component: 'NetworkPolicy', componentInfo: table ?? String(ev.tableId), action: rejected ? 'Rejected' : 'Dropped', ...policyFields(ctx.rule(reg(ev, 'reg3'))) });
      break;
    }
    case TracePoint.Isolation:
      obs.push({ component: 'NetworkPolicy', componentInfo: table ?? String(ev.tableId), action: 'Dropped', networkPolicy: 'K8sNetworkPolicy:isolation' });
      break;
    case TracePoint.NoOutput:
      obs.push({ component: 'Forwarding', componentInfo: 'Output', action: 'Dropped' });
      break;
    case TracePoint.Output: {
      const port = reg(ev, 'reg1');
      const ttl = ev.packet.nwTtl;
      const base = { component: 'Forwarding' as const, componentInfo: 'Output', ...(ttl !== undefined ? { ttl } : {}) };
      if (ctx.tunnelPort !== undefined && port === ctx.tunnelPort) {
        obs.push({ ...base, action: 'Forwarded', ...(ev.metadata.tun_dst ? { tunnelDstIP: ev.metadata.tun_dst } : {}) });
      } else if (port === ctx.gatewayPort && wgPeer(ev.packet.nwDst)) {
        // To a peer box's pod: the host routes it into the WireGuard device, encrypted to the peer's underlay address.
        obs.push({ ...base, componentInfo: 'WireGuard', action: 'Forwarded', tunnelDstIP: wgPeer(ev.packet.nwDst)!.underlayIP });
      } else if (port === ctx.gatewayPort) {
        obs.push({ ...base, action: 'ForwardedOutOfOverlay' });
      } else {
        const pod = ctx.podByPort.get(port);
        obs.push({ ...base, action: 'Delivered', ...(pod ? { pod } : {}), ...(ev.packet.dlDst ? { dstMAC: ev.packet.dlDst } : {}) });
      }
      break;
    }
  }
  return obs;
}

/** An action that ends the trace: nothing more happens to the packet after it. */
export const isFinalAction = (a: TraceflowObservation['action']): boolean => a !== 'Forwarded' && a !== 'Received';
