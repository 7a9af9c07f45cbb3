// Addresses, CIDRs and ports as the Kubernetes and Antrea APIs accept them.
// Pure helpers plus the zod schemas built on them; no I/O.
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';

export type IPFamily = 4 | 6;

/** 4 or 6 for a plain IP address (no zone, no prefix), undefined otherwise. */
export function ipFamily(text: string): IPFamily | undefined {
  if (isIPv4(text)) return 4;
  // Go's net.ParseIP (what Kubernetes uses) rejects IPv6 zones such as fe80::1%eth0.
  if (!text.includes('%') && isIPv6(text)) return 6;
  return undefined;
}

/** The address as an unsigned integer: 32 bits for IPv4, 128 bits for IPv6. */
export function ipToBigInt(text: string): bigint {
  const family = ipFamily(text);
  if (family === 4) {
    return text.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
  }
  if (family === 6) return ipv6ToBigInt(text);
  throw new Error(`not an IP address: ${text}`);
}

function ipv6ToBigInt(text: string): bigint {
  let address = text;
  // An embedded IPv4 tail (::ffff:10.0.0.1) counts as two 16-bit groups.
  const lastColon = address.lastIndexOf(':');
  const tail = address.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = ipToBigInt(tail);
    address = `${address.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, rest] = address.split('::') as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const missing = 8 - headGroups.length - restGroups.length;
  const groups = rest === undefined ? headGroups : [...headGroups, ...Array<string>(missing).fill('0'), ...restGroups];
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(parseInt(group, 16)), 0n);
}

/** Orders two addresses of the same family; negative when a < b. */
export function compareIPs(a: string, b: string): number {
  const x = ipToBigInt(a);
  const y = ipToBigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export interface ParsedCIDR {
  family: IPFamily;
  /** The address with the host bits cleared. */
  network: bigint;
  prefixLength: number;
}

/**
 * Parses a CIDR the way Go's net.ParseCIDR does: host bits may be set (10.0.0.1/24 means
 * 10.0.0.0/24), the prefix is a decimal number within the family's width.
 */
export function parseCIDR(text: string): ParsedCIDR | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const address = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const family = ipFamily(address);
  if (!family || !/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return undefined;
  const width = family === 4 ? 32 : 128;
  const prefixLength = Number(prefixText);
  if (prefixLength > width) return undefined;
  const hostBits = BigInt(width - prefixLength);
  const network = (ipToBigInt(address) >> hostBits) << hostBits;
  return { family, network, prefixLength };
}

/** True when `inner` lies inside `outer` and is strictly smaller (Antrea's and K8s' rule for ipBlock.except). */
export function isStrictSubnet(outer: string, inner: string): boolean {
  const o = parseCIDR(outer);
  const i = parseCIDR(inner);
  if (!o || !i || o.family !== i.family || i.prefixLength <= o.prefixLength) return false;
  const width = o.family === 4 ? 32 : 128;
  const shift = BigInt(width - o.prefixLength);
  return i.network >> shift === o.network >> shift;
}

/** True for an address in 224.0.0.0/4 or ff00::/8. */
export function isMulticastIP(text: string): boolean {
  const family = ipFamily(text);
  if (family === 4) return (ipToBigInt(text) >> 28n) === 0xen;
  if (family === 6) return (ipToBigInt(text) >> 120n) === 0xffn;
  return false;
}

// IANA_SVC_NAME as Kubernetes validates it (validation.IsValidPortName).
export function isIanaServiceName(text: string): boolean {
  return (
    text.length >= 1 &&
    text.length <= 15 &&
    /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(text) &&
    /[a-z]/.test(text) &&
    !text.includes('--')
  );
}

export const IPAddressSchema = z.string().refine((s) => ipFamily(s) !== undefined, {
  error: (issue) => `expected an IPv4 or IPv6 address, got ${JSON.stringify(issue.input)}`,
});

export const CIDRSchema = z.string().refine((s) => parseCIDR(s) !== undefined, {
  error: (issue) => `expected a CIDR such as 10.0.0.0/24 or fd00::/64, got ${JSON.stringify(issue.input)}`,
});

export const PortNumberSchema = z.number().int().min(1).max(65535);

/** A port as Kubernetes writes it: a number 1-65535 or a named container port (IANA_SVC_NAME). */
export const PortSchema = z.union([z.number().int(), z.string()]).superRefine((port, ctx) => {
  const ok = typeof port === 'number' ? port >= 1 && port <= 65535 : isIanaServiceName(port);
  if (!ok) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a port number 1-65535 or a port name (IANA service name), got ${JSON.stringify(port)}`,
    });
  }
});

export const TransportProtocolSchema = z.enum(['TCP', 'UDP', 'SCTP']);
export type TransportProtocol = z.infer<typeof TransportProtocolSchema>;

/** Issues for `port`/`endPort` pairs: endPort needs a numeric port and must not be below it. */
export function portRangeIssues(
  port: number | string | undefined,
  endPort: number | undefined,
  names: { port: string; endPort: string } = { port: 'port', endPort: 'endPort' },
): { path: string[]; message: string }[] {
  if (endPort === undefined) return [];
  if (port === undefined) return [{ path: [names.endPort], message: `${names.endPort} requires ${names.port} to be set` }];
  if (typeof port === 'string') {
    return [{ path: [names.endPort], message: `${names.endPort} is only allowed with a numeric ${names.port}, got ${JSON.stringify(port)}` }];
  }
  if (endPort < port) {
    return [{ path: [names.endPort], message: `${names.endPort} must be >= ${names.port} (${port}), got ${endPort}` }];
  }
  if (endPort > 65535) return [{ path: [names.endPort], message: `${names.endPort} must be <= 65535, got ${endPort}` }];
  return [];
}

/** `ipBlock` in K8s and Antrea peers: a CIDR with optional holes, each a strict subnet of it. */
export const IPBlockSchema = z
  .strictObject({
    cidr: CIDRSchema,
    except: z.array(CIDRSchema).optional(),
  })
  .superRefine((block, ctx) => {
    block.except?.forEach((hole, i) => {
      if (!isStrictSubnet(block.cidr, hole)) {
        ctx.addIssue({ code: 'custom', path: ['except', i], message: `${hole} is not a strict subnet of cidr ${block.cidr}` });
      }
    });
  });
export type IPBlock = z.infer<typeof IPBlockSchema>;

/** `<host>:<port>[:<proto>]` as Antrea's flowCollectorAddr; port 4739 and tcp when left out. */
const COLLECTOR = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+)(:(\d{1,5})?)?(:(tcp|udp|tls))?$/;
export const CollectorAddressSchema = z.string().regex(COLLECTOR, { error: 'expected <host>:<port>:<tcp|udp|tls>, e.g. 127.0.0.1:4739:udp' });

/** A device name Seine itself picks or configures (WireGuard, exemptions): safe in an `ip` argument and an iptables line. */
export const DeviceNameSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, { error: 'expected an interface name of 1-15 characters A-Z a-z 0-9 _ . -' });
