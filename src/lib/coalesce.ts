// Runs an idempotent async job so that calls never overlap and bursts collapse: a call made
// while the job runs gets one follow-up run that starts after it, shared by every caller
// that arrived meanwhile. Each caller's promise settles after a run that began after its call.
export class CoalescingRunner {
  private running?: Promise<void>;
  private pending?: Promise<void>;

  constructor(private readonly job: () => Promise<void>) {}

  run(): Promise<void> {
    if (!this.running) {
      this.running = this.job().finally(() => (this.running = undefined));
      return this.running;
    }
    this.pending ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.pending = undefined;
        return this.run();
      });
    return this.pending;
  }

  /** Resolves when no run is in progress or queued. */
  async idle(): Promise<void> {
    while (this.running || this.pending) await (this.pending ?? this.running)!.catch(() => undefined);
  }
}
