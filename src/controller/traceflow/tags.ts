// Dataplane tags: 1..63, the values the 6 DSCP bits can carry (0 is untagged traffic). One tag
// per running Traceflow, so concurrent traces never see each other's packets.
export const MAX_TAG = 63;

export class TagAllocator {
  private readonly used = new Set<number>();

  /** The lowest free tag, or undefined when 63 traceflows are running. */
  allocate(): number | undefined {
    for (let t = 1; t <= MAX_TAG; t++) {
      if (!this.used.has(t)) {
        this.used.add(t);
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
