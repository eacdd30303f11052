/** A JSON file in the state directory, written atomically (temporary file, fsync, rename). */
import fs from 'node:fs';
import { writeFileAtomic } from './atomic-file.js';
import { StateDirError } from './errors.js';

export class StateFile<T> {
  constructor(
    readonly file: string,
    private readonly fallback: () => T,
  ) {}

  load(): T {
    try {
      return JSON.parse(fs.readFileSync(this.file, 'utf8')) as T;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return this.fallback();
      throw new Error(`cannot read state file ${this.file}: ${(e as Error).message}`);
    }
  }

  /** Writes the file whole or not at all; a failure (read-only, full) throws StateDirError, the old file stays. */
  save(value: T): void {
    try {
      writeFileAtomic(this.file, `${JSON.stringify(value, null, 2)}\n`);
    } catch (e) {
      throw new StateDirError('stateDir', `cannot write ${this.file}: ${(e as Error).message}`);
    }
  }
}
