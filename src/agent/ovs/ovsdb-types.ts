// OVSDB wire types (RFC 7047 §5.1) and small converters between them and plain values.
// Sets and maps travel as ["set", [...]] / ["map", [[k, v], ...]]; a one-element set may
// also travel as the bare atom; row references are ["uuid", "..."] or ["named-uuid", "..."].
export type OvsdbAtom = string | number | boolean | ['uuid', string] | ['named-uuid', string];
export type OvsdbValue = OvsdbAtom | ['set', OvsdbAtom[]] | ['map', [OvsdbAtom, OvsdbAtom][]];
export type OvsdbRow = Record<string, OvsdbValue>;
export type OvsdbCondition = [column: string, fn: '==' | '!=' | '<' | '<=' | '>' | '>=' | 'includes' | 'excludes', value: OvsdbValue];
export type OvsdbMutation = [column: string, mutator: '+=' | '-=' | '*=' | '/=' | '%=' | 'insert' | 'delete', value: OvsdbValue];

export type OvsdbOperation =
  | { op: 'insert'; table: string; row: OvsdbRow; 'uuid-name'?: string }
  | { op: 'select'; table: string; where: OvsdbCondition[]; columns?: string[] }
  | { op: 'update'; table: string; where: OvsdbCondition[]; row: OvsdbRow }
  | { op: 'mutate'; table: string; where: OvsdbCondition[]; mutations: OvsdbMutation[] }
  | { op: 'delete'; table: string; where: OvsdbCondition[] }
  | { op: 'wait'; table: string; where: OvsdbCondition[]; columns: string[]; until: '==' | '!='; rows: OvsdbRow[]; timeout?: number }
  | { op: 'comment'; comment: string }
  | { op: 'assert'; lock: string };

/** One entry of a transact reply; `error` set when that operation failed. */
export interface OvsdbOperationResult {
  uuid?: ['uuid', string];
  rows?: OvsdbRow[];
  count?: number;
  error?: string;
  details?: string;
}

/** Monitor notifications: table → row uuid → {old, new} (RFC 7047 §4.1.6). */
export type TableUpdates = Record<string, Record<string, { old?: OvsdbRow; new?: OvsdbRow }>>;

export const uuidRef = (uuid: string): ['uuid', string] => ['uuid', uuid];
export const namedUuid = (name: string): ['named-uuid', string] => ['named-uuid', name];
export const ovsSet = (atoms: OvsdbAtom[]): ['set', OvsdbAtom[]] => ['set', atoms];
export const ovsMap = (m: Record<string, string>): ['map', [string, string][]] => [
  'map',
  Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
];

/** Atoms of a set column (a bare atom counts as a one-element set). */
export function setAtoms(v: OvsdbValue | undefined): OvsdbAtom[] {
  if (v === undefined) return [];
  if (Array.isArray(v) && v[0] === 'set') return v[1] as OvsdbAtom[];
  return [v as OvsdbAtom];
}

/** The single value of an optional column (min 0, max 1), or undefined when empty. */
export function optional<T extends OvsdbAtom>(v: OvsdbValue | undefined): T | undefined {
  const atoms = setAtoms(v);
  return atoms.length ? (atoms[0] as T) : undefined;
}

export function mapValue(v: OvsdbValue | undefined): Record<string, string> {
  if (!Array.isArray(v) || v[0] !== 'map') return {};
  const out: Record<string, string> = {};
  for (const [k, val] of v[1] as [OvsdbAtom, OvsdbAtom][]) out[String(k)] = String(val);
  return out;
}

/** The uuid string of a reference atom. */
export function uuidOf(v: OvsdbValue | undefined): string | undefined {
  return Array.isArray(v) && v[0] === 'uuid' ? (v[1] as string) : undefined;
}

export function uuidSet(v: OvsdbValue | undefined): string[] {
  return setAtoms(v).map((a) => uuidOf(a as OvsdbValue)).filter((u): u is string => u !== undefined);
}

export function sameMap(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
}
