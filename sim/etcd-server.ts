/**
 * A real single-node etcd server (Debian `etcd-server`) for tests and the demo: started in a testbed
 * host's namespace (reachable over the simulated underlay) or on this namespace's loopback, with its
 * data in a fresh directory, registered with the testbed so teardown kills it by PID.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Testbed } from './testbed.js';

export interface EtcdServer {
  /** `etcd://HOST:PORT`, as the agent's --store flag takes it. */
  url: string;
  stop(): Promise<void>;
}

export interface EtcdServerOptions {
  /** Data directory and log file go under this directory. */
  dir: string;
  /** Run in this testbed namespace and listen on `host`; default: this namespace's loopback. */
  netns?: string;
  host?: string;
}

/** A free TCP port on this namespace's loopback. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function startEtcd(tb: Testbed, opts: EtcdServerOptions): Promise<EtcdServer> {
  const host = opts.host ?? '127.0.0.1';
  const clientPort = opts.netns ? 2379 : await freePort();
  const peerPort = opts.netns ? 2380 : await freePort();
  const dataDir = path.join(opts.dir, 'etcd-data');
  fs.mkdirSync(opts.dir, { recursive: true });
  const logFile = path.join(opts.dir, 'etcd.log');
  const args = [
    '--name',
    'vxmesh-test',
    '--data-dir',
    dataDir,
    '--listen-client-urls',
    `http://${host}:${clientPort}`,
    '--advertise-client-urls',
    `http://${host}:${clientPort}`,
    '--listen-peer-urls',
    `http://127.0.0.1:${peerPort}`,
    '--initial-advertise-peer-urls',
    `http://127.0.0.1:${peerPort}`,
    '--initial-cluster',
    `vxmesh-test=http://127.0.0.1:${peerPort}`,
    '--log-level',
    'warn',
  ];
  const child = opts.netns
    ? tb.spawnIn(opts.netns, 'etcd', args, { logFile })
    : tb.spawnHere('etcd', args, { logFile });
  const health = `http://${host}:${clientPort}/health`;
  const probe = `fetch(${JSON.stringify(health)}).then((r) => r.json()).then((j) => process.exit(j.health === 'true' ? 0 : 1), () => process.exit(1))`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`etcd exited with ${child.exitCode}:\n${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    const ok = opts.netns
      ? (await tb.exec(opts.netns, [process.execPath, '-e', probe], { nothrow: true })).exitCode === 0
      : await fetch(health).then(
          async (r) => ((await r.json()) as { health?: string }).health === 'true',
          () => false,
        );
    if (ok) break;
    if (Date.now() > deadline)
      throw new Error(`etcd not healthy after 20 s:\n${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 150));
  }
  return {
    url: `etcd://${host}:${clientPort}`,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await done;
    },
  };
}
