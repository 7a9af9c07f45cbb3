// CNI results: built once in the 1.0.0 shape from a PodAttachment, then converted to the
// version the network config asked for; and prevResults of any supported version read back
// as 1.0.0 for CHECK. The only shape difference between 0.3.0–0.4.0 and 1.0.0 is the IP
// family field ("version": "4"|"6") that 1.0.0 dropped.
import {
  CniResultSchema,
  CniResultV04Schema,
  type AnyCniResult,
  type CniResult,
  type CniVersion,
  type NetConf,
} from '../../api/cni.js';
import type { PodAttachment } from './pod-network.js';

/** interfaces[0] is the host veth, interfaces[1] the pod's; the IP points at the latter. */
export function resultFromAttachment(a: PodAttachment, conf: Pick<NetConf, 'dns' | 'runtimeConfig'>): CniResult {
  const result: CniResult = {
    cniVersion: '1.0.0',
    interfaces: [
      { name: a.host.name, mac: a.host.mac },
      { name: a.pod.name, mac: a.pod.mac, sandbox: a.pod.netns },
    ],
    ips: [{ address: a.address, gateway: a.gateway, interface: 1 }],
    routes: a.routes.map((r) => ({ dst: r.dst, gw: r.gw })),
  };
  const dns = resultDns(conf);
  if (dns) result.dns = dns;
  return result;
}

/** DNS from the config's `dns`, overridden per key by the runtime's `runtimeConfig.dns` capability. */
function resultDns(conf: Pick<NetConf, 'dns' | 'runtimeConfig'>): CniResult['dns'] {
  const rt = conf.runtimeConfig?.dns;
  const dns = {
    ...conf.dns,
    ...(rt?.servers?.length ? { nameservers: rt.servers } : {}),
    ...(rt?.searches?.length ? { search: rt.searches } : {}),
    ...(rt?.options?.length ? { options: rt.options } : {}),
  };
  return Object.keys(dns).length ? dns : undefined;
}

export function resultForVersion(result: CniResult, version: CniVersion): AnyCniResult {
  if (version === '1.0.0') return result;
  return {
    ...result,
    cniVersion: version,
    ips: result.ips?.map((ip) => ({ version: ip.address.includes(':') ? ('6' as const) : ('4' as const), ...ip })),
  };
}

/**
 * Read a prevResult written for `version` as a 1.0.0 result. Throws a message naming the
 * offending field when it does not match that version's shape.
 */
export function prevResultAsCurrent(prev: unknown, version: CniVersion): CniResult {
  if (version === '1.0.0') {
    const parsed = CniResultSchema.safeParse({ ...(prev as object), cniVersion: '1.0.0' });
    if (!parsed.success) throw new Error(describeIssue('prevResult', parsed.error.issues[0]));
    return parsed.data;
  }
  const parsed = CniResultV04Schema.safeParse({ ...(prev as object), cniVersion: version });
  if (!parsed.success) throw new Error(describeIssue('prevResult', parsed.error.issues[0]));
  return {
    ...parsed.data,
    cniVersion: '1.0.0',
    ips: parsed.data.ips?.map(({ version: _family, ...ip }) => ip),
  };
}

/** "prevResult.ips.0.address: must be …" */
export function describeIssue(root: string, issue: { path: PropertyKey[]; message: string } | undefined): string {
  if (!issue) return `${root} is invalid`;
  const path = [root, ...issue.path.map(String)].filter(Boolean).join('.');
  return `${path}: ${issue.message}`;
}
