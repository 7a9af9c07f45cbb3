// Address arithmetic for the direct pod attacher's tiny IPAM (lowest free host address).
export function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`bad IPv4 address ${ip}`);
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(cidr: string): { network: number; prefixLen: number } {
  const [ip, len] = cidr.split('/');
  const prefixLen = Number(len);
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > 30) throw new Error(`bad CIDR ${cidr}`);
  const mask = prefixLen === 0 ? 0 : (~0 << (32 - prefixLen)) >>> 0;
  return { network: (ipToInt(ip) & mask) >>> 0, prefixLen };
}

/** Lowest host address of `cidr` not in `taken` (network and broadcast excluded), or undefined when full. */
export function nextFreeIP(cidr: string, taken: Iterable<string>): string | undefined {
  const { network, prefixLen } = parseCidr(cidr);
  const used = new Set([...taken].map(ipToInt));
  const size = 2 ** (32 - prefixLen);
  for (let i = 1; i < size - 1; i++) {
    if (!used.has(network + i)) return intToIp(network + i);
  }
  return undefined;
}
