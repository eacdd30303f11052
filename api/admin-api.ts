/**
 * The admin API: HTTP + JSON on a unix socket (mode 0600, so root only). Documented in docs/api.md.
 * Every error is JSON `{"error": "...", "field": "..."}` with a 4xx status for bad requests.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { KernelError, NotFoundError, ValidationError, VxmeshError } from '../core/errors.js';
import { StoreError } from '../store/etcd-store.js';
import type { Logger } from '../core/logger.js';
import type { Agent } from '../agent/agent.js';

const MAX_BODY = 1024 * 1024;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export function readJsonBody(req: http.IncomingMessage, max = MAX_BODY): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      // Past the limit keep draining (so the client gets the 413) but keep nothing.
      if (size <= max) chunks.push(c);
    });
    req.on('end', () => {
      if (size > max) return reject(new HttpError(413, `request body exceeds ${max} bytes`, 'body'));
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve(null);
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new HttpError(400, 'request body is not valid JSON', 'body'));
      }
    });
    req.on('error', reject);
  });
}

/** Maps our errors to a status and a JSON body. */
export function errorResponse(e: unknown): { status: number; body: { error: string; field?: string; errno?: string } } {
  if (e instanceof HttpError) return { status: e.status, body: { error: e.message, field: e.field } };
  if (e instanceof ValidationError) return { status: 400, body: { error: e.message, field: e.field } };
  if (e instanceof NotFoundError) return { status: 404, body: { error: e.message, field: e.field } };
  if (e instanceof KernelError) return { status: 500, body: { error: e.message, errno: e.errno } };
  if (e instanceof StoreError) return { status: 503, body: { error: e.message, field: 'store' } };
  if (e instanceof VxmeshError) return { status: 409, body: { error: e.message } };
  return { status: 500, body: { error: `internal error: ${(e as Error)?.message ?? String(e)}` } };
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const obj = (v: unknown): Record<string, unknown> => {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new HttpError(400, 'request body must be a JSON object', 'body');
  return v as Record<string, unknown>;
};

type Handler = (agent: Agent, body: unknown, params: Record<string, string>, query: URLSearchParams) => Promise<unknown> | unknown;

const routes: Array<[string, RegExp, Handler]> = [
  ['GET', /^\/v1\/status$/, (a) => a.status()],
  ['GET', /^\/v1\/networks$/, (a) => a.listNetworks()],
  ['POST', /^\/v1\/networks$/, (a, b) => a.createNetwork(obj(b) as never)],
  ['GET', /^\/v1\/networks\/(?<name>[^/]+)$/, (a, _b, p) => a.inspectNetwork(p.name as string)],
  ['DELETE', /^\/v1\/networks\/(?<name>[^/]+)$/, async (a, _b, p) => {
    await a.removeNetwork(p.name as string);
    return { removed: p.name };
  }],
  ['POST', /^\/v1\/attach$/, (a, b) => a.attach(obj(b) as never)],
  ['POST', /^\/v1\/detach$/, (a, b) => a.detach(obj(b) as never)],
  ['GET', /^\/v1\/peers$/, (a) => a.peers()],
  ['GET', /^\/v1\/endpoints$/, (a, _b, _p, q) => a.endpoints(q.get('network') ?? undefined)],
  ['GET', /^\/v1\/fdb$/, (a, _b, _p, q) => a.fdbReport(q.get('network') ?? undefined)],
  ['POST', /^\/v1\/reconcile$/, (a) => a.reconcileAll('api')],
];

export function createAdminHandler(agent: Agent, log: Logger) {
  return async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://vxmesh');
    try {
      const matching = routes.filter(([, re]) => re.test(url.pathname));
      if (matching.length === 0) throw new HttpError(404, `no such API path ${url.pathname}`, 'path');
      const route = matching.find(([m]) => m === req.method);
      if (!route) throw new HttpError(405, `${req.method ?? '?'} is not allowed on ${url.pathname} (use ${matching.map(([m]) => m).join(', ')})`, 'method');
      const params = Object.fromEntries(Object.entries(route[1].exec(url.pathname)?.groups ?? {}).map(([k, v]) => [k, decodeURIComponent(v)]));
      const body = req.method === 'POST' ? await readJsonBody(req) : null;
      send(res, 200, await route[2](agent, body, params, url.searchParams));
    } catch (e) {
      const { status, body } = errorResponse(e);
      if (status >= 500) log.error({ path: url.pathname, err: body.error }, 'admin API error');
      send(res, status, body);
    }
  };
}

/** Is something answering on this unix socket? */
function socketInUse(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(p);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/** Listens on a unix socket with mode 0600; refuses if another process already serves it. */
export async function listenUnix(server: http.Server, socketPath: string, field: string): Promise<void> {
  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  if (fs.existsSync(socketPath)) {
    if (await socketInUse(socketPath)) throw new ValidationError(field, `${socketPath} is in use by another process (is an agent already running?)`);
    fs.rmSync(socketPath, { force: true });
  }
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
  } finally {
    process.umask(oldMask);
  }
  fs.chmodSync(socketPath, 0o600);
}

export async function startAdminApi(agent: Agent, socketPath: string, log: Logger): Promise<http.Server> {
  const handler = createAdminHandler(agent, log);
  const server = http.createServer((req, res) => void handler(req, res));
  await listenUnix(server, socketPath, 'socket');
  return server;
}
