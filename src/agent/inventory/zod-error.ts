// One line per problem, led by the path of the offending field (`items[2].metadata.name`),
// so a log line or CLI error points straight at what to fix.
import type { z } from 'zod';

export function zodPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (out, part) => (typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${String(part)}` : String(part)),
    '',
  );
}

export function describeZodError(error: z.ZodError, max = 3): string {
  const lines = error.issues.slice(0, max).map((i) => `${zodPath(i.path) || '(root)'}: ${i.message}`);
  const more = error.issues.length - max;
  return more > 0 ? `${lines.join('; ')}; and ${more} more` : lines.join('; ');
}
