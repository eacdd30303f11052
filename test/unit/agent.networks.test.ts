/** Network definitions with in-memory fakes: VNI precedence, conflicts, create and remove rules. */
import t from 'tap';
import { decodeCreateNetwork } from '../../agent/requests.js';
import { autoVni, Networks, resolveNetworks } from '../../agent/networks.js';
import { LocalState } from '../../agent/local-state.js';
import { Overlays } from '../../agent/overlays.js';
import { ValidationError, NotFoundError } from '../../core/errors.js';
import { silentLogger } from '../../core/logger.js';
import type { NetworkValue } from '../../core/records.js';
import { FakeCluster, FakeOverlay, recordingLog } from '../fixtures/agent-fakes.js';

const net = (name: string, vni: number, subnet = '198.18.1.0/24'): NetworkValue => ({
  name,
  vni,
  subnet,
  gateway: subnet.replace('0/24', '1'),
});

function setup() {
  const cluster = new FakeCluster('self');
  const driver = new FakeOverlay();
  const state = new LocalState({ save: () => undefined }, { version: 1, endpoints: [], ipamBlocks: [] });
  const log = recordingLog();
  const networks = new Networks({ cluster, driver, overlays: new Overlays(driver), state, log });
  return { cluster, driver, state, log, networks };
}

t.test('VNI precedence: the smaller (lamport, owner) keeps the VNI, the other is unusable and says why', async (t) => {
  const views = resolveNetworks(
    [
      { value: net('late', 5000), owner: 'a', lamport: 7 },
      { value: net('early', 5000), owner: 'b', lamport: 3 },
      { value: net('tie-b', 6000), owner: 'b', lamport: 4 },
      { value: net('tie-a', 6000), owner: 'a', lamport: 4 },
      { value: net('alone', 7000), owner: 'c', lamport: 9 },
    ],
    () => [],
  );
  t.equal(views.get('early')?.usable, true);
  t.equal(views.get('late')?.usable, false);
  t.match(views.get('late')?.conflicts[0]?.detail, /also used by network early \(which has precedence/);
  t.equal(views.get('tie-a')?.usable, true, 'same lamport: the smaller owner id wins');
  t.equal(views.get('tie-b')?.usable, false);
  t.equal(views.get('alone')?.usable, true);
  t.same(views.get('alone')?.conflicts, []);
});

t.test('autoVni is stable per name and moves on when taken', async (t) => {
  const v = autoVni('blue', new Set());
  t.equal(autoVni('blue', new Set()), v);
  t.ok(v >= 4096 && v <= 16777215);
  t.equal(autoVni('blue', new Set([v])), v + 1);
});

t.test('create: defaults, idempotent re-create, refusals naming the field', async (t) => {
  const { networks, cluster } = setup();
  // As the admin API hands it in: decoded at the edge (requests.ts), then created.
  const create = async (body: unknown) => networks.create(decodeCreateNetwork(body));
  const n = await create({ name: 'blue', subnet: '198.18.5.0/24' });
  t.equal(n.gateway, '198.18.5.1', 'gateway defaults to the first address');
  t.equal(n.vni, autoVni('blue', new Set()));
  t.equal(cluster.nets.length, 1, 'written to the table');
  t.same(await create({ name: 'blue', subnet: '198.18.5.0/24' }), n, 'the same definition again is a no-op');
  await t.rejects(
    create({ name: 'blue', subnet: '198.18.6.0/24' }),
    new ValidationError('name', 'network blue exists with subnet 198.18.5.0/24 vni ' + n.vni),
  );
  await t.rejects(create({ name: 'red', subnet: '198.18.6.0/24', vni: n.vni }), {
    name: 'ValidationError',
    field: 'vni',
  });
  await t.rejects(create({ name: 'red', subnet: '198.18.6.0/24', mtu: 9000 }), {
    field: 'mtu',
    message: /exceeds the largest overlay MTU/,
  });
  await t.rejects(create({ name: 'bad name!', subnet: '198.18.6.0/24' }), {
    name: 'ValidationError',
    field: 'name',
  });
  await t.rejects(create({ name: 'red', subnet: '198.18.6.0/33' }), {
    name: 'ValidationError',
    field: 'subnet',
  });
  await t.rejects(create({ name: 'red', subnet: '198.18.6.0/24', gateway: '198.18.7.1' }), {
    name: 'ValidationError',
    field: 'gateway',
  });
  await t.rejects(create(null), { name: 'ValidationError', field: 'body' });
  t.equal(cluster.nets.length, 1, 'nothing refused was written');
});

t.test('a definition redefined under the same name is reported as a conflict', async (t) => {
  const { networks, cluster, log } = setup();
  cluster.remote('network', 'other', net('blue', 5000, '198.18.1.0/24'));
  t.equal(networks.get('blue').conflicts.length, 0);
  cluster.remote('network', 'other', net('blue', 5001, '198.18.2.0/24'));
  const c = networks.get('blue').conflicts;
  t.equal(c.length, 1);
  t.match(c[0], { kind: 'definition', detail: /redefined from 198.18.1.0\/24 vni 5000 to 198.18.2.0\/24 vni 5001/ });
  t.ok(log.lines.some((l) => l.level === 'warn' && l.msg === 'network definition conflict'));
});

t.test('remove: refused while a live endpoint uses it, allowed once its owner is dead', async (t) => {
  const { networks, cluster } = setup();
  await networks.create({ name: 'blue', subnet: '198.18.5.0/24' });
  cluster.addMember({ peerId: 'h2' });
  cluster.remote('endpoint', 'h2', {
    network: 'blue',
    id: 'e1',
    mac: '02:42:c6:12:05:02',
    ip: '198.18.5.2',
    vtep: '198.51.100.2',
    host: 'h2',
  });
  await t.rejects(networks.remove('blue'), {
    field: 'network',
    message: /still has 1 endpoint\(s\) \(e.g. e1 on h2\)/,
  });
  cluster.setState('h2', 'dead');
  await networks.remove('blue');
  t.throws(() => networks.get('blue'), NotFoundError);
  t.equal(networks.bySubnet('198.18.5.0/24'), undefined);
});

t.test(
  'remove on a host that holds none of the network\u2019s records: refused while members say they hold it',
  async (t) => {
    const { networks, cluster } = setup();
    await networks.create({ name: 'blue', subnet: '198.18.6.0/24' });
    let scope = { held: false, members: ['h2', 'h3'], unscoped: [] as string[] };
    const scoped = Object.assign(cluster, { networkScope: () => scope });
    const guarded = new Networks({
      cluster: scoped,
      driver: new FakeOverlay(),
      overlays: new Overlays(new FakeOverlay()),
      state: new LocalState({ save: () => undefined }, { version: 1, endpoints: [], ipamBlocks: [] }),
      log: silentLogger,
    });
    await t.rejects(guarded.remove('blue'), {
      field: 'network',
      message: /has endpoints on h2, h3 \(this host holds none of its records\)/,
    });
    t.ok(networks.get('blue'), 'nothing written');
    scope = { held: false, members: [], unscoped: ['h9'] };
    await t.rejects(guarded.remove('blue'), {
      field: 'network',
      message: /members of an earlier release \(h9\) do not say which networks they use/,
    });
    scope = { held: false, members: [], unscoped: [] };
    await guarded.remove('blue');
    t.throws(() => networks.get('blue'), NotFoundError, 'removed once no member says it holds it');
  },
);

t.test('bySubnet: only when exactly one network has the subnet', async (t) => {
  const { networks, cluster } = setup();
  cluster.remote('network', 'x', net('a', 5000, '198.18.1.0/24'));
  cluster.remote('network', 'x', net('b', 5001, '198.18.1.0/24'));
  cluster.remote('network', 'x', net('c', 5002, '198.18.2.0/24'));
  t.equal(networks.bySubnet('198.18.1.0/24'), undefined, 'ambiguous');
  t.equal(networks.bySubnet('198.18.2.0/24')?.name, 'c');
  t.equal(
    new Networks({
      cluster,
      driver: new FakeOverlay(),
      overlays: new Overlays(new FakeOverlay()),
      state: new LocalState({ save: () => undefined }, { version: 1, endpoints: [], ipamBlocks: [] }),
      log: silentLogger,
    }).list().length,
    3,
  );
});

t.test('encrypted: part of the definition, created only when every live member reads the flag', async (t) => {
  const { cluster, networks } = setup();
  cluster.addMember({ peerId: 'h2', name: 'h2', proto: 3 });
  cluster.addMember({ peerId: 'old', name: 'old', proto: 2 });
  await t.rejects(
    networks.create(decodeCreateNetwork({ name: 'vault', subnet: '198.18.9.0/24', encrypted: true })),
    { field: 'encrypted', message: /old \(generation 2\).*cleartext/ },
    'a live member of an older release would carry it in cleartext',
  );
  cluster.setState('old', 'dead');
  const v = await networks.create(decodeCreateNetwork({ name: 'vault', subnet: '198.18.9.0/24', encrypted: true }));
  t.equal(v.encrypted, true, 'created once only members that read it are live');
  await networks.create(decodeCreateNetwork({ name: 'plain', subnet: '198.18.8.0/24' }));
  await t.rejects(
    networks.create(decodeCreateNetwork({ name: 'plain', subnet: '198.18.8.0/24', encrypted: true })),
    { field: 'encrypted', message: /exists and is not encrypted/ },
    'a plain network is not made encrypted by a create',
  );
  t.equal(
    (await networks.create(decodeCreateNetwork({ name: 'vault', subnet: '198.18.9.0/24' }))).encrypted,
    true,
    'the same definition again (the flag not given) is the existing one',
  );
  t.throws(() => decodeCreateNetwork({ name: 'x', subnet: '198.18.9.0/24', encrypted: 'yes' }), {
    name: 'ValidationError',
    field: 'encrypted',
  });
});

t.test('an IPv6 subnet: created only when every live member reads IPv6 records (generation 4)', async (t) => {
  const { cluster, networks } = setup();
  cluster.addMember({ peerId: 'old', name: 'old', proto: 3 });
  await t.rejects(
    networks.create(decodeCreateNetwork({ name: 'six', subnet6: '2001:db8:9::/64' })),
    { field: 'subnet6', message: /old \(generation 3\).*cannot read IPv6 networks/ },
    'a live generation-3 member would refuse the record (and the batch it came in)',
  );
  await t.rejects(
    networks.create(decodeCreateNetwork({ name: 'dual', subnet: '198.18.9.0/24', subnet6: '2001:db8:9::/64' })),
    { field: 'subnet6', message: /generation 3/ },
    'a dual-stack one too',
  );
  t.equal(
    (await networks.create(decodeCreateNetwork({ name: 'four', subnet: '198.18.8.0/24' }))).subnet6,
    undefined,
    'IPv4-only networks are not held back',
  );
  cluster.setState('old', 'dead');
  const six = await networks.create(decodeCreateNetwork({ name: 'six', subnet6: '2001:DB8:9::/64' }));
  t.match(six, { subnet6: '2001:db8:9::/64', gateway6: '2001:db8:9::1' }, 'canonical, the default gateway ::1');
  t.equal(six.subnet, undefined);
  await t.rejects(
    networks.create(decodeCreateNetwork({ name: 'six', subnet6: '2001:db8:7::/64' })),
    { field: 'name', message: /exists with subnet 2001:db8:9::\/64/ },
    'another IPv6 subnet for the same name is refused',
  );
  t.equal(networks.bySubnet('2001:db8:9::/64')?.name, 'six', 'found by its IPv6 subnet (Docker pools)');
});
