/**
 * The libp2p node of an agent: TCP, noise, yamux, identify, ping, gossipsub; a persistent peer key;
 * optionally a pre-shared cluster key (libp2p private network) so that peers without it cannot
 * connect at all. Users give `host:port`; multiaddrs stay inside this module.
 */
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import './with-resolvers-shim.js';
import fs from 'node:fs';
import path from 'node:path';
import { createLibp2p, type Libp2p } from 'libp2p';
import { tcp, type TCPSocketOptions } from '@libp2p/tcp';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify, type Identify } from '@libp2p/identify';
import { ping, type Ping } from '@libp2p/ping';
import { gossipsub, type GossipSub } from '@libp2p/gossipsub';
import { clusterKeyProtector, type ClusterKeys } from './key-protector.js';
import { createHash } from 'node:crypto';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { ValidationError } from '../core/errors.js';
import { checkSecretFile } from '../core/secret-file.js';
import { writeFileAtomic } from '../core/atomic-file.js';

export type VxmeshLibp2p = Libp2p<{ identify: Identify; ping: Ping; pubsub: GossipSub }>;

export interface HostPort {
  host: string;
  port: number;
}

/** Parses `host:port` (IPv4, `[IPv6]`, or a DNS name) naming `field` on error. */
export function parseHostPort(value: unknown, field: string, defaultPort?: number): HostPort {
  if (typeof value !== 'string' || value.length === 0) throw new ValidationError(field, 'must be host:port');
  let host: string;
  let port: string | undefined;
  const v6 = /^\[([0-9a-fA-F:]+)\](?::([0-9]+))?$/.exec(value);
  if (v6) {
    host = v6[1] as string;
    port = v6[2];
  } else {
    const i = value.lastIndexOf(':');
    if (i < 0) {
      host = value;
      port = undefined;
    } else {
      host = value.slice(0, i);
      port = value.slice(i + 1);
    }
  }
  if (!host || !/^[A-Za-z0-9.:_-]+$/.test(host)) throw new ValidationError(field, `invalid host in "${value}"`);
  const p = port === undefined ? defaultPort : /^[0-9]{1,5}$/.test(port) ? Number(port) : NaN;
  if (p === undefined || !Number.isInteger(p) || p < 0 || p > 65535)
    throw new ValidationError(field, `invalid port in "${value}" (expected host:port)`);
  return { host, port: p };
}

export function toMultiaddr(hp: HostPort, peerId?: string): Multiaddr {
  const proto = hp.host.includes(':') ? 'ip6' : /^[0-9.]+$/.test(hp.host) ? 'ip4' : 'dns';
  return multiaddr(`/${proto}/${hp.host}/tcp/${hp.port}${peerId ? `/p2p/${peerId}` : ''}`);
}

/** Loads the peer key from `<stateDir>/peer.key`, creating it (mode 0600) on first start. */
/** This host's peer id (its identity), from the peer key in the state directory (made if missing). */
export async function localPeerId(stateDir: string): Promise<string> {
  return peerIdFromPrivateKey(await loadOrCreatePeerKey(stateDir)).toString();
}

export async function loadOrCreatePeerKey(stateDir: string): Promise<PrivateKey> {
  const file = path.join(stateDir, 'peer.key');
  if (fs.existsSync(file)) {
    checkSecretFile(file, 'stateDir');
    try {
      return privateKeyFromProtobuf(fs.readFileSync(file));
    } catch (e) {
      throw new ValidationError('stateDir', `cannot read peer key ${file}: ${(e as Error).message}`);
    }
  }
  const key = await generateKeyPair('Ed25519');
  writeFileAtomic(file, privateKeyToProtobuf(key));
  return key;
}

/**
 * Reads and checks a cluster key file (libp2p swarm key v1: header, /base16/, 64 hex digits). A file
 * that its group or others may read or write, or that another user owns, is refused: the key is the
 * cluster's only credential.
 */
export function readClusterKey(file: string, field = 'cluster-key'): Uint8Array {
  let text: string;
  try {
    checkSecretFile(file, field);
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof ValidationError) throw e;
    throw new ValidationError(field, `cannot read ${file}: ${(e as Error).message}`);
  }
  const lines = text.trim().split(/\r?\n/);
  if (lines[0] !== '/key/swarm/psk/1.0.0/' || lines[1] !== '/base16/' || !/^[0-9a-fA-F]{64}$/.test(lines[2] ?? '')) {
    throw new ValidationError(
      field,
      `${file} is not a swarm key (expected "/key/swarm/psk/1.0.0/", "/base16/", 64 hex digits; make one with vxmesh keygen)`,
    );
  }
  return Buffer.from(`${lines.slice(0, 3).join('\n')}\n`, 'utf8');
}

/** A key's fingerprint for logs and comparison between hosts (a hash: the key itself is never logged). */
export function clusterKeyFingerprint(key: Uint8Array): string {
  return `sha256:${clusterKeyId(key)}`;
}

/** A key's id: 16 hex digits of its SHA-256 (member statements, WireGuard pre-shared keys). */
export function clusterKeyId(key: Uint8Array): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/** A new cluster key in the swarm key format. */
export function generateClusterKey(): string {
  const hex = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex');
  return `/key/swarm/psk/1.0.0/\n/base16/\n${hex}\n`;
}

const isWildcard = (host: string): boolean => host === '0.0.0.0' || host === '::';

export interface NodeOptions {
  privateKey: PrivateKey;
  listen: HostPort;
  /** Addresses to announce (default: the listen address). */
  announce: HostPort[];
  /** The cluster key(s): the one this node sends with, and those it accepts (during a key change). */
  clusterKeys?: ClusterKeys;
  /** Gossipsub heartbeat (ms). Default 1000 (gossipsub's own default). */
  heartbeatMs?: number;
  /** Gossipsub mesh degree D. Default 4. */
  meshDegree?: number;
}

/** The publisher and sequence number of a gossipsub message, as a string (gossipsub's own id for signed messages). */
export function fastMessageId(msg: { from?: Uint8Array; seqno?: Uint8Array }): string {
  const from = msg.from ?? new Uint8Array();
  const seqno = msg.seqno ?? new Uint8Array();
  return `${Buffer.from(from.buffer, from.byteOffset, from.byteLength).toString('base64')}/${Buffer.from(seqno.buffer, seqno.byteOffset, seqno.byteLength).toString('base64')}`;
}

export async function createNode(opts: NodeOptions): Promise<VxmeshLibp2p> {
  const D = opts.meshDegree ?? 4;
  if (!Number.isInteger(D) || D < 2 || D > 12) throw new ValidationError('meshDegree', 'must be an integer in 2..12');
  return createLibp2p({
    privateKey: opts.privateKey,
    addresses: {
      listen: [toMultiaddr(opts.listen).toString()],
      announce: opts.announce.map((a) => toMultiaddr(a).toString()),
    },
    // Listening on one address: originate connections from it too (multi-homed hosts, and peers
    // that count connections per source address).
    transports: [
      tcp(isWildcard(opts.listen.host) ? {} : { dialOpts: { localAddress: opts.listen.host } as TCPSocketOptions }),
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionProtector: opts.clusterKeys ? clusterKeyProtector(opts.clusterKeys) : undefined,
    // Connections are for gossipsub's mesh and anti-entropy only (probes go over UDP); discovery keeps
    // them at twice its target (connections.ts). libp2p's limit is a safety net: at it, libp2p refuses
    // new connections, and the seeds must accept every joiner. No connection monitor: the prober
    // watches members, and a dead member's connections are closed.
    connectionManager: { maxConnections: 256, inboundConnectionThreshold: 50 },
    connectionMonitor: { enabled: false },
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        heartbeatInterval: opts.heartbeatMs ?? 1000,
        maxInboundDataLength: 1024 * 1024,
        // Each copy of a message costs every receiver bytes and CPU: the publisher sends to its mesh
        // only (not to every connected peer), and anti-entropy repairs what a small mesh may miss.
        // Measured in bench:scale.
        floodPublish: false,
        D,
        Dlo: Math.max(1, D - 2),
        Dhi: D + 2,
        Dout: Math.min(2, Math.floor(D / 2), Math.max(0, D - 3)),
        Dscore: Math.min(4, D),
        // Lazy gossip (IHAVE) about the last heartbeat's messages only, to 2 peers outside the mesh:
        // gossipsub's defaults (3 heartbeats, max(6, 25 % of the other peers)) sent ~15 message ids
        // per member per message, more bytes than the message itself.
        Dlazy: 2,
        gossipFactor: 0.1,
        mcacheGossip: 1,
        // Copies after the first are recognised before their signature is verified again (the
        // identity of a signed message is its publisher and sequence number; a forged copy never
        // enters this cache, which holds only messages that passed validation).
        fastMsgIdFn: fastMessageId,
      }),
    },
  }) as Promise<VxmeshLibp2p>;
}
