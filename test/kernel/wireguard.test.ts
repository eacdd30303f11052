/**
 * The host's WireGuard interface (dataplane/wireguard.ts) on two simulated hosts: made by wireguard-go
 * here (this kernel has no WireGuard; the kernel path runs the same `wg set`), keys from the state
 * directory, peers by tunnel address; idempotent, a peer removed by hand comes back, a killed
 * wireguard-go is started again; traffic between the tunnel addresses.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { $ } from 'zx';
import { Testbed } from '../../sim/testbed.js';
import { tunnelAddress, TUNNEL_PREFIX, TUNNEL_PREFIX_LENGTH } from '../../core/tunnel-address.js';
import { loadOrCreateWireguardKey } from '../../discovery/wireguard-identity.js';
import {
  ensureWireguard,
  plan,
  wireguardGoPid,
  wireguardIfname,
  type WireguardSpec,
} from '../../dataplane/wireguard.js';

const tb = await Testbed.create({ hosts: 2, tag: 'wg' });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-wg-'));
const specs: WireguardSpec[] = [];
t.teardown(async () => {
  await tb.teardown();
  for (const s of specs) fs.rmSync(`/var/run/wireguard/${s.ifname}.sock`, { force: true });
  fs.rmSync(dir, { recursive: true, force: true });
});

const hosts = [1, 2].map((i) => {
  const stateDir = path.join(dir, `h${i}`);
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const key = loadOrCreateWireguardKey(stateDir);
  return { i, h: tb.host(i), stateDir, key, tunnel: tunnelAddress(`peer-${i}-${tb.prefix}`) };
});
for (const me of hosts) {
  const other = hosts.find((x) => x !== me)!;
  specs.push({
    ifname: wireguardIfname(`${tb.prefix}h${me.i}`),
    netns: me.h.netnsPath,
    privateKeyFile: me.key.file,
    listenPort: 51820,
    tunnel: me.tunnel,
    tunnelPrefix: `${TUNNEL_PREFIX}::/${TUNNEL_PREFIX_LENGTH}`,
    peers: [{ publicKey: other.key.publicKey, endpoint: `${other.h.vtep}:51820`, tunnel: other.tunnel }],
    stateDir: me.stateDir,
  });
}
const [s1, s2] = specs as [WireguardSpec, WireguardSpec];
const track = (s: WireguardSpec) => {
  const pid = wireguardGoPid(s);
  if (pid !== undefined) tb.track(pid);
  return pid;
};

t.test('interface names fit the kernel limit and differ per namespace prefix', async (t) => {
  t.ok(s1.ifname.length <= 15 && s2.ifname.length <= 15);
  t.not(s1.ifname, s2.ifname);
  t.equal(wireguardIfname(`${tb.prefix}h1`), s1.ifname, 'stable');
});

t.test('made on both hosts; the tunnel addresses reach each other through it', async (t) => {
  const [r1, r2] = [await ensureWireguard(s1), await ensureWireguard(s2)];
  track(s1);
  track(s2);
  t.comment(`made by: ${r1.created}, ${r2.created}`);
  t.ok(r1.created === 'userspace' || r1.created === 'kernel');
  t.ok(await tb.ping(hosts[0]!.h.netns, hosts[1]!.tunnel, { count: 3, timeoutS: 2 }), 'h1 → h2 tunnel address');
  const dump = (await $`nsenter --net=${s1.netns} wg show ${s1.ifname} dump`).stdout;
  const peerLine = dump.split('\n').find((l) => l.startsWith(hosts[1]!.key.publicKey)) ?? '';
  t.same(
    peerLine.split('\t').slice(2, 4),
    [s1.peers[0]!.endpoint, `${hosts[1]!.tunnel}/128`],
    "h1's peer: h2's key at its VTEP, its tunnel address allowed",
  );
});

t.test('idempotent; a peer removed by hand comes back; a killed wireguard-go is started again', async (t) => {
  const pid = wireguardGoPid(s1);
  const again = await ensureWireguard(s1);
  t.same(again, { changes: [] }, 'nothing to change, nothing made');
  t.equal(wireguardGoPid(s1), pid, 'the same process (adopted)');
  await $`nsenter --net=${s1.netns} wg set ${s1.ifname} peer ${hosts[1]!.key.publicKey} remove`;
  const repaired = await ensureWireguard(s1);
  t.same(
    repaired.changes.map((c) => c.slice(2, 4)),
    [['peer', hosts[1]!.key.publicKey]],
    'the peer is set again',
  );
  t.ok(await tb.ping(hosts[0]!.h.netns, hosts[1]!.tunnel, { count: 2, timeoutS: 2 }), 'traffic again');
  if (pid !== undefined) {
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100 && wireguardGoPid(s1) !== undefined; i++) await new Promise((r) => setTimeout(r, 20));
    const back = await ensureWireguard(s1);
    track(s1);
    t.equal(back.created, 'userspace', 'wireguard-go started again');
    t.ok(
      await tb.ping(hosts[0]!.h.netns, hosts[1]!.tunnel, { count: 3, timeoutS: 2 }),
      'traffic again after the restart',
    );
  }
});

t.test('plan: the same wg arguments whatever the implementation (pure)', async (t) => {
  const dump = `PRIV\tPUB\t51820\toff\nPEER\t(none)\t198.51.100.12:51820\t${hosts[1]!.tunnel}/128\t0\t0\t0\toff\n`;
  t.same(
    plan({ ...s1, peers: s1.peers.map((p) => ({ ...p, publicKey: 'PEER' })) }, dump, 'PRIV'),
    [],
    'matches: nothing',
  );
  t.same(plan(s1, dump, 'OTHER'), [
    ['set', s1.ifname, 'private-key', s1.privateKeyFile, 'listen-port', '51820'],
    ['set', s1.ifname, 'peer', 'PEER', 'remove'],
    [
      'set',
      s1.ifname,
      'peer',
      hosts[1]!.key.publicKey,
      'endpoint',
      s1.peers[0]!.endpoint,
      'allowed-ips',
      `${hosts[1]!.tunnel}/128`,
    ],
  ]);
});

t.test('a host without wireguard-go (and no kernel WireGuard): refused naming the package, nothing made', async (t) => {
  // A PATH with every tool but wireguard-go, as on a host where the package is not installed.
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-wg-bin-'));
  t.teardown(() => fs.rmSync(bin, { recursive: true, force: true }));
  for (const tool of ['ip', 'wg', 'nsenter', 'ip6tables'])
    fs.symlinkSync((await $`command -v ${tool}`).stdout.trim(), path.join(bin, tool));
  const saved = process.env.PATH;
  process.env.PATH = bin;
  t.teardown(() => void (process.env.PATH = saved));
  const spec = { ...s1, ifname: wireguardIfname(`${tb.prefix}none`), stateDir: path.join(dir, 'none') };
  await t.rejects(ensureWireguard(spec), {
    name: 'WireguardMissingError',
    message: /wireguard-go is missing: install the Debian package wireguard-go/,
  });
  process.env.PATH = saved;
  t.equal((await $`ip -n ${tb.host(1).netns} link show ${spec.ifname}`.nothrow()).exitCode, 1, 'no interface made');
});
