// With SEINE_PHASE_LOG=1 the lab's controller and agents log one `phases` line per span
// (src/lib/phases.ts); the sync-lab and traceflow benches then read those lines back and print,
// on stderr, where each round's time went: per path the p50/p99 of every phase, and the
// round's timeline — when each step was reached, in ms after the bench sent its request — so
// the gaps between processes (broker hops, event-loop waits, the poll) show too.
import { readFile } from 'node:fs/promises';
import { controllerFiles } from '../../src/lab/controller-process.js';
import { agentFiles } from '../../src/lab/agent-process.js';
import type { LabState } from '../../src/lab/state.js';
import { percentile } from './harness.js';

export const phaseLogOn = process.env.SEINE_PHASE_LOG === '1';

export interface SpanLine {
  path: string;
  /** Wall-clock ms (epoch, sub-ms) the span began and ended. */
  at: number;
  end: number;
  phases: Record<string, number>;
  totalMs: number;
  /** Which log it came from (controller, box1 …). */
  source: string;
  [field: string]: unknown;
}

/** A round as the bench saw it: its request sent at t0, its outcome seen at t1 (wall-clock ms). */
export interface Round {
  t0: number;
  t1: number;
}

export async function readSpans(state: LabState, labDir: string): Promise<SpanLine[]> {
  const files: [string, string][] = [['controller', controllerFiles(labDir).log], ...state.boxes.map((b): [string, string] => [b.name, agentFiles(b).log])];
  const out: SpanLine[] = [];
  for (const [source, file] of files) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      if (!line.includes('"msg":"phases"')) continue;
      try {
        out.push({ ...(JSON.parse(line) as SpanLine), source });
      } catch {
        // a torn last line
      }
    }
  }
  return out.sort((a, b) => a.at - b.at);
}

const fmt = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '-' : n >= 100 ? n.toFixed(0) : n.toFixed(1));

/** p50 / p99 / n of each phase of each path, for spans inside the rounds. */
export function phaseTable(spans: SpanLine[], rounds: Round[]): string {
  const inRounds = spans.filter((s) => rounds.some((r) => s.at >= r.t0 && s.at <= r.t1));
  const byPath = new Map<string, Map<string, number[]>>();
  for (const s of inRounds) {
    const key = `${s.path}${s.source === 'controller' ? '' : ' (boxes)'}`;
    let m = byPath.get(key);
    if (!m) byPath.set(key, (m = new Map()));
    for (const [phase, ms] of [...Object.entries(s.phases), ['total', s.totalMs] as const]) {
      if (!m.has(phase)) m.set(phase, []);
      m.get(phase)!.push(ms);
    }
  }
  const lines = ['path / phase: p50 / p99 ms (n)'];
  for (const [p, m] of [...byPath].sort(([a], [b]) => (a < b ? -1 : 1))) {
    lines.push(`  ${p}`);
    for (const [phase, v] of m) lines.push(`    ${phase.padEnd(14)} ${fmt(percentile(v, 50)).padStart(7)} / ${fmt(percentile(v, 99)).padStart(7)}  (${v.length})`);
  }
  return lines.join('\n');
}

/**
 * Each round's timeline from the marks `marks(round, spans of the round)` returns (name → wall
 * ms, undefined when missing), as p50 / p99 of the ms after t0, in the order given.
 */
export function timelineTable(spans: SpanLine[], rounds: Round[], marks: (r: Round, spans: SpanLine[]) => [string, number | undefined][]): string {
  const byMark = new Map<string, number[]>();
  for (const r of rounds) {
    const own = spans.filter((s) => s.at >= r.t0 && s.at <= r.t1);
    for (const [name, at] of [...marks(r, own), ['bench saw the outcome', r.t1] as [string, number]]) {
      if (!byMark.has(name)) byMark.set(name, []);
      if (at !== undefined) byMark.get(name)!.push(at - r.t0);
    }
  }
  const lines = ['timeline: ms after the request was sent, p50 / p99 (rounds)'];
  for (const [name, v] of byMark) lines.push(`  ${name.padEnd(44)} ${fmt(v.length ? percentile(v, 50) : undefined).padStart(7)} / ${fmt(v.length ? percentile(v, 99) : undefined).padStart(7)}  (${v.length})`);
  return lines.join('\n');
}

/** The end of a span's phases up to and including `phase` (wall ms). */
export function after(s: SpanLine | undefined, phase: string): number | undefined {
  if (!s) return undefined;
  let t = s.at;
  for (const [p, ms] of Object.entries(s.phases)) {
    t += ms;
    if (p === phase) return t;
  }
  return undefined;
}

/** The latest of some marks (the slowest box), undefined when any is missing. */
export function latest(values: (number | undefined)[]): number | undefined {
  return values.length && values.every((v) => v !== undefined) ? Math.max(...(values as number[])) : undefined;
}

