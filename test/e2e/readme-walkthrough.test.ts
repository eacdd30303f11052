/**
 * The README's "Two real hosts, step by step", run as written on two simulated hosts: every command line
 * between the walkthrough markers runs with `sh` in its host's namespace (lines ending `# on A`/`# on B`
 * on that host, the others on both), with `vxmesh` on PATH. Only what a simulated host lacks is mapped,
 * each said here: /etc/vxmesh is a directory per host; `app1` is a namespace name per host (named
 * namespaces are shared by the whole machine); `scp` copies between those directories; `systemctl enable
 * --now vxmesh-agent.service` starts the unit's ExecStart (read from packaging/) with the run's state
 * directory, socket and namespace prefix in the environment (VXMESH_*); the package install is
 * test/e2e/package.test.ts's (here: the file name matches this version). A line that fails is retried
 * for up to 30 s (a person types slower than the cluster converges); it must succeed.
 */
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import t from 'tap';
import { $ } from 'zx';
import { Testbed } from '../../sim/testbed.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const CLI = path.join(ROOT, 'dist/cli/vxmesh.js');
const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const section = /<!-- walkthrough:begin -->([\s\S]*?)<!-- walkthrough:end -->/.exec(readme)?.[1];
if (!section) throw new Error('README.md has no walkthrough section');
/**
 * The command lines of the section's sh blocks, in order: each with the hosts it runs on (a line for
 * both runs on both at once, as two operators would).
 */
const steps = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) =>
  (m[1] as string)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const only = /# on ([AB])$/.exec(line)?.[1];
      return { hosts: only ? [only] : ['A', 'B'], line };
    }),
);

const tb = await Testbed.create({ hosts: 2, tag: 'readme' });
t.teardown(() => tb.teardown());
const dir = fs.mkdtempSync('/tmp/vxmesh-readme-');
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const bin = path.join(dir, 'bin');
fs.mkdirSync(bin);
fs.writeFileSync(path.join(bin, 'vxmesh'), `#!/bin/sh\nexec ${process.execPath} ${CLI} "$@"\n`, { mode: 0o755 });
const hosts = {
  A: { sim: tb.host(1), etc: path.join(dir, 'A/etc-vxmesh'), state: path.join(dir, 'A/state') },
  B: { sim: tb.host(2), etc: path.join(dir, 'B/etc-vxmesh'), state: path.join(dir, 'B/state') },
};
type HostName = keyof typeof hosts;
const socketOf = (h: HostName) => path.join(dir, h, 'vxmesh.sock');
const env = (h: HostName) => ({
  ...process.env,
  PATH: `${bin}:${process.env.PATH ?? ''}`,
  VXMESH_SOCKET: socketOf(h),
  VXMESH_STATE_DIR: hosts[h].state,
  VXMESH_NETNS_PREFIX: `${tb.prefix}${h}o`,
  VXMESH_DOCKER_PLUGIN: 'false',
});
/** The line as it runs on a simulated host (the mappings of the header). */
const mapped = (h: HostName, line: string) =>
  line.replaceAll('/etc/vxmesh', hosts[h].etc).replace(/\bapp1\b/g, `${tb.prefix}${h}app1`);

const answers = (socketPath: string) =>
  new Promise<boolean>((resolve) => {
    const req = http.request({ socketPath, path: '/v1/status', timeout: 2000 }, (res) =>
      resolve(res.statusCode === 200),
    );
    req.on('error', () => resolve(false));
    req.end();
  });

async function startUnit(h: HostName): Promise<string> {
  const unit = fs.readFileSync(path.join(ROOT, 'packaging/vxmesh-agent.service'), 'utf8');
  const execStart = /^ExecStart=(.+)$/m.exec(unit)?.[1] as string;
  const [cmd, ...args] = mapped(h, execStart).split(' ') as [string, ...string[]];
  fs.mkdirSync(hosts[h].state, { recursive: true });
  const log = path.join(dir, h, 'agent.log');
  tb.spawnIn(hosts[h].sim.netns, cmd, args, { env: env(h), logFile: log });
  const end = Date.now() + 30_000;
  while (!(await answers(socketOf(h)))) {
    if (Date.now() > end) throw new Error(`agent ${h} did not start:\n${fs.readFileSync(log, 'utf8').slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return `started: ${execStart}`;
}

/** Runs one line; returns its output. */
async function run(h: HostName, line: string): Promise<{ code: number; out: string }> {
  if (/^apt-get install -y \.\/vxmesh_[^ ]+\.deb$/.test(line)) {
    const named = `./vxmesh_${version}_amd64.deb`;
    return { code: line.endsWith(named) ? 0 : 1, out: `package step: ${line} (this version: ${named})` };
  }
  if (line.startsWith('systemctl enable --now vxmesh-agent.service')) return { code: 0, out: await startUnit(h) };
  const scp = /^scp (\S+) [\d.]+:(\S+)/.exec(line);
  if (scp) {
    const to = mapped('B', scp[2] as string);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(mapped(h, scp[1] as string), to);
    return { code: 0, out: `copied to ${to}` };
  }
  const r = await $({ env: env(h) })`nsenter --net=/run/netns/${hosts[h].sim.netns} sh -c ${mapped(h, line)}`.nothrow();
  return { code: r.exitCode ?? 1, out: r.stdout + r.stderr };
}

const outputs = new Map<string, string>();
// In a subtest: tap ends a file's root test after its first assertion when long awaits follow.
await t.test('the walkthrough, line by line', async (t) => {
  const runUntilDone = async (h: HostName, line: string) => {
    const end = Date.now() + 30_000;
    let r = await run(h, line);
    while (r.code !== 0 && Date.now() < end) {
      await new Promise((res) => setTimeout(res, 500));
      r = await run(h, line);
    }
    return r;
  };
  for (const { hosts: on, line } of steps) {
    const results = await Promise.all(on.map((h) => runUntilDone(h as HostName, line)));
    on.forEach((h, k) => {
      const r = results[k] as { code: number; out: string };
      t.equal(r.code, 0, `${h}: ${line}${r.code ? `\n${r.out}` : ''}`);
      outputs.set(`${h}: ${line.replace(/\s+# on [AB]$/, '')}`, r.out);
    });
  }
});

t.test('what the walkthrough says to check', async (t) => {
  t.ok(steps.length >= 20, `${steps.length} command lines`);
  t.match(outputs.get('A: vxmesh --version'), new RegExp(`^vxmesh ${version.replaceAll('.', '\\.')} `));
  for (const h of ['A', 'B']) {
    t.match(outputs.get(`${h}: vxmesh status`), /members: 2 alive, 0 suspect/, `${h}: status, both alive`);
    t.match(outputs.get(`${h}: vxmesh status`), /no warnings/, `${h}: status, no warnings`);
    t.match(outputs.get(`${h}: vxmesh peers`), /^a .*alive/m, `${h}: peers lists a`);
    t.match(outputs.get(`${h}: vxmesh fdb --cluster --check`), /b/, `${h}: fdb --cluster --check ran`);
  }
  t.match(outputs.get('A: ip netns exec app1 ping -c 3 198.18.10.12'), / 0% packet loss/, 'A reaches B');
  t.match(outputs.get('B: ip netns exec app1 ping -c 3 app-a'), / 0% packet loss/, 'B reaches A by name');
  t.equal(fs.statSync(path.join(hosts.B.etc, 'cluster.key')).mode & 0o777, 0o600, "B's key is owner-only");
});
