/**
 * The egress reconciler: makes the packet-filter rules of the host and of every overlay namespace
 * with egress equal the rules of `rules.ts`. Idempotent; adopts what exists (a rule already right is
 * never rewritten, so conntrack state and traffic are untouched across an agent restart); a rule
 * deleted or changed by hand comes back at the next run; chains of ours no longer wanted are removed.
 */
import type { Logger } from '../core/logger.js';
import { commandRunner, droppedBy, iptablesBackend, parseSave, type IptablesRunner } from './iptables.js';
import { FilterEvents } from './filter-events.js';
import {
  dnsGuardRules,
  hostRules,
  mergeRules,
  overlayRules,
  type EgressNetwork,
  type GuardedNetwork,
  type RuleSet,
  type DnsGuard,
  type VxlanGuard,
  VXLAN_CHAIN,
  vxlanGuardRules,
} from './rules.js';
import { planSync } from './sync.js';
import { procForwarding, procForwarding6, type ForwardingSwitch } from './forwarding.js';
import { hostRules6, overlayRules6 } from './rules6.js';

export interface EgressError {
  /** `host` or the network's name. */
  where: string;
  message: string;
}

export interface EgressResult {
  /** One line per change made, prefixed by where. */
  changes: string[];
  errors: EgressError[];
}

export interface EgressOptions {
  log: Logger;
  /** The host namespace (path) when it is not this process's own. */
  hostNetns?: string;
  runner?: IptablesRunner;
  /** The host namespace's IPv4 forwarding (default: its /proc/sys switch). */
  forwarding?: ForwardingSwitch;
  /** Each client's questions to its DNS server beyond this are dropped by the kernel (default DNS_GUARD). */
  dnsGuard?: DnsGuard;
  /** The data port of plain networks (VXLAN), guarded by VXMESH-VXLAN; default 4789. */
  vxlanPort?: number;
  /** The underlay's family: 6 puts the VXLAN guard into ip6tables (the rest stays IPv4). Default 4. */
  underlayFamily?: 4 | 6;
  /** The host namespace's IPv6 forwarding (default: its /proc/sys switch, with accept_ra kept working). */
  forwarding6?: ForwardingSwitch;
}

export class Egress {
  private readonly runner: IptablesRunner;
  private readonly canonical = new Map<string, string>();
  /** Per family: the host was found without any chain of ours, and no network wants one since. */
  private readonly hostClean = new Set<4 | 6>();
  readonly counters = { runs: 0, changes: 0, errors: 0, filterEvents: 0 };
  /** Listeners of packet-filter changes in the namespaces of the last run (watchChanges). */
  private events?: FilterEvents;
  /** The namespaces the last run wrote in (undefined: the host's). */
  private lastNamespaces = new Set<string | undefined>();

  private readonly forwarding: ForwardingSwitch;

  constructor(private readonly opts: EgressOptions) {
    this.runner = opts.runner ?? commandRunner;
    this.forwarding = opts.forwarding ?? procForwarding(opts.hostNetns);
    this.forwarding6 = opts.forwarding6 ?? procForwarding6(opts.hostNetns);
  }

  private readonly forwarding6: ForwardingSwitch;
  /** IPv6 rules were wanted once on this host: ip6tables is checked from then on (so they are removed). */
  private used6 = false;

  /**
   * `nets`: the networks with egress here; `guarded`: the networks whose overlay namespace holds a DNS
   * server here (every network with local endpoints, internal ones too).
   */
  async reconcile(nets: EgressNetwork[], guarded: GuardedNetwork[] = [], vxlan?: VxlanGuard): Promise<EgressResult> {
    this.counters.runs++;
    const result: EgressResult = { changes: [], errors: [] };
    for (const [netns, { name, rules }] of namespaceRules(nets, guarded, this.opts.dnsGuard))
      await this.syncInto(result, name, netns, rules);
    for (const [netns, { name, rules }] of namespaceRules(nets, guarded, this.opts.dnsGuard, 6))
      await this.syncInto(result, `${name} (ip6tables)`, netns, rules, 6);
    if (nets.some((n) => n.overlay6 !== undefined)) this.used6 = true;
    this.lastVxlan = vxlan && 'keep' in vxlan ? { rules: await this.currentVxlanRules().catch(() => []) } : vxlan;
    for (const family of this.hostFamilies()) {
      const host = this.hostRuleSet(nets, family);
      // With nothing to serve, the host is checked once (chains left from before are removed), then left alone.
      if (host.chains.length === 0 && this.hostClean.has(family)) continue;
      const where = family === 6 ? 'host (ip6tables)' : 'host';
      const ok = await this.syncInto(result, where, this.opts.hostNetns, host, family);
      if (ok && host.chains.length === 0) this.hostClean.add(family);
      else this.hostClean.delete(family);
      if (ok && family === 4 && nets.length > 0) await this.ensureForwarding(result);
      if (ok && family === 6 && nets.some((n) => n.overlay6 !== undefined && (n.uplinks6 ?? []).length > 0))
        await this.ensureForwarding6(result);
    }
    this.lastNamespaces = new Set([this.opts.hostNetns, ...namespaceRules(nets, guarded).keys()]);
    this.listen();
    this.counters.changes += result.changes.length;
    this.counters.errors += result.errors.length;
    if (result.changes.length) this.opts.log.info({ changes: result.changes }, 'egress rules reconciled');
    for (const e of result.errors)
      this.opts.log.warn({ where: e.where, err: e.message }, 'egress rules could not be applied');
    return result;
  }

  /**
   * Reports changes of the packet filter in the host's and the last run's namespaces from now on (the
   * caller reconciles then), and whether it can: only with iptables' nf_tables backend.
   */
  async watchChanges(onChange: () => void): Promise<boolean> {
    if (this.events) return true;
    if ((await iptablesBackend()) !== 'nf_tables') return false;
    const events = new FilterEvents(() => {
      this.counters.filterEvents++;
      onChange();
    });
    try {
      events.watch(this.opts.hostNetns);
    } catch (e) {
      this.opts.log.warn(
        { err: (e as Error).message },
        'no packet-filter notifications: drift repaired by the periodic run',
      );
      events.close();
      return false;
    }
    this.events = events;
    this.listen();
    return true;
  }

  stopWatching(): void {
    this.events?.close();
    this.events = undefined;
  }

  /** Listeners in exactly the namespaces of the last run (one just deleted is skipped). */
  private listen(): void {
    if (!this.events) return;
    this.events.keepOnly(this.lastNamespaces);
    for (const netns of this.lastNamespaces)
      try {
        this.events.watch(netns);
      } catch (e) {
        this.opts.log.debug({ netns, err: (e as Error).message }, 'packet-filter notifications: namespace not watched');
      }
  }

  private async syncInto(
    result: EgressResult,
    where: string,
    netns: string | undefined,
    desired: RuleSet,
    family: 4 | 6 = 4,
  ): Promise<boolean> {
    try {
      const changes = await this.sync(netns, desired, family);
      result.changes.push(...changes.map((c) => `${where}: ${c}`));
      return true;
    } catch (e) {
      result.errors.push({ where, message: (e as Error).message });
      return false;
    }
  }

  private async sync(netns: string | undefined, desired: RuleSet, family: 4 | 6 = 4): Promise<string[]> {
    const plan = planSync(parseSave(await this.runner.save(netns, family)), desired, this.canonical);
    if (!plan.script) return [];
    await this.runner.restore(plan.script, netns, family);
    // Learn how iptables-save prints the rules just written, so they compare equal from now on.
    const after = parseSave(await this.runner.save(netns, family));
    for (const c of plan.rewritten) {
      const saved = after.get(c.table)?.get(c.chain);
      if (saved?.length === c.rules.length)
        c.rules.forEach((r, i) => r !== saved[i] && this.canonical.set(r, saved[i] as string));
    }
    return plan.changes;
  }

  /** Forwarding off (the host routed nothing): FORWARD policy DROP first, then forwarding on. */
  private async ensureForwarding(result: EgressResult): Promise<void> {
    try {
      if (this.forwarding.isOn()) return;
      await this.runner.restore('*filter\n:FORWARD DROP [0:0]\nCOMMIT\n', this.opts.hostNetns);
      this.forwarding.switchOn();
      result.changes.push('host: IPv4 forwarding was off: FORWARD policy set to DROP, forwarding switched on');
    } catch (e) {
      result.errors.push({ where: 'host', message: `IPv4 forwarding: ${(e as Error).message}` });
    }
  }

  /**
   * The changes a reconcile would make now for one network (its overlay namespace, and the host's
   * chains), without making them: empty when the kernel matches.
   */
  private lastVxlan?: { vteps: string[]; vnis: number[] } | { rules: string[] };

  /** IPv6 forwarding off: ip6tables FORWARD policy DROP first, router advertisements kept, then forwarding on. */
  private async ensureForwarding6(result: EgressResult): Promise<void> {
    try {
      if (this.forwarding6.isOn()) return;
      await this.runner.restore('*filter\n:FORWARD DROP [0:0]\nCOMMIT\n', this.opts.hostNetns, 6);
      this.forwarding6.switchOn();
      result.changes.push(
        'host: IPv6 forwarding was off: ip6tables FORWARD policy set to DROP, accept_ra 1 -> 2, forwarding switched on',
      );
    } catch (e) {
      result.errors.push({ where: 'host', message: `IPv6 forwarding: ${(e as Error).message}` });
    }
  }

  /**
   * The families of the host's rules: IPv4 (egress, and the guard of an IPv4 underlay); IPv6 for an
   * IPv6 underlay's guard and for networks with an IPv6 subnet (once used, kept checked).
   */
  private hostFamilies(): Array<4 | 6> {
    return this.opts.underlayFamily === 6 || this.used6 ? [4, 6] : [4];
  }

  private hostRuleSet(nets: EgressNetwork[], family: 4 | 6 = 4): RuleSet {
    const underlay = this.opts.underlayFamily ?? 4;
    const guard =
      this.lastVxlan && family === underlay
        ? vxlanGuardRules(this.lastVxlan, this.opts.vxlanPort ?? 4789, family)
        : { chains: [], jumps: [] };
    // No container reaches the data port through egress: the one this host's VXLAN devices use.
    const dataPorts = [this.opts.vxlanPort ?? 4789];
    return family === 4
      ? mergeRules(hostRules(nets, 4, dataPorts), guard)
      : mergeRules(hostRules6(nets, dataPorts), guard);
  }

  /** VXLAN frames of this host's plain networks dropped because they came from no member's VTEP. */
  vxlanDrops(): Promise<number> {
    return droppedBy(VXLAN_CHAIN, this.opts.hostNetns, this.opts.underlayFamily ?? 4);
  }

  /** The rules of the VXLAN guard as the host has them now (kept as they are before the first sync). */
  async currentVxlanRules(): Promise<string[]> {
    return (
      parseSave(await this.runner.save(this.opts.hostNetns, this.opts.underlayFamily ?? 4))
        .get('filter')
        ?.get(VXLAN_CHAIN) ?? []
    );
  }

  async drift(nets: EgressNetwork[], vni: number, guarded: GuardedNetwork[] = []): Promise<string[]> {
    const n = nets.find((x) => x.vni === vni) ?? guarded.find((x) => x.vni === vni);
    if (!n) return [];
    const own = namespaceRules(
      nets.filter((x) => x.vni === vni),
      guarded.filter((x) => x.vni === vni),
      this.opts.dnsGuard,
    ).get(n.netns);
    try {
      const inner = own ? planSync(parseSave(await this.runner.save(n.netns)), own.rules, this.canonical).changes : [];
      if (!nets.some((x) => x.vni === vni)) return inner.map((c) => `${n.name}: ${c}`);
      const host: string[] = [];
      for (const family of this.hostFamilies())
        host.push(
          ...planSync(
            parseSave(await this.runner.save(this.opts.hostNetns, family)),
            this.hostRuleSet(nets, family),
            this.canonical,
          ).changes,
        );
      return [...inner.map((c) => `${n.name}: ${c}`), ...host.map((c) => `host: ${c}`)];
    } catch (e) {
      return [`rules cannot be read: ${(e as Error).message}`];
    }
  }
}

/**
 * The rules of each overlay namespace: its DNS guard, and its egress rules when it has egress. With
 * `family` 6, the ip6tables rules of the namespaces of networks with an IPv6 subnet.
 */
function namespaceRules(
  nets: EgressNetwork[],
  guarded: GuardedNetwork[],
  limit?: DnsGuard,
  family: 4 | 6 = 4,
): Map<string, { name: string; rules: RuleSet }> {
  const out = new Map<string, { name: string; rules: RuleSet }>();
  for (const g of guarded) if (family === 4 || g.ipv6) out.set(g.netns, { name: g.name, rules: dnsGuardRules(limit) });
  for (const n of nets) {
    if (family === 6 && n.overlay6 === undefined) continue;
    const own = family === 6 ? overlayRules6(n) : overlayRules(n);
    const guard = out.get(n.netns);
    out.set(n.netns, { name: n.name, rules: guard ? mergeRules(guard.rules, own) : own });
  }
  return out;
}
