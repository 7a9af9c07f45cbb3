// The embedded broker: aedes on a TCP address (and optionally a unix socket), with per-node
// password authentication, client ids bound to usernames, the ACL of acl.ts and a payload
// bound. The controller logs in as CONTROLLER_USERNAME with a secret made here and never stored.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import { Aedes, type AuthenticateError } from 'aedes';
import { CONTROLLER_USERNAME, agentClientId } from '../../api/mqtt.js';
import { createLogger } from '../../lib/log.js';
import { mayPublish, maySubscribe } from './acl.js';

const log = createLogger('controller.broker');

export interface EmbeddedBrokerOptions {
  /** `host:port` or `:port`; port 0 picks a free one. */
  listen: string;
  socketPath?: string;
  verifyNode: (node: string, password: string) => Promise<boolean>;
  maxMessageBytes: number;
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
        this.authenticate(client.id, username, password?.toString('utf8')).then(
          (ok) => {
            if (ok) {
              users.set(client, username!);
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
    const port = this.url ? this.port : splitListen(this.opts.listen).port;
    const tcp = net.createServer(aedes.handle);
    await new Promise<void>((resolve, reject) => tcp.once('error', reject).listen(port, host || undefined, () => resolve()));
    this.servers.push(tcp);
    const addr = tcp.address() as net.AddressInfo;
    this.url = `mqtt://${host && host !== '0.0.0.0' ? host : '127.0.0.1'}:${addr.port}`;
    if (this.opts.socketPath) {
      await rm(this.opts.socketPath, { force: true });
      const unix = net.createServer(aedes.handle);
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

  private async authenticate(clientId: string, username: string | undefined, password: string | undefined): Promise<boolean> {
    if (username === undefined || password === undefined) return false;
    if (username === CONTROLLER_USERNAME) return password === this.controllerSecret;
    // A node's session is its own: its client id is fixed by its name.
    if (clientId !== agentClientId(username)) return false;
    return this.opts.verifyNode(username, password);
  }
}

/** The username each authenticated client logged in with; the ACL hooks read it from here. */
const users = new WeakMap<object, string>();
function usernameOf(client: object): string | undefined {
  return users.get(client);
}

export function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(listen.slice(i + 1)) };
}
