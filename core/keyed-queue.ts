/**
 * Runs tasks one after the other per key, different keys side by side: one allocation per network at
 * a time on a host (ipam/), one kernel operation per overlay at a time (dataplane/). A task runs after
 * the previous task of its key has ended, whether that one succeeded or failed; an idle key holds no
 * memory.
 */
export class KeyedQueue<K> {
  private readonly tails = new Map<K, Promise<unknown>>();

  run<T>(key: K, task: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(task, task);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }

  /** Keys with a task queued or running. */
  get size(): number {
    return this.tails.size;
  }
}
