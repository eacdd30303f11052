/**
 * The CNI plugin as a runtime runs it: the launcher executable (`vxmesh cni install`) started with the
 * `CNI_*` variables and the configuration on stdin, against real agents on two simulated hosts.
 * ADD/DEL/CHECK/STATUS/GC/VERSION, a CNI container reaching a `vxmesh attach` namespace on the other
 * host, DEL after the namespace is gone and after an agent restart, CHECK finding drift.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { $ } from 'zx';
import { Cluster } from '../../sim/cluster.js';
import { eventually } from '../fixtures/members.js';
import { inProcessCli } from '../fixtures/in-process-cli.js';
import { isOurs } from '../../cni/install.js';

$.verbose = false;
$.quiet = true;

const c = await Cluster.create(2, 'cni', { cli: inProcessCli });
t.teardown(() => c.teardown());
const pluginDir = path.join(c.dir, 'cni-bin');
await c.vx(1, ['cni', 'install', '--dir', pluginDir]);
const plugin = path.join(pluginDir, 'vxmesh');
for (const i of [1, 2]) await c.startAgent(i);
await c.vx(1, ['network', 'create', 'blue', '--subnet', '198.18.60.0/24', '--vni', '6001']);
await eventually(async () => (await c.vx(2, ['network', 'inspect', 'blue'], { nothrow: true })).exitCode === 0, 15_000);

interface Call {
  code: number;
  out: { code?: number; msg?: string; details?: string; [k: string]: unknown } | undefined;
}

/** Runs the installed plugin as a runtime does (stdin, CNI_* variables, nothing else of ours). */
function cni(host: number, env: Record<string, string>, config: Record<string, unknown>): Promise<Call> {
  return new Promise((resolve, reject) => {
    const child = spawn(plugin, [], {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CNI_PATH: pluginDir, VXMESH_SOCKET: c.socket(host), ...env },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code: code ?? -1, out: stdout.trim() ? (JSON.parse(stdout) as Call['out']) : undefined }),
    );
    child.stdin.end(JSON.stringify({ cniVersion: '1.0.0', name: 'blue', type: 'vxmesh', ...config }));
  });
}
const vars = (command: string, containerId: string, netns?: string, ifname = 'eth0') => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: containerId,
  CNI_IFNAME: ifname,
  ...(netns ? { CNI_NETNS: `/run/netns/${netns}` } : {}),
});
const endpointsOf = async (host: number) =>
  c.vxJson<Array<{ id: string; ip: string; host: string; name?: string }>>(host, ['endpoints', 'blue']);
const fdbHas = async (host: number, mac: string) =>
  (await $`bridge -n ${c.overlayPrefix(host)}6001 fdb show dev vxlan6001`).stdout.includes(mac);

t.test('the installed plugin: a launcher of ours; VERSION answered without the agent', async (t) => {
  t.ok(isOurs(plugin), 'marked as ours (uninstall and reset remove it)');
  t.equal(fs.statSync(plugin).mode & 0o777, 0o755);
  const v = await cni(1, { CNI_COMMAND: 'VERSION', VXMESH_SOCKET: '/nonexistent.sock' }, {});
  t.same(v, { code: 0, out: { cniVersion: '1.0.0', supportedVersions: ['1.0.0', '1.1.0'] } });
});

t.test(
  'ADD on two hosts: the standard result, the containers and a vxmesh attach namespace reach each other',
  async (t) => {
    const ns1 = await c.tb.addContainer(1, 1);
    const ns2 = await c.tb.addContainer(2, 1);
    const plain = await c.tb.addContainer(2, 2);
    const a1 = await cni(1, { ...vars('ADD', 'ctr-one', ns1), CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web' }, {});
    t.equal(a1.code, 0, JSON.stringify(a1.out));
    const r1 = a1.out as {
      interfaces: Array<{ name: string; mac: string; sandbox: string }>;
      ips: Array<{ address: string; gateway: string; interface: number }>;
      routes: unknown[];
      dns: { nameservers: string[]; search: string[] };
    };
    t.equal(r1.interfaces[0]?.name, 'eth0');
    t.equal(r1.interfaces[0]?.sandbox, `/run/netns/${ns1}`);
    t.match(r1.ips[0], { address: /^198\.18\.60\.\d+\/24$/, gateway: '198.18.60.1', interface: 0 });
    t.same(r1.routes, [{ dst: '0.0.0.0/0', gw: '198.18.60.1' }]);
    t.same(r1.dns, { nameservers: ['198.18.60.1'], domain: 'blue.vxmesh', search: ['blue.vxmesh'] });
    const a2 = await cni(2, vars('ADD', 'ctr-two', ns2), { runtimeConfig: { ips: ['198.18.60.222/24'] } });
    t.equal(a2.code, 0, JSON.stringify(a2.out));
    t.equal(
      (a2.out as { ips: Array<{ address: string }> }).ips[0]?.address,
      '198.18.60.222/24',
      'the address the runtime asked for',
    );
    const p = await c.vxJson<{ ip: string }>(2, ['attach', 'blue', '--netns', plain]);
    const ip1 = r1.ips[0]?.address.split('/')[0] as string;
    t.ok(
      await eventually(() => c.tb.ping(ns2, ip1, { count: 1, timeoutS: 1 }), 20_000),
      'CNI container → CNI container on the other host',
    );
    t.ok(
      await eventually(() => c.tb.ping(plain, ip1, { count: 1, timeoutS: 1 }), 20_000),
      'vxmesh attach namespace → CNI container',
    );
    t.ok(await c.tb.ping(ns1, p.ip, { count: 1, timeoutS: 2 }), 'CNI container → vxmesh attach namespace');
    const mine = (await endpointsOf(1)).find((e) => e.ip === ip1);
    t.equal(mine?.name, 'web', 'K8S_POD_NAME is the DNS name');
    const again = await cni(1, vars('ADD', 'ctr-one', ns1), {});
    t.same([again.code, again.out?.code, again.out?.details], [1, 100, 'field: CNI_IFNAME'], 'ADD twice: refused');
    const taken = await cni(1, vars('ADD', 'ctr-other', ns1), {});
    t.same([taken.code, taken.out?.code], [1, 100], 'an interface of that name exists in the namespace: refused');

    await t.test('CHECK: the result matches; drift in the container is found', async (t) => {
      t.same(await cni(1, vars('CHECK', 'ctr-one', ns1), { prevResult: r1 }), { code: 0, out: undefined });
      const wrongPrev = { ...r1, ips: [{ address: '198.18.60.99/24', interface: 0 }] };
      const w = await cni(1, vars('CHECK', 'ctr-one', ns1), { prevResult: wrongPrev });
      t.same([w.code, w.out?.details], [1, 'field: prevResult.ips'], 'a prevResult that is not what was attached');
      await $`ip -n ${ns1} addr flush dev eth0`;
      const d = await cni(1, vars('CHECK', 'ctr-one', ns1), { prevResult: r1 });
      t.equal(d.code, 1);
      t.match(d.out?.msg, /lacks address 198\.18\.60\.\d+\/24/, 'the address removed by hand');
      const unknown = await cni(1, vars('CHECK', 'nobody', ns1), { prevResult: r1 });
      t.same([unknown.code, unknown.out?.code], [1, 3], 'an unknown container: code 3');
    });

    await t.test('DEL: withdrawn from the other host; again: success', async (t) => {
      const mac = r1.interfaces[0]?.mac as string;
      t.ok(await fdbHas(2, mac), 'in host 2 kernel before');
      t.same(await cni(1, vars('DEL', 'ctr-one', ns1), {}), { code: 0, out: undefined });
      t.ok(await eventually(async () => !(await fdbHas(2, mac)), 15_000), 'gone from host 2 kernel');
      t.same(
        await cni(1, vars('DEL', 'ctr-one', ns1), {}),
        { code: 0, out: undefined },
        'DEL of what is gone: success',
      );
      t.same(
        await cni(1, vars('DEL', 'ctr-one', ns1), { network: 'nonesuch' }),
        { code: 0, out: undefined },
        'DEL on a network that does not exist: success',
      );
    });
  },
);

t.test('DEL after the namespace is gone, and after an agent restart', async (t) => {
  const ns = await c.tb.addContainer(1, 3);
  t.equal((await cni(1, vars('ADD', 'ctr-gone', ns), {})).code, 0);
  await $`ip netns del ${ns}`;
  t.same(await cni(1, vars('DEL', 'ctr-gone'), {}), { code: 0, out: undefined }, 'no CNI_NETNS: the namespace is gone');
  t.notOk(
    (await endpointsOf(1)).some((e) => e.id.startsWith('cni-ctr-gone')),
    'the endpoint is gone',
  );
  const ns4 = await c.tb.addContainer(1, 4);
  t.equal((await cni(1, vars('ADD', 'ctr-restart', ns4), {})).code, 0);
  await c.stopAgent(1);
  await c.startAgent(1);
  t.same(await cni(1, vars('DEL', 'ctr-restart', ns4), {}), { code: 0, out: undefined });
  t.notOk(
    (await endpointsOf(1)).some((e) => e.id.startsWith('cni-ctr-restar')),
    'found by its container id after the restart',
  );
});

t.test('GC removes attachments not in cni.dev/valid-attachments; STATUS; the agent down', async (t) => {
  const keep = await c.tb.addContainer(1, 5);
  const drop = await c.tb.addContainer(1, 6);
  t.equal((await cni(1, vars('ADD', 'ctr-keep', keep), {})).code, 0);
  t.equal((await cni(1, vars('ADD', 'ctr-drop', drop), {})).code, 0);
  const gc = await cni(
    1,
    { CNI_COMMAND: 'GC' },
    { cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'ctr-keep', ifname: 'eth0' }] },
  );
  t.same(gc, { code: 0, out: undefined });
  const ids = (await endpointsOf(1)).map((e) => e.id);
  t.ok(
    ids.some((id) => id.startsWith('cni-ctr-keep')),
    'the valid attachment stays',
  );
  t.notOk(
    ids.some((id) => id.startsWith('cni-ctr-drop')),
    'the other is removed',
  );
  t.same(
    await cni(1, { CNI_COMMAND: 'STATUS' }, { cniVersion: '1.1.0' }),
    { code: 0, out: undefined },
    'STATUS: available',
  );
  await c.stopAgent(2);
  const down = await cni(2, { CNI_COMMAND: 'STATUS' }, { cniVersion: '1.1.0' });
  t.same([down.code, down.out?.code], [1, 50], 'STATUS with the agent down: 50');
  const add = await cni(2, vars('ADD', 'ctr-later', await c.tb.addContainer(2, 7)), {});
  t.same([add.code, add.out?.code], [1, 11], 'ADD with the agent down: 11, try again later');
  await c.startAgent(2);
});

t.test('a bad configuration: code 7 naming the field; a network created from the configuration', async (t) => {
  const ns = await c.tb.addContainer(1, 8);
  const bad = await cni(1, vars('ADD', 'ctr-bad', ns), { ipam: { type: 'host-local' } });
  t.same([bad.code, bad.out?.code, bad.out?.details], [1, 7, 'field: ipam']);
  const none = await cni(1, vars('ADD', 'ctr-bad', ns), { network: 'green' });
  t.same([none.code, none.out?.code, none.out?.details], [1, 7, 'field: network'], 'a network that does not exist');
  const made = await cni(1, vars('ADD', 'ctr-green', ns), { network: 'green', subnet: '198.18.61.0/24', vni: 6002 });
  t.equal(made.code, 0, JSON.stringify(made.out));
  t.match(
    (made.out as { ips: Array<{ address: string }> }).ips[0]?.address,
    /^198\.18\.61\./,
    'created with its subnet',
  );
  const other = await cni(1, vars('ADD', 'ctr-green2', ns, 'eth1'), { network: 'green', subnet: '198.18.62.0/24' });
  t.same([other.code, other.out?.details], [1, 'field: subnet'], 'a subnet other than the existing network’s');
});
