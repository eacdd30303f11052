/**
 * Small schema checks for untrusted JSON (gossip, sync frames, snapshots): each returns the typed
 * value or throws a ValidationError naming the field.
 */
import { isIPv4, isVtepAddress } from './addresses.js';
import { FieldError, ValidationError } from './errors.js';
import { NAME_PATTERN, NAME_RULE } from './names.js';

export type Obj = Record<string, unknown>;

export function obj(v: unknown, field: string): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ValidationError(field, 'must be an object');
  return v as Obj;
}

export function str(v: unknown, field: string, max = 256): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max)
    throw new ValidationError(field, `must be a string of 1..${max} characters`);
  return v;
}

export function int(v: unknown, field: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new ValidationError(field, `must be an integer in ${min}..${max}`);
  return v;
}

export function arr(v: unknown, field: string, max: number): unknown[] {
  if (!Array.isArray(v) || v.length > max) throw new ValidationError(field, `must be an array of at most ${max} items`);
  return v;
}

/** Runs a parser that names its own (generic) field, and names `field` instead. */
export function under<T>(field: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof FieldError) throw new ValidationError(field, e.detail);
    throw e;
  }
}

export function ipv4(v: unknown, field: string): string {
  if (!isIPv4(v)) throw new ValidationError(field, `invalid IPv4 address ${JSON.stringify(v)}`);
  return v;
}

export function vtep(v: unknown, field: string): string {
  if (isVtepAddress(v)) return v;
  throw new ValidationError(field, `invalid VTEP address ${JSON.stringify(v)}`);
}

export function name(v: unknown, field: string): string {
  if (typeof v !== 'string' || !NAME_PATTERN.test(v)) throw new ValidationError(field, NAME_RULE);
  return v;
}
