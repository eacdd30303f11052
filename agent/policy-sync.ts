/**
 * Routing and policy into the kernel: which overlays this host serves (those of its endpoints' networks
 * and of the networks connected to them: it routes its containers' packets to those), and per served
 * overlay its links to the other served overlays it is connected to and the filter guarding this
 * host's endpoints of the network (dataplane/policy-filter.ts). Run after each reconcile; a table
 * change whose wanted state equals the last one written for the overlay costs nothing, other runs
 * also read the kernel's filter back (drift repaired at the periodic run).
 */
import type { Logger } from '../core/logger.js';
import type { PolicyValue } from '../core/policy-records.js';
import { subnetsOf } from '../core/prefix.js';
import type { NetworkPolicyState } from '../dataplane/dataplane.js';
import type { LocalEndpoint } from './local-state.js';
import type { NetworkDefinition } from './networks.js';
import type { Overlays } from './overlays.js';
import type { Policy } from './policy.js';
import type { OverlayDriver } from './ports.js';

export interface PolicySyncInputs {
  networks(): Map<string, NetworkDefinition>;
  policy: Pick<Policy, 'connectedTo' | 'rules'>;
  localEndpoints(): readonly LocalEndpoint[];
}

/** What the filter of `net` on this host must be, and which served overlays it links to. */
export function wantedPolicy(
  net: NetworkDefinition,
  defs: Map<string, NetworkDefinition>,
  connected: string[],
  rules: PolicyValue[],
  local: readonly LocalEndpoint[],
  served: Set<number>,
): NetworkPolicyState {
  const peers = connected.map((n) => defs.get(n)).filter((d): d is NetworkDefinition => d !== undefined && d.usable);
  const links = peers.map((d) => d.vni).filter((v) => served.has(v) && v !== net.vni);
  // Rules from a network count only while it is connected (it has no route here otherwise).
  const active = rules.filter((r) => r.from === undefined || peers.some((p) => p.name === r.from));
  if (peers.length === 0 && active.length === 0 && !net.isolated) return { links };
  const text = (n: NetworkDefinition) => subnetsOf(n).map((p) => p.text);
  return {
    links: links.sort((a, b) => a - b),
    filter: {
      local: local.filter((e) => e.network === net.name).flatMap((e) => [e.ip, e.ip6].filter((a) => a !== undefined)),
      own: text(net),
      connected: peers.map((p) => ({ network: p.name, subnets: text(p) })),
      allow: active.flatMap((r) => {
        const sources =
          r.fromCidr !== undefined ? [r.fromCidr] : text(peers.find((p) => p.name === r.from) as NetworkDefinition);
        return sources.map((source) => (r.ports ? { source, ports: r.ports } : { source }));
      }),
      restrictOutside: active.some((r) => r.fromCidr !== undefined),
      ...(net.isolated ? { isolated: true } : {}),
    },
  };
}

/** The wanted state of an overlay without connections or rules, as its key ends. */
const NOTHING = ':{"links":[]}';

export class PolicySync {
  /** Per VNI: the wanted state last written, with the overlay's generation then. */
  private readonly written = new Map<number, string>();
  /** VNI → network of the served overlays that have a filter (metrics read their drop counters). */
  private readonly filteredNow = new Map<number, string>();

  filtered(): Array<{ vni: number; network: string }> {
    return [...this.filteredNow].map(([vni, network]) => ({ vni, network }));
  }
  errors = 0;

  constructor(
    private readonly inputs: PolicySyncInputs,
    private readonly driver: Pick<OverlayDriver, 'ensureNetworkPolicy' | 'ensureContainerRoutes'>,
    private readonly overlays: Pick<Overlays, 'generation'>,
    private readonly log: Logger,
  ) {}

  /** The VNIs this host serves: its endpoints' networks' and those connected to them. */
  served(localVnis: number[]): number[] {
    const defs = this.inputs.networks();
    const byVni = new Map([...defs.values()].map((d) => [d.vni, d]));
    const out = new Set(localVnis);
    for (const vni of localVnis) {
      const n = byVni.get(vni);
      if (!n) continue;
      for (const other of this.inputs.policy.connectedTo(n.name)) {
        const d = defs.get(other);
        if (d?.usable) out.add(d.vni);
      }
    }
    const served = [...out].sort((a, b) => a - b);
    const text = served.join(',');
    if (text !== this.lastServed) {
      // Overlays beyond those of local endpoints: networks connected to them (routing).
      this.log.info({ served, local: localVnis }, 'overlays served');
      this.lastServed = text;
    }
    return served;
  }
  private lastServed = '';

  /** What a run would change in one overlay now (links, filter), without changing it: `fdb --check`. */
  async drift(vni: number, served: number[]): Promise<number> {
    const check = this.driver.ensureNetworkPolicy?.bind(this.driver);
    const defs = this.inputs.networks();
    const net = [...defs.values()].find((d) => d.vni === vni && d.usable);
    if (!check || !net) return 0;
    const p = this.inputs.policy;
    const want = wantedPolicy(
      net,
      defs,
      p.connectedTo(net.name),
      p.rules(net.name),
      this.inputs.localEndpoints(),
      new Set(served),
    );
    // No connection, no rule, none there when last looked: nothing to read (metrics scrape this).
    if (want.links.length === 0 && !want.filter && this.written.get(vni)?.endsWith(NOTHING)) return 0;
    return check(vni, want, true, true);
  }

  async run(reason: string, served: number[]): Promise<number> {
    const apply = this.driver.ensureNetworkPolicy?.bind(this.driver);
    if (!apply) return 0;
    const defs = this.inputs.networks();
    const servedSet = new Set(served);
    const local = this.inputs.localEndpoints();
    let changes = 0;
    for (const net of defs.values()) {
      if (!servedSet.has(net.vni) || !net.usable) continue;
      const want = wantedPolicy(
        net,
        defs,
        this.inputs.policy.connectedTo(net.name),
        this.inputs.policy.rules(net.name),
        local,
        servedSet,
      );
      if (want.filter) this.filteredNow.set(net.vni, net.name);
      else this.filteredNow.delete(net.vni);
      const key = `${this.overlays.generation(net.vni)}:${JSON.stringify(want)}`;
      if (reason === 'change' && this.written.get(net.vni) === key) continue;
      // Nothing wanted and nothing there when last looked (most networks): no kernel read at all, not
      // even periodically (reading the filter starts a process). Looked at once per overlay generation.
      if (want.links.length === 0 && !want.filter && this.written.get(net.vni) === key && key.endsWith(NOTHING))
        continue;
      try {
        changes += await apply(net.vni, want, reason !== 'change');
        this.written.set(net.vni, key);
      } catch (e) {
        this.errors++;
        this.written.delete(net.vni);
        this.log.error({ network: net.name, err: (e as Error).message }, 'routing and policy not applied');
      }
    }
    for (const vni of this.written.keys()) if (!servedSet.has(vni)) this.written.delete(vni);
    for (const vni of this.filteredNow.keys()) if (!servedSet.has(vni)) this.filteredNow.delete(vni);
    return changes + (await this.containerRoutes(reason, defs, local));
  }

  /** Per endpoint: the routes last written into its container (`netns/ifname` → wanted, as text). */
  private readonly routed = new Map<string, string>();

  /** Local endpoints' routes to the networks connected to theirs (containers not routed by their gateway). */
  private async containerRoutes(
    reason: string,
    defs: Map<string, NetworkDefinition>,
    local: readonly LocalEndpoint[],
  ): Promise<number> {
    const apply = this.driver.ensureContainerRoutes?.bind(this.driver);
    if (!apply) return 0;
    let changes = 0;
    const seen = new Set<string>();
    for (const ep of local) {
      const net = defs.get(ep.network);
      if (!net) continue;
      const gateways = [net.gateway, net.gateway6].filter((g): g is string => g !== undefined);
      const want = this.inputs.policy
        .connectedTo(net.name)
        .flatMap((n) => (defs.get(n) ? subnetsOf(defs.get(n) as NetworkDefinition) : []))
        .map((p) => ({
          dst: p.text.split('/')[0] as string,
          len: p.prefix,
          via: p.family === 6 ? net.gateway6 : net.gateway,
        }))
        .filter((r): r is { dst: string; len: number; via: string } => r.via !== undefined);
      const key = `${ep.netns}/${ep.ifname}`;
      seen.add(key);
      const text = JSON.stringify(want);
      // Nothing to do: never routed and nothing wanted, or the same as written (unless verifying).
      if ((want.length === 0 && !this.routed.has(key)) || (reason === 'change' && this.routed.get(key) === text))
        continue;
      try {
        const made = await (ep.sandbox !== undefined
          ? apply(ep.sandbox, ep.ifname, gateways, want, ep.mac)
          : apply(ep.netns, ep.ifname, gateways, want));
        // Not found (a Docker sandbox not yet holding the interface): tried again at the next run.
        if (made === undefined) continue;
        changes += made;
        if (want.length === 0) this.routed.delete(key);
        else this.routed.set(key, text);
      } catch (e) {
        this.errors++;
        this.log.warn({ endpoint: ep.id, netns: ep.netns, err: (e as Error).message }, 'container routes not applied');
      }
    }
    for (const key of this.routed.keys()) if (!seen.has(key)) this.routed.delete(key);
    return changes;
  }
}
