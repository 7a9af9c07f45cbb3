// Reads user manifests (YAML, multi-document YAML, JSON, `kind: List`) and validates every object
// against the kind registry. All-or-nothing: one bad document fails the whole input, and the
// error lists every problem found, one per line, so a user fixes them in one pass.
import { basename } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { UserError } from '../lib/errors.js';
import { readUserFile } from '../lib/files.js';
import { describeProblem, formatIssues, type FieldProblem } from './issues.js';
import { findKind, kindsNamed, type ManifestObject } from './kinds.js';

export interface ManifestProblem extends FieldProblem {
  /** File base name or the caller's source name. */
  source: string;
  /** 1-based position of the YAML document in the input, empty documents included. */
  doc: number;
  /** 1-based position inside a `kind: List` (or a top-level JSON array), when applicable. */
  item?: number;
  kind: string;
  name: string;
  /** Set for YAML syntax errors instead of kind/name/path. */
  line?: number;
  column?: number;
}

/** `policy.yaml doc 2 (ClusterNetworkPolicy web-allow): spec.ingress[0].action: expected …`. */
export function formatManifestProblem(p: ManifestProblem): string {
  const where = `${p.source} doc ${p.doc}${p.item === undefined ? '' : ` item ${p.item}`}`;
  if (p.line !== undefined) return `${where}: YAML syntax error at line ${p.line}, column ${p.column ?? 1}: ${p.message}`;
  return `${where} (${p.kind} ${p.name}): ${describeProblem(p)}`;
}

export class ManifestError extends UserError {
  constructor(readonly problems: readonly ManifestProblem[]) {
    super(problems.map(formatManifestProblem).join('\n'));
    this.name = 'ManifestError';
  }
}

/** Parses and validates every object in `text`; throws ManifestError listing all problems. */
export function parseManifests(text: string, sourceName: string): ManifestObject[] {
  const problems: ManifestProblem[] = [];
  const objects: ManifestObject[] = [];
  const documents = parseAllDocuments(text);
  // parseAllDocuments returns an EmptyStream (no documents) for blank input.
  const list = Array.isArray(documents) ? documents : [];

  list.forEach((document, index) => {
    const doc = index + 1;
    if (document.errors.length > 0) {
      for (const err of document.errors) {
        const pos = err.linePos?.[0];
        problems.push({
          source: sourceName,
          doc,
          kind: '?',
          name: '?',
          path: '',
          message: syntaxMessage(err.message),
          line: pos?.line ?? 1,
          column: pos?.col ?? 1,
        });
      }
      return;
    }
    const value: unknown = document.toJS();
    if (value === null || value === undefined) return; // empty document (only `---` or comments)

    if (Array.isArray(value)) {
      value.forEach((item, i) => validateObject(item, { source: sourceName, doc, item: i + 1 }, objects, problems));
    } else if (isRecord(value) && value.kind === 'List') {
      if (!Array.isArray(value.items)) {
        problems.push({ source: sourceName, doc, kind: 'List', name: '?', path: 'items', message: value.items === undefined ? 'required' : 'expected array' });
        return;
      }
      value.items.forEach((item, i) => validateObject(item, { source: sourceName, doc, item: i + 1 }, objects, problems));
    } else {
      validateObject(value, { source: sourceName, doc }, objects, problems);
    }
  });

  if (problems.length > 0) throw new ManifestError(problems);
  return objects;
}

/** Reads a manifest file; problems name the file by its base name. */
export async function loadManifestFile(path: string): Promise<ManifestObject[]> {
  const text = await readUserFile(path);
  return parseManifests(text, basename(path));
}

interface Where {
  source: string;
  doc: number;
  item?: number;
}

function validateObject(value: unknown, where: Where, objects: ManifestObject[], problems: ManifestProblem[]): void {
  if (!isRecord(value)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
    problems.push({ ...where, kind: '?', name: '?', path: '', message: `expected a Kubernetes object (apiVersion, kind, metadata, spec), got ${got}` });
    return;
  }
  const kind = typeof value.kind === 'string' && value.kind !== '' ? value.kind : '?';
  const name = objectName(value);
  const report = (fieldProblems: FieldProblem[]) => {
    for (const p of fieldProblems) problems.push({ ...where, kind, name, ...p });
  };

  const apiVersion = value.apiVersion;
  const headerProblems: FieldProblem[] = [];
  if (typeof apiVersion !== 'string' || apiVersion === '') headerProblems.push({ path: 'apiVersion', message: apiVersion === undefined ? 'required' : 'expected a non-empty string' });
  if (kind === '?') headerProblems.push({ path: 'kind', message: value.kind === undefined ? 'required' : 'expected a non-empty string' });
  if (headerProblems.length > 0) return report(headerProblems);

  const info = findKind(apiVersion as string, kind);
  if (!info) {
    const known = kindsNamed(kind).flatMap((k) => k.apiVersions);
    const hint = known.length > 0 ? `; ${kind} is served as ${known.join('|')}` : '';
    return report([{ path: '', message: `unknown kind ${JSON.stringify(kind)} (apiVersion ${apiVersion as string})${hint}` }]);
  }

  const result = info.schema.safeParse(value, { reportInput: true });
  if (result.success) objects.push(result.data as ManifestObject);
  else report(formatIssues(result.error.issues));
}

function objectName(value: Record<string, unknown>): string {
  const metadata = value.metadata;
  if (!isRecord(metadata)) return '?';
  if (typeof metadata.name === 'string' && metadata.name !== '') return metadata.name;
  if (typeof metadata.generateName === 'string' && metadata.generateName !== '') return `${metadata.generateName}*`;
  return '?';
}

// yaml's messages carry " at line L, column C:" and a code frame; the line/column are reported separately.
function syntaxMessage(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '').trim();
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
