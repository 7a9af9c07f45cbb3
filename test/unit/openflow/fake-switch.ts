// Test-only: a minimal OpenFlow 1.5 "switch" on a unix socket that answers the handshake and
// requests the way OVS does (HELLO, ECHO, FEATURES, BARRIER, BUNDLE_CONTROL, empty
// MULTIPART replies) and records every other message, so `ovs-ofctl -O OpenFlow15
// add-flows unix:<sock>` hands over its OWN encoding of flows for byte comparison.
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../../src/lib/exec.js';

export class FakeSwitch {
  /** Messages received other than the handshake and the requests it answered (BUNDLE_CONTROL is both), header included. */
  readonly received: Buffer[] = [];
  private constructor(readonly dir: string, readonly sock: string, private readonly server: net.Server) {}

  static async start(): Promise<FakeSwitch> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'seine-ofsw-'));
    const sock = path.join(dir, 'sw.sock');
    let sw: FakeSwitch;
    const server = net.createServer((c) => sw.serve(c));
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(sock, resolve));
    sw = new FakeSwitch(dir, sock, server);
    return sw;
  }

  private serve(c: net.Socket): void {
    c.write(Buffer.from('0600001000000000000100080000004' + '0', 'hex')); // HELLO, version bitmap {1.5}
    let buf = Buffer.alloc(0);
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 8 && buf.length >= buf.readUInt16BE(2)) {
        const len = buf.readUInt16BE(2);
        this.handle(c, buf.subarray(0, len));
        buf = buf.subarray(len);
      }
    });
    c.on('error', () => {});
  }

  private handle(c: net.Socket, m: Buffer): void {
    const type = m[1]!;
    const reply = (t: number, body: Buffer = Buffer.alloc(0)) => {
      const h = Buffer.alloc(8);
      h[0] = 6;
      h[1] = t;
      h.writeUInt16BE(8 + body.length, 2);
      m.copy(h, 4, 4, 8); // same xid
      c.write(Buffer.concat([h, body]));
    };
    switch (type) {
      case 0: return; // HELLO
      case 2: return reply(3, m.subarray(8)); // ECHO
      case 5: return reply(6, Buffer.from('0000000000000001' + '00000100' + 'fe000000' + '0000004f' + '00000000', 'hex')); // FEATURES
      case 7: return reply(8, Buffer.from('0000ffff', 'hex')); // GET_CONFIG
      case 18: return reply(19, Buffer.concat([m.subarray(8, 10), Buffer.alloc(6)])); // MULTIPART: empty
      case 20: return reply(21); // BARRIER
      case 33: { // BUNDLE_CONTROL: recorded, and answered with the *_REPLY type
        this.received.push(Buffer.from(m));
        const body = Buffer.from(m.subarray(8));
        body.writeUInt16BE(body.readUInt16BE(4) + 1, 4);
        return reply(33, body);
      }
      default:
        this.received.push(Buffer.from(m));
    }
  }

  /** Has ovs-ofctl send `args` (e.g. ['add-flows', '-']) to this switch; returns what it received. */
  async ofctl(args: string[], input?: string): Promise<Buffer[]> {
    const before = this.received.length;
    const i = args.findIndex((a) => a === 'SW');
    const argv = args.map((a, k) => (k === i ? `unix:${this.sock}` : a));
    await run('ovs-ofctl', ['-O', 'OpenFlow15', '--no-names', ...argv], { input });
    return this.received.slice(before);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Zeroes the xid of a message (and of the message inside a BUNDLE_ADD), for comparison. */
export function withoutXid(m: Buffer): Buffer {
  const b = Buffer.from(m);
  b.writeUInt32BE(0, 4);
  if (b[1] === 34 && b.length >= 24) b.writeUInt32BE(0, 20);
  return b;
}
