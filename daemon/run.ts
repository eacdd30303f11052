/**
 * The daemon: the agent with its admin API, metrics and Docker plugin, until SIGTERM/SIGINT. Under
 * systemd it reports READY=1 once the admin and plugin sockets serve (Type=notify) and serves the
 * sockets systemd passed (socket activation), so Docker never finds the plugin missing at boot.
 */
import type http from 'node:http';
import { startAdminApi } from '../api/admin-api.js';
import { newRequestCounts } from '../core/http-json.js';
import type { ApiRequestCounts } from './metrics.js';
import { startDockerPlugin } from '../docker/plugin.js';
import type { AgentConfig } from './config.js';
import { createLogger } from './logger.js';
import { activatedSockets, notifyServiceManager } from './service-manager.js';
import { startAgent } from './start-agent.js';
import { hostWarnings } from './host-warnings.js';

export async function runDaemon(cfg: AgentConfig): Promise<void> {
  const log = createLogger(cfg.logLevel, cfg.name);
  const activated = activatedSockets();
  for (const v of ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES']) delete process.env[v];
  if (activated.size > 0) log.info({ sockets: Object.fromEntries(activated) }, 'sockets passed by the service manager');
  if (activated.has('plugin') && !cfg.dockerPlugin)
    log.warn({}, 'a plugin socket was passed but the Docker plugin is off (--no-docker-plugin): it is not served');
  const notify = (state: Record<string, string>) => {
    const r = notifyServiceManager(state);
    if (r.error) log.warn({ err: r.error }, 'could not notify the service manager');
  };
  notify({ STATUS: 'starting: adopting kernel state, joining the cluster' });
  const running = await startAgent(cfg, log);
  const { agent, discovery } = running;
  agent.statusChecks.push(() => hostWarnings(cfg, agent));
  for (const w of await hostWarnings(cfg, agent)) log.warn({ warning: w }, 'check this host');
  const requests: ApiRequestCounts = { admin: newRequestCounts() };
  const servers: http.Server[] = [await startAdminApi(agent, cfg.socket, log, activated.get('admin'), requests.admin)];
  // Loaded only when configured (prom-client, dockerode): an agent pays in memory for what it uses.
  if (cfg.metrics) {
    const { createMetrics, startMetricsServer } = await import('./metrics.js');
    servers.push(
      await startMetricsServer(createMetrics(agent, discovery, requests), cfg.metrics, () => agent.readiness()),
    );
  }
  if (cfg.dockerPlugin) {
    const { server, plugin } = await startDockerPlugin(
      agent,
      cfg.pluginDir,
      cfg.stateDir,
      log,
      activated.get('plugin'),
      cfg.dockerHost,
    );
    servers.push(server);
    requests.plugin = plugin.stats;
    if (cfg.dockerNames)
      new (await import('../docker/names.js')).DockerNames(agent, plugin, cfg.dockerHost, log).start();
  } else if (cfg.dockerNames)
    log.warn({}, '--docker-names needs the Docker plugin (--docker-plugin): containers are not named');
  if (cfg.dockerSync) new (await import('../docker/sync.js')).DockerSync(agent, cfg.dockerHost, log).start();
  log.info(
    {
      name: cfg.name,
      vtep: agent.vtep,
      peerId: discovery.peerId,
      listen: discovery.listenAddrs(),
      socket: cfg.socket,
      metrics: cfg.metrics ?? null,
    },
    'agent ready',
  );
  notify({
    READY: '1',
    STATUS: `serving: vtep ${agent.vtep}, ${discovery.members().filter((m) => m.state === 'alive').length} live members`,
  });
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log.info({ signal: sig }, 'stopping: leaving the cluster, kernel state stays');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  notify({ STOPPING: '1', STATUS: 'leaving the cluster' });
  for (const s of servers) s.close();
  await running.stop();
  log.info({}, 'stopped');
}
