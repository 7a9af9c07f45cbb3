// `seinectl query networkpolicyevaluation -S NS/POD -D NS/POD [--port P --protocol TCP]`: asks
// the controller which rule decides a connection (antctl query networkpolicyevaluation), with
// Seine's additions: a port and protocol, and an IP for either end.
import { Command, Option } from 'commander';
import { isIP } from 'node:net';
import { describeProblem, formatIssues } from '../api/issues.js';
import { NPE_API_VERSION, NPE_KIND, NPE_PATH, NetworkPolicyEvaluationSchema, type NetworkPolicyEvaluationResult } from '../api/policy-evaluation.js';
import type { RestClient } from '../controller/client/rest-client.js';
import { printEvaluation, type EvaluationFormat } from '../controller/client/evaluation-print.js';
import { UserError } from '../lib/errors.js';

export interface EvaluationFlags {
  source: string;
  destination: string;
  sourceNode?: string;
  destinationNode?: string;
  protocol?: string;
  port?: string;
  icmpType?: string;
  icmpCode?: string;
}

/** NAMESPACE/POD, POD (namespace default) or an IP address, as an Antrea entity. */
function entity(flag: string, v: string, node: string | undefined): Record<string, unknown> {
  const base = node !== undefined ? { node } : {};
  if (isIP(v)) return { ip: v, ...base };
  const parts = v.split('/');
  if (parts.length === 1 && parts[0]) return { pod: { namespace: 'default', name: parts[0] }, ...base };
  if (parts.length === 2 && parts[0] && parts[1]) return { pod: { namespace: parts[0], name: parts[1] }, ...base };
  throw new UserError(`${flag} ${v}: expected NAMESPACE/POD, POD or an IP address`);
}

const num = (flag: string, v: string | undefined) => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UserError(`${flag} ${v}: expected an integer`);
  return n;
};

/** The NetworkPolicyEvaluation the flags ask for, checked with the controller's schema (errors name the flag's field). */
export function evaluationFromFlags(f: EvaluationFlags): { apiVersion: string; kind: string; request: Record<string, unknown> } {
  const request: Record<string, unknown> = {
    source: entity('--source', f.source, f.sourceNode),
    destination: entity('--destination', f.destination, f.destinationNode),
  };
  if (f.protocol !== undefined) request.protocol = f.protocol.toUpperCase();
  const extra = { port: num('--port', f.port), icmpType: num('--icmp-type', f.icmpType), icmpCode: num('--icmp-code', f.icmpCode) };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) request[k] = v;
  const body = { apiVersion: NPE_API_VERSION, kind: NPE_KIND, request };
  const parsed = NetworkPolicyEvaluationSchema.safeParse(body, { reportInput: true });
  if (!parsed.success) throw new UserError(formatIssues(parsed.error.issues).map(describeProblem).join('\n'));
  return body;
}

export function queryCommand(client: () => RestClient): Command {
  const query = new Command('query').description('ask the controller about policy (networkpolicyevaluation)');
  query
    .command('networkpolicyevaluation')
    .alias('npe')
    .description('which policy rule decides a connection from a source to a destination, and with what effect (Allow, Drop, Reject), computed from the stored policies and the pods the boxes report')
    .requiredOption('-S, --source <src>', 'source: NAMESPACE/POD, POD (namespace default) or an IP address')
    .requiredOption('-D, --destination <dst>', 'destination: NAMESPACE/POD, POD or an IP address')
    .option('--source-node <node>', 'the node of the source pod (pods of the same name on two clusters\' boxes)')
    .option('--destination-node <node>', 'the node of the destination pod')
    .addOption(new Option('--protocol <p>', 'protocol (default: any; TCP when --port is given)').choices(['TCP', 'UDP', 'SCTP', 'ICMP', 'tcp', 'udp', 'sctp', 'icmp']))
    .option('--port <n>', 'destination port (default: any)')
    .option('--icmp-type <n>', 'ICMP type (with --protocol icmp; default: any)')
    .option('--icmp-code <n>', 'ICMP code (with --protocol icmp; default: any)')
    .addOption(new Option('-o, --output <format>', 'table, json or yaml').choices(['table', 'json', 'yaml']).default('table'))
    .action(async (flags: EvaluationFlags & { output: EvaluationFormat }) => {
      const body = evaluationFromFlags(flags);
      const result = await client().request<NetworkPolicyEvaluationResult>('POST', NPE_PATH, JSON.stringify(body), { 'content-type': 'application/json' });
      process.stdout.write(printEvaluation(result, flags.output));
    });
  return query;
}
