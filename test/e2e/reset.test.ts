/**
 * `vxmesh reset` on a simulated host whose agent ran with endpoints, egress, DNS, a published port and
 * an encrypted network (WireGuard through wireguard-go): after it, the host namespace, the machine's
 * namespaces of this run, /etc/netns and the state directory are as before the agent first started —
 * nothing of vxmesh left, and the things planted beside it (a namespace with the agent's prefix but not
 * its device, a chain of someone else, a resolv.conf of someone else, a file in the state directory)
 * untouched. Refused while the agent runs; `--dry-run` removes nothing.
 */
import { dnsKeeperPid } from '../../core/dns-keeper-files.js';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { $ } from 'zx';
import { Cluster } from '../../sim/cluster.js';
import { wireguardIfname } from '../../dataplane/wireguard.js';
import { inProcessCli } from '../fixtures/in-process-cli.js';

const CLI = path.resolve(import.meta.dirname, '../../cli/vxmesh.js');
const c = await Cluster.create(1, 'reset', { outside: true, cli: inProcessCli });
t.teardown(() => c.teardown());
const h1 = c.tb.host(1);
const prefix = c.overlayPrefix(1);
const stateDir = path.join(c.dir, 'h1');
const wg = wireguardIfname(prefix);

/** Everything of this run a reset could touch, as text that compares (no counters, no ids that change). */
async function snapshot(): Promise<Record<string, string[]>> {
  const inHost = (cmd: string[]) => $`nsenter --net=${h1.netnsPath} ${cmd}`.nothrow();
  // Without the kernel's own link-local churn (an address's DAD state, its local route).
  const lines = (s: string) =>
    s
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('#') && !l.startsWith('local fe80::'))
      .map((l) => l.replace(' tentative', ''));
  // Rules and chains, by table (not the built-in chains' policies, nor a table merely loaded).
  const rules = (save: string) => {
    let table = '';
    const out: string[] = [];
    for (const l of lines(save))
      if (l.startsWith('*')) table = l;
      else if (l.startsWith('-A') || (l.startsWith(':') && !/^:(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) /.test(l)))
        out.push(`${table} ${l.replace(/ \[\d+:\d+\]$/, '')}`);
    return out;
  };
  const ours = (dir: string) =>
    fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.startsWith(c.tb.prefix) || n.startsWith(prefix)) : [];
  return {
    links: lines((await inHost(['ip', '-o', 'link', 'show'])).stdout).map((l) =>
      l.replace(/^\d+: /, '').replace(/ link\/.*$/, ''),
    ),
    addresses: lines((await inHost(['ip', '-o', 'addr', 'show'])).stdout).map((l) => l.replace(/^\d+: /, '')),
    routes: lines((await inHost(['ip', 'route', 'show', 'table', 'all'])).stdout),
    routes6: lines((await inHost(['ip', '-6', 'route', 'show', 'table', 'all'])).stdout),
    iptables: rules((await inHost(['iptables-save'])).stdout),
    ip6tables: rules((await inHost(['ip6tables-save'])).stdout),
    namespaces: ours('/run/netns').sort(),
    etcNetns: ours('/etc/netns').flatMap((d) => fs.readdirSync(path.join('/etc/netns', d)).map((f) => `${d}/${f}`)),
    stateDir: fs.existsSync(stateDir)
      ? fs
          .readdirSync(stateDir)
          .filter((f) => f !== 'agent.log')
          .sort()
      : [],
    wireguardSockets: fs.existsSync('/var/run/wireguard')
      ? fs.readdirSync('/var/run/wireguard').filter((f) => f.startsWith(wg))
      : [],
  };
}

const reset = (extra: string[]) =>
  $`nsenter --net=${h1.netnsPath} ${process.execPath} ${CLI} reset --state-dir ${stateDir} --netns-prefix ${prefix} --socket ${c.socket(1)} --plugin-dir ${stateDir} --cni-dir ${cniDir} --cni-dir ${foreignCniDir} ${extra}`.nothrow();

// Planted beside the agent's objects: reset must leave each of them.
await $`nsenter --net=${h1.netnsPath} iptables -w -N KEEP-ME`;
await $`nsenter --net=${h1.netnsPath} iptables -w -A KEEP-ME -p tcp --dport 9 -j ACCEPT`;
const foreign = await c.tb.addContainer(1, 3);
fs.mkdirSync(path.join('/etc/netns', foreign), { recursive: true });
fs.writeFileSync(path.join('/etc/netns', foreign, 'resolv.conf'), 'nameserver 198.51.100.53\n');
fs.mkdirSync(stateDir, { recursive: true });
fs.writeFileSync(path.join(stateDir, 'operator-notes.txt'), 'not the agent’s\n');
// The CNI launcher (`vxmesh cni install --dir`), and a file of someone else under the same name.
const cniDir = path.join(c.dir, 'cni-ours');
const foreignCniDir = path.join(c.dir, 'cni-theirs');
fs.mkdirSync(foreignCniDir, { recursive: true });
fs.writeFileSync(path.join(foreignCniDir, 'vxmesh'), '#!/bin/sh\necho another plugin\n', { mode: 0o755 });
const ct1 = await c.tb.addContainer(1, 1);
const ct2 = await c.tb.addContainer(1, 2);
const before = await snapshot();

await c.startAgent(1);
await c.vx(1, ['cni', 'install', '--dir', cniDir]);
await c.vx(1, ['network', 'create', 'plain', '--subnet', '198.18.90.0/24']);
await c.vx(1, ['network', 'create', 'sec', '--subnet', '198.18.91.0/24', '--encrypted']);
await c.vx(1, ['attach', 'plain', '--netns', ct1, '--publish', '8080:80', '--name', 'web']);
await c.vx(1, ['attach', 'sec', '--netns', ct2]);
await c.vx(1, ['attach', 'plain', '--netns', foreign]);
const during = await snapshot();

t.test('the agent made what reset must remove', async (t) => {
  t.equal(during.namespaces.filter((n) => n.startsWith(prefix)).length, 2, 'two overlays');
  t.ok(
    during.links.some((l) => l.includes(`${wg}:`)),
    'the WireGuard interface',
  );
  t.ok(
    during.iptables.some((l) => l.includes('VXMESH-PREROUTING') && l.includes('8080')),
    'the published port',
  );
  t.ok(during.etcNetns.includes(`${ct1}/resolv.conf`), 'a resolv.conf for the named namespace');
  t.ok(
    during.ip6tables.some((l) => l.includes(`! -i ${wg}`)),
    'the encrypted-port rule',
  );
});

t.test('refused while the agent runs', async (t) => {
  const r = await reset([]);
  t.equal(r.exitCode, 1);
  t.match(r.stderr, /agent is running.*stop it first/);
  t.same((await snapshot()).namespaces, during.namespaces, 'nothing removed');
});

t.test('after the agent stopped: --dry-run lists, reset removes exactly what vxmesh made', async (t) => {
  const wgPid = Number(fs.readFileSync(path.join(stateDir, `${wg}.pid`), 'utf8'));
  const keeperPid = dnsKeeperPid(stateDir);
  t.ok(keeperPid, 'a DNS keeper serves the namespaces');
  await c.stopAgent(1);
  t.equal(dnsKeeperPid(stateDir), keeperPid, 'it outlives the agent (names through restarts)');
  // Named like an overlay of this agent, but without its VXLAN device: not the agent's (made after the
  // agent stopped: a running agent removes namespaces of its prefix it does not want).
  const decoyNetns = `${prefix}77`;
  await $`ip netns add ${decoyNetns}`;
  t.teardown(() => $`ip netns del ${decoyNetns}`.nothrow());
  const stopped = await snapshot();
  const dry = await reset(['--dry-run', '--json']);
  t.equal(dry.exitCode, 0, dry.stderr);
  const planned = JSON.parse(dry.stdout) as { removed: string[]; errors: string[] };
  t.ok(planned.removed.includes(`file ${path.join(cniDir, 'vxmesh')}`), 'the dry run lists the CNI launcher');
  t.ok(planned.removed.length >= 8, `the dry run lists what it would remove (${planned.removed.length})`);
  t.same(await snapshot(), stopped, '--dry-run removed nothing');
  t.ok(fs.existsSync(path.join(cniDir, 'vxmesh')), '--dry-run left the launcher');
  const r = await reset([]);
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stdout, new RegExp(`removed namespace ${prefix}\\d+`));
  t.match(r.stdout, /removed process wireguard-go/);
  t.match(r.stdout, `removed process dns-keeper (PID ${keeperPid})`);
  t.match(r.stdout, /removed iptables nat VXMESH-PREROUTING removed/);
  t.match(r.stdout, `removed file ${path.join(cniDir, 'vxmesh')}`, 'the CNI launcher');
  t.notOk(fs.existsSync(path.join(cniDir, 'vxmesh')), 'the launcher is gone');
  t.equal(
    fs.readFileSync(path.join(foreignCniDir, 'vxmesh'), 'utf8'),
    '#!/bin/sh\necho another plugin\n',
    'a plugin of the same name that is not ours is untouched',
  );
  t.same(
    await snapshot(),
    { ...before, namespaces: [...before.namespaces, decoyNetns].sort() },
    'the host is as before the agent started (the planted objects kept)',
  );
  const policy = await $`nsenter --net=${h1.netnsPath} iptables -w -S FORWARD`.nothrow();
  t.match(
    policy.stdout,
    /^-P FORWARD DROP$/m,
    'the FORWARD policy egress set when forwarding was off stays (documented)',
  );
  t.notOk(fs.existsSync(`/proc/${wgPid}`), 'wireguard-go stopped');
  t.notOk(fs.existsSync(`/proc/${keeperPid}`), 'the DNS keeper stopped');
  t.equal(
    fs.readFileSync(path.join('/etc/netns', foreign, 'resolv.conf'), 'utf8'),
    'nameserver 198.51.100.53\n',
    'the resolv.conf of someone else is untouched',
  );
  const again = await reset([]);
  t.match(again.stdout, /nothing of vxmesh found/, 'a second reset finds nothing');
});

t.test('the agent starts again after a reset, as a new member', async (t) => {
  await c.startAgent(1);
  const st = await c.vxJson<{ name: string }>(1, ['status']);
  t.equal(st.name, 'h1');
  await c.stopAgent(1);
});
