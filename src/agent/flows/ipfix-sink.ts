// The flow exporter's IPFIX sink: each poll's batch to the configured collector, IPv4 and IPv6
// records under their own template (src/api/flow-ipfix.ts).
import { FLOW_TEMPLATES, TEMPLATE_IPV4, TEMPLATE_IPV6 } from '../../api/flow-ipfix.js';
import { IpfixSender, parseCollector, type IpfixTlsOptions } from '../../lib/ipfix/transport.js';
import type { StoredRecord } from './store.js';

/** A sink for the flow exporter: each batch's records to the collector, by address family. */
export function ipfixSink(collectorAddr: string, opts: { domainId?: number; templateRefreshS?: number; tls?: IpfixTlsOptions } = {}) {
  const sender = new IpfixSender({ collector: parseCollector(collectorAddr), templates: FLOW_TEMPLATES, ...opts });
  const sink = async (batch: StoredRecord[]) => {
    const four: Record<string, unknown>[] = [];
    const six: Record<string, unknown>[] = [];
    for (const b of batch) (b.record.sourceIPv6Address ? six : four).push(b.record as Record<string, unknown>);
    await sender.send(TEMPLATE_IPV4, four);
    await sender.send(TEMPLATE_IPV6, six);
  };
  return { sender, sink };
}
