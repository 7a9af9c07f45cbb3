// The exporter names a DNATed connection's Service (destinationClusterIPv4, the Service port)
// only when its original destination is in the Service CIDR, with nothing kept per address.
import assert from 'node:assert/strict';
import type { ConntrackEntry } from '../../../src/agent/flows/conntrack.js';
import { FlowExporter } from '../../../src/agent/flows/exporter.js';

const natted = (clusterIP: string, sport: number): ConntrackEntry => ({
  protocol: 6, orig: { src: '10.42.0.2', dst: clusterIP, sport, dport: 80 }, reply: { src: '10.42.1.7', dst: '10.42.0.2', sport: 8080, dport: sport },
  zone: 65520, mark: 0, labels: 0n, tcpState: 'ESTABLISHED', counters: { packets: 1, octets: 60, reversePackets: 1, reverseOctets: 60 },
});

async function records(serviceCIDR: string, entries: ConntrackEntry[]) {
  const ex = new FlowExporter({
    source: { name: 'fixed', dump: async () => entries }, zone: 65520,
    inventory: { snapshot: () => ({ nodes: new Map(), namespaces: new Map(), pods: new Map() }) },
    rule: () => undefined, serviceCIDR, sinks: [], servicePortName: (ip, port) => `default/svc-${ip}:${port}`,
  });
  return (await ex.pollOnce()).map((b) => b.record);
}

describe('flows: exporter Service match', () => {
  it('names the Service of a destination inside the CIDR, at its edges too, and of none outside', async () => {
    const inside = ['10.43.0.10', '10.43.0.0', '10.43.255.255'];
    const outside = ['10.44.0.1', '10.42.255.255', '192.168.1.1'];
    const all = [...inside, ...outside];
    const recs = await records('10.43.0.0/16', all.map((ip, i) => natted(ip, 40000 + i)));
    for (const r of recs) {
      const clusterIP = all[r.sourceTransportPort - 40000]!;
      const isInside = inside.includes(clusterIP);
      assert.equal(r.destinationClusterIPv4, isInside ? clusterIP : undefined, clusterIP);
      assert.equal(r.destinationServicePort, isInside ? 80 : 0, clusterIP);
      assert.equal(r.destinationServicePortName, isInside ? `default/svc-${clusterIP}:80` : '', clusterIP);
      assert.equal(r.destinationIPv4Address, '10.42.1.7', 'the endpoint is the destination');
    }
    assert.equal(recs.length, 6);
  });

  it('handles a /32 and a /0 Service CIDR', async () => {
    assert.equal((await records('10.43.0.10/32', [natted('10.43.0.10', 40000)]))[0]!.destinationClusterIPv4, '10.43.0.10');
    assert.equal((await records('10.43.0.10/32', [natted('10.43.0.11', 40000)]))[0]!.destinationClusterIPv4, undefined);
    assert.equal((await records('0.0.0.0/0', [natted('203.0.113.9', 40000)]))[0]!.destinationClusterIPv4, '203.0.113.9');
  });
});

describe('flows: exporter address family', () => {
  it('keeps IPv6 connections out of the IPv4 record fields', async () => {
    const v6: ConntrackEntry = {
      protocol: 6, orig: { src: 'fd00::2', dst: 'fd00::7', sport: 40000, dport: 80 }, reply: { src: 'fd00::7', dst: 'fd00::2', sport: 80, dport: 40000 },
      zone: 65520, mark: 0, labels: 0n, tcpState: 'ESTABLISHED', counters: { packets: 1, octets: 80, reversePackets: 1, reverseOctets: 80 },
    };
    const recs = await records('10.43.0.0/16', [v6, natted('10.43.0.10', 40001)]);
    assert.deepEqual(recs.map((r) => r.sourceIPv4Address), ['10.42.0.2'], 'only the IPv4 connection becomes a record');
  });
});
