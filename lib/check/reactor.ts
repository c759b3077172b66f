/**
 * Readiness of the FFI sockets of checks (TCP connects, UDP, DNS, ICMP), waited for on
 * the daemon's one reactor (`lib/sys/reactor.ts`): a thin layer that keeps the checks'
 * "one waiter per fd, ended by an AbortSignal" shape.
 *
 * Deno's own UDP sockets need `--unstable-net`, and `node:dgram` does not report the
 * ICMP port-unreachable of a connected socket, so these checks use libc sockets. Their
 * waits join the daemon's single ppoll rather than a poll thread of their own.
 *
 * A socket closed while a wait still covers its number is harmless: at worst a waiter
 * on a new socket that reused the number wakes once for nothing, which a non-blocking
 * read shrugs off.
 *
 * @module
 */

import { encodePollEntries, POLLOUT } from "../sys/libc.ts";
import { defaultReactor, type Reactor as SysReactor, type WatchHandle } from "../sys/reactor.ts";

/**
 * The checks' waits, one per fd, on a reactor.
 *
 * @example
 * ```ts
 * const reactor = new Reactor();
 * if (await reactor.readable(fd, signal)) recvFrom(fd, buf);
 * ```
 */
export class Reactor {
  /** Per fd: ends the current waiter with false (a second waiter replaces the first). */
  readonly #waiters = new Map<number, (ok: boolean) => void>();
  /** Waits not yet resolved; {@link idle} resolves once it is 0. */
  #pendingCount = 0;
  #onIdle: (() => void)[] = [];
  readonly #sys: SysReactor | null;

  /**
   * Waits on `sys` (the process-wide reactor, looked up at each wait, when omitted).
   *
   * @example
   * ```ts
   * const reactor = new Reactor(sysReactor);
   * ```
   */
  constructor(sys: SysReactor | null = null) {
    this.#sys = sys;
  }

  /** Number of fds waited on right now (for tests and metrics). */
  get waiting(): number {
    return this.#waiters.size;
  }

  /**
   * Resolves true once `fd` is readable or has an error pending (a read then reports
   * it), false when `signal` aborts first. One waiter per fd: a second replaces the
   * first, which resolves false.
   *
   * A watch on the reactor with a callback: no poll set of its own to encode, no
   * controller, one promise (an HTTP check waits once for its response, 1,000 times a
   * second in the benchmark).
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
    if (signal.aborted) return Promise.resolve(false);
    this.#waiters.get(fd)?.(false);
    const sys = this.#sys ?? defaultReactor();
    return new Promise<boolean>((resolve) => {
      let watch: WatchHandle;
      try {
        watch = sys.watch(fd, () => end(true));
      } catch {
        // The reactor is closed (shutting down): as an aborted wait.
        resolve(false);
        return;
      }
      let open = true;
      const end = (ok: boolean): void => {
        if (!open) return;
        open = false;
        watch.close();
        signal.removeEventListener("abort", onAbort);
        if (this.#waiters.get(fd) === end) this.#waiters.delete(fd);
        this.#settle();
        resolve(ok);
      };
      const onAbort = () => end(false);
      this.#waiters.set(fd, end);
      this.#pendingCount++;
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * Resolves true once `fd` is writable or has an error pending, false when `signal`
   * aborts first: a non-blocking `connect` has completed (SO_ERROR says how). One
   * waiter per fd, as for {@link Reactor.readable}.
   *
   * A one-entry poll, not a watch: a watch wakes for POLLIN too, and a socket with
   * unread data and a full send buffer would wake it in a loop.
   *
   * @example
   * ```ts
   * if (await reactor.writable(fd, deadline.signal)) getsockoptInt(fd, SOL_SOCKET, SO_ERROR);
   * ```
   */
  writable(fd: number, signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    this.#waiters.get(fd)?.(false);
    const mine = new AbortController();
    const end = (ok: boolean) => {
      if (!ok) mine.abort();
    };
    this.#waiters.set(fd, end);
    this.#pendingCount++;
    const onAbort = () => mine.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    const sys = this.#sys ?? defaultReactor();
    return sys.poll(encodePollEntries([{ fd, events: POLLOUT }]), -1, mine.signal)
      .then((n) => n > 0, () => false)
      .finally(() => {
        signal.removeEventListener("abort", onAbort);
        if (this.#waiters.get(fd) === end) this.#waiters.delete(fd);
        this.#settle();
      });
  }

  /**
   * Counts a wait its owner keeps on the process reactor itself (a watch with a
   * callback: no promise, no signal listener) until {@link Reactor.leave}:
   * {@link Reactor.idle} waits for it as for the others.
   *
   * @example
   * ```ts
   * checkReactor.enter();
   * const w = defaultReactor().watch(fd, onReadable);
   * // ... once done: w.close(); checkReactor.leave();
   * ```
   */
  enter(): void {
    this.#pendingCount++;
  }

  /** Ends a wait counted by {@link Reactor.enter}. */
  leave(): void {
    this.#settle();
  }

  #settle(): void {
    if (--this.#pendingCount > 0) return;
    const waiting = this.#onIdle;
    this.#onIdle = [];
    for (const resolve of waiting) resolve();
  }

  /**
   * Resolves once no wait is pending (after the last waiter left).
   *
   * @example
   * ```ts
   * await reactor.idle();
   * ```
   */
  idle(): Promise<void> {
    if (this.#pendingCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.#onIdle.push(resolve));
  }
}

/**
 * The reactor the checks of this process share (on the process-wide reactor).
 *
 * @example
 * ```ts
 * await checkReactor.readable(fd, signal);
 * ```
 */
export const checkReactor: Reactor = new Reactor();
