/**
 * `vxmesh reset`: removes what the agent of this host made — overlay namespaces (with the containers'
 * veth pairs and gateway links), the DNS keeper, the host's VXMESH-* chains, the WireGuard interface, wireguard-go and
 * its rule and route, the resolv.conf files written for named namespaces, the sockets and the state
 * files — found by the agent's own settings (state directory, namespace prefix, ports), and only those.
 * Refused while the agent answers on its admin socket: a running agent would rebuild everything.
 */
import fs from 'node:fs';
import { isOurs, PLUGIN_DIRS, uninstallLaunchers } from '../cni/install.js';
import http from 'node:http';
import path from 'node:path';
import { DOCKER_PLUGIN_SOCKET_NAME } from '../core/defaults.js';
import { VxmeshError } from '../core/errors.js';
import { overlayLeftovers, removeOverlay, removeWireguard } from '../dataplane/host-reset.js';
import { wireguardIfname } from '../dataplane/wireguard.js';
import { isOurResolvConf, removeResolvConf, NETNS_ETC_DIR } from '../dns/resolv-conf.js';
import { removeHostChains } from '../egress/removal.js';
import { dnsKeeperPid } from '../core/dns-keeper-files.js';
import type { AgentConfig } from './config.js';

export type ResetSettings = Pick<AgentConfig, 'stateDir' | 'socket' | 'netnsPrefix' | 'encryptedPort' | 'pluginDir'>;

export interface ResetReport {
  /** One line per object removed (or, with dryRun, that would be). */
  removed: string[];
  /** What could not be removed, with why. */
  errors: string[];
}

/** The files an agent writes into its state directory (names, or patterns of names). */
const STATE_FILES: RegExp[] = [
  /^agent-state\.json$/,
  /^docker\.json$/,
  /^discovery\.json$/,
  /^table\.json$/,
  /^peer\.key$/,
  /^wireguard\.key$/,
  /^wireguard-[0-9a-f]+\.psk$/,
  /^vxwg[0-9a-z]+\.(log|pid)$/,
  /^dns-keeper\.(log|pid|sock)$/,
  // Atomic writes in flight when the agent died.
  /^(agent-state|docker|discovery|table)\.json\.[0-9a-z.-]*tmp[0-9a-z.-]*$/,
];

export class AgentRunningError extends VxmeshError {
  override name = 'AgentRunningError';
}

/** Whether something serves HTTP on the socket (the agent's admin API or its Docker plugin). */
export function socketAnswers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath, method: 'GET', path: '/v1/status', timeout: 3000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** The named namespaces the agent's endpoints were attached in (for their resolv.conf files). */
function namedNamespacesOf(stateDir: string): string[] {
  try {
    const state = JSON.parse(fs.readFileSync(path.join(stateDir, 'agent-state.json'), 'utf8')) as {
      endpoints?: Array<{ netns?: unknown }>;
    };
    const names = (state.endpoints ?? []).map((e) => e.netns).filter((n): n is string => typeof n === 'string');
    return [...new Set(names.filter((n) => !n.includes('/')))];
  } catch {
    return [];
  }
}

/** SIGTERM, then SIGKILL if it has not ended within 5 s. */
async function stopKeeper(pid: number, stateDir: string): Promise<void> {
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 5000;
  while (dnsKeeperPid(stateDir) === pid && fs.existsSync(`/proc/${pid}`) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  if (dnsKeeperPid(stateDir) === pid) process.kill(pid, 'SIGKILL');
}

export async function resetHost(
  s: ResetSettings,
  opts: {
    dryRun: boolean;
    /** Where to look for the CNI launcher (default: the runtimes' directories). */ cniDirs?: string[];
  },
): Promise<ResetReport> {
  const cniDirs = opts.cniDirs ?? PLUGIN_DIRS;
  const pluginSocket = path.join(s.pluginDir, DOCKER_PLUGIN_SOCKET_NAME);
  if (await socketAnswers(s.socket))
    throw new AgentRunningError(
      `the agent is running (its admin socket ${s.socket} answers): stop it first (systemctl stop vxmesh-agent), then reset`,
    );
  const report: ResetReport = { removed: [], errors: [] };
  const step = async (what: string, fn: () => Promise<string[]> | string[]) => {
    try {
      report.removed.push(...(await fn()));
    } catch (e) {
      report.errors.push(`${what}: ${(e as Error).message}`);
    }
  };
  const { dryRun } = opts;
  // First: it holds sockets in the overlay namespaces (a namespace lives on while they are open).
  await step('DNS keeper', async () => {
    const pid = dnsKeeperPid(s.stateDir);
    if (pid === undefined) return [];
    if (!dryRun) await stopKeeper(pid, s.stateDir);
    return [`process dns-keeper (PID ${pid})`];
  });
  await step('WireGuard', () =>
    removeWireguard(
      { ifname: wireguardIfname(s.netnsPrefix), stateDir: s.stateDir, encryptedPort: s.encryptedPort },
      dryRun,
    ),
  );
  for (const o of await overlayLeftovers(s.netnsPrefix))
    await step(`namespace ${o.netns}`, () => removeOverlay(o, dryRun));
  await step('iptables', () => removeHostChains(dryRun));
  await step('resolv.conf files', () => {
    const done: string[] = [];
    for (const n of namedNamespacesOf(s.stateDir)) {
      const file = path.join(NETNS_ETC_DIR, n, 'resolv.conf');
      if (!isOurResolvConf(n)) continue;
      if (!dryRun) removeResolvConf(n);
      done.push(`file ${file}`);
    }
    return done;
  });
  await step('CNI plugin', () =>
    dryRun
      ? cniDirs
          .map((d) => path.join(d, 'vxmesh'))
          .filter(isOurs)
          .map((f) => `file ${f}`)
      : uninstallLaunchers(cniDirs).map((f) => `file ${f}`),
  );
  await step('sockets', async () => {
    const done: string[] = [];
    for (const sock of [s.socket, pluginSocket])
      if (fs.existsSync(sock) && !(await socketAnswers(sock))) {
        if (!dryRun) fs.rmSync(sock, { force: true });
        done.push(`socket ${sock}`);
      }
    return done;
  });
  await step('state files', () => {
    if (!fs.existsSync(s.stateDir)) return [];
    const done: string[] = [];
    for (const f of fs.readdirSync(s.stateDir).sort())
      if (STATE_FILES.some((p) => p.test(f))) {
        if (!dryRun) fs.rmSync(path.join(s.stateDir, f), { force: true });
        done.push(`file ${path.join(s.stateDir, f)}`);
      }
    if (!dryRun && fs.readdirSync(s.stateDir).length === 0) {
      fs.rmdirSync(s.stateDir);
      done.push(`directory ${s.stateDir}`);
    }
    return done;
  });
  return report;
}
