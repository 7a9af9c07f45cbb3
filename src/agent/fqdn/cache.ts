// The box's FQDN cache (Antrea's fqdnController dnsEntryCache): names its pods resolved →
// addresses with an expiry, kept only for names some fqdn rule's pattern selects. Semantics are
// Antrea's (pkg/agent/controller/networkpolicy/fqdn.go, onDNSResponse):
//   - an answer adds its addresses with expiry now + max(TTL, minTTL) (Antrea's fqdnCacheMinTTL);
//   - an address the new answer still carries keeps the later of both expiries;
//   - an address the new answer no longer carries stays until its own expiry (a pod may still
//     use it: it resolved it within its TTL), then goes;
//   - patterns are exact names or `*` + suffix (Antrea's regex `^.*suffix$`: `*foo.com` also
//     matches `foo.com` and `xfoo.com`), matched against lower-cased names;
//   - limits: at most 1024 names per wildcard pattern and 10000 names tracked through
//     wildcards in all; past either, the least recently resolved name goes. Names a policy lists
//     exactly are never evicted.
// Seine does not re-query names itself (Antrea asks kube-dns again at expiry): an address is
// kept until its TTL (at least minTTL) unless a pod resolves the name again. Pure and clocked
// by the caller, so tests run it without waiting.

export const MAX_NAMES_PER_WILDCARD = 1024;
export const MAX_WILDCARD_NAMES = 10_000;

/** Does `pattern` (lower case: an exact name or `*suffix`) select `name` (lower case)? */
export function patternMatches(pattern: string, name: string): boolean {
  return pattern.startsWith('*') ? name.endsWith(pattern.slice(1)) : pattern === name;
}

export interface CacheEntry {
  fqdn: string;
  address: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

interface NameEntry {
  /** address → expiry (ms). */
  addresses: Map<string, number>;
}

export interface FqdnCacheOptions {
  /** Seconds an address is kept at least, whatever its TTL (Antrea's fqdnCacheMinTTL; default 0). */
  minTTL?: number;
  maxPerWildcard?: number;
  maxWildcardNames?: number;
}

export class FqdnCache {
  private patterns = new Set<string>();
  /** Tracked names in order of their last answer (least recently resolved first). */
  private readonly names = new Map<string, NameEntry>();
  /** Names evicted to honour a limit, per limit (Antrea's fqdn_cache_eviction_count). */
  readonly evictions = { perWildcard: 0, total: 0 };

  constructor(private readonly opts: FqdnCacheOptions = {}) {}

  /** The patterns of the node's fqdn rules; names none of them selects are forgotten. True when that changed an address set. */
  setPatterns(patterns: Iterable<string>): boolean {
    this.patterns = new Set(patterns);
    let changed = false;
    for (const name of [...this.names.keys()]) {
      if (!this.selected(name)) changed = this.names.delete(name) || changed;
    }
    return changed;
  }

  /** Is any rule interested in this name? */
  selected(name: string): boolean {
    for (const p of this.patterns) if (patternMatches(p, name)) return true;
    return false;
  }

  /**
   * One answer: every name of its CNAME chain that a pattern selects gets the addresses.
   * Returns true when an address set changed (an address that was not allowed now is, or an
   * expired one went): the flows must be synced before the answer is released.
   */
  learn(names: readonly string[], addresses: readonly { address: string; ttl: number }[], now: number): boolean {
    if (!addresses.length) return this.expire(now);
    let changed = false;
    for (const name of names) {
      if (!this.selected(name)) continue;
      let entry = this.names.get(name);
      if (entry) this.names.delete(name); // re-inserted last: most recently resolved
      else entry = { addresses: new Map() };
      const fresh = new Map(addresses.map((a) => [a.address, now + Math.max(a.ttl, this.opts.minTTL ?? 0) * 1000]));
      for (const [address, expiresAt] of entry.addresses) {
        const renewed = fresh.get(address);
        if (renewed !== undefined) fresh.set(address, Math.max(renewed, expiresAt));
        else if (expiresAt > now) fresh.set(address, expiresAt);
        else changed = true; // expired and not in the new answer
      }
      for (const address of fresh.keys()) if (!entry.addresses.has(address)) changed = true;
      entry.addresses = fresh;
      this.names.set(name, entry);
      if (this.enforceLimits(name)) changed = true;
    }
    return this.expire(now) || changed;
  }

  /** Drops expired addresses (and names left with none); true when any went. */
  expire(now: number): boolean {
    let changed = false;
    for (const [name, entry] of this.names) {
      for (const [address, expiresAt] of entry.addresses) {
        if (expiresAt <= now) {
          entry.addresses.delete(address);
          changed = true;
        }
      }
      if (!entry.addresses.size) this.names.delete(name);
    }
    return changed;
  }

  /** The earliest expiry of any address (ms), for the caller's timer. */
  nextExpiry(): number | undefined {
    let next: number | undefined;
    for (const entry of this.names.values()) for (const t of entry.addresses.values()) if (next === undefined || t < next) next = t;
    return next;
  }

  /** Addresses of every name the patterns select that have not expired at `now` (expired ones may still await expire()), sorted. */
  addressesFor(patterns: readonly string[], now = -Infinity): string[] {
    const out = new Set<string>();
    for (const [name, entry] of this.names) {
      if (!patterns.some((p) => patternMatches(p, name))) continue;
      for (const [address, expiresAt] of entry.addresses) if (expiresAt > now) out.add(address);
    }
    return [...out].sort();
  }

  /**
   * Entries saved by an earlier incarnation (persist.ts), unexpired ones only. Whether a pattern
   * still selects them is settled by the next setPatterns; limits apply to new answers.
   */
  restore(entries: readonly CacheEntry[], now: number): void {
    for (const e of entries) {
      if (e.expiresAt <= now) continue;
      let entry = this.names.get(e.fqdn);
      if (!entry) this.names.set(e.fqdn, (entry = { addresses: new Map() }));
      entry.addresses.set(e.address, Math.max(entry.addresses.get(e.address) ?? 0, e.expiresAt));
    }
  }

  /** Every name → address with its expiry (what `seinectl get fqdncache` shows), by name then address. */
  entries(): CacheEntry[] {
    const out: CacheEntry[] = [];
    for (const [fqdn, entry] of this.names) for (const [address, expiresAt] of entry.addresses) out.push({ fqdn, address, expiresAt });
    return out.sort((a, b) => (a.fqdn === b.fqdn ? (a.address < b.address ? -1 : 1) : a.fqdn < b.fqdn ? -1 : 1));
  }

  get size(): number {
    return this.names.size;
  }

  /** Names only wildcards select count towards the limits; the least recently resolved goes first. True when one went. */
  private enforceLimits(name: string): boolean {
    if (this.patterns.has(name)) return false;
    const wildcards = [...this.patterns].filter((p) => p.startsWith('*') && patternMatches(p, name));
    let evicted = false;
    const maxPer = this.opts.maxPerWildcard ?? MAX_NAMES_PER_WILDCARD;
    for (const w of wildcards) {
      const under = [...this.names.keys()].filter((n) => !this.patterns.has(n) && patternMatches(w, n));
      for (let i = 0; under.length - i > maxPer; i++) {
        this.names.delete(under[i]!);
        this.evictions.perWildcard++;
        evicted = true;
      }
    }
    const maxAll = this.opts.maxWildcardNames ?? MAX_WILDCARD_NAMES;
    const wild = [...this.names.keys()].filter((n) => !this.patterns.has(n));
    for (let i = 0; wild.length - i > maxAll; i++) {
      this.names.delete(wild[i]!);
      this.evictions.total++;
      evicted = true;
    }
    return evicted;
  }
}
