/**
 * The kernel side of `vxmesh reset`: finds and removes what an agent made on this host — its overlay
 * namespaces (with the containers' veth pairs and the gateway links in them), its WireGuard interface
 * and wireguard-go, the unreachable route and the encrypted-port drop rule. Only objects that carry an
 * agent's marks are touched: a namespace named `<prefix><vni>` counts only when it holds `vxlan<vni>`;
 * a wireguard-go only when the PID file the agent wrote names a live wireguard-go.
 *
 * Every function takes `dryRun`: then it only reports what it would remove.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { TUNNEL_PREFIX, TUNNEL_PREFIX_LENGTH } from '../core/tunnel-address.js';
import { gatewayHostLinkName, vniFromNetnsName, vxlanName } from './names.js';
import { deleteNetns, listNetns } from './netns.js';
import { encryptedPortRule, wireguardGoPid } from './wireguard.js';

export interface OverlayLeftover {
  netns: string;
  vni: number;
}

const run = (cmd: string, args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> =>
  new Promise((resolve) =>
    execFile(cmd, args, (err, stdout, stderr) => resolve({ ok: !err, stdout: String(stdout), stderr: String(stderr) })),
  );

const linkExists = async (name: string, netns?: string): Promise<boolean> =>
  (await run('ip', [...(netns ? ['-n', netns] : []), '-o', 'link', 'show', 'dev', name])).ok;

/** The overlay namespaces of an agent with this prefix: `<prefix><vni>` holding `vxlan<vni>`. */
export async function overlayLeftovers(prefix: string): Promise<OverlayLeftover[]> {
  const out: OverlayLeftover[] = [];
  for (const netns of listNetns()) {
    const vni = vniFromNetnsName(prefix, netns);
    if (vni !== undefined && (await linkExists(vxlanName(vni), netns))) out.push({ netns, vni });
  }
  return out;
}

/**
 * Removes an overlay namespace: first the host end of its gateway link (`vxg<vni>`, which takes `gw0`
 * with it), so no link of ours lingers while the kernel tears the namespace down, then the namespace
 * (its bridge, VXLAN device and the veth pairs of its containers go with it).
 */
export async function removeOverlay(o: OverlayLeftover, dryRun: boolean): Promise<string[]> {
  const done: string[] = [];
  const gw = gatewayHostLinkName(o.vni);
  if (await linkExists(gw)) {
    if (!dryRun) await run('ip', ['link', 'del', 'dev', gw]);
    done.push(`link ${gw} (gateway link of VNI ${o.vni})`);
  }
  if (!dryRun) deleteNetns(o.netns);
  done.push(`namespace ${o.netns} (VNI ${o.vni}: br0, vxlan${o.vni}, the containers' veth pairs)`);
  return done;
}

export interface WireguardLeftoverSpec {
  ifname: string;
  stateDir: string;
  encryptedPort: number;
}

const isWireguardGo = (pid: number): boolean => {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'wireguard-go';
  } catch {
    return false;
  }
};

async function stopProcess(pid: number): Promise<void> {
  const alive = () => fs.existsSync(`/proc/${pid}`) && isWireguardGo(pid);
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + 5000;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (alive()) process.kill(pid, 'SIGKILL');
}

/**
 * Removes the host's WireGuard interface (and the wireguard-go serving it, by the PID file the agent
 * wrote), every `unreachable` route of the tunnel prefix and every copy of the encrypted-port drop rule.
 */
export async function removeWireguard(spec: WireguardLeftoverSpec, dryRun: boolean): Promise<string[]> {
  const done: string[] = [];
  const pid = wireguardGoPid(spec);
  if (pid !== undefined && isWireguardGo(pid)) {
    if (!dryRun) await stopProcess(pid);
    done.push(`process wireguard-go (PID ${pid}, serving ${spec.ifname})`);
  }
  if (await linkExists(spec.ifname)) {
    if (!dryRun) await run('ip', ['link', 'del', 'dev', spec.ifname]);
    done.push(`link ${spec.ifname} (WireGuard)`);
  }
  const prefix = `${TUNNEL_PREFIX}::/${TUNNEL_PREFIX_LENGTH}`;
  const routes = (await run('ip', ['-6', 'route', 'show', 'type', 'unreachable', prefix])).stdout.trim();
  for (const line of routes ? routes.split('\n') : []) {
    if (!dryRun) await run('ip', ['-6', 'route', 'del', 'unreachable', prefix, ...metricOf(line)]);
    done.push(`route unreachable ${prefix}${metricOf(line).length ? ` metric ${metricOf(line)[1]}` : ''}`);
  }
  const rule = encryptedPortRule(spec.ifname, spec.encryptedPort);
  const listed = await run('ip6tables', ['-w', '-S', 'INPUT']);
  const copies = listed.stdout
    .split('\n')
    .filter(
      (l) =>
        l.includes(`! -i ${spec.ifname} `) && l.includes(`--dport ${spec.encryptedPort} `) && l.endsWith('-j DROP'),
    );
  for (const _ of copies) {
    if (!dryRun) await run('ip6tables', ['-w', '-D', 'INPUT', ...rule]);
    done.push(`ip6tables rule INPUT ${rule.join(' ')}`);
  }
  // wireguard-go's control socket, left when it was killed.
  const sock = path.join('/var/run/wireguard', `${spec.ifname}.sock`);
  if (fs.existsSync(sock)) {
    if (!dryRun) fs.rmSync(sock, { force: true });
    done.push(`file ${sock}`);
  }
  return done;
}

const metricOf = (routeLine: string): string[] => {
  const m = /\bmetric (\d+)/.exec(routeLine);
  return m ? ['metric', m[1] as string] : [];
};
