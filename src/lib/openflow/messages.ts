// Bodies of the connection's own messages (HELLO, FEATURES, SET_CONFIG, SET_ASYNC, the Nicira
// packet-in format and controller id) and OFPT_ERROR decoded into names a reader can act on.
import { NX_VENDOR_ID, NXPIF_NXT_PACKET_IN2, NXT, nxBody, OFP15_VERSION, typeName } from './header.js';

/** OFPT_HELLO body: one OFPHET_VERSIONBITMAP element listing the versions we speak. */
export function helloBody(versions: readonly number[] = [OFP15_VERSION]): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt16BE(1, 0); // OFPHET_VERSIONBITMAP
  body.writeUInt16BE(8, 2);
  body.writeUInt32BE(versions.reduce((m, v) => m | (1 << v), 0) >>> 0, 4);
  return body;
}

/**
 * The version both sides speak: the highest in both bitmaps when the peer sent one, else the
 * lower of the two header versions (OpenFlow 1.0's rule). undefined when there is none.
 */
export function negotiateVersion(peerVersion: number, peerBody: Buffer, ours: readonly number[] = [OFP15_VERSION]): number | undefined {
  let peer: (v: number) => boolean = (v) => v <= peerVersion;
  for (let pos = 0; pos + 4 <= peerBody.length;) {
    const type = peerBody.readUInt16BE(pos);
    const len = peerBody.readUInt16BE(pos + 2);
    if (len < 4) break;
    if (type === 1 && len >= 8) {
      const bitmap = peerBody.readUInt32BE(pos + 4);
      peer = (v) => v < 32 && (bitmap & (1 << v)) !== 0;
    }
    pos += (len + 7) & ~7;
  }
  return [...ours].sort((a, b) => b - a).find((v) => peer(v));
}

export interface SwitchFeatures {
  datapathId: bigint;
  nBuffers: number;
  nTables: number;
  auxiliaryId: number;
  capabilities: number;
}

/** OFPT_FEATURES_REPLY (OF1.3+). */
export function decodeFeatures(body: Buffer): SwitchFeatures {
  if (body.length < 24) throw new Error(`OFPT_FEATURES_REPLY body of ${body.length} bytes, expected 24`);
  return {
    datapathId: body.readBigUInt64BE(0),
    nBuffers: body.readUInt32BE(8),
    nTables: body.readUInt8(12),
    auxiliaryId: body.readUInt8(13),
    capabilities: body.readUInt32BE(16),
  };
}

/**
 * OFPT_SET_CONFIG: no fragment handling flags, and how many bytes of a packet a packet-in
 * carries. A nonzero miss_send_len is also what makes OVS send asynchronous messages to a
 * service connection (the bridge's mgmt socket) at all (ofproto/connmgr.c).
 */
export function setConfigBody(missSendLen = 0xffff): Buffer {
  const body = Buffer.alloc(4);
  body.writeUInt16BE(0, 0);
  body.writeUInt16BE(missSendLen, 2);
  return body;
}

export const setPacketInFormatBody = (): Buffer => nxBody(NXT.SET_PACKET_IN_FORMAT, u32(NXPIF_NXT_PACKET_IN2));

/** NXT_SET_CONTROLLER_ID: pad[6], controller_id — NXAST_CONTROLLER2 actions address it. */
export function setControllerIdBody(id: number): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeUInt16BE(id, 6);
  return nxBody(NXT.SET_CONTROLLER_ID, payload);
}

/** OFPACPT_* of OF1.4+ SET_ASYNC: the packet-in reason masks for the master/equal role. */
const OFPACPT_PACKET_IN_MASTER = 1;
/** All six OF1.4+ packet-in reasons: table miss, apply action, invalid ttl, action set, group, packet-out. */
export const ALL_PACKET_IN_REASONS = 0x3f;

export function setAsyncPacketInBody(mask = ALL_PACKET_IN_REASONS): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt16BE(OFPACPT_PACKET_IN_MASTER, 0);
  body.writeUInt16BE(8, 2);
  body.writeUInt32BE(mask, 4);
  return body;
}

const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
};

// OFPET_* and their codes (OpenFlow 1.5 §7.5.4), as OVS names them.
const ERRORS: Record<number, [string, string[]]> = {
  0: ['HELLO_FAILED', ['INCOMPATIBLE', 'EPERM']],
  1: ['BAD_REQUEST', ['BAD_VERSION', 'BAD_TYPE', 'BAD_MULTIPART', 'BAD_EXPERIMENTER', 'BAD_EXP_TYPE', 'EPERM', 'BAD_LEN', 'BUFFER_EMPTY', 'BUFFER_UNKNOWN', 'BAD_TABLE_ID', 'IS_SLAVE', 'BAD_PORT', 'BAD_PACKET', 'MULTIPART_BUFFER_OVERFLOW', 'MULTIPART_REQUEST_TIMEOUT', 'MULTIPART_REPLY_TIMEOUT', 'MULTIPART_BAD_SCHED', 'PIPELINE_FIELDS_ONLY', 'UNKNOWN']],
  2: ['BAD_ACTION', ['BAD_TYPE', 'BAD_LEN', 'BAD_EXPERIMENTER', 'BAD_EXP_TYPE', 'BAD_OUT_PORT', 'BAD_ARGUMENT', 'EPERM', 'TOO_MANY', 'BAD_QUEUE', 'BAD_OUT_GROUP', 'MATCH_INCONSISTENT', 'UNSUPPORTED_ORDER', 'BAD_TAG', 'BAD_SET_TYPE', 'BAD_SET_LEN', 'BAD_SET_ARGUMENT', 'BAD_SET_MASK', 'BAD_METER']],
  3: ['BAD_INSTRUCTION', ['UNKNOWN_INST', 'UNSUP_INST', 'BAD_TABLE_ID', 'UNSUP_METADATA', 'UNSUP_METADATA_MASK', 'BAD_EXPERIMENTER', 'BAD_EXP_TYPE', 'BAD_LEN', 'EPERM', 'DUP_INST']],
  4: ['BAD_MATCH', ['BAD_TYPE', 'BAD_LEN', 'BAD_TAG', 'BAD_DL_ADDR_MASK', 'BAD_NW_ADDR_MASK', 'BAD_WILDCARDS', 'BAD_FIELD', 'BAD_VALUE', 'BAD_MASK', 'BAD_PREREQ', 'DUP_FIELD', 'EPERM']],
  5: ['FLOW_MOD_FAILED', ['UNKNOWN', 'TABLE_FULL', 'BAD_TABLE_ID', 'OVERLAP', 'EPERM', 'BAD_TIMEOUT', 'BAD_COMMAND', 'BAD_FLAGS', 'CANT_SYNC', 'BAD_PRIORITY', 'IS_SYNC']],
  6: ['GROUP_MOD_FAILED', ['GROUP_EXISTS', 'INVALID_GROUP', 'WEIGHT_UNSUPPORTED', 'OUT_OF_GROUPS', 'OUT_OF_BUCKETS', 'CHAINING_UNSUPPORTED', 'WATCH_UNSUPPORTED', 'LOOP', 'UNKNOWN_GROUP', 'CHAINED_GROUP', 'BAD_TYPE', 'BAD_COMMAND', 'BAD_BUCKET', 'BAD_WATCH', 'EPERM', 'UNKNOWN_BUCKET', 'BUCKET_EXISTS']],
  7: ['PORT_MOD_FAILED', ['BAD_PORT', 'BAD_HW_ADDR', 'BAD_CONFIG', 'BAD_ADVERTISE', 'EPERM']],
  8: ['TABLE_MOD_FAILED', ['BAD_TABLE', 'BAD_CONFIG', 'EPERM']],
  9: ['QUEUE_OP_FAILED', ['BAD_PORT', 'BAD_QUEUE', 'EPERM']],
  10: ['SWITCH_CONFIG_FAILED', ['BAD_FLAGS', 'BAD_LEN', 'EPERM']],
  11: ['ROLE_REQUEST_FAILED', ['STALE', 'UNSUP', 'BAD_ROLE']],
  12: ['METER_MOD_FAILED', ['UNKNOWN', 'METER_EXISTS', 'INVALID_METER', 'UNKNOWN_METER', 'BAD_COMMAND', 'BAD_FLAGS', 'BAD_RATE', 'BAD_BURST', 'BAD_BAND', 'BAD_BAND_VALUE', 'OUT_OF_METERS', 'OUT_OF_BANDS']],
  13: ['TABLE_FEATURES_FAILED', ['BAD_TABLE', 'BAD_METADATA', 'BAD_TYPE', 'BAD_LEN', 'BAD_ARGUMENT', 'EPERM']],
  14: ['BAD_PROPERTY', ['BAD_TYPE', 'BAD_LEN', 'BAD_VALUE', 'TOO_MANY', 'DUP_TYPE', 'BAD_EXPERIMENTER', 'BAD_EXP_TYPE', 'BAD_EXP_VALUE', 'EPERM']],
  15: ['ASYNC_CONFIG_FAILED', ['INVALID', 'UNSUPPORTED', 'EPERM']],
  16: ['FLOW_MONITOR_FAILED', ['UNKNOWN', 'MONITOR_EXISTS', 'INVALID_MONITOR', 'UNKNOWN_MONITOR', 'BAD_COMMAND', 'BAD_FLAGS', 'BAD_TABLE_ID', 'BAD_OUT']],
  17: ['BUNDLE_FAILED', ['UNKNOWN', 'EPERM', 'BAD_ID', 'BUNDLE_EXIST', 'BUNDLE_CLOSED', 'OUT_OF_BUNDLES', 'BAD_TYPE', 'BAD_FLAGS', 'MSG_BAD_LEN', 'MSG_BAD_XID', 'MSG_UNSUP', 'MSG_CONFLICT', 'MSG_TOO_MANY', 'MSG_FAILED', 'TIMEOUT', 'BUNDLE_IN_PROGRESS', 'SCHED_NOT_SUPPORTED', 'SCHED_FUTURE', 'SCHED_PAST']],
};

// The Nicira extension errors OVS sends as OFPET_EXPERIMENTER (exp_code, NX_VENDOR_ID) for the
// extensions Seine uses (include/openvswitch/ofp-errors.h, "NX1.2+" codes).
const NX_ERRORS: Record<number, string> = {
  2: 'NXBRC_NXM_INVALID', 3: 'NXBRC_NXM_BAD_TYPE', 4: 'NXBRC_MUST_BE_ZERO', 5: 'NXBRC_BAD_REASON',
  9: 'NXBRC_FM_BAD_EVENT', 10: 'NXBRC_UNENCODABLE_ERROR', 11: 'NXBAC_MUST_BE_ZERO', 12: 'NXFMFC_HARDWARE',
  13: 'NXFMFC_BAD_TABLE_ID', 15: 'NXBAC_BAD_CONJUNCTION', 23: 'NXQOFC_QUEUE_ERROR', 34: 'NXR_NOT_SUPPORTED',
  35: 'NXR_STALE', 36: 'NXST_NOT_CONFIGURED', 37: 'NXFMFC_INVALID_TLV_FIELD', 39: 'NXBAC_BAD_HEADER_TYPE',
  40: 'NXBAC_UNKNOWN_ED_PROP', 41: 'NXBAC_BAD_ED_PROP', 42: 'NXBAC_CT_DATAPATH_SUPPORT', 43: 'NXBMC_CT_DATAPATH_SUPPORT',
};

export interface DecodedError {
  type: number;
  code: number;
  /** e.g. "OFPET_BAD_MATCH/OFPBMC_BAD_PREREQ". */
  name: string;
  /** The start of the message that failed (at least 64 bytes of it, OVS sends all). */
  data: Buffer;
  /** The failed message's type, read from `data`'s header. */
  failedType?: string;
}

const PREFIX: Record<string, string> = {
  HELLO_FAILED: 'OFPHFC', BAD_REQUEST: 'OFPBRC', BAD_ACTION: 'OFPBAC', BAD_INSTRUCTION: 'OFPBIC', BAD_MATCH: 'OFPBMC',
  FLOW_MOD_FAILED: 'OFPFMFC', GROUP_MOD_FAILED: 'OFPGMFC', PORT_MOD_FAILED: 'OFPPMFC', TABLE_MOD_FAILED: 'OFPTMFC',
  QUEUE_OP_FAILED: 'OFPQOFC', SWITCH_CONFIG_FAILED: 'OFPSCFC', ROLE_REQUEST_FAILED: 'OFPRRFC', METER_MOD_FAILED: 'OFPMMFC',
  TABLE_FEATURES_FAILED: 'OFPTFFC', BAD_PROPERTY: 'OFPBPC', ASYNC_CONFIG_FAILED: 'OFPACFC', FLOW_MONITOR_FAILED: 'OFPMOFC',
  BUNDLE_FAILED: 'OFPBFC',
};

/** OFPT_ERROR body → names. */
export function decodeError(body: Buffer): DecodedError {
  if (body.length < 4) return { type: -1, code: -1, name: `malformed OFPT_ERROR of ${body.length} bytes`, data: body };
  const type = body.readUInt16BE(0);
  const code = body.readUInt16BE(2);
  let data = body.subarray(4);
  let name: string;
  if (type === 0xffff) {
    // OF1.2+ experimenter error: exp_code is `code`, then the experimenter id.
    const exp = data.length >= 4 ? data.readUInt32BE(0) : 0;
    data = data.subarray(4);
    name = exp === NX_VENDOR_ID ? NX_ERRORS[code] ?? `NX error code ${code}` : `experimenter 0x${exp.toString(16)} error code ${code}`;
  } else {
    const t = ERRORS[type];
    const codeName = t?.[1][code];
    name = t ? `OFPET_${t[0]}/${codeName ? `${PREFIX[t[0]]}_${codeName}` : `code ${code}`}` : `OFPET ${type} code ${code}`;
  }
  const failedType = data.length >= 8 ? typeName(data.readUInt8(1), data.subarray(8)) : undefined;
  return { type, code, name, data, failedType };
}
