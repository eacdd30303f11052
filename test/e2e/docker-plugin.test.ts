/**
 * The Docker plugin protocol against real agents and the real kernel: requests shaped exactly as
 * Docker 20.10 sends them (recorded samples), on the plugin's unix socket. A test with real Docker
 * engines is in docker.e2e.test.ts.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import t from 'tap';
import { $ } from 'zx';
import { Cluster } from '../../sim/cluster.js';
import { ipLinks, snapshot } from '../fixtures/kernel.js';
import { eventually } from '../fixtures/members.js';
import { inProcessCli } from '../fixtures/in-process-cli.js';

$.verbose = false;
$.quiet = true;

const c = await Cluster.create(2, 'dkp', { cli: inProcessCli });
t.teardown(() => c.teardown());
const pluginDir = (i: number) => path.join(c.dir, `plugins-h${i}`);
for (const i of [1, 2]) {
  fs.mkdirSync(pluginDir(i), { recursive: true });
  await c.startAgent(i, { args: ['--docker-plugin', 'true', '--plugin-dir', pluginDir(i), '--ipam-settle-ms', '300'] });
}

function call(
  i: number,
  p: string,
  body: unknown,
  raw?: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const data = raw ?? (body === null ? '' : JSON.stringify(body));
    // Docker sends no Content-Type and accepts v1.2+json.
    const req = http.request(
      {
        socketPath: path.join(pluginDir(i), 'vxmesh.sock'),
        method: 'POST',
        path: p,
        headers: { Accept: 'application/vnd.docker.plugins.v1.2+json' },
      },
      (res) => {
        let s = '';
        res.on('data', (d: Buffer) => (s += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(s) as Record<string, unknown> }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

const NID1 = '573ee98cdeb69850f3037cfffcfd468e58e2ab0ab1ea0651dfb02c32eaf27b9e';
const NID2 = '41332c12977f326b8fe50fdbabd879e19af65092fceb8f10aedafc835053c5f2';
const EID1 = '7b746e5e38609e272349b6d6fad3eabc9d2a287b2f2f71f69f11087601457321';
const EID2 = '26a21c198f67f3112c646805a28de4b26eb9f271bf796a08ccf51ceecbcfe8fc';
const createNet = (nid: string, name: string, pool = '198.18.40.0/24') => ({
  NetworkID: nid,
  Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': { 'vxmesh.network': name } },
  IPv4Data: [{ AddressSpace: 'vxmesh-local', Gateway: `${pool.replace(/0\/24$/, '1')}/24`, Pool: pool }],
  IPv6Data: [],
});

t.test('activation and capabilities', async (t) => {
  t.same((await call(1, '/Plugin.Activate', null)).json, { Implements: ['NetworkDriver', 'IpamDriver'] });
  t.same((await call(1, '/NetworkDriver.GetCapabilities', null)).json, { Scope: 'local', ConnectivityScope: 'global' });
  t.same((await call(1, '/IpamDriver.GetCapabilities', null)).json, { RequiresMACAddress: false });
  t.ok((await call(1, '/IpamDriver.GetDefaultAddressSpaces', null)).json.LocalDefaultAddressSpace);
});

t.test('network create on two engines, IPAM, endpoint join: the peer host programs it', async (t) => {
  // IPAM as Docker calls it for `docker network create --ipam-driver vxmesh --subnet ...`.
  const pool = await call(1, '/IpamDriver.RequestPool', {
    AddressSpace: 'vxmesh-local',
    Pool: '198.18.40.0/24',
    SubPool: '',
    Options: {},
    V6: false,
  });
  t.equal(pool.status, 200);
  t.equal(pool.json.PoolID, '198.18.40.0/24');
  const gw = await call(1, '/IpamDriver.RequestAddress', {
    PoolID: pool.json.PoolID,
    Address: '',
    Options: { RequestAddressType: 'com.docker.network.gateway' },
  });
  t.equal(gw.json.Address, '198.18.40.1/24', 'first address as gateway');
  t.same((await call(1, '/NetworkDriver.CreateNetwork', createNet(NID1, 'dockernet'))).json, {});
  // Engine 2 has its own NetworkID for the same vxmesh network.
  t.ok(
    await eventually(
      async () => (await c.vxJson<Array<{ name: string }>>(2, ['network', 'ls'])).some((n) => n.name === 'dockernet'),
      5000,
    ),
  );
  t.same((await call(2, '/NetworkDriver.CreateNetwork', createNet(NID2, 'dockernet'))).json, {});
  // A container on engine 1: address from vxmesh IPAM, then CreateEndpoint without a MAC, Join.
  const addr = await call(1, '/IpamDriver.RequestAddress', { PoolID: '198.18.40.0/24', Address: '', Options: {} });
  t.equal(addr.status, 200, JSON.stringify(addr.json));
  const ip = String(addr.json.Address).split('/')[0] as string;
  const ce = await call(1, '/NetworkDriver.CreateEndpoint', {
    NetworkID: NID1,
    EndpointID: EID1,
    Interface: { Address: addr.json.Address, AddressIPv6: '', MacAddress: '' },
    Options: {},
  });
  const mac = (ce.json.Interface as { MacAddress: string }).MacAddress;
  t.match(mac, /^02:42:c6:12:28:/, 'MAC derived from the IP and returned');
  const join = await call(1, '/NetworkDriver.Join', {
    NetworkID: NID1,
    EndpointID: EID1,
    SandboxKey: '/var/run/docker/netns/4ae739367600',
    Options: {},
  });
  // Changed with egress (issue 12): no Gateway, so Docker adds its docker_gwbridge leg.
  t.same(join.json, { InterfaceName: { SrcName: `vxm${EID1.slice(0, 12)}`, DstPrefix: 'eth' } });
  const links = await ipLinks(c.tb.host(1).netns);
  const src = links.find((l) => l.ifname === `vxm${EID1.slice(0, 12)}`);
  t.ok(src, 'the container end waits in the engine namespace under SrcName');
  t.equal(src?.address, mac);
  t.equal(src?.mtu, 1450, 'with the overlay MTU');
  t.same(
    (await call(1, '/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NID1, EndpointID: EID1, Options: {} }))
      .json,
    {},
  );
  t.same((await call(1, '/NetworkDriver.EndpointOperInfo', { NetworkID: NID1, EndpointID: EID1 })).json, { Value: {} });
  // Host 2 (with an endpoint of its own, so it has the overlay) programs host 1's container.
  const ct2 = await c.tb.addContainer(2, 1);
  await c.vx(2, ['attach', 'dockernet', '--netns', ct2]);
  t.ok(
    await eventually(
      async () =>
        (
          await $`bridge -n ${c.overlayPrefix(2)}${(await c.vxJson<Array<{ name: string; vni: number }>>(2, ['network', 'ls']))[0]?.vni} fdb show`
        ).stdout.includes(mac),
      5000,
    ),
    'host 2 has the fdb entry',
  );
  t.ok(
    (await c.vxJson<Array<{ ip: string }>>(2, ['endpoints', 'dockernet'])).some((e) => e.ip === ip),
    'host 2 lists the endpoint',
  );
  // docker stop / rm: Revoke, Leave, ReleaseAddress, DeleteEndpoint.
  t.same((await call(1, '/NetworkDriver.RevokeExternalConnectivity', { NetworkID: NID1, EndpointID: EID1 })).json, {});
  t.same((await call(1, '/NetworkDriver.Leave', { NetworkID: NID1, EndpointID: EID1 })).json, {});
  t.same((await call(1, '/IpamDriver.ReleaseAddress', { PoolID: '198.18.40.0/24', Address: ip })).json, {});
  t.same((await call(1, '/NetworkDriver.DeleteEndpoint', { NetworkID: NID1, EndpointID: EID1 })).json, {});
  t.ok(
    await eventually(
      async () => !(await c.vxJson<Array<{ ip: string }>>(2, ['endpoints', 'dockernet'])).some((e) => e.ip === ip),
      5000,
    ),
    'withdrawn from host 2',
  );
  t.notOk(
    (await ipLinks(c.tb.host(1).netns)).some((l) => l.ifname === `vxm${EID1.slice(0, 12)}`),
    'veth gone',
  );
});

t.test('a MAC given by Docker (--mac-address) is used; mappings survive an agent restart', async (t) => {
  const ce = await call(1, '/NetworkDriver.CreateEndpoint', {
    NetworkID: NID1,
    EndpointID: EID2,
    Interface: { Address: '198.18.40.50/24', AddressIPv6: '', MacAddress: '02:42:0a:4d:00:32' },
    Options: {},
  });
  t.same(ce.json, {}, 'nothing to return when Docker chose the MAC');
  await c.stopAgent(1);
  await c.startAgent(1, {
    args: ['--docker-plugin', 'true', '--plugin-dir', pluginDir(1), '--ipam-settle-ms', '300'],
    join: [2],
  });
  const join = await call(1, '/NetworkDriver.Join', {
    NetworkID: NID1,
    EndpointID: EID2,
    SandboxKey: '/x',
    Options: {},
  });
  t.equal(join.status, 200, 'NetworkID and EndpointID known after the restart (no CreateNetwork replay)');
  t.equal(
    (await ipLinks(c.tb.host(1).netns)).find((l) => l.ifname === `vxm${EID2.slice(0, 12)}`)?.address,
    '02:42:0a:4d:00:32',
  );
  await call(1, '/NetworkDriver.Leave', { NetworkID: NID1, EndpointID: EID2 });
  await call(1, '/NetworkDriver.DeleteEndpoint', { NetworkID: NID1, EndpointID: EID2 });
});

t.test('malformed requests get error replies; the agent keeps serving; no kernel change', async (t) => {
  const before = await snapshot([c.tb.host(1).netns]);
  const cases: Array<[string, string, unknown, string | undefined, number, RegExp, 'Err' | 'Error']> = [
    [
      'bad JSON',
      '/NetworkDriver.CreateEndpoint',
      null,
      '{"NetworkID":',
      400,
      /body: request body is not valid JSON/,
      'Err',
    ],
    [
      'unknown NetworkID',
      '/NetworkDriver.CreateEndpoint',
      { NetworkID: 'abc123', EndpointID: 'e1', Interface: { Address: '198.18.40.9/24' } },
      undefined,
      404,
      /NetworkID: unknown network abc123/,
      'Err',
    ],
    [
      'unknown EndpointID',
      '/NetworkDriver.Join',
      { NetworkID: NID1, EndpointID: 'deadbeef', SandboxKey: '/x' },
      undefined,
      404,
      /EndpointID: unknown endpoint deadbeef/,
      'Err',
    ],
    ['missing fields', '/NetworkDriver.Join', { NetworkID: NID1 }, undefined, 400, /EndpointID/, 'Err'],
    [
      'missing vxmesh.network',
      '/NetworkDriver.CreateNetwork',
      { NetworkID: 'aaa', Options: {}, IPv4Data: [{ Pool: '198.18.41.0/24' }] },
      undefined,
      400,
      /vxmesh\.network: required/,
      'Err',
    ],
    [
      'subnet mismatch',
      '/NetworkDriver.CreateNetwork',
      createNet('bbb', 'dockernet', '198.18.42.0/24'),
      undefined,
      400,
      /exists with subnet 198\.18\.40\.0\/24/,
      'Err',
    ],
    [
      'address outside subnet',
      '/NetworkDriver.CreateEndpoint',
      { NetworkID: NID1, EndpointID: 'ccc', Interface: { Address: '198.18.40.9/16' } },
      undefined,
      400,
      /Interface\.Address/,
      'Err',
    ],
    [
      'IPv6 pool without a subnet',
      '/IpamDriver.RequestPool',
      { AddressSpace: 'x', Pool: '', V6: true },
      undefined,
      400,
      /Pool: a subnet is required: .* with --ipv6, --subnet IPV6-CIDR/,
      'Error',
    ],
    [
      'no subnet',
      '/IpamDriver.RequestPool',
      { AddressSpace: 'x', Pool: '', V6: false },
      undefined,
      400,
      /Pool: a subnet is required/,
      'Error',
    ],
    ['unknown call', '/NetworkDriver.Frobnicate', {}, undefined, 404, /not implemented/, 'Err'],
    [
      'huge body',
      '/NetworkDriver.CreateNetwork',
      null,
      `{"x":"${'a'.repeat(2 * 1024 * 1024)}"}`,
      413,
      /exceeds/,
      'Err',
    ],
  ];
  for (const [name, p, body, raw, status, re, key] of cases) {
    const r = await call(1, p, body, raw);
    t.equal(r.status, status, `${name}: HTTP ${status}`);
    t.match(String(r.json[key]), re, `${name}: ${String(r.json[key])}`);
  }
  t.equal(await snapshot([c.tb.host(1).netns]), before, 'kernel unchanged');
  t.same((await call(1, '/Plugin.Activate', null)).json.Implements, ['NetworkDriver', 'IpamDriver'], 'still serving');
});
