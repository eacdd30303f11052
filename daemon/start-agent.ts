/**
 * Wiring of the real parts: the VTEP, the store (not waited for beyond one call deadline), the data plane (adopting what the kernel has), the state file and discovery, handed
 * to the agent, which is then started.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../core/logger.js';
import { StateFile } from '../core/state-file.js';
import { Agent } from '../agent/agent.js';
import { EMPTY_AGENT_STATE, type AgentState } from '../agent/local-state.js';
import { Dataplane } from '../dataplane/dataplane.js';
import { detectVtep } from '../dataplane/host-info.js';
import { vtepAnswers } from '../dataplane/vtep-probe.js';
import { requireRawIcmp } from '../dataplane/icmp-echo.js';
import { Discovery } from '../discovery/discovery.js';
import { Egress } from '../egress/egress.js';
import { localPeerId } from '../discovery/node.js';
import { tunnelAddress } from '../core/tunnel-address.js';
import { wireguardPort } from './wireguard-setup.js';
import { DEFAULT_QUERY_LIMITS } from '../dns/query-limits.js';
import { checkIptables } from '../egress/iptables.js';
import { hostPortFree } from '../egress/port-check.js';
import type { EgressPort } from '../agent/ports.js';
import type { DnsPort } from '../agent/dns-sync.js';
import { DnsKeeperClient } from '../dns/keeper-client.js';
import { launchDnsKeeper } from './dns-keeper-launch.js';
import { keeperFiles } from '../core/dns-keeper-files.js';
import { upstreamFromResolvConf, type Upstream } from '../dns/forwarder.js';
import { removeResolvConf, writeResolvConf } from '../dns/resolv-conf.js';
import { DNS_PORT, type AgentConfig } from './config.js';
import { parseHostPort } from '../discovery/node.js';

/** Deadline of each store call (also how long the start waits for a store that does not answer). */
const STORE_TIMEOUT_MS = 2000;

export interface RunningAgent {
  agent: Agent;
  discovery: Discovery;
  stop(): Promise<void>;
}

export async function startAgent(cfg: AgentConfig, log: Logger): Promise<RunningAgent> {
  // Checked first: without it a crashed host's endpoints could not be told from a restarting agent's.
  requireRawIcmp();
  const vtep = cfg.vtep ?? (await detectVtep());
  // The state directory holds the peer key and the saved state: root only, also if it existed before.
  fs.mkdirSync(cfg.stateDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(cfg.stateDir, 0o700);
  // The etcd client (and the Docker client, daemon/run.ts) is loaded only when configured: memory.
  const store =
    cfg.store !== undefined
      ? (await import('../store/etcd-store.js')).EtcdStore.open(cfg.store, {
          prefix: cfg.storePrefix,
          timeoutMs: STORE_TIMEOUT_MS,
          ...(cfg.storeCa !== undefined || cfg.storeCert !== undefined
            ? { tls: { ca: cfg.storeCa, cert: cfg.storeCert, key: cfg.storeKey } }
            : {}),
          ...(cfg.storeUser !== undefined && cfg.storePasswordFile !== undefined
            ? { auth: { user: cfg.storeUser, passwordFile: cfg.storePasswordFile } }
            : {}),
        })
      : undefined;
  // A store that does not answer does not hold the start (nor readiness, nor the containers Docker restores
  // at boot): the agent serves what gossip knows; allocations fail until the store answers, as in an outage.
  await store
    ?.ping()
    .catch((e: unknown) =>
      log.warn(
        { err: (e as Error).message },
        'store unreachable at start: starting without it; allocations and network changes fail until it answers',
      ),
    );
  // Egress needs the host's packet filter: checked now, so a missing iptables is an error at start.
  let egress: EgressPort | undefined;
  if (cfg.egress) {
    await checkIptables();
    const e = new Egress({
      log,
      dnsGuard: { perSecond: cfg.dnsClientRate, burst: 2 * cfg.dnsClientRate },
      vxlanPort: cfg.vxlanPort,
      underlayFamily: vtep.includes(':') ? 6 : 4,
    });
    egress = {
      // The DNS server's kernel guard only where there is a DNS server.
      reconcile: (nets, guarded, vxlan) => e.reconcile(nets, cfg.dns ? guarded : [], vxlan),
      drift: (nets, vni, guarded) => e.drift(nets, vni, cfg.dns ? guarded : []),
      counters: e.counters,
      watchChanges: (onChange) => e.watchChanges(onChange),
      stopWatching: () => e.stopWatching(),
      vxlanDrops: () => e.vxlanDrops(),
      hostPortFree,
    };
  }
  let dnsKeeper: DnsKeeperClient | undefined;
  let dns: DnsPort | undefined;
  if (cfg.dns) {
    const upstream: Upstream | undefined =
      cfg.dnsUpstream !== undefined
        ? parseHostPort(cfg.dnsUpstream, '--dns-upstream', DNS_PORT)
        : upstreamFromResolvConf(fs.existsSync('/etc/resolv.conf') ? fs.readFileSync('/etc/resolv.conf', 'utf8') : '');
    if (!upstream)
      log.warn(
        {},
        'no upstream resolver (no --dns-upstream, no nameserver in /etc/resolv.conf): names outside the networks get SERVFAIL',
      );
    const limits = {
      ...DEFAULT_QUERY_LIMITS,
      perClientPerSecond: cfg.dnsClientRate,
      perClientBurst: 2 * cfg.dnsClientRate,
    };
    // The servers live in a keeper process that outlives the agent (names answer through restarts).
    const settings = { ...(upstream ? { upstream } : {}), limits };
    const keeper = new DnsKeeperClient({
      socketPath: keeperFiles(cfg.stateDir).socket,
      settings,
      log,
      launch: () => launchDnsKeeper(cfg.stateDir, settings, cfg.logLevel),
    });
    dnsKeeper = keeper;
    dns = { ensure: (nets) => keeper.ensure(nets), counters: keeper.counters, writeResolvConf, removeResolvConf };
  }
  // The tunnel address of encrypted networks comes from this host's identity (its peer key).
  const tunnel = tunnelAddress(await localPeerId(cfg.stateDir));
  const dataplane = new Dataplane({
    prefix: cfg.netnsPrefix,
    vtep,
    underlayDev: cfg.underlayDev,
    vxlanPort: cfg.vxlanPort,
    tunnel: cfg.wireguard ? tunnel : undefined,
    encryptedPort: cfg.encryptedPort,
  });
  try {
    const stateFile = new StateFile<AgentState>(path.join(cfg.stateDir, 'agent-state.json'), EMPTY_AGENT_STATE);
    const initial = stateFile.load();
    // Adopt what the kernel has: nothing is changed; endpoints whose veth vanished while we were down are dropped.
    const adopted = await dataplane.adopt();
    const present = new Set(adopted.flatMap((o) => o.localMacs.map((m) => `${o.vni}/${m}`)));
    const kept = initial.endpoints.filter((e) => present.has(`${e.vni}/${e.mac}`));
    const vanished = initial.endpoints.filter((e) => !kept.includes(e));
    if (vanished.length > 0)
      log.warn(
        { dropped: vanished.map((e) => e.id) },
        'local endpoints whose interface disappeared while the agent was down are withdrawn',
      );
    const discovery = await Discovery.create({
      name: cfg.name,
      vtep,
      listen: cfg.listen,
      seeds: cfg.join,
      stateDir: cfg.stateDir,
      clusterKeyFile: cfg.clusterKey,
      clusterKeyAcceptFiles: cfg.clusterKeyAccept ? [cfg.clusterKeyAccept] : [],
      timers: cfg.discovery,
      log,
    });
    const agent = new Agent({
      settings: {
        name: cfg.name,
        vtep,
        reconcileIntervalMs: cfg.reconcileIntervalMs,
        kernelEvents: cfg.kernelEvents,
        ipamSettleMs: cfg.ipamSettleMs,
        deadAgentHoldMs: cfg.deadAgentHoldMs,
      },
      log,
      cluster: discovery,
      driver: dataplane,
      probe: vtepAnswers,
      stateSink: stateFile,
      initialState: { ...initial, endpoints: kept },
      store,
      egress,
      dns,
      wireguard: cfg.wireguard
        ? {
            port: wireguardPort({
              netnsPrefix: cfg.netnsPrefix,
              stateDir: cfg.stateDir,
              tunnel,
              listenPort: cfg.wireguardPort,
              encryptedPort: cfg.encryptedPort,
              clusterKeyFiles: cfg.clusterKey
                ? [cfg.clusterKey, ...(cfg.clusterKeyAccept ? [cfg.clusterKeyAccept] : [])]
                : [],
              underlayMtu: async () => (await dataplane.underlay()).mtu,
              ipv6Underlay: vtep.includes(':'),
            }),
            listenPort: cfg.wireguardPort,
          }
        : undefined,
    });
    await agent.start(vanished);
    return {
      agent,
      discovery,
      async stop() {
        await agent.stop();
        dnsKeeper?.detach();
        dataplane.close();
      },
    };
  } catch (e) {
    dataplane.close();
    dnsKeeper?.detach();
    store?.close();
    throw e;
  }
}
