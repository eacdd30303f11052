/** A JSON file in the state directory, written atomically (temporary file, fsync, rename). */
import fs from 'node:fs';
import path from 'node:path';

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

  save(value: T): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.writeSync(fd, `${JSON.stringify(value, null, 2)}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file);
  }
}
