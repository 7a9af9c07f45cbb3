// tshark for the tests: a capture on lo and its cflow decoding as one map per data record (IPFIX);
// a dumpcap capture inside a network namespace, stopped without losing its tail.
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
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

/** A dumpcap writing every packet of one interface (in a network namespace) to a pcap file. */
export interface NetnsCapture {
  readonly file: string;
  readonly process: ChildProcess;
  /** What dumpcap printed: its packet and drop counts once stopped. */
  stderr(): string;
}

/** Starts dumpcap (tshark's capture engine) on `iface` inside `netns`; resolves once the file has its header. */
export async function captureIn(netns: string, iface: string, file: string): Promise<NetnsCapture> {
  const p = spawn('ip', ['netns', 'exec', netns, 'dumpcap', '-i', iface, '-s', '0', '-P', '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const capture: NetnsCapture = { file, process: p, stderr: () => err };
  // dumpcap writes the header once the interface is open.
  for (const end = Date.now() + 10_000; !(existsSync(file) && statSync(file).size >= 24); await sleep(50)) {
    if (p.exitCode !== null || Date.now() > end) {
      await stop(p);
      throw new Error(`dumpcap on ${netns}/${iface} did not start: ${err.trim()}`);
    }
  }
  return capture;
}

/**
 * Frames of a pcap file that match a display filter. A file dumpcap is still writing may end in
 * half a packet, which tshark reports as an error: `growing` counts what it read anyway.
 */
export async function countFrames(file: string, filter: string, growing = false): Promise<number> {
  const { stdout } = await run('tshark', ['-n', '-r', file, '-Y', filter, '-T', 'fields', '-e', 'frame.number'], { allowFailure: growing });
  return stdout.split('\n').filter(Boolean).length;
}

/**
 * Stops a capture without losing its tail. libpcap takes packets from the kernel a block at a time
 * (TPACKET_V3) and a SIGINT drops the block still filling, so the last packets sent before a stop
 * can be missing. Sends `sentinel` (a packet through the captured interface that `sentinelFilter`
 * matches) until it is in the file, then stops: everything sent before it is in the file too.
 */
export async function stopAfterSentinel(capture: NetnsCapture, sentinel: () => Promise<unknown>, sentinelFilter: string, ms = 15_000): Promise<void> {
  try {
    for (const end = Date.now() + ms; ; await sleep(300)) {
      await sentinel();
      if ((await countFrames(capture.file, sentinelFilter, true)) > 0) return;
      if (Date.now() > end) throw new Error(`the capture of ${capture.file} never showed its sentinel (${sentinelFilter}) within ${ms} ms: ${capture.stderr().trim()}`);
    }
  } finally {
    await stop(capture.process);
  }
}
