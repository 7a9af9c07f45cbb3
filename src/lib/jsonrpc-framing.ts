// JSON-RPC over a byte stream without delimiters (RFC 7047, OVSDB): JSON texts follow each
// other back to back, so a reader must find where one value ends. This splitter tracks
// brace/bracket depth and string state incrementally, so each byte is scanned once even
// when a large monitor reply arrives in many chunks.
export class JsonStreamSplitter {
  private buf = '';
  private pos = 0; // next char of buf to scan
  private start = -1; // start of the current value in buf, -1 between values
  private depth = 0;
  private inString = false;
  private escaped = false;

  /** Feed decoded text; returns the complete JSON texts it finished (unparsed). */
  push(chunk: string): string[] {
    const out: string[] = [];
    this.buf += chunk;
    const buf = this.buf;
    for (let i = this.pos; i < buf.length; i++) {
      const c = buf.charCodeAt(i);
      if (this.start < 0) {
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
        if (c !== 0x7b && c !== 0x5b) throw new Error(`JSON stream: expected '{' or '[' but got ${JSON.stringify(buf[i])}`);
        this.start = i;
        this.depth = 1;
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true; // backslash
        else if (c === 0x22) this.inString = false;
        continue;
      }
      if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) this.depth++;
      else if (c === 0x7d || c === 0x5d) {
        if (--this.depth === 0) {
          out.push(buf.slice(this.start, i + 1));
          this.start = -1;
        }
      }
    }
    // Keep only the unfinished value so the buffer does not grow with the stream.
    if (this.start < 0) {
      this.buf = '';
      this.pos = 0;
    } else {
      this.buf = buf.slice(this.start);
      this.pos = this.buf.length;
      this.start = 0;
    }
    return out;
  }

  /** Bytes of an unfinished value held back (0 between values). */
  get pending(): number {
    return this.buf.length;
  }

  reset(): void {
    this.buf = '';
    this.pos = 0;
    this.start = -1;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
  }
}
