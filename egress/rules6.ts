/**
 * Egress of networks with an IPv6 subnet, as Docker does it for IPv6 networks (ip6tables NAT): the
 * same flows as IPv4's (rules.ts), in `ip6tables`, on the gateway link's /127 transfer pair:
 *
 *   overlay namespace (nat)   VXMESH-POSTROUTING  -o gw0 -j SNAT --to-source <overlay transfer6>
 *                             VXMESH-PREROUTING   -i gw0 -p tcp -m tcp --dport H -j DNAT --to-destination [<endpoint6>]:P
 *   host (nat)                VXMESH-POSTROUTING  -s <overlay transfer6>/128 ! -o vxg<vni> -j MASQUERADE
 *                             VXMESH-PREROUTING   -p tcp -m tcp --dport H -j DNAT --to-destination [<overlay transfer6>]:H
 *   host (filter)             VXMESH-INPUT        -i vxg+ -p udp -m udp --dport <data port> -j DROP
 *                             VXMESH-FORWARD      the same guard, then -i vxg<vni> -o <IPv6 uplink> -j ACCEPT
 *                                                 -o vxg<vni> -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
 *
 * A port published to an endpoint with an IPv6 address is published on the host's IPv6 addresses
 * too. Networks without an IPv6 subnet have no IPv6 rules.
 */
import {
  hostRules,
  POSTROUTING_CHAIN,
  PREROUTING_CHAIN,
  type EgressNetwork,
  type EgressPublish,
  type RuleSet,
} from './rules.js';

const none = (): RuleSet => ({ chains: [], jumps: [] });

/** The network's published ports whose endpoint has an IPv6 address, in a stable order. */
const published6 = (n: EgressNetwork): Array<EgressPublish & { ip6: string }> =>
  n.publish
    .filter((p): p is EgressPublish & { ip6: string } => p.ip6 !== undefined)
    .sort((a, b) => a.protocol.localeCompare(b.protocol) || a.hostPort - b.hostPort);

/** The overlay namespace's IPv6 rules of one network (none without an IPv6 transfer address). */
export function overlayRules6(n: EgressNetwork): RuleSet {
  if (n.overlay6 === undefined) return none();
  const pre = published6(n).map(
    (p) =>
      `-i ${n.overlayIfname} -p ${p.protocol} -m ${p.protocol} --dport ${p.hostPort} -j DNAT --to-destination [${p.ip6}]:${p.port}`,
  );
  return {
    chains: [
      { table: 'nat', chain: POSTROUTING_CHAIN, rules: [`-o ${n.overlayIfname} -j SNAT --to-source ${n.overlay6}`] },
      { table: 'nat', chain: PREROUTING_CHAIN, rules: pre },
    ],
    jumps: [
      { table: 'nat', from: 'POSTROUTING', rule: `-j ${POSTROUTING_CHAIN}` },
      { table: 'nat', from: 'PREROUTING', rule: `-j ${PREROUTING_CHAIN}` },
    ],
  };
}

/** The host's IPv6 rules for the networks with egress and an IPv6 subnet (the IPv4 rules' twin). */
export const hostRules6 = (nets: EgressNetwork[], dataPorts?: readonly number[]): RuleSet =>
  hostRules(nets, 6, dataPorts);
