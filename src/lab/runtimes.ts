// The lab's pod runtimes (pod-runtime.ts): `direct` runs seine-cni itself, `containerd` goes through CRI.
export const RUNTIMES = ['direct', 'containerd'] as const;
export type Runtime = (typeof RUNTIMES)[number];
export const DEFAULT_RUNTIME: Runtime = 'direct';
