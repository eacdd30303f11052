/** `vxmesh peers` as a table: ages instead of times and short ids, unless `wide`. */
import { formatTable } from './table-format.js';

export interface PeerRow {
  name: string;
  peerId: string;
  vtep: string;
  state: string;
  incarnation: number;
  lastAck: string | null;
  since?: string;
  self: boolean;
  dataplaneHeld: boolean;
  dataplane: string;
  /** The agent's version from its signed statement (absent: a release before 0.2). */
  version?: string;
  /** Its WireGuard peer on this host (only where this host carries an encrypted network). */
  wireguard?: { latestHandshake: string | null; rxBytes: number; txBytes: number };
}

/** "850ms", "12s", "4m", "3h", "2d" (how long before `now`). */
export function age(iso: string, now: number): string {
  const ms = Math.max(0, now - Date.parse(iso));
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 120) return `${Math.round(s)}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

/** The distinctive end of a peer id (every Ed25519 libp2p id starts with the same 12D3KooW). */
export const shortId = (peerId: string): string => `…${peerId.slice(-10)}`;

/** "handshake 12s ago, 1234/5678 B" (received/sent), "no handshake", or "-". */
function wireguardCell(w: PeerRow['wireguard'], now: number, wide: boolean): string {
  if (!w) return '-';
  const hs = w.latestHandshake
    ? `handshake ${wide ? w.latestHandshake : `${age(w.latestHandshake, now)} ago`}`
    : 'no handshake';
  return `${hs}, ${w.rxBytes}/${w.txBytes} B`;
}

export function peersTable(rows: PeerRow[], opts: { wide?: boolean; now?: number } = {}): string {
  const now = opts.now ?? Date.now();
  const wide = opts.wide ?? false;
  return formatTable(
    ['NAME', 'STATE', 'DATAPLANE', 'VTEP', 'VERSION', 'LAST ACK', 'WIREGUARD', 'INCARNATION', 'PEER ID'],
    [...rows]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((p) => [
        p.name + (p.self ? ' (self)' : ''),
        p.state,
        p.dataplane,
        p.vtep,
        p.version ?? '<0.2',
        p.self ? '-' : p.lastAck === null ? 'never' : wide ? p.lastAck : `${age(p.lastAck, now)} ago`,
        wireguardCell(p.wireguard, now, wide),
        String(p.incarnation),
        wide ? p.peerId : shortId(p.peerId),
      ]),
  );
}
