/**
 * What a membership change sets off: a refutation is announced, a member's new state logged, a
 * death we saw first gossiped, connections to the dead hung up and new members welcomed.
 */
import { peerIdFromString } from '@libp2p/peer-id';
import type { Logger } from '../core/logger.js';
import type { Connections } from './connections.js';
import type { Gossip } from './gossip.js';
import type { MembershipEvent } from './membership.js';
import type { VxmeshLibp2p } from './node.js';
import type { Persistence } from './persistence.js';
import type { Prober } from './prober.js';
import type { MemberInfo } from './wire.js';

export interface MemberEventParts {
  log: Logger;
  peerId: string;
  prober: Pick<Prober, 'noteRefuted'>;
  gossip: Pick<Gossip, 'publishMember'>;
  persistence: Pick<Persistence, 'schedule'>;
  connections: Pick<Connections, 'welcome'>;
  node(): VxmeshLibp2p | undefined;
  selfInfo(): MemberInfo;
  /** A member changed state (views and listeners). */
  changed(): void;
}

export function memberEventHandler(p: MemberEventParts): (e: MembershipEvent) => void {
  return (e) => {
    if (e.type === 'refute') {
      p.prober.noteRefuted();
      p.log.info({ incarnation: e.incarnation }, 'refuting suspicion about this member');
      p.gossip.publishMember({ v: 1, t: 'alive', member: p.selfInfo() });
      p.persistence.schedule();
      return;
    }
    if (e.type === 'nets') return;
    const m = e.member;
    p.log.info(
      { member: m.name, peerId: m.peerId, state: m.state, previous: e.previous ?? null, incarnation: m.incarnation },
      'member state',
    );
    if (m.state === 'dead' && e.previous === 'suspect')
      p.gossip.publishMember({ v: 1, t: 'dead', peerId: m.peerId, incarnation: m.incarnation, from: p.peerId });
    // Without connection keep-alives, a connection to a dead host would linger in gossipsub's mesh.
    if (m.state === 'dead' || m.state === 'left')
      void p
        .node()
        ?.hangUp(peerIdFromString(m.peerId))
        .catch(() => undefined);
    if (m.state === 'alive' && (e.previous === 'dead' || e.previous === 'left' || e.previous === undefined))
      void p.connections.welcome(m);
    // The live members' addresses are remembered (a restart rejoins through them: persistence.ts).
    if (m.state !== 'suspect' && e.previous !== 'suspect') p.persistence.schedule();
    p.changed();
  };
}
