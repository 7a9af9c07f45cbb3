// Milliseconds since the epoch that never repeat and never go back within one process. The
// controller orders a node's reports by their envelope time (ReportReceiver's stale check, the
// store's reported_ts): two reports made in the same millisecond — a replay's and a realized
// document's, a no-op datapath makes both in well under one — would tie, and with controller
// replicas either could be written last. A burst runs ahead of the wall clock by at most its
// length in ms.
export class StrictClock {
  private last = 0;

  constructor(private readonly now: () => number = Date.now) {}

  next(): number {
    this.last = Math.max(this.now(), this.last + 1);
    return this.last;
  }
}
