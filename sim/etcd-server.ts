/**
 * A real single-node etcd server (Debian `etcd-server`) for tests and the demo: started in a testbed
 * host's namespace (reachable over the simulated underlay) or on this namespace's loopback, with its
 * data in a fresh directory, registered with the testbed so teardown kills it by PID.
 */
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { execFileSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Testbed } from './testbed.js';

export interface EtcdServer {
  /** `etcd://HOST:PORT` (`etcds://` with TLS), as the agent's --store flag takes it. */
  url: string;
  /** With TLS: the files made for it (CA, a client certificate and key the server accepts). */
  tls?: TlsFiles;
  stop(): Promise<void>;
}

export interface TlsFiles {
  ca: string;
  clientCert: string;
  clientKey: string;
  serverCert: string;
  serverKey: string;
}

export interface EtcdServerOptions {
  /** Data directory and log file go under this directory. */
  dir: string;
  /** Run in this testbed namespace and listen on `host`; default: this namespace's loopback. */
  netns?: string;
  host?: string;
  /** TLS on the client port with client certificates required (certificates made with openssl). */
  tls?: boolean;
}

/** A CA, a server certificate for `host` and a client certificate, in `dir` (keys owner-only). */
export function makeTlsFiles(dir: string, host: string): TlsFiles {
  const f = (n: string) => path.join(dir, n);
  const ssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  ssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2'].concat([
      '-subj',
      '/CN=vxmesh test CA',
      '-keyout',
      f('ca.key'),
      '-out',
      f('ca.crt'),
    ]),
  );
  for (const [name, cn, ext] of [
    ['server', host, `subjectAltName=IP:${host}\nextendedKeyUsage=serverAuth`],
    ['client', 'vxmesh', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    fs.writeFileSync(f(`${name}.ext`), ext);
    ssl(
      ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${cn}`].concat([
        '-keyout',
        f(`${name}.key`),
        '-out',
        f(`${name}.csr`),
      ]),
    );
    ssl(
      ['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial'].concat([
        '-days',
        '2',
        '-extfile',
        f(`${name}.ext`),
        '-out',
        f(`${name}.crt`),
      ]),
    );
    fs.chmodSync(f(`${name}.key`), 0o600);
  }
  return {
    ca: f('ca.crt'),
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
  };
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
  const tls = opts.tls ? makeTlsFiles(path.join(opts.dir, 'tls'), host) : undefined;
  const scheme = tls ? 'https' : 'http';
  const args = [
    '--name',
    'vxmesh-test',
    '--data-dir',
    dataDir,
    '--listen-client-urls',
    `${scheme}://${host}:${clientPort}`,
    '--advertise-client-urls',
    `${scheme}://${host}:${clientPort}`,
    ...(tls
      ? ['--cert-file', tls.serverCert, '--key-file', tls.serverKey, '--trusted-ca-file', tls.ca, '--client-cert-auth']
      : []),
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
  if (tls) {
    await waitTlsHealthy(host, clientPort, tls, child, logFile);
    return { url: `etcds://${host}:${clientPort}`, tls, stop: stopper(child) };
  }
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
  return { url: `etcd://${host}:${clientPort}`, stop: stopper(child) };
}

const stopper = (child: ChildProcess) => async () => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await done;
};

/** Waits until etcd answers /health over TLS with the client certificate (on this namespace's loopback). */
async function waitTlsHealthy(host: string, port: number, tls: TlsFiles, child: ChildProcess, logFile: string) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`etcd exited with ${child.exitCode}:\n${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    const ok = await new Promise<boolean>((resolve) => {
      const req = https.get(
        {
          host,
          port,
          path: '/health',
          ca: fs.readFileSync(tls.ca),
          cert: fs.readFileSync(tls.clientCert),
          key: fs.readFileSync(tls.clientKey),
          timeout: 2000,
        },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve(body.includes('"health":"true"')));
        },
      );
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`etcd (TLS) not healthy after 20 s:\n${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}
