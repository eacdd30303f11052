/**
 * Docker's plugin requests (NetworkDriver and IpamDriver, protocol v1), decoded once: each decoder
 * takes a parsed JSON body and returns typed values or throws a ValidationError naming Docker's own
 * field (`IPv4Data[0].Gateway`, `Interface.Address`, ...). Samples of every request: docs/docker.md.
 */
import { parseCidr, parseMac, requireHostIn, type Cidr } from '../core/addresses.js';
import { ipv4, obj, type Obj } from '../core/checks.js';
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
  const call: CreateNetworkCall = { networkId, subnet, internal: false, encrypted: false, reserved: [] };
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
  return out;
}

export interface RequestPoolCall {
  v6: boolean;
  pool: Cidr;
  /** `--ip-range`. */
  subPool?: string;
}

export function decodeRequestPool(body: unknown): RequestPoolCall {
  const b = obj(body, 'body');
  if (b.V6 === true) throw new ValidationError('V6', 'vxmesh has no IPv6 pools');
  if (typeof b.Pool !== 'string' || b.Pool === '')
    throw new ValidationError('Pool', 'a subnet is required: docker network create --subnet CIDR');
  const call: RequestPoolCall = { v6: false, pool: parseCidr(b.Pool, 'Pool') };
  if (typeof b.SubPool === 'string' && b.SubPool !== '') call.subPool = parseCidr(b.SubPool, 'SubPool', 32).text;
  return call;
}

export interface RequestAddressCall {
  pool: Cidr;
  /** The address Docker asks for (`--ip`, `--aux-address`, `--gateway`). */
  address?: string;
  /** Docker asks for the network's gateway address. */
  gateway: boolean;
}

export function decodeRequestAddress(body: unknown): RequestAddressCall {
  const b = obj(body, 'body');
  const pool = parseCidr(b.PoolID, 'PoolID');
  const opts = optionalObj(b.Options, 'Options');
  const call: RequestAddressCall = { pool, gateway: opts.RequestAddressType === GATEWAY_TYPE };
  if (typeof b.Address === 'string' && b.Address !== '') call.address = ipv4(addressPart(b.Address), 'Address');
  return call;
}

export function decodeReleaseAddress(body: unknown): { pool: Cidr; address: string } {
  const b = obj(body, 'body');
  const pool = parseCidr(b.PoolID, 'PoolID');
  return { pool, address: ipv4(addressPart(str(b.Address, 'Address')), 'Address') };
}
