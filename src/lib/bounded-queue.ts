// Runs async jobs at most `limit` at a time, first come first served. A queued job whose
// caller no longer wants it (`wanted()` false when its turn comes) is skipped, not run: under
// a storm of work that callers give up on (MQTT logins past the client's CONNACK timeout), the
// queue then drains instead of doing work nobody waits for while new arrivals time out too.
export const SKIPPED: unique symbol = Symbol('skipped');

export class BoundedQueue {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  /** Jobs skipped because their caller had gone when their turn came. */
  skipped = 0;

  constructor(private readonly limit: number) {
    if (!(limit >= 1)) throw new Error(`BoundedQueue: limit must be at least 1, got ${limit}`);
  }

  /** Jobs queued, not yet started. */
  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(job: () => Promise<T>, wanted: () => boolean = () => true): Promise<T | typeof SKIPPED> {
    if (this.running >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    else this.running++;
    try {
      if (!wanted()) {
        this.skipped++;
        return SKIPPED;
      }
      return await job();
    } finally {
      // The slot passes straight to the next waiter (running stays the same), or frees.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
