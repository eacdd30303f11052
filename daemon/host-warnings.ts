/** The host checks of `vxmesh status` and of the agent's start, with what this agent knows (host-checks.ts). */
import type { Agent } from '../agent/agent.js';
import { swarmClashOfEngine } from '../docker/swarm-check.js';
import type { AgentConfig } from './config.js';
import { arpWarning, missingToolWarnings, readNeighThresholds } from './host-checks.js';

export async function hostWarnings(cfg: AgentConfig, agent: Agent): Promise<string[]> {
  const members = agent.peers().filter((p) => !p.self && (p.state === 'alive' || p.state === 'suspect')).length;
  const remote = agent.endpoints().filter((e) => e.status === 'remote' || e.status === 'held').length;
  const out = [...missingToolWarnings(cfg)];
  const arp = arpWarning(members + remote, readNeighThresholds());
  if (arp) out.push(arp);
  const swarm = await swarmClashOfEngine(cfg.dockerHost, cfg.vxlanPort);
  if (swarm) out.push(swarm);
  return out;
}
