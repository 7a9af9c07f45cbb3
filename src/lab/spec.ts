// What a lab should contain: boxes, Kubernetes namespaces and pods. Comes from `lab up`'s
// flags or from a lab.yaml validated by the schema below; errors name the field path
// (`pods[1].box: unknown box 'box9'`) so a user can find the line.
import { z } from 'zod';
import { loadConfigFile, validateConfig } from '../api/config-file.js';
import { errorMessage } from '../lib/errors.js';
import { DEFAULT_ENCAP, ENCAPS, type Encap } from './encap.js';
import { MAX_BOXES } from './names.js';
import { ENCRYPTIONS, type Encryption } from './encryption.js';

export { ENCRYPTIONS, type Encryption };
import { DEFAULT_RUNTIME, RUNTIMES, type Runtime } from './runtimes.js';
import { labelKeyError, labelValueError, nameError, parsePort, type ContainerPort, type Labels } from './labels.js';

export { ENCAPS, DEFAULT_ENCAP, type Encap, RUNTIMES, DEFAULT_RUNTIME, type Runtime };

const name = z.string().superRefine((v, ctx) => {
  const e = nameError(v);
  if (e) ctx.addIssue({ code: 'custom', message: e });
});

const labels = z.record(z.string(), z.string()).superRefine((rec, ctx) => {
  for (const [k, v] of Object.entries(rec)) {
    const e = labelKeyError(k) ?? labelValueError(v);
    if (e) ctx.addIssue({ code: 'custom', message: e, path: [k] });
  }
});

const port = z.string().transform((v, ctx): ContainerPort => {
  try {
    return parsePort(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: errorMessage(err) });
    return z.NEVER;
  }
});

const boxSpec = z.strictObject({
  name: name.refine((n) => n !== 'underlay', { message: "'underlay' is reserved for the lab's underlay namespace" }),
});

const namespaceSpec = z.strictObject({
  name,
  labels: labels.default({}),
});

const podSpec = z.strictObject({
  name,
  namespace: name.default('default'),
  box: name.optional(),
  labels: labels.default({}),
  ports: z.array(port).default([]),
});

export const labSpecSchema = z
  .strictObject({
    /** Lab-wide, like Antrea's tunnelType and trafficEncapMode: boxes must agree to talk. */
    encap: z.enum(ENCAPS).default(DEFAULT_ENCAP),
    /** Pod traffic between boxes through WireGuard (Antrea's trafficEncryptionMode), lab-wide too. */
    encryption: z.enum(ENCRYPTIONS).default('none'),
    boxes: z.array(boxSpec).min(1).max(MAX_BOXES),
    namespaces: z.array(namespaceSpec).default([]),
    pods: z.array(podSpec).default([]),
    /** Run each box's agent from a release layout under the launcher (src/launcher), as on a box (releases and rollouts). */
    ota: z.boolean().default(false),
    /** Who creates pod sandboxes: the lab itself (direct) or each box's containerd through CRI. */
    runtime: z.enum(RUNTIMES).default(DEFAULT_RUNTIME),
  })
  .superRefine((spec, ctx) => {
    const dup = <T extends { name: string }>(items: T[], key: (t: T) => string, field: string, what: string) => {
      const seen = new Set<string>();
      items.forEach((it, i) => {
        const k = key(it);
        if (seen.has(k)) ctx.addIssue({ code: 'custom', message: `duplicate ${what} '${k}'`, path: [field, i, 'name'] });
        seen.add(k);
      });
    };
    dup(spec.boxes, (b) => b.name, 'boxes', 'box');
    dup(spec.namespaces, (n) => n.name, 'namespaces', 'namespace');
    dup(spec.pods, (p) => `${p.namespace}/${p.name}`, 'pods', 'pod');
    const boxes = new Set(spec.boxes.map((b) => b.name));
    const namespaces = new Set(['default', ...spec.namespaces.map((n) => n.name)]);
    spec.pods.forEach((p, i) => {
      if (!namespaces.has(p.namespace)) ctx.addIssue({ code: 'custom', message: `unknown namespace '${p.namespace}' (add it under namespaces)`, path: ['pods', i, 'namespace'] });
      if (p.box && !boxes.has(p.box)) ctx.addIssue({ code: 'custom', message: `unknown box '${p.box}'`, path: ['pods', i, 'box'] });
    });
  });

export type LabSpec = z.output<typeof labSpecSchema>;
export type PodSpec = LabSpec['pods'][number];
export type { Labels };

export function parseLabSpec(doc: unknown, source = 'lab.yaml'): LabSpec {
  return validateConfig(doc, source, labSpecSchema);
}

export function loadLabSpec(file: string): Promise<LabSpec> {
  return loadConfigFile(file, labSpecSchema);
}

/** `lab up --nodes N --pods-per-node M`: pods `box<i>-pod<k>` in `default`, labelled app=demo. */
export function specFromFlags(nodes: number, podsPerNode: number, encap: Encap = DEFAULT_ENCAP, ota = false, runtime: Runtime = DEFAULT_RUNTIME, encryption: Encryption = 'none'): LabSpec {
  const boxes = Array.from({ length: nodes }, (_, i) => ({ name: `box${i + 1}` }));
  const pods = boxes.flatMap((b) =>
    Array.from({ length: podsPerNode }, (_, k) => ({ name: `${b.name}-pod${k + 1}`, box: b.name, labels: { app: 'demo' } })),
  );
  return parseLabSpec({ encap, encryption, boxes, pods, ota, runtime }, 'flags');
}
