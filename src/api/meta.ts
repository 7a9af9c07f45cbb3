// Kubernetes object metadata, names and label selectors, validated the way the API server does
// (k8s.io/apimachinery validation: IsDNS1123Subdomain, IsQualifiedName, IsValidLabelValue).
import { z } from 'zod';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export function isDNS1123Label(text: string): boolean {
  return text.length <= 63 && DNS1123_LABEL.test(text);
}

export function isDNS1123Subdomain(text: string): boolean {
  return text.length >= 1 && text.length <= 253 && text.split('.').every((part) => DNS1123_LABEL.test(part));
}

/** A label or annotation key: `[prefix/]name`, prefix a DNS subdomain, name up to 63 characters. */
export function isQualifiedName(key: string): boolean {
  const parts = key.split('/');
  if (parts.length > 2) return false;
  const name = parts[parts.length - 1]!;
  if (parts.length === 2 && !isDNS1123Subdomain(parts[0]!)) return false;
  return name.length >= 1 && name.length <= 63 && QUALIFIED_NAME_PART.test(name);
}

export function isLabelValue(value: string): boolean {
  return value.length <= 63 && LABEL_VALUE.test(value);
}

const QUALIFIED_NAME_RULE =
  'a label key is an optional DNS subdomain prefix and "/", then up to 63 alphanumerics, "-", "_" or "." starting and ending alphanumeric';
const LABEL_VALUE_RULE = 'a label value is empty or up to 63 alphanumerics, "-", "_" or "." starting and ending alphanumeric';

export const LabelKeySchema = z.string().superRefine((key, ctx) => {
  if (!isQualifiedName(key)) ctx.addIssue({ code: 'custom', message: `invalid label key ${JSON.stringify(key)}: ${QUALIFIED_NAME_RULE}` });
});

export const LabelValueSchema = z.string().superRefine((value, ctx) => {
  if (!isLabelValue(value)) ctx.addIssue({ code: 'custom', message: `invalid label value ${JSON.stringify(value)}: ${LABEL_VALUE_RULE}` });
});

/** `matchLabels` and `metadata.labels`: invalid keys are reported on the key's own path. */
export const LabelMapSchema = z.record(z.string(), z.string()).superRefine((labels, ctx) => {
  for (const [key, value] of Object.entries(labels)) {
    if (!isQualifiedName(key)) {
      ctx.addIssue({ code: 'custom', path: [key], message: `invalid label key ${JSON.stringify(key)}: ${QUALIFIED_NAME_RULE}` });
    } else if (!isLabelValue(value)) {
      ctx.addIssue({ code: 'custom', path: [key], message: `invalid label value ${JSON.stringify(value)}: ${LABEL_VALUE_RULE}` });
    }
  }
});

export const LabelSelectorOperatorSchema = z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']);

export const LabelSelectorRequirementSchema = z
  .strictObject({
    key: LabelKeySchema,
    operator: LabelSelectorOperatorSchema,
    values: z.array(LabelValueSchema).optional(),
  })
  .superRefine((req, ctx) => {
    const hasValues = (req.values?.length ?? 0) > 0;
    if ((req.operator === 'In' || req.operator === 'NotIn') && !hasValues) {
      ctx.addIssue({ code: 'custom', path: ['values'], message: `required: operator ${req.operator} needs at least one value` });
    }
    if ((req.operator === 'Exists' || req.operator === 'DoesNotExist') && hasValues) {
      ctx.addIssue({ code: 'custom', path: ['values'], message: `must be empty when operator is ${req.operator}` });
    }
  });

/** metav1.LabelSelector. An empty selector `{}` selects everything. */
export const LabelSelectorSchema = z.strictObject({
  matchLabels: LabelMapSchema.optional(),
  matchExpressions: z.array(LabelSelectorRequirementSchema).optional(),
});
export type LabelSelector = z.infer<typeof LabelSelectorSchema>;

/** A reference to a named object in a namespace (Service, ServiceAccount). */
export const NamespacedNameSchema = z.strictObject({ name: z.string().min(1), namespace: z.string().min(1) });

/** A DNS-1123 subdomain, the format of most object names. */
export const ObjectNameSchema = z.string().superRefine((name, ctx) => {
  if (!isDNS1123Subdomain(name)) {
    ctx.addIssue({
      code: 'custom',
      message: `invalid name ${JSON.stringify(name)}: expected lowercase alphanumerics, "-" or ".", starting and ending alphanumeric, at most 253 characters`,
    });
  }
});

export const NamespaceNameSchema = z.string().superRefine((name, ctx) => {
  if (!isDNS1123Label(name)) {
    ctx.addIssue({
      code: 'custom',
      message: `invalid namespace ${JSON.stringify(name)}: expected lowercase alphanumerics or "-", starting and ending alphanumeric, at most 63 characters`,
    });
  }
});

/**
 * metav1.ObjectMeta. Loose on purpose: `kubectl get -o yaml` output carries server-set fields
 * (uid, resourceVersion, managedFields, ownerReferences…) and must still load.
 */
export const ObjectMetaSchema = z
  .looseObject({
    name: ObjectNameSchema.optional(),
    generateName: z.string().optional(),
    namespace: NamespaceNameSchema.optional(),
    labels: LabelMapSchema.optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    uid: z.string().optional(),
    resourceVersion: z.string().optional(),
    generation: z.number().int().nonnegative().optional(),
    creationTimestamp: z.union([z.string(), z.null()]).optional(),
  })
  .superRefine((meta, ctx) => {
    if (meta.name === undefined && meta.generateName === undefined) {
      ctx.addIssue({ code: 'custom', path: ['name'], message: 'required' });
    }
  });
export type ObjectMeta = z.infer<typeof ObjectMetaSchema>;

/** The `conditions` list Kubernetes status blocks share. */
export const ConditionSchema = z.looseObject({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  lastTransitionTime: z.string().optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
});
export type Condition = z.infer<typeof ConditionSchema>;

/**
 * A node (box) name: a DNS-1123 subdomain like Kubernetes node names. It also appears in MQTT
 * topics, which this format keeps free of `/`, `+` and `#`.
 */
export const NodeNameSchema = z.string().superRefine((name, ctx) => {
  if (!isDNS1123Subdomain(name)) {
    ctx.addIssue({
      code: 'custom',
      message: `invalid node name ${JSON.stringify(name)}: expected lowercase alphanumerics, "-" or ".", starting and ending alphanumeric`,
    });
  }
});
