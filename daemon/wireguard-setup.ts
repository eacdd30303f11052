/**
 * The agent's WireGuard port (agent/ports.ts) on the real interface (dataplane/wireguard.ts): its
 * name from the namespace prefix, the host's key from the state directory, its tunnel address from the
 * peer id, and for each peer a pre-shared key derived (HKDF-SHA256) from a cluster key both hold (the
 * agent picks it: agent/wireguard-sync.ts), written owner-only to `<state-dir>/wireguard-<key id>.psk`:
 * a host with some member's public key but without the cluster key cannot complete a handshake, and a
 * cluster-key change (two keys held for a while) keeps every pair on a key both hold. Without a cluster
 * key (--insecure) there is no pre-shared key.
 */
import fs from 'node:fs';
import path from 'node:path';
import { hkdfSync } from 'node:crypto';
import { writeFileAtomic } from '../core/atomic-file.js';
import { clusterKeyId, readClusterKey } from '../discovery/node.js';
import { TUNNEL_PREFIX, TUNNEL_PREFIX_LENGTH } from '../core/tunnel-address.js';
import type { WireguardPort } from '../agent/ports.js';
import {
  cleartextDrops,
  ensureWireguard,
  showWireguard,
  wireguardIfname,
  wireguardOverhead,
} from '../dataplane/wireguard.js';

export interface WireguardSetup {
  netnsPrefix: string;
  stateDir: string;
  /** The host namespace (path) when it is not this process's own. */
  hostNetns?: string;
  tunnel: string;
  listenPort: number;
  encryptedPort: number;
  /** The cluster key files this host holds (the one it sends with first); none: no pre-shared key. */
  clusterKeyFiles: string[];
  /** The underlay's MTU now, and whether it is IPv6 (the interface's MTU follows from them). */
  underlayMtu(): Promise<number>;
  ipv6Underlay: boolean;
}

/** The pre-shared key of a cluster key (base64 of 32 bytes, as `wg` reads it). */
export function wireguardPsk(clusterKey: Uint8Array): string {
  return Buffer.from(hkdfSync('sha256', clusterKey, Buffer.alloc(0), 'vxmesh wireguard psk v1', 32)).toString('base64');
}

/** The pre-shared key file of each cluster key this host holds, by key id; written when it differs. */
function writePsks(stateDir: string, keyFiles: string[]): Map<string, { file: string; value: string }> {
  const out = new Map<string, { file: string; value: string }>();
  keyFiles.forEach((f, i) => {
    const key = readClusterKey(f, i === 0 ? 'cluster-key' : 'cluster-key-accept');
    const id = clusterKeyId(key);
    const file = path.join(stateDir, `wireguard-${id}.psk`);
    const value = wireguardPsk(key);
    if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== `${value}\n`) writeFileAtomic(file, `${value}\n`);
    out.set(id, { file, value });
  });
  return out;
}

export function wireguardPort(s: WireguardSetup): WireguardPort {
  const psks = writePsks(s.stateDir, s.clusterKeyFiles);
  const ifname = wireguardIfname(s.netnsPrefix);
  return {
    show: () => showWireguard({ ifname, netns: s.hostNetns }),
    cleartextDrops: () => cleartextDrops({ ifname, netns: s.hostNetns }),
    ensure: async (peers, { removeOthers }) =>
      ensureWireguard({
        removeOthers,
        mtu: (await s.underlayMtu()) - wireguardOverhead(s.ipv6Underlay),
        ifname,
        netns: s.hostNetns,
        privateKeyFile: path.join(s.stateDir, 'wireguard.key'),
        listenPort: s.listenPort,
        tunnel: s.tunnel,
        tunnelPrefix: `${TUNNEL_PREFIX}::/${TUNNEL_PREFIX_LENGTH}`,
        peers: peers.map(({ pskId, ...p }) => {
          const psk = pskId === undefined ? undefined : psks.get(pskId);
          return psk ? { ...p, psk } : p;
        }),
        stateDir: s.stateDir,
        encryptedPort: s.encryptedPort,
      }),
  };
}
