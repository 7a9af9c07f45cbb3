// The seams of the agent's CNI side. The CNI server validates calls and dispatches them to a
// PodNetwork (the PodConfigurator: IPAM + veth plumbing); the PodConfigurator hands the host
// end of each pod's veth to a PodPortConnector, which the agent implements with its OVSDB
// client and pod flows (src/agent/ovs).
import type { CniErrorCode, CniResult } from '../../api/cni.js';

export interface PodRef {
  namespace: string;
  name: string;
  containerId: string;
}

/** What a connector needs to know about the pod whose port it attaches. */
export interface PodPort extends PodRef {
  /** Pod address without prefix, e.g. "10.42.0.5". */
  ip: string;
  mac: string;
  /** Interface name inside the pod (CNI_IFNAME). */
  ifname: string;
  netns?: string;
}

/**
 * Attaches a pod's host-side veth to the box's integration bridge and installs its flows.
 * Both calls must be idempotent: connect on a port that exists updates it and returns its
 * ofport; disconnect of a port that does not exist succeeds. Antrea's external_ids
 * (container-id, ip-address, attached-mac, pod-name, pod-namespace) let a restarted agent
 * rebuild its pod inventory from OVSDB.
 */
export interface PodPortConnector {
  connect(hostIfname: string, pod: PodPort): Promise<{ ofport: number }>;
  disconnect(hostIfname: string, pod: PodRef): Promise<void>;
}

export interface PodAddRequest {
  pod: PodRef;
  netns: string;
  ifname: string;
  /** From the network config; the configurator's default when absent. */
  mtu?: number;
}

export interface PodDelRequest {
  pod: PodRef;
  /** Absent when the runtime no longer has the namespace. */
  netns?: string;
  ifname: string;
}

export interface PodCheckRequest {
  pod: PodRef;
  netns: string;
  ifname: string;
  /** The ADD result the runtime cached, converted to 1.0.0. */
  prevResult: CniResult;
}

/** A configured pod interface, independent of CNI result versions. */
export interface PodAttachment {
  host: { name: string; mac: string };
  pod: { name: string; mac: string; netns: string; mtu: number };
  /** "a.b.c.d/len" */
  address: string;
  gateway: string;
  routes: { dst: string; gw: string }[];
  ofport: number;
}

export interface PodNetwork {
  add(req: PodAddRequest): Promise<PodAttachment>;
  del(req: PodDelRequest): Promise<void>;
  check(req: PodCheckRequest): Promise<void>;
}

/** A failure with a CNI error code, raised anywhere below the server and returned as is. */
export class CniCallError extends Error {
  constructor(readonly code: CniErrorCode, message: string, readonly details?: string) {
    super(message);
    this.name = 'CniCallError';
  }
}
