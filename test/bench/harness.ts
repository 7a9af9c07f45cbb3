// Benchmarks report one row per metric: Seine's number, the raw anchor measured in the same
// run, and their ratio. The ratio is oriented so that higher is better for Seine
// (anchor/seine for times and sizes, seine/anchor for rates).
export interface BenchRow {
  metric: string;
  unit: string;
  seine: number;
  anchor: number;
  /** What the anchor is, e.g. "raw ovs-ofctl --bundle". */
  anchorLabel: string;
  /** 'lower' for times and memory, 'higher' for throughput. */
  better: 'lower' | 'higher';
  goal?: string;
}

export interface Bench {
  name: string;
  run(): Promise<BenchRow[]>;
}

export function ratio(row: BenchRow): number {
  if (row.seine === 0 || row.anchor === 0) return NaN;
  return row.better === 'lower' ? row.anchor / row.seine : row.seine / row.anchor;
}

export function formatTable(rows: BenchRow[]): string {
  const header = ['metric', 'seine', 'anchor', 'ratio', 'anchor is', 'goal'];
  const fmt = (n: number) => (Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 1 ? n.toFixed(2) : n.toPrecision(3));
  const body = rows.map((r) => [
    r.metric,
    `${fmt(r.seine)} ${r.unit}`,
    `${fmt(r.anchor)} ${r.unit}`,
    ratio(r).toFixed(2),
    r.anchorLabel,
    r.goal ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join(' | ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map(line)].join('\n');
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export async function timeMs<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = process.hrtime.bigint();
  const v = await fn();
  return [Number(process.hrtime.bigint() - t0) / 1e6, v];
}
