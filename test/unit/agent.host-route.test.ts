/**
 * Host routes (CNI `hostRoute`): an attach asking for one is refused while another network with an
 * overlapping subnet has one on this host, before any address is taken or anything is programmed;
 * `prefixesOverlap` against a brute-force check.
 */
import t from 'tap';
import fc from 'fast-check';
import { parsePrefix, prefixesOverlap } from '../../core/prefix.js';
import { startedAgent } from '../fixtures/agent-fakes.js';

t.test('a host route for a network whose subnet overlaps one already routed here is refused', async (t) => {
  const { agent, cluster, driver } = await startedAgent(t);
  await agent.createNetwork({ name: 'blue', subnet: '198.18.5.0/24', vni: 5000 });
  await agent.createNetwork({ name: 'twin', subnet: '198.18.5.0/25', vni: 5001 });
  await agent.createNetwork({ name: 'apart', subnet: '198.18.6.0/24', vni: 5002 });
  const routed = await agent.attach({ network: 'blue', netns: 'ns1', hostRoute: true });
  t.equal(routed.hostRoute, true);
  const before = { veths: driver.veths.size, eps: cluster.eps.length };
  await t.rejects(agent.attach({ network: 'twin', netns: 'ns2', hostRoute: true }), {
    name: 'ValidationError',
    field: 'hostRoute',
    message: /198\.18\.5\.0\/24 of network blue/,
  });
  t.same({ veths: driver.veths.size, eps: cluster.eps.length }, before, 'nothing programmed, nothing announced');
  t.notOk(driver.overlays.has(5001), 'no overlay built for the refused attach');
  const plain = await agent.attach({ network: 'twin', netns: 'ns3' });
  t.notOk(plain.hostRoute, 'the same network without a host route attaches (overlapping subnets are allowed)');
  const other = await agent.attach({ network: 'apart', netns: 'ns4', hostRoute: true });
  t.equal(other.hostRoute, true, 'a subnet of its own gets its host route');
  t.equal(
    (await agent.attach({ network: 'blue', netns: 'ns5', hostRoute: true })).hostRoute,
    true,
    'a second endpoint of the routed network is no clash',
  );
  await agent.detach({ network: 'blue', netns: 'ns1' });
  await agent.detach({ network: 'blue', netns: 'ns5' });
  t.equal(
    (await agent.attach({ network: 'twin', netns: 'ns2', hostRoute: true })).hostRoute,
    true,
    'once blue has no routed endpoint here, twin may have the route',
  );
});

t.test('prefixesOverlap agrees with comparing address ranges (both families)', async (t) => {
  // Inside 198.18.0.0/15, so that overlaps are common.
  const v4 = fc.tuple(fc.integer({ min: 0, max: 0x1ffff }), fc.integer({ min: 15, max: 30 })).map(([n, len]) => {
    const first = (((0xc6120000 + n) >>> (32 - len)) << (32 - len)) >>> 0;
    const ip = [24, 16, 8, 0].map((s) => (first >>> s) & 255).join('.');
    return parsePrefix(`${ip}/${len}`);
  });
  const range = (p: ReturnType<typeof parsePrefix>) => [p.first, p.first + (1n << BigInt(p.bits - p.prefix)) - 1n];
  fc.assert(
    fc.property(v4, v4, (a, b) => {
      const [a0, a1] = range(a) as [bigint, bigint];
      const [b0, b1] = range(b) as [bigint, bigint];
      return prefixesOverlap(a, b) === (a0 <= b1 && b0 <= a1) && prefixesOverlap(a, b) === prefixesOverlap(b, a);
    }),
    { numRuns: 500 },
  );
  t.ok(prefixesOverlap(parsePrefix('2001:db8:40::/48'), parsePrefix('2001:db8:40:7::/64')));
  t.notOk(prefixesOverlap(parsePrefix('2001:db8:40::/64'), parsePrefix('2001:db8:41::/64')));
  t.notOk(prefixesOverlap(parsePrefix('198.18.0.0/16'), parsePrefix('2001:db8::/32')), 'families never overlap');
});
