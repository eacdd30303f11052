/**
 * With a store, its network definitions are the truth: they are copied into the replicated table
 * (where every agent reads them) at start, on every change the store reports, and with every
 * periodic tick.
 */
import type { Logger } from '../core/logger.js';
import type { AddressHolder, EtcdStore } from '../store/etcd-store.js';
import type { ClusterView } from './ports.js';

export type DefinitionStore = Pick<EtcdStore, 'networks' | 'watchNetworks' | 'allocations'>;

export class StoreMirror {
  private stopWatch?: () => Promise<void>;
  private stopped = false;
  private watching = false;
  /** Per network, who holds each address in the store, as last read. */
  readonly holders = new Map<string, Map<string, AddressHolder>>();
  /** Bumped whenever `holders` is written (it is changed in place). */
  holdersVersion = 0;

  constructor(
    private readonly store: DefinitionStore,
    private readonly cluster: Pick<ClusterView, 'networkRecords' | 'putNetwork'>,
    private readonly log: Logger,
  ) {}

  /**
   * Whether the store, as last read, leaves this address to this owner: refused only when it gives it
   * to another host; one it did not list yet (a newer allocation) passes until a read says otherwise.
   */
  leaves(network: string, ip: string, owner: string): boolean {
    const holder = this.holders.get(network)?.get(ip);
    // By the peer id, the record signer's identity, never by a name a member gives itself: an entry
    // without one (written by a release before peer ids were recorded) leaves the address to nobody.
    return holder === undefined || holder.peer === owner;
  }

  /** Mirrors once; the watch is set up after the first mirror that reached the store (a watch waiting
   * on a store that does not answer would keep retrying even after close). */
  async start(): Promise<void> {
    await this.mirror();
  }

  private watch(): void {
    if (this.watching || this.stopped) return;
    this.watching = true;
    this.store
      .watchNetworks(() => void this.mirror())
      .then(
        (stop) => {
          if (this.stopped) void stop();
          else this.stopWatch = stop;
        },
        (e: unknown) => {
          this.watching = false;
          this.log.warn(
            { err: (e as Error).message },
            'store: watching network definitions failed; retried after the next mirror',
          );
        },
      );
  }

  /** Never throws: a store that does not answer leaves the definitions known so far. */
  async mirror(): Promise<void> {
    if (this.stopped) return;
    try {
      const known = new Map(this.cluster.networkRecords().map((r) => [r.value.name, r.value]));
      for (const v of await this.store.networks()) {
        const have = known.get(v.name);
        if (have && JSON.stringify(have) === JSON.stringify(v)) continue;
        await this.cluster.putNetwork(v);
        this.log.info({ network: v }, 'network definition from the store');
      }
      for (const r of this.cluster.networkRecords()) {
        const held = await this.store.allocations(r.value.name);
        this.holders.set(r.value.name, held);
        this.holdersVersion++;
      }
      this.watch();
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'store unreachable: keeping the network definitions known so far');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.stopWatch?.();
  }
}
