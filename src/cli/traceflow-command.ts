// `seinectl traceflow`: creates a Traceflow from flags, waits for the controller to finish it,
// prints the hops, and deletes it (unless --keep), as antctl traceflow does. Exit status 1 when
// the trace failed (timeout, unknown pod …); a packet that was dropped is a successful trace.
import { Command, Option } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StoredObject } from '../api/controller-api.js';
import { DEFAULT_TRACEFLOW_TIMEOUT_SECONDS, TraceflowSpecSchema, type TraceflowSpec, type TraceflowStatus } from '../api/traceflow.js';
import { describeProblem, formatIssues } from '../api/issues.js';
import { isIP } from 'node:net';
import { randomBytes } from 'node:crypto';
import { resolveKind, resourceUrl, type RestClient } from '../controller/client/rest-client.js';
import { printTraceflow, type TraceflowFormat, type TraceflowView } from '../controller/client/traceflow-print.js';
import { UserError } from '../lib/errors.js';

interface TraceflowFlags {
  source: string;
  destination: string;
  protocol?: 'icmp' | 'tcp' | 'udp';
  port?: string;
  live?: boolean;
  droppedOnly?: boolean;
  timeout?: string;
  output: TraceflowFormat;
  keep?: boolean;
}

const PROTOCOL_NUMBER = { icmp: 1, tcp: 6, udp: 17 } as const;

function podRef(flag: string, v: string): { namespace: string; pod: string } {
  const parts = v.split('/');
  if (parts.length === 1 && parts[0]) return { namespace: 'default', pod: parts[0] };
  if (parts.length === 2 && parts[0] && parts[1]) return { namespace: parts[0], pod: parts[1] };
  throw new UserError(`${flag} ${v}: expected NAMESPACE/POD or POD`);
}

/**
 * The Traceflow spec the flags ask for, checked with the shared schema. `flag` names a field in
 * errors (`--port` here; the Node-RED node says `port`).
 */
export function traceflowSpecFromFlags(f: Omit<TraceflowFlags, 'output' | 'keep'>, flag: (name: string) => string = (n) => `--${n}`): TraceflowSpec {
  const source = podRef(flag('source'), f.source);
  let destination: TraceflowSpec['destination'];
  if (isIP(f.destination)) destination = { ip: f.destination };
  else if (f.destination.startsWith('svc/')) {
    const [, namespace, service] = f.destination.split('/');
    if (!namespace || !service) throw new UserError(`${flag('destination')} ${f.destination}: expected svc/NAMESPACE/NAME`);
    destination = { namespace, service };
  } else destination = podRef(flag('destination'), f.destination);
  const port = f.port === undefined ? undefined : Number(f.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) throw new UserError(`${flag('port')} ${f.port}: expected 1-65535`);
  if (port !== undefined && (f.protocol ?? 'icmp') === 'icmp') throw new UserError(`${flag('port')}: needs ${flag('protocol')} tcp or udp`);
  if (f.droppedOnly && !f.live) throw new UserError(`${flag('dropped-only')}: needs ${flag('live')}`);
  const timeout = f.timeout === undefined ? undefined : Number(f.timeout);
  // Live traffic without --protocol matches any protocol; an injected packet is ICMP by default,
  // except to a Service: the sender's box then sends to the Service's first port.
  const protocol = f.protocol ?? (f.live || destination.service !== undefined ? undefined : 'icmp');
  const transportHeader = !protocol || protocol === 'icmp' ? undefined : { [protocol]: port !== undefined ? { dstPort: port } : {} };
  const spec = {
    source, destination,
    ...(protocol ? { packet: { ipHeader: { protocol: PROTOCOL_NUMBER[protocol] }, ...(transportHeader ? { transportHeader } : {}) } } : {}),
    ...(f.live ? { liveTraffic: true } : {}),
    ...(f.droppedOnly ? { droppedOnly: true } : {}),
    ...(timeout !== undefined ? { timeout } : {}),
  };
  const parsed = TraceflowSpecSchema.safeParse(spec, { reportInput: true });
  if (!parsed.success) throw new UserError(formatIssues(parsed.error.issues, ['spec']).map(describeProblem).join('\n'));
  return parsed.data;
}

const dns = (s: string) => s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');

/** `tf-<source pod>-<destination>-<random>`: unique, readable, a valid object name. */
export function traceflowName(source: string, destination: string): string {
  return `tf-${dns(source.split('/').pop()!)}-${dns(destination.split('/').pop()!)}`.slice(0, 50).replace(/-+$/, '') + `-${randomBytes(3).toString('hex')}`;
}

/**
 * Creates the Traceflow, waits until the controller has finished it (or its timeout + 10 s have
 * passed) and deletes it unless `keep`: what seinectl and the Node-RED node both run.
 */
export async function runTraceflow(c: Pick<RestClient, 'request'>, spec: TraceflowSpec, name: string, opts: { keep?: boolean | undefined; pollMs?: number; signal?: AbortSignal } = {}): Promise<TraceflowView> {
  const manifest = { apiVersion: 'crd.antrea.io/v1beta1', kind: 'Traceflow', metadata: { name }, spec };
  await c.request('POST', '/api/v1/apply', JSON.stringify(manifest));
  const url = resourceUrl(resolveKind('traceflow'), undefined, name);
  const deadline = Date.now() + ((spec.timeout ?? DEFAULT_TRACEFLOW_TIMEOUT_SECONDS) + 10) * 1000;
  let obj: StoredObject;
  for (;;) {
    obj = await c.request<StoredObject>('GET', url);
    if ((obj.status as TraceflowStatus | undefined)?.phase !== 'Running') break;
    if (Date.now() > deadline || opts.signal?.aborted) break;
    await sleep(opts.pollMs ?? 25);
  }
  if (opts.signal?.aborted) {
    await c.request('DELETE', url).catch(() => undefined);
    throw new UserError(`traceflow ${name}: cancelled`);
  }
  if (!opts.keep) await c.request('DELETE', url).catch(() => undefined);
  return { ...obj, spec } as unknown as TraceflowView;
}

export function traceflowCommand(client: () => RestClient): Command {
  return new Command('traceflow')
    .alias('tf')
    .description('trace a packet from a Pod to a Pod, a Service or an IP, hop by hop across boxes (injected, or --live)')
    .requiredOption('--source <ns/pod>', 'source Pod (NAMESPACE/POD)')
    .requiredOption('--destination <dest>', 'NAMESPACE/POD, an IP, or svc/NAMESPACE/NAME (a Service: its ClusterIP, and its first port without --protocol)')
    .addOption(new Option('--protocol <p>', 'protocol of the injected packet (default icmp), or the live filter').choices(['icmp', 'tcp', 'udp']))
    .option('--port <n>', 'destination port (tcp, udp)')
    .option('--timeout <s>', `seconds to wait for the result (default ${DEFAULT_TRACEFLOW_TIMEOUT_SECONDS})`)
    .option('--live', 'trace the source Pod\'s own next matching packet instead of injecting one')
    .option('--dropped-only', 'with --live: report only a packet that gets dropped')
    .option('--keep', 'keep the Traceflow object afterwards (default: delete it)')
    .addOption(new Option('-o, --output <format>', 'table, json, yaml, dot or svg').choices(['table', 'json', 'yaml', 'dot', 'svg']).default('table'))
    .action(async (flags: TraceflowFlags) => {
      const spec = traceflowSpecFromFlags(flags);
      const view = await runTraceflow(client(), spec, traceflowName(flags.source, flags.destination), { keep: flags.keep });
      process.stdout.write(printTraceflow(view, flags.output));
      if (view.status?.phase !== 'Succeeded') process.exitCode = 1;
    });
}
