/**
 * Routing and policy of an overlay on the real kernel (the data plane alone, no agent): the link
 * between two overlays with its on-link routes, idempotent, repaired when a route or half the link is
 * deleted, removed when not wanted; the nftables filter written, left alone when unchanged, rewritten
 * when the kernel's table was changed by someone else (read back on `verify`), removed when not wanted;
 * a container's routes to connected networks (and none when its default route is the gateway).
 */
import t from 'tap';
import { oneHostDataplane } from '../fixtures/kernel.js';
import { $ } from 'zx';
import type { PolicyFilterSpec } from '../../dataplane/dataplane.js';

$.verbose = false;
$.quiet = true;

const { tb, dp, ns } = await oneHostDataplane(t, 'npk');
await dp.ensureNetwork({ vni: 401, subnet: '198.18.41.0/24', gateway: '198.18.41.1' });
await dp.ensureNetwork({ vni: 402, subnet: '198.18.42.0/24', gateway: '198.18.42.1' });
const routes = async (vni: number) => (await $`ip -n ${ns(vni)} route`).stdout;
const filter: PolicyFilterSpec = {
  local: ['198.18.42.9'],
  own: ['198.18.42.0/24'],
  connected: [{ network: 'a', subnets: ['198.18.41.0/24'] }],
  allow: [{ source: '198.18.41.0/24', ports: [{ protocol: 'tcp', port: 80 }] }],
  restrictOutside: false,
};
const table = async (vni: number) =>
  (await $({ nothrow: true })`ip netns exec ${ns(vni)} nft -s list table inet vxmesh`).stdout;

t.test('the link: built with on-link routes both ways; the same again changes nothing', async (t) => {
  t.equal(await dp.ensureNetworkPolicy(401, { links: [402] }), 0, 'links made are not counted as filter writes');
  t.match(await routes(401), /198\.18\.42\.0\/24 via 198\.18\.42\.1 dev vxr402 onlink/);
  t.match(await routes(402), /198\.18\.41\.0\/24 via 198\.18\.41\.1 dev vxr401 onlink/);
  const before = (await $`ip -n ${ns(401)} -o link show vxr402`).stdout.split(':')[0];
  await dp.ensureNetworkPolicy(401, { links: [402] });
  t.equal((await $`ip -n ${ns(401)} -o link show vxr402`).stdout.split(':')[0], before, 'the same link kept');
});

t.test('drift: a deleted route comes back, half a link is rebuilt', async (t) => {
  await $`ip -n ${ns(402)} route del 198.18.41.0/24`;
  await dp.ensureNetworkPolicy(401, { links: [402] });
  t.match(await routes(402), /198\.18\.41\.0\/24 via 198\.18\.41\.1 dev vxr401/, 'the route repaired');
  await $`ip -n ${ns(402)} link del vxr401`;
  await dp.ensureNetworkPolicy(401, { links: [402] });
  t.match(await routes(401), /dev vxr402/, 'rebuilt: A side');
  t.match(await routes(402), /dev vxr401/, 'rebuilt: B side');
});

t.test('the filter: written once, kept, rewritten after tampering, removed', async (t) => {
  t.equal(await dp.ensureNetworkPolicy(402, { links: [401], filter }), 1, 'written');
  const written = await table(402);
  t.match(written, /drop comment "from a"/);
  t.equal(await dp.ensureNetworkPolicy(402, { links: [401], filter }, false), 0, 'unchanged: nothing written');
  t.equal(await dp.ensureNetworkPolicy(402, { links: [401], filter }, true), 0, 'verified: nothing written');
  await $`ip netns exec ${ns(402)} nft flush chain inet vxmesh forward`;
  t.equal(await dp.ensureNetworkPolicy(402, { links: [401], filter }, true), 1, 'tampered: rewritten on verify');
  t.equal(await table(402), written, 'as it was');
  t.equal(await dp.ensureNetworkPolicy(402, { links: [] }), 2, 'no filter, no link wanted: both removed');
  t.equal(await table(402), '', 'the table is gone');
  t.notMatch(await routes(401), /vxr402/, 'the link and its routes are gone from the other side too');
});

t.test("a container's routes to connected networks; none where the default route is the gateway", async (t) => {
  const ct = await tb.addContainer(1, 1);
  await $`ip -n ${ct} link add eth0 type veth peer name peer0`; // no dummy links on every kernel
  await $`ip -n ${ct} addr add 198.18.41.5/24 dev eth0`;
  await $`ip -n ${ct} link set eth0 up`;
  const want = [{ dst: '198.18.42.0', len: 24, via: '198.18.41.1' }];
  t.equal(await dp.ensureContainerRoutes(ct, 'eth0', ['198.18.41.1'], want), 1, 'added');
  t.match((await $`ip -n ${ct} route`).stdout, /198\.18\.42\.0\/24 via 198\.18\.41\.1 dev eth0/);
  t.equal(await dp.ensureContainerRoutes(ct, 'eth0', ['198.18.41.1'], want), 0, 'again: nothing');
  t.equal(await dp.ensureContainerRoutes(ct, 'eth0', ['198.18.41.1'], []), 1, 'not wanted: removed');
  await $`ip -n ${ct} route add default via 198.18.41.1 dev eth0`;
  t.equal(await dp.ensureContainerRoutes(ct, 'eth0', ['198.18.41.1'], want), 0, 'default route via the gateway: none');
  t.equal(await dp.ensureContainerRoutes(ct, 'eth9', ['198.18.41.1'], want), undefined, 'no such interface');
  t.equal(await dp.ensureContainerRoutes('npk-no-such-ns', 'eth0', [], want), undefined, 'no such namespace');
});
