// The CNI contract between containerd, the seine-cni binary and the agent's CNI server:
// network configuration, the CNI_* environment, results in each supported spec version,
// errors, and the one-line JSON request/response spoken over the agent's unix socket.
// Spec: CNI 1.0.0 (older result shapes 0.3.0–0.4.0 for runtimes that still ask for them).
import { z } from 'zod';
import { isDNS1123Label, isDNS1123Subdomain } from './meta.js';

export const cniSpecVersion = '1.0.0';
export const supportedCniVersions = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] as const;
export type CniVersion = (typeof supportedCniVersions)[number];
/** CHECK arrived with spec 0.4.0; older configs must not be CHECKed. */
export const checkMinVersion: CniVersion = '0.4.0';

export const cniCommands = ['ADD', 'DEL', 'CHECK', 'VERSION'] as const;
export type CniCommand = (typeof cniCommands)[number];

export const cniPluginType = 'seine';
export const defaultAgentSocket = '/var/run/seine/cni.sock';

/** Well-known codes from the spec (1–11) and Antrea's plugin-specific ones (101–103). */
export const CniErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodingFailure: 6,
  InvalidNetworkConfig: 7,
  TryAgainLater: 11,
  IpamFailure: 101,
  ConfigInterfaceFailure: 102,
  CheckInterfaceFailure: 103,
} as const;
export type CniErrorCode = (typeof CniErrorCode)[keyof typeof CniErrorCode];

export function isCniVersion(v: unknown): v is CniVersion {
  return typeof v === 'string' && (supportedCniVersions as readonly string[]).includes(v);
}

/** Compare dotted versions numerically ("0.4.0" < "1.0.0"). */
export function compareCniVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

// ---- environment ---------------------------------------------------------------------------

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Longest container id taken: it names files (IPAM reservations) and OVS external_ids. */
export const MAX_CONTAINER_ID_LENGTH = 255;

/** Spec: alphanumeric first, then alphanumerics, `_`, `.`, `-`. */
export const ContainerIdSchema = z
  .string({ error: 'is required' })
  .regex(CONTAINER_ID, 'must start with a letter or digit and contain only letters, digits, "_", "." and "-"')
  .max(MAX_CONTAINER_ID_LENGTH, `must be at most ${MAX_CONTAINER_ID_LENGTH} characters`);

/** Spec: a Linux interface name: 1–15 chars, not "." or "..", no "/", ":" or whitespace. */
export const IfnameSchema = z
  .string({ error: 'is required' })
  .min(1, 'must not be empty')
  .max(15, 'must be at most 15 characters')
  .regex(/^[^\s/:]+$/, 'must not contain "/", ":" or whitespace')
  .refine((s) => s !== '.' && s !== '..', 'must not be "." or ".."');

export const NetnsPathSchema = z
  .string({ error: 'is required' })
  .startsWith('/', 'must be an absolute path to a network namespace')
  .max(4096, 'must be at most 4096 characters')
  // The path is opened by the agent: no control characters (log lines), no ".." (it must name a namespace, not climb to one).
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  .refine((p) => !/[\u0000-\u001f\u007f]/.test(p), 'must not contain control characters')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ".." segments');

/** Runtimes pass "" for an unset variable; treat it as absent. */
const unsetIfEmpty = (v: unknown) => (v === '' ? undefined : v);

/** Pod identity containerd puts in CNI_ARGS. */
export interface K8sArgs {
  K8S_POD_NAMESPACE?: string;
  K8S_POD_NAME?: string;
  K8S_POD_INFRA_CONTAINER_ID?: string;
  K8S_POD_UID?: string;
  IgnoreUnknown?: boolean;
}
const knownCniArgs = new Set(['K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID', 'IgnoreUnknown']);

const CNI_ARG_RULES: Record<string, (v: string) => string | undefined> = {
  K8S_POD_NAMESPACE: (v) => (isDNS1123Label(v) ? undefined : 'is not a namespace name (DNS-1123 label: lowercase alphanumerics and "-", at most 63)'),
  K8S_POD_NAME: (v) => (isDNS1123Subdomain(v) ? undefined : 'is not a pod name (DNS-1123 subdomain: lowercase alphanumerics, "-" and ".", at most 253)'),
  K8S_POD_INFRA_CONTAINER_ID: (v) =>
    CONTAINER_ID.test(v) && v.length <= MAX_CONTAINER_ID_LENGTH ? undefined : `is not a container id (letters, digits, "_", "." and "-", at most ${MAX_CONTAINER_ID_LENGTH})`,
  K8S_POD_UID: (v) => (/^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/.test(v) ? undefined : 'is not a pod UID (letters, digits and "-", at most 64)'),
};

/**
 * CNI_ARGS: `KEY=VALUE` pairs separated by ";" (libcni's LoadArgs rules): every pair needs a
 * "=", and unknown keys are an error unless `IgnoreUnknown` is 1/true.
 */
export const CniArgsSchema = z.string().transform((raw, ctx): K8sArgs => {
  const pairs = raw.split(';').filter((p) => p !== '');
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      ctx.addIssue({ code: 'custom', message: `invalid pair "${pair}" (expected KEY=VALUE)` });
      return z.NEVER;
    }
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const ignoreUnknown = ['1', 'true', 'True'].includes(out.IgnoreUnknown ?? '');
  if ('IgnoreUnknown' in out && !ignoreUnknown && !['0', 'false', 'False'].includes(out.IgnoreUnknown)) {
    ctx.addIssue({ code: 'custom', message: `IgnoreUnknown="${out.IgnoreUnknown}" is not a boolean (1, true, 0, false)` });
    return z.NEVER;
  }
  const unknown = Object.keys(out).filter((k) => !knownCniArgs.has(k));
  if (unknown.length && !ignoreUnknown) {
    ctx.addIssue({ code: 'custom', message: `unknown key(s) ${unknown.join(', ')} (set IgnoreUnknown=1 to allow them)` });
    return z.NEVER;
  }
  for (const k of ['K8S_POD_NAMESPACE', 'K8S_POD_NAME'] as const) {
    if (k in out && out[k] === '') {
      ctx.addIssue({ code: 'custom', message: `${k} is empty` });
      return z.NEVER;
    }
  }
  // These name things on the host (interface names, IPAM files, OVS external_ids) and appear in
  // logs: only what Kubernetes itself allows gets that far.
  for (const [k, check] of Object.entries(CNI_ARG_RULES)) {
    const v = out[k];
    if (v === undefined || v === '') continue;
    const problem = check(v);
    if (problem) {
      ctx.addIssue({ code: 'custom', message: `${k}=${JSON.stringify(v)} ${problem}` });
      return z.NEVER;
    }
  }
  const args: K8sArgs = { IgnoreUnknown: ignoreUnknown };
  for (const k of ['K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID'] as const) {
    if (out[k] !== undefined) args[k] = out[k];
  }
  return args;
});

const envBase = {
  CNI_CONTAINERID: ContainerIdSchema,
  CNI_IFNAME: IfnameSchema,
  CNI_ARGS: z.preprocess(unsetIfEmpty, CniArgsSchema.optional()),
  CNI_PATH: z.string({ error: 'is required' }).min(1, 'is required'),
};

/**
 * The CNI_* variables per command (skel's rules): CNI_NETNS is required for ADD and CHECK and
 * optional for DEL (the namespace may already be gone).
 */
export const CniEnvSchema = z.discriminatedUnion('CNI_COMMAND', [
  z.object({ CNI_COMMAND: z.literal('ADD'), CNI_NETNS: NetnsPathSchema, ...envBase }),
  z.object({ CNI_COMMAND: z.literal('CHECK'), CNI_NETNS: NetnsPathSchema, ...envBase }),
  z.object({ CNI_COMMAND: z.literal('DEL'), CNI_NETNS: z.preprocess(unsetIfEmpty, NetnsPathSchema.optional()), ...envBase }),
]);
export type CniEnv = z.infer<typeof CniEnvSchema>;

// ---- results -------------------------------------------------------------------------------

const Ipv4Cidr = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'must be an IPv4 address with prefix length (a.b.c.d/n)');
const IpAddress = z.string().min(2);

export const CniInterfaceSchema = z.object({
  name: z.string().min(1),
  mac: z.string().optional(),
  /** Present for interfaces inside the container: the netns path. */
  sandbox: z.string().optional(),
});

const ipConfigBase = {
  address: z.union([Ipv4Cidr, z.string().includes(':')]),
  gateway: IpAddress.optional(),
  /** Index into `interfaces`. */
  interface: z.number().int().nonnegative().optional(),
};
export const CniIpConfigSchema = z.object(ipConfigBase);
/** Before 1.0.0 every IP carried its family as "4" or "6". */
export const CniIpConfigV04Schema = z.object({ version: z.enum(['4', '6']), ...ipConfigBase });

export const CniRouteSchema = z.object({ dst: z.string().min(1), gw: IpAddress.optional() });

export const CniDnsSchema = z.object({
  nameservers: z.array(z.string()).optional(),
  domain: z.string().optional(),
  search: z.array(z.string()).optional(),
  options: z.array(z.string()).optional(),
});

export const CniResultSchema = z.object({
  cniVersion: z.literal('1.0.0'),
  interfaces: z.array(CniInterfaceSchema).optional(),
  ips: z.array(CniIpConfigSchema).optional(),
  routes: z.array(CniRouteSchema).optional(),
  dns: CniDnsSchema.optional(),
});
export type CniResult = z.infer<typeof CniResultSchema>;

export const CniResultV04Schema = z.object({
  cniVersion: z.enum(['0.3.0', '0.3.1', '0.4.0']),
  interfaces: z.array(CniInterfaceSchema).optional(),
  ips: z.array(CniIpConfigV04Schema).optional(),
  routes: z.array(CniRouteSchema).optional(),
  dns: CniDnsSchema.optional(),
});
export type CniResultV04 = z.infer<typeof CniResultV04Schema>;
export type AnyCniResult = CniResult | CniResultV04;

export const CniVersionResultSchema = z.object({
  cniVersion: z.string(),
  supportedVersions: z.array(z.string()),
});
export type CniVersionResult = z.infer<typeof CniVersionResultSchema>;

export const CniErrorSchema = z.object({
  cniVersion: z.string(),
  code: z.number().int().nonnegative(),
  msg: z.string(),
  details: z.string().optional(),
});
export type CniError = z.infer<typeof CniErrorSchema>;

// ---- network configuration -----------------------------------------------------------------

/** `runtimeConfig.dns` as runtimes pass it (the "dns" capability). */
export const RuntimeDnsSchema = z.object({
  servers: z.array(z.string()).optional(),
  searches: z.array(z.string()).optional(),
  options: z.array(z.string()).optional(),
});

/**
 * Seine's network configuration (one plugin entry of a conflist, as the runtime hands it over).
 * Unknown top-level keys are kept: runtimes add their own (args, capabilities…).
 * `ipam` is not accepted: the agent allocates from the box's pod CIDR itself.
 */
export const NetConfSchema = z.looseObject({
  cniVersion: z.enum(supportedCniVersions, { error: `must be one of ${supportedCniVersions.join(', ')}` }),
  name: z.string({ error: 'is required' }).min(1, 'must not be empty'),
  type: z.literal(cniPluginType, { error: `must be "${cniPluginType}"` }),
  agentSocket: z.string().startsWith('/', 'must be an absolute path').default(defaultAgentSocket),
  /** Pod interface MTU; the agent's default (underlay minus tunnel overhead) when absent. */
  mtu: z.number().int().min(576).max(65535).optional(),
  dns: CniDnsSchema.optional(),
  runtimeConfig: z.looseObject({ dns: RuntimeDnsSchema.optional() }).optional(),
  /** The previous plugin's (or the runtime's cached) result; required for CHECK. Checked per version. */
  prevResult: z.record(z.string(), z.unknown()).optional(),
});
export type NetConf = z.infer<typeof NetConfSchema>;

/** Fields Seine rejects with code 2 instead of silently ignoring them. */
export const unsupportedNetConfFields = ['ipam'] as const;

// ---- the seine-cni ⇄ agent wire protocol (one JSON line each way) -------------------------

/** The CNI_* variables exactly as the binary saw them, and the decoded stdin. */
export const CniRequestSchema = z.object({
  env: z.record(z.string(), z.string()),
  config: z.record(z.string(), z.unknown()),
});
export type CniRequest = z.infer<typeof CniRequestSchema>;

/** `result: null` is success without output (DEL, CHECK). */
export const CniResponseSchema = z.union([
  z.object({ result: z.union([CniResultSchema, CniResultV04Schema, z.null()]) }),
  z.object({ error: CniErrorSchema }),
]);
export type CniResponse = z.infer<typeof CniResponseSchema>;
