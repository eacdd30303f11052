/**
 * SWIM probes over UDP on the gossip port (packets: probe-packets.ts): a ping answered by an ack,
 * and a ping-req that asks a helper to ping a target and pass the ack on. No connection is needed to
 * probe a member, so each agent keeps a few connections (for gossipsub's mesh) however large the
 * cluster is, as memberlist does.
 */
import dgram from 'node:dgram';
import type { PrivateKey } from '@libp2p/interface';
import { countDrop, type DiscoveryContext } from './context.js';
import { parseHostPort, type HostPort } from './node.js';
import { ProbeFreshness, decodeProbePacket, encodeProbePacket, type ProbePacket } from './probe-packets.js';
import { PROTO_SIGNED_MEMBERS, WireError } from './wire.js';

interface Pending {
  /** Who may answer this sequence number: the target, or the helper asked to probe it. */
  from: string;
  done: (ok: boolean) => void;
}

export interface ProbeTarget {
  peerId: string;
  addrs: string[];
}

export class UdpProbe {
  private socket?: dgram.Socket;
  private seq = Math.floor(Math.random() * 2 ** 30);
  private readonly pending = new Map<number, Pending>();
  private readonly freshness = new ProbeFreshness();

  constructor(
    private readonly ctx: DiscoveryContext,
    private readonly privateKey: PrivateKey,
    private readonly listen: HostPort,
    /** The cluster key packets are tagged with, and the keys accepted (during a key change). */
    private readonly keys: { send?: Uint8Array; accept: Uint8Array[] },
  ) {}

  async start(): Promise<void> {
    const socket = dgram.createSocket({ type: this.listen.host.includes(':') ? 'udp6' : 'udp4', reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.listen.port, this.listen.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', (e) => this.ctx.log.warn({ err: e.message }, 'probe socket error'));
    socket.on(
      'message',
      (msg, rinfo) =>
        void this.receive(msg, rinfo).catch((e: unknown) =>
          this.ctx.log.debug({ err: String(e) }, 'probe packet failed'),
        ),
    );
    this.socket = socket;
  }

  /** Direct probe: true if the member acked within `timeoutMs`. */
  ping(target: ProbeTarget, timeoutMs: number): Promise<boolean> {
    return this.ask(target.peerId, target.addrs, timeoutMs, (seq) => ({
      type: 'ping',
      seq,
      from: this.ctx.peerId,
      to: target.peerId,
    }));
  }

  /** Indirect probe through `helper`: true if the helper reports an ack of `target` within `timeoutMs`. */
  pingReq(helper: ProbeTarget, target: ProbeTarget, timeoutMs: number): Promise<boolean> {
    const targetAddr = target.addrs[0];
    if (targetAddr === undefined) return Promise.resolve(false);
    return this.ask(helper.peerId, helper.addrs, timeoutMs, (seq) => ({
      type: 'ping-req',
      seq,
      from: this.ctx.peerId,
      to: helper.peerId,
      target: target.peerId,
      targetAddr,
    }));
  }

  private ask(
    expectFrom: string,
    addrs: string[],
    timeoutMs: number,
    packet: (seq: number) => ProbePacket,
  ): Promise<boolean> {
    const seq = (this.seq = (this.seq + 1) % 2 ** 31);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => finish(false), timeoutMs);
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        this.pending.delete(seq);
        resolve(ok);
      };
      this.pending.set(seq, { from: expectFrom, done: finish });
      void this.sendTo(addrs, packet(seq));
    });
  }

  /**
   * `stamped`: with our clock (version 2); by default unless the receiver is of generation 2 (it reads
   * version 1 only). An answer goes in the version of the question.
   */
  private async sendTo(
    addrs: string[],
    p: ProbePacket,
    stamped = (this.ctx.membership.get(p.to)?.proto ?? PROTO_SIGNED_MEMBERS) >= PROTO_SIGNED_MEMBERS,
  ): Promise<void> {
    const socket = this.socket;
    if (!socket) return;
    const bytes = await encodeProbePacket(
      stamped ? { ...p, at: this.freshness.now() } : p,
      this.privateKey,
      this.keys.send,
    );
    for (const a of addrs) {
      let hp: HostPort;
      try {
        hp = parseHostPort(a, 'addrs');
      } catch {
        continue;
      }
      socket.send(
        bytes,
        hp.port,
        hp.host,
        (e) => e && this.ctx.log.debug({ to: a, err: e.message }, 'probe send failed'),
      );
    }
  }

  private async receive(msg: Buffer, rinfo: dgram.RemoteInfo): Promise<void> {
    let p: ProbePacket;
    try {
      p = await decodeProbePacket(msg, this.keys.accept, this.freshness);
    } catch (e) {
      if (e instanceof WireError) countDrop(this.ctx, 'probe-refused', `${rinfo.address}:${rinfo.port}: ${e.message}`);
      return;
    }
    // Unstamped (version 1) only from a member known to be of generation 2: a member of this
    // generation stamps every packet, so its captured packets cannot be replayed as version 1.
    if (p.at === undefined && (this.ctx.membership.get(p.from)?.proto ?? 1) >= PROTO_SIGNED_MEMBERS) {
      countDrop(this.ctx, 'probe-refused', `${p.from}: unstamped packet from a member that stamps its packets`);
      return;
    }
    // A packet for another identity (an earlier life of this host) gets no answer.
    if (p.to !== this.ctx.peerId) return;
    const back = [`${rinfo.family === 'IPv6' ? `[${rinfo.address}]` : rinfo.address}:${rinfo.port}`];
    switch (p.type) {
      case 'ping':
        await this.sendTo(back, { type: 'ack', seq: p.seq, from: this.ctx.peerId, to: p.from }, p.at !== undefined);
        break;
      case 'ack': {
        const w = this.pending.get(p.seq);
        if (w && w.from === p.from) w.done(true);
        break;
      }
      case 'ping-req': {
        // Only a live member may ask, and only for a member at an address that member announced:
        // a key holder cannot make the helper probe any host:port.
        const target = this.ctx.membership.get(p.target);
        if (!this.ctx.membership.isLive(p.from) || !target?.addrs.includes(p.targetAddr)) {
          countDrop(this.ctx, 'probe-refused', `ping-req from ${p.from} for ${p.target} at ${p.targetAddr}`);
          break;
        }
        this.ctx.stats.indirectProbes++;
        const ok = await this.ping({ peerId: p.target, addrs: [p.targetAddr] }, this.ctx.timers.probeTimeoutMs);
        if (ok)
          await this.sendTo(back, { type: 'ack', seq: p.seq, from: this.ctx.peerId, to: p.from }, p.at !== undefined);
        break;
      }
    }
  }

  stop(): void {
    for (const w of this.pending.values()) w.done(false);
    this.socket?.close();
    this.socket = undefined;
  }
}
