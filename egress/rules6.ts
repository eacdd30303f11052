/**
 * Egress of networks with an IPv6 subnet, as Docker does it for IPv6 networks (ip6tables NAT): the
 * same flows as IPv4's (rules.ts), in `ip6tables`, on the gateway link's /127 transfer pair:
 *
 *   overlay namespace (nat)   VXMESH-POSTROUTING  -o gw0 -j SNAT --to-source <overlay transfer6>
 *   host (nat)                VXMESH-POSTROUTING  -s <overlay transfer6>/128 ! -o vxg<vni> -j MASQUERADE
 *   host (filter)             VXMESH-INPUT        -i vxg+ -p udp -m udp --dport <data port> -j DROP
 *                             VXMESH-FORWARD      the same guard, then -i vxg<vni> -o <IPv6 uplink> -j ACCEPT
 *                                                 -o vxg<vni> -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
 *
 * No published ports over IPv6 (they reach IPv4 addresses: docs/operations.md, "IPv6"). Networks
 * without an IPv6 subnet, or a host without an IPv6 default route, have no IPv6 rules.
 */
import {
  DATA_PORTS,
  DOCKER_USER_CHAIN,
  FORWARD_CHAIN,
  INPUT_CHAIN,
  POSTROUTING_CHAIN,
  type EgressNetwork,
  type RuleSet,
} from './rules.js';

const none = (): RuleSet => ({ chains: [], jumps: [] });

/** The overlay namespace's IPv6 rules of one network (none without an IPv6 transfer address). */
export function overlayRules6(n: EgressNetwork): RuleSet {
  if (n.overlay6 === undefined) return none();
  return {
    chains: [
      { table: 'nat', chain: POSTROUTING_CHAIN, rules: [`-o ${n.overlayIfname} -j SNAT --to-source ${n.overlay6}`] },
    ],
    jumps: [{ table: 'nat', from: 'POSTROUTING', rule: `-j ${POSTROUTING_CHAIN}` }],
  };
}

/** The host's IPv6 rules for the networks with egress and an IPv6 subnet. */
export function hostRules6(nets: EgressNetwork[]): RuleSet {
  const six = nets.filter((n) => n.overlay6 !== undefined).sort((a, b) => a.vni - b.vni);
  if (six.length === 0) return none();
  const guard = DATA_PORTS.map((p) => `-i vxg+ -p udp -m udp --dport ${p} -j DROP`);
  const forward = [...guard];
  const post: string[] = [];
  for (const n of six) {
    for (const uplink of [...(n.uplinks6 ?? [])].sort()) forward.push(`-i ${n.hostIfname} -o ${uplink} -j ACCEPT`);
    forward.push(`-o ${n.hostIfname} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
    post.push(`-s ${n.overlay6}/128 ! -o ${n.hostIfname} -j MASQUERADE`);
  }
  return {
    chains: [
      { table: 'filter', chain: INPUT_CHAIN, rules: guard },
      { table: 'filter', chain: FORWARD_CHAIN, rules: forward },
      { table: 'nat', chain: POSTROUTING_CHAIN, rules: post },
    ],
    jumps: [
      { table: 'filter', from: 'INPUT', rule: `-j ${INPUT_CHAIN}` },
      { table: 'filter', from: 'FORWARD', rule: `-j ${FORWARD_CHAIN}`, after: `-j ${DOCKER_USER_CHAIN}` },
      { table: 'nat', from: 'POSTROUTING', rule: `-j ${POSTROUTING_CHAIN}` },
    ],
  };
}
