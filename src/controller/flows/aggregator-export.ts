// The flow aggregator's IPFIX export: joined fleet flows (fleet-flows.ts) go to a collector in
// Antrea's aggregator templates — the FlowRecord's elements plus each side's counters, pod
// labels, throughput and end times — with the aggregator's own timeouts (Antrea's defaults:
// active 60 s, inactive 90 s). A connection still being updated is exported every active
// timeout; one not updated for the inactive timeout is exported a last time (if it changed) and
// forgotten; one whose record says conntrack forgot it (flowEndReason 3) is exported and forgotten
// at the next tick. Delta counters count since this exporter's previous record of the connection.
import { AGGREGATOR_IPFIX_ELEMENTS, ANTREA_ENTERPRISE_ID, type AggregatedFlow, type AggregatorElement, type FlowRecord, type FlowSide } from '../../api/flow-record.js';
import { FLOW_TEMPLATES, TEMPLATE_IPV4, TEMPLATE_IPV6 } from '../../api/flow-ipfix.js';
import type { InformationElement, Template } from '../../lib/ipfix/encoder.js';
import type { IpfixSender } from '../../lib/ipfix/transport.js';
import { createLogger } from '../../lib/log.js';

const log = createLogger('controller.flow-aggregator');

const AGGREGATOR_ELEMENTS: InformationElement[] = (Object.entries(AGGREGATOR_IPFIX_ELEMENTS) as [AggregatorElement, number][]).map(([name, elementId]) => ({
  name, enterpriseId: ANTREA_ENTERPRISE_ID, elementId,
  type: /Labels$/.test(name) ? 'string' : /^flowEndSeconds/.test(name) ? 'unsigned32' : 'unsigned64',
}));

/** Antrea's aggregator templates: the agent's IPv4/IPv6 templates plus the aggregator elements. */
export const AGGREGATOR_TEMPLATES: Template[] = FLOW_TEMPLATES.map((t) => ({ id: t.id, elements: [...t.elements, ...AGGREGATOR_ELEMENTS] }));

const FLOW_END = { idle: 1, active: 2, end: 3 } as const;

interface Totals {
  packets: number;
  octets: number;
  reversePackets: number;
  reverseOctets: number;
}

interface Entry {
  flow: AggregatedFlow;
  updatedS: number;
  exportedS: number;
  changed: boolean;
  /** Totals at the previous export: the whole record, the source side, the destination side. */
  last: { record: Totals; source: Totals; destination: Totals };
}

const ZERO: Totals = { packets: 0, octets: 0, reversePackets: 0, reverseOctets: 0 };
const totalsOf = (x: Pick<FlowRecord, 'packetTotalCount' | 'octetTotalCount' | 'reversePacketTotalCount' | 'reverseOctetTotalCount'> | undefined): Totals =>
  x ? { packets: x.packetTotalCount, octets: x.octetTotalCount, reversePackets: x.reversePacketTotalCount, reverseOctets: x.reverseOctetTotalCount } : ZERO;
// A counter that went backwards restarted: its delta is the new total.
const delta = (now: number, before: number) => (now >= before ? now - before : now);

export interface AggregatorExporterOptions {
  sender: IpfixSender;
  activeTimeoutS: number;
  inactiveTimeoutS: number;
  tickMs?: number;
  now?: () => number;
}

export class AggregatorExporter {
  private readonly entries = new Map<string, Entry>();
  private timer?: NodeJS.Timeout;
  private busy?: Promise<void>;
  /** Records handed to the sender. */
  exported = 0;

  constructor(private readonly o: AggregatorExporterOptions) {}

  private nowS(): number {
    return Math.floor((this.o.now?.() ?? Date.now()) / 1000);
  }

  /** FleetFlows' onJoined: the connections a batch updated. */
  readonly take = (flows: readonly { conn: string; flow: AggregatedFlow }[], nowS = this.nowS()): void => {
    for (const { conn, flow } of flows) {
      const e = this.entries.get(conn);
      if (e) Object.assign(e, { flow, updatedS: nowS, changed: true });
      else this.entries.set(conn, { flow, updatedS: nowS, exportedS: nowS, changed: true, last: { record: ZERO, source: ZERO, destination: ZERO } });
    }
  };

  get size(): number {
    return this.entries.size;
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.o.tickMs ?? 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.busy;
  }

  /** Exports what is due at `nowS` (one tick; ticks do not overlap). */
  async tick(nowS = this.nowS()): Promise<void> {
    if (this.busy) return;
    this.busy = this.exportDue(nowS).catch((err) => log.warn({ err }, 'flow aggregator export failed')).finally(() => (this.busy = undefined));
    await this.busy;
  }

  private async exportDue(nowS: number): Promise<void> {
    const four: Record<string, unknown>[] = [];
    const six: Record<string, unknown>[] = [];
    for (const [conn, e] of this.entries) {
      let reason: number | undefined;
      if (e.flow.record.flowEndReason === FLOW_END.end) reason = FLOW_END.end;
      else if (nowS - e.updatedS >= this.o.inactiveTimeoutS) reason = e.changed ? FLOW_END.idle : undefined;
      else if (e.changed && nowS - e.exportedS >= this.o.activeTimeoutS) reason = FLOW_END.active;
      if (reason !== undefined) {
        (e.flow.record.sourceIPv6Address ? six : four).push(this.recordOf(e, reason));
        e.exportedS = nowS;
        e.changed = false;
      }
      if (reason === FLOW_END.end || nowS - e.updatedS >= this.o.inactiveTimeoutS) this.entries.delete(conn);
    }
    await this.o.sender.send(TEMPLATE_IPV4, four);
    await this.o.sender.send(TEMPLATE_IPV6, six);
    this.exported += four.length + six.length;
  }

  /** The IPFIX record of a connection, and its totals remembered for the next deltas. */
  private recordOf(e: Entry, reason: number): Record<string, unknown> {
    const { record: r, fromSourceNode: s, fromDestinationNode: d } = e.flow;
    const now = { record: totalsOf(r), source: totalsOf(s), destination: totalsOf(d) };
    const side = (x: FlowSide | undefined, t: Totals, before: Totals, suffix: 'FromSourceNode' | 'FromDestinationNode') => ({
      [`packetTotalCount${suffix}`]: t.packets,
      [`octetTotalCount${suffix}`]: t.octets,
      [`packetDeltaCount${suffix}`]: delta(t.packets, before.packets),
      [`octetDeltaCount${suffix}`]: delta(t.octets, before.octets),
      [`reversePacketTotalCount${suffix}`]: t.reversePackets,
      [`reverseOctetTotalCount${suffix}`]: t.reverseOctets,
      [`reversePacketDeltaCount${suffix}`]: delta(t.reversePackets, before.reversePackets),
      [`reverseOctetDeltaCount${suffix}`]: delta(t.reverseOctets, before.reverseOctets),
      [`throughput${suffix}`]: x?.throughput ?? 0,
      [`reverseThroughput${suffix}`]: x?.reverseThroughput ?? 0,
      [`flowEndSeconds${suffix}`]: x?.flowEndSeconds ?? 0,
    });
    const main = s ?? d;
    const out: Record<string, unknown> = {
      ...r,
      flowEndReason: reason,
      packetDeltaCount: delta(now.record.packets, e.last.record.packets),
      octetDeltaCount: delta(now.record.octets, e.last.record.octets),
      reversePacketDeltaCount: delta(now.record.reversePackets, e.last.record.reversePackets),
      reverseOctetDeltaCount: delta(now.record.reverseOctets, e.last.record.reverseOctets),
      ...side(s, now.source, e.last.source, 'FromSourceNode'),
      ...side(d, now.destination, e.last.destination, 'FromDestinationNode'),
      sourcePodLabels: e.flow.sourcePodLabels ?? '',
      destinationPodLabels: e.flow.destinationPodLabels ?? '',
      throughput: main?.throughput ?? 0,
      reverseThroughput: main?.reverseThroughput ?? 0,
    };
    e.last = now;
    return out;
  }
}
