// Where a Traceflow runs: the sender (the source Pod's node, which injects), the receivers (the
// destination Pod's node, when it is another one) and the packet, from the spec and the pods
// the nodes report. Problems are reasons a user can act on, naming the spec field.
// A Service destination is planned in two steps: the controller keeps no Services (each box
// watches them itself), so planTraceflow leaves `service` for the sender's box to resolve
// (traceflow.resolve) and withServiceDestination completes the plan from its answer.
import type { NodeReported } from '../../api/node-state.js';
import type { TraceflowInject, TraceflowLive, TraceflowResolveParams, TraceflowServiceDestination, TraceflowSpec } from '../../api/traceflow.js';

export interface TraceflowPlan {
  sender: string;
  /** The other nodes that listen: the destination Pod's, or a Service's endpoints'. Empty when the destination is on the sender's node or is no known Pod. */
  receivers: string[];
  /** Exactly one of inject (an injected packet) and live (tag the Pod's own traffic), once no service is left to resolve. */
  inject?: TraceflowInject;
  live?: TraceflowLive;
  /** destination.service as asked: the sender's box resolves it before the trace starts (kept for reasons). */
  service?: TraceflowResolveParams;
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
  if (dst.service !== undefined) {
    destination = `Service ${dst.namespace}/${dst.service}`;
  } else if (dst.pod !== undefined) {
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
    throw new PlanError('destination: required (pod, service or ip)');
  }
  if (dstIP?.includes(':') || sender.ip.includes(':')) throw new PlanError('destination: IPv6 tracing is not supported yet');

  const t = spec.packet?.transportHeader;
  const byHeader = t?.tcp ? 'tcp' : t?.udp ? 'udp' : t?.icmp ? 'icmp' : undefined;
  const proto = spec.packet?.ipHeader?.protocol;
  const given = proto !== undefined ? PROTOCOLS[proto] : byHeader;
  if (proto !== undefined && !given) throw new PlanError(`packet.ipHeader.protocol: ${proto} is not one of 1 (ICMP), 6 (TCP), 17 (UDP)`);
  if (byHeader && byHeader !== given) throw new PlanError(`packet.transportHeader.${byHeader}: does not match packet.ipHeader.protocol ${proto}`);
  const ports = given === 'tcp' ? t?.tcp : given === 'udp' ? t?.udp : undefined;
  const base = {
    sender: sender.node, receivers: receiver && receiver !== sender.node ? [receiver] : [], destination, droppedOnly: spec.droppedOnly === true,
  };
  const sourcePod = { namespace: src.namespace, name: src.pod };
  if (dst.service !== undefined) {
    // The packet is known once the sender's box resolved the Service (withServiceDestination).
    const service: TraceflowResolveParams = {
      service: { namespace: dst.namespace!, name: dst.service },
      ...(given ? { protocol: given } : {}),
      ...(ports?.dstPort !== undefined ? { dstPort: ports.dstPort } : {}),
      ...(live ? { live: true } : {}),
    };
    return { ...base, service };
  }
  const protocol = given ?? (live ? undefined : 'icmp');
  if (live) return { ...base, live: liveOf(sourcePod, dstIP, protocol, ports) };
  return { ...base, inject: injectOf(sourcePod, dstIP!, protocol!, spec) };
}

type Ports = { srcPort?: number | undefined; dstPort?: number | undefined } | undefined;

function liveOf(sourcePod: TraceflowLive['sourcePod'], dstIP: string | undefined, protocol: TraceflowLive['protocol'], ports: Ports): TraceflowLive {
  return {
    sourcePod,
    ...(dstIP ? { dstIP } : {}),
    ...(protocol ? { protocol } : {}),
    ...(ports?.srcPort !== undefined ? { srcPort: ports.srcPort } : {}),
    ...(ports?.dstPort !== undefined ? { dstPort: ports.dstPort } : {}),
  };
}

function injectOf(sourcePod: TraceflowInject['sourcePod'], dstIP: string, protocol: TraceflowInject['protocol'], spec: TraceflowSpec): TraceflowInject {
  const t = spec.packet?.transportHeader;
  const ports: Ports = protocol === 'tcp' ? t?.tcp : protocol === 'udp' ? t?.udp : undefined;
  return {
    sourcePod,
    dstIP,
    protocol,
    ...(ports?.srcPort !== undefined ? { srcPort: ports.srcPort } : {}),
    ...(ports?.dstPort !== undefined ? { dstPort: ports.dstPort } : {}),
    ...(spec.packet?.ipHeader?.ttl ? { ttl: spec.packet.ipHeader.ttl } : {}),
    ...(t?.icmp?.id !== undefined ? { icmpId: t.icmp.id } : {}),
    ...(t?.icmp?.sequence !== undefined ? { icmpSequence: t.icmp.sequence } : {}),
    ...(t?.tcp?.flags !== undefined ? { tcpFlags: t.tcp.flags } : {}),
  };
}

/**
 * The plan once the sender's box resolved the Service: the packet goes to the ClusterIP (with
 * the port it chose), and every other node with one of the endpoints listens, since the
 * sender's load balancing picks one only when the packet passes.
 */
export function withServiceDestination(spec: TraceflowSpec, plan: TraceflowPlan, d: TraceflowServiceDestination, reports: Reports): TraceflowPlan {
  if (d.dstIP.includes(':')) throw new PlanError('destination.service: IPv6 tracing is not supported yet');
  const receivers = [...new Set(d.endpointIPs.map((ip) => findPod(reports, (p) => p.ips.includes(ip))?.node))]
    .filter((n): n is string => !!n && n !== plan.sender)
    .sort();
  const sourcePod = { namespace: spec.source!.namespace!, name: spec.source!.pod! };
  const t = spec.packet?.transportHeader;
  const withPort = d.dstPort !== undefined ? { dstPort: d.dstPort } : {};
  if (spec.liveTraffic) {
    const ports = d.protocol === 'tcp' ? t?.tcp : d.protocol === 'udp' ? t?.udp : undefined;
    return { ...plan, receivers, live: { ...liveOf(sourcePod, d.dstIP, d.protocol, ports), ...withPort } };
  }
  return { ...plan, receivers, inject: { ...injectOf(sourcePod, d.dstIP, d.protocol ?? 'icmp', spec), ...withPort } };
}
