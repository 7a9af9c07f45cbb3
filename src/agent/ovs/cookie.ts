// Flow cookies say who owns a flow, so the agent can count, dump, diff and delete flows per
// module without remembering them. Layout (Antrea's, so its tooling reads ours):
//
//   63        48 47      40 39                                  0
//   +-----------+----------+-------------------------------------+
//   |   round   | category |              object id              |
//   +-----------+----------+-------------------------------------+
//
// round: the agent incarnation that last wrote the flow (persisted, +1 per restart);
// category: the module (Antrea's numbers, plus Seine's Tunnel); object id: a 40-bit hash of
// the owning object's key (a policy rule, a service, a pod …), 0 for module-wide flows.
export const ROUND_BITS = 16n;
export const CATEGORY_BITS = 8n;
export const OBJECT_BITS = 40n;
const CATEGORY_SHIFT = OBJECT_BITS;
const ROUND_SHIFT = OBJECT_BITS + CATEGORY_BITS;

export const ROUND_MASK = ((1n << ROUND_BITS) - 1n) << ROUND_SHIFT;
export const CATEGORY_MASK = ((1n << CATEGORY_BITS) - 1n) << CATEGORY_SHIFT;
export const OBJECT_MASK = (1n << OBJECT_BITS) - 1n;
const ALL = (1n << 64n) - 1n;

export const Category = {
  Default: 0,
  PodConnectivity: 1,
  NetworkPolicy: 2,
  Service: 3,
  Egress: 4,
  Multicast: 5,
  Multicluster: 6,
  Traceflow: 7,
  ExternalNodeConnectivity: 8,
  Tunnel: 9,
  /** Seine's: the flow exporter's counting flows, and the per-connection flows OVS learns for it. */
  FlowAccounting: 10,
} as const;
export type CategoryName = keyof typeof Category;

export interface CookieParts {
  round: number;
  category: number;
  objectId: bigint;
}

/** A cookie value with a mask (1-bits must match), as `ovs-ofctl … cookie=V/M` takes it. */
export interface CookieFilter {
  value: bigint;
  mask: bigint;
}

export function encodeCookie({ round, category, objectId }: CookieParts): bigint {
  if (!Number.isInteger(round) || round < 0 || round >= 1 << Number(ROUND_BITS)) throw new RangeError(`cookie round out of range: ${round}`);
  if (!Number.isInteger(category) || category < 0 || category >= 1 << Number(CATEGORY_BITS)) throw new RangeError(`cookie category out of range: ${category}`);
  if (objectId < 0n || objectId > OBJECT_MASK) throw new RangeError(`cookie object id out of range: ${objectId}`);
  return (BigInt(round) << ROUND_SHIFT) | (BigInt(category) << CATEGORY_SHIFT) | objectId;
}

export function decodeCookie(cookie: bigint): CookieParts {
  return {
    round: Number((cookie & ROUND_MASK) >> ROUND_SHIFT),
    category: Number((cookie & CATEGORY_MASK) >> CATEGORY_SHIFT),
    objectId: cookie & OBJECT_MASK,
  };
}

export function categoryName(category: number): CategoryName | undefined {
  return (Object.keys(Category) as CategoryName[]).find((k) => Category[k] === category);
}

/** 40-bit FNV-1a of an object key ("policy/ns/name/rule-3"): stable across restarts and hosts. */
export function objectIdOf(key: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(key, 'utf8')) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & ALL;
  }
  return (h ^ (h >> OBJECT_BITS)) & OBJECT_MASK;
}

/** Hands out cookies of one round, like Antrea's cookie allocator. */
export class CookieAllocator {
  constructor(readonly round: number) {
    encodeCookie({ round, category: 0, objectId: 0n }); // validates the round
  }

  cookie(category: CategoryName, objectKey?: string): bigint {
    return encodeCookie({ round: this.round, category: Category[category], objectId: objectKey ? objectIdOf(objectKey) : 0n });
  }
}

export const roundFilter = (round: number): CookieFilter => ({ value: encodeCookie({ round, category: 0, objectId: 0n }), mask: ROUND_MASK });
export const categoryFilter = (category: CategoryName): CookieFilter => ({ value: BigInt(Category[category]) << CATEGORY_SHIFT, mask: CATEGORY_MASK });
export const objectFilter = (category: CategoryName, objectKey: string): CookieFilter => ({
  value: (BigInt(Category[category]) << CATEGORY_SHIFT) | objectIdOf(objectKey),
  mask: CATEGORY_MASK | OBJECT_MASK,
});

/** Two cookies that differ only in their round: the same owner wrote the flow in another incarnation. */
export const sameOwner = (a: bigint, b: bigint): boolean => (a & ~ROUND_MASK) === (b & ~ROUND_MASK);

export const matchesFilter = (cookie: bigint, f: CookieFilter): boolean => (cookie & f.mask) === (f.value & f.mask);

export const formatCookieFilter = (f: CookieFilter): string => `cookie=0x${f.value.toString(16)}/0x${f.mask.toString(16)}`;
