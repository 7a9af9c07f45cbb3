// Runs benches one after the other and prints each bench's rows as soon as it ends (a table, or
// one JSON line per row), so a later failure or hang loses nothing. A bench that throws, or whose
// overall deadline passes, becomes one row carrying its error and the runner goes on.
import {
  DEFAULT_BENCH_DEADLINE_MS, checkRow, errorResult, formatTable, loadAverage, setBenchSignal, toResult,
  type Bench, type BenchResult,
} from './harness.js';

export interface RunnerOptions {
  json: boolean;
  /** Where rows go (stdout in run.ts). */
  out: (text: string) => void;
  /** Progress lines (stderr in run.ts). */
  progress: (text: string) => void;
  /** Overrides every bench's own deadline (SEINE_BENCH_DEADLINE_S). */
  deadlineMs?: number;
  /** How long a bench whose deadline passed gets to unwind (stop what it started) before the runner moves on. */
  graceMs?: number;
}

export interface RunSummary {
  results: BenchResult[];
  failed: string[];
  /** Benches that had not even finished their cleanup when the runner moved on. */
  abandoned: string[];
}

/** `load` is either a bench or the reason it could not be loaded (its module failed to import). */
export type BenchSource = { name: string; load: () => Promise<Bench> };

export async function runBenches(sources: BenchSource[], opts: RunnerOptions): Promise<RunSummary> {
  const summary: RunSummary = { results: [], failed: [], abandoned: [] };
  for (const source of sources) {
    opts.progress(`bench: ${source.name} …`);
    const { results, abandoned } = await runOne(source, opts);
    summary.results.push(...results);
    if (results.some((r) => r.error)) summary.failed.push(source.name);
    if (abandoned) summary.abandoned.push(source.name);
    opts.out(opts.json ? results.map((r) => JSON.stringify(r)).join('\n') : `\n${formatTable(results)}\n`);
  }
  if (!opts.json && sources.length > 1) opts.out(`\nall benches:\n${formatTable(summary.results)}\n`);
  opts.progress(`bench: ${sources.length} run, ${summary.failed.length} failed${summary.failed.length ? ` (${summary.failed.join(', ')})` : ''}`);
  return summary;
}

async function runOne(source: BenchSource, opts: RunnerOptions): Promise<{ results: BenchResult[]; abandoned: boolean }> {
  const start = loadAverage();
  const t0 = performance.now();
  const done = (make: (load: BenchResult['load'], ms: number) => BenchResult[]) => make({ start, end: loadAverage() }, performance.now() - t0);
  let bench: Bench;
  try {
    bench = await source.load();
  } catch (err) {
    return { results: done((load, ms) => [errorResult(source.name, err, load, ms)]), abandoned: false };
  }
  const deadlineMs = opts.deadlineMs ?? bench.deadlineMs ?? DEFAULT_BENCH_DEADLINE_MS;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(`${bench.name} exceeded its ${deadlineMs >= 1000 ? `${Math.round(deadlineMs / 1000)} s` : `${deadlineMs} ms`} deadline`), deadlineMs);
  setBenchSignal(abort.signal);
  const running = Promise.resolve().then(() => bench.run());
  running.catch(() => {}); // settled below; an abandoned bench's late rejection must not crash the runner
  try {
    const outcome = await Promise.race([
      running.then((rows) => ({ rows }), (err: unknown) => ({ err })),
      new Promise<{ deadline: true }>((r) => abort.signal.addEventListener('abort', () => r({ deadline: true }), { once: true })),
    ]);
    if ('rows' in outcome) {
      for (const row of outcome.rows) checkRow(row);
      return { results: done((load, ms) => outcome.rows.map((row) => toResult(bench.name, row, load, ms))), abandoned: false };
    }
    if ('err' in outcome) return { results: done((load, ms) => [errorResult(bench.name, outcome.err, load, ms)]), abandoned: false };
    // The deadline passed: every withDeadline() in the bench has rejected; give it time to clean up.
    const reason = String(abort.signal.reason);
    const settled = await Promise.race([running.then(() => true, () => true), new Promise<false>((r) => setTimeout(() => r(false), opts.graceMs ?? 60_000))]);
    if (!settled) opts.progress(`bench: ${bench.name} did not finish its cleanup within the grace period; moving on`);
    return { results: done((load, ms) => [errorResult(bench.name, new Error(reason), load, ms)]), abandoned: !settled };
  } catch (err) {
    return { results: done((load, ms) => [errorResult(bench.name, err, load, ms)]), abandoned: false };
  } finally {
    clearTimeout(timer);
    setBenchSignal(undefined);
  }
}
