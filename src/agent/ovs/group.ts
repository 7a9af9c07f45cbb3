// OpenFlow groups as values (Service load balancing uses `select` groups). Groups carry no
// cookie, so the bridge tells its own from their ids: the agent is br-int's only writer and
// every group on it is one it wrote. A group is compared by the text the agent wrote; after a
// restart (or a lost mirror) the installed text is OVS's canonical print, which differs, so
// each group is rewritten once with `group modify` — harmless: a modify keeps the flows that
// point at it, and established connections never pass through a group (conntrack).
export interface Group {
  id: number;
  /** ovs-ofctl group text after `group_id=N,`, e.g. `type=select,selection_method=hash,…,bucket=…`. */
  spec: string;
}

export interface GroupChanges {
  add: Group[];
  modify: Group[];
  delete: number[];
}

export const emptyGroupChanges = (): GroupChanges => ({ add: [], modify: [], delete: [] });
export const groupChangeCount = (c: GroupChanges) => c.add.length + c.modify.length + c.delete.length;

export const formatGroup = (g: Group): string => `group_id=${g.id},${g.spec}`;

/** `dump-groups` output → id and the rest of the line. */
export function parseDumpGroups(text: string): Group[] {
  const groups: Group[] = [];
  for (const raw of text.split('\n')) {
    const m = /^\s*group_id=(\d+),(.*)$/.exec(raw);
    if (m) groups.push({ id: Number(m[1]), spec: m[2]!.trim() });
  }
  return groups;
}

/** What to add, rewrite and delete so that `installed` (id → spec) becomes `desired`. */
export function planGroupChanges(installed: ReadonlyMap<number, string>, desired: readonly Group[]): GroupChanges {
  const c = emptyGroupChanges();
  const want = new Map(desired.map((g) => [g.id, g]));
  for (const g of want.values()) {
    const have = installed.get(g.id);
    if (have === undefined) c.add.push(g);
    else if (have !== g.spec) c.modify.push(g);
  }
  for (const id of installed.keys()) if (!want.has(id)) c.delete.push(id);
  return c;
}

/** 32-bit FNV-1a of a key, as a group id (1 … 2^31-1; 0 is avoided, ids above 0xffffff00 are reserved). */
export function groupIdOf(key: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(key, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return (h % 0x7ffffffe) + 1;
}

/** Ids for keys, stable for a key, distinct within the set (a collision moves the later key in sorted order on). */
export function allocateGroupIds(keys: Iterable<string>): Map<string, number> {
  const ids = new Map<string, number>();
  const used = new Set<number>();
  for (const key of [...new Set(keys)].sort()) {
    let id = groupIdOf(key);
    while (used.has(id)) id = (id % 0x7ffffffe) + 1;
    used.add(id);
    ids.set(key, id);
  }
  return ids;
}
