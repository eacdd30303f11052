/**
 * Encrypted networks' identity of a host (issue 28): its WireGuard key pair (as `wg genkey`/`wg pubkey`
 * make them) in the state directory, its tunnel address, and both in its signed member statement.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { isTunnelAddress, tunnelAddress, TUNNEL_PREFIX } from '../../core/tunnel-address.js';
import { loadOrCreateWireguardKey, wireguardPublicKey } from '../../discovery/wireguard-identity.js';
import { signStatement, verifyStatement } from '../../discovery/member-statement.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-wg-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

t.test('the public key of a private key is X25519 (RFC 7748 test vector), as wg pubkey prints it', async (t) => {
  const priv = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex').toString(
    'base64',
  );
  t.equal(
    Buffer.from(wireguardPublicKey(priv), 'base64').toString('hex'),
    '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
  );
  t.throws(() => wireguardPublicKey('c2hvcnQ='), { name: 'ValidationError', field: 'wireguard-key' });
});

t.test('the key pair: made once, owner-only, read back; a group-readable file is refused', async (t) => {
  const a = loadOrCreateWireguardKey(dir);
  t.equal(fs.statSync(a.file).mode & 0o777, 0o600);
  t.equal(Buffer.from(a.privateKey, 'base64').length, 32);
  t.same(loadOrCreateWireguardKey(dir), a, 'the same key after a restart');
  fs.chmodSync(a.file, 0o640);
  t.throws(() => loadOrCreateWireguardKey(dir), { field: 'stateDir', message: /wireguard\.key has mode 0640/ });
  fs.chmodSync(a.file, 0o600);
});

t.test('tunnel addresses: in vxmesh /48, one per peer id, stable', async (t) => {
  const ids = await Promise.all(
    [1, 2, 3].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()),
  );
  const addrs = ids.map(tunnelAddress);
  t.equal(new Set(addrs).size, 3, 'one each');
  t.ok(addrs.every((a) => a.startsWith(`${TUNNEL_PREFIX}:0:`) && isTunnelAddress(a)));
  t.equal(tunnelAddress(ids[0] as string), addrs[0], 'stable');
  t.notOk(isTunnelAddress('fd00::1'));
  t.notOk(isTunnelAddress('198.51.100.1'));
});

t.test('key and tunnel address travel in the signed statement (keys 8 and 9); a bad one is refused', async (t) => {
  const key = await generateKeyPair('Ed25519');
  const peerId = peerIdFromPrivateKey(key).toString();
  const wg = loadOrCreateWireguardKey(dir);
  const info = {
    peerId,
    name: 'h1',
    vtep: '198.51.100.11',
    addrs: [],
    incarnation: 7,
    wgKey: wg.publicKey,
    tunnel: tunnelAddress(peerId),
  };
  const st = verifyStatement(signStatement(key, info), peerId);
  t.equal(st.wgKey, wg.publicKey);
  t.equal(st.tunnel, info.tunnel);
  t.throws(() => verifyStatement(signStatement(key, { ...info, tunnel: '198.51.100.1' }), peerId), {
    name: 'WireError',
    field: 'member.signed.tunnel',
  });
  t.throws(() => verifyStatement(signStatement(key, { ...info, wgKey: 'c2hvcnQ=' }), peerId), {
    name: 'WireError',
    field: 'member.signed.wgKey',
  });
});

t.test('the ids of the cluster keys held travel in the statement (key 11); a bad list is refused', async (t) => {
  const key = await generateKeyPair('Ed25519');
  const peerId = peerIdFromPrivateKey(key).toString();
  const info = { peerId, name: 'h1', vtep: '198.51.100.11', addrs: [], incarnation: 7 };
  const keys = ['00112233445566ff', 'a0b1c2d3e4f50617'];
  t.same(verifyStatement(signStatement(key, { ...info, clusterKeys: keys }), peerId).clusterKeys, keys);
  t.equal(verifyStatement(signStatement(key, info), peerId).clusterKeys, undefined, 'absent: an open cluster');
  t.throws(() => verifyStatement(signStatement(key, { ...info, clusterKeys: ['0011', ...keys, ...keys] }), peerId), {
    name: 'WireError',
    field: 'member.signed.clusterKeys',
  });
});

t.test("the agent's version travels in the statement (key 10); a bad one is refused naming the field", async (t) => {
  const key = await generateKeyPair('Ed25519');
  const peerId = peerIdFromPrivateKey(key).toString();
  const info = { peerId, name: 'h1', vtep: '198.51.100.11', addrs: [], incarnation: 7 };
  t.equal(verifyStatement(signStatement(key, { ...info, version: '0.2.0~rc1' }), peerId).version, '0.2.0~rc1');
  t.equal(verifyStatement(signStatement(key, info), peerId).version, undefined, 'absent: an older release');
  for (const bad of ['', 'x'.repeat(65), '0.2 beta', '0.2\n'])
    t.throws(() => verifyStatement(signStatement(key, { ...info, version: bad }), peerId), {
      name: 'WireError',
      field: 'member.signed.version',
    });
});
