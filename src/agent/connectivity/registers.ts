// Register and conntrack-mark layout, Antrea's (docs/design/ovs-pipeline.md, "OVS Registers"),
// so that flows read the same in Seine and Antrea dumps.
export const reg0 = {
  // PktSourceField, bits 0-3
  fromTunnel: '0x1/0xf',
  fromGateway: '0x2/0xf',
  fromPod: '0x3/0xf',
  // PktDestinationField, bits 4-7
  toTunnel: '0x10/0xf0',
  toGateway: '0x20/0xf0',
  toLocal: '0x30/0xf0',
  // bit 9
  rewriteMAC: '0x200/0x200',
  notRewriteMAC: '0/0x200',
  // OutputRegField, bits 21-22
  outputToOFPort: '0x200000/0x600000',
} as const;

export const setReg0 = (mark: string) => `set_field:${mark}->reg0`;
/** TargetOFPortField: reg1 holds the output port chosen in L2ForwardingCalc. */
export const setTargetPort = (ofport: number) => `set_field:0x${ofport.toString(16)}->reg1`;

/** ConnSourceCTMarkField (ct_mark bits 0-3) copies PktSourceField at commit. */
export const ctMark = {
  fromGateway: '0x2/0xf',
  notService: '0/0x10',
  notSNAT: '0/0x20',
} as const;

/** Conntrack zone of pod traffic. */
export const CT_ZONE = 65520;

/** Destination MAC of all tunnelled traffic (Antrea's Global Virtual MAC). */
export const GLOBAL_VIRTUAL_MAC = 'aa:bb:cc:dd:ee:ff';

/** Well-known port numbers, as Antrea requests them. */
export const TUNNEL_OFPORT = 1;
export const GATEWAY_OFPORT = 2;
