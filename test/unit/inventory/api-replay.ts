// A local HTTP(S) server on 127.0.0.1 that answers like a k3s API server by replaying
// recorded payloads from test/fixtures/k8s: LIST bodies, and watch streams of
// newline-delimited events that the test can extend, end or refuse while it runs.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

export const FIXTURES = new URL('../../fixtures/k8s/', import.meta.url);
export const fixture = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');
export const fixtureJSON = (name: string): unknown => JSON.parse(fixture(name));
/** The lines of an .ndjson watch fixture. */
export const watchLines = (name: string): string[] => fixture(name).split('\n').filter(Boolean);

export type Resource = 'pods' | 'namespaces' | 'nodes' | 'services' | 'endpointslices';
const RESOURCES: readonly string[] = ['pods', 'namespaces', 'nodes', 'services', 'endpointslices'];

export interface Recorded {
  resource: Resource;
  watch: boolean;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  clientCertCN?: string | string[];
}

export interface Reply {
  status?: number;
  /** A LIST body, or the Status of a refused request. */
  body?: unknown;
  /** Watch: lines written at once; the stream then stays open unless `end` is set. */
  lines?: string[];
  end?: boolean;
}

export class ApiReplay {
  readonly requests: Recorded[] = [];
  private readonly lists = new Map<Resource, Reply[]>();
  private readonly watches = new Map<Resource, Reply[]>();
  private readonly open = new Map<Resource, ServerResponse[]>();
  private waiters: { match: (r: Recorded) => boolean; resolve: (r: Recorded) => void }[] = [];
  private server: Server | undefined;
  port = 0;

  constructor(private readonly tls?: ServerOptions) {}

  /** Queues LIST replies; the last one is repeated for later lists. */
  onList(resource: Resource, ...replies: Reply[]): this {
    this.lists.set(resource, [...(this.lists.get(resource) ?? []), ...replies]);
    return this;
  }

  /** Queues watch replies, one per WATCH request; when none is left, a watch stays open and silent. */
  onWatch(resource: Resource, ...replies: Reply[]): this {
    this.watches.set(resource, [...(this.watches.get(resource) ?? []), ...replies]);
    return this;
  }

  /** Standard lists for every kind, from the fixtures. */
  withFixtureLists(): this {
    return this.onList('pods', { body: fixtureJSON('podlist.json') })
      .onList('namespaces', { body: fixtureJSON('namespacelist.json') })
      .onList('nodes', { body: fixtureJSON('nodelist.json') })
      .withServiceFixtureLists();
  }

  /** Service and EndpointSlice lists from the fixtures (for tests that queue their own pod lists). */
  withServiceFixtureLists(): this {
    return this.onList('services', { body: fixtureJSON('servicelist.json') }).onList('endpointslices', { body: fixtureJSON('endpointslicelist.json') });
  }

  /** Writes lines to every open watch of `resource`. */
  push(resource: Resource, ...lines: string[]): void {
    for (const res of this.open.get(resource) ?? []) for (const l of lines) res.write(`${l}\n`);
  }

  /** Ends every open watch of `resource`, as the server does at timeoutSeconds. */
  endWatches(resource: Resource): void {
    for (const res of this.open.get(resource) ?? []) res.end();
    this.open.set(resource, []);
  }

  /** The next request (already made or still to come) that matches. */
  waitFor(match: (r: Recorded) => boolean, after = 0): Promise<Recorded> {
    const seen = this.requests.slice(after).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  watchesOf(resource: Resource): Recorded[] {
    return this.requests.filter((r) => r.resource === resource && r.watch);
  }

  listsOf(resource: Resource): Recorded[] {
    return this.requests.filter((r) => r.resource === resource && !r.watch);
  }

  get url(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  async listen(port = 0): Promise<string> {
    const handler = this.handle.bind(this);
    const server = (this.server = this.tls ? createHttpsServer(this.tls, handler) : createHttpServer(handler));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    return this.url;
  }

  /** Stops answering and drops every connection, open watches included. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const list of this.open.values()) list.forEach((res) => res.destroy());
    this.open.clear();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(req: import('node:http').IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const resource = url.pathname.replace('/api/v1/', '').replace('/apis/discovery.k8s.io/v1/', '') as Resource;
    const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    const cert = (req.socket as TLSSocket).getPeerCertificate?.();
    const recorded: Recorded = {
      resource,
      watch,
      query: url.searchParams,
      headers: req.headers,
      ...(cert && cert.subject ? { clientCertCN: cert.subject.CN } : {}),
    };
    this.requests.push(recorded);
    this.waiters = this.waiters.filter((w) => (w.match(recorded) ? (w.resolve(recorded), false) : true));

    if (!RESOURCES.includes(resource)) return void res.writeHead(404).end();
    const json = { 'Content-Type': 'application/json' };
    if (!watch) {
      const queue = this.lists.get(resource) ?? [];
      const reply = queue.length > 1 ? queue.shift()! : queue[0];
      if (!reply) return void res.writeHead(500).end();
      res.writeHead(reply.status ?? 200, json).end(`${JSON.stringify(reply.body)}\n`);
      return;
    }
    const reply = this.watches.get(resource)?.shift() ?? {};
    if (reply.status && reply.status !== 200) {
      res.writeHead(reply.status, json).end(`${JSON.stringify(reply.body)}\n`);
      return;
    }
    res.writeHead(200, { ...json, 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    for (const line of reply.lines ?? []) res.write(`${line}\n`);
    if (reply.end) return void res.end();
    const open = this.open.get(resource) ?? [];
    open.push(res);
    this.open.set(resource, open);
    res.on('close', () => this.open.set(resource, (this.open.get(resource) ?? []).filter((r) => r !== res)));
  }
}
