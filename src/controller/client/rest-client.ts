// A small client of the controller's REST API, for seinectl and the Node-RED nodes.
// Errors come back as one line: the Status message, or what went wrong with the connection.
// node:http(s) rather than fetch: an https server signed by the fleet's own CA needs `ca`.
import http from 'node:http';
import https from 'node:https';
import { lookupKind, type KindInfo } from '../../api/kinds.js';
import { UserError } from '../../lib/errors.js';
import { resourceUrl } from '../../api/rest-paths.js';

export interface RestClientOptions {
  token?: string | undefined;
  /** PEM of the CA that signed the controller's certificate (https://); default: the system's. */
  ca?: Buffer | undefined;
  /** A unix socket to reach the server through (the agent's local API); `server` then only names it. */
  socketPath?: string | undefined;
  timeoutMs?: number;
  /** A connection pool of the caller's own (the Node-RED config node destroys it on close). */
  agent?: http.Agent | undefined;
}

export class RestClient {
  constructor(readonly server: string, private readonly opts: RestClientOptions = {}) {}

  /** `body` is YAML/JSON text, or bytes with their own content-type in `headers` (a release bundle). */
  async request<T>(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<T> {
    const url = new URL(`${this.server.replace(/\/$/, '')}${path}`);
    let res: { status: number; text: string };
    try {
      res = await send(url, method, {
        'content-type': 'application/yaml',
        ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}),
        ...headers,
      }, body, this.opts);
    } catch (err) {
      throw new UserError(`cannot reach ${this.opts.socketPath ? `the agent at ${this.opts.socketPath}` : `the controller at ${this.server}`}: ${(err as Error).message}`);
    }
    let json: unknown;
    try {
      json = res.text ? (JSON.parse(res.text) as unknown) : undefined;
    } catch {
      throw new UserError(`${this.server}${path}: HTTP ${res.status}, not JSON: ${res.text.slice(0, 200)}`);
    }
    if (res.status < 200 || res.status > 299) {
      const status = json as { message?: string; details?: { causes?: { message: string }[] } } | undefined;
      const causes = status?.details?.causes?.map((c) => c.message);
      throw new UserError(causes?.length ? causes.join('\n') : (status?.message ?? `HTTP ${res.status}`));
    }
    return json as T;
  }
}

function send(url: URL, method: string, headers: Record<string, string>, body: string | Buffer | undefined, opts: RestClientOptions): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const secure = url.protocol === 'https:';
    const options: https.RequestOptions = {
      method,
      headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) },
      timeout: opts.timeoutMs ?? 30_000,
      ...(opts.socketPath ? { socketPath: opts.socketPath } : {}),
      ...(secure && opts.ca ? { ca: opts.ca } : {}),
      ...(opts.agent ? { agent: opts.agent } : {}),
    };
    const req = (secure ? https : http).request(url, options, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${opts.timeoutMs ?? 30_000} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export function resolveKind(name: string): KindInfo {
  const kind = lookupKind(name);
  if (!kind) throw new UserError(`unknown resource type "${name}" (try acnp, anp, netpol, tier, cg, grp, tf, eg, eip)`);
  return kind;
}

export { resourceUrl };
