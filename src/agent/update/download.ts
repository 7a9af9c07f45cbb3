// Bundle download with resume: a partial file `<name>.part` is continued with an HTTP Range
// request; a server that ignores the range (200) restarts it. Bounded by a timeout per request
// and by the expected size: a server that sends (or announces) more is cut off and the download
// refused (sizeMismatch), the partial file deleted.
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { byteLimit } from '../../lib/byte-limit.js';
import { ReleaseRefused } from '../../release/verify.js';

export interface DownloadOptions {
  url: string;
  /** Reach the server through a unix socket (the URL then only names the path). */
  socketPath?: string | undefined;
  token?: string | undefined;
  /** PEM of the CA of the controller's certificate (https://); default: the system's. */
  ca?: Buffer | undefined;
  /** The node's client certificate, for the node-scoped download endpoint (no token then). */
  clientTls?: { cert: Buffer; key: Buffer } | undefined;
  dest: string;
  /** Expected size: a complete `.part` is not fetched again. */
  size: number;
  timeoutMs?: number;
}

/** Downloads to `dest` (through dest.part); returns the number of bytes fetched by this call. */
export async function downloadResumable(o: DownloadOptions): Promise<{ fetched: number; resumedFrom: number }> {
  await mkdir(path.dirname(o.dest), { recursive: true });
  const part = `${o.dest}.part`;
  let have = (await stat(part).catch(() => undefined))?.size ?? 0;
  if (have > o.size) {
    await rm(part, { force: true });
    have = 0;
  }
  let fetched = 0;
  const resumedFrom = have;
  if (have < o.size) {
    const res = await get(o, have > 0 ? { range: `bytes=${have}-` } : {});
    if (res.statusCode === 206) {
      const start = Number(/^bytes (\d+)-/.exec(String(res.headers['content-range']))?.[1]);
      if (start !== have) throw new Error(`download ${o.url}: asked for bytes from ${have}, got a range from ${start}`);
    } else if (res.statusCode === 200) {
      have = 0; // the whole file again
    } else {
      res.resume();
      throw new Error(`download ${o.url}: HTTP ${res.statusCode}`);
    }
    const room = o.size - have;
    const tooMuch = (n: number) => new ReleaseRefused('sizeMismatch', `download ${o.url}: the server sent more than the ${o.size} bytes the manifest says (${have + n} so far): cut off`);
    const announced = Number(res.headers['content-length'] ?? NaN);
    if (announced > room) {
      res.destroy();
      await rm(part, { force: true });
      throw tooMuch(announced);
    }
    const out = createWriteStream(part, { flags: have > 0 ? 'a' : 'w' });
    res.on('data', (d: Buffer) => (fetched += d.length));
    try {
      await pipeline(res, byteLimit(room, tooMuch), out);
    } catch (err) {
      if (err instanceof ReleaseRefused) await rm(part, { force: true }); // never resumed: the server is not to be trusted with it
      throw err;
    }
  }
  await rename(part, o.dest);
  return { fetched, resumedFrom };
}

function get(o: DownloadOptions, headers: Record<string, string>): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const url = new URL(o.url);
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, {
      method: 'GET',
      headers: { ...headers, ...(o.token ? { authorization: `Bearer ${o.token}` } : {}) },
      timeout: o.timeoutMs ?? 60_000,
      ...(o.socketPath ? { socketPath: o.socketPath } : {}),
      ...(o.ca && url.protocol === 'https:' ? { ca: o.ca } : {}),
      ...(o.clientTls && url.protocol === 'https:' ? { cert: o.clientTls.cert, key: o.clientTls.key } : {}),
    }, resolve);
    req.on('timeout', () => req.destroy(new Error(`download ${o.url}: no data within ${o.timeoutMs ?? 60_000} ms`)));
    req.on('error', reject);
    req.end();
  });
}
