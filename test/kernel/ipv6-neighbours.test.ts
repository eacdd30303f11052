/**
 * IPv6 neighbours on the real kernel (issue "IPv6", data plane): remote endpoints with an IPv6 address
 * get a static `ip -6 neigh` entry on the VXLAN device beside their ARP entry, from the same reconcile;
 * the VXLAN device's proxy flag answers the containers' neighbour solicitations from them, so IPv6
 * crosses hosts with no neighbour discovery and no multicast on the wire. Two simulated hosts, one
 * container each; the containers' IPv6 addresses are added by hand here (attach does IPv4 until the
 * records carry IPv6).
 */
import t from 'tap';
import { $ } from 'zx';
import { Dataplane, type RemoteEndpoint } from '../../dataplane/dataplane.js';
import { Testbed } from '../../sim/testbed.js';

$.verbose = false;
$.quiet = true;

const VNI = 140;
const tb = await Testbed.create({ hosts: 2, tag: 'v6n' });
const dps = tb.hosts.map(
  (h) =>
    new Dataplane({ prefix: tb.overlayPrefix(h.index), hostNetns: h.netns, vtep: h.vtep, underlayDev: h.underlayDev }),
);
t.teardown(async () => {
  for (const d of dps) d.close();
  await tb.teardown();
});
const overlay = (i: number) => `${tb.overlayPrefix(i)}${VNI}`;
const cts = [
  { host: 1, mac: '02:00:c6:12:8c:01', ip: '198.18.140.11', ip6: '2001:db8:140::11', netns: '' },
  { host: 2, mac: '02:00:c6:12:8c:02', ip: '198.18.140.12', ip6: '2001:db8:140::12', netns: '' },
];
for (const c of cts) {
  const dp = dps[c.host - 1] as Dataplane;
  await dp.ensureNetwork({ vni: VNI, subnet: '198.18.140.0/24', gateway: '198.18.140.1' });
  c.netns = await tb.addContainer(c.host, 1);
  await dp.attach({ vni: VNI, netns: c.netns, mac: c.mac, ip: c.ip });
  await $`ip -n ${c.netns} -6 addr add ${c.ip6}/64 dev eth0 nodad`;
}
const remotesOf = (host: number, withIp6 = true): RemoteEndpoint[] =>
  cts
    .filter((c) => c.host !== host)
    .map((c) => ({ mac: c.mac, ip: c.ip, vtep: tb.host(c.host).vtep, ...(withIp6 ? { ip6: c.ip6 } : {}) }));
const neigh6 = async (i: number) =>
  JSON.parse((await $`ip -n ${overlay(i)} -j -6 neigh show dev vxlan${VNI}`).stdout || '[]') as Array<{
    dst: string;
    lladdr?: string;
    state?: string[];
  }>;
const ping6 = (from: string, to: string) =>
  $`ip netns exec ${from} ping -6 -n -q -c 1 -W 2 ${to}`.nothrow().then((r) => r.exitCode === 0);

t.test('reconcile writes a static IPv6 neighbour per remote endpoint; IPv6 pings across hosts', async (t) => {
  for (const [k, dp] of dps.entries()) {
    const r = await dp.reconcile(VNI, remotesOf(k + 1));
    t.same(r.errors, []);
    t.equal(r.neighReplaced, 2, `host ${k + 1}: the ARP entry and the IPv6 neighbour`);
  }
  const [row] = await neigh6(1);
  t.equal(row?.dst, '2001:db8:140::12');
  t.equal(row?.lladdr, '02:00:c6:12:8c:02');
  t.ok(row?.state?.includes('PERMANENT'), 'permanent');
  t.ok(
    await ping6(cts[0]!.netns, cts[1]!.ip6),
    'h1 → h2 over IPv6 (neighbour solicitations answered by the VXLAN proxy)',
  );
  t.ok(await ping6(cts[1]!.netns, cts[0]!.ip6), 'and back');
  t.equal((await dps[0]!.reconcile(VNI, remotesOf(1))).changes, 0, 'a second reconcile writes nothing');
});

t.test(
  "no neighbour discovery and no multicast leave the host: a container's all-nodes ping stays local",
  async (t) => {
    const h1 = tb.host(1);
    await $`ip netns exec ${h1.netns} iptables -w -I OUTPUT -p udp --dport 4789 -j ACCEPT`;
    t.teardown(() => $`ip netns exec ${h1.netns} iptables -w -D OUTPUT -p udp --dport 4789 -j ACCEPT`.nothrow());
    const sent = async () =>
      Number(
        /^\s*(\d+)\s+\d+\s+ACCEPT\s+(?:udp|17)\b/m.exec(
          (await $`ip netns exec ${h1.netns} iptables -w -L OUTPUT -v -x -n`).stdout,
        )?.[1],
      );
    const before = await sent();
    await $`ip netns exec ${cts[0]!.netns} ping -6 -n -q -c 3 -i 0.2 -W 1 ff02::1%eth0`.nothrow();
    await $`ip netns exec ${cts[0]!.netns} ping -6 -n -q -c 2 -i 0.2 -W 1 2001:db8:140::99`.nothrow();
    t.equal(await sent(), before, 'no VXLAN frame left h1 for all-nodes multicast or an unknown address');
    const fdb = (await $`bridge -n ${overlay(1)} fdb show dev vxlan${VNI}`).stdout;
    t.notMatch(fdb, /^00:00:00:00:00:00/m, 'no flooding entry');
    t.same(
      (await neigh6(1)).map((n) => n.dst),
      ['2001:db8:140::12'],
      'nothing learned on the VXLAN device: only the static entry',
    );
    t.ok(await ping6(cts[0]!.netns, cts[1]!.ip6), 'the known address still answers');
  },
);

t.test('drift of IPv6 neighbours is repaired; a dropped address goes; adopted by a new instance', async (t) => {
  await $`ip -n ${overlay(1)} -6 neigh del 2001:db8:140::12 dev vxlan${VNI}`;
  let r = await dps[0]!.reconcile(VNI, remotesOf(1));
  t.equal(r.changes, 1, 'a deleted entry: one write');
  await $`ip -n ${overlay(1)} -6 neigh replace 2001:db8:140::12 lladdr 02:00:00:00:99:99 dev vxlan${VNI} nud permanent`;
  r = await dps[0]!.reconcile(VNI, remotesOf(1));
  t.equal(r.neighReplaced, 1, 'a wrong lladdr: corrected');
  t.equal((await neigh6(1))[0]?.lladdr, '02:00:c6:12:8c:02');
  r = await dps[0]!.reconcile(VNI, remotesOf(1, false));
  t.equal(r.neighDeleted, 1, 'the remote lost its IPv6 address: its entry goes');
  t.same(await neigh6(1), []);
  await dps[0]!.reconcile(VNI, remotesOf(1));
  const again = new Dataplane({
    prefix: tb.overlayPrefix(1),
    hostNetns: tb.host(1).netns,
    vtep: tb.host(1).vtep,
    underlayDev: tb.host(1).underlayDev,
  });
  t.teardown(() => again.close());
  await again.adopt();
  t.equal((await again.reconcile(VNI, remotesOf(1))).changes, 0, 'a restarted agent adopts the entries as they are');
});

t.test('an IPv6 address not in canonical text is refused before any write', async (t) => {
  const before = await neigh6(1);
  for (const bad of ['2001:DB8:140::12', '2001:db8:140:0::12', 'ff02::1', '198.18.140.12'])
    await t.rejects(dps[0]!.reconcile(VNI, [{ ...remotesOf(1)[0]!, ip6: bad }]), {
      name: 'ValidationError',
      field: 'endpoints[0].ip6',
    });
  t.same(await neigh6(1), before, 'the kernel is unchanged');
});
