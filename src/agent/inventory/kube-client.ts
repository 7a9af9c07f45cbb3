// The few HTTP calls the inventory makes to the Kubernetes API: GET a JSON document, GET a
// watch stream of newline-delimited JSON events, and PATCH the agent's own Node (annotations). node:http(s) only; TLS and
// credentials come from a KubeConnection.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { StatusSchema } from '../../api/k8s-core.js';
import type { KubeConnection } from './kubeconfig.js';

/** A request the API server refused, with its metav1.Status reason (or a watch ERROR event). */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

/**
 * The watch cannot go on from its resourceVersion; list again. 410: the version is no longer
 * in the server's history. 504 "Too large resource version": the server is behind the version
 * (a restarted k3s whose datastore was restored, say).
 */
export const needsRelist = (err: unknown): boolean =>
  err instanceof KubeApiError && (err.code === 410 || (err.code === 504 && /too large resource version/i.test(err.message)));

export type Query = Record<string, string | number | boolean | undefined>;

export interface KubeClientOptions {
  /** For a plain GET; a watch is bounded by its idle timeout instead. */
  requestTimeoutMs?: number;
  userAgent?: string;
}

export class KubeClient {
  private readonly agent: HttpAgent;
  private readonly requestTimeoutMs: number;
  private readonly userAgent: string;

  constructor(
    private readonly connection: KubeConnection,
    options: KubeClientOptions = {},
  ) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.userAgent = options.userAgent ?? 'seine-agent';
    this.agent =
      connection.server.protocol === 'https:'
        ? new HttpsAgent({
            keepAlive: true,
            ...(connection.ca ? { ca: connection.ca } : {}),
            ...(connection.cert && connection.key ? { cert: connection.cert, key: connection.key } : {}),
            rejectUnauthorized: !connection.insecureSkipTLSVerify,
            ...(connection.tlsServerName ? { servername: connection.tlsServerName } : {}),
          })
        : new HttpAgent({ keepAlive: true });
  }

  async getJSON(path: string, query: Query, signal: AbortSignal): Promise<unknown> {
    const res = await this.send(path, query, signal, this.requestTimeoutMs);
    const body = await readBody(res);
    try {
      return JSON.parse(body) as unknown;
    } catch {
      throw new Error(`GET ${path}: response is not JSON: ${body.slice(0, 200)}`);
    }
  }

  /** A JSON merge patch (RFC 7386), e.g. an annotation on the agent's own Node; resolves with the server's object. */
  async mergePatch(path: string, patch: unknown, signal: AbortSignal): Promise<unknown> {
    const res = await this.send(path, {}, signal, this.requestTimeoutMs, { method: 'PATCH', contentType: 'application/merge-patch+json', body: JSON.stringify(patch) });
    return JSON.parse(await readBody(res)) as unknown;
  }

  /**
   * Streams a watch: calls onEvent for every line, resolves when the server ends the stream
   * (its timeoutSeconds), rejects on a connection error, an unparsable line, or whatever
   * onEvent throws. The connection is dropped when nothing arrives for idleTimeoutMs,
   * which catches a server that vanished without closing TCP.
   */
  async watch(
    path: string,
    query: Query,
    onEvent: (event: unknown) => void,
    signal: AbortSignal,
    idleTimeoutMs: number,
  ): Promise<void> {
    const res = await this.send(path, { ...query, watch: true }, signal, idleTimeoutMs);
    res.setEncoding('utf8');
    await new Promise<void>((resolve, reject) => {
      let buffer = '';
      let settled = false;
      const finish = (err?: Error) => {
        if (settled) return;
        settled = true;
        if (err) {
          res.destroy();
          reject(err);
        } else resolve();
      };
      const handle = (line: string) => {
        if (!line.trim()) return;
        let event: unknown;
        try {
          event = JSON.parse(line);
        } catch {
          throw new Error(`watch ${path}: line is not JSON: ${line.slice(0, 200)}`);
        }
        onEvent(event);
      };
      res.on('data', (chunk: string) => {
        if (settled) return;
        buffer += chunk;
        let nl: number;
        try {
          while (!settled && (nl = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, nl);
            buffer = buffer.slice(nl + 1);
            handle(line);
          }
        } catch (err) {
          finish(err as Error);
        }
      });
      res.on('end', () => {
        try {
          handle(buffer);
          finish();
        } catch (err) {
          finish(err as Error);
        }
      });
      const lost = (why: string) => (signal.aborted ? abortError() : new Error(`watch ${path}: connection lost (${why})`));
      res.on('error', (err) => finish(lost(err.message)));
      res.on('close', () => finish(lost('closed mid-stream')));
    });
  }

  close(): void {
    this.agent.destroy();
  }

  /** Resolves with a 2xx response; any other status becomes a KubeApiError from its Status body. */
  private send(path: string, query: Query, signal: AbortSignal, idleTimeoutMs: number, write?: { method: 'PATCH'; contentType: string; body: string }): Promise<IncomingMessage> {
    const url = new URL(path, this.connection.server);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    const token = this.connection.tokenFile
      ? readFileSync(this.connection.tokenFile, 'utf8').trim()
      : this.connection.token;
    const options: RequestOptions = {
      method: write?.method ?? 'GET',
      agent: this.agent,
      signal,
      headers: {
        Accept: 'application/json',
        ...(write ? { 'Content-Type': write.contentType } : {}),
        'User-Agent': this.userAgent,
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
      },
    };
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(url, options, (res) => {
        const code = res.statusCode ?? 0;
        if (code >= 200 && code < 300) return resolve(res);
        readBody(res).then((body) => reject(apiError(code, body, url, write?.method)), reject);
      });
      req.setTimeout(idleTimeoutMs, () => req.destroy(new Error(`${write?.method ?? 'GET'} ${url.pathname}: no data for ${idleTimeoutMs} ms`)));
      // Name the server: "self-signed certificate" alone does not say which endpoint a box failed on.
      req.on('error', (err) => reject(signal.aborted ? err : new Error(`${url.host}: ${err.message}`)));
      req.end(write?.body);
    });
  }
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

function apiError(code: number, body: string, url: URL, method = 'GET'): KubeApiError {
  let status;
  try {
    status = StatusSchema.safeParse(JSON.parse(body));
  } catch {
    /* not JSON: a proxy's error page, say */
  }
  const message = status?.success ? status.data.message : body.trim().slice(0, 200);
  const reason = status?.success ? status.data.reason : undefined;
  return new KubeApiError(code, reason, `${method} ${url.pathname}: HTTP ${code}${reason ? ` ${reason}` : ''}: ${message || 'no message'}`);
}

function abortError(): Error {
  const err = new Error('aborted');
  err.name = 'AbortError';
  return err;
}
