/** The daemon: the agent with its admin API, metrics and Docker plugin, until SIGTERM/SIGINT. */
import type http from 'node:http';
import { startAdminApi } from '../api/admin-api.js';
import { startDockerPlugin } from '../docker/plugin.js';
import { DockerSync } from '../docker/sync.js';
import type { AgentConfig } from './config.js';
import { createLogger } from './logger.js';
import { createMetrics, startMetricsServer } from './metrics.js';
import { startAgent } from './start-agent.js';

export async function runDaemon(cfg: AgentConfig): Promise<void> {
  const log = createLogger(cfg.logLevel, cfg.name);
  const running = await startAgent(cfg, log);
  const { agent, discovery } = running;
  const servers: http.Server[] = [await startAdminApi(agent, cfg.socket, log)];
  if (cfg.metrics) servers.push(await startMetricsServer(createMetrics(agent, discovery), cfg.metrics));
  if (cfg.dockerPlugin) servers.push((await startDockerPlugin(agent, cfg.pluginDir, cfg.stateDir, log)).server);
  if (cfg.dockerSync) new DockerSync(agent, cfg.dockerHost, log).start();
  log.info({ name: cfg.name, vtep: agent.vtep, peerId: discovery.peerId, listen: discovery.listenAddrs(), socket: cfg.socket, metrics: cfg.metrics ?? null }, 'agent ready');
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log.info({ signal: sig }, 'stopping: leaving the cluster, kernel state stays');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  for (const s of servers) s.close();
  await running.stop();
  log.info({}, 'stopped');
}
