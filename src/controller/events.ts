// The most recent node events (policy-log lines, alerts) and the controller's own (rollouts), newest last, bounded in memory. The
// durable record stays on the box (np.log, rotated); this is the fleet-wide live view that
// REST, seinectl and Node-RED read.
import type { EventEnvelope } from '../api/mqtt.js';

export interface NodeEvent extends Readonly<EventEnvelope['payload']> {
  /** The node concerned; '' for the controller's own fleet-wide events (a rollout's phase). */
  node: string;
  /** Milliseconds since the epoch, from the node's envelope. */
  ts: number;
}

export interface EventFilter {
  node?: string;
  type?: string;
  /** Only events newer than this (ms since the epoch). */
  since?: number;
  limit?: number;
}

/**
 * The ring is shared fairly: when it is full, the oldest event of the node holding the most
 * goes (the oldest overall among equals). One noisy box so evicts its own events, never the
 * last ones of quieter boxes; alone, a node may use the whole ring.
 */
export class RecentEvents {
  private readonly items: NodeEvent[] = [];
  /** Events held per node ('' for the controller's own). */
  private readonly held = new Map<string, number>();
  /** Events pushed out by the bound since start. */
  evicted = 0;

  constructor(readonly capacity = 1000) {}

  push(e: NodeEvent): void {
    this.items.push(e);
    this.held.set(e.node, (this.held.get(e.node) ?? 0) + 1);
    while (this.items.length > this.capacity) this.evictOne();
  }

  private evictOne(): void {
    let most = 0;
    for (const n of this.held.values()) most = Math.max(most, n);
    const i = this.items.findIndex((x) => this.held.get(x.node) === most);
    const [gone] = this.items.splice(i, 1);
    const left = this.held.get(gone!.node)! - 1;
    if (left) this.held.set(gone!.node, left);
    else this.held.delete(gone!.node);
    this.evicted++;
  }

  list(f: EventFilter = {}): NodeEvent[] {
    const out = this.items.filter((e) => (!f.node || e.node === f.node) && (!f.type || e.type === f.type) && (f.since === undefined || e.ts > f.since));
    return f.limit !== undefined ? out.slice(-f.limit) : out;
  }
}
