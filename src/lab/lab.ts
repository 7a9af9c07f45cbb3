// The lab as one object: bring it up from a spec, change it (pods, namespaces, labels, extra
// processes), read it, tear it down. Every change runs under the lab lock and records what it
// is about to create before creating it.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../lib/errors.js';
import { createLogger } from '../lib/log.js';
import { isRunning, stopProcesses } from '../lib/process.js';
import { createUnderlay, startBox, wireBox, type BuildContext } from './box.js';
import { formatPodRef, applyLabelChanges, type ContainerPort, type LabelChange, type Labels, type PodRef } from './labels.js';
import { labEnv, spawnDetached } from './lab-processes.js';
import { acquireLabLock, NoLabDir } from './lock.js';
import { boxAddressing, checkSocketPaths, DEFAULT_LAB_DIR, labDirFromEnv, labNames, UNDERLAY_CIDR, type LabNames } from './names.js';
import { netnsExists } from './netns.js';
import { AGENT_ROLE, startAgent, waitAgentReady } from './agent-process.js';
import { CONTROLLER_ROLE, provisionBox, spawnController, startController } from './controller-process.js';
import { startNodeRed } from './node-red-process.js';
import { DirectRuntime, type PodRuntime } from './pod-runtime.js';
import { CriRuntime } from './pod-runtime-cri.js';
import { CONTAINERD_ROLE, checkContainerdInstalled, importSandboxImage, prepareCniBinDir, startContainerd } from './containerd-process.js';
import type { Runtime } from './runtimes.js';
import { createOutside, outsideState } from './outside.js';
import type { LabSpec } from './spec.js';
import { readState, type BoxState, type LabState, type PodState, type ProcessRecord } from './state.js';
import { StateStore } from './state-store.js';
import { teardown } from './teardown.js';
import { GATEWAY_PORT } from '../agent/node-network.js';
import { allocateService, type ServiceRequest, type ServiceState } from './services.js';
import { prepareOtaBox, supervisedChildFile, type OtaUpdateOverrides } from './ota.js';
import { readFileSync } from 'node:fs';
import type { Encryption } from './encryption.js';
import { publishWireGuardKey, startWireGuardGo } from './wireguard.js';

const log = createLogger('lab');

export const NS_NAME_LABEL = 'kubernetes.io/metadata.name';

export interface ProgressEvent {
  step: number;
  total: number;
  message: string;
  /** Duration of this step. */
  seconds: number;
}

export interface UpOptions {
  onProgress?: (e: ProgressEvent) => void;
  /** Also run Node-RED with the Seine nodes (`lab up` does unless --no-node-red). */
  nodeRed?: boolean;
}

export interface PodRequest {
  namespace: string;
  name: string;
  box?: string;
  labels?: Labels;
  ports?: ContainerPort[];
}

export interface ProcessRequest {
  /** agent, controller, node-red … */
  role: string;
  /** Box the process belongs to; it then runs in the box's network namespace. */
  box?: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
}

const elapsed = (t0: number) => (performance.now() - t0) / 1000;

export class Lab {
  readonly names: LabNames;
  /** Environment of everything the lab spawns: carries the owner mark (lab-processes.ts). */
  private readonly env: NodeJS.ProcessEnv;

  constructor(dir: string = labDirFromEnv()) {
    this.names = labNames(dir);
    this.env = labEnv(this.names.dir);
  }

  get dir(): string {
    return this.names.dir;
  }

  /** The recorded state, without taking the lock (writes are atomic); undefined when no lab. */
  read(): Promise<LabState | undefined> {
    return readState(this.names.stateFile);
  }

  /** The state of a lab that is up, or a user error saying why there is none. */
  async current(): Promise<LabState> {
    const state = await this.read();
    if (!state) throw this.noLab();
    if (state.phase !== 'up') throw new UserError(`the lab in ${this.dir} is ${state.phase === 'creating' ? 'being created or a lab up was interrupted' : 'being removed'}; run seine lab down`);
    return state;
  }

  async up(spec: LabSpec, opts: UpOptions = {}): Promise<LabState> {
    return this.locked(true, async () => {
      const existing = await this.read();
      if (existing?.phase === 'up') throw new UserError(`a lab is already up${this.where()} (seine lab down first)`);
      if (existing) throw new UserError(`an earlier lab${this.where()} was not finished (${existing.phase}); run seine lab down first`);
      let store: StateStore | undefined;
      try {
        this.preflight(spec);
        store = new StateStore(this.names.stateFile, this.initialState(spec));
        await store.update(() => {});
        await this.build(store, spec, opts.onProgress, opts.nodeRed);
        await store.update((s) => void (s.phase = 'up'));
        return store.state;
      } catch (err) {
        // Leave nothing behind: not a half lab, not even the lock file of a lab that never was.
        log.debug({ err }, 'lab up failed; removing what was created');
        await store?.update(() => {}).catch(() => undefined); // let pending writes land first
        await teardown(this.names, store?.state).catch((e) => log.error({ err: e }, 'cleanup after failed lab up'));
        throw err;
      }
    });
  }

  /** Underlay first, then the boxes in parallel, each with its agent and then its pods. */
  private async build(store: StateStore, spec: LabSpec, onProgress?: (e: ProgressEvent) => void, nodeRed = false): Promise<void> {
    const ctx: BuildContext = { names: this.names, env: this.env, store };
    const runtime = this.podRuntime(spec.runtime);
    const containerd = spec.runtime === 'containerd';
    if (containerd) await prepareCniBinDir(this.dir);
    const total = 1 + (containerd ? 4 : 3) * spec.boxes.length + spec.pods.length + (nodeRed ? 1 : 0);
    let step = 0;
    const progress = (message: string, t0: number) => onProgress?.({ step: ++step, total, message, seconds: elapsed(t0) });
    const t0 = performance.now();
    // The controller starts alongside the underlay (it needs no network namespace of its own); it makes the lab's release key.
    const [controller] = await Promise.all([startController(store, this.env), createUnderlay(ctx).then(() => createOutside(ctx))]);
    const o = store.state.outside!;
    progress(`underlay ready: bridge ${this.names.underlayBridge} in ${this.names.underlayNetns}, ${UNDERLAY_CIDR}; outside ${o.ip} (tcp+udp ${o.port}) in ${o.netns}; controller at ${controller.url}`, t0);
    // Node-RED starts while the boxes come up (it only needs the controller's URL).
    const tRed = performance.now();
    const red = nodeRed ? startNodeRed(store, this.env, controller.url).then((r) => progress(`Node-RED with the Seine nodes at ${r.url}`, tRed)) : undefined;
    red?.catch(() => undefined); // judged below, with the boxes; not an unhandled rejection meanwhile
    const podsByBox = assignPods(spec);
    const underlaySubnets = spec.encap === 'hybrid' ? 2 : 1;
    const results = await Promise.allSettled(spec.boxes.map(async (b, i) => {
      const box = { ...this.boxState(b.name, i + 1, spec.encap, underlaySubnets, spec.encryption), ...(spec.ota ? { ota: true } : {}) };
      await this.buildBox(ctx, box, progress);
      // One CNI call at a time per box, as kubelet serializes sandbox creation per pod.
      for (const pod of podsByBox.get(box.name) ?? []) {
        const t1 = performance.now();
        const created = await this.createPod(store, runtime, box.name, pod);
        progress(`${box.name}: pod ${formatPodRef(created)} attached, ${created.ip}`, t1);
      }
    }));
    closeRuntime(runtime);
    const [redResult] = await Promise.allSettled([red]);
    const failed = [...results, redResult].find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** One box: namespace, OVS, uplink, (wireguard-go), agent, (containerd). */
  private async buildBox(ctx: BuildContext, box: BoxState, progress: (message: string, t0: number) => void): Promise<void> {
    const { store } = ctx;
    const tStart = performance.now();
    await startBox(ctx, box);
    progress(`${box.name}: ovs started in ${box.netns}`, tStart);
    const tWire = performance.now();
    await wireBox(ctx, box.name);
    progress(`${box.name}: br-phy ready, underlay ${box.underlayIP}`, tWire);
    const tAgent = performance.now();
    await provisionBox(this.dir, box);
    if (box.ota) await prepareOtaBox(box);
    if (box.wireGuardDevice) await startWireGuardGo(store, box, this.env);
    await waitAgentReady(box, await startAgent(store, box, this.env));
    // The other agents add this box as a WireGuard peer when its key appears on its Node.
    if (box.wireGuardDevice) await publishWireGuardKey(store, box.name);
    progress(`${box.name}: agent ready (${box.encap}${box.wireGuardDevice ? ', wireguard' : ''}), pods ${box.podCIDR}`, tAgent);
    if (store.state.runtime === 'containerd') {
      // After the agent: containerd's CRI plugin reads the conf list the agent just wrote.
      const tCtr = performance.now();
      await startContainerd(store, box, this.env);
      await importSandboxImage(box, this.dir, this.env);
      progress(`${box.name}: containerd ready, sandbox image imported`, tCtr);
    }
  }

  /**
   * Adds a box to a lab that is up (next index, the lab's encap and encryption). The other
   * boxes learn of it through the inventory alone: nothing of theirs is touched.
   */
  async addBox(name: string, onProgress?: (message: string) => void): Promise<BoxState> {
    return this.mutate(async (store) => {
      const s = store.state;
      if (s.boxes.some((b) => b.name === name)) throw new UserError(`box '${name}' already exists`);
      const tooLong = checkSocketPaths(this.names, name);
      if (tooLong) throw new UserError(tooLong);
      if (netnsExists(this.names.boxNetns(name))) throw new UserError(`network namespace ${this.names.boxNetns(name)} already exists`);
      const first = s.boxes[0];
      const subnets = new Set(s.boxes.map((b) => b.underlayIP.split('.').slice(0, 3).join('.'))).size > 1 || first?.encap === 'hybrid' ? 2 : 1;
      const index = Math.max(0, ...s.boxes.map((b) => b.index)) + 1;
      const box = { ...this.boxState(name, index, first?.encap ?? 'geneve', subnets, first?.wireGuardDevice ? 'wireguard' : 'none'), ...(first?.ota ? { ota: true } : {}) };
      await this.buildBox({ names: this.names, env: this.env, store }, box, (m) => onProgress?.(m));
      return store.state.boxes.find((b) => b.name === name)!;
    });
  }

  /** Remove the lab. Returns false when there was none (a no-op, not an error). */
  async down(): Promise<boolean> {
    if (!existsSync(this.dir)) return false;
    let lock;
    try {
      lock = await acquireLabLock(this.names.lockFile);
    } catch (err) {
      if (err instanceof NoLabDir) return false;
      throw err;
    }
    try {
      const state = await this.read();
      if (state) await new StateStore(this.names.stateFile, state).update((s) => void (s.phase = 'destroying'));
      await teardown(this.names, state);
      return state !== undefined;
    } finally {
      await lock.release();
    }
  }

  async addPod(req: PodRequest): Promise<PodState> {
    return this.mutate(async (store) => {
      const s = store.state;
      if (!s.namespaces.some((n) => n.name === req.namespace)) throw new UserError(`unknown namespace '${req.namespace}' (add it: seine lab ns add ${req.namespace})`);
      if (s.pods.some((p) => p.namespace === req.namespace && p.name === req.name)) throw new UserError(`pod ${formatPodRef(req)} already exists`);
      const box = req.box ? this.findBox(s, req.box) : leastLoadedBox(s);
      this.requireBoxRunning(box);
      const runtime = this.podRuntime(s.runtime);
      try {
        return await this.createPod(store, runtime, box.name, req);
      } catch (err) {
        await this.removePod(store, runtime, { namespace: req.namespace, name: req.name }).catch(() => undefined);
        throw err;
      } finally {
        closeRuntime(runtime);
      }
    });
  }

  async deletePod(ref: PodRef): Promise<void> {
    await this.mutate(async (store) => {
      this.findPod(store.state, ref);
      const runtime = this.podRuntime(store.state.runtime);
      try {
        await this.removePod(store, runtime, ref);
      } finally {
        closeRuntime(runtime);
      }
    });
  }

  async addNamespace(name: string, labels: Labels = {}): Promise<void> {
    await this.mutate(async (store) => {
      if (store.state.namespaces.some((n) => n.name === name)) throw new UserError(`namespace '${name}' already exists`);
      rejectNameLabel(name, labels[NS_NAME_LABEL]);
      await store.update((s) => void s.namespaces.push({ name, labels: { ...labels, [NS_NAME_LABEL]: name } }));
    });
  }

  async labelPod(ref: PodRef, changes: LabelChange[]): Promise<Labels> {
    return this.mutate(async (store) => {
      const pod = this.findPod(store.state, ref);
      await store.update(() => void (pod.labels = applyLabelChanges(pod.labels, changes)));
      return pod.labels;
    });
  }

  async labelNamespace(name: string, changes: LabelChange[]): Promise<Labels> {
    return this.mutate(async (store) => {
      const ns = store.state.namespaces.find((n) => n.name === name);
      if (!ns) throw new UserError(`unknown namespace '${name}'`);
      for (const c of changes) if (c.key === NS_NAME_LABEL) rejectNameLabel(name, 'remove' in c ? '' : c.value);
      await store.update(() => void (ns.labels = applyLabelChanges(ns.labels, changes)));
      return ns.labels;
    });
  }

  /** Adds a Service; its EndpointSlice follows the pods matching its selector from then on. */
  async addService(req: ServiceRequest): Promise<ServiceState> {
    return this.mutate(async (store) => {
      if (!store.state.namespaces.some((n) => n.name === req.namespace)) throw new UserError(`unknown namespace '${req.namespace}' (add it: seine lab ns add ${req.namespace})`);
      const svc = allocateService(req, store.state.services);
      await store.update((s) => void s.services.push(svc));
      return svc;
    });
  }

  async removeService(ref: PodRef): Promise<void> {
    await this.mutate(async (store) => {
      const i = store.state.services.findIndex((x) => x.namespace === ref.namespace && x.name === ref.name);
      if (i < 0) throw new UserError(`unknown service ${ref.namespace}/${ref.name}`);
      await store.update((s) => void s.services.splice(i, 1));
    });
  }

  /** The network namespace of a running pod (for `lab exec`); no lock, it only reads. */
  async podNetns(ref: PodRef): Promise<string> {
    const pod = this.findPod(await this.current(), ref);
    if (pod.phase !== 'running' || !netnsExists(pod.netns)) throw new UserError(`pod ${formatPodRef(ref)} is not running`);
    return pod.netns;
  }

  /**
   * Start a long-running process that belongs to the lab (an agent per box, the controller,
   * Node-RED). It is recorded and `lab down` stops it; it carries the lab's owner mark.
   */
  async startProcess(req: ProcessRequest): Promise<ProcessRecord> {
    return this.mutate(async (store) => {
      const box = req.box ? this.findBox(store.state, req.box) : undefined;
      const logFile = box ? path.join(box.ovsDir, `${req.role}.log`) : path.join(this.dir, `${req.role}.log`);
      const ref = spawnDetached({ command: req.command, args: req.args, netns: box?.netns, env: labEnv(this.dir, req.env), logFile });
      const record: ProcessRecord = { role: req.role, ...ref, command: [req.command, ...req.args].join(' '), logFile };
      await store.update(() => void (box ? box.processes : store.state.processes).push(record));
      return record;
    });
  }

  /**
   * Stop a box's agent (SIGKILL when `crash`, as a crash would — on an OTA box the launcher and
   * its agent, as a power cut would) and start a new one; resolves when the new agent is ready.
   * Pods keep forwarding meanwhile: the flows stay in OVS. `whileDown` runs between the two (a
   * test damages files there); `update` sets an OTA box's update test hooks for the new start.
   */
  async restartAgent(boxName: string, opts: { crash?: boolean; whileDown?: () => Promise<void>; update?: OtaUpdateOverrides } = {}): Promise<ProcessRecord> {
    return this.mutate(async (store) => {
      const box = this.findBox(store.state, boxName);
      const old = box.processes.filter((p) => p.role === AGENT_ROLE);
      if (opts.crash) for (const p of old.filter(isRunning)) process.kill(p.pid, 'SIGKILL');
      // An OTA box's agent is the launcher's child: a crash (a power cut) takes both down.
      if (opts.crash && box.ota) killRecorded(supervisedChildFile(box.ovsDir));
      await stopProcesses(old);
      await store.update(() => void (box.processes = box.processes.filter((p) => p.role !== AGENT_ROLE)));
      await opts.whileDown?.();
      const agent = await startAgent(store, box, this.env, opts.update);
      await waitAgentReady(box, agent);
      if (box.wireGuardDevice) await publishWireGuardKey(store, box.name);
      return agent;
    });
  }

  /**
   * Stop a box's containerd (SIGKILL when `crash`) and start it again on the same root, state and
   * socket (runtime containerd). Pods keep running meanwhile: their shims outlive containerd,
   * which finds them again on start, as after a containerd upgrade on a box.
   */
  async restartContainerd(boxName: string, opts: { crash?: boolean } = {}): Promise<ProcessRecord> {
    return this.mutate(async (store) => {
      const box = this.findBox(store.state, boxName);
      const old = box.processes.filter((p) => p.role === CONTAINERD_ROLE);
      if (old.length === 0) throw new UserError(`${box.name} runs no containerd (lab up --runtime containerd)`);
      if (opts.crash) for (const p of old.filter(isRunning)) process.kill(p.pid, 'SIGKILL');
      await stopProcesses(old);
      await store.update(() => void (box.processes = box.processes.filter((p) => p.role !== CONTAINERD_ROLE)));
      return startContainerd(store, box, this.env);
    });
  }

  /**
   * Stop the controller (SIGKILL when `crash`) and start it again on the same config, ports and
   * store; resolves when its REST API answers. Agents reconnect to its broker by themselves.
   */
  async restartController(opts: { crash?: boolean } = {}): Promise<ProcessRecord> {
    return this.mutate(async (store) => {
      const url = store.state.controller?.url;
      if (!url) throw new UserError('this lab has no controller');
      const mqttUrl = store.state.controller?.mqttUrl;
      const old = store.state.processes.filter((p) => p.role === CONTROLLER_ROLE);
      if (opts.crash) for (const p of old.filter(isRunning)) process.kill(p.pid, 'SIGKILL');
      await stopProcesses(old);
      await store.update((s) => void (s.processes = s.processes.filter((p) => p.role !== CONTROLLER_ROLE)));
      return (await spawnController(store, this.env, url, mqttUrl)).process;
    });
  }

  /** Record where the controller or Node-RED can be reached (null to clear). */
  async setEndpoint(which: 'controller' | 'nodeRed', value: { url: string; process?: ProcessRecord } | null): Promise<void> {
    await this.mutate((store) => store.update((s) => void (s[which] = value)));
  }

  // --- internals ---

  private podRuntime(kind: Runtime): PodRuntime {
    return kind === 'containerd' ? new CriRuntime() : new DirectRuntime(this.env);
  }

  private async createPod(store: StateStore, runtime: PodRuntime, boxName: string, req: PodRequest): Promise<PodState> {
    const pod: PodState = {
      namespace: req.namespace,
      name: req.name,
      phase: 'creating',
      box: boxName,
      netns: this.names.podNetns(req.namespace, req.name),
      sandboxId: '',
      uid: randomUUID(),
      labels: { ...(req.labels ?? {}) },
      ports: req.ports ?? [],
    };
    await store.update((s) => void s.pods.push(pod));
    const record = (change: Partial<PodState>) => store.update(() => void Object.assign(pod, change));
    const attachment = await runtime.start(this.findBox(store.state, boxName), structuredClone(pod), record);
    await store.update(() => void Object.assign(pod, attachment, { phase: 'running' }));
    log.debug({ pod: formatPodRef(pod), box: boxName, ip: attachment.ip }, 'pod attached');
    return pod;
  }

  private async removePod(store: StateStore, runtime: PodRuntime, ref: PodRef): Promise<void> {
    const pod = store.state.pods.find((p) => p.namespace === ref.namespace && p.name === ref.name);
    if (!pod) return;
    await runtime.stop(store.state.boxes.find((b) => b.name === pod.box), pod);
    await store.update((s) => void (s.pods = s.pods.filter((p) => p !== pod)));
  }

  private initialState(spec: LabSpec): LabState {
    const namespaces = new Map<string, Labels>([['default', {}]]);
    for (const n of spec.namespaces) namespaces.set(n.name, { ...n.labels });
    for (const [name, labels] of namespaces) rejectNameLabel(name, labels[NS_NAME_LABEL]);
    return {
      version: 1,
      dir: this.dir,
      prefix: this.names.prefix,
      phase: 'creating',
      createdAt: new Date().toISOString(),
      underlay: { netns: this.names.underlayNetns, bridge: this.names.underlayBridge, cidr: UNDERLAY_CIDR, created: false },
      outside: outsideState(this.dir, this.names.outsideNetns, this.names.outsideRouterPort),
      boxes: [],
      namespaces: [...namespaces].map(([name, labels]) => ({ name, labels: { ...labels, [NS_NAME_LABEL]: name } })),
      pods: [],
      services: [],
      runtime: spec.runtime,
      processes: [],
      controller: null,
      nodeRed: null,
    };
  }

  private boxState(name: string, index: number, encap: BoxState['encap'], underlaySubnets: 1 | 2, encryption: Encryption = 'none'): BoxState {
    return {
      name,
      index,
      phase: 'creating',
      netns: this.names.boxNetns(name),
      ovsDir: this.names.boxOvsDir(name),
      ...boxAddressing(index, underlaySubnets),
      gatewayIf: GATEWAY_PORT,
      uplink: this.names.boxUplink,
      underlayPort: this.names.underlayPort(index),
      encap,
      processes: [],
      ...(encryption === 'wireguard' ? { wireGuardDevice: this.names.wireGuardDevice(index) } : {}),
    };
  }

  /** Fail before creating anything when a name is taken or a path is too long. */
  private preflight(spec: LabSpec): void {
    if (spec.runtime === 'containerd') {
      try {
        checkContainerdInstalled();
      } catch (err) {
        throw new UserError((err as Error).message);
      }
    }
    for (const b of spec.boxes) {
      const tooLong = checkSocketPaths(this.names, b.name);
      if (tooLong) throw new UserError(tooLong);
    }
    const wanted = [
      this.names.underlayNetns,
      this.names.outsideNetns,
      ...spec.boxes.map((b) => this.names.boxNetns(b.name)),
      ...spec.pods.map((p) => this.names.podNetns(p.namespace, p.name)),
    ];
    const taken = wanted.filter(netnsExists);
    if (taken.length) throw new UserError(`network namespace ${taken[0]} already exists (not made by this lab; remove it or use another SEINE_LAB_DIR)`);
  }

  private findBox(s: LabState, name: string): BoxState {
    const box = s.boxes.find((b) => b.name === name);
    if (!box) throw new UserError(`unknown box '${name}' (boxes: ${s.boxes.map((b) => b.name).join(', ')})`);
    return box;
  }

  private findPod(s: LabState, ref: PodRef): PodState {
    const pod = s.pods.find((p) => p.namespace === ref.namespace && p.name === ref.name);
    if (!pod) throw new UserError(`unknown pod ${formatPodRef(ref)} (see seine lab status)`);
    return pod;
  }

  private requireBoxRunning(box: BoxState): void {
    const dead = box.processes.filter((p) => (p.role === 'ovs-vswitchd' || p.role === 'ovsdb-server' || p.role === AGENT_ROLE || p.role === CONTAINERD_ROLE) && !isRunning(p));
    if (dead.length) throw new UserError(`${box.name}: ${dead.map((p) => `${p.role} (pid ${p.pid})`).join(' and ')} not running; recreate the lab (seine lab down && seine lab up)`);
  }

  private where(): string {
    return this.dir === DEFAULT_LAB_DIR ? '' : ` in ${this.dir}`;
  }

  private noLab(): UserError {
    return new UserError(`no lab running${this.where()} (start one: seine lab up)`);
  }

  /** Run `fn` holding the lab lock. `create`: make the lab dir first (lab up). */
  private async locked<T>(create: boolean, fn: () => Promise<T>): Promise<T> {
    let lock;
    for (let attempt = 0; ; attempt++) {
      if (create) await mkdir(this.dir, { recursive: true });
      try {
        lock = await acquireLabLock(this.names.lockFile);
        break;
      } catch (err) {
        // The dir vanished under us: a concurrent `lab down` finished. `up` recreates it.
        if (!(err instanceof NoLabDir)) throw err;
        if (!create || attempt >= 2) throw this.noLab();
      }
    }
    try {
      return await fn();
    } finally {
      await lock.release();
    }
  }

  /** Run a change against a lab that is up, holding the lock. */
  private mutate<T>(fn: (store: StateStore) => Promise<T>): Promise<T> {
    // Checked before locking too, so asking a dir without a lab leaves no lock file behind.
    if (!existsSync(this.names.stateFile)) return Promise.reject(this.noLab());
    return this.locked(false, async () => fn(new StateStore(this.names.stateFile, await this.current())));
  }
}

function closeRuntime(runtime: PodRuntime): void {
  if (runtime instanceof CriRuntime) runtime.close();
}

function killRecorded(file: string): void {
  try {
    const ref = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; start: number };
    if (isRunning(ref)) process.kill(ref.pid, 'SIGKILL');
  } catch {
    /* no child recorded, or gone */
  }
}

/** Pods with a box stay there; the others go to the box with fewest pods (first on a tie). */
export function assignPods(spec: LabSpec): Map<string, LabSpec['pods']> {
  const byBox = new Map(spec.boxes.map((b) => [b.name, [] as LabSpec['pods']]));
  for (const p of spec.pods) if (p.box) byBox.get(p.box)?.push(p);
  for (const p of spec.pods) {
    if (p.box) continue;
    const [target] = [...byBox.entries()].sort((a, b) => a[1].length - b[1].length);
    target[1].push(p);
  }
  return byBox;
}

function leastLoadedBox(s: LabState): BoxState {
  const count = (b: BoxState) => s.pods.filter((p) => p.box === b.name).length;
  return s.boxes.reduce((best, b) => (count(b) < count(best) ? b : best));
}

/** Kubernetes sets kubernetes.io/metadata.name to the namespace's name and keeps it so. */
function rejectNameLabel(namespace: string, value: string | undefined): void {
  if (value !== undefined && value !== namespace) {
    throw new UserError(`label ${NS_NAME_LABEL} is set by Kubernetes to the namespace name ('${namespace}') and cannot be changed`);
  }
}
