// The contract layer in one import: schemas, inferred types, the kind registry (kinds.ts),
// manifest loading, MQTT topics. The registry lives in kinds.ts so that manifest.ts and
// node-state.ts can use it without an import cycle through this file.
// cni.ts and k8s-core.ts (CNI wire format, core/v1 inventory objects) are imported directly;
// k8s-core's ObjectMeta (inventory-shaped, lighter checks) would clash with meta.ts's.
export * from './kinds.js';
export * from './meta.js';
export * from './net.js';
export * from './issues.js';
export * from './k8s-networkpolicy.js';
export * from './antrea-peer.js';
export * from './antrea-policy.js';
export * from './tier.js';
export * from './group.js';
export * from './traceflow.js';
export * from './egress.js';
export * from './node-config.js';
export * from './flow-record.js';
export * from './node-state.js';
export * from './config.js';
export * from './mqtt.js';
export * from './manifest.js';
