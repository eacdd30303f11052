/**
 * `vxmesh network inspect`: a network's definition with what this host knows of it: its endpoints,
 * the address claims and their conflicts, the store's allocations, egress and DNS on this host.
 */
import { networkDomain } from '../dns/zone.js';
import type { AgentCore } from './assembly.js';
import { egressView } from './egress-sync.js';
import type { AgentStore, ClusterReader, OverlayDriver } from './ports.js';

export async function inspectNetwork(
  core: AgentCore,
  from: { cluster: ClusterReader; driver: Pick<OverlayDriver, 'overlayNetnsPath'>; store?: AgentStore },
  name: string,
) {
  const n = core.networks.get(name);
  const memberName = (peerId: string) => from.cluster.member(peerId)?.name ?? peerId;
  // With a store: who holds which address there (null when the store does not answer).
  let storeAddresses: Array<{ ip: string; host: string; at: string; peer?: string }> | null | undefined;
  if (from.store) {
    storeAddresses = await from.store.allocations(name).then(
      (m) =>
        [...m].map(([ip, h]) => ({ ip, ...h })).sort((a, b) => a.ip.localeCompare(b.ip, undefined, { numeric: true })),
      () => null,
    );
  }
  return {
    ...(storeAddresses !== undefined ? { storeAddresses } : {}),
    ...n,
    netns: core.state.inNetwork(name).length > 0 ? from.driver.overlayNetnsPath(n.vni) : null,
    // Endpoints and claims are held only on hosts with endpoints in the network (discovery/interests.ts).
    ...(from.cluster.networkScope ? { records: from.cluster.networkScope(name) } : {}),
    // Routing and policy between networks (policy.ts): connected networks, the rules into this one.
    connected: core.policy.connectedTo(name),
    rules: core.policy.rules(name).map((r) => ({ ...r, writer: memberName(r.writer) })),
    endpointList: core.derived.endpointRows(name),
    ipamBlocks: from.cluster
      .ipamBlocks()
      .filter((b) => b.network === name)
      .map((b) => ({ block: b.block, owner: memberName(b.owner), lamport: b.lamport })),
    ipamConflicts: core.ipam.conflicts(name).map((c) => ({
      block: c.block,
      winner: memberName(c.winner),
      losers: c.losers.map(memberName),
    })),
    egress: egressView(n, core.egress !== undefined, core.egress?.current ?? []),
    dns:
      core.dns && n.gateway
        ? { server: n.gateway, domain: networkDomain(n.name), dockerFlag: `--dns ${n.gateway}` }
        : null,
  };
}
