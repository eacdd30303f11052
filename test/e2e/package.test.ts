/**
 * The Debian package and the npm tarball (`npm run package`, scripts/package.sh): built from this tree,
 * the .deb installed on this machine with dpkg — `vxmesh --version` from /usr/bin, the installed units
 * pass `systemd-analyze verify` (and a broken copy does not: the check can fail), their Documentation=
 * files exist, the completion script parses — then purged with nothing of it left. The tarball installs
 * with `npm i -g` (into a prefix of its own, from npm's cache) and runs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { $ } from 'zx';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-package-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

const installed = await $`dpkg-query -W -f=${'${Status}'} vxmesh`.nothrow().quiet();
if (installed.stdout.includes('installed'))
  throw new Error('a vxmesh package is installed on this machine: this test installs and purges its own, so it stops');

const built = await $`sh ${path.join(ROOT, 'scripts/package.sh')} ${dir}`.quiet();
const [deb, tarball] = built.stdout.trim().split('\n') as [string, string];

t.test('the .deb: install, run, verify the units, purge', async (t) => {
  t.equal(path.basename(deb), `vxmesh_${version}_amd64.deb`);
  const install = await $`dpkg -i ${deb}`.nothrow();
  t.teardown(() => $`dpkg --purge vxmesh`.nothrow().quiet());
  t.equal(install.exitCode, 0, install.stderr);
  t.match(install.stdout, /vxmesh keygen \/etc\/vxmesh\/cluster\.key/, 'postinst prints the next steps');
  const v = await $`/usr/bin/vxmesh --version`;
  t.equal(v.stdout.trim(), `vxmesh ${version} (Node.js ${process.version})`, '/usr/bin/vxmesh runs');
  const key = path.join(dir, 'cluster.key');
  t.equal((await $`/usr/bin/vxmesh keygen ${key}`.nothrow()).exitCode, 0, 'keygen (libp2p parts loaded)');
  t.ok(fs.existsSync('/etc/vxmesh/agent.json.example'), 'the configuration example');
  t.ok(fs.existsSync('/usr/share/vxmesh/prometheus-alerts.yml'), 'the alert rules');
  t.equal((await $`bash -n /usr/share/bash-completion/completions/vxmesh`.nothrow()).exitCode, 0, 'completion');

  const units = ['/lib/systemd/system/vxmesh-agent.service', '/lib/systemd/system/vxmesh-plugin.socket'];
  const verify = await $`systemd-analyze verify ${units}`.nothrow();
  t.equal(verify.exitCode, 0, `systemd-analyze verify: ${verify.stderr}`);
  for (const u of units)
    for (const m of fs.readFileSync(u, 'utf8').matchAll(/^Documentation=file:\/\/(\S+)$/gm))
      t.ok(fs.existsSync(m[1] as string), `${path.basename(u)}: Documentation= ${m[1]} is installed`);
  const broken = path.join(dir, 'vxmesh-agent.service');
  fs.writeFileSync(
    broken,
    fs.readFileSync(units[0] as string, 'utf8').replace(/^ExecStart=.*$/m, 'ExecStart=vxmesh-missing agent'),
  );
  t.not((await $`systemd-analyze verify ${broken}`.nothrow().quiet()).exitCode, 0, 'a broken unit fails verify');

  const files = (await $`dpkg -L vxmesh`).stdout.split('\n').filter(Boolean);
  t.ok(files.length > 100, `${files.length} paths installed`);
  const purge = await $`dpkg --purge vxmesh`.nothrow();
  t.equal(purge.exitCode, 0, purge.stderr);
  const left = files.filter((f) => fs.existsSync(f) && !fs.statSync(f).isDirectory());
  t.same(left, [], 'no file of the package is left');
  for (const d of ['/usr/lib/vxmesh', '/usr/share/vxmesh', '/usr/share/doc/vxmesh', '/etc/vxmesh'])
    t.notOk(fs.existsSync(d), `${d} is gone`);
});

t.test('the npm tarball installs with npm i -g and runs', async (t) => {
  t.equal(path.basename(tarball), `vxmesh-${version}.tgz`);
  const prefix = path.join(dir, 'global');
  const r =
    await $`npm i -g --prefix ${prefix} --prefer-offline --no-audit --no-fund --loglevel=error ${tarball}`.nothrow();
  t.equal(r.exitCode, 0, r.stderr);
  const v = await $`${path.join(prefix, 'bin/vxmesh')} --version`.nothrow();
  t.equal(v.stdout.trim(), `vxmesh ${version} (Node.js ${process.version})`, v.stderr);
});
