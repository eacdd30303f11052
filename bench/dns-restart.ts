/**
 * DNS through agent restarts (not a test): a container on host 1 asks its network's DNS server for a
 * name of host 2 every 100 ms (1 s timeout, 2 tries: a client's retry) while host 1's agent is killed
 * with SIGKILL and started again, RESTARTS times. Reported per restart: the longest time between two
 * answers and the lookups that failed; beside the longest time between answers over as long a run
 * with no restart (the floor, same run), the time the agent took to come back, and the DNS keeper's
 * memory beside the agent's. Writes bench/results/dns-restart.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Cluster } from '../sim/cluster.js';
import { askContinuously, resolve4 } from '../sim/test-resolver.js';
import { dnsKeeperPid } from '../core/dns-keeper-files.js';

const RESTARTS = Number(process.env.BENCH_DNS_RESTARTS ?? 20);
const resultsDir = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'bench', 'results');
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssMb = (pid: number | undefined) => {
  if (pid === undefined) return NaN;
  const kb = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return kb ? +(Number(kb) / 1024).toFixed(1) : NaN;
};

const c = await Cluster.create(2, 'dnsr');
try {
  const args = ['--log-level', 'warn'];
  for (let i = 1; i <= 2; i++) await c.startAgent(i, { args });
  await c.vx(1, ['network', 'create', 'bench', '--subnet', '198.18.71.0/24']);
  const client = await c.tb.addContainer(1, 1);
  await c.vx(1, ['attach', 'bench', '--netns', client, '--name', 'client']);
  const server = await c.tb.addContainer(2, 1);
  const web = await c.vxJson<{ ip: string }>(2, ['attach', 'bench', '--netns', server, '--name', 'web2']);
  const gw = '198.18.71.1';
  const answers = async () => (await resolve4(c.tb, client, gw, 'web2')) === web.ip;
  for (let k = 0; k < 100 && !(await answers()); k++) await sleep(200);

  const stateDir = c.agents.get(1)?.stateDir as string;
  const memory = { keeper_rss_mb: rssMb(dnsKeeperPid(stateDir)), agent_rss_mb: rssMb(c.agents.get(1)?.child.pid) };
  const rounds: Array<{ longestGapMs: number; failures: number; asked: number; agentBackMs: number }> = [];
  const floors: number[] = [];
  for (let k = 0; k < RESTARTS; k++) {
    // The floor: as long a run with no restart.
    const quiet = askContinuously(c.tb, client, gw, 'web2', web.ip);
    await sleep(4000);
    floors.push((await quiet.stop()).longestGapMs);
    const asking = askContinuously(c.tb, client, gw, 'web2', web.ip);
    await sleep(500);
    const t0 = Date.now();
    await c.stopAgent(1, 'SIGKILL');
    await c.startAgent(1, { args });
    const agentBackMs = Date.now() - t0;
    await sleep(1000);
    const seen = await asking.stop();
    rounds.push({ longestGapMs: seen.longestGapMs, failures: seen.failures.length, asked: seen.asked, agentBackMs });
    console.log(
      `restart ${k + 1}: agent back after ${agentBackMs} ms; longest time between answers ${seen.longestGapMs} ms, ${seen.failures.length} of ${seen.asked} lookups failed`,
    );
  }
  const gaps = rounds.map((r) => r.longestGapMs);
  const result = {
    date: new Date().toISOString(),
    restarts: RESTARTS,
    ask_interval_ms: 100,
    longest_gap_ms: { max: Math.max(...gaps), p50: pct(gaps, 50), runs: gaps },
    floor_longest_gap_ms: { max: Math.max(...floors), p50: pct(floors, 50), runs: floors },
    ratio_max_to_floor_max: +(Math.max(...gaps) / Math.max(...floors)).toFixed(2),
    failed_lookups: rounds.reduce((a, r) => a + r.failures, 0),
    lookups: rounds.reduce((a, r) => a + r.asked, 0),
    agent_back_ms: {
      p50: pct(
        rounds.map((r) => r.agentBackMs),
        50,
      ),
      max: Math.max(...rounds.map((r) => r.agentBackMs)),
    },
    before_the_keeper:
      'names unanswered for 3.6–6.0 s around each kill -9 and restart (names e2e test, in-agent servers)',
    memory,
  };
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(path.join(resultsDir, 'dns-restart.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(
    `longest time between answers across ${RESTARTS} kill -9 + restarts: max ${result.longest_gap_ms.max} ms, p50 ${result.longest_gap_ms.p50} ms ` +
      `(no restart, same run: max ${result.floor_longest_gap_ms.max} ms; ratio ${result.ratio_max_to_floor_max}); ` +
      `${result.failed_lookups} of ${result.lookups} lookups failed; agent back after p50 ${result.agent_back_ms.p50} ms`,
  );
  console.log(`memory: DNS keeper ${memory.keeper_rss_mb} MB RSS, agent ${memory.agent_rss_mb} MB`);
  console.log('written: bench/results/dns-restart.json');
} finally {
  await c.teardown();
}
