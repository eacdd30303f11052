/** `vxmesh cni install|uninstall`: the CNI plugin executable in runtimes' plugin directories. */
import path from 'node:path';
import { defaultPluginDirs, installLauncher, PLUGIN_DIRS, uninstallLaunchers } from '../../cni/install.js';
import { parseFlags, UsageError, type Command } from '../support.js';

const usage = `Usage: vxmesh cni install [--dir DIR]... [--socket PATH]
       vxmesh cni uninstall [--dir DIR]...

install    writes DIR/vxmesh, the plugin a runtime runs for "type": "vxmesh" in a CNI configuration
           (it relays each call to this host's agent). Default: ${PLUGIN_DIRS.join(' and ')}, those that
           exist (else /opt/cni/bin). A file there that is not vxmesh's is not replaced. --socket: the
           agent's admin socket when it is not the default (a configuration's "socket" key wins).
uninstall  removes DIR/vxmesh where it is vxmesh's (default: ${PLUGIN_DIRS.join(', ')}).

The configuration: docs/cni.md. Example (a conflist in /etc/cni/net.d):
  {"cniVersion": "1.0.0", "name": "blue", "plugins": [{"type": "vxmesh", "network": "blue"}]}`;

export const cniCommand: Command = {
  name: 'cni',
  usage,
  async run(ctx) {
    const { positionals, values } = parseFlags(ctx.argv, {
      dir: { type: 'string', multiple: true },
      socket: { type: 'string' },
    });
    const [verb, extra] = positionals;
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
    const dirs = values.dir?.length ? values.dir.map((d) => path.resolve(d)) : undefined;
    if (verb === 'install') {
      const launcher = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'cni', 'launcher.js');
      for (const dir of dirs ?? defaultPluginDirs()) {
        let file: string;
        try {
          file = installLauncher(dir, process.execPath, launcher, values.socket);
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
        ctx.out(`installed ${file}`);
      }
      return 0;
    }
    if (verb === 'uninstall') {
      const removed = uninstallLaunchers(dirs ?? PLUGIN_DIRS);
      ctx.out(removed.length ? removed.map((f) => `removed ${f}`).join('\n') : 'no vxmesh launcher found');
      return 0;
    }
    throw new UsageError(
      verb === undefined ? 'a subcommand is required: install or uninstall' : `unknown subcommand "${verb}"`,
    );
  },
};
