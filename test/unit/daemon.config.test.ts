/** Agent configuration: precedence and errors that name the setting. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { DEFAULTS, loadConfig } from '../../daemon/config.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-cfg-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const file = path.join(dir, 'agent.json');
fs.writeFileSync(
  file,
  JSON.stringify({ name: 'fromfile', vxlanPort: 4790, join: ['198.51.100.1:7946'], logLevel: 'debug' }),
);

t.test('defaults', async (t) => {
  const c = loadConfig({ flags: {}, env: { VXMESH_INSECURE: 'true' } });
  t.equal(c.listen, '0.0.0.0:7946');
  t.equal(c.stateDir, '/var/lib/vxmesh');
  t.equal(c.socket, '/run/vxmesh/vxmesh.sock');
  t.equal(c.netnsPrefix, 'vx-');
  t.equal(c.vxlanPort, 4789);
  t.equal(c.name, DEFAULTS.name);
});

t.test('flags > environment > file > defaults', async (t) => {
  const c = loadConfig({
    flags: { config: file, 'vxlan-port': '4791' },
    env: { VXMESH_NAME: 'fromenv', VXMESH_VXLAN_PORT: '4792', VXMESH_CLUSTER_KEY: '/etc/vxmesh/cluster.key' },
  });
  t.equal(c.vxlanPort, 4791, 'flag wins');
  t.equal(c.name, 'fromenv', 'environment over file');
  t.equal(c.logLevel, 'debug', 'file over default');
  t.same(c.join, ['198.51.100.1:7946']);
  t.same(
    loadConfig({ flags: { join: '198.51.100.1:7946, 198.51.100.2', insecure: 'true' }, env: {} }).join,
    ['198.51.100.1:7946', '198.51.100.2'],
    'comma list, default port allowed',
  );
});

t.test('bad values name the setting and where it came from', async (t) => {
  const err = (src: Parameters<typeof loadConfig>[0]) => {
    try {
      loadConfig(src);
      return '';
    } catch (e) {
      return (e as Error).message;
    }
  };
  t.match(err({ flags: { 'vxlan-port': '70000' }, env: {} }), /^--vxlan-port: must be an integer in 1\.\.65535/);
  t.match(
    err({ flags: { 'dns-client-rate': '0' }, env: {} }),
    /^--dns-client-rate: must be an integer in 1\.\.1000000/,
  );
  t.equal(
    loadConfig({ flags: { 'dns-client-rate': '50', insecure: true }, env: {} }).dnsClientRate,
    50,
    '--dns-client-rate read',
  );
  t.match(err({ flags: {}, env: { VXMESH_VTEP: 'nope' } }), /^VXMESH_VTEP: "nope" is not an IPv4 or IPv6 address/);
  t.match(
    err({ flags: { vtep: '2001:db8:100::11', join: '198.51.100.12:7946' }, env: {} }),
    /^join: 198\.51\.100\.12:7946 is an IPv4 address and this host's VTEP 2001:db8:100::11 is IPv6/,
    'a host of the other family is refused, naming the family',
  );
  t.match(err({ flags: { listen: 'host-without-port' }, env: {} }), /^--listen: invalid port/);
  t.match(err({ flags: { join: '198.51.100.1:7946,bad:port' }, env: {} }), /^--join\[1\]: invalid port/);
  t.match(err({ flags: { 'log-level': 'loud' }, env: {} }), /^--log-level: must be one of/);
  t.match(
    err({ flags: { store: '198.51.100.11:2379' }, env: {} }),
    /^--store: "198\.51\.100\.11:2379" must start with etcd:\/\//,
  );
  t.match(err({ flags: {}, env: { VXMESH_STORE: 'etcd://h:1,h' } }), /^VXMESH_STORE: endpoint 2 "h" must be HOST:PORT/);
  t.match(err({ flags: { 'store-prefix': 'vxmesh' }, env: {} }), /^--store-prefix: "vxmesh" is not a key prefix/);
  t.equal(
    loadConfig({ flags: { store: 'etcd://198.51.100.11:2379', insecure: 'true' }, env: {} }).store,
    'etcd://198.51.100.11:2379',
  );
  fs.writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({ frobnicate: 1 }));
  t.match(err({ flags: { config: path.join(dir, 'bad.json') }, env: {} }), /bad\.json: frobnicate: unknown setting/);
  t.match(err({ flags: { config: path.join(dir, 'missing.json') }, env: {} }), /^--config: cannot read/);
});

t.test('closed by default: no key and no --insecure is refused, naming cluster-key and the way out', async (t) => {
  t.throws(() => loadConfig({ flags: {}, env: {} }), {
    name: 'ValidationError',
    field: 'cluster-key',
    message: /vxmesh keygen \/etc\/vxmesh\/cluster\.key[\s\S]*--cluster-key[\s\S]*--insecure/,
  });
  t.equal(loadConfig({ flags: { 'cluster-key': '/k' }, env: {} }).clusterKey, '/k', 'a key file');
  t.equal(loadConfig({ flags: { insecure: 'true' }, env: {} }).insecure, true, 'an open cluster on purpose');
  fs.writeFileSync(path.join(dir, 'keyed.json'), JSON.stringify({ clusterKey: '/etc/vxmesh/cluster.key' }));
  t.equal(
    loadConfig({ flags: { config: path.join(dir, 'keyed.json') }, env: {} }).clusterKey,
    '/etc/vxmesh/cluster.key',
    'from the config file',
  );
  t.throws(
    () => loadConfig({ flags: { 'cluster-key': '/k', insecure: 'true' }, env: {} }),
    { name: 'ValidationError', field: 'insecure' },
    'both: refused',
  );
});

t.test('--dns-upstream: IPv4 or IPv6 with an optional port, errors name the setting', async (t) => {
  const up = (v: string) => loadConfig({ flags: { 'dns-upstream': v, insecure: 'true' }, env: {} }).dnsUpstream;
  t.equal(up('203.0.113.53'), '203.0.113.53');
  t.equal(up('203.0.113.53:5353'), '203.0.113.53:5353');
  t.equal(up('[2001:db8:100::53]:5353'), '[2001:db8:100::53]:5353');
  t.equal(up('2001:db8:100::53'), '[2001:db8:100::53]', 'a bare IPv6 address: port 53');
  for (const bad of ['resolver.example', '203.0.113.53:99999', '[2001:db8::zz]:53', '2001:db8::53:5353:1:2:3:4'])
    t.throws(() => up(bad), /--dns-upstream/, bad);
});

t.test('an IPv6 VTEP: canonical, with joins of its family', async (t) => {
  const c = loadConfig({
    flags: { vtep: '2001:DB8:100:0::11', join: '[2001:db8:100::12]:7946', insecure: 'true' },
    env: {},
  });
  t.equal(c.vtep, '2001:db8:100::11', 'canonical text');
  t.same(c.join, ['[2001:db8:100::12]:7946']);
});
