/** Discovery's options, and the addresses and keys they resolve to. */
import { ValidationError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { DEFAULT_GOSSIP_PORT, DEFAULT_LISTEN } from '../core/defaults.js';
import type { DiscoveryTimers } from './context.js';
import { clusterKeyFingerprint, parseHostPort, readClusterKey, type HostPort } from './node.js';

export interface DiscoveryOptions {
  /** Host name (member name), unique in the cluster. */
  name: string;
  /** This host's VTEP address. */
  vtep: string;
  /** host:port to listen on. Default 0.0.0.0:7946. */
  listen?: string;
  /** host:port addresses to announce. Default: the listen address, or VTEP:port when listening on 0.0.0.0. */
  announce?: string[];
  /** host:port of members to join through. */
  seeds?: string[];
  stateDir: string;
  /** A swarm key file: only peers with the same key can connect. */
  clusterKeyFile?: string;
  /** Further keys accepted from peers while the cluster moves to a new key (this node sends with clusterKeyFile's). */
  clusterKeyAcceptFiles?: string[];
  timers?: Partial<DiscoveryTimers>;
  log?: Logger;
}

/** Where to listen, what to announce, whom to join, which keys to send with and accept. */
export function resolveOptions(opts: DiscoveryOptions): {
  listen: HostPort;
  announce: HostPort[];
  seeds: HostPort[];
  clusterKey?: Uint8Array;
  acceptedKeys: Uint8Array[];
} {
  const listen = parseHostPort(opts.listen ?? DEFAULT_LISTEN, 'listen', DEFAULT_GOSSIP_PORT);
  const announce = (
    opts.announce ?? [
      listen.host === '0.0.0.0' || listen.host === '::'
        ? `${opts.vtep}:${listen.port}`
        : `${listen.host}:${listen.port}`,
    ]
  ).map((a, i) => parseHostPort(a, `announce[${i}]`));
  const seeds = (opts.seeds ?? []).map((s, i) => parseHostPort(s, `seeds[${i}]`, DEFAULT_GOSSIP_PORT));
  const clusterKey = opts.clusterKeyFile ? readClusterKey(opts.clusterKeyFile) : undefined;
  if (opts.clusterKeyAcceptFiles?.length && !clusterKey)
    throw new ValidationError('cluster-key-accept', 'needs --cluster-key (the key this host sends with)');
  const acceptedKeys = (opts.clusterKeyAcceptFiles ?? []).map((f) => readClusterKey(f, 'cluster-key-accept'));
  return { listen, announce, seeds, clusterKey, acceptedKeys };
}

/** The start's log line: the key's fingerprint (never the key) to compare between hosts when a member cannot join. */
export function logStarted(
  log: Logger,
  o: { peerId: string; listen: string[]; seeds: HostPort[]; clusterKey?: Uint8Array; acceptedKeys: Uint8Array[] },
): void {
  const clusterKey = o.clusterKey ? clusterKeyFingerprint(o.clusterKey) : 'none (open cluster)';
  const alsoAccepted = o.acceptedKeys.map(clusterKeyFingerprint);
  log.info(
    {
      peerId: o.peerId,
      listen: o.listen,
      seeds: o.seeds.map((s) => `${s.host}:${s.port}`),
      clusterKey,
      ...(alsoAccepted.length ? { alsoAccepted } : {}),
    },
    'discovery started',
  );
  if (!o.clusterKey) log.warn({}, 'no cluster key: any host that reaches the gossip port can join this cluster');
}
