/**
 * Flags given once per address family (`--subnet 198.18.40.0/24 --subnet 2001:db8:40::/64`, `--ip`,
 * `--gateway`, `--ip-range`): split into the IPv4 and IPv6 values the admin API takes (`subnet` and
 * `subnet6`, ...). The API checks the values themselves; here only the count per family.
 */
import { UsageError } from './support.js';

const isV6 = (v: string): boolean => v.includes(':');

/** At most one value per family: [IPv4 value, IPv6 value]. */
export function onePerFamily(values: string[] | undefined, flag: string): [string | undefined, string | undefined] {
  const list = values ?? [];
  const v4 = list.filter((v) => !isV6(v));
  const v6 = list.filter(isV6);
  if (v4.length > 1) throw new UsageError(`--${flag} given twice for IPv4 (${v4.join(', ')}): once per family`);
  if (v6.length > 1) throw new UsageError(`--${flag} given twice for IPv6 (${v6.join(', ')}): once per family`);
  return [v4[0], v6[0]];
}

/** Any number of values, split by family: [IPv4 values, IPv6 values] (undefined when none). */
export function byFamily(values: string[] | undefined): [string[] | undefined, string[] | undefined] {
  const list = values ?? [];
  const v4 = list.filter((v) => !isV6(v));
  const v6 = list.filter(isV6);
  return [v4.length ? v4 : undefined, v6.length ? v6 : undefined];
}
