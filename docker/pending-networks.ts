/**
 * Docker networks created without `-o vxmesh.network=NAME`: their vxmesh network takes the Docker
 * network's own name, asked of the engine's API. Docker calls CreateNetwork before it stores the
 * network (the engine cannot name it yet), so CreateNetwork is answered at once and the name is asked
 * right after, until the engine knows it (at most 10 s); the endpoint calls of that network wait for it.
 * A name that cannot be had, or a vxmesh network of that name that differs, is logged and makes the
 * network's endpoint calls fail with the reason.
 */
import fs from 'node:fs';
import { NAME_PATTERN } from '../core/names.js';
import { NotFoundError, ValidationError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { GENERIC, MTU_OPTION, type CreateNetworkCall } from './requests.js';

/** The name of network `networkId` as the engine at `socketPath` knows it, once it does. */
export async function engineNetworkName(socketPath: string, networkId: string, timeoutMs = 10_000): Promise<string> {
  // The engine's client is loaded when first needed: ~10 MB of an agent's memory otherwise.
  const { default: Docker } = await import('dockerode');
  const docker = new Docker({ socketPath, timeout: 2000 });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const info = (await docker.getNetwork(networkId).inspect()) as { Name?: unknown };
      const name = info.Name;
      if (typeof name !== 'string' || !NAME_PATTERN.test(name))
        throw new ValidationError(
          'name',
          `the Docker network's name ${JSON.stringify(name)} is not a vxmesh network name (1-63 of A-Z a-z 0-9 _ . -, starting with a letter or digit): give -o vxmesh.network=NAME`,
        );
      return name;
    } catch (e) {
      if (e instanceof ValidationError) throw e;
      if (Date.now() > deadline)
        throw new NotFoundError(
          'NetworkID',
          `the engine did not name network ${networkId} within ${timeoutMs / 1000} s`,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export class PendingNetworks {
  private readonly pending = new Map<string, Promise<void>>();
  private readonly failed = new Map<string, string>();

  constructor(
    private readonly engineSocket: string | undefined,
    private readonly log: Logger,
  ) {}

  /** Whether names can be asked of an engine (its API socket exists). */
  available(): boolean {
    return this.engineSocket !== undefined && fs.existsSync(this.engineSocket);
  }

  /**
   * Refuses now what can be refused without the name (no engine to ask, an MTU the underlay cannot
   * carry); then names the network by the engine and runs `create` with that name, in the background.
   */
  async start(
    call: CreateNetworkCall,
    maxMtu: (encrypted: boolean) => Promise<number>,
    create: (name: string) => Promise<void>,
  ): Promise<void> {
    if (!this.available())
      throw new ValidationError(
        `Options.${GENERIC}.vxmesh.network`,
        'required: create the network with -o vxmesh.network=NAME (or run the agent with --docker-host at the engine API socket: the Docker name is used)',
      );
    if (call.mtu !== undefined) {
      const max = await maxMtu(call.encrypted);
      if (call.mtu > max)
        throw new ValidationError(
          `Options.${GENERIC}.${MTU_OPTION}`,
          `${call.mtu} exceeds the largest overlay MTU of this host's underlay (${max})`,
        );
    }
    const { networkId } = call;
    const socket = this.engineSocket as string;
    const p = engineNetworkName(socket, networkId)
      .then(create)
      .catch((e: unknown) => {
        const message = (e as Error).message;
        this.failed.set(networkId, message);
        this.log.error({ networkId, err: message }, 'docker network could not be mapped to a vxmesh network');
      })
      .finally(() => this.pending.delete(networkId));
    this.pending.set(networkId, p);
  }

  /** Waits until the network's name is settled; throws the reason it could not be. */
  async settled(networkId: string): Promise<void> {
    await this.pending.get(networkId);
    const why = this.failed.get(networkId);
    if (why !== undefined) throw new NotFoundError('NetworkID', `network ${networkId} has no vxmesh network: ${why}`);
  }

  forget(networkId: string): void {
    this.failed.delete(networkId);
  }
}
