/**
 * A TCP service that answers every connection with the address it came from (and closes), and its
 * client: shows whether a connection arrived and whether it was NATed on the way. Listens on both
 * families (an IPv4 client's address is printed without the ::ffff: prefix). Runs Node itself
 * in the namespace, so no extra tool is needed.
 */
import type { ChildProcess } from 'node:child_process';
import type { Testbed } from './testbed.js';

const SERVER = `const net=require('net');net.createServer(s=>s.end(s.remoteAddress.replace(/^::ffff:/,'')+'\\n')).listen(+process.argv[1],'::',()=>console.log('listening'))`;
const CLIENT = `const s=require('net').connect(+process.argv[2],process.argv[1]);let b='';s.on('data',d=>b+=d);s.on('end',()=>{process.stdout.write(b);process.exit(0)});s.on('error',e=>{console.error(e.message);process.exit(1)});s.setTimeout(+process.argv[3],()=>{console.error('timeout');process.exit(2)})`;

/** Runs a Node script in `netns` and waits until it prints "listening" (or fails naming `what`). */
export async function spawnListening(tb: Testbed, netns: string, args: string[], what: string): Promise<ChildProcess> {
  const child = tb.spawnIn(netns, process.execPath, args);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} in ${netns} did not start`)), 20_000);
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`${what} in ${netns} exited with ${code}`)));
  });
  return child;
}

/** Starts the service on `port` in `netns` and waits until it listens. */
export function startAddressEcho(tb: Testbed, netns: string, port: number): Promise<ChildProcess> {
  return spawnListening(tb, netns, ['-e', SERVER, String(port)], 'address echo');
}

/** Connects from `netns` to host:port; the address the service saw, or undefined when no connection was made. */
export async function askAddress(
  tb: Testbed,
  netns: string,
  host: string,
  port: number,
  timeoutMs = 3000,
): Promise<string | undefined> {
  const r = await tb.exec(netns, [process.execPath, '-e', CLIENT, host, String(port), String(timeoutMs)], {
    nothrow: true,
  });
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}
