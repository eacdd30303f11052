/**
 * Questions one member asks another over the cluster's own connections (encrypted with the cluster
 * key, authenticated by the peer key): one request frame, one answer frame. What can be asked is
 * registered by the layer above (the agent answers `fdb` with its kernel-vs-desired report); this file
 * knows only the transport. Answers to members that are not live are refused, and each member may
 * ask QUERIES_PER_S per second (a burst of QUERY_BURST): an `fdb` answer costs a netlink dump and two
 * iptables-save per network, which one key holder must not make every host run without end.
 */
import { lpStream } from '@libp2p/utils';
import type { Stream } from '@libp2p/interface';
import { countDrop, dialTarget, type DiscoveryContext } from './context.js';
import type { VxmeshLibp2p } from './node.js';
import { PublisherLimit } from './publisher-limit.js';
import {
  MAX_QUERY_ANSWER_BYTES,
  PROTOCOL_QUERY,
  WireError,
  decodeQueryAnswer,
  decodeQueryRequest,
  encode,
} from './wire.js';

export type QueryHandler = (from: string) => Promise<unknown>;

/** The member did not answer (unreachable, timed out) or answered with an error. */
export class QueryFailed extends Error {
  override name = 'QueryFailed';
}

export const QUERIES_PER_S = 5;
export const QUERY_BURST = 20;

export class ClusterQueries {
  private readonly handlers = new Map<string, QueryHandler>();
  private readonly askers = new PublisherLimit(QUERIES_PER_S, QUERY_BURST);

  constructor(private readonly ctx: DiscoveryContext) {}

  async attach(node: VxmeshLibp2p): Promise<void> {
    await node.handle(
      PROTOCOL_QUERY,
      (stream, conn) =>
        void this.serve(stream, conn.remotePeer.toString()).catch((e: unknown) =>
          countDrop(this.ctx, e instanceof WireError ? 'malformed' : 'error', `query: ${String(e)}`),
        ),
      { runOnLimitedConnection: false },
    );
  }

  /** Answers `q` with what `handler` returns (a JSON value). */
  answer(q: string, handler: QueryHandler): void {
    this.handlers.set(q, handler);
  }

  /** Why a question from `from` is not answered (undefined: it is): not a live member, or over its rate. */
  refusal(from: string, q: string): string | undefined {
    if (!this.ctx.membership.isLive(from)) return 'not a live member of this cluster';
    if (this.askers.take(from, 1).ok) return undefined;
    countDrop(this.ctx, 'query-rate', `query ${q} from ${from}`);
    return `rate limited: at most ${QUERIES_PER_S} questions per second per member`;
  }

  private async serve(stream: Stream, from: string): Promise<void> {
    const signal = AbortSignal.timeout(30_000);
    const lp = lpStream(stream, { maxDataLength: 4 * 1024 });
    try {
      const req = decodeQueryRequest((await lp.read({ signal })).subarray());
      const handler = this.handlers.get(req.q);
      let answer;
      if (!this.ctx.membership.isLive(from)) answer = { ok: false, error: 'not a live member of this cluster' };
      else if (!this.askers.take(from, 1).ok) {
        countDrop(this.ctx, 'query-rate', `query ${req.q} from ${from}`);
        answer = { ok: false, error: `rate limited: at most ${QUERIES_PER_S} questions per second per member` };
      } else if (!handler) answer = { ok: false, error: `unknown query ${JSON.stringify(req.q)}` };
      else {
        try {
          answer = { ok: true, body: await handler(from) };
        } catch (e) {
          answer = { ok: false, error: (e as Error).message };
        }
      }
      await lp.write(encode({ v: 1, t: 'answer', ...answer }), { signal });
    } finally {
      await stream.close().catch(() => undefined);
    }
  }

  /** Asks a member; rejects with QueryFailed when it cannot be reached in time or answers an error. */
  async ask(peerId: string, q: string, timeoutMs: number): Promise<unknown> {
    const node = this.ctx.node();
    const m = this.ctx.membership.get(peerId);
    if (!node || !m) throw new QueryFailed(`member ${peerId} is not known`);
    const signal = AbortSignal.timeout(timeoutMs);
    let stream: Stream | undefined;
    try {
      stream = await node.dialProtocol(dialTarget(m), PROTOCOL_QUERY, { signal });
      const lp = lpStream(stream, { maxDataLength: MAX_QUERY_ANSWER_BYTES, maxBufferSize: MAX_QUERY_ANSWER_BYTES });
      await lp.write(encode({ v: 1, t: 'query', q }), { signal });
      const a = decodeQueryAnswer((await lp.read({ signal })).subarray());
      if (!a.ok) throw new QueryFailed(a.error ?? 'the member answered with an error');
      return a.body;
    } catch (e) {
      if (e instanceof QueryFailed) throw e;
      throw new QueryFailed(signal.aborted ? `no answer within ${timeoutMs} ms` : `no answer: ${(e as Error).message}`);
    } finally {
      await stream?.close().catch(() => undefined);
    }
  }
}
