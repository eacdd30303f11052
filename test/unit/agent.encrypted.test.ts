/**
 * Encrypted networks in the agent, with fakes: the host's WireGuard interface is built before an
 * attach (or the attach is refused, naming why, with nothing made), remote endpoints go to their
 * owners' tunnel addresses (never their VTEPs), WireGuard peers follow membership.
 */
import t from 'tap';
import { blueEndpoint } from '../fixtures/endpoints.js';
import { Agent } from '../../agent/agent.js';
import type { WantedPeer, WireguardPort } from '../../agent/ports.js';
import type { WireguardPeerState } from '../../dataplane/wireguard.js';
import { WireguardSync } from '../../agent/wireguard-sync.js';
import { agentParts, FakeCluster, FakeOverlay } from '../fixtures/agent-fakes.js';
import { silentLogger } from '../../core/logger.js';

const BLUE = { name: 'blue', vni: 5000, subnet: '198.18.5.0/24', gateway: '198.18.5.1', encrypted: true };
const T2 = 'fd7a:6d73:6801:0:1:2:3:4';
const T3 = 'fd7a:6d73:6801:0:5:6:7:8';

function fakeWireguard(fail?: Error, shown?: WireguardPeerState[]) {
  const runs: WantedPeer[][] = [];
  const removes: boolean[] = [];
  const port: WireguardPort = {
    ensure: (peers, opts) => {
      runs.push(peers);
      removes.push(opts.removeOthers);
      return fail ? Promise.reject(fail) : Promise.resolve({ changes: [] });
    },
    show: () => Promise.resolve(shown),
  };
  return { port, runs, removes };
}

function cluster() {
  const c = new FakeCluster('self');
  c.remote('network', 'h2', BLUE);
  c.addMember({ peerId: 'h2', vtep: '198.51.100.2', wgKey: 'k2', tunnel: T2 });
  c.addMember({ peerId: 'h3', vtep: '198.51.100.3' }); // announces no WireGuard key (an older release)
  return c;
}

t.test('without WireGuard (--no-wireguard): refused, nothing attached, no overlay', async (t) => {
  const driver = new FakeOverlay();
  const agent = new Agent(agentParts({ cluster: cluster(), driver }));
  await agent.start();
  t.teardown(() => agent.stop());
  await t.rejects(agent.attach({ network: 'blue', netns: 'ns1' }), {
    field: 'network',
    message: /blue is encrypted and this agent runs without WireGuard \(--no-wireguard\): nothing was attached/,
  });
  t.same(agent.localEndpoints(), [], 'no endpoint');
  t.equal(driver.overlays.size, 0, 'no overlay built for it');
});

t.test('WireGuard cannot be built (a package missing): refused naming it, nothing attached', async (t) => {
  const driver = new FakeOverlay();
  const wg = fakeWireguard(new Error('wireguard-go is missing: install the Debian package wireguard-go'));
  const agent = new Agent(agentParts({ cluster: cluster(), driver, wireguard: { port: wg.port, listenPort: 51820 } }));
  await agent.start();
  t.teardown(() => agent.stop());
  await t.rejects(agent.attach({ network: 'blue', netns: 'ns1' }), {
    field: 'network',
    message:
      /WireGuard interface cannot be built: wireguard-go is missing: install the Debian package wireguard-go; nothing was attached/,
  });
  t.same(agent.localEndpoints(), [], 'no endpoint');
  t.equal(driver.overlays.size, 0, 'no overlay built for it');
});

t.test('attached: encrypted overlay, peers by host, remote entries at tunnel addresses only', async (t) => {
  const c = cluster();
  c.claim('h2', 'blue', '198.18.5.0/28');
  c.claim('h3', 'blue', '198.18.5.16/28');
  c.remote('endpoint', 'h2', blueEndpoint('r2', '198.18.5.2', '198.51.100.2'));
  c.remote('endpoint', 'h3', blueEndpoint('r3', '198.18.5.17', '198.51.100.3'));
  const driver = new FakeOverlay();
  const wg = fakeWireguard();
  const agent = new Agent(agentParts({ cluster: c, driver, wireguard: { port: wg.port, listenPort: 51820 } }));
  await agent.start();
  t.teardown(() => agent.stop());
  t.same(wg.runs, [], 'no interface while no local endpoint needs one');
  await agent.attach({ network: 'blue', netns: 'ns1' });
  t.same(
    wg.runs[0],
    [{ publicKey: 'k2', endpoint: '198.51.100.2:51820', tunnel: T2 }],
    'built before the attach; peers: members with a key, at their VTEP',
  );
  t.equal(driver.overlays.get(5000)?.encrypted, true, 'the overlay is built encrypted');
  const desired = agent.desired().byNetwork.get('blue') ?? [];
  t.same(
    desired.map((r) => [r.ip, r.vtep]),
    [['198.18.5.2', T2]],
    "h2's endpoint at its tunnel address; h3 (no tunnel address) left out, never at its VTEP",
  );
  // Container churn changes nothing in WireGuard; membership does.
  const runs = wg.runs.length;
  await new WireguardSync(
    { self: 'self', members: () => c.members(), programmed: () => true, needed: () => true, synced: () => true },
    wg.port,
    silentLogger,
    51820,
  ).run();
  t.equal(wg.runs.length, runs + 1, 'a fresh sync applies once');
  c.addMember({ peerId: 'h3', vtep: '198.51.100.3', wgKey: 'k3', tunnel: T3 });
  c.emit('members', c.members());
  await new Promise((r) => setImmediate(r));
  t.same(
    wg.runs.at(-1)?.map((p) => p.publicKey),
    ['k2', 'k3'],
    'a member announcing its key becomes a peer',
  );
  c.setState('h2', 'left');
  // Held while its VTEP's answer is awaited (hold.ts), then dropped: the next members event (or tick) applies it.
  await new Promise((r) => setTimeout(r, 20));
  c.emit('members', c.members());
  await new Promise((r) => setImmediate(r));
  t.same(
    wg.runs.at(-1)?.map((p) => p.publicKey),
    ['k3'],
    'a member that left is no peer',
  );
});

t.test('WireguardSync: runs only when needed and when the peers changed, or forced (drift repair)', async (t) => {
  const c = cluster();
  const wg = fakeWireguard();
  let needed = false;
  let synced = false;
  const sync = new WireguardSync(
    { self: 'self', members: () => c.members(), programmed: () => true, needed: () => needed, synced: () => synced },
    wg.port,
    silentLogger,
    51820,
  );
  await sync.run();
  t.equal(wg.runs.length, 0, 'not needed: nothing');
  needed = true;
  await sync.run();
  t.same(wg.removes, [false], 'before the first sync: peers membership does not list yet are kept (an agent restart)');
  synced = true;
  await sync.run();
  await sync.run();
  t.equal(wg.runs.length, 2, 'after it: once more, then not again while the peers are the same');
  t.same(wg.removes, [false, true], 'and others are removed');
  await sync.run(true);
  t.equal(wg.runs.length, 3, 'forced: again (a peer removed by hand comes back)');
  for (let i = 0; i < 6; i++) await sync.periodic();
  t.equal(wg.runs.length, 4, 'the periodic repair forces one run in six ticks');
});

t.test('fdb --check counts WireGuard drift; peers show each peer’s handshake and bytes', async (t) => {
  const shown: WireguardPeerState[] = [
    {
      publicKey: 'k2',
      endpoint: '198.51.100.2:51820',
      allowed: `${T2}/128`,
      latestHandshake: 1_800_000_000,
      rxBytes: 5,
      txBytes: 6,
    },
    {
      publicKey: 'k9',
      endpoint: '198.51.100.9:51820',
      allowed: `${T3}/128`,
      latestHandshake: 0,
      rxBytes: 0,
      txBytes: 0,
    },
  ];
  const wg = fakeWireguard(undefined, shown);
  const agent = new Agent(
    agentParts({ cluster: cluster(), driver: new FakeOverlay(), wireguard: { port: wg.port, listenPort: 51820 } }),
  );
  await agent.start();
  t.teardown(() => agent.stop());
  await agent.attach({ network: 'blue', netns: 'ns1' });
  const [report] = await agent.fdbReport('blue');
  t.same(report?.wireguard, { absent: false, missing: [], extra: ['k9'] }, 'a peer membership does not want');
  t.equal(report?.drift, 1, 'counted as drift');
  const h2 = (await agent.peersWithWireguard()).find((p) => p.peerId === 'h2');
  t.same(
    h2 && 'wireguard' in h2 ? h2.wireguard : undefined,
    { latestHandshake: new Date(1_800_000_000_000).toISOString(), rxBytes: 5, txBytes: 6 },
    "h2's WireGuard state",
  );
  shown.length = 0;
  const [after] = await agent.fdbReport('blue');
  t.same(after?.wireguard, { absent: false, missing: ['k2'], extra: [] }, 'a wanted peer missing');
});

t.test(
  'pre-shared keys: each pair on the lowest id of a cluster key both hold (a key change keeps a common one)',
  async (t) => {
    const c = new FakeCluster('self');
    c.addMember({ peerId: 'self', vtep: '198.51.100.1', self: true, clusterKeys: ['bbbb', 'aaaa'] });
    c.addMember({ peerId: 'h2', vtep: '198.51.100.2', wgKey: 'k2', tunnel: T2, clusterKeys: ['aaaa', 'bbbb'] }); // both keys
    c.addMember({ peerId: 'h3', vtep: '198.51.100.3', wgKey: 'k3', tunnel: T3, clusterKeys: ['bbbb'] }); // only the new one
    c.addMember({ peerId: 'h4', vtep: '198.51.100.4', wgKey: 'k4', tunnel: 'fd7a:6d73:6801:0:4:4:4:4' }); // an older release
    const sync = new WireguardSync(
      { self: 'self', members: () => c.members(), programmed: () => true, needed: () => true, synced: () => true },
      fakeWireguard().port,
      silentLogger,
      51820,
    );
    t.same(
      sync.wanted().map((p) => [p.publicKey, p.pskId]),
      [
        ['k2', 'aaaa'],
        ['k3', 'bbbb'],
        ['k4', 'bbbb'],
      ],
      'h2: the lowest common id (h2 picks the same); h3: the only common one; h4 (announces none): our send key',
    );
  },
);
