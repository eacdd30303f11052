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
import { arr, ipv4, name, obj, str, under, vtep } from './checks.js';
import { ValidationError } from './errors.js';
import { parseAliases, parseDnsLabel } from './dns-names.js';

export interface NetworkValue {
  name: string;
  vni: number;
  subnet: string;
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
}

export interface EndpointValue {
  network: string;
  id: string;
  mac: string;
  ip: string;
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

export type RecordKind = 'network' | 'endpoint' | 'ipam-block';
export type RecordValue = NetworkValue | EndpointValue | IpamBlockValue;

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
  const c = under(at('subnet'), () => parseCidr(o.subnet));
  const out: NetworkFields =
    vni === undefined ? { name: checkedName, subnet: c.text } : { name: checkedName, vni, subnet: c.text };
  if (o.gateway !== undefined) {
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
  if (o.ipRange !== undefined) {
    const r = under(at('ipRange'), () => parseCidr(o.ipRange, 'ipRange', 32));
    if (r.prefix < c.prefix || (parseIPv4(r.network) & prefixMask(c.prefix)) >>> 0 !== parseIPv4(c.network))
      throw new ValidationError(at('ipRange'), `${r.text} is not inside ${out.subnet}`);
    out.ipRange = r.text;
  }
  if (o.reserved !== undefined) {
    const list = arr(o.reserved, at('reserved'), 256).map((ip, i) =>
      under(at(`reserved[${i}]`), () => requireHostIn(ip, c, 'reserved')),
    );
    if (list.length > 0) out.reserved = [...new Set(list)];
  }
  if (o.encrypted !== undefined && o.encrypted !== false) {
    if (o.encrypted !== true) throw new ValidationError(at('encrypted'), 'must be true or false');
    out.encrypted = true;
  }
  return out;
}

export function checkEndpointValue(v: unknown, field = 'value'): EndpointValue {
  const o = obj(v, field);
  const out: EndpointValue = {
    network: name(o.network, `${field}.network`),
    id: str(o.id, `${field}.id`, 128),
    mac: under(`${field}.mac`, () => parseMac(o.mac)),
    ip: ipv4(o.ip, `${field}.ip`),
    vtep: vtep(o.vtep, `${field}.vtep`),
    host: name(o.host, `${field}.host`),
  };
  if (o.name !== undefined) out.name = parseDnsLabel(o.name, `${field}.name`);
  if (o.aliases !== undefined) {
    const aliases = parseAliases(o.aliases, `${field}.aliases`);
    if (aliases.length > 0) out.aliases = aliases;
  }
  return out;
}

export function checkIpamBlockValue(v: unknown, field = 'value'): IpamBlockValue {
  const o = obj(v, field);
  return {
    network: name(o.network, `${field}.network`),
    block: under(`${field}.block`, () => parseCidr(o.block, 'block', 32).text),
  };
}

/** The check of each record kind. */
export const RECORD_CHECKS: Readonly<Record<RecordKind, (v: unknown, field: string) => RecordValue>> = {
  network: checkNetworkValue,
  endpoint: checkEndpointValue,
  'ipam-block': checkIpamBlockValue,
};

export function isRecordKind(v: unknown): v is RecordKind {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(RECORD_CHECKS, v);
}
