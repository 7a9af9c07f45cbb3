// Parsing of the small text forms the lab CLI and lab.yaml accept: Kubernetes names, labels
// (`k=v,k2=v2`), label edits (`k=v` / `k-`), pod references (`ns/pod`) and container ports
// (`name=port/proto`). Pure; every error is one line that quotes the offending text.
import { UserError } from '../lib/errors.js';

export type Labels = Record<string, string>;

export interface PodRef {
  namespace: string;
  name: string;
}

export interface ContainerPort {
  name: string;
  port: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const labelName = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/** Kubernetes object name as used for namespaces, pods and boxes (RFC 1123 label). */
export function nameError(name: string): string | undefined {
  if (name.length > 63 || !dnsLabel.test(name)) return `'${name}' is not a valid name (lowercase letters, digits and '-', at most 63 characters)`;
  return undefined;
}

export function labelKeyError(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const [prefix, name] = slash >= 0 ? [key.slice(0, slash), key.slice(slash + 1)] : [undefined, key];
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !dnsSubdomain.test(prefix))) return `label key '${key}' has an invalid prefix (must be a DNS subdomain)`;
  if (name.length === 0 || name.length > 63 || !labelName.test(name)) return `label key '${key}' is invalid (alphanumerics, '-', '_', '.', at most 63 characters, starting and ending alphanumeric)`;
  return undefined;
}

export function labelValueError(value: string): string | undefined {
  if (value.length > 63 || (value !== '' && !labelName.test(value))) return `label value '${value}' is invalid (alphanumerics, '-', '_', '.', at most 63 characters, starting and ending alphanumeric)`;
  return undefined;
}

function fail(message: string | undefined): void {
  if (message) throw new UserError(message);
}

/** `k=v,k2=v2` (empty string → no labels). */
export function parseLabels(text: string): Labels {
  const labels: Labels = {};
  for (const item of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = item.indexOf('=');
    if (eq < 0) throw new UserError(`bad label '${item}': expected key=value`);
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    fail(labelKeyError(key));
    fail(labelValueError(value));
    labels[key] = value;
  }
  return labels;
}

export type LabelChange = { key: string; value: string } | { key: string; remove: true };

/** kubectl-style edits: `k=v` sets, `k-` removes. */
export function parseLabelChanges(args: string[]): LabelChange[] {
  if (args.length === 0) throw new UserError('no label given: expected key=value or key-');
  return args.flatMap((a) => a.split(',')).filter(Boolean).map((item): LabelChange => {
    if (item.endsWith('-') && !item.includes('=')) {
      const key = item.slice(0, -1);
      fail(labelKeyError(key));
      return { key, remove: true };
    }
    const eq = item.indexOf('=');
    if (eq < 0) throw new UserError(`bad label '${item}': expected key=value or key-`);
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    fail(labelKeyError(key));
    fail(labelValueError(value));
    return { key, value };
  });
}

export function applyLabelChanges(labels: Labels, changes: LabelChange[]): Labels {
  const out = { ...labels };
  for (const c of changes) {
    if ('remove' in c) delete out[c.key];
    else out[c.key] = c.value;
  }
  return out;
}

/** `<namespace>/<pod>` */
export function parsePodRef(text: string): PodRef {
  const parts = text.split('/');
  if (parts.length !== 2 || !parts[0] || !parts[1]) throw new UserError(`bad pod '${text}': expected <namespace>/<pod>`);
  const [namespace, name] = parts;
  fail(nameError(namespace) && `bad namespace in '${text}': ${nameError(namespace)}`);
  fail(nameError(name) && `bad pod name in '${text}': ${nameError(name)}`);
  return { namespace, name };
}

export const formatPodRef = (p: PodRef) => `${p.namespace}/${p.name}`;

const ianaSvcName = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** One `name=port/proto` (protocol TCP, UDP or SCTP, any case; TCP when omitted). */
export function parsePort(item: string): ContainerPort {
  const m = /^([^=]+)=(\d+)(?:\/([A-Za-z]+))?$/.exec(item.trim());
  if (!m) throw new UserError(`bad port '${item}': expected name=port/proto, e.g. http=80/TCP`);
  const [, name, portText, protoText = 'TCP'] = m;
  if (name.length > 15 || !ianaSvcName.test(name) || !/[a-z]/.test(name) || name.includes('--')) {
    throw new UserError(`bad port name '${name}': lowercase letters, digits and '-', at most 15 characters, at least one letter`);
  }
  const port = Number(portText);
  if (port < 1 || port > 65535) throw new UserError(`bad port number ${portText} in '${item}': must be 1..65535`);
  const protocol = protoText.toUpperCase();
  if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') throw new UserError(`bad protocol '${protoText}' in '${item}': TCP, UDP or SCTP`);
  return { name, port, protocol };
}

export function parsePorts(text: string): ContainerPort[] {
  const ports = text.split(',').map((s) => s.trim()).filter(Boolean).map(parsePort);
  const seen = new Set<string>();
  for (const p of ports) {
    if (seen.has(p.name)) throw new UserError(`duplicate port name '${p.name}'`);
    seen.add(p.name);
  }
  return ports;
}

export const formatLabels = (labels: Labels) => Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
export const formatPort = (p: ContainerPort) => `${p.name}=${p.port}/${p.protocol}`;
