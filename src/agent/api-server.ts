// The agent's small HTTP API (Antrea's agent API port is 10350): Prometheus /metrics, the box's
// flows (/flows, the same filters as `seinectl flows`) and /healthz. Read-only; bind it to an
// address only trusted networks reach.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { splitListen } from '../controller/broker/embedded.js';
import { createLogger } from '../lib/log.js';
import { flowQueryFromParams } from './flows/print.js';
import type { FlowStore } from './flows/store.js';

const log = createLogger('agent.api');

export class AgentApiServer {
  private server?: http.Server;
  url = '';

  constructor(private readonly o: { registry: Registry; store?: FlowStore }) {}

  async start(listen: string): Promise<void> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    const { host, port } = splitListen(listen);
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host || undefined, () => resolve()));
    this.server = server;
    this.url = `http://${host && host !== '0.0.0.0' ? host : '127.0.0.1'}:${(server.address() as AddressInfo).port}`;
    log.info({ url: this.url }, 'agent API listening');
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent');
    const send = (code: number, type: string, body: string): void => void res.writeHead(code, { 'content-type': type }).end(body);
    try {
      if (req.method !== 'GET') return send(405, 'text/plain', 'only GET\n');
      if (url.pathname === '/healthz') return send(200, 'text/plain', 'ok\n');
      if (url.pathname === '/metrics') return send(200, this.o.registry.contentType, await this.o.registry.metrics());
      if (url.pathname === '/flows') {
        if (!this.o.store) return send(404, 'text/plain', 'the flow exporter is disabled on this agent\n');
        const q = flowQueryFromParams(url.searchParams);
        for (const k of ['since', 'until', 'limit'] as const) {
          if (q[k] !== undefined && !Number.isFinite(q[k])) return send(400, 'text/plain', `${k}: expected a number\n`);
        }
        const rollup = url.searchParams.get('rollup') ?? undefined;
        if (rollup !== undefined && rollup !== 'minute' && rollup !== 'hour') return send(400, 'text/plain', 'rollup: expected minute or hour\n');
        const body = rollup ? { rollup: await this.o.store.rollup(rollup, q) } : { records: await this.o.store.query(q) };
        return send(200, 'application/json', JSON.stringify(body));
      }
      send(404, 'text/plain', 'not found\n');
    } catch (err) {
      log.warn({ err, url: req.url }, 'agent API request failed');
      send(500, 'text/plain', `${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
}
