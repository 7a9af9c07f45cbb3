// The inventory in the lab: a JSON `kind: List` of nodes, namespaces and pods that the lab
// rewrites atomically (write a temp file, rename over). A rename replaces the inode, so the
// directory is watched, not the file; a slow stat poll backs fs.watch up (events can be
// dropped, and the watcher dies if the directory is removed and made again).
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { InventoryListSchema } from '../../api/k8s-core.js';
import { errorMessage } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { endpointSliceView, namespaceView, nodeView, podView, serviceView } from './convert.js';
import type { InventorySource } from './types.js';
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
    this.store.replace('Node', list.nodes.map(nodeView));
    this.store.replace('Namespace', list.namespaces.map(namespaceView));
    this.store.replace('Pod', list.pods.map(podView));
    this.store.replace('Service', list.services.map(serviceView));
    this.store.replace('EndpointSlice', list.endpointSlices.map(endpointSliceView));
    this.markSynced();
  }
}

/** The file's objects by kind, or one line saying what is wrong with it. */
function parse(text: string) {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${errorMessage(err)}`;
  }
  const list = InventoryListSchema.safeParse(raw);
  if (!list.success) return describeZodError(list.error);
  const items = list.data.items;
  return {
    nodes: items.flatMap((i) => (i.kind === 'Node' ? [i] : [])),
    namespaces: items.flatMap((i) => (i.kind === 'Namespace' ? [i] : [])),
    pods: items.flatMap((i) => (i.kind === 'Pod' ? [i] : [])),
    services: items.flatMap((i) => (i.kind === 'Service' ? [i] : [])),
    endpointSlices: items.flatMap((i) => (i.kind === 'EndpointSlice' ? [i] : [])),
  };
}
