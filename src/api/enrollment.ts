// Enrollment, renewal and revocation on the wire: what `seinectl node add` gets back, what a box
// sends to enroll (join token + its own CSR) and to renew (a CSR over its client certificate).
import { z } from 'zod';
import { NodeNameSchema } from './meta.js';

/** `sha256:<64 hex>` of the CA certificate's DER, as `seinectl node add` prints it. */
export const CaFingerprintSchema = z
  .string()
  .transform((s) => s.toLowerCase())
  .pipe(z.string().regex(/^sha256:[0-9a-f]{64}$/, { error: 'expected sha256:<64 hex digits> (seinectl node add prints it)' }));

/** A PEM certificate request. */
const CsrSchema = z.string().max(16 * 1024).regex(/^-----BEGIN CERTIFICATE REQUEST-----/, { error: 'expected a PEM certificate request' });

/** Durations like `24h`, `30m`, `90s`, `7d` (seinectl flags). */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)(s|m|h|d)$/.exec(text.trim());
  return m ? Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'] : undefined;
}

export const JoinTokenRequestSchema = z.strictObject({
  /** How long the token is valid (default 24 h). */
  ttlSeconds: z.number().int().min(1).max(30 * 86400).optional(),
});
export type JoinTokenRequest = z.infer<typeof JoinTokenRequestSchema>;

export const JoinTokenResponseSchema = z.strictObject({
  node: NodeNameSchema,
  /** Shown once; the controller keeps only a hash. */
  token: z.string(),
  expiresAt: z.string(),
  caFingerprint: z.string(),
  /** A seine-node.yaml for the box's boot partition. */
  nodeFile: z.string(),
});
export type JoinTokenResponse = z.infer<typeof JoinTokenResponseSchema>;

export const EnrollRequestSchema = z.strictObject({
  nodeName: NodeNameSchema,
  token: z.string().min(1).max(200),
  csr: CsrSchema,
});
export type EnrollRequest = z.infer<typeof EnrollRequestSchema>;

export const RenewRequestSchema = z.strictObject({ csr: CsrSchema });
export type RenewRequest = z.infer<typeof RenewRequestSchema>;

/** The answer to enroll and renew. */
export const NodeCertificateResponseSchema = z.strictObject({
  node: NodeNameSchema,
  certificate: z.string(),
  /** The fleet CA (the box already pinned it; renewals carry it for a CA that was reissued). */
  caCertificate: z.string(),
  notAfter: z.string(),
  serial: z.string(),
});
export type NodeCertificateResponse = z.infer<typeof NodeCertificateResponseSchema>;

export const NodeRemovalSchema = z.strictObject({
  node: NodeNameSchema,
  action: z.enum(['deleted', 'disabled']),
  revokedSerials: z.array(z.string()),
  /** Whether its MQTT session was open and has been closed. */
  sessionDropped: z.boolean(),
});
export type NodeRemoval = z.infer<typeof NodeRemovalSchema>;
