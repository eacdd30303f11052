/**
 * The agent's requests (create a network, attach, detach) and their decoders. Each edge (the admin
 * API, the Docker plugin, the CLI through the admin API) decodes a request once, with these, and
 * hands typed values inward: the agent's parts check only what needs the cluster or the kernel
 * (a network exists, an address is free, a namespace exists). Every refusal names its field.
 */
import { parseIPv6 } from '../core/ipv6.js';
import { parseIfName, parseMac } from '../core/addresses.js';
import { ipv4, obj, str } from '../core/checks.js';
import { parseAliases, parseDnsLabel } from '../core/dns-names.js';
import { ValidationError } from '../core/errors.js';
import { parsePortMappings, type PortMapping } from '../core/port-mappings.js';
import { checkNetworkFields, type NetworkFields } from '../core/records.js';

/** A network definition; the agent picks the VNI when none is given, and the first address as gateway. */
export type CreateNetworkRequest = NetworkFields;

export interface AttachRequest {
  network: string;
  /** The namespace, by `ip netns` name or path. */
  netns: string;
  ifname?: string;
  ip?: string;
  /** An explicit IPv6 address (canonical); else one is allocated when the network has an IPv6 subnet. */
  ip6?: string;
  mac?: string;
  /** Endpoint id (Docker gives its own); generated when absent. */
  id?: string;
  /** The CNI container id of the attachment (recorded: DEL and GC find it after a restart). */
  containerId?: string;
  /** The host routes the network's subnets through its gateway link (the host reaches the endpoint: portmap, probes). */
  hostRoute?: boolean;
  /** false: create the veth only (Docker configures the interface itself). Default true. */
  configure?: boolean;
  /** Where the container end goes once the runtime moves it (Docker's SandboxKey): routes are made there. */
  sandbox?: string;
  /** The address was handed out by this agent's IPAM (Docker's RequestAddress) and is still reserved. */
  preallocated?: boolean;
  /** Host ports to publish to the endpoint. */
  publish?: PortMapping[];
  /** The endpoint's DNS name (a label) and aliases. */
  name?: string;
  aliases?: string[];
}

export interface DetachRequest {
  network: string;
  /** The endpoint by its namespace and interface (default eth0), or by `id`. */
  netns?: string;
  ifname?: string;
  id?: string;
}

const ID_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;

const required = (v: unknown, field: string, what = 'required'): string => {
  if (typeof v !== 'string' || v === '') throw new ValidationError(field, what);
  return v;
};

const optional = <T>(v: unknown, decode: (v: unknown) => T): T | undefined =>
  v === undefined || v === null ? undefined : decode(v);

const flag = (v: unknown, field: string): boolean | undefined => {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new ValidationError(field, 'must be true or false');
  return v;
};

const endpointId = (v: unknown): string => {
  if (typeof v !== 'string' || !ID_PATTERN.test(v))
    throw new ValidationError('id', 'must be 1-128 characters of A-Z a-z 0-9 _ . -');
  return v;
};

export function decodeCreateNetwork(body: unknown): CreateNetworkRequest {
  return checkNetworkFields(body, '', { request: true });
}

export function decodeAttach(body: unknown): AttachRequest {
  const o = obj(body, 'body');
  const req: AttachRequest = {
    network: required(o.network, 'network'),
    netns: required(o.netns, 'netns', 'required: a namespace name or path'),
  };
  const ifname = optional(o.ifname, (v) => parseIfName(v, 'ifname'));
  if (ifname !== undefined) req.ifname = ifname;
  const ip = optional(o.ip, (v) => ipv4(v, 'ip'));
  if (ip !== undefined) req.ip = ip;
  const ip6 = optional(o.ip6, (v) => parseIPv6(v, 'ip6'));
  if (ip6 !== undefined) req.ip6 = ip6;
  const mac = optional(o.mac, (v) => parseMac(v, 'mac'));
  if (mac !== undefined) req.mac = mac;
  const id = optional(o.id, endpointId);
  if (id !== undefined) req.id = id;
  const configure = flag(o.configure, 'configure');
  if (configure !== undefined) req.configure = configure;
  const hostRoute = flag(o.hostRoute, 'hostRoute');
  if (hostRoute !== undefined) req.hostRoute = hostRoute;
  const preallocated = flag(o.preallocated, 'preallocated');
  if (preallocated !== undefined) req.preallocated = preallocated;
  const publish = parsePortMappings(o.publish, 'publish');
  if (publish.length > 0) req.publish = publish;
  const name = optional(o.name, (v) => parseDnsLabel(v, 'name'));
  if (name !== undefined) req.name = name;
  const aliases = parseAliases(o.aliases, 'aliases');
  if (aliases.length > 0) req.aliases = aliases;
  return req;
}

export function decodeDetach(body: unknown): DetachRequest {
  const o = obj(body, 'body');
  const req: DetachRequest = { network: required(o.network, 'network') };
  if (o.netns !== undefined) req.netns = str(o.netns, 'netns', 4096);
  const ifname = optional(o.ifname, (v) => parseIfName(v, 'ifname'));
  if (ifname !== undefined) req.ifname = ifname;
  const id = optional(o.id, endpointId);
  if (id !== undefined) req.id = id;
  if (req.id === undefined && req.netns === undefined)
    throw new ValidationError('netns', 'required: the namespace, or the endpoint id');
  return req;
}
