/**
 * Gossip under interest scoping: own records go out on their network's topic (definitions on
 * vxmesh/table/2; everything there too while a member of a generation before scoping is live), a
 * network's topic refuses a record of another network, and a burst of writes (one per turn of the
 * event loop, as separate API calls make them) goes out as one message after the first.
 */
import t from 'tap';
import { TopicValidatorResult, type Message } from '@libp2p/gossipsub';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { PeerId } from '@libp2p/interface';
import { signedBoth } from '../fixtures/signed-records.js';
import { silentLogger } from '../../core/logger.js';
import { DEFAULT_TIMERS, emptyStats, type DiscoveryContext } from '../../discovery/context.js';
import { BATCH_WINDOW_MS, Gossip } from '../../discovery/gossip.js';
import { Interests, networkTopic } from '../../discovery/interests.js';
import { MemberIntake } from '../../discovery/member-intake.js';
import type { VxmeshLibp2p } from '../../discovery/node.js';
import { RecordBudget } from '../../discovery/record-budget.js';
import { encodeTableMessageV2, peekRecordCountV2 } from '../../discovery/record-codec.js';
import { TOPIC_TABLE_V2, type WireRecord } from '../../discovery/wire.js';

const key = await generateKeyPair('Ed25519');
const from: PeerId = peerIdFromPrivateKey(key);
const owner = from.toString();

let lamport = 0;
const endpoint = (network: string, id: string): Promise<WireRecord> =>
  signedBoth(key, owner, {
    kind: 'endpoint',
    key: `${network}/${id}`,
    owner,
    lamport: ++lamport,
    value: { network, id, mac: '02:42:c6:12:00:05', ip: '198.18.0.5', vtep: '198.51.100.11', host: 'h1' },
  });
const definition = (name: string): Promise<WireRecord> =>
  signedBoth(key, owner, {
    kind: 'network',
    key: name,
    owner,
    lamport: ++lamport,
    value: { name, vni: 100, subnet: '198.18.0.0/24' },
  });

function setup(otherProto = 5) {
  const interests = new Interests(() => ['blue']);
  interests.refresh();
  const published: Array<{ topic: string; records: number }> = [];
  const validators = new Map<string, (from: PeerId, msg: Message) => TopicValidatorResult>();
  const subscribed = new Set<string>();
  const pubsub = {
    topicValidators: validators,
    addEventListener: () => undefined,
    subscribe: (topic: string) => subscribed.add(topic),
    unsubscribe: (topic: string) => subscribed.delete(topic),
    publish: async (topic: string, data: Uint8Array) => {
      published.push({ topic, records: peekRecordCountV2(data) ?? -1 });
    },
  };
  const node = { services: { pubsub } } as unknown as VxmeshLibp2p;
  const stats = emptyStats();
  const ctx = {
    peerId: 'self',
    stats,
    timers: DEFAULT_TIMERS,
    log: silentLogger,
    interests,
    node: () => node,
    stopped: () => false,
    membership: {
      get: (p: string) => (p === owner ? { peerId: p, proto: 5 } : undefined),
      others: () => [{ peerId: 'other', proto: otherProto }],
    },
  } as unknown as DiscoveryContext;
  const gossip = new Gossip(ctx, () => undefined, new RecordBudget(ctx), new MemberIntake(ctx));
  gossip.attach(node);
  const validate = (topic: string, data: Uint8Array) =>
    (validators.get(topic) as (f: PeerId, m: Message) => TopicValidatorResult)(from, {
      type: 'signed',
      from,
      data,
      topic,
      sequenceNumber: 1n,
      signature: new Uint8Array(),
      key: key.publicKey,
    } as unknown as Message);
  return { gossip, published, subscribed, validate, stats };
}

const turn = () => new Promise((r) => setImmediate(r));
const settle = () => new Promise((r) => setTimeout(r, BATCH_WINDOW_MS + 30));

t.test('records go out on their network\u2019s topic, definitions cluster-wide', async (t) => {
  const { gossip, published, subscribed } = setup();
  t.ok(subscribed.has(networkTopic('blue')), 'the topic of a network of interest is taken at attach');
  t.notOk(subscribed.has(networkTopic('red')), 'not that of another');
  gossip.enqueue(await endpoint('blue', 'c1'));
  gossip.enqueue(await endpoint('red', 'c2'));
  gossip.enqueue(await definition('green'));
  await settle();
  t.same(
    published.sort((a, b) => a.topic.localeCompare(b.topic)),
    [
      { topic: networkTopic('blue'), records: 1 },
      { topic: networkTopic('red'), records: 1 },
      { topic: TOPIC_TABLE_V2, records: 1 },
    ],
    'one message per topic; nothing owner-bound on vxmesh/table/2',
  );
});

t.test('while a member of a generation before scoping is live, owner-bound records also go cluster-wide', async (t) => {
  const { gossip, published } = setup(4);
  gossip.enqueue(await endpoint('blue', 'c1'));
  await settle();
  t.same(published.map((p) => p.topic).sort(), [TOPIC_TABLE_V2, networkTopic('blue')].sort());
});

t.test('a burst of writes, one per turn, goes out as one message after the first', async (t) => {
  const { gossip, published } = setup();
  gossip.enqueue(await endpoint('blue', 'first'));
  await turn();
  t.same(published, [{ topic: networkTopic('blue'), records: 1 }], 'a write after a quiet spell goes out at once');
  const burst = await Promise.all(Array.from({ length: 10 }, (_, k) => endpoint('blue', `b${k}`)));
  for (const r of burst) {
    gossip.enqueue(r);
    await turn();
  }
  t.equal(published.length, 1, 'within the window, nothing more yet');
  await settle();
  t.same(published.slice(1), [{ topic: networkTopic('blue'), records: 10 }], 'then the ten in one message');
});

t.test(
  'a network\u2019s topic takes only its own network\u2019s records; unsubscribing drops its validator',
  async (t) => {
    const { validate, stats, gossip, subscribed } = setup();
    const blueTopic = networkTopic('blue');
    t.equal(
      validate(blueTopic, encodeTableMessageV2([await endpoint('blue', 'ok')], false)),
      TopicValidatorResult.Accept,
    );
    t.equal(
      validate(blueTopic, encodeTableMessageV2([await endpoint('blue', 'x'), await endpoint('red', 'y')], false)),
      TopicValidatorResult.Reject,
      'a batch with a record of red on blue\u2019s topic: rejected',
    );
    t.equal(stats.dropped['wrong-topic'], 1, 'counted as wrong-topic');
    t.equal(
      validate(blueTopic, encodeTableMessageV2([await definition('blue')], false)),
      TopicValidatorResult.Reject,
      'a definition is not for a network topic either',
    );
    gossip.unsubscribeNetwork('blue');
    t.notOk(subscribed.has(blueTopic), 'left');
  },
);
