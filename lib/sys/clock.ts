/**
 * A precise production clock. `setTimeout` fires a median 1.6 ms and at p99 3.4 ms late
 * here (its timer wheel has millisecond slots and the delay is rounded up), which at
 * 10 ms adverts is a third of the Skew_Time. This clock sleeps in `ppoll(2)` on a worker
 * thread with a nanosecond timeout instead, and an eventfd wakes it when the sleep is
 * aborted (a packet arrived, a stop was asked), so a deadline is met to about 0.1 ms.
 *
 * @module
 */
import type { Clock } from "./ports.ts";
import {
  closeFd,
  createEventFd,
  drainEventFd,
  encodePollFds,
  POLLIN,
  ppollAsync,
  signalEventFd,
  SIZEOF_TIMESPEC,
} from "./libc.ts";

/** One sleep's eventfd with the pollfd and timespec its ppoll reads, kept between sleeps. */
interface Waker {
  readonly efd: number;
  readonly set: Uint8Array;
  readonly ts: Uint8Array;
  /** True once an abort wrote to the eventfd: only then is there a count to drain. */
  signalled: boolean;
}

function newWaker(): Waker {
  const efd = createEventFd();
  return {
    efd,
    set: encodePollFds([efd], POLLIN),
    ts: new Uint8Array(SIZEOF_TIMESPEC),
    signalled: false,
  };
}

/**
 * `performance.now()` for time, `ppoll` for sleeping. Each sleep has its own eventfd,
 * so overlapping sleeps never wake one another; the daemon sleeps 100 times a second at
 * 10 ms adverts, one at a time, so the last eventfd is kept (drained) for the next sleep
 * rather than created and closed each time, with the buffers its ppoll reads.
 *
 * @example
 * ```ts
 * const clock = new PreciseClock();
 * await clock.sleepUntil(clock.nowMs() + 10, new AbortController().signal);
 * ```
 */
export class PreciseClock implements Clock {
  #spare: Waker | null = null;

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
    const w = this.#spare ?? newWaker();
    this.#spare = null;
    const onAbort = () => {
      w.signalled = true;
      signalEventFd(w.efd);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        const remaining = atMs - performance.now();
        if (remaining <= 0 || signal.aborted) return;
        // A wake-up other than the abort (EINTR) just goes round again. The pollfd's
        // revents are never read, so the same set serves every ppoll.
        await ppollAsync(w.set, remaining, w.ts);
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      // A signalled eventfd would end the next sleep at once: drain it before reuse.
      // Most sleeps end by their time, with nothing written: no read(2) for those.
      if (w.signalled) {
        drainEventFd(w.efd);
        w.signalled = false;
      }
      if (this.#spare === null) this.#spare = w;
      else closeFd(w.efd);
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
    if (this.#spare !== null) closeFd(this.#spare.efd);
    this.#spare = null;
  }
}
