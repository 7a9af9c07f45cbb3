// The inventory in the lab: a JSON `kind: List` of nodes, namespaces and pods that the lab
// rewrites atomically (write a temp file, rename over). A rename replaces the inode, so the
// directory is watched, not the file; a slow stat poll backs fs.watch up (events can be
// dropped, and the watcher dies if the directory is removed and made again).
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { z } from 'zod';
import { InventoryItemSchema, type InventoryItem } from '../../api/k8s-core.js';
import { errorMessage } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { endpointSliceView, namespaceView, nodeView, podView, serviceView } from './convert.js';
import { INVENTORY_KINDS, type InventoryKind, type InventorySource } from '../../api/inventory.js';
import { rawObjectKey } from './refusals.js';
import { InventorySourceBase } from './source-base.js';
import { describeZodError } from '../../api/issues.js';

const log = createLogger('inventory');

export interface FileInventoryOptions {
  path: string;
  /** Quiet time after the last file event before reading; default 50 ms. */
  debounceMs?: number;
  /** How often the file is checked regardless of events; default 2000 ms. */
  pollMs?: number;
}

export class FileInventorySource extends InventorySourceBase implements InventorySource {
  private readonly path: string;
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  /** The last text read, valid or not: the same bytes are neither parsed nor reported twice. */
  private lastText: string | undefined;
  private missingLogged = false;
  private reading: Promise<void> = Promise.resolve();
  private running = false;

  constructor(private readonly options: FileInventoryOptions) {
    super();
    this.path = options.path;
  }

  start(): Promise<void> {
    if (this.running) throw new Error('inventory source already started');
    this.running = true;
    const started = this.startPromise();
    log.info({ path: this.path }, 'reading the inventory file');
    this.armWatcher();
    this.poll = setInterval(() => {
      this.armWatcher();
      this.schedule(0);
    }, this.options.pollMs ?? 2000);
    this.schedule(0);
    return started;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearInterval(this.poll);
    clearTimeout(this.debounce);
    this.watcher?.close();
    this.watcher = undefined;
    await this.reading;
    this.abortStart(`inventory source stopped before ${this.path} was read`);
  }

  private armWatcher(): void {
    if (this.watcher || !this.running) return;
    try {
      this.watcher = watch(dirname(this.path), (_event, name) => {
        // Some platforms give no name; then any change in the directory may be ours.
        if (!name || name === basename(this.path)) this.schedule(this.options.debounceMs ?? 50);
      });
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined; // re-armed by the poll
      });
    } catch {
      // The directory does not exist yet; the poll tries again.
    }
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      // Reads run one after another, so an older read never overwrites a newer one.
      this.reading = this.reading.then(() => this.read());
    }, delayMs);
  }

  private async read(): Promise<void> {
    if (!this.running) return;
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if (!this.missingLogged) {
        this.missingLogged = true;
        const what = this.synced ? 'inventory file is gone; keeping the last snapshot' : 'waiting for the inventory file';
        log.warn({ path: this.path, err: errorMessage(err) }, what);
      }
      return;
    }
    this.missingLogged = false;
    if (text === this.lastText || !this.running) return;
    this.lastText = text;
    const list = parse(text);
    if (typeof list === 'string') {
      log.warn({ path: this.path, problem: list }, 'invalid inventory file; keeping the last good snapshot');
      return;
    }
    // One bad object is refused alone (its last good view stays); the rest of the file applies.
    const keep: Record<InventoryKind, string[]> = { Node: [], Namespace: [], Pod: [], Service: [], EndpointSlice: [] };
    for (const r of list.refused) {
      if (r.key !== undefined && r.kind) keep[r.kind].push(r.key);
      this.refusals.note(r.kind, r.key, r.problem, this.path);
    }
    const of = <K extends InventoryItem['kind']>(kind: K) => list.items.flatMap((i) => (i.kind === kind ? [i as Extract<InventoryItem, { kind: K }>] : []));
    this.store.replace('Node', of('Node').map(nodeView), keep.Node);
    this.store.replace('Namespace', of('Namespace').map(namespaceView), keep.Namespace);
    this.store.replace('Pod', of('Pod').map(podView), keep.Pod);
    this.store.replace('Service', of('Service').map(serviceView), keep.Service);
    this.store.replace('EndpointSlice', of('EndpointSlice').map(endpointSliceView), keep.EndpointSlice);
    this.markSynced();
  }
}

// Items are checked one by one: one malformed object is refused, not the whole file.
const ListEnvelopeSchema = z.looseObject({ apiVersion: z.literal('v1'), kind: z.literal('List'), items: z.array(z.unknown()) });

interface Refused {
  kind: InventoryKind | undefined;
  key: string | undefined;
  /** `items[3].endpoints[0].addresses[0]: expected …` */
  problem: string;
}

/** The file's valid objects and the refused ones, or one line saying what is wrong with the file itself. */
function parse(text: string): { items: InventoryItem[]; refused: Refused[] } | string {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${errorMessage(err)}`;
  }
  const list = ListEnvelopeSchema.safeParse(raw);
  if (!list.success) return describeZodError(list.error);
  const items: InventoryItem[] = [];
  const refused: Refused[] = [];
  list.data.items.forEach((item, i) => {
    const parsed = InventoryItemSchema.safeParse(item, { reportInput: true });
    if (parsed.success) {
      items.push(parsed.data);
      return;
    }
    const kindText = (item as { kind?: unknown } | null)?.kind;
    const kind = INVENTORY_KINDS.find((k) => k === kindText);
    const problems = parsed.error.issues.map((issue) => ({ ...issue, path: ['items', i, ...issue.path] }));
    refused.push({ kind, key: kind ? rawObjectKey(kind, item) : undefined, problem: describeZodError({ issues: problems }) });
  });
  return { items, refused };
}
