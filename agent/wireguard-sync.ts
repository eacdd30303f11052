/**
 * The host's WireGuard interface for encrypted networks (dataplane/wireguard.ts through the port):
 * built when a local endpoint of an encrypted network needs it (before its attach: a host that cannot
 * build it refuses the attach, naming what is missing), its peers those of membership: every member
 * whose endpoints are programmed here (live, or held) and that announced a WireGuard key and tunnel
 * address in its signed statement, reached at its VTEP. Allowed addresses are per host (its tunnel
 * address): container churn never changes the interface, membership does. Runs after each reconcile
 * when the peers changed, and every few ticks to repair drift (a peer removed by hand comes back).
 */
import type { Logger } from '../core/logger.js';
import type { MemberView } from '../discovery/views.js';
import type { WireguardPeerState } from '../dataplane/wireguard.js';
import type { WantedPeer, WireguardPort } from './ports.js';

/** Drift repair every this many periodic ticks (30 s at the default 5 s interval). */
export const WIREGUARD_EVERY = 6;

export interface WireguardInputs {
  self: string;
  members(): MemberView[];
  /** Whether the member's endpoints are in this host's kernel (owners.ts). */
  programmed(peerId: string): boolean;
  /** Whether a local endpoint of an encrypted network exists (the interface is needed). */
  needed(): boolean;
  /** The first sync completed: peers membership does not list may be removed (before it, kept). */
  synced(): boolean;
}

export interface WireguardCounters {
  runs: number;
  changes: number;
  errors: number;
}

export interface WireguardDrift {
  /** The interface is needed and does not exist. */
  absent: boolean;
  /** Public keys of peers missing or configured otherwise. */
  missing: string[];
  /** Public keys of peers the interface should not have. */
  extra: string[];
}

export class WireguardSync {
  readonly counters: WireguardCounters = { runs: 0, changes: 0, errors: 0 };
  /** The peers as last applied (a fingerprint), undefined before the first success. */
  private applied?: string;
  private ticks = 0;
  private running?: Promise<void>;
  private again = false;
  lastError?: string;

  constructor(
    private readonly inputs: WireguardInputs,
    private readonly port: WireguardPort,
    private readonly log: Logger,
    private readonly listenPort: number,
  ) {}

  /**
   * The peers membership wants now (sorted by public key), each with the pre-shared key of a cluster
   * key both hold: the lowest id both announce, so both ends pick the same one (during a key change
   * both hold two keys, and every pair keeps a key in common); a peer that announces none (an older
   * release): our send key's.
   */
  wanted(): WantedPeer[] {
    const out: WantedPeer[] = [];
    const members = this.inputs.members();
    const mine = members.find((m) => m.peerId === this.inputs.self)?.clusterKeys ?? [];
    for (const m of members) {
      if (m.peerId === this.inputs.self || m.wgKey === undefined || m.tunnel === undefined) continue;
      if (!this.inputs.programmed(m.peerId)) continue;
      const common = m.clusterKeys ? mine.filter((k) => m.clusterKeys?.includes(k)).sort() : mine.slice(0, 1);
      const peer: WantedPeer = { publicKey: m.wgKey, endpoint: `${m.vtep}:${this.listenPort}`, tunnel: m.tunnel };
      if (common[0] !== undefined) peer.pskId = common[0];
      out.push(peer);
    }
    return out.sort((a, b) => a.publicKey.localeCompare(b.publicKey));
  }

  /** Builds or repairs the interface now; throws what stops it (an attach is refused with it). */
  ensure(): Promise<void> {
    // One at a time (attaches in parallel, the periodic run): two would both create the interface.
    const next = this.queue.then(() => this.ensureNow());
    this.queue = next.catch(() => undefined);
    return next;
  }

  private queue: Promise<void> = Promise.resolve();

  private async ensureNow(): Promise<void> {
    const peers = this.wanted();
    this.counters.runs++;
    try {
      const synced = this.inputs.synced();
      const r = await this.port.ensure(peers, { removeOthers: synced });
      this.applied = synced ? fingerprint(peers) : undefined;
      this.lastError = undefined;
      this.counters.changes += r.changes.length;
      if (r.created || r.changes.length)
        this.log.info(
          { created: r.created, changes: r.changes.map((c) => c.join(' ')), peers: peers.length },
          'wireguard reconciled',
        );
    } catch (e) {
      this.counters.errors++;
      this.lastError = (e as Error).message;
      throw e;
    }
  }

  /** After a reconcile: only when needed and the peers changed (or `force`, the periodic repair). Never throws. */
  run(force = false): Promise<void> {
    if (!this.inputs.needed()) return Promise.resolve();
    if (!force && this.applied === fingerprint(this.wanted())) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.ensure()
      .catch((e: unknown) => this.log.error({ err: (e as Error).message }, 'wireguard reconcile failed'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          void this.run();
        }
      });
    return this.running;
  }

  /**
   * What the interface has beside what membership wants: peers missing (or with another endpoint or
   * address), peers it should not have; `absent` when the interface does not exist although needed.
   */
  async drift(): Promise<WireguardDrift> {
    const have = await this.port.show().catch(() => undefined);
    const wanted = this.wanted();
    if (!have) return { absent: this.inputs.needed(), missing: wanted.map((p) => p.publicKey), extra: [] };
    const byKey = new Map(have.map((p) => [p.publicKey, p]));
    const missing = wanted
      .filter((w) => {
        const h = byKey.get(w.publicKey);
        return !h || h.endpoint !== w.endpoint || h.allowed !== `${w.tunnel}/128`;
      })
      .map((w) => w.publicKey);
    const want = new Set(wanted.map((w) => w.publicKey));
    return { absent: false, missing, extra: have.filter((h) => !want.has(h.publicKey)).map((h) => h.publicKey) };
  }

  /** Each peer's state as the interface has it (by public key); empty without an interface. */
  async peerStates(): Promise<Map<string, WireguardPeerState>> {
    const have = await this.port.show().catch(() => undefined);
    return new Map((have ?? []).map((p) => [p.publicKey, p]));
  }

  periodic(): Promise<void> {
    return ++this.ticks % WIREGUARD_EVERY === 0 ? this.run(true) : this.run();
  }
}

const fingerprint = (peers: WantedPeer[]): string =>
  peers.map((p) => `${p.publicKey} ${p.endpoint} ${p.tunnel} ${p.pskId ?? ''}`).join('|');
