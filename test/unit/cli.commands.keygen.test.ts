/** The cluster key file: format and permissions checked naming cluster-key; the fingerprint; keygen's output. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import {
  clusterKeyFingerprint,
  generateClusterKey,
  loadOrCreatePeerKey,
  readClusterKey,
} from '../../discovery/node.js';
import { keygenCommand } from '../../cli/commands/keygen.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-key-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

t.test('a root-only key file is read; others are refused naming cluster-key', async (t) => {
  const good = path.join(dir, 'good.key');
  fs.writeFileSync(good, generateClusterKey(), { mode: 0o600 });
  t.equal(readClusterKey(good).length, 22 + 9 + 65, 'header, encoding and key lines');
  const open = path.join(dir, 'open.key');
  fs.writeFileSync(open, generateClusterKey(), { mode: 0o644 });
  fs.chmodSync(open, 0o644);
  t.throws(() => readClusterKey(open), {
    field: 'cluster-key',
    message: /mode 0644: its group or others may read it; make it owner-only \(chmod 600 /,
  });
  fs.chmodSync(open, 0o640);
  t.throws(() => readClusterKey(open), { name: 'ValidationError', field: 'cluster-key' }, 'group-readable too');
  const bad = path.join(dir, 'bad.key');
  fs.writeFileSync(bad, 'not a key\n', { mode: 0o600 });
  t.throws(() => readClusterKey(bad), { field: 'cluster-key', message: /is not a swarm key/ });
  t.throws(() => readClusterKey(path.join(dir, 'missing.key')), { field: 'cluster-key', message: /cannot read/ });
  const foreign = path.join(dir, 'foreign.key');
  fs.writeFileSync(foreign, generateClusterKey(), { mode: 0o600 });
  fs.chownSync(foreign, 65534, 65534);
  t.throws(
    () => readClusterKey(foreign),
    { field: 'cluster-key', message: /owned by uid 65534, not by this process's user/ },
    "another user's file is refused even with mode 0600",
  );
});

t.test('the peer key: mode and owner checked before it is read (it was not checked at all)', async (t) => {
  const state = fs.mkdtempSync(path.join(dir, 'state-'));
  const key = await loadOrCreatePeerKey(state);
  const file = path.join(state, 'peer.key');
  t.equal(fs.statSync(file).mode & 0o777, 0o600, 'created owner-only');
  t.same((await loadOrCreatePeerKey(state)).raw, key.raw, 'read back');
  fs.chmodSync(file, 0o644);
  await t.rejects(loadOrCreatePeerKey(state), { field: 'stateDir', message: /peer\.key has mode 0644/ });
  fs.chmodSync(file, 0o600);
  fs.chownSync(file, 65534, 65534);
  await t.rejects(loadOrCreatePeerKey(state), { field: 'stateDir', message: /owned by uid 65534/ });
});

t.test('the fingerprint identifies a key without showing it', async (t) => {
  const text = generateClusterKey();
  const hex = text.split('\n')[2] as string;
  const fp = clusterKeyFingerprint(Buffer.from(text));
  t.match(fp, /^sha256:[0-9a-f]{16}$/);
  t.equal(clusterKeyFingerprint(Buffer.from(text)), fp, 'stable');
  t.not(clusterKeyFingerprint(Buffer.from(generateClusterKey())), fp, 'another key, another fingerprint');
  t.notOk(hex.includes(fp.slice(7)), 'no part of the key');
});

t.test('keygen writes a 0600 file and prints the next steps, never the key', async (t) => {
  const out: string[] = [];
  const file = path.join(dir, 'new.key');
  const code = await keygenCommand.run({
    argv: [file],
    out: (s: string) => out.push(s),
    err: () => undefined,
  } as unknown as Parameters<typeof keygenCommand.run>[0]);
  t.equal(code, 0);
  t.equal(fs.statSync(file).mode & 0o777, 0o600);
  const text = out.join('\n');
  const hex = fs.readFileSync(file, 'utf8').split('\n')[2] as string;
  t.notOk(text.includes(hex), 'the key is not printed');
  t.match(text, /fingerprint sha256:[0-9a-f]{16}/);
  t.match(text, /--cluster-key \/etc\/vxmesh\/cluster\.key/, 'the agent line');
  t.match(text, /install -D -m 600/, 'where and how to copy it');
  await t.rejects(
    keygenCommand.run({ argv: [file], out: () => undefined, err: () => undefined } as unknown as Parameters<
      typeof keygenCommand.run
    >[0]),
    /cannot write .*EEXIST/,
    'an existing file is never overwritten',
  );
});
