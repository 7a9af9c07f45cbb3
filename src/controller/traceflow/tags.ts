// Dataplane tags: 1..63, the values the 6 DSCP bits can carry (0 is untagged traffic). One tag
// per running Traceflow, so concurrent traces never see each other's packets. Handed out round
// robin: a tag freed a moment ago may still have datapath flows cached for it on the boxes.
export const MAX_TAG = 63;

export class TagAllocator {
  private readonly used = new Set<number>();
  private last = 0;

  /** The next free tag after the last one handed out, or undefined when 63 traceflows are running. */
  allocate(): number | undefined {
    for (let i = 1; i <= MAX_TAG; i++) {
      const t = ((this.last + i - 1) % MAX_TAG) + 1;
      if (!this.used.has(t)) {
        this.used.add(t);
        this.last = t;
        return t;
      }
    }
    return undefined;
  }

  release(tag: number): void {
    this.used.delete(tag);
  }

  get inUse(): number {
    return this.used.size;
  }
}
