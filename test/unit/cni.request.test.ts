/** The CNI request decoder: every malformed field or variable gets its CNI code and its name. */
import t from 'tap';
import { decodeCniRequest, type CniInvocation } from '../../cni/cni-request.js';
import { cniEndpointId, resultOf } from '../../cni/cni-handler.js';
import { CniError } from '../../cni/cni-errors.js';

const env = (command: string, extra: Record<string, string> = {}) => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: 'abc123',
  CNI_NETNS: '/run/netns/ct1',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/usr/lib/cni',
  ...extra,
});
const conf = (o: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'blue', type: 'vxmesh', ...o });
const inv = (config: string, e: Record<string, string | undefined> = env('ADD')): CniInvocation => ({ env: e, config });

type Test = Pick<typeof t, 'ok' | 'fail' | 'same' | 'match'>;

function refused(t: Test, i: CniInvocation, code: number, field: string, what: string) {
  try {
    decodeCniRequest(i);
    t.fail(`${what}: accepted`);
  } catch (e) {
    t.ok(e instanceof CniError, `${what}: a CniError`);
    t.same({ code: (e as CniError).code, field: (e as CniError).field }, { code, field }, what);
    t.match((e as CniError).message, field.split('[')[0] as string, `${what}: the message names it`);
  }
}

t.test('a good ADD: the network defaults to the CNI name; addresses, name and previous result read', async (t) => {
  const r = decodeCniRequest(
    inv(
      conf({ runtimeConfig: { ips: ['198.18.0.9/24', '2001:db8:5::9'] } }),
      env('ADD', { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=Web-1' }),
    ),
  );
  t.equal(r.network, 'blue');
  t.same(r.ips, { ip: '198.18.0.9', ip6: '2001:db8:5::9' });
  t.equal(r.dnsName, 'web-1', 'the pod name, as a DNS label');
  t.equal(r.containerId, 'abc123');
  t.equal(r.hostRoute, false, 'no host route unless asked');
  t.equal(decodeCniRequest(inv(conf({ hostRoute: true }))).hostRoute, true);
  t.equal(decodeCniRequest(inv(conf({ network: 'red' }))).network, 'red');
  t.same(decodeCniRequest(inv(conf({ subnet: '198.18.7.0/24', vni: 70 }))).create, {
    subnet: '198.18.7.0/24',
    vni: 70,
  });
  const del = decodeCniRequest(inv(conf(), { ...env('DEL'), CNI_NETNS: '' }));
  t.equal(del.netns, undefined, 'DEL without a namespace (it is gone)');
  const gc = decodeCniRequest(
    inv(conf({ 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }] }), { CNI_COMMAND: 'GC' }),
  );
  t.same(gc.validAttachments, [{ containerId: 'c1', ifname: 'eth0' }]);
  t.equal(decodeCniRequest(inv(conf(), { CNI_COMMAND: 'STATUS' })).command, 'STATUS');
});

t.test('every malformed field or variable: its code and its name', async (t) => {
  refused(t, inv('{not json'), 6, 'stdin', 'configuration not JSON');
  refused(t, inv('[1]'), 6, 'stdin', 'configuration not an object');
  refused(t, inv(conf({ cniVersion: '0.3.1' })), 1, 'cniVersion', 'an unsupported version');
  refused(t, inv(JSON.stringify({ name: 'b', type: 'vxmesh' })), 7, 'cniVersion', 'no version');
  refused(t, inv(conf({ type: 'bridge' })), 7, 'type', 'another type');
  refused(t, inv(conf({ name: undefined })), 7, 'name', 'no name');
  refused(t, inv(conf({ network: 'bad name!' })), 7, 'network', 'a bad network name');
  refused(t, inv(conf({ network: 5 })), 7, 'network', 'a network that is no string');
  refused(t, inv(conf({ ipam: { type: 'host-local' } })), 7, 'ipam', 'an ipam section');
  refused(t, inv(conf({ socket: 'relative.sock' })), 7, 'socket', 'a relative socket');
  refused(t, inv(conf({ vni: 'x', subnet: '198.18.0.0/24' })), 7, 'vni', 'a vni that is no integer');
  refused(t, inv(conf({ vni: 7 })), 7, 'subnet', 'creation fields without a subnet');
  refused(t, inv(conf({ subnet: 7 })), 7, 'subnet', 'a subnet that is no string');
  refused(t, inv(conf({ hostRoute: 'yes' })), 7, 'hostRoute', 'hostRoute that is no boolean');
  refused(t, inv(conf({ runtimeConfig: 'x' })), 7, 'runtimeConfig', 'runtimeConfig not an object');
  refused(t, inv(conf({ runtimeConfig: { ips: ['nope'] } })), 7, 'runtimeConfig.ips[0]', 'a bad address');
  refused(
    t,
    inv(conf({ runtimeConfig: { ips: ['198.18.0.1', '198.18.0.2'] } })),
    7,
    'runtimeConfig.ips[1]',
    'two IPv4 addresses',
  );
  refused(t, inv(conf({ args: { cni: { ips: 'x' } } })), 7, 'args.cni.ips', 'args.cni.ips not a list');
  refused(t, inv(conf({ prevResult: [] })), 7, 'prevResult', 'prevResult not an object');
  refused(t, inv(conf(), env('CHECK')), 7, 'prevResult', 'CHECK without prevResult');
  refused(
    t,
    inv(conf({ 'cni.dev/valid-attachments': 'x' }), { CNI_COMMAND: 'GC' }),
    7,
    'cni.dev/valid-attachments',
    'GC list not a list',
  );
  refused(
    t,
    inv(conf({ 'cni.dev/valid-attachments': [{ containerID: 'c1' }] }), { CNI_COMMAND: 'GC' }),
    7,
    'cni.dev/valid-attachments[0].ifname',
    'GC entry without ifname',
  );
  refused(t, inv(conf(), { ...env('ADD'), CNI_COMMAND: 'FROB' }), 4, 'CNI_COMMAND', 'an unknown command');
  refused(t, inv(conf(), { ...env('ADD'), CNI_CONTAINERID: undefined }), 4, 'CNI_CONTAINERID', 'no container id');
  refused(t, inv(conf(), { ...env('ADD'), CNI_CONTAINERID: 'a b' }), 4, 'CNI_CONTAINERID', 'a bad container id');
  refused(
    t,
    inv(conf(), { ...env('ADD'), CNI_IFNAME: 'way-too-long-ifname' }),
    4,
    'CNI_IFNAME',
    'a bad interface name',
  );
  refused(t, inv(conf(), { ...env('ADD'), CNI_NETNS: undefined }), 4, 'CNI_NETNS', 'ADD without a namespace');
  refused(t, inv(conf(), { ...env('ADD'), CNI_NETNS: 'ct1' }), 4, 'CNI_NETNS', 'a namespace that is no path');
  refused(t, inv(conf(), { ...env('ADD'), CNI_ARGS: 'novalue' }), 4, 'CNI_ARGS', 'CNI_ARGS not KEY=VALUE');
});

t.test('endpoint ids of attachments: readable, distinct per interface, within the id rule', async (t) => {
  const a = cniEndpointId('0123456789abcdef'.repeat(4), 'eth0');
  t.match(a, /^cni-0123456789ab-[0-9a-f]{16}$/);
  t.not(a, cniEndpointId('0123456789abcdef'.repeat(4), 'eth1'));
});

t.test('the result: interfaces, ips with gateway, default routes, DNS of the network', async (t) => {
  const ep = {
    id: 'x',
    network: 'blue',
    vni: 1,
    netns: '/run/netns/ct1',
    ifname: 'eth0',
    mac: '02:42:c6:12:00:05',
    ip: '198.18.0.5',
    prefix: 24,
    ip6: '2001:db8:5::5',
    prefix6: 64,
    createdAt: '',
  };
  const n = { name: 'blue', gateway: '198.18.0.1', gateway6: '2001:db8:5::1' } as never;
  t.same(resultOf({ cniVersion: '1.0.0', netns: '/run/netns/ct1' }, ep, n), {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'eth0', mac: '02:42:c6:12:00:05', sandbox: '/run/netns/ct1' }],
    ips: [
      { address: '198.18.0.5/24', gateway: '198.18.0.1', interface: 0 },
      { address: '2001:db8:5::5/64', gateway: '2001:db8:5::1', interface: 0 },
    ],
    routes: [
      { dst: '0.0.0.0/0', gw: '198.18.0.1' },
      { dst: '::/0', gw: '2001:db8:5::1' },
    ],
    dns: { nameservers: ['198.18.0.1', '2001:db8:5::1'], domain: 'blue.vxmesh', search: ['blue.vxmesh'] },
  });
});
