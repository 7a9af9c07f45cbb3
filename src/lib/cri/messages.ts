// The CRI v1 messages the lab uses, as protobuf tables. Field numbers follow
// k8s.io/cri-api pkg/apis/runtime/v1/api.proto (containerd 1.6 serves runtime.v1); only the
// fields we set or read are listed — the decoder skips the rest.
import type { MessageType } from './protobuf.js';

export const CRI_SERVICE = 'runtime.v1.RuntimeService';

const podSandboxMetadata: MessageType = [
  { name: 'name', no: 1, type: 'string' },
  { name: 'uid', no: 2, type: 'string' },
  { name: 'namespace', no: 3, type: 'string' },
  { name: 'attempt', no: 4, type: 'uint32' },
];

const linuxPodSandboxConfig: MessageType = [
  { name: 'cgroupParent', no: 1, type: 'string' },
];

const podSandboxConfig: MessageType = [
  { name: 'metadata', no: 1, type: 'message', message: podSandboxMetadata },
  { name: 'hostname', no: 2, type: 'string' },
  { name: 'logDirectory', no: 3, type: 'string' },
  { name: 'labels', no: 6, type: 'map' },
  { name: 'annotations', no: 7, type: 'map' },
  { name: 'linux', no: 8, type: 'message', message: linuxPodSandboxConfig },
];

const podIP: MessageType = [{ name: 'ip', no: 1, type: 'string' }];

const podSandboxNetworkStatus: MessageType = [
  { name: 'ip', no: 1, type: 'string' },
  { name: 'additionalIps', no: 2, type: 'message', message: podIP, repeated: true },
];

const podSandboxStatus: MessageType = [
  { name: 'id', no: 1, type: 'string' },
  { name: 'metadata', no: 2, type: 'message', message: podSandboxMetadata },
  { name: 'state', no: 3, type: 'enum' },
  { name: 'createdAt', no: 4, type: 'int64' },
  { name: 'network', no: 5, type: 'message', message: podSandboxNetworkStatus },
  { name: 'labels', no: 7, type: 'map' },
  { name: 'annotations', no: 8, type: 'map' },
  { name: 'runtimeHandler', no: 9, type: 'string' },
];

const podSandbox: MessageType = [
  { name: 'id', no: 1, type: 'string' },
  { name: 'metadata', no: 2, type: 'message', message: podSandboxMetadata },
  { name: 'state', no: 3, type: 'enum' },
  { name: 'createdAt', no: 4, type: 'int64' },
  { name: 'labels', no: 5, type: 'map' },
  { name: 'annotations', no: 6, type: 'map' },
  { name: 'runtimeHandler', no: 7, type: 'string' },
];

const podSandboxStateValue: MessageType = [{ name: 'state', no: 1, type: 'enum' }];

const podSandboxFilter: MessageType = [
  { name: 'id', no: 1, type: 'string' },
  { name: 'state', no: 2, type: 'message', message: podSandboxStateValue },
  { name: 'labelSelector', no: 3, type: 'map' },
];

const sandboxId: MessageType = [{ name: 'podSandboxId', no: 1, type: 'string' }];
const empty: MessageType = [];

/** Request and response tables per RuntimeService method. */
export const CRI_METHODS = {
  Version: {
    request: [{ name: 'version', no: 1, type: 'string' }],
    response: [
      { name: 'version', no: 1, type: 'string' },
      { name: 'runtimeName', no: 2, type: 'string' },
      { name: 'runtimeVersion', no: 3, type: 'string' },
      { name: 'runtimeApiVersion', no: 4, type: 'string' },
    ],
  },
  RunPodSandbox: {
    request: [
      { name: 'config', no: 1, type: 'message', message: podSandboxConfig },
      { name: 'runtimeHandler', no: 2, type: 'string' },
    ],
    response: sandboxId,
  },
  StopPodSandbox: { request: sandboxId, response: empty },
  RemovePodSandbox: { request: sandboxId, response: empty },
  PodSandboxStatus: {
    request: [...sandboxId, { name: 'verbose', no: 2, type: 'bool' }],
    response: [
      { name: 'status', no: 1, type: 'message', message: podSandboxStatus },
      { name: 'info', no: 2, type: 'map' },
    ],
  },
  ListPodSandbox: {
    request: [{ name: 'filter', no: 1, type: 'message', message: podSandboxFilter }],
    response: [{ name: 'items', no: 1, type: 'message', message: podSandbox, repeated: true }],
  },
} as const satisfies Record<string, { request: MessageType; response: MessageType }>;

export type CriMethod = keyof typeof CRI_METHODS;

/** PodSandboxState */
export const SANDBOX_READY = 0;
export const SANDBOX_NOTREADY = 1;

export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
}

export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname?: string;
  logDirectory?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux?: { cgroupParent?: string };
}

export interface PodSandboxStatus {
  id: string;
  metadata?: PodSandboxMetadata;
  state: number;
  createdAt: bigint;
  network?: { ip: string; additionalIps: { ip: string }[] };
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runtimeHandler: string;
}

export interface PodSandbox {
  id: string;
  metadata?: PodSandboxMetadata;
  state: number;
  createdAt: bigint;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runtimeHandler: string;
}
