// Packet-outs (Traceflow injection, Reject answers) over the bridge's OpenFlow connection instead
// of one `ovs-ofctl packet-out` process each. PacketOut keeps its text actions (what callers and
// logs read); the few the agent uses are encoded here: output:<port>, resubmit([port],table),
// controller(userdata=…). Anything else is refused with the action named.
import { OFPT } from '../../lib/openflow/header.js';
import { controllerAction, encodePacketOut, outputAction, portNumber, resubmitAction } from '../../lib/openflow/packet-out.js';
import { LazyConnection } from '../../lib/openflow/shared.js';
import type { PacketOut } from './bridge.js';

const OFPP_IN_PORT_16 = 0xfff8;

/** One text action as OpenFlow bytes. */
export function encodePacketOutAction(action: string): Buffer {
  let m = /^output:(\w+)$/.exec(action);
  if (m) return outputAction(portNumber(m[1]!));
  m = /^resubmit\((\w*),(\d+)\)$/.exec(action);
  if (m) {
    const table = Number(m[2]);
    if (table > 254) throw new Error(`packet-out action ${action}: table ${table} > 254`);
    // resubmit's port is OpenFlow 1.0's 16-bit number: reserved ports (0xffffff00+) fold down.
    const port = m[1] ? portNumber(m[1]) : undefined;
    return resubmitAction(table, port === undefined ? OFPP_IN_PORT_16 : port >= 0xffffff00 ? port - 0xffff0000 : port);
  }
  m = /^controller\(userdata=([0-9a-f]{2}(?:\.[0-9a-f]{2})*)\)$/i.exec(action);
  if (m) return controllerAction(Buffer.from(m[1]!.replace(/\./g, ''), 'hex'));
  throw new Error(`packet-out action ${JSON.stringify(action)} is not supported (output:<port>, resubmit(,<table>), controller(userdata=…))`);
}

export function encodePacketOutMessage(p: PacketOut): Buffer {
  if (!/^([0-9a-f]{2})+$/i.test(p.packetHex)) throw new Error('packetOut: packetHex must be an even number of hex digits');
  return encodePacketOut({ inPort: portNumber(p.inPort), actions: Buffer.concat(p.actions.map(encodePacketOutAction)), packet: Buffer.from(p.packetHex, 'hex') });
}

/** Sends packet-outs on the bridge's shared connection (acquired on first use). */
export class PacketOutSender {
  private readonly conn: LazyConnection;

  constructor(mgmt: string) {
    this.conn = new LazyConnection(mgmt);
  }

  /** Resolves once OVS processed the packet (a barrier answered after it), rejects with OVS's error. */
  async send(p: PacketOut): Promise<void> {
    const msg = encodePacketOutMessage(p); // bad input throws before anything is sent
    const conn = await this.conn.get();
    await conn.send(OFPT.PACKET_OUT, msg, { what: `packet-out in_port=${p.inPort} actions=${p.actions.join(',')}` });
  }

  close(): Promise<void> {
    return this.conn.close();
  }
}
