/**
 * Readiness under a service manager (played by the test: simulated hosts have no systemd): the agent
 * serves the plugin socket it is passed (socket activation), a request made before it started is
 * answered once it is up, READY=1 comes once the admin and plugin sockets serve, even with a store
 * that never answers, and STOPPING=1 on SIGTERM. The log names the cluster key by fingerprint only.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { $ } from 'zx';
import { Testbed } from '../../sim/testbed.js';
import { makeClusterKey } from '../../sim/cluster.js';
import { activationCommand, activationEnv, listeningSocket, NotifyReceiver } from '../../sim/service-manager.js';

const CLI = new URL('../../cli/cli.js', import.meta.url).pathname;
const tb = await Testbed.create({ hosts: 1, tag: 'rdy' });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-rdy-'));
t.teardown(async () => {
  await tb.teardown();
  fs.rmSync(dir, { recursive: true, force: true });
});

function pluginCall(socketPath: string, method: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        path: `/${method}`,
        method: 'POST',
        headers: { 'content-type': 'application/vnd.docker.plugins.v1+json' },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
      },
    );
    req.on('error', reject);
    req.end('{}');
  });
}

t.test('socket activation, READY with an unreachable store, STOPPING on SIGTERM', async (t) => {
  const h = tb.host(1);
  fs.mkdirSync(path.join(dir, 'plugins'));
  const pluginSocket = path.join(dir, 'plugins', 'vxmesh.sock');
  const listener = listeningSocket(pluginSocket);
  t.teardown(() => listener.close());
  const notify = new NotifyReceiver(path.join(dir, 'notify'));
  t.teardown(() => notify.close());
  // Docker asks before the agent runs: the connection waits in the socket's backlog.
  const early = pluginCall(pluginSocket, 'Plugin.Activate');
  const adminSocket = path.join(dir, 'vxmesh.sock');
  const logFile = path.join(dir, 'agent.log');
  const keyFile = path.join(dir, 'cluster.key');
  await makeClusterKey(keyFile);
  const started = Date.now();
  const cmd = [
    process.execPath,
    CLI,
    'agent',
    '--name',
    'h1',
    '--vtep',
    h.vtep,
    '--underlay-dev',
    'eth0',
    '--listen',
    `${h.vtep}:7946`,
    '--state-dir',
    path.join(dir, 'state'),
    '--socket',
    adminSocket,
    '--plugin-dir',
    path.join(dir, 'plugins'),
    '--netns-prefix',
    tb.overlayPrefix(1),
    '--log-level',
    'debug',
    '--cluster-key',
    keyFile,
    // Nobody answers there (an unused underlay address): every store call runs into its deadline.
    '--store',
    'etcd://198.51.100.250:2379',
  ];
  const [sh, ...rest] = activationCommand(cmd) as [string, ...string[]];
  const child = tb.spawnIn(h.netns, sh, rest, {
    env: { ...process.env, NOTIFY_SOCKET: notify.path, ...activationEnv(['plugin']) },
    passFds: [listener.fd],
    logFile,
  });
  const readyAt = await notify.waitFor('READY', 60_000);
  t.ok(readyAt, 'READY=1 received');
  if (!readyAt) return;
  t.comment(`READY ${readyAt - started} ms after the start, with a store that never answers`);
  t.equal(child.exitCode, null, 'the agent runs without its store');
  t.match(fs.readFileSync(logFile, 'utf8'), /store unreachable at start/, 'and says why allocations will fail');
  const peers = await $`${process.execPath} ${CLI} peers --socket ${adminSocket}`.nothrow();
  t.equal(peers.exitCode, 0, 'at READY the admin socket serves');
  const r = await early;
  t.equal(r.status, 200, 'the request made before the start is answered');
  t.same(r.body, { Implements: ['NetworkDriver', 'IpamDriver'] });
  t.match(
    fs.readFileSync(logFile, 'utf8'),
    /"activated":true,"msg":"docker plugin listening"/,
    'the passed socket is the one served',
  );
  const log = fs.readFileSync(logFile, 'utf8');
  const keyHex = fs.readFileSync(keyFile, 'utf8').split('\n')[2] as string;
  t.match(log, /"clusterKey":"sha256:[0-9a-f]{16}"/, "the key's fingerprint is logged");
  t.notOk(log.includes(keyHex), 'the key itself never is');
  child.kill('SIGTERM');
  t.ok(await notify.waitFor('STOPPING', 15_000), 'STOPPING=1 on SIGTERM');
  await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
  t.equal(child.exitCode, 0, 'a clean exit');
});
