/**
 * The optional consistent store (etcd): network definitions and address allocations decided by
 * compare-and-swap, for users who want them strictly conflict-free. Endpoint tuples still travel by
 * gossip; the store is consulted only when a network is created or removed and when an address is
 * allocated or released.
 *
 * Key layout under the prefix (default `/vxmesh/`), values JSON:
 *   networks/<name>             NetworkValue                 (created only if absent)
 *   vnis/<vni>                  {"network": name}            (makes VNIs unique, written with the above)
 *   addresses/<network>/<ip>    {"host": name, "at": ISO, "peer": id} (created only if absent)
 */
import { allocatable } from '../core/address-range.js';
import { Etcd3, type Namespace } from 'etcd3';
import { parseStoreUrl } from './store-url.js';

export { parseStoreUrl } from './store-url.js';
import { storeAccess, type StoreAccessOptions } from './store-access.js';
import { StoreError, ValidationError, VxmeshError } from '../core/errors.js';
import { addressAt, parsePrefix, prefixSize } from '../core/prefix.js';
import { checkNetworkValue, type NetworkValue } from '../core/records.js';
import { monotonicMs } from '../core/clock.js';

export interface AddressHolder {
  host: string;
  at: string;
  /** The holder's peer id (its signing identity; absent in entries written before it was recorded). */
  peer?: string;
}

export interface EtcdStoreOptions extends StoreAccessOptions {
  /** Key prefix; default `/vxmesh/`. */
  prefix?: string;
  /** Per-call deadline (ms); default 5000. */
  timeoutMs?: number;
}

/** An address value as stored; a damaged one is held by nobody we know ('?'). */
function parseHolder(text: string): AddressHolder {
  try {
    const h = JSON.parse(text) as Partial<AddressHolder>;
    return { host: String(h.host), at: String(h.at), ...(typeof h.peer === 'string' ? { peer: h.peer } : {}) };
  } catch {
    return { host: '?', at: '' };
  }
}

/**
 * Whether an entry is this holder's: by peer id whenever the entry has one (a name is what a member
 * calls itself, and two members may share one); by name only for an entry written before peer ids were.
 */
export const holds = (h: AddressHolder, host: string, peer: string | undefined): boolean =>
  h.peer !== undefined ? h.peer === peer : h.host === host;

const MAX_ALLOCATE_ROUNDS = 32;
/** How long an allocator trusts its own view of the taken addresses before reading them again. */
const HELD_CACHE_MS = 2000;
/** An allocator picks at random among this many of the lowest free addresses. */
const ALLOCATE_CHOICES = 16;

export class EtcdStore {
  /** Per network: the addresses known to be taken (ours and others'), and when it was read. */
  private readonly heldCache = new Map<string, { held: Set<string>; at: number }>();

  private constructor(
    private readonly client: Etcd3,
    private readonly ns: Namespace,
    readonly endpoints: string[],
  ) {}

  /** Connects and checks that the store answers within the deadline. */
  static async connect(url: string, opts: EtcdStoreOptions = {}): Promise<EtcdStore> {
    const store = EtcdStore.open(url, opts);
    try {
      await store.ping();
    } catch (e) {
      store.close();
      throw e;
    }
    return store;
  }

  /**
   * A client for the store without waiting for it (the URL and prefix are checked): calls fail with a
   * StoreError while it does not answer, and work once it does.
   */
  static open(url: string, opts: EtcdStoreOptions = {}): EtcdStore {
    const endpoints = parseStoreUrl(url);
    const prefix = opts.prefix ?? '/vxmesh/';
    if (!prefix.startsWith('/') || !prefix.endsWith('/'))
      throw new ValidationError('store-prefix', `"${prefix}" must start and end with /`);
    const timeoutMs = opts.timeoutMs ?? 5000;
    const client = new Etcd3({
      hosts: endpoints,
      dialTimeout: timeoutMs,
      defaultCallOptions: () => ({ deadline: Date.now() + timeoutMs }),
      ...storeAccess(endpoints, opts),
    });
    return new EtcdStore(client, client.namespace(prefix), endpoints);
  }

  /** Resolves when the store answers (within the call deadline), else a StoreError naming it. */
  async ping(): Promise<void> {
    await this.call('connect', () => this.client.maintenance.status());
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof VxmeshError) throw e;
      throw new StoreError(`store: ${what} failed at ${this.endpoints.join(',')}: ${(e as Error).message}`);
    }
  }

  // ----------------------------------------------------------------------------------------------
  // Networks

  async networks(): Promise<NetworkValue[]> {
    const all = await this.call('list networks', () => this.ns.getAll().prefix('networks/').strings());
    const out: NetworkValue[] = [];
    for (const [key, text] of Object.entries(all)) {
      try {
        out.push(checkNetworkValue(JSON.parse(text), key));
      } catch {
        /* a foreign or damaged key: not ours to interpret */
      }
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async network(name: string): Promise<NetworkValue | undefined> {
    const text = await this.call('read network', () => this.ns.get(`networks/${name}`).string());
    return text === null ? undefined : checkNetworkValue(JSON.parse(text), `networks/${name}`);
  }

  /**
   * Creates the network if neither its name nor its VNI exists (one transaction). The same
   * definition again is not an error (`created: false`); another subnet/VNI under the name, or the
   * VNI under another name, is a ValidationError naming `name` or `vni`.
   */
  async createNetwork(v: NetworkValue): Promise<{ created: boolean; network: NetworkValue }> {
    const nameKey = `networks/${v.name}`;
    const vniKey = `vnis/${v.vni}`;
    const r = await this.call('create network', () =>
      this.ns
        .if(nameKey, 'Create', '==', 0)
        .and(vniKey, 'Create', '==', 0)
        .then(
          this.ns.put(nameKey).value(JSON.stringify(v)),
          this.ns.put(vniKey).value(JSON.stringify({ network: v.name })),
        )
        .commit(),
    );
    if (r.succeeded) return { created: true, network: v };
    const existing = await this.network(v.name);
    if (existing) {
      if (existing.subnet === v.subnet && existing.vni === v.vni) return { created: false, network: existing };
      throw new ValidationError(
        'name',
        `network ${v.name} exists in the store with subnet ${existing.subnet} vni ${existing.vni}`,
      );
    }
    const holder = await this.call('read vni', () => this.ns.get(vniKey).string());
    const holderName = holder === null ? '?' : String((JSON.parse(holder) as { network?: unknown }).network);
    throw new ValidationError('vni', `VNI ${v.vni} is used by network ${holderName} in the store`);
  }

  /** Removes a network that has no allocated address left. Returns false when it did not exist. */
  async removeNetwork(name: string): Promise<boolean> {
    const text = await this.call('read network', () => this.ns.get(`networks/${name}`).string());
    if (text === null) return false;
    const n = checkNetworkValue(JSON.parse(text), `networks/${name}`);
    const held = await this.call('count addresses', () => this.ns.getAll().prefix(`addresses/${name}/`).count());
    if (held > 0)
      throw new ValidationError(
        'network',
        `network ${name} still has ${held} address(es) allocated in the store; detach its endpoints first`,
      );
    // Removed only as read (the text as stored: another host may have changed it since).
    const r = await this.call('remove network', () =>
      this.ns
        .if(`networks/${name}`, 'Value', '==', text)
        .then(this.ns.delete().key(`networks/${name}`), this.ns.delete().key(`vnis/${n.vni}`))
        .commit(),
    );
    if (!r.succeeded)
      throw new ValidationError('network', `network ${name} changed in the store while being removed; try again`);
    return true;
  }

  /** Calls `onChange` after any change of a network definition; returns a function that stops watching. */
  async watchNetworks(onChange: () => void): Promise<() => Promise<void>> {
    const w = await this.call('watch networks', () => this.ns.watch().prefix('networks/').create());
    w.on('put', () => onChange());
    w.on('delete', () => onChange());
    w.on('error', () => undefined); // the client reconnects by itself
    return async () => {
      await w.cancel().catch(() => undefined);
    };
  }

  // ----------------------------------------------------------------------------------------------
  // Addresses

  async allocations(network: string): Promise<Map<string, AddressHolder>> {
    const all = await this.call('list addresses', () => this.ns.getAll().prefix(`addresses/${network}/`).strings());
    const out = new Map<string, AddressHolder>();
    for (const [key, text] of Object.entries(all))
      out.set(key.slice(`addresses/${network}/`.length), parseHolder(text));
    return out;
  }

  /** Who holds one address (the stored text too, for a compare-and-delete), or undefined. */
  private async holderOf(network: string, ip: string): Promise<{ holder: AddressHolder; text: string } | undefined> {
    const text = await this.call('read address', () => this.ns.get(`addresses/${network}/${ip}`).string());
    return text === null ? undefined : { holder: parseHolder(text), text };
  }

  /**
   * Allocates a free address of the network for `host`: one of the lowest free ones, picked at random
   * so that concurrent allocators rarely collide, created only if absent (a lost race tries another).
   * `exclude`: addresses in use by other means (endpoint records that predate the store).
   */
  async allocate(net: NetworkValue, host: string, exclude: Iterable<string> = [], peer?: string): Promise<string> {
    // Either family (the IPv6 view's subnet is its subnet6): the range is walked from its first
    // address only until ALLOCATE_CHOICES free ones are seen, never through (a /64 has 2^64).
    if (net.subnet === undefined) throw new VxmeshError(`network ${net.name} has no subnet of that family`);
    const subnet = parsePrefix(net.subnet);
    const range = parsePrefix(net.ipRange ?? net.subnet, 'ipRange', true);
    const size = prefixSize(range);
    const skip = new Set<string>([...exclude, addressAt(subnet, 0n), addressAt(subnet, prefixSize(subnet) - 1n)]);
    if (net.gateway) skip.add(net.gateway);
    const ok = allocatable(net);
    for (let round = 0; round < MAX_ALLOCATE_ROUNDS; round++) {
      // Which addresses are taken: this allocator's own view (read again after a lost round or when
      // older than HELD_CACHE_MS), else the keys from the store. A stale view errs both ways: an
      // address freed elsewhere looks taken until the next read; one taken elsewhere looks free and
      // costs one failed transaction, never a duplicate.
      let view = this.heldCache.get(net.name);
      const fresh = !view || round > 0 || monotonicMs() - view.at > HELD_CACHE_MS;
      if (fresh) {
        view = { held: await this.heldKeys(net.name), at: monotonicMs() };
        this.heldCache.set(net.name, view);
      }
      const held = (view as { held: Set<string> }).held;
      const free: string[] = [];
      for (let i = 0n; i < size && free.length < ALLOCATE_CHOICES; i++) {
        const ip = addressAt(range, i);
        if (!skip.has(ip) && !held.has(ip) && ok(ip)) free.push(ip);
      }
      if (free.length === 0) {
        if (fresh) throw new VxmeshError(`network ${net.name} (${net.subnet}) has no free address left in the store`);
        continue;
      }
      // A few tries from this view, then a fresh one.
      for (let k = 0; k < 3 && free.length > 0; k++) {
        const ip = free.splice(Math.floor(Math.random() * free.length), 1)[0] as string;
        if (await this.tryClaim(net.name, ip, host, peer)) return ip;
      }
    }
    throw new StoreError(
      `store: could not allocate an address of ${net.name} after ${MAX_ALLOCATE_ROUNDS} rounds (heavy contention)`,
    );
  }

  private async heldKeys(network: string): Promise<Set<string>> {
    const dir = `addresses/${network}/`;
    const keys = await this.call('list addresses', () => this.ns.getAll().prefix(dir).keys());
    return new Set(keys.map((k) => k.slice(dir.length)));
  }

  /** Reserves a given address for `host`; fine if `host` holds it already, an error naming `ip` otherwise. */
  async reserve(network: string, ip: string, host: string, peer?: string): Promise<void> {
    if (await this.tryClaim(network, ip, host, peer)) return;
    const held = await this.holderOf(network, ip);
    if (held && holds(held.holder, host, peer)) return;
    if (!held) return this.reserve(network, ip, host, peer); // released in between: try again
    throw new ValidationError('ip', `${ip} is allocated to host ${held.holder.host} in the store`);
  }

  /** Releases an address if `host` (`peer`) holds it. Returns whether it did. */
  async release(network: string, ip: string, host: string, peer?: string): Promise<boolean> {
    const held = await this.holderOf(network, ip);
    if (!held || !holds(held.holder, host, peer)) return false;
    const key = `addresses/${network}/${ip}`;
    const r = await this.call('release address', () =>
      this.ns.if(key, 'Value', '==', held.text).then(this.ns.delete().key(key)).commit(),
    );
    if (r.succeeded) this.heldCache.get(network)?.held.delete(ip);
    return r.succeeded;
  }

  private async tryClaim(network: string, ip: string, host: string, peer?: string): Promise<boolean> {
    const key = `addresses/${network}/${ip}`;
    const value = JSON.stringify({
      host,
      at: new Date().toISOString(),
      ...(peer !== undefined ? { peer } : {}),
    } satisfies AddressHolder);
    const r = await this.call('allocate address', () =>
      this.ns.if(key, 'Create', '==', 0).then(this.ns.put(key).value(value)).commit(),
    );
    this.heldCache.get(network)?.held.add(ip); // taken now, by us or by someone else
    return r.succeeded;
  }

  close(): void {
    this.client.close();
  }
}
