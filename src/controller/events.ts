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

export class RecentEvents {
  private readonly items: NodeEvent[] = [];
  /** Events pushed out by the bound since start. */
  evicted = 0;

  constructor(readonly capacity = 1000) {}

  push(e: NodeEvent): void {
    this.items.push(e);
    const over = this.items.length - this.capacity;
    if (over > 0) {
      this.items.splice(0, over);
      this.evicted += over;
    }
  }

  list(f: EventFilter = {}): NodeEvent[] {
    const out = this.items.filter((e) => (!f.node || e.node === f.node) && (!f.type || e.type === f.type) && (f.since === undefined || e.ts > f.since));
    return f.limit !== undefined ? out.slice(-f.limit) : out;
  }
}
