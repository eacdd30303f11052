/** Waiting helpers shared by the benchmarks. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `what` every `every` ms until it is true (true) or `ms` have passed (false). */
export async function until(what: () => Promise<boolean>, ms: number, every = 100): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await what()) return true;
    await sleep(every);
  }
  return false;
}
