/**
 * Readiness of the FFI sockets of checks (TCP connects, UDP, DNS, ICMP), all in one
 * `poll(2)`.
 *
 * Deno's own UDP sockets need `--unstable-net`, and `node:dgram` does not report the
 * ICMP port-unreachable of a connected socket, so these checks use libc sockets. A
 * `poll` on a worker thread per socket would hold one thread per running check; this
 * keeps one `poll` running over every socket that has a waiter, plus an eventfd that
 * interrupts it when the set changes. The loop runs only while something waits, so an
 * idle daemon (and a finished test) has no poll in flight.
 *
 * A socket closed while the poll still covers its number is harmless: the poll holds
 * its own reference to the old socket, and a waiter on a new socket that reused the
 * number at worst wakes once for nothing, which a non-blocking read shrugs off.
 *
 * @module
 */

import {
  closeFd,
  createEventFd,
  drainEventFd,
  encodePollEntries,
  pollAsync,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  pollRevents,
  signalEventFd,
} from "../sys/libc.ts";

const READY = POLLIN | POLLOUT | POLLERR | POLLHUP | POLLNVAL;

/**
 * One poll loop shared by every waiter.
 *
 * @example
 * ```ts
 * const reactor = new Reactor();
 * if (await reactor.readable(fd, signal)) recvFrom(fd, buf);
 * ```
 */
export class Reactor {
  readonly #waiters = new Map<number, (ready: boolean) => void>();
  /** What each waiter waits for: POLLIN, or POLLOUT (a connect in progress). */
  readonly #events = new Map<number, number>();
  #efd = -1;
  #loop: Promise<void> | null = null;
  /** The fds the running poll covers; null between polls. */
  #polled: Set<number> | null = null;
  #woken = false;

  /** Number of fds waited on right now (for tests and metrics). */
  get waiting(): number {
    return this.#waiters.size;
  }

  /**
   * Resolves true once `fd` is readable or has an error pending (a read then reports
   * it), false when `signal` aborts first. One waiter per fd: a second replaces the
   * first, which resolves false.
   *
   * @example
   * ```ts
   * while (await reactor.readable(fd, deadline.signal)) {
   *   const got = recvFrom(fd, buf);
   *   if (got) return got;
   * }
   * ```
   */
  readable(fd: number, signal: AbortSignal): Promise<boolean> {
    return this.#wait(fd, POLLIN, signal);
  }

  /**
   * Resolves true once `fd` is writable or has an error pending, false when `signal`
   * aborts first: a non-blocking `connect` has completed (SO_ERROR says how). One
   * waiter per fd, as for {@link Reactor.readable}.
   *
   * @example
   * ```ts
   * if (await reactor.writable(fd, deadline.signal)) getsockoptInt(fd, SOL_SOCKET, SO_ERROR);
   * ```
   */
  writable(fd: number, signal: AbortSignal): Promise<boolean> {
    return this.#wait(fd, POLLOUT, signal);
  }

  #wait(fd: number, events: number, signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const onAbort = () => {
        if (this.#waiters.get(fd) !== settle) return;
        this.#waiters.delete(fd);
        this.#events.delete(fd);
        resolve(false);
        // Let the loop end (and its thread go) when nobody waits any more.
        if (this.#waiters.size === 0) this.#wake();
      };
      const settle = (ready: boolean) => {
        signal.removeEventListener("abort", onAbort);
        resolve(ready);
      };
      this.#waiters.get(fd)?.(false);
      this.#waiters.set(fd, settle);
      this.#events.set(fd, events);
      signal.addEventListener("abort", onAbort, { once: true });
      if (this.#loop === null) this.#loop = this.#run();
      else if (this.#polled !== null && !this.#polled.has(fd)) this.#wake();
    });
  }

  /**
   * Resolves once no poll is in flight (after the last waiter left).
   *
   * @example
   * ```ts
   * await reactor.idle();
   * ```
   */
  async idle(): Promise<void> {
    while (this.#loop !== null) await this.#loop;
  }

  #wake(): void {
    if (this.#woken || this.#efd < 0 || this.#polled === null) return;
    this.#woken = true;
    signalEventFd(this.#efd);
  }

  async #run(): Promise<void> {
    this.#efd = createEventFd();
    try {
      while (this.#waiters.size > 0) {
        const fds = [...this.#waiters.keys()];
        const entries = [{ fd: this.#efd, events: POLLIN }];
        for (const fd of fds) entries.push({ fd, events: this.#events.get(fd) ?? POLLIN });
        const set = encodePollEntries(entries);
        this.#polled = new Set(fds);
        const n = await pollAsync(set, -1);
        this.#polled = null;
        if (n < 0) {
          // errno of a worker-thread call is unreadable; EINTR is the expected cause.
          // Yield a little so a bad set cannot spin the event loop.
          await new Promise((r) => setTimeout(r, 1));
          continue;
        }
        if (pollRevents(set, 0) & POLLIN) {
          drainEventFd(this.#efd);
          this.#woken = false;
        }
        for (let i = 0; i < fds.length; i++) {
          if ((pollRevents(set, i + 1) & READY) === 0) continue;
          const settle = this.#waiters.get(fds[i]);
          if (settle === undefined) continue;
          this.#waiters.delete(fds[i]);
          this.#events.delete(fds[i]);
          settle(true);
        }
      }
    } finally {
      closeFd(this.#efd);
      this.#efd = -1;
      this.#woken = false;
      this.#loop = null;
    }
  }
}

/**
 * The reactor the checks of this process share.
 *
 * @example
 * ```ts
 * await checkReactor.readable(fd, signal);
 * ```
 */
export const checkReactor: Reactor = new Reactor();
