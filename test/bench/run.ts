// `npm run bench`: runs every test/bench/*.bench.ts (or those named on the command line)
// and prints one table.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatTable, type Bench, type BenchRow } from './harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = (await readdir(here)).filter((f) => f.endsWith('.bench.ts')).sort();
const rows: BenchRow[] = [];
for (const file of files) {
  const { bench } = (await import(path.join(here, file))) as { bench: Bench };
  if (only.length && !only.includes(bench.name)) continue;
  process.stderr.write(`bench: ${bench.name} …\n`);
  rows.push(...(await bench.run()));
}
console.log(formatTable(rows));
