/**
 * Readiness without blocking the JS event loop: `poll(2)` runs on a worker thread
 * (the one nonblocking libc symbol) over the caller's fds plus an eventfd, and
 * {@link Poller.wake} writes that eventfd from the JS thread to cut a wait short.
 *
 * Why not park a blocking `recvfrom` on a worker thread instead: it cannot be
 * cancelled, so shutdown would hang until a packet happened to arrive, and its errno
 * would be lost on the worker thread. A poll that returns readiness, followed by a
 * synchronous non-blocking read on the JS thread, has neither problem.
 *
 * @module
 */

import {
  closeFd,
  createEventFd,
  drainEventFd,
  encodePollFds,
  pollAsync,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  pollRevents,
  signalEventFd,
} from "./libc.ts";

/** poll(2) takes an int timeout; longer waits are cut into slices of this length. */
const MAX_SLICE_MS = 0x7fffffff;

/**
 * Waits for fds to become readable, one wait at a time, wakeable from the JS thread.
 *
 * An fd counts as ready when it is readable or in error (POLLERR/POLLHUP/POLLNVAL):
 * the caller's next read then reports what happened instead of the wait spinning.
 *
 * @example
 * ```ts
 * const poller = new Poller();
 * const ready = await poller.wait([fd], 1000); // [] on timeout or wake
 * if (ready.includes(fd)) drain(fd);
 * poller.close();
 * ```
 */
export class Poller {
  #efd: number;
  #pending: Promise<number[]> | null = null;
  #closed = false;
  #woken = false;

  /** Creates the poller and its eventfd. */
  constructor() {
    this.#efd = createEventFd();
  }

  /** True once {@link Poller.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Resolves with the subset of `fds` that are readable (or in error), or with `[]`
   * after `timeoutMs` (negative: no timeout) or a {@link Poller.wake}. A wake that
   * arrives while no wait is running makes the next wait return `[]` at once, so a
   * shutdown request is never lost between two waits.
   *
   * @example
   * ```ts
   * const ready = await poller.wait([sock], 500);
   * ```
   * @throws {Error} when the poller is closed or another wait is still running.
   */
  wait(fds: readonly number[], timeoutMs: number): Promise<number[]> {
    if (this.#closed) return Promise.reject(new Error("Poller is closed"));
    if (this.#pending) return Promise.reject(new Error("Poller.wait is already running"));
    const p = this.#run(fds, timeoutMs);
    this.#pending = p;
    const clear = () => {
      this.#pending = null;
      // close() during a wait defers closing the eventfd: closing an fd another thread
      // is polling could let a new fd reuse its number under the poll.
      if (this.#closed && this.#efd >= 0) {
        closeFd(this.#efd);
        this.#efd = -1;
      }
    };
    p.then(clear, clear);
    return p;
  }

  async #run(fds: readonly number[], timeoutMs: number): Promise<number[]> {
    const deadline = timeoutMs < 0 ? Infinity : performance.now() + timeoutMs;
    for (;;) {
      if (this.#woken) {
        this.#woken = false;
        drainEventFd(this.#efd);
        return [];
      }
      const slice = deadline === Infinity
        ? -1
        : Math.min(MAX_SLICE_MS, Math.max(0, Math.ceil(deadline - performance.now())));
      const set = encodePollFds([this.#efd, ...fds], POLLIN);
      const n = await pollAsync(set, slice);
      if (n < 0) {
        // errno of a nonblocking call is unreadable (another thread's); EINTR is the
        // only expected cause, so poll again, yielding once so a bad fd set cannot spin
        // the event loop.
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      if (pollRevents(set, 0) & POLLIN) {
        this.#woken = false;
        drainEventFd(this.#efd);
        return [];
      }
      const ready: number[] = [];
      for (let i = 0; i < fds.length; i++) {
        if (pollRevents(set, i + 1) & (POLLIN | POLLERR | POLLHUP | POLLNVAL)) ready.push(fds[i]);
      }
      if (ready.length > 0) return ready;
      if (slice === 0 || performance.now() >= deadline) return [];
    }
  }

  /**
   * Makes the running wait (or, if none runs, the next one) resolve with `[]` now.
   * Synchronous and safe to call any number of times.
   *
   * @example
   * ```ts
   * Deno.addSignalListener("SIGTERM", () => poller.wake());
   * ```
   */
  wake(): void {
    if (this.#closed || this.#efd < 0) return;
    this.#woken = true;
    signalEventFd(this.#efd);
  }

  /**
   * Wakes any running wait and releases the eventfd (once that wait has returned).
   *
   * @example
   * ```ts
   * poller.close();
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.wake();
    this.#closed = true;
    if (!this.#pending && this.#efd >= 0) {
      closeFd(this.#efd);
      this.#efd = -1;
    }
  }

  /**
   * Resolves once a running wait (if any) has returned; lets a closer wait until the
   * worker thread let go of the fds before closing them.
   *
   * @example
   * ```ts
   * poller.close();
   * await poller.settled();
   * closeFd(sock);
   * ```
   */
  async settled(): Promise<void> {
    if (this.#pending) await this.#pending.catch(() => {});
  }
}
