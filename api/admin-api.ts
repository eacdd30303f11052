/**
 * The admin API: HTTP + JSON on a unix socket (mode 0600, so root only). Documented in docs/api.md.
 * Every error is JSON `{"error": "...", "field": "..."}` with a 4xx status for bad requests.
 */
import http from 'node:http';
import {
  countResponse,
  errorResponse,
  HttpError,
  listenUnix,
  newRequestCounts,
  readJsonBody,
  sendJson,
  type RequestCounts,
} from '../core/http-json.js';
import type { Logger } from '../core/logger.js';
import { name } from '../core/checks.js';
import type { Agent } from '../agent/agent.js';
import { decodeAttach, decodeCreateNetwork, decodeDetach } from '../agent/requests.js';
import { runCni } from '../cni/cni-handler.js';
import type { CniInvocation } from '../cni/cni-request.js';

function decodePathPart(v: string, field: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    throw new HttpError(400, `malformed percent-encoding in ${JSON.stringify(v)}`, field);
  }
}

type Handler = (
  agent: Agent,
  body: unknown,
  params: Record<string, string>,
  query: URLSearchParams,
  log: Logger,
) => Promise<unknown> | unknown;

const routes: Array<[string, RegExp, Handler]> = [
  ['GET', /^\/v1\/status$/, async (a) => ({ ...a.status(), ...(await a.statusReport()) })],
  ['GET', /^\/v1\/networks$/, (a) => a.listNetworks()],
  ['POST', /^\/v1\/networks$/, (a, b) => a.createNetwork(decodeCreateNetwork(b))],
  ['GET', /^\/v1\/networks\/(?<name>[^/]+)$/, (a, _b, p) => a.inspectNetwork(p.name as string)],
  [
    'DELETE',
    /^\/v1\/networks\/(?<name>[^/]+)$/,
    async (a, _b, p) => {
      await a.removeNetwork(p.name as string);
      return { removed: p.name };
    },
  ],
  [
    'POST',
    /^\/v1\/networks\/(?<name>[^/]+)\/(?<verb>connect|disconnect)$/,
    async (a, b, p) => {
      const other = decodeConnect(b);
      const [name, verb] = [p.name as string, p.verb as string];
      if (verb === 'connect') return { connected: await a.policy.connect(name, other) };
      await a.policy.disconnect(name, other);
      return { disconnected: [name, other] };
    },
  ],
  ['GET', /^\/v1\/policy$/, (a, _b, _p, q) => a.policy.rules(q.get('network') ?? undefined)],
  ['POST', /^\/v1\/policy$/, (a, b) => a.policy.allow(b)],
  [
    'DELETE',
    /^\/v1\/policy\/(?<id>.+)$/,
    async (a, _b, p) => {
      await a.policy.remove(decodeURIComponent(p.id as string));
      return { removed: p.id };
    },
  ],
  ['POST', /^\/v1\/attach$/, (a, b) => a.attach(decodeAttach(b))],
  ['POST', /^\/v1\/detach$/, (a, b) => a.detach(decodeDetach(b))],
  ['GET', /^\/v1\/peers$/, (a) => a.peersWithWireguard()],
  ['GET', /^\/v1\/endpoints$/, (a, _b, _p, q) => a.endpoints(q.get('network') ?? undefined)],
  ['GET', /^\/v1\/fdb$/, (a, _b, _p, q) => a.fdbReport(q.get('network') ?? undefined)],
  ['GET', /^\/v1\/cluster\/fdb$/, (a) => a.clusterFdbReport()],
  ['POST', /^\/v1\/reconcile$/, (a) => a.reconcileAll('api')],
  ['POST', /^\/v1\/cni$/, (a, b, _p, _q, log) => runCni(a, decodeInvocation(b), log)],
  ['POST', /^\/v1\/debug\/heap$/, () => heapAfterGc()],
];

/** The heap after a full garbage collection, for soak runs (the agent started with `node --expose-gc`). */
function heapAfterGc(): {
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  arrayBuffersBytes: number;
  rssBytes: number;
} {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function')
    throw new HttpError(409, 'no forced collection: start the agent under node --expose-gc', 'gc');
  gc();
  const m = process.memoryUsage();
  return {
    heapUsedBytes: m.heapUsed,
    heapTotalBytes: m.heapTotal,
    externalBytes: m.external,
    arrayBuffersBytes: m.arrayBuffers,
    rssBytes: m.rss,
  };
}

/** `{"with": NETWORK}`: the other network of a connect or disconnect. */
function decodeConnect(body: unknown): string {
  const o = (body ?? {}) as { with?: unknown };
  if (typeof o !== 'object' || Array.isArray(o)) throw new HttpError(400, 'body: must be {"with": NETWORK}', 'body');
  return name(o.with, 'with');
}

/** The launcher's relay of one CNI call: its `CNI_*` variables and stdin, as given. */
function decodeInvocation(body: unknown): CniInvocation {
  const o = (body ?? {}) as { env?: unknown; config?: unknown };
  if (typeof o.env !== 'object' || o.env === null || Array.isArray(o.env))
    throw new HttpError(400, 'env: must be an object of CNI_* variables', 'env');
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.env as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new HttpError(400, `env.${k}: must be a string`, `env.${k}`);
    env[k] = v;
  }
  if (typeof o.config !== 'string')
    throw new HttpError(400, 'config: must be the network configuration as text', 'config');
  return { env, config: o.config };
}

export function createAdminHandler(agent: Agent, log: Logger, counts: RequestCounts = newRequestCounts()) {
  return async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    let url = new URL('http://vxmesh/');
    try {
      // A path the URL parser refuses (e.g. `//x`, read as a host) is bad input, never a crash.
      try {
        url = new URL(req.url ?? '/', 'http://vxmesh');
      } catch {
        throw new HttpError(400, `malformed request path ${JSON.stringify(req.url)}`, 'path');
      }
      const matching = routes.filter(([, re]) => re.test(url.pathname));
      if (matching.length === 0) throw new HttpError(404, `no such API path ${url.pathname}`, 'path');
      const route = matching.find(([m]) => m === req.method);
      if (!route)
        throw new HttpError(
          405,
          `${req.method ?? '?'} is not allowed on ${url.pathname} (use ${matching.map(([m]) => m).join(', ')})`,
          'method',
        );
      const params = Object.fromEntries(
        Object.entries(route[1].exec(url.pathname)?.groups ?? {}).map(([k, v]) => [k, decodePathPart(v, k)]),
      );
      const body = req.method === 'POST' ? await readJsonBody(req) : null;
      sendJson(res, 200, await route[2](agent, body, params, url.searchParams, log));
      countResponse(counts, 200);
    } catch (e) {
      const { status, body } = errorResponse(e);
      countResponse(counts, status);
      if (status >= 500) log.error({ path: url.pathname, err: body.error }, 'admin API error');
      sendJson(res, status, body);
    }
  };
}

export async function startAdminApi(
  agent: Agent,
  socketPath: string,
  log: Logger,
  activatedFd?: number,
  counts?: RequestCounts,
): Promise<http.Server> {
  const handler = createAdminHandler(agent, log, counts);
  const server = http.createServer((req, res) => void handler(req, res));
  await listenUnix(server, socketPath, 'socket', activatedFd);
  return server;
}
