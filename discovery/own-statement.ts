/**
 * Our own member statement: our member info (with our WireGuard public key and tunnel address) signed
 * with our peer key, signed again when the incarnation changes, and the `left` statement we announce
 * when we leave (member-statement.ts).
 */
import { tunnelAddress } from '../core/tunnel-address.js';
import { vxmeshVersion } from '../core/version.js';
import { clusterKeyId } from './node.js';
import type { PrivateKey } from '@libp2p/interface';
import type { Member } from './membership.js';
import { signStatement, type SignedMember } from './member-statement.js';
import { PROTO_VERSION, type MemberInfo } from './wire.js';

export class OwnStatement {
  /** The incarnation (and interests) our statement was signed at. */
  private signedAt = '';

  constructor(
    private readonly privateKey: PrivateKey,
    private readonly self: Member,
  ) {}

  private fields(): MemberInfo {
    const { peerId, name, vtep, addrs, incarnation, wgKey, tunnel } = this.self;
    const info: MemberInfo = { peerId, name, vtep, addrs, incarnation, proto: PROTO_VERSION };
    if (wgKey !== undefined) info.wgKey = wgKey;
    if (tunnel !== undefined) info.tunnel = tunnel;
    if (this.self.clusterKeys !== undefined) info.clusterKeys = this.self.clusterKeys;
    if (this.self.version !== undefined) info.version = this.self.version;
    if (this.self.nets !== undefined) info.nets = this.self.nets;
    return info;
  }

  /** Our member info with our signed statement of it. */
  info(): MemberInfo {
    const info = this.fields();
    const at = `${info.incarnation}|${info.nets?.join(',') ?? ''}`;
    if (this.signedAt !== at || !this.self.signed) {
      this.self.signed = signStatement(this.privateKey, info);
      this.signedAt = at;
    }
    return { ...info, signed: this.self.signed };
  }

  /** Our statement that we leave, at our current incarnation. */
  leaving(): SignedMember {
    return signStatement(this.privateKey, this.fields(), true);
  }
}

/**
 * Our member info at start: a restarted member must outrank its previous life (incarnation from the
 * clock, or above the persisted one); our WireGuard key and tunnel address; the ids of the cluster keys
 * we hold (the send key first).
 */
export function ownMemberInfo(o: {
  peerId: string;
  name: string;
  vtep: string;
  addrs: string[];
  persistedIncarnation: number;
  wgKey: string;
  keys: Uint8Array[];
}): MemberInfo {
  const info: MemberInfo = {
    peerId: o.peerId,
    name: o.name,
    vtep: o.vtep,
    addrs: o.addrs,
    incarnation: Math.max(Math.floor(Date.now() / 1000), o.persistedIncarnation + 1),
    proto: PROTO_VERSION,
    wgKey: o.wgKey,
    tunnel: tunnelAddress(o.peerId),
    version: vxmeshVersion(),
  };
  if (o.keys.length) info.clusterKeys = [...new Set(o.keys.map(clusterKeyId))].slice(0, 4);
  return info;
}
