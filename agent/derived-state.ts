/**
 * What this host derives from the cluster, in one place: each member's status as an owner of
 * endpoints (owners.ts), which endpoint records may be programmed at all (claims.ts), who holds each
 * name (names.ts), the desired remote entries per network (desired.ts), and the endpoint rows
 * `vxmesh endpoints`, DNS and metrics read. Reads have no side effects: nothing is logged or counted
 * here (change-report.ts does that where changes are detected); what does not change between two
 * reads is remembered, keyed by the cluster's change counters.
 */
import { Admissions } from './admissions.js';
import type { Admission, Refusal } from './claims.js';
import { desiredRemotes, RemoteMemo, type DesiredState } from './desired.js';
import { stepDesired } from './desired-step.js';
import { endpointRows, type EndpointRow } from './endpoint-list.js';
import { nameConflicts, type NameConflict } from './names.js';
import { isProgrammed, ownerStatuses, type OwnerStatus, type VtepWatchView } from './owners.js';
import type { ClusterReader } from './ports.js';

/** The store's address holders as last read (store-mirror.ts), with a counter that moves on every read. */
export interface StoreHolders {
  readonly holdersVersion: number;
  leaves(network: string, ip: string, owner: string): boolean;
}

export interface DerivedStateInputs {
  cluster: ClusterReader;
  /** This host's VTEP: a record pointing at it is never remote. */
  vtep: string;
  /** Whether a gone or suspect member's VTEP answers (hold.ts). */
  hold: VtepWatchView;
  /** This host's endpoints (their MAC and IP win over any remote claim). */
  localEndpoints(): ReadonlyArray<{ network: string; mac: string; ip?: string; ip6?: string }>;
  /** With a store: who holds each address there. */
  store?: StoreHolders;
}

export class DerivedState {
  private readonly admissions = new Admissions();
  private names?: { records: unknown; members: number; conflicts: NameConflict[] };
  private readonly remotes = new RemoteMemo();
  private vteps?: { version: number; signature: string };
  /** The last desired state, with the admission and the rest of what it was computed from. */
  private lastDesired?: { admission: Admission; inputs: string; state: DesiredState };

  /** Desired states taken by a step from the last one, and computed in full (tests, diagnostics). */
  readonly counts = { stepped: 0, full: 0 };

  constructor(private readonly inputs: DerivedStateInputs) {}

  /** Each member's status as an owner of endpoints (live, withdrawn, held, suspended, vtep-conflict). */
  owners(): Map<string, OwnerStatus> {
    return ownerStatuses(this.inputs.cluster.members(), this.inputs.hold);
  }

  /**
   * Endpoint records that may be programmed at all (VTEP, address claim, MAC), and the refused. The
   * same table version and context (claims, members, store read) give the same result object.
   */
  admission(): Admission {
    const { cluster, store } = this.inputs;
    const v = cluster.versions();
    // Members count only through their VTEPs: a member's state changing (suspect, dead, back) does not
    // make every record be checked again (a cluster with flapping members and many records did).
    const context = `${v.claims}/${this.vtepsSignature(v.members)}/${store?.holdersVersion ?? '-'}`;
    return this.admissions.admit(cluster.endpointRecords(), context, () => {
      const vteps = new Map(cluster.members().map((m) => [m.peerId, m.vtep]));
      return {
        claims: cluster.ipamBlocks(),
        vtepOf: (p) => vteps.get(p),
        storeHolds: store ? (network, ip, owner) => store.leaves(network, ip, owner) : undefined,
      };
    });
  }

  /** Each member's VTEP, as one string (recomputed when the members' counter moves). */
  private vtepsSignature(membersVersion: number): string {
    if (this.vteps?.version !== membersVersion) {
      const pairs = this.inputs.cluster.members().map((m) => `${m.peerId}=${m.vtep}`);
      this.vteps = { version: membersVersion, signature: pairs.sort().join(',') };
    }
    return this.vteps.signature;
  }

  /** Per network, the remote endpoints that belong in the kernel, and those a local endpoint keeps out. */
  desired(): DesiredState {
    const owners = this.owners();
    const { cluster } = this.inputs;
    const encrypted = new Set(
      cluster
        .networkRecords()
        .filter((r) => r.value.encrypted === true)
        .map((r) => r.value.name),
    );
    const admission = this.admission();
    const local = this.inputs.localEndpoints();
    // Everything else the result depends on, small beside the records (members, networks, local
    // endpoints): the same admission and the same of these give the same state (one read per change
    // by the reconcile loop, another by DNS, rows and metrics).
    const inputs = JSON.stringify([
      cluster.members().map((m) => [m.peerId, owners.get(m.peerId), m.tunnel]),
      [...encrypted],
      local.map((e) => [e.network, e.mac, e.ip, e.ip6]),
    ]);
    const last = this.lastDesired;
    if (last?.admission === admission && last.inputs === inputs) return last.state;
    const input = {
      encrypted: (n: string) => encrypted.has(n),
      tunnelOf: (p: string) => cluster.member(p)?.tunnel,
      self: this.inputs.cluster.peerId,
      selfVtep: this.inputs.vtep,
      local,
      programmed: (p: string) => isProgrammed(owners.get(p)),
      remotes: this.remotes,
    };
    // A few records admitted or no longer since the last state, nothing else changed: only those (desired-step.ts).
    const stepped =
      last !== undefined && last.inputs === inputs && admission.step && admission.step.from === last.admission.serial
        ? stepDesired(last.state, admission.step, input, this.remotes)
        : undefined;
    if (stepped) this.counts.stepped++;
    else this.counts.full++;
    const state = stepped ?? desiredRemotes({ ...input, endpoints: admission.admitted });
    this.lastDesired = { admission, inputs, state };
    return state;
  }

  /**
   * The refusals this host reports: other owners' refused records, and records a local endpoint keeps
   * out ('local-conflict'). `desired`: a desired state just computed, to spare computing it again.
   */
  refusals(desired: DesiredState = this.desired()): { refused: Refusal[]; local: Refusal[] } {
    return {
      refused: this.admission().refused,
      local: desired.conflicts.map((c) => ({ ...c, reason: 'local-conflict' as const })),
    };
  }

  /**
   * Endpoints whose name another endpoint of a live owner holds (names.ts). Only admitted endpoints
   * hold names: a record the claims rule refused takes no name from the endpoint that has it.
   */
  nameConflicts(): NameConflict[] {
    const { cluster } = this.inputs;
    const admission = this.admission();
    const members = cluster.versions().members;
    if (this.names?.records !== admission || this.names.members !== members) {
      const live = new Set(
        cluster
          .members()
          .filter((m) => m.state === 'alive' || m.state === 'suspect')
          .map((m) => m.peerId),
      );
      const conflicts = nameConflicts(admission.admitted, (p) => p === cluster.peerId || live.has(p));
      this.names = { records: admission, members, conflicts };
    }
    return this.names.conflicts;
  }

  /**
   * Rows of `vxmesh endpoints` (of one network). `named`: only endpoints with a name or aliases (what
   * DNS needs: cheap with many unnamed records). A refused record's reason comes from the admission
   * (by entry, nothing rebuilt per read), a local conflict's from the desired state.
   */
  endpointRows(network?: string, named = false): EndpointRow[] {
    const entries = this.inputs.cluster
      .endpointRecords()
      .filter(
        (r) =>
          (network === undefined || r.value.network === network) &&
          (!named || r.value.name !== undefined || (r.value.aliases?.length ?? 0) > 0),
      );
    const { refusalOf } = this.admission();
    const local = new Map(this.refusals().local.map((r) => [`${r.owner}/${r.network}/${r.id}`, r.reason]));
    return endpointRows(
      entries,
      this.inputs.cluster.peerId,
      this.owners(),
      (r) => refusalOf.get(r)?.reason ?? local.get(`${r.owner}/${r.value.network}/${r.value.id}`),
      this.nameConflicts(),
    );
  }
}
