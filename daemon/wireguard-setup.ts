/**
 * The agent's WireGuard port (agent/ports.ts) on the real interface (dataplane/wireguard.ts): its
 * name from the namespace prefix, the host's key from the state directory, its tunnel address from the
 * peer id, and a pre-shared key derived from the cluster key (HKDF-SHA256), written owner-only to
 * `<state-dir>/wireguard.psk`: a host with some member's public key but without the cluster key cannot
 * complete a handshake. Without a cluster key (--insecure) there is no pre-shared key.
 */
import fs from 'node:fs';
import path from 'node:path';
import { hkdfSync } from 'node:crypto';
import { writeFileAtomic } from '../core/atomic-file.js';
import { TUNNEL_PREFIX, TUNNEL_PREFIX_LENGTH } from '../core/tunnel-address.js';
import type { WireguardPort } from '../agent/ports.js';
import { ensureWireguard, showWireguard, wireguardIfname, wireguardOverhead } from '../dataplane/wireguard.js';

export interface WireguardSetup {
  netnsPrefix: string;
  stateDir: string;
  /** The host namespace (path) when it is not this process's own. */
  hostNetns?: string;
  tunnel: string;
  listenPort: number;
  encryptedPort: number;
  /** The cluster key file (its bytes are the secret); undefined: no pre-shared key. */
  clusterKeyFile?: string;
  /** The underlay's MTU now, and whether it is IPv6 (the interface's MTU follows from them). */
  underlayMtu(): Promise<number>;
  ipv6Underlay: boolean;
}

/** The pre-shared key of a cluster key (base64 of 32 bytes, as `wg` reads it). */
export function wireguardPsk(clusterKey: Buffer): string {
  return Buffer.from(hkdfSync('sha256', clusterKey, Buffer.alloc(0), 'vxmesh wireguard psk v1', 32)).toString('base64');
}

/** Writes the pre-shared key file when it differs; returns its path. */
function writePsk(stateDir: string, clusterKeyFile: string): string {
  const file = path.join(stateDir, 'wireguard.psk');
  const psk = `${wireguardPsk(fs.readFileSync(clusterKeyFile))}\n`;
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== psk) writeFileAtomic(file, psk);
  return file;
}

export function wireguardPort(s: WireguardSetup): WireguardPort {
  const presharedKeyFile = s.clusterKeyFile === undefined ? undefined : writePsk(s.stateDir, s.clusterKeyFile);
  const ifname = wireguardIfname(s.netnsPrefix);
  return {
    show: () => showWireguard({ ifname, netns: s.hostNetns }),
    ensure: async (peers, { removeOthers }) =>
      ensureWireguard({
        removeOthers,
        mtu: (await s.underlayMtu()) - wireguardOverhead(s.ipv6Underlay),
        ifname,
        netns: s.hostNetns,
        privateKeyFile: path.join(s.stateDir, 'wireguard.key'),
        presharedKeyFile,
        listenPort: s.listenPort,
        tunnel: s.tunnel,
        tunnelPrefix: `${TUNNEL_PREFIX}::/${TUNNEL_PREFIX_LENGTH}`,
        peers,
        stateDir: s.stateDir,
        encryptedPort: s.encryptedPort,
      }),
  };
}
