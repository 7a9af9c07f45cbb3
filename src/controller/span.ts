// Which nodes must run an object: PolicySpan computes it for policies (Antrea's span, nodes that
// host an applied-to pod); tests may pass their own.
import type { StoredRecord } from './store/objects.js';

export type Span = (object: StoredRecord, nodes: readonly string[]) => readonly string[];
