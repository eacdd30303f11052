/**
 * Docker remote network driver + IPAM driver (plugin protocol v1, HTTP + JSON on
 * `<plugin-dir>/vxmesh.sock`). See docs/docker.md and the request samples in the docs.
 *
 * A Docker network is tied to a vxmesh network by `-o vxmesh.network=NAME` (optionally
 * `-o vxmesh.vni=N`); it is created in vxmesh from the Docker subnet if it does not exist yet. Each
 * engine has its own NetworkID, and Docker does not replay CreateNetwork after a restart, so the
 * NetworkID → network and EndpointID → endpoint mappings live in `<state-dir>/docker.json`.
 */
import { DOCKER_PLUGIN_SOCKET_NAME } from '../core/defaults.js';
import http from 'node:http';
import path from 'node:path';
import { NotFoundError, ValidationError } from '../core/errors.js';
import { parseCidr, parseMac } from '../core/addresses.js';
import type { Logger } from '../core/logger.js';
import {
  countResponse,
  errorResponse,
  HttpError,
  listenUnix,
  newRequestCounts,
  readJsonBody,
  type RequestCounts,
} from '../core/http-json.js';
import type { Agent, NetworkView } from '../agent/agent.js';
import { macFromIp } from '../core/addresses.js';
import { StateFile } from '../core/state-file.js';

const GENERIC = 'com.docker.network.generic';
const GATEWAY_TYPE = 'com.docker.network.gateway';
/** Set by `docker network create --internal`. */
const INTERNAL = 'com.docker.network.internal';

interface DockerEndpoint {
  network: string;
  ip: string;
  prefix: number;
  mac: string;
  /** The veth end Docker moves into the container. */
  srcName: string;
  joined: boolean;
}

interface DockerState {
  version: 1;
  networks: Record<string, string>;
  endpoints: Record<string, DockerEndpoint>;
  /** Addresses handed out by RequestAddress and not released: pool → ips. */
  addresses: Record<string, string[]>;
  /** `--ip-range` of a pool (RequestPool's SubPool), until CreateNetwork puts it in the network. */
  ipRanges?: Record<string, string>;
}

type Body = Record<string, unknown>;

const obj = (v: unknown, field: string): Body => {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ValidationError(field, 'must be an object');
  return v as Body;
};
const str = (v: unknown, field: string): string => {
  if (typeof v !== 'string' || v === '') throw new ValidationError(field, 'required string');
  return v;
};
const id = (v: unknown, field: string): string => {
  const s = str(v, field);
  if (!/^[A-Za-z0-9]{1,128}$/.test(s)) throw new ValidationError(field, 'must be an alphanumeric id');
  return s;
};

export class DockerPlugin {
  private readonly file: StateFile<DockerState>;
  private state: DockerState;
  /** Requests by outcome (answered, refused as bad input, failed), for the metrics. */
  readonly stats: RequestCounts = newRequestCounts();

  constructor(
    private readonly agent: Agent,
    stateDir: string,
    private readonly log: Logger,
  ) {
    this.file = new StateFile<DockerState>(path.join(stateDir, 'docker.json'), () => ({
      version: 1,
      networks: {},
      endpoints: {},
      addresses: {},
    }));
    this.state = this.file.load();
  }

  private save(): void {
    this.file.save(this.state);
  }

  /** The vxmesh network of a Docker endpoint this driver made (joined or not), if any. */
  networkOfEndpoint(endpointId: string): string | undefined {
    return this.state.endpoints[endpointId]?.network;
  }

  private networkOf(networkId: string): NetworkView {
    const name = this.state.networks[networkId];
    if (!name) throw new NotFoundError('NetworkID', `unknown network ${networkId} (not created through this driver)`);
    return this.agent.network(name);
  }

  private endpointOf(endpointId: string): DockerEndpoint {
    const ep = this.state.endpoints[endpointId];
    if (!ep) throw new NotFoundError('EndpointID', `unknown endpoint ${endpointId}`);
    return ep;
  }

  /** The handlers, by request path. Each gets the parsed body; the result is the JSON reply. */
  readonly handlers: Record<string, (b: unknown) => Promise<unknown> | unknown> = {
    '/Plugin.Activate': () => ({ Implements: ['NetworkDriver', 'IpamDriver'] }),
    '/NetworkDriver.GetCapabilities': () => ({ Scope: 'local', ConnectivityScope: 'global' }),
    '/NetworkDriver.CreateNetwork': (b) => this.createNetwork(obj(b, 'body')),
    '/NetworkDriver.DeleteNetwork': (b) => {
      const nid = id(obj(b, 'body').NetworkID, 'NetworkID');
      delete this.state.networks[nid];
      this.save();
      return {};
    },
    '/NetworkDriver.CreateEndpoint': (b) => this.createEndpoint(obj(b, 'body')),
    '/NetworkDriver.EndpointOperInfo': (b) => {
      const o = obj(b, 'body');
      this.endpointOf(id(o.EndpointID, 'EndpointID'));
      return { Value: {} };
    },
    '/NetworkDriver.DeleteEndpoint': (b) => this.deleteEndpoint(obj(b, 'body')),
    '/NetworkDriver.Join': (b) => this.join(obj(b, 'body')),
    '/NetworkDriver.Leave': (b) => this.leave(obj(b, 'body')),
    '/NetworkDriver.ProgramExternalConnectivity': () => ({}),
    '/NetworkDriver.RevokeExternalConnectivity': () => ({}),
    '/NetworkDriver.DiscoverNew': () => ({}),
    '/NetworkDriver.DiscoverDelete': () => ({}),
    '/IpamDriver.GetCapabilities': () => ({ RequiresMACAddress: false }),
    '/IpamDriver.GetDefaultAddressSpaces': () => ({
      LocalDefaultAddressSpace: 'vxmesh-local',
      GlobalDefaultAddressSpace: 'vxmesh-global',
    }),
    '/IpamDriver.RequestPool': (b) => this.requestPool(obj(b, 'body')),
    '/IpamDriver.ReleasePool': () => ({}),
    '/IpamDriver.RequestAddress': (b) => this.requestAddress(obj(b, 'body')),
    '/IpamDriver.ReleaseAddress': (b) => this.releaseAddress(obj(b, 'body')),
  };

  private async createNetwork(b: Body): Promise<unknown> {
    const nid = id(b.NetworkID, 'NetworkID');
    const opts = b.Options === undefined ? {} : obj(b.Options, 'Options');
    const generic = opts[GENERIC] === undefined ? {} : obj(opts[GENERIC], `Options.${GENERIC}`);
    const name = generic['vxmesh.network'];
    if (typeof name !== 'string' || name === '')
      throw new ValidationError(
        `Options.${GENERIC}.vxmesh.network`,
        'required: create the network with -o vxmesh.network=NAME',
      );
    const v4 = Array.isArray(b.IPv4Data) ? (b.IPv4Data as unknown[]) : [];
    if (v4.length !== 1)
      throw new ValidationError('IPv4Data', `exactly one IPv4 pool is needed (got ${v4.length}); give --subnet`);
    const pool = obj(v4[0], 'IPv4Data[0]');
    const subnet = parseCidr(pool.Pool, 'IPv4Data[0].Pool').text;
    const gateway = typeof pool.Gateway === 'string' && pool.Gateway !== '' ? pool.Gateway.split('/')[0] : undefined;
    const internalOpt = generic['vxmesh.internal'];
    if (internalOpt !== undefined && internalOpt !== 'true' && internalOpt !== 'false')
      throw new ValidationError(
        `Options.${GENERIC}.vxmesh.internal`,
        `must be true or false, got ${JSON.stringify(internalOpt)}`,
      );
    const internal = opts[INTERNAL] === true || opts[INTERNAL] === 'true' || internalOpt === 'true';
    const aux =
      pool.AuxAddresses === undefined || pool.AuxAddresses === null
        ? {}
        : obj(pool.AuxAddresses, 'IPv4Data[0].AuxAddresses');
    const reserved = Object.entries(aux)
      .map(([k, v]) => str(v, `IPv4Data[0].AuxAddresses.${k}`).split('/')[0] as string)
      .sort();
    const ipRange = this.state.ipRanges?.[subnet];
    const vniOpt = generic['vxmesh.vni'];
    const vni = vniOpt === undefined ? undefined : Number(vniOpt);
    if (vniOpt !== undefined && !Number.isInteger(vni))
      throw new ValidationError(`Options.${GENERIC}.vxmesh.vni`, `not a number: ${JSON.stringify(vniOpt)}`);
    const existing = this.agent.listNetworks().find((n) => n.name === name);
    if (existing) {
      if (existing.subnet !== subnet)
        throw new ValidationError(
          'IPv4Data[0].Pool',
          `vxmesh network ${name} exists with subnet ${existing.subnet}, not ${subnet}`,
        );
      if (vni !== undefined && existing.vni !== vni)
        throw new ValidationError(
          `Options.${GENERIC}.vxmesh.vni`,
          `vxmesh network ${name} has VNI ${existing.vni}, not ${vni}`,
        );
      if (gateway !== undefined && existing.gateway !== gateway)
        throw new ValidationError(
          'IPv4Data[0].Gateway',
          `vxmesh network ${name} has gateway ${existing.gateway ?? 'none'}, not ${gateway}`,
        );
      if (internal !== (existing.internal === true))
        throw new ValidationError(
          INTERNAL,
          `vxmesh network ${name} is ${existing.internal ? '' : 'not '}internal: create the Docker network ${existing.internal ? 'with' : 'without'} --internal`,
        );
      if ((ipRange ?? '') !== (existing.ipRange ?? ''))
        throw new ValidationError(
          'SubPool',
          `vxmesh network ${name} has ip range ${existing.ipRange ?? 'none'}, not ${ipRange ?? 'none'}`,
        );
      if (reserved.join(',') !== [...(existing.reserved ?? [])].sort().join(','))
        throw new ValidationError(
          'IPv4Data[0].AuxAddresses',
          `vxmesh network ${name} reserves ${existing.reserved?.join(', ') || 'nothing'}, not ${reserved.join(', ') || 'nothing'}`,
        );
    } else {
      await this.agent.createNetwork({
        name,
        subnet,
        vni,
        gateway,
        internal,
        ipRange,
        reserved: reserved.length ? reserved : undefined,
      });
    }
    this.state.networks[nid] = name;
    this.save();
    // This engine will start containers on it: claim an address block now (no-op if one is held).
    if (existing) this.agent.prepareAddresses(name);
    this.log.info({ networkId: nid, network: name }, 'docker network mapped');
    return {};
  }

  private createEndpoint(b: Body): unknown {
    const nid = id(b.NetworkID, 'NetworkID');
    const eid = id(b.EndpointID, 'EndpointID');
    const n = this.networkOf(nid);
    const iface = b.Interface === undefined || b.Interface === null ? {} : obj(b.Interface, 'Interface');
    const addr = str(iface.Address, 'Interface.Address');
    const [ip, len] = addr.split('/') as [string, string | undefined];
    const prefix = Number(len);
    if (prefix !== parseCidr(n.subnet).prefix)
      throw new ValidationError('Interface.Address', `${addr} does not fit the network's subnet ${n.subnet}`);
    const given = typeof iface.MacAddress === 'string' && iface.MacAddress !== '';
    const mac = given ? parseMac(iface.MacAddress, 'Interface.MacAddress') : macFromIp(ip);
    if (this.state.endpoints[eid]) throw new ValidationError('EndpointID', `endpoint ${eid} exists`);
    this.state.endpoints[eid] = { network: n.name, ip, prefix, mac, srcName: `vxm${eid.slice(0, 12)}`, joined: false };
    this.save();
    return given ? {} : { Interface: { MacAddress: mac } };
  }

  private async join(b: Body): Promise<unknown> {
    const nid = id(b.NetworkID, 'NetworkID');
    const eid = id(b.EndpointID, 'EndpointID');
    str(b.SandboxKey, 'SandboxKey');
    const n = this.networkOf(nid);
    const ep = this.endpointOf(eid);
    const pool = `${n.subnet}`;
    const preallocated = (this.state.addresses[pool] ?? []).includes(ep.ip);
    // The veth's container end stays in our (the engine's) namespace under SrcName: Docker moves it.
    await this.agent.attach({
      network: n.name,
      netns: '/proc/self/ns/net',
      ifname: ep.srcName,
      ip: ep.ip,
      mac: ep.mac,
      id: eid,
      configure: false,
      preallocated,
    });
    ep.joined = true;
    this.save();
    // No Gateway (and no default static route): Docker then gives the container its docker_gwbridge leg
    // for NAT egress and -p publishing, as for its own overlay driver; the overlay subnet stays on-link.
    // An internal network asks for none.
    const reply: Body = { InterfaceName: { SrcName: ep.srcName, DstPrefix: 'eth' } };
    if (n.internal) reply.DisableGatewayService = true;
    return reply;
  }

  private async leave(b: Body): Promise<unknown> {
    const nid = id(b.NetworkID, 'NetworkID');
    const eid = id(b.EndpointID, 'EndpointID');
    const n = this.networkOf(nid);
    const ep = this.endpointOf(eid);
    if (ep.joined) {
      await this.agent.detach({ network: n.name, id: eid }).catch((e: unknown) => {
        if (!(e instanceof NotFoundError)) throw e;
      });
      ep.joined = false;
      this.save();
    }
    return {};
  }

  private async deleteEndpoint(b: Body): Promise<unknown> {
    const eid = id(b.EndpointID, 'EndpointID');
    const ep = this.state.endpoints[eid];
    if (!ep) return {};
    if (ep.joined) await this.agent.detach({ network: ep.network, id: eid }).catch(() => undefined);
    delete this.state.endpoints[eid];
    this.save();
    return {};
  }

  private requestPool(b: Body): unknown {
    if (b.V6 === true) throw new ValidationError('V6', 'vxmesh has no IPv6 pools');
    const pool = b.Pool;
    if (typeof pool !== 'string' || pool === '')
      throw new ValidationError('Pool', 'a subnet is required: docker network create --subnet CIDR');
    const subnet = parseCidr(pool, 'Pool').text;
    if (typeof b.SubPool === 'string' && b.SubPool !== '') {
      // --ip-range: kept until CreateNetwork puts it into the (cluster-wide) network definition.
      const range = parseCidr(b.SubPool, 'SubPool', 32).text;
      this.state.ipRanges = { ...this.state.ipRanges, [subnet]: range };
      this.save();
    } else if (this.state.ipRanges?.[subnet] !== undefined) {
      // A pool requested again without a range (a network created anew): the old range does not apply.
      delete this.state.ipRanges[subnet];
      this.save();
    }
    return { PoolID: subnet, Pool: subnet, Data: {} };
  }

  private async requestAddress(b: Body): Promise<unknown> {
    const subnet = parseCidr(b.PoolID, 'PoolID');
    const opts = b.Options === undefined || b.Options === null ? {} : obj(b.Options, 'Options');
    const requested = typeof b.Address === 'string' && b.Address !== '' ? b.Address : undefined;
    if (opts.RequestAddressType === GATEWAY_TYPE) {
      const n = this.agent.networkBySubnet(subnet.text);
      const gw = requested ?? n?.gateway ?? subnet.network.replace(/\d+$/, (x) => String(Number(x) + 1));
      return { Address: `${gw}/${subnet.prefix}`, Data: {} };
    }
    const n = this.agent.networkBySubnet(subnet.text);
    if (requested && (!n || n.reserved?.includes(requested))) {
      // An --aux-address (Docker reserves them before CreateNetwork): CreateNetwork makes it reserved cluster-wide.
      return { Address: `${requested}/${subnet.prefix}`, Data: {} };
    }
    if (!n) throw new NotFoundError('PoolID', `no single vxmesh network has the subnet ${subnet.text}`);
    let ip: string;
    if (requested) {
      await this.agent.ipam.reserveExplicit(n, requested);
      ip = requested;
    } else ip = await this.agent.ipam.allocate(n);
    const list = (this.state.addresses[subnet.text] ??= []);
    if (!list.includes(ip)) list.push(ip);
    this.save();
    return { Address: `${ip}/${subnet.prefix}`, Data: {} };
  }

  private async releaseAddress(b: Body): Promise<unknown> {
    const subnet = parseCidr(b.PoolID, 'PoolID');
    const ip = str(b.Address, 'Address').split('/')[0] as string;
    const list = this.state.addresses[subnet.text] ?? [];
    this.state.addresses[subnet.text] = list.filter((x) => x !== ip);
    this.agent.ipam.settle(ip);
    this.save();
    const n = this.agent.networkBySubnet(subnet.text);
    if (n && !n.reserved?.includes(ip) && !this.agent.localEndpoints().some((e) => e.network === n.name && e.ip === ip))
      await this.agent.returnAddress(n.name, ip);
    return {};
  }

  /** The HTTP handler: POST only; errors as {"Err": ...} (NetworkDriver) or {"Error": ...} (IPAM). */
  handler() {
    return async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
      const url = (req.url ?? '/').split('?')[0] as string;
      const isIpam = url.startsWith('/IpamDriver.');
      const reply = (status: number, body: unknown) => {
        const text = JSON.stringify(body);
        res.writeHead(status, {
          'content-type': 'application/vnd.docker.plugins.v1.2+json',
          'content-length': Buffer.byteLength(text),
        });
        res.end(text);
      };
      try {
        const h = this.handlers[url];
        if (!h) throw new HttpError(404, `${url} is not implemented by vxmesh`, 'path');
        if (req.method !== 'POST') throw new HttpError(405, 'plugin calls are POST', 'method');
        const body = await readJsonBody(req, 1024 * 1024);
        reply(200, await h(body));
        countResponse(this.stats, 200);
      } catch (e) {
        const { status, body } = errorResponse(e);
        countResponse(this.stats, status);
        const message = body.field && !body.error.startsWith(body.field) ? `${body.field}: ${body.error}` : body.error;
        this.log.warn({ path: url, status, err: message }, 'docker plugin request failed');
        reply(status, isIpam ? { Error: message } : { Err: message });
      }
    };
  }
}

/** Serves the plugin on `pluginDir`/vxmesh.sock, or on the socket the service manager passed (`activatedFd`). */
export async function startDockerPlugin(
  agent: Agent,
  pluginDir: string,
  stateDir: string,
  log: Logger,
  activatedFd?: number,
): Promise<{ server: http.Server; plugin: DockerPlugin; socket: string }> {
  const plugin = new DockerPlugin(agent, stateDir, log);
  const h = plugin.handler();
  const server = http.createServer((req, res) => void h(req, res));
  const socket = path.join(pluginDir, DOCKER_PLUGIN_SOCKET_NAME);
  await listenUnix(server, socket, 'pluginDir', activatedFd);
  log.info({ socket, activated: activatedFd !== undefined }, 'docker plugin listening');
  return { server, plugin, socket };
}
