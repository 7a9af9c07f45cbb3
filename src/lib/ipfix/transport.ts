// IPFIX over UDP, TCP or TLS to one collector (RFC 7011 §10). UDP: templates at start and again
// every `templateRefreshS` (a collector that restarts learns them back), messages kept under
// the path MTU. TCP and TLS (over TCP, RFC 7011 §10.4.1): templates once per connection,
// re-sent after a reconnect; messages up to 64 KB. While a stream collector is unreachable (or
// its certificate is not trusted), messages are dropped and counted (the store on the box keeps
// the records); the reason is logged when it changes.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket as TcpSocket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { createLogger } from '../log.js';
import { dataMessages, templateMessage, type Template } from './encoder.js';

const log = createLogger('ipfix');

export type CollectorProtocol = 'udp' | 'tcp';

export interface Collector {
  host: string;
  port: number;
  protocol: CollectorProtocol | 'tls';
}

/** `<host>:<port>:<proto>` (Antrea's flowCollectorAddr); port 4739 and tcp when left out. */
export function parseCollector(text: string): Collector {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+)(?::(\d{0,5}))?(?::(tcp|udp|tls))?$/.exec(text);
  if (!m) throw new Error(`collector address "${text}": expected <host>:<port>:<tcp|udp|tls>`);
  const port = m[2] ? Number(m[2]) : 4739;
  if (port < 1 || port > 65535) throw new Error(`collector address "${text}": port out of range`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port, protocol: (m[3] as Collector['protocol']) ?? 'tcp' };
}

/** TLS client settings: trusted CA (default: the system's), client certificate, name to verify. */
export interface IpfixTlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** The name the collector's certificate must carry (default: the collector host). */
  serverName?: string;
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

export interface IpfixSenderOptions {
  collector: Collector;
  /** With protocol tls. */
  tls?: IpfixTlsOptions;
  templates: readonly Template[];
  domainId?: number;
  templateRefreshS?: number;
  /** UDP message size bound. */
  udpMaxBytes?: number;
  now?: () => number;
}

export class IpfixSender {
  /** Data records sent (the IPFIX sequence number). */
  sequence = 0;
  droppedRecords = 0;
  messagesSent = 0;
  reconnections = 0;
  private udp?: UdpSocket;
  private tcp?: TcpSocket;
  private tcpReady?: Promise<void>;
  private templatesSentAt = -Infinity;
  /** Why the last stream connection failed ('' once connected). */
  lastError = '';

  constructor(private readonly o: IpfixSenderOptions) {}

  private nowS(): number {
    return Math.floor((this.o.now?.() ?? Date.now()) / 1000);
  }

  private header = (count: number) => {
    const h = { exportTimeSeconds: this.nowS(), sequence: this.sequence, domainId: this.o.domainId ?? 0 };
    this.sequence += count;
    return h;
  };

  /** Sends records of one template (by id), templates first when due. */
  async send(templateId: number, records: readonly Record<string, unknown>[]): Promise<void> {
    if (!records.length) return;
    const template = this.o.templates.find((t) => t.id === templateId);
    if (!template) throw new Error(`no IPFIX template ${templateId}`);
    if (this.o.collector.protocol === 'udp') await this.sendUdp(template, records);
    else await this.sendTcp(template, records);
  }

  async close(): Promise<void> {
    const u = this.udp;
    this.udp = undefined;
    if (u) await new Promise<void>((r) => u.close(() => r()));
    const t = this.tcp;
    this.tcp = undefined;
    this.tcpReady = undefined;
    if (t) await new Promise<void>((r) => t.end(() => r()));
  }

  private async sendUdp(template: Template, records: readonly Record<string, unknown>[]): Promise<void> {
    if (!this.udp) {
      const family = this.o.collector.host.includes(':') ? 'udp6' : 'udp4';
      const s = createSocket(family);
      // Not connect()ed: a connected UDP socket turns an ICMP port unreachable (collector not up
      // yet) into an error on the next send. UDP export is best effort.
      s.on('error', () => {});
      this.udp = s;
    }
    const msgs: Buffer[] = [];
    if (this.nowS() - this.templatesSentAt >= (this.o.templateRefreshS ?? 600)) {
      msgs.push(templateMessage(this.o.templates, { exportTimeSeconds: this.nowS(), sequence: this.sequence, domainId: this.o.domainId ?? 0 }));
      this.templatesSentAt = this.nowS();
    }
    msgs.push(...dataMessages(template, records, this.o.udpMaxBytes ?? 1400, this.header));
    const s = this.udp;
    for (const m of msgs) {
      await new Promise<void>((resolve) => s.send(m, this.o.collector.port, this.o.collector.host, () => resolve()));
      this.messagesSent++;
    }
  }

  private connectTcp(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const { host, port, protocol } = this.o.collector;
      const t = this.o.tls;
      const s = protocol === 'tls'
        ? tlsConnect({
          host, port, ca: t?.ca, cert: t?.cert, key: t?.key, minVersion: t?.minVersion ?? 'TLSv1.2',
          // Without serverName the host is verified (an IP address against the certificate's IP SANs).
          ...(t?.serverName ? { servername: t.serverName } : {}),
        })
        : connect({ host, port });
      s.setNoDelay(true);
      const fail = (err: Error) => {
        if (this.tcp === s) {
          this.tcp = undefined;
          this.tcpReady = undefined;
        }
        if (err.message !== this.lastError) log.warn({ collector: `${host}:${port}:${protocol}`, err: err.message }, 'IPFIX collector unreachable; records are dropped until it is back');
        this.lastError = err.message;
        s.destroy();
        reject(err);
      };
      s.once('error', fail);
      s.once(protocol === 'tls' ? 'secureConnect' : 'connect', () => {
        s.off('error', fail);
        if (this.lastError) log.info({ collector: `${host}:${port}:${protocol}` }, 'IPFIX collector reachable again');
        this.lastError = '';
        s.on('error', () => s.destroy());
        s.on('close', () => {
          if (this.tcp === s) {
            this.tcp = undefined;
            this.tcpReady = undefined;
          }
        });
        // Templates first on every new connection (RFC 7011 §8.1).
        s.write(templateMessage(this.o.templates, { exportTimeSeconds: this.nowS(), sequence: this.sequence, domainId: this.o.domainId ?? 0 }));
        resolve();
      });
      this.tcp = s;
    });
  }

  private async sendTcp(template: Template, records: readonly Record<string, unknown>[]): Promise<void> {
    try {
      if (!this.tcpReady) {
        if (this.messagesSent > 0) this.reconnections++;
        this.tcpReady = this.connectTcp();
      }
      await this.tcpReady;
    } catch {
      this.droppedRecords += records.length;
      return;
    }
    const s = this.tcp!;
    for (const m of dataMessages(template, records, 65535, this.header)) {
      await new Promise<void>((resolve) => s.write(m, () => resolve()));
      this.messagesSent++;
    }
  }
}
