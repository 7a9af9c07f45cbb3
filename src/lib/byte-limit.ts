// Pass-through streams that stop at a known size, so a download or an upload of a file whose
// size is known cannot fill the disk: byteLimit fails at once (a download: the connection is
// ours to cut), byteCap drops the excess and says so afterwards (an upload: the client still
// gets an answer instead of a reset connection).
import { Transform } from 'node:stream';

/** Fails once more than `max` bytes went through; `tooMany(seen)` makes the error. */
export function byteLimit(max: number, tooMany: (seen: number) => Error): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > max) return done(tooMany(seen));
      done(null, chunk);
    },
  });
}

/** Passes the first `max` bytes, drops the rest; `seen()` is how many came in all. */
export function byteCap(max: number): Transform & { seen: () => number } {
  let seen = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      const room = Math.max(0, max - seen);
      seen += chunk.length;
      done(null, room >= chunk.length ? chunk : room > 0 ? chunk.subarray(0, room) : undefined);
    },
  });
  return Object.assign(t, { seen: () => seen });
}
