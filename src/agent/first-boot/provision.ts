// First boot: turns `seine-node.yaml` from the boot partition into the agent's config and
// credentials, all or nothing. Every file is first written beside its target (`.seine-new`) and fsynced,
// then renamed into place (directories fsynced), and the "provisioned" marker comes last: a box that loses power
// half-way provisions again from the untouched boot partition on the next boot. Secrets leave
// the boot partition only after the marker is written. A bad file changes nothing on the box;
// the problem, named by its field, goes to the console and to seine-node.error.txt beside it.
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { AgentConfigSchema, SeineNodeFileSchema, enrollmentServerOf, type SeineNodeFile } from '../../api/config.js';
import { describeProblem, formatIssues } from '../../api/issues.js';
import { UserError } from '../../lib/errors.js';
import { fsyncDir, writeFileDurable, writeSynced } from '../../lib/files.js';

export const SEINE_NODE_FILE = 'seine-node.yaml';
export const ERROR_FILE = 'seine-node.error.txt';
/** What is left on the boot partition after provisioning: the file without its secrets. */
export const PROVISIONED_FILE = 'seine-node.provisioned.yaml';
export const AGENT_CONFIG = '/etc/seine/agent.yaml';
export const PKI_DIR = '/etc/seine/pki';
export const MARKER = '/var/lib/seine/provisioned';

export interface ProvisionOptions {
  /** Where the box's file system is: `/` on a box, a temporary directory in tests. */
  root?: string;
  /** The boot partition's mount point on the box. */
  bootDir?: string;
  /** Applies the host name to the running system (the box: `hostname NAME`); /etc/hostname is written regardless. */
  setHostname?: (name: string) => Promise<void>;
}

export type ProvisionResult = { state: 'provisioned'; nodeName: string; files: string[] } | { state: 'already-provisioned' };

export class ProvisionError extends UserError {}

interface PlannedFile {
  /** Absolute path on the box. */
  target: string;
  content: string | Buffer;
  mode: number;
}

export async function provisionFromBoot(opts: ProvisionOptions = {}): Promise<ProvisionResult> {
  const root = opts.root ?? '/';
  const bootDir = opts.bootDir ?? '/boot/firmware';
  const onBox = (p: string) => path.join(root, p);
  if (await exists(onBox(MARKER))) return { state: 'already-provisioned' };
  const nodeFile = path.join(bootDir, SEINE_NODE_FILE);
  try {
    const node = await readNodeFile(onBox(nodeFile), bootDir);
    const plan = await planFiles(node, bootDir, onBox);
    await writeAllOrNothing(plan, onBox);
    if (opts.setHostname) await opts.setHostname(node.nodeName);
    await writeAtomic(onBox(MARKER), `${JSON.stringify({ nodeName: node.nodeName, at: new Date().toISOString() })}\n`, 0o644);
    await removeSecretsFromBoot(node, bootDir, onBox);
    await rm(onBox(path.join(bootDir, ERROR_FILE)), { force: true });
    return { state: 'provisioned', nodeName: node.nodeName, files: plan.map((f) => f.target) };
  } catch (err) {
    const message = err instanceof UserError ? err.message : `${nodeFile}: provisioning failed: ${(err as Error).message}`;
    // The boot partition is what the user can read without a console: leave the reason there.
    await writeAtomic(onBox(path.join(bootDir, ERROR_FILE)), `${new Date().toISOString()} ${message}\nNothing was changed on the box; fix ${SEINE_NODE_FILE} and boot again.\n`, 0o644).catch(() => {});
    throw new ProvisionError(message);
  }
}

/** Parses and validates seine-node.yaml; every problem named by its field. */
export function parseNodeFile(text: string, source: string, bootDir: string): SeineNodeFile {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new UserError(`${source}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = SeineNodeFileSchema.safeParse(raw ?? {}, { reportInput: true });
  if (!parsed.success) throw new UserError(`${source}: ${formatIssues(parsed.error.issues).map(describeProblem).join('; ')}`);
  const node = parsed.data;
  const onBoot = (p: string | undefined, field: string) => {
    if (p !== undefined && !isInside(p, bootDir)) throw new UserError(`${source}: ${field}: expected a file on the boot partition (${bootDir}/…), got "${p}"`);
  };
  if (node.credentials && 'certFile' in node.credentials) {
    onBoot(node.credentials.certFile, 'credentials.certFile');
    onBoot(node.credentials.keyFile, 'credentials.keyFile');
    onBoot(node.credentials.caFile, 'credentials.caFile');
  }
  onBoot(node.caFile, 'caFile');
  for (const key of ['nodeName', 'controller'] as const) {
    if (node.agent && key in node.agent) throw new UserError(`${source}: agent.${key}: set by seine-node.yaml's own ${key === 'controller' ? 'controllerUrl and credentials' : 'nodeName'}, not under agent`);
  }
  return node;
}

async function readNodeFile(file: string, bootDir: string): Promise<SeineNodeFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `no ${SEINE_NODE_FILE} on the boot partition (${bootDir}): copy one there (see docs/images.md)` : `cannot read ${SEINE_NODE_FILE}: ${code}`);
  }
  return parseNodeFile(text, SEINE_NODE_FILE, bootDir);
}

/** Every file first boot writes, with content, decided before anything is written. */
async function planFiles(node: SeineNodeFile, bootDir: string, onBox: (p: string) => string): Promise<PlannedFile[]> {
  const files: PlannedFile[] = [];
  const pki = async (from: string | undefined, name: string, mode: number): Promise<string | undefined> => {
    if (from === undefined) return undefined;
    let content: Buffer;
    try {
      content = await readFile(onBox(from));
    } catch {
      throw new UserError(`${SEINE_NODE_FILE}: ${name}: cannot read ${from} on the boot partition`);
    }
    const target = path.join(PKI_DIR, name);
    files.push({ target, content, mode });
    return target;
  };
  // A join token: the agent enrolls at its first start (its own key, made on the box).
  let credentials: Record<string, string> | undefined;
  if (!node.credentials) credentials = undefined;
  else if ('certFile' in node.credentials) {
    credentials = { certFile: (await pki(node.credentials.certFile, 'node.crt', 0o644))!, keyFile: (await pki(node.credentials.keyFile, 'node.key', 0o600))! };
    const caFromCreds = await pki(node.credentials.caFile, 'node-ca.crt', 0o644);
    if (caFromCreds) credentials.caFile = caFromCreds;
  } else {
    credentials = { username: node.credentials.username, password: node.credentials.password };
  }
  const caFile = await pki(node.caFile, 'ca.crt', 0o644);

  // The image's agent.yaml holds the box defaults (kernel datapath, k3s paths); first boot adds the node's part.
  let base: Record<string, unknown> = {};
  try {
    base = (parseYaml(await readFile(onBox(AGENT_CONFIG), 'utf8')) as Record<string, unknown> | null) ?? {};
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const agent: Record<string, unknown> = {
    ...base,
    ...(node.agent ?? {}),
    nodeName: node.nodeName,
    controller: {
      url: node.controllerUrl,
      ...(credentials ? { credentials } : { enrollment: { server: enrollmentServerOf(node), token: node.joinToken, caFingerprint: node.caFingerprint } }),
      ...(caFile ? { caFile } : {}),
    },
  };
  const checked = AgentConfigSchema.safeParse(agent, { reportInput: true });
  if (!checked.success) {
    // Name the field as the user wrote it: agent.<key> for their overrides, else the image's default file.
    const problems = checked.error.issues.flatMap((issue) => {
      const top = issue.path[0];
      const fromUser = typeof top === 'string' && node.agent !== undefined && top in node.agent;
      return formatIssues([issue], fromUser ? ['agent'] : []).map(describeProblem);
    });
    throw new UserError(`${SEINE_NODE_FILE}: ${problems.join('; ')}`);
  }
  files.push({ target: AGENT_CONFIG, content: `# Written by seine first-boot from ${SEINE_NODE_FILE}.\n${stringifyYaml(agent)}`, mode: 0o600 });
  files.push({ target: '/etc/hostname', content: `${node.nodeName}\n`, mode: 0o644 });
  files.push({ target: '/etc/hosts', content: hostsFile(await readFile(onBox('/etc/hosts'), 'utf8').catch(() => ''), node.nodeName), mode: 0o644 });
  return files;
}

/** /etc/hosts with the node name on 127.0.1.1 (Debian's habit), other lines kept. */
export function hostsFile(current: string, name: string): string {
  const lines = current.split('\n').filter((l) => l.trim() !== '' && !/^127\.0\.1\.1\s/.test(l));
  if (!lines.some((l) => /^127\.0\.0\.1\s/.test(l))) lines.unshift('127.0.0.1\tlocalhost');
  return `${[...lines, `127.0.1.1\t${name}`].join('\n')}\n`;
}

async function writeAllOrNothing(plan: PlannedFile[], onBox: (p: string) => string): Promise<void> {
  const suffix = `.seine-new-${randomUUID().slice(0, 8)}`;
  const staged: string[] = [];
  try {
    for (const f of plan) {
      const tmp = onBox(f.target) + suffix;
      await mkdir(path.dirname(tmp), { recursive: true, mode: f.target.startsWith(PKI_DIR) ? 0o700 : 0o755 });
      staged.push(tmp);
      await writeSynced(tmp, f.content, f.mode); // on disk before the renames: never an empty agent.yaml after a power cut
      await chmod(tmp, f.mode);
    }
  } catch (err) {
    await Promise.all(staged.map((t) => rm(t, { force: true })));
    throw err;
  }
  for (const f of plan) await rename(onBox(f.target) + suffix, onBox(f.target));
  for (const dir of new Set(plan.map((f) => path.dirname(onBox(f.target))))) await fsyncDir(dir);
}

function writeAtomic(file: string, content: string, mode: number): Promise<void> {
  return writeFileDurable(file, content, mode);
}

/** Leaves the boot partition without secrets: key and certificates removed, the file kept without credentials. */
async function removeSecretsFromBoot(node: SeineNodeFile, bootDir: string, onBox: (p: string) => string): Promise<void> {
  const c = node.credentials;
  const copied = c && 'certFile' in c ? [c.certFile, c.keyFile, c.caFile, node.caFile] : [node.caFile];
  const redacted = {
    ...node,
    ...(c ? { credentials: 'certFile' in c ? { certFile: `${PKI_DIR}/node.crt`, keyFile: `${PKI_DIR}/node.key` } : { username: c.username, password: '(removed at first boot)' } } : {}),
    ...(node.joinToken ? { joinToken: '(removed at first boot)' } : {}),
  };
  await writeAtomic(onBox(path.join(bootDir, PROVISIONED_FILE)), `# Provisioned; the credentials are in ${AGENT_CONFIG} and ${PKI_DIR} on the box.\n${stringifyYaml(redacted)}`, 0o644);
  for (const f of copied) if (f) await rm(onBox(f), { force: true });
  await rm(onBox(path.join(bootDir, SEINE_NODE_FILE)), { force: true });
}

function isInside(p: string, dir: string): boolean {
  const rel = path.relative(dir, path.normalize(p));
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

async function exists(p: string): Promise<boolean> {
  return readFile(p).then(
    () => true,
    () => false,
  );
}
