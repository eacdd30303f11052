/**
 * Gossip over gossipsub: membership messages and our own record writes. Incoming messages are
 * validated before gossipsub forwards them (signed, schema-checked, signer = subject or owner, every
 * record signed); membership messages go to the membership, record batches to `onRecords`.
 *
 * Records go out in format 2 (compact binary, record-codec.ts) on vxmesh/table/2, and also as JSON
 * on vxmesh/table/1 while a member of the previous release (one that announces no `proto`) is
 * live: a rolling upgrade keeps working. A JSON batch from a member that also publishes format 2 is
 * ignored (its format-2 copy carries the same records with their bodies).
 *
 * Scoping (interests.ts): endpoint records and IPAM claims go out on their network's topic, which only
 * the members holding that network subscribe to; network definitions on vxmesh/table/2. While a
 * member of a generation before scoping is live, owner-bound records go on vxmesh/table/2 as well
 * (it holds everything and listens there only).
 */
import { TopicValidatorResult, type Message } from '@libp2p/gossipsub';
import type { PeerId } from '@libp2p/interface';
import { countDrop, type DiscoveryContext } from './context.js';
import type { VxmeshLibp2p } from './node.js';
import { toWire, type TableRecord } from './table.js';
import type { RecordBudget } from './record-budget.js';
import type { MemberIntake } from './member-intake.js';
import { OWNER_BOUND } from '../core/records.js';
import { networkTopic, recordNetwork } from './interests.js';
import { decodeTableMessageV2, encodeTableMessageV2, peekRecordCountV2 } from './record-codec.js';
import {
  MAX_RECORDS_PER_MESSAGE,
  PROTO_RECORDS_V2,
  PROTO_SCOPED,
  TOPIC_MEMBERS,
  TOPIC_TABLE,
  TOPIC_TABLE_V2,
  WireError,
  decodeMemberMessage,
  decodeTableMessage,
  encode,
  type MemberMessage,
  type TableMessage,
  type WireRecord,
} from './wire.js';

type Topic = 'members' | 'table' | 'table2' | { network: string };

/** Own writes within this long of our last record message wait and go out together with it. */
export const BATCH_WINDOW_MS = 50;

export class Gossip {
  private readonly decoded = new WeakMap<Message, MemberMessage | TableMessage>();
  /** The peer that delivered a member message (it may introduce only so many new members). */
  private readonly deliveredBy = new WeakMap<Message, string>();
  private readonly outbox: TableRecord[] = [];
  private outboxScheduled = false;
  private pubsub?: VxmeshLibp2p['services']['pubsub'];

  constructor(
    private readonly ctx: DiscoveryContext,
    private readonly onRecords: (records: WireRecord[]) => void,
    private readonly budget: RecordBudget,
    private readonly members: MemberIntake,
  ) {}

  /**
   * Whether a publisher is within its record budget (shared with anti-entropy): spending it, or only
   * looking (`spend` false: a batch not decoded yet). A message over it is counted as dropped.
   */
  private withinLimit(signer: string, records: number, spend = true): boolean {
    if (spend ? this.budget.take(signer, records, 'gossip') : this.budget.affords(signer, records, 'gossip'))
      return true;
    countDrop(this.ctx, 'rate-limited');
    return false;
  }

  /**
   * Whether records may come from this publisher: endpoints and IPAM claims only from a member (a
   * throwaway identity that never announced itself makes no host store anything of its own).
   */
  private fromMember(signer: string, records: WireRecord[]): boolean {
    if (this.ctx.membership.get(signer) || !records.some((r) => OWNER_BOUND.has(r.kind))) return true;
    countDrop(this.ctx, 'non-member', `records of ${signer}`);
    return false;
  }

  /** Subscribes to the cluster-wide topics and those of our networks on a started node, with validators. */
  attach(node: VxmeshLibp2p): void {
    const pubsub = node.services.pubsub;
    this.pubsub = pubsub;
    pubsub.topicValidators.set(TOPIC_MEMBERS, (from, msg) => this.validate(from, msg, 'members'));
    pubsub.topicValidators.set(TOPIC_TABLE, (from, msg) => this.validate(from, msg, 'table'));
    pubsub.topicValidators.set(TOPIC_TABLE_V2, (from, msg) => this.validate(from, msg, 'table2'));
    pubsub.addEventListener('message', (evt) => this.receive(evt.detail));
    pubsub.subscribe(TOPIC_MEMBERS);
    pubsub.subscribe(TOPIC_TABLE);
    pubsub.subscribe(TOPIC_TABLE_V2);
    for (const n of this.ctx.interests.names()) this.subscribeNetwork(n);
  }

  /** Takes the records of a network from its topic (it became of interest). */
  subscribeNetwork(network: string): void {
    const pubsub = this.pubsub;
    if (!pubsub) return; // attach() subscribes to the networks of interest then
    const topic = networkTopic(network);
    pubsub.topicValidators.set(topic, (from, msg) => this.validate(from, msg, { network }));
    pubsub.subscribe(topic);
  }

  /** Stops taking a network's records (no longer of interest); our own writes can still be published to it. */
  unsubscribeNetwork(network: string): void {
    const pubsub = this.pubsub;
    if (!pubsub) return;
    const topic = networkTopic(network);
    pubsub.unsubscribe(topic);
    pubsub.topicValidators.delete(topic);
  }

  /** Whether a live member speaks only the previous release's protocol (JSON records). */
  private previousReleaseLive(): boolean {
    return this.ctx.membership.others(['alive', 'suspect']).some((m) => (m.proto ?? 1) < PROTO_RECORDS_V2);
  }

  private validate(from: PeerId, msg: Message, which: Topic): TopicValidatorResult {
    if (msg.type !== 'signed') {
      countDrop(this.ctx, 'unsigned');
      return TopicValidatorResult.Reject;
    }
    const signer = msg.from.toString();
    try {
      if (which === 'members') {
        const m = decodeMemberMessage(msg.data);
        const subject = m.t === 'alive' ? m.member.peerId : m.t === 'leave' ? m.peerId : m.from;
        if (subject !== signer) {
          countDrop(this.ctx, 'forged', `${m.t} for ${subject} signed by ${signer}`);
          return TopicValidatorResult.Reject;
        }
        this.decoded.set(msg, m);
        this.deliveredBy.set(msg, from.toString());
      } else if (which === 'table2' || typeof which === 'object') {
        // The owner of every record is the publisher (not in the bodies): gossipsub checked its signature.
        // A batch the budget cannot take is refused from its count, read without decoding (a flooder's
        // excess is not decoded); the budget is spent only on a batch that decodes (a malformed one
        // costs its sender nothing but the rejection).
        const count = peekRecordCountV2(msg.data);
        if (count !== undefined && !this.withinLimit(signer, count, false)) return TopicValidatorResult.Ignore;
        const records = decodeTableMessageV2(msg.data, signer);
        // A network's topic carries its own endpoint records and claims only.
        if (typeof which === 'object' && records.some((r) => recordNetwork(r) !== which.network)) {
          countDrop(this.ctx, 'wrong-topic', `a record of another network on ${which.network}'s topic from ${signer}`);
          return TopicValidatorResult.Reject;
        }
        if (!this.fromMember(signer, records)) return TopicValidatorResult.Ignore;
        if (!this.withinLimit(signer, records.length)) return TopicValidatorResult.Ignore;
        this.decoded.set(msg, { v: 1, t: 'records', records });
      } else {
        const m = decodeTableMessage(msg.data);
        for (const r of m.records) {
          if (r.owner !== signer) {
            countDrop(this.ctx, 'forged', `record ${r.kind}/${r.key} owned by ${r.owner} signed by ${signer}`);
            return TopicValidatorResult.Reject;
          }
          if (r.sig === undefined) {
            countDrop(this.ctx, 'unsigned-record', `${r.kind}/${r.key}`);
            return TopicValidatorResult.Reject;
          }
        }
        // Forwarded (members of the previous release may be behind us in its mesh), applied only
        // from a publisher that does not send format 2.
        if ((this.ctx.membership.get(signer)?.proto ?? 1) < PROTO_RECORDS_V2) {
          if (!this.fromMember(signer, m.records)) return TopicValidatorResult.Ignore;
          if (!this.withinLimit(signer, m.records.length)) return TopicValidatorResult.Ignore;
          this.decoded.set(msg, m);
        }
      }
      return TopicValidatorResult.Accept;
    } catch (e) {
      countDrop(this.ctx, e instanceof WireError ? 'malformed' : 'error', (e as Error).message);
      return TopicValidatorResult.Reject;
    }
  }

  private receive(msg: Message): void {
    const m = this.decoded.get(msg);
    if (!m) return;
    this.ctx.stats.gossipIn++;
    const membership = this.ctx.membership;
    switch (m.t) {
      case 'records':
        this.onRecords(m.records);
        break;
      case 'alive':
        this.members.alive(m.member, this.deliveredBy.get(msg) ?? m.member.peerId);
        break;
      case 'suspect':
        membership.suspect(m.peerId, m.incarnation, m.from);
        break;
      case 'dead':
        membership.dead(m.peerId, m.incarnation);
        break;
      case 'leave':
        this.members.leave(m.peerId, m.incarnation, m.signed);
        break;
    }
  }

  /** Queues one of our records; queued records go out together, in batches. */
  enqueue(rec: TableRecord): void {
    this.outbox.push(rec);
    if (this.outboxScheduled || !this.ctx.node()) return;
    this.outboxScheduled = true;
    // A write after a quiet spell goes out at once; writes within BATCH_WINDOW_MS of the last message
    // (a burst of container starts, one API call each) wait for the window's end and go out together.
    const wait = this.lastFlush + BATCH_WINDOW_MS - performance.now();
    const flush = () => {
      this.outboxScheduled = false;
      this.lastFlush = performance.now();
      this.flush(this.outbox.splice(0));
    };
    if (wait <= 0) setImmediate(flush);
    else setTimeout(flush, wait).unref();
  }

  private lastFlush = -Infinity;

  /** Our queued records, per topic, in messages of at most MAX_RECORDS_PER_MESSAGE. */
  private flush(batch: TableRecord[]): void {
    const previous = this.previousReleaseLive();
    const unscoped = this.unscopedLive();
    // Per topic: definitions cluster-wide, the rest on its network's topic (and cluster-wide for unscoped members).
    const byTopic = new Map<string, TableRecord[]>();
    const add = (topic: string, r: TableRecord) => {
      const list = byTopic.get(topic);
      if (list) list.push(r);
      else byTopic.set(topic, [r]);
    };
    for (const r of batch) {
      const net = recordNetwork(r);
      if (net === undefined || unscoped) add(TOPIC_TABLE_V2, r);
      if (net !== undefined) add(networkTopic(net), r);
    }
    for (const [topic, recs] of byTopic) {
      for (let i = 0; i < recs.length; i += MAX_RECORDS_PER_MESSAGE) {
        const records = recs.slice(i, i + MAX_RECORDS_PER_MESSAGE).map(toWire);
        this.publishBytes(topic, encodeTableMessageV2(records, previous && topic === TOPIC_TABLE_V2));
        if (previous && topic === TOPIC_TABLE_V2)
          this.publish(TOPIC_TABLE, { v: 1, t: 'records', records: records.map(withoutBody) });
      }
    }
  }

  /** Whether a live member is of a generation before scoping (it takes every record on vxmesh/table/2). */
  private unscopedLive(): boolean {
    return this.ctx.membership.others(['alive', 'suspect']).some((m) => (m.proto ?? 1) < PROTO_SCOPED);
  }

  publishMember(m: MemberMessage): void {
    this.publish(TOPIC_MEMBERS, m);
  }

  private publish(topic: string, m: MemberMessage | TableMessage): void {
    this.publishBytes(topic, encode(m));
  }

  private publishBytes(topic: string, data: Uint8Array): void {
    const node = this.ctx.node();
    if (!node || this.ctx.stopped()) return;
    this.ctx.stats.gossipOut++;
    this.ctx.stats.gossipBytesOut += data.length;
    node.services.pubsub
      .publish(topic, data)
      .catch((e: unknown) => this.ctx.log.debug({ topic, err: String(e) }, 'publish failed'));
  }
}

/** A record as the previous release reads it (its checks keep no unknown field anyway). */
function withoutBody(r: WireRecord): WireRecord {
  const { b2: _b2, s2: _s2, ...rest } = r;
  return rest;
}
