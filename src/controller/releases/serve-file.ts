// A file over HTTP with single byte ranges (RFC 9110 §14): `Range: bytes=a-`, `a-b` or `-n`
// → 206 with Content-Range; a range past the end → 416; no range → 200. Downloads resume.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';

export async function serveFile(req: IncomingMessage, res: ServerResponse, file: string, contentType = 'application/gzip'): Promise<void> {
  const size = (await stat(file)).size;
  const range = parseRange(req.headers.range, size);
  const headers = { 'content-type': contentType, 'accept-ranges': 'bytes' };
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'content-range': `bytes */${size}` });
    return void res.end();
  }
  if (range) {
    res.writeHead(206, { ...headers, 'content-range': `bytes ${range.start}-${range.end}/${size}`, 'content-length': range.end - range.start + 1 });
    if (req.method === 'HEAD') return void res.end();
    return pipeline(createReadStream(file, { start: range.start, end: range.end }), res);
  }
  res.writeHead(200, { ...headers, 'content-length': size });
  if (req.method === 'HEAD') return void res.end();
  return pipeline(createReadStream(file), res);
}

/** undefined: the whole file (no header, or one this server ignores, such as several ranges). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = header && /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}
