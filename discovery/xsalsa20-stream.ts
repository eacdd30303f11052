/**
 * XSalsa20 as a stream (any chunk sizes, one continuous keystream), for the cluster key's
 * connection protector. Built on @noble/ciphers (maintained, audited, pure JS): the `xsalsa20`
 * package that libp2p's pnet uses keeps one WebAssembly memory for every cipher of the process and
 * each cipher caches a view of it; after one large chunk (over ~640 KiB, e.g. an anti-entropy frame
 * of a big table) grows that memory, every other cipher's view is stale and each of its next updates
 * grows the memory again, until the module's 61 MiB maximum aborts the process (reproduced with a
 * flooding member; test/unit/cli.commands.keygen.test.ts). Its cipher slots are also never reused unless
 * finalized. Here each stream holds only its key, nonce, counter and the rest of its last block.
 */
import { xsalsa20 } from '@noble/ciphers/salsa.js';

const BLOCK = 64;

export class XSalsa20Stream {
  private counter = 0;
  private readonly keystream = new Uint8Array(BLOCK);
  private used = BLOCK;

  constructor(
    private readonly key: Uint8Array,
    private readonly nonce: Uint8Array,
  ) {
    if (key.length !== 32) throw new Error('an XSalsa20 key holds 32 bytes');
    if (nonce.length !== 24) throw new Error('an XSalsa20 nonce holds 24 bytes');
  }

  /** XORs the next `input.length` bytes of the keystream into a copy of `input`. */
  update(input: Uint8Array): Uint8Array {
    const out = new Uint8Array(input.length);
    let i = 0;
    for (; i < input.length && this.used < BLOCK; i++)
      out[i] = (input[i] as number) ^ (this.keystream[this.used++] as number);
    const whole = input.length - i - ((input.length - i) % BLOCK);
    if (whole > 0) {
      xsalsa20(this.key, this.nonce, input.subarray(i, i + whole), out.subarray(i, i + whole), this.counter);
      this.counter += whole / BLOCK;
      i += whole;
    }
    if (i < input.length) {
      xsalsa20(this.key, this.nonce, new Uint8Array(BLOCK), this.keystream, this.counter);
      this.counter++;
      this.used = 0;
      for (; i < input.length; i++) out[i] = (input[i] as number) ^ (this.keystream[this.used++] as number);
    }
    return out;
  }
}
