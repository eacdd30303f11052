/**
 * A discovery member in its own process, driven over stdin/stdout (one JSON object per line), for
 * tests and benchmarks where death matters (kill -9, SIGSTOP). Not part of the product.
 *
 * in:  {"id":1,"cmd":"putEndpoint","args":{...}} | deleteEndpoint | putNetwork | snapshot | stop | stall
 * out: {"type":"ready",...} {"type":"reply","id":1,...} {"type":"seen","ids":[...],"gone":[...],"at":ms}
 */
import readline from 'node:readline';
import { Discovery, type DiscoveryOptions } from '../../discovery/discovery.js';

const config = JSON.parse(process.env.VXMESH_MEMBER_CONFIG ?? '{}') as DiscoveryOptions;
const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const debug = process.env.VXMESH_MEMBER_DEBUG === '1';
const log = (level: string) => (obj: object, msg: string) => {
  if (debug || level === 'error') process.stderr.write(`${config.name} ${level} ${msg} ${JSON.stringify(obj)}\n`);
};
const d = await Discovery.create({ ...config, log: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') } });

let known = new Set<string>();
d.on('change', () => {
  const now = new Set<string>();
  for (const [, net] of d.desired()) for (const r of net.remotes) now.add(r.id);
  const ids = [...now].filter((x) => !known.has(x));
  const gone = [...known].filter((x) => !now.has(x));
  known = now;
  if (ids.length || gone.length) out({ type: 'seen', ids, gone, at: Date.now() });
});

await d.start();
const BENCH_TOPIC = 'vxmesh-bench/raw';
d.libp2p?.services.pubsub.subscribe(BENCH_TOPIC);
d.libp2p?.services.pubsub.addEventListener('message', (evt) => {
  if (evt.detail.topic === BENCH_TOPIC) out({ type: 'raw', id: Buffer.from(evt.detail.data).toString(), at: Date.now() });
});
out({ type: 'ready', peerId: d.peerId, addrs: d.listenAddrs(), pid: process.pid });

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  void (async () => {
    let req: { id: number; cmd: string; args?: Record<string, unknown> };
    try {
      req = JSON.parse(line) as typeof req;
    } catch {
      return;
    }
    try {
      let result: unknown = null;
      const a = req.args ?? {};
      switch (req.cmd) {
        case 'putEndpoint':
          await d.putEndpoint(a as never);
          break;
        case 'deleteEndpoint':
          await d.deleteEndpoint(String(a.network), String(a.id));
          break;
        case 'putNetwork':
          await d.putNetwork(a as never);
          break;
        case 'snapshot': {
          const desired: Record<string, string[]> = {};
          for (const [name, net] of d.desired()) desired[name] = net.remotes.map((r) => `${r.id}@${r.vtep}`).sort();
          result = {
            members: d.members().map((m) => ({ name: m.name, state: m.state, incarnation: m.incarnation })),
            desired,
            endpoints: d.endpoints().map((e) => `${e.network}/${e.id}`).sort(),
            networks: d.networks().map((n) => n.name).sort(),
            stats: d.stats,
            rss: process.memoryUsage().rss,
            cpu: process.cpuUsage(),
          };
          break;
        }
        case 'publishRaw':
          // Test hook: publish arbitrary bytes on a topic, as a misbehaving member would.
          await d.libp2p?.services.pubsub.publish(String(a.topic), Buffer.from(String(a.base64), 'base64'));
          break;
        case 'publishBench':
          // Benchmark baseline: a bare gossipsub message, no membership or table logic.
          await d.libp2p?.services.pubsub.publish(BENCH_TOPIC, Buffer.from(String(a.id)));
          break;
        case 'stall': {
          const until = Date.now() + Number(a.ms ?? 1000);
          while (Date.now() < until) {
            /* block the event loop */
          }
          break;
        }
        case 'stop':
          await d.stop();
          out({ type: 'reply', id: req.id, result: null });
          process.exit(0);
          break;
        default:
          throw new Error(`unknown command ${req.cmd}`);
      }
      out({ type: 'reply', id: req.id, result });
    } catch (e) {
      out({ type: 'reply', id: req.id, error: (e as Error).message });
    }
  })();
});
