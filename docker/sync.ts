/**
 * `--docker-sync`: when a vxmesh network is defined anywhere in the cluster, create the matching Docker
 * network on this host's engine (driver and IPAM driver vxmesh, same subnet and gateway), so
 * `docker network create` runs once, on one host. Talks to the Engine API over its unix socket with
 * dockerode. Networks are never deleted from Docker by the sync (containers may use them).
 */
import Docker from 'dockerode';
import type { Logger } from '../core/logger.js';
import type { Agent } from '../agent/agent.js';

export class DockerSync {
  private readonly docker: Docker;
  private running = false;
  private again = false;
  readonly created: string[] = [];

  constructor(
    private readonly agent: Agent,
    socketPath: string,
    private readonly log: Logger,
  ) {
    this.docker = new Docker({ socketPath });
  }

  start(): void {
    this.agent.cluster.on('change', () => void this.sync());
    const t = setInterval(() => void this.sync(), 10_000);
    t.unref();
    void this.sync();
  }

  /** Creates every vxmesh network the engine does not have yet. One run at a time. */
  async sync(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      const existing = await this.docker.listNetworks();
      const have = new Set(
        existing.filter((n) => n.Driver === 'vxmesh').map((n) => n.Options?.['vxmesh.network'] ?? n.Name),
      );
      const names = new Set(existing.map((n) => n.Name));
      for (const n of this.agent.listNetworks()) {
        if (have.has(n.name) || !n.usable) continue;
        if (names.has(n.name)) {
          this.log.warn(
            { network: n.name },
            'docker sync: a Docker network with this name exists and is not a vxmesh network; not touched',
          );
          continue;
        }
        if (n.subnet === undefined) {
          this.log.warn(
            { network: n.name },
            'docker sync: an IPv6-only network has no Docker twin (Docker needs an IPv4 pool)',
          );
          continue;
        }
        const pools = [{ Subnet: n.subnet, ...(n.gateway ? { Gateway: n.gateway } : {}) }];
        if (n.subnet6 !== undefined) pools.push({ Subnet: n.subnet6, ...(n.gateway6 ? { Gateway: n.gateway6 } : {}) });
        await this.docker.createNetwork({
          Name: n.name,
          Driver: 'vxmesh',
          CheckDuplicate: true,
          ...(n.subnet6 !== undefined ? { EnableIPv6: true } : {}),
          IPAM: { Driver: 'vxmesh', Config: pools },
          Options: { 'vxmesh.network': n.name, 'vxmesh.vni': String(n.vni) },
        });
        this.created.push(n.name);
        this.log.info({ network: n.name }, 'docker sync: created the Docker network');
      }
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'docker sync failed (will retry)');
    } finally {
      this.running = false;
      if (this.again) {
        this.again = false;
        setTimeout(() => void this.sync(), 100).unref();
      }
    }
  }
}
