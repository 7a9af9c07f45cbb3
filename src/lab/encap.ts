// How a box reaches other boxes' pods; recorded per box now, used when tunnels arrive.
// (Antrea's tunnelType values plus its noEncap mode.) Kept apart from spec.ts so the CLI can
// offer the choices without loading zod.
export const ENCAPS = ['geneve', 'vxlan', 'gre', 'noEncap'] as const;
export type Encap = (typeof ENCAPS)[number];
export const DEFAULT_ENCAP: Encap = 'geneve';
