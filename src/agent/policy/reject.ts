// The Reject responder and the policy packet-in dispatcher. Reject and logged rules send
// packets to the agent with userdata naming the rule (userdata.ts), and so does the ServiceLB
// flow of a Service port without endpoints (its own category); a token bucket bounds how
// many the agent handles so a flood of rejected packets cannot starve it (the excess is
// counted and dropped: the sender then sees a timeout instead of a refusal, as with Drop).
//
// Where the answer goes in: the rejected packet's in_port says where its sender is.
//   - a local pod port: the answer is output straight to that port. Going through the pipeline
//     would run it through the pod's ingress rules while untracked (nothing was committed for
//     the rejected connection), and an isolated pod would drop it; Antrea needs its
//     GeneratedRejectPacketOut mark for that, a direct output needs nothing.
//   - the tunnel or the gateway: the sender is on another box (or the host). The answer is
//     resubmitted to L3Forwarding, which picks the tunnel (tun_dst, virtual MAC) or the
//     gateway; ingress rules only match local pod ports so they do not touch it, and the
//     sender's box sees it as a reply (RST) or related (ICMP) to the connection it committed.
import type { PacketInEvent } from '../ovs/packet-in.js';
import type { PacketOut } from '../ovs/bridge.js';
import { createLogger } from '../../lib/log.js';
import { ICMP_HOST_ADMIN_PROHIBITED, ICMP_PORT_UNREACHABLE, rejectFrame } from './reject-frames.js';
import { OP_LOG, OP_REJECT, decodeUserdata, type PolicyPacketIn, type RejectReason } from './userdata.js';

const log = createLogger('policy/reject');

/** A token bucket: `rate` tokens a second, at most `burst` saved up. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(private readonly rate: number, private readonly burst: number, private readonly now = () => Date.now()) {
    this.tokens = burst;
    this.last = now();
  }

  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export interface RejectPorts {
  /** Table the answer for a remote sender is resubmitted to (L3Forwarding). */
  l3ForwardingTable: number;
  gatewayPort: number;
  tunnelPort?: number;
}

/** Where and how to inject the answer to a packet that came in on `inPort`. */
export function rejectPacketOut(inPort: number | string, packetHex: string, ports: RejectPorts): PacketOut {
  const remote = typeof inPort !== 'number' || inPort === ports.gatewayPort || inPort === ports.tunnelPort;
  return remote
    ? { inPort: 'controller', packetHex, actions: [`resubmit(,${ports.l3ForwardingTable})`] }
    : { inPort: 'controller', packetHex, actions: [`output:${inPort}`] };
}

export class RejectResponder {
  sent = 0;
  failed = 0;
  constructor(private readonly ports: RejectPorts, private readonly packetOut: (p: PacketOut) => Promise<void>) {}

  async handle(ev: PacketInEvent, reason: RejectReason = 'policy'): Promise<boolean> {
    const answer = ev.raw && rejectFrame(ev.raw, reason === 'serviceNoEndpoint' ? ICMP_PORT_UNREACHABLE : ICMP_HOST_ADMIN_PROHIBITED);
    if (!answer) {
      log.debug({ protocol: ev.packet.protocol, src: ev.packet.nwSrc, dst: ev.packet.nwDst }, 'nothing to answer (no bytes, an RST or an ICMP error)');
      return false;
    }
    try {
      await this.packetOut(rejectPacketOut(ev.inPort, answer.frame.toString('hex'), this.ports));
      this.sent++;
      return true;
    } catch (err) {
      this.failed++;
      log.warn({ err, kind: answer.kind, reason, src: ev.packet.nwSrc, dst: ev.packet.nwDst }, 'reject packet-out failed');
      return false;
    }
  }
}

export interface PolicyPacketInHandlers {
  reject: RejectResponder;
  /** Policy logging (np.log); called before the reject answer goes out. */
  log?: (ev: PacketInEvent, u: PolicyPacketIn) => void;
  /** Packet-ins handled a second, and the burst (defaults 200 and 400). */
  rate?: number;
  burst?: number;
}

/** Routes the monitor's policy and Service-without-endpoint packet-ins to logging and the reject responder, rate-limited. */
export class PolicyPacketIns {
  dropped = 0;
  private readonly bucket: TokenBucket;
  constructor(private readonly h: PolicyPacketInHandlers) {
    this.bucket = new TokenBucket(h.rate ?? 200, h.burst ?? 400);
  }

  /** Handles one packet-in; resolves when its answer (if any) is out. */
  async onPacketIn(ev: PacketInEvent): Promise<void> {
    const u = ev.userdata && decodeUserdata(ev.userdata);
    if (!u) return;
    if (!this.bucket.take()) {
      if (this.dropped++ % 1000 === 0) log.warn({ dropped: this.dropped }, 'policy packet-ins over the rate limit; dropping');
      return;
    }
    if (u.operations & OP_LOG) {
      try {
        this.h.log?.(ev, u);
      } catch (err) {
        log.warn({ err }, 'policy log failed');
      }
    }
    if (u.operations & OP_REJECT) await this.h.reject.handle(ev, u.reason);
  }
}
