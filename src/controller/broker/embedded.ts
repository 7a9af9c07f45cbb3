// The embedded broker: aedes on a TCP address (plain or TLS) and optionally a unix socket, with
// per-node password authentication, client ids bound to usernames, the ACL of acl.ts and a
// payload bound. The controller logs in as CONTROLLER_USERNAME with a secret made here and never
// stored. Over TLS a node may log in with its certificate instead (signed by the configured CA,
// CN = node name, the node registered): the certificate names the user.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { isDNS1123Subdomain } from '../../api/meta.js';
import { CONTROLLER_USERNAME, agentClientId, parseNodeTopic, type NodeTopic } from '../../api/mqtt.js';
import { splitListen } from '../../lib/listen.js';
import { BoundedQueue, SKIPPED } from '../../lib/bounded-queue.js';
import { createLogger } from '../../lib/log.js';
import { mayPublish, maySubscribe } from './acl.js';
import { LoginLimiter, type LoginLimits } from './login-limiter.js';

const log = createLogger('controller.broker');

export interface EmbeddedBrokerOptions {
  /** `host:port` or `:port`; port 0 picks a free one. */
  listen: string;
  socketPath?: string;
  verifyNode: (node: string, password: string) => Promise<boolean>;
  /** Whether a node is registered (a certificate alone does not make a node). */
  knownNode: (node: string) => Promise<boolean>;
  /** Whether a certificate serial (upper-case hex) is on the revocation list; checked at every certificate login. */
  revoked?: (serial: string) => Promise<boolean>;
  maxMessageBytes: number;
  /**
   * Whether `node` may answer rpc request `id` (one the controller's RpcClient sent it and
   * still waits for, or just gave up on). Without it nodes may not publish on rpc topics at all.
   */
  rpcKnown?: (node: string, id: string) => boolean;
  /** Told when a node's first session opens and its last one closes: presence without retained messages. */
  onPresence?: (node: string, online: boolean) => void;
  /** Failed logins allowed per source and per node name (login-limiter.ts). */
  loginLimits?: LoginLimits;
  /** Serve mqtts:// on `listen`, and TLS on the unix socket too (mqtts+unix://). */
  tls?: { cert: Buffer; key: Buffer; ca: Buffer };
}

export interface BrokerCounters {
  authFailures: number;
  /** Logins refused unchecked because their source or node name failed too often. */
  loginsRateLimited: number;
  deniedPublish: number;
  /** Node publishes whose retain flag was cleared (a node never leaves state in the broker). */
  retainStripped: number;
  /** Node rpc answers to no request the controller sent it. */
  deniedRpc: number;
  deniedSubscribe: number;
  oversized: number;
  /** Password logins dropped unchecked because the client had gone (given up on its CONNACK) before their turn. */
  loginsAbandoned: number;
}

/**
 * Password checks (scrypt: tens of ms of CPU each, on the libuv pool the SQLite store shares)
 * running at once. A fleet connecting at once (a controller restart with thousands of boxes)
 * queues its checks here instead of filling the pool, so the store keeps answering, and a check
 * whose client gave up waiting is dropped unchecked: without this the broker spent its time on
 * logins whose clients had already timed out and retried (issue #22: 500 boxes, ~2,000 connack
 * timeouts).
 */
const PASSWORD_CHECKS = 2;

export class EmbeddedBroker {
  readonly controllerSecret = randomBytes(24).toString('base64url');
  readonly counters: BrokerCounters = { authFailures: 0, loginsRateLimited: 0, deniedPublish: 0, retainStripped: 0, deniedRpc: 0, deniedSubscribe: 0, oversized: 0, loginsAbandoned: 0 };
  private servers: net.Server[] = [];
  /**
   * Every connection the listeners accepted and that is still open. A stop ends them all: aedes
   * closes only the clients it has registered, and leaves a connection whose login was under way
   * open and unanswered (the client then waits out its CONNACK timeout before trying again).
   */
  private readonly sockets = new Set<net.Socket>();
  private readonly limiter: LoginLimiter;
  private readonly passwordChecks = new BoundedQueue(PASSWORD_CHECKS);
  /** Open connections per node (presence). */
  private readonly sessions = new Map<string, Set<Client>>();
  /** Clients already warned about a retained publish (one line per connection, not per message). */
  private readonly warnedRetain = new WeakSet<Client>();
  private aedes?: Aedes;
  /** `mqtt://127.0.0.1:port` as the controller's own client reaches it. */
  url = '';

  constructor(private readonly opts: EmbeddedBrokerOptions) {
    this.limiter = new LoginLimiter(opts.loginLimits);
  }

  get running(): boolean {
    return this.servers.length > 0;
  }

  /** Starts listening; after a stop, again on the same port and socket (clients reconnect to the same URL). */
  async start(): Promise<void> {
    if (this.running) return;
    const aedes = await Aedes.createBroker({
      authenticate: (client, username, password, done) => {
        // The limiter bounds password (scrypt) work. The controller's own login (a random secret) and
        // logins with a certificate the CA verified (the TLS handshake did the work; a revoked one is
        // refused by serial at no cost) are never limited: a revoked box retrying must not lock out
        // its own re-enrolment, nor a flood the controller.
        const limited = username !== CONTROLLER_USERNAME && certifiedNode(client) === undefined;
        const source = sourceOf(client);
        const blocked = limited ? this.limiter.blocked(source, username) : undefined;
        if (blocked) {
          this.counters.loginsRateLimited++;
          log.warn({ clientId: client.id, username, source, reason: blocked }, 'MQTT login rate-limited: refused without checking');
          return done(Object.assign(new Error('too many failed logins'), { returnCode: 3 }) as AuthenticateError, false);
        }
        this.authenticate(client, username, password?.toString('utf8')).then(
          (user) => {
            if (user === SKIPPED) {
              this.counters.loginsAbandoned++;
              return done(Object.assign(new Error('client gone before its login was checked'), { returnCode: 3 }) as AuthenticateError, false);
            }
            if (user !== undefined) {
              users.set(client, user);
              return done(null, true);
            }
            this.counters.authFailures++;
            if (limited) this.limiter.failed(source, username);
            log.warn({ clientId: client.id, username, source }, 'MQTT login refused');
            done(Object.assign(new Error('bad username or password'), { returnCode: 4 }) as AuthenticateError, false);
          },
          (err: Error) => done(Object.assign(err, { returnCode: 3 }) as AuthenticateError, false),
        );
      },
      authorizePublish: (client, packet, done) => {
        // A dropped node's last will ("offline", retained) must not bring back the status just cleared.
        if (client && dropped.has(client)) return done(new Error('node revoked'));
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
        if (client && user !== CONTROLLER_USERNAME) {
          const denied = this.nodePublishRule(client, user, packet);
          if (denied) return done(denied);
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
    // Presence from the broker's own sessions: right after a controller (and so broker) restart,
    // and with no retained status to read. A node may briefly have two connections (a takeover).
    aedes.on('clientReady', (client) => {
      // A login that finished after this instance was stopped: that connection is being ended.
      if (this.aedes !== aedes) return client.close();
      const node = nodeOf(client);
      if (node === undefined) return;
      const open = this.sessions.get(node) ?? new Set();
      open.add(client);
      this.sessions.set(node, open);
      if (open.size === 1) this.opts.onPresence?.(node, true);
    });
    aedes.on('clientDisconnect', (client) => {
      const node = nodeOf(client);
      const open = node === undefined ? undefined : this.sessions.get(node);
      if (!open?.delete(client)) return;
      if (open.size > 0) return;
      this.sessions.delete(node!);
      this.opts.onPresence?.(node!, false);
    });
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
    const track = (server: net.Server) => server.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    const tcp = track(listener());
    await new Promise<void>((resolve, reject) => tcp.once('error', reject).listen(port, host || undefined, () => resolve()));
    this.servers.push(tcp);
    const addr = tcp.address() as net.AddressInfo;
    this.url = `${t ? 'mqtts' : 'mqtt'}://${host && host !== '0.0.0.0' ? host : '127.0.0.1'}:${addr.port}`;
    if (this.opts.socketPath) {
      await rm(this.opts.socketPath, { force: true });
      const unix = track(listener());
      await new Promise<void>((resolve, reject) => unix.once('error', reject).listen(this.opts.socketPath, () => resolve()));
      this.servers.push(unix);
    }
    log.info({ url: this.url, socket: this.opts.socketPath }, 'embedded broker listening');
  }

  /** Whether the node has a connection open now (what "online" means with this broker). */
  hasSession(node: string): boolean {
    return this.sessions.has(node);
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
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    this.servers = [];
    // Whatever close did not report as disconnected is gone too (a restart starts from no sessions).
    for (const node of this.sessions.keys()) this.opts.onPresence?.(node, false);
    this.sessions.clear();
  }

  /**
   * What a node may not do even on its own topics. Retained messages: the flag is cleared, not
   * refused (an older agent that still sets it stays connected, so it can be updated), so
   * nothing a node sends outlives its connection in the broker — its last will included.
   * Rpc answers: only to a request the controller sent that node (a forged answer is refused,
   * which drops the connection).
   */
  private nodePublishRule(client: Client, user: string | undefined, packet: { topic: string; retain: boolean }): Error | undefined {
    if (packet.retain) {
      packet.retain = false;
      this.counters.retainStripped++;
      if (!this.warnedRetain.has(client)) {
        this.warnedRetain.add(client);
        log.warn({ user, topic: packet.topic }, 'a node published a retained message: delivered, not retained');
      }
    }
    const t = safeParseTopic(packet.topic);
    if (t?.channel === 'rpc' && !(t.rpcId !== undefined && this.opts.rpcKnown?.(t.node, t.rpcId))) {
      this.counters.deniedRpc++;
      log.warn({ user, topic: packet.topic }, 'rpc answer to no pending request refused');
      return new Error('no such rpc request');
    }
    return undefined;
  }

  /**
   * Closes the node's connection now (it was deleted, disabled or its certificate revoked), its
   * last will suppressed; true when it was connected. Its reconnects are refused by authenticate.
   */
  disconnectNode(node: string): boolean {
    // aedes keeps connected clients by id (not in its typings); a node's client id is fixed by its name.
    const client = (this.aedes as unknown as { clients?: Record<string, Client> } | undefined)?.clients?.[agentClientId(node)];
    if (!client) return false;
    dropped.add(client);
    client.close();
    log.warn({ node }, 'node session dropped (revoked)');
    return true;
  }

  /** The user the client is, undefined to refuse it, or SKIPPED when the client left before its password was checked. */
  private async authenticate(client: Client, username: string | undefined, password: string | undefined): Promise<string | undefined | typeof SKIPPED> {
    const certNode = certifiedNode(client);
    if (certNode !== undefined) {
      // The certificate names the node; a username, if given, must agree with it.
      if (username !== undefined && username !== certNode) return undefined;
      if (client.id !== agentClientId(certNode)) return undefined;
      const serial = (client.conn as tls.TLSSocket).getPeerCertificate().serialNumber;
      if (this.opts.revoked && (!serial || (await this.opts.revoked(serial)))) return undefined;
      return (await this.opts.knownNode(certNode)) ? certNode : undefined;
    }
    if (username === undefined || password === undefined) return undefined;
    if (username === CONTROLLER_USERNAME) return sameSecret(password, this.controllerSecret) ? username : undefined;
    // A node's session is its own: its client id is fixed by its name.
    if (client.id !== agentClientId(username)) return undefined;
    const ok = await this.passwordChecks.run(() => this.opts.verifyNode(username, password), () => !client.closed && !client.conn.destroyed);
    return ok === SKIPPED ? SKIPPED : ok ? username : undefined;
  }
}

/** Constant-time comparison (the time taken says nothing about how much of the secret matched). */
function sameSecret(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}

/** The client's address, for the login limiter ('local' on the unix socket). */
function sourceOf(client: Client): string {
  const addr = (client.conn as { remoteAddress?: string }).remoteAddress;
  return addr ? addr.replace(/^::ffff:/, '') : 'local';
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
/** Clients closed by disconnectNode: nothing they still send (their will) is published. */
const dropped = new WeakSet<object>();
function usernameOf(client: object): string | undefined {
  return users.get(client);
}

/** The node a client logged in as (undefined for the controller's own clients). */
function nodeOf(client: Client): string | undefined {
  const user = usernameOf(client);
  return user !== undefined && user !== CONTROLLER_USERNAME ? user : undefined;
}

function safeParseTopic(topic: string): NodeTopic | undefined {
  try {
    return parseNodeTopic(topic);
  } catch {
    return undefined;
  }
}
