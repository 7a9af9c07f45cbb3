// A CRI RuntimeService client: unary gRPC calls over HTTP/2 on containerd's unix socket, with
// the protobuf tables of messages.ts. gRPC framing: each message is 1 byte "compressed" (0)
// + 4 bytes big-endian length + the protobuf bytes; the status comes in the trailers.
import http2 from 'node:http2';
import { connect } from 'node:net';
import { decode, encode, type Message } from './protobuf.js';
import { CRI_METHODS, CRI_SERVICE, type CriMethod, type PodSandbox, type PodSandboxConfig, type PodSandboxStatus } from './messages.js';

/** gRPC status codes we act on. */
export const GRPC_NOT_FOUND = 5;

export class CriError extends Error {
  constructor(readonly method: string, readonly code: number, readonly grpcMessage: string) {
    super(`CRI ${method}: ${grpcMessage || 'failed'} (grpc status ${code})`);
  }
}

export class CriClient {
  private session?: http2.ClientHttp2Session;
  /** Calls in flight: the session keeps the process alive only while there are some. */
  private pending = 0;

  constructor(readonly socketPath: string, private readonly timeoutMs = 120_000) {}

  async version(): Promise<{ version: string; runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }> {
    return (await this.call('Version', { version: 'v1' })) as never;
  }

  async runPodSandbox(config: PodSandboxConfig, runtimeHandler = ''): Promise<string> {
    const res = await this.call('RunPodSandbox', { config: config as unknown as Message, runtimeHandler });
    return res.podSandboxId as string;
  }

  async stopPodSandbox(id: string): Promise<void> {
    await this.call('StopPodSandbox', { podSandboxId: id });
  }

  async removePodSandbox(id: string): Promise<void> {
    await this.call('RemovePodSandbox', { podSandboxId: id });
  }

  /** With `info`: containerd's verbose info (its `info` key holds JSON with the runtime spec). */
  async podSandboxStatus(id: string, verbose = false): Promise<{ status: PodSandboxStatus; info: Record<string, string> }> {
    return (await this.call('PodSandboxStatus', { podSandboxId: id, verbose })) as never;
  }

  async listPodSandbox(filter?: { id?: string; labelSelector?: Record<string, string> }): Promise<PodSandbox[]> {
    const res = await this.call('ListPodSandbox', filter ? { filter } : {});
    return res.items as unknown as PodSandbox[];
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }

  private connection(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const session = http2.connect('http://localhost', { createConnection: () => connect(this.socketPath) });
    session.on('error', () => undefined); // reported through the pending streams
    session.on('close', () => {
      if (this.session === session) this.session = undefined;
    });
    session.unref(); // an idle client never keeps the process alive
    this.session = session;
    this.pending = 0;
    return session;
  }

  async call(method: CriMethod, request: Message): Promise<Message> {
    const { request: reqType, response: resType } = CRI_METHODS[method];
    const body = encode(reqType, request);
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    const payload = await new Promise<Buffer>((resolve, reject) => {
      const session = this.connection();
      if (this.pending++ === 0) session.ref();
      const stream = session.request({
        ':method': 'POST',
        ':path': `/${CRI_SERVICE}/${method}`,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const chunks: Buffer[] = [];
      let headers: http2.IncomingHttpHeaders = {};
      const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), this.timeoutMs);
      let settled = false;
      const done = (err?: Error, data?: Buffer) => {
        if (settled) return; // 'error' is followed by 'close'
        settled = true;
        clearTimeout(timer);
        if (--this.pending === 0 && !session.destroyed) session.unref();
        if (err) reject(err);
        else resolve(data!);
      };
      stream.on('response', (h) => (headers = h));
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('trailers', (t) => (headers = { ...headers, ...t }));
      stream.on('error', (err) => done(new CriError(method, -1, `${err.message} (socket ${this.socketPath})`)));
      stream.on('close', () => {
        const status = Number(headers['grpc-status'] ?? (stream.rstCode ? -1 : 2));
        if (status !== 0) {
          const msg = decodeURIComponent(String(headers['grpc-message'] ?? (stream.rstCode === http2.constants.NGHTTP2_CANCEL ? `timed out after ${this.timeoutMs} ms` : '')));
          return done(new CriError(method, status, msg));
        }
        const all = Buffer.concat(chunks);
        if (all.length < 5) return done(new CriError(method, -1, 'empty response'));
        if (all[0] !== 0) return done(new CriError(method, -1, 'compressed response (not requested)'));
        done(undefined, all.subarray(5, 5 + all.readUInt32BE(1)));
      });
      stream.end(frame);
    });
    return decode(resType, payload);
  }
}
