// List-then-watch for one resource, the loop client-go calls a Reflector: LIST (paged),
// WATCH from the list's resourceVersion, follow bookmarks, re-watch when the server ends
// the stream, relist on 410 Gone (and a too-large version), back off on anything else. The handlers receive
// validated objects; what they mean is the caller's business.
import { z } from 'zod';
import { BookmarkObjectSchema, StatusSchema, WatchEventSchema, listSchema } from '../../api/k8s-core.js';
import { Backoff, type BackoffOptions } from '../../lib/backoff.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { KubeApiError, needsRelist, type KubeClient, type Query } from './kube-client.js';
import { describeZodError } from '../../api/issues.js';

export interface ReflectorHandlers<T> {
  /** The complete state after a (re)list; `refused`: the raw objects that failed the schema. */
  replace(items: T[], refused: unknown[]): void;
  upsert(item: T): void;
  remove(item: T): void;
  /** An object that failed the schema (`problem` names the field); `deleted`: it came in a DELETED event. */
  refused?(raw: unknown, problem: string, deleted: boolean): void;
}

export interface ReflectorOptions<T> {
  /** Collection path, e.g. /api/v1/pods. */
  path: string;
  schema: z.ZodType<T>;
  fieldSelector?: string;
  /** The server ends each watch after this long; each watch asks for between this and twice it. */
  watchTimeoutSeconds: number;
  pageSize: number;
  backoff?: BackoffOptions;
  log: Logger;
}

// Items are checked one by one: one malformed object is skipped, not the whole list.
const ListEnvelopeSchema = listSchema(z.unknown());

/** A watch that ends this fast without a single event is a failure, not a timeout (as in client-go). */
const SHORT_WATCH_MS = 1000;

export class Reflector<T> {
  /** Where the next watch starts: the last list's, event's or bookmark's resourceVersion. */
  resourceVersion: string | undefined;
  private readonly backoff: Backoff;

  constructor(
    private readonly client: KubeClient,
    private readonly options: ReflectorOptions<T>,
    private readonly handlers: ReflectorHandlers<T>,
  ) {
    // Slower than the library default: the API server is remote, and a fleet of boxes retries at it.
    this.backoff = new Backoff({ initialMs: 500, maxMs: 30_000, jitter: 0.5, ...options.backoff });
  }

  /** Runs until `signal` aborts; never rejects. */
  async run(signal: AbortSignal): Promise<void> {
    const { log } = this.options;
    let needList = true;
    let failures = 0;
    const recovered = () => {
      if (failures > 0) log.info({ failures }, 'API server reachable again');
      failures = 0;
      this.backoff.reset();
    };
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.list(signal);
          needList = false;
          recovered();
        }
        await this.watch(signal, recovered);
      } catch (err) {
        if (signal.aborted) break;
        if (needsRelist(err)) {
          log.info({ resourceVersion: this.resourceVersion, reason: errorMessage(err) }, 'cannot watch from this resource version; listing again');
          needList = true;
          continue;
        }
        const delayMs = this.backoff.next();
        failures++;
        // A box can be cut off from its API server for hours: say so at the start, then now and then.
        const level = failures === 1 || failures % 20 === 0 ? 'warn' : 'debug';
        log[level]({ err: errorMessage(err), delayMs, failures, phase: needList ? 'list' : 'watch' }, 'API request failed; retrying');
        await sleepUnlessAborted(delayMs, signal);
      }
    }
  }

  private async list(signal: AbortSignal): Promise<void> {
    const { path, schema, fieldSelector, pageSize, log } = this.options;
    const items: T[] = [];
    const refused: unknown[] = [];
    let next: string | undefined;
    let resourceVersion: string;
    do {
      // No resourceVersion: a consistent read from etcd, so a relist never goes back in time.
      // An expired continue token answers 410, and the whole list starts over.
      const body = await this.client.getJSON(path, { limit: pageSize, continue: next, fieldSelector }, signal);
      const page = ListEnvelopeSchema.safeParse(body);
      if (!page.success) throw new Error(`list ${path}: ${describeZodError(page.error)}`);
      page.data.items.forEach((raw, i) => {
        const item = schema.safeParse(raw);
        if (item.success) {
          items.push(item.data);
        } else {
          const problem = describeZodError(item.error);
          refused.push(raw);
          if (this.handlers.refused) this.handlers.refused(raw, problem, false);
          else log.warn({ problem }, `list ${path}: skipping invalid items[${i}]`);
        }
      });
      next = page.data.metadata.continue || undefined;
      resourceVersion = page.data.metadata.resourceVersion;
    } while (next);
    this.resourceVersion = resourceVersion;
    log.info({ count: items.length, resourceVersion }, `listed ${path}`);
    this.handlers.replace(items, refused);
  }

  /** `healthy` is called once the stream proves good: a first valid event, or a full-length quiet watch. */
  private async watch(signal: AbortSignal, healthy: () => void): Promise<void> {
    const { path, fieldSelector, watchTimeoutSeconds } = this.options;
    const timeoutSeconds = Math.round(watchTimeoutSeconds * (1 + Math.random()));
    const query: Query = {
      allowWatchBookmarks: true,
      resourceVersion: this.resourceVersion,
      timeoutSeconds,
      fieldSelector,
    };
    const started = Date.now();
    let events = 0;
    const onEvent = (raw: unknown) => {
      this.apply(raw);
      if (events++ === 0) healthy();
    };
    // A silent but healthy watch still ends at timeoutSeconds; allow that plus a margin.
    await this.client.watch(path, query, onEvent, signal, (timeoutSeconds + 30) * 1000);
    if (events > 0) return;
    if (Date.now() - started < SHORT_WATCH_MS) throw new Error(`watch ${path} ended at once without events`);
    healthy();
  }

  /** Throws on an ERROR event, which ends the watch (a 410 there means: list again). */
  private apply(raw: unknown): void {
    const { path, schema, log } = this.options;
    const event = WatchEventSchema.safeParse(raw);
    if (!event.success) throw new Error(`watch ${path}: bad event: ${describeZodError(event.error)}`);
    const { type, object } = event.data;
    if (type === 'ERROR') {
      const status = StatusSchema.safeParse(object);
      const s = status.success ? status.data : undefined;
      throw new KubeApiError(s?.code ?? 500, s?.reason, `watch ${path}: ERROR event: ${s?.message ?? JSON.stringify(object)}`);
    }
    if (type === 'BOOKMARK') {
      const bookmark = BookmarkObjectSchema.safeParse(object);
      if (bookmark.success) this.resourceVersion = bookmark.data.metadata.resourceVersion;
      return;
    }
    const item = schema.safeParse(object);
    if (!item.success) {
      const problem = describeZodError(item.error);
      if (this.handlers.refused) this.handlers.refused(object, problem, type === 'DELETED');
      else log.warn({ problem, type }, `watch ${path}: skipping invalid object`);
    } else if (type === 'DELETED') {
      this.handlers.remove(item.data);
    } else {
      this.handlers.upsert(item.data);
    }
    // Even a skipped object moves the stream on, so a re-watch does not replay it.
    const rv = (object as { metadata?: { resourceVersion?: unknown } }).metadata?.resourceVersion;
    if (typeof rv === 'string' && rv) this.resourceVersion = rv;
  }
}

/** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
