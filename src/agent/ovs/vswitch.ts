// Typed bridge/port configuration on top of the OVSDB client (the Open_vSwitch schema).
// Every ensure* call reads first and writes only what differs, so calling it again with the
// same spec sends no write transaction; creations are guarded by `wait` operations so two
// writers racing to create the same bridge or port cannot both insert (the loser re-reads).
import { OvsdbError, type OvsdbClient } from './ovsdb.js';
import {
  mapValue, namedUuid, optional, ovsMap, ovsSet, sameMap, setAtoms, uuidOf, uuidRef, uuidSet,
  type OvsdbOperation, type OvsdbRow,
} from './ovsdb-types.js';

/** `netdev` for the userspace datapath (the lab), `system` for the kernel module (boxes). */
export type DatapathType = 'netdev' | 'system';
export type InterfaceType = 'internal' | 'system' | 'geneve' | 'vxlan' | 'gre' | 'patch' | 'tap' | '';

export interface BridgeSpec {
  datapathType: DatapathType;
  failMode?: 'secure' | 'standalone';
  protocols?: string[];
  /** Keys set on the bridge; other keys already there are left alone. */
  externalIds?: Record<string, string>;
}

export interface PortSpec {
  type?: InterfaceType;
  /** Interface options, kept exactly (a stale tunnel option would misroute). Untouched when absent. */
  options?: Record<string, string>;
  ofportRequest?: number;
  /** Port external_ids: keys set, others left alone. */
  externalIds?: Record<string, string>;
  /** Interface external_ids (e.g. iface-id, attached-mac): keys set, others left alone. */
  interfaceExternalIds?: Record<string, string>;
}

export interface EnsureResult {
  uuid: string;
  created: boolean;
  /** True when a write transaction was sent (creation or update). */
  changed: boolean;
}

export interface PortInfo {
  name: string;
  uuid: string;
  type: string;
  /** Assigned OpenFlow port; undefined while vswitchd has not assigned one, -1 on error. */
  ofport?: number;
  ofportRequest?: number;
  options: Record<string, string>;
  externalIds: Record<string, string>;
  interfaceExternalIds: Record<string, string>;
  error?: string;
}

const RETRIES = 3;
const eq = (column: string, value: string): [string, '==', string] => [column, '==', value];
const normType = (t: string | undefined) => (t === 'system' ? '' : t ?? '');
const merged = (cur: Record<string, string>, want?: Record<string, string>) => ({ ...cur, ...want });
const includes = (cur: Record<string, string>, want?: Record<string, string>) => !want || Object.entries(want).every(([k, v]) => cur[k] === v);
/** A wait op that fails the transaction when a row with this name already exists. */
const absent = (table: string, name: string): OvsdbOperation => ({ op: 'wait', table, where: [eq('name', name)], columns: ['name'], until: '==', rows: [], timeout: 0 });
const isRace = (e: unknown) => e instanceof OvsdbError && (e.error === 'timed out' || e.error === 'constraint violation');

export class VSwitch {
  constructor(readonly ovsdb: OvsdbClient) {}

  async ensureBridge(name: string, spec: BridgeSpec): Promise<EnsureResult> {
    const failMode = spec.failMode ?? 'secure';
    const protocols = [...(spec.protocols ?? ['OpenFlow15'])].sort();
    for (let attempt = 1; ; attempt++) {
      const row = await this.selectOne('Bridge', name, ['_uuid', 'datapath_type', 'fail_mode', 'protocols', 'external_ids']);
      try {
        if (!row) {
          const [, , , br] = await this.ovsdb.transact([
            absent('Bridge', name),
            // The bridge's own internal port, as ovs-vsctl add-br creates it.
            { op: 'insert', table: 'Interface', row: { name, type: 'internal' }, 'uuid-name': 'iface' },
            { op: 'insert', table: 'Port', row: { name, interfaces: namedUuid('iface') }, 'uuid-name': 'port' },
            {
              op: 'insert', table: 'Bridge', 'uuid-name': 'br',
              row: { name, ports: namedUuid('port'), datapath_type: spec.datapathType, fail_mode: failMode, protocols: ovsSet(protocols), external_ids: ovsMap(spec.externalIds ?? {}) },
            },
            { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'insert', namedUuid('br')]] },
          ]);
          return { uuid: uuidOf(br.uuid)!, created: true, changed: true };
        }
        const uuid = uuidOf(row._uuid)!;
        const update: OvsdbRow = {};
        if (row.datapath_type !== spec.datapathType) update.datapath_type = spec.datapathType;
        if (optional(row.fail_mode) !== failMode) update.fail_mode = failMode;
        if (setAtoms(row.protocols).map(String).sort().join() !== protocols.join()) update.protocols = ovsSet(protocols);
        const ids = mapValue(row.external_ids);
        if (!includes(ids, spec.externalIds)) update.external_ids = ovsMap(merged(ids, spec.externalIds));
        if (!Object.keys(update).length) return { uuid, created: false, changed: false };
        await this.ovsdb.transact([{ op: 'update', table: 'Bridge', where: [['_uuid', '==', uuidRef(uuid)]], row: update }]);
        return { uuid, created: false, changed: true };
      } catch (err) {
        if (!isRace(err) || attempt >= RETRIES) throw err;
      }
    }
  }

  /** Removes the bridge (its ports go with it). False when there was none. */
  async deleteBridge(name: string): Promise<boolean> {
    const row = await this.selectOne('Bridge', name, ['_uuid']);
    if (!row) return false;
    await this.ovsdb.transact([{ op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'delete', uuidRef(uuidOf(row._uuid)!)]] }]);
    return true;
  }

  async getBridgeDatapathType(name: string): Promise<string | undefined> {
    const row = await this.selectOne('Bridge', name, ['datapath_type']);
    return row ? String(row.datapath_type) : undefined;
  }

  async ensurePort(bridge: string, name: string, spec: PortSpec = {}): Promise<EnsureResult> {
    for (let attempt = 1; ; attempt++) {
      const [br, port, iface] = await this.ovsdb.transact([
        { op: 'select', table: 'Bridge', where: [eq('name', bridge)], columns: ['_uuid', 'ports'] },
        { op: 'select', table: 'Port', where: [eq('name', name)], columns: ['_uuid', 'external_ids'] },
        { op: 'select', table: 'Interface', where: [eq('name', name)], columns: ['_uuid', 'type', 'options', 'ofport_request', 'external_ids'] },
      ]);
      const brRow = br.rows?.[0];
      if (!brRow) throw new Error(`cannot add port ${name}: bridge ${bridge} does not exist`);
      const portRow = port.rows?.[0];
      const ifaceRow = iface.rows?.[0];
      try {
        if (!portRow) return await this.createPort(bridge, name, spec);
        const portUuid = uuidOf(portRow._uuid)!;
        if (!uuidSet(brRow.ports).includes(portUuid)) throw new Error(`port ${name} exists on another bridge than ${bridge}`);
        if (!ifaceRow) throw new Error(`port ${name} has no interface named ${name}`);
        const ops: OvsdbOperation[] = [];
        const ifUpdate: OvsdbRow = {};
        if (spec.type !== undefined && normType(String(ifaceRow.type)) !== normType(spec.type)) ifUpdate.type = normType(spec.type);
        if (spec.options && !sameMap(mapValue(ifaceRow.options), spec.options)) ifUpdate.options = ovsMap(spec.options);
        if (spec.ofportRequest !== undefined && optional(ifaceRow.ofport_request) !== spec.ofportRequest) ifUpdate.ofport_request = spec.ofportRequest;
        const ifIds = mapValue(ifaceRow.external_ids);
        if (!includes(ifIds, spec.interfaceExternalIds)) ifUpdate.external_ids = ovsMap(merged(ifIds, spec.interfaceExternalIds));
        if (Object.keys(ifUpdate).length) ops.push({ op: 'update', table: 'Interface', where: [['_uuid', '==', ifaceRow._uuid]], row: ifUpdate });
        const portIds = mapValue(portRow.external_ids);
        if (!includes(portIds, spec.externalIds)) {
          ops.push({ op: 'update', table: 'Port', where: [['_uuid', '==', portRow._uuid]], row: { external_ids: ovsMap(merged(portIds, spec.externalIds)) } });
        }
        if (ops.length) await this.ovsdb.transact(ops);
        return { uuid: portUuid, created: false, changed: ops.length > 0 };
      } catch (err) {
        if (!isRace(err) || attempt >= RETRIES) throw err;
      }
    }
  }

  private async createPort(bridge: string, name: string, spec: PortSpec): Promise<EnsureResult> {
    const ifRow: OvsdbRow = { name, type: normType(spec.type), external_ids: ovsMap(spec.interfaceExternalIds ?? {}) };
    if (spec.options) ifRow.options = ovsMap(spec.options);
    if (spec.ofportRequest !== undefined) ifRow.ofport_request = spec.ofportRequest;
    const [, , , port] = await this.ovsdb.transact([
      absent('Port', name),
      absent('Interface', name),
      { op: 'insert', table: 'Interface', row: ifRow, 'uuid-name': 'iface' },
      { op: 'insert', table: 'Port', row: { name, interfaces: namedUuid('iface'), external_ids: ovsMap(spec.externalIds ?? {}) }, 'uuid-name': 'port' },
      { op: 'mutate', table: 'Bridge', where: [eq('name', bridge)], mutations: [['ports', 'insert', namedUuid('port')]] },
    ]);
    return { uuid: uuidOf(port.uuid)!, created: true, changed: true };
  }

  /** Detaches the port from the bridge (OVSDB garbage-collects Port and Interface). False when absent. */
  async deletePort(bridge: string, name: string): Promise<boolean> {
    const row = await this.selectOne('Port', name, ['_uuid']);
    if (!row) return false;
    const [res] = await this.ovsdb.transact([{ op: 'mutate', table: 'Bridge', where: [eq('name', bridge)], mutations: [['ports', 'delete', row._uuid]] }]);
    if (!res.count) throw new Error(`cannot delete port ${name}: bridge ${bridge} does not exist`);
    return true;
  }

  /**
   * The OpenFlow port vswitchd assigned to the interface. Waits server-side (an OVSDB `wait`
   * until ofport is no longer empty); -1 means vswitchd could not add it: its error is reported.
   */
  async waitOfport(name: string, timeoutMs = 5000): Promise<number> {
    const cols = ['ofport', 'error'];
    let row = await this.selectOne('Interface', name, cols);
    if (!row) throw new Error(`interface ${name} does not exist`);
    if (optional(row.ofport) === undefined) {
      try {
        const [, sel] = await this.ovsdb.transact(
          [
            { op: 'wait', table: 'Interface', where: [eq('name', name)], columns: ['ofport'], until: '!=', rows: [{ ofport: ovsSet([]) }], timeout: timeoutMs },
            { op: 'select', table: 'Interface', where: [eq('name', name)], columns: cols },
          ],
          { timeoutMs: timeoutMs + 5000 },
        );
        row = sel.rows?.[0];
      } catch (err) {
        if (err instanceof OvsdbError && err.error === 'timed out') throw new Error(`interface ${name} got no ofport within ${timeoutMs} ms`);
        throw err;
      }
      if (!row) throw new Error(`interface ${name} was deleted while waiting for its ofport`);
    }
    const ofport = optional<number>(row.ofport);
    if (ofport === undefined || ofport < 0) {
      throw new Error(`interface ${name} has no usable ofport (${ofport ?? 'none'}): ${optional<string>(row.error) ?? 'no error reported'}`);
    }
    return ofport;
  }

  async listPorts(bridge: string): Promise<PortInfo[]> {
    const [br, ports, ifaces] = await this.ovsdb.transact([
      { op: 'select', table: 'Bridge', where: [eq('name', bridge)], columns: ['ports'] },
      { op: 'select', table: 'Port', where: [], columns: ['_uuid', 'name', 'interfaces', 'external_ids'] },
      { op: 'select', table: 'Interface', where: [], columns: ['_uuid', 'name', 'type', 'ofport', 'ofport_request', 'options', 'external_ids', 'error'] },
    ]);
    const brRow = br.rows?.[0];
    if (!brRow) throw new Error(`bridge ${bridge} does not exist`);
    const onBridge = new Set(uuidSet(brRow.ports));
    const ifByUuid = new Map((ifaces.rows ?? []).map((r) => [uuidOf(r._uuid)!, r]));
    return (ports.rows ?? [])
      .filter((p) => onBridge.has(uuidOf(p._uuid)!))
      .map((p) => {
        const i = ifByUuid.get(uuidSet(p.interfaces)[0]) ?? {};
        return {
          name: String(p.name),
          uuid: uuidOf(p._uuid)!,
          type: String(i.type ?? ''),
          ofport: optional<number>(i.ofport),
          ofportRequest: optional<number>(i.ofport_request),
          options: mapValue(i.options),
          externalIds: mapValue(p.external_ids),
          interfaceExternalIds: mapValue(i.external_ids),
          error: optional<string>(i.error),
        };
      })
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  private async selectOne(table: string, name: string, columns: string[]): Promise<OvsdbRow | undefined> {
    const [res] = await this.ovsdb.transact([{ op: 'select', table, where: [eq('name', name)], columns }]);
    return res.rows?.[0];
  }
}
