/** What a process costs, read from /proc: CPU time (user + system), RSS and PSS. */
import fs from 'node:fs';

const TICKS_PER_S = 100; // USER_HZ on Linux

/** CPU time (ms) the process has used so far; NaN once it is gone. */
export function cpuMsOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / TICKS_PER_S;
  } catch {
    return NaN;
  }
}

/** Resident and proportional set sizes in MB (PSS shares the pages mapped by several processes). */
export function memoryOf(pid: number): { rssMb: number; pssMb: number } {
  const kb = (text: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  try {
    const rss = kb(fs.readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS');
    const pss = kb(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), 'Pss');
    return { rssMb: rss / 1024, pssMb: pss / 1024 };
  } catch {
    return { rssMb: NaN, pssMb: NaN };
  }
}

export const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
export const mean = (xs: number[]): number => (xs.length ? sum(xs) / xs.length : NaN);
export function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}
