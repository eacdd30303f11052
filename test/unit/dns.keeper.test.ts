/**
 * The DNS keeper's protocol and lifecycle over a real unix socket, in this process (no network
 * namespace: the networks given point at a namespace that does not exist, so the servers are only
 * retried; the real servers are exercised by the names e2e test): launch on demand, adoption by the
 * next agent, replacement of a keeper with other settings, bad requests refused naming the field, and
 * the end of an orphaned keeper.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { silentLogger } from '../../core/logger.js';
import { DnsKeeperClient } from '../../dns/keeper-client.js';
import { decodeRequest, encodeRequest, type KeeperSettings } from '../../dns/keeper-protocol.js';
import { runKeeper, type RunningKeeper } from '../../dns/keeper-server.js';
import { DEFAULT_QUERY_LIMITS } from '../../dns/query-limits.js';
import type { DnsNetwork } from '../../dns/dns-service.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-keeper-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const settings: KeeperSettings = { limits: DEFAULT_QUERY_LIMITS, upstream: { host: '127.0.0.1', port: 5353 } };
const blue: DnsNetwork = {
  vni: 7,
  netns: path.join(dir, 'no-such-netns'),
  addresses: ['198.18.5.1', '2001:db8:5::1'],
  zone: {
    network: 'blue',
    names: new Map([['web', ['198.18.5.2', '2001:db8:5::2']]]),
    internal: true,
    connected: new Map([['green', new Map([['db', ['198.18.6.2']]])]]),
  },
};

t.test('the wire format: a network with its zone round-trips; bad fields are named', async (t) => {
  const line = encodeRequest({ op: 'ensure', id: 3, nets: [blue] });
  t.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'), 'one line');
  t.same(decodeRequest(line.trim()), { op: 'ensure', id: 3, nets: [blue] });
  const bad = (x: unknown, field: string) =>
    t.throws(
      () => decodeRequest(typeof x === 'string' ? x : JSON.stringify(x)),
      { name: 'ValidationError', field },
      field,
    );
  bad('{', 'body');
  bad([], 'body');
  bad({ op: 'ensure', id: -1, nets: [] }, 'id');
  bad({ op: 'shout', id: 1 }, 'op');
  bad({ op: 'ensure', id: 1, nets: {} }, 'nets');
  const wire = JSON.parse(line) as { nets: Array<Record<string, unknown>> };
  const mutate = (f: (n: Record<string, unknown> & { zone: Record<string, unknown> }) => void) => {
    const n = structuredClone(wire.nets[0]) as Record<string, unknown> & { zone: Record<string, unknown> };
    f(n);
    return { op: 'ensure', id: 1, nets: [n] };
  };
  bad(
    mutate((n) => (n.vni = 2 ** 24)),
    'nets[0].vni',
  );
  bad(
    mutate((n) => (n.addresses = ['198.18.5.1', 'gateway'])),
    'nets[0].addresses[1]',
  );
  bad(
    mutate((n) => (n.netns = '')),
    'nets[0].netns',
  );
  bad(
    mutate((n) => (n.zone.names = [['web', ['not-an-ip']]])),
    'nets[0].zone.names[0][1][0]',
  );
  bad(
    mutate((n) => (n.zone.connected = [['green']])),
    'nets[0].zone.connected[0]',
  );
});

/** A launcher that runs the keeper in this process (the agent's launches a process of its own). */
function inProcess(socketPath: string, s: KeeperSettings, started: RunningKeeper[]) {
  return () =>
    void runKeeper({ socketPath, settings: s, log: silentLogger, orphanMs: 60_000 }).then((k) => started.push(k));
}

t.test('launched on demand, adopted by the next agent, replaced when its settings differ', async (t) => {
  const socketPath = path.join(dir, 'k1.sock');
  const started: RunningKeeper[] = [];
  t.teardown(() => started.forEach((k) => k.close()));
  const client = (s: KeeperSettings) =>
    new DnsKeeperClient({ socketPath, settings: s, log: silentLogger, launch: inProcess(socketPath, s, started) });

  const first = client(settings);
  await first.ensure([]);
  t.equal(started.length, 0, 'nothing to serve: no keeper launched');
  await first.ensure([blue]);
  t.equal(started.length, 1, 'launched for the first network');
  t.equal(first.pid, process.pid);
  first.detach();

  const second = client({ ...settings });
  await second.ensure([blue]);
  t.equal(started.length, 1, 'the next agent adopted the running keeper');
  second.detach();

  const third = client({ ...settings, upstream: { host: '127.0.0.1', port: 5454 } });
  await third.ensure([]);
  t.equal(started.length, 1, 'nothing to serve: the other keeper was told to end, none launched');
  await third.ensure([blue]);
  t.equal(started.length, 2, 'a keeper with the new settings');
  await started[0]?.done;
  t.pass('the keeper with the old settings ended');
  await third.stopKeeper();
  await started[1]?.done;
  t.notOk(fs.existsSync(socketPath), 'its socket is removed when it ends');
});

t.test('a bad request is refused naming the field and changes nothing; an orphaned keeper ends', async (t) => {
  const socketPath = path.join(dir, 'k2.sock');
  const keeper = await runKeeper({ socketPath, settings, log: silentLogger, orphanMs: 300 });
  const conn = net.connect(socketPath);
  await new Promise((r) => conn.once('connect', r));
  const replies: string[] = [];
  conn.setEncoding('utf8');
  conn.on('data', (d: string) => replies.push(...d.split('\n').filter(Boolean)));
  conn.write('{"op":"ensure","id":5,"nets":[{"vni":"x"}]}\n{"op":"hello","id":6}\n');
  while (replies.length < 2) await new Promise((r) => setTimeout(r, 10));
  const [refused, hello] = replies.map((r) => JSON.parse(r) as Record<string, unknown>);
  t.match(refused, { id: 5, ok: false, field: 'nets[0].zone' });
  t.match(hello, { id: 6, ok: true, pid: process.pid, settings });
  const t0 = Date.now();
  conn.destroy();
  await keeper.done;
  t.ok(Date.now() - t0 >= 250, 'ended once no agent was connected for its orphan time');
  t.notOk(fs.existsSync(socketPath));
});
