/**
 * A precise production clock. `setTimeout` fires a median 1.6 ms and at p99 3.4 ms late
 * here (its timer wheel has millisecond slots and the delay is rounded up), which at
 * 10 ms adverts is a third of the Skew_Time. This clock sleeps in `ppoll(2)` on a worker
 * thread with a nanosecond timeout instead, and an eventfd wakes it when the sleep is
 * aborted (a packet arrived, a stop was asked), so a deadline is met to about 0.1 ms.
 *
 * @module
 */
import type { Clock } from "../daemon/ports.ts";
import {
  closeFd,
  createEventFd,
  encodePollFds,
  POLLIN,
  ppollAsync,
  signalEventFd,
} from "./libc.ts";

/**
 * `performance.now()` for time, `ppoll` for sleeping. Each sleep has its own eventfd,
 * so overlapping sleeps never wake one another.
 *
 * @example
 * ```ts
 * const clock = new PreciseClock();
 * await clock.sleepUntil(clock.nowMs() + 10, new AbortController().signal);
 * ```
 */
export class PreciseClock implements Clock {
  /**
   * Monotonic milliseconds, sub-millisecond resolution.
   *
   * @example
   * ```ts
   * new PreciseClock().nowMs();
   * ```
   */
  nowMs(): number {
    return performance.now();
  }

  /**
   * Resolves at `atMs` (to about 0.1 ms) or as soon as `signal` aborts; never rejects.
   * Nothing is left pending once it has resolved.
   *
   * @example
   * ```ts
   * await clock.sleepUntil(clock.nowMs() + 36.09, signal);
   * ```
   */
  async sleepUntil(atMs: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted || atMs <= performance.now()) return;
    const efd = createEventFd();
    const onAbort = () => signalEventFd(efd);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        const remaining = atMs - performance.now();
        if (remaining <= 0 || signal.aborted) return;
        // A wake-up other than the abort (EINTR) just goes round again.
        await ppollAsync(encodePollFds([efd], POLLIN), remaining);
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      closeFd(efd);
    }
  }
}
