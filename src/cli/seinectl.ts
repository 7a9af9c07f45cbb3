#!/usr/bin/env node
// seinectl: the operator CLI. `validate` works offline with the same schemas the controller and
// agents use; apply/get/describe/delete/rpc talk to the controller's REST API. Where: flags,
// then SEINE_SERVER/SEINE_TOKEN/SEINE_CA, then the config file (~/.config/seine/seinectl.yaml or
// $SEINECTL_CONFIG), then the controller's admin file (the lab's, or /var/lib/seine-controller's). `--local` reads the agent of this box instead (its read-only local API).
// Manifests are validated here first, so problems name the file.
import { readFileSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Command, Option } from 'commander';
import { stringify } from 'yaml';
import { homedir } from 'node:os';
import { DEFAULT_LOCAL_API_SOCKET, SeinectlConfigSchema, type SeinectlConfig } from '../api/config.js';
import { parseConfig } from '../api/config-file.js';
import type { ApplyResult, NodeInfo, NodeRealization, RpcCallResult, StoredObject } from '../api/controller-api.js';
import { loadManifestFile, parseManifests } from '../api/manifest.js';
import type { ManifestObject } from '../api/kinds.js';
import { RestClient, resolveKind, resourceUrl } from '../controller/client/rest-client.js';
import { describeObject, printEvents, printLatencyStats, printNodes, printObjects, printStats, type OutputFormat } from '../controller/client/print.js';
import type { NodeLatencyStats } from '../api/node-config.js';
import { findStatsKind, type PolicyStatsObject } from '../api/policy-stats.js';
import type { NodeEvent } from '../controller/events.js';
import { statsUrl } from '../api/rest-paths.js';
import { UserError } from '../lib/errors.js';
import { setLogLevel } from '../lib/log.js';
import { runCli } from './run.js';
import { traceflowCommand } from './traceflow-command.js';
import { queryCommand } from './query-command.js';
import { FQDNCACHE_RESOURCES, getFqdnCache } from './fqdncache-command.js';
import { deleteNode, nodeCommand } from './node-command.js';
import { getReleaseResource, releaseCommand, rolloutCommand } from './rollout-command.js';
import { AgentConfigSchema } from '../api/config.js';
import { loadConfigFile } from '../api/config-file.js';
import { FLOW_DB } from '../agent/flows/index.js';
import { printFlows, printRollup, parseTimeArg } from '../agent/flows/print.js';
import { FlowStore, type FlowQuery } from '../agent/flows/store.js';
import type { AggregatedFlow, FlowRecord } from '../api/flow-record.js';
import { existsSync } from 'node:fs';
import type { ImpactResult, RecommendResult } from '../api/impact.js';
import { printImpact } from '../controller/client/print-impact.js';
import { DEFAULT_LAB_DIR, labAdminFile, labDirFromEnv } from '../lab/names.js';

/** Where a controller with the default storePath writes its admin file. */
const CONTROLLER_ADMIN_FILE = '/var/lib/seine-controller/seinectl.yaml';

setLogLevel(process.env.SEINE_LOG_LEVEL ?? 'warn');
const program = new Command('seinectl')
  .description('operate a Seine fleet')
  .showSuggestionAfterError()
  .option('-s, --server <url>', `controller REST URL (env SEINE_SERVER; default: the admin file of the lab (${labAdminFile(DEFAULT_LAB_DIR)}, or $SEINE_LAB_DIR's) or of this host's controller (${CONTROLLER_ADMIN_FILE}))`)
  .option('--token <token>', 'bearer token (env SEINE_TOKEN)')
  .option('--certificate-authority <file>', 'CA that signed the controller\'s certificate, for https:// (env SEINE_CA)')
  .option('--local', 'read this box\'s agent instead of the controller (get, describe; read-only)')
  .option('--agent-socket <path>', `the agent's local API socket for --local (default ${DEFAULT_LOCAL_API_SOCKET})`);

interface GlobalOptions {
  server?: string;
  token?: string;
  certificateAuthority?: string;
  local?: boolean;
  agentSocket?: string;
}

/** The config file: $SEINECTL_CONFIG (must exist), else ~/.config/seine/seinectl.yaml if there. */
function configFile(): SeinectlConfig {
  const explicit = process.env.SEINECTL_CONFIG;
  const file = explicit || path.join(process.env.XDG_CONFIG_HOME || path.join(homedir(), '.config'), 'seine', 'seinectl.yaml');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !explicit) return {};
    throw new UserError(`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (SEINECTL_CONFIG)' : (err as Error).message}`);
  }
  return parseConfig(text, file, SeinectlConfigSchema);
}

const client = () => {
  const o = program.opts<GlobalOptions>();
  const file = configFile();
  if (o.local) {
    const socketPath = o.agentSocket ?? process.env.SEINE_AGENT_SOCKET ?? file.agentSocket ?? DEFAULT_LOCAL_API_SOCKET;
    return new RestClient('http://agent', { socketPath });
  }
  const server = o.server ?? process.env.SEINE_SERVER ?? file.server;
  // No server named anywhere: the controller's own admin file (a lab's, or this host's), as kubectl uses k3s.yaml.
  const admin = server ? {} : adminFile();
  // No guessed default: after `lab down` a guess would only turn into a connection error about a port nobody chose.
  if (!server && !admin.server) throw new UserError(noControllerMessage());
  const ca = o.certificateAuthority ?? process.env.SEINE_CA ?? file.certificateAuthority ?? admin.certificateAuthority;
  return new RestClient((server ?? admin.server)!, {
    token: o.token ?? process.env.SEINE_TOKEN ?? file.token ?? admin.token,
    ca: ca ? readCa(ca) : undefined,
  });
};

/** The controller's admin client file: the lab's ($SEINE_LAB_DIR or the default lab), else this host's controller's. */
function adminFile(): SeinectlConfig {
  for (const f of [labAdminFile(labDirFromEnv()), CONTROLLER_ADMIN_FILE]) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      throw new UserError(`${f}: ${code === 'EACCES' ? 'not readable by this user (it holds the admin token: use sudo, or set --server/--token/--certificate-authority)' : (err as Error).message}`);
    }
    return parseConfig(text, f, SeinectlConfigSchema);
  }
  return {};
}

/** Every place seinectl looked, and the two ways out: start a lab, or name a controller. */
function noControllerMessage(): string {
  const configPath = process.env.SEINECTL_CONFIG || path.join(process.env.XDG_CONFIG_HOME || path.join(homedir(), '.config'), 'seine', 'seinectl.yaml');
  return [
    `no controller is configured: none of --server, SEINE_SERVER, the config file ${configPath}, the lab's admin file ${labAdminFile(labDirFromEnv())} (no lab is up there) or this host's controller's admin file ${CONTROLLER_ADMIN_FILE} names one`,
    'for a lab: npm start (or seine lab up), then seinectl finds its controller by itself',
    `for another controller: seinectl --server https://HOST:8443 --token TOKEN --certificate-authority CA.crt ... (or SEINE_SERVER, SEINE_TOKEN and SEINE_CA, or server, token and certificateAuthority in ${configPath})`,
  ].join('\n');
}

function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UserError(`--certificate-authority ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}
const output = () => new Option('-o, --output <format>', 'table, wide, json or yaml').choices(['table', 'wide', 'json', 'yaml']).default('table');

program
  .command('validate')
  .description('check manifests (YAML/JSON, multi-document, kind: List) against the Seine/Antrea schemas')
  .requiredOption('-f, --filename <file...>', 'manifest files, or - for standard input')
  .action(async (opts: { filename: string[] }) => {
    for (const o of await readManifests(opts.filename)) {
      const ns = (o.metadata as { namespace?: string }).namespace;
      process.stdout.write(`${o.kind} ${ns ? `${ns}/` : ''}${o.metadata.name}: valid\n`);
    }
  });

program
  .command('apply')
  .description('create or update every object of the manifests, all or nothing; --dry-run=impact previews the effect on recorded connections instead')
  .requiredOption('-f, --filename <path...>', 'files, directories (their .yaml/.yml/.json files) or - for standard input')
  .addOption(new Option('--dry-run <mode>', 'impact: apply nothing; show which connections the boxes recorded would become denied or allowed').choices(['impact']))
  .option('--since <duration>', 'with --dry-run=impact: connections last seen within this (30m, 24h, 7d)', '24h')
  .option('--delete', 'with --dry-run=impact: preview deleting the objects instead')
  .option('--timeout <ms>', 'with --dry-run=impact: how long to wait for the boxes', '10000')
  .addOption(new Option('-o, --output <format>', 'with --dry-run=impact: table, json or yaml').choices(['table', 'json', 'yaml']).default('table'))
  .action(async (opts: { filename: string[]; dryRun?: 'impact'; since: string; delete?: boolean; timeout: string; output: 'table' | 'json' | 'yaml' }) => {
    const objects = await readManifests(opts.filename);
    if (opts.dryRun === 'impact') {
      const body = { items: objects, since: opts.since, operation: opts.delete ? 'delete' : 'apply', timeoutMs: Number(opts.timeout) };
      const r = await client().request<ImpactResult>('POST', '/api/v1/impact', JSON.stringify(body));
      process.stdout.write(printImpact(r, opts.output));
      if (r.nodes.notHeard.length && opts.output === 'table') process.stderr.write(`warning: ${r.nodes.notHeard.length} box(es) did not answer; the preview leaves their connections out\n`);
      return;
    }
    if (opts.delete) throw new UserError('--delete only goes with --dry-run=impact (seinectl delete -f deletes)');
    const result = await client().request<ApplyResult>('POST', '/api/v1/apply', stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
    for (const i of result.items) process.stdout.write(`${i.kind.toLowerCase()}/${i.name} ${i.outcome}\n`);
  });

program
  .command('get <resource> [name]')
  .description('show objects (acnp, anp, netpol, tier, cg, …), their stats (acnpstats, anpstats, netpolstats), nodes, events, or with --local the box\'s fqdncache')
  .addOption(output())
  .option('-n, --namespace <ns>', 'namespace (namespaced kinds)')
  .option('--node <node>', 'events: only from this node')
  .option('--type <type>', 'events: only of this type (policy-log, deny, alert, rollout, …)')
  .action(async (resource: string, name: string | undefined, opts: { output: OutputFormat; namespace?: string; node?: string; type?: string }) => {
    const releasesOrRollouts = await getReleaseResource(client(), resource, name, opts.output);
    if (releasesOrRollouts !== undefined) return void process.stdout.write(releasesOrRollouts);
    if (['events', 'event', 'ev'].includes(resource.toLowerCase())) {
      const q = new URLSearchParams({ limit: '1000', ...(opts.node ? { node: opts.node } : {}), ...(opts.type ? { type: opts.type } : {}) });
      const { items } = await client().request<{ items: NodeEvent[] }>('GET', `/api/v1/events?${q.toString()}`);
      if (!items.length && (opts.output === 'table' || opts.output === 'wide')) return void process.stderr.write('No events found\n');
      return void process.stdout.write(printEvents(items, opts.output));
    }
    if (FQDNCACHE_RESOURCES.includes(resource.toLowerCase())) {
      if (!program.opts<GlobalOptions>().local) throw new UserError('fqdncache is kept by each box\'s agent: run `seinectl --local get fqdncache [DOMAIN]` on the box (--agent-socket PATH for another agent socket)');
      return void process.stdout.write(await getFqdnCache(client(), name, opts.output));
    }
    const statsKind = findStatsKind(resource);
    if (statsKind) {
      const ns = statsKind.namespaced ? (opts.namespace ?? (name ? 'default' : undefined)) : undefined;
      const items = name
        ? [await client().request<PolicyStatsObject>('GET', statsUrl(statsKind, ns, name))]
        : (await client().request<{ items: PolicyStatsObject[] }>('GET', statsUrl(statsKind, ns))).items;
      if (!items.length && (opts.output === 'table' || opts.output === 'wide')) return void process.stderr.write('No resources found\n');
      return void process.stdout.write(printStats(items, opts.output, name !== undefined, statsKind.namespaced));
    }
    if (['nodelatencystats', 'nodelatencystat', 'nls'].includes(resource.toLowerCase())) {
      const items = name
        ? [await client().request<NodeLatencyStats>('GET', `/api/v1/nodelatencystats/${encodeURIComponent(name)}`)]
        : (await client().request<{ items: NodeLatencyStats[] }>('GET', '/api/v1/nodelatencystats')).items;
      if (!items.length && (opts.output === 'table' || opts.output === 'wide')) return void process.stderr.write('No resources found (is a NodeLatencyMonitor applied?)\n');
      return void process.stdout.write(printLatencyStats(items, opts.output, name !== undefined));
    }
    if (['nodes', 'node', 'no'].includes(resource.toLowerCase())) {
      const nodes = await client().request<NodeInfo[]>('GET', '/api/v1/nodes');
      const shown = name ? nodes.filter((n) => n.name === name) : nodes;
      if (name && !shown.length) throw new UserError(`node ${name} not found`);
      return void process.stdout.write(printNodes(shown, opts.output));
    }
    const kind = resolveKind(resource);
    const ns = kind.namespaced ? (opts.namespace ?? (name ? 'default' : undefined)) : undefined;
    const items = name
      ? [await client().request<StoredObject>('GET', resourceUrl(kind, ns, name))]
      : (await client().request<{ items: StoredObject[] }>('GET', resourceUrl(kind, ns))).items;
    if (!items.length && (opts.output === 'table' || opts.output === 'wide')) return void process.stderr.write('No resources found\n');
    process.stdout.write(printObjects(kind, items, opts.output, name !== undefined));
  });

program
  .command('describe <resource> <name>')
  .description('show one object in detail: metadata, spec, status with conditions, realization per node')
  .option('-n, --namespace <ns>', 'namespace (namespaced kinds)', 'default')
  .action(async (resource: string, name: string, opts: { namespace: string }) => {
    const kind = resolveKind(resource);
    const url = resourceUrl(kind, kind.namespaced ? opts.namespace : undefined, name);
    const c = client();
    const [object, nodes] = await Promise.all([c.request<StoredObject>('GET', url), c.request<NodeRealization[]>('GET', `${url}/nodes`)]);
    process.stdout.write(describeObject(object, nodes));
  });

program
  .command('delete [resource] [name]')
  .description('delete objects named by manifests (-f, all or nothing) or by kind and name; `delete node NAME` revokes a box')
  .option('-f, --filename <path...>', 'files, directories or -')
  .option('-n, --namespace <ns>', 'namespace (namespaced kinds)', 'default')
  .action(async (resource: string | undefined, name: string | undefined, opts: { filename?: string[]; namespace: string }) => {
    if (opts.filename) {
      const objects = await readManifests(opts.filename);
      const r = await client().request<{ items: { kind: string; name: string }[] }>('POST', '/api/v1/delete', stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
      for (const i of r.items) process.stdout.write(`${i.kind.toLowerCase()}/${i.name} deleted\n`);
      return;
    }
    if (!resource || !name) throw new UserError('delete needs -f FILE or KIND NAME');
    if (['node', 'nodes', 'no'].includes(resource.toLowerCase())) return deleteNode(client(), name);
    const kind = resolveKind(resource);
    await client().request('DELETE', resourceUrl(kind, kind.namespaced ? opts.namespace : undefined, name));
    process.stdout.write(`${kind.kind.toLowerCase()}/${name} deleted\n`);
  });

program
  .command('rpc <node> <method>')
  .description('run a request/response method on a node\'s agent over MQTT (ping, status)')
  .option('-p, --params <json>', 'method parameters as JSON')
  .option('--timeout <ms>', 'how long to wait for the node', '5000')
  .addOption(new Option('-o, --output <format>', 'json or yaml').choices(['json', 'yaml']).default('json'))
  .action(async (node: string, method: string, opts: { params?: string; timeout: string; output: 'json' | 'yaml' }) => {
    let params: unknown;
    if (opts.params !== undefined) {
      try {
        params = JSON.parse(opts.params);
      } catch (err) {
        throw new UserError(`--params: not JSON: ${(err as Error).message}`);
      }
    }
    const r = await client().request<RpcCallResult>('POST', `/api/v1/nodes/${encodeURIComponent(node)}/rpc`, JSON.stringify({ method, ...(params !== undefined ? { params } : {}), timeoutMs: Number(opts.timeout) }));
    process.stdout.write(opts.output === 'yaml' ? stringify(r.result) : `${JSON.stringify(r.result, null, 2)}\n`);
  });

program
  .command('recommend')
  .description('least-privilege policies for a namespace from the connections the boxes recorded (YAML that apply takes unchanged)')
  .requiredOption('-n, --namespace <ns>', 'the namespace whose workloads get policies')
  .option('--since <duration>', 'connections last seen within this (30m, 24h, 7d)', '7d')
  .addOption(new Option('--kind <kind>', 'netpol: K8s NetworkPolicy per workload; acnp: ClusterNetworkPolicy per workload and a baseline default deny').choices(['netpol', 'acnp']).default('netpol'))
  .option('--timeout <ms>', 'how long to wait for the boxes', '10000')
  .addOption(new Option('-o, --output <format>', 'yaml (the policies), json (the whole answer)').choices(['yaml', 'json']).default('yaml'))
  .action(async (opts: { namespace: string; since: string; kind: 'netpol' | 'acnp'; timeout: string; output: 'yaml' | 'json' }) => {
    const r = await client().request<RecommendResult>('POST', '/api/v1/recommendation', JSON.stringify({ namespace: opts.namespace, since: opts.since, kind: opts.kind, timeoutMs: Number(opts.timeout) }));
    for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
    for (const n of r.nodes.notHeard) process.stderr.write(`warning: box ${n.node} not heard from (${n.reason}): its connections are not in the recommendation\n`);
    if (opts.output === 'json') return void process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    if (!r.items.length) return void process.stderr.write(`no allowed connections of namespace ${opts.namespace} recorded since ${opts.since}: nothing to recommend\n`);
    process.stdout.write(`# ${r.items.length} policies from ${r.connections} recorded connections, ${new Date(r.window.since * 1000).toISOString()} .. ${new Date(r.window.until * 1000).toISOString()}\n`);
    process.stdout.write(r.items.map((i) => stringify(i)).join('---\n'));
  });

program.addCommand(traceflowCommand(client));
program.addCommand(queryCommand(client));
program.addCommand(nodeCommand(client));
program.addCommand(releaseCommand(client));
program.addCommand(rolloutCommand(client));
program
  .command('flows')
  .description("connections on a box: who talked to whom, how much, under which policy (the box's flow store)")
  .option('--db <file>', 'flow database (default: <stateDir>/flows.db of the agent config)')
  .option('--config <file>', 'agent config, for its stateDir', '/etc/seine/agent.yaml')
  .option('--agent <url>', "the agent's API (apiListen), e.g. http://10.0.0.5:10350 (env SEINE_AGENT)", process.env.SEINE_AGENT)
  .option('--pod <ns/name>', 'either end is this pod (ns/ for any pod of the namespace)')
  .option('-n, --namespace <ns>', 'either end is in this namespace')
  .option('--policy <[ns/]name>', 'admitted or denied by this policy')
  .option('--since <time>', 'records ending at or after: 15m, 2h, 7d, an ISO time or unix seconds')
  .option('--until <time>', 'records ending at or before')
  .option('--denied', 'only connections a Drop or Reject rule (or K8s isolation) denied')
  .option('--all', 'every record, not only the latest of each connection')
  .addOption(new Option('--rollup <granularity>', 'per-minute or per-hour totals instead of connections').choices(['minute', 'hour']))
  .option('--limit <n>', 'at most this many rows', '1000')
  .addOption(new Option('-o, --output <format>', 'table or json').choices(['table', 'json']).default('table'))
  .action(async (opts: {
    db?: string; config: string; agent?: string; pod?: string; namespace?: string; policy?: string; since?: string; until?: string;
    denied?: boolean; all?: boolean; rollup?: 'minute' | 'hour'; limit: string; output: 'table' | 'json';
  }) => {
    const time = (flag: string, v?: string) => {
      if (v === undefined) return undefined;
      const t = parseTimeArg(v);
      if (t === undefined) throw new UserError(`--${flag}: expected 15m, 2h, 7d, an ISO time or unix seconds, got "${v}"`);
      return t;
    };
    const limit = Number(opts.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new UserError(`--limit: expected a positive integer, got "${opts.limit}"`);
    const q: FlowQuery = { pod: opts.pod, namespace: opts.namespace, policy: opts.policy, since: time('since', opts.since), until: time('until', opts.until), denied: opts.denied, latest: !opts.all, limit };
    // --local (seinectl's own: this box) reads the box's flow database directly; --db names one (a lab box's).
    if (program.opts<{ local?: boolean }>().local || opts.db) {
      const file = opts.db ?? path.join((await loadConfigFile(opts.config, AgentConfigSchema)).stateDir, FLOW_DB);
      if (!existsSync(file)) throw new UserError(`${file}: no flow database (is the agent's flow exporter enabled?)`);
      const store = await FlowStore.open(file);
      try {
        process.stdout.write(opts.rollup ? printRollup(await store.rollup(opts.rollup, q), opts.output) : printFlows(await store.query(q), opts.output));
      } finally {
        await store.close();
      }
      return;
    }
    if (!opts.agent) {
      // The controller's fleet flows: each connection joined from both of its nodes.
      if (opts.rollup || opts.denied || opts.all) throw new UserError('flows: --rollup, --denied and --all need --local, --db or --agent (the fleet store keeps the latest of each connection)');
      const params = new URLSearchParams();
      // The controller's since/until are milliseconds since the epoch.
      const ms = (s?: number) => (s === undefined ? undefined : s * 1000);
      for (const [k, v] of Object.entries({ pod: q.pod, namespace: q.namespace, policy: q.policy, limit: q.limit, since: ms(q.since), until: ms(q.until) })) if (v !== undefined) params.set(k, String(v));
      const { items } = await client().request<{ items: AggregatedFlow[] }>('GET', `/api/v1/flows?${params.toString()}`);
      process.stdout.write(opts.output === 'json' ? `${JSON.stringify(items, null, 2)}\n` : printFlows(items.map((i) => i.record), 'table'));
      return;
    }
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries({ ...q, all: opts.all, rollup: opts.rollup })) if (v !== undefined && v !== false) params.set(k, String(v));
    const res = await fetch(`${opts.agent.replace(/\/$/, '')}/flows?${params.toString()}`);
    if (!res.ok) throw new UserError(`agent ${opts.agent}: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { records?: FlowRecord[]; rollup?: never[] };
    process.stdout.write(opts.rollup ? printRollup(body.rollup ?? [], opts.output) : printFlows(body.records ?? [], opts.output));
  });

/** Every object of every file (directories: their manifest files, sorted), validated locally. */
async function readManifests(paths: string[]): Promise<ManifestObject[]> {
  const out: ManifestObject[] = [];
  for (const p of paths) {
    if (p === '-') {
      out.push(...parseManifests(await readStdin(), 'stdin'));
      continue;
    }
    const st = await stat(p).catch(() => undefined);
    if (!st) throw new UserError(`${p}: no such file or directory`);
    const files = st.isDirectory()
      ? (await readdir(p)).filter((f) => /\.(ya?ml|json)$/.test(f)).sort().map((f) => path.join(p, f))
      : [p];
    for (const f of files) out.push(...(await loadManifestFile(f)));
  }
  if (!out.length) throw new UserError(`no objects in ${paths.join(', ')}`);
  return out;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

await runCli(program);
