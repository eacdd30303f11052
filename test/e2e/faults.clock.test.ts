/**
 * A host whose wall clock steps (an NTP step of an hour) while the cluster runs: three simulated hosts,
 * host 2's agent (and its DNS keeper) under libfaketime, its clock stepped +1 h and then to −1 h while
 * pings flow across hosts. Nothing may notice: no member suspected or withdrawn, no ping lost, every
 * fdb clean, and an address from a block claimed while the clock steps comes after the settle period
 * (4 s on a monotonic clock, not hours on the wall clock).
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Cluster } from '../../sim/cluster.js';
import { inProcessCli } from '../fixtures/in-process-cli.js';
import { eventually } from '../fixtures/members.js';

const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
if (!fs.existsSync(FAKETIME_LIB)) throw new Error(`${FAKETIME_LIB} is missing: install the Debian package faketime`);

const c = await Cluster.create(3, 'clk', { cli: inProcessCli });
t.teardown(() => c.teardown());
const offsetFile = path.join(c.dir, 'h2-clock-offset');
fs.writeFileSync(offsetFile, '+0\n');
const faketime = {
  LD_PRELOAD: FAKETIME_LIB,
  FAKETIME_TIMESTAMP_FILE: offsetFile,
  // The wall clock only: monotonic time goes on as it does on a real host whose clock is stepped.
  FAKETIME_DONT_FAKE_MONOTONIC: '1',
  FAKETIME_CACHE_DURATION: '1',
};
for (const i of [1, 2, 3]) await c.startAgent(i, i === 2 ? { env: faketime, args: ['--ipam-settle-ms', '4000'] } : {});
await c.vx(1, ['network', 'create', 'blue', '--subnet', '198.18.80.0/24']);
const ct = async (host: number, j: number, net = 'blue') => {
  const netns = await c.tb.addContainer(host, j);
  const ep = await c.vxJson<{ ip: string }>(host, ['attach', net, '--netns', netns]);
  return { netns, ip: ep.ip };
};
const [a1, a2, a3] = [await ct(1, 1), await ct(2, 1), await ct(3, 1)];
const fdbClean = async (i: number) => (await c.vx(i, ['fdb', '--check'], { nothrow: true })).exitCode === 0;
const states = async (i: number) =>
  (await c.vxJson<Array<{ name: string; state: string }>>(i, ['peers'])).map((p) => `${p.name}:${p.state}`).sort();
const ALL_ALIVE = ['h1:alive', 'h2:alive', 'h3:alive'];

t.test('the cluster is up', async (t) => {
  t.ok(await eventually(async () => c.tb.ping(a1.netns, a2.ip), 15_000), 'h1 -> h2');
  t.ok(await eventually(async () => c.tb.ping(a3.netns, a2.ip), 15_000), 'h3 -> h2');
});

for (const [step, offset, seconds, net, j] of [
  ['+1 h', '+1h', 3600, 'plus1h', 2],
  ['to -1 h (2 h back)', '-1h', -3600, 'minus1h', 3],
] as const)
  t.test(`host 2's clock steps ${step}: nothing notices`, async (t) => {
    const pings = [a1, a3].map((from) =>
      c.tb.exec(from.netns, ['ping', '-n', '-q', '-i', '0.2', '-c', '50', '-W', '1', a2.ip], { nothrow: true }),
    );
    // A block claimed while the clock steps: its settle period (4 s) must end 4 s later on a monotonic
    // clock, not 4 s after the wall clock has caught up (an hour, after a step back).
    await c.vx(2, ['network', 'create', net, '--subnet', `198.18.${80 + j - 1}.0/24`]);
    const t0 = Date.now();
    const attaching = ct(2, j, net);
    await new Promise((r) => setTimeout(r, 500));
    fs.writeFileSync(offsetFile, `${offset}\n`);
    const fresh = await attaching;
    t.ok(fresh.ip, `an address from the new block after ${Date.now() - t0} ms (settle period 4 s, the step within it)`);
    // The agent's own clock moved (its log line of the attach), or this test would prove nothing.
    const attached = fs
      .readFileSync(c.agents.get(2)?.logFile as string, 'utf8')
      .split('\n')
      .find((l) => l.includes('"msg":"attached"') && l.includes(`"network":"${net}"`));
    const skew = (Date.parse(JSON.parse(attached ?? '{}').time as string) - Date.now()) / 1000;
    t.ok(Math.abs(skew - seconds) < 120, `host 2's agent runs ${Math.round(skew)} s from this machine's clock`);
    for (const r of await Promise.all(pings)) {
      const loss = /(\d+(?:\.\d+)?)% packet loss/.exec(r.stdout)?.[1];
      t.equal(loss, '0', `no ping lost to host 2 (${r.stdout.trim().split('\n').pop()})`);
    }
    for (const i of [1, 2, 3]) t.same(await states(i), ALL_ALIVE, `every member alive as h${i} sees it`);
    t.ok(await eventually(async () => (await fdbClean(1)) && (await fdbClean(2)) && fdbClean(3), 10_000), 'fdb clean');
    const log = fs.readFileSync(c.agents.get(1)?.logFile as string, 'utf8');
    t.notMatch(log, /withdrawing its endpoints/, 'no host withdrew host 2');
    t.notMatch(log, /sender clock/, "no probe refused for its sender's clock");
  });
