/** The CLI's side of the admin API. */
import http from 'node:http';
import { VxmeshError } from '../core/errors.js';

export class AgentUnavailable extends VxmeshError {
  override name = 'AgentUnavailable';
}

export class ApiError extends VxmeshError {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export function apiRequest<T>(
  socketPath: string,
  method: string,
  urlPath: string,
  body?: unknown,
  timeoutMs = 60_000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        socketPath,
        method,
        path: urlPath,
        headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {},
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            return reject(new ApiError(res.statusCode ?? 0, `agent sent a non-JSON reply: ${text.slice(0, 200)}`));
          }
          if ((res.statusCode ?? 500) >= 400) {
            const e = json as { error?: string; field?: string };
            return reject(new ApiError(res.statusCode ?? 500, e.error ?? 'error', e.field));
          }
          resolve(json as T);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from the agent within ${timeoutMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED')
        reject(
          new AgentUnavailable(
            `cannot reach the agent at ${socketPath} (${e.code}); is "vxmesh agent" running? (--socket or VXMESH_SOCKET picks another)`,
          ),
        );
      else reject(new VxmeshError(`admin API request failed: ${e.message}`));
    });
    if (data) req.write(data);
    req.end();
  });
}
