/**
 * A tiny authoritative DNS server for tests, run by Node in a namespace (never a real resolver):
 * answers `NAME A` for the names it is given, NXDOMAIN for the rest (UDP).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Testbed } from './testbed.js';
import { spawnListening } from './address-echo.js';

const SERVER = `const p=require('dns-packet');const s=require('dgram').createSocket('udp4');const names=JSON.parse(process.argv[2]);
s.on('message',(m,r)=>{let q;try{q=p.decode(m)}catch{return}const n=(q.questions[0]||{}).name||'';const ip=names[n.toLowerCase()];
s.send(p.encode({type:'response',id:q.id,flags:p.AUTHORITATIVE_ANSWER|(ip?0:3),questions:q.questions,answers:ip?[{type:'A',name:n,ttl:5,data:ip}]:[]}),r.port,r.address)});
s.bind(53,process.argv[1],()=>console.log('listening'))`;

/** Starts it on address:53 in `netns`; resolves once it listens. */
export function startTestResolver(
  tb: Testbed,
  netns: string,
  address: string,
  names: Record<string, string>,
): Promise<ChildProcess> {
  return spawnListening(tb, netns, ['-e', SERVER, address, JSON.stringify(names)], 'test resolver');
}

const RESOLVE = `const r=new (require('dns').promises.Resolver)({timeout:4000,tries:1});r.setServers([process.argv[1]]);
r[process.argv[3]||'resolve4'](process.argv[2]).then(a=>console.log(a.sort().join(',')),e=>console.log('ERR '+e.code))`;

/** Asks `server` for NAME's A records from `netns`: "ip,ip" or "ERR <code>" (ENOTFOUND = NXDOMAIN, ESERVFAIL, ...). */
export async function resolve4(tb: Testbed, netns: string, server: string, name: string): Promise<string> {
  return (await tb.exec(netns, [process.execPath, '-e', RESOLVE, server, name])).stdout.trim();
}

/** Asks `server` (either family) for NAME's AAAA records from `netns`: "ip,ip" or "ERR <code>" (ENODATA: the name has none). */
export async function resolve6(tb: Testbed, netns: string, server: string, name: string): Promise<string> {
  return (await tb.exec(netns, [process.execPath, '-e', RESOLVE, server, name, 'resolve6'])).stdout.trim();
}

/** What a client asking over and over saw (askContinuously). */
export interface AskingRecord {
  asked: number;
  /** Answers with the expected address. */
  answered: number;
  /** Questions that got no answer or another one ("ERR ..." or the addresses). */
  failures: string[];
  /** The longest time between two expected answers (ms). */
  longestGapMs: number;
}

const ASK_LOOP = `const [server,name,want,stop,every]=process.argv.slice(1);const fs=require('fs');
const r=new (require('dns').promises.Resolver)({timeout:1000,tries:2});r.setServers([server]);
(async()=>{let asked=0,answered=0,last=Date.now(),gap=0;const failures=[];
while(!fs.existsSync(stop)){asked++;const a=await r.resolve4(name).then(x=>x.sort().join(','),e=>'ERR '+e.code);
if(a===want){const now=Date.now();gap=Math.max(gap,now-last);last=now;answered++}else failures.push(a);
await new Promise(res=>setTimeout(res,Number(every)))}
console.log(JSON.stringify({asked,answered,failures,longestGapMs:Math.max(gap,Date.now()-last)}))})()`;

/**
 * Asks `server` for NAME from `netns` every `everyMs` (1 s timeout, 2 tries: a client's retry) until
 * `stop()` is called: what it saw, with the longest time between two answers of `want`.
 */
export function askContinuously(
  tb: Testbed,
  netns: string,
  server: string,
  name: string,
  want: string,
  everyMs = 100,
): { stop: () => Promise<AskingRecord> } {
  const stopFile = path.join(
    os.tmpdir(),
    `vxmesh-ask-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
  );
  const run = tb.exec(netns, [process.execPath, '-e', ASK_LOOP, server, name, want, stopFile, String(everyMs)]);
  return {
    async stop() {
      fs.writeFileSync(stopFile, '');
      try {
        return JSON.parse((await run).stdout) as AskingRecord;
      } finally {
        fs.rmSync(stopFile, { force: true });
      }
    },
  };
}
