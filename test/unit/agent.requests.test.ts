/**
 * The agent's request decoders (agent/requests.ts): typed values out, every refusal a ValidationError
 * naming its field; arbitrary JSON never gets anything else.
 */
import fc from 'fast-check';
import t from 'tap';
import { fieldOf } from '../fixtures/field-of.js';
import { decodeAttach, decodeCreateNetwork, decodeDetach } from '../../agent/requests.js';
import { ValidationError } from '../../core/errors.js';

t.test('create network: the definition as given, the VNI and gateway left to the agent when absent', async (t) => {
  t.same(decodeCreateNetwork({ name: 'blue', subnet: '198.18.5.0/24' }), { name: 'blue', subnet: '198.18.5.0/24' });
  t.same(
    decodeCreateNetwork({
      name: 'blue',
      subnet: '198.18.5.0/24',
      vni: 42,
      gateway: '198.18.5.254',
      mtu: 1400,
      internal: true,
      ipRange: '198.18.5.128/25',
      reserved: ['198.18.5.9', '198.18.5.9'],
      options: { a: 'b' },
    }),
    {
      name: 'blue',
      subnet: '198.18.5.0/24',
      vni: 42,
      gateway: '198.18.5.254',
      mtu: 1400,
      internal: true,
      ipRange: '198.18.5.128/25',
      reserved: ['198.18.5.9'],
      options: { a: 'b' },
    },
  );
  const bad: Array<[unknown, string]> = [
    [null, 'body'],
    [[], 'body'],
    [{ subnet: '198.18.5.0/24' }, 'name'],
    [{ name: 'bad name!', subnet: '198.18.5.0/24' }, 'name'],
    [{ name: 'b', subnet: '198.18.5.0/33' }, 'subnet'],
    [{ name: 'b', subnet: '198.18.5.1/24' }, 'subnet'],
    [{ name: 'b', subnet: '198.18.5.0/24', vni: 0 }, 'vni'],
    [{ name: 'b', subnet: '198.18.5.0/24', gateway: '198.18.6.1' }, 'gateway'],
    [{ name: 'b', subnet: '198.18.5.0/24', gateway: '198.18.5.0' }, 'gateway'],
    [{ name: 'b', subnet: '198.18.5.0/24', mtu: 100 }, 'mtu'],
    [{ name: 'b', subnet: '198.18.5.0/24', internal: 'yes' }, 'internal'],
    [{ name: 'b', subnet: '198.18.5.0/24', ipRange: '198.18.6.0/25' }, 'ipRange'],
    [{ name: 'b', subnet: '198.18.5.0/24', reserved: ['198.18.6.1'] }, 'reserved[0]'],
  ];
  for (const [body, field] of bad)
    t.equal(
      fieldOf(() => decodeCreateNetwork(body)),
      field,
      JSON.stringify(body),
    );
});

t.test('attach: typed values (port mappings, labels, a MAC in lower case), refusals naming the field', async (t) => {
  t.same(
    decodeAttach({
      network: 'blue',
      netns: 'ct1',
      ip: '198.18.5.9',
      mac: '02:AA:00:00:00:01',
      ifname: 'eth1',
      id: 'e1',
      configure: false,
      publish: ['8080:80', '5353:53/udp'],
      name: 'Web1',
      aliases: 'API',
    }),
    {
      network: 'blue',
      netns: 'ct1',
      ifname: 'eth1',
      ip: '198.18.5.9',
      mac: '02:aa:00:00:00:01',
      id: 'e1',
      configure: false,
      publish: [
        { protocol: 'tcp', hostPort: 8080, port: 80 },
        { protocol: 'udp', hostPort: 5353, port: 53 },
      ],
      name: 'web1',
      aliases: ['api'],
    },
  );
  t.same(decodeAttach({ network: 'blue', netns: 'ct1', name: null }), { network: 'blue', netns: 'ct1' });
  const bad: Array<[unknown, string]> = [
    ['x', 'body'],
    [{ netns: 'ct1' }, 'network'],
    [{ network: 'blue' }, 'netns'],
    [{ network: 'blue', netns: '' }, 'netns'],
    [{ network: 'blue', netns: 'ct1', ip: '198.18.5' }, 'ip'],
    [{ network: 'blue', netns: 'ct1', mac: 'zz' }, 'mac'],
    [{ network: 'blue', netns: 'ct1', ifname: 'a/b' }, 'ifname'],
    [{ network: 'blue', netns: 'ct1', id: 'a b' }, 'id'],
    [{ network: 'blue', netns: 'ct1', configure: 'no' }, 'configure'],
    [{ network: 'blue', netns: 'ct1', publish: 'nonsense' }, 'publish[0]'],
    [{ network: 'blue', netns: 'ct1', publish: ['80:80', '80:81'] }, 'publish'],
    [{ network: 'blue', netns: 'ct1', name: 'a_b' }, 'name'],
    [{ network: 'blue', netns: 'ct1', aliases: ['ok', '-no'] }, 'aliases[1]'],
  ];
  for (const [body, field] of bad)
    t.equal(
      fieldOf(() => decodeAttach(body)),
      field,
      JSON.stringify(body),
    );
});

t.test('detach: by namespace or by id; neither is refused naming netns', async (t) => {
  t.same(decodeDetach({ network: 'blue', netns: 'ct1' }), { network: 'blue', netns: 'ct1' });
  t.same(decodeDetach({ network: 'blue', id: 'e1', ifname: 'eth1' }), { network: 'blue', id: 'e1', ifname: 'eth1' });
  t.equal(
    fieldOf(() => decodeDetach({ network: 'blue' })),
    'netns',
  );
  t.equal(
    fieldOf(() => decodeDetach({ netns: 'ct1' })),
    'network',
  );
  t.equal(
    fieldOf(() => decodeDetach({ network: 'blue', id: 7 })),
    'id',
  );
});

t.test('property: any JSON body gets a typed request or a ValidationError, never another error', async (t) => {
  let refused = 0;
  const near = fc.record(
    {
      name: fc.oneof(fc.constant('blue'), fc.anything()),
      network: fc.oneof(fc.constant('blue'), fc.anything()),
      netns: fc.oneof(fc.constant('ct1'), fc.anything()),
      subnet: fc.oneof(fc.constant('198.18.5.0/24'), fc.anything()),
      ip: fc.oneof(fc.constant('198.18.5.9'), fc.anything()),
      publish: fc.anything(),
      aliases: fc.anything(),
      reserved: fc.anything(),
      mtu: fc.anything(),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue(), near), (body) => {
      for (const decode of [decodeCreateNetwork, decodeAttach, decodeDetach]) {
        try {
          decode(body);
        } catch (e) {
          if (!(e instanceof ValidationError) || !e.field) return false;
          refused++;
        }
      }
      return true;
    }),
    { numRuns: 3000, seed: 20261206 },
  );
  t.ok(refused > 3000, `most generated bodies refused (${refused} refusals of 9000 decodes)`);
});
