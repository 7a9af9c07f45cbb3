// Where a Traceflow runs: the sender (the source Pod's node, which injects), the receiver (the
// destination Pod's node, when it is another one) and the packet, from the spec and the pods
// the nodes report. Problems are reasons a user can act on, naming the spec field.
import type { NodeReported } from '../../api/node-state.js';
import type { TraceflowInject, TraceflowLive, TraceflowSpec } from '../../api/traceflow.js';

export interface TraceflowPlan {
  sender: string;
  /** Absent when the destination is on the sender's node or is no known Pod. */
  receiver?: string;
  /** Exactly one of inject (an injected packet) and live (tag the Pod's own traffic). */
  inject?: TraceflowInject;
  live?: TraceflowLive;
  droppedOnly: boolean;
  /** Destination as the user named it (for reasons). */
  destination: string;
}

export class PlanError extends Error {}

type Reports = ReadonlyMap<string, Pick<NodeReported, 'inventory'>>;

function findPod(reports: Reports, match: (p: NodeReported['inventory']['pods'][number]) => boolean): { node: string; ip?: string } | undefined {
  for (const [node, r] of reports) {
    const p = r.inventory.pods.find(match);
    if (p) return { node, ...(p.ips[0] ? { ip: p.ips[0] } : {}) };
  }
  return undefined;
}

const PROTOCOLS: Record<number, TraceflowInject['protocol']> = { 1: 'icmp', 6: 'tcp', 17: 'udp' };

export function planTraceflow(spec: TraceflowSpec, reports: Reports): TraceflowPlan {
  const live = spec.liveTraffic === true;
  const src = spec.source ?? {};
  const dst = spec.destination ?? {};
  if (live && src.ip !== undefined) throw new PlanError('source.ip: live traffic is tagged where it leaves its Pod; Seine needs source.pod (tracing from an IP is not supported yet)');
  if (!src.pod || !src.namespace) throw new PlanError('source.pod: required');
  const srcKey = `${src.namespace}/${src.pod}`;
  const sender = findPod(reports, (p) => p.namespace === src.namespace && p.name === src.pod);
  if (!sender) throw new PlanError(`source.pod: Pod ${srcKey} is on no node (no node reports it)`);
  if (!sender.ip) throw new PlanError(`source.pod: Pod ${srcKey} has no IP yet`);

  let dstIP: string | undefined;
  let receiver: string | undefined;
  let destination: string;
  if (dst.service !== undefined) throw new PlanError('destination.service: Service destinations need Seine Services, which do not exist yet');
  if (dst.pod !== undefined) {
    destination = `${dst.namespace}/${dst.pod}`;
    const found = findPod(reports, (p) => p.namespace === dst.namespace && p.name === dst.pod);
    if (!found) throw new PlanError(`destination.pod: Pod ${destination} is on no node (no node reports it)`);
    if (!found.ip) throw new PlanError(`destination.pod: Pod ${destination} has no IP yet`);
    dstIP = found.ip;
    receiver = found.node;
  } else if (dst.ip !== undefined) {
    destination = dst.ip;
    dstIP = dst.ip;
    receiver = findPod(reports, (p) => p.ips.includes(dst.ip!))?.node;
  } else if (live) {
    destination = 'any destination';
  } else {
    throw new PlanError('destination: required (pod or ip)');
  }
  if (dstIP?.includes(':') || sender.ip.includes(':')) throw new PlanError('destination: IPv6 tracing is not supported yet');

  const t = spec.packet?.transportHeader;
  const byHeader = t?.tcp ? 'tcp' : t?.udp ? 'udp' : t?.icmp ? 'icmp' : undefined;
  const proto = spec.packet?.ipHeader?.protocol;
  const protocol = proto !== undefined ? PROTOCOLS[proto] : byHeader ?? (live ? undefined : 'icmp');
  if (proto !== undefined && !protocol) throw new PlanError(`packet.ipHeader.protocol: ${proto} is not one of 1 (ICMP), 6 (TCP), 17 (UDP)`);
  if (byHeader && byHeader !== protocol) throw new PlanError(`packet.transportHeader.${byHeader}: does not match packet.ipHeader.protocol ${proto}`);
  const ports = protocol === 'tcp' ? t?.tcp : protocol === 'udp' ? t?.udp : undefined;
  const base = { sender: sender.node, ...(receiver && receiver !== sender.node ? { receiver } : {}), destination, droppedOnly: spec.droppedOnly === true };
  if (live) {
    return {
      ...base,
      live: {
        sourcePod: { namespace: src.namespace, name: src.pod },
        ...(dstIP ? { dstIP } : {}),
        ...(protocol ? { protocol } : {}),
        ...(ports?.srcPort !== undefined ? { srcPort: ports.srcPort } : {}),
        ...(ports?.dstPort !== undefined ? { dstPort: ports.dstPort } : {}),
      },
    };
  }
  const inject: TraceflowInject = {
    sourcePod: { namespace: src.namespace, name: src.pod },
    dstIP: dstIP!,
    protocol: protocol!,
    ...(ports?.srcPort !== undefined ? { srcPort: ports.srcPort } : {}),
    ...(ports?.dstPort !== undefined ? { dstPort: ports.dstPort } : {}),
    ...(spec.packet?.ipHeader?.ttl ? { ttl: spec.packet.ipHeader.ttl } : {}),
    ...(t?.icmp?.id !== undefined ? { icmpId: t.icmp.id } : {}),
    ...(t?.icmp?.sequence !== undefined ? { icmpSequence: t.icmp.sequence } : {}),
    ...(t?.tcp?.flags !== undefined ? { tcpFlags: t.tcp.flags } : {}),
  };
  return { ...base, inject };
}
