/** The stall detector ticks only inside a probe's window and sees a blocked event loop there. */
import t from 'tap';
import { LagMonitor } from '../../discovery/lag-monitor.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const block = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* a stalled process */
  }
};

t.test('no timer outside a window; nested windows share one', async (t) => {
  const lag = new LagMonitor(100);
  t.equal(lag.ticking, false, 'idle: nothing ticks');
  lag.begin();
  lag.begin();
  t.equal(lag.ticking, true);
  lag.end();
  t.equal(lag.ticking, true, 'still one window open');
  lag.end();
  t.equal(lag.ticking, false, 'the last window closed the timer');
  lag.end();
  t.equal(lag.ticking, false, 'an extra end is harmless');
});

t.test('a stall inside the window is seen; a quiet window is not a stall', async (t) => {
  // Threshold well above a loaded test machine's timer delays (tap runs files side by side).
  const lag = new LagMonitor(250);
  lag.begin();
  const quietFrom = performance.now();
  await sleep(200);
  t.equal(lag.stalledSince(quietFrom), false, 'the loop kept running');
  const from = performance.now();
  block(600);
  t.equal(lag.stalledSince(from), true, 'still in progress: seen before the next tick');
  await sleep(80);
  t.equal(lag.stalledSince(from), true, 'after it ended');
  lag.end();
  lag.stop();
});
