// One controller connection per seine-controller config node, shared by every node that uses it:
// a REST client on a keep-alive pool of its own, the connection state the nodes show
// (connected / unreachable), and polling loops ("watches") that back off while the controller
// is unreachable and pick up again when it answers. close() ends every loop and socket.
import { EventEmitter } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import { RestClient } from '../../src/controller/client/rest-client.js';
import { Backoff } from '../../src/lib/backoff.js';
import { errorMessage } from '../../src/lib/errors.js';

export interface ConnectionSettings {
  url: string;
  token?: string | undefined;
  /** PEM text of the CA that signed the controller's certificate (https). */
  ca?: string | undefined;
  timeoutMs?: number;
}

export type ConnectionState = 'unknown' | 'connected' | 'unreachable';

/** What is wrong with a controller URL, or undefined when it is usable. */
export function urlProblem(url: string | undefined): string | undefined {
  if (!url || !url.trim()) return 'url: required (e.g. https://127.0.0.1:8443)';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `url: not a URL: ${JSON.stringify(url)}`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `url: expected http:// or https://, got ${JSON.stringify(u.protocol)}`;
  return undefined;
}

/** RestClient's message for a request that never got an HTTP answer. */
const isUnreachable = (err: unknown) => /^cannot reach /.test(errorMessage(err));

export interface Watch {
  stop(): void;
}

export class ControllerConnection extends EventEmitter {
  state: ConnectionState = 'unknown';
  lastError?: string;
  private readonly agent: http.Agent;
  private readonly client: RestClient;
  private readonly watches = new Set<{ stop(): void }>();
  private closed = false;

  constructor(readonly settings: ConnectionSettings) {
    super();
    const problem = urlProblem(settings.url);
    if (problem) throw new Error(problem);
    const secure = settings.url.startsWith('https:');
    this.agent = secure ? new https.Agent({ keepAlive: true, maxSockets: 8 }) : new http.Agent({ keepAlive: true, maxSockets: 8 });
    this.client = new RestClient(settings.url, {
      token: settings.token || undefined,
      ca: settings.ca ? Buffer.from(settings.ca) : undefined,
      timeoutMs: settings.timeoutMs ?? 10_000,
      agent: this.agent,
    });
  }

  async request<T>(method: string, path: string, body?: string): Promise<T> {
    if (this.closed) throw new Error('the seine-controller config node was closed (redeployed)');
    try {
      const r = await this.client.request<T>(method, path, body);
      this.setState('connected');
      return r;
    } catch (err) {
      if (isUnreachable(err)) this.setState('unreachable', errorMessage(err));
      else this.setState('connected'); // the controller answered, with an error
      throw err;
    }
  }

  /**
   * Runs `tick` now and then every `intervalMs` until stopped; after a failure (`onError` is
   * told) the next run waits longer, up to 30 s, and returns to the interval on the next success.
   */
  watch(intervalMs: number, tick: () => Promise<void>, onError: (err: unknown) => void): Watch {
    const backoff = new Backoff({ initialMs: Math.max(intervalMs, 500), maxMs: 30_000 });
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const run = async () => {
      timer = undefined;
      let delay = intervalMs;
      try {
        await tick();
        backoff.reset();
      } catch (err) {
        if (stopped) return;
        onError(err);
        delay = backoff.next();
      }
      if (!stopped) timer = setTimeout(() => void run(), delay);
    };
    const handle = {
      stop: () => {
        stopped = true;
        if (timer) clearTimeout(timer);
        timer = undefined;
        this.watches.delete(handle);
      },
    };
    this.watches.add(handle);
    timer = setTimeout(() => void run(), 0);
    return handle;
  }

  /** Open loops and sockets: all zero after close() (what the leak tests check). */
  resources(): { watches: number; sockets: number } {
    // destroy() ends sockets at once; they leave the pool's lists on their 'close' event.
    const count = (m: NodeJS.ReadOnlyDict<{ destroyed: boolean }[]>) => Object.values(m).reduce((n, l) => n + (l?.filter((s) => !s.destroyed).length ?? 0), 0);
    return { watches: this.watches.size, sockets: count(this.agent.sockets) + count(this.agent.freeSockets) };
  }

  close(): void {
    this.closed = true;
    for (const w of [...this.watches]) w.stop();
    this.agent.destroy();
    this.removeAllListeners();
  }

  private setState(state: ConnectionState, error?: string): void {
    this.lastError = error;
    if (state === this.state) return;
    this.state = state;
    this.emit('state', state, error);
  }
}
