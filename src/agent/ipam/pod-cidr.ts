// IPv4 pod CIDR arithmetic for host-local allocation: which addresses of the box's pod CIDR
// can be handed to pods (not the network address, not the gateway, not the broadcast).

export interface PodCidr {
  /** Normalized "a.b.c.d/n" (host bits cleared). */
  cidr: string;
  prefixLength: number;
  network: number;
  broadcast: number;
  /** network + 1: the box's gateway interface, like Antrea's antrea-gw0. */
  gateway: string;
  /** First and last address a pod may get (inclusive, as integers). */
  first: number;
  last: number;
  /** How many pod addresses the CIDR holds. */
  size: number;
}

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new Error(`"${ip}" is not an IPv4 address`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`"${ip}" is not an IPv4 address`);
    n = n * 256 + Number(p);
  }
  return n;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parsePodCidr(text: string): PodCidr {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text.trim());
  if (!m) throw new Error(`pod CIDR "${text}" is not an IPv4 CIDR (a.b.c.d/n)`);
  const prefixLength = Number(m[2]);
  // Pods need at least one address besides network, gateway and broadcast.
  if (prefixLength > 29) throw new Error(`pod CIDR "${text}" is too small: /${prefixLength} leaves no pod addresses (use /29 or larger)`);
  const size = 2 ** (32 - prefixLength);
  const network = ipToInt(m[1]) - (ipToInt(m[1]) % size);
  const broadcast = network + size - 1;
  return {
    cidr: `${intToIp(network)}/${prefixLength}`,
    prefixLength,
    network,
    broadcast,
    gateway: intToIp(network + 1),
    first: network + 2,
    last: broadcast - 1,
    size: broadcast - 1 - (network + 2) + 1,
  };
}

export function cidrContains(pool: PodCidr, ip: string): boolean {
  const n = ipToInt(ip);
  return n >= pool.network && n <= pool.broadcast;
}
