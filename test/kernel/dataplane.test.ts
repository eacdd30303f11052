/**
 * The data plane on the real kernel: 3 simulated hosts × 2 containers, one VNI, remote entries given
 * directly to reconcile (no discovery). A second VNI with the same subnet checks isolation.
 */
import fs from 'node:fs';
import t from 'tap';
import { $ } from 'zx';
import { Dataplane, diffRemotes, type RemoteEndpoint } from '../../dataplane/dataplane.js';
import { KernelError, NotFoundError, ValidationError } from '../../core/errors.js';
import { Testbed } from '../../sim/testbed.js';
import { bridgeFdb, ipLinks, ipNeigh, snapshot } from '../fixtures/kernel.js';
import { openNetns } from '../../dataplane/netns.js';
import { Rtnl } from '../../dataplane/netlink/rtnl.js';
import { RtnlSocket } from '../../dataplane/netlink/socket.js';
import { applyPlan } from '../../dataplane/reconcile-apply.js';
import { bridgeMac } from '../../dataplane/names.js';
import { noChanges } from '../../dataplane/types.js';

$.verbose = false;
$.quiet = true;

const VNI = 100;
const VNI2 = 200;
const SUBNET = '198.18.0.0/24';

interface Ct {
  host: number;
  netns: string;
  mac: string;
  ip: string;
  vni: number;
}

const tb = await Testbed.create({ hosts: 3 });
t.teardown(async () => {
  for (const d of dps.values()) d.close();
  await tb.teardown();
});

const dps = new Map<number, Dataplane>();
for (const h of tb.hosts) {
  dps.set(
    h.index,
    new Dataplane({ prefix: tb.overlayPrefix(h.index), hostNetns: h.netns, vtep: h.vtep, underlayDev: h.underlayDev }),
  );
}
const dp = (i: number): Dataplane => dps.get(i) as Dataplane;
const overlayNs = (i: number, vni = VNI): string => `${tb.overlayPrefix(i)}${vni}`;

const cts: Ct[] = [];
for (const h of tb.hosts) {
  await dp(h.index).ensureNetwork({ vni: VNI, subnet: SUBNET, gateway: '198.18.0.1' });
  for (let j = 1; j <= 2; j++) {
    const netns = await tb.addContainer(h.index, j);
    const ct: Ct = {
      host: h.index,
      netns,
      mac: `02:00:c6:12:0${h.index}:0${j}`,
      ip: `198.18.0.${h.index * 10 + j}`,
      vni: VNI,
    };
    await dp(h.index).attach({ vni: VNI, netns, mac: ct.mac, ip: ct.ip });
    cts.push(ct);
  }
}

const vtepOf = (host: number): string => tb.host(host).vtep;
const remotesFor = (host: number, list: Ct[], vni = VNI): RemoteEndpoint[] =>
  list.filter((c) => c.vni === vni && c.host !== host).map((c) => ({ mac: c.mac, ip: c.ip, vtep: vtepOf(c.host) }));

async function reconcileAll(list: Ct[], vni = VNI) {
  return Promise.all(tb.hosts.map((h) => dp(h.index).reconcile(vni, remotesFor(h.index, list, vni))));
}

async function pingMatrix(list: Ct[]): Promise<string[]> {
  const failures: string[] = [];
  await Promise.all(
    list.flatMap((a) =>
      list
        .filter((b) => b !== a)
        .map(async (b) => {
          if (!(await tb.ping(a.netns, b.ip, { count: 1, timeoutS: 2 })))
            failures.push(`${a.ip}(h${a.host}) -> ${b.ip}(h${b.host})`);
        }),
    ),
  );
  return failures;
}

t.test('first reconcile programs every remote endpoint; all pairs ping', async (t) => {
  const results = await reconcileAll(cts);
  for (const r of results) {
    t.same(r.errors, [], 'no errors');
    t.equal(r.fdbReplaced, 4, '4 remote MACs in the fdb');
    t.equal(r.neighReplaced, 4, '4 remote IPs in the neighbour table');
  }
  t.same(await pingMatrix(cts), [], 'every container pings every other container');
});

t.test('the VXLAN device: flags, socket in the host namespace, MTU everywhere', async (t) => {
  const links = await ipLinks(overlayNs(1));
  const vx = links.find((l) => l.ifname === `vxlan${VNI}`);
  t.ok(vx, 'vxlan device is in the overlay namespace');
  const data = vx?.linkinfo?.info_data ?? {};
  t.equal(data.id, VNI);
  t.equal(data.port, 4789);
  t.equal(data.local, vtepOf(1));
  t.equal(data.learning, false, 'learning off');
  t.equal(data.proxy, true, 'proxy ARP on');
  t.equal(vx?.mtu, 1450, 'vxlan MTU = underlay 1500 - 50');
  t.equal(links.find((l) => l.ifname === 'br0')?.mtu, 1450, 'br0 at the overlay MTU');
  // Two containers' veths and the VXLAN device are its ports: its MAC is still its own (a bridge left
  // to choose takes its lowest port MAC, and changes it when a lower one joins).
  t.equal(links.find((l) => l.ifname === 'br0')?.address, bridgeMac(VNI), "br0's MAC is set, not a port's");
  const hostSock = await tb.exec(tb.host(1).netns, ['ss', '-H', '-uln']);
  t.match(hostSock.stdout, /:4789\b/, 'UDP 4789 socket lives in the host namespace');
  const ovSock = await tb.exec(overlayNs(1), ['ss', '-H', '-uln']);
  t.notMatch(ovSock.stdout, /:4789\b/, 'no UDP socket inside the overlay namespace');
  const ctLinks = await ipLinks(cts[0]?.netns as string);
  t.equal(ctLinks.find((l) => l.ifname === 'eth0')?.mtu, 1450, 'container eth0 carries the overlay MTU');
  t.equal(ctLinks.find((l) => l.ifname === 'eth0')?.address, cts[0]?.mac, 'container MAC as requested');
});

t.test('DF ping of MTU-28 bytes passes, one more byte does not', async (t) => {
  const [a, b] = [cts[0] as Ct, cts[5] as Ct];
  t.ok(
    await tb.ping(a.netns, b.ip, { size: 1450 - 28, df: true, timeoutS: 2 }),
    '1422-byte DF ping crosses the overlay',
  );
  t.notOk(
    await tb.ping(a.netns, b.ip, { size: 1450 - 27, df: true, timeoutS: 1 }),
    '1423-byte DF ping is refused locally',
  );
});

t.test('a second reconcile with the same input changes nothing', async (t) => {
  for (const r of await reconcileAll(cts)) t.equal(r.changes, 0, `host vni ${r.vni}: no change`);
});

t.test('no learned (dynamic) entry ever appears on the VXLAN device', async (t) => {
  await pingMatrix(cts);
  for (const h of tb.hosts) {
    const rows = await bridgeFdb(overlayNs(h.index), `vxlan${VNI}`);
    const dynamic = rows.filter((r) => r.state !== 'permanent' && r.state !== 'static');
    t.same(dynamic, [], `host ${h.index}: only permanent entries`);
    const remoteMacs = rows
      .filter((r) => (r.flags ?? []).includes('self') && r.dst)
      .map((r) => r.mac)
      .sort();
    t.same(
      remoteMacs,
      remotesFor(h.index, cts)
        .map((e) => e.mac)
        .sort(),
      `host ${h.index}: exactly the remote MACs`,
    );
  }
});

t.test('an fdb entry deleted by hand is back after the next reconcile', async (t) => {
  const victim = cts[2] as Ct; // on host 2
  await $`bridge -n ${overlayNs(1)} fdb del ${victim.mac} dev vxlan${VNI} self`;
  t.notOk(
    (await bridgeFdb(overlayNs(1), `vxlan${VNI}`)).some((r) => r.mac === victim.mac),
    'entry gone',
  );
  const r = await dp(1).reconcile(VNI, remotesFor(1, cts));
  t.equal(r.changes, 1, 'exactly one write');
  t.equal(r.fdbReplaced, 1);
  const row = (await bridgeFdb(overlayNs(1), `vxlan${VNI}`)).find((x) => x.mac === victim.mac);
  t.equal(row?.dst, vtepOf(2), 'entry restored with the right VTEP');
  t.ok(await tb.ping((cts[0] as Ct).netns, victim.ip), 'traffic flows again');
});

t.test('a changed entry (wrong VTEP, wrong lladdr) is corrected', async (t) => {
  const victim = cts[4] as Ct; // on host 3
  await $`bridge -n ${overlayNs(1)} fdb replace ${victim.mac} dev vxlan${VNI} dst ${vtepOf(2)} self permanent`;
  await $`ip -n ${overlayNs(1)} neigh replace ${victim.ip} lladdr 02:00:00:00:99:99 dev vxlan${VNI} nud permanent`;
  const r = await dp(1).reconcile(VNI, remotesFor(1, cts));
  t.equal(r.fdbReplaced, 1);
  t.equal(r.neighReplaced, 1);
  t.equal(r.changes, 2);
  t.equal((await bridgeFdb(overlayNs(1), `vxlan${VNI}`)).find((x) => x.mac === victim.mac)?.dst, vtepOf(3));
  t.equal((await ipNeigh(overlayNs(1), `vxlan${VNI}`)).find((x) => x.dst === victim.ip)?.lladdr, victim.mac);
});

t.test('dropping an endpoint from the desired set stops traffic and leaves no entry', async (t) => {
  const gone = cts[3] as Ct; // host 2, container 2
  const rest = cts.filter((c) => c !== gone);
  const results = await reconcileAll(rest);
  t.equal(results[0]?.fdbDeleted, 1);
  t.equal(results[0]?.neighDeleted, 1);
  for (const h of tb.hosts.filter((x) => x.index !== gone.host)) {
    t.notOk(
      (await bridgeFdb(overlayNs(h.index), `vxlan${VNI}`)).some((r) => r.mac === gone.mac),
      `host ${h.index}: no fdb entry`,
    );
    t.notOk(
      (await ipNeigh(overlayNs(h.index), `vxlan${VNI}`)).some((r) => r.dst === gone.ip),
      `host ${h.index}: no neighbour entry`,
    );
  }
  t.notOk(await tb.ping((cts[0] as Ct).netns, gone.ip, { timeoutS: 1 }), 'no traffic to the dropped endpoint');
  t.ok(await tb.ping((cts[0] as Ct).netns, (cts[2] as Ct).ip), 'others still reachable');
  await reconcileAll(cts);
  t.ok(await tb.ping((cts[0] as Ct).netns, gone.ip, { timeoutS: 2 }), 'back after it is desired again');
});

t.test(
  'reconcile by difference: only the changed entries are written; the kernel ends as the full reconcile leaves it',
  async (t) => {
    const full = remotesFor(1, cts);
    const gone = cts[3] as Ct;
    const rest = full.filter((e) => e.mac !== gone.mac);
    const r1 = await dp(1).reconcileDelta(VNI, diffRemotes(full, rest));
    t.same(
      [r1.fdbDeleted, r1.neighDeleted, r1.fdbReplaced, r1.neighReplaced, r1.errors],
      [1, 1, 0, 0, []],
      'one entry withdrawn',
    );
    t.equal((await dp(1).reconcile(VNI, rest)).changes, 0, 'the full reconcile finds nothing to do');
    t.notOk(await tb.ping((cts[0] as Ct).netns, gone.ip, { timeoutS: 1 }), 'no traffic to the withdrawn endpoint');
    const r2 = await dp(1).reconcileDelta(VNI, diffRemotes(rest, full));
    t.same([r2.fdbReplaced, r2.neighReplaced, r2.changes], [1, 1, 2], 'one entry written back');
    t.equal((await dp(1).reconcile(VNI, full)).changes, 0, 'the full reconcile finds nothing to do');
    t.ok(await tb.ping((cts[0] as Ct).netns, gone.ip, { timeoutS: 2 }), 'reachable again');
    const addOnly = await dp(1).reconcileDelta(VNI, diffRemotes(full, rest), { allowDelete: false });
    t.equal(addOnly.changes, 0, 'add-only: nothing withdrawn');
    const before = await snapshot([overlayNs(1)]);
    await t.rejects(
      dp(1).reconcileDelta(VNI, diffRemotes(full, [...full, { mac: 'nope', ip: '198.18.0.77', vtep: vtepOf(2) }])),
      { name: 'ValidationError', field: `endpoints[${full.length}].mac` },
      'a bad new entry is refused naming its place in the whole set',
    );
    await t.rejects(
      dp(1).reconcileDelta(
        VNI,
        diffRemotes(full, [...full, { mac: '02:00:00:00:77:01', ip: '198.18.0.77', vtep: tb.host(1).vtep }]),
      ),
      { name: 'ValidationError', field: `endpoints[${full.length}].vtep` },
      "an entry pointing at this host's own VTEP is refused",
    );
    t.same(await snapshot([overlayNs(1)]), before, 'refused: the kernel untouched');
  },
);

t.test('a second VNI with the same subnet works and is isolated from the first', async (t) => {
  const second: Ct[] = [];
  for (const h of tb.hosts) {
    await dp(h.index).ensureNetwork({ vni: VNI2, subnet: SUBNET, gateway: '198.18.0.1' });
    const netns = await tb.addContainer(h.index, 3);
    // Same IPs as the first network's container 1 on each host, different MACs.
    const ct: Ct = {
      host: h.index,
      netns,
      mac: `02:00:c6:13:0${h.index}:03`,
      ip: `198.18.0.${h.index * 10 + 1}`,
      vni: VNI2,
    };
    await dp(h.index).attach({ vni: VNI2, netns, mac: ct.mac, ip: ct.ip });
    second.push(ct);
  }
  const rs = await reconcileAll(second, VNI2);
  for (const r of rs) t.same(r.errors, []);
  t.same(await pingMatrix(second), [], 'the second network pings within itself');
  // 198.18.0.12 exists only in the first network (host 1 container 2): unreachable from the second.
  t.notOk(await tb.ping((second[0] as Ct).netns, '198.18.0.12', { timeoutS: 1 }), 'no path into the first network');
  // The first network still has its own view of 198.18.0.21.
  t.ok(await tb.ping((cts[0] as Ct).netns, '198.18.0.21'), 'first network unaffected');
  const fdb2 = await bridgeFdb(overlayNs(1, VNI2), `vxlan${VNI2}`);
  t.notOk(
    fdb2.some((r) => cts.some((c) => c.mac === r.mac)),
    'no first-network MAC in the second network',
  );
  for (const h of tb.hosts) await dp(h.index).removeNetwork(VNI2);
  t.notOk((await $`ip netns list`).stdout.includes(overlayNs(1, VNI2)), 'overlay namespace removed');
});

t.test('invalid inputs are rejected with a typed error and no kernel change', async (t) => {
  const ct = cts[0] as Ct;
  const spare = await tb.addContainer(1, 9);
  const watched = [overlayNs(1), ct.netns, spare, tb.host(1).netns];
  const before = await snapshot(watched);
  const d = dp(1);
  const cases: Array<[string, () => Promise<unknown>, new (...a: never[]) => Error, string]> = [
    [
      'bad MAC',
      () => d.attach({ vni: VNI, netns: spare, mac: '02:00:zz:00:00:01', ip: '198.18.0.99' }),
      ValidationError,
      'mac',
    ],
    [
      'multicast MAC',
      () => d.attach({ vni: VNI, netns: spare, mac: '01:00:5e:00:00:01', ip: '198.18.0.99' }),
      ValidationError,
      'mac',
    ],
    [
      'IP outside subnet',
      () => d.attach({ vni: VNI, netns: spare, mac: '02:00:00:00:aa:01', ip: '198.19.0.5' }),
      ValidationError,
      'ip',
    ],
    [
      'broadcast IP',
      () => d.attach({ vni: VNI, netns: spare, mac: '02:00:00:00:aa:01', ip: '198.18.0.255' }),
      ValidationError,
      'ip',
    ],
    [
      'wrong prefix',
      () => d.attach({ vni: VNI, netns: spare, mac: '02:00:00:00:aa:01', ip: '198.18.0.9/16' }),
      ValidationError,
      'ip',
    ],
    ['VNI 0', () => d.ensureNetwork({ vni: 0, subnet: SUBNET }), ValidationError, 'vni'],
    ['VNI too large', () => d.ensureNetwork({ vni: 16777216, subnet: SUBNET }), ValidationError, 'vni'],
    ['subnet host bits', () => d.ensureNetwork({ vni: 300, subnet: '198.18.0.1/24' }), ValidationError, 'subnet'],
    ['MTU above underlay', () => d.ensureNetwork({ vni: 300, subnet: SUBNET, mtu: 1500 }), ValidationError, 'mtu'],
    [
      'missing namespace',
      () => d.attach({ vni: VNI, netns: `${tb.prefix}nope`, mac: '02:00:00:00:aa:01', ip: '198.18.0.99' }),
      NotFoundError,
      'netns',
    ],
    [
      'unknown network',
      () => d.attach({ vni: 4242, netns: spare, mac: '02:00:00:00:aa:01', ip: '198.18.0.99' }),
      NotFoundError,
      'vni',
    ],
    [
      'ifname collision',
      () => d.attach({ vni: VNI, netns: ct.netns, mac: '02:00:00:00:aa:01', ip: '198.18.0.99' }),
      ValidationError,
      'ifname',
    ],
    [
      'MAC collision',
      () => d.attach({ vni: VNI, netns: spare, mac: ct.mac, ip: '198.18.0.99' }),
      ValidationError,
      'mac',
    ],
    [
      'bad ifname',
      () => d.attach({ vni: VNI, netns: spare, ifname: 'a/b', mac: '02:00:00:00:aa:01', ip: '198.18.0.99' }),
      ValidationError,
      'ifname',
    ],
    [
      'reconcile: bad MAC',
      () => d.reconcile(VNI, [{ mac: 'nope', ip: '198.18.0.50', vtep: '198.51.100.12' }]),
      ValidationError,
      'endpoints[0].mac',
    ],
    [
      'reconcile: bad IP',
      () => d.reconcile(VNI, [{ mac: '02:00:00:00:aa:02', ip: '198.18.0.300', vtep: '198.51.100.12' }]),
      ValidationError,
      'endpoints[0].ip',
    ],
    [
      'reconcile: own VTEP',
      () => d.reconcile(VNI, [{ mac: '02:00:00:00:aa:02', ip: '198.18.0.50', vtep: tb.host(1).vtep }]),
      ValidationError,
      'endpoints[0].vtep',
    ],
    [
      'reconcile: IP twice',
      () =>
        d.reconcile(VNI, [
          { mac: '02:00:00:00:aa:02', ip: '198.18.0.50', vtep: '198.51.100.12' },
          { mac: '02:00:00:00:aa:03', ip: '198.18.0.50', vtep: '198.51.100.12' },
        ]),
      ValidationError,
      'endpoints[1].ip',
    ],
  ];
  for (const [name, run, type, field] of cases) {
    const err = await run().then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof type, `${name}: ${type.name}`);
    t.equal((err as { field?: string }).field, field, `${name}: names the field ${field} (${String(err)})`);
  }
  t.equal(await snapshot(watched), before, 'kernel state unchanged by every rejected call');
});

t.test('a failure in the middle of a batch is reported; the next reconcile converges', async (t) => {
  // A peer that advertises an IPv6 VTEP on this IPv4 overlay: valid input the device cannot carry (a
  // VXLAN device is single-family): that endpoint is left out and reported, the others are written.
  const extra: RemoteEndpoint[] = [];
  for (let k = 0; k < 20; k++)
    extra.push({
      mac: `02:00:c6:14:00:${k.toString(16).padStart(2, '0')}`,
      ip: `198.18.0.${100 + k}`,
      vtep: k === 10 ? '2001:db8::7' : vtepOf(2),
    });
  const desired = [...remotesFor(1, cts), ...extra];
  const r1 = await dp(1).reconcile(VNI, desired);
  t.equal(r1.errors.length, 1, 'one failed write reported');
  t.equal(r1.errors[0]?.errno, 'EAFNOSUPPORT');
  t.match(r1.errors[0]?.object ?? '', '02:00:c6:14:00:0a', 'the error names the entry');
  t.match(r1.errors[0]?.message ?? '', /is IPv6 but vxlan100 sends over IPv4/, 'naming both families');
  t.equal(r1.fdbReplaced, 19, 'the other 19 fdb entries were written');
  t.equal(r1.neighReplaced, 19, 'and their neighbours (the refused endpoint is left out whole)');
  // The peer fixes its VTEP: the next reconcile does only what is left.
  const fixed = desired.map((e) => (e.vtep === '2001:db8::7' ? { ...e, vtep: vtepOf(3) } : e));
  const r2 = await dp(1).reconcile(VNI, fixed);
  t.same(r2.errors, []);
  t.equal(r2.changes, 2, "only the refused endpoint's two entries are written");
  const r3 = await dp(1).reconcile(VNI, remotesFor(1, cts));
  t.equal(r3.fdbDeleted, 20);
  t.equal(r3.neighDeleted, 20);
  t.equal((await dp(1).reconcile(VNI, remotesFor(1, cts))).changes, 0, 'converged');
});

t.test('kernel errors name the errno and the object', async (t) => {
  // A write the kernel refuses (an fdb entry for a multicast MAC: EOPNOTSUPP), applied as reconcile
  // applies its plans — reconcile's own input checks would refuse it first.
  const fd = openNetns(overlayNs(1));
  const rtnl = new Rtnl(RtnlSocket.open(fd));
  fs.closeSync(fd);
  t.teardown(() => rtnl.sock.close());
  const vx = (await rtnl.linkByName(`vxlan${VNI}`)) as { index: number; name: string };
  const plan = {
    fdbReplace: [{ mac: '01:00:00:00:ab:01', dst: vtepOf(2) }],
    fdbDelete: [],
    masterDelete: [],
    neighReplace: [],
    neighDelete: [],
  };
  const r = await applyPlan(rtnl, vx, overlayNs(1), plan, noChanges(VNI));
  t.equal(r.errors[0]?.errno, 'EOPNOTSUPP', "the kernel's errno");
  t.match(
    r.errors[0]?.message ?? '',
    new RegExp(`fdb 01:00:00:00:ab:01 dst ${vtepOf(2)} on vxlan100 in .*: EOPNOTSUPP`),
  );
  t.equal(r.changes, 0);
  await dp(1).reconcile(VNI, remotesFor(1, cts));
  // A whole-request refusal surfaces as a KernelError carrying errno and object.
  const thrown = await dp(1)
    .removeNetwork(VNI2)
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  t.equal(thrown, undefined, 'removing an absent network is not an error');
  const kerr = new KernelError('EEXIST', 'bridge br0', 'create');
  t.equal(kerr.message, 'create bridge br0: EEXIST');
});

t.test('adopt lists existing overlays without touching them; detach removes the veth', async (t) => {
  const before = await snapshot([overlayNs(1)]);
  const fresh = new Dataplane({
    prefix: tb.overlayPrefix(1),
    hostNetns: tb.host(1).netns,
    vtep: tb.host(1).vtep,
    underlayDev: 'eth0',
  });
  try {
    const found = await fresh.adopt();
    t.same(
      found.map((o) => o.vni),
      [VNI],
    );
    t.equal(found[0]?.subnet, SUBNET, 'subnet recovered from the gateway address on br0');
    t.same(
      found[0]?.localMacs.sort(),
      cts
        .filter((c) => c.host === 1)
        .map((c) => c.mac)
        .sort(),
      'local endpoints found',
    );
    t.equal(await snapshot([overlayNs(1)]), before, 'adopt changed nothing');
    const r = await fresh.reconcile(VNI, remotesFor(1, cts));
    t.equal(r.changes, 0, 'an adopting instance finds nothing to do');
    const again = await fresh.attach({
      vni: VNI,
      netns: (cts[0] as Ct).netns,
      mac: (cts[0] as Ct).mac,
      ip: (cts[0] as Ct).ip,
    });
    t.equal(again.created, false, 'identical attach is a no-op');
  } finally {
    fresh.close();
  }
  const ct = cts[1] as Ct;
  t.equal(await dp(1).detach(VNI, ct.mac), true);
  t.notOk(
    (await ipLinks(ct.netns)).some((l) => l.ifname === 'eth0'),
    'container interface gone',
  );
  t.equal(await dp(1).detach(VNI, ct.mac), false, 'second detach is a no-op');
});

t.test('removeStale removes overlays nobody wants', async (t) => {
  await dp(2).ensureNetwork({ vni: 777, subnet: '198.18.7.0/24' });
  t.same(await dp(2).removeStale([VNI]), [777]);
  t.notOk((await $`ip netns list`).stdout.includes(overlayNs(2, 777)));
  t.ok((await $`ip netns list`).stdout.includes(overlayNs(2, VNI)), 'the wanted one stays');
});

t.test('a namespace file with no namespace on it (stale, e.g. after a crash) is replaced', async (t) => {
  const stale = `/run/netns/${overlayNs(3, 778)}`;
  fs.writeFileSync(stale, '');
  t.teardown(() => dp(3).removeStale([VNI]));
  await dp(3).ensureNetwork({ vni: 778, subnet: '198.18.8.0/24' });
  t.ok(
    (await ipLinks(overlayNs(3, 778))).some((l) => l.ifname === 'br0'),
    'the overlay is built in a real namespace',
  );
});

t.test('vxmesh fdb reads the tables from the kernel without an agent', async (t) => {
  const cli = new URL('../../cli/cli.js', import.meta.url).pathname;
  const r = await $`${process.execPath} ${cli} fdb --netns ${overlayNs(1)} --json`;
  const parsed = JSON.parse(r.stdout) as Array<{
    device: string;
    vni: number;
    learning: boolean;
    proxy: boolean;
    fdb: Array<{ mac: string; vtep: string | null; flags: string[]; state: string }>;
    neighbours: Array<{ ip: string; mac: string; state: string }>;
  }>;
  t.equal(parsed.length, 1);
  const tbl = parsed[0];
  t.equal(tbl?.device, `vxlan${VNI}`);
  t.equal(tbl?.learning, false);
  t.equal(tbl?.proxy, true);
  const expected = remotesFor(1, cts);
  t.same(
    tbl?.fdb
      .filter((e) => e.flags.includes('self'))
      .map((e) => [e.mac, e.vtep, e.state])
      .sort(),
    expected.map((e) => [e.mac, e.vtep, 'permanent']).sort(),
    'fdb rows match the remote endpoints',
  );
  t.same(
    tbl?.neighbours.map((n) => [n.ip, n.mac, n.state]).sort(),
    expected.map((e) => [e.ip, e.mac, 'permanent']).sort(),
    'neighbour rows match',
  );
  const human = await $`${process.execPath} ${cli} fdb --netns-prefix ${tb.overlayPrefix(1)}`;
  for (const e of expected)
    t.match(
      human.stdout,
      new RegExp(`${e.mac}\\s+${e.vtep.replace(/\./g, '\\.')}\\s+self\\s+permanent`),
      `human table row for ${e.mac}`,
    );
  const bad = await $`${process.execPath} ${cli} fdb --netns ${tb.prefix}missing`.nothrow();
  t.equal(bad.exitCode, 1);
  t.match(bad.stderr, /netns: network namespace .* does not exist/);
  const usage = await $`${process.execPath} ${cli} fdb --frobnicate`.nothrow();
  t.equal(usage.exitCode, 2);
  t.match(usage.stderr, /Unknown option '--frobnicate'/);
});
