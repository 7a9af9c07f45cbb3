// The agent's CNI server: a unix socket (mode 0600) where seine-cni sends one JSON line
// {env, config} per call and reads one JSON line back, {result} or {error}. Calls are validated
// against src/api/cni.ts, serialized per container id and dispatched to a PodNetwork.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { CniErrorCode, cniSpecVersion, defaultAgentSocket, type CniError, type CniResponse } from '../../api/cni.js';
import { errorMessage } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { ContainerAccess } from './container-access.js';
import { CniCallError, type PodNetwork } from './pod-network.js';
import { parseCniCall, type CniCall } from './request.js';
import { resultForVersion, resultFromAttachment } from './result.js';

const log = createLogger('cni-server');

export interface CniServerOptions {
  podNetwork: PodNetwork;
  /** Defaults to /var/run/seine/cni.sock, where the network config's agentSocket points. */
  socketPath?: string;
  /** A request line longer than this is refused (a network config is a few KB). */
  maxRequestBytes?: number;
}

export class CniServer {
  readonly socketPath: string;
  private server?: Server;
  private readonly access = new ContainerAccess();
  private readonly sockets = new Set<Socket>();

  constructor(private readonly opts: CniServerOptions) {
    this.socketPath = opts.socketPath ?? defaultAgentSocket;
  }

  async start(): Promise<void> {
    await mkdir(path.dirname(this.socketPath), { recursive: true, mode: 0o755 });
    await this.removeStaleSocket();
    const server = createServer((socket) => this.serve(socket));
    // The socket is created by listen(); a umask makes it 0600 from its first moment.
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.socketPath, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(umask);
    }
    server.on('error', (err) => log.error({ err: errorMessage(err) }, 'CNI socket error'));
    this.server = server;
    log.info({ socket: this.socketPath }, 'CNI server listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
    await rm(this.socketPath, { force: true });
    log.info({ socket: this.socketPath }, 'CNI server stopped');
  }

  /** One call, from the decoded request line to the response line's object. */
  async handle(request: unknown): Promise<CniResponse> {
    const hint = { version: cniSpecVersion };
    const started = performance.now();
    let call: CniCall | undefined;
    try {
      call = parseCniCall(request, hint);
      const c = call;
      const response = await this.access.run(c.pod.containerId, () => this.dispatch(c));
      log.info({ command: c.command, containerId: c.pod.containerId, pod: podName(c), ms: elapsed(started) }, 'CNI call done');
      return response;
    } catch (err) {
      const error = toCniError(err, hint.version, call?.command);
      log.warn({ command: call?.command, containerId: call?.pod.containerId, code: error.code, msg: error.msg, ms: elapsed(started) }, 'CNI call failed');
      return { error };
    }
  }

  private async dispatch(call: CniCall): Promise<CniResponse> {
    const { pod, ifname } = call;
    switch (call.command) {
      case 'ADD': {
        const attachment = await this.opts.podNetwork.add({ pod, ifname, netns: call.netns as string, mtu: call.conf.mtu });
        return { result: resultForVersion(resultFromAttachment(attachment, call.conf), call.version) };
      }
      case 'DEL':
        await this.opts.podNetwork.del({ pod, ifname, netns: call.netns });
        return { result: null };
      case 'CHECK':
        await this.opts.podNetwork.check({ pod, ifname, netns: call.netns as string, prevResult: call.prevResult! });
        return { result: null };
    }
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', (err) => log.debug({ err: errorMessage(err) }, 'CNI client connection error'));
    const max = this.opts.maxRequestBytes ?? 1 << 20;
    let buffer = '';
    let answered = false;
    const answer = (response: CniResponse) => {
      answered = true;
      if (!socket.destroyed) socket.end(JSON.stringify(response) + '\n');
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      if (answered) return;
      buffer += chunk;
      const nl = buffer.indexOf('\n');
      if (nl < 0) {
        if (buffer.length > max) answer({ error: { cniVersion: cniSpecVersion, code: CniErrorCode.IoFailure, msg: `request larger than ${max} bytes` } });
        return;
      }
      answered = true;
      let request: unknown;
      try {
        request = JSON.parse(buffer.slice(0, nl));
      } catch (err) {
        answer({ error: { cniVersion: cniSpecVersion, code: CniErrorCode.DecodingFailure, msg: 'failed to decode the request line as JSON', details: errorMessage(err) } });
        return;
      }
      void this.handle(request).then(answer);
    });
  }

  /** A socket file nobody listens on is left from a crash; one somebody answers on is a second agent. */
  private async removeStaleSocket(): Promise<void> {
    const exists = await stat(this.socketPath).then(() => true, () => false);
    if (!exists) return;
    const alive = await new Promise<boolean>((resolve) => {
      const probe = createConnection(this.socketPath);
      probe.once('connect', () => {
        probe.destroy();
        resolve(true);
      });
      probe.once('error', () => resolve(false));
    });
    if (alive) throw new Error(`another process is serving CNI on ${this.socketPath}; stop it first`);
    await rm(this.socketPath, { force: true });
    log.info({ socket: this.socketPath }, 'removed stale CNI socket');
  }
}

function toCniError(err: unknown, cniVersion: string, command: string | undefined): CniError {
  if (err instanceof CniCallError) {
    return { cniVersion, code: err.code, msg: err.message, ...(err.details ? { details: err.details } : {}) };
  }
  const code = command === 'CHECK' ? CniErrorCode.CheckInterfaceFailure : CniErrorCode.ConfigInterfaceFailure;
  return { cniVersion, code, msg: `${command ?? 'CNI call'} failed: ${errorMessage(err)}` };
}

const elapsed = (t0: number) => Math.round((performance.now() - t0) * 10) / 10;
const podName = (c: CniCall) => (c.pod.name ? `${c.pod.namespace}/${c.pod.name}` : undefined);
