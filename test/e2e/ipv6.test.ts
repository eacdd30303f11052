/**
 * IPv6 end to end, with `vxmesh agent` processes on simulated hosts:
 *   - over an IPv4 underlay: a dual-stack network and an IPv6-only one; both families reach across,
 *     AAAA answered by the network's DNS server on its IPv6 gateway, `fdb --check` clean, a kill -9 of
 *     an agent loses no IPv6 ping, two hosts racing for one explicit IPv6 address: one gets it, egress
 *     over IPv6 (NAT66) to an outside host, none from an internal network;
 *   - over an IPv6-only underlay (VTEPs, gossip, probes all IPv6): a dual-stack network.
 */
import t from 'tap';
import { $ } from 'zx';
import { Cluster } from '../../sim/cluster.js';
import { resolve4, resolve6 } from '../../sim/test-resolver.js';
import { askAddress, startAddressEcho } from '../../sim/address-echo.js';
import { OUTSIDE_HOST, OUTSIDE_HOST6 } from '../../sim/testbed.js';
import { eventually } from '../fixtures/members.js';
import { inProcessCli } from '../fixtures/in-process-cli.js';

$.verbose = false;
$.quiet = true;

interface Endpoint {
  ip?: string;
  ip6?: string;
  mac: string;
}

const fdbClean = async (c: Cluster, i: number) => (await c.vx(i, ['fdb', '--check'], { nothrow: true })).exitCode === 0;

t.test('over an IPv4 underlay: dual-stack and IPv6-only networks', async (t) => {
  const c = await Cluster.create(2, 'v6', { cli: inProcessCli, outside: true, outside6: true });
  t.teardown(() => c.teardown());
  for (const i of [1, 2]) await c.startAgent(i);
  await c.vx(1, ['network', 'create', 'dual', '--subnet', '198.18.40.0/24', '--subnet', '2001:db8:40::/64']);
  await c.vx(1, ['network', 'create', 'only6', '--subnet', '2001:db8:41::/64']);
  t.ok(await eventually(async () => (await c.vxJson<unknown[]>(2, ['network', 'ls'])).length === 2, 10_000));

  const nets = await c.vxJson<Array<Record<string, unknown>>>(2, ['network', 'ls']);
  t.match(
    nets.find((n) => n.name === 'dual'),
    { subnet: '198.18.40.0/24', subnet6: '2001:db8:40::/64', gateway6: '2001:db8:40::1' },
  );
  t.match(
    nets.find((n) => n.name === 'only6'),
    { subnet6: '2001:db8:41::/64', gateway6: '2001:db8:41::1' },
  );
  t.notOk(nets.find((n) => n.name === 'only6')?.subnet, 'no IPv4 subnet');

  const ct = async (host: number, j: number, net: string, extra: string[] = []) => {
    const netns = await c.tb.addContainer(host, j);
    const ep = await c.vxJson<Endpoint>(host, ['attach', net, '--netns', netns, '--name', `w${host}${net}`, ...extra]);
    return { netns, ...ep };
  };
  const d1 = await ct(1, 1, 'dual', ['--ip', '2001:db8:40::11']);
  const d2 = await ct(2, 1, 'dual');
  const s1 = await ct(1, 2, 'only6');
  const s2 = await ct(2, 2, 'only6');

  await t.test('addresses per family', async (t) => {
    t.equal(d1.ip6, '2001:db8:40::11', 'the explicit IPv6 address');
    t.match(d1.ip, /^198\.18\.40\./, 'and an allocated IPv4 one');
    t.match(d2.ip6, /^2001:db8:40:/, 'both allocated');
    t.equal(s1.ip, undefined, 'IPv6-only: no IPv4 address');
    t.match(s1.ip6, /^2001:db8:41:/);
    t.not(s1.mac, s2.mac, 'allocated MACs differ');
    const addr = (await c.tb.exec(s1.netns, ['ip', '-6', 'addr', 'show', 'dev', 'eth0'])).stdout;
    t.notMatch(addr, new RegExp(`${s1.ip6}/64 scope global tentative`), 'the address is not tentative (nodad)');
  });

  await t.test('both families reach across hosts', async (t) => {
    t.ok(await eventually(async () => c.tb.ping(d1.netns, d2.ip6 as string), 15_000), `dual IPv6 h1 -> h2 (${d2.ip6})`);
    t.ok(await c.tb.ping(d2.netns, d1.ip6 as string), 'dual IPv6 h2 -> h1');
    t.ok(await c.tb.ping(d1.netns, d2.ip as string), 'dual IPv4 h1 -> h2');
    t.ok(await eventually(async () => c.tb.ping(s1.netns, s2.ip6 as string), 15_000), 'only6 h1 -> h2');
    t.ok(await c.tb.ping(s2.netns, '2001:db8:41::1'), 'the IPv6 gateway answers');
    t.notOk(await c.tb.ping(s1.netns, d2.ip6 as string), 'no path from one network to another');
  });

  await t.test('AAAA from the network DNS server, on its IPv6 gateway', async (t) => {
    t.ok(
      await eventually(async () => (await resolve6(c.tb, s1.netns, '2001:db8:41::1', 'w2only6')) === s2.ip6, 10_000),
      'AAAA of a remote IPv6-only endpoint',
    );
    t.equal(await resolve6(c.tb, d1.netns, '198.18.40.1', 'w2dual.dual.vxmesh'), d2.ip6, 'AAAA over the IPv4 server');
    t.equal(await resolve4(c.tb, d1.netns, '2001:db8:40::1', 'w2dual'), d2.ip, 'A over the IPv6 server');
    t.equal(await resolve4(c.tb, s1.netns, '2001:db8:41::1', 'w2only6'), 'ERR ENODATA', 'no A record: NODATA');
    t.equal(await resolve6(c.tb, s1.netns, '2001:db8:41::1', 'nobody'), 'ERR ENOTFOUND', 'NXDOMAIN');
  });

  await t.test('fdb --check is clean and shows the IPv6 neighbours', async (t) => {
    t.ok(await eventually(async () => (await fdbClean(c, 1)) && fdbClean(c, 2), 10_000), 'clean on both hosts');
    const fdb = (await c.vx(1, ['fdb', 'only6'])).stdout;
    t.match(fdb, s2.ip6 as string, "h2's IPv6-only endpoint has its neighbour row");
  });

  await t.test('two hosts race for one explicit IPv6 address: one gets it, the other is refused', async (t) => {
    const [a, b] = await Promise.all([c.tb.addContainer(1, 3), c.tb.addContainer(2, 3)]);
    const results = await Promise.all(
      [
        [1, a],
        [2, b],
      ].map(([i, netns]) =>
        c.vx(i as number, ['attach', 'only6', '--netns', netns as string, '--ip', '2001:db8:41::77'], {
          nothrow: true,
        }),
      ),
    );
    t.equal(results.filter((r) => r.exitCode === 0).length, 1, 'exactly one attach succeeded');
    t.match(results.find((r) => r.exitCode !== 0)?.stderr, /ip6?: 2001:db8:41::77 /, 'the other names the address');
  });

  await t.test('egress over IPv6 (NAT66 through the host), none from an internal network', async (t) => {
    await startAddressEcho(c.tb, c.tb.outsideNs as string, 7000);
    t.ok(await eventually(async () => c.tb.ping(d1.netns, OUTSIDE_HOST6), 10_000), 'the outside IPv6 host answers');
    t.equal(await askAddress(c.tb, d1.netns, OUTSIDE_HOST6, 7000), '2001:db8:100::11', 'seen as host 1 (NAT)');
    // Asked until it answers (one try of a client process can miss on a loaded machine: seen once in 6 runs).
    let fromHost2: string | undefined;
    await eventually(
      async () => (fromHost2 = await askAddress(c.tb, s2.netns, OUTSIDE_HOST6, 7000)) !== undefined,
      20_000,
    );
    if (fromHost2 === undefined) {
      // Missed twice in 9 full runs under load, never alone: what the next failure needs to be explained.
      const show = async (netns: string, cmd: string[]) =>
        `${netns}$ ${cmd.join(' ')}\n${(await c.tb.exec(netns, cmd, { nothrow: true })).stdout}`;
      const h2 = c.tb.host(2).netns;
      t.comment(await show(s2.netns, ['ip', '-6', 'route']));
      t.comment(await show(h2, ['ip', '-6', 'route']));
      t.comment(await show(h2, ['ip6tables-save', '-t', 'nat']));
      t.comment(await show(h2, ['sysctl', 'net.ipv6.conf.all.forwarding', 'net.ipv6.conf.eth0.accept_ra']));
      // The overlay namespace between them (its IPv6 default route via gw0, forwarding).
      const vni = (await c.vxJson<{ vni: number }>(2, ['network', 'inspect', 'only6'])).vni;
      const overlay = `${c.overlayPrefix(2)}${vni}`;
      t.comment(await show(overlay, ['ip', '-6', 'route']));
      t.comment(await show(overlay, ['ip', '-6', 'neigh']));
      t.comment(await show(overlay, ['sysctl', 'net.ipv6.conf.all.forwarding']));
      t.comment(await show(h2, ['ip', '-6', 'neigh']));
      // Seen in the last miss: no neighbour entry in the overlay for the container's address nor for
      // the gateway link's far end (nothing was routed out), so: where do the container's packets stop?
      t.comment(await show(s2.netns, ['ip', '-6', 'neigh']));
      t.comment(await show(s2.netns, ['ip', '-6', 'addr']));
      t.comment(await show(s2.netns, ['ping', '-6', '-n', '-c', '2', '-W', '1', '2001:db8:41::1']));
      t.comment(await show(s2.netns, ['ping', '-6', '-n', '-c', '2', '-W', '1', OUTSIDE_HOST6]));
      t.comment(await show(overlay, ['ip', '-6', 'neigh']));
      t.comment(await show(overlay, ['ip6tables-save', '-c']));
      t.comment(await show(overlay, ['nft', 'list', 'ruleset']));
      t.comment(await show(overlay, ['sysctl', 'net.bridge.bridge-nf-call-ip6tables']));
      t.comment(await show(overlay, ['ip', '-6', '-s', 'link', 'show', 'gw0']));
      t.comment(await show(h2, ['ip6tables-save', '-c', '-t', 'filter']));
    }
    t.equal(fromHost2, '2001:db8:100::12', 'IPv6-only, from host 2');
    t.equal(await askAddress(c.tb, d1.netns, OUTSIDE_HOST, 7000), c.tb.host(1).vtep, 'IPv4 egress as before');
    const web = await c.tb.addContainer(2, 5);
    await c.vx(2, ['attach', 'dual', '--netns', web, '--publish', '8086:80']);
    await startAddressEcho(c.tb, web, 80);
    const out = c.tb.outsideNs as string;
    t.equal(
      await askAddress(c.tb, out, '2001:db8:100::12', 8086),
      OUTSIDE_HOST6,
      'published over IPv6 (DNAT, the client seen)',
    );
    t.equal(await askAddress(c.tb, out, c.tb.host(2).vtep, 8086), OUTSIDE_HOST, 'and over IPv4');
    t.equal(await askAddress(c.tb, out, '2001:db8:100::11', 8086), undefined, 'not on the other host');
    const inspected = await c.vxJson<{ egress: { transfer?: { overlay6?: string } } }>(1, [
      'network',
      'inspect',
      'dual',
    ]);
    t.match(inspected.egress.transfer?.overlay6, /^fd7a:6d73:6802::a9fe:/, 'inspect shows the IPv6 transfer address');
    const ra = await c.tb.exec(c.tb.host(1).netns, ['cat', '/proc/sys/net/ipv6/conf/eth0/accept_ra']);
    t.equal(ra.stdout.trim(), '2', 'router advertisements still accepted while the host forwards IPv6');
    await c.vx(1, [
      'network',
      'create',
      'in6',
      '--internal',
      '--subnet',
      '198.18.43.0/24',
      '--subnet',
      '2001:db8:43::/64',
    ]);
    const inside = await c.tb.addContainer(1, 4);
    await c.vx(1, ['attach', 'in6', '--netns', inside]);
    t.notOk(await c.tb.ping(inside, OUTSIDE_HOST6), 'internal: no way out over IPv6');
    t.notOk(await c.tb.ping(inside, OUTSIDE_HOST), 'nor over IPv4');
  });

  await t.test('kill -9 of an agent loses no IPv6 ping', async (t) => {
    const pings = c.tb.exec(s1.netns, ['ping', '-n', '-q', '-i', '0.1', '-c', '60', '-W', '1', s2.ip6 as string], {
      nothrow: true,
    });
    await new Promise((r) => setTimeout(r, 300));
    await c.stopAgent(2, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 3000));
    await c.startAgent(2);
    const r = await pings;
    const loss = /(\d+(?:\.\d+)?)% packet loss/.exec(r.stdout)?.[1];
    t.equal(loss, '0', `no ping lost (${r.stdout.trim().split('\n').pop()})`);
    t.ok(await eventually(async () => fdbClean(c, 2), 10_000), 'the restarted agent is clean');
  });
});

t.test('over an IPv6-only underlay: a dual-stack network', async (t) => {
  const c = await Cluster.create(2, 'u6', { cli: inProcessCli, ipv6Underlay: true });
  t.teardown(() => c.teardown());
  t.equal(c.tb.host(1).vtep, '2001:db8:100::11');
  for (const i of [1, 2]) await c.startAgent(i);
  t.ok(
    await eventually(
      async () => (await c.vxJson<Array<{ state: string }>>(1, ['peers'])).some((p) => p.state === 'alive'),
      15_000,
    ),
    'the agents found each other over IPv6 (gossip, probes)',
  );
  await c.vx(2, ['network', 'create', 'dual', '--subnet', '198.18.42.0/24', '--subnet', '2001:db8:42::/64']);
  t.ok(await eventually(async () => (await c.vxJson<unknown[]>(1, ['network', 'ls'])).length === 1, 10_000));
  const eps = [];
  for (const i of [1, 2]) {
    const netns = await c.tb.addContainer(i, 1);
    eps.push({ netns, ...(await c.vxJson<Endpoint>(i, ['attach', 'dual', '--netns', netns, '--name', `u${i}`])) });
  }
  const [a, b] = eps as [Endpoint & { netns: string }, Endpoint & { netns: string }];
  t.ok(await eventually(async () => c.tb.ping(a.netns, b.ip6 as string), 15_000), 'IPv6 across an IPv6 underlay');
  t.ok(await c.tb.ping(b.netns, a.ip as string), 'IPv4 across an IPv6 underlay');
  const link = (await c.tb.exec(a.netns, ['ip', 'link', 'show', 'eth0'])).stdout;
  t.equal(/ mtu (\d+)/.exec(link)?.[1], '1430', 'overlay MTU = underlay 1500 - 70 (VXLAN over IPv6)');
  t.ok(await c.tb.ping(a.netns, b.ip6 as string, { size: 1430 - 48, df: true }), 'a full-size IPv6 packet passes');
  t.equal(await resolve6(c.tb, a.netns, '2001:db8:42::1', 'u2'), b.ip6, 'AAAA');
  t.ok(await eventually(async () => (await fdbClean(c, 1)) && fdbClean(c, 2), 10_000), 'fdb --check clean');
  const fdb = (await c.vx(1, ['fdb', 'dual'])).stdout;
  t.match(fdb, '2001:db8:100::12', 'the remote VTEP is an IPv6 address');
  const guard = (await c.tb.exec(c.tb.host(1).netns, ['ip6tables-save', '-t', 'filter'])).stdout;
  t.match(
    guard,
    '-A VXMESH-VXLAN -s 2001:db8:100::12/128 -j RETURN',
    'the VXLAN guard is in ip6tables, for IPv6 VTEPs',
  );
  t.match(guard, /-A VXMESH-VXLAN -m u32 --u32 "0x34>>0x8=0x[0-9a-f]+" -j DROP/, 'VNI read at the IPv6 offset');
  const refused = await c.vx(1, ['agent', '--vtep', '2001:db8:100::11', '--join', '198.51.100.12:7946', '--insecure'], {
    nothrow: true,
  });
  t.match(
    refused.stderr,
    /join: 198\.51\.100\.12:7946 is an IPv4 address and this host's VTEP 2001:db8:100::11 is IPv6/,
  );
});
