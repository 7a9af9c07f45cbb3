// FlowRecords as IPFIX: the element types of every FlowRecord field (IANA, reverse 29305,
// Antrea 56506, as go-ipfix's registry types them) and the two templates Antrea's agent sends
// (IPv4 and IPv6), plus the TLS settings of an IPFIX collector connection. Contract: the agent's
// exporter and the controller's aggregator both speak it.
import { FLOW_RECORD_IPFIX_ELEMENTS, type FlowRecord } from './flow-record.js';
import type { IEType, InformationElement, Template } from '../lib/ipfix/encoder.js';
import { readFileSync } from 'node:fs';
import type { IpfixTlsConfig } from './config.js';
import { UserError } from '../lib/errors.js';
import type { IpfixTlsOptions } from '../lib/ipfix/transport.js';

const STRINGS = new Set<keyof FlowRecord>([
  'sourcePodNamespace', 'sourcePodName', 'destinationPodNamespace', 'destinationPodName', 'sourceNodeName', 'destinationNodeName',
  'destinationServicePortName', 'ingressNetworkPolicyName', 'ingressNetworkPolicyNamespace', 'egressNetworkPolicyName',
  'egressNetworkPolicyNamespace', 'ingressNetworkPolicyRuleName', 'egressNetworkPolicyRuleName', 'tcpState',
]);

export function ieType(field: keyof FlowRecord): IEType {
  if (STRINGS.has(field)) return 'string';
  if (field === 'flowStartSeconds' || field === 'flowEndSeconds') return 'dateTimeSeconds';
  if (/IPv4Address$|ClusterIPv4$/.test(field)) return 'ipv4Address';
  if (/IPv6Address$|ClusterIPv6$/.test(field)) return 'ipv6Address';
  if (/Count$/.test(field)) return 'unsigned64';
  if (/Port$/.test(field)) return 'unsigned16';
  return 'unsigned8'; // flowEndReason, protocolIdentifier, policy types, rule actions, flowType
}

export const FLOW_ELEMENTS: InformationElement[] = (Object.entries(FLOW_RECORD_IPFIX_ELEMENTS) as [keyof FlowRecord, readonly [number, number]][]).map(
  ([name, [enterpriseId, elementId]]) => ({ name, enterpriseId, elementId, type: ieType(name) }),
);

export const TEMPLATE_IPV4 = 256;
export const TEMPLATE_IPV6 = 257;
const v6 = /IPv6/;
const v4 = /IPv4/;
export const FLOW_TEMPLATES: Template[] = [
  { id: TEMPLATE_IPV4, elements: FLOW_ELEMENTS.filter((e) => !v6.test(e.name)) },
  { id: TEMPLATE_IPV6, elements: FLOW_ELEMENTS.filter((e) => !v4.test(e.name)) },
];

/** The TLS settings with their files read; `field` (e.g. flowExporter.tls) names them in errors. */
export function readIpfixTls(cfg: IpfixTlsConfig, field: string): IpfixTlsOptions {
  const read = (key: 'caFile' | 'certFile' | 'keyFile') => {
    const file = cfg[key];
    if (!file) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      throw new UserError(`${field}.${key}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  const ca = read('caFile');
  const cert = read('certFile');
  const key = read('keyFile');
  return {
    ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}), ...(cfg.serverName ? { serverName: cfg.serverName } : {}),
    minVersion: cfg.minVersion === 'VersionTLS13' ? 'TLSv1.3' : 'TLSv1.2',
  };
}
