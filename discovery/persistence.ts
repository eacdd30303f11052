/**
 * Discovery's state directory files: the clocks (Lamport time, incarnation) and the gossip addresses
 * of the members live at the time (a restart rejoins through them, also on a host started without
 * seeds: memberlist's and Serf's snapshot) in discovery.json, and the last known table in table.json, each written atomically: the clocks at most every 500 ms, the table
 * (a cache for a restart with no peer reachable; its size grows with the cluster) at most every 5 s.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../core/atomic-file.js';
import type { Logger } from '../core/logger.js';
import { INCARNATION_RAISE_CAP, LAMPORT_RAISE_CAP } from './clock-bounds.js';
import type { ReplicatedTable } from './table.js';
import type { Membership } from './membership.js';
import { parseHostPort, type HostPort } from './node.js';
import { toWire } from './table.js';
import { checkRecord, toJson, type WireRecord } from './wire.js';
import { monotonicMs } from '../core/clock.js';

export interface PersistedClocks {
  lamport: number;
  incarnation: number;
  /** host:port of the other members live when written (at most REMEMBERED_MEMBERS). */
  members?: string[];
}

/** Members remembered at most (a rejoin needs one that answers, not all). */
export const REMEMBERED_MEMBERS = 16;

/** Reads what a previous life left; missing or unreadable files mean a first start. Bad records are skipped. */
export function loadPersisted(stateDir: string): { clocks: PersistedClocks; records: WireRecord[] } {
  let clocks: PersistedClocks = { lamport: 0, incarnation: 0 };
  try {
    const raw = JSON.parse(fs.readFileSync(path.join(stateDir, 'discovery.json'), 'utf8')) as Partial<PersistedClocks>;
    // A clock an attack pushed up before the ceilings existed comes back below them.
    clocks = {
      lamport: Math.min(Number(raw.lamport) || 0, LAMPORT_RAISE_CAP),
      incarnation: Math.min(Number(raw.incarnation) || 0, INCARNATION_RAISE_CAP),
      members: Array.isArray(raw.members)
        ? raw.members.filter((a): a is string => typeof a === 'string').slice(0, REMEMBERED_MEMBERS)
        : [],
    };
  } catch {
    /* first start */
  }
  let records: WireRecord[] = [];
  try {
    const raw = JSON.parse(fs.readFileSync(path.join(stateDir, 'table.json'), 'utf8')) as unknown;
    if (Array.isArray(raw)) {
      records = raw.flatMap((r, i) => {
        try {
          return [checkRecord(r, `table.json[${i}]`)];
        } catch {
          return [];
        }
      });
    }
  } catch {
    /* first start, or no snapshot */
  }
  return { clocks, records };
}

/** The members remembered in the clocks' file, as addresses to dial (those that cannot be read are left out). */
export function rememberedSeeds(clocks: PersistedClocks): HostPort[] {
  return (clocks.members ?? []).flatMap((a) => {
    try {
      return [parseHostPort(a, 'members')];
    } catch {
      return [];
    }
  });
}

/** The table snapshot is written at most this often. */
export const TABLE_SNAPSHOT_INTERVAL_MS = 5000;
/**
 * And at most once per this many times its own cost: a large table's snapshot (20,000 records: ~9 MB
 * of JSON, over a second of CPU on a loaded machine) must not take a third of the agent's time. The
 * snapshot is the receiver's cache (a restart fetches the rest by anti-entropy, its own records come
 * back from its local state), so a slower cadence costs a restart a larger first sync, nothing else.
 */
export const TABLE_SNAPSHOT_COST_FACTOR = 20;

/** How long after a snapshot that took `costMs` the next one may be written. */
export function snapshotGapMs(costMs: number, floorMs = TABLE_SNAPSHOT_INTERVAL_MS): number {
  return Math.max(floorMs, TABLE_SNAPSHOT_COST_FACTOR * costMs);
}

export class Persistence {
  private timer?: NodeJS.Timeout;
  private tableTimer?: NodeJS.Timeout;
  private tableWrittenAt = 0;
  /** The next snapshot's earliest time after the last one (snapshotGapMs of its cost). */
  private tableGapMs = 0;
  private tableUrgent = false;

  constructor(
    private readonly stateDir: string,
    private readonly table: ReplicatedTable,
    /** This member's incarnation, and the other live members (the first address of each is remembered). */
    private readonly membership: Pick<Membership, 'self' | 'others'>,
    private readonly log: Logger,
    /** The snapshots' shortest interval (tests shorten it). */
    private readonly snapshotFloorMs = TABLE_SNAPSHOT_INTERVAL_MS,
  ) {}

  /**
   * A write soon (changes arriving together are written once). `definitions`: a network definition
   * changed — the snapshot is its only copy on a host without peers, so the table goes out with the
   * clocks instead of within 5 s.
   */
  schedule(definitions = false): void {
    if (definitions) this.tableUrgent = true;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.persist();
    }, 500);
    this.timer.unref();
  }

  /**
   * Records of others changed: only the table snapshot is written (within 5 s; a definition within 500
   * ms). The clocks need no write for them: a restart raises the Lamport clock from the snapshot and
   * from its own records coming back (table.ts `reassert`); writing them on every received change cost
   * a receiver about a tenth of its CPU per update (bench:scale's profile).
   */
  scheduleTable(definitions = false): void {
    if (!definitions) return this.scheduleSnapshot();
    this.schedule(true);
  }

  /** The clocks now; the table snapshot now or, if one was written less than 5 s ago, then. Never throws. */
  persist(): void {
    const clocks: PersistedClocks = {
      lamport: this.table.lamport,
      incarnation: this.membership.self.incarnation,
      members: this.membership
        .others(['alive'])
        .flatMap((m) => m.addrs.slice(0, 1))
        .slice(0, REMEMBERED_MEMBERS),
    };
    try {
      writeFileAtomic(path.join(this.stateDir, 'discovery.json'), JSON.stringify(clocks));
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'cannot persist discovery state');
    }
    this.scheduleSnapshot();
  }

  /** The table snapshot now (urgent, or none within the gap), else once the gap since the last has passed. */
  private scheduleSnapshot(): void {
    if (this.tableUrgent) {
      if (this.tableTimer) clearTimeout(this.tableTimer);
      this.tableTimer = undefined;
      return this.persistTable();
    }
    if (this.tableTimer) return;
    const wait = this.tableWrittenAt + this.tableGapMs - monotonicMs();
    if (wait <= 0) return this.persistTable();
    this.tableTimer = setTimeout(() => {
      this.tableTimer = undefined;
      this.persistTable();
    }, wait);
    this.tableTimer.unref();
  }

  private persistTable(): void {
    const started = monotonicMs();
    this.tableUrgent = false;
    try {
      writeFileAtomic(path.join(this.stateDir, 'table.json'), toJson([...this.table.all()].map(toWire)));
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'cannot persist discovery state');
    }
    this.tableWrittenAt = monotonicMs();
    this.tableGapMs = snapshotGapMs(this.tableWrittenAt - started, this.snapshotFloorMs);
  }

  /** Milliseconds from the last snapshot's end before the next may start (tests, diagnostics). */
  get snapshotGap(): number {
    return this.tableGapMs;
  }

  /** Writes both now and stops the timers. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.tableTimer) clearTimeout(this.tableTimer);
    this.timer = undefined;
    this.tableTimer = undefined;
    this.persist();
    this.persistTable();
  }
}
