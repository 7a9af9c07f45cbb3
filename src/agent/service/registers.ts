// Registers and conntrack marks of Service load balancing: Antrea's layout
// (docs/design/ovs-pipeline.md, "OVS Registers" and "OVS Ct Mark"), so dumps read the same.
//
//   reg3          EndpointIPField: the chosen endpoint's IPv4 address
//   reg4[0..15]   EndpointPortField: the chosen endpoint's port
//   reg4[16..18]  ServiceEPStateField: 1 EpToSelect, 2 EpSelected, 3 EpToLearn
//   reg4[19]      ToNodePortAddressRegMark: the packet is for a NodePort (virtual IP below)
//   reg4[20]      Seine's: the connection needs SNAT to the gateway IP (NodePort, policy Cluster)
//   ct_mark 0x10  ServiceCTMark: the connection was DNATed to an endpoint
//   ct_mark 0x20  ConnSNATCTMark: the connection is SNATed in zone 65521
//   ct_mark 0x40  HairpinCTMark: a pod reaching itself through its Service
export const EP_STATE_MASK = 0x70000;
export const EpState = { ToSelect: 0x10000, Selected: 0x20000, ToLearn: 0x30000 } as const;
export const NODE_PORT_BIT = 0x80000;
export const SNAT_BIT = 0x100000;

export const hex = (n: number): string => `0x${n.toString(16)}`;
export const reg4State = (state: number, nodePort?: boolean): string =>
  nodePort === undefined ? `reg4=${hex(state)}/${hex(EP_STATE_MASK)}` : `reg4=${hex(state | (nodePort ? NODE_PORT_BIT : 0))}/${hex(EP_STATE_MASK | NODE_PORT_BIT)}`;
export const setReg4State = (state: number): string => `set_field:${hex(state)}/${hex(EP_STATE_MASK)}->reg4`;

export const SERVICE_CT_MARK = 0x10;
export const SNAT_CT_MARK = 0x20;
export const HAIRPIN_CT_MARK = 0x40;
export const ctMarkMatch = (value: number, mask = value) => `ct_mark=${hex(value)}/${hex(mask)}`;
export const setCtMark = (value: number) => `set_field:${hex(value)}/${hex(value)}->ct_mark`;

/** Conntrack zone of SNATed connections (hairpin and NodePort), Antrea's SNATCtZone. */
export const SNAT_CT_ZONE = 65521;
/** Source of hairpin connections after SNAT (Antrea's virtual Service IP). */
export const HAIRPIN_VIRTUAL_IP = '169.254.0.253';
/** The host DNATs NodePort traffic to this address and routes it into br-int through the gateway (Antrea's NodePort virtual IP). */
export const NODE_PORT_VIRTUAL_IP = '169.254.0.252';

export const ipHex = (ip: string): string => hex(ip.split('.').reduce((n, o) => n * 256 + Number(o), 0) >>> 0);
