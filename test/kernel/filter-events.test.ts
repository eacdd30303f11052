/**
 * Packet-filter change reports (egress/filter-events.ts) on the real kernel, with iptables' nf_tables
 * backend: a rule written in a namespace is reported for that namespace only; reading the rules is
 * not a change; a namespace no longer kept is no longer listened in; a namespace that is gone is
 * refused with an error, not a crash.
 */
import t from 'tap';
import { $ } from 'zx';
import { FilterEvents, type NamespacePath } from '../../egress/filter-events.js';
import { iptablesBackend } from '../../egress/iptables.js';
import { Testbed } from '../../sim/testbed.js';

$.verbose = false;
$.quiet = true;

const tb = await Testbed.create({ hosts: 2, tag: 'fev' });
t.teardown(() => tb.teardown());
const [a, b] = [tb.host(1).netnsPath, tb.host(2).netnsPath];

t.test('a change is reported where it happened; a read is no change', async (t) => {
  t.equal(await iptablesBackend(), 'nf_tables', 'this machine runs iptables on nf_tables');
  const reported: NamespacePath[][] = [];
  const events = new FilterEvents((w) => reported.push(w), 3_600_000);
  t.teardown(() => events.close());
  events.watch(a);
  events.watch(b);
  events.watch(a);
  t.same(events.namespaces(), [a, b], 'one listener per namespace (watch is idempotent)');
  t.same(events.poll(), [], 'nothing changed yet');
  await $`nsenter --net=${b} iptables -t filter -A INPUT -s 198.51.100.99/32 -j DROP`;
  t.same(events.poll(), [b], 'a rule added in b: b only');
  t.same(reported, [[b]], 'reported to the callback');
  t.same(events.poll(), [], 'drained: nothing more');
  await $`nsenter --net=${a} iptables-save`;
  t.same(events.poll(), [], 'reading the rules is no change');
  await $`nsenter --net=${a} iptables -t nat -N VXMESH-TEST`;
  await $`nsenter --net=${b} iptables -t filter -F INPUT`;
  t.same(events.poll(), [a, b], 'a chain added in a, a chain flushed in b: both');
  events.keepOnly(new Set([a]));
  t.same(events.namespaces(), [a], 'b no longer listened in');
  await $`nsenter --net=${b} iptables -t filter -A INPUT -s 198.51.100.98/32 -j DROP`;
  t.same(events.poll(), [], 'a change in b is not reported any more');
  t.throws(() => events.watch('/run/netns/vxmesh-no-such-namespace'), /ENOENT/, 'a namespace that is gone: an error');
  t.same(events.namespaces(), [a], 'and nothing half-opened');
});
