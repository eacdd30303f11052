/**
 * DNS benchmark (not a test): (1) questions per second answered by one agent's network DNS server
 * beside a minimal static responder (dns-packet decode + encode, nothing else) driven by the same load
 * generator in the same run — the floor (one client, so the per-client limit is raised: --dns-client-rate); (2) name propagation: `vxmesh attach --name` on host 2 until
 * the name resolves on host 1, beside the endpoint's data-path convergence (a TCP connection attempt
 * answered by the kernel) in the same attaches. Writes bench/results/dns.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Cluster } from '../sim/cluster.js';
import { spawnListening } from '../sim/address-echo.js';

const QUERIES = Number(process.env.BENCH_DNS_QUERIES ?? 20000);
const ATTACHES = Number(process.env.BENCH_DNS_ATTACHES ?? 20);
const resultsDir = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'bench', 'results');
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

/** Sends QUERIES questions for NAME with 64 in flight; prints answers per second. */
const LOAD = `const p=require('dns-packet');const s=require('dgram').createSocket('udp4');const [host,port,name,total]=[process.argv[1],+process.argv[2],process.argv[3],+process.argv[4]];
let sent=0,got=0;const t0=process.hrtime.bigint();const q=(id)=>p.encode({type:'query',id,flags:p.RECURSION_DESIRED,questions:[{type:'A',name}]});
const send=()=>{if(sent<total){s.send(q(sent++&0xffff),port,host)}};
s.on('message',()=>{got++;if(got===total){const ms=Number(process.hrtime.bigint()-t0)/1e6;console.log(JSON.stringify({qps:Math.round(total/(ms/1000))}));process.exit(0)}send()});
for(let i=0;i<64;i++)send();setTimeout(()=>{console.log(JSON.stringify({qps:0,lost:total-got}));process.exit(1)},120000)`;

/** Answers every question with one A record: the floor of a Node DNS responder. */
const STATIC = `const p=require('dns-packet');const s=require('dgram').createSocket('udp4');
s.on('message',(m,r)=>{let q;try{q=p.decode(m)}catch{return}s.send(p.encode({type:'response',id:q.id,flags:p.AUTHORITATIVE_ANSWER,questions:q.questions,answers:[{type:'A',name:q.questions[0].name,ttl:5,data:'198.18.70.9'}]}),r.port,r.address)});
s.bind(+process.argv[2],process.argv[1],()=>console.log('listening'))`;

/** Polls NAME at the DNS server and a TCP connection to IP every 2 ms; prints when each first worked (epoch ms). */
const WATCH = `const p=require('dns-packet');const net=require('net');const s=require('dgram').createSocket('udp4');const [server,name,ip]=process.argv.slice(1);
let dnsAt=0,pathAt=0,id=1;const done=()=>{if(dnsAt&&pathAt){console.log(JSON.stringify({dnsAt,pathAt}));process.exit(0)}};
s.on('message',(m)=>{try{const r=p.decode(m);if(!dnsAt&&r.answers&&r.answers.length){dnsAt=Date.now();done()}}catch{}});
setInterval(()=>{if(!dnsAt)s.send(p.encode({type:'query',id:id++&0xffff,questions:[{type:'A',name}]}),53,server);
if(!pathAt){const c=net.connect({host:ip,port:9});c.setTimeout(50,()=>c.destroy());c.on('error',(e)=>{if(e.code==='ECONNREFUSED'&&!pathAt){pathAt=Date.now();done()}});c.on('connect',()=>{c.destroy();if(!pathAt){pathAt=Date.now();done()}})}},2);
console.log('listening');setTimeout(()=>process.exit(1),30000)`;

const c = await Cluster.create(2, 'dnsb');
try {
  for (let i = 1; i <= 2; i++) await c.startAgent(i, { args: ['--log-level', 'warn', '--dns-client-rate', '1000000'] });
  await c.vx(1, ['network', 'create', 'bench', '--subnet', '198.18.70.0/24']);
  const ct = await c.tb.addContainer(1, 1);
  await c.vx(1, ['attach', 'bench', '--netns', ct, '--name', 'web1']);
  const gw = '198.18.70.1';
  // (1) questions per second: the agent's server, then the static responder in the same namespace.
  const load = async (host: string, port: number) =>
    JSON.parse(
      (await c.tb.exec(ct, [process.execPath, '-e', LOAD, host, String(port), 'web1', String(QUERIES)])).stdout,
    ) as { qps: number };
  await load(gw, 53); // warm-up
  const vx = (await load(gw, 53)).qps;
  const stat = await spawnListening(c.tb, ct, ['-e', STATIC, '127.0.0.1', '5353'], 'static responder');
  await load('127.0.0.1', 5353);
  const floor = (await load('127.0.0.1', 5353)).qps;
  stat.kill('SIGKILL');
  // (2) name propagation beside data-path convergence, host 2 → host 1.
  const dnsMs: number[] = [];
  const pathMs: number[] = [];
  for (let k = 0; k < ATTACHES; k++) {
    const ip = `198.18.70.${100 + k}`;
    const watch = await spawnListening(c.tb, ct, ['-e', WATCH, gw, `n${k}`, ip], 'watcher');
    const result = new Promise<string>((resolve) => {
      let out = '';
      watch.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      watch.once('exit', () => resolve(out));
    });
    const ns = await c.tb.addContainer(2, 10 + k);
    const t0 = Date.now();
    await c.vx(2, ['attach', 'bench', '--netns', ns, '--ip', ip, '--name', `n${k}`]);
    const r = JSON.parse((await result).trim().split('\n').pop() as string) as { dnsAt: number; pathAt: number };
    dnsMs.push(r.dnsAt - t0);
    pathMs.push(r.pathAt - t0);
  }
  const result = {
    date: new Date().toISOString(),
    queries: QUERIES,
    agent_qps: vx,
    static_responder_qps: floor,
    ratio_qps: +(vx / floor).toFixed(3),
    attaches: ATTACHES,
    name_propagation_ms: { p50: pct(dnsMs, 50), p99: pct(dnsMs, 99), runs: dnsMs },
    data_path_convergence_ms: { p50: pct(pathMs, 50), p99: pct(pathMs, 99), runs: pathMs },
  };
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(path.join(resultsDir, 'dns.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(
    `questions per second (${QUERIES}, 64 in flight): agent ${vx}, static responder ${floor} (floor), ratio ${result.ratio_qps}`,
  );
  console.log(
    `attach on h2 → name resolves on h1: p50 ${result.name_propagation_ms.p50} ms, p99 ${result.name_propagation_ms.p99} ms`,
  );
  console.log(
    `attach on h2 → data path works from h1: p50 ${result.data_path_convergence_ms.p50} ms, p99 ${result.data_path_convergence_ms.p99} ms (same attaches)`,
  );
  console.log('written: bench/results/dns.json');
} finally {
  await c.teardown();
}
