/** Types of the `xsalsa20` package (the stream cipher of libp2p's private networks; no types shipped). */
declare module 'xsalsa20' {
  interface XSalsa20 {
    update(input: Uint8Array, output?: Uint8Array): Uint8Array;
    finalize(): void;
  }
  export default function xsalsa20(nonce: Uint8Array, key: Uint8Array): XSalsa20;
}
