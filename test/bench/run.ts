// `npm run bench [-- NAME… ] [--json]`: runs every test/bench/*.bench.ts (or those named), in
// file order, printing each bench's rows when it ends: a table by default, with --json one JSON
// object per row per line (see docs/testing.md). Exits 1 when any bench failed, 2 on bad usage.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bench } from './harness.js';
import { runBenches, type BenchSource } from './runner.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const json = args.includes('--json');
const unknownFlags = args.filter((a) => a.startsWith('-') && a !== '--json');
const only = args.filter((a) => !a.startsWith('-'));
const names = (await readdir(here)).filter((f) => f.endsWith('.bench.ts')).sort().map((f) => f.slice(0, -'.bench.ts'.length));
const missing = only.filter((n) => !names.includes(n));
if (unknownFlags.length || missing.length) {
  process.stderr.write(`${unknownFlags.length ? `unknown option ${unknownFlags.join(' ')}` : `no bench named ${missing.join(', ')}`}; benches: ${names.join(', ')}; options: --json\n`);
  process.exit(2);
}
const deadlineS = process.env.SEINE_BENCH_DEADLINE_S;
if (deadlineS !== undefined && !(Number(deadlineS) > 0)) {
  process.stderr.write(`SEINE_BENCH_DEADLINE_S must be a positive number of seconds, got "${deadlineS}"\n`);
  process.exit(2);
}
// Seine code running inside this process (simulated agents, in-process controllers) logs at warn
// unless SEINE_LOG_LEVEL says otherwise, so progress and rows stay readable; the logger reads the
// variable once, when first loaded, and processes the benches spawn keep the caller's environment.
const callerLevel = process.env.SEINE_LOG_LEVEL;
process.env.SEINE_LOG_LEVEL = callerLevel ?? 'warn';
await import('../../src/lib/log.js');
if (callerLevel === undefined) delete process.env.SEINE_LOG_LEVEL;
const sources: BenchSource[] = names.filter((n) => !only.length || only.includes(n)).map((name) => ({
  name,
  load: async () => {
    const { bench } = (await import(path.join(here, `${name}.bench.ts`))) as { bench: Bench };
    if (bench?.name !== name) throw new Error(`${name}.bench.ts exports a bench named "${bench?.name}"`);
    return bench;
  },
}));
const summary = await runBenches(sources, {
  json,
  out: (text) => process.stdout.write(`${text}\n`),
  progress: (text) => process.stderr.write(`${text}\n`),
  ...(deadlineS ? { deadlineMs: Number(deadlineS) * 1000 } : {}),
});
// Exit explicitly: a bench abandoned past its deadline may still hold sockets or timers.
process.stdout.write('', () => process.exit(summary.failed.length ? 1 : 0));
