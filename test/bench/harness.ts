// Benchmarks report one row per metric: Seine's number, an anchor, and their ratio. The ratio is
// oriented so that higher is better for Seine (anchor/seine for times and sizes, seine/anchor for
// rates). An anchor is either measured in the same run ('same-run', the default) or a number
// someone published ('published': the row names its source, and nothing calls it measured here).
import os from 'node:os';

export type AnchorKind = 'same-run' | 'published';

export interface BenchRow {
  metric: string;
  unit: string;
  seine: number;
  anchor: number;
  /** What the anchor is, e.g. "raw ovs-ofctl --bundle". */
  anchorLabel: string;
  /** Default 'same-run'. A 'published' anchor must name its `anchorSource`. */
  anchorKind?: AnchorKind;
  /** Where a published anchor comes from (e.g. "antrea PR #2333"). */
  anchorSource?: string;
  /** 'lower' for times and memory, 'higher' for throughput. */
  better: 'lower' | 'higher';
  goal?: string;
}

export interface Bench {
  name: string;
  /** The whole bench's deadline (default DEFAULT_BENCH_DEADLINE_MS); past it the bench's row fails. */
  deadlineMs?: number;
  run(): Promise<BenchRow[]>;
}

/** What the runner prints for a row: the row, its bench, ratio, anchor kind, and the load around it. */
export interface BenchResult {
  bench: string;
  metric: string;
  unit: string;
  seine: number | null;
  anchor: number | null;
  ratio: number | null;
  anchorLabel: string;
  anchorKind: AnchorKind;
  anchorSource?: string;
  better: 'lower' | 'higher';
  goal?: string;
  /** Set when the bench failed (threw, or a deadline passed): the row carries the reason and no numbers. */
  error?: string;
  /** 1-minute load average when the bench started and when it ended. */
  load: { start: number; end: number };
  durationMs: number;
}

export const DEFAULT_BENCH_DEADLINE_MS = 20 * 60_000;

export function ratio(row: Pick<BenchRow, 'seine' | 'anchor' | 'better'>): number {
  if (row.seine === 0 || row.anchor === 0) return NaN;
  return row.better === 'lower' ? row.anchor / row.seine : row.seine / row.anchor;
}

/** A published anchor without its source, or labelled as if measured, is a bench bug: say so. */
export function checkRow(row: BenchRow): void {
  if (row.anchorKind !== 'published') return;
  if (!row.anchorSource) throw new Error(`row "${row.metric}": a published anchor needs anchorSource`);
  if (!/published/i.test(row.anchorLabel)) throw new Error(`row "${row.metric}": a published anchor's label must say "published"`);
}

const finite = (n: number): number | null => (Number.isFinite(n) ? n : null);

export function toResult(bench: string, row: BenchRow, load: BenchResult['load'], durationMs: number): BenchResult {
  return {
    bench, metric: row.metric, unit: row.unit, seine: finite(row.seine), anchor: finite(row.anchor), ratio: finite(ratio(row)),
    anchorLabel: row.anchorLabel, anchorKind: row.anchorKind ?? 'same-run', ...(row.anchorSource ? { anchorSource: row.anchorSource } : {}),
    better: row.better, ...(row.goal ? { goal: row.goal } : {}), load, durationMs,
  };
}

export function errorResult(bench: string, err: unknown, load: BenchResult['load'], durationMs: number): BenchResult {
  return {
    bench, metric: `${bench}: failed`, unit: '', seine: null, anchor: null, ratio: null, anchorLabel: '', anchorKind: 'same-run',
    better: 'lower', error: err instanceof Error ? err.message : String(err), load, durationMs,
  };
}

export function formatTable(rows: BenchResult[]): string {
  const header = ['metric', 'seine', 'anchor', 'ratio', 'anchor is', 'goal'];
  const fmt = (n: number | null, unit: string) => (n === null ? '-' : `${Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 1 ? n.toFixed(2) : n.toPrecision(3)} ${unit}`);
  const body = rows.map((r) => (r.error
    ? [r.metric, 'FAILED', '', '', r.error, '']
    : [
      r.metric, fmt(r.seine, r.unit), fmt(r.anchor, r.unit), r.ratio === null ? '-' : r.ratio.toFixed(2),
      r.anchorKind === 'published' ? `${r.anchorLabel} [published: ${r.anchorSource}]` : r.anchorLabel, r.goal ?? '',
    ]));
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map(line)].join('\n');
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export async function timeMs<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = process.hrtime.bigint();
  const v = await fn();
  return [Number(process.hrtime.bigint() - t0) / 1e6, v];
}

export const loadAverage = (): number => os.loadavg()[0]!;

// The running bench's abort signal, set by the runner: when the bench's overall deadline passes,
// every pending withDeadline() rejects at once, so the bench unwinds through its `finally`
// blocks (stopping what it started) instead of hanging on in the background.
let benchSignal: AbortSignal | undefined;

export function setBenchSignal(signal: AbortSignal | undefined): void {
  benchSignal = signal;
}

export class DeadlineError extends Error {}

/**
 * `promise`, or a DeadlineError naming `what` after `ms` (or as soon as the running bench's overall
 * deadline passes). The promise itself is not cancelled: whoever started it cleans up in
 * `finally`; what it yields after the deadline (a controller that finished starting late) goes to
 * `onLate`, since that `finally` has already run.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string, opts: { onLate?: (value: T) => unknown } = {}): Promise<T> {
  const signal = benchSignal;
  let late = false;
  if (opts.onLate) {
    const onLate = opts.onLate;
    promise.then((v) => late && Promise.resolve().then(() => onLate(v)).catch(() => {}), () => {});
  }
  return new Promise<T>((resolve, reject) => {
    const fail = (reason: string) => {
      late = true;
      cleanup();
      reject(new DeadlineError(`${what}: ${reason}`));
    };
    const timer = setTimeout(() => fail(`no result within ${ms} ms`), ms);
    const onAbort = () => fail(`bench deadline passed (${String(signal?.reason ?? 'aborted')})`);
    const cleanup = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    promise.then((v) => {
      cleanup();
      resolve(v);
    }, (err: unknown) => {
      cleanup();
      reject(err instanceof Error ? err : new Error(String(err)));
    });
  });
}

/**
 * Calls `check` every `intervalMs` until it returns a value other than undefined/false; fails
 * with `what` and the last value seen (`describe`) after `ms`. Each check is itself bounded by
 * the time left.
 */
export async function pollUntil<T>(what: string, ms: number, check: () => Promise<T | undefined | false> | T | undefined | false, opts: { intervalMs?: number; describe?: () => string } = {}): Promise<T> {
  const end = performance.now() + ms;
  for (;;) {
    const left = end - performance.now();
    // A check cut off by the deadline fails with what the last one saw, as a late one does.
    const v = left > 0 ? await withDeadline(Promise.resolve().then(check), left, what).catch((err: unknown) => {
      if (performance.now() >= end && opts.describe) throw new DeadlineError(`${what}: not within ${ms} ms (last: ${opts.describe()})`);
      throw err;
    }) : undefined;
    if (v !== undefined && v !== false) return v;
    if (performance.now() >= end) throw new DeadlineError(`${what}: not within ${ms} ms${opts.describe ? ` (last: ${opts.describe()})` : ''}`);
    await withDeadline(new Promise((r) => setTimeout(r, Math.min(opts.intervalMs ?? 10, Math.max(0, end - performance.now())))), ms, what);
  }
}

/** Waits for `child` to exit, or fails naming it after `ms`. */
export function childExit(child: { exitCode: number | null; signalCode?: NodeJS.Signals | null; once(ev: 'exit', cb: (code: number | null) => void): unknown }, ms: number, what: string): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode) return Promise.resolve(child.exitCode);
  return withDeadline(new Promise<number | null>((r) => child.once('exit', r)), ms, what);
}
