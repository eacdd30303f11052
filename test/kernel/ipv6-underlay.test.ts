/**
 * An IPv6 underlay on the real kernel (issue "IPv6", data plane): hosts whose VTEPs are IPv6
 * (2001:db8:100::/64 on the simulated underlay) carry an overlay through VXLAN over IPv6 — the device's
 * local address IPv6, remote entries at IPv6 VTEPs, the overlay MTU underlay − 70 — and a remote behind
 * a VTEP of the other family is left out of the kernel and reported, naming both families.
 */
import t from 'tap';
import { $ } from 'zx';
import { Dataplane, type RemoteEndpoint } from '../../dataplane/dataplane.js';
import { Testbed } from '../../sim/testbed.js';

$.verbose = false;
$.quiet = true;

const VNI = 160;
const tb = await Testbed.create({ hosts: 2, tag: 'v6u' });
t.teardown(async () => {
  for (const d of dps) d.close();
  await tb.teardown();
});
const vtep6 = (i: number) => `2001:db8:100::${10 + i}`;
for (const h of tb.hosts) await $`ip -n ${h.netns} -6 addr add ${vtep6(h.index)}/64 dev ${h.underlayDev} nodad`;
const dps = tb.hosts.map(
  (h) =>
    new Dataplane({
      prefix: tb.overlayPrefix(h.index),
      hostNetns: h.netns,
      vtep: vtep6(h.index),
      underlayDev: h.underlayDev,
    }),
);
const cts = [
  { host: 1, mac: '02:00:c6:12:a0:01', ip: '198.18.160.11', netns: '' },
  { host: 2, mac: '02:00:c6:12:a0:02', ip: '198.18.160.12', netns: '' },
];
for (const c of cts) {
  const dp = dps[c.host - 1] as Dataplane;
  await dp.ensureNetwork({ vni: VNI, subnet: '198.18.160.0/24', gateway: '198.18.160.1' });
  c.netns = await tb.addContainer(c.host, 1);
  await dp.attach({ vni: VNI, netns: c.netns, mac: c.mac, ip: c.ip });
}
const remotesOf = (host: number): RemoteEndpoint[] =>
  cts.filter((c) => c.host !== host).map((c) => ({ mac: c.mac, ip: c.ip, vtep: vtep6(c.host) }));

t.test('VXLAN over IPv6: containers reach each other; the device sends from the IPv6 VTEP', async (t) => {
  for (const [k, dp] of dps.entries()) t.same((await dp.reconcile(VNI, remotesOf(k + 1))).errors, []);
  t.ok(await tb.ping(cts[0]!.netns, cts[1]!.ip, { count: 2, timeoutS: 2 }), 'h1 → h2 across the IPv6 underlay');
  const link = (await $`ip -n ${tb.overlayPrefix(1)}${VNI} -d link show vxlan${VNI}`).stdout;
  t.match(link, new RegExp(`local ${vtep6(1)}`), 'local is the IPv6 VTEP');
  t.match(
    (await $`bridge -n ${tb.overlayPrefix(1)}${VNI} fdb show dev vxlan${VNI}`).stdout,
    new RegExp(`dst ${vtep6(2)}`),
  );
  t.equal(await dps[0]!.maxMtu(), 1430, 'overlay MTU = 1500 − 70');
  t.match((await $`ip -n ${cts[0]!.netns} link show eth0`).stdout, / mtu 1430 /, "the container's MTU");
  t.ok(
    await tb.ping(cts[0]!.netns, cts[1]!.ip, { size: 1402, df: true, timeoutS: 2 }),
    'a DF ping of 1430 − 28 crosses',
  );
  t.notOk(await tb.ping(cts[0]!.netns, cts[1]!.ip, { size: 1403, df: true, timeoutS: 1 }), 'one byte more does not');
});

t.test('a remote behind an IPv4 VTEP is left out and named; the others are programmed', async (t) => {
  const mixed: RemoteEndpoint[] = [
    ...remotesOf(1),
    { mac: '02:00:c6:12:a0:09', ip: '198.18.160.19', vtep: '198.51.100.19' },
  ];
  const r = await dps[0]!.reconcile(VNI, mixed);
  t.equal(r.errors.length, 1);
  t.match(r.errors[0]?.message, /VTEP 198\.51\.100\.19 is IPv4 but vxlan160 sends over IPv6 .*one family/);
  t.notMatch((await $`bridge -n ${tb.overlayPrefix(1)}${VNI} fdb show dev vxlan${VNI}`).stdout, /02:00:c6:12:a0:09/);
  t.ok(await tb.ping(cts[0]!.netns, cts[1]!.ip), 'the IPv6 remote still reachable');
});

t.test('a VTEP not in canonical IPv6 text is refused at construction', async (t) => {
  t.throws(() => new Dataplane({ prefix: 'vxnone', vtep: '2001:DB8:100::11' }), {
    name: 'ValidationError',
    field: 'vtep',
  });
});
