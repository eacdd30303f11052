/**
 * Egress and published ports of attached endpoints, on simulated hosts with an outside network
 * (203.0.113.1 behind a router; each host's default route). Real kernel, real iptables.
 */
import fs from 'node:fs';
import t from 'tap';
import { $ } from 'zx';
import { Cluster } from '../../sim/cluster.js';
import { OUTSIDE_HOST } from '../../sim/testbed.js';
import { askAddress, spawnListening, startAddressEcho } from '../../sim/address-echo.js';
import { inProcessCli } from '../fixtures/in-process-cli.js';
import { scrapeMetrics } from '../fixtures/metrics.js';

const c = await Cluster.create(2, 'egress', { outside: true, cli: inProcessCli });
t.teardown(() => c.teardown());
const out = c.tb.outsideNs as string;
const h1 = c.tb.host(1);
const h2 = c.tb.host(2);
const fast = { args: ['--reconcile-interval-ms', '500', '--metrics', '127.0.0.1:9464'] };
const metrics = (netns: string) => scrapeMetrics(c.tb, netns);

/** iptables-save of a namespace (the host's or an overlay's), our chains only. */
async function ours(netns: string): Promise<string[]> {
  const r = await $`nsenter --net=${netns} iptables-save`;
  return r.stdout.split('\n').filter((l) => l.includes('VXMESH-'));
}

async function until(what: string, fn: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`not within ${ms / 1000} s: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

await c.startAgent(1, fast);
await c.startAgent(2, fast);
await c.vx(1, ['network', 'create', 'web', '--subnet', '198.18.80.0/24']);
const ct1 = await c.tb.addContainer(1, 1);
const ct2 = await c.tb.addContainer(2, 1);
const ep1 = await c.vxJson<{ ip: string }>(1, ['attach', 'web', '--netns', ct1]);
await until(
  'web known on h2',
  async () => (await c.vx(2, ['network', 'inspect', 'web'], { nothrow: true })).exitCode === 0,
);
const ep2 = await c.vxJson<{ ip: string; publish?: unknown[] }>(2, [
  'attach',
  'web',
  '--netns',
  ct2,
  '--publish',
  '8080:80',
]);
await startAddressEcho(c.tb, out, 7000);
await startAddressEcho(c.tb, ct2, 80);

t.test('an attached endpoint reaches the outside host (ping and TCP), seen as its host', async (t) => {
  t.ok(await c.tb.ping(ct1, OUTSIDE_HOST, { count: 2, timeoutS: 2 }), 'ping 203.0.113.1 from h1c1');
  t.equal(await askAddress(c.tb, ct1, OUTSIDE_HOST, 7000), h1.vtep, 'TCP: the outside host sees h1 (source NAT)');
  t.equal(await askAddress(c.tb, ct2, OUTSIDE_HOST, 7000), h2.vtep, 'TCP from h2c1: seen as h2');
});

t.test('traffic inside the overlay is never NATed', async (t) => {
  await until('overlay path', async () => c.tb.ping(ct1, ep2.ip));
  t.equal(await askAddress(c.tb, ct1, ep2.ip, 80), ep1.ip, "the receiver sees the sender's overlay address");
});

t.test('a published port reaches the endpoint from outside', async (t) => {
  t.same(ep2.publish, [{ protocol: 'tcp', hostPort: 8080, port: 80 }], 'attach reports the published port');
  t.equal(
    await askAddress(c.tb, out, h2.vtep, 8080),
    OUTSIDE_HOST,
    'outside → h2:8080 → endpoint port 80 (the endpoint sees the client)',
  );
  t.equal(await askAddress(c.tb, out, h1.vtep, 8080), undefined, 'h1 does not publish 8080');
  const again = await c.vx(2, ['attach', 'web', '--netns', await c.tb.addContainer(2, 2), '--publish', '8080:81'], {
    nothrow: true,
  });
  t.not(again.exitCode, 0, 'the same host port twice is refused');
  t.match(again.stderr, /publish.*8080\/tcp.*already published/, 'naming publish and the port');
  const busy = await startAddressEcho(c.tb, h2.netns, 9090);
  const taken = await c.vx(2, ['attach', 'web', '--netns', await c.tb.addContainer(2, 3), '--publish', '9090:80'], {
    nothrow: true,
  });
  t.match(
    taken.stderr,
    /publish.*9090\/tcp is in use on this host/,
    'a port a process of the host listens on is refused',
  );
  busy.kill();
  const bad = await c.vx(2, ['attach', 'web', '--netns', ct2, '--publish', '80:99999'], { nothrow: true });
  t.match(bad.stderr, /--publish.*1\.\.65535/, 'a bad port is a usage error naming --publish');
  const inspect = await c.vxJson<{ egress: { mode: string; published: Array<{ hostPort: number; ip: string }> } }>(2, [
    'network',
    'inspect',
    'web',
  ]);
  t.equal(inspect.egress.mode, 'nat', 'network inspect: egress by NAT');
  t.same(
    inspect.egress.published.map((p) => [p.hostPort, p.ip]),
    [[8080, ep2.ip]],
    'network inspect lists the published port',
  );
});

/** Node: one VXLAN packet (VNI, inner Ethernet/IPv4/UDP frame to mac/ip:9999 saying "forged") to host:4789. */
const FORGE = `const [host,vni,mac,ip,src,bind]=process.argv.slice(1);const payload=Buffer.from('forged');
const udp=Buffer.alloc(8);udp.writeUInt16BE(4444,0);udp.writeUInt16BE(9999,2);udp.writeUInt16BE(8+payload.length,4);
const iph=Buffer.alloc(20);iph[0]=0x45;iph.writeUInt16BE(20+8+payload.length,2);iph[8]=64;iph[9]=17;
Buffer.from(src.split('.').map(Number)).copy(iph,12);Buffer.from(ip.split('.').map(Number)).copy(iph,16);
let sum=0;for(let i=0;i<20;i+=2)sum+=iph.readUInt16BE(i);while(sum>>16)sum=(sum&0xffff)+(sum>>16);iph.writeUInt16BE(~sum&0xffff,10);
const eth=Buffer.concat([Buffer.from(mac.split(':').map(h=>parseInt(h,16))),Buffer.from([2,0,0,0,0,0x99]),Buffer.from([8,0])]);
const vx=Buffer.alloc(8);vx[0]=8;vx.writeUIntBE(Number(vni),4,3);
const s=require('dgram').createSocket('udp4');let n=0;const go=()=>s.send(Buffer.concat([vx,eth,iph,udp,payload]),4789,host,()=>{if(++n<3)setTimeout(go,100);else s.close()});s.bind(0,bind||'0.0.0.0',go)`;
const LISTEN = `const s=require('dgram').createSocket('udp4');s.on('message',m=>console.log('got '+m));s.bind(9999,'0.0.0.0',()=>console.log('listening'))`;

t.test(
  'a container reaches no VXLAN port through egress: a forged frame into another network arrives nowhere',
  async (t) => {
    await c.vx(1, ['network', 'create', 'red', '--subnet', '198.18.82.0/24']);
    await until(
      'red known on h2',
      async () => (await c.vx(2, ['network', 'inspect', 'red'], { nothrow: true })).exitCode === 0,
    );
    const victim = await c.tb.addContainer(2, 9);
    const v = await c.vxJson<{ ip: string; mac: string }>(2, ['attach', 'red', '--netns', victim]);
    const red = await c.vxJson<{ vni: number }>(2, ['network', 'inspect', 'red']);
    const listener = await spawnListening(c.tb, victim, ['-e', LISTEN], 'UDP listener');
    let got = '';
    listener.stdout?.on('data', (d: Buffer) => (got += d.toString()));
    const forge = (from: string, to: string) =>
      c.tb.exec(from, [process.execPath, '-e', FORGE, to, String(red.vni), v.mac, v.ip, '198.18.82.250']);
    await forge(ct1, h2.vtep); // through egress, to the other host's VTEP
    await forge(ct1, h1.vtep); // to its own host's VTEP
    await new Promise((r) => setTimeout(r, 1000));
    t.equal(got, '', 'nothing arrived from the container (another host, or its own)');
    // The frame itself is right: sent from the underlay (a member's address), the same bytes arrive.
    await forge(h1.netns, h2.vtep);
    await until('control frame', async () => got.includes('got forged'), 10_000);
    t.pass("the same frame from a member's VTEP arrives (encrypted networks, not this test, close that path)");
    // From an address on the underlay that is no member's VTEP (an outsider forging): dropped (VXMESH-VXLAN).
    got = '';
    await $`ip -n ${h1.netns} addr add 198.51.100.200/24 dev ${h1.underlayDev}`;
    t.teardown(() => $`ip -n ${h1.netns} addr del 198.51.100.200/24 dev ${h1.underlayDev}`.nothrow());
    await c.tb.exec(h1.netns, [
      process.execPath,
      '-e',
      FORGE,
      h2.vtep,
      String(red.vni),
      v.mac,
      v.ip,
      '198.18.82.250',
      '198.51.100.200',
    ]);
    await new Promise((r) => setTimeout(r, 1000));
    t.equal(got, '', 'a frame from a non-member address never reaches a plain network');
    const counted = (await $`ip netns exec ${h2.netns} iptables -w -L VXMESH-VXLAN -v -x -n`).stdout;
    t.match(counted, /^\s*[1-9]\d*\s+\d+\s+DROP/m, "counted by the host's VXLAN guard");
    t.match(
      await metrics(h2.netns),
      /^vxmesh_vxlan_frames_dropped_total\{reason="non-member"\} [1-9]/m,
      'and in /metrics by reason',
    );
    const m = await metrics(h2.netns);
    t.match(m, /^vxmesh_build_info\{version="[^"]+",node="v\d+\.\d+\.\d+"\} 1$/m, 'build info in /metrics');
    t.match(m, /^process_resident_memory_bytes \d+/m, "the process's own metrics too");
    listener.kill();
    await c.vx(2, ['detach', 'red', '--netns', victim]);
  },
);

t.test("egress goes out of the uplink only: not into the host's other bridges; forwarding policy DROP", async (t) => {
  // A bridge of the host's own (as docker0 would be) with a namespace behind it.
  const other = `${c.tb.prefix}ob`;
  await $`ip netns add ${other}`;
  t.teardown(() => $`ip netns del ${other}`.nothrow());
  await $`nsenter --net=${h1.netnsPath} ip link add brx type bridge`;
  await $`nsenter --net=${h1.netnsPath} ip addr add 198.19.250.1/24 dev brx`;
  await $`nsenter --net=${h1.netnsPath} ip link set brx up`;
  await $`nsenter --net=${h1.netnsPath} ip link add obh type veth peer name obc netns ${other}`;
  await $`nsenter --net=${h1.netnsPath} ip link set obh master brx up`;
  await $`ip -n ${other} addr add 198.19.250.2/24 dev obc`;
  await $`ip -n ${other} link set obc up`;
  await $`ip -n ${other} route add default via 198.19.250.1`;
  t.ok(await c.tb.ping(h1.netns, '198.19.250.2', { timeoutS: 1 }), 'the host itself reaches its bridge');
  t.notOk(await c.tb.ping(ct1, '198.19.250.2', { timeoutS: 1 }), 'a container does not get there through egress');
  t.ok(await c.tb.ping(ct1, OUTSIDE_HOST, { timeoutS: 2 }), 'it still reaches the outside');
  const policy = (await $`nsenter --net=${h1.netnsPath} iptables -S FORWARD`).stdout.split('\n')[0];
  t.equal(policy, '-P FORWARD DROP', 'forwarding was off on this host: the agent set the FORWARD policy to DROP');
  await $`nsenter --net=${h1.netnsPath} ip link del brx`.nothrow();
  await $`nsenter --net=${h1.netnsPath} ip link del obh`.nothrow();
});

t.test('an internal network reaches nothing outside and publishes nothing', async (t) => {
  await c.vx(1, ['network', 'create', 'sealed', '--subnet', '198.18.81.0/24', '--internal']);
  const ct = await c.tb.addContainer(1, 3);
  await c.vx(1, ['attach', 'sealed', '--netns', ct]);
  t.notOk(await c.tb.ping(ct, OUTSIDE_HOST, { timeoutS: 1 }), 'no ping out');
  t.equal(await askAddress(c.tb, ct, OUTSIDE_HOST, 7000, 1500), undefined, 'no TCP out');
  t.notOk(await c.tb.ping(ct, h1.vtep, { timeoutS: 1 }), 'not even its own host');
  const pub = await c.vx(1, ['attach', 'sealed', '--netns', await c.tb.addContainer(1, 4), '--publish', '8081:80'], {
    nothrow: true,
  });
  t.match(pub.stderr, /publish.*internal/, 'publishing on an internal network is refused');
  const inspect = await c.vxJson<{ internal: boolean; egress: { mode: string } }>(1, ['network', 'inspect', 'sealed']);
  t.same([inspect.internal, inspect.egress.mode], [true, 'internal'], 'inspect shows it internal');
});

t.test(
  'an encrypted network: defined and shown everywhere; attached through WireGuard, with egress like any other',
  async (t) => {
    await c.vx(1, ['network', 'create', 'vault', '--subnet', '198.18.83.0/24', '--encrypted']);
    await until(
      'vault known on h2',
      async () => (await c.vx(2, ['network', 'inspect', 'vault'], { nothrow: true })).exitCode === 0,
    );
    const inspect = await c.vxJson<{ encrypted?: boolean }>(2, ['network', 'inspect', 'vault']);
    t.equal(inspect.encrypted, true, 'h2 sees it encrypted');
    t.match(
      (await c.vx(2, ['network', 'ls'])).stdout,
      /vault\s+\d+\s+198\.18\.83\.0\/24\s+\S+\s+\S+\s+encrypted/,
      'ls shows it',
    );
    const ct = await c.tb.addContainer(2, 8);
    await c.vx(2, ['attach', 'vault', '--netns', ct]);
    t.equal(
      await askAddress(c.tb, ct, OUTSIDE_HOST, 7000),
      h2.vtep,
      'its container reaches the outside through egress',
    );
    await c.vx(2, ['detach', 'vault', '--netns', ct]);
  },
);

t.test('two networks with the same subnet both have egress', async (t) => {
  await c.vx(1, ['network', 'create', 'twin', '--subnet', '198.18.80.0/24']);
  const ct = await c.tb.addContainer(1, 5);
  await c.vx(1, ['attach', 'twin', '--netns', ct, '--ip', ep1.ip]);
  t.ok(await c.tb.ping(ct, OUTSIDE_HOST, { count: 2, timeoutS: 2 }), "twin (same address as web's endpoint) pings out");
  t.equal(await askAddress(c.tb, ct, OUTSIDE_HOST, 7000), h1.vtep, 'twin: TCP out');
  t.equal(await askAddress(c.tb, ct1, OUTSIDE_HOST, 7000), h1.vtep, 'web: still TCP out');
});

t.test('a rule deleted by hand comes back; fdb shows the egress state', async (t) => {
  await $`nsenter --net=${h1.netnsPath} iptables -t nat -F VXMESH-POSTROUTING`;
  await until('host rule restored', async () =>
    (await ours(h1.netnsPath)).some((l) => l.startsWith('-A VXMESH-POSTROUTING') && l.includes('MASQUERADE')),
  );
  t.pass('the MASQUERADE rules are back');
  await $`nsenter --net=${h1.netnsPath} iptables -D FORWARD -j VXMESH-FORWARD`;
  await until('jump restored', async () => (await ours(h1.netnsPath)).includes('-A FORWARD -j VXMESH-FORWARD'));
  t.pass('the FORWARD jump is back');
  // In an overlay namespace too (its own listener); the agent's periodic run is 30 s away here.
  const web = await c.vxJson<{ vni: number }>(1, ['network', 'inspect', 'web']);
  const overlay = `/run/netns/${c.overlayPrefix(1)}${web.vni}`;
  const events = async () => Number(/vxmesh_egress_filter_events_total (\d+)/.exec(await metrics(h1.netns))?.[1]);
  const before = await events();
  await $`nsenter --net=${overlay} iptables -t filter -F VXMESH-DNS`;
  await until('overlay rule restored', async () => (await ours(overlay)).some((l) => l.startsWith('-A VXMESH-DNS')));
  t.pass('the overlay namespace\u2019s DNS guard is back');
  t.ok((await events()) > before, 'the change was reported by the kernel (nf_tables notification)');
  t.equal(await askAddress(c.tb, ct1, OUTSIDE_HOST, 7000), h1.vtep, 'egress works again');
  const fdb = await c.vx(1, ['fdb', 'web', '--check'], { nothrow: true });
  t.equal(fdb.exitCode, 0, 'fdb --check passes once repaired');
  t.match(fdb.stdout, /egress nat via vxg\d+/, 'fdb shows the egress state');
  const m = await metrics(h1.netns);
  t.ok(Number(/vxmesh_egress_rule_changes_total (\d+)/.exec(m)?.[1]) >= 3, 'the repairs are counted in /metrics');
  t.match(m, /vxmesh_egress_errors_total 0/, 'no egress error');
  t.match(await metrics(h2.netns), /vxmesh_published_ports 1/, 'h2 publishes one port');
});

t.test('an agent restart keeps egress working and rewrites nothing', async (t) => {
  const before = [...(await ours(h1.netnsPath))];
  await c.stopAgent(1, 'SIGKILL');
  t.equal(await askAddress(c.tb, ct1, OUTSIDE_HOST, 7000), h1.vtep, 'egress works while the agent is down');
  const logFile = c.agents.get(1)?.logFile ?? '';
  const logBefore = fs.statSync(logFile).size;
  // With h2 to sync from (a restarted seed with nobody to ask would take an empty cluster as the truth).
  await c.startAgent(1, { ...fast, join: [2] });
  await new Promise((r) => setTimeout(r, 2000)); // a few periodic runs (500 ms)
  t.same(await ours(h1.netnsPath), before, 'the host rules are as before');
  t.equal(await askAddress(c.tb, ct1, OUTSIDE_HOST, 7000), h1.vtep, 'egress works after the restart');
  const log = fs.readFileSync(logFile, 'utf8').slice(logBefore);
  t.match(log, /agent ready/, 'the new agent logged its start');
  t.notMatch(log, /egress rules reconciled/, 'no rule was rewritten after the restart');
});

t.test('detach removes the published port; the last endpoint gone removes the chains', async (t) => {
  await c.vx(2, ['detach', 'web', '--netns', ct2]);
  t.notOk(
    (await ours(h2.netnsPath)).some((l) => l.includes('--dport 8080')),
    'the DNAT of 8080 is gone',
  );
  t.equal(await askAddress(c.tb, out, h2.vtep, 8080, 1500), undefined, 'outside → h2:8080 reaches nothing');
  for (const extra of ['c2', 'c3'])
    await c.vx(2, ['detach', 'web', '--netns', `${c.tb.prefix}h2${extra}`], { nothrow: true });
  await until('h2 chains removed', async () => (await ours(h2.netnsPath)).length === 0);
  t.pass('no VXMESH chain is left on h2');
});
