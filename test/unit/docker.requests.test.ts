/**
 * Docker's plugin requests decoded once (docker/requests.ts): typed values, and refusals naming
 * Docker's own field; arbitrary JSON never gets anything but a ValidationError.
 */
import fc from 'fast-check';
import t from 'tap';
import { fieldOf } from '../fixtures/field-of.js';
import { ValidationError } from '../../core/errors.js';
import {
  decodeCreateEndpoint,
  decodeCreateNetwork,
  decodeEndpointCall,
  decodeJoin,
  decodeReleaseAddress,
  decodeRequestAddress,
  decodeRequestPool,
} from '../../docker/requests.js';

const G = 'com.docker.network.generic';
const net = (over: Record<string, unknown> = {}, pool: Record<string, unknown> = {}, generic = {}) => ({
  NetworkID: 'abc123',
  Options: { [G]: { 'vxmesh.network': 'web', ...generic } },
  IPv4Data: [{ Pool: '198.18.50.0/24', Gateway: '198.18.50.1/24', ...pool }],
  ...over,
});

t.test('CreateNetwork: the vxmesh network, its subnet, gateway, aux addresses, VNI and internal flag', async (t) => {
  const call = decodeCreateNetwork(
    net(
      { Options: { [G]: { 'vxmesh.network': 'web', 'vxmesh.vni': '77' }, 'com.docker.network.internal': true } },
      { AuxAddresses: { b: '198.18.50.9', a: '198.18.50.8/24' } },
    ),
  );
  t.same(call, {
    networkId: 'abc123',
    name: 'web',
    subnet: { network: '198.18.50.0', prefix: 24, text: '198.18.50.0/24' },
    gateway: '198.18.50.1',
    vni: 77,
    internal: true,
    encrypted: false,
    reserved: ['198.18.50.8', '198.18.50.9'],
  });
  // Docker's own option name: `-o encrypted` arrives as an empty value, `-o encrypted=true` as "true".
  for (const [value, want] of [
    ['', true],
    ['true', true],
    ['false', false],
  ] as const)
    t.equal(decodeCreateNetwork(net({}, {}, { encrypted: value })).encrypted, want, `-o encrypted=${value}`);
  t.equal(decodeCreateNetwork(net({ Options: {} })).name, undefined, 'no vxmesh.network: named by the engine later');
  t.equal(decodeCreateNetwork(net({}, {}, { 'com.docker.network.driver.mtu': '1400' })).mtu, 1400, 'the MTU option');
  const bad: Array<[unknown, string]> = [
    [net({ NetworkID: 'a-b' }), 'NetworkID'],
    [net({}, {}, { 'vxmesh.network': '' }), `Options.${G}.vxmesh.network`],
    [net({}, {}, { 'com.docker.network.driver.mtu': 'big' }), `Options.${G}.com.docker.network.driver.mtu`],
    [net({}, {}, { 'com.docker.network.driver.mtu': '100' }), `Options.${G}.com.docker.network.driver.mtu`],
    [net({ IPv4Data: [] }), 'IPv4Data'],
    [net({}, { Pool: '198.18.50.0/33' }), 'IPv4Data[0].Pool'],
    [net({}, { Gateway: '198.18.51.1/24' }), 'IPv4Data[0].Gateway'],
    [net({}, { AuxAddresses: { x: '10.0.0.1' } }), 'IPv4Data[0].AuxAddresses.x'],
    [net({}, {}, { 'vxmesh.vni': 'seven' }), `Options.${G}.vxmesh.vni`],
    [net({}, {}, { 'vxmesh.internal': 'maybe' }), `Options.${G}.vxmesh.internal`],
    [net({}, {}, { encrypted: 'yes' }), `Options.${G}.encrypted`],
  ];
  for (const [body, field] of bad)
    t.equal(
      fieldOf(() => decodeCreateNetwork(body)),
      field,
      field,
    );
});

t.test('endpoints, joins and addresses', async (t) => {
  t.same(decodeCreateEndpoint({ NetworkID: 'n1', EndpointID: 'e1', Interface: { Address: '198.18.50.9/24' } }), {
    networkId: 'n1',
    endpointId: 'e1',
    ip: '198.18.50.9',
    prefix: 24,
  });
  t.equal(
    decodeCreateEndpoint({
      NetworkID: 'n1',
      EndpointID: 'e1',
      Interface: { Address: '198.18.50.9/24', MacAddress: '02:42:AA:00:00:01' },
    }).mac,
    '02:42:aa:00:00:01',
  );
  t.equal(
    fieldOf(() => decodeCreateEndpoint({ NetworkID: 'n1', EndpointID: 'e1', Interface: { Address: '198.18.50.9' } })),
    'Interface.Address',
  );
  t.equal(
    fieldOf(() => decodeEndpointCall({ NetworkID: 'n1' })),
    'EndpointID',
  );
  t.equal(
    fieldOf(() => decodeJoin({ NetworkID: 'n1', EndpointID: 'e1' })),
    'SandboxKey',
  );
  t.match(decodeRequestPool({ Pool: '198.18.50.0/24', SubPool: '198.18.50.128/25', V6: false }), {
    v6: false,
    pool: { family: 4, prefix: 24, text: '198.18.50.0/24' },
    subPool: '198.18.50.128/25',
  });
  t.match(decodeRequestPool({ Pool: '2001:DB8:50::/64', SubPool: '2001:db8:50::100/120', V6: true }), {
    v6: true,
    pool: { family: 6, prefix: 64, text: '2001:db8:50::/64' },
    subPool: '2001:db8:50::100/120',
  });
  t.equal(
    fieldOf(() => decodeRequestPool({ Pool: '', V6: true })),
    'Pool',
  );
  t.equal(
    fieldOf(() => decodeRequestPool({ Pool: '198.18.50.0/24', V6: true })),
    'Pool',
    'V6 with an IPv4 pool',
  );
  t.equal(
    fieldOf(() => decodeRequestPool({ Pool: '2001:db8:50::/64' })),
    'Pool',
    'an IPv6 pool without V6',
  );
  t.match(
    decodeRequestAddress({ PoolID: '2001:db8:50::/64', Address: '2001:DB8:50::0005/64' }),
    { pool: { family: 6 }, gateway: false, address: '2001:db8:50::5' },
    'an IPv6 address, canonical',
  );
  t.equal(
    fieldOf(() => decodeRequestAddress({ PoolID: '2001:db8:50::/64', Address: '198.18.50.5' })),
    'Address',
  );
  const ep = decodeCreateEndpoint({
    NetworkID: 'n1',
    EndpointID: 'e1',
    Interface: { Address: '198.18.50.5/24', AddressIPv6: '2001:db8:50::5/64' },
  });
  t.match(ep, { ip: '198.18.50.5', ip6: '2001:db8:50::5', prefix6: 64 });
  t.equal(
    fieldOf(() =>
      decodeCreateEndpoint({
        NetworkID: 'n1',
        EndpointID: 'e1',
        Interface: { Address: '198.18.50.5/24', AddressIPv6: '2001:db8::5' },
      }),
    ),
    'Interface.AddressIPv6',
  );
  const net = decodeCreateNetwork({
    NetworkID: 'n1',
    IPv4Data: [{ Pool: '198.18.50.0/24' }],
    IPv6Data: [{ Pool: '2001:db8:50::/64', Gateway: '2001:db8:50::1/64', AuxAddresses: { a: '2001:db8:50::9' } }],
  });
  t.match(net, { subnet6: { text: '2001:db8:50::/64' }, gateway6: '2001:db8:50::1', reserved6: ['2001:db8:50::9'] });
  t.equal(
    fieldOf(() =>
      decodeCreateNetwork({
        NetworkID: 'n1',
        IPv4Data: [{ Pool: '198.18.50.0/24' }],
        IPv6Data: [{ Pool: '2001:db8:50::/64', Gateway: '2001:db8:51::1' }],
      }),
    ),
    'IPv6Data[0].Gateway',
  );
  t.equal(
    fieldOf(() => decodeRequestPool({ Pool: '' })),
    'Pool',
  );
  t.match(
    decodeRequestAddress({
      PoolID: '198.18.50.0/24',
      Address: '198.18.50.1',
      Options: { RequestAddressType: 'com.docker.network.gateway' },
    }),
    { pool: { family: 4, prefix: 24, text: '198.18.50.0/24' }, gateway: true, address: '198.18.50.1' },
  );
  t.equal(
    fieldOf(() => decodeReleaseAddress({ PoolID: '198.18.50.0/24', Address: 'x' })),
    'Address',
  );
});

t.test('property: any JSON body gets a typed call or a ValidationError naming a field', async (t) => {
  const decoders = [
    decodeCreateNetwork,
    decodeCreateEndpoint,
    decodeJoin,
    decodeRequestPool,
    decodeRequestAddress,
    decodeReleaseAddress,
  ];
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue(), fc.anything()), (body) =>
      decoders.every((decode) => {
        try {
          decode(body);
          return true;
        } catch (e) {
          return e instanceof ValidationError && !!e.field;
        }
      }),
    ),
    { numRuns: 2000, seed: 20261206 },
  );
  t.pass('2000 bodies through every decoder');
});
