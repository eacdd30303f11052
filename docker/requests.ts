/**
 * Docker's plugin requests (NetworkDriver and IpamDriver, protocol v1), decoded once: each decoder
 * takes a parsed JSON body and returns typed values or throws a ValidationError naming Docker's own
 * field (`IPv4Data[0].Gateway`, `Interface.Address`, ...). Samples of every request: docs/docker.md.
 */
import { parseCidr, parseMac, requireHostIn, type Cidr } from '../core/addresses.js';
import { ipv4, obj, type Obj } from '../core/checks.js';
import { canonicalAddress, familyOf, parsePrefix, requireHostInPrefix, type Prefix } from '../core/prefix.js';
import { ValidationError } from '../core/errors.js';

export const GENERIC = 'com.docker.network.generic';
const GATEWAY_TYPE = 'com.docker.network.gateway';
/** Set by `docker network create --internal`. */
export const INTERNAL = 'com.docker.network.internal';

const str = (v: unknown, field: string): string => {
  if (typeof v !== 'string' || v === '') throw new ValidationError(field, 'required string');
  return v;
};
const id = (v: unknown, field: string): string => {
  const s = str(v, field);
  if (!/^[A-Za-z0-9]{1,128}$/.test(s)) throw new ValidationError(field, 'must be an alphanumeric id');
  return s;
};
/** An object field that Docker may send as null or leave out. */
const optionalObj = (v: unknown, field: string): Obj => (v === undefined || v === null ? {} : obj(v, field));
/** `a.b.c.d/n` or `a.b.c.d` → the address. */
const addressPart = (v: string): string => v.split('/')[0] as string;

/** Docker's option for a network's MTU (`docker network create -o com.docker.network.driver.mtu=N`). */
export const MTU_OPTION = 'com.docker.network.driver.mtu';

export interface CreateNetworkCall {
  networkId: string;
  /** The vxmesh network (`-o vxmesh.network=NAME`); absent: the Docker network's own name (pending-networks.ts). */
  name?: string;
  /** `-o com.docker.network.driver.mtu=N`: the overlay MTU. */
  mtu?: number;
  subnet: Cidr;
  gateway?: string;
  vni?: number;
  internal: boolean;
  /** `-o encrypted` (Docker's own option name; `-o encrypted=true` too). */
  encrypted: boolean;
  /** `--aux-address` values, sorted. */
  reserved: string[];
  /** With `--ipv6`: the IPv6 pool (IPv6Data[0]), its gateway and aux addresses (canonical). */
  subnet6?: Prefix;
  gateway6?: string;
  reserved6?: string[];
}

/** IPv6Data[0] of a CreateNetwork (`docker network create --ipv6 --subnet ... --subnet ...`), if any. */
function decodeIPv6Data(b: Obj): Pick<CreateNetworkCall, 'subnet6' | 'gateway6' | 'reserved6'> {
  const v6 = Array.isArray(b.IPv6Data) ? (b.IPv6Data as unknown[]) : [];
  if (v6.length === 0) return {};
  if (v6.length > 1) throw new ValidationError('IPv6Data', `at most one IPv6 pool (got ${v6.length})`);
  const pool = obj(v6[0], 'IPv6Data[0]');
  const subnet6 = parsePrefix(pool.Pool, 'IPv6Data[0].Pool');
  if (subnet6.family !== 6) throw new ValidationError('IPv6Data[0].Pool', `${subnet6.text} is not an IPv6 subnet`);
  const out: Pick<CreateNetworkCall, 'subnet6' | 'gateway6' | 'reserved6'> = { subnet6 };
  if (typeof pool.Gateway === 'string' && pool.Gateway !== '')
    out.gateway6 = requireHostInPrefix(addressPart(pool.Gateway), subnet6, 'IPv6Data[0].Gateway');
  const aux = optionalObj(pool.AuxAddresses, 'IPv6Data[0].AuxAddresses');
  const reserved6 = Object.entries(aux).map(([k, v]) => {
    const field = `IPv6Data[0].AuxAddresses.${k}`;
    return requireHostInPrefix(addressPart(str(v, field)), subnet6, field);
  });
  if (reserved6.length) out.reserved6 = reserved6.sort();
  return out;
}

export function decodeCreateNetwork(body: unknown): CreateNetworkCall {
  const b = obj(body, 'body');
  const networkId = id(b.NetworkID, 'NetworkID');
  const opts = optionalObj(b.Options, 'Options');
  const generic = optionalObj(opts[GENERIC], `Options.${GENERIC}`);
  const name = generic['vxmesh.network'];
  if (name !== undefined && (typeof name !== 'string' || name === ''))
    throw new ValidationError(`Options.${GENERIC}.vxmesh.network`, 'must be a network name when given');
  const v4 = Array.isArray(b.IPv4Data) ? (b.IPv4Data as unknown[]) : [];
  if (v4.length !== 1)
    throw new ValidationError('IPv4Data', `exactly one IPv4 pool is needed (got ${v4.length}); give --subnet`);
  const pool = obj(v4[0], 'IPv4Data[0]');
  const subnet = parseCidr(pool.Pool, 'IPv4Data[0].Pool');
  const call: CreateNetworkCall = {
    networkId,
    subnet,
    internal: false,
    encrypted: false,
    reserved: [],
    ...decodeIPv6Data(b),
  };
  if (typeof name === 'string') call.name = name;
  const mtuOpt = generic[MTU_OPTION];
  if (mtuOpt !== undefined) {
    const mtu = Number(mtuOpt);
    if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535)
      throw new ValidationError(
        `Options.${GENERIC}.${MTU_OPTION}`,
        `must be an MTU (576-65535), got ${JSON.stringify(mtuOpt)}`,
      );
    call.mtu = mtu;
  }
  if (typeof pool.Gateway === 'string' && pool.Gateway !== '')
    call.gateway = requireHostIn(addressPart(pool.Gateway), subnet, 'IPv4Data[0].Gateway');
  const internalOpt = generic['vxmesh.internal'];
  if (internalOpt !== undefined && internalOpt !== 'true' && internalOpt !== 'false')
    throw new ValidationError(
      `Options.${GENERIC}.vxmesh.internal`,
      `must be true or false, got ${JSON.stringify(internalOpt)}`,
    );
  call.internal = opts[INTERNAL] === true || opts[INTERNAL] === 'true' || internalOpt === 'true';
  // As Docker's overlay reads it: `-o encrypted` (an empty value) or `-o encrypted=true`.
  const encryptedOpt = generic.encrypted;
  if (encryptedOpt !== undefined && encryptedOpt !== '' && encryptedOpt !== 'true' && encryptedOpt !== 'false')
    throw new ValidationError(
      `Options.${GENERIC}.encrypted`,
      `must be empty (-o encrypted), true or false, got ${JSON.stringify(encryptedOpt)}`,
    );
  call.encrypted = encryptedOpt === '' || encryptedOpt === 'true';
  const aux = optionalObj(pool.AuxAddresses, 'IPv4Data[0].AuxAddresses');
  call.reserved = Object.entries(aux)
    .map(([k, v]) => {
      const field = `IPv4Data[0].AuxAddresses.${k}`;
      return requireHostIn(addressPart(str(v, field)), subnet, field);
    })
    .sort();
  const vniOpt = generic['vxmesh.vni'];
  if (vniOpt !== undefined) {
    const vni = Number(vniOpt);
    if (!Number.isInteger(vni))
      throw new ValidationError(`Options.${GENERIC}.vxmesh.vni`, `not a number: ${JSON.stringify(vniOpt)}`);
    call.vni = vni;
  }
  return call;
}

/** NetworkID alone (DeleteNetwork). */
export function decodeNetworkId(body: unknown): string {
  return id(obj(body, 'body').NetworkID, 'NetworkID');
}

/** EndpointID alone (EndpointOperInfo, DeleteEndpoint). */
export function decodeEndpointId(body: unknown): string {
  return id(obj(body, 'body').EndpointID, 'EndpointID');
}

export interface EndpointCall {
  networkId: string;
  endpointId: string;
}

/** NetworkID and EndpointID (Leave; Join adds the sandbox). */
export function decodeEndpointCall(body: unknown): EndpointCall {
  const b = obj(body, 'body');
  return { networkId: id(b.NetworkID, 'NetworkID'), endpointId: id(b.EndpointID, 'EndpointID') };
}

export function decodeJoin(body: unknown): EndpointCall & { sandboxKey: string } {
  const call = decodeEndpointCall(body);
  return { ...call, sandboxKey: str(obj(body, 'body').SandboxKey, 'SandboxKey') };
}

export interface CreateEndpointCall extends EndpointCall {
  /** `Interface.Address` as Docker gives it: the address and its prefix length. */
  ip: string;
  prefix: number;
  /** `Interface.MacAddress`, when Docker chose one. */
  mac?: string;
  /** `Interface.AddressIPv6` on an `--ipv6` network: the address (canonical) and its prefix length. */
  ip6?: string;
  prefix6?: number;
}

export function decodeCreateEndpoint(body: unknown): CreateEndpointCall {
  const b = obj(body, 'body');
  const call = decodeEndpointCall(b);
  const iface = optionalObj(b.Interface, 'Interface');
  const address = str(iface.Address, 'Interface.Address');
  const [ip, len] = address.split('/') as [string, string | undefined];
  const out: CreateEndpointCall = { ...call, ip: ipv4(ip, 'Interface.Address'), prefix: Number(len) };
  if (len === undefined || !/^[0-9]{1,2}$/.test(len) || out.prefix > 32)
    throw new ValidationError('Interface.Address', `${address} is not ADDRESS/PREFIX`);
  if (typeof iface.MacAddress === 'string' && iface.MacAddress !== '')
    out.mac = parseMac(iface.MacAddress, 'Interface.MacAddress');
  if (typeof iface.AddressIPv6 === 'string' && iface.AddressIPv6 !== '') {
    const [ip6, len6] = iface.AddressIPv6.split('/') as [string, string | undefined];
    out.ip6 = canonicalAddress(ip6, 'Interface.AddressIPv6');
    out.prefix6 = Number(len6);
    if (familyOf(out.ip6) !== 6 || len6 === undefined || !/^[0-9]{1,3}$/.test(len6) || out.prefix6 > 128)
      throw new ValidationError('Interface.AddressIPv6', `${iface.AddressIPv6} is not IPV6-ADDRESS/PREFIX`);
  }
  return out;
}

export interface RequestPoolCall {
  v6: boolean;
  pool: Prefix;
  /** `--ip-range`. */
  subPool?: string;
}

export function decodeRequestPool(body: unknown): RequestPoolCall {
  const b = obj(body, 'body');
  const v6 = b.V6 === true;
  if (typeof b.Pool !== 'string' || b.Pool === '')
    throw new ValidationError(
      'Pool',
      `a subnet is required: docker network create --subnet CIDR${v6 ? ' (and, with --ipv6, --subnet IPV6-CIDR)' : ''}`,
    );
  const pool = parsePrefix(b.Pool, 'Pool');
  if ((pool.family === 6) !== v6)
    throw new ValidationError('Pool', `${pool.text} is not an IPv${v6 ? 6 : 4} subnet (V6 is ${v6})`);
  const call: RequestPoolCall = { v6, pool };
  if (typeof b.SubPool === 'string' && b.SubPool !== '') {
    const sub = parsePrefix(b.SubPool, 'SubPool', true);
    if (sub.family !== pool.family) throw new ValidationError('SubPool', `${sub.text} is not of the pool's family`);
    call.subPool = sub.text;
  }
  return call;
}

export interface RequestAddressCall {
  pool: Prefix;
  /** The address Docker asks for (`--ip`, `--aux-address`, `--gateway`). */
  address?: string;
  /** Docker asks for the network's gateway address. */
  gateway: boolean;
}

export function decodeRequestAddress(body: unknown): RequestAddressCall {
  const b = obj(body, 'body');
  const pool = parsePrefix(b.PoolID, 'PoolID');
  const opts = optionalObj(b.Options, 'Options');
  const call: RequestAddressCall = { pool, gateway: opts.RequestAddressType === GATEWAY_TYPE };
  if (typeof b.Address === 'string' && b.Address !== '') call.address = addressOf(pool, b.Address, 'Address');
  return call;
}

export function decodeReleaseAddress(body: unknown): { pool: Prefix; address: string } {
  const b = obj(body, 'body');
  const pool = parsePrefix(b.PoolID, 'PoolID');
  return { pool, address: addressOf(pool, str(b.Address, 'Address'), 'Address') };
}

/** An address of the pool's family (canonical), `ADDRESS` or `ADDRESS/n`. */
function addressOf(pool: Prefix, value: string, field: string): string {
  const ip = canonicalAddress(addressPart(value), field);
  if (familyOf(ip) !== pool.family)
    throw new ValidationError(field, `${ip} is not an address of the pool ${pool.text}`);
  return ip;
}
