// The lab's outside world: a server in the "outside" namespace (beyond the underlay router,
// like a host on the internet) that answers every TCP connection and UDP datagram with the
// source address it saw, and appends one JSON line per connection to a log. Tests read either
// to see SNAT (Egress) and to reach NodePorts from outside the cluster.
import { appendFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { createSocket } from 'node:dgram';
import { z } from 'zod';
import { createLogger } from '../lib/log.js';

const log = createLogger('outside-server');

/** One line of the connection log. */
export const outsideConnectionSchema = z.object({
  time: z.string(),
  proto: z.enum(['tcp', 'udp']),
  src: z.string(),
  sport: z.number().int(),
  dport: z.number().int(),
});
export type OutsideConnection = z.infer<typeof outsideConnectionSchema>;

export interface OutsideServerOptions {
  port: number;
  /** Connection log (JSON lines), appended synchronously so a reader sees a line before the answer. */
  logFile: string;
}

const plainIPv4 = (a: string | undefined) => (a ?? '').replace(/^::ffff:/, '');

/** Starts the TCP and UDP listeners; resolves when both are bound. */
export async function startOutsideServer(opts: OutsideServerOptions): Promise<{ close(): void }> {
  const record = (c: Omit<OutsideConnection, 'time'>) => appendFileSync(opts.logFile, JSON.stringify({ time: new Date().toISOString(), ...c }) + '\n');
  // TCP: the first line is the peer's address, then whatever the client sends is echoed.
  const tcp = createServer((sock: Socket) => {
    const src = plainIPv4(sock.remoteAddress);
    record({ proto: 'tcp', src, sport: sock.remotePort ?? 0, dport: opts.port });
    sock.on('error', () => undefined);
    sock.write(`${src}\n`);
    sock.pipe(sock);
  });
  const udp = createSocket('udp4');
  udp.on('message', (_msg, peer) => {
    record({ proto: 'udp', src: peer.address, sport: peer.port, dport: opts.port });
    udp.send(`${peer.address}\n`, peer.port, peer.address);
  });
  await Promise.all([
    new Promise<void>((resolve, reject) => tcp.once('error', reject).listen(opts.port, '0.0.0.0', resolve)),
    new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(opts.port, '0.0.0.0', () => resolve());
    }),
  ]);
  log.info({ port: opts.port, logFile: opts.logFile }, 'outside server listening (tcp and udp)');
  return {
    close() {
      tcp.close();
      udp.close();
    },
  };
}

/** Parses the connection log; lines cut short by a concurrent write are skipped. */
export function parseConnectionLog(text: string): OutsideConnection[] {
  const out: OutsideConnection[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const parsed = outsideConnectionSchema.safeParse(JSON.parse(line));
      if (parsed.success) out.push(parsed.data);
    } catch {
      /* partial line */
    }
  }
  return out;
}
