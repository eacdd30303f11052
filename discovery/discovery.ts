/**
 * Discovery: membership + replicated table over libp2p.
 *
 *   - gossip (gossipsub) carries membership changes and our own record writes, signed by us;
 *   - a probe loop (libp2p ping, indirect probes through other members) feeds suspicion;
 *   - push-pull anti-entropy (a stream protocol) on join and periodically repairs anything gossip
 *     missed; records relayed that way carry their owner's signature;
 *   - a connection loop keeps connections to enough random members for gossipsub's mesh.
 *
 * Output: `desired()` (per network, the endpoints of live members other than us) and a 'change' event.
 */
import './with-resolvers-shim.js';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { lpStream } from '@libp2p/utils';
import { peerIdFromString } from '@libp2p/peer-id';
import type { PeerId, PrivateKey, Stream } from '@libp2p/interface';
import { TopicValidatorResult, type Message } from '@libp2p/gossipsub';
import { ValidationError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { DEFAULT_GOSSIP_PORT, DEFAULT_LISTEN } from '../core/defaults.js';
import { parseName } from '../core/names.js';
import { parseIPv4 } from '../core/addresses.js';
import { writeFileAtomic } from '../core/atomic-file.js';
import { computeDesired, type DesiredNetwork } from './desired.js';
import { DEFAULT_MEMBERSHIP_TIMERS, Membership, type Member, type MembershipTimers } from './membership.js';
import { createNode, loadOrCreatePeerKey, parseHostPort, readClusterKey, toMultiaddr, type HostPort, type VxmeshLibp2p } from './node.js';
import { signRecord, verifyRecord } from './record-signing.js';
import { ReplicatedTable, partitionOf, toWire, type TableRecord } from './table.js';
import { MAX_RECORDS_PER_MESSAGE, MAX_SYNC_FRAME_BYTES, PROTOCOL_PROBE, PROTOCOL_SYNC, TOPIC_MEMBERS, TOPIC_TABLE, WireError, checkRecord, decodeMemberMessage, decodeProbeReply, decodeProbeRequest, decodeSyncFrame, decodeTableMessage, encode, type MemberInfo, type MemberMessage, type SyncDigest, type SyncFrame, type TableMessage, type WireRecord } from './wire.js';
import { OWNER_BOUND, checkEndpointValue, checkIpamBlockValue, checkNetworkValue, type EndpointValue, type IpamBlockValue, type NetworkValue, type RecordKind, type RecordValue } from '../core/records.js';

export interface DiscoveryTimers extends MembershipTimers {
  /** Push-pull anti-entropy with a random member. memberlist LAN: 30 s. */
  pushPullIntervalMs: number;
  /** Connection maintenance and rejoin through seeds. */
  connectIntervalMs: number;
  /** Try a sync with a random dead member (Serf's reconnect). */
  reconnectIntervalMs: number;
  /** Keep at least this many connections (at least the mesh degree). */
  targetPeers: number;
  /** Gossipsub mesh degree D (Dlo = D-2, Dhi = D+2; gossipsub defaults 6, 4, 12). */
  meshDegree: number;
  tombstoneTtlMs: number;
  /** Forget members dead or left for this long. */
  reapMs: number;
}

export const DEFAULT_TIMERS: DiscoveryTimers = {
  ...DEFAULT_MEMBERSHIP_TIMERS,
  pushPullIntervalMs: 30_000,
  connectIntervalMs: 2_000,
  reconnectIntervalMs: 10_000,
  targetPeers: 8,
  meshDegree: 6,
  tombstoneTtlMs: 30 * 60_000,
  reapMs: 60 * 60_000,
};


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
  timers?: Partial<DiscoveryTimers>;
  log?: Logger;
}

export interface DiscoveryStats {
  gossipIn: number;
  gossipOut: number;
  gossipBytesOut: number;
  /** Dropped incoming messages by reason. */
  dropped: Record<string, number>;
  syncRuns: number;
  syncFailures: number;
  syncRecordsIn: number;
  probes: number;
  probeFailures: number;
  indirectProbes: number;
  reasserts: number;
}

export interface MemberView {
  name: string;
  peerId: string;
  vtep: string;
  addrs: string[];
  incarnation: number;
  state: Member['state'];
  since: number;
  lastAck: number;
  self: boolean;
}

interface PersistedState {
  lamport: number;
  incarnation: number;
  /** The table as last seen (all records but our own owned ones, which the agent re-announces). */
  records?: WireRecord[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

/** Detects event-loop stalls, so that a probe that timed out because *we* stalled is not held against the peer. */
class LagMonitor {
  private last = performance.now();
  private lastStallAt = -Infinity;
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly thresholdMs: number) {
    this.timer = setInterval(() => {
      const now = performance.now();
      if (now - this.last > 50 + thresholdMs) this.lastStallAt = now;
      this.last = now;
    }, 50);
    this.timer.unref();
  }
  stalledSince(t: number): boolean {
    // A stall that ended during the window, or one still in progress (the interval has not fired yet).
    return this.lastStallAt >= t || performance.now() - this.last > 50 + this.thresholdMs;
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

export class Discovery extends EventEmitter {
  readonly peerId: string;
  readonly name: string;
  readonly vtep: string;
  readonly table: ReplicatedTable;
  readonly membership: Membership;
  readonly timers: DiscoveryTimers;
  readonly stats: DiscoveryStats = {
    gossipIn: 0, gossipOut: 0, gossipBytesOut: 0, dropped: {}, syncRuns: 0, syncFailures: 0, syncRecordsIn: 0,
    probes: 0, probeFailures: 0, indirectProbes: 0, reasserts: 0,
  };
  private node?: VxmeshLibp2p;
  private readonly listen: HostPort;
  private readonly announce: HostPort[];
  private readonly seeds: HostPort[];
  private readonly clusterKey?: Uint8Array;
  private readonly log: Logger;
  private readonly stateFile: string;
  private readonly loops: NodeJS.Timeout[] = [];
  private readonly outbox: TableRecord[] = [];
  private outboxScheduled = false;
  private changeScheduled = false;
  private probeOrder: string[] = [];
  private probing = new Set<string>();
  private lag?: LagMonitor;
  private stopped = false;
  private persistTimer?: NodeJS.Timeout;
  private readonly decoded = new WeakMap<Message, MemberMessage | TableMessage>();

  private constructor(
    private readonly privateKey: PrivateKey,
    peerId: PeerId,
    opts: DiscoveryOptions,
    persisted: PersistedState,
  ) {
    super();
    this.peerId = peerId.toString();
    this.name = opts.name;
    this.vtep = opts.vtep;
    this.log = opts.log ?? silentLogger;
    this.timers = { ...DEFAULT_TIMERS, ...(opts.timers ?? {}) };
    this.listen = parseHostPort(opts.listen ?? DEFAULT_LISTEN, 'listen', DEFAULT_GOSSIP_PORT);
    this.announce = (opts.announce ?? [this.listen.host === '0.0.0.0' || this.listen.host === '::' ? `${opts.vtep}:${this.listen.port}` : `${this.listen.host}:${this.listen.port}`]).map((a, i) =>
      parseHostPort(a, `announce[${i}]`),
    );
    this.seeds = (opts.seeds ?? []).map((s, i) => parseHostPort(s, `seeds[${i}]`, DEFAULT_GOSSIP_PORT));
    this.clusterKey = opts.clusterKeyFile ? readClusterKey(opts.clusterKeyFile) : undefined;
    this.stateFile = path.join(opts.stateDir, 'discovery.json');
    this.table = new ReplicatedTable(this.peerId, persisted.lamport);
    // A restarted member must outrank its previous life: incarnation from the clock, or above the persisted one.
    const incarnation = Math.max(Math.floor(Date.now() / 1000), persisted.incarnation + 1);
    this.membership = new Membership(
      { peerId: this.peerId, name: opts.name, vtep: opts.vtep, addrs: this.announce.map((a) => `${a.host}:${a.port}`), incarnation },
      this.timers,
    );
    this.membership.onEvent((e) => {
      if (e.type === 'refute') {
        this.log.info({ incarnation: e.incarnation }, 'refuting suspicion about this member');
        this.publishMember({ v: 1, t: 'alive', member: this.selfInfo() });
        this.schedulePersist();
        return;
      }
      const m = e.member;
      this.log.info({ member: m.name, peerId: m.peerId, state: m.state, previous: e.previous ?? null, incarnation: m.incarnation }, 'member state');
      if (m.state === 'dead' && e.previous === 'suspect') this.publishMember({ v: 1, t: 'dead', peerId: m.peerId, incarnation: m.incarnation, from: this.peerId });
      if (m.state === 'alive' && (e.previous === 'dead' || e.previous === 'left' || e.previous === undefined)) void this.syncWith(m).catch(() => undefined);
      this.emit('members', this.members());
      this.scheduleChange();
    });
  }

  /** Loads the peer key and persisted clocks; nothing touches the network until start(). */
  static async create(opts: DiscoveryOptions): Promise<Discovery> {
    parseName(opts.name, 'name');
    parseIPv4(opts.vtep, 'vtep');
    if (typeof opts.stateDir !== 'string' || opts.stateDir === '') throw new ValidationError('stateDir', 'required');
    const key = await loadOrCreatePeerKey(opts.stateDir);
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id');
    let persisted: PersistedState = { lamport: 0, incarnation: 0 };
    try {
      const raw = JSON.parse(fs.readFileSync(path.join(opts.stateDir, 'discovery.json'), 'utf8')) as Partial<PersistedState>;
      persisted = { lamport: Number(raw.lamport) || 0, incarnation: Number(raw.incarnation) || 0 };
    } catch {
      /* first start */
    }
    let records: WireRecord[] = [];
    try {
      const raw = JSON.parse(fs.readFileSync(path.join(opts.stateDir, 'table.json'), 'utf8')) as unknown;
      if (Array.isArray(raw)) records = raw.flatMap((r, i) => {
        try {
          return [checkRecord(r, `table.json[${i}]`)];
        } catch {
          return [];
        }
      });
    } catch {
      /* first start, or no snapshot */
    }
    const d = new Discovery(key, peerIdFromPrivateKey(key), opts, persisted);
    // The last known table: network definitions and other members' records survive a restart even
    // when no peer is reachable (a single-host cluster). Our own owned records come from the agent.
    for (const r of records) if (!(OWNER_BOUND.has(r.kind) && r.owner === d.peerId)) d.table.merge(r);
    return d;
  }

  private selfInfo(): MemberInfo {
    const s = this.membership.self;
    return { peerId: s.peerId, name: s.name, vtep: s.vtep, addrs: s.addrs, incarnation: s.incarnation };
  }

  // -------------------------------------------------------------------------------------------
  // Local writes

  private async writeOwn(kind: RecordKind, key: string, value: RecordValue | null): Promise<TableRecord> {
    const rec = this.table.write(kind, key, value);
    rec.sig = await signRecord(this.privateKey, toWire(rec));
    this.enqueue(rec);
    this.schedulePersist();
    this.scheduleChange();
    return rec;
  }

  putNetwork(v: NetworkValue): Promise<TableRecord> {
    const checked = checkNetworkValue(v, 'network');
    return this.writeOwn('network', checked.name, checked);
  }

  deleteNetwork(name: string): Promise<TableRecord> {
    return this.writeOwn('network', name, null);
  }

  putEndpoint(v: EndpointValue): Promise<TableRecord> {
    const checked = checkEndpointValue(v, 'endpoint');
    return this.writeOwn('endpoint', `${checked.network}/${checked.id}`, checked);
  }

  deleteEndpoint(network: string, id: string): Promise<TableRecord> {
    return this.writeOwn('endpoint', `${network}/${id}`, null);
  }

  putIpamBlock(v: IpamBlockValue): Promise<TableRecord> {
    const checked = checkIpamBlockValue(v, 'block');
    return this.writeOwn('ipam-block', `${checked.network}/${checked.block}`, checked);
  }

  deleteIpamBlock(network: string, block: string): Promise<TableRecord> {
    return this.writeOwn('ipam-block', `${network}/${block}`, null);
  }

  // -------------------------------------------------------------------------------------------
  // Views

  members(): MemberView[] {
    return this.membership.list().map((m) => ({
      name: m.name, peerId: m.peerId, vtep: m.vtep, addrs: m.addrs, incarnation: m.incarnation, state: m.state, since: m.since, lastAck: m.lastAck,
      self: m.peerId === this.peerId,
    }));
  }

  desired(): Map<string, DesiredNetwork> {
    return computeDesired(this.table, (p) => this.membership.isLive(p));
  }

  networks(): NetworkValue[] {
    return [...this.table.live('network')].map((r) => r.value as NetworkValue);
  }

  /** All live endpoint records, with whether their owner is live. */
  endpoints(): Array<EndpointValue & { owner: string; ownerLive: boolean; local: boolean }> {
    return [...this.table.live('endpoint')].map((r) => ({ ...(r.value as EndpointValue), owner: r.owner, ownerLive: r.owner === this.peerId || this.membership.isLive(r.owner), local: r.owner === this.peerId }));
  }

  ipamBlocks(): Array<IpamBlockValue & { owner: string; lamport: number; ownerLive: boolean }> {
    return [...this.table.live('ipam-block')].map((r) => ({ ...(r.value as IpamBlockValue), owner: r.owner, lamport: r.lamport, ownerLive: r.owner === this.peerId || this.membership.isLive(r.owner) }));
  }

  /** The libp2p node (after start), for diagnostics and tests. */
  get libp2p(): VxmeshLibp2p | undefined {
    return this.node;
  }

  /** libp2p addresses we listen on (after start). */
  listenAddrs(): string[] {
    return this.node?.getMultiaddrs().map(String) ?? [];
  }

  private scheduleChange(): void {
    if (this.changeScheduled) return;
    this.changeScheduled = true;
    setImmediate(() => {
      this.changeScheduled = false;
      this.emit('change');
    });
  }

  private schedulePersist(): void {
    if (this.persistTimer) return;
    this.persistTimer = setTimeout(() => {
      this.persistTimer = undefined;
      this.persist();
    }, 500);
    this.persistTimer.unref();
  }

  /** Clocks and the table snapshot, each written atomically. */
  private persist(): void {
    const data: PersistedState = { lamport: this.table.lamport, incarnation: this.membership.self.incarnation };
    try {
      writeFileAtomic(this.stateFile, JSON.stringify(data));
      writeFileAtomic(path.join(path.dirname(this.stateFile), 'table.json'), JSON.stringify([...this.table.all()].map(toWire)));
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'cannot persist discovery state');
    }
  }

  // -------------------------------------------------------------------------------------------
  // Start / stop

  async start(): Promise<void> {
    const node = await createNode({ privateKey: this.privateKey, listen: this.listen, announce: this.announce, clusterKey: this.clusterKey, meshDegree: this.timers.meshDegree });
    this.node = node;
    const pubsub = node.services.pubsub;
    pubsub.topicValidators.set(TOPIC_MEMBERS, (from, msg) => this.validateGossip(from, msg, 'members'));
    pubsub.topicValidators.set(TOPIC_TABLE, (from, msg) => this.validateGossip(from, msg, 'table'));
    pubsub.addEventListener('message', (evt) => this.onGossip(evt.detail));
    pubsub.subscribe(TOPIC_MEMBERS);
    pubsub.subscribe(TOPIC_TABLE);
    await node.handle(PROTOCOL_SYNC, (stream, conn) => void this.serveSync(stream, conn.remotePeer.toString()).catch((e: unknown) => this.syncFailed(e, 'serve')), { runOnLimitedConnection: false });
    await node.handle(PROTOCOL_PROBE, (stream) => void this.serveProbe(stream).catch(() => undefined));
    node.addEventListener('peer:disconnect', (evt) => {
      const id = evt.detail.toString();
      if (this.membership.isLive(id) && !this.stopped) void this.probe(id);
    });
    this.lag = new LagMonitor(this.timers.probeTimeoutMs / 2);
    this.log.info({ peerId: this.peerId, listen: this.listenAddrs(), seeds: this.seeds.map((s) => `${s.host}:${s.port}`) }, 'discovery started');
    this.every(this.timers.probeIntervalMs, () => this.probeNext());
    this.every(this.timers.connectIntervalMs, () => this.maintainConnections());
    this.every(this.timers.pushPullIntervalMs, () => this.syncRandom());
    this.every(this.timers.reconnectIntervalMs, () => this.reconnectDead());
    this.every(Math.min(60_000, this.timers.tombstoneTtlMs, this.timers.reapMs), () => this.housekeeping());
    await this.join();
    await this.maintainConnections();
    // Everything we wrote before start goes out once by gossip too (the seed got it by sync).
    for (const r of this.table.all()) if (r.owner === this.peerId) this.enqueue(r);
    this.publishMember({ v: 1, t: 'alive', member: this.selfInfo() });
  }

  /** Expires tombstones; forgets members dead or left for `reapMs` together with their records
   * (their endpoints and IPAM blocks), so a host that never returns does not hold addresses forever. */
  housekeeping(): void {
    this.table.expireTombstones(this.timers.tombstoneTtlMs);
    for (const m of this.membership.reap(this.timers.reapMs)) {
      const n = this.table.dropOwner(m.peerId);
      this.log.info({ member: m.name, peerId: m.peerId, records: n }, 'forgot a member gone for good, with its records');
      this.scheduleChange();
    }
  }

  private every(ms: number, fn: () => unknown): void {
    const t = setInterval(() => {
      if (!this.stopped) void Promise.resolve(fn()).catch((e: unknown) => this.log.debug({ err: String(e) }, 'loop error'));
    }, ms);
    t.unref();
    this.loops.push(t);
  }

  /** Dials the seeds and syncs with each that answers. */
  async join(): Promise<number> {
    let joined = 0;
    await Promise.all(
      this.seeds.map(async (s) => {
        if (this.announce.some((a) => a.host === s.host && a.port === s.port)) return;
        try {
          const conn = await this.node?.dial(toMultiaddr(s), { signal: AbortSignal.timeout(3000) });
          if (!conn) return;
          await this.sync(conn.remotePeer);
          joined++;
        } catch (e) {
          this.log.debug({ seed: `${s.host}:${s.port}`, err: String(e) }, 'seed not reachable');
        }
      }),
    );
    return joined;
  }

  /** Graceful leave: announce it, give gossip a moment to carry it, stop. */
  async stop(opts: { leave?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    if (opts.leave !== false && this.node) {
      this.publishMember({ v: 1, t: 'leave', peerId: this.peerId, incarnation: this.membership.self.incarnation });
      await sleep(150);
    }
    this.stopped = true;
    for (const t of this.loops) clearInterval(t);
    this.lag?.stop();
    this.membership.stop();
    if (this.persistTimer) clearTimeout(this.persistTimer);
    this.persist();
    await this.node?.stop();
  }

  // -------------------------------------------------------------------------------------------
  // Gossip

  private drop(reason: string, detail?: string): void {
    this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + 1;
    this.log.debug({ reason, detail }, 'dropped message');
  }

  private validateGossip(_from: PeerId, msg: Message, which: 'members' | 'table'): TopicValidatorResult {
    if (msg.type !== 'signed') {
      this.drop('unsigned');
      return TopicValidatorResult.Reject;
    }
    const signer = msg.from.toString();
    try {
      if (which === 'members') {
        const m = decodeMemberMessage(msg.data);
        const subject = m.t === 'alive' ? m.member.peerId : m.t === 'leave' ? m.peerId : m.from;
        if (subject !== signer) {
          this.drop('forged', `${m.t} for ${subject} signed by ${signer}`);
          return TopicValidatorResult.Reject;
        }
        this.decoded.set(msg, m);
      } else {
        const m = decodeTableMessage(msg.data);
        for (const r of m.records) {
          if (r.owner !== signer) {
            this.drop('forged', `record ${r.kind}/${r.key} owned by ${r.owner} signed by ${signer}`);
            return TopicValidatorResult.Reject;
          }
          if (r.sig === undefined) {
            this.drop('unsigned-record', `${r.kind}/${r.key}`);
            return TopicValidatorResult.Reject;
          }
        }
        this.decoded.set(msg, m);
      }
      return TopicValidatorResult.Accept;
    } catch (e) {
      this.drop(e instanceof WireError ? 'malformed' : 'error', (e as Error).message);
      return TopicValidatorResult.Reject;
    }
  }

  private onGossip(msg: Message): void {
    const m = this.decoded.get(msg);
    if (!m) return;
    this.stats.gossipIn++;
    if (m.t === 'records') {
      this.applyRecords(m.records, 'gossip');
      return;
    }
    switch (m.t) {
      case 'alive':
        this.membership.alive(m.member);
        break;
      case 'suspect':
        this.membership.suspect(m.peerId, m.incarnation, m.from);
        break;
      case 'dead':
        this.membership.dead(m.peerId, m.incarnation);
        break;
      case 'leave':
        this.membership.leave(m.peerId, m.incarnation);
        break;
    }
  }

  private applyRecords(records: WireRecord[], via: 'gossip' | 'sync'): void {
    let changed = false;
    for (const r of records) {
      const outcome = this.table.merge(r);
      if (outcome === 'reassert') this.reassert(r);
      else if (outcome !== 'stale') {
        changed = true;
        this.emit('record', r);
      }
    }
    if (changed) {
      this.scheduleChange();
      this.schedulePersist();
    }
    if (via === 'sync') this.stats.syncRecordsIn += records.length;
  }

  /** One of our records came back newer than ours (an earlier life wrote it): overwrite it. */
  private reassert(r: WireRecord): void {
    this.stats.reasserts++;
    const mine = this.table.own(r.kind, r.key);
    this.log.info({ kind: r.kind, key: r.key, lamport: r.lamport }, 're-asserting own record');
    void this.writeOwn(r.kind, r.key, mine && !mine.deleted ? (mine.value as RecordValue) : null);
  }

  private enqueue(rec: TableRecord): void {
    this.outbox.push(rec);
    if (this.outboxScheduled || !this.node) return;
    this.outboxScheduled = true;
    setImmediate(() => {
      this.outboxScheduled = false;
      const batch = this.outbox.splice(0);
      for (let i = 0; i < batch.length; i += MAX_RECORDS_PER_MESSAGE) {
        this.publish(TOPIC_TABLE, { v: 1, t: 'records', records: batch.slice(i, i + MAX_RECORDS_PER_MESSAGE).map(toWire) });
      }
    });
  }

  private publishMember(m: MemberMessage): void {
    this.publish(TOPIC_MEMBERS, m);
  }

  private publish(topic: string, m: MemberMessage | TableMessage): void {
    if (!this.node || this.stopped) return;
    const data = encode(m);
    this.stats.gossipOut++;
    this.stats.gossipBytesOut += data.length;
    this.node.services.pubsub.publish(topic, data).catch((e: unknown) => this.log.debug({ topic, err: String(e) }, 'publish failed'));
  }

  // -------------------------------------------------------------------------------------------
  // Probes

  private nextProbeTarget(): string | undefined {
    if (this.probeOrder.length === 0) this.probeOrder = shuffle(this.membership.others().map((m) => m.peerId));
    return this.probeOrder.shift();
  }

  private async probeNext(): Promise<void> {
    const target = this.nextProbeTarget();
    if (target !== undefined && this.membership.isLive(target)) await this.probe(target);
  }

  private dialTarget(m: Pick<Member, 'peerId' | 'addrs'>) {
    const addrs = m.addrs.map((a) => {
      const hp = parseHostPort(a, 'addrs');
      return toMultiaddr(hp, m.peerId);
    });
    return addrs.length > 0 ? addrs : peerIdFromString(m.peerId);
  }

  private async pingOnce(m: Pick<Member, 'peerId' | 'addrs'>, timeoutMs: number): Promise<boolean> {
    if (!this.node) return false;
    try {
      const target = this.dialTarget(m);
      await this.node.services.ping.ping(target as Parameters<VxmeshLibp2p['services']['ping']['ping']>[0], { signal: AbortSignal.timeout(timeoutMs) });
      return true;
    } catch {
      return false;
    }
  }

  /** One SWIM probe: direct ping, then indirect through k members; suspect on silence. */
  async probe(peerId: string): Promise<boolean> {
    const m = this.membership.get(peerId);
    if (!m || this.probing.has(peerId) || !this.node) return true;
    this.probing.add(peerId);
    const started = performance.now();
    try {
      this.stats.probes++;
      if (await this.pingOnce(m, this.timers.probeTimeoutMs)) {
        this.membership.ack(peerId);
        return true;
      }
      const helpers = shuffle(this.membership.others(['alive']).filter((x) => x.peerId !== peerId)).slice(0, this.timers.indirectChecks);
      const indirectTimeout = Math.max(200, this.timers.probeIntervalMs - this.timers.probeTimeoutMs);
      const results = await Promise.all([
        ...helpers.map((h) => this.indirectProbe(h, m, indirectTimeout)),
        // Keep trying directly meanwhile (a reconnect may succeed).
        this.pingOnce(m, indirectTimeout),
      ]);
      if (results.some(Boolean)) {
        this.membership.ack(peerId);
        return true;
      }
      if (this.lag?.stalledSince(started)) {
        this.log.debug({ peerId }, 'probe inconclusive: this process stalled during it');
        return true;
      }
      this.stats.probeFailures++;
      const now = this.membership.get(peerId);
      if (now && (now.state === 'alive' || now.state === 'suspect')) {
        if (this.membership.suspect(peerId, now.incarnation, this.peerId)) {
          this.log.info({ member: now.name, peerId }, 'probe failed: suspect');
          this.publishMember({ v: 1, t: 'suspect', peerId, incarnation: now.incarnation, from: this.peerId });
        }
      }
      return false;
    } finally {
      this.probing.delete(peerId);
    }
  }

  private async indirectProbe(helper: Member, target: Member, timeoutMs: number): Promise<boolean> {
    if (!this.node) return false;
    this.stats.indirectProbes++;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const stream = await this.node.dialProtocol(this.dialTarget(helper) as Parameters<VxmeshLibp2p['dialProtocol']>[0], PROTOCOL_PROBE, { signal });
      const lp = lpStream(stream, { maxDataLength: 64 * 1024 });
      await lp.write(encode({ v: 1, t: 'probe-req', target: target.peerId, addrs: target.addrs }), { signal });
      const reply = decodeProbeReply((await lp.read({ signal })).subarray());
      await stream.close().catch(() => undefined);
      return reply.ok;
    } catch {
      return false;
    }
  }

  private async serveProbe(stream: Stream): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: 64 * 1024 });
    const signal = AbortSignal.timeout(this.timers.probeIntervalMs * 2);
    const req = decodeProbeRequest((await lp.read({ signal })).subarray());
    const ok = await this.pingOnce({ peerId: req.target, addrs: req.addrs }, this.timers.probeTimeoutMs);
    await lp.write(encode({ v: 1, t: 'probe-reply', ok }), { signal });
    await stream.close().catch(() => undefined);
  }

  // -------------------------------------------------------------------------------------------
  // Connections

  private async maintainConnections(): Promise<void> {
    const node = this.node;
    if (!node) return;
    const connected = new Set(node.getConnections().map((c) => c.remotePeer.toString()));
    const live = this.membership.others(['alive', 'suspect']);
    if (live.length === 0 && this.seeds.length > 0) {
      await this.join();
      return;
    }
    const missing = this.timers.targetPeers - live.filter((m) => connected.has(m.peerId)).length;
    if (missing <= 0) return;
    const candidates = shuffle(live.filter((m) => !connected.has(m.peerId))).slice(0, missing);
    await Promise.all(
      candidates.map((m) =>
        node.dial(this.dialTarget(m) as Parameters<VxmeshLibp2p['dial']>[0], { signal: AbortSignal.timeout(2000) }).catch(() => undefined),
      ),
    );
  }

  private async syncRandom(): Promise<void> {
    const live = this.membership.others(['alive']);
    const m = live[Math.floor(Math.random() * live.length)];
    if (m) await this.syncWith(m).catch(() => undefined);
  }

  private async reconnectDead(): Promise<void> {
    // Dead and departed members: either may come back (a restart after a graceful stop is 'left').
    const dead = this.membership.others(['dead', 'left']);
    const m = dead[Math.floor(Math.random() * dead.length)];
    if (m) await this.syncWith(m).catch(() => undefined);
    // Also retry seeds we have no live connection to: a healed partition may only be reachable so.
    if (dead.length > 0 && this.membership.others(['alive']).length === 0) await this.join();
  }

  // -------------------------------------------------------------------------------------------
  // Anti-entropy (push-pull)

  private syncFailed(e: unknown, side: string): void {
    this.stats.syncFailures++;
    this.log.debug({ side, err: String(e) }, 'sync failed');
  }

  private memberStates(): Array<MemberInfo & { state: Member['state'] }> {
    return this.membership.list().map((m) => ({ peerId: m.peerId, name: m.name, vtep: m.vtep, addrs: m.addrs, incarnation: m.incarnation, state: m.state }));
  }

  async syncWith(m: Pick<Member, 'peerId' | 'addrs'>): Promise<void> {
    if (!this.node) return;
    await this.node.dial(this.dialTarget(m) as Parameters<VxmeshLibp2p['dial']>[0], { signal: AbortSignal.timeout(3000) });
    await this.sync(peerIdFromString(m.peerId));
  }

  /** Initiator side: summary → digest → push (+ want) → records. */
  async sync(peer: PeerId): Promise<void> {
    if (!this.node) return;
    const signal = AbortSignal.timeout(15_000);
    const stream = await this.node.dialProtocol(peer, PROTOCOL_SYNC, { signal });
    const lp = lpStream(stream, { maxDataLength: MAX_SYNC_FRAME_BYTES, maxBufferSize: MAX_SYNC_FRAME_BYTES });
    const read = async <T extends SyncFrame['t']>(t: T): Promise<Extract<SyncFrame, { t: T }>> => {
      const f = decodeSyncFrame((await lp.read({ signal })).subarray());
      if (f.t !== t) throw new WireError('t', `expected ${t}, got ${f.t}`);
      return f as Extract<SyncFrame, { t: T }>;
    };
    try {
      await lp.write(encode({ v: 1, t: 'sync-summary', members: this.memberStates(), partitions: this.table.summaries() }), { signal });
      const digest = await read('sync-digest');
      for (const m of digest.members) this.membership.learn(m);
      const { push, want } = this.compare(digest);
      await lp.write(encode({ v: 1, t: 'sync-push', records: push.map(toWire), want }), { signal });
      const got = await read('sync-records');
      await this.mergeVerified(got.records);
      this.stats.syncRuns++;
    } catch (e) {
      this.syncFailed(e, 'initiate');
      throw e;
    } finally {
      await stream.close().catch(() => undefined);
    }
  }

  /** Responder side. */
  private async serveSync(stream: Stream, remote: string): Promise<void> {
    const signal = AbortSignal.timeout(15_000);
    const lp = lpStream(stream, { maxDataLength: MAX_SYNC_FRAME_BYTES, maxBufferSize: MAX_SYNC_FRAME_BYTES });
    try {
      const summary = decodeSyncFrame((await lp.read({ signal })).subarray());
      if (summary.t !== 'sync-summary') throw new WireError('t', 'expected sync-summary');
      for (const m of summary.members) this.membership.learn(m);
      const mine = this.table.summaries();
      const versions: SyncDigest['versions'] = {};
      for (const p of new Set([...Object.keys(mine), ...Object.keys(summary.partitions)])) {
        const a = mine[p];
        const b = summary.partitions[p];
        if (!a || !b || a.count !== b.count || a.max !== b.max || a.hash !== b.hash) versions[p] = this.table.versions(p);
      }
      await lp.write(encode({ v: 1, t: 'sync-digest', members: this.memberStates(), versions }), { signal });
      const push = decodeSyncFrame((await lp.read({ signal })).subarray());
      if (push.t !== 'sync-push') throw new WireError('t', 'expected sync-push');
      await this.mergeVerified(push.records);
      const records: WireRecord[] = [];
      for (const [kind, key, owner] of push.want) {
        const r = this.table.get(kind, key, owner);
        if (r) records.push(toWire(r));
      }
      await lp.write(encode({ v: 1, t: 'sync-records', records }), { signal });
      this.stats.syncRuns++;
      this.log.debug({ remote, pushed: push.records.length, sent: records.length }, 'served sync');
    } finally {
      await stream.close().catch(() => undefined);
    }
  }

  /** What to push (records the peer lacks or holds older) and what to ask for, per differing partition. */
  private compare(digest: SyncDigest): { push: TableRecord[]; want: Array<[RecordKind, string, string]> } {
    const push: TableRecord[] = [];
    const want: Array<[RecordKind, string, string]> = [];
    for (const [p, theirs] of Object.entries(digest.versions)) {
      const theirMap = new Map(theirs.map(([kind, key, owner, lamport]) => [`${kind}\u0000${key}\u0000${owner}`, lamport]));
      const mineInP = this.table.partition(p);
      const mineMap = new Map(mineInP.map((r) => [`${r.kind}\u0000${r.key}\u0000${r.owner}`, r]));
      for (const r of mineInP) {
        const lam = theirMap.get(`${r.kind}\u0000${r.key}\u0000${r.owner}`);
        if (lam === undefined || lam < r.lamport) push.push(r);
      }
      for (const [kind, key, owner, lamport] of theirs) {
        const r = mineMap.get(`${kind}\u0000${key}\u0000${owner}`);
        // Shared records live under one identity whatever the writer: compare against ours too.
        const sharedMine = partitionOf({ kind, owner }) === '*' ? [...mineMap.values()].find((x) => x.kind === kind && x.key === key) : undefined;
        const have = r ?? sharedMine;
        if (!have || have.lamport < lamport || (have.lamport === lamport && have.owner < owner)) want.push([kind, key, owner]);
      }
    }
    return { push, want };
  }

  /** Merges records relayed by a third party: each must carry a valid signature of its owner. */
  private async mergeVerified(records: WireRecord[]): Promise<void> {
    const ok: WireRecord[] = [];
    for (const r of records) {
      const have = this.table.get(r.kind, r.key, r.owner);
      if (have && (have.lamport > r.lamport || (have.lamport === r.lamport && r.owner !== this.peerId))) continue; // nothing new: skip the crypto
      if (await verifyRecord(r)) ok.push(r);
      else this.drop('bad-signature', `${r.kind}/${r.key} of ${r.owner}`);
    }
    this.applyRecords(ok, 'sync');
  }
}

