// OpenFlow 1.5 bundles (OFPT_BUNDLE_CONTROL, OFPT_BUNDLE_ADD_MESSAGE): the switch stages
// every added message and applies all of them or none at commit, as `ovs-ofctl --bundle`
// does (flags atomic + ordered). An added message keeps its own xid, which must equal the
// add message's: an error the switch reports for it names that xid.
import { OfWriter } from './match-fields.js';
import { endMessage, putHeader } from './flow-mod.js';

export const OFPT_BUNDLE_CONTROL = 33;
export const OFPT_BUNDLE_ADD_MESSAGE = 34;
export const BUNDLE_CTRL = { open_request: 0, open_reply: 1, close_request: 2, close_reply: 3, commit_request: 4, commit_reply: 5, discard_request: 6, discard_reply: 7 } as const;
export const OFPBF_ATOMIC = 1;
export const OFPBF_ORDERED = 2;

export function putBundleControl(w: OfWriter, xid: number, bundleId: number, type: keyof typeof BUNDLE_CTRL, flags = OFPBF_ATOMIC | OFPBF_ORDERED): void {
  const start = putHeader(w, OFPT_BUNDLE_CONTROL, xid);
  w.u32(bundleId);
  w.u16(BUNDLE_CTRL[type]);
  w.u16(flags);
  endMessage(w, start);
}

/**
 * Appends a BUNDLE_ADD_MESSAGE whose inner message is written by `inner` with the same xid
 * (e.g. `(w) => putFlowMod(w, flow, xid)`).
 */
export function putBundleAdd(w: OfWriter, xid: number, bundleId: number, inner: (w: OfWriter) => void, flags = OFPBF_ATOMIC | OFPBF_ORDERED): void {
  const start = putHeader(w, OFPT_BUNDLE_ADD_MESSAGE, xid);
  w.u32(bundleId);
  w.u16(0);
  w.u16(flags);
  inner(w);
  endMessage(w, start);
}

/** The body (after the header) of a BUNDLE_CONTROL, for a connection that writes the header. */
export function bundleControlBody(bundleId: number, type: keyof typeof BUNDLE_CTRL, flags = OFPBF_ATOMIC | OFPBF_ORDERED): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(bundleId >>> 0, 0);
  b.writeUInt16BE(BUNDLE_CTRL[type], 4);
  b.writeUInt16BE(flags, 6);
  return b;
}

/**
 * Appends the body (after the header) of a BUNDLE_ADD_MESSAGE to `w` and returns a view of it;
 * `inner` writes the whole inner message with the add's own xid.
 */
export function putBundleAddBody(w: OfWriter, bundleId: number, inner: (w: OfWriter) => void, flags = OFPBF_ATOMIC | OFPBF_ORDERED): { start: number; end: number } {
  const start = w.len;
  w.u32(bundleId);
  w.u16(0);
  w.u16(flags);
  inner(w);
  if (w.len - start + 8 > 0xffff) throw new Error(`bundled message of ${w.len - start} bytes is over 64 kB`);
  return { start, end: w.len };
}
