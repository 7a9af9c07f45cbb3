// Where the Kubernetes API is and how to authenticate: from a kubeconfig (k3s writes
// /etc/rancher/k3s/k3s.yaml) or from the in-cluster service account. Every problem names
// the file and the field, because a box that cannot reach its API server is debugged over SSH.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UserError, errorMessage } from '../../lib/errors.js';
import { describeZodError } from '../../api/issues.js';

export const K3S_KUBECONFIG = '/etc/rancher/k3s/k3s.yaml';
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeConnection {
  server: URL;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  /** Read again for every request: projected service-account tokens are rotated on disk. */
  tokenFile?: string;
  insecureSkipTLSVerify: boolean;
  tlsServerName?: string;
  /** For logs: the kubeconfig path and context, or "in-cluster". */
  origin: string;
}

const ClusterSchema = z.looseObject({
  server: z.url({ protocol: /^https?$/ }),
  'certificate-authority': z.string().optional(),
  'certificate-authority-data': z.string().optional(),
  'insecure-skip-tls-verify': z.boolean().optional(),
  'tls-server-name': z.string().optional(),
});

const UserSchema = z.looseObject({
  token: z.string().optional(),
  tokenFile: z.string().optional(),
  'client-certificate': z.string().optional(),
  'client-certificate-data': z.string().optional(),
  'client-key': z.string().optional(),
  'client-key-data': z.string().optional(),
  exec: z.unknown().optional(),
  'auth-provider': z.unknown().optional(),
});

const KubeconfigSchema = z.looseObject({
  'current-context': z.string().optional(),
  clusters: z.array(z.looseObject({ name: z.string().min(1), cluster: ClusterSchema })),
  users: z.array(z.looseObject({ name: z.string().min(1), user: UserSchema })),
  contexts: z.array(
    z.looseObject({
      name: z.string().min(1),
      context: z.looseObject({ cluster: z.string().min(1), user: z.string().min(1) }),
    }),
  ),
});

export interface KubeconfigOptions {
  /** A context other than current-context. */
  context?: string;
}

export function loadKubeconfig(path: string, options: KubeconfigOptions = {}): KubeConnection {
  const fail = (what: string): never => {
    throw new UserError(`kubeconfig ${path}: ${what}`);
  };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return fail(`cannot read it (${errorMessage(err)})`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    return fail(`not valid YAML: ${errorMessage(err)}`);
  }
  const parsed = KubeconfigSchema.safeParse(raw);
  if (!parsed.success) return fail(describeZodError(parsed.error));
  const config = parsed.data;

  const contextName =
    options.context ?? config['current-context'] ?? (config.contexts.length === 1 ? config.contexts[0]!.name : undefined);
  if (!contextName) return fail('current-context is missing and there is more than one context');
  const context = config.contexts.find((c) => c.name === contextName)?.context;
  if (!context) return fail(`context "${contextName}" is not in contexts`);
  const cluster = config.clusters.find((c) => c.name === context.cluster)?.cluster;
  if (!cluster) return fail(`context "${contextName}" names cluster "${context.cluster}", which is not in clusters`);
  const user = config.users.find((u) => u.name === context.user)?.user;
  if (!user) return fail(`context "${contextName}" names user "${context.user}", which is not in users`);

  // kubectl resolves relative file references against the kubeconfig's own directory.
  const base = dirname(resolve(path));
  const fileOrData = (field: string): Buffer | undefined => {
    const from: Record<string, unknown> = field === 'certificate-authority' ? cluster : user;
    const data = from[`${field}-data`];
    if (typeof data === 'string') return Buffer.from(data, 'base64');
    const file = from[field];
    if (typeof file !== 'string') return undefined;
    const full = isAbsolute(file) ? file : join(base, file);
    try {
      return readFileSync(full);
    } catch (err) {
      return fail(`${field} ${full}: ${errorMessage(err)}`);
    }
  };

  const where = `users[name=${context.user}].user`;
  if (user.exec !== undefined || user['auth-provider'] !== undefined) {
    fail(`${where}: exec and auth-provider credential plugins are not supported; use a client certificate or a token`);
  }
  const cert = fileOrData('client-certificate');
  const key = fileOrData('client-key');
  if (cert && !key) fail(`${where}: client-certificate is set but client-key(-data) is missing`);
  if (key && !cert) fail(`${where}: client-key is set but client-certificate(-data) is missing`);
  const token = user.token;
  const tokenFile = user.tokenFile && (isAbsolute(user.tokenFile) ? user.tokenFile : join(base, user.tokenFile));
  if (!cert && !token && !tokenFile) {
    fail(`${where}: no credentials; set client-certificate-data and client-key-data, or token, or tokenFile`);
  }
  const ca = fileOrData('certificate-authority');
  return {
    server: new URL(cluster.server),
    ...(ca ? { ca } : {}),
    ...(cert && key ? { cert, key } : {}),
    ...(token ? { token } : {}),
    ...(tokenFile ? { tokenFile } : {}),
    insecureSkipTLSVerify: cluster['insecure-skip-tls-verify'] ?? false,
    ...(cluster['tls-server-name'] ? { tlsServerName: cluster['tls-server-name'] } : {}),
    origin: `${path} (context ${contextName})`,
  };
}

/** The service account's view from inside a pod: KUBERNETES_SERVICE_HOST/PORT plus the mounted token and CA. */
export function inClusterConnection(env: NodeJS.ProcessEnv = process.env, dir = SERVICE_ACCOUNT_DIR): KubeConnection {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host) throw new UserError('in-cluster config: KUBERNETES_SERVICE_HOST is not set (not running in a pod?)');
  if (!port) throw new UserError('in-cluster config: KUBERNETES_SERVICE_PORT is not set');
  const tokenFile = join(dir, 'token');
  const caFile = join(dir, 'ca.crt');
  let ca: Buffer;
  try {
    readFileSync(tokenFile);
    ca = readFileSync(caFile);
  } catch (err) {
    throw new UserError(`in-cluster config: ${errorMessage(err)} (is a service account token mounted?)`);
  }
  return {
    server: new URL(`https://${host.includes(':') ? `[${host}]` : host}:${port}`),
    ca,
    tokenFile,
    insecureSkipTLSVerify: false,
    origin: 'in-cluster',
  };
}

/**
 * The connection an agent uses: an explicit kubeconfig, else $KUBECONFIG, else the in-cluster
 * service account when running in a pod, else k3s's own kubeconfig.
 */
export function resolveKubeConnection(kubeconfig?: string, env: NodeJS.ProcessEnv = process.env): KubeConnection {
  const path = kubeconfig ?? env.KUBECONFIG?.split(':')[0];
  if (path) return loadKubeconfig(path);
  if (env.KUBERNETES_SERVICE_HOST) return inClusterConnection(env);
  return loadKubeconfig(K3S_KUBECONFIG);
}
