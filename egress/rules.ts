/**
 * The packet-filter rules of egress and published ports, as data (pure): the chains vxmesh owns in
 * the host namespace and in each overlay namespace, and the jumps into them from the built-in chains
 * (and from Docker's DOCKER-USER when it exists). Rules are written as `iptables-save` prints them.
 *
 *   overlay namespace (nat)   VXMESH-POSTROUTING  -o gw0 -j SNAT --to-source <overlay transfer address>
 *                             VXMESH-PREROUTING   -i gw0 -p tcp -m tcp --dport H -j DNAT --to-destination <endpoint>:P
 *   host (nat)                VXMESH-POSTROUTING  -s <overlay transfer>/32 ! -o vxg<vni> -j MASQUERADE
 *                             VXMESH-PREROUTING   -p tcp -m tcp --dport H -j DNAT --to-destination <overlay transfer>:H
 *                               (jumped to for local destinations, from PREROUTING and OUTPUT)
 *   host (filter)             VXMESH-FORWARD      -i vxg<vni> ! -o vxg+ -j ACCEPT
 *                                                 -o vxg<vni> -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT
 *                               (jumped to first from FORWARD and from DOCKER-USER, so Docker's FORWARD
 *                               policy DROP does not drop it)
 *
 * Traffic that stays inside the overlay never leaves through gw0, so it is never NATed; networks do
 * not reach each other through the host (vxg → vxg is not accepted).
 */
import type { PortMapping } from '../core/port-mappings.js';
import type { NetfilterTable } from './iptables.js';

export const CHAIN_PREFIX = 'VXMESH-';
export const FORWARD_CHAIN = 'VXMESH-FORWARD';
export const POSTROUTING_CHAIN = 'VXMESH-POSTROUTING';
export const PREROUTING_CHAIN = 'VXMESH-PREROUTING';
/** Docker's chain for user rules, evaluated first in FORWARD when dockerd manages iptables. */
export const DOCKER_USER_CHAIN = 'DOCKER-USER';

/** A port published to one endpoint of the network. */
export interface EgressPublish extends PortMapping {
  /** The endpoint's overlay address. */
  ip: string;
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
  /** The transfer addresses: host end and overlay end. */
  host: string;
  overlay: string;
  publish: EgressPublish[];
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

/** The host's rules for all networks with egress on it (none: no chains, no jumps). */
export function hostRules(nets: EgressNetwork[]): RuleSet {
  if (nets.length === 0) return { chains: [], jumps: [] };
  const sorted = [...nets].sort((a, b) => a.vni - b.vni);
  const forward: string[] = [];
  const post: string[] = [];
  const pre: string[] = [];
  for (const n of sorted) {
    forward.push(
      `-i ${n.hostIfname} ! -o vxg+ -j ACCEPT`,
      `-o ${n.hostIfname} -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT`,
    );
    post.push(`-s ${n.overlay}/32 ! -o ${n.hostIfname} -j MASQUERADE`);
    for (const p of [...n.publish].sort(byPort))
      pre.push(
        `-p ${p.protocol} -m ${p.protocol} --dport ${p.hostPort} -j DNAT --to-destination ${n.overlay}:${p.hostPort}`,
      );
  }
  return {
    chains: [
      { table: 'filter', chain: FORWARD_CHAIN, rules: forward },
      { table: 'nat', chain: POSTROUTING_CHAIN, rules: post },
      { table: 'nat', chain: PREROUTING_CHAIN, rules: pre },
    ],
    jumps: [
      { table: 'filter', from: 'FORWARD', rule: `-j ${FORWARD_CHAIN}` },
      { table: 'filter', from: DOCKER_USER_CHAIN, rule: `-j ${FORWARD_CHAIN}`, optional: true },
      { table: 'nat', from: 'POSTROUTING', rule: `-j ${POSTROUTING_CHAIN}` },
      { table: 'nat', from: 'PREROUTING', rule: `-m addrtype --dst-type LOCAL -j ${PREROUTING_CHAIN}` },
      { table: 'nat', from: 'OUTPUT', rule: `! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j ${PREROUTING_CHAIN}` },
    ],
  };
}
