/**
 * Interest-scoped distribution: the networks whose endpoint records and IPAM claims this host
 * receives, stores and verifies. A network is of interest while this host has an endpoint in it (its
 * own live endpoint records), while an attach or allocation is under way in it (`hold`), and for
 * INTEREST_HOLD_MS after the last of those ends (gossipsub's backoffs: a topic left and joined again
 * within 60 s would have its GRAFTs refused). Network definitions and membership stay cluster-wide.
 *
 * Others learn a member's interests from its signed statement (key 12: FNV-1a tags of the names,
 * `networkTag`), and dial members of the networks they share (connections.ts); records of a network
 * travel on its own gossipsub topic (`networkTopic`) and in anti-entropy partitions per owner and
 * network (table.ts `scopedPartitionOf`). Pure: time is passed in.
 */
import { fnv1a } from '../core/hash.js';
import { OWNER_BOUND, type RecordKind } from '../core/records.js';

/** How long a network stays of interest after its last endpoint here went (above gossipsub's 60 s prune backoff). */
export const INTEREST_HOLD_MS = 120_000;
/** Interest tags a member statement carries at most (4 KiB statement: about 5 bytes per tag). */
export const MAX_INTEREST_TAGS = 512;
/** Members of a network of interest this host keeps a connection to (its topic's mesh forms among them). */
export const PEERS_PER_NETWORK = 3;

const TOPIC_PREFIX = 'vxmesh/net/';
const TOPIC_SUFFIX = '/2';

/** A network's tag in member statements: 32 bits of FNV-1a of its name (a collision costs a connection, never a record). */
export const networkTag = (name: string): number => fnv1a(`vxmesh-network/${name}`);

/** The gossipsub topic of a network's endpoint records and IPAM claims (format 2). */
export const networkTopic = (name: string): string => `${TOPIC_PREFIX}${name}${TOPIC_SUFFIX}`;

/** The network of a network topic, or undefined for another topic. */
export function topicNetwork(topic: string): string | undefined {
  if (!topic.startsWith(TOPIC_PREFIX) || !topic.endsWith(TOPIC_SUFFIX)) return undefined;
  return topic.slice(TOPIC_PREFIX.length, topic.length - TOPIC_SUFFIX.length);
}

/** The network an owner-bound record belongs to (its key is `network/...`); undefined for shared records. */
export function recordNetwork(r: { kind: RecordKind; key: string }): string | undefined {
  if (!OWNER_BOUND.has(r.kind)) return undefined;
  const slash = r.key.indexOf('/');
  return slash > 0 ? r.key.slice(0, slash) : r.key;
}

export interface InterestChange {
  added: string[];
  removed: string[];
}

export class Interests {
  private current = new Set<string>();
  private announcedSet = new Set<string>();
  /** Holds: an attach under way (`attach`, announced) or the time after the last detach (`linger`, not announced). */
  private readonly heldUntil = new Map<string, { until: number; why: 'attach' | 'linger' }>();

  constructor(
    /** Networks this host has its own live endpoint records in. */
    private readonly ownNetworks: () => Iterable<string>,
    private readonly now: () => number = () => performance.now(),
    private readonly holdMs = INTEREST_HOLD_MS,
  ) {}

  has(network: string): boolean {
    return this.current.has(network);
  }

  /** Whether a record is for this host: shared, ours, or of a network of interest. */
  wants(r: { kind: RecordKind; key: string; owner: string }, self: string): boolean {
    const net = recordNetwork(r);
    return net === undefined || r.owner === self || this.current.has(net);
  }

  names(): string[] {
    return [...this.current].sort();
  }

  /**
   * The networks others learn from our statement: those with an endpoint here or an attach under way
   * (not those kept only after the last detach: their users are gone, network-guard.ts must not count us).
   */
  announced(): string[] {
    return [...this.announcedSet].sort();
  }

  /** The tags announced in our statement (sorted, at most MAX_INTEREST_TAGS). */
  tags(): number[] {
    return [...new Set(this.announced().map(networkTag))].sort((a, b) => a - b).slice(0, MAX_INTEREST_TAGS);
  }

  /** Keeps a network of interest (and announced) for the hold period from now: an attach or allocation in it. */
  hold(network: string): void {
    const until = Math.max(this.heldUntil.get(network)?.until ?? 0, this.now() + this.holdMs);
    this.heldUntil.set(network, { until, why: 'attach' });
  }

  /**
   * Recomputes the set: own networks, held ones, and for a network that just stopped being either, a
   * hold from now (so the last detach keeps it for the hold period). Returns what changed (of interest,
   * and whether the announced set changed).
   */
  refresh(): InterestChange & { announce: boolean } {
    const t = this.now();
    const own = new Set(this.ownNetworks());
    const next = new Set(own);
    const announced = new Set(own);
    // Just stopped being used here (the last endpoint went): kept for the hold period from now.
    for (const n of this.current)
      if (!own.has(n) && !this.heldUntil.has(n)) this.heldUntil.set(n, { until: t + this.holdMs, why: 'linger' });
    for (const [n, h] of this.heldUntil) {
      if (own.has(n))
        this.heldUntil.delete(n); // in use: its hold starts when it stops being
      else if (h.until > t) {
        next.add(n);
        if (h.why === 'attach') announced.add(n);
      } else this.heldUntil.delete(n);
    }
    const added = [...next].filter((n) => !this.current.has(n)).sort();
    const removed = [...this.current].filter((n) => !next.has(n)).sort();
    const announce = announced.size !== this.announcedSet.size || [...announced].some((n) => !this.announcedSet.has(n));
    this.current = next;
    this.announcedSet = announced;
    return { added, removed, announce };
  }
}
