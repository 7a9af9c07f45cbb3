// The IPFIX exporter against independent decoders on 127.0.0.1: records as the store holds
// them go out over UDP (templates first), TCP and TLS (to a node TLS server with certificates
// from `seine certs`; tshark decrypts the capture with the server's key log); tshark (Wireshark's cflow dissector) decodes
// every element — IANA and reverse ones by name, Antrea's (PEN 56506, "Project Antrea") by
// number — with the stored values; nfdump's nfcapd collects the UDP export and nfdump prints
// the addresses, ports, protocol and both directions' counters.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { appendFileSync, readFileSync } from 'node:fs';
import { freeUdpPort } from '../../src/lib/free-port.js';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FlowRecordSchema, FLOW_RECORD_IPFIX_ELEMENTS, ANTREA_ENTERPRISE_ID, type FlowRecord } from '../../src/api/flow-record.js';
import { FlowStore } from '../../src/agent/flows/store.js';
import { FLOW_TEMPLATES, ieType, readIpfixTls } from '../../src/api/flow-ipfix.js';
import { ipfixSink } from '../../src/agent/flows/ipfix-sink.js';
import { FlowExporterConfigSchema } from '../../src/api/config.js';
import { ensureCa, issueCertificate } from '../../src/lib/certs.js';
import { run } from '../../src/lib/exec.js';
import { sleep } from '../../src/lib/process.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { capture, decodeWithTshark, stop } from '../helpers/tshark.js';

/** Every field set to something non-default, so every element must show up. */
const full = (i: number): FlowRecord => FlowRecordSchema.parse({
  flowStartSeconds: 1_800_000_000 + i, flowEndSeconds: 1_800_000_030 + i, flowEndReason: 3,
  sourceIPv4Address: `10.42.0.${10 + i}`, destinationIPv4Address: '10.42.1.7', sourceTransportPort: 40000 + i, destinationTransportPort: 8080, protocolIdentifier: 6,
  packetTotalCount: 1000 + i, octetTotalCount: 5_000_000_000 + i, packetDeltaCount: 10 + i, octetDeltaCount: 2000 + i,
  reversePacketTotalCount: 700 + i, reverseOctetTotalCount: 90_000 + i, reversePacketDeltaCount: 7 + i, reverseOctetDeltaCount: 900 + i,
  sourcePodNamespace: 'shop', sourcePodName: `client-${i}`, sourceNodeName: 'box1', destinationPodNamespace: 'shop', destinationPodName: 'web-0', destinationNodeName: 'box2',
  destinationClusterIPv4: '10.43.0.15', destinationServicePort: 80, destinationServicePortName: 'shop/web:http',
  ingressNetworkPolicyName: 'allow-web', ingressNetworkPolicyNamespace: 'shop', ingressNetworkPolicyType: 2, ingressNetworkPolicyRuleName: 'web-in', ingressNetworkPolicyRuleAction: 1,
  egressNetworkPolicyName: 'clients-out', egressNetworkPolicyNamespace: 'ops', egressNetworkPolicyType: 3, egressNetworkPolicyRuleName: 'out-' + 'x'.repeat(300), egressNetworkPolicyRuleAction: 3,
  tcpState: 'TIME_WAIT', flowType: 2,
});

/**
 * tshark decrypts the captured TLS session with the server's key log; its cflow dissector cannot
 * sit on TLS, so the client's decrypted messages go into a new capture (text2pcap, one TCP
 * segment each, port 4739) that the next tshark run decodes as IPFIX.
 */
async function decryptedWithTshark(file: string, keylog: string, port: number, dir: string): Promise<string> {
  const { stdout } = await run('tshark', ['-r', file, '-o', `tls.keylog_file:${keylog}`, '-d', `tcp.port==${port},tls`, '-q', '-z', 'follow,tls,raw,0']);
  const messages = stdout.split('\n').filter((l) => /^\t[0-9a-f]+$/.test(l)).map((l) => Buffer.from(l.slice(1), 'hex'));
  assert.ok(messages.length >= 2, `tshark decrypted nothing:\n${stdout.slice(0, 2000)}`);
  const dump = messages.map((m) => {
    const lines: string[] = [];
    for (let o = 0; o < m.length; o += 16) lines.push(`${o.toString(16).padStart(6, '0')} ${[...m.subarray(o, o + 16)].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`);
    return lines.join('\n');
  }).join('\n');
  const text = path.join(dir, 'tls-plain.txt');
  const out = path.join(dir, 'tls-plain.pcap');
  await writeFile(text, `${dump}\n`);
  await run('text2pcap', ['-q', '-T', '40000,4739', text, out]);
  return out;
}

/** An Antrea element's hex bytes as the record's value. */
function antreaValue(field: keyof FlowRecord, hex: string): string | number {
  const b = Buffer.from(hex, 'hex');
  switch (ieType(field)) {
    case 'string': return b.toString('utf8');
    case 'ipv4Address': return [...b].join('.');
    default: return b.length ? Number(b.readUIntBE(0, b.length)) : 0;
  }
}

const tsharkTime = (s: number) => new Date(s * 1000).toUTCString().replace(/^\w+, (\d+) (\w+) (\d+) ([\d:]+) GMT$/, (_m, d, mon, y, t) => `${mon} ${Number(d)}, ${y} ${t}.000000000`);

function assertDecoded(flow: Map<string, string>, r: FlowRecord): void {
  const where = `record ${r.sourcePodName}`;
  assert.equal(flow.get('SrcAddr'), r.sourceIPv4Address, where);
  assert.equal(flow.get('DstAddr'), r.destinationIPv4Address, where);
  assert.equal(flow.get('SrcPort'), String(r.sourceTransportPort), where);
  assert.equal(flow.get('DstPort'), String(r.destinationTransportPort), where);
  assert.equal(flow.get('Protocol'), 'TCP (6)', where);
  assert.equal(flow.get('Flow End Reason'), 'End of Flow detected (3)', where);
  assert.equal(flow.get('StartTime'), tsharkTime(r.flowStartSeconds), where);
  assert.equal(flow.get('EndTime'), tsharkTime(r.flowEndSeconds), where);
  assert.equal(flow.get('Permanent Packets'), String(r.packetTotalCount), where);
  assert.equal(flow.get('Permanent Octets'), String(r.octetTotalCount), where);
  assert.equal(flow.get('Packets'), String(r.packetDeltaCount), where);
  assert.equal(flow.get('Octets'), String(r.octetDeltaCount), where);
  assert.equal(flow.get('reverse:86'), String(r.reversePacketTotalCount), where);
  assert.equal(flow.get('reverse:85'), String(r.reverseOctetTotalCount), where);
  assert.equal(flow.get('reverse:2'), String(r.reversePacketDeltaCount), where);
  assert.equal(flow.get('reverse:1'), String(r.reverseOctetDeltaCount), where);
  let antrea = 0;
  for (const [field, [pen, id]] of Object.entries(FLOW_RECORD_IPFIX_ELEMENTS) as [keyof FlowRecord, readonly [number, number]][]) {
    if (pen !== ANTREA_ENTERPRISE_ID || field === 'destinationClusterIPv6') continue;
    const hex = flow.get(`antrea:${id}`);
    assert.ok(hex !== undefined, `${where}: tshark shows no Antrea element ${id} (${field})`);
    if (flow.get(`antrea:${id}:truncated`)) {
      // A long string (here the 3-byte length form): tshark shows its first bytes and its length.
      assert.ok(String(r[field]).startsWith(String(antreaValue(field, hex))), `${where}: ${field} (Antrea ${id}) starts as stored`);
      assert.equal(Number(flow.get(`antrea:${id}:length`)), Buffer.byteLength(String(r[field])), `${where}: ${field} length`);
    } else assert.equal(antreaValue(field, hex), r[field], `${where}: ${field} (Antrea ${id})`);
    antrea++;
  }
  assert.equal(antrea, FLOW_TEMPLATES[0]!.elements.filter((e) => e.enterpriseId === ANTREA_ENTERPRISE_ID).length, 'every Antrea element of the IPv4 template');
}

describe('IPFIX export decoded by tshark and nfcapd', function () {
  this.timeout(90_000);
  let dir = '';
  let records: FlowRecord[] = [];

  before(async () => {
    requirePrereqs('tshark', 'nfcapd', 'openssl');
    dir = await mkdtemp(path.join(tmpdir(), 'seine-ipfix-'));
    // What the store holds: written and read back.
    const store = await FlowStore.open(path.join(dir, 'flows.db'));
    await store.insert([0, 1, 2].map((i) => ({ connKey: `c${i}`, record: full(i) })));
    records = (await store.query()).sort((a, b) => a.sourceTransportPort - b.sourceTransportPort);
    await store.close();
    assert.equal(records.length, 3);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('UDP: tshark decodes the templates and every element of every record as the store holds it', async () => {
    const port = await freeUdpPort();
    const file = path.join(dir, 'udp.pcap');
    const tshark = await capture(`udp port ${port}`, file);
    const { sender, sink } = ipfixSink(`127.0.0.1:${port}:udp`);
    try {
      await sink(records.map((record, i) => ({ connKey: `c${i}`, record })));
      await sleep(500);
    } finally {
      await sender.close();
      await stop(tshark);
    }
    const flows = await decodeWithTshark(file, `udp.port==${port},cflow`);
    assert.equal(flows.length, 3);
    flows.forEach((f, i) => assertDecoded(f, records[i]!));
    assert.equal(sender.sequence, 3);
  });

  it('TCP: templates first on the connection, then the records; tshark decodes the stream the same way', async () => {
    const received: Buffer[] = [];
    const server = createServer((s) => s.on('data', (d) => received.push(d)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const file = path.join(dir, 'tcp.pcap');
    const tshark = await capture(`tcp port ${port}`, file);
    const { sender, sink } = ipfixSink(`127.0.0.1:${port}:tcp`);
    try {
      await sink(records.map((record, i) => ({ connKey: `c${i}`, record })));
      await sleep(500);
    } finally {
      await sender.close();
      await stop(tshark);
      await new Promise<void>((r) => server.close(() => r()));
    }
    const stream = Buffer.concat(received);
    assert.equal(stream.readUInt16BE(0), 10, 'IPFIX version');
    assert.equal(stream.readUInt16BE(16), 2, 'the first set is the template set');
    const flows = await decodeWithTshark(file, `tcp.port==${port},cflow`);
    assert.equal(flows.length, 3);
    flows.forEach((f, i) => assertDecoded(f, records[i]!));
  });

  it('TLS: a mutually authenticated session to a real TLS listener; tshark decrypts it (key log) and decodes every element', async () => {
    const pki = path.join(dir, 'pki');
    const ca = await ensureCa(pki);
    const server = await issueCertificate(pki, { commonName: 'collector', usages: ['serverAuth'], ips: ['127.0.0.1'] });
    const client = await issueCertificate(pki, { commonName: 'box1', usages: ['clientAuth'] });
    const keylog = path.join(dir, 'tls.keys');
    const received: Buffer[] = [];
    const peers: string[] = [];
    const tlsServer = createTlsServer({
      cert: readFileSync(server.certFile), key: readFileSync(server.keyFile), ca: readFileSync(ca.certFile), requestCert: true, rejectUnauthorized: true,
    }, (s) => {
      peers.push(String(s.getPeerCertificate().subject?.CN));
      s.on('data', (d: Buffer) => received.push(d));
    });
    tlsServer.on('keylog', (line) => appendFileSync(keylog, line));
    await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
    const port = (tlsServer.address() as AddressInfo).port;
    const addr = `127.0.0.1:${port}:tls`;
    // The agent's config as it would be written; the files are read as the agent reads them.
    const fe = FlowExporterConfigSchema.parse({ flowCollectorAddr: addr, tls: { caFile: ca.certFile, certFile: client.certFile, keyFile: client.keyFile } });
    const file = path.join(dir, 'tls.pcap');
    const tshark = await capture(`tcp port ${port}`, file);
    const { sender, sink } = ipfixSink(addr, { tls: readIpfixTls(fe.tls!, 'flowExporter.tls') });
    // Without the CA the collector's certificate is not trusted: nothing is sent, the records are counted as dropped.
    const untrusted = ipfixSink(addr);
    try {
      await sink(records.map((record, i) => ({ connKey: `c${i}`, record })));
      await untrusted.sink(records.map((record, i) => ({ connKey: `c${i}`, record })));
      await sleep(500);
    } finally {
      await sender.close();
      await untrusted.sender.close();
      await stop(tshark);
      await new Promise<void>((r) => tlsServer.close(() => r()));
    }
    assert.deepEqual(peers, ['box1'], 'one session, with the box certificate');
    assert.equal(untrusted.sender.droppedRecords, 3);
    assert.match(untrusted.sender.lastError, /certificate/);
    assert.equal(sender.droppedRecords, 0);
    const stream = Buffer.concat(received);
    assert.equal(stream.readUInt16BE(0), 10, 'IPFIX version');
    assert.equal(stream.readUInt16BE(16), 2, 'the first set is the template set');
    assert.ok(!readFileSync(file).includes('allow-web'), 'the capture holds no clear text');
    const flows = await decodeWithTshark(await decryptedWithTshark(file, keylog, port, dir), 'tcp.port==4739,cflow');
    assert.equal(flows.length, 3);
    flows.forEach((f, i) => assertDecoded(f, records[i]!));
    assert.throws(() => FlowExporterConfigSchema.parse({ flowCollectorAddr: `127.0.0.1:${port}:tcp`, tls: { caFile: ca.certFile } }), /tls is for a <host>:<port>:tls/);
    assert.throws(() => readIpfixTls({ caFile: path.join(dir, 'none.crt'), minVersion: 'VersionTLS12' }, 'flowExporter.tls'), /^UserError: flowExporter\.tls\.caFile: cannot read/);
  });

  // What nfdump 1.7.1 (Debian 12) can store, from its source (src/netflow/ipfix.c, v1.7.1:
  // ipfixTranslationMap and LookupElement): of our template's elements only the IANA addresses,
  // ports, protocolIdentifier, flowEndReason and the counters, and of PEN 29305 the four reverse
  // counters (as its "out" counters). Total and delta counts share one slot per direction, so the
  // later element of the template wins: the deltas. Every other enterprise (Antrea's 56506) is
  // skipped, and flowStartSeconds/flowEndSeconds (150/151) have no mapping in 1.7.1.
  it('nfcapd collects the UDP export; nfdump prints every element nfdump 1.7.1 can store', async () => {
    const port = await freeUdpPort();
    const out = path.join(dir, 'nfcapd');
    await run('mkdir', ['-p', out]);
    const nfcapd = spawn('nfcapd', ['-w', out, '-p', String(port), '-b', '127.0.0.1', '-t', '60'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    nfcapd.stdout!.setEncoding('utf8').on('data', (d: string) => (log += d));
    nfcapd.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
    const { sender, sink } = ipfixSink(`127.0.0.1:${port}:udp`);
    try {
      await sleep(1000); // nfcapd binds
      await sink(records.map((record, i) => ({ connKey: `c${i}`, record })));
      await sleep(500);
    } finally {
      await sender.close();
      await stop(nfcapd);
    }
    const files = (await readdir(out)).filter((f) => f.startsWith('nfcapd.'));
    assert.ok(files.length >= 1, `nfcapd wrote no file: ${log}`);
    const { stdout } = await run('nfdump', ['-R', out, '-o', 'json']);
    const flows = (JSON.parse(stdout) as Record<string, unknown>[]).sort((a, b) => Number(a.src_port) - Number(b.src_port));
    assert.equal(flows.length, 3, stdout);
    flows.forEach((f, i) => {
      const r = records[i]!;
      assert.equal(f.src4_addr, r.sourceIPv4Address);
      assert.equal(f.dst4_addr, r.destinationIPv4Address);
      assert.equal(f.src_port, r.sourceTransportPort);
      assert.equal(f.dst_port, r.destinationTransportPort);
      assert.equal(f.proto, r.protocolIdentifier);
      assert.equal(f.in_packets, r.packetDeltaCount);
      assert.equal(f.in_bytes, r.octetDeltaCount);
      assert.equal(f.out_packets, r.reversePacketDeltaCount);
      assert.equal(f.out_bytes, r.reverseOctetDeltaCount);
    });
    assert.match(log, /Sequence Errors: 0, Bad Packets: 0/);
    // flowEndReason: stored, printed by -o raw only ("end reason = 0x03 …").
    const raw = (await run('nfdump', ['-R', out, '-o', 'raw'])).stdout;
    const reasons = [...raw.matchAll(/end reason\s+=\s+0x([0-9a-f]{2})/g)].map((m) => parseInt(m[1]!, 16));
    assert.deepEqual(reasons, records.map((r) => r.flowEndReason), raw);
    // Nothing of the Antrea elements reaches nfdump's records.
    assert.ok(!raw.includes('allow-web') && !stdout.includes('allow-web'));
  });
});
