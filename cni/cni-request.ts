/**
 * A CNI request, decoded once at the edge: the command's `CNI_*` variables and the network
 * configuration the runtime wrote on the plugin's stdin (CNI specification 1.0 and 1.1). Every
 * refusal is a CniError with the specification's code and the field or variable it is about.
 */
import { isIPv4 } from '../core/addresses.js';
import { canonicalIPv6 } from '../core/ipv6.js';
import { CNI_CODES, CniError } from './cni-errors.js';

import { SUPPORTED_VERSIONS } from './versions.js';

export { SUPPORTED_VERSIONS };
export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION';
const COMMANDS: readonly CniCommand[] = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'];
/** CNI's rule for container ids (and ours for endpoint ids: the same characters). */
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const IFNAME = /^[^\s/:]{1,15}$/;
const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** What the launcher sends: the variables and the configuration as the runtime gave them. */
export interface CniInvocation {
  env: Record<string, string | undefined>;
  /** The network configuration (stdin), as text. */
  config: string;
}

/** Creation fields of the vxmesh network, when the configuration asks for it to exist. */
export interface CniNetworkCreate {
  subnet?: string;
  subnet6?: string;
  gateway?: string;
  vni?: number;
}

export interface CniRequest {
  command: CniCommand;
  cniVersion: string;
  /** The CNI network's name (the conflist's). */
  name: string;
  /** The vxmesh network (`network`, else the CNI network's name). */
  network: string;
  create?: CniNetworkCreate;
  containerId?: string;
  netns?: string;
  ifname?: string;
  /** CNI_ARGS, `K=V;K=V`. */
  args: Record<string, string>;
  /** Addresses asked for (runtimeConfig.ips, args.cni.ips, CNI_ARGS IP=), without prefix. */
  ips: { ip?: string; ip6?: string };
  /** The endpoint's DNS name (K8S_POD_NAME in CNI_ARGS), when it is a DNS label. */
  dnsName?: string;
  prevResult?: Record<string, unknown>;
  /** The host routes the network's subnets to its containers (`hostRoute`: portmap, probes). */
  hostRoute: boolean;
  /** GC: the attachments to keep (`cni.dev/valid-attachments`). */
  validAttachments?: Array<{ containerId: string; ifname: string }>;
}

const bad = (field: string, msg: string, code: number = CNI_CODES.invalidConfig) =>
  new CniError(code, `${field}: ${msg}`, field);

function str(o: Record<string, unknown>, key: string, required = false): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) throw bad(key, 'required');
    return undefined;
  }
  if (typeof v !== 'string' || v === '') throw bad(key, `must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

function parseArgs(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text) return out;
  for (const part of text.split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw bad('CNI_ARGS', `${JSON.stringify(part)} is not KEY=VALUE`, CNI_CODES.invalidEnv);
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

/** An address asked for: `198.18.0.5/24`, `198.18.0.5` or an IPv6 one; the prefix is the network's. */
function requestedIp(v: unknown, field: string, into: CniRequest['ips']): void {
  if (typeof v !== 'string') throw bad(field, `must be an address, got ${JSON.stringify(v)}`);
  const addr = v.split('/')[0] as string;
  if (isIPv4(addr)) {
    if (into.ip !== undefined) throw bad(field, 'one IPv4 address at most');
    into.ip = addr;
    return;
  }
  const six = canonicalIPv6(addr);
  if (six === undefined) throw bad(field, `${JSON.stringify(v)} is not an IPv4 or IPv6 address`);
  if (into.ip6 !== undefined) throw bad(field, 'one IPv6 address at most');
  into.ip6 = six;
}

function ipList(v: unknown, field: string, into: CniRequest['ips']): void {
  if (v === undefined || v === null) return;
  if (!Array.isArray(v)) throw bad(field, 'must be a list of addresses');
  v.forEach((x, i) => requestedIp(x, `${field}[${i}]`, into));
}

function object(v: unknown, field: string): Record<string, unknown> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw bad(field, 'must be an object');
  return v as Record<string, unknown>;
}

function creation(o: Record<string, unknown>): CniNetworkCreate | undefined {
  const c: CniNetworkCreate = {};
  for (const k of ['subnet', 'subnet6', 'gateway'] as const) {
    const v = str(o, k);
    if (v !== undefined) c[k] = v;
  }
  if (o.vni !== undefined) {
    if (typeof o.vni !== 'number' || !Number.isInteger(o.vni))
      throw bad('vni', `must be an integer, got ${JSON.stringify(o.vni)}`);
    c.vni = o.vni;
  }
  if (c.subnet === undefined && c.subnet6 === undefined) {
    if (c.gateway !== undefined || c.vni !== undefined)
      throw bad('subnet', 'required with gateway or vni (they create the network)');
    return undefined;
  }
  return c;
}

function variable(env: CniInvocation['env'], name: string, pattern?: RegExp): string {
  const v = env[name];
  if (v === undefined || v === '') throw bad(name, 'required', CNI_CODES.invalidEnv);
  if (pattern && !pattern.test(v)) throw bad(name, `invalid value ${JSON.stringify(v)}`, CNI_CODES.invalidEnv);
  return v;
}

export function decodeCniRequest(inv: CniInvocation): CniRequest {
  const env = inv.env ?? {};
  const command = env.CNI_COMMAND as CniCommand;
  if (!COMMANDS.includes(command))
    throw bad(
      'CNI_COMMAND',
      `must be one of ${COMMANDS.join(', ')}, got ${JSON.stringify(env.CNI_COMMAND)}`,
      CNI_CODES.invalidEnv,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(inv.config);
  } catch (e) {
    throw new CniError(
      CNI_CODES.decode,
      `stdin: the network configuration is not JSON: ${(e as Error).message}`,
      'stdin',
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new CniError(CNI_CODES.decode, 'stdin: the network configuration must be a JSON object', 'stdin');
  const o = parsed as Record<string, unknown>;
  const cniVersion = str(o, 'cniVersion', true) as string;
  if (command !== 'VERSION' && !(SUPPORTED_VERSIONS as readonly string[]).includes(cniVersion))
    throw new CniError(
      CNI_CODES.incompatibleVersion,
      `cniVersion: ${cniVersion} is not supported (supported: ${SUPPORTED_VERSIONS.join(', ')})`,
      'cniVersion',
    );
  const type = str(o, 'type', true);
  if (type !== 'vxmesh') throw bad('type', `must be "vxmesh", got ${JSON.stringify(type)}`);
  const name = str(o, 'name', true) as string;
  const network = str(o, 'network') ?? name;
  if (!NETWORK_NAME.test(network))
    throw bad(o.network === undefined ? 'name' : 'network', `${JSON.stringify(network)} is not a vxmesh network name`);
  if (o.ipam !== undefined) throw bad('ipam', 'vxmesh gives addresses itself (cluster-wide): remove the ipam section');
  const socket = str(o, 'socket');
  if (socket !== undefined && !socket.startsWith('/')) throw bad('socket', 'must be an absolute path');
  if (o.hostRoute !== undefined && typeof o.hostRoute !== 'boolean')
    throw bad('hostRoute', `must be true or false, got ${JSON.stringify(o.hostRoute)}`);
  const req: CniRequest = {
    command,
    cniVersion,
    name,
    network,
    args: parseArgs(env.CNI_ARGS),
    ips: {},
    hostRoute: o.hostRoute === true,
  };
  const create = creation(o);
  if (create) req.create = create;
  const runtimeConfig = object(o.runtimeConfig, 'runtimeConfig');
  ipList(runtimeConfig?.ips, 'runtimeConfig.ips', req.ips);
  const cniArgs = object(object(o.args, 'args')?.cni, 'args.cni');
  if (!runtimeConfig?.ips) ipList(cniArgs?.ips, 'args.cni.ips', req.ips);
  if (req.args.IP !== undefined && req.ips.ip === undefined && req.ips.ip6 === undefined)
    for (const ip of req.args.IP.split(',')) requestedIp(ip, 'CNI_ARGS IP', req.ips);
  const pod = req.args.K8S_POD_NAME?.toLowerCase();
  if (pod !== undefined && /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(pod)) req.dnsName = pod;
  const prev = object(o.prevResult, 'prevResult');
  if (prev) req.prevResult = prev;
  if (command === 'ADD' || command === 'DEL' || command === 'CHECK') {
    req.containerId = variable(env, 'CNI_CONTAINERID', CONTAINER_ID);
    req.ifname = variable(env, 'CNI_IFNAME', IFNAME);
    // DEL may come after the namespace is gone (then without CNI_NETNS).
    if (command !== 'DEL' || env.CNI_NETNS) req.netns = variable(env, 'CNI_NETNS', /^\//);
  }
  if (command === 'GC') req.validAttachments = validAttachments(o['cni.dev/valid-attachments']);
  if (command === 'CHECK' && !prev) throw bad('prevResult', 'required by CHECK');
  return req;
}

function validAttachments(v: unknown): Array<{ containerId: string; ifname: string }> {
  const field = 'cni.dev/valid-attachments';
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad(field, 'must be a list');
  return v.map((x, i) => {
    const a = object(x, `${field}[${i}]`) ?? {};
    const containerId = a.containerID;
    const ifname = a.ifname;
    if (typeof containerId !== 'string' || !CONTAINER_ID.test(containerId))
      throw bad(`${field}[${i}].containerID`, `invalid container id ${JSON.stringify(containerId)}`);
    if (typeof ifname !== 'string' || !IFNAME.test(ifname))
      throw bad(`${field}[${i}].ifname`, `invalid interface name ${JSON.stringify(ifname)}`);
    return { containerId, ifname };
  });
}
