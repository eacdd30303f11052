/**
 * Fuzzing at volume against live agents: 10,000 generated or mutated inputs each for gossip messages
 * (published by a member holding the cluster key), admin API requests and Docker plugin requests.
 * Checked: no agent crashes, the kernel tables of both hosts are unchanged, and every rejection is
 * counted in /metrics. The gossip fuzz is paced (1,000 messages/s) and the fuzzing member's valid
 * messages stay far under the flood limit: the limit never swallows fuzz input unseen (a record over
 * it would be counted as `rate-limited`, checked to stay 0 here).
 */
import http from 'node:http';
import path from 'node:path';
import fs from 'node:fs';
import t, { type Test } from 'tap';
import { $ } from 'zx';
import { Cluster } from '../../sim/cluster.js';
import { snapshot } from '../fixtures/kernel.js';
import { eventually, MemberProc } from '../fixtures/members.js';
import { TOPIC_MEMBERS, TOPIC_TABLE_V2 } from '../../discovery/wire.js';
import { adminFuzzRequests, pluginFuzzRequests, type ApiFuzzRequest } from '../fixtures/api-fuzz.js';
import { inProcessCli } from '../fixtures/in-process-cli.js';
import { rogueMember } from '../fixtures/rogue.js';

$.verbose = false;
$.quiet = true;

const N = Number(process.env.VXMESH_FUZZ_INPUTS ?? 10_000);
const SEED = Number(process.env.VXMESH_FUZZ_SEED ?? 20261123);
const SLICE = 500;
const c = await Cluster.create(3, 'fuzz', { cli: inProcessCli });
t.teardown(() => c.teardown());
const pluginDir = path.join(c.dir, 'plugins');
fs.mkdirSync(pluginDir, { recursive: true });
await c.startAgent(1, {
  args: ['--metrics', '127.0.0.1:9476', '--docker-plugin', 'true', '--plugin-dir', pluginDir, '--log-level', 'warn'],
});
await c.startAgent(2, { args: ['--metrics', '127.0.0.1:9476', '--log-level', 'warn'] });
await c.vx(1, ['network', 'create', 'red', '--subnet', '198.18.50.0/24', '--vni', '5050']);
await eventually(async () => (await c.vx(2, ['network', 'inspect', 'red'], { nothrow: true })).exitCode === 0, 10_000);
for (const i of [1, 2]) await c.vx(i, ['attach', 'red', '--netns', await c.tb.addContainer(i, 1)]);
const overlays = [`${c.overlayPrefix(1)}5050`, `${c.overlayPrefix(2)}5050`];
await eventually(
  async () => (await c.vx(1, ['fdb', '--cluster', '--check'], { nothrow: true })).exitCode === 0,
  15_000,
);

async function metrics(i: number): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (const line of (await c.metricsText(i, 9476)).split('\n')) {
    const x = /^(\w+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (x) m.set(x[1] as string, Number(x[2]));
  }
  return m;
}
const sum = (m: Map<string, number>, prefix: string, skip: (k: string) => boolean = () => false) =>
  [...m].filter(([k]) => k.startsWith(prefix) && !skip(k)).reduce((n, [, v]) => n + v, 0);
const reconcileChanges = async (i: number) => (await metrics(i)).get('vxmesh_reconcile_changes_total') ?? NaN;

function send(socketPath: string, r: ApiFuzzRequest): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        method: r.method,
        path: r.path,
        headers: { 'content-length': Buffer.byteLength(r.body, 'latin1') },
      },
      (res) => {
        let s = '';
        res.on('data', (d: Buffer) => (s += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: s }));
      },
    );
    req.on('error', reject);
    req.end(Buffer.from(r.body, 'latin1'));
  });
}

/** Sends every request (8 at a time); returns counts by status class and any response that is not JSON. */
async function fuzzApi(socketPath: string, reqs: ApiFuzzRequest[]) {
  const counts = { ok: 0, rejected: 0, errors: 0, notJson: [] as string[], fiveHundreds: [] as string[] };
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < reqs.length) {
        const r = reqs[next++] as ApiFuzzRequest;
        const res = await send(socketPath, r);
        if (res.status >= 500) {
          counts.errors++;
          counts.fiveHundreds.push(
            `${r.method} ${r.path} ${JSON.stringify(r.body).slice(0, 300)} → ${res.status} ${res.body.slice(0, 200)}`,
          );
        } else if (res.status >= 400) counts.rejected++;
        else counts.ok++;
        try {
          JSON.parse(res.body);
        } catch {
          counts.notJson.push(`${r.method} ${r.path} → ${res.status} ${res.body.slice(0, 80)}`);
        }
      }
    }),
  );
  return counts;
}

/** A member holding the cluster key on h3 (a MemberProc, not an agent), once h1 lists it alive. */
async function joinRogue(t: Test, name: string, port: number, joined: string): Promise<MemberProc> {
  const rogue = await rogueMember(t, c, { name, host: 3, port });
  t.ok(
    await eventually(
      async () =>
        (await c.vxJson<Array<{ name: string; state: string }>>(1, ['peers'])).some(
          (p) => p.name === name && p.state === 'alive',
        ),
      15_000,
    ),
    joined,
  );
  return rogue;
}

const kernelBefore = await snapshot(overlays);
const changesBefore = [await reconcileChanges(1), await reconcileChanges(2)];

t.test(`gossip: ${N} generated and mutated messages from a member holding the key`, async (t) => {
  const rogue = await joinRogue(t, 'fuzzer', 7946, 'the fuzzing member joined');
  // Publishing reaches only peers known to subscribe: wait until the fuzzer knows both agents on both topics.
  t.ok(
    await eventually(
      async () =>
        Object.values(
          await rogue.call<Record<string, number>>('topicPeers', { topics: [TOPIC_MEMBERS, TOPIC_TABLE_V2] }),
        ).every((n) => n >= 2),
      30_000,
      250,
    ),
    'the fuzzer knows both agents as subscribers',
  );
  const otherPeerId = (await c.vxJson<Array<{ name: string; peerId: string }>>(1, ['peers'])).find(
    (p) => p.name === 'h2',
  )?.peerId;
  const dropped = (m: Map<string, number>) =>
    sum(m, 'vxmesh_gossip_messages_dropped_total', (k) => k.includes('rate-limited') || k.includes('bad-signature'));
  // In slices, each waited for until both receivers counted it: gossipsub has no back-pressure (a
  // receiver busy verifying signatures makes the sender drop), so the pace follows the receivers.
  // A slice some of whose messages never reached a receiver (lost in transit: seen on a loaded machine,
  // on one receiver, in the first slice) is sent again, at most twice: a lost message is not a rejection
  // left uncounted, and the re-sent copies (new sequence numbers) must all be counted.
  const total = { published: 0, rejected: 0, accepted: 0 };
  const seen = [0, 0];
  let counted = true;
  const resent: string[] = [];
  for (let from = 0; from < N && counted; from += SLICE) {
    for (let attempt = 0; attempt < 3; attempt++) {
      const base = [dropped(await metrics(1)), dropped(await metrics(2))];
      const r = await rogue.call<{ published: number; rejected: number; accepted: number }>('fuzzGossip', {
        count: N,
        seed: SEED,
        from,
        to: from + SLICE,
        perSecond: 2000,
        otherPeerId,
      });
      const slice = [0, 0];
      counted = await eventually(
        async () => {
          for (const i of [0, 1]) slice[i] = dropped(await metrics(i + 1)) - (base[i] as number);
          return slice.every((x) => x >= r.rejected);
        },
        30_000,
        200,
      );
      if (counted) {
        total.published += r.published;
        total.rejected += r.rejected;
        total.accepted += r.accepted;
        for (const i of [0, 1]) seen[i] = (seen[i] as number) + (slice[i] as number);
        break;
      }
      resent.push(`[${from}, ${from + SLICE}): h1 ${slice[0]}, h2 ${slice[1]} of ${r.rejected}`);
    }
  }
  t.comment(`slices sent again after a loss in transit: ${resent.length ? resent.join('; ') : 'none'}`);
  t.equal(total.published, N, `all ${N} published (${total.rejected} to be rejected, ${total.accepted} valid)`);
  t.ok(total.rejected > N / 2, 'most inputs are invalid');
  for (const i of [1, 2]) {
    t.ok(
      (seen[i - 1] ?? 0) >= total.rejected,
      `h${i}: every rejected message counted in /metrics (${seen[i - 1]} of ${total.rejected})`,
    );
    t.equal(
      sum(await metrics(i), 'vxmesh_gossip_records_rate_limited_total'),
      0,
      `h${i}: nothing swallowed by the flood limit`,
    );
  }
});

t.test(`admin API: ${N} generated and mutated requests`, async (t) => {
  const before = await metrics(1);
  const r = await fuzzApi(c.socket(1), adminFuzzRequests(N, SEED));
  t.equal(r.errors, 0, `no 5xx answer${r.errors ? `: ${r.fiveHundreds.slice(0, 3).join(' | ')}` : ''}`);
  t.same(r.notJson.slice(0, 5), [], 'every answer is JSON');
  t.ok(r.rejected > N / 2, `most are refused as bad input (${r.rejected} refused, ${r.ok} answered)`);
  const after = await metrics(1);
  const d = (o: string) =>
    (after.get(`vxmesh_admin_requests_total{outcome="${o}"}`) ?? 0) -
    (before.get(`vxmesh_admin_requests_total{outcome="${o}"}`) ?? 0);
  t.equal(d('rejected'), r.rejected, 'every refusal counted in /metrics');
  t.ok(d('ok') >= r.ok, 'answered requests counted (the metrics scrapes are not admin requests)');
});

t.test(`Docker plugin: ${N} generated and mutated requests`, async (t) => {
  const before = await metrics(1);
  const r = await fuzzApi(path.join(pluginDir, 'vxmesh.sock'), pluginFuzzRequests(N, SEED));
  t.equal(r.errors, 0, `no 5xx answer${r.errors ? `: ${r.fiveHundreds.slice(0, 3).join(' | ')}` : ''}`);
  t.same(r.notJson.slice(0, 5), [], 'every answer is JSON');
  t.ok(r.rejected > N / 2, `most are refused (${r.rejected} refused, ${r.ok} answered)`);
  const after = await metrics(1);
  const d = (o: string) =>
    (after.get(`vxmesh_docker_plugin_requests_total{outcome="${o}"}`) ?? 0) -
    (before.get(`vxmesh_docker_plugin_requests_total{outcome="${o}"}`) ?? 0);
  t.equal(d('rejected'), r.rejected, 'every refusal counted in /metrics');
  t.equal(d('ok'), r.ok, 'every answer counted');
});

t.test('after the fuzz: agents alive, kernel tables unchanged, the overlay still works', async (t) => {
  for (const i of [1, 2]) t.equal(c.agents.get(i)?.child.exitCode, null, `h${i}'s agent is running`);
  t.equal(
    await snapshot(overlays),
    kernelBefore,
    "both overlays' links, addresses, fdb and neighbours are byte-identical",
  );
  t.same([await reconcileChanges(1), await reconcileChanges(2)], changesBefore, 'no reconcile wrote anything');
  t.equal(
    (await c.vx(1, ['fdb', '--cluster', '--check'], { nothrow: true })).exitCode,
    0,
    'fdb --cluster --check passes',
  );
});

t.test('a member flooding records is rate-limited, counted and logged; the others still converge', async (t) => {
  const rogue = await joinRogue(t, 'flooder', 7947, 'the flooding member joined');
  t.ok(
    await eventually(
      async () =>
        ((await rogue.call<Record<string, number>>('topicPeers', { topics: [TOPIC_TABLE_V2] }))[
          TOPIC_TABLE_V2
        ] as number) >= 2,
      30_000,
      250,
    ),
    'the flooder knows both agents as subscribers',
  );
  const flood = rogue.call<{ records: number }>('flood', { ms: 10_000, network: 'red' });
  await new Promise((r) => setTimeout(r, 2000));
  const ep = await c.vxJson<{ ip: string }>(2, ['attach', 'red', '--netns', await c.tb.addContainer(2, 9)]);
  t.ok(
    await eventually(
      async () =>
        (await c.vxJson<Array<{ ip: string; status: string }>>(1, ['endpoints', 'red'])).some(
          (e) => e.ip === ep.ip && e.status === 'remote',
        ),
      30_000,
      200,
    ),
    'an attach on h2 during the flood reaches h1',
  );
  const { records } = await flood;
  for (const i of [1, 2]) {
    const limited = (await metrics(i)).get('vxmesh_gossip_records_rate_limited_total{member="flooder"}') ?? 0;
    t.ok(
      limited > 0,
      `h${i}: ${limited} of the flooder's ${records} records ignored over the limit, counted under its name`,
    );
    t.match(
      fs.readFileSync(c.agents.get(i)?.logFile as string, 'utf8'),
      /"member":"flooder".*member writes records faster than the limit/,
      `h${i}: logged with the member's name`,
    );
  }
  // Right after the flood an agent may still be merging the flooder's records (anti-entropy is not
  // rate-limited) and miss the 5 s answer deadline: a known gap (docs/benchmarks.md), so waited for.
  let hosts: Array<{ host: string; status: string; error?: string }> = [];
  t.ok(
    await eventually(
      async () => {
        hosts = JSON.parse(
          (await c.vx(1, ['fdb', '--cluster', '--check', '--json'], { nothrow: true })).stdout,
        ) as typeof hosts;
        return hosts.filter((h) => (h.host === 'h1' || h.host === 'h2') && h.status === 'ok').length === 2;
      },
      90_000,
      1000,
    ),
    `both agents' kernels right (the flooder's endpoints hold no address claim: refused everywhere): ${JSON.stringify(hosts.map((h) => `${h.host}:${h.status}`))}`,
  );
  t.match(
    hosts.find((h) => h.host === 'flooder'),
    { status: 'no-answer', error: /unknown query/ },
    'the flooder (a member without an agent) is listed as not answering, not skipped',
  );
});
