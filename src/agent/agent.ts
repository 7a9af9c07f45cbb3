// The box agent: wires the modules together and owns their lifecycle. Start order matters:
// the datapath is converged (with the previous incarnation's flows adopted) before the CNI
// socket opens, so pods that exist keep forwarding and new ones get complete flows.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { agentLocalApiSocket, type AgentConfig } from '../api/config.js';
import { createLogger, getLogLevel } from '../lib/log.js';
import { Database } from '../lib/sqlite.js';
import { sleep } from '../lib/process.js';
import { PodConfigurator } from './cni/pod-configurator.js';
import { writeCniConfList } from './cni/conf-file.js';
import { CniServer } from './cni/server.js';
import { Datapath } from './datapath.js';
import { FileInventorySource } from './inventory/file.js';
import { KubeInventorySource } from './inventory/kube.js';
import { resolveKubeConnection } from './inventory/kubeconfig.js';
import type { InventorySource } from '../api/inventory.js';
import { HostLocalIpam } from './ipam/host-local.js';
import { podMtu, setUpNodeNetwork, underlayOf } from './node-network.js';
import { OpenFlowBridge } from './ovs/bridge.js';
import { OvsdbClient } from './ovs/ovsdb.js';
import { Pipeline } from './ovs/pipeline.js';
import { VSwitch } from './ovs/vswitch.js';
import { inCidr, peersFrom, type Underlay } from './peers.js';
import { OvsPodPorts } from './pod-ports.js';
import { nextRound } from './round-store.js';
import { AGENT_VERSION, RealizerRegistry, startAgentSync, type AgentSync } from './sync/index.js';
import { NetworkPolicyFeature } from './policy/feature.js';
import { PolicyRealizer } from './policy/realizer.js';
import type { PolicyFlowInput } from './policy/flows.js';
import { FqdnAgent } from './fqdn/feature.js';
import { HostFirewall } from './policy/host-firewall.js';
import { hostExemptions } from './policy/host-exemptions.js';
import { HostLogReader } from './policy/host-log.js';
import { PacketInMonitor } from './ovs/packet-in.js';
import { PacketOutSender } from './ovs/packet-out.js';
import { BridgeStats } from './ovs/flow-stats.js';
import { PolicyPacketIns, RejectResponder } from './policy/reject.js';
import { PolicyLogger, policyReference } from './policy/log.js';
import { ruleStatsOf, statsByPolicy, type RuleStats } from './policy/stats.js';
import { categoryFilter } from './ovs/cookie.js';
import type { EventEnvelope } from '../api/mqtt.js';
import { TraceflowAgent } from './traceflow/sessions.js';
import { purgeDatapathFlows } from './ovs/revalidate.js';
import { registerTraceflowMethods } from './traceflow/rpc.js';
import type { FlowRecord } from '../api/flow-record.js';
import { accountingFlows, LEARNED_FLOWS } from './flows/accounting.js';
import type { FlowVisibility } from './flows/index.js';
import type { Registry } from 'prom-client';
import { AgentApiServer } from './api-server.js';
import { EgressAgent } from './egress/realizer.js';
import { startServices } from './service/index.js';
import { TunnelNeighbours } from './tunnel-neighbours.js';
import { NodeConfigAgent } from './node-config/realizer.js';
import { LatencyMonitor } from './latency/monitor.js';
import { baseSettings } from './node-config/merge.js';
import { removeWireGuard, WireGuard, type WireGuardPeer } from './wireguard/index.js';
import { WIREGUARD_KEY_ANNOTATION } from '../api/wireguard.js';

const log = createLogger('agent');

export function inventorySourceFor(cfg: AgentConfig): InventorySource {
  const inv = cfg.inventory;
  return inv.source === 'file' ? new FileInventorySource({ path: inv.path }) : new KubeInventorySource({ connection: resolveKubeConnection(inv.kubeconfig) });
}

export class Agent {
  private constructor(
    readonly config: AgentConfig,
    readonly round: number,
    readonly datapath: Datapath,
    /** MQTT sync with the controller; undefined without a `controller` config section. */
    readonly sync: AgentSync | undefined,
    /** Per-rule packets, bytes and sessions from the metric tables. */
    readonly policyStats: () => Promise<RuleStats[]>,
    /** Flow exporter and store; undefined with flowExporter.enable false. */
    readonly flows: FlowVisibility | undefined,
    /** The agent API (unix socket, and TCP with apiListen): /metrics, /flows, /healthz, the local object view. */
    readonly api: AgentApiServer,
    private readonly parts: { db: Database; ovsdb: OvsdbClient; inventory: InventorySource; cni: CniServer; packetIns: PacketInMonitor; packetOuts: PacketOutSender; bridgeStats: BridgeStats; npLog: PolicyLogger; hostLog: HostLogReader; statsTimer?: StatsReporter | undefined; neighbours?: TunnelNeighbours | undefined; latency: LatencyMonitor; fqdn: FqdnAgent },
  ) {}

  /** `realizers`: what the sync hands desired objects to (kinds without one are reported Failed). */
  static async start(cfg: AgentConfig, inventory = inventorySourceFor(cfg), realizers = new RealizerRegistry()): Promise<Agent> {
    const t0 = Date.now();
    await mkdir(cfg.stateDir, { recursive: true });
    const db = await Database.open(path.join(cfg.stateDir, 'agent.db'));
    const round = await nextRound(db);
    log.info({ node: cfg.nodeName, round, datapathType: cfg.datapathType, mode: cfg.trafficEncapMode, tunnel: cfg.tunnelType }, 'agent starting');

    await inventory.start();
    const podCIDR = cfg.podCIDR ?? (await ownPodCIDR(inventory, cfg.nodeName));
    const selfNode = inventory.snapshot().nodes.get(cfg.nodeName);
    const own: Underlay | undefined = selfNode?.internalIP ? await underlayAddress(selfNode.internalIP) : undefined;

    const ovsdb = await OvsdbClient.connect({ remote: cfg.ovsdbRemote });
    const vs = new VSwitch(ovsdb);
    const network = await setUpNodeNetwork(vs, cfg, podCIDR);
    const mtu = podMtu(cfg, 1500, own?.ip.includes(':'));
    const wireGuard = cfg.trafficEncryptionMode === 'wireGuard' ? await WireGuard.start(cfg, mtu) : undefined;
    // Encryption turned off: what an earlier agent set up for it goes (the wireguard-go it started, by its recorded PID).
    const unencrypted = wireGuard ? [] : await removeWireGuard(cfg);
    if (unencrypted.length) log.info({ removed: unencrypted }, 'trafficEncryptionMode none: WireGuard removed');
    // Antrea's way of telling the peers: the key on the box's own Node (retried on every Node change until it shows).
    const publishKey = () => {
      if (!wireGuard || !inventory.annotateNode || inventory.snapshot().nodes.get(cfg.nodeName)?.wireGuardPublicKey === wireGuard.publicKey) return;
      inventory.annotateNode(cfg.nodeName, { [WIREGUARD_KEY_ANNOTATION]: wireGuard.publicKey }).catch((err) => log.warn({ err }, 'the WireGuard key is not on this Node yet'));
    };
    publishKey();
    const pipeline = Pipeline.build();
    // fail_mode secure and no controller: the agent is br-int's only writer, so after the first
    // sync it plans against its own mirror of the table instead of dumping it every time.
    const mgmt = `unix:${path.join(cfg.ovsRunDir, `${cfg.bridgeName}.mgmt`)}`;
    // The per-connection counters OVS learns for the flow exporter are not the agent's to reconcile.
    const bridge = new OpenFlowBridge({ mgmt, tables: pipeline, soleWriter: true, foreign: LEARNED_FLOWS });
    // Traceflow injections and Reject answers go out on the bridge's OpenFlow connection.
    const packetOuts = new PacketOutSender(mgmt);
    // Rule stats, the exporter's learned counters and table flow counts: read on the same connection.
    const bridgeStats = new BridgeStats(mgmt);

    let datapath: Datapath;
    const podPorts = new OvsPodPorts(vs, cfg.bridgeName, () => datapath.sync());
    // Policies applied to Nodes: the host's iptables, with the controller and the k3s API server kept reachable.
    const hostFirewall = new HostFirewall({ exemptions: () => hostExemptions(cfg) });
    const policy = new PolicyRealizer(cfg.nodeName, inventory, () => datapath, hostFirewall);
    policy.register(realizers);
    const ofports = async () => new Map((await podPorts.list()).map((p) => [p.key, p.ofport]));
    const flowExport = cfg.flowExporter.enable;
    // The fqdn feature reads the input the policy feature asked for in the same sync (it comes
    // right after it in `features`), so one sync lists the pod ports once.
    let policyInput: Promise<PolicyFlowInput> | undefined;
    const policyFeature = new NetworkPolicyFeature(() => (policyInput = policy.flowInput(ofports).then((i) => ({ ...i, denyAccounting: flowExport, fqdnAddresses: (p) => fqdn.addressesFor(p) }))));
    // FQDN egress peers: DNS answers to the pods of fqdn rules are held until the flows allow what they say.
    const fqdn = new FqdnAgent({
      source: () => policyInput ?? policy.flowInput(ofports),
      sync: () => datapath.sync(),
      packetOut: (p) => packetOuts.send(p),
      minTTL: cfg.fqdnCacheMinTTL,
      file: path.join(cfg.stateDir, 'fqdn-cache.json'),
    });
    await fqdn.load();
    const accountingFeature = { name: 'flowAccounting', flows: accountingFlows };
    const peers = () => peersFrom(inventory.snapshot(), cfg.nodeName, cfg.trafficEncapMode, own, !!wireGuard);
    // Peers on the device before the routes into it (datapath.sync), on start and on every Node change.
    const wireGuardPeers = async () => void (await wireGuard?.sync(peers().filter((p): p is WireGuardPeer => !!p.publicKey)));
    await wireGuardPeers();
    const egress = new EgressAgent({
      node: cfg.nodeName, podCIDR, serviceCIDR: cfg.serviceCIDR, gatewayMac: network.gateway.mac, peers,
      uplink: async () => (own ? (await underlayOf(own.ip))?.dev : undefined),
      syncDatapath: () => datapath.sync(),
      ...(wireGuard ? { wireGuard: { mtu } } : {}),
    });
    egress.register(realizers);
    await egress.start(!!cfg.controller);
    // NodeConfigs: settings over the config file's, applied live once the parts below are up.
    const nodeConfig = new NodeConfigAgent(baseSettings(cfg, getLogLevel()));
    nodeConfig.register(realizers);
    const traceflow = new TraceflowAgent({
      node: cfg.nodeName, pipeline,
      sync: () => datapath.sync(),
      revalidated: purgeDatapathFlows(cfg.ovsRunDir),
      packetOut: (p) => packetOuts.send(p),
      pods: () => podPorts.list(),
      gateway: network.gateway,
      tunnelPort: network.tunnel?.ofport,
      ...(wireGuard ? { wireGuardPeerOf: (ip: string) => peers().find((p) => p.wireGuard && inCidr(ip, p.podCIDR)) } : {}),
      rule: (id) => policyFeature.rule(id),
      inventory: () => inventory.snapshot(),
    });
    const services = startServices({ nodeName: cfg.nodeName, inventory, bridge, gateway: network.gateway, pods: () => podPorts.list(), sync: () => datapath.sync() });
    datapath = new Datapath({
      bridge, pipeline, round, podPorts, network, podCIDR,
      serviceCIDR: cfg.serviceCIDR,
      peers,
      ...(wireGuard ? { wireGuardDev: wireGuard.device } : {}),
      features: flowExport ? [policyFeature, fqdn, egress.feature, services, accountingFeature] : [policyFeature, fqdn, egress.feature, services],
      derived: [traceflow],
    });
    // Packet-ins of Reject (and logged) rules: listening before the first sync installs them.
    const packetIns = new PacketInMonitor({ mgmt });
    const reject = new RejectResponder(
      { l3ForwardingTable: pipeline.id('L3Forwarding'), gatewayPort: network.gateway.ofport, tunnelPort: network.tunnel?.ofport },
      (p) => packetOuts.send(p),
    );
    // np.log, and each line as a policy-log event to the controller (through the outbox).
    let sync: AgentSync | undefined;
    // NodeLatencyMonitor: UDP probes to the peers' underlay addresses while the object exists.
    const latency = new LatencyMonitor({
      peers: () => peers().map((p) => ({ name: p.name, underlayIP: p.underlayIP })),
      ownIP: own?.ip,
      report: (r) => void sync?.reportLatency(r).catch((err) => log.warn({ err }, 'latency stats not reported')),
    });
    latency.register(realizers);
    const npLog = new PolicyLogger({
      dir: path.join(cfg.stateDir, 'networkpolicy'),
      onRecord: (r) => {
        if (!sync) return;
        const payload: EventEnvelope['payload'] = {
          severity: 'info', type: 'policy-log', message: r.line,
          fields: { policy: policyReference(r.rule.rule), rule: r.rule.rule.ruleName, action: r.rule.rule.action, direction: r.rule.rule.direction, src: r.src, dst: r.dst, protocol: r.protocol },
        };
        sync.publishEvent(payload).catch((err) => log.warn({ err }, 'policy-log event not queued'));
      },
    });
    // Logged host rules: their packets come through an NFLOG group into the same np.log.
    const hostLog = new HostLogReader({ node: cfg.nodeName, npLog });
    hostFirewall.onRules = (byTag) => hostLog.update(byTag);
    const policyPacketIns = new PolicyPacketIns({
      reject,
      log: (ev, u) => {
        const rule = policyFeature.rule(u.conjId);
        if (rule) npLog.log(ev, rule, u);
      },
    });
    packetIns.on('packetIn', (ev) => {
      traceflow.onPacketIn(ev);
      void policyPacketIns.onPacketIn(ev);
      void fqdn.onPacketIn(ev);
    });
    await packetIns.start();
    // The persisted desired state (policies) is realized before the first datapath sync ends,
    // so a restarted agent keeps enforcing without a gap and re-installs nothing that is there.
    sync = await startAgentSync(cfg, db, inventory, realizers, wireGuard && { publicKey: wireGuard.publicKey, port: wireGuard.port });
    if (sync) registerTraceflowMethods(sync.rpc, traceflow);
    await datapath.sync();
    // The userspace datapath drops a tunnel packet whose next hop OVS has not resolved yet:
    // the peers' neighbours are in its cache before the CNI socket opens (tunnel-neighbours.ts).
    const neighbours = cfg.datapathType === 'netdev' && network.tunnel
      ? new TunnelNeighbours({ ovsRunDir: cfg.ovsRunDir, tunnelPeers: () => peers().filter((p) => p.encap).map((p) => p.underlayIP) })
      : undefined;
    await neighbours?.start();
    inventory.on('change', (c) => {
      if (c.kind === 'Node') publishKey();
      if (c.kind === 'Node') wireGuardPeers().then(() => datapath.sync()).catch((err) => log.error({ err }, 'datapath sync failed'));
      if (c.kind === 'Node') void egress.refresh(); // peers' pod CIDRs are cluster destinations
      if (c.kind === 'Node') neighbours?.poke();
    });

    const ipam = await HostLocalIpam.open(db, podCIDR);
    const live = new Set((await podPorts.list()).map((p) => p.containerId));
    const released = await ipam.reconcile(live);
    if (released.length) log.info({ released: released.map((a) => `${a.namespace}/${a.name} ${a.ip}`) }, 'released addresses of pods without a port');

    const configurator = new PodConfigurator({
      ipam,
      connector: podPorts,
      defaultMtu: podMtu(cfg, 1500, own?.ip.includes(':')),
      userspaceDatapath: cfg.datapathType === 'netdev',
    });
    const cni = new CniServer({ podNetwork: configurator, socketPath: cfg.cniSocket });
    await cni.start();
    // The API opens with the CNI socket (seinectl --local works once the agent is ready); metrics and flows attach below.
    const api = new AgentApiServer({ node: cfg.nodeName, agentVersion: AGENT_VERSION, sync, fqdnCache: () => fqdn.entries() }, agentLocalApiSocket(cfg));
    await api.start(cfg.apiListen);
    // Written last: the runtime starts calling the plugin as soon as the file appears.
    await writeCniConfList(cfg.cniConfDir, cfg.cniSocket);
    log.info({ ms: Date.now() - t0, podCIDR, pods: live.size, cniSocket: cfg.cniSocket, controller: cfg.controller?.url }, 'agent ready');
    const metricTables = new Set([pipeline.id('EgressMetric'), pipeline.id('IngressMetric')]);
    const policyStats = async () => {
      const flows = (await Promise.all([...metricTables].map((tableId) => bridgeStats.flows({ tableId, cookie: categoryFilter('NetworkPolicy') })))).flat();
      return [...ruleStatsOf(flows, metricTables, (id) => policyFeature.rule(id)), ...(await hostFirewall.stats())];
    };
    const statsTimer = sync && cfg.controller ? new StatsReporter(cfg.controller.statsIntervalSeconds, policyStats, sync) : undefined;
    // With a controller, every batch also goes to the fleet flow store (through the outbox).
    const toController = sync ? [(batch: { record: FlowRecord }[]) => sync!.publishFlows(batch.map((b) => b.record))] : [];
    // The exporter (store, conntrack sources, IPFIX) and the metrics registry (prom-client,
    // systeminformation) load only when used: docs/agent.md, Footprint.
    const flows = flowExport ? await (await import('./flows/index.js')).startFlowVisibility({ cfg, stats: bridgeStats, pipeline, inventory, rule: (id) => policyFeature.rule(id), servicePortName: (ip, port, proto) => services.servicePortName(ip, port, proto), sinks: toController }) : undefined;
    // Impact preview and recommendation read the flow store (the controller asks over request/response);
    // they load with the exporter.
    if (sync && flows) {
      const [{ registerImpactMethods }, { evaluatorFor }] = await Promise.all([import('./flows/impact-rpc.js'), import('../policy/impact.js')]);
      registerImpactMethods(sync.rpc, { node: cfg.nodeName, store: flows.store, inventory: () => inventory.snapshot(), evaluator: evaluatorFor });
    }
    const metrics = async () => (await import('./metrics.js')).agentMetrics({
      nodeName: cfg.nodeName,
      flowsByTable: () => bridgeStats.flowsByTable(),
      localPods: () => [...inventory.snapshot().pods.values()].filter((p) => p.nodeName === cfg.nodeName && !p.hostNetwork).length,
      realizedRules: () => policyFeature.realized(),
      flows,
      disks: [cfg.stateDir],
      latency: () => latency.rtts(),
      fqdn: () => ({ size: fqdn.cache.size, evictions: fqdn.cache.evictions, answers: fqdn.interceptor.counts }),
      ...(inventory.refusals ? { inventoryRefused: () => inventory.refusals!.counts } : {}),
    });
    // Every value is read at scrape time, so the registry is made by the first scrape.
    let registry: Promise<Registry> | undefined;
    api.attach({ registry: () => (registry ??= metrics().catch((err: unknown) => { registry = undefined; throw err; })), ...(flows ? { store: flows.store } : {}) });
    await nodeConfig.attach({ flows, ...(statsTimer ? { statsInterval: (s: number) => statsTimer.every(s) } : {}) });
    return new Agent(cfg, round, datapath, sync, policyStats, flows, api, { db, ovsdb, inventory, cni, packetIns, packetOuts, bridgeStats, npLog, hostLog, statsTimer, neighbours, latency, fqdn });
  }

  async stop(): Promise<void> {
    const { cni, inventory, ovsdb, db, packetIns, packetOuts, bridgeStats, npLog, hostLog, statsTimer, neighbours, latency, fqdn } = this.parts;
    statsTimer?.stop();
    await fqdn.stop();
    await latency.stop();
    await neighbours?.stop();
    await this.api.stop();
    await this.sync?.stop();
    await this.flows?.stop();
    await cni.stop();
    await packetIns.stop();
    await packetOuts.close();
    await bridgeStats.close();
    hostLog.stop();
    npLog.close();
    await this.datapath.idle();
    await inventory.stop();
    await ovsdb.close();
    await db.close();
    log.info('agent stopped');
  }
}

/** Reads the per-rule counters on a timer and hands them to the sync (which reports only changes). */
class StatsReporter {
  private timer?: NodeJS.Timeout;
  private seconds = 0;
  private busy = false;

  constructor(seconds: number, private readonly read: () => Promise<RuleStats[]>, private readonly sync: AgentSync) {
    this.every(seconds);
  }

  /** Re-arms the timer (a NodeConfig's statsIntervalSeconds); the same interval leaves it alone. */
  every(seconds: number): void {
    if (seconds === this.seconds && this.timer) return;
    this.seconds = seconds;
    clearInterval(this.timer);
    this.timer = setInterval(() => this.tick(), seconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    if (this.busy) return;
    this.busy = true;
    this.read()
      .then((rules) => this.sync.reportStats(statsByPolicy(rules)))
      .catch((err) => log.warn({ err }, 'policy stats not reported'))
      .finally(() => (this.busy = false));
  }
}

/** The box's pod CIDR from its Node object; k3s sets it shortly after the node registers. */
async function ownPodCIDR(inventory: InventorySource, node: string, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const cidr = inventory.snapshot().nodes.get(node)?.podCIDR;
    if (cidr) return cidr;
    if (Date.now() > deadline) throw new Error(`node ${node} has no spec.podCIDR after ${timeoutMs / 1000} s (set podCIDR in the agent config, or check the k3s server)`);
    await sleep(500);
  }
}

async function underlayAddress(ip: string): Promise<Underlay | undefined> {
  const u = await underlayOf(ip);
  if (!u) log.warn({ ip }, 'the node\'s internal IP is on no local interface; hybrid mode will tunnel to every peer');
  return u && { ip, prefixLength: u.prefixLength };
}
