// Configuration files, validated once at start-up and passed down typed (no global settings).
// Defaults live here so every consumer (agent, lab, image first-boot, docs) agrees on them.
import { hostname } from 'node:os';
import { z } from 'zod';
import { defaultAgentSocket } from './cni.js';
import { NodeNameSchema } from './meta.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from './mqtt.js';
import { CIDRSchema, CollectorAddressSchema, DeviceNameSchema, IPAddressSchema } from './net.js';
import { ReleaseArchSchema } from './release.js';
import { CaFingerprintSchema } from './enrollment.js';
import { WIREGUARD_DEFAULT_DEVICE, WIREGUARD_DEFAULT_PORT } from './wireguard.js';

/** Defined in net.ts (node-config.ts needs it without importing this file); still exported here. */
export { CollectorAddressSchema };

const absolutePath = z.string().startsWith('/', { error: 'expected an absolute path' });
const BROKER_URL = /^((mqtts?|wss?):\/\/[^\s/]+|mqtts?\+unix:\/\/\/\S+)/;
// mqtt+unix:///path reaches a broker through a unix socket: the lab's agents run in their box's
// network namespace and cannot reach the host's 127.0.0.1, but they share its file system.
// mqtts+unix:///path is TLS over that socket (the broker's certificate is checked as "localhost").
const brokerUrl = z.string().regex(BROKER_URL, { error: 'expected an mqtt://, mqtts://, ws://, wss://, mqtt+unix:///path or mqtts+unix:///path URL' });
/** Whether a broker URL is TLS (a node certificate needs one). */
export const isTlsBrokerUrl = (url: string) => /^(mqtts|wss|mqtts\+unix):/.test(url);

/** `host:port`, `[v6]:port` or `:port` (all interfaces); port 0 picks a free one. */
const listenAddress = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]*):(0|[1-9][0-9]{0,4})$/, {
  error: 'expected host:port, [ipv6]:port or :port',
});

export const PasswordCredentialsSchema = z.strictObject({
  username: z.string().min(1),
  password: z.string().min(1),
});

/** mTLS with per-node certificates; caFile pins the controller's CA. */
export const CertificateCredentialsSchema = z.strictObject({
  certFile: absolutePath,
  keyFile: absolutePath,
  caFile: absolutePath.optional(),
});

const httpsUrl = z.string().regex(/^https:\/\/\S+$/, { error: 'expected an https:// URL' });

/**
 * Enrollment as k3s joins nodes: the box pins the controller's CA by fingerprint, sends the
 * one-time join token with its own CSR, and keeps the key and node certificate in
 * `<stateDir>/pki/` (renewed at 2/3 of its lifetime). The token is needed only until then.
 */
export const EnrollmentConfigSchema = z.strictObject({
  /** The controller's REST URL. */
  server: httpsUrl,
  /** Reach `server` through this unix socket (the lab's boxes); the URL's host is what the certificate is checked for. */
  serverSocket: absolutePath.optional(),
  token: z.string().min(1).optional(),
  caFingerprint: CaFingerprintSchema,
});
export type EnrollmentConfig = z.infer<typeof EnrollmentConfigSchema>;

/**
 * `seine-node.yaml`, dropped on the boot partition before first boot (`seinectl node add` prints one):
 *
 *     controllerUrl: mqtts://controller.example.net:8883
 *     server: https://controller.example.net:8443      # REST; default https://<controllerUrl host>:8443
 *     nodeName: box-17
 *     joinToken: 0123456789abcdef.…                     # one use; the agent enrolls with it
 *     caFingerprint: sha256:…
 *
 * Or `credentials` instead of the token: certificate files (paths on the boot partition,
 * `/boot/firmware/…`, which first boot copies to /etc/seine/pki and removes there), or a
 * password, which only `insecure: true` allows.
 */
export const SeineNodeFileSchema = z
  .strictObject({
    /** The MQTT endpoint of the controller (its embedded broker or the external broker). */
    controllerUrl: brokerUrl,
    /** The controller's REST URL the box enrolls at. */
    server: httpsUrl.optional(),
    nodeName: NodeNameSchema,
    joinToken: z.string().min(1).optional(),
    caFingerprint: CaFingerprintSchema.optional(),
    credentials: z.union([PasswordCredentialsSchema, CertificateCredentialsSchema]).optional(),
    /** Allows password credentials (which cross the network where no TLS is used). */
    insecure: z.boolean().optional(),
    /** The CA of the broker's certificate (mqtts://); the system's CAs when absent. */
    caFile: absolutePath.optional(),
    /** Further agent settings (`/etc/seine/agent.yaml` keys, e.g. podCIDR); checked with the agent's schema at first boot. */
    agent: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((file, ctx) => {
    const tls = isTlsBrokerUrl(file.controllerUrl);
    if (file.joinToken !== undefined || file.caFingerprint !== undefined) {
      if (file.credentials) ctx.addIssue({ code: 'custom', path: ['credentials'], message: 'give either joinToken and caFingerprint (enrollment) or credentials' });
      if (file.joinToken === undefined) ctx.addIssue({ code: 'custom', path: ['joinToken'], message: 'enrollment needs the join token (seinectl node add)' });
      if (file.caFingerprint === undefined) ctx.addIssue({ code: 'custom', path: ['caFingerprint'], message: 'enrollment needs the CA fingerprint (seinectl node add)' });
      if (!tls) ctx.addIssue({ code: 'custom', path: ['controllerUrl'], message: 'enrollment needs a TLS URL (mqtts://, wss:// or mqtts+unix://)' });
      return;
    }
    if (!file.credentials) return void ctx.addIssue({ code: 'custom', path: ['joinToken'], message: 'expected joinToken and caFingerprint (seinectl node add prints them), or credentials' });
    if ('certFile' in file.credentials && !tls) {
      ctx.addIssue({ code: 'custom', path: ['controllerUrl'], message: 'certificate credentials need a TLS URL (mqtts://, wss:// or mqtts+unix://)' });
    }
    if ('password' in file.credentials && file.insecure !== true) {
      ctx.addIssue({ code: 'custom', path: ['credentials'], message: 'password credentials need insecure: true (use joinToken and caFingerprint from seinectl node add)' });
    }
  });

/** The enrollment server of a seine-node.yaml: `server`, else https://<controllerUrl host>:8443. */
export function enrollmentServerOf(file: Pick<SeineNodeFile, 'server' | 'controllerUrl'>): string {
  if (file.server) return file.server;
  const host = /^[a-z+]+:\/\/([^/:]+|\[[^\]]+\])/.exec(file.controllerUrl)?.[1] ?? '127.0.0.1';
  return `https://${host}:8443`;
}
export type SeineNodeFile = z.infer<typeof SeineNodeFileSchema>;

export const DatapathTypeSchema = z.enum(['system', 'netdev']);
export const TunnelTypeSchema = z.enum(['geneve', 'vxlan', 'gre']);
export const TrafficEncapModeSchema = z.enum(['encap', 'noEncap', 'hybrid']);
/** Antrea's trafficEncryptionMode (its ipsec mode is not offered). */
export const TrafficEncryptionModeSchema = z.enum(['none', 'wireGuard']);

/** The WireGuard device pod traffic to peers is routed into (docs/wireguard.md). */
export const WireGuardConfigSchema = z.strictObject({
  /** UDP port the device listens on; every box uses the same one (Antrea: wireGuard.port). */
  port: z.number().int().min(1).max(65535).default(WIREGUARD_DEFAULT_PORT),
  /** The device; the lab gives each box its own name (wireguard-go's sockets share /var/run/wireguard). */
  interfaceName: DeviceNameSchema.default(WIREGUARD_DEFAULT_DEVICE),
  /** Userspace WireGuard to start when the kernel has no wireguard link type. */
  userspaceCommand: z.string().min(1).default('wireguard-go'),
});
export type WireGuardConfig = z.infer<typeof WireGuardConfigSchema>;

export const InventoryConfigSchema = z.discriminatedUnion('source', [
  z.strictObject({ source: z.literal('kubernetes'), kubeconfig: absolutePath.optional() }),
  z.strictObject({ source: z.literal('file'), path: absolutePath }),
]);
export type InventoryConfig = z.infer<typeof InventoryConfigSchema>;

export const DEFAULT_SERVICE_CIDR = '10.43.0.0/16'; // k3s' default

/** TLS towards an IPFIX collector (files in PEM); certFile and keyFile go together. */
export const IpfixTlsConfigSchema = z
  .strictObject({
    caFile: absolutePath.optional(),
    certFile: absolutePath.optional(),
    keyFile: absolutePath.optional(),
    /** The name the collector's certificate must carry; default: the collector's host. */
    serverName: z.string().min(1).optional(),
    minVersion: z.enum(['VersionTLS12', 'VersionTLS13']).default('VersionTLS12'),
  })
  .refine((t) => !t.certFile === !t.keyFile, { error: 'certFile and keyFile go together', path: ['keyFile'] });
export type IpfixTlsConfig = z.infer<typeof IpfixTlsConfigSchema>;

/** Antrea's flow exporter settings (antrea-agent.conf names), plus the box's flow store. */
export const FlowExporterConfigSchema = z.strictObject({
  enable: z.boolean().default(true),
  /** Where connections come from: the box's OVS userspace conntrack (netdev), kernel conntrack (system), or by datapathType. */
  conntrackSource: z.enum(['auto', 'ovs', 'kernel']).default('auto'),
  pollIntervalSeconds: z.number().min(0.5).max(3600).default(5),
  activeFlowExportTimeoutSeconds: z.number().int().min(1).default(5),
  idleFlowExportTimeoutSeconds: z.number().int().min(1).default(15),
  /** IPFIX collector; none: records only go to the store (and the controller). */
  flowCollectorAddr: CollectorAddressSchema.optional(),
  /** For a `:tls` collector: the CA that signed its certificate (default: the system's), a client certificate, the name to verify. */
  tls: IpfixTlsConfigSchema.optional(),
  store: z
    .strictObject({
      /** Raw records and rollups older than this are deleted. */
      maxAgeDays: z.number().positive().default(7),
      /** Bound of flows.db plus its WAL; the oldest raw records go first. */
      maxSizeMB: z.number().positive().default(200),
    })
    .prefault({}),
}).refine((f) => !f.tls || /:tls$/.test(f.flowCollectorAddr ?? ''), { error: 'tls is for a <host>:<port>:tls flowCollectorAddr', path: ['tls'] });
export type FlowExporterConfig = z.infer<typeof FlowExporterConfigSchema>;

/**
 * The updater (signed releases, rollouts). On a box: the agent runs from
 * `<root>/current` → `<root>/releases/<version>`; the lab points every path into the box's dir.
 */
export const UpdateConfigSchema = z.strictObject({
  /** Absent: on when `<root>/current` exists (the agent runs from a release layout). */
  enable: z.boolean().optional(),
  root: absolutePath.default('/opt/seine'),
  /** pending switch, outcomes, refused versions, partial downloads. */
  stateDir: absolutePath.default('/var/lib/seine/update'),
  /** The trusted ed25519 release key (PEM); a missing file is skipped when publicKeys names others. */
  publicKey: absolutePath.default('/etc/seine/release.pub'),
  /** More trusted release keys (PEM files), e.g. the new key during a key rotation. */
  publicKeys: z.array(absolutePath).default([]),
  /** The controller's REST URL bundles come from; default: the controller's MQTT host, http(s)://host:8080. */
  server: z.string().regex(/^https?:\/\/\S+$/, { error: 'expected an http:// or https:// URL' }).optional(),
  /** Reach `server` through this unix socket instead (the lab's boxes cannot reach the host's 127.0.0.1). */
  serverSocket: absolutePath.optional(),
  /** Bearer token for the download, when the controller requires one. */
  token: z.string().min(1).optional(),
  /** The CA of the controller's certificate (https://); the system's CAs when absent. */
  caFile: absolutePath.optional(),
  /** Versions kept besides the running one. */
  keepPrevious: z.number().int().min(1).default(2),
  /** A new version must be healthy (agent started, broker reached) this long after the switch, or it is rolled back. */
  healthDeadlineSeconds: z.number().min(1).default(120),
  /** This box's release architecture; default: the machine's. */
  arch: ReleaseArchSchema.optional(),
  /** Test/diagnostic: every new version fails its health check (and is rolled back). */
  failHealthCheck: z.boolean().default(false),
  /**
   * Test/diagnostic: the updater stops for good after this step of an update (the bundle
   * downloaded, the bundle unpacked, or — in the new version — before confirming its health), so a
   * test can cut the power exactly there.
   */
  testHaltAt: z.enum(['downloaded', 'unpacked', 'confirming']).optional(),
});
export type UpdateConfig = z.infer<typeof UpdateConfigSchema>;

/** The agent's own settings (`/etc/seine/agent.yaml`); every field has a default. */
export const AgentConfigSchema = z.strictObject({
  /** The Kubernetes node name; like k3s, the host name by default. */
  nodeName: NodeNameSchema.default(() => hostname().toLowerCase()),
  bridgeName: z.string().min(1).max(15).default('br-int'),
  /** `netdev` is the userspace datapath the lab uses; boxes with the kernel module use `system`. */
  datapathType: DatapathTypeSchema.default('system'),
  tunnelType: TunnelTypeSchema.default('geneve'),
  trafficEncapMode: TrafficEncapModeSchema.default('encap'),
  /** wireGuard: pod traffic to other boxes goes through an encrypted WireGuard device instead of the tunnel. */
  trafficEncryptionMode: TrafficEncryptionModeSchema.default('none'),
  wireGuard: WireGuardConfigSchema.prefault({}),
  /** This node's pod CIDR; read from the k3s Node object when absent. */
  podCIDR: CIDRSchema.optional(),
  serviceCIDR: CIDRSchema.default(DEFAULT_SERVICE_CIDR),
  /** Pod interface MTU; derived from the underlay MTU and tunnel overhead when absent. */
  mtu: z.number().int().min(576).max(9216).optional(),
  stateDir: absolutePath.default('/var/lib/seine'),
  cniSocket: absolutePath.default(defaultAgentSocket),
  /** The read-only local API (`seinectl --local`); default: agent-api.sock beside cniSocket. */
  localApiSocket: absolutePath.optional(),
  ovsdbRemote: z.string().min(1).default('unix:/var/run/openvswitch/db.sock'),
  /** Where ovs-vswitchd keeps `<bridge>.mgmt`, the OpenFlow socket the agent programs. */
  ovsRunDir: absolutePath.default('/var/run/openvswitch'),
  /** Where pods, namespaces and nodes come from: the k3s API on a box, a file the lab writes. */
  inventory: InventoryConfigSchema.default({ source: 'kubernetes', kubeconfig: '/etc/rancher/k3s/k3s.yaml' }),
  /** Where the agent writes its CNI network config list: k3s reads it there, not from /etc/cni/net.d. */
  cniConfDir: absolutePath.default('/var/lib/rancher/k3s/agent/etc/cni/net.d'),
  /** Conntrack flows → enrichment → SQLite store (`<stateDir>/flows.db`) → IPFIX. */
  flowExporter: FlowExporterConfigSchema.prefault({}),
  /** Seconds a learned FQDN address is kept at least, whatever its DNS TTL (Antrea's fqdnCacheMinTTL; 0: the TTL alone). */
  fqdnCacheMinTTL: z.number().int().min(0).max(86_400).default(0),
  /** Prometheus /metrics (and the flow query API); `:0` picks a free port, absent: off. Antrea's agent API port is 10350. */
  apiListen: listenAddress.optional(),
  /** Signed releases and rollouts (the updater). */
  update: UpdateConfigSchema.prefault({}),
  /** Sync with a controller over MQTT; without it the agent runs standalone (tests, bare datapath). */
  controller: z
    .strictObject({
      /** The controller's MQTT endpoint (its embedded broker or the external broker). */
      url: brokerUrl,
      /**
       * A password (`seine controller credentials`; insecure setups), or a node certificate (`seine
       * certs node`, CN = node name; needs mqtts://). Absent with `enrollment`.
       */
      credentials: z.union([PasswordCredentialsSchema, CertificateCredentialsSchema]).optional(),
      /** Enroll with a join token and renew the node certificate automatically (the normal path). */
      enrollment: EnrollmentConfigSchema.optional(),
      /** The CA that signed the broker's certificate (mqtts://); the system's CAs when absent. */
      caFile: absolutePath.optional(),
      /** MQTT version: 4 (3.1.1; the embedded aedes broker speaks only this) or 5 (mosquitto, EMQX). */
      protocolVersion: z.union([z.literal(4), z.literal(5)]).default(4),
      /** Bound of the on-disk outbox (reports, events); older entries are dropped and counted. */
      outboxLimit: z.number().int().min(1).default(10_000),
      /** Largest MQTT payload taken from the controller, bytes (the controller's maxMessageBytes; the same default). */
      maxMessageBytes: z.number().int().min(1024).default(DEFAULT_MAX_MESSAGE_BYTES),
      /** Bound of the outbox's payload bytes (default 64 MiB); past it too the oldest entries go, counted. */
      outboxBytes: z.number().int().min(65_536).default(64 << 20),
      /** How often the per-rule policy counters are read and, when they changed, reported. */
      statsIntervalSeconds: z.number().min(1).default(30),
    })
    .superRefine((c, ctx) => {
      if (!c.credentials === !c.enrollment) ctx.addIssue({ code: 'custom', path: ['enrollment'], message: 'give either enrollment (join token, CA fingerprint) or credentials' });
      if (((c.credentials && 'certFile' in c.credentials) || c.enrollment) && !isTlsBrokerUrl(c.url)) {
        ctx.addIssue({ code: 'custom', path: ['url'], message: 'certificate credentials need a TLS URL (mqtts://, wss:// or mqtts+unix://)' });
      }
    })
    .optional(),
});
export type AgentConfig = z.infer<typeof AgentConfigSchema>;
export type AgentConfigInput = z.input<typeof AgentConfigSchema>;

/** The controller's settings. `broker` is `embedded` (aedes in-process) or an external broker URL. */
/** The controller's flow aggregator: its export timeouts (Antrea's defaults) and IPFIX collector. */
export const FlowAggregatorConfigSchema = z
  .strictObject({
    /** A connection still updating is exported every this many seconds. */
    activeFlowRecordTimeoutSeconds: z.number().int().min(1).default(60),
    /** A connection not updated for this long is exported a last time and forgotten by the exporter. */
    inactiveFlowRecordTimeoutSeconds: z.number().int().min(1).default(90),
    flowCollector: z.strictObject({
      address: CollectorAddressSchema,
      observationDomainID: z.number().int().min(0).max(0xffffffff).optional(),
      tls: IpfixTlsConfigSchema.optional(),
    }).refine((c) => !c.tls || /:tls$/.test(c.address), { error: 'tls is for a <host>:<port>:tls address', path: ['tls'] }),
  });
export type FlowAggregatorConfig = z.infer<typeof FlowAggregatorConfigSchema>;

/** A REST token as configured: the token itself (16+ characters) or its hash, `sha256:<64 hex>`. */
const restToken = z.string().min(16, { error: 'expected at least 16 characters' }).refine((t) => !t.startsWith('sha256:') || /^sha256:[0-9a-f]{64}$/.test(t), {
  error: 'a hashed token is sha256:<64 lowercase hex digits>',
});

export const DEFAULT_REST_LISTEN = ':8443';
export const DEFAULT_BROKER_LISTEN = ':8883';
/** What `insecure: true` listens on when nothing is configured (the plain ports of old). */
export const INSECURE_REST_LISTEN = ':8080';
export const INSECURE_BROKER_LISTEN = ':1883';

export const ControllerConfigSchema = z.strictObject({
  /** REST API and /metrics; default :8443 (HTTPS), :8080 with insecure: true. */
  listen: listenAddress.optional(),
  broker: z.union([z.literal('embedded'), brokerUrl]).default('embedded'),
  /** Where the embedded broker listens for MQTT clients (ignored with an external broker); default :8883 (MQTTS), :1883 with insecure: true. */
  brokerListen: listenAddress.optional(),
  storePath: absolutePath.default('/var/lib/seine-controller/seine.db'),
  /** Also serve the embedded broker on this unix socket (the lab's agents connect through it); TLS like the TCP listener. */
  brokerSocket: absolutePath.optional(),
  /**
   * The controller's own MQTT login on an external broker (it needs every node's topics). With
   * the embedded broker the controller logs in with a secret made at start and never stored.
   */
  brokerCredentials: PasswordCredentialsSchema.optional(),
  /** MQTT version towards an external broker: 5 (request/response properties) or 4 (3.1.1). The embedded broker speaks 4. */
  brokerProtocolVersion: z.union([z.literal(4), z.literal(5)]).default(5),
  /**
   * REST bearer tokens (the token, or `sha256:<hex>` of it): admin may change state, readOnly may
   * only read. Without admin tokens a secure controller makes one at first start and writes it to
   * `<data dir>/seinectl.yaml`.
   */
  auth: z
    .strictObject({
      adminTokens: z.array(restToken).default([]),
      readOnlyTokens: z.array(restToken).default([]),
    })
    .default({ adminTokens: [], readOnlyTokens: [] }),
  /**
   * Your own PKI (`seine certs`): REST is served over HTTPS and the embedded broker over mqtts://
   * with this certificate; node certificates signed by caFile log in as their CN. With an
   * external mqtts:// broker the controller trusts caFile and presents this certificate (its CN
   * is the controller's MQTT username). caKeyFile lets the controller sign node certificates.
   * Without tls (and without insecure) the controller makes its own CA and certificate in pkiDir.
   */
  tls: z.strictObject({ caFile: absolutePath, certFile: absolutePath, keyFile: absolutePath, caKeyFile: absolutePath.optional() }).optional(),
  /** Lifetime of the node certificates the controller signs (enrollment, renewal); agents renew at 2/3 of it. */
  nodeCertificateValiditySeconds: z.number().int().min(5).max(825 * 86400).default(30 * 86400),
  /** Where the controller keeps the PKI it makes itself; default `pki/` beside storePath. */
  pkiDir: absolutePath.optional(),
  /** Names clients dial, for the server certificate made here (127.0.0.1, ::1, localhost and the host name are always in). */
  tlsSANs: z
    .strictObject({
      ips: z.array(IPAddressSchema).default([]),
      dnsNames: z.array(z.string().regex(/^[A-Za-z0-9*]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/, { error: 'expected a DNS name' })).default([]),
    })
    .prefault({}),
  /**
   * Plain HTTP and MQTT (no TLS, no generated PKI or admin token; node passwords allowed, REST
   * open on loopback without tokens). For development on a trusted machine only: logged loudly.
   */
  insecure: z.boolean().default(false),
  /**
   * Failed MQTT logins to the embedded broker allowed per source address and per node name in
   * a sliding window; past them a login is refused before its password is checked.
   */
  loginFailureLimits: z
    .strictObject({
      perSource: z.number().int().min(1).default(20),
      perNode: z.number().int().min(1).default(10),
      windowSeconds: z.number().int().min(1).default(60),
    })
    .prefault({}),
  /** Largest MQTT payload, bytes: what the broker passes, the controller takes from nodes and publishes to them (agents must agree). */
  maxMessageBytes: z.number().int().min(1024).default(DEFAULT_MAX_MESSAGE_BYTES),
  /**
   * A PostgreSQL store instead of the SQLite file at storePath (`postgres://user:pass@host/db`),
   * which several controller replicas can share.
   */
  storeUrl: z.string().regex(/^postgres(ql)?:\/\/[^\s]+$/, { error: 'expected a postgres:// or postgresql:// URL' }).optional(),
  /**
   * Controller replicas: take nodes' reports and events through the MQTT 5 shared subscription
   * `$share/<group>/…`, so each message reaches one replica (needs an external broker and storeUrl).
   */
  sharedSubscriptionGroup: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, { error: 'expected 1-64 of A-Z a-z 0-9 _ -' }).optional(),
  /** The flow aggregator (Antrea's flow-aggregator.conf names): joined fleet flows exported over IPFIX. */
  flowAggregator: FlowAggregatorConfigSchema.optional(),
  /**
   * The release public keys (PEM files, as `seine release keygen` writes them) an upload must be
   * signed by: during a key rotation the old and the new one. None: every upload is refused.
   */
  releaseKeys: z.array(absolutePath).default([]),
  /**
   * Bounds of the fleet flow store (GET /api/v1/flows): rows not updated for maxAgeSeconds (default
   * 7 days) go, and beyond maxRows (default 100 000) the least recently updated go first, so a node
   * sending many connections cannot grow the store without end.
   */
  fleetFlows: z
    .strictObject({
      maxRows: z.number().int().min(100).optional(),
      maxAgeSeconds: z.number().int().min(60).optional(),
    })
    .optional(),
  /** Where uploaded release bundles are kept; default: `releases/` beside storePath. */
  releasesDir: absolutePath.optional(),
  /** Largest release bundle PUT /api/v1/releases takes, bytes. */
  releaseUploadMaxBytes: z.number().int().min(1 << 20).default(512 << 20),
  /**
   * How long the audit log keeps entries: older than maxAgeDays or beyond the newest maxRows
   * they are deleted (at start and hourly).
   */
  auditRetention: z
    .strictObject({
      maxAgeDays: z.number().int().min(1).default(365),
      maxRows: z.number().int().min(100).default(100_000),
    })
    .prefault({}),
  /** Also serve REST on this unix socket (the lab's agents download releases through it); TLS like the TCP listener. */
  restSocket: absolutePath.optional(),
}).transform((c) => ({
  ...c,
  // The listeners' defaults depend on insecure: the TLS ports, or the plain ports of old.
  listen: c.listen ?? (c.insecure ? INSECURE_REST_LISTEN : DEFAULT_REST_LISTEN),
  brokerListen: c.brokerListen ?? (c.insecure ? INSECURE_BROKER_LISTEN : DEFAULT_BROKER_LISTEN),
}));
export type ControllerConfig = z.infer<typeof ControllerConfigSchema>;
export type ControllerConfigInput = z.input<typeof ControllerConfigSchema>;

/** Where the agent serves its local API. */
export function agentLocalApiSocket(cfg: Pick<AgentConfig, 'cniSocket' | 'localApiSocket'>): string {
  return cfg.localApiSocket ?? `${cfg.cniSocket.slice(0, cfg.cniSocket.lastIndexOf('/'))}/agent-api.sock`;
}

/** The default local API socket on a box (beside the default CNI socket). */
export const DEFAULT_LOCAL_API_SOCKET = agentLocalApiSocket({ cniSocket: defaultAgentSocket });

/**
 * seinectl's config file (`~/.config/seine/seinectl.yaml`, or $SEINECTL_CONFIG). Flags and
 * SEINE_SERVER/SEINE_TOKEN/SEINE_CA override it.
 */
export const SeinectlConfigSchema = z.strictObject({
  /** Controller REST URL. */
  server: z.string().regex(/^https?:\/\/\S+$/, { error: 'expected an http:// or https:// URL' }).optional(),
  token: z.string().min(1).optional(),
  /** CA that signed the controller's certificate (https://). */
  certificateAuthority: absolutePath.optional(),
  /** The agent's local API socket for --local. */
  agentSocket: absolutePath.optional(),
});
export type SeinectlConfig = z.infer<typeof SeinectlConfigSchema>;
