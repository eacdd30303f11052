/**
 * `vxmesh status`: one screen about this agent — version, identity, members by state, the networks
 * with local endpoints and their drift, the last reconcile, and warnings an operator should act on.
 * Pure: the agent hands in what it read (agent.ts `statusReport`).
 */
import type { MemberView } from '../discovery/views.js';
import type { FdbReport } from './diagnostics.js';

export interface StatusNetwork {
  name: string;
  vni: number;
  encrypted: boolean;
  /** Table rows not ok, egress and WireGuard changes pending (fdb --check's count). */
  drift: number;
}

export interface StatusReport {
  version: string;
  name: string;
  peerId: string;
  vtep: string;
  /** The largest overlay MTU of this host's underlay (plain networks). */
  overlayMtu: number;
  /** The underlay device and its MTU (null: it could not be read). */
  underlay: { dev: string; mtu: number } | null;
  initialSyncDone: boolean;
  membersByState: Record<'alive' | 'suspect' | 'dead' | 'left', number>;
  networks: StatusNetwork[];
  localEndpoints: number;
  lastReconcileMs: number;
  warnings: string[];
}

export interface StatusInputs extends Pick<
  StatusReport,
  'version' | 'name' | 'peerId' | 'vtep' | 'overlayMtu' | 'initialSyncDone' | 'underlay'
> {
  /** The protocol generation this build speaks. */
  generation: number;
  members: MemberView[];
  fdb: FdbReport[];
  encrypted: ReadonlySet<string>;
  localEndpoints: number;
  lastReconcileMs: number;
  /** The WireGuard interface's last failure, if the last attempt failed. */
  wireguardError?: string;
  /** Warnings about the host (daemon/host-checks.ts: ARP thresholds, missing tools, swarm). */
  hostWarnings?: string[];
}

export function statusReport(i: StatusInputs): StatusReport {
  const members = { alive: 0, suspect: 0, dead: 0, left: 0 };
  for (const m of i.members) members[m.state]++;
  const warnings: string[] = [];
  if (!i.initialSyncDone)
    warnings.push('no member answered yet: entries are added but none removed until the first sync');
  const old = i.members.filter((m) => !m.self && m.state === 'alive' && (m.proto ?? 1) < i.generation);
  if (old.length)
    warnings.push(
      `members of an older release are live (${old.map((m) => `${m.name}: generation ${m.proto ?? 1}`).join(', ')}): finish the upgrade`,
    );
  const others = i.members.filter((m) => !m.self && m.state === 'alive' && m.version !== i.version);
  if (others.length)
    warnings.push(
      `members run another version than this agent's ${i.version} (${others.map((m) => `${m.name}: ${m.version ?? 'before 0.2'}`).join(', ')}): a rolling upgrade is not finished`,
    );
  for (const m of i.members.filter((x) => !x.self && x.state === 'suspect'))
    warnings.push(`member ${m.name} (${m.vtep}) is suspect: not answering probes`);
  for (const r of i.fdb.filter((x) => x.drift > 0))
    warnings.push(
      `network ${r.network}: ${r.drift} differences from the desired state (vxmesh fdb ${r.network} --check)`,
    );
  if (i.wireguardError) warnings.push(`WireGuard: ${i.wireguardError}`);
  warnings.push(...(i.hostWarnings ?? []));
  return {
    version: i.version,
    name: i.name,
    peerId: i.peerId,
    vtep: i.vtep,
    overlayMtu: i.overlayMtu,
    underlay: i.underlay,
    initialSyncDone: i.initialSyncDone,
    membersByState: members,
    networks: i.fdb.map((r) => ({
      name: r.network,
      vni: r.vni,
      encrypted: i.encrypted.has(r.network),
      drift: r.drift,
    })),
    localEndpoints: i.localEndpoints,
    lastReconcileMs: +i.lastReconcileMs.toFixed(1),
    warnings,
  };
}
