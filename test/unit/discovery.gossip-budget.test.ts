/**
 * The gossip validator and the record budget: a batch the budget cannot take is refused from its
 * count (not decoded) and counted as rate-limited; a malformed batch within the budget is rejected
 * as malformed and spends nothing (the fuzz test's malformed inputs must not starve its valid ones).
 */
import t from 'tap';
import { signedBoth } from '../fixtures/signed-records.js';
import { TopicValidatorResult, type Message } from '@libp2p/gossipsub';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { PeerId } from '@libp2p/interface';
import { silentLogger } from '../../core/logger.js';
import { DEFAULT_TIMERS, emptyStats, type DiscoveryContext } from '../../discovery/context.js';
import { MemberIntake } from '../../discovery/member-intake.js';
import { Gossip } from '../../discovery/gossip.js';
import type { VxmeshLibp2p } from '../../discovery/node.js';
import { RecordBudget } from '../../discovery/record-budget.js';
import { Interests } from '../../discovery/interests.js';
import { encodeTableMessageV2 } from '../../discovery/record-codec.js';
import { TOPIC_TABLE_V2, type WireRecord } from '../../discovery/wire.js';

const key = await generateKeyPair('Ed25519');
const from: PeerId = peerIdFromPrivateKey(key);
const owner = from.toString();

async function record(k: number): Promise<WireRecord> {
  const r: WireRecord = {
    kind: 'endpoint',
    key: `blue/e${k}`,
    owner,
    lamport: k + 1,
    value: {
      network: 'blue',
      id: `e${k}`,
      mac: '02:42:c6:12:00:05',
      ip: '198.18.0.5',
      vtep: '198.51.100.11',
      host: 'h9',
    },
  };
  return signedBoth(key, owner, r);
}

/** Interests in the given networks, as a host with endpoints in them holds. */
function interestedIn(...nets: string[]): Interests {
  const i = new Interests(() => nets);
  i.refresh();
  return i;
}

function setup(burst: number, members: string[] = [owner]) {
  const stats = emptyStats();
  const ctx = {
    peerId: 'self',
    stats,
    timers: { ...DEFAULT_TIMERS, floodBurst: burst, floodRecordsPerSecond: 0.001 },
    log: silentLogger,
    membership: { get: (p: string) => (members.includes(p) ? { peerId: p, proto: 3 } : undefined), others: () => [] },
    interests: interestedIn('blue'),
  } as unknown as DiscoveryContext;
  const received: WireRecord[][] = [];
  const gossip = new Gossip(ctx, (r) => received.push(r), new RecordBudget(ctx), new MemberIntake(ctx));
  const validators = new Map<string, (from: PeerId, msg: Message) => TopicValidatorResult>();
  const pubsub = { topicValidators: validators, addEventListener: () => undefined, subscribe: () => undefined };
  gossip.attach({ services: { pubsub } } as unknown as VxmeshLibp2p);
  const validate = (data: Uint8Array) =>
    (validators.get(TOPIC_TABLE_V2) as (f: PeerId, m: Message) => TopicValidatorResult)(from, {
      type: 'signed',
      from,
      data,
      topic: TOPIC_TABLE_V2,
      sequenceNumber: 1n,
      signature: new Uint8Array(),
      key: key.publicKey,
    } as unknown as Message);
  return { stats, validate };
}

t.test('a malformed batch within the budget is rejected as malformed and spends nothing', async (t) => {
  const { stats, validate } = setup(10);
  const ten = await Promise.all(Array.from({ length: 10 }, (_, k) => record(k)));
  const good = encodeTableMessageV2(ten, false);
  // The same header (format 2, ten entries), then garbage: its count is readable, its records are not.
  const malformed = Uint8Array.from([...good.subarray(0, 3), ...new Uint8Array(40).fill(0xff)]);
  for (let k = 0; k < 5; k++)
    t.equal(validate(malformed), TopicValidatorResult.Reject, `malformed batch ${k + 1} rejected`);
  t.equal(stats.dropped.malformed, 5, 'counted as malformed');
  t.equal(stats.rateLimitedByPath.gossip, 0, 'not as rate-limited');
  t.equal(validate(good), TopicValidatorResult.Accept, 'ten valid records after them: the budget of ten is whole');
  t.equal(
    validate(encodeTableMessageV2([await record(11)], false)),
    TopicValidatorResult.Ignore,
    'the eleventh: over the budget',
  );
  t.equal(stats.rateLimitedByPath.gossip, 1, 'counted as one rate-limited record');
  t.equal(stats.dropped['rate-limited'], 1);
});

t.test('a batch the budget cannot take is refused from its count, decoded or not', async (t) => {
  const { stats, validate } = setup(5);
  const six = await Promise.all(Array.from({ length: 6 }, (_, k) => record(k)));
  t.equal(
    validate(encodeTableMessageV2(six, false)),
    TopicValidatorResult.Ignore,
    'six records over a budget of five: ignored',
  );
  t.equal(stats.rateLimitedByPath.gossip, 6);
  const garbage = Uint8Array.from([...encodeTableMessageV2(six, false).subarray(0, 3), 0xff, 0xff]);
  t.equal(
    validate(garbage),
    TopicValidatorResult.Ignore,
    'a malformed batch claiming six: refused from its count (never decoded)',
  );
  t.equal(
    stats.dropped.malformed,
    undefined,
    'so not counted as malformed (documented: a member over its budget is not decoded)',
  );
  t.equal(stats.rateLimitedByPath.gossip, 12);
  t.equal(
    validate(encodeTableMessageV2(six.slice(0, 5), false)),
    TopicValidatorResult.Accept,
    'five fit: refusals spent nothing',
  );
});

t.test('records of a publisher that is no member are ignored (a throwaway identity stores nothing)', async (t) => {
  const { validate, stats } = setup(100, []);
  const bytes = encodeTableMessageV2([await record(1)], false);
  t.equal(validate(bytes), TopicValidatorResult.Ignore);
  t.equal(stats.dropped['non-member'], 1);
});
