// The native primitive against the real kernel: a netlink socket opened inside a namespace made
// here acts there (and only there), errors carry the errno's name, and the sysctl and ethtool
// helpers change the namespace's device, not the test's.
import assert from 'node:assert/strict';
import { run } from '../../src/lib/exec.js';
import { NLM_F, decodeHeader, encodeMessage, parseAttrs, readString, type NetlinkError } from '../../src/lib/netlink/message.js';
import { NETLINK_NETFILTER, NETLINK_ROUTE, ethtoolTxOff, openNetlink, writeSysctl } from '../../src/lib/netlink/socket.js';
import { requirePrereqs } from '../helpers/prereqs.js';

const RTM_GETLINK = 18;
const RTM_DELLINK = 17;
const IFLA_IFNAME = 3;
const prefix = `slnl${process.pid}`;

function dumpLinkNames(netns?: string): string[] {
  const sock = openNetlink(NETLINK_ROUTE, { netns });
  try {
    return sock.request(encodeMessage(RTM_GETLINK, NLM_F.REQUEST | NLM_F.DUMP, Buffer.alloc(16))).map((m) => {
      const h = decodeHeader(m);
      assert.equal(h.type, 16 /* RTM_NEWLINK */);
      return readString(parseAttrs(h.body.subarray(16)).get(IFLA_IFNAME)!);
    });
  } finally {
    sock.close();
  }
}

describe('netlink socket (seine_native)', function () {
  this.timeout(30_000);
  const ns = `${prefix}-a`;
  const nsPath = `/var/run/netns/${ns}`;

  before(async () => {
    requirePrereqs('root', 'ip', 'ethtool', 'native');
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['-n', ns, 'link', 'add', 'nla0', 'type', 'veth', 'peer', 'name', 'nlb0']);
    await run('ip', ['-n', ns, 'link', 'add', 'nl-15-chars-abc', 'type', 'veth', 'peer', 'name', 'nlc0']);
  });

  after(async () => {
    await run('ip', ['netns', 'del', ns], { allowFailure: true });
  });

  it('dumps the links of the namespace it was opened in, not the caller\'s', () => {
    assert.deepEqual(dumpLinkNames(nsPath).sort(), ['lo', 'nl-15-chars-abc', 'nla0', 'nlb0', 'nlc0']);
    assert.ok(!dumpLinkNames().includes('nla0'), 'the test\'s own namespace has no nla0');
  });

  it('keeps acting in its namespace across requests, and returns the thread to its own', () => {
    const sock = openNetlink(NETLINK_ROUTE, { netns: nsPath, rcvbuf: 1 << 20 });
    try {
      for (let i = 0; i < 3; i++) assert.equal(sock.request(encodeMessage(RTM_GETLINK, NLM_F.REQUEST | NLM_F.DUMP, Buffer.alloc(16))).length, 5);
      assert.ok(sock.fd > 2);
    } finally {
      sock.close();
    }
    assert.ok(dumpLinkNames().includes('lo'));
    assert.ok(!dumpLinkNames().includes('nlb0'));
  });

  it('turns a kernel error into an Error with the errno name as code', () => {
    const sock = openNetlink(NETLINK_ROUTE, { netns: nsPath });
    const ifinfo = Buffer.alloc(16);
    ifinfo.writeInt32LE(999_999, 4); // ifi_index: no such device
    assert.throws(() => sock.request(encodeMessage(RTM_DELLINK, NLM_F.REQUEST | NLM_F.ACK, ifinfo)), (err: NetlinkError) => {
      assert.equal(err.code, 'ENODEV');
      assert.equal(err.errno, 19);
      assert.match(err.message, /ENODEV/);
      return true;
    });
    sock.close();
    assert.throws(() => sock.request(encodeMessage(RTM_GETLINK, NLM_F.REQUEST | NLM_F.DUMP, Buffer.alloc(16))), /closed socket/);
  });

  it('names a namespace that does not exist', () => {
    assert.throws(() => openNetlink(NETLINK_ROUTE, { netns: `/var/run/netns/${prefix}-missing` }), (err: NetlinkError) => err.code === 'ENOENT' && err.message.includes(`${prefix}-missing`));
  });

  it('opens netfilter sockets too (the conntrack family)', () => {
    const sock = openNetlink(NETLINK_NETFILTER, { netns: nsPath });
    assert.ok(sock.fd > 2);
    sock.close();
  });

  it('writes a sysctl inside the namespace only', async () => {
    const read = async (inNs: boolean) => (await run(...((inNs ? ['ip', ['netns', 'exec', ns, 'cat', '/proc/sys/net/ipv4/conf/nla0/arp_ignore']] : ['cat', ['/proc/sys/net/ipv4/conf/default/arp_ignore']]) as [string, string[]]))).stdout.trim();
    const before = await read(false);
    writeSysctl(nsPath, 'net/ipv4/conf/nla0/arp_ignore', '8');
    assert.equal(await read(true), '8');
    assert.equal(await read(false), before);
    writeSysctl(nsPath, 'net/ipv4/conf/nl-15-chars-abc/forwarding', '1');
    assert.equal((await run('ip', ['netns', 'exec', ns, 'cat', '/proc/sys/net/ipv4/conf/nl-15-chars-abc/forwarding'])).stdout.trim(), '1');
    assert.throws(() => writeSysctl(nsPath, 'net/ipv4/conf/nosuchdev/arp_ignore', '1'), (err: NetlinkError) => err.code === 'ENOENT' && /nosuchdev/.test(err.message));
  });

  it('turns tx checksum offload off on the namespace\'s device (ethtool -K tx off)', async () => {
    const txOn = async () => /^tx-checksumming: on/m.test((await run('ip', ['netns', 'exec', ns, 'ethtool', '-k', 'nla0'])).stdout);
    assert.equal(await txOn(), true);
    ethtoolTxOff(nsPath, 'nla0');
    assert.equal(await txOn(), false);
    assert.throws(() => ethtoolTxOff(nsPath, 'nosuchdev0'), (err: NetlinkError) => err.code === 'ENODEV');
    // A name of the full 15 bytes the kernel allows (the agent's host ends have exactly that).
    ethtoolTxOff(nsPath, 'nl-15-chars-abc');
    assert.match((await run('ip', ['netns', 'exec', ns, 'ethtool', '-k', 'nl-15-chars-abc'])).stdout, /^tx-checksumming: off/m);
    assert.throws(() => ethtoolTxOff(nsPath, 'nl-16-chars-abcd'), /at most 15 bytes/);
  });
});
