/**
 * The cluster key as a libp2p connection protector: libp2p's private-network handshake (pnet: a
 * 24-byte nonce each way, then XSalsa20 over every byte with the pre-shared key), with one addition
 * for key changes: a node sends with one key and accepts several. Each direction has its own nonce,
 * so each may use its own key; the receiver finds the sender's key by trial decryption of the first
 * 20 bytes, which are always the multistream-select header ("\x13/multistream/1.0.0\n") that both
 * sides send first. With one key this is byte-for-byte pnet, so agents with and without the change
 * interoperate. A connection whose first bytes decrypt under no accepted key is closed.
 */
import type { AbortOptions, MessageStream, MultiaddrConnection } from '@libp2p/interface';
import { AbstractMultiaddrConnection, byteStream } from '@libp2p/utils';
import { XSalsa20Stream } from './xsalsa20-stream.js';

const NONCE_LENGTH = 24;
const HEADER = new Uint8Array([0x13, ...new TextEncoder().encode('/multistream/1.0.0\n')]);

export interface ClusterKeys {
  /** 32-byte key this node encrypts with. */
  send: Uint8Array;
  /** 32-byte keys accepted from peers (include `send`). */
  accept: Uint8Array[];
}

/** The 32 key bytes of a swarm key file's text ("/key/swarm/psk/1.0.0/", "/base16/", hex). */
export function pskBytes(swarmKey: Uint8Array): Uint8Array {
  const hex = new TextDecoder().decode(swarmKey).trim().split(/\r?\n/)[2] ?? '';
  const b = Buffer.from(hex, 'hex');
  if (b.length !== 32) throw new Error('a swarm key holds 32 bytes');
  return new Uint8Array(b);
}

class KeyedConnection extends AbstractMultiaddrConnection {
  private inbound?: XSalsa20Stream;
  private readonly outbound: XSalsa20Stream;
  private pending = new Uint8Array(0);

  constructor(
    private readonly maConn: MultiaddrConnection,
    keys: ClusterKeys,
    localNonce: Uint8Array,
    remoteNonce: Uint8Array,
  ) {
    super({ log: maConn.log, remoteAddr: maConn.remoteAddr, direction: maConn.direction });
    this.outbound = new XSalsa20Stream(keys.send, localNonce);
    maConn.addEventListener('message', (evt) => {
      const data = evt.data;
      const chunks = data instanceof Uint8Array ? [data] : [...data];
      for (const c of chunks) this.receive(c, keys, remoteNonce);
    });
    maConn.addEventListener('drain', () => this.onMuxerDrain());
    maConn.addEventListener('close', (evt) => {
      if (evt.error != null) {
        if (evt.local) this.abort(evt.error);
        else this.onRemoteReset();
      } else this.onTransportClosed();
    });
  }

  private receive(chunk: Uint8Array, keys: ClusterKeys, remoteNonce: Uint8Array): void {
    if (this.inbound) {
      this.onData(this.inbound.update(chunk));
      return;
    }
    this.pending = Buffer.concat([this.pending, chunk]);
    if (this.pending.length < HEADER.length) return;
    for (const key of keys.accept) {
      const cipher = new XSalsa20Stream(key, remoteNonce);
      const head = cipher.update(this.pending.subarray(0, HEADER.length));
      if (Buffer.from(head).equals(HEADER)) {
        this.inbound = cipher;
        const rest = cipher.update(this.pending.subarray(HEADER.length));
        this.pending = new Uint8Array(0);
        this.onData(Buffer.concat([head, rest]));
        return;
      }
    }
    this.abort(new Error('cluster key mismatch: the peer encrypts with a key this node does not accept'));
  }

  async sendClose(options?: AbortOptions): Promise<void> {
    await this.maConn.close(options);
  }

  sendData(data: { subarray(): Uint8Array; byteLength: number }): { sentBytes: number; canSendMore: boolean } {
    return { sentBytes: data.byteLength, canSendMore: this.maConn.send(this.outbound.update(data.subarray())) };
  }

  sendReset(err: Error): void {
    this.maConn.abort(err);
  }

  sendPause(): void {
    this.maConn.pause();
  }

  sendResume(): void {
    this.maConn.resume();
  }
}

class KeyedProtector {
  constructor(
    private readonly keys: ClusterKeys,
    private readonly timeoutMs = 1000,
  ) {}

  readonly [Symbol.toStringTag] = 'vxmesh/cluster-key';

  async protect(connection: MessageStream, options?: AbortOptions): Promise<MessageStream> {
    const localNonce = crypto.getRandomValues(new Uint8Array(NONCE_LENGTH));
    const opts = options ?? { signal: AbortSignal.timeout(this.timeoutMs) };
    const bytes = byteStream(connection);
    const [remote] = await Promise.all([bytes.read({ bytes: NONCE_LENGTH, ...opts }), bytes.write(localNonce, opts)]);
    return new KeyedConnection(bytes.unwrap() as MultiaddrConnection, this.keys, localNonce, remote.subarray());
  }
}

/** libp2p's `connectionProtector` option for these keys. */
export function clusterKeyProtector(keys: ClusterKeys): () => KeyedProtector {
  return () => new KeyedProtector(keys);
}
