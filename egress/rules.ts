/**
 * The packet-filter rules of egress and published ports, as data (pure): the chains vxmesh owns in
 * the host namespace and in each overlay namespace, and the jumps into them from the built-in chains
 * (and from Docker's DOCKER-USER when it exists). Rules are written as `iptables-save` prints them.
 *
 *   overlay namespace (nat)   VXMESH-POSTROUTING  -o gw0 -j SNAT --to-source <overlay transfer address>
 *                             VXMESH-PREROUTING   -i gw0 -p tcp -m tcp --dport H -j DNAT --to-destination <endpoint>:P
 *   overlay namespace (filter) VXMESH-DNS        -p udp -m udp --dport 53 -m hashlimit --hashlimit-above 500/sec
 *                               --hashlimit-burst 1000 --hashlimit-mode srcip --hashlimit-name vxdns -j DROP
 *                               (jumped to first from INPUT; in every overlay namespace with local endpoints)
 *   host (nat)                VXMESH-POSTROUTING  -s <overlay transfer>/32 ! -o vxg<vni> -j MASQUERADE
 *                             VXMESH-PREROUTING   -p tcp -m tcp --dport H -j DNAT --to-destination <overlay transfer>:H
 *                               (jumped to for local destinations, from PREROUTING and OUTPUT)
 *   host (filter)             VXMESH-INPUT        -i vxg+ -p udp -m udp --dport <data port> -j DROP
 *                               (jumped to first from INPUT)
 *                             VXMESH-FORWARD      -i vxg+ -p udp -m udp --dport <data port> -j DROP
 *                                                 -i vxg<vni> -o <uplink> -j ACCEPT          (each uplink)
 *                                                 -o vxg<vni> -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT
 *                                                 -i vxg<vni> -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
 *                                                   (a network the host routes to: replies of what it let in)
 *                               (jumped to from FORWARD right after Docker's jump to DOCKER-USER, or first
 *                               without Docker: the admin's DOCKER-USER rules come first, Docker's FORWARD
 *                               policy DROP does not drop our flows)
 *
 * Exactly the flows egress needs: new ones from a network out of the host's uplinks (the devices of its
 * default routes), replies back, and published ports in. Never into the host's other bridges (Docker's,
 * whose drops for unpublished ports stay), never from one network into another (vxg → vxg), and never to
 * any host's VXLAN port (or, with encrypted networks, WireGuard port): after source NAT a container's
 * packet would come from a member's address and could put frames into other networks.
 * Traffic that stays inside the overlay never leaves through gw0, so it is never NATed.
 */
import type { PortMapping } from '../core/port-mappings.js';
import type { NetfilterTable } from './iptables.js';

export const CHAIN_PREFIX = 'VXMESH-';
export const FORWARD_CHAIN = 'VXMESH-FORWARD';
export const INPUT_CHAIN = 'VXMESH-INPUT';
/** UDP ports of the data plane (VXLAN) that no container may reach through egress (the default; `--vxlan-port` replaces it). */
export const DATA_PORTS: readonly number[] = [4789];
export const POSTROUTING_CHAIN = 'VXMESH-POSTROUTING';
/** The host's guard of plain networks' VXLAN: frames of our VNIs only from members' VTEPs. */
export const VXLAN_CHAIN = 'VXMESH-VXLAN';
/** The overlay namespace's guard of its DNS server. */
export const DNS_CHAIN = 'VXMESH-DNS';
/**
 * Questions per second (and burst) one client may send to its network's DNS server before the kernel
 * drops the rest: the DNS server's own per-client limit (dns/query-limits.ts), applied before the
 * socket. Measured: a container sending ~50k questions/s fills the server socket's receive queue and a
 * core with work that is thrown away, and the other clients' questions were lost in that queue.
 */
export const DNS_GUARD: DnsGuard = { perSecond: 500, burst: 1000 };

export interface DnsGuard {
  perSecond: number;
  burst: number;
}
export const PREROUTING_CHAIN = 'VXMESH-PREROUTING';
/** Docker's chain for user rules, evaluated first in FORWARD when dockerd manages iptables. */
export const DOCKER_USER_CHAIN = 'DOCKER-USER';

/** A port published to one endpoint of the network. */
export interface EgressPublish extends PortMapping {
  /** The endpoint's overlay address. */
  ip: string;
  /** Its IPv6 address, on a dual-stack network: the port is published over IPv6 too (rules6.ts). */
  ip6?: string;
}

/** A network with egress on this host: its gateway link and the ports published to its endpoints. */
export interface EgressNetwork {
  name: string;
  vni: number;
  /** The overlay namespace (path). */
  netns: string;
  /** `vxg<vni>`, in the host namespace. */
  hostIfname: string;
  /** `gw0`, in the overlay namespace. */
  overlayIfname: string;
  /** The host's uplinks (devices of its default routes): where this network's traffic may leave. */
  uplinks: string[];
  /** The transfer addresses: host end and overlay end. */
  host: string;
  overlay: string;
  /** The host routes the network's subnets here (host-route.ts): replies of connections let in (portmap's DNAT, probes) go back out. */
  hostRoute?: boolean;
  publish: EgressPublish[];
  /** A network with an IPv6 subnet: the transfer pair's IPv6 twin, and the host's IPv6 uplinks (rules6.ts). */
  host6?: string;
  overlay6?: string;
  uplinks6?: string[];
}

export interface ChainSpec {
  table: NetfilterTable;
  chain: string;
  rules: string[];
}

export interface JumpSpec {
  table: NetfilterTable;
  /** The built-in (or Docker's) chain that jumps. */
  from: string;
  /** The rule in `from`, ending in `-j <our chain>`. */
  rule: string;
  /** Only when `from` exists (DOCKER-USER exists only where dockerd manages iptables). */
  optional?: boolean;
  /** Inserted right after this rule of `from` when it is there (else first). */
  after?: string;
}

export interface RuleSet {
  chains: ChainSpec[];
  jumps: JumpSpec[];
}

const byPort = (a: EgressPublish, b: EgressPublish) => a.protocol.localeCompare(b.protocol) || a.hostPort - b.hostPort;

/** The overlay namespace's rules of one network. */
export function overlayRules(n: EgressNetwork): RuleSet {
  const publish = [...n.publish].sort(byPort);
  return {
    chains: [
      { table: 'nat', chain: POSTROUTING_CHAIN, rules: [`-o ${n.overlayIfname} -j SNAT --to-source ${n.overlay}`] },
      {
        table: 'nat',
        chain: PREROUTING_CHAIN,
        rules: publish.map(
          (p) =>
            `-i ${n.overlayIfname} -p ${p.protocol} -m ${p.protocol} --dport ${p.hostPort} -j DNAT --to-destination ${p.ip}:${p.port}`,
        ),
      },
    ],
    jumps: [
      { table: 'nat', from: 'POSTROUTING', rule: `-j ${POSTROUTING_CHAIN}` },
      { table: 'nat', from: 'PREROUTING', rule: `-j ${PREROUTING_CHAIN}` },
    ],
  };
}

/** A network whose overlay namespace holds a DNS server of this host (every network with local endpoints). */
export interface GuardedNetwork {
  name: string;
  vni: number;
  /** The overlay namespace (path). */
  netns: string;
  /** The network has an IPv6 subnet: its DNS server answers on the IPv6 gateway too (guarded in ip6tables). */
  ipv6?: boolean;
}

/** The overlay namespace's guard of its DNS server: each client's questions beyond DNS_GUARD are dropped. */
export function dnsGuardRules(limit: DnsGuard = DNS_GUARD): RuleSet {
  return {
    chains: [
      {
        table: 'filter',
        chain: DNS_CHAIN,
        rules: [
          `-p udp -m udp --dport 53 -m hashlimit --hashlimit-above ${limit.perSecond}/sec --hashlimit-burst ${limit.burst} --hashlimit-mode srcip --hashlimit-name vxdns -j DROP`,
        ],
      },
    ],
    jumps: [{ table: 'filter', from: 'INPUT', rule: `-j ${DNS_CHAIN}` }],
  };
}

/** Both rule sets in one (for one namespace). */
export function mergeRules(...sets: RuleSet[]): RuleSet {
  return { chains: sets.flatMap((s) => s.chains), jumps: sets.flatMap((s) => s.jumps) };
}

/**
 * Which VXLAN frames the host accepts on the data port: from `vteps` (the members', held ones
 * included) anything; from anywhere else nothing of `vnis` (this host's plain networks: the VNI is
 * read from the VXLAN header with `u32`), and other VNIs untouched (Docker swarm's overlay uses 4789
 * too). `keep`: the chain kept as the host has it (before the agent's first sync: the members it has
 * not heard of yet are not cut off).
 */
export type VxlanGuard = { vteps: string[]; vnis: number[] } | { keep: true };

/**
 * The VNI of a VXLAN packet: 3 bytes at offset 4 of the UDP payload. Over IPv4 the IHL gives the
 * UDP header's place; over IPv6 (an IPv6 underlay: ip6tables) it is at 40, the payload at 48, so the
 * VNI word at 52 (no extension headers: the kernel's VXLAN sends none).
 */
const vniMatch = (vni: number, family: 4 | 6) =>
  family === 6
    ? `-m u32 --u32 "0x34>>0x8=0x${vni.toString(16)}"`
    : `-m u32 --u32 "0x0>>0x16&0x3c@0xc>>0x8=0x${vni.toString(16)}"`;

/** The guard's rules: into iptables, or ip6tables for an IPv6 underlay (`family` 6: VTEPs are IPv6). */
export function vxlanGuardRules(
  g: { vteps: string[]; vnis: number[] } | { rules: string[] },
  port: number,
  family: 4 | 6 = 4,
): RuleSet {
  const rules =
    'rules' in g
      ? g.rules
      : [
          ...[...new Set(g.vteps)].sort().map((v) => `-s ${v}/${family === 6 ? 128 : 32} -j RETURN`),
          ...[...new Set(g.vnis)].sort((a, b) => a - b).map((v) => `${vniMatch(v, family)} -j DROP`),
        ];
  if (rules.length === 0 || ('vnis' in g && g.vnis.length === 0)) return { chains: [], jumps: [] };
  return {
    chains: [{ table: 'filter', chain: VXLAN_CHAIN, rules }],
    jumps: [{ table: 'filter', from: 'INPUT', rule: `-p udp -m udp --dport ${port} -j ${VXLAN_CHAIN}` }],
  };
}

/**
 * The host's rules for all networks with egress on it (none: no chains, no jumps); with `family` 6 the
 * ip6tables rules of those with an IPv6 subnet (rules6.ts): the same flows on the IPv6 transfer address.
 */
export function hostRules(
  nets: EgressNetwork[],
  family: 4 | 6 = 4,
  dataPorts: readonly number[] = DATA_PORTS,
): RuleSet {
  const six = family === 6;
  const sorted = nets.filter((n) => !six || n.overlay6 !== undefined).sort((a, b) => a.vni - b.vni);
  if (sorted.length === 0) return { chains: [], jumps: [] };
  const guard = dataPorts.map((p) => `-i vxg+ -p udp -m udp --dport ${p} -j DROP`);
  const forward: string[] = [...guard];
  const post: string[] = [];
  const pre: string[] = [];
  for (const n of sorted) {
    const transfer = six ? (n.overlay6 as string) : n.overlay;
    const at = (port: number) => (six ? `[${transfer}]:${port}` : `${transfer}:${port}`);
    for (const uplink of [...(six ? (n.uplinks6 ?? []) : n.uplinks)].sort())
      forward.push(`-i ${n.hostIfname} -o ${uplink} -j ACCEPT`);
    forward.push(`-o ${n.hostIfname} -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT`);
    if (n.hostRoute) forward.push(`-i ${n.hostIfname} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
    post.push(`-s ${transfer}/${six ? 128 : 32} ! -o ${n.hostIfname} -j MASQUERADE`);
    for (const p of n.publish.filter((x) => !six || x.ip6 !== undefined).sort(byPort))
      pre.push(`-p ${p.protocol} -m ${p.protocol} --dport ${p.hostPort} -j DNAT --to-destination ${at(p.hostPort)}`);
  }
  return {
    chains: [
      { table: 'filter', chain: INPUT_CHAIN, rules: guard },
      { table: 'filter', chain: FORWARD_CHAIN, rules: forward },
      { table: 'nat', chain: POSTROUTING_CHAIN, rules: post },
      { table: 'nat', chain: PREROUTING_CHAIN, rules: pre },
    ],
    jumps: [
      { table: 'filter', from: 'INPUT', rule: `-j ${INPUT_CHAIN}` },
      { table: 'filter', from: 'FORWARD', rule: `-j ${FORWARD_CHAIN}`, after: `-j ${DOCKER_USER_CHAIN}` },
      { table: 'nat', from: 'POSTROUTING', rule: `-j ${POSTROUTING_CHAIN}` },
      { table: 'nat', from: 'PREROUTING', rule: `-m addrtype --dst-type LOCAL -j ${PREROUTING_CHAIN}` },
      {
        table: 'nat',
        from: 'OUTPUT',
        rule: `! -d ${six ? '::1/128' : '127.0.0.0/8'} -m addrtype --dst-type LOCAL -j ${PREROUTING_CHAIN}`,
      },
    ],
  };
}
