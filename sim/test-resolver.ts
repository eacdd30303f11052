/**
 * A tiny authoritative DNS server for tests, run by Node in a namespace (never a real resolver):
 * answers `NAME A` for the names it is given, NXDOMAIN for the rest (UDP).
 */
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
