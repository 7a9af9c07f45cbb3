// The flows bench's kernel-conntrack rows: a scratch network namespace, the measuring process
// started inside it (flows-kernel-child.ts: 10k real kernel conntrack entries, the source's
// ctnetlink dump against a raw `conntrack -L` process in the same namespace and run, and whole
// exporter polls), and its numbers as rows.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { run } from '../../src/lib/exec.js';
import type { BenchRow } from './harness.js';

export const KERNEL_CONNECTIONS = 10_000;

interface ChildResult { dumpMs: number; dumpCpuMs: number; steadyCpuMs: number; rawMs: number; decodeMs: number; firstPollMs: number; steadyPollMs: number; firstPhases: unknown; steadyPhases: unknown }

export async function kernelPoll(tmp: string): Promise<BenchRow[]> {
  const netns = `seine-flowk-${process.pid}`;
  await run('ip', ['netns', 'add', netns]);
  try {
    // Entries keep ct labels (OVS sets them on a box) only once something in the namespace uses them.
    await run('ip', ['netns', 'exec', netns, 'iptables', '-A', 'OUTPUT', '-m', 'connlabel', '--label', '0']);
    const script = path.join(import.meta.dirname, 'flows-kernel-child.ts');
    const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '--import', 'tsx', script, path.join(tmp, 'kernel-flows.db'), String(KERNEL_CONNECTIONS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    if (code !== 0) throw new Error(`kernel poll child exited ${code}: ${out}`);
    const c = JSON.parse(out.trim().split('\n').at(-1)!) as ChildResult;
    process.stderr.write(`bench: flows: kernel decode ${c.decodeMs.toFixed(1)} ms (${((c.decodeMs * 1000) / KERNEL_CONNECTIONS).toFixed(2)} µs/connection); CPU ms dump ${c.dumpCpuMs.toFixed(1)}, steady poll ${c.steadyCpuMs.toFixed(1)}; poll phases ms first ${JSON.stringify(c.firstPhases)} steady ${JSON.stringify(c.steadyPhases)}\n`);
    const k = `${KERNEL_CONNECTIONS / 1000}k`;
    const anchor = { anchor: c.rawMs, anchorLabel: 'a raw conntrack -L -o extended process, same namespace and run', better: 'lower' as const, unit: 'ms' };
    return [
      { metric: `kernel conntrack source dump (ctnetlink + decode), ${k} entries`, seine: c.dumpMs, ...anchor },
      { metric: `one exporter poll, kernel conntrack, ${k} entries (first: all recorded)`, seine: c.firstPollMs, ...anchor, goal: '< 120 ms' },
      { metric: `one exporter poll, kernel conntrack, ${k} entries (steady state)`, seine: c.steadyPollMs, ...anchor, goal: '< 60 ms' },
    ];
  } finally {
    await run('ip', ['netns', 'del', netns], { allowFailure: true });
  }
}
