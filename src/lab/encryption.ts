// Encryption between the lab's boxes (Antrea's trafficEncryptionMode); apart from wireguard.ts
// so the CLI can offer the choices without loading the agent's modules.
export const ENCRYPTIONS = ['none', 'wireguard'] as const;
export type Encryption = (typeof ENCRYPTIONS)[number];
