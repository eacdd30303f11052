/**
 * The cluster key's stream cipher: the same keystream as the `xsalsa20` package (what libp2p's pnet
 * sends) whatever the chunk sizes; and a large chunk followed by many small ones on several
 * connections, which made that package abort the process (its shared WebAssembly memory grew on every
 * switch between ciphers once one large chunk had grown it, up to its 61 MiB maximum).
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import fc from 'fast-check';
import xsalsa20 from 'xsalsa20';
import { multiaddrConnectionPair } from '@libp2p/utils';
import type { MessageStream } from '@libp2p/interface';
import { generateClusterKey } from '../../discovery/node.js';
import { clusterKeyProtector, pskBytes } from '../../discovery/key-protector.js';
import { XSalsa20Stream } from '../../discovery/xsalsa20-stream.js';

t.test('the same keystream as the xsalsa20 package, whatever the chunking', async (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 700 }), { minLength: 1, maxLength: 40 }),
      fc.integer({ min: 0, max: 2 ** 31 }),
      (sizes, seed) => {
        const key = randomBytes(32);
        const nonce = randomBytes(24);
        const reference = xsalsa20(nonce, key);
        const ours = new XSalsa20Stream(key, nonce);
        for (const [k, n] of sizes.entries()) {
          const chunk = Buffer.alloc(n, (seed + k) & 255);
          if (!Buffer.from(ours.update(chunk)).equals(Buffer.from(reference.update(chunk)))) return false;
        }
        return true;
      },
    ),
    { seed: 14, numRuns: 300 },
  );
  t.pass('300 random chunkings agree byte for byte');
  t.throws(
    () => new XSalsa20Stream(new Uint8Array(16), new Uint8Array(24)),
    /key holds 32 bytes/,
    'a short key is refused',
  );
});

t.test('a 4 MiB chunk, then thousands of small ones on three keyed connections: all delivered intact', async (t) => {
  const key = pskBytes(new TextEncoder().encode(generateClusterKey()));
  const protector = () => clusterKeyProtector({ send: key, accept: [key] })();
  const pairs: Array<[MessageStream, MessageStream]> = [];
  for (let k = 0; k < 3; k++) {
    const [x, y] = multiaddrConnectionPair();
    pairs.push(await Promise.all([protector().protect(x), protector().protect(y)]));
  }
  const received = pairs.map(([, b]) => {
    const chunks: Buffer[] = [];
    b.addEventListener('message', (evt) =>
      chunks.push(Buffer.from(evt.data instanceof Uint8Array ? evt.data : evt.data.subarray())),
    );
    return chunks;
  });
  const sent: Buffer[][] = pairs.map(() => []);
  const header = Buffer.concat([Buffer.from([0x13]), Buffer.from('/multistream/1.0.0\n')]);
  const big = randomBytes(4 * 1024 * 1024);
  for (const [k, [a]] of pairs.entries()) {
    a.send(header);
    sent[k]?.push(header);
  }
  pairs[0]?.[0].send(big);
  sent[0]?.push(big);
  for (let round = 0; round < 2000; round++) {
    for (const [k, [a]] of pairs.entries()) {
      const m = Buffer.from(`message ${round} on ${k};`);
      a.send(m);
      sent[k]?.push(m);
    }
    await new Promise((r) => setImmediate(r)); // each round goes out on its own (switching between ciphers)
  }
  await new Promise((r) => setTimeout(r, 200));
  for (const [k, chunks] of received.entries())
    t.ok(Buffer.concat(chunks).equals(Buffer.concat(sent[k] ?? [])), `connection ${k}: every byte arrived decrypted`);
});
