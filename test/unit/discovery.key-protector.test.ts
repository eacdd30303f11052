/**
 * The cluster-key protector over an in-memory connection pair, against libp2p's own pnet: with one key
 * the two interoperate (so agents before and after the key-change support talk); during a change a
 * node decrypts a peer that sends with either accepted key; a peer with a key it does not accept is
 * cut off.
 */
import t from 'tap';
import { preSharedKey } from '@libp2p/pnet';
import { multiaddrConnectionPair } from '@libp2p/utils';
import type { MessageStream } from '@libp2p/interface';
import { generateClusterKey } from '../../discovery/node.js';
import { clusterKeyProtector, pskBytes } from '../../discovery/key-protector.js';

const HEADER = Buffer.concat([Buffer.from([0x13]), Buffer.from('/multistream/1.0.0\n')]);
const keyA = new TextEncoder().encode(generateClusterKey());
const keyB = new TextEncoder().encode(generateClusterKey());
const ours = (send: Uint8Array, accept: Uint8Array[]) =>
  clusterKeyProtector({ send: pskBytes(send), accept: accept.map(pskBytes) })();
const pnet = (key: Uint8Array) => preSharedKey({ psk: key })();

/** Sends the multistream header and a word from each side; resolves what each side received, or 'closed'. */
async function exchange(a: MessageStream, b: MessageStream): Promise<[string, string]> {
  const received = (s: MessageStream) =>
    new Promise<string>((resolve) => {
      let buf = Buffer.alloc(0);
      s.addEventListener('message', (evt) => {
        const d = evt.data;
        buf = Buffer.concat([buf, Buffer.from(d instanceof Uint8Array ? d : d.subarray())]);
        if (buf.length >= HEADER.length + 5)
          resolve(buf.subarray(0, HEADER.length).equals(HEADER) ? buf.subarray(HEADER.length).toString() : 'garbage');
      });
      s.addEventListener('close', () => resolve('closed'));
      setTimeout(() => resolve('nothing'), 1000);
    });
  const ra = received(a);
  const rb = received(b);
  // A side that has already cut the connection cannot send any more.
  const send = (s: MessageStream, word: string) => {
    if (s.status === 'open') s.send(Buffer.concat([HEADER, Buffer.from(word)]));
  };
  send(a, 'hello');
  send(b, 'olleh');
  return Promise.all([ra, rb]);
}

async function pair(
  left: { protect(c: MessageStream): Promise<MessageStream> },
  right: { protect(c: MessageStream): Promise<MessageStream> },
) {
  const [x, y] = multiaddrConnectionPair();
  return Promise.all([left.protect(x), right.protect(y)]);
}

t.test('one key: the same bytes as libp2p pnet, both ways', async (t) => {
  const [a, b] = await pair(pnet(keyA), ours(keyA, [keyA]));
  t.same(await exchange(a, b), ['olleh', 'hello']);
});

t.test('during a change: sending with the old key, accepting both, talks to old and new peers', async (t) => {
  let [a, b] = await pair(pnet(keyA), ours(keyA, [keyA, keyB]));
  t.same(await exchange(a, b), ['olleh', 'hello'], 'with a peer on the old key only');
  [a, b] = await pair(ours(keyB, [keyA, keyB]), ours(keyA, [keyA, keyB]));
  t.same(await exchange(a, b), ['olleh', 'hello'], 'with a peer that already sends with the new key');
});

t.test('a peer with a key this node does not accept is cut off', async (t) => {
  const [a, b] = await pair(pnet(keyB), ours(keyA, [keyA]));
  const [atA, atB] = await exchange(a, b);
  t.equal(atB, 'closed', 'the node closes the connection');
  t.not(atA, 'hello', 'and the peer read nothing meaningful');
});
