/**
 * JSON over HTTP on a unix socket, shared by the admin API and the Docker plugin: body reading with a
 * size limit, our errors mapped to status codes, and a root-only socket that refuses a second server.
 */
import fs from 'node:fs';
import type http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { KernelError, NotFoundError, StateDirError, StoreError, ValidationError, VxmeshError } from './errors.js';

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
  if (e instanceof StateDirError) return { status: 503, body: { error: e.message, field: e.field } };
  if (e instanceof VxmeshError) return { status: 409, body: { error: e.message } };
  return { status: 500, body: { error: `internal error: ${(e as Error)?.message ?? String(e)}` } };
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
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

/**
 * Listens on a unix socket with mode 0600; refuses if another process already serves it. With
 * `activatedFd` (socket activation), serves that already-listening socket instead: connections made
 * before this process was ready have waited in its backlog.
 */
export async function listenUnix(
  server: http.Server,
  socketPath: string,
  field: string,
  activatedFd?: number,
): Promise<void> {
  if (activatedFd !== undefined) {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd: activatedFd }, () => resolve());
    });
    return;
  }
  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  if (fs.existsSync(socketPath)) {
    if (await socketInUse(socketPath))
      throw new ValidationError(field, `${socketPath} is in use by another process (is an agent already running?)`);
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

/** Requests a JSON API served, by outcome: answered, refused as bad input (4xx), failed (5xx). */
export interface RequestCounts {
  ok: number;
  rejected: number;
  errors: number;
}

export const newRequestCounts = (): RequestCounts => ({ ok: 0, rejected: 0, errors: 0 });

export function countResponse(counts: RequestCounts, status: number): void {
  if (status >= 500) counts.errors++;
  else if (status >= 400) counts.rejected++;
  else counts.ok++;
}
