// Which nodes must run an object. The default sends every object to every node; the policy
// computation replaces it with Antrea's span (nodes that host an applied-to pod).
import type { StoredRecord } from './store/objects.js';

export type Span = (object: StoredRecord, nodes: readonly string[]) => readonly string[];

export const allNodesSpan: Span = (_object, nodes) => nodes;
