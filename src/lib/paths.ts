// Where the project's own built programs are, whether this module runs from dist/ (installed)
// or from src/ through tsx (tests): both sit one level below the project root.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A built program, e.g. distProgram('cli/seine.js'). */
export const distProgram = (rel: string): string => path.join(projectRoot, 'dist', rel);
