/**
 * The last result of a computation, reused while its inputs are the same values (compared with ===):
 * for work repeated by several readers of one table version (a reconcile, the DNS zones, a listing).
 */
export class LastResult<T> {
  private last?: { inputs: readonly unknown[]; value: T };

  get(inputs: readonly unknown[], compute: () => T): T {
    const l = this.last;
    if (l && l.inputs.length === inputs.length && l.inputs.every((x, i) => x === inputs[i])) return l.value;
    const value = compute();
    this.last = { inputs, value };
    return value;
  }
}
