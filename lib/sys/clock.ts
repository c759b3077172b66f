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
  drainEventFd,
  encodePollFds,
  POLLIN,
  ppollAsync,
  signalEventFd,
} from "./libc.ts";

/**
 * `performance.now()` for time, `ppoll` for sleeping. Each sleep has its own eventfd,
 * so overlapping sleeps never wake one another; the daemon sleeps 100 times a second at
 * 10 ms adverts, one at a time, so the last eventfd is kept (drained) for the next sleep
 * rather than created and closed each time.
 *
 * @example
 * ```ts
 * const clock = new PreciseClock();
 * await clock.sleepUntil(clock.nowMs() + 10, new AbortController().signal);
 * ```
 */
export class PreciseClock implements Clock {
  #spare: number | null = null;

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
    const efd = this.#spare ?? createEventFd();
    this.#spare = null;
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
      // A signalled eventfd would end the next sleep at once: drain it before reuse.
      drainEventFd(efd);
      if (this.#spare === null) this.#spare = efd;
      else closeFd(efd);
    }
  }

  /**
   * Closes the kept eventfd; the clock still works afterwards (it makes a new one).
   *
   * @example
   * ```ts
   * clock.close();
   * ```
   */
  close(): void {
    if (this.#spare !== null) closeFd(this.#spare);
    this.#spare = null;
  }
}
