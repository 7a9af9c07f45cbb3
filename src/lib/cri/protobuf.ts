// A minimal protobuf (proto3) codec driven by message tables, enough for the few CRI messages
// the lab sends (cri-messages.ts). Why not a generated client: no new npm dependency, and the
// CRI surface we use is six calls. Supports varint scalars (uint32, int64, bool, enum), strings,
// nested messages, repeated fields and map<string,string>; unknown fields are skipped on decode.

export type FieldType = 'string' | 'uint32' | 'int64' | 'bool' | 'enum' | 'message' | 'map';

export interface Field {
  name: string;
  no: number;
  type: FieldType;
  /** For `message`: the nested message table. */
  message?: MessageType;
  repeated?: boolean;
}

export type MessageType = readonly Field[];

export type Value = string | number | boolean | bigint | Record<string, string> | Message | Value[];
export interface Message {
  [field: string]: Value | undefined;
}

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

class Writer {
  private readonly parts: Buffer[] = [];

  varint(v: bigint): void {
    const bytes: number[] = [];
    let n = BigInt.asUintN(64, v); // negative int64 is ten bytes of two's complement, as protobuf says
    do {
      let b = Number(n & 0x7fn);
      n >>= 7n;
      if (n) b |= 0x80;
      bytes.push(b);
    } while (n);
    this.parts.push(Buffer.from(bytes));
  }

  tag(no: number, wire: number): void {
    this.varint(BigInt((no << 3) | wire));
  }

  bytes(b: Buffer): void {
    this.varint(BigInt(b.length));
    this.parts.push(b);
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export function encode(type: MessageType, msg: Message): Buffer {
  const w = new Writer();
  for (const f of type) {
    const v = msg[f.name];
    if (v === undefined) continue;
    if (f.type === 'map') {
      for (const [k, val] of Object.entries(v as Record<string, string>)) {
        w.tag(f.no, WIRE_LEN);
        w.bytes(encode(MAP_ENTRY, { key: k, value: val }));
      }
      continue;
    }
    const items = f.repeated ? (v as Value[]) : [v];
    for (const item of items) writeField(w, f, item);
  }
  return w.finish();
}

function writeField(w: Writer, f: Field, v: Value): void {
  switch (f.type) {
    case 'string':
      w.tag(f.no, WIRE_LEN);
      w.bytes(Buffer.from(v as string, 'utf8'));
      return;
    case 'message':
      w.tag(f.no, WIRE_LEN);
      w.bytes(encode(f.message!, v as Message));
      return;
    case 'bool':
      w.tag(f.no, WIRE_VARINT);
      w.varint(v ? 1n : 0n);
      return;
    default: // uint32, int64, enum
      w.tag(f.no, WIRE_VARINT);
      w.varint(BigInt(v as number | bigint));
  }
}

const MAP_ENTRY: MessageType = [
  { name: 'key', no: 1, type: 'string' },
  { name: 'value', no: 2, type: 'string' },
];

export class ProtobufError extends Error {}

class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (this.pos >= this.buf.length) throw new ProtobufError('truncated varint');
      if (shift > 63n) throw new ProtobufError('varint longer than 10 bytes');
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return BigInt.asUintN(64, result);
    }
  }

  take(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw new ProtobufError('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(wire: number): void {
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_I64) this.take(8);
    else if (wire === WIRE_LEN) this.take(Number(this.varint()));
    else if (wire === WIRE_I32) this.take(4);
    else throw new ProtobufError(`unsupported wire type ${wire}`);
  }
}

/** Decodes into plain objects; absent proto3 scalars get their defaults ('' / 0 / false / {} / []). */
export function decode(type: MessageType, buf: Buffer): Message {
  const out: Message = {};
  for (const f of type) {
    if (f.repeated) out[f.name] = [];
    else if (f.type === 'map') out[f.name] = {};
    else if (f.type === 'string') out[f.name] = '';
    else if (f.type === 'bool') out[f.name] = false;
    else if (f.type === 'int64') out[f.name] = 0n;
    else if (f.type === 'uint32' || f.type === 'enum') out[f.name] = 0;
  }
  const byNo = new Map(type.map((f) => [f.no, f]));
  const r = new Reader(buf);
  while (!r.done) {
    const tag = Number(r.varint());
    const no = tag >>> 3;
    const wire = tag & 7;
    const f = byNo.get(no);
    if (!f) {
      r.skip(wire);
      continue;
    }
    const expected = f.type === 'string' || f.type === 'message' || f.type === 'map' ? WIRE_LEN : WIRE_VARINT;
    if (wire !== expected) throw new ProtobufError(`field ${f.name} (${no}): wire type ${wire}, expected ${expected}`);
    if (f.type === 'map') {
      const e = decode(MAP_ENTRY, r.take(Number(r.varint())));
      (out[f.name] as Record<string, string>)[e.key as string] = e.value as string;
      continue;
    }
    const v = readValue(r, f);
    if (f.repeated) (out[f.name] as Value[]).push(v);
    else out[f.name] = v;
  }
  return out;
}

function readValue(r: Reader, f: Field): Value {
  switch (f.type) {
    case 'string':
      return r.take(Number(r.varint())).toString('utf8');
    case 'message':
      return decode(f.message!, r.take(Number(r.varint())));
    case 'bool':
      return r.varint() !== 0n;
    case 'int64':
      return BigInt.asIntN(64, r.varint());
    default: // uint32, enum
      return Number(BigInt.asUintN(32, r.varint()));
  }
}
