/**
 * Kernel notifications of an overlay namespace (the data plane alone, real kernel): changes of static
 * fdb and neighbour entries and of links are reported, learned-entry churn is not, an overrun of the
 * listener is reported (never a crash), and the data plane reports changes in every overlay it opens.
 */
import fs from 'node:fs';
import t, { type Test } from 'tap';
import { $ } from 'zx';
import type { KernelChange } from '../../dataplane/dataplane.js';
import { oneHostDataplane } from '../fixtures/kernel.js';
import { openNetns } from '../../dataplane/netns.js';
import { KernelEventSocket, isMulticastEntry } from '../../dataplane/netlink/event-socket.js';

$.verbose = false;
$.quiet = true;

const { tb, dp, ns } = await oneHostDataplane(t, 'kwt');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A listening socket in overlay 401 for the length of test `t`. */
function listen(t: Test, recvBufferBytes?: number): KernelEventSocket {
  const fd = openNetns(ns(401));
  const sock = KernelEventSocket.open(fd, recvBufferBytes);
  t.teardown(() => {
    sock.close();
    fs.closeSync(fd);
  });
  return sock;
}

t.test('static entries and links are reported; a refresh of learned entries is not', async (t) => {
  await dp.ensureNetwork({ vni: 401, subnet: '198.18.41.0/24', gateway: '198.18.41.1' });
  const sock = listen(t);
  await $`bridge -n ${ns(401)} fdb add 02:00:00:00:41:01 dev vxlan401 dst 198.51.100.99 self permanent`;
  await $`ip -n ${ns(401)} neigh add 198.18.41.50 lladdr 02:00:00:00:41:01 dev vxlan401 nud permanent`;
  await $`ip -n ${ns(401)} neigh del 198.18.41.50 dev vxlan401`;
  await $`bridge -n ${ns(401)} fdb del 02:00:00:00:41:01 dev vxlan401 self`;
  let r = sock.read();
  // Link notifications of the fresh overlay (br0's carrier coming up) may arrive in between.
  t.same(
    r.events.filter((e) => e.kind === 'neigh').map((e) => `${e.kind}:${e.deleted ? 'del' : 'new'}`),
    ['neigh:new', 'neigh:new', 'neigh:del', 'neigh:del'],
    'fdb add, neighbour add, neighbour delete, fdb delete',
  );
  t.equal(r.overrun, false);
  // A dynamic neighbour (what ARP resolution makes) changing state is not ours: not reported.
  await $`ip -n ${ns(401)} neigh add 198.18.41.60 lladdr 02:00:00:00:41:02 dev br0 nud reachable`;
  await $`ip -n ${ns(401)} neigh change 198.18.41.60 lladdr 02:00:00:00:41:02 dev br0 nud stale`;
  t.same(
    sock.read().events.filter((e) => e.kind === 'neigh'),
    [],
    'dynamic neighbour churn is left out',
  );
  await $`ip -n ${ns(401)} link add tmp0 type bridge`;
  await $`ip -n ${ns(401)} link del tmp0`;
  r = sock.read();
  t.ok(
    r.events.some((e) => e.kind === 'link' && e.deleted),
    'a deleted link is reported as such',
  );
  t.same(
    sock.read().events.filter((e) => e.kind === 'neigh'),
    [],
    'a read drains the queue',
  );
});

t.test('each neighbour/fdb notification names its entry; multicast entries are told apart', async (t) => {
  const sock = listen(t);
  await $`bridge -n ${ns(401)} fdb add 02:00:00:00:41:03 dev vxlan401 dst 198.51.100.98 self permanent`;
  await $`ip -n ${ns(401)} neigh add 198.18.41.51 lladdr 02:00:00:00:41:03 dev vxlan401 nud permanent`;
  // What the kernel makes by itself after an IPv6 router solicitation, and an IPv4 group.
  await $`ip -n ${ns(401)} neigh replace ff02::2 lladdr 33:33:00:00:00:02 dev vxlan401 nud noarp`;
  await $`ip -n ${ns(401)} neigh replace 224.0.0.251 lladdr 01:00:5e:00:00:fb dev vxlan401 nud noarp`;
  await $`ip -n ${ns(401)} neigh del ff02::2 dev vxlan401`;
  await $`ip -n ${ns(401)} neigh del 224.0.0.251 dev vxlan401`;
  await $`ip -n ${ns(401)} neigh del 198.18.41.51 dev vxlan401`;
  await $`bridge -n ${ns(401)} fdb del 02:00:00:00:41:03 dev vxlan401 self`;
  // (A multicast neighbour's creation is reported only if the kernel had already made it static by
  // itself, after the device's router solicitation: left out, it depends on timing.)
  const got = sock
    .read()
    .events.filter((e) => e.kind === 'neigh' && !(e.entry?.multicast && !e.deleted))
    .map(
      (e) =>
        `${e.deleted ? 'del' : 'new'} ${e.entry?.family} ${e.entry?.dst} ${e.entry?.mac ?? '-'}${e.entry?.multicast ? ' multicast' : ''}`,
    );
  // The kernel fills a multicast neighbour itself (state FAILED here, not static: its creation is
  // left out), and a neighbour deleted by request is reported FAILED without its link-layer address:
  // so a neighbour is classified by its network address, an fdb entry by its MAC.
  t.same(
    got,
    [
      'new bridge 198.51.100.98 02:00:00:00:41:03',
      'new inet 198.18.41.51 02:00:00:00:41:03',
      'del inet6 ff02:0:0:0:0:0:0:2 - multicast',
      'del inet 224.0.0.251 - multicast',
      'del inet 198.18.41.51 -',
      'del bridge 198.51.100.98 02:00:00:00:41:03',
    ],
    'family, address, link-layer address, multicast or not: read from each notification',
  );
  t.ok(
    isMulticastEntry({ family: 'bridge', mac: '33:33:00:00:00:01', dst: '198.51.100.98' }),
    'an fdb entry of a multicast MAC is multicast',
  );
  t.notOk(
    isMulticastEntry({ family: 'bridge', mac: '02:00:00:00:41:03', dst: '239.1.1.1' }),
    "an fdb entry's dst is its VTEP, not the entry's address",
  );
});

t.test('an overrun is reported, not a crash, and the socket keeps working', async (t) => {
  const sock = listen(t, 16 * 1024);
  const batch = Array.from(
    { length: 3000 },
    (_, k) =>
      `fdb add 02:00:00:01:${((k >> 8) & 255).toString(16).padStart(2, '0')}:${(k & 255).toString(16).padStart(2, '0')} dev vxlan401 dst 198.51.100.99 self permanent`,
  ).join('\n');
  const file = `${tb.prefix}batch`;
  fs.writeFileSync(`/tmp/${file}`, `${batch}\n`);
  t.teardown(() => fs.rmSync(`/tmp/${file}`, { force: true }));
  await $`bridge -n ${ns(401)} -batch /tmp/${file}`;
  const r = sock.read();
  t.equal(r.overrun, true, `overrun reported (${r.events.length} of 3000 events read)`);
  await $`bridge -n ${ns(401)} fdb del 02:00:00:01:00:05 dev vxlan401 self`;
  // Only fdb entries of the overlay are asserted: the kernel's own notifications (a multicast
  // neighbour after the device's router solicitation, a link's carrier) may arrive at any moment.
  t.same(
    sock
      .read()
      .events.filter((e) => e.kind === 'neigh' && e.entry?.family === 'bridge' && !e.entry.multicast)
      .map((e) => `${e.deleted ? 'del' : 'new'} ${e.entry?.mac}`),
    ['del 02:00:00:01:00:05'],
    'the next change is read normally',
  );
});

t.test('the data plane reports changes in every overlay it opens, including ones built later', async (t) => {
  const seen: KernelChange[] = [];
  const errors: string[] = [];
  dp.watchKernel(
    (c) => seen.push(c),
    (vni, e) => errors.push(`${vni}: ${e.message}`),
  );
  await dp.ensureNetwork({ vni: 402, subnet: '198.18.42.0/24', gateway: '198.18.42.1' });
  await sleep(300);
  seen.length = 0;
  await dp.reconcile(402, [{ mac: '02:00:00:00:42:01', ip: '198.18.42.9', vtep: '198.51.100.77' }]);
  for (let k = 0; k < 20 && !seen.some((c) => c.vni === 402); k++) await sleep(100);
  t.ok(
    seen.some((c) => c.vni === 402 && c.events >= 2),
    "own writes are reported too (the agent's next reconcile then changes nothing)",
  );
  // Notifications of the reconcile's writes still queued, and the kernel's own on a new device (IPv6
  // autoconf), arrive late on a loaded machine: each try waits for 600 ms of quiet, then adds and deletes
  // the multicast entry. A watch that reports it reports it every time; noise does not repeat five times.
  const quiet = async () => {
    for (let n = -1; n !== seen.length;) {
      n = seen.length;
      await sleep(600);
    }
  };
  const reportedPerTry: number[] = [];
  for (let k = 0; k < 5 && reportedPerTry.at(-1) !== 0; k++) {
    await quiet();
    seen.length = 0;
    await $`ip -n ${ns(402)} neigh replace ff02::2 lladdr 33:33:00:00:00:02 dev vxlan402 nud noarp`;
    await $`ip -n ${ns(402)} neigh del ff02::2 dev vxlan402`;
    await sleep(600); // more than two polls
    reportedPerTry.push(seen.filter((c) => c.vni === 402).length);
  }
  t.equal(
    reportedPerTry.at(-1),
    0,
    `a multicast entry coming and going is not reported (the kernel's own, never ours); reports per try: ${reportedPerTry.join(', ')}`,
  );
  await $`ip -n ${ns(402)} neigh add 198.18.42.10 lladdr 02:00:00:00:42:02 dev vxlan402 nud permanent`;
  for (let k = 0; k < 20 && !seen.some((c) => c.vni === 402); k++) await sleep(100);
  t.ok(
    seen.some((c) => c.vni === 402 && c.events >= 1),
    'a unicast one is',
  );
  seen.length = 0;
  await $`ip -n ${ns(401)} link del vxlan401`;
  for (let k = 0; k < 20 && !seen.some((c) => c.vni === 401 && c.linkDeleted); k++) await sleep(100);
  t.ok(
    seen.some((c) => c.vni === 401 && c.linkDeleted),
    `a deleted VXLAN device in the first overlay is reported as a deleted link (its 3000 entries flushed with it overrun the listener: reported the same) ${JSON.stringify(seen)}`,
  );
  t.same(errors, []);
});

t.test("an endpoint's veth coming and going is no overlay change; a deleted bridge is", async (t) => {
  const events = listen(t);
  const ct = await tb.addContainer(1, 7);
  await dp.attach({ vni: 401, netns: ct, mac: '02:00:00:00:41:77', ip: '198.18.41.77' });
  await dp.detach(401, '02:00:00:00:41:77');
  await sleep(300);
  const links = events.read().events.filter((e) => e.kind === 'link');
  t.ok(
    links.some((e) => e.name === 've020000004177' && e.deleted),
    `link notifications name their link (${links.map((e) => e.name).join(', ')})`,
  );
  const seen: KernelChange[] = [];
  dp.watchKernel(
    (c) => seen.push(c),
    () => undefined,
  );
  const ct2 = await tb.addContainer(1, 8);
  await sleep(600);
  seen.length = 0;
  await dp.attach({ vni: 401, netns: ct2, mac: '02:00:00:00:41:78', ip: '198.18.41.78' });
  await dp.detach(401, '02:00:00:00:41:78');
  await sleep(800);
  t.notOk(
    seen.some((c) => c.vni === 401 && c.linkDeleted),
    `an attach and a detach: no deleted overlay link reported (${JSON.stringify(seen)})`,
  );
  await $`ip -n ${ns(401)} link del br0`;
  for (let k = 0; k < 20 && !seen.some((c) => c.vni === 401 && c.linkDeleted); k++) await sleep(100);
  t.ok(
    seen.some((c) => c.vni === 401 && c.linkDeleted),
    'br0 deleted: reported',
  );
});
