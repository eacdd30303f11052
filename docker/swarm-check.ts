/**
 * Docker swarm's overlay data path uses UDP 4789 too (unless `docker swarm init --data-path-port N`):
 * both on one port, the kernel hands each frame to whichever VXLAN socket has its VNI, and swarm's
 * networks and vxmesh's then share a VNI space nobody coordinates. Asked of the local engine
 * (`GET /info`) when its socket exists.
 */
import fs from 'node:fs';

/** What `GET /info` says about the swarm (the fields read). */
export interface SwarmInfo {
  Swarm?: { LocalNodeState?: string; Cluster?: { DataPathPort?: number } | null };
}

/** The warning for an engine's info, or undefined when there is no clash. */
export function swarmClash(info: SwarmInfo, vxlanPort: number): string | undefined {
  if (info.Swarm?.LocalNodeState !== 'active') return undefined;
  // Workers do not see the cluster's settings: the default then.
  const port = info.Swarm.Cluster?.DataPathPort || 4789;
  if (port !== vxlanPort) return undefined;
  return `Docker swarm is active on this host and its overlay data path uses UDP ${port}, as vxmesh does: give one of them another port (vxmesh agent --vxlan-port N on every host, or docker swarm init --data-path-port N)`;
}

/** Asks the engine at `socketPath`; undefined when there is no engine or it does not answer in 2 s. */
export async function swarmClashOfEngine(socketPath: string, vxlanPort: number): Promise<string | undefined> {
  if (!fs.existsSync(socketPath)) return undefined;
  try {
    // Loaded only when there is an engine to ask: ~10 MB of an agent's memory otherwise.
    const { default: Docker } = await import('dockerode');
    const info = (await new Docker({ socketPath, timeout: 2000 }).info()) as SwarmInfo;
    return swarmClash(info, vxlanPort);
  } catch {
    return undefined;
  }
}
