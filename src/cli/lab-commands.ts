// `seine lab …`: thin commander wiring over src/lab. Progress goes to stderr, results to
// stdout; every failure is a UserError that runCli prints as one line.
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { UserError } from '../lib/errors.js';
import { ENCAPS, type Encap } from '../lab/encap.js';
import { ENCRYPTIONS, type Encryption } from '../lab/encryption.js';
import { RUNTIMES, type Runtime } from '../lab/runtimes.js';
import type { Lab, ProgressEvent } from '../lab/lab.js';
import { formatLabels, formatPodRef, parseLabelChanges, parseLabels, parsePodRef, parsePorts, nameError } from '../lab/labels.js';
import { DEFAULT_LAB_DIR, MAX_BOXES } from '../lab/names.js';
import type { LabState } from '../lab/state.js';
import { registerLabServiceCommands } from './lab-svc-commands.js';
import { registerOutsideCommands } from './lab-outside-command.js';

// The lab modules (and zod) load only when a command runs: --help and usage errors stay quick.
const openLab = async () => new (await import('../lab/lab.js')).Lab();

const out = (line: string) => process.stdout.write(`${line}\n`);
const note = (line: string) => process.stderr.write(`${line}\n`);

const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

function onPath(bin: string): boolean {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...SBIN];
  return dirs.some((d) => {
    try {
      accessSync(path.join(d, bin), fsConstants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new UserError('seine lab needs root (network namespaces, OVS)');
}

function requireTools(): void {
  if (!['ovsdb-tool', 'ovsdb-server', 'ovs-vswitchd', 'ovs-vsctl'].every(onPath)) throw new UserError('Open vSwitch not found: apt-get install openvswitch-switch');
  if (!onPath('ip')) throw new UserError('ip not found: apt-get install iproute2');
  if (!onPath('ethtool')) throw new UserError('ethtool not found: apt-get install ethtool');
  if (!onPath('flock')) throw new UserError('flock not found: apt-get install util-linux');
}

function intIn(min: number, max: number) {
  return (text: string): number => {
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return n;
  };
}

function validName(text: string): string {
  const err = nameError(text);
  if (err) throw new UserError(err);
  return text;
}

/** How to repeat a command against this lab from the checkout: the env prefix when it is not the default dir. */
const envHint = (lab: Lab) => `${lab.dir === DEFAULT_LAB_DIR ? '' : `SEINE_LAB_DIR=${lab.dir} `}npx `;

function summary(lab: Lab, s: LabState, seconds: number): string[] {
  const hint = envHint(lab);
  const lines = [`lab up in ${seconds.toFixed(2)} s: ${s.boxes.length} box${s.boxes.length === 1 ? '' : 'es'}, ${s.pods.length} pod${s.pods.length === 1 ? '' : 's'} (state in ${lab.dir}). Next:`];
  lines.push(`  ${hint}seine lab status`);
  if (s.controller) lines.push(`  ${hint}seinectl get nodes    # the controller over HTTPS: seinectl reads its admin file, no flags`);
  if (s.nodeRed) lines.push(`  open ${s.nodeRed.url}    # Node-RED with the Seine nodes (Import → Examples → node-red-contrib-seine)`);
  const pods = [...s.pods].sort((x, y) => x.box.localeCompare(y.box) || x.name.localeCompare(y.name));
  const [a] = pods;
  if (a) {
    const peer = pods.find((p) => p !== a && p.box === a.box);
    const target = peer ? `${peer.ip}    # ${formatPodRef(peer)}, same box` : `${s.boxes.find((x) => x.name === a.box)?.gatewayIP}    # the box gateway`;
    lines.push(`  ${hint}seine lab exec ${formatPodRef(a)} -- ping -c1 ${target}`);
  } else {
    lines.push(`  ${hint}seine lab pod add default/web --labels app=web`);
  }
  lines.push(`  ${hint}seine lab down`);
  return lines;
}

function runInPod(netns: string, argv: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', netns, ...argv], {
      stdio: 'inherit',
      env: { ...process.env, PATH: [process.env.PATH, ...SBIN].filter(Boolean).join(':') },
    });
    // The terminal's Ctrl-C reaches the child too; let it decide and pass on its exit code.
    const ignore = () => {};
    process.on('SIGINT', ignore);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', ignore);
      resolve(code ?? 128 + (signal ? osConstants.signals[signal] : 0));
    });
  });
}

export function registerLabCommands(program: Command): void {
  const lab = program
    .command('lab')
    .description('a fleet of simulated boxes on this machine: network namespaces with userspace OVS, pods as namespaces')
    .addHelpText('after', '\nState: /run/seine-lab (SEINE_LAB_DIR overrides). Most commands need root.');

  lab
    .command('up')
    .description('create a lab (boxes, namespaces, pods) and wait until it is ready')
    .option('-n, --nodes <N>', 'number of boxes', intIn(1, MAX_BOXES), 2)
    .option('-p, --pods-per-node <M>', 'pods per box (in namespace default, labelled app=demo)', intIn(0, 250), 2)
    .addOption(new Option('--encap <mode>', 'tunnel between boxes (recorded per box)').choices(ENCAPS).default('geneve'))
    .addOption(new Option('-f, --file <lab.yaml>', 'boxes, namespaces and pods from a file').conflicts(['nodes', 'podsPerNode', 'encap']))
    .addOption(new Option('--encryption <mode>', 'encrypt pod traffic between boxes (WireGuard, a wireguard-go per box)').choices(ENCRYPTIONS))
    .option('--ota', 'run each agent from a release layout under the launcher, as on a box (releases and rollouts)')
    .addOption(new Option('--runtime <runtime>', 'who creates pod sandboxes: the lab itself (direct), or a containerd per box through CRI').choices(RUNTIMES))
    .option('--no-node-red', 'do not start Node-RED with the Seine nodes')
    .action(async (opts: { nodes: number; podsPerNode: number; encap: Encap; encryption?: Encryption; file?: string; ota?: boolean; runtime?: Runtime; nodeRed: boolean }) => {
      const { loadLabSpec, specFromFlags } = await import('../lab/spec.js');
      const spec = opts.file ? await loadLabSpec(opts.file) : specFromFlags(opts.nodes, opts.podsPerNode, opts.encap, opts.ota, opts.runtime, opts.encryption);
      if (opts.file && opts.ota) spec.ota = true;
      if (opts.file && opts.encryption) spec.encryption = opts.encryption;
      if (opts.file && opts.runtime) spec.runtime = opts.runtime;
      requireRoot();
      requireTools();
      const l = await openLab();
      const t0 = performance.now();
      // Ctrl-C mid-way leaves a partial lab (recorded, like after kill -9): say how to remove it.
      process.once('SIGINT', () => {
        note(`interrupted: remove the partial lab with ${envHint(l)}seine lab down`);
        process.exit(130);
      });
      const state = await l.up(spec, {
        onProgress: (e: ProgressEvent) => note(`[${e.step}/${e.total}] ${e.message} (${e.seconds.toFixed(2)} s)`),
        nodeRed: opts.nodeRed,
      });
      summary(l, state, (performance.now() - t0) / 1000).forEach(note);
    });

  lab
    .command('down')
    .description('stop everything the lab started and remove its namespaces and state (a no-op when no lab runs)')
    .action(async () => {
      requireRoot();
      const l = await openLab();
      const t0 = performance.now();
      const removed = await l.down();
      out(removed ? `lab down: removed the lab in ${l.dir} (${((performance.now() - t0) / 1000).toFixed(2)} s)` : 'no lab running');
    });

  lab
    .command('status')
    .description('boxes, namespaces, pods, controller and Node-RED')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const { formatStatus, labStatus } = await import('../lab/status.js');
      const status = labStatus(await (await openLab()).current());
      out(opts.json ? JSON.stringify(status, null, 2) : formatStatus(status));
    });

  lab
    .command('exec')
    .description('run a command in a pod\'s network namespace; exits with its exit code')
    .argument('<ns/pod>', 'the pod, e.g. default/box1-pod1')
    .argument('[command...]', 'after --, the command and its arguments')
    .allowUnknownOption()
    .usage('<ns/pod> -- <command...>')
    .action(async (podText: string, argv: string[]) => {
      const raw = (program as unknown as { rawArgs: string[] }).rawArgs ?? process.argv;
      if (!raw.includes('--') || argv.length === 0) throw new UserError('usage: seine lab exec <ns/pod> -- <command...> (the command goes after --)');
      const ref = parsePodRef(podText);
      requireRoot();
      const netns = await (await openLab()).podNetns(ref);
      process.exitCode = await runInPod(netns, argv);
    });

  registerOutsideCommands(lab, program, { requireRoot, runIn: runInPod });

  lab
    .command('box')
    .description('boxes')
    .command('add')
    .description('add a box to the running lab (its encap and encryption); the other boxes learn of it from the inventory alone')
    .argument('<name>')
    .action(async (name: string) => {
      validName(name);
      requireRoot();
      const b = await (await openLab()).addBox(name, note);
      out(`box ${b.name}: underlay ${b.underlayIP}, pods ${b.podCIDR}${b.wireGuardPublicKey ? `, WireGuard key ${b.wireGuardPublicKey}` : ''}`);
    });

  const pod = lab.command('pod').description('add or remove pods');
  pod
    .command('add')
    .argument('<ns/pod>')
    .option('--box <box>', 'box to place it on (default: the box with fewest pods)')
    .option('--labels <k=v,...>', 'pod labels', '')
    .option('--ports <name=port/proto,...>', 'container ports', '')
    .action(async (podText: string, opts: { box?: string; labels: string; ports: string }) => {
      const ref = parsePodRef(podText);
      const labels = parseLabels(opts.labels);
      const ports = parsePorts(opts.ports);
      requireRoot();
      const p = await (await openLab()).addPod({ ...ref, box: opts.box, labels, ports });
      out(`pod ${formatPodRef(p)} on ${p.box}: ${p.ip} ${p.mac}`);
    });
  pod
    .command('del')
    .argument('<ns/pod>')
    .action(async (podText: string) => {
      const ref = parsePodRef(podText);
      requireRoot();
      await (await openLab()).deletePod(ref);
      out(`pod ${formatPodRef(ref)} deleted`);
    });

  lab
    .command('ns')
    .description('Kubernetes namespaces')
    .command('add')
    .argument('<name>')
    .option('--labels <k=v,...>', 'namespace labels', '')
    .action(async (name: string, opts: { labels: string }) => {
      validName(name);
      const labels = parseLabels(opts.labels);
      requireRoot();
      await (await openLab()).addNamespace(name, labels);
      out(`namespace ${name} added`);
    });

  registerLabServiceCommands(lab);

  const label = lab.command('label').description('set (k=v) or remove (k-) labels');
  label
    .command('pod')
    .argument('<ns/pod>')
    .argument('<changes...>', 'k=v to set, k- to remove')
    .action(async (podText: string, changesText: string[]) => {
      const ref = parsePodRef(podText);
      const changes = parseLabelChanges(changesText);
      requireRoot();
      const labels = await (await openLab()).labelPod(ref, changes);
      out(`pod ${formatPodRef(ref)}: ${formatLabels(labels) || '(no labels)'}`);
    });
  label
    .command('ns')
    .argument('<name>')
    .argument('<changes...>', 'k=v to set, k- to remove')
    .action(async (name: string, changesText: string[]) => {
      validName(name);
      const changes = parseLabelChanges(changesText);
      requireRoot();
      const labels = await (await openLab()).labelNamespace(name, changes);
      out(`namespace ${name}: ${formatLabels(labels)}`);
    });
}
