// Calls for one container run one after another (the runtime should not overlap them, but a
// retried ADD racing a DEL must not interleave veth and IPAM steps); different containers run
// in parallel. Antrea's containerAccessArbitrator, as a promise chain per key.
export class ContainerAccess {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(containerId: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(containerId) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = previous.then(() => mine);
    this.tails.set(containerId, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      // Forget the key when nobody queued behind us, so the map does not grow with every pod.
      if (this.tails.get(containerId) === tail) this.tails.delete(containerId);
    }
  }

  /** Containers with a call in progress or queued. */
  get busy(): number {
    return this.tails.size;
  }
}
