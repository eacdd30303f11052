/**
 * A CNI command carried out by the agent (the launcher relays stdin and `CNI_*` to the admin API's
 * `/v1/cni`): ADD attaches the container's namespace to the vxmesh network and answers the standard
 * result, DEL detaches (and succeeds when there is nothing left to remove), CHECK compares the
 * container's interface with `prevResult` and the agent's record, STATUS says whether an ADD would be
 * served, GC removes this network's CNI attachments not in `cni.dev/valid-attachments`.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../core/logger.js';
import type { Agent, AttachRequest } from '../agent/agent.js';
import type { LocalEndpoint } from '../agent/local-state.js';
import { CNI_CODES, CniError } from './cni-errors.js';
import { decodeCniRequest, SUPPORTED_VERSIONS, type CniInvocation, type CniRequest } from './cni-request.js';

export type CniAgent = Pick<
  Agent,
  'network' | 'createNetwork' | 'attach' | 'detach' | 'localEndpoints' | 'containerInterface' | 'status'
>;

/** What the launcher prints: the result (exit 0, nothing printed when undefined) or the error (exit 1). */
export type CniOutcome = { ok: true; result?: unknown } | { ok: false; error: ReturnType<CniError['toResult']> };

type NetworkView = ReturnType<CniAgent['network']>;

/** The endpoint id of an attachment: readable (the container id's start) and unique (a hash of both keys). */
export function cniEndpointId(containerId: string, ifname: string): string {
  const hash = createHash('sha256').update(`${containerId}/${ifname}`).digest('hex').slice(0, 16);
  return `cni-${containerId.slice(0, 12)}-${hash}`;
}

export async function runCni(agent: CniAgent, inv: CniInvocation, log: Logger): Promise<CniOutcome> {
  let version: string = SUPPORTED_VERSIONS[0];
  try {
    const req = decodeCniRequest(inv);
    version = req.cniVersion;
    const result = await run(agent, req);
    log.info({ command: req.command, network: req.network, containerId: req.containerId }, 'CNI request served');
    return { ok: true, result };
  } catch (e) {
    const err = asCniError(e);
    log.warn({ code: err.code, err: err.message }, 'CNI request refused');
    return { ok: false, error: err.toResult(version) };
  }
}

function asCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  const err = e as Error & { field?: string; status?: number };
  // The agent's refusals name their field (an address in use, a namespace that is gone, ...).
  if (err.name === 'NotFoundError' && err.field === 'netns')
    return new CniError(CNI_CODES.unknownContainer, err.message, 'CNI_NETNS');
  if (err.name === 'ValidationError' && (err.field === 'ip' || err.field === 'ip6'))
    return new CniError(CNI_CODES.invalidConfig, err.message, 'runtimeConfig.ips');
  if (err.name === 'ValidationError' && err.field === 'ifname')
    return new CniError(CNI_CODES.exists, err.message, 'CNI_IFNAME');
  return new CniError(CNI_CODES.agent, err.message ?? String(e), err.field);
}

async function run(agent: CniAgent, req: CniRequest): Promise<unknown> {
  switch (req.command) {
    case 'VERSION':
      return { cniVersion: req.cniVersion, supportedVersions: [...SUPPORTED_VERSIONS] };
    case 'STATUS':
      return status(agent);
    case 'ADD':
      return add(agent, req);
    case 'DEL':
      return del(agent, req);
    case 'CHECK':
      return check(agent, req);
    case 'GC':
      return gc(agent, req);
  }
}

/** The agent answers: it serves ADD (the launcher answers 50 itself when the agent's socket does not). */
function status(agent: CniAgent): undefined {
  agent.status();
  return undefined;
}

const attachmentOf = (agent: CniAgent, req: CniRequest, network: string): LocalEndpoint | undefined =>
  agent
    .localEndpoints()
    .find((e) => e.network === network && e.containerId === req.containerId && e.ifname === req.ifname);

/** The vxmesh network, created first when the configuration gives its subnet and it does not exist. */
async function network(agent: CniAgent, req: CniRequest): Promise<NetworkView> {
  let n: NetworkView | undefined;
  try {
    n = agent.network(req.network);
  } catch (e) {
    if ((e as Error).name !== 'NotFoundError') throw e;
  }
  if (n) {
    if (req.create?.subnet !== undefined && n.subnet !== req.create.subnet)
      throw new CniError(
        CNI_CODES.invalidConfig,
        `subnet: network ${n.name} exists with subnet ${n.subnet ?? 'none'}`,
        'subnet',
      );
    if (req.create?.subnet6 !== undefined && n.subnet6 !== req.create.subnet6)
      throw new CniError(
        CNI_CODES.invalidConfig,
        `subnet6: network ${n.name} exists with subnet ${n.subnet6 ?? 'none'}`,
        'subnet6',
      );
    return n;
  }
  if (!req.create)
    throw new CniError(
      CNI_CODES.invalidConfig,
      `network: vxmesh has no network ${req.network} (create it with \`vxmesh network create\`, or give "subnet" to create it here)`,
      'network',
    );
  try {
    return await agent.createNetwork({ name: req.network, ...req.create } as Parameters<CniAgent['createNetwork']>[0]);
  } catch (e) {
    const err = e as Error & { field?: string };
    if (err.name === 'ValidationError') throw new CniError(CNI_CODES.invalidConfig, err.message, err.field);
    throw e;
  }
}

async function add(agent: CniAgent, req: CniRequest): Promise<unknown> {
  const n = await network(agent, req);
  const containerId = req.containerId as string;
  const ifname = req.ifname as string;
  if (attachmentOf(agent, req, n.name))
    throw new CniError(CNI_CODES.exists, `container ${containerId} already has ${ifname} on ${n.name}`, 'CNI_IFNAME');
  // The agent's attach is idempotent for one namespace and interface; CNI's ADD is not.
  const holder = agent.localEndpoints().find((e) => e.netns === req.netns && e.ifname === ifname);
  if (holder)
    throw new CniError(
      CNI_CODES.exists,
      `${req.netns} already has ${ifname} (endpoint ${holder.id} of ${holder.network})`,
      'CNI_IFNAME',
    );
  const attach: AttachRequest = {
    network: n.name,
    netns: req.netns as string,
    ifname,
    id: cniEndpointId(containerId, ifname),
    containerId,
    ...(req.ips.ip !== undefined ? { ip: req.ips.ip } : {}),
    ...(req.ips.ip6 !== undefined ? { ip6: req.ips.ip6 } : {}),
    ...(req.dnsName !== undefined ? { name: req.dnsName } : {}),
    ...(req.hostRoute ? { hostRoute: true } : {}),
  };
  const ep = await agent.attach(attach);
  return resultOf(req, ep, n);
}

/** CNI's result of an attachment (interfaces, ips, routes, dns). */
export function resultOf(
  req: Pick<CniRequest, 'cniVersion' | 'netns'>,
  ep: LocalEndpoint,
  n: NetworkView,
): Record<string, unknown> {
  const ips: Array<Record<string, unknown>> = [];
  const routes: Array<Record<string, string>> = [];
  if (ep.ip !== undefined) {
    ips.push({ address: `${ep.ip}/${ep.prefix ?? 32}`, ...(n.gateway ? { gateway: n.gateway } : {}), interface: 0 });
    if (n.gateway) routes.push({ dst: '0.0.0.0/0', gw: n.gateway });
  }
  if (ep.ip6 !== undefined) {
    ips.push({
      address: `${ep.ip6}/${ep.prefix6 ?? 128}`,
      ...(n.gateway6 ? { gateway: n.gateway6 } : {}),
      interface: 0,
    });
    if (n.gateway6) routes.push({ dst: '::/0', gw: n.gateway6 });
  }
  const nameservers = [n.gateway, n.gateway6].filter((x): x is string => x !== undefined);
  return {
    cniVersion: req.cniVersion,
    interfaces: [{ name: ep.ifname, mac: ep.mac, sandbox: req.netns ?? ep.netns }],
    ips,
    routes,
    dns: { nameservers, domain: `${n.name}.vxmesh`, search: [`${n.name}.vxmesh`] },
  };
}

async function del(agent: CniAgent, req: CniRequest): Promise<undefined> {
  let n: NetworkView;
  try {
    n = agent.network(req.network);
  } catch {
    return undefined; // no such network any more: nothing of it is attached here
  }
  const ep = attachmentOf(agent, req, n.name);
  if (!ep) return undefined;
  await agent.detach({ network: n.name, id: ep.id });
  return undefined;
}

async function check(agent: CniAgent, req: CniRequest): Promise<undefined> {
  const n = await network(agent, req);
  const ep = attachmentOf(agent, req, n.name);
  if (!ep)
    throw new CniError(
      CNI_CODES.unknownContainer,
      `container ${req.containerId} has no ${req.ifname} on ${n.name}`,
      'CNI_CONTAINERID',
    );
  const want = resultOf(req, ep, n) as { interfaces: Array<{ mac: string }>; ips: Array<{ address: string }> };
  const prev = req.prevResult as {
    interfaces?: Array<{ name?: string; mac?: string }>;
    ips?: Array<{ address?: string }>;
  };
  const prevIf = prev.interfaces?.find((i) => i.name === req.ifname);
  if (!prevIf || prevIf.mac !== ep.mac)
    throw new CniError(
      CNI_CODES.agent,
      `prevResult: ${req.ifname} with MAC ${ep.mac} is not in it`,
      'prevResult.interfaces',
    );
  for (const ip of want.ips)
    if (!prev.ips?.some((p) => p.address === ip.address))
      throw new CniError(CNI_CODES.agent, `prevResult: address ${ip.address} is not in it`, 'prevResult.ips');
  const now = await agent.containerInterface(req.netns as string, req.ifname as string);
  if (!now) throw new CniError(CNI_CODES.agent, `${req.ifname} is gone from ${req.netns}`, 'CNI_IFNAME');
  if (now.mac !== ep.mac)
    throw new CniError(CNI_CODES.agent, `${req.ifname} has MAC ${now.mac ?? 'none'}, not ${ep.mac}`, 'CNI_IFNAME');
  if (!now.up) throw new CniError(CNI_CODES.agent, `${req.ifname} is down`, 'CNI_IFNAME');
  for (const ip of want.ips)
    if (!now.addresses.includes(ip.address))
      throw new CniError(
        CNI_CODES.agent,
        `${req.ifname} lacks address ${ip.address} (has ${now.addresses.join(', ') || 'none'})`,
        'CNI_IFNAME',
      );
  return undefined;
}

async function gc(agent: CniAgent, req: CniRequest): Promise<undefined> {
  let n: NetworkView;
  try {
    n = agent.network(req.network);
  } catch {
    return undefined;
  }
  const keep = new Set((req.validAttachments ?? []).map((a) => `${a.containerId}/${a.ifname}`));
  const stale = agent
    .localEndpoints()
    .filter((e) => e.network === n.name && e.containerId !== undefined && !keep.has(`${e.containerId}/${e.ifname}`));
  for (const ep of stale) await agent.detach({ network: n.name, id: ep.id });
  return undefined;
}
