// WireGuard between boxes (Antrea's trafficEncryptionMode: wireGuard): the key format wg uses,
// the Node annotation a box publishes its public key in, and the bytes the encryption costs.
import { z } from 'zod';

/** Antrea's annotation: each agent puts its public key on its own Node object. */
export const WIREGUARD_KEY_ANNOTATION = 'node.antrea.io/wireguard-public-key';
export const WIREGUARD_DEFAULT_PORT = 51820;
/** Antrea's device name. */
export const WIREGUARD_DEFAULT_DEVICE = 'antrea-wg0';

/** A Curve25519 key as wg prints it: 32 raw bytes in standard base64 (44 characters, one `=`). */
export const WireGuardKeySchema = z.string().regex(/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/, { error: 'expected a WireGuard key: 32 bytes in base64 (44 characters)' });

/**
 * Outer IP + UDP + WireGuard header (16) + auth tag (16): 60 bytes over IPv4, 80 over IPv6.
 * Antrea deducts 80 whenever the cluster may use IPv6; Seine's underlay is the box's one address.
 */
export const wireGuardOverhead = (ipv6Underlay: boolean): number => (ipv6Underlay ? 80 : 60);

/** A box's WireGuard identity as it reports it (NodeReported.wireGuard). */
export const WireGuardIdentitySchema = z.strictObject({
  publicKey: WireGuardKeySchema,
  /** host:port peers send to. */
  port: z.number().int().min(1).max(65535),
});
export type WireGuardIdentity = z.infer<typeof WireGuardIdentitySchema>;
