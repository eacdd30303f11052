/**
 * The address allocator the agent uses: through the store when there is one (compare-and-swap), else
 * the block IPAM over the replicated table (claims settle before use).
 */
import type { Logger } from '../core/logger.js';
import { endpointAddresses } from '../core/records.js';
import { Ipam, type EndpointUse } from '../ipam/block-ipam.js';
import { StoreIpam, type AddressStore } from '../ipam/store-ipam.js';
import type { AgentState, LocalState } from './local-state.js';
import type { AddressAllocator, ClusterReader, ClusterWriter } from './ports.js';

export function createAllocator(opts: {
  cluster: Pick<ClusterReader, 'peerId' | 'endpoints' | 'ipamBlocks' | 'member'> &
    Pick<ClusterWriter, 'putIpamBlock' | 'deleteIpamBlock' | 'interest'>;
  state: LocalState;
  initial: AgentState;
  host: string;
  settleMs: number;
  log: Logger;
  store?: AddressStore;
}): AddressAllocator {
  const { cluster, state, log } = opts;
  const endpointsUsing = (network: string): EndpointUse[] =>
    cluster
      .endpoints()
      .filter((e) => e.network === network)
      .flatMap((e) => endpointAddresses(e).map((ip) => ({ network: e.network, ip, id: e.id, host: e.host })));
  if (opts.store)
    return withInterest(
      withClaimsSaved(new StoreIpam(opts.store, opts.host, endpointsUsing, cluster.peerId), state),
      cluster,
    );
  const nameOf = (peerId: string) => cluster.member(peerId)?.name ?? peerId;
  const blocks = new Ipam(
    {
      self: cluster.peerId,
      claims: () =>
        cluster.ipamBlocks().map((b) => ({ network: b.network, block: b.block, owner: b.owner, lamport: b.lamport })),
      endpointsUsing,
      nameOf,
      claim: async (network, block) => {
        await cluster.putIpamBlock({ network, block });
        state.save();
      },
      release: async (network, block) => {
        await cluster.deleteIpamBlock(network, block);
        state.save();
      },
    },
    opts.settleMs,
    undefined,
    undefined,
    (c) =>
      log.warn(
        { network: c.network, block: c.block, winner: nameOf(c.winner) },
        'IPAM block claimed by another host too: it keeps it (earlier claim), choosing another',
      ),
  );
  for (const b of opts.initial.ipamBlocks) blocks.restoreClaim(b.network, b.block);
  return withInterest(withClaimsSaved(blocks, state), cluster);
}

/**
 * An address is chosen only with the network's records at hand: the cluster node takes an interest in
 * the network first (the first time, it fetches the network's endpoints and claims).
 */
function withInterest(allocator: AddressAllocator, cluster: Pick<ClusterWriter, 'interest'>): AddressAllocator {
  const interest = cluster.interest?.bind(cluster);
  if (!interest) return allocator;
  return {
    allocate: async (net) => {
      await interest(net.name);
      return allocator.allocate(net);
    },
    reserveExplicit: async (net, ip, reservedHere) => {
      await interest(net.name);
      return allocator.reserveExplicit(net, ip, reservedHere);
    },
    prepare: (net) => allocator.prepare(net),
    settle: (network, ip) => allocator.settle(network, ip),
    returnAddress: (network, ip) => allocator.returnAddress(network, ip),
    conflicts: (network) => allocator.conflicts(network),
    ownClaims: () => allocator.ownClaims(),
  };
}

function withClaimsSaved(allocator: AddressAllocator, state: LocalState): AddressAllocator {
  state.ipamClaims = () => allocator.ownClaims();
  return allocator;
}
