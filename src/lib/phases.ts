// Where the time of one latency path goes, phase by phase (issue 23): a span is begun where the
// work enters a process and marked as the work leaves each phase. Durations add up in histogram
// buckets kept here, without prom-client (the agent loads it only when /metrics is first
// scraped; metrics.ts shows these buckets from then on). With SEINE_PHASE_LOG=1 each finished
// span is also one log line (`phases`): its phases in ms and the wall-clock time it began, from
// performance.timeOrigin so it is sub-millisecond and comparable across the processes of one
// machine — test/bench/phase-log.ts lines up a lab's controller and agents with it. Off, a span
// costs a few performance.now() calls and bucket increments.
import type { Metric, Registry } from 'prom-client';
import { createLogger } from './log.js';

const log = createLogger('phases');

/** Upper bounds of the buckets, seconds (Prometheus' unit); +Inf is implied. */
export const PHASE_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

/** Read once: a span's log line is decided when it ends, without looking at the environment again. */
const logSpans = process.env.SEINE_PHASE_LOG === '1';

/** The wall-clock time now in ms since the epoch, with the monotonic clock's sub-ms precision. */
export const wallMs = (at = performance.now()): number => performance.timeOrigin + at;

export interface PhaseBuckets {
  /** Cumulative count per bound of PHASE_BUCKETS_SECONDS, then +Inf (= count). */
  readonly cumulative: number[];
  sumSeconds: number;
  count: number;
}

export class PhaseRecorder {
  private readonly byPhase = new Map<string, { counts: number[]; sum: number; n: number }>();

  /** `path` names the latency path (a metric label and the log line's `path`); `now`: the monotonic clock, ms (tests give their own). */
  constructor(readonly path: string, readonly now: () => number = () => performance.now()) {}

  /** Starts a span now; `fields` go into its log line (a generation, a node, a tag). */
  begin(fields: Record<string, unknown> = {}): PhaseSpan {
    return new PhaseSpan(this, fields);
  }

  /** Adds one duration to a phase's buckets. */
  observe(phase: string, ms: number): void {
    let h = this.byPhase.get(phase);
    if (!h) this.byPhase.set(phase, (h = { counts: new Array<number>(PHASE_BUCKETS_SECONDS.length + 1).fill(0), sum: 0, n: 0 }));
    const s = ms / 1000;
    let i = 0;
    while (i < PHASE_BUCKETS_SECONDS.length && s > PHASE_BUCKETS_SECONDS[i]!) i++;
    h.counts[i]!++;
    h.sum += s;
    h.n++;
  }

  /** Every phase seen so far, with Prometheus' cumulative buckets. */
  snapshot(): Map<string, PhaseBuckets> {
    const out = new Map<string, PhaseBuckets>();
    for (const [phase, h] of this.byPhase) {
      let acc = 0;
      out.set(phase, { cumulative: h.counts.map((c) => (acc += c)), sumSeconds: h.sum, count: h.n });
    }
    return out;
  }
}

/** Every recorder of this process, by path (metrics.ts shows them all). */
const recorders = new Map<string, PhaseRecorder>();

/** The process's recorder for a path (made on first use). */
export function phaseRecorder(path: string): PhaseRecorder {
  let r = recorders.get(path);
  if (!r) recorders.set(path, (r = new PhaseRecorder(path)));
  return r;
}

/** Every path's recorder, for /metrics. */
export function phaseRecorders(): readonly PhaseRecorder[] {
  return [...recorders.values()];
}

export class PhaseSpan {
  private readonly t0: number;
  private last: number;
  private readonly phases: Record<string, number> = {};
  private ended = false;

  constructor(private readonly recorder: PhaseRecorder, private readonly fields: Record<string, unknown>) {
    this.t0 = this.last = recorder.now();
  }

  /** The phase that ran since the previous mark (or the begin) ends now; a phase marked twice adds up. */
  mark(phase: string): void {
    const now = this.recorder.now();
    this.phases[phase] = (this.phases[phase] ?? 0) + (now - this.last);
    this.last = now;
  }

  /** Adds fields for the log line (known only along the way). */
  note(fields: Record<string, unknown>): void {
    Object.assign(this.fields, fields);
  }

  /** Records every phase and the span's total (phase `total`); a second end does nothing. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const [phase, ms] of Object.entries(this.phases)) this.recorder.observe(phase, ms);
    const total = this.last - this.t0;
    this.recorder.observe('total', total);
    if (!logSpans) return;
    const round = (ms: number) => Math.round(ms * 1000) / 1000;
    const phases: Record<string, number> = {};
    for (const [phase, ms] of Object.entries(this.phases)) phases[phase] = round(ms);
    log.info({ path: this.recorder.path, at: round(wallMs(this.t0)), end: round(wallMs(this.last)), phases, totalMs: round(total), ...this.fields }, 'phases');
  }
}

/** A value of a metric as prom-client's registry prints it. */
export interface PhaseMetricValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/** Every recorder's buckets as the values of one Prometheus histogram labelled by path and phase. */
export function phaseHistogramValues(name: string, of: readonly PhaseRecorder[] = phaseRecorders()): PhaseMetricValue[] {
  const values: PhaseMetricValue[] = [];
  for (const r of of) {
    for (const [phase, b] of r.snapshot()) {
      const labels = { path: r.path, phase };
      PHASE_BUCKETS_SECONDS.forEach((le, i) => values.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: b.cumulative[i]! }));
      values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: b.count });
      values.push({ metricName: `${name}_sum`, labels, value: b.sumSeconds });
      values.push({ metricName: `${name}_count`, labels, value: b.count });
    }
  }
  return values;
}

/**
 * Registers the process's phase histogram (`name`{path, phase}) in a prom-client registry: a
 * metric object read at scrape time from the recorders, so recording never needs prom-client.
 */
export function registerPhaseHistogram(registry: Registry, name: string, help: string): void {
  const metric = {
    name, help, type: 'histogram', aggregator: 'sum',
    get: async () => ({ name, help, type: 'histogram', aggregator: 'sum', values: phaseHistogramValues(name) }),
    reset: () => undefined,
  };
  // prom-client's Metric type lists its own classes; the registry needs only these members.
  registry.registerMetric(metric as unknown as Metric);
}
