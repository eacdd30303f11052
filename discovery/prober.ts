/**
 * SWIM probes: one member per interval in a shuffled round, a direct ping, then indirect probes
 * through k other members (and a second direct try), suspicion on silence. A probe that failed while
 * this process stalled proves nothing and is dropped. Also serves indirect probes for others.
 *
 * Members of this release are probed over UDP (udp-probe.ts: no connection needed); members of the
 * previous release (no `proto` in their member info) with a libp2p ping and the probe stream, which
 * this agent also serves for them.
 */
import { lpStream } from '@libp2p/utils';
import type { Stream } from '@libp2p/interface';
import { dialTarget, shuffle, type DiscoveryContext } from './context.js';
import { LagMonitor } from './lag-monitor.js';
import type { Member } from './membership.js';
import type { VxmeshLibp2p } from './node.js';
import type { UdpProbe } from './udp-probe.js';
import {
  PROTOCOL_PROBE,
  PROTO_UDP_PROBES,
  decodeProbeReply,
  decodeProbeRequest,
  encode,
  type MemberMessage,
} from './wire.js';

const speaksUdp = (m: Pick<Member, 'proto'> | undefined): boolean => (m?.proto ?? 1) >= PROTO_UDP_PROBES;

export class Prober {
  private order: string[] = [];
  /** Every member the current round has or had in its order. */
  private round = new Set<string>();
  private readonly probing = new Set<string>();
  private readonly lag: LagMonitor;

  constructor(
    private readonly ctx: DiscoveryContext,
    private readonly publishMember: (m: MemberMessage) => void,
    private readonly udp: UdpProbe,
  ) {
    this.lag = new LagMonitor(ctx.timers.probeTimeoutMs / 2);
  }

  async attach(node: VxmeshLibp2p): Promise<void> {
    await node.handle(PROTOCOL_PROBE, (stream) => void this.serve(stream).catch(() => undefined));
  }

  /**
   * The next member of the round (a new shuffled round when one ends). A member that joined during
   * the round is put at a random place in what is left of it, as memberlist does: otherwise a host
   * that rejoined is not probed, and its crash not noticed, until every other member's round ends.
   */
  async probeNext(): Promise<void> {
    const live = this.ctx.membership.others().map((m) => m.peerId);
    if (this.order.length === 0) {
      this.order = shuffle(live);
      this.round = new Set(this.order);
    } else {
      for (const peerId of live) {
        if (this.round.has(peerId)) continue;
        this.round.add(peerId);
        this.order.splice(Math.floor(Math.random() * (this.order.length + 1)), 0, peerId);
      }
    }
    const target = this.order.shift();
    if (target !== undefined && this.ctx.membership.isLive(target)) await this.probe(target);
  }

  private async pingOnce(m: Pick<Member, 'peerId' | 'addrs'>, timeoutMs: number): Promise<boolean> {
    if (speaksUdp(this.ctx.membership.get(m.peerId))) return this.udp.ping(m, timeoutMs);
    const node = this.ctx.node();
    if (!node) return false;
    try {
      await node.services.ping.ping(dialTarget(m) as Parameters<VxmeshLibp2p['services']['ping']['ping']>[0], {
        signal: AbortSignal.timeout(timeoutMs),
      });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Lifeguard's local health (memberlist's "awareness"), 0 to 8: raised when a probe of ours fails or
   * we must refute a suspicion about ourselves, lowered by each probe that succeeds. Probe timeouts are
   * multiplied by (1 + health): a host too loaded to answer in time is also slow to hear answers, and
   * must not accuse healthy members (with 50 agents on 2 cores, a storm of false suspicions otherwise).
   */
  private health = 0;

  get localHealth(): number {
    return this.health;
  }

  /** We had to refute a suspicion about ourselves: our own answers are late. */
  noteRefuted(): void {
    this.health = Math.min(8, this.health + 1);
  }

  /** One SWIM probe: direct ping, then indirect through k members; suspect on silence. */
  async probe(peerId: string): Promise<boolean> {
    const { membership, timers, stats } = this.ctx;
    const m = membership.get(peerId);
    if (!m || this.probing.has(peerId) || !this.ctx.node()) return true;
    this.probing.add(peerId);
    this.lag.begin();
    const started = performance.now();
    const scale = 1 + this.health;
    try {
      stats.probes++;
      if (await this.pingOnce(m, timers.probeTimeoutMs * scale)) {
        membership.ack(peerId);
        this.health = Math.max(0, this.health - 1);
        return true;
      }
      const helpers = shuffle(membership.others(['alive']).filter((x) => x.peerId !== peerId)).slice(
        0,
        timers.indirectChecks,
      );
      const indirectTimeout = Math.max(200, timers.probeIntervalMs - timers.probeTimeoutMs) * scale;
      const results = await Promise.all([
        ...helpers.map((h) => this.indirectProbe(h, m, indirectTimeout)),
        // Keep trying directly meanwhile (a reconnect may succeed).
        this.pingOnce(m, indirectTimeout),
      ]);
      if (results.some(Boolean)) {
        membership.ack(peerId);
        this.health = Math.max(0, this.health - 1);
        return true;
      }
      if (this.lag.stalledSince(started)) {
        this.ctx.log.debug({ peerId }, 'probe inconclusive: this process stalled during it');
        return true;
      }
      stats.probeFailures++;
      this.health = Math.min(8, this.health + 1);
      const now = membership.get(peerId);
      if (now && (now.state === 'alive' || now.state === 'suspect')) {
        if (membership.suspect(peerId, now.incarnation, this.ctx.peerId)) {
          this.ctx.log.info({ member: now.name, peerId }, 'probe failed: suspect');
          this.publishMember({ v: 1, t: 'suspect', peerId, incarnation: now.incarnation, from: this.ctx.peerId });
        }
      }
      return false;
    } finally {
      this.lag.end();
      this.probing.delete(peerId);
    }
  }

  private async indirectProbe(helper: Member, target: Member, timeoutMs: number): Promise<boolean> {
    this.ctx.stats.indirectProbes++;
    if (speaksUdp(helper) && speaksUdp(target)) return this.udp.pingReq(helper, target, timeoutMs);
    const node = this.ctx.node();
    if (!node) return false;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const stream = await node.dialProtocol(dialTarget(helper), PROTOCOL_PROBE, { signal });
      const lp = lpStream(stream, { maxDataLength: 64 * 1024 });
      await lp.write(encode({ v: 1, t: 'probe-req', target: target.peerId, addrs: target.addrs }), { signal });
      const reply = decodeProbeReply((await lp.read({ signal })).subarray());
      await stream.close().catch(() => undefined);
      return reply.ok;
    } catch {
      return false;
    }
  }

  private async serve(stream: Stream): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: 64 * 1024 });
    const signal = AbortSignal.timeout(this.ctx.timers.probeIntervalMs * 2);
    const req = decodeProbeRequest((await lp.read({ signal })).subarray());
    const ok = await this.pingOnce({ peerId: req.target, addrs: req.addrs }, this.ctx.timers.probeTimeoutMs);
    await lp.write(encode({ v: 1, t: 'probe-reply', ok }), { signal });
    await stream.close().catch(() => undefined);
  }

  stop(): void {
    this.lag.stop();
  }
}
