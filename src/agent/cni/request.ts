// Validation of one forwarded CNI call against src/api/cni.ts, in the order the spec's error
// codes suggest: version (1), environment (4), unsupported fields (2), the rest of the network
// configuration (7), prevResult (6). Every error names the variable or field at fault.
import {
  CniEnvSchema,
  CniErrorCode,
  CniRequestSchema,
  NetConfSchema,
  checkMinVersion,
  cniPluginType,
  compareCniVersions,
  isCniVersion,
  supportedCniVersions,
  unsupportedNetConfFields,
  type CniResult,
  type CniVersion,
  type K8sArgs,
  type NetConf,
} from '../../api/cni.js';
import { CniCallError, type PodRef } from './pod-network.js';
import { describeIssue, prevResultAsCurrent } from './result.js';

export interface CniCall {
  command: 'ADD' | 'DEL' | 'CHECK';
  version: CniVersion;
  pod: PodRef;
  ifname: string;
  netns?: string;
  args: K8sArgs;
  conf: NetConf;
  /** CHECK only. */
  prevResult?: CniResult;
}

/** Throws CniCallError; `versionHint` is what the error should carry as cniVersion. */
export function parseCniCall(request: unknown, versionHint: { version: string }): CniCall {
  const req = CniRequestSchema.safeParse(request);
  if (!req.success) throw new CniCallError(CniErrorCode.DecodingFailure, `malformed request from seine-cni: ${describeIssue('request', req.error.issues[0])}`);
  const { env, config } = req.data;

  const command = env.CNI_COMMAND;
  if (command === undefined || command === '') throw new CniCallError(CniErrorCode.InvalidEnvironment, 'CNI_COMMAND is not set');
  if (command === 'VERSION') throw new CniCallError(CniErrorCode.InvalidEnvironment, 'CNI_COMMAND=VERSION is answered by seine-cni itself, not the agent');
  if (!['ADD', 'DEL', 'CHECK'].includes(command)) throw new CniCallError(CniErrorCode.InvalidEnvironment, `CNI_COMMAND="${command}" is not one of ADD, DEL, CHECK, VERSION`);

  const version = config.cniVersion;
  if (version === undefined) throw new CniCallError(CniErrorCode.InvalidNetworkConfig, 'invalid network configuration: cniVersion is required');
  if (!isCniVersion(version)) {
    throw new CniCallError(CniErrorCode.IncompatibleVersion, `unsupported CNI version "${String(version)}"; supported versions: ${supportedCniVersions.join(', ')}`);
  }
  versionHint.version = version;

  const envResult = CniEnvSchema.safeParse(env);
  if (!envResult.success) {
    const byVar = new Map<string, string>();
    for (const issue of envResult.error.issues) {
      const name = String(issue.path[0] ?? 'CNI_COMMAND');
      if (!byVar.has(name)) byVar.set(name, env[name] === undefined ? `${name} is not set` : `${name}: ${issue.message}`);
    }
    throw new CniCallError(CniErrorCode.InvalidEnvironment, `invalid environment: ${[...byVar.values()].join('; ')}`);
  }
  const e = envResult.data;

  if (config.type !== cniPluginType) {
    throw new CniCallError(CniErrorCode.UnsupportedField, `network configuration does not support type=${JSON.stringify(config.type)} (this plugin is "${cniPluginType}")`);
  }
  for (const field of unsupportedNetConfFields) {
    if (field in config) {
      throw new CniCallError(
        CniErrorCode.UnsupportedField,
        `network configuration does not support ${field}=${JSON.stringify(config[field])}: Seine allocates pod addresses from the box's pod CIDR`,
      );
    }
  }
  const conf = NetConfSchema.safeParse(config);
  if (!conf.success) throw new CniCallError(CniErrorCode.InvalidNetworkConfig, `invalid network configuration: ${describeIssue('', conf.error.issues[0])}`);

  const args = e.CNI_ARGS ?? {};
  const call: CniCall = {
    command: e.CNI_COMMAND,
    version,
    pod: { namespace: args.K8S_POD_NAMESPACE ?? '', name: args.K8S_POD_NAME ?? '', containerId: e.CNI_CONTAINERID },
    ifname: e.CNI_IFNAME,
    netns: e.CNI_NETNS,
    args,
    conf: conf.data,
  };

  if (call.command === 'CHECK') {
    if (compareCniVersions(version, checkMinVersion) < 0) {
      throw new CniCallError(CniErrorCode.IncompatibleVersion, `CHECK is not supported with cniVersion ${version} (needs ${checkMinVersion} or later)`);
    }
    if (!conf.data.prevResult) throw new CniCallError(CniErrorCode.InvalidNetworkConfig, 'invalid network configuration: CHECK needs prevResult (the result of the ADD)');
    try {
      call.prevResult = prevResultAsCurrent(conf.data.prevResult, version);
    } catch (err) {
      throw new CniCallError(CniErrorCode.DecodingFailure, `failed to decode prevResult as a ${version} result: ${(err as Error).message}`);
    }
  }
  return call;
}
