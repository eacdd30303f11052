/** `vxmesh status`: this agent on one screen (agent/status-report.ts). */
import type { StatusReport } from '../../agent/status-report.js';
import { apiRequest } from '../admin-client.js';
import { formatTable } from '../table-format.js';
import { parseFlags, UsageError, type Command } from '../support.js';
import { CLIENT_FLAGS, CLIENT_HELP, socketOf } from './common.js';

const usage = `Usage: vxmesh status

This agent on one screen: version, name, VTEP, the underlay device and its MTU, the overlay MTU,
members by state, whether the first sync is done, the networks with local endpoints (MODE, DRIFT:
differences from the desired state, as "vxmesh fdb NET --check" counts them), the last reconcile's
duration, and warnings: members of an older release or another version, suspect members, drift,
WireGuard failures, no sync yet, ARP table thresholds below what the cluster needs, a tool missing for
what is switched on, Docker swarm using the same VXLAN port.

Options:
${CLIENT_HELP}`;

/** The screen for a report (pure). */
export function renderStatus(r: StatusReport): string {
  const m = r.membersByState;
  const lines = [
    `vxmesh ${r.version}  ${r.name}  VTEP ${r.vtep}  ${r.underlay ? `underlay ${r.underlay.dev} MTU ${r.underlay.mtu}` : 'underlay unknown'}  overlay MTU ${r.overlayMtu}  peer ${r.peerId.slice(-8)}`,
    `members: ${m.alive} alive, ${m.suspect} suspect, ${m.dead} dead, ${m.left} left; first sync ${r.initialSyncDone ? 'done' : 'not yet'}`,
    `local endpoints: ${r.localEndpoints}; last reconcile ${r.lastReconcileMs} ms`,
  ];
  if (r.networks.length)
    lines.push(
      '',
      formatTable(
        ['NETWORK', 'VNI', 'MODE', 'DRIFT'],
        r.networks.map((n) => [n.name, String(n.vni), n.encrypted ? 'encrypted' : 'plain', String(n.drift)]),
      ),
    );
  lines.push('', r.warnings.length ? `warnings:\n${r.warnings.map((w) => `  - ${w}`).join('\n')}` : 'no warnings');
  return lines.join('\n');
}

export const statusCommand: Command = {
  name: 'status',
  usage,
  async run(ctx) {
    const { values, positionals } = parseFlags(ctx.argv, CLIENT_FLAGS);
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const r = await apiRequest<StatusReport>(socketOf(values), 'GET', '/v1/status');
    ctx.out(values.json ? JSON.stringify(r, null, 2) : renderStatus(r));
    return 0;
  },
};
