// DNS answers to the pods of fqdn rules, held until the rules allow what they say: Antrea's
// DNS interception (pipeline.go dnsPacketInFlow, fqdn.go HandlePacketIn). A flow in
// AntreaPolicyIngressRule, above the established-connection bypass, sends every UDP or TCP
// packet from port 53 that is a tracked reply (ct_state=+rpl+trk: only answers to queries the
// pod made) and leaves through the port of a pod an fqdn rule applies to, to the agent — and
// nothing else: the packet stops there. The agent reads the answer, updates the FQDN cache,
// syncs the flows when an address set changed, and only then sends the packet on to the pod's
// port (packet-out), so the pod's first connection to what it resolved is already allowed.
//
// - The packet is output straight to the pod's port: it is a reply, which the rule tables let
//   through anyway, and it went through routing already (MACs set, TTL decremented).
// - A packet that is not a readable DNS answer (a TCP segment without a whole message, an ACK, a
//   non-DNS protocol on port 53) is released unchanged at once; a TCP answer is read only when
//   one segment holds the whole message, as Antrea reads the first segment.
// - Flows not synced within 2 s (Antrea's ruleRealizationTimeout), or failing: the answer is
//   dropped (the pod's resolver asks again) rather than released before the rule allows it.
// - Rate limit: over 500 answers a second (burst 1000) the excess is released without being
//   read (Antrea meters these packet-ins); its addresses are then not allowed by Allow rules.
import type { PacketInEvent } from '../ovs/packet-in.js';
import type { PacketOut } from '../ovs/packet-out.js';
import { createLogger } from '../../lib/log.js';
import { errorMessage } from '../../lib/errors.js';
import { DnsParseError, parseDnsMessage, resolvedAddresses } from '../../lib/dns-message.js';
import { TokenBucket } from '../policy/reject.js';
import type { FqdnCache } from './cache.js';

const log = createLogger('fqdn');

/** Userdata byte 0 of the interception flows (policy packet-ins use 1, Traceflow 2, Service reject 4). */
export const PACKET_IN_CATEGORY_DNS = 3;
/** Above the established/related bypass (64990), as Antrea's priorityDNSIntercept. */
export const PRIORITY_DNS_INTERCEPT = 64991;
export const RULE_REALIZATION_TIMEOUT_MS = 2000;

/** Userdata: category, then the pod's OVS port (big-endian), where the held answer goes. */
export function encodeDnsUserdata(ofport: number): string {
  const b = Buffer.alloc(5);
  b[0] = PACKET_IN_CATEGORY_DNS;
  b.writeUInt32BE(ofport, 1);
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('.');
}

export function decodeDnsUserdata(data: Buffer | undefined): { ofport: number } | undefined {
  if (!data || data.length < 5 || data[0] !== PACKET_IN_CATEGORY_DNS) return undefined;
  return { ofport: data.readUInt32BE(1) };
}

/** The DNS message in an Ethernet frame from port 53 (UDP payload, or a TCP segment holding a whole length-prefixed message); undefined otherwise. */
export function dnsPayload(frame: Buffer): Buffer | undefined {
  if (frame.length < 14) return undefined;
  let off = 14;
  let type = frame.readUInt16BE(12);
  if (type === 0x8100 && frame.length >= 18) {
    type = frame.readUInt16BE(16);
    off = 18;
  }
  if (type !== 0x0800 || frame.length < off + 20) return undefined; // IPv4 only, as the datapath
  const ihl = (frame[off]! & 0x0f) * 4;
  const total = frame.readUInt16BE(off + 2);
  const frag = frame.readUInt16BE(off + 6);
  if (frag & 0x3fff) return undefined; // a fragment (more fragments, or not the first): not whole
  const proto = frame[off + 9]!;
  const ipEnd = Math.min(frame.length, off + total);
  const l4 = off + ihl;
  if (proto === 17) {
    if (ipEnd < l4 + 8 || frame.readUInt16BE(l4) !== 53) return undefined;
    return frame.subarray(l4 + 8, ipEnd);
  }
  if (proto === 6) {
    if (ipEnd < l4 + 20 || frame.readUInt16BE(l4) !== 53) return undefined;
    const data = l4 + (frame[l4 + 12]! >> 4) * 4;
    if (ipEnd < data + 2) return undefined;
    const len = frame.readUInt16BE(data);
    if (ipEnd < data + 2 + len) return undefined; // the message continues in later segments
    return frame.subarray(data + 2, data + 2 + len);
  }
  return undefined;
}

export interface DnsInterceptorOptions {
  cache: FqdnCache;
  /** Installs the flows for the cache as it is now; resolves once they are in. */
  sync: () => Promise<void>;
  packetOut: (p: PacketOut) => Promise<void>;
  now?: () => number;
  timeoutMs?: number;
  rate?: number;
  burst?: number;
}

export class DnsInterceptor {
  readonly counts = { answers: 0, learned: 0, released: 0, dropped: 0, unreadable: 0, overLimit: 0 };
  private readonly bucket: TokenBucket;

  constructor(private readonly o: DnsInterceptorOptions) {
    this.bucket = new TokenBucket(o.rate ?? 500, o.burst ?? 1000);
  }

  /** Handles one packet-in if it is a held DNS answer; resolves once it is released (or dropped). */
  async onPacketIn(ev: PacketInEvent): Promise<boolean> {
    const u = decodeDnsUserdata(ev.userdata);
    if (!u) return false;
    const frame = ev.raw;
    if (!frame) return true;
    if (!this.bucket.take()) {
      this.counts.overLimit++;
      return this.release(frame, u.ofport);
    }
    const payload = dnsPayload(frame);
    let names: string[] = [];
    let addresses: { address: string; ttl: number }[] = [];
    if (payload) {
      try {
        ({ names, addresses } = resolvedAddresses(parseDnsMessage(payload)));
      } catch (err) {
        // DnsParseError: not DNS, or cut; anything else would be a parser bug — either way the packet goes on unread.
        if (!(err instanceof DnsParseError)) log.warn({ err, src: ev.packet.nwSrc }, 'DNS answer parser failed; released unread');
        else log.debug({ err: err.message, src: ev.packet.nwSrc }, 'not a readable DNS answer; released as it is');
      }
    }
    if (!names.length) {
      this.counts.unreadable++;
      return this.release(frame, u.ofport);
    }
    this.counts.answers++;
    const now = (this.o.now ?? Date.now)();
    if (this.o.cache.learn(names, addresses, now)) {
      this.counts.learned++;
      log.debug({ names, addresses: addresses.map((a) => a.address) }, 'DNS answer changes fqdn rules; syncing before releasing it');
      try {
        await withTimeout(this.o.sync(), this.o.timeoutMs ?? RULE_REALIZATION_TIMEOUT_MS);
      } catch (err) {
        this.counts.dropped++;
        log.warn({ err: errorMessage(err), names }, 'fqdn rules not synced for a DNS answer; dropping it (the pod asks again)');
        return true;
      }
    }
    return this.release(frame, u.ofport);
  }

  private async release(frame: Buffer, ofport: number): Promise<boolean> {
    try {
      await this.o.packetOut({ inPort: 'controller', packetHex: frame.toString('hex'), actions: [`output:${ofport}`] });
      this.counts.released++;
    } catch (err) {
      this.counts.dropped++;
      log.warn({ err: errorMessage(err), ofport }, 'held DNS answer could not be released');
    }
    return true;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not synced within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
