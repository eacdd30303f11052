/**
 * Docker remote network driver + IPAM driver (plugin protocol v1, HTTP + JSON on
 * `<plugin-dir>/vxmesh.sock`). See docs/docker.md and the request samples in the docs.
 *
 * A Docker network is tied to a vxmesh network by `-o vxmesh.network=NAME` (optionally
 * `-o vxmesh.vni=N`), or else by its own name asked of the engine (pending-networks.ts); it is created in
 * vxmesh from the Docker subnet (and `com.docker.network.driver.mtu`) if it does not exist yet. Each
 * engine has its own NetworkID, and Docker does not replay CreateNetwork after a restart, so the
 * NetworkID → network and EndpointID → endpoint mappings live in `<state-dir>/docker.json`.
 */
import { DOCKER_PLUGIN_SOCKET_NAME } from '../core/defaults.js';
import http from 'node:http';
import path from 'node:path';
import { NotFoundError, ValidationError } from '../core/errors.js';
import { macFromIp, parseCidr } from '../core/addresses.js';
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
import { decodeCreateNetwork as decodeNetworkRequest } from '../agent/requests.js';
import { StateFile } from '../core/state-file.js';
import { PendingNetworks } from './pending-networks.js';
import { DockerIpam, type IpamState } from './ipam-driver.js';
import {
  decodeCreateEndpoint,
  decodeCreateNetwork,
  decodeEndpointCall,
  decodeEndpointId,
  decodeJoin,
  decodeNetworkId,
  decodeReleaseAddress,
  decodeRequestAddress,
  decodeRequestPool,
  GENERIC as GENERIC_OPTIONS,
  INTERNAL,
  MTU_OPTION,
  type CreateEndpointCall,
  type CreateNetworkCall,
  type EndpointCall,
} from './requests.js';

interface DockerEndpoint {
  network: string;
  ip: string;
  prefix: number;
  /** On an `--ipv6` network: the IPv6 address Docker's IPAM call gave (it configures it itself). */
  ip6?: string;
  mac: string;
  /** The veth end Docker moves into the container. */
  srcName: string;
  joined: boolean;
}

interface DockerState extends IpamState {
  version: 1;
  networks: Record<string, string>;
  endpoints: Record<string, DockerEndpoint>;
}

export class DockerPlugin {
  private readonly file: StateFile<DockerState>;
  private state: DockerState;
  /** Requests by outcome (answered, refused as bad input, failed), for the metrics. */
  readonly stats: RequestCounts = newRequestCounts();

  private readonly named: PendingNetworks;

  constructor(
    private readonly agent: Agent,
    stateDir: string,
    private readonly log: Logger,
    engineSocket?: string,
  ) {
    this.named = new PendingNetworks(engineSocket, log);
    this.file = new StateFile<DockerState>(path.join(stateDir, 'docker.json'), () => ({
      version: 1,
      networks: {},
      endpoints: {},
      addresses: {},
    }));
    this.state = this.file.load();
    this.ipam = new DockerIpam(agent, this.state, () => this.save());
  }

  private readonly ipam: DockerIpam;

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

  /** The handlers, by request path. Each decodes its body (requests.ts); the result is the JSON reply. */
  readonly handlers: Record<string, (b: unknown) => Promise<unknown> | unknown> = {
    '/Plugin.Activate': () => ({ Implements: ['NetworkDriver', 'IpamDriver'] }),
    '/NetworkDriver.GetCapabilities': () => ({ Scope: 'local', ConnectivityScope: 'global' }),
    '/NetworkDriver.CreateNetwork': (b) => this.createNetwork(decodeCreateNetwork(b)),
    '/NetworkDriver.DeleteNetwork': async (b) => {
      const id = decodeNetworkId(b);
      await this.named.settled(id).catch(() => undefined);
      this.named.forget(id);
      delete this.state.networks[id];
      this.save();
      return {};
    },
    '/NetworkDriver.CreateEndpoint': async (b) => {
      const call = decodeCreateEndpoint(b);
      await this.named.settled(call.networkId);
      return this.createEndpoint(call);
    },
    '/NetworkDriver.EndpointOperInfo': (b) => {
      this.endpointOf(decodeEndpointId(b));
      return { Value: {} };
    },
    '/NetworkDriver.DeleteEndpoint': (b) => this.deleteEndpoint(decodeEndpointId(b)),
    '/NetworkDriver.Join': (b) => this.join(decodeJoin(b)),
    '/NetworkDriver.Leave': (b) => this.leave(decodeEndpointCall(b)),
    '/NetworkDriver.ProgramExternalConnectivity': () => ({}),
    '/NetworkDriver.RevokeExternalConnectivity': () => ({}),
    '/NetworkDriver.DiscoverNew': () => ({}),
    '/NetworkDriver.DiscoverDelete': () => ({}),
    '/IpamDriver.GetCapabilities': () => ({ RequiresMACAddress: false }),
    '/IpamDriver.GetDefaultAddressSpaces': () => ({
      LocalDefaultAddressSpace: 'vxmesh-local',
      GlobalDefaultAddressSpace: 'vxmesh-global',
    }),
    '/IpamDriver.RequestPool': (b) => this.ipam.requestPool(decodeRequestPool(b)),
    '/IpamDriver.ReleasePool': () => ({}),
    '/IpamDriver.RequestAddress': (b) => this.ipam.requestAddress(decodeRequestAddress(b)),
    '/IpamDriver.ReleaseAddress': (b) => this.ipam.releaseAddress(decodeReleaseAddress(b)),
  };

  private async createNetwork(call: CreateNetworkCall): Promise<unknown> {
    if (call.name === undefined) {
      await this.named.start(
        call,
        (encrypted) => this.agent.maxMtu(encrypted),
        async (name) => {
          await this.createNetwork({ ...call, name });
        },
      );
      return {};
    }
    const { networkId, name, subnet, gateway, vni, internal, encrypted, reserved, mtu } = call;
    const ipRange = this.state.ipRanges?.[subnet.text];
    const ipRange6 = call.subnet6 && this.state.ipRanges?.[call.subnet6.text];
    const existing = this.agent.listNetworks().find((n) => n.name === name);
    if (existing) {
      const mismatch = (field: string, what: string) => new ValidationError(field, `vxmesh network ${name} ${what}`);
      if (existing.subnet !== subnet.text)
        throw mismatch('IPv4Data[0].Pool', `exists with subnet ${existing.subnet}, not ${subnet.text}`);
      if (existing.subnet6 !== call.subnet6?.text)
        throw mismatch(
          'IPv6Data[0].Pool',
          `has IPv6 subnet ${existing.subnet6 ?? 'none'}, not ${call.subnet6?.text ?? 'none'} (--ipv6 and its --subnet)`,
        );
      if (vni !== undefined && existing.vni !== vni)
        throw mismatch('Options.com.docker.network.generic.vxmesh.vni', `has VNI ${existing.vni}, not ${vni}`);
      if (gateway !== undefined && existing.gateway !== gateway)
        throw mismatch('IPv4Data[0].Gateway', `has gateway ${existing.gateway ?? 'none'}, not ${gateway}`);
      if (internal !== (existing.internal === true))
        throw mismatch(
          INTERNAL,
          `is ${existing.internal ? '' : 'not '}internal: create the Docker network ${existing.internal ? 'with' : 'without'} --internal`,
        );
      if (encrypted !== (existing.encrypted === true))
        throw mismatch(
          'Options.com.docker.network.generic.encrypted',
          `is ${existing.encrypted ? '' : 'not '}encrypted: create the Docker network ${existing.encrypted ? 'with' : 'without'} -o encrypted`,
        );
      if (mtu !== undefined && existing.mtu !== mtu)
        throw mismatch(`Options.${GENERIC_OPTIONS}.${MTU_OPTION}`, `has MTU ${existing.mtu}, not ${mtu}`);
      if ((ipRange ?? '') !== (existing.ipRange ?? ''))
        throw mismatch('SubPool', `has ip range ${existing.ipRange ?? 'none'}, not ${ipRange ?? 'none'}`);
      if (reserved.join(',') !== [...(existing.reserved ?? [])].sort().join(','))
        throw mismatch(
          'IPv4Data[0].AuxAddresses',
          `reserves ${existing.reserved?.join(', ') || 'nothing'}, not ${reserved.join(', ') || 'nothing'}`,
        );
    } else {
      // The agent's own request decoder, so the definition meets every rule a `vxmesh network create` meets.
      await this.agent
        .createNetwork(
          decodeNetworkRequest({
            name,
            subnet: subnet.text,
            vni,
            gateway,
            internal,
            ipRange,
            reserved: reserved.length ? reserved : undefined,
            encrypted: encrypted || undefined,
            mtu,
            subnet6: call.subnet6?.text,
            gateway6: call.gateway6,
            ipRange6,
            reserved6: call.reserved6,
          }),
        )
        .catch((e: unknown) => {
          // The MTU is checked against the underlay by the agent: named as Docker's option.
          if (e instanceof ValidationError && e.field === 'mtu')
            throw new ValidationError(`Options.${GENERIC_OPTIONS}.${MTU_OPTION}`, e.message);
          throw e;
        });
    }
    this.state.networks[networkId] = name;
    this.save();
    // This engine will start containers on it: claim an address block now (no-op if one is held).
    if (existing) this.agent.prepareAddresses(name);
    this.log.info({ networkId, network: name }, 'docker network mapped');
    return {};
  }

  private createEndpoint(call: CreateEndpointCall): unknown {
    const n = this.networkOf(call.networkId);
    const eid = call.endpointId;
    if (call.prefix !== parseCidr(n.subnet).prefix)
      throw new ValidationError(
        'Interface.Address',
        `${call.ip}/${call.prefix} does not fit the network's subnet ${n.subnet}`,
      );
    const mac = call.mac ?? macFromIp(call.ip);
    if (this.state.endpoints[eid]) throw new ValidationError('EndpointID', `endpoint ${eid} exists`);
    if (call.ip6 !== undefined && n.subnet6 === undefined)
      throw new ValidationError('Interface.AddressIPv6', `network ${n.name} has no IPv6 subnet`);
    this.state.endpoints[eid] = {
      network: n.name,
      ip: call.ip,
      prefix: call.prefix,
      ...(call.ip6 !== undefined ? { ip6: call.ip6 } : {}),
      mac,
      srcName: `vxm${eid.slice(0, 12)}`,
      joined: false,
    };
    this.save();
    return call.mac !== undefined ? {} : { Interface: { MacAddress: mac } };
  }

  private async join(call: EndpointCall & { sandboxKey: string }): Promise<unknown> {
    const n = this.networkOf(call.networkId);
    const eid = call.endpointId;
    const ep = this.endpointOf(eid);
    // Docker's IPAM calls handed the addresses out (RequestAddress): they are reserved here already.
    const preallocated = this.ipam.holds(n.subnet, ep.ip);
    if (ep.ip6 !== undefined && preallocated !== this.ipam.holds(n.subnet6, ep.ip6))
      throw new ValidationError('Interface.AddressIPv6', `${ep.ip6} did not come from the network's IPv6 pool`);
    // The veth's container end stays in our (the engine's) namespace under SrcName: Docker moves it.
    await this.agent.attach({
      network: n.name,
      netns: '/proc/self/ns/net',
      ifname: ep.srcName,
      ip: ep.ip,
      ...(ep.ip6 !== undefined ? { ip6: ep.ip6 } : {}),
      mac: ep.mac,
      id: eid,
      configure: false,
      sandbox: call.sandboxKey,
      preallocated,
    });
    ep.joined = true;
    this.save();
    // No Gateway (and no default static route): Docker then gives the container its docker_gwbridge leg
    // for NAT egress and -p publishing, as for its own overlay driver; the overlay subnet stays on-link.
    // An internal network asks for none.
    const reply: Record<string, unknown> = { InterfaceName: { SrcName: ep.srcName, DstPrefix: 'eth' } };
    if (n.internal) reply.DisableGatewayService = true;
    return reply;
  }

  private async leave(call: EndpointCall): Promise<unknown> {
    const n = this.networkOf(call.networkId);
    const ep = this.endpointOf(call.endpointId);
    if (ep.joined) {
      await this.agent.detach({ network: n.name, id: call.endpointId }).catch((e: unknown) => {
        if (!(e instanceof NotFoundError)) throw e;
      });
      ep.joined = false;
      this.save();
    }
    return {};
  }

  private async deleteEndpoint(eid: string): Promise<unknown> {
    const ep = this.state.endpoints[eid];
    if (!ep) return {};
    if (ep.joined) await this.agent.detach({ network: ep.network, id: eid }).catch(() => undefined);
    delete this.state.endpoints[eid];
    this.save();
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
  engineSocket?: string,
): Promise<{ server: http.Server; plugin: DockerPlugin; socket: string }> {
  const plugin = new DockerPlugin(agent, stateDir, log, engineSocket);
  const h = plugin.handler();
  const server = http.createServer((req, res) => void h(req, res));
  const socket = path.join(pluginDir, DOCKER_PLUGIN_SOCKET_NAME);
  await listenUnix(server, socket, 'pluginDir', activatedFd);
  log.info({ socket, activated: activatedFd !== undefined }, 'docker plugin listening');
  return { server, plugin, socket };
}
