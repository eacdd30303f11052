/**
 * DNS sync (agent/dns-sync.ts) over a fake DNS port: after stop() no run starts and stop() waits for
 * the run in progress (an agent stopping while a DNS run opened a listener never exited: found by a
 * full run of the suite).
 */
import t from 'tap';
import { DnsSync } from '../../agent/dns-sync.js';
import type { DnsPort } from '../../agent/ports.js';
import type { DnsNetwork } from '../../dns/dns-service.js';
import { silentLogger } from '../../core/logger.js';

t.test('stop: the run in progress is waited for, nothing runs after it', async (t) => {
  const calls: DnsNetwork[][] = [];
  let release: () => void = () => undefined;
  const port: DnsPort = {
    ensure: (nets) => {
      calls.push(nets);
      return new Promise<void>((r) => (release = r));
    },
    counters: { queries: 0, answered: 0, nxdomain: 0, forwarded: 0, servfail: 0, malformed: 0, refused: 0, limited: 0 },
    writeResolvConf: () => false,
    removeResolvConf: () => undefined,
  };
  const local = [
    {
      id: 'e',
      network: 'blue',
      vni: 7,
      netns: 'ct',
      ifname: 'eth0',
      mac: 'm',
      ip: '198.18.5.2',
      prefix: 24,
      createdAt: '',
    },
  ];
  const sync = new DnsSync(
    {
      networks: () =>
        new Map([
          [
            'blue',
            { name: 'blue', vni: 7, subnet: '198.18.5.0/24', gateway: '198.18.5.1', usable: true, conflicts: [] },
          ],
        ]),
      localEndpoints: () => local,
      rows: () => [],
    },
    { overlayNetnsPath: (vni) => `/run/netns/o${vni}` },
    port,
    silentLogger,
  );
  sync.schedule();
  await sync.run();
  await new Promise((r) => setTimeout(r, 30));
  t.equal(calls.length, 0, 'no run before the agent has started (the keeper keeps the last zones)');
  const running = sync.begin();
  await new Promise((r) => setImmediate(r));
  t.equal(calls.length, 1, 'a run is in progress');
  let stopped = false;
  const stopping = sync.stop().then(() => (stopped = true));
  await new Promise((r) => setImmediate(r));
  t.notOk(stopped, 'stop waits for the run in progress');
  release();
  await stopping;
  await running;
  t.ok(stopped);
  sync.schedule();
  await sync.run();
  await new Promise((r) => setTimeout(r, 30));
  t.equal(calls.length, 1, 'no run after stop (scheduled or asked for)');
});
