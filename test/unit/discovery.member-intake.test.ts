/**
 * Member statements (discovery/member-statement.ts) and their intake (discovery/member-intake.ts):
 * what one key holder can make other hosts believe about a member through a sync frame.
 */
import t from 'tap';
import { encode as cborEncode } from 'cborg';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { PrivateKey } from '@libp2p/interface';
import { silentLogger } from '../../core/logger.js';
import { emptyStats, type DiscoveryContext } from '../../discovery/context.js';
import { MemberIntake, NEWCOMERS_BURST, NEWCOMERS_PER_S } from '../../discovery/member-intake.js';
import { signStatement, verifyStatement } from '../../discovery/member-statement.js';
import { signEd25519 } from '../../discovery/ed25519.js';
import { Membership } from '../../discovery/membership.js';
import { PROTO_VERSION, checkMemberInfo, toJson, type MemberInfo } from '../../discovery/wire.js';

const clock = { now: () => 0, setTimer: () => ({ cancel: () => undefined }) };
const keyed = async (name: string, vtep: string, incarnation = 1_800_000_000) => {
  const key = await generateKeyPair('Ed25519');
  const info: MemberInfo = {
    peerId: peerIdFromPrivateKey(key).toString(),
    name,
    vtep,
    addrs: [`${vtep}:7946`],
    incarnation,
    proto: PROTO_VERSION,
  };
  return {
    key,
    info,
    signed: (over: Partial<MemberInfo> = {}, left = false) => signedInfo(key, { ...info, ...over }, left),
  };
};
const signedInfo = (key: PrivateKey, info: MemberInfo, left = false): MemberInfo => ({
  ...info,
  signed: signStatement(key, info, left),
});

async function setup() {
  const self = await keyed('self', '198.51.100.10');
  const victim = await keyed('victim', '198.51.100.11');
  const rogue = await keyed('rogue', '198.51.100.12');
  const membership = new Membership(self.info, undefined, clock);
  const stats = emptyStats();
  let now = 0;
  const ctx = { peerId: self.info.peerId, membership, stats, log: silentLogger } as unknown as DiscoveryContext;
  const intake = new MemberIntake(ctx, () => now);
  intake.alive(victim.signed(), victim.info.peerId);
  intake.alive(rogue.signed(), rogue.info.peerId);
  return { self, victim, rogue, membership, stats, intake, advance: (ms: number) => (now += ms) };
}

t.test('a statement round-trips through JSON and checks; a changed byte or another signer does not', async (t) => {
  const a = await keyed('a', '198.51.100.1');
  const info = a.signed();
  const back = checkMemberInfo(JSON.parse(toJson(info)));
  const st = verifyStatement(back.signed!, a.info.peerId);
  t.same({ ...st }, { ...a.info, left: false });
  const tampered = { b: Uint8Array.from(back.signed!.b), s: back.signed!.s };
  tampered.b[tampered.b.length - 1] ^= 1;
  t.throws(() => verifyStatement(tampered, a.info.peerId), /member\.signed/);
  const other = await keyed('b', '198.51.100.2');
  t.throws(() => verifyStatement(back.signed!, other.info.peerId), /peerId/, 'carried as another member: refused');
});

t.test('a field of a newer build (key 40) is kept in the bytes and the statement still checks', async (t) => {
  const a = await keyed('a', '198.51.100.1');
  const body = cborEncode(
    new Map<number, unknown>([
      [1, a.info.peerId],
      [2, 'a'],
      [3, '198.51.100.1'],
      [4, ['198.51.100.1:7946']],
      [5, 7],
      [40, 'from the future'],
    ]),
  );
  const s = signEd25519(a.key, Buffer.concat([Buffer.from('vxmesh-member/1\u0000'), body]));
  t.equal(verifyStatement({ b: body, s }, a.info.peerId).incarnation, 7);
});

t.test('a sync frame cannot mark a member left, or change what it said, without its signature', async (t) => {
  const { victim, rogue, membership, intake } = await setup();
  const inc = victim.info.incarnation;
  // Unsigned, from a member of this generation (the rogue): left; a new VTEP, name, addresses at inc + 1.
  intake.learnFrom(rogue.info.peerId, [{ ...victim.info, state: 'left' }]);
  t.equal(membership.get(victim.info.peerId)?.state, 'alive', 'not left');
  intake.learnFrom(rogue.info.peerId, [
    {
      ...victim.info,
      vtep: '198.51.100.99',
      name: 'x',
      addrs: ['203.0.113.9:7946'],
      incarnation: inc + 1,
      state: 'alive',
    },
  ]);
  const v = membership.get(victim.info.peerId)!;
  t.same([v.vtep, v.name, v.addrs, v.incarnation], ['198.51.100.11', 'victim', ['198.51.100.11:7946'], inc]);
  // The victim's own (genuine) statement, with the relay's word "left": alive, the statement rules.
  intake.learnFrom(rogue.info.peerId, [{ ...victim.signed(), state: 'left' }]);
  t.equal(membership.get(victim.info.peerId)?.state, 'alive', "a relay's 'left' over a statement that does not say it");
  // A statement made with the rogue's key but carried as the victim's.
  const forged = {
    ...victim.info,
    incarnation: inc + 5,
    signed: signStatement(rogue.key, { ...victim.info, incarnation: inc + 5 }),
  };
  intake.learnFrom(rogue.info.peerId, [{ ...forged, state: 'alive' }]);
  t.equal(membership.get(victim.info.peerId)?.incarnation, inc, 'a forged statement is refused');
  // What others may still say: suspect/dead at the incarnation the member announced (it refutes).
  intake.learnFrom(rogue.info.peerId, [{ ...victim.info, state: 'dead', incarnation: inc + 100 }]);
  t.equal(membership.get(victim.info.peerId)?.state, 'alive', 'dead above its incarnation: ignored');
  intake.learnFrom(rogue.info.peerId, [{ ...victim.info, state: 'dead' }]);
  t.equal(membership.get(victim.info.peerId)?.state, 'dead', 'dead at its incarnation applies (the member refutes it)');
});

t.test("the member's own statements relayed by anyone apply: a new incarnation, a leave", async (t) => {
  const { victim, rogue, membership, intake } = await setup();
  const inc = victim.info.incarnation;
  intake.learnFrom(rogue.info.peerId, [
    { ...victim.signed({ incarnation: inc + 1, vtep: '198.51.100.21' }), state: 'alive' },
  ]);
  t.same(
    [membership.get(victim.info.peerId)?.vtep, membership.get(victim.info.peerId)?.incarnation],
    ['198.51.100.21', inc + 1],
  );
  intake.learnFrom(rogue.info.peerId, [
    { ...victim.signed({ incarnation: inc + 1, vtep: '198.51.100.21' }, true), state: 'alive' },
  ]);
  t.equal(membership.get(victim.info.peerId)?.state, 'left', 'its signed leave is relayed and applied');
});

t.test('members new to this host: at most a burst per delivering peer, then a rate', async (t) => {
  const { rogue, membership, stats, intake, advance } = await setup();
  const before = membership.list().length;
  const fakes = await Promise.all(
    Array.from({ length: NEWCOMERS_BURST + 50 }, (_, i) => keyed(`f${i}`, '198.51.100.50')),
  );
  intake.learnFrom(
    rogue.info.peerId,
    fakes.map((f) => ({ ...f.signed(), state: 'alive' as const })),
  );
  t.equal(membership.list().length - before, NEWCOMERS_BURST, 'one frame adds at most the burst');
  t.equal(stats.dropped['newcomer-budget'], 50);
  advance(1000);
  intake.learnFrom(
    rogue.info.peerId,
    fakes.slice(NEWCOMERS_BURST).map((f) => ({ ...f.signed(), state: 'alive' as const })),
  );
  t.equal(membership.list().length - before, NEWCOMERS_BURST + NEWCOMERS_PER_S, 'then the rate per second');
});

t.test('rolling upgrade: a previous-release relay (no signatures) still introduces members it knows', async (t) => {
  const { self, membership, intake } = await setup();
  const old = await keyed('old', '198.51.100.30');
  delete old.info.proto;
  intake.alive(old.info, old.info.peerId); // its own gossip (gossipsub signed it): no statement
  const third = await keyed('third', '198.51.100.31');
  intake.learnFrom(old.info.peerId, [{ ...third.info, state: 'alive' }]);
  t.equal(membership.get(third.info.peerId)?.state, 'alive', 'unsigned entry from a previous-release relay: learned');
  t.not(self.info.peerId, third.info.peerId);
});
