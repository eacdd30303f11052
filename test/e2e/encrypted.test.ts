/**
 * Encrypted networks on two simulated hosts with real WireGuard (wireguard-go here: this kernel has no
 * WireGuard module): containers reach each other through VXLAN inside WireGuard, a marker they send is
 * never seen on the underlay (a plain network's is), a forged cleartext frame is dropped, the MTU edge
 * holds, an agent's kill -9 loses no ping, and a killed wireguard-go or a peer removed by hand is
 * repaired without anything leaving in cleartext meanwhile.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { $ } from 'zx';
import { Cluster } from '../../sim/cluster.js';
import { spawnListening } from '../../sim/address-echo.js';
import { wireguardIfname } from '../../dataplane/wireguard.js';
import { inProcessCli } from '../fixtures/in-process-cli.js';
import { scrapeMetrics } from '../fixtures/metrics.js';

const args = ['--reconcile-interval-ms', '1000', '--metrics', '127.0.0.1:9464'];
const metrics = (netns: string) => scrapeMetrics(c.tb, netns);
const c = await Cluster.create(2, 'enc', { cli: inProcessCli });
t.teardown(() => c.teardown());
for (const i of [1, 2]) await c.startAgent(i, { args });
const h1 = c.tb.host(1);
const h2 = c.tb.host(2);

async function until(what: string, fn: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`not within ${ms / 1000} s: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

await c.vx(1, ['network', 'create', 'sec', '--subnet', '198.18.62.0/24', '--encrypted']);
await c.vx(1, ['network', 'create', 'clear', '--subnet', '198.18.63.0/24']);
await until(
  'networks on h2',
  async () => (await c.vx(2, ['network', 'inspect', 'clear'], { nothrow: true })).exitCode === 0,
);
const attach = async (host: number, j: number, net: string) => {
  const netns = await c.tb.addContainer(host, j);
  const ep = await c.vxJson<{ ip: string; mac: string }>(host, ['attach', net, '--netns', netns]);
  return { netns, ...ep };
};
const a = await attach(1, 1, 'sec');
const b = await attach(2, 1, 'sec');
const pa = await attach(1, 2, 'clear');
const pb = await attach(2, 2, 'clear');
const vniOf = async (net: string) => (await c.vxJson<{ vni: number }>(1, ['network', 'inspect', net])).vni;
const sec = await vniOf('sec');

/** "vmmarker" as hex: the pattern ping fills its payload with. */
const MARKER = '766d6d61726b6572';
// Counts packets leaving h1 onto the underlay with the marker in them (a capture without tcpdump).
await $`ip netns exec ${h1.netns} iptables -w -t mangle -I POSTROUTING -o ${h1.underlayDev} -m string --algo bm --hex-string ${`|${MARKER}|`} -j RETURN`;
const markersOnUnderlay = async (): Promise<number> => {
  const out = (await $`ip netns exec ${h1.netns} iptables -w -t mangle -L POSTROUTING -v -x -n`).stdout;
  return Number(/^\s*(\d+)\s+\d+\s+RETURN.*STRING match/m.exec(out)?.[1] ?? NaN);
};
const pingMarked = (from: string, ip: string, count: number) =>
  c.tb.exec(from, ['ping', '-n', '-q', '-c', String(count), '-i', '0.1', '-W', '1', '-p', MARKER, ip], {
    nothrow: true,
  });
const received = (out: string) => Number(/(\d+) received/.exec(out)?.[1] ?? -1);
const selfTunnel = async (i: number) =>
  (await c.vxJson<Array<{ self: boolean; tunnel: string }>>(i, ['peers'])).find((p) => p.self)?.tunnel as string;

t.test('containers of an encrypted network reach each other; the marker never crosses in cleartext', async (t) => {
  await until('encrypted path', () => c.tb.ping(a.netns, b.ip, { timeoutS: 1 }));
  const before = await markersOnUnderlay();
  const r = await pingMarked(a.netns, b.ip, 10);
  t.equal(received(r.stdout), 10, 'all 10 marked pings answered over the encrypted network');
  t.equal(await markersOnUnderlay(), before, 'not one packet with the marker left h1 on the underlay');
  await until('plain path', () => c.tb.ping(pa.netns, pb.ip, { timeoutS: 1 }));
  const plain = await pingMarked(pa.netns, pb.ip, 5);
  t.equal(received(plain.stdout), 5, 'the plain network works too');
  t.ok((await markersOnUnderlay()) - before >= 5, "the control: a plain network's marker is on the underlay");
  const peers = (await c.vx(1, ['peers'])).stdout;
  t.match(peers, /^h2 .*handshake \d+s ago, [1-9]\d*\/[1-9]\d* B/m, "peers: h2's latest handshake and bytes");
  t.match(
    await metrics(h1.netns),
    /^vxmesh_wireguard_peer_handshake_age_seconds\{peer="h2"\} \d/m,
    'handshake age in /metrics',
  );
  const status = (await c.vx(1, ['status'])).stdout;
  t.match(status, /members: 2 alive, 0 suspect, 0 dead, 0 left; first sync done/, 'vxmesh status: members');
  t.match(status, /^sec\s+\d+\s+encrypted\s+0$/m, 'vxmesh status: the encrypted network, no drift');
  t.match(status, /no warnings/, 'vxmesh status: nothing to act on');
  t.match(status, new RegExp(`underlay ${h1.underlayDev} MTU \\d+`), 'vxmesh status: the underlay device and MTU');
  const own = (
    JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
  ).version;
  const versions = (await c.vxJson<Array<{ name: string; version?: string }>>(1, ['peers'])).map((p) => p.version);
  t.same(versions, [own, own], "each member's version, from its signed statement, in peers");
  const fdb = await c.vx(1, ['fdb', 'sec', '--check'], { nothrow: true });
  t.equal(fdb.exitCode, 0, 'fdb --check: no drift');
  t.match(fdb.stdout, /wireguard peers ok/, 'WireGuard peers compared');
  const wg = (await $`ip netns exec ${h1.netns} wg show ${wireguardIfname(c.overlayPrefix(1))} dump`).stdout;
  t.equal(wg.trim().split('\n').length, 2, 'one WireGuard peer (h2) on h1: per host, not per container');
  const psk = async (i: number) =>
    (await $`ip netns exec ${c.tb.host(i).netns} wg show ${wireguardIfname(c.overlayPrefix(i))} preshared-keys`).stdout
      .trim()
      .split('\t')[1];
  const [psk1, psk2] = [await psk(1), await psk(2)];
  t.ok(psk1 && psk1 !== '(none)' && psk1 === psk2, 'a pre-shared key (from the cluster key), the same at both ends');
  const vx = (await $`ip -n ${c.overlayPrefix(1)}${sec} -d link show vxlan${sec}`).stdout;
  t.match(vx, new RegExp(`local ${await selfTunnel(1)} .*dstport 4790`), 'VXLAN from the tunnel address, port 4790');
});

t.test('the MTU leaves room for both headers: the largest DF packet crosses, one byte more is refused', async (t) => {
  const mtu = Number(/mtu (\d+)/.exec((await c.tb.exec(a.netns, ['ip', 'link', 'show', 'eth0'])).stdout)?.[1]);
  t.equal(mtu, 1500 - 60 - 70, "the container's MTU: underlay 1500 - WireGuard 60 - VXLAN in IPv6 70");
  t.ok(await c.tb.ping(a.netns, b.ip, { size: mtu - 28, df: true, timeoutS: 2 }), `a ${mtu}-byte DF packet crosses`);
  const over = await c.tb.exec(
    a.netns,
    ['ping', '-n', '-c', '1', '-W', '1', '-M', 'do', '-s', String(mtu - 27), b.ip],
    {
      nothrow: true,
    },
  );
  t.match(`${over.stdout}${over.stderr}`, /message too long|mtu = 1370/i, 'one byte more: refused, not lost');
});

/** Node: one IPv6 VXLAN packet (VNI, inner frame to mac/ip:9999 saying "forged") from src to dst:4790. */
const FORGE6 = `const [dst,src,vni,mac,ip]=process.argv.slice(1);const payload=Buffer.from('forged');
const udp=Buffer.alloc(8);udp.writeUInt16BE(4444,0);udp.writeUInt16BE(9999,2);udp.writeUInt16BE(8+payload.length,4);
const iph=Buffer.alloc(20);iph[0]=0x45;iph.writeUInt16BE(20+8+payload.length,2);iph[8]=64;iph[9]=17;
Buffer.from([198,18,62,250]).copy(iph,12);Buffer.from(ip.split('.').map(Number)).copy(iph,16);
let sum=0;for(let i=0;i<20;i+=2)sum+=iph.readUInt16BE(i);while(sum>>16)sum=(sum&0xffff)+(sum>>16);iph.writeUInt16BE(~sum&0xffff,10);
const eth=Buffer.concat([Buffer.from(mac.split(':').map(h=>parseInt(h,16))),Buffer.from([2,0,0,0,0,0x99]),Buffer.from([8,0])]);
const vx=Buffer.alloc(8);vx[0]=8;vx.writeUIntBE(Number(vni),4,3);
const s=require('dgram').createSocket('udp6');s.bind(0,src,()=>{let n=0;const go=()=>s.send(Buffer.concat([vx,eth,iph,udp,payload]),4790,dst,()=>{if(++n<3)setTimeout(go,100);else s.close()});go()})`;
const LISTEN = `const s=require('dgram').createSocket('udp4');s.on('message',m=>console.log('got '+m));s.bind(9999,'0.0.0.0',()=>console.log('listening'))`;

t.test(
  "a forged cleartext frame into the encrypted VNI, from a member's tunnel address, never reaches the container",
  async (t) => {
    const listener = await spawnListening(c.tb, a.netns, ['-e', LISTEN], 'UDP listener');
    t.teardown(() => listener.kill());
    let got = '';
    listener.stdout?.on('data', (d: Buffer) => (got += d.toString()));
    const t1 = await selfTunnel(1);
    const t2 = await selfTunnel(2);
    // The forger (h2's host) sends to h1's tunnel address over the underlay, not through WireGuard.
    const ll = /inet6 (fe80::[0-9a-f:]+)\//.exec(
      (await $`ip -n ${h1.netns} -6 addr show dev ${h1.underlayDev} scope link`).stdout,
    )?.[1];
    t.ok(ll, "h1's link-local address on the underlay");
    await $`ip -n ${h2.netns} -6 route add ${t1}/128 via ${ll} dev ${h2.underlayDev}`;
    t.teardown(() => $`ip -n ${h2.netns} -6 route del ${t1}/128`.nothrow());
    const forge = () => c.tb.exec(h2.netns, [process.execPath, '-e', FORGE6, t1, t2, String(sec), a.mac, a.ip]);
    await forge();
    await new Promise((r) => setTimeout(r, 1000));
    t.equal(got, '', 'nothing arrived: the encrypted port is dropped unless it comes through WireGuard');
    t.match(
      await metrics(h1.netns),
      /^vxmesh_vxlan_frames_dropped_total\{reason="not-through-wireguard"\} [1-9]/m,
      'counted in /metrics by reason',
    );
    // The control: the frames reached h1 and this rule dropped them (its own counter), the rule is there
    // once, and removed by hand it comes back (drift repair).
    const ruleLines = async () =>
      (await $`ip netns exec ${h1.netns} ip6tables -w -L INPUT -v -x -n`).stdout
        .split('\n')
        .filter((l) => /\bDROP\b/.test(l) && l.includes('dpt:4790'));
    const dropped = async () => Number(/^\s*(\d+)/.exec((await ruleLines())[0] ?? '')?.[1] ?? 0);
    const before = await dropped();
    await forge();
    await until('the forged frames counted by the rule', async () => (await dropped()) >= before + 3);
    t.pass("h1's drop rule counted the forged frames (they reached the host; the rule is what stopped them)");
    t.equal((await ruleLines()).length, 1, 'the drop rule is there once');
    const rule = [
      '-p',
      'udp',
      '-m',
      'udp',
      '--dport',
      '4790',
      '!',
      '-i',
      wireguardIfname(c.overlayPrefix(1)),
      '-j',
      'DROP',
    ];
    await $`ip netns exec ${h1.netns} ip6tables -w -D INPUT ${rule}`;
    await until('the drop rule restored', async () => (await ruleLines()).length === 1);
    t.pass('removed by hand, the agent puts it back');
  },
);

const wgPid = (i: number) => {
  const file = path.join(c.agents.get(i)?.stateDir ?? '', `${wireguardIfname(c.overlayPrefix(i))}.pid`);
  return Number(fs.readFileSync(file, 'utf8'));
};

t.test('kill -9 and restart of an agent: no encrypted ping lost, its wireguard-go adopted', async (t) => {
  const pid = wgPid(1);
  const pings = pingMarked(a.netns, b.ip, 60); // 6 s at 10 per second
  await new Promise((r) => setTimeout(r, 1000));
  await c.stopAgent(1, 'SIGKILL');
  await c.startAgent(1, { args, join: [2] });
  const r = await pings;
  t.comment(r.stdout.trim().split('\n').at(-2));
  t.equal(received(r.stdout), 60, 'every ping answered across the restart');
  t.equal(wgPid(1), pid, 'the same wireguard-go (adopted, not restarted)');
});

t.test('a peer removed by hand comes back; a killed wireguard-go: nothing in cleartext, then repaired', async (t) => {
  const ifname = wireguardIfname(c.overlayPrefix(2));
  const peers = async () => (await $`ip netns exec ${h2.netns} wg show ${ifname} peers`.nothrow()).stdout.trim();
  const peer = await peers();
  await $`ip netns exec ${h2.netns} wg set ${ifname} peer ${peer} remove`;
  const drift = await c.vx(2, ['fdb', 'sec', '--check'], { nothrow: true });
  t.equal(drift.exitCode, 1, 'fdb --check sees the peer missing');
  t.match(drift.stdout, /peer missing or different/);
  await until('peer back', async () => (await peers()) === peer);
  t.pass('the peer is back (periodic repair)');
  const before = await markersOnUnderlay();
  process.kill(wgPid(1), 'SIGKILL');
  const during = await pingMarked(a.netns, b.ip, 10);
  t.ok(received(during.stdout) < 10, 'while WireGuard is gone, pings are lost...');
  t.equal(await markersOnUnderlay(), before, '...and none left in cleartext');
  await until('repaired', () => c.tb.ping(a.netns, b.ip, { timeoutS: 1 }));
  t.not(wgPid(1), undefined, 'wireguard-go started again by the agent');
  t.equal(await markersOnUnderlay(), before, 'still nothing in cleartext');
});

t.test(
  "changing one host's WireGuard key: stop its agent, remove the key, start it; the loss is measured",
  async (t) => {
    const keyFile = path.join(c.agents.get(2)?.stateDir ?? '', 'wireguard.key');
    const before = fs.readFileSync(keyFile, 'utf8');
    const pings = pingMarked(a.netns, b.ip, 150); // 15 s at 10 per second
    await new Promise((r) => setTimeout(r, 1000));
    await c.stopAgent(2, 'SIGTERM');
    fs.rmSync(keyFile);
    await c.startAgent(2, { args, join: [1] });
    const r = await pings;
    t.not(fs.readFileSync(keyFile, 'utf8'), before, 'a new key was made');
    const got = received(r.stdout);
    t.comment(`pings answered across the key change: ${got} of 150 (${150 - got} lost)`);
    t.ok(got > 0, 'traffic continues with the new key');
    await until('with the new key', () => c.tb.ping(a.netns, b.ip, { timeoutS: 1 }));
    const h1peers = (await $`ip netns exec ${h1.netns} wg show ${wireguardIfname(c.overlayPrefix(1))} peers`).stdout;
    t.equal(h1peers.trim().split('\n').length, 1, "h1 has one peer: h2's new key (the old one removed)");
  },
);
