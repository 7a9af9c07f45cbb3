// FQDN egress peers on the box: the cache, the DNS interception flows (a FlowFeature in the
// same bundle as the policy flows), the held-answer handler and the expiry timer. The policy
// flows ask `addressesFor(patterns)` for each fqdn rule's addresses on every sync, so a sync
// after the cache changed installs exactly what the cache holds.
import type { FlowFeature } from '../datapath.js';
import type { CookieAllocator } from '../ovs/cookie.js';
import type { Flow } from '../ovs/flow.js';
import type { Pipeline } from '../ovs/pipeline.js';
import type { PacketInEvent } from '../ovs/packet-in.js';
import type { PacketOut } from '../ovs/packet-out.js';
import type { NodePolicySet } from '../../policy/compute/types.js';
import { createLogger } from '../../lib/log.js';
import { CoalescingRunner } from '../../lib/coalesce.js';
import { hex } from '../policy/registers.js';
import { FqdnCache, type CacheEntry } from './cache.js';
import { DnsInterceptor, PRIORITY_DNS_INTERCEPT, encodeDnsUserdata } from './intercept.js';
import { loadCache, saveCache } from './persist.js';

const log = createLogger('fqdn');

export interface FqdnInput {
  policies: NodePolicySet;
  ofports: ReadonlyMap<string, number>;
}

/** The interception flows: one per protocol for each local pod an fqdn egress rule applies to. */
export function dnsInterceptFlows(input: FqdnInput, cookies: CookieAllocator): Flow[] {
  const pods = new Set<string>();
  for (const r of input.policies.rules) {
    if (r.direction === 'egress' && r.peers.fqdns?.length) for (const t of r.targets) pods.add(t.key);
  }
  const flows: Flow[] = [];
  for (const key of [...pods].sort()) {
    const port = input.ofports.get(key);
    if (port === undefined) continue;
    const cookie = cookies.cookie('NetworkPolicy', `fqdn/dns/${key}`);
    for (const proto of ['udp', 'tcp']) {
      flows.push({
        table: 'AntreaPolicyIngressRule', priority: PRIORITY_DNS_INTERCEPT,
        match: ['ct_state=+rpl+trk', proto, `reg1=${hex(port)}`, 'tp_src=53'],
        actions: [`controller(userdata=${encodeDnsUserdata(port)})`], cookie,
      });
    }
  }
  return flows;
}

export interface FqdnAgentOptions {
  source: () => Promise<FqdnInput>;
  sync: () => Promise<void>;
  packetOut: (p: PacketOut) => Promise<void>;
  /** Seconds an address is kept at least (agent.yaml fqdnCacheMinTTL). */
  minTTL?: number;
  /** Where the cache survives a restart (`<stateDir>/fqdn-cache.json`); undefined: memory only. */
  file?: string;
  now?: () => number;
}

export class FqdnAgent implements FlowFeature {
  readonly name = 'fqdn';
  readonly cache: FqdnCache;
  readonly interceptor: DnsInterceptor;
  private timer?: NodeJS.Timeout;
  private timerAt?: number;
  private stopped = false;
  private saved = '';
  private readonly saver = new CoalescingRunner(() => this.save());

  constructor(private readonly o: FqdnAgentOptions) {
    this.cache = new FqdnCache({ minTTL: o.minTTL ?? 0 });
    this.interceptor = new DnsInterceptor({ cache: this.cache, sync: o.sync, packetOut: o.packetOut, ...(o.now ? { now: o.now } : {}) });
  }

  /** Reads back what an earlier incarnation saved (before the first sync, so its flows are there from the start). */
  async load(): Promise<void> {
    if (!this.o.file) return;
    const entries = await loadCache(this.o.file);
    this.cache.restore(entries, this.now());
    this.saved = JSON.stringify(this.cache.entries());
    if (this.cache.size) log.info({ names: this.cache.size }, 'fqdn cache restored');
  }

  private async save(): Promise<void> {
    if (!this.o.file) return;
    const entries = this.cache.entries();
    const text = JSON.stringify(entries);
    if (text === this.saved) return;
    await saveCache(this.o.file, entries);
    this.saved = text;
  }

  private persist(): void {
    this.saver.run().catch((err) => log.warn({ err }, 'fqdn cache not saved'));
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  async flows(_pipeline: Pipeline, cookies: CookieAllocator): Promise<Flow[]> {
    const input = await this.o.source();
    const patterns = new Set<string>();
    for (const r of input.policies.rules) for (const p of r.peers.fqdns ?? []) patterns.add(p);
    this.cache.setPatterns(patterns);
    this.cache.expire(this.now());
    this.arm();
    this.persist();
    return dnsInterceptFlows(input, cookies);
  }

  /** Addresses for a rule's fqdn peers, as the cache holds them now. */
  addressesFor(patterns: readonly string[]): string[] {
    return this.cache.addressesFor(patterns, this.now());
  }

  async onPacketIn(ev: PacketInEvent): Promise<void> {
    try {
      if (!(await this.interceptor.onPacketIn(ev))) return;
    } catch (err) {
      log.error({ err }, 'held DNS answer not handled');
      return;
    }
    this.arm();
    this.persist();
  }

  /** The unexpired entries (without expiring anything: that is the timer's, which syncs the flows). */
  entries(): CacheEntry[] {
    const now = this.now();
    return this.cache.entries().filter((e) => e.expiresAt > now);
  }

  /** Stops the expiry timer; resolves once a save in progress is written. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.saver.idle();
  }

  /** One timer at the earliest expiry: the addresses that expired leave the flows then. */
  private arm(): void {
    const next = this.cache.nextExpiry();
    if (this.stopped || next === undefined || next === this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(() => {
      this.timerAt = undefined;
      if (this.cache.expire(this.now())) {
        this.o.sync().catch((err) => log.error({ err }, 'datapath sync after fqdn expiry failed'));
        this.persist();
      }
      this.arm();
    }, Math.max(0, next - this.now()) + 5);
    this.timer.unref();
  }
}
