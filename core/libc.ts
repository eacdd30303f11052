/** libc through koffi (a prebuilt FFI module, so no compiler at install), and errors that name the call. */
import koffi from 'koffi';
import { VxmeshError } from './errors.js';

export const libc = koffi.load('libc.so.6');
const strerrorFn = libc.func('const char *strerror(int errnum)');

export const errno = (): number => koffi.errno();

export function strerror(code: number): string {
  return String(strerrorFn(code));
}

/** Throws for the failed call with the current errno: `call(what) failed: message (errno N)`. */
export function sysFail(call: string, what: string): never {
  const code = koffi.errno();
  throw new VxmeshError(`${call}(${what}) failed: ${strerror(code)} (errno ${code})`);
}
