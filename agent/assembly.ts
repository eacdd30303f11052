/**
 * The agent's wiring: its parts built from the ports it is given (daemon/start-agent.ts gives the
 * real ones, unit tests fakes), each handed what it needs and nothing that leads back up.
 */
import type { Logger } from '../core/logger.js';
import type { ReconcileResult } from '../dataplane/dataplane.js';
import { AddressReturns } from './address-returns.js';
import { createAllocator } from './allocator.js';
import { ChangeReport } from './change-report.js';
import { DerivedState } from './derived-state.js';
import { DnsSync } from './dns-sync.js';
import { EgressSync } from './egress-sync.js';
import { Endpoints } from './endpoints.js';
import { DeadAgentHold } from './hold.js';
import { LocalState, type AgentState, type StateSink } from './local-state.js';
import { Networks } from './networks.js';
import { Overlays } from './overlays.js';
import type {
  AddressAllocator,
  AgentStore,
  ClusterNode,
  DnsPort,
  EgressPort,
  OverlayDriver,
  WireguardPort,
  VtepProbe,
} from './ports.js';
import { ReconcileLoop } from './reconcile-loop.js';
import { Policy } from './policy.js';
import { PolicySync } from './policy-sync.js';
import type { VxlanGuard } from '../egress/rules.js';
import { WireguardSync } from './wireguard-sync.js';
import { isProgrammed } from './owners.js';
import { StoreMirror } from './store-mirror.js';

export interface AgentSettings {
  /** Member name of this host. */
  name: string;
  vtep: string;
  reconcileIntervalMs: number;
  ipamSettleMs: number;
  deadAgentHoldMs: number;
  /** Repair drift at the kernel's notifications, not only at the periodic run (default on). */
  kernelEvents?: boolean;
}

/** What the agent is made of: its settings and its ports. */
export interface AgentParts {
  settings: AgentSettings;
  log: Logger;
  cluster: ClusterNode;
  driver: OverlayDriver;
  probe: VtepProbe;
  stateSink: StateSink;
  /** The state as loaded, with the endpoints whose interface is gone already removed. */
  initialState: AgentState;
  store?: AgentStore;
  /** The packet filter for egress and published ports; undefined: egress off. */
  egress?: EgressPort;
  /** DNS servers for the networks' names; undefined: names are not served. */
  dns?: DnsPort;
  /** The host's WireGuard interface and its port; undefined: encrypted networks are refused here. */
  wireguard?: { port: WireguardPort; listenPort: number };
}

/** The agent's parts, wired. */
export interface AgentCore {
  state: LocalState;
  ipam: AddressAllocator;
  returns: AddressReturns;
  overlays: Overlays;
  networks: Networks;
  endpoints: Endpoints;
  hold: DeadAgentHold;
  derived: DerivedState;
  report: ChangeReport;
  loop: ReconcileLoop;
  policy: Policy;
  policySync: PolicySync;
  mirror?: StoreMirror;
  egress?: EgressSync;
  dns?: DnsSync;
  wireguard?: WireguardSync;
}

export function assemble(parts: AgentParts, onReconciled: (r: ReconcileResult) => void): AgentCore {
  const { settings, log, cluster, driver, store } = parts;
  const state = new LocalState(parts.stateSink, parts.initialState);
  const ipam = createAllocator({
    cluster,
    state,
    initial: parts.initialState,
    host: settings.name,
    settleMs: settings.ipamSettleMs,
    log,
    store,
  });
  const returns = new AddressReturns(ipam, state, log);
  const overlays = new Overlays(driver, parts.egress !== undefined);
  const networks = new Networks({ cluster, driver, overlays, state, log, store });
  let derived: DerivedState | undefined;
  const wireguard = parts.wireguard
    ? new WireguardSync(
        {
          self: cluster.peerId,
          members: () => cluster.members(),
          programmed: (p) => isProgrammed(derived?.owners().get(p)),
          synced: () => cluster.synced,
          needed: () => {
            const encrypted = new Set(
              [...networks.definitions().values()].filter((n) => n.encrypted).map((n) => n.vni),
            );
            return state.endpoints.some((e) => encrypted.has(e.vni));
          },
        },
        parts.wireguard.port,
        log,
        parts.wireguard.listenPort,
      )
    : undefined;
  const endpoints = new Endpoints({
    self: { vtep: settings.vtep, host: settings.name },
    cluster,
    driver,
    overlays,
    networks,
    allocator: ipam,
    returns,
    state,
    log,
    egress: parts.egress,
    wireguard,
  });
  const mirror = store ? new StoreMirror(store, cluster, log) : undefined;
  let loop: ReconcileLoop | undefined;
  const hold = new DeadAgentHold({
    probe: parts.probe,
    holdMs: settings.deadAgentHoldMs,
    vtepOf: (p) => cluster.member(p)?.vtep,
    onChange: () => loop?.schedule(),
    log,
  });
  derived = new DerivedState({
    cluster,
    vtep: settings.vtep,
    hold,
    localEndpoints: () => state.endpoints,
    store: mirror,
  });
  const report = new ChangeReport(derived, cluster, log);
  const policy = new Policy({ cluster, networks, log });
  const policySync = new PolicySync(
    { networks: () => networks.definitions(), policy, localEndpoints: () => state.endpoints },
    driver,
    overlays,
    log,
  );
  // Served: the overlays of this host's endpoints' networks and of those connected to them.
  const served = () => policySync.served(state.vnis());
  loop = new ReconcileLoop(
    {
      networks: () => networks.definitions(),
      desired: () => derived.desired(),
      computed: (d) => report.report(d),
      localVnis: served,
      keepVnis: () => [...served(), ...overlays.attachingVnis()],
      synced: () => cluster.synced,
      after: (reason) => policySync.run(reason, served()),
    },
    driver,
    overlays,
    log,
    onReconciled,
  );
  // 'synced' is emitted at the first completed anti-entropy exchange (also on a host without seeds).
  let exchanged = false;
  cluster.on('synced', () => (exchanged = true));
  const dns = parts.dns
    ? new DnsSync(
        {
          networks: () => networks.definitions(),
          localEndpoints: () => state.endpoints,
          rows: () => derived.endpointRows(undefined, true),
          connectedTo: (n) => policy.connectedTo(n),
          // After a restart: the other hosts' endpoints are known once an exchange with one of them has
          // completed (a host alone in its view has nobody to wait for).
          settled: () => exchanged || !cluster.members().some((m) => m.peerId !== cluster.peerId),
        },
        driver,
        parts.dns,
        log,
      )
    : undefined;
  const egress = parts.egress
    ? new EgressSync(
        {
          networks: () => networks.definitions(),
          endpoints: () => state.endpoints,
          vxlanGuard: () => vxlanGuard(cluster, derived, state, networks),
        },
        driver,
        overlays,
        parts.egress,
        log,
      )
    : undefined;
  return {
    state,
    ipam,
    returns,
    overlays,
    networks,
    endpoints,
    hold,
    derived,
    report,
    loop,
    policy,
    policySync,
    mirror,
    egress,
    dns,
    wireguard,
  };
}

/**
 * VXLAN accepted on the data port: from the VTEPs of current members (alive, suspect, or held while
 * their agent is down), for this host's plain networks; before the first sync, kept as it is.
 */
function vxlanGuard(
  cluster: ClusterNode,
  derived: DerivedState | undefined,
  state: LocalState,
  networks: Networks,
): VxlanGuard {
  if (!cluster.synced || !derived) return { keep: true };
  const owners = derived.owners();
  const vteps = cluster
    .members()
    .filter((m) => !m.self && (m.state === 'alive' || m.state === 'suspect' || owners.get(m.peerId) === 'held'))
    .map((m) => m.vtep);
  const plain = new Set([...networks.definitions().values()].filter((n) => !n.encrypted).map((n) => n.vni));
  return { vteps, vnis: [...new Set(state.endpoints.map((e) => e.vni))].filter((v) => plain.has(v)) };
}
