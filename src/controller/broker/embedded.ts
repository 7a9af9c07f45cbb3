// The embedded broker: aedes on a TCP address (plain or TLS) and optionally a unix socket, with
// per-node password authentication, client ids bound to usernames, the ACL of acl.ts and a
// payload bound. The controller logs in as CONTROLLER_USERNAME with a secret made here and never
// stored. Over TLS a node may log in with its certificate instead (signed by the configured CA,
// CN = node name, the node registered): the certificate names the user.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { isDNS1123Subdomain } from '../../api/meta.js';
import { CONTROLLER_USERNAME, agentClientId } from '../../api/mqtt.js';
import { splitListen } from '../../lib/listen.js';
import { createLogger } from '../../lib/log.js';
import { mayPublish, maySubscribe } from './acl.js';

const log = createLogger('controller.broker');

export interface EmbeddedBrokerOptions {
  /** `host:port` or `:port`; port 0 picks a free one. */
  listen: string;
  socketPath?: string;
  verifyNode: (node: string, password: string) => Promise<boolean>;
  /** Whether a node is registered (a certificate alone does not make a node). */
  knownNode: (node: string) => Promise<boolean>;
  maxMessageBytes: number;
  /** Serve mqtts:// on `listen`, and TLS on the unix socket too (mqtts+unix://). */
  tls?: { cert: Buffer; key: Buffer; ca: Buffer };
}

export interface BrokerCounters {
  authFailures: number;
  deniedPublish: number;
  deniedSubscribe: number;
  oversized: number;
}

export class EmbeddedBroker {
  readonly controllerSecret = randomBytes(24).toString('base64url');
  readonly counters: BrokerCounters = { authFailures: 0, deniedPublish: 0, deniedSubscribe: 0, oversized: 0 };
  private servers: net.Server[] = [];
  private aedes?: Aedes;
  /** `mqtt://127.0.0.1:port` as the controller's own client reaches it. */
  url = '';

  constructor(private readonly opts: EmbeddedBrokerOptions) {}

  get running(): boolean {
    return this.servers.length > 0;
  }

  /** Starts listening; after a stop, again on the same port and socket (clients reconnect to the same URL). */
  async start(): Promise<void> {
    if (this.running) return;
    const aedes = await Aedes.createBroker({
      authenticate: (client, username, password, done) => {
        this.authenticate(client, username, password?.toString('utf8')).then(
          (user) => {
            if (user !== undefined) {
              users.set(client, user);
              return done(null, true);
            }
            this.counters.authFailures++;
            log.warn({ clientId: client.id, username }, 'MQTT login refused');
            done(Object.assign(new Error('bad username or password'), { returnCode: 4 }) as AuthenticateError, false);
          },
          (err: Error) => done(Object.assign(err, { returnCode: 3 }) as AuthenticateError, false),
        );
      },
      authorizePublish: (client, packet, done) => {
        const user = client ? usernameOf(client) : CONTROLLER_USERNAME;
        if (packet.payload.length > this.opts.maxMessageBytes) {
          this.counters.oversized++;
          log.warn({ user, topic: packet.topic, bytes: packet.payload.length }, 'oversized publish refused');
          return done(new Error('payload too large'));
        }
        if (client && !mayPublish(user, packet.topic)) {
          this.counters.deniedPublish++;
          log.warn({ user, topic: packet.topic }, 'publish denied by ACL');
          return done(new Error('not authorized'));
        }
        done(null);
      },
      authorizeSubscribe: (client, sub, done) => {
        const user = usernameOf(client);
        if (maySubscribe(user, sub.topic)) return done(null, sub);
        this.counters.deniedSubscribe++;
        log.warn({ user, filter: sub.topic }, 'subscribe denied by ACL');
        done(null, null); // SUBACK 0x80 for this filter; the connection stays
      },
    });
    this.aedes = aedes;
    const { host } = splitListen(this.opts.listen);
    // A restart (PUT /api/v1/broker) comes back on the port it had.
    const port = this.url ? this.port : splitListen(this.opts.listen).port;
    // Client certificates are asked for, not required: password logins work over TLS too.
    // noDelay: aedes writes a packet in pieces, and Nagle + delayed ACK would hold each
    // message back ~40 ms.
    const t = this.opts.tls;
    const listener = () => t
      ? tls.createServer({ cert: t.cert, key: t.key, ca: t.ca, requestCert: true, rejectUnauthorized: false, noDelay: true }, aedes.handle)
      : net.createServer({ noDelay: true }, aedes.handle);
    const tcp = listener();
    await new Promise<void>((resolve, reject) => tcp.once('error', reject).listen(port, host || undefined, () => resolve()));
    this.servers.push(tcp);
    const addr = tcp.address() as net.AddressInfo;
    this.url = `${t ? 'mqtts' : 'mqtt'}://${host && host !== '0.0.0.0' ? host : '127.0.0.1'}:${addr.port}`;
    if (this.opts.socketPath) {
      await rm(this.opts.socketPath, { force: true });
      const unix = listener();
      await new Promise<void>((resolve, reject) => unix.once('error', reject).listen(this.opts.socketPath, () => resolve()));
      this.servers.push(unix);
    }
    log.info({ url: this.url, socket: this.opts.socketPath }, 'embedded broker listening');
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  /** Closes the listeners and every client connection; retained messages and sessions are gone (memory only). */
  async stop(): Promise<void> {
    for (const s of this.servers) s.close();
    const aedes = this.aedes;
    this.aedes = undefined;
    await new Promise<void>((resolve) => (aedes ? aedes.close(() => resolve()) : resolve()));
    this.servers = [];
  }

  /** The user the client is, or undefined to refuse it. */
  private async authenticate(client: Client, username: string | undefined, password: string | undefined): Promise<string | undefined> {
    const certNode = certifiedNode(client);
    if (certNode !== undefined) {
      // The certificate names the node; a username, if given, must agree with it.
      if (username !== undefined && username !== certNode) return undefined;
      if (client.id !== agentClientId(certNode)) return undefined;
      return (await this.opts.knownNode(certNode)) ? certNode : undefined;
    }
    if (username === undefined || password === undefined) return undefined;
    if (username === CONTROLLER_USERNAME) return password === this.controllerSecret ? username : undefined;
    // A node's session is its own: its client id is fixed by its name.
    if (client.id !== agentClientId(username)) return undefined;
    return (await this.opts.verifyNode(username, password)) ? username : undefined;
  }
}

/** The CN of a client certificate the CA verified, when it is a node name. */
function certifiedNode(client: Client): string | undefined {
  const conn = client.conn as unknown;
  if (!(conn instanceof tls.TLSSocket) || !conn.authorized) return undefined;
  const cn = conn.getPeerCertificate().subject?.CN;
  return typeof cn === 'string' && isDNS1123Subdomain(cn) ? cn : undefined;
}

/** The username each authenticated client logged in with; the ACL hooks read it from here. */
const users = new WeakMap<object, string>();
function usernameOf(client: object): string | undefined {
  return users.get(client);
}
