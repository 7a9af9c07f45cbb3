// tshark for the IPFIX tests: a capture on lo, and its cflow decoding as one map per data record.
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { run } from '../../src/lib/exec.js';
import { sleep } from '../../src/lib/process.js';

/** tshark capturing on lo until stopped; resolves once it captures. */
export async function capture(filter: string, file: string): Promise<ChildProcess> {
  const p = spawn('tshark', ['-i', 'lo', '-f', filter, '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    const t = setTimeout(() => reject(new Error(`tshark did not start: ${err}`)), 15_000);
    p.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (/Capturing on/.test(err)) (clearTimeout(t), resolve());
    });
    p.on('exit', (c) => (clearTimeout(t), reject(new Error(`tshark exited ${c}: ${err}`))));
  });
  await sleep(1000); // dumpcap reports before its filter is attached
  return p;
}

/** SIGINT: tshark and nfcapd flush what they hold and exit. */
export async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  await new Promise<void>((r) => {
    p.on('exit', () => r());
    p.kill('SIGINT');
  });
}

/** tshark -V's flows: one map per data record, from element to the value as tshark shows it. */
export async function decodeWithTshark(file: string, decodeAs: string, ...more: string[]): Promise<Map<string, string>[]> {
  const { stdout } = await run('tshark', ['-r', file, '-d', decodeAs, ...more, '-V']);
  if (process.env.DEBUG_TSHARK) process.stderr.write(stdout);
  const flows: Map<string, string>[] = [];
  let cur: Map<string, string> | undefined;
  let last = '';
  for (const line of stdout.split('\n')) {
    if (/^\s+Flow \d+$/.test(line)) flows.push((cur = new Map()));
    else if (cur) {
      const pen = /Enterprise Private entry: \(Project Antrea\) Type (\d+): Value \(hex bytes\): ([0-9a-f ]*)(…?)/.exec(line);
      if (pen) {
        last = pen[1]!;
        cur.set(`antrea:${last}`, pen[2]!.replace(/ /g, ''));
        if (pen[3]) cur.set(`antrea:${last}:truncated`, 'yes'); // tshark shows the first bytes of long values
      }
      const slen = /String_len_(short|long): (\d+)/.exec(line);
      if (slen && last) cur.set(`antrea:${last}:length`, slen[2]!);
      const kv = /^\s{12}(\w[\w ]*): (.*)$/.exec(line);
      if (kv && !pen) {
        const reverse = /\(Reverse Type (\d+)/.exec(kv[2]!);
        cur.set(reverse ? `reverse:${reverse[1]}` : kv[1]!, kv[2]!.replace(/ \(Reverse Type.*$/, ''));
      }
      const time = /^\s{16}(StartTime|EndTime): (.*) UTC$/.exec(line);
      if (time) cur.set(time[1]!, time[2]!);
    }
  }
  return flows;
}

