/**
 * `vxmesh fdb --cluster`: every live member's kernel-vs-desired report, asked over the cluster's own
 * connections (discovery/queries.ts), in one list. A member that does not answer is listed as such,
 * never skipped; dead and departed members are listed as not asked.
 */
import type { FdbReport } from './diagnostics.js';
import type { MemberView } from './ports.js';

/** How long a member has to answer. */
export const CLUSTER_FDB_TIMEOUT_MS = 5000;

export interface HostFdbReport {
  host: string;
  peerId: string;
  vtep: string;
  state: MemberView['state'];
  /** ok: answered, no drift; drift: answered with drift; no-answer: live but no (valid) answer; not-asked: dead or left. */
  status: 'ok' | 'drift' | 'no-answer' | 'not-asked';
  drift: number;
  reports: FdbReport[];
  error?: string;
  ms?: number;
}

export interface ClusterFdbInputs {
  members: MemberView[];
  local: () => Promise<FdbReport[]>;
  ask: (peerId: string) => Promise<unknown>;
}

export async function clusterFdb(inp: ClusterFdbInputs): Promise<HostFdbReport[]> {
  const rows = await Promise.all(
    inp.members.map(async (m): Promise<HostFdbReport> => {
      const base = { host: m.name, peerId: m.peerId, vtep: m.vtep, state: m.state };
      if (!m.self && m.state !== 'alive' && m.state !== 'suspect')
        return { ...base, status: 'not-asked', drift: 0, reports: [] };
      const t0 = performance.now();
      try {
        const reports = m.self ? await inp.local() : checkFdbReports(await inp.ask(m.peerId));
        const drift = reports.reduce((n, r) => n + r.drift, 0);
        return { ...base, status: drift > 0 ? 'drift' : 'ok', drift, reports, ms: Math.round(performance.now() - t0) };
      } catch (e) {
        return {
          ...base,
          status: 'no-answer',
          drift: 0,
          reports: [],
          error: (e as Error).message,
          ms: Math.round(performance.now() - t0),
        };
      }
    }),
  );
  return rows.sort((a, b) => a.host.localeCompare(b.host));
}

/** Whether the cluster passes `--check`: every live member answered without drift. */
export const clusterClean = (rows: HostFdbReport[]): boolean =>
  rows.every((r) => r.status === 'ok' || r.status === 'not-asked');

/** Another member's answer, checked before it is shown: an array of reports with numbers where numbers go. */
export function checkFdbReports(v: unknown): FdbReport[] {
  if (!Array.isArray(v)) throw new Error('answer is not a list of reports');
  return v.map((r: unknown, i) => {
    const o = r as Partial<FdbReport> | null;
    if (
      o === null ||
      typeof o !== 'object' ||
      typeof o.network !== 'string' ||
      typeof o.vni !== 'number' ||
      typeof o.netns !== 'string' ||
      typeof o.drift !== 'number' ||
      !Array.isArray(o.rows)
    ) {
      throw new Error(`answer report ${i} is malformed (network, vni, netns, drift, rows)`);
    }
    for (const [j, x] of o.rows.entries()) {
      if (
        x === null ||
        typeof x !== 'object' ||
        typeof x.status !== 'string' ||
        typeof x.table !== 'string' ||
        typeof x.mac !== 'string'
      )
        throw new Error(`answer report ${i} row ${j} is malformed`);
    }
    return o as FdbReport;
  });
}
