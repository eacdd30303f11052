/**
 * The record kinds the cluster replicates (network definitions, endpoints, IPAM claims) and their
 * schema checks. Discovery carries them without knowing what they mean; the agent, IPAM and the
 * store read them. One definition for all.
 */
import {
  ipv4ToString,
  parseCidr,
  parseIPv4,
  parseMac,
  parseMtu,
  parseVni,
  prefixMask,
  requireHostIn,
} from './addresses.js';
import { arr, ipv4, name, obj, str, under, vtep, type Obj } from './checks.js';
import { addressAt, canonicalAddress, familyOf, parsePrefix, prefixHas, requireHostInPrefix } from './prefix.js';
import { ValidationError } from './errors.js';
import { checkConnectionValue, checkPolicyValue, type ConnectionValue, type PolicyValue } from './policy-records.js';
import { parseAliases, parseDnsLabel } from './dns-names.js';

export interface NetworkValue {
  name: string;
  vni: number;
  /** The IPv4 subnet; absent in an IPv6-only network (a network has at least one of subnet, subnet6). */
  subnet?: string;
  gateway?: string;
  mtu?: number;
  options?: Record<string, string>;
  /** No way out: no gateway link, no NAT, no published ports; Docker gets DisableGatewayService. */
  internal?: boolean;
  /** IPAM hands out addresses only inside this range (Docker's --ip-range). */
  ipRange?: string;
  /** Addresses IPAM never hands out (Docker's --aux-address), at most 256. */
  reserved?: string[];
  /**
   * Every frame between hosts inside WireGuard (docs/operations.md, "Encrypted networks"). Only an
   * agent that can carry it attaches to it; never carried in cleartext.
   */
  encrypted?: boolean;
  /** Endpoints of the network do not reach each other (Docker's `icc=false`); each host's filter drops it. */
  isolated?: boolean;
  /** The IPv6 subnet, its gateway, range and aux addresses (canonical text): the IPv4 fields' twins. */
  subnet6?: string;
  gateway6?: string;
  ipRange6?: string;
  reserved6?: string[];
}

export interface EndpointValue {
  network: string;
  id: string;
  mac: string;
  /** The IPv4 address; absent on an IPv6-only network (an endpoint has an address per subnet). */
  ip?: string;
  /** The IPv6 address (canonical text). */
  ip6?: string;
  /** The host's VTEP (IPv4, or IPv6 canonical text). */
  vtep: string;
  host: string;
  /** The endpoint's DNS name (a label, lower case). */
  name?: string;
  /** More DNS names of the endpoint (labels, lower case). */
  aliases?: string[];
}

/** An IPAM block (or a borrowed single address, /32) claimed by its owner. */
export interface IpamBlockValue {
  network: string;
  block: string;
}

export type RecordKind = 'network' | 'endpoint' | 'ipam-block' | 'connection' | 'policy';
export type RecordValue = NetworkValue | EndpointValue | IpamBlockValue | ConnectionValue | PolicyValue;

/** Kinds that only their owner may write (the gossip signer must be the owner). */
export const OWNER_BOUND: ReadonlySet<RecordKind> = new Set<RecordKind>(['endpoint', 'ipam-block']);

export function checkNetworkValue(v: unknown, field = 'value'): NetworkValue {
  const fields = checkNetworkFields(v, field);
  if (fields.vni === undefined) throw new ValidationError(`${field}.vni`, 'required');
  return fields as NetworkValue;
}

/** A network definition whose VNI may be left to the agent (a create request). */
export type NetworkFields = Omit<NetworkValue, 'vni'> & { vni?: number };

/**
 * The fields of a network definition, each named under `field` (`''`: bare, as in a request body).
 * `request`: the gateway must also be a usable host address (neither the subnet's network nor its
 * broadcast address); records keep the looser rule they were always read with.
 */
export function checkNetworkFields(v: unknown, field: string, opts: { request?: boolean } = {}): NetworkFields {
  const at = (k: string) => (field === '' ? k : `${field}.${k}`);
  const o = obj(v, field === '' ? 'body' : field);
  // Keys in this order: a record's format-1 signature covers its value's JSON text, key order included.
  const checkedName = name(o.name, at('name'));
  const vni = o.vni === undefined ? undefined : under(at('vni'), () => parseVni(o.vni));
  if (o.subnet === undefined && o.subnet6 === undefined)
    throw new ValidationError(at('subnet'), 'required (an IPv4 subnet, an IPv6 subnet6, or both)');
  const c = o.subnet === undefined ? undefined : under(at('subnet'), () => parseCidr(o.subnet));
  const out: NetworkFields = vni === undefined ? { name: checkedName } : { name: checkedName, vni };
  if (c !== undefined) out.subnet = c.text;
  for (const k of ['gateway', 'ipRange', 'reserved'] as const)
    if (c === undefined && o[k] !== undefined) throw new ValidationError(at(k), 'needs an IPv4 subnet');
  if (c !== undefined && o.gateway !== undefined) {
    if (opts.request) out.gateway = under(at('gateway'), () => requireHostIn(o.gateway, c, 'gateway'));
    else {
      out.gateway = ipv4(o.gateway, at('gateway'));
      if (ipv4ToString((parseIPv4(out.gateway) & prefixMask(c.prefix)) >>> 0) !== c.network)
        throw new ValidationError(at('gateway'), `${out.gateway} is outside ${out.subnet}`);
    }
  }
  if (o.mtu !== undefined) out.mtu = under(at('mtu'), () => parseMtu(o.mtu));
  if (o.options !== undefined) {
    const opts = obj(o.options, at('options'));
    const entries = Object.entries(opts);
    if (entries.length > 32) throw new ValidationError(at('options'), 'at most 32 options');
    out.options = {};
    for (const [k, val] of entries)
      out.options[str(k, `${at('options')} key`, 128)] = str(val, at(`options.${k}`), 1024);
  }
  if (o.internal !== undefined && o.internal !== false) {
    if (o.internal !== true) throw new ValidationError(at('internal'), 'must be true or false');
    out.internal = true;
  }
  if (c !== undefined && o.ipRange !== undefined) {
    const r = under(at('ipRange'), () => parseCidr(o.ipRange, 'ipRange', 32));
    if (r.prefix < c.prefix || (parseIPv4(r.network) & prefixMask(c.prefix)) >>> 0 !== parseIPv4(c.network))
      throw new ValidationError(at('ipRange'), `${r.text} is not inside ${out.subnet}`);
    out.ipRange = r.text;
  }
  if (c !== undefined && o.reserved !== undefined) {
    const list = arr(o.reserved, at('reserved'), 256).map((ip, i) =>
      under(at(`reserved[${i}]`), () => requireHostIn(ip, c, 'reserved')),
    );
    if (list.length > 0) out.reserved = [...new Set(list)];
  }
  if (o.encrypted !== undefined && o.encrypted !== false) {
    if (o.encrypted !== true) throw new ValidationError(at('encrypted'), 'must be true or false');
    out.encrypted = true;
  }
  if (o.isolated !== undefined && o.isolated !== false) {
    if (o.isolated !== true) throw new ValidationError(at('isolated'), 'must be true or false');
    out.isolated = true;
  }
  if (o.subnet6 !== undefined) Object.assign(out, checkIPv6Fields(o, at, opts.request === true));
  else
    for (const k of ['gateway6', 'ipRange6', 'reserved6'] as const)
      if (o[k] !== undefined) throw new ValidationError(at(k), 'needs an IPv6 subnet6');
  return out;
}

/** A network's IPv6 fields: the subnet (/8../126), its gateway, range and aux addresses, canonical. */
function checkIPv6Fields(o: Obj, at: (k: string) => string, request: boolean): Partial<NetworkValue> {
  const c = parsePrefix(o.subnet6, at('subnet6'));
  if (c.family !== 6) throw new ValidationError(at('subnet6'), `${c.text} is not an IPv6 subnet`);
  const out: Partial<NetworkValue> = { subnet6: c.text };
  if (o.gateway6 !== undefined) {
    const gw = canonicalAddress(o.gateway6, at('gateway6'));
    if (request || familyOf(gw) !== 6 || !prefixHas(c, gw)) requireHostInPrefix(gw, c, at('gateway6'));
    out.gateway6 = gw;
  }
  if (o.ipRange6 !== undefined) {
    const r = parsePrefix(o.ipRange6, at('ipRange6'), true);
    if (r.family !== 6 || r.prefix < c.prefix || !prefixHas(c, addressAt(r, 0n)))
      throw new ValidationError(at('ipRange6'), `${r.text} is not inside ${c.text}`);
    out.ipRange6 = r.text;
  }
  if (o.reserved6 !== undefined) {
    const list = arr(o.reserved6, at('reserved6'), 256).map((ip, i) =>
      requireHostInPrefix(ip, c, at(`reserved6[${i}]`)),
    );
    if (list.length > 0) out.reserved6 = [...new Set(list)];
  }
  return out;
}

export function checkEndpointValue(v: unknown, field = 'value'): EndpointValue {
  const o = obj(v, field);
  // Keys in the order of the format-1 signature's JSON (ip6 last: added later).
  const out = {
    network: name(o.network, `${field}.network`),
    id: str(o.id, `${field}.id`, 128),
    mac: under(`${field}.mac`, () => parseMac(o.mac)),
  } as EndpointValue;
  if (o.ip !== undefined || o.ip6 === undefined) out.ip = ipv4(o.ip, `${field}.ip`);
  out.vtep = canonicalAddress(vtep(o.vtep, `${field}.vtep`), `${field}.vtep`);
  out.host = name(o.host, `${field}.host`);
  if (o.name !== undefined) out.name = parseDnsLabel(o.name, `${field}.name`);
  if (o.aliases !== undefined) {
    const aliases = parseAliases(o.aliases, `${field}.aliases`);
    if (aliases.length > 0) out.aliases = aliases;
  }
  if (o.ip6 !== undefined) {
    out.ip6 = canonicalAddress(o.ip6, `${field}.ip6`);
    if (familyOf(out.ip6) !== 6) throw new ValidationError(`${field}.ip6`, `${out.ip6} is not an IPv6 address`);
  }
  return out;
}

export function checkIpamBlockValue(v: unknown, field = 'value'): IpamBlockValue {
  const o = obj(v, field);
  return {
    network: name(o.network, `${field}.network`),
    block: parsePrefix(o.block, `${field}.block`, true).text,
  };
}

/** The check of each record kind. */
export const RECORD_CHECKS: Readonly<Record<RecordKind, (v: unknown, field: string) => RecordValue>> = {
  network: checkNetworkValue,
  endpoint: checkEndpointValue,
  'ipam-block': checkIpamBlockValue,
  connection: checkConnectionValue,
  policy: checkPolicyValue,
};

export function isRecordKind(v: unknown): v is RecordKind {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(RECORD_CHECKS, v);
}

/** An endpoint's addresses: its IPv4 and IPv6 ones, whichever it has (at least one). */
export function endpointAddresses(v: Pick<EndpointValue, 'ip' | 'ip6'>): string[] {
  return v.ip6 === undefined ? [v.ip as string] : v.ip === undefined ? [v.ip6] : [v.ip, v.ip6];
}

/** The address an endpoint is listed and reported by: its IPv4 one, else its IPv6 one. */
export const primaryAddress = (v: Pick<EndpointValue, 'ip' | 'ip6'>): string => (v.ip ?? v.ip6) as string;

/** The IPv6 view of a network: its IPv6 fields under the IPv4 names (what IPAM reads), or undefined. */
export function ipv6View(n: NetworkValue): NetworkValue | undefined {
  if (n.subnet6 === undefined) return undefined;
  const v: NetworkValue = { name: n.name, vni: n.vni, subnet: n.subnet6 };
  if (n.gateway6 !== undefined) v.gateway = n.gateway6;
  if (n.ipRange6 !== undefined) v.ipRange = n.ipRange6;
  if (n.reserved6 !== undefined) v.reserved = n.reserved6;
  return v;
}
