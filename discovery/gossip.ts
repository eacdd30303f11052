/**
 * Gossip over gossipsub: membership messages and our own record writes. Incoming messages are
 * validated before gossipsub forwards them (signed, schema-checked, signer = subject or owner, every
 * record signed); membership messages go to the membership, record batches to `onRecords`.
 */
import { TopicValidatorResult, type Message } from '@libp2p/gossipsub';
import type { PeerId } from '@libp2p/interface';
import { countDrop, type DiscoveryContext } from './context.js';
import type { VxmeshLibp2p } from './node.js';
import { toWire, type TableRecord } from './table.js';
import { MAX_RECORDS_PER_MESSAGE, TOPIC_MEMBERS, TOPIC_TABLE, WireError, decodeMemberMessage, decodeTableMessage, encode, type MemberMessage, type TableMessage, type WireRecord } from './wire.js';

export class Gossip {
  private readonly decoded = new WeakMap<Message, MemberMessage | TableMessage>();
  private readonly outbox: TableRecord[] = [];
  private outboxScheduled = false;

  constructor(
    private readonly ctx: DiscoveryContext,
    private readonly onRecords: (records: WireRecord[]) => void,
  ) {}

  /** Subscribes to both topics on a started node, with validators. */
  attach(node: VxmeshLibp2p): void {
    const pubsub = node.services.pubsub;
    pubsub.topicValidators.set(TOPIC_MEMBERS, (from, msg) => this.validate(from, msg, 'members'));
    pubsub.topicValidators.set(TOPIC_TABLE, (from, msg) => this.validate(from, msg, 'table'));
    pubsub.addEventListener('message', (evt) => this.receive(evt.detail));
    pubsub.subscribe(TOPIC_MEMBERS);
    pubsub.subscribe(TOPIC_TABLE);
  }

  private validate(_from: PeerId, msg: Message, which: 'members' | 'table'): TopicValidatorResult {
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
        this.decoded.set(msg, m);
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
        membership.alive(m.member);
        break;
      case 'suspect':
        membership.suspect(m.peerId, m.incarnation, m.from);
        break;
      case 'dead':
        membership.dead(m.peerId, m.incarnation);
        break;
      case 'leave':
        membership.leave(m.peerId, m.incarnation);
        break;
    }
  }

  /** Queues one of our records; queued records go out together, in batches. */
  enqueue(rec: TableRecord): void {
    this.outbox.push(rec);
    if (this.outboxScheduled || !this.ctx.node()) return;
    this.outboxScheduled = true;
    setImmediate(() => {
      this.outboxScheduled = false;
      const batch = this.outbox.splice(0);
      for (let i = 0; i < batch.length; i += MAX_RECORDS_PER_MESSAGE) {
        this.publish(TOPIC_TABLE, { v: 1, t: 'records', records: batch.slice(i, i + MAX_RECORDS_PER_MESSAGE).map(toWire) });
      }
    });
  }

  publishMember(m: MemberMessage): void {
    this.publish(TOPIC_MEMBERS, m);
  }

  private publish(topic: string, m: MemberMessage | TableMessage): void {
    const node = this.ctx.node();
    if (!node || this.ctx.stopped()) return;
    const data = encode(m);
    this.ctx.stats.gossipOut++;
    this.ctx.stats.gossipBytesOut += data.length;
    node.services.pubsub.publish(topic, data).catch((e: unknown) => this.ctx.log.debug({ topic, err: String(e) }, 'publish failed'));
  }
}
