// Reads a YAML or JSON configuration file and validates it with its schema, so every config
// error reads the same: `agent.yaml: tunnelType: expected one of geneve|vxlan|gre, got "ipip"`.
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { UserError } from '../lib/errors.js';
import { readUserFile } from '../lib/files.js';
import { describeProblem, formatIssues } from './issues.js';

export async function loadConfigFile<S extends z.ZodType>(file: string, schema: S): Promise<z.infer<S>> {
  return parseConfig(await readUserFile(file), path.basename(file), schema);
}

export function parseConfig<S extends z.ZodType>(text: string, source: string, schema: S): z.infer<S> {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new UserError(`${source}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  return validateConfig(raw, source, schema);
}

/** Validates an already-parsed document; every problem is named by its field path. */
export function validateConfig<S extends z.ZodType>(raw: unknown, source: string, schema: S): z.infer<S> {
  const parsed = schema.safeParse(raw ?? {}, { reportInput: true });
  if (!parsed.success) {
    const problems = formatIssues(parsed.error.issues).map(describeProblem);
    throw new UserError(`${source}: ${problems.join('; ')}`);
  }
  return parsed.data;
}
