/**
 * Routing and policy between networks, the agent's side: `network connect/disconnect` and `policy
 * allow/ls/rm` checked and written as shared records (core/policy-records.ts), and what this host
 * derives from them — which networks each network is connected to, and each network's rules.
 *
 * Connect rules (docs/operations.md, "Routing and policy between networks"): two networks connect only
 * if neither's subnets overlap the other's, nor those of a network already connected to the other
 * (a host routes to all of them from one overlay); both internal or both not (an internal network
 * connected to one with a way out would have one); both encrypted or both not (traffic routed into a
 * cleartext network would leave the encrypted one in cleartext). Written only when every live member
 * reads and enforces them (PROTO_POLICY).
 */
import { NotFoundError, ValidationError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import {
  checkPolicyValue,
  connectedTo,
  policyKey,
  type ConnectionValue,
  type PolicyRecords,
  type PolicyValue,
} from '../core/policy-records.js';
import { prefixesOverlap, subnetsOf } from '../core/prefix.js';
import { PROTO_POLICY } from '../discovery/wire.js';
import type { NetworkView } from './networks.js';
import type { ClusterReader, ClusterWriter } from './ports.js';

export interface PolicyParts {
  cluster: Pick<ClusterReader, 'policyRecords'> & Pick<ClusterWriter, 'putPolicyRecord'>;
  networks: {
    get(name: string): NetworkView;
    requireGeneration(generation: number, field: string, why: string): void;
  };
  log: Logger;
}

/** A rule as `vxmesh policy ls` shows it. */
export interface RuleRow extends PolicyValue {
  id: string;
  /** The member that wrote it (peer id). */
  writer: string;
}

const NONE: PolicyRecords = { connections: [], rules: [] };

export class Policy {
  constructor(private readonly parts: PolicyParts) {}

  private records(): PolicyRecords {
    return this.parts.cluster.policyRecords?.() ?? NONE;
  }

  /** The networks connected to `network`, in name order. */
  connectedTo(network: string): string[] {
    return connectedTo(network, this.records().connections);
  }

  /** Every connection, as pairs in name order. */
  connections(): Array<[string, string]> {
    return this.records().connections.map((c) => c.value.networks);
  }

  /** The rules letting traffic into `network` (all rules when omitted). */
  rules(network?: string): RuleRow[] {
    return this.records()
      .rules.filter((r) => network === undefined || r.value.network === network)
      .map((r) => ({ id: policyKey(r.value), ...r.value, writer: r.owner }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  private writer(): NonNullable<PolicyParts['cluster']['putPolicyRecord']> {
    const put = this.parts.cluster.putPolicyRecord?.bind(this.parts.cluster);
    if (!put) throw new ValidationError('network', 'this agent cannot write connections or rules (no cluster)');
    return put;
  }

  async connect(a: string, b: string): Promise<[string, string]> {
    if (a === b) throw new ValidationError('with', `a network is not connected to itself (${a})`);
    const [na, nb] = [this.parts.networks.get(a), this.parts.networks.get(b)];
    const pair: [string, string] = a < b ? [a, b] : [b, a];
    if (this.connections().some(([x, y]) => x === pair[0] && y === pair[1])) return pair;
    if (!!na.internal !== !!nb.internal)
      throw new ValidationError(
        'with',
        `${na.internal ? a : b} is internal and ${na.internal ? b : a} is not: an internal network connects only to internal networks (the other's way out would become its own)`,
      );
    if (!!na.encrypted !== !!nb.encrypted)
      throw new ValidationError(
        'with',
        `${na.encrypted ? a : b} is encrypted and ${na.encrypted ? b : a} is not: traffic routed into a cleartext network would leave the encrypted one in cleartext`,
      );
    this.requireApart(na, nb);
    for (const other of this.connectedTo(a)) this.requireApart(nb, this.parts.networks.get(other), a);
    for (const other of this.connectedTo(b)) this.requireApart(na, this.parts.networks.get(other), b);
    this.parts.networks.requireGeneration(PROTO_POLICY, 'with', 'they would neither route nor enforce the rules');
    const value: ConnectionValue = { networks: pair };
    await this.writer()('connection', value);
    this.parts.log.info({ networks: pair }, 'networks connected');
    return pair;
  }

  /** Subnets of `x` and `y` must not overlap (`via`: y is connected to that network). */
  private requireApart(x: NetworkView, y: NetworkView, via?: string): void {
    for (const p of subnetsOf(x))
      for (const q of subnetsOf(y))
        if (prefixesOverlap(p, q))
          throw new ValidationError(
            'with',
            `${x.name}'s subnet ${p.text} overlaps ${q.text} of ${y.name}${via ? `, which is connected to ${via}` : ''}: networks whose subnets overlap can never be connected`,
          );
  }

  async disconnect(a: string, b: string): Promise<void> {
    const pair: [string, string] = a < b ? [a, b] : [b, a];
    if (!this.connections().some(([x, y]) => x === pair[0] && y === pair[1]))
      throw new NotFoundError('with', `${a} and ${b} are not connected`);
    await this.writer()('connection', null, `${pair[0]}|${pair[1]}`);
    this.parts.log.info({ networks: pair }, 'networks disconnected');
  }

  /** Adds a rule (the same rule again is the same record); returns its row. */
  async allow(req: unknown): Promise<RuleRow> {
    const v = checkPolicyValue(req, '');
    this.parts.networks.get(v.network);
    if (v.from !== undefined) {
      this.parts.networks.get(v.from);
      if (!this.connectedTo(v.network).includes(v.from))
        throw new ValidationError(
          'from',
          `${v.from} is not connected to ${v.network}: connect them first (vxmesh network connect ${v.network} ${v.from})`,
        );
    }
    this.parts.networks.requireGeneration(PROTO_POLICY, 'network', 'they would not enforce the rule');
    await this.writer()('policy', v);
    this.parts.log.info({ rule: v }, 'policy rule added');
    return { id: policyKey(v), ...v, writer: '' };
  }

  async remove(id: string): Promise<void> {
    if (!this.rules().some((r) => r.id === id)) throw new NotFoundError('id', `no rule ${id} (vxmesh policy ls)`);
    await this.writer()('policy', null, id);
    this.parts.log.info({ id }, 'policy rule removed');
  }
}
