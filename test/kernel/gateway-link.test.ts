/**
 * A network's gateway link on the real kernel (the data plane alone, no agent): built with its
 * transfer pair and default route, idempotent, repaired when half of it is deleted, adopted by a new
 * process without change, moved to another pair when the derived one is taken, removed when egress
 * goes off, and gone with the overlay namespace.
 */
import t from 'tap';
import { $ } from 'zx';
import { Dataplane } from '../../dataplane/dataplane.js';
import { transferPairFor } from '../../core/transfer-addresses.js';
import { Testbed } from '../../sim/testbed.js';

$.verbose = false;
$.quiet = true;

const tb = await Testbed.create({ hosts: 1, tag: 'gwl' });
const h = tb.host(1);
const open = () =>
  new Dataplane({ prefix: tb.overlayPrefix(1), hostNetns: h.netns, vtep: h.vtep, underlayDev: h.underlayDev });
let dp = open();
t.teardown(async () => {
  dp.close();
  await tb.teardown();
});
const overlayNs = (vni: number) => `${tb.overlayPrefix(1)}${vni}`;
const addrs = async (ns: string, dev: string) => (await $`ip -n ${ns} -o -4 addr show dev ${dev}`.nothrow()).stdout;
const linkIndex = async (ns: string, dev: string) =>
  (await $`ip -n ${ns} -o link show dev ${dev}`.nothrow()).stdout.split(':')[0];

t.test(
  'built with the derived transfer pair, the default route and forwarding; a second call changes nothing',
  async (t) => {
    const info = await dp.ensureNetwork({ vni: 301, subnet: '198.18.30.0/24', gateway: '198.18.30.1', egress: true });
    const want = transferPairFor(301, () => false);
    t.same(
      [info.gatewayLink?.host, info.gatewayLink?.overlay, info.gatewayLink?.hostIfname],
      [want.host, want.overlay, 'vxg301'],
    );
    t.match(await addrs(h.netns, 'vxg301'), new RegExp(`${want.host}/31`), 'host end address');
    t.match(await addrs(overlayNs(301), 'gw0'), new RegExp(`${want.overlay}/31`), 'overlay end address');
    t.match(
      (await $`ip -n ${overlayNs(301)} route show default`).stdout,
      new RegExp(`default via ${want.host} dev gw0`),
      'overlay default route via the host end',
    );
    t.equal(
      (await $`nsenter --net=/run/netns/${overlayNs(301)} cat /proc/sys/net/ipv4/ip_forward`).stdout.trim(),
      '1',
      'forwarding on in the overlay',
    );
    t.equal(
      (await $`nsenter --net=${h.netnsPath} cat /proc/sys/net/ipv4/ip_forward`).stdout.trim(),
      '0',
      'not switched on the host by the data plane (egress does it, with a FORWARD policy)',
    );
    const before = [await linkIndex(h.netns, 'vxg301'), await linkIndex(overlayNs(301), 'gw0')];
    await dp.ensureGatewayLink(301, true);
    t.same(
      [await linkIndex(h.netns, 'vxg301'), await linkIndex(overlayNs(301), 'gw0')],
      before,
      'idempotent: the same links',
    );
  },
);

t.test(
  'a link deleted by hand (one end takes the other along) is rebuilt; a new process adopts it unchanged',
  async (t) => {
    await $`ip -n ${h.netns} link del vxg301`;
    const fixed = await dp.ensureGatewayLink(301, true);
    t.equal(fixed?.hostIfname, 'vxg301', 'rebuilt');
    t.match((await $`ip -n ${overlayNs(301)} route show default`).stdout, /dev gw0/, 'with its route');
    const before = await linkIndex(h.netns, 'vxg301');
    dp.close();
    dp = open();
    await dp.adopt();
    t.same(await dp.gatewayLink(301), fixed, 'the new process reads the same link');
    await dp.ensureNetwork({ vni: 301, subnet: '198.18.30.0/24', gateway: '198.18.30.1', egress: true });
    t.equal(await linkIndex(h.netns, 'vxg301'), before, 'and keeps it');
  },
);

t.test(
  'a second network whose derived pair is taken gets another; egress off removes the link; the namespace takes it along',
  async (t) => {
    // VNI 301 + 16256 derives the same pair as 301.
    const info = await dp.ensureNetwork({
      vni: 301 + 16256,
      subnet: '198.18.30.0/24',
      gateway: '198.18.30.1',
      egress: true,
    });
    t.not(info.gatewayLink?.host, transferPairFor(301, () => false).host, 'moved on to a free pair');
    t.equal(await dp.ensureGatewayLink(301 + 16256, false), undefined);
    t.equal(await addrs(h.netns, `vxg${301 + 16256}`), '', 'host end gone');
    await dp.removeNetwork(301);
    // At once, not when the kernel's asynchronous namespace teardown has run (a Docker plugin test saw
    // the host end still there after removeNetwork returned, and gone a moment later).
    t.equal(
      await linkIndex(h.netns, 'vxg301'),
      '',
      'removing the overlay namespace removes the host end too, before it returns',
    );
  },
);
