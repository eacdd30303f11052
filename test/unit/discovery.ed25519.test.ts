/** Signing and checking through cached node:crypto keys gives libp2p's exact signatures. */
import t from 'tap';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { signWith, verifyByPeerId } from '../../discovery/ed25519.js';

t.test('signWith matches libp2p byte for byte, and verifies', async (t) => {
  const key = await generateKeyPair('Ed25519');
  const id = peerIdFromPrivateKey(key).toString();
  for (const data of [
    new Uint8Array(0),
    new TextEncoder().encode('vxmesh'),
    crypto.getRandomValues(new Uint8Array(700)),
  ]) {
    const ours = await signWith(key, data);
    t.same(Buffer.from(ours), Buffer.from(await key.sign(data)), `${data.length} bytes: same signature`);
    t.ok(verifyByPeerId(id, data, ours));
    t.ok(await key.publicKey.verify(data, ours), 'libp2p accepts it');
  }
  const again = await signWith(key, new Uint8Array([1]));
  t.same(Buffer.from(again), Buffer.from(await key.sign(new Uint8Array([1]))), 'the cached key object signs the same');
  const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
  t.notOk(verifyByPeerId(other, new Uint8Array([1]), again), 'another identity does not verify');
});

t.test('other key types go through libp2p', async (t) => {
  const key = await generateKeyPair('secp256k1');
  const data = new TextEncoder().encode('x');
  t.ok(await key.publicKey.verify(data, await signWith(key, data)));
});
