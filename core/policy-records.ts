/**
 * Routing and policy between networks, as cluster-wide records (shared: any member may write them,
 * like network definitions; each signed by its writer):
 *   - a connection of two networks (`network connect A B`): containers of each reach the other's by
 *     address, routed on the host where the traffic starts, subject to the destination's rules;
 *   - a policy rule (`policy allow B --from A [--to-port tcp/80]`): what the destination network B lets
 *     in from a connected network (or, `fromCidr`, from outside sources through published ports).
 * Traffic between connected networks is denied until a rule allows it.
 * See docs/operations.md, "Routing and policy between networks".
 */
import crypto from 'node:crypto';
import { arr, name, obj } from './checks.js';
import { ValidationError } from './errors.js';
import { parsePrefix } from './prefix.js';

export interface ConnectionValue {
  /** The two networks, in name order, distinct. */
  networks: [string, string];
}

export type PolicyProtocol = 'tcp' | 'udp';

export interface PolicyPorts {
  protocol: PolicyProtocol;
  /** The first port, and the last of a range (`end`, absent for a single port). */
  port: number;
  end?: number;
}

export interface PolicyValue {
  /** The destination network the rule lets traffic into. */
  network: string;
  /** The source: a network (connected to `network`) … */
  from?: string;
  /** … or an address prefix of outside sources (canonical text). Exactly one of the two. */
  fromCidr?: string;
  /** Destination ports; absent: every port and protocol. */
  ports?: PolicyPorts[];
}

/** Ports a rule lists at most. */
export const MAX_RULE_PORTS = 32;

/** A connection's key: the two names in order, `a|b` (`|` is not a name character). */
export const connectionKey = (v: ConnectionValue): string => `${v.networks[0]}|${v.networks[1]}`;

/** A rule's key: its network and a digest of its content (the same rule written twice is one record). */
export function policyKey(v: PolicyValue): string {
  const text = JSON.stringify([v.network, v.from ?? null, v.fromCidr ?? null, v.ports ?? null]);
  return `${v.network}/${crypto.createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
}

export function checkConnectionValue(v: unknown, field = 'value'): ConnectionValue {
  const o = obj(v, field);
  const list = arr(o.networks, `${field}.networks`, 2);
  if (list.length !== 2) throw new ValidationError(`${field}.networks`, 'must name two networks');
  const a = name(list[0], `${field}.networks[0]`);
  const b = name(list[1], `${field}.networks[1]`);
  if (a === b) throw new ValidationError(`${field}.networks`, `a network is not connected to itself (${a})`);
  if (a > b) throw new ValidationError(`${field}.networks`, 'must be in name order');
  return { networks: [a, b] };
}

/** `tcp/80`, `udp/5000-5010`, or the object form; a ValidationError naming `field` otherwise. */
export function parsePolicyPorts(v: unknown, field: string): PolicyPorts {
  let protocol: unknown;
  let port: unknown;
  let end: unknown;
  if (typeof v === 'string') {
    const m = /^(tcp|udp)\/(\d{1,5})(?:-(\d{1,5}))?$/.exec(v);
    if (!m)
      throw new ValidationError(field, `${JSON.stringify(v)} is not PROTOCOL/PORT or PROTOCOL/FIRST-LAST (tcp or udp)`);
    [protocol, port, end] = [m[1], Number(m[2]), m[3] === undefined ? undefined : Number(m[3])];
  } else {
    const o = obj(v, field);
    [protocol, port, end] = [o.protocol, o.port, o.end];
  }
  if (protocol !== 'tcp' && protocol !== 'udp') throw new ValidationError(`${field}.protocol`, 'must be tcp or udp');
  const inRange = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 1 && (x as number) <= 65535;
  if (!inRange(port))
    throw new ValidationError(`${field}.port`, `must be a port in 1..65535, got ${JSON.stringify(port)}`);
  const out: PolicyPorts = { protocol, port };
  if (end !== undefined) {
    if (!inRange(end) || end <= port)
      throw new ValidationError(
        `${field}.end`,
        `must be a port above ${port} and at most 65535, got ${JSON.stringify(end)}`,
      );
    out.end = end;
  }
  return out;
}

export function checkPolicyValue(v: unknown, field = 'value'): PolicyValue {
  const at = (k: string) => (field === '' ? k : `${field}.${k}`);
  const o = obj(v, field === '' ? 'body' : field);
  const out: PolicyValue = { network: name(o.network, at('network')) };
  if ((o.from === undefined) === (o.fromCidr === undefined))
    throw new ValidationError(at('from'), 'a rule has one source: a network (from) or an address prefix (fromCidr)');
  if (o.from !== undefined) {
    out.from = name(o.from, at('from'));
    if (out.from === out.network)
      throw new ValidationError(at('from'), `within network ${out.network} everything is allowed: no rule needed`);
  } else out.fromCidr = parsePrefix(o.fromCidr, at('fromCidr'), true).text;
  if (o.ports !== undefined) {
    const list = arr(o.ports, at('ports'), MAX_RULE_PORTS);
    if (list.length === 0) throw new ValidationError(at('ports'), 'omit ports for every port, or list some');
    out.ports = list.map((p, i) => parsePolicyPorts(p, `${at('ports')}[${i}]`));
  }
  return out;
}

/** The port set of a rule as text: `tcp/80, udp/53` ('any' when it has none). */
export const portsText = (ports: PolicyPorts[] | undefined): string =>
  ports?.map((p) => `${p.protocol}/${p.port}${p.end === undefined ? '' : `-${p.end}`}`).join(', ') ?? 'any';

/** A shared record as views list it: its value, who wrote it, its version. */
export interface WrittenRecord<V> {
  value: V;
  owner: string;
  lamport: number;
}

/** The cluster's connections and policy rules (what the table holds of both kinds). */
export interface PolicyRecords {
  connections: Array<WrittenRecord<ConnectionValue>>;
  rules: Array<WrittenRecord<PolicyValue>>;
}

/** The networks connected to `network` (by the connections given), in name order. */
export function connectedTo(network: string, connections: ReadonlyArray<{ value: ConnectionValue }>): string[] {
  const out: string[] = [];
  for (const { value } of connections) {
    const [a, b] = value.networks;
    if (a === network) out.push(b);
    else if (b === network) out.push(a);
  }
  return out.sort();
}

/** `networks` and every network connected to one of them (a host needs the records of both: routing). */
export function withConnected(
  networks: Iterable<string>,
  connections: ReadonlyArray<{ value: ConnectionValue }>,
): Set<string> {
  const out = new Set(networks);
  if (connections.length === 0) return out;
  for (const n of [...out]) for (const other of connectedTo(n, connections)) out.add(other);
  return out;
}
