// Turns zod issues into one-line, user-facing problems: `spec.ingress[0].action: expected one of
// Allow|Drop|Reject|Pass, got "Deny"`. Parse with `{ reportInput: true }` so "got …" can be shown.
import type { z } from 'zod';

type Issue = z.core.$ZodIssue;
type PathSegment = PropertyKey;

export interface FieldProblem {
  /** Dotted/bracket path from the validated root, '' for the root itself. */
  path: string;
  message: string;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `['spec', 'ingress', 0, 'action']` → `spec.ingress[0].action`; odd keys become `["key"]`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && IDENTIFIER.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}

/** `path: message`, or just the message for a problem at the root. */
export function describeProblem(problem: FieldProblem): string {
  return problem.path === '' ? problem.message : `${problem.path}: ${problem.message}`;
}

export function formatIssues(issues: readonly Issue[], basePath: readonly PathSegment[] = []): FieldProblem[] {
  return issues.flatMap((issue) => formatIssue(issue, basePath));
}

function formatIssue(issue: Issue, basePath: readonly PathSegment[]): FieldProblem[] {
  const path = [...basePath, ...issue.path];
  const at = (message: string, extra: PathSegment[] = []): FieldProblem => ({ path: formatPath([...path, ...extra]), message });
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return [at('required')];
      return [at(`expected ${typeName(issue.expected)}, got ${describeType(issue.input)}`)];
    case 'invalid_value': {
      if (issue.input === undefined) return [at('required')];
      const options = issue.values.map((v) => String(v)).join('|');
      const expected = issue.values.length === 1 ? options : `one of ${options}`;
      return [at(`expected ${expected}, got ${show(issue.input)}`)];
    }
    case 'unrecognized_keys':
      return issue.keys.map((key) => at(`unknown field ${JSON.stringify(key)}`, [key]));
    case 'too_small':
      return [at(boundMessage(issue.origin, '>', issue.minimum, issue.inclusive, issue.input))];
    case 'too_big':
      return [at(boundMessage(issue.origin, '<', issue.maximum, issue.inclusive, issue.input))];
    case 'invalid_format': {
      // Schemas may carry their own wording (`.regex(re, { error })`); zod's defaults start with "Invalid".
      const own = !issue.message.startsWith('Invalid');
      const expected = own ? issue.message : issue.format === 'regex' ? 'expected a value matching the required pattern' : `expected a valid ${issue.format}`;
      return [at(`${expected}, got ${show(issue.input)}`)];
    }
    case 'invalid_union':
      return formatUnion(issue, path);
    case 'invalid_key':
    case 'invalid_element':
      return formatIssues(issue.issues, path);
    default:
      return [at(issue.message)];
  }
}

// Union failures: if every branch failed only on its type, list the accepted types; otherwise
// report the branch that got furthest (fewest problems), which is the one the user meant.
function formatUnion(issue: Extract<Issue, { code: 'invalid_union' }>, path: PathSegment[]): FieldProblem[] {
  const branches = issue.errors;
  const typeOnly = branches.every((b) => b.length === 1 && b[0]!.code === 'invalid_type' && b[0]!.path.length === 0);
  if (typeOnly && branches.length > 0) {
    const expected = [...new Set(branches.map((b) => typeName((b[0] as { expected: string }).expected)))].join(' or ');
    return [{ path: formatPath(path), message: `expected ${expected}, got ${describeType(issue.input)}` }];
  }
  const valueOnly = branches.every((b) => b.length === 1 && b[0]!.code === 'invalid_value' && b[0]!.path.length === 0);
  if (valueOnly && branches.length > 0) {
    const values = branches.flatMap((b) => (b[0] as { values: unknown[] }).values.map(String));
    return [{ path: formatPath(path), message: `expected one of ${values.join('|')}, got ${show(issue.input)}` }];
  }
  const best = [...branches].sort((a, b) => a.length - b.length)[0];
  if (!best || best.length === 0) return [{ path: formatPath(path), message: issue.message }];
  return formatIssues(best, path);
}

function boundMessage(origin: string, direction: '>' | '<', bound: number | bigint, inclusive: boolean | undefined, input: unknown): string {
  const n = Number(bound);
  const got = input === undefined ? '' : `, got ${show(input)}`;
  switch (origin) {
    case 'number':
    case 'int':
    case 'bigint':
      return `must be ${direction}${inclusive ? '=' : ''} ${n}${got}`;
    case 'string':
      return direction === '>' ? `must be at least ${n} characters long` : `must be at most ${n} characters long`;
    case 'array':
    case 'set':
      return direction === '>' ? `must have at least ${n} item${n === 1 ? '' : 's'}` : `must have at most ${n} items`;
    default:
      return `must be ${direction}${inclusive ? '=' : ''} ${n}`;
  }
}

function typeName(expected: string): string {
  return expected === 'int' ? 'integer' : expected;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && !Number.isInteger(value)) return `number ${value}`;
  return typeof value;
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = typeof value === 'bigint' ? value.toString() : JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** All problems of a failed parse on one line (`a.b: required; c[0]: expected number, got string`), at most `max`. */
export function describeZodError(error: { issues: readonly Issue[] }, max = 3): string {
  const lines = formatIssues(error.issues).map(describeProblem);
  const more = lines.length - max;
  return more > 0 ? `${lines.slice(0, max).join('; ')}; and ${more} more` : lines.join('; ');
}
