/**
 * The DNS keeper: a process of its own that holds every DNS server of the host (dns-service.ts) and
 * answers from the zones its agent last gave it, so names keep answering while the agent is down (a
 * kill -9, a crash, a restart or an upgrade of the agent). The agent starts it, feeds it over a unix
 * socket (keeper-protocol.ts), and a restarted agent adopts it. One agent at a time: a new connection
 * replaces the previous one. Without an agent for `orphanMs` it closes its servers and ends (an agent
 * stopped for good does not leave stale names behind for long).
 */
import fs from 'node:fs';
import net from 'node:net';
import type { Logger } from '../core/logger.js';
import { DnsService } from './dns-service.js';
import {
  decodeRequest,
  KEEPER_PROTOCOL,
  MAX_LINE_BYTES,
  type KeeperReply,
  type KeeperRequest,
  type KeeperSettings,
} from './keeper-protocol.js';
import { DEFAULT_QUERY_LIMITS } from './query-limits.js';

export interface KeeperOptions {
  socketPath: string;
  settings: KeeperSettings;
  log: Logger;
  /** Ends after this long without an agent connected. */
  orphanMs: number;
  /** Written with this process's PID, removed at the end. */
  pidFile?: string;
}

export interface RunningKeeper {
  /** Resolves when the keeper has ended (an `exit` request, orphaned, or close()). */
  readonly done: Promise<void>;
  close(): void;
}

export async function runKeeper(opts: KeeperOptions): Promise<RunningKeeper> {
  const { log, settings } = opts;
  const service = new DnsService({
    log,
    upstream: settings.upstream,
    limits: settings.limits ?? DEFAULT_QUERY_LIMITS,
    upstreamHealth: settings.upstreamHealth,
    port: settings.port,
  });
  let current: net.Socket | undefined;
  let orphanTimer: NodeJS.Timeout | undefined;
  let ended = false;
  let end: () => void = () => undefined;
  const done = new Promise<void>((r) => (end = r));
  // Requests are applied one at a time, in order (an ensure after another sees its result).
  let queue = Promise.resolve();

  const close = () => {
    if (ended) return;
    ended = true;
    if (orphanTimer) clearTimeout(orphanTimer);
    service.close();
    current?.destroy();
    server.close();
    fs.rmSync(opts.socketPath, { force: true });
    if (opts.pidFile) fs.rmSync(opts.pidFile, { force: true });
    log.info({}, 'DNS keeper ended');
    end();
  };
  const orphaned = () => {
    if (orphanTimer) clearTimeout(orphanTimer);
    orphanTimer = setTimeout(() => {
      log.warn({ afterMs: opts.orphanMs }, 'no agent connected: the DNS keeper closes its servers and ends');
      close();
    }, opts.orphanMs);
  };

  const handle = async (req: KeeperRequest): Promise<KeeperReply> => {
    switch (req.op) {
      case 'hello':
        return { id: req.id, ok: true, pid: process.pid, protocol: KEEPER_PROTOCOL, settings };
      case 'ensure':
        await service.ensure(req.nets);
        return { id: req.id, ok: true, counters: { ...service.counters } };
      case 'counters':
        return { id: req.id, ok: true, counters: { ...service.counters } };
      case 'exit':
        setImmediate(close);
        return { id: req.id, ok: true };
    }
  };

  const serve = (conn: net.Socket) => {
    if (current && current !== conn) {
      log.info({}, 'another agent connected: the previous connection is closed');
      current.destroy();
    }
    current = conn;
    if (orphanTimer) clearTimeout(orphanTimer);
    let buffered = '';
    conn.setEncoding('utf8');
    conn.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_LINE_BYTES) {
        log.warn({}, 'a message over the size limit: connection closed');
        conn.destroy();
        return;
      }
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        queue = queue.then(async () => {
          let reply: KeeperReply;
          try {
            reply = await handle(decodeRequest(line));
          } catch (e) {
            const idMatch = /"id":(\d+)/.exec(line);
            const field = (e as { field?: string }).field;
            reply = {
              id: Number(idMatch?.[1] ?? 0),
              ok: false,
              error: (e as Error).message,
              ...(field ? { field } : {}),
            };
            log.warn({ err: reply.error }, 'DNS keeper: a request refused');
          }
          if (!conn.destroyed) conn.write(`${JSON.stringify(reply)}\n`);
        });
      }
    });
    conn.on('error', () => undefined);
    conn.on('close', () => {
      if (current !== conn || ended) return;
      current = undefined;
      log.info({ orphanMs: opts.orphanMs }, 'the agent disconnected: answering from the last zones');
      orphaned();
    });
  };

  const server = net.createServer(serve);
  fs.rmSync(opts.socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.socketPath, () => resolve());
  });
  fs.chmodSync(opts.socketPath, 0o600);
  if (opts.pidFile) fs.writeFileSync(opts.pidFile, `${process.pid}\n`);
  orphaned();
  log.info({ socket: opts.socketPath, pid: process.pid }, 'DNS keeper listening');
  return { done, close };
}
