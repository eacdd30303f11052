/**
 * This member's own record writes: each record checked, versioned in the table, signed in both
 * formats (the JSON one for members of the previous release, the compact body for the rest), queued
 * for gossip and persisted. A record written again unchanged after a restart keeps its version
 * (previous-life.ts), so its rank (claims, MACs) stays.
 */
import type { PrivateKey } from '@libp2p/interface';
import {
  checkEndpointValue,
  checkIpamBlockValue,
  checkNetworkValue,
  type EndpointValue,
  type IpamBlockValue,
  type NetworkValue,
  type RecordKind,
  type RecordValue,
} from '../core/records.js';
import {
  checkConnectionValue,
  checkPolicyValue,
  connectionKey,
  policyKey,
  type ConnectionValue,
  type PolicyValue,
} from '../core/policy-records.js';
import type { Gossip } from './gossip.js';
import type { Persistence } from './persistence.js';
import type { PreviousLife } from './previous-life.js';
import { encodeBody, signBody } from './record-codec.js';
import { signRecord } from './record-signing.js';
import { toWire, type ReplicatedTable, type TableRecord } from './table.js';

export interface OwnWritesParts {
  peerId: string;
  privateKey: PrivateKey;
  table: ReplicatedTable;
  previousLife: PreviousLife;
  gossip: Pick<Gossip, 'enqueue'>;
  persistence: Pick<Persistence, 'schedule'>;
  /** The table changed: views are built again when next read. */
  invalidate(): void;
  /** The table changed: a change event scheduled (views invalidated too). */
  changed(): void;
}

export class OwnWrites {
  constructor(private readonly p: OwnWritesParts) {}

  async write(kind: RecordKind, key: string, value: RecordValue | null): Promise<TableRecord> {
    const { p } = this;
    const previous = p.previousLife.take(kind, key, value);
    if (previous) {
      const rec = p.table.restoreOwn(previous);
      p.gossip.enqueue(rec);
      p.changed();
      return rec;
    }
    const rec = p.table.write(kind, key, value);
    p.invalidate();
    const body = encodeBody(rec);
    const [sig, s2] = await Promise.all([
      signRecord(p.privateKey, toWire(rec)),
      signBody(p.privateKey, p.peerId, body),
    ]);
    rec.sig = sig;
    rec.b2 = body;
    rec.s2 = s2;
    p.gossip.enqueue(rec);
    // A definition or a claim goes to disk within 500 ms (a claim's version is its rank after a restart).
    p.persistence.schedule(kind !== 'endpoint');
    p.changed();
    return rec;
  }

  putNetwork(v: NetworkValue): Promise<TableRecord> {
    const checked = checkNetworkValue(v, 'network');
    return this.write('network', checked.name, checked);
  }

  deleteNetwork(name: string): Promise<TableRecord> {
    return this.write('network', name, null);
  }

  putEndpoint(v: EndpointValue): Promise<TableRecord> {
    const checked = checkEndpointValue(v, 'endpoint');
    return this.write('endpoint', `${checked.network}/${checked.id}`, checked);
  }

  deleteEndpoint(network: string, id: string): Promise<TableRecord> {
    return this.write('endpoint', `${network}/${id}`, null);
  }

  /** A connection or a policy rule (shared records: anyone's may be replaced or deleted). */
  putPolicyRecord(kind: 'connection' | 'policy', v: ConnectionValue | PolicyValue | null, key?: string) {
    if (v === null) return this.write(kind, key ?? '', null);
    const checked = kind === 'connection' ? checkConnectionValue(v, 'connection') : checkPolicyValue(v, 'policy');
    return this.write(
      kind,
      kind === 'connection' ? connectionKey(checked as ConnectionValue) : policyKey(checked as PolicyValue),
      checked,
    );
  }

  putIpamBlock(v: IpamBlockValue): Promise<TableRecord> {
    const checked = checkIpamBlockValue(v, 'block');
    return this.write('ipam-block', `${checked.network}/${checked.block}`, checked);
  }

  deleteIpamBlock(network: string, block: string): Promise<TableRecord> {
    return this.write('ipam-block', `${network}/${block}`, null);
  }
}
