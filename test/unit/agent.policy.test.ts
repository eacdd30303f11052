/**
 * Routing and policy, the agent's side with a fake cluster and kernel: connect refusals (overlap, also
 * through a network already connected; internal; encrypted; an older member live), rules needing a
 * connection, removal; the overlays a host serves and the filter it wants (wantedPolicy).
 */
import t from 'tap';
import { wantedPolicy } from '../../agent/policy-sync.js';
import { renderPolicyFilter } from '../../dataplane/policy-filter.js';
import type { NetworkDefinition } from '../../agent/networks.js';
import type { LocalEndpoint } from '../../agent/local-state.js';
import { FakeCluster, startedAgent } from '../fixtures/agent-fakes.js';

async function agentWith(t: Parameters<typeof startedAgent>[0], cluster = new FakeCluster('self')) {
  const { agent } = await startedAgent(t, cluster);
  for (const [name, subnet, vni, extra] of [
    ['a', '198.18.1.0/24', 101, {}],
    ['b', '198.18.2.0/24', 102, {}],
    ['c', '198.18.3.0/24', 103, {}],
    ['a2', '198.18.1.0/25', 104, {}],
    ['c2', '198.18.3.128/25', 105, {}],
    ['in1', '198.18.4.0/24', 106, { internal: true }],
    ['in2', '198.18.5.0/24', 107, { internal: true }],
  ] as const)
    await agent.createNetwork({ name, subnet, vni, ...extra });
  return { agent, cluster };
}

t.test('connect: refusals name the field and say why; connect is idempotent; disconnect', async (t) => {
  const { agent, cluster } = await agentWith(t);
  const p = agent.policy;
  t.same(await p.connect('b', 'a'), ['a', 'b'], 'a pair in name order');
  t.same(await p.connect('a', 'b'), ['a', 'b'], 'again: the same connection');
  t.equal(cluster.shared.length, 1, 'one record');
  await t.rejects(p.connect('a', 'a2'), { field: 'with', message: /overlaps.*never be connected/ });
  await t.rejects(
    p.connect('b', 'a2'),
    { field: 'with', message: /which is connected to b/ },
    'through a connected network',
  );
  await t.rejects(p.connect('a', 'in1'), { field: 'with', message: /internal/ });
  t.same(await p.connect('in1', 'in2'), ['in1', 'in2'], 'two internal networks connect');
  await t.rejects(p.connect('a', 'nope'), { name: 'NotFoundError' });
  await t.rejects(p.connect('c', 'c'), { field: 'with', message: /itself/ });
  t.same(p.connectedTo('a'), ['b']);
  t.same(p.connectedTo('b'), ['a']);
  await p.disconnect('b', 'a');
  t.same(p.connectedTo('a'), []);
  await t.rejects(p.disconnect('a', 'b'), { name: 'NotFoundError', field: 'with' });
});

t.test('an older member live: connections and rules are refused (it would neither route nor enforce)', async (t) => {
  const cluster = new FakeCluster('self');
  cluster.addMember({ peerId: 'old', name: 'old', proto: 5 });
  const { agent } = await agentWith(t, cluster);
  await t.rejects(agent.policy.connect('a', 'b'), { field: 'with', message: /older release.*old \(generation 5\)/ });
  t.equal(cluster.shared.length, 0, 'nothing written');
  await t.rejects(agent.createNetwork({ name: 'iso', subnet: '198.18.9.0/24', isolated: true }), {
    field: 'isolated',
    message: /older release/,
  });
});

t.test('rules: only from a connected network; listed with ids; removed', async (t) => {
  const { agent } = await agentWith(t);
  const p = agent.policy;
  await t.rejects(p.allow({ network: 'b', from: 'a' }), {
    field: 'from',
    message: /not connected.*connect them first/,
  });
  await p.connect('a', 'b');
  const r = await p.allow({ network: 'b', from: 'a', ports: ['tcp/80'] });
  t.match(r, { network: 'b', from: 'a', ports: [{ protocol: 'tcp', port: 80 }] });
  await p.allow({ network: 'b', fromCidr: '203.0.113.0/24' });
  await t.rejects(p.allow({ network: 'b', from: 'a', ports: ['tcp/99999'] }), {
    name: 'ValidationError',
    field: 'ports[0].port',
  });
  await t.rejects(p.allow({ network: 'zz', from: 'a' }), { name: 'NotFoundError' });
  t.equal(p.rules('b').length, 2);
  t.equal(p.rules('a').length, 0);
  await p.remove(r.id);
  t.same(
    p.rules().map((x) => x.fromCidr),
    ['203.0.113.0/24'],
  );
  await t.rejects(p.remove(r.id), { name: 'NotFoundError', field: 'id' });
});

t.test('served overlays and the wanted filter', async (t) => {
  const { agent } = await agentWith(t);
  await agent.policy.connect('a', 'b');
  await agent.policy.connect('b', 'c');
  await agent.policy.allow({ network: 'b', from: 'a', ports: ['tcp/80'] });
  const core = (agent as unknown as { core: { policySync: { served(v: number[]): number[] } } }).core;
  t.same(core.policySync.served([101]), [101, 102], 'a host of a serves b (routing), not c (one hop)');
  t.same(core.policySync.served([102]), [101, 102, 103]);
  const defs = new Map(agent.listNetworks().map((n) => [n.name, n as NetworkDefinition]));
  const local = [
    { network: 'b', ip: '198.18.2.7' } as LocalEndpoint,
    { network: 'a', ip: '198.18.1.7' } as LocalEndpoint,
  ];
  const w = wantedPolicy(
    defs.get('b') as NetworkDefinition,
    defs,
    ['a', 'c'],
    agent.policy.rules('b'),
    local,
    new Set([101, 102]),
  );
  t.same(w.links, [101], 'a link only to the served overlays');
  t.same(w.filter, {
    local: ['198.18.2.7'],
    own: ['198.18.2.0/24'],
    connected: [
      { network: 'a', subnets: ['198.18.1.0/24'] },
      { network: 'c', subnets: ['198.18.3.0/24'] },
    ],
    allow: [{ source: '198.18.1.0/24', ports: [{ protocol: 'tcp', port: 80 }] }],
    restrictOutside: false,
  });
  const none = wantedPolicy(defs.get('c2') as NetworkDefinition, defs, [], [], local, new Set([105]));
  t.same(none, { links: [] }, 'no connection, no rule: no filter at all (as before)');
  const stale = wantedPolicy(
    defs.get('b') as NetworkDefinition,
    defs,
    ['c'],
    agent.policy.rules('b'),
    local,
    new Set([102]),
  );
  t.same(stale.filter?.allow, [], 'a rule from a network no longer connected is inactive');
  await agent.createNetwork({ name: 'iso', subnet: '198.18.9.0/24', vni: 109, isolated: true });
  const iso = agent.listNetworks().find((n) => n.name === 'iso') as NetworkDefinition;
  t.equal(iso.isolated, true, 'part of the definition');
  const isolated = wantedPolicy(iso, defs, [], [], local, new Set([109]));
  t.match(isolated.filter, { isolated: true, own: ['198.18.9.0/24'], connected: [] }, 'isolated: a filter of its own');
  const rendered = renderPolicyFilter(isolated.filter as NonNullable<typeof isolated.filter>);
  t.match(rendered, /ip saddr @own4 counter drop comment "within"/, 'its own subnet dropped, counted');
  t.notMatch(rendered, /ip saddr @own4 accept/);
});
