// One long-lived OpenFlow 1.5 connection to a bridge's management socket (`unix:<rundir>/<br>.mgmt`),
// replacing the agent's ovs-ofctl children. It negotiates the version (HELLO bitmap), reads the
// switch's FEATURES, keeps itself alive with echoes both ways, matches replies to requests by
// xid (multipart replies reassembled across their MORE parts), and turns OFPT_ERROR into an Error
// naming the error and the request. Messages without a reply (flow mods, packet-outs) settle at
// the next barrier reply: OpenFlow answers in order, so an error for them arrives before it.
// With `packetIn`, it asks OVS for NXT_PACKET_IN2 (the only format with the controller action's
// userdata) and all packet-in reasons; the bridge runs fail_mode secure without a controller, so
// this connection is where packet-ins go. On loss it fails what is pending, reconnects with
// jittered backoff and emits 'reconnected', so callers re-dump or re-install (the OVSDB client's
// style, src/agent/ovs/ovsdb.ts).
import net from 'node:net';
import { EventEmitter } from 'node:events';
import { Backoff, type BackoffOptions } from '../backoff.js';
import { createLogger } from '../log.js';
import { encodeMessage, MessageReassembler, MULTIPART_HEADER_LEN, OFP15_VERSION, OFPMPF_MORE, OFPT, typeName, type OfMessage } from './header.js';
import {
  decodeError, decodeFeatures, helloBody, negotiateVersion, setAsyncPacketInBody, setConfigBody, setControllerIdBody, setPacketInFormatBody, type SwitchFeatures,
} from './messages.js';

const log = createLogger('openflow');

export interface OpenFlowConnectionOptions {
  /** `unix:/path/br.mgmt`, a bare socket path, or `tcp:host:port`. */
  remote: string;
  /** How long the first connect keeps retrying before giving up (default 10 s). */
  connectTimeoutMs?: number;
  /** Default timeout of a request (default 30 s). */
  requestTimeoutMs?: number;
  /** Interval of our liveness echo; a connection whose echo stays unanswered that long is dropped. 0 disables. */
  echoIntervalMs?: number;
  backoff?: BackoffOptions;
  /** Receive packet-ins as NXT_PACKET_IN2 on this connection ('message' events). */
  packetIn?: boolean | { controllerId?: number; missSendLen?: number };
}

/** OVS refused a request: `errorName` is e.g. "OFPET_BAD_MATCH/OFPBMC_BAD_PREREQ". */
export class OpenFlowError extends Error {
  constructor(message: string, readonly errorType: number, readonly errorCode: number, readonly errorName: string, readonly request: string, readonly xid: number, readonly data: Buffer) {
    super(message);
    this.name = 'OpenFlowError';
  }
}

/** The connection went away before the request was answered; safe to retry after 'reconnected'. */
export class OpenFlowDisconnectedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OpenFlowDisconnectedError';
  }
}

export class OpenFlowTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OpenFlowTimeoutError';
  }
}

export interface SendOptions {
  /** What the message is, for error messages ("flow_mod table=3 priority=200 …"); defaults to its type name. */
  what?: string;
  timeoutMs?: number;
  /** Use this xid (e.g. a bundle's inner message shares the outer one's); default: a fresh one. */
  xid?: number;
}

type Kind = 'reply' | 'multipart' | 'none';

interface Pending {
  kind: Kind;
  what: string;
  seq: number;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  parts?: Buffer[];
  timer?: NodeJS.Timeout;
}

/**
 * Emits 'message' (OfMessage) for every message that answers no request (packet-ins, port
 * status, flow removed); 'disconnect' when the connection is lost; 'reconnected' when it is
 * back (after the handshake and packet-in setup).
 */
export class OpenFlowConnection extends EventEmitter {
  private socket?: net.Socket;
  private ready = false;
  /** Between dial and the end of the handshake: only open() sends. */
  private handshaking = false;
  private readonly reassembler = new MessageReassembler();
  private readonly pending = new Map<number, Pending>();
  private readonly backoff: Backoff;
  private lastXid = 0;
  private seq = 0;
  private closing = false;
  private reconnectTimer?: NodeJS.Timeout;
  private echoTimer?: NodeJS.Timeout;
  private echoOutstanding = false;
  private barrierScheduled = false;
  private corked = false;
  private hello?: { resolve: (m: OfMessage) => void; reject: (e: Error) => void };
  private _features?: SwitchFeatures;
  private _version = OFP15_VERSION;

  private constructor(readonly opts: OpenFlowConnectionOptions) {
    super();
    this.backoff = new Backoff({ initialMs: 50, maxMs: 5000, ...opts.backoff });
  }

  /** Connects and completes the handshake, retrying with backoff until connectTimeoutMs. */
  static async connect(opts: OpenFlowConnectionOptions): Promise<OpenFlowConnection> {
    const conn = new OpenFlowConnection(opts);
    const deadline = Date.now() + (opts.connectTimeoutMs ?? 10_000);
    for (;;) {
      try {
        await conn.open();
        break;
      } catch (err) {
        if (Date.now() >= deadline) {
          await conn.close();
          throw new Error(`cannot open an OpenFlow connection to ${opts.remote}: ${(err as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, conn.backoff.next()));
      }
    }
    conn.backoff.reset();
    conn.startEcho();
    return conn;
  }

  get connected(): boolean {
    return this.ready;
  }

  /** The switch's FEATURES_REPLY of the current (or last) session. */
  get features(): SwitchFeatures {
    if (!this._features) throw new OpenFlowDisconnectedError(`OpenFlow connection to ${this.opts.remote} has not completed its handshake`);
    return this._features;
  }

  get version(): number {
    return this._version;
  }

  /** A fresh xid (never 0: OVS sends unsolicited packet-ins with xid 0). */
  nextXid(): number {
    this.lastXid = (this.lastXid % 0xffffffff) + 1;
    return this.lastXid;
  }

  /** Sends a message that has a reply with the same xid; resolves with the reply. */
  request(type: number, body: Buffer, opts: SendOptions = {}): Promise<OfMessage> {
    return this.enqueue('reply', type, body, opts) as Promise<OfMessage>;
  }

  /**
   * An OFPT_MULTIPART_REQUEST of `mpType` with `body` (after the multipart header); resolves with
   * each reply part's body (after its multipart header), in order, once the last part came.
   */
  multipart(mpType: number, body: Buffer = Buffer.alloc(0), opts: SendOptions = {}): Promise<Buffer[]> {
    const head = Buffer.alloc(MULTIPART_HEADER_LEN);
    head.writeUInt16BE(mpType, 0);
    return this.enqueue('multipart', OFPT.MULTIPART_REQUEST, Buffer.concat([head, body]), opts) as Promise<Buffer[]>;
  }

  /**
   * Sends a message that has no reply (flow mod, packet-out, bundle add). Resolves when a later
   * barrier reply shows OVS processed it without error; a barrier is sent after the current tick
   * unless the caller sends one, so many sends in one tick share one barrier.
   */
  send(type: number, body: Buffer, opts: SendOptions = {}): Promise<void> {
    const p = this.enqueue('none', type, body, opts) as Promise<void>;
    if (!this.barrierScheduled) {
      this.barrierScheduled = true;
      queueMicrotask(() => {
        this.barrierScheduled = false;
        if (this.ready) this.barrier().catch(() => {}); // its own failure fails the sends too
      });
    }
    return p;
  }

  /** OFPT_BARRIER_REQUEST: resolves once OVS finished everything sent before it. */
  async barrier(opts: SendOptions = {}): Promise<void> {
    await this.request(OFPT.BARRIER_REQUEST, Buffer.alloc(0), { what: 'barrier', ...opts });
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.echoTimer);
    this.ready = false;
    this.failPending(`OpenFlow connection to ${this.opts.remote} closed`);
    const s = this.socket;
    this.socket = undefined;
    if (s && !s.destroyed) await new Promise<void>((r) => s.end(r));
    s?.destroy();
  }

  private enqueue(kind: Kind, type: number, body: Buffer, opts: SendOptions): Promise<unknown> {
    const what = opts.what ?? typeName(type, body);
    if (!this.ready && !(this.socket && this.handshaking)) {
      return Promise.reject(new OpenFlowDisconnectedError(`OpenFlow connection to ${this.opts.remote} is not connected (reconnecting); ${what} not sent`));
    }
    return this.sendOn(kind, type, body, what, opts);
  }

  private sendOn(kind: Kind, type: number, body: Buffer, what: string, opts: SendOptions): Promise<unknown> {
    const socket = this.socket!;
    const xid = opts.xid ?? this.nextXid();
    const msg = encodeMessage(type, xid, body, this._version); // throws (too long) before anything is pending
    return new Promise((resolve, reject) => {
      const p: Pending = { kind, what, seq: ++this.seq, resolve, reject };
      if (kind === 'multipart') p.parts = [];
      const timeoutMs = opts.timeoutMs ?? this.opts.requestTimeoutMs ?? 30_000;
      if (timeoutMs > 0) {
        p.timer = setTimeout(() => {
          this.pending.delete(xid);
          reject(new OpenFlowTimeoutError(`OpenFlow ${what} to ${this.opts.remote} got no reply within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      if (this.pending.has(xid)) {
        clearTimeout(p.timer);
        return reject(new Error(`OpenFlow ${what}: xid ${xid} is already in use by ${this.pending.get(xid)!.what}`));
      }
      this.pending.set(xid, p);
      this.write(socket, msg);
    });
  }

  /** Writes within one tick are corked together: one syscall for a burst of small messages. */
  private write(socket: net.Socket, msg: Buffer): void {
    if (!this.corked) {
      this.corked = true;
      socket.cork();
      process.nextTick(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    socket.write(msg);
  }

  private dial(): Promise<net.Socket> {
    const remote = this.opts.remote;
    return new Promise((resolve, reject) => {
      const tcp = /^tcp:(.+):(\d+)$/.exec(remote);
      const s = tcp ? net.connect({ host: tcp[1], port: Number(tcp[2]) }) : net.connect(remote.replace(/^unix:/, ''));
      s.once('connect', () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
  }

  /** Dial, HELLO, FEATURES, packet-in setup. On failure the socket is destroyed and the error thrown. */
  private async open(): Promise<void> {
    const s = await this.dial();
    if (this.closing) {
      s.destroy();
      throw new Error('closed');
    }
    this.attach(s);
    this.handshaking = true;
    try {
      const helloIn = new Promise<OfMessage>((resolve, reject) => (this.hello = { resolve, reject }));
      s.write(encodeMessage(OFPT.HELLO, this.nextXid(), helloBody(), OFP15_VERSION));
      const peer = await withTimeout(helloIn, 5000, `no HELLO from ${this.opts.remote}`);
      const version = negotiateVersion(peer.version, peer.body);
      if (version === undefined) throw new Error(`${this.opts.remote} does not speak OpenFlow 1.5 (its HELLO: version 0x${peer.version.toString(16)}); add OpenFlow15 to the bridge's protocols`);
      this._version = version;
      const features = await this.sendOn('reply', OFPT.FEATURES_REQUEST, Buffer.alloc(0), 'features request', { timeoutMs: 5000 }) as OfMessage;
      this._features = decodeFeatures(features.body);
      const pin = this.opts.packetIn;
      if (pin) {
        const o = typeof pin === 'object' ? pin : {};
        const setup: [number, Buffer, string][] = [
          [OFPT.SET_CONFIG, setConfigBody(o.missSendLen ?? 0xffff), 'set_config (miss_send_len)'],
          [OFPT.EXPERIMENTER, setPacketInFormatBody(), 'NXT_SET_PACKET_IN_FORMAT nxt_packet_in2'],
          [OFPT.SET_ASYNC, setAsyncPacketInBody(), 'set_async (all packet-in reasons)'],
        ];
        if (o.controllerId !== undefined) setup.push([OFPT.EXPERIMENTER, setControllerIdBody(o.controllerId), `NXT_SET_CONTROLLER_ID ${o.controllerId}`]);
        const sent = setup.map(([t, b, w]) => this.sendOn('none', t, b, w, { timeoutMs: 5000 }));
        sent.push(this.sendOn('reply', OFPT.BARRIER_REQUEST, Buffer.alloc(0), 'barrier', { timeoutMs: 5000 }));
        await Promise.all(sent);
      }
      this.ready = true;
    } catch (err) {
      this.hello = undefined;
      this.socket = undefined;
      this.failPending(`OpenFlow handshake with ${this.opts.remote} failed`);
      s.destroy();
      throw err;
    } finally {
      this.handshaking = false;
    }
  }

  private attach(s: net.Socket): void {
    this.socket = s;
    this.reassembler.reset();
    this.echoOutstanding = false;
    s.on('data', (chunk: Buffer) => {
      let msgs: OfMessage[];
      try {
        msgs = this.reassembler.push(chunk);
      } catch (err) {
        log.warn({ remote: this.opts.remote, err: (err as Error).message }, 'garbled OpenFlow stream; reconnecting');
        s.destroy();
        return;
      }
      for (const m of msgs) {
        try {
          this.dispatch(s, m);
        } catch (err) {
          log.error({ err: (err as Error).message, type: typeName(m.type, m.body) }, 'OpenFlow message handler failed'); // e.g. a throwing 'message' listener
        }
      }
    });
    s.on('error', (err) => log.debug({ err: err.message }, 'openflow socket error'));
    s.on('close', () => this.lost(s));
  }

  private dispatch(s: net.Socket, m: OfMessage): void {
    switch (m.type) {
      case OFPT.HELLO:
        this.hello?.resolve(m);
        this.hello = undefined;
        return;
      case OFPT.ECHO_REQUEST:
        if (this.socket === s) this.write(s, encodeMessage(OFPT.ECHO_REPLY, m.xid, m.body, m.version));
        return;
      case OFPT.ERROR:
        return this.onError(m);
      case OFPT.BARRIER_REPLY:
        this.settleBefore(m.xid);
        break;
      case OFPT.MULTIPART_REPLY: {
        const p = this.pending.get(m.xid);
        if (p?.kind === 'multipart') {
          p.parts!.push(m.body.subarray(MULTIPART_HEADER_LEN));
          if (m.body.length >= 4 && (m.body.readUInt16BE(2) & OFPMPF_MORE) !== 0) return;
          this.pending.delete(m.xid);
          clearTimeout(p.timer);
          return p.resolve(p.parts);
        }
        break;
      }
    }
    const p = m.xid !== 0 ? this.pending.get(m.xid) : undefined;
    if (p && p.kind === 'reply') {
      this.pending.delete(m.xid);
      clearTimeout(p.timer);
      p.resolve(m);
      return;
    }
    this.emit('message', m);
  }

  /** A barrier's reply: every reply-less message sent before it went through without error. */
  private settleBefore(barrierXid: number): void {
    const barrier = this.pending.get(barrierXid);
    if (!barrier) return;
    for (const [xid, p] of this.pending) {
      if (p.kind !== 'none' || p.seq > barrier.seq) continue;
      this.pending.delete(xid);
      clearTimeout(p.timer);
      p.resolve(undefined);
    }
  }

  private onError(m: OfMessage): void {
    const e = decodeError(m.body);
    const p = this.pending.get(m.xid);
    if (!p) {
      log.warn({ remote: this.opts.remote, xid: m.xid, error: e.name, failed: e.failedType }, 'OpenFlow error for no pending request');
      this.emit('message', m);
      return;
    }
    // A multipart or reply request is finished by its error; a reply-less one too (OVS sends at most one error per message).
    this.pending.delete(m.xid);
    clearTimeout(p.timer);
    p.reject(new OpenFlowError(`OVS refused ${p.what}: ${e.name}`, e.type, e.code, e.name, p.what, m.xid, e.data));
  }

  private failPending(why: string): void {
    this.hello?.reject(new OpenFlowDisconnectedError(why));
    this.hello = undefined;
    for (const [xid, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(xid);
      p.reject(new OpenFlowDisconnectedError(`${why}; ${p.what} got no reply`));
    }
  }

  private lost(s: net.Socket): void {
    if (this.socket !== s) return;
    const wasReady = this.ready;
    this.socket = undefined;
    this.ready = false;
    if (this.closing) return;
    this.failPending(`OpenFlow connection to ${this.opts.remote} lost`);
    if (!wasReady) return; // a failing handshake: open() throws and its caller retries
    log.warn({ remote: this.opts.remote }, 'OpenFlow connection lost; reconnecting');
    this.emit('disconnect');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closing) return;
    this.reconnectTimer = setTimeout(() => {
      this.open().then(
        () => {
          if (this.closing) return;
          this.backoff.reset();
          log.info({ remote: this.opts.remote }, 'OpenFlow reconnected');
          this.emit('reconnected');
        },
        (err: Error) => {
          log.debug({ remote: this.opts.remote, err: err.message }, 'OpenFlow reconnect attempt failed');
          this.scheduleReconnect();
        },
      );
    }, this.backoff.next());
  }

  private startEcho(): void {
    const every = this.opts.echoIntervalMs ?? 5000;
    if (!every) return;
    this.echoTimer = setInterval(() => {
      const s = this.socket;
      if (!s || !this.ready) return;
      if (this.echoOutstanding) {
        log.warn({ remote: this.opts.remote }, 'OpenFlow echo unanswered; dropping the connection');
        s.destroy();
        return;
      }
      this.echoOutstanding = true;
      this.request(OFPT.ECHO_REQUEST, Buffer.alloc(0), { what: 'echo', timeoutMs: 0 }).then(
        () => (this.echoOutstanding = false),
        () => {},
      );
    }, every);
    this.echoTimer.unref();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new OpenFlowTimeoutError(`${what} within ${ms} ms`)), ms))),
  ]);
}
