/**
 * Network definitions: the table's network records with VNI precedence resolved (the definition with
 * the smallest (lamport, owner) keeps a VNI), definition conflicts noted, create and remove.
 */
import { NotFoundError, ValidationError } from '../core/errors.js';
import { defaultGateway, parseCidr } from '../core/addresses.js';
import { addressAt, parsePrefix } from '../core/prefix.js';
import { fnv1a } from '../core/hash.js';
import type { Logger } from '../core/logger.js';
import { checkNetworkValue, type NetworkValue } from '../core/records.js';
import { NETWORK_USER_GRACE_MS } from '../discovery/network-guard.js';
import { PROTO_ENCRYPTED_NETWORKS, PROTO_IPV6, PROTO_POLICY } from '../discovery/wire.js';
import type { LocalState } from './local-state.js';
import type { Overlays } from './overlays.js';
import type { ClusterReader, ClusterWriter, NetworkStore, OverlayDriver, TableEntry } from './ports.js';
import type { CreateNetworkRequest } from './requests.js';
import { monotonicMs } from '../core/clock.js';

export interface NetworkConflict {
  kind: 'vni' | 'definition';
  detail: string;
  at: string;
}

/** A network definition with VNI precedence resolved (what the data plane and egress/DNS need). */
export interface NetworkDefinition extends NetworkValue {
  /** false when another network holds the same VNI with precedence. */
  usable: boolean;
  conflicts: NetworkConflict[];
}

/** A definition with its endpoint counts (what `vxmesh network` shows). */
export interface NetworkView extends NetworkDefinition {
  endpoints: number;
  localEndpoints: number;
}

const MAX_VNI = 16777215;
const FIRST_AUTO_VNI = 4096;

/** A VNI derived from the name (stable across hosts), moved on if taken. */
export function autoVni(name: string, taken: Set<number>): number {
  let vni = FIRST_AUTO_VNI + (fnv1a(name) % (MAX_VNI - FIRST_AUTO_VNI));
  while (taken.has(vni)) vni = vni >= MAX_VNI ? FIRST_AUTO_VNI : vni + 1;
  return vni;
}

/** Pure: network records → definitions, with VNI precedence. */
export function resolveNetworks(
  records: Array<TableEntry<NetworkValue>>,
  conflictsOf: (network: string) => NetworkConflict[],
  now = new Date(),
): Map<string, NetworkDefinition> {
  const byVni = new Map<number, Array<TableEntry<NetworkValue>>>();
  for (const r of records) byVni.set(r.value.vni, [...(byVni.get(r.value.vni) ?? []), r]);
  const out = new Map<string, NetworkDefinition>();
  for (const r of records) {
    const v = r.value;
    const rivals = (byVni.get(v.vni) ?? []).filter((x) => x !== r);
    const beaten = rivals.some((x) => x.lamport < r.lamport || (x.lamport === r.lamport && x.owner < r.owner));
    const conflicts = [...conflictsOf(v.name)];
    for (const x of rivals)
      conflicts.push({
        kind: 'vni',
        detail: `VNI ${v.vni} is also used by network ${x.value.name}${beaten ? ' (which has precedence: this network is unusable)' : ''}`,
        at: now.toISOString(),
      });
    out.set(v.name, { ...v, usable: !beaten, conflicts });
  }
  return out;
}

/** What the network definitions are read and written with. */
export interface NetworksParts {
  cluster: Pick<ClusterReader, 'networkRecords' | 'endpoints' | 'member' | 'members' | 'networkScope'> &
    Pick<ClusterWriter, 'putNetwork' | 'deleteNetwork'>;
  driver: Pick<OverlayDriver, 'maxMtu'>;
  overlays: Overlays;
  state: LocalState;
  log: Logger;
  store?: NetworkStore;
}

export class Networks {
  private readonly definitionSeen = new Map<string, NetworkValue>();
  private readonly conflicts = new Map<string, NetworkConflict[]>();
  private counted?: { of: unknown; counts: Map<string, number> };

  constructor(private readonly parts: NetworksParts) {}

  /**
   * Definitions by name, with VNI precedence resolved: what reconciles read on every table change, so
   * without endpoint counts (counting walks every endpoint record; under a flooding member that was a
   * sixth of an agent's CPU).
   */
  definitions(): Map<string, NetworkDefinition> {
    const records = this.parts.cluster.networkRecords();
    for (const r of records) this.noteDefinition(r.value);
    return resolveNetworks(records, (n) => this.conflicts.get(n) ?? []);
  }

  /** Networks by name, with their endpoint counts. */
  table(): Map<string, NetworkView> {
    const counts = this.endpointCounts();
    const out = new Map<string, NetworkView>();
    for (const [name, d] of this.definitions())
      out.set(name, {
        ...d,
        endpoints: counts.get(name) ?? 0,
        localEndpoints: this.parts.state.inNetwork(name).length,
      });
    return out;
  }

  /** Endpoints per network, counted once per table version (the view is rebuilt when the table changes). */
  private endpointCounts(): Map<string, number> {
    const endpoints = this.parts.cluster.endpoints();
    if (this.counted?.of === endpoints) return this.counted.counts;
    const counts = new Map<string, number>();
    for (const e of endpoints) counts.set(e.network, (counts.get(e.network) ?? 0) + 1);
    this.counted = { of: endpoints, counts };
    return counts;
  }

  /** Records a change of subnet or VNI under an existing name: that is a conflict, never a silent merge. */
  private noteDefinition(v: NetworkValue): void {
    const prev = this.definitionSeen.get(v.name);
    this.definitionSeen.set(v.name, v);
    if (prev && (prev.subnet !== v.subnet || prev.vni !== v.vni)) {
      const c: NetworkConflict = {
        kind: 'definition',
        detail: `network ${v.name} was redefined from ${prev.subnet} vni ${prev.vni} to ${v.subnet} vni ${v.vni} (concurrent create on another host)`,
        at: new Date().toISOString(),
      };
      this.conflicts.set(v.name, [...(this.conflicts.get(v.name) ?? []), c].slice(-10));
      this.parts.log.warn({ network: v.name, previous: prev, current: v }, 'network definition conflict');
    }
  }

  list(): NetworkView[] {
    return [...this.table().values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): NetworkView {
    const n = this.table().get(name);
    if (!n) throw new NotFoundError('network', `no network named ${JSON.stringify(name)}`);
    return n;
  }

  /** The network with this subnet (IPv4, or IPv6 canonical), if exactly one has it. */
  bySubnet(subnet: string): NetworkView | undefined {
    const matches = this.list().filter((n) => n.subnet === subnet || n.subnet6 === subnet);
    return matches.length === 1 ? matches[0] : undefined;
  }

  /** Creates a decoded request's network (requests.ts); the same definition again returns the existing one. */
  async create(req: CreateNetworkRequest): Promise<NetworkView> {
    const existing = this.table();
    const same = existing.get(req.name);
    if (req.mtu !== undefined) {
      const max = await this.parts.driver.maxMtu(req.encrypted === true);
      if (req.mtu > max)
        throw new ValidationError('mtu', `${req.mtu} exceeds the largest overlay MTU of this host's underlay (${max})`);
    }
    if (same) {
      if (
        same.subnet !== req.subnet ||
        same.subnet6 !== req.subnet6 ||
        (req.vni !== undefined && same.vni !== req.vni)
      ) {
        const subnets = [same.subnet, same.subnet6].filter(Boolean).join(' and ');
        throw new ValidationError('name', `network ${req.name} exists with subnet ${subnets} vni ${same.vni}`);
      }
      if (req.internal !== undefined && req.internal !== (same.internal === true))
        throw new ValidationError(
          'internal',
          `network ${req.name} exists and is ${same.internal ? '' : 'not '}internal`,
        );
      if (req.encrypted !== undefined && req.encrypted !== (same.encrypted === true))
        throw new ValidationError(
          'encrypted',
          `network ${req.name} exists and is ${same.encrypted ? '' : 'not '}encrypted`,
        );
      if (req.isolated !== undefined && req.isolated !== (same.isolated === true))
        throw new ValidationError(
          'isolated',
          `network ${req.name} exists and is ${same.isolated ? '' : 'not '}isolated`,
        );
      return same;
    }
    if (req.encrypted)
      this.requireGeneration(
        PROTO_ENCRYPTED_NETWORKS,
        'encrypted',
        'they would carry an encrypted network in cleartext',
      );
    if (req.subnet6 !== undefined) this.requireGeneration(PROTO_IPV6, 'subnet6', 'they cannot read IPv6 networks');
    if (req.isolated) this.requireGeneration(PROTO_POLICY, 'isolated', 'they would not isolate its endpoints');
    const taken = new Set([...existing.values()].map((n) => n.vni));
    if (req.vni !== undefined) {
      const holder = [...existing.values()].find((n) => n.vni === req.vni);
      if (holder) throw new ValidationError('vni', `VNI ${req.vni} is used by network ${holder.name}`);
    }
    // Checked again as a record: the keys in the order every agent writes them (a signature covers the text).
    let value = checkNetworkValue(
      {
        ...req,
        vni: req.vni ?? autoVni(req.name, taken),
        ...(req.subnet !== undefined ? { gateway: req.gateway ?? defaultGateway(parseCidr(req.subnet)) } : {}),
        ...(req.subnet6 !== undefined ? { gateway6: req.gateway6 ?? addressAt(parsePrefix(req.subnet6), 1n) } : {}),
      },
      'network',
    );
    if (this.parts.store) value = await this.createInStore(this.parts.store, value, req.vni === undefined, taken);
    await this.parts.cluster.putNetwork(value);
    this.parts.log.info({ network: value }, 'network created');
    return this.get(req.name);
  }

  /**
   * A definition an older agent would misread is made only when every live member is of `generation`:
   * an encrypted network (PROTO_ENCRYPTED_NETWORKS: an older agent would carry it in cleartext); a
   * network with an IPv6 subnet (PROTO_IPV6: generation 3 refuses an IPv6-only record, and with it the
   * whole gossip batch or sync frame it came in).
   */
  requireGeneration(generation: number, field: string, why: string): void {
    const old = this.parts.cluster
      .members()
      .filter((m) => !m.self && (m.state === 'alive' || m.state === 'suspect'))
      .filter((m) => (m.proto ?? 1) < generation);
    if (old.length > 0)
      throw new ValidationError(
        field,
        `members of an older release are live (${old.map((m) => `${m.name} (generation ${m.proto ?? 1})`).join(', ')}): ${why}; upgrade them first`,
      );
  }

  /** Creates the definition in the store (compare-and-swap); an auto-assigned VNI taken there moves on. */
  private async createInStore(
    store: NetworkStore,
    value: NetworkValue,
    isAuto: boolean,
    taken: Set<number>,
  ): Promise<NetworkValue> {
    for (let attempt = 0; ; attempt++) {
      try {
        return (await store.createNetwork(value)).network;
      } catch (e) {
        if (!(isAuto && e instanceof ValidationError && e.field === 'vni' && attempt < 16)) throw e;
        taken.add(value.vni);
        value = { ...value, vni: autoVni(value.name, taken) };
      }
    }
  }

  async remove(name: string): Promise<void> {
    const n = this.get(name);
    // As every other host's network guard counts users: a member declared dead moments ago still is one.
    const recentlyDead = (owner: string) => {
      const m = this.parts.cluster.member(owner);
      return m?.state === 'dead' && monotonicMs() - m.since < NETWORK_USER_GRACE_MS;
    };
    const users = this.parts.cluster
      .endpoints()
      .filter((e) => e.network === name && (e.ownerLive || recentlyDead(e.owner)));
    if (users.length > 0) {
      throw new ValidationError(
        'network',
        `network ${name} still has ${users.length} endpoint(s) (e.g. ${users[0]?.id} on ${users[0]?.host}); detach them first`,
      );
    }
    // A host with no endpoint in the network holds none of its records: the hosts that say they have
    // endpoints in it are its users (as every host's network guard counts them).
    const scope = this.parts.cluster.networkScope?.(name);
    if (scope && !scope.held && scope.members.length > 0)
      throw new ValidationError(
        'network',
        `network ${name} has endpoints on ${scope.members.join(', ')} (this host holds none of its records); detach them first`,
      );
    if (scope && !scope.held && scope.unscoped.length > 0)
      throw new ValidationError(
        'network',
        `this host holds none of network ${name}'s records and members of an earlier release (${scope.unscoped.join(', ')}) do not say which networks they use: remove it from a host with endpoints in it, or once they are upgraded`,
      );
    if (this.parts.store) await this.parts.store.removeNetwork(name);
    await this.parts.cluster.deleteNetwork(name);
    await this.parts.overlays.remove(n.vni);
    this.parts.log.info({ network: name }, 'network removed');
  }
}
