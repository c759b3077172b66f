/**
 * The one place the daemon waits: a single `ppoll(2)` over every fd it owns (sockets,
 * netlink, the control socket, check sockets) plus one eventfd, with the nearest timer
 * as its nanosecond timeout — a classic reactor, as keepalived's own scheduler is.
 *
 * Why one wait: every poll thread costs a wake and a thread handoff per event, and on a
 * backup at 10 ms adverts that is 100 packets a second each crossing up to three
 * threads (poller, clock, event loop). Here a packet costs one ppoll return and one
 * read, on the JS thread.
 *
 * Two wait modes:
 * - *async*: `ppoll` as a nonblocking FFI call on a worker thread, so Deno's event loop
 *   keeps turning (its timers, child processes, TLS, HTTP). The eventfd cuts it short
 *   when the JS thread adds a watch or a nearer timer. The default, and what every
 *   library user (tests running daemons in-process, the lab) gets.
 * - *blocking*: `ppoll` on the JS thread itself, the cheapest wait there is (a third
 *   of the async one's CPU here). Only when the process opted in ({@link
 *   Reactor.blocking}), no Deno-side work is in flight ({@link Reactor.hold}), and the
 *   registered idle checks ({@link Reactor.addIdleCheck}) say the JS side has settled.
 *   A blocking wait also polls Deno's own epoll fds (`runtimeEpollFds`), which turn
 *   readable when Deno has work (a signal, a metrics connection); the next waits are
 *   then async. Blocking waits add up to at most {@link BLOCK_CAP_MS}; then one wait
 *   is async, so that a stray Deno timer (no fd tells of those) gets its turn.
 *   (Not a macrotask yield through a MessageChannel: that turn never parks tokio, so
 *   its I/O driver — sockets accepted by Deno.serve, the signal pipe — may not be
 *   polled, and a metrics scrape waited 10 s. An async wait parks it.)
 *
 * After a wake the readable fds are dispatched first, then the due timers: a backup
 * whose loop woke late with adverts queued must hear them before its master-down timer
 * fires.
 *
 * @module
 */

import type { Clock } from "./ports.ts";
import {
  closeFd,
  createEventFd,
  drainEventFd,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  ppollAsync,
  ppollSync,
  setTimerSlackNs,
  signalEventFd,
  SIZEOF_POLLFD,
  SIZEOF_TIMESPEC,
} from "./libc.ts";
import { EINTR } from "./errno.ts";

/**
 * Longest stretch of blocking waits before one async wait lets Deno's event loop turn.
 * It bounds how late a Deno timer nobody moved onto the reactor is seen (and, should
 * Deno's epoll fds not be found or sit out, a signal or a metrics scrape: Deno's
 * listeners run only on an event-loop turn): this much, plus the async wait's own
 * length (until the next packet or deadline). In `hacore run` nothing waits on such a
 * timer: the daemon's timers are the reactor's, and whatever awaits Deno's own work (a
 * hook, a mail, a check through Deno's sockets, a metrics reply, a reload) holds the
 * reactor in async waits meanwhile. Each cap's turn costs two async waits and a wake,
 * ~0.4 ms of CPU here: at 250 ms they were half of an idle 1 s instance's CPU (0.21
 * CPU-s per minute, 0.115 at 1 s), and ~0.1 CPU-s per minute of one at 10 ms adverts.
 */
export const BLOCK_CAP_MS = 1000;

/**
 * The longest an async wait lasts when it is only Deno's event loop's turn (see
 * {@link BLOCK_CAP_MS}, {@link TURNS_AFTER_BREAK}): long enough for one pass of its I/O
 * driver and timers.
 */
const TURN_WAIT_MS = 1;

/**
 * A timer this near ends the async turn itself: the turn lasts to it, as before, for a
 * short one adds a wake. A busy daemon (checks sweep every 10 ms, 10 ms adverts) so
 * keeps its waits as they were: in the User-Mode Linux guest, where Deno's own wake-ups
 * (a dozen a second under checks) each cost two turns, short turns there doubled a TCP
 * checker's CPU. A quiet one (1 s adverts) has its far timers fired by blocking waits.
 */
const TURN_NEAR_MS = 50;

/** Blocking waits Deno's own epoll fds may end in one cap (see `Reactor.#runtimeMuted`). */
const RUNTIME_WAKES_MAX = 32;

/**
 * Async waits in a row after a blocking stretch ends (the cap, or EINTR: a signal on
 * this thread). One is not always a turn for Deno's callbacks: a wait that returns at
 * once (a packet was already there) resumes this loop in the same event-loop tick as
 * the signal's completion, and blocking again from there would hold the listener back
 * for another cap (seen: 495 ms under load). The second wait yields to that tick.
 */
const TURNS_AFTER_BREAK = 2;

/**
 * Microtask turns always given after a dispatch before a blocking wait: callbacks
 * resolve promises, and short continuations (a check's read, the control server's
 * reply) run before the JS thread blocks again. Longer chains are covered by idle
 * checks and holds, or resume at the next wake (at most {@link BLOCK_CAP_MS} away).
 * Each turn costs ~0.7 µs here, and this is paid on every wake.
 */
const MIN_SETTLE_TURNS = 8;

/**
 * Microtask turns beyond which the JS side is taken as waiting on something outside
 * the reactor (a Deno op, a netlink ack awaited through {@link Reactor.poll}): the
 * next wait is then the async one, so the event loop keeps turning.
 */
const MAX_SETTLE_TURNS = 1000;

/** Revents that make a watched fd's callback run: its read then reports the error. */
const READY = POLLIN | POLLOUT | POLLERR | POLLHUP | POLLNVAL;

/** Past this many cancelled timers left in the heap, it is rebuilt without them. */
const DEAD_TIMERS_COMPACT = 1024;

/**
 * What {@link Reactor.watch} returns.
 *
 * @example
 * ```ts
 * const w = reactor.watch(fd, () => drain(fd));
 * w.close();
 * closeFd(fd);
 * ```
 */
export interface WatchHandle {
  /** Stops watching; the callback is not called again, even from the current dispatch. */
  close(): void;
}

/**
 * Options of {@link Reactor.watch}.
 *
 * @example
 * ```ts
 * const opts: WatchOptions = { writable: true };
 * ```
 */
export interface WatchOptions {
  /** Also wake for POLLOUT (a non-blocking connect in progress, a queued reply). */
  readonly writable?: boolean;
  /**
   * The callback resolves no promise itself: whatever it hands on shows in the idle
   * checks ({@link Reactor.addIdleCheck}; the daemon's packet callbacks either handle
   * a packet in place or queue it in the inbox, which un-idles it). A dispatch that
   * ran only quiet callbacks and fired no timer, after which every idle check holds,
   * blocks again at once, without the settle turns.
   */
  readonly quiet?: boolean;
}

interface Watch {
  readonly fd: number;
  readonly events: number;
  readonly cb: (revents: number) => void;
  readonly quiet: boolean;
  open: boolean;
}

interface PollRequest {
  readonly set: Uint8Array;
  readonly resolve: (n: number) => void;
  cancelTimer: (() => void) | null;
  open: boolean;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | null;
}

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  readonly quiet: boolean;
  live: boolean;
}

/**
 * One wait's pollfd array and who owns each entry (index 0 is the eventfd). After the
 * owned entries come Deno's own epoll fds ({@link runtimeEpollFds}), polled only by a
 * blocking wait: `ownedBytes` is the array without them.
 */
interface PollSet {
  readonly set: Uint8Array;
  readonly owners: (Watch | { req: PollRequest; index: number } | null)[];
  readonly ownedBytes: number;
  /** The owned entries alone: what an async wait (and a muted blocking one) polls. */
  readonly owned: Uint8Array;
  /** A view of `set`, for reading revents after each wait. */
  readonly view: DataView;
}

/**
 * A reactor: fd watches, timers, one wait. Implements {@link Clock}, so the daemon,
 * the check service and the trackers can all run on it.
 *
 * @example
 * ```ts
 * const reactor = new Reactor();
 * const w = reactor.watch(sock, () => drainSocket(sock));
 * const cancel = reactor.at(reactor.nowMs() + 10, () => sendAdvert());
 * await reactor.sleepUntil(reactor.nowMs() + 5, new AbortController().signal);
 * w.close();
 * cancel();
 * await reactor.close();
 * ```
 */
export class Reactor implements Clock {
  /**
   * Opt-in to blocking waits (see the module doc). `hacore run` sets it once the daemon
   * has started; library users keep the async mode unless they set it.
   */
  blocking = false;
  /** Whether this thread's timer slack was asked down for its blocking waits. */
  #slackSet = false;
  readonly #watches = new Set<Watch>();
  readonly #requests = new Set<PollRequest>();
  #timers: Timer[] = [];
  /** The timers one wake fires (see `#fireTimers`). */
  readonly #due: Timer[] = [];
  /** The index in `#due` of the timer firing now; -1 between wakes. */
  #firing = -1;
  #liveTimers = 0;
  #deadTimers = 0;
  #seq = 0;
  #holds = 0;
  readonly #idleChecks = new Set<() => boolean>();
  /** Run after every wait, before its callbacks and timers (see {@link Reactor.onWake}). */
  #wakeHooks: (() => void)[] = [];
  #efd = -1;
  #poll: PollSet | null = null;
  #loop: Promise<void> | null = null;
  /** While an async wait runs: the time it sleeps to (Infinity: no timeout). */
  #asyncUntil: number | null = null;
  #signalled = false;
  #closed = false;
  readonly #ts = new Uint8Array(SIZEOF_TIMESPEC);
  /** When the last completed wait returned (see {@link Reactor.lastPolledMs}). */
  #polledMs = -Infinity;
  /** When the last async wait ended: Deno's event loop last turned then. */
  #lastTurn = performance.now();
  /** The clock reading the last firing of the due timers judged by. */
  #firedAtMs = this.#lastTurn;
  /** Async waits still owed to Deno's event loop before the next blocking one. */
  #turnsOwed = 0;
  /** Blocking waits Deno's epoll fds ended since `#runtimeWindowMs` (see `#runtimeMuted`). */
  #runtimeWakes = 0;
  #runtimeWindowMs = -Infinity;
  #stats = { waits: 0, blockingWaits: 0, asyncWaits: 0, failedWaits: 0 };
  /**
   * The last wait's dispatch ran only quiet watches (see {@link WatchOptions.quiet}),
   * finished no poll and fired no timer: the next wait may skip the settle turns.
   */
  #quiet = false;

  /**
   * Monotonic milliseconds (`performance.now()`), sub-millisecond.
   *
   * @example
   * ```ts
   * reactor.nowMs();
   * ```
   */
  nowMs(): number {
    return performance.now();
  }

  /**
   * Resolves at `atMs` (to about 0.1 ms) or as soon as `signal` aborts; never rejects.
   * An aborted sleep leaves no timer behind.
   *
   * @example
   * ```ts
   * await reactor.sleepUntil(reactor.nowMs() + 36.09, signal);
   * ```
   */
  sleepUntil(atMs: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted || atMs <= performance.now()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const onAbort = () => {
        cancel();
        resolve();
      };
      const cancel = this.at(atMs, () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      });
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * Calls `fn` once at `atMs` (after the readable fds of that wake); returns a cancel.
   * Cheaper than {@link Reactor.sleepUntil} for code that needs no promise. `quiet`:
   * `fn` resolves no promise itself (as {@link WatchOptions.quiet}), so its firing
   * alone does not cost the settle turns.
   *
   * @example
   * ```ts
   * const cancel = reactor.at(reactor.nowMs() + 15, () => answerClaim());
   * ```
   */
  at(atMs: number, fn: () => void, opts: { readonly quiet?: boolean } = {}): () => void {
    const t: Timer = { at: atMs, seq: this.#seq++, fn, quiet: opts.quiet === true, live: true };
    this.#pushTimer(t);
    this.#liveTimers++;
    this.#changed(atMs);
    return () => {
      if (!t.live) return;
      t.live = false;
      this.#liveTimers--;
      this.#deadTimers++;
      if (this.#deadTimers > DEAD_TIMERS_COMPACT) this.#compactTimers();
      this.#changed(null);
    };
  }

  /**
   * Calls `onReady(revents)` whenever `fd` is readable (level-triggered), or in error
   * (POLLERR/POLLHUP/POLLNVAL count as readable: the callback's read reports what
   * happened), or writable when asked. The callback must not throw and should drain
   * what it can: an fd left readable wakes the next wait at once.
   *
   * @example
   * ```ts
   * const w = reactor.watch(sock, () => { while (recv(sock)); });
   * ```
   * @throws {Error} when the reactor is closed.
   */
  watch(
    fd: number,
    onReady: (revents: number) => void,
    opts: WatchOptions = {},
  ): WatchHandle {
    if (this.#closed) throw new Error("Reactor is closed");
    const w: Watch = {
      fd,
      events: POLLIN | (opts.writable ? POLLOUT : 0),
      cb: onReady,
      quiet: opts.quiet === true,
      open: true,
    };
    this.#watches.add(w);
    this.#setChanged();
    return {
      close: () => {
        if (!w.open) return;
        w.open = false;
        this.#watches.delete(w);
        this.#setChanged();
      },
    };
  }

  /**
   * One poll of an encoded `struct pollfd` array (see `encodePollEntries`) folded into
   * the reactor's next waits: resolves with how many entries have revents (written into
   * `set`), or 0 after `timeoutMs` (negative: none) or once `signal` aborts. For loops
   * written around `poll(2)` (the control server, the check sockets, netlink) and
   * one-shot waits.
   *
   * @example
   * ```ts
   * const set = encodePollEntries([{ fd, events: POLLIN }]);
   * if (await reactor.poll(set, 1000) > 0) read(fd);
   * ```
   */
  poll(set: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    if (this.#closed) return Promise.reject(new Error("Reactor is closed"));
    if (signal?.aborted) return Promise.resolve(0);
    return new Promise<number>((resolve) => {
      const req: PollRequest = {
        set,
        resolve,
        cancelTimer: null,
        open: true,
        signal,
        onAbort: null,
      };
      this.#requests.add(req);
      if (timeoutMs >= 0) {
        req.cancelTimer = this.at(performance.now() + timeoutMs, () => {
          req.cancelTimer = null;
          this.#finish(req, 0);
        });
      }
      if (signal) {
        req.onAbort = () => this.#finish(req, 0);
        signal.addEventListener("abort", req.onAbort, { once: true });
      }
      this.#setChanged();
    });
  }

  /**
   * True once `fd` is readable (or in error), false after `timeoutMs` (negative: none)
   * or once `signal` aborts.
   *
   * @example
   * ```ts
   * if (await reactor.readable(nlFd, 2000)) readReply(nlFd);
   * ```
   */
  async readable(fd: number, timeoutMs = -1, signal?: AbortSignal): Promise<boolean> {
    const set = new Uint8Array(SIZEOF_POLLFD);
    const dv = new DataView(set.buffer);
    dv.setInt32(0, fd, true);
    dv.setInt16(4, POLLIN, true);
    return (await this.poll(set, timeoutMs, signal)) > 0;
  }

  /**
   * Marks Deno-side work in flight (a child process, a TLS or mail connection, an HTTP
   * request, an async file read): until every hold is released, waits are async, so
   * the event loop that completes that work keeps turning. Returns the release
   * (idempotent).
   *
   * @example
   * ```ts
   * const release = reactor.hold();
   * try { await child.status; } finally { release(); }
   * ```
   */
  hold(): () => void {
    this.#holds++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#holds--;
    };
  }

  /**
   * Registers a check that is true once the caller's async code has settled (the
   * daemon: its loop is parked); a blocking wait is taken only when every check is true
   * after a dispatch's microtasks. Returns the unregister.
   *
   * @example
   * ```ts
   * const off = reactor.addIdleCheck(() => inbox.idle);
   * ```
   */
  addIdleCheck(isIdle: () => boolean): () => void {
    this.#idleChecks.add(isIdle);
    return () => this.#idleChecks.delete(isIdle);
  }

  /**
   * Registers `fn` to run right after every wait returns, before that wake's callbacks
   * and timers: for sockets read on every wake rather than watched (a Backup's routine
   * adverts, see `lib/sys/transport.ts`), so that whatever the wake was for sees what
   * they hold. `fn` must not throw. Returns the unregister.
   *
   * @example
   * ```ts
   * const off = reactor.onWake(() => drainUnwatched());
   * ```
   */
  onWake(fn: () => void): () => void {
    this.#wakeHooks = [...this.#wakeHooks, fn];
    return () => {
      this.#wakeHooks = this.#wakeHooks.filter((h) => h !== fn);
    };
  }

  /**
   * True while the loop runs (something is watched, polled or timed, or the loop is
   * about to notice that nothing is): a finished user leaves it false.
   *
   * @example
   * ```ts
   * w.close();
   * await reactor.sleepUntil(reactor.nowMs() + 1, signal);
   * reactor.running; // false soon after the last watch and timer are gone
   * ```
   */
  get running(): boolean {
    return this.#loop !== null;
  }

  /**
   * When the last wait over every watched fd returned ({@link Reactor.nowMs} scale;
   * -Infinity before the first): the kernel reported every readable fd then, and their
   * callbacks ran before any timer of that wake. A timer callback may take a socket
   * read just before for one it need not repeat (see `drainNow` in
   * `lib/sys/transport.ts`). A wait cut short by a signal does not count.
   *
   * @example
   * ```ts
   * reactor.nowMs() - reactor.lastPolledMs < 0.25; // inside a timer fired on a fresh wake
   * ```
   */
  get lastPolledMs(): number {
    return this.#polledMs;
  }

  /**
   * When the next live timer is due ({@link Reactor.nowMs} scale; Infinity: none). Called
   * from a timer's callback, it counts the timers of the same wake still to fire. For
   * work that pauses the loop (a full collection), so that it can run just after a
   * Master's advert rather than just before one.
   *
   * @example
   * ```ts
   * reactor.nextTimerAtMs() - reactor.nowMs(); // 9.8 right after a 10 ms Master's advert
   * ```
   */
  nextTimerAtMs(): number {
    const due = this.#due;
    for (let i = this.#firing + 1; i < due.length; i++) if (due[i].live) return due[i].at;
    return this.#nextTimer();
  }

  /**
   * Wait counters since creation: all waits, the blocking ones, the async ones, and
   * blocking waits that failed (other than EINTR).
   *
   * @example
   * ```ts
   * reactor.stats().blockingWaits; // 1234
   * ```
   */
  stats(): { waits: number; blockingWaits: number; asyncWaits: number; failedWaits: number } {
    return { ...this.#stats };
  }

  /**
   * Stops the loop: pending {@link Reactor.poll}s resolve 0, watches and timers are
   * dropped (their owners should have closed them), the eventfd is closed once the
   * running wait returned. Resolves when nothing is pending.
   *
   * @example
   * ```ts
   * await reactor.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return await this.#loop?.catch(() => {});
    this.#closed = true;
    this.#watches.clear();
    for (const req of [...this.#requests]) this.#finish(req, 0);
    this.#timers = [];
    this.#liveTimers = 0;
    this.#deadTimers = 0;
    this.#wake();
    await this.#loop?.catch(() => {});
  }

  // --- the loop ---

  #active(): boolean {
    return !this.#closed &&
      (this.#watches.size > 0 || this.#requests.size > 0 || this.#liveTimers > 0);
  }

  /** Something changed the fd set: re-encode before the next wait, start or wake it. */
  #setChanged(): void {
    this.#poll = null;
    this.#changed(-Infinity);
  }

  /**
   * Starts the loop if it is not running; wakes a running async wait when `nearAt` is
   * before the time it sleeps to (-Infinity: always), or when nothing is left to wait
   * for (so the process and a test can end). `null`: only the latter.
   */
  #changed(nearAt: number | null): void {
    if (this.#loop === null) {
      if (this.#active()) this.#loop = this.#run();
      return;
    }
    const until = this.#asyncUntil;
    if (until === null) return;
    if ((nearAt !== null && nearAt < until) || !this.#active()) this.#wake();
  }

  #wake(): void {
    if (this.#efd < 0 || this.#signalled) return;
    this.#signalled = true;
    signalEventFd(this.#efd);
  }

  async #run(): Promise<void> {
    try {
      // Starts on a microtask: what the caller registers in the same turn joins the
      // first wait.
      await null;
      if (this.#efd < 0) this.#efd = createEventFd();
      for (;;) {
        // What the last dispatch resolved runs first (microtasks), so that the daemon has
        // parked on its next deadline before that deadline is read (and before an empty
        // reactor is taken for a finished one).
        // The clock as the last timers were judged: a reading less per wake (each is a
        // syscall where there is no vDSO, as in a User-Mode Linux guest). Stale by the
        // settle turns at most, which the time left of the cap below accounts for.
        const block = this.blocking && this.#holds === 0 && this.#turnsOwed === 0 &&
            !this.#turnDue(this.#firedAtMs)
          ? (this.#quiet && this.#allIdle()) || await this.#settled()
          : await settleBriefly();
        this.#quiet = true;
        if (!this.#active()) break;
        const ps = this.#poll ??= this.#encode();
        const next = this.#nextTimer();
        const now = performance.now();
        let timeoutMs = next === Infinity ? -1 : Math.max(0, next - now);
        let n: number;
        this.#stats.waits++;
        if (block) {
          // The settle turns above may have outlasted the cap (a descheduled process, a
          // long GC): the cap is then spent, not negative, which ppoll would take for
          // "for ever" on a thread nothing else can wake (CI hung here).
          const left = Math.max(0, BLOCK_CAP_MS - (now - this.#lastTurn));
          timeoutMs = timeoutMs < 0 ? left : Math.min(timeoutMs, left);
          this.#stats.blockingWaits++;
          const set = this.#runtimeMuted(now) ? ps.owned : ps.set;
          if (!this.#slackSet) this.#lowerSlack();
          n = ppollSync(set, timeoutMs, this.#ts);
          if (n > 0 && set.length > ps.ownedBytes && runtimeReady(ps)) {
            // Deno's event loop has work this thread would not see for a cap: a signal
            // that landed while this thread ran, or on another thread, or a connection
            // to the metrics server. The next waits are async, so its listeners run.
            this.#runtimeWakes++;
            this.#turnsOwed = TURNS_AFTER_BREAK;
            this.#quiet = false;
          }
          if (n < 0) {
            // EINTR: a signal landed on this thread; the next wait is async, so Deno's
            // listener runs now. Any other failure: the same, so it cannot spin.
            if (n !== -EINTR) this.#stats.failedWaits++;
            this.#turnsOwed = TURNS_AFTER_BREAK;
            this.#quiet = false;
            continue;
          }
          this.#polledMs = performance.now();
        } else {
          this.#stats.asyncWaits++;
          // Async only so that Deno's event loop turns (the cap, a signal): a short wait
          // is that turn, and the timers go back to a blocking wait, which fires them on
          // time; one async wait to the next timer fired it 0.5-4 ms late (a 1 s
          // Backup's Master_Down, most of its takeover's lateness).
          const turnOnly = this.blocking && this.#holds === 0 &&
            (this.#turnsOwed > 0 || this.#turnDue()) && !(next - now <= TURN_NEAR_MS);
          if (turnOnly) {
            timeoutMs = timeoutMs < 0 ? TURN_WAIT_MS : Math.min(timeoutMs, TURN_WAIT_MS);
          }
          if (this.#turnsOwed > 0) this.#turnsOwed--;
          else if (this.blocking && this.#turnDue()) this.#turnsOwed = TURNS_AFTER_BREAK - 1;
          this.#asyncUntil = turnOnly ? Math.min(next, now + TURN_WAIT_MS) : next;
          try {
            n = await ppollAsync(ps.owned, timeoutMs, this.#ts);
          } finally {
            this.#asyncUntil = null;
          }
          this.#lastTurn = performance.now();
          if (n >= 0) this.#polledMs = this.#lastTurn;
          // Deno's event loop turned meanwhile: settle as usual after it.
          this.#quiet = false;
        }
        if (n >= 0) { for (const hook of this.#wakeHooks) hook(); }
        if (n > 0) this.#dispatch(ps);
        this.#fireTimers();
      }
    } finally {
      this.#loop = null;
      this.#poll = null;
      if (this.#efd >= 0) {
        closeFd(this.#efd);
        this.#efd = -1;
        this.#signalled = false;
      }
      // Something registered while the loop was ending: start a fresh one.
      if (this.#active()) this.#loop = this.#run();
    }
  }

  /**
   * Gives the microtasks a dispatch queued room to run, then waits (a bounded number
   * of turns) for every idle check; false when they did not settle.
   */
  async #settled(): Promise<boolean> {
    for (let i = 0; i < MIN_SETTLE_TURNS; i++) await null;
    for (let i = MIN_SETTLE_TURNS; i < MAX_SETTLE_TURNS; i++) {
      if (this.#allIdle()) return true;
      await null;
    }
    return this.#allIdle();
  }

  /**
   * A blocking wait ends on its deadline, not up to the default 50 µs after it that the
   * kernel may add to batch wake-ups: a Backup's Master_Down_Timer, a Master's next
   * advert. Once, for this (the JS) thread; a refusal changes nothing else.
   */
  #lowerSlack(): void {
    this.#slackSet = true;
    try {
      setTimerSlackNs(1);
    } catch {
      // No prctl (not Linux): the default slack.
    }
  }

  #allIdle(): boolean {
    for (const check of this.#idleChecks) if (!check()) return false;
    return true;
  }

  /**
   * True when Deno's epoll fds ended more than {@link RUNTIME_WAKES_MAX} blocking waits
   * in this cap's window: one that stayed readable would make every wait async (a
   * wake and two async waits each), so they sit out the rest of the window.
   */
  #runtimeMuted(now: number): boolean {
    if (now - this.#runtimeWindowMs >= BLOCK_CAP_MS) {
      this.#runtimeWindowMs = now;
      this.#runtimeWakes = 0;
    }
    return this.#runtimeWakes >= RUNTIME_WAKES_MAX;
  }

  /** True when Deno's event loop is owed a turn: the last async wait is a cap ago. */
  #turnDue(now: number = performance.now()): boolean {
    return now - this.#lastTurn >= BLOCK_CAP_MS;
  }

  #encode(): PollSet {
    const owners: PollSet["owners"] = [null];
    let count = 1 + this.#watches.size;
    for (const req of this.#requests) count += req.set.length / SIZEOF_POLLFD;
    const runtime = runtimeEpollFds();
    const set = new Uint8Array((count + runtime.length) * SIZEOF_POLLFD);
    const dv = new DataView(set.buffer);
    let i = 0;
    const put = (fd: number, events: number) => {
      dv.setInt32(i * SIZEOF_POLLFD, fd, true);
      dv.setInt16(i * SIZEOF_POLLFD + 4, events, true);
      i++;
    };
    put(this.#efd, POLLIN);
    for (const w of this.#watches) {
      put(w.fd, w.events);
      owners.push(w);
    }
    for (const req of this.#requests) {
      const rdv = new DataView(req.set.buffer, req.set.byteOffset, req.set.length);
      for (let k = 0; k < req.set.length / SIZEOF_POLLFD; k++) {
        put(rdv.getInt32(k * SIZEOF_POLLFD, true), rdv.getInt16(k * SIZEOF_POLLFD + 4, true));
        owners.push({ req, index: k });
      }
    }
    for (const fd of runtime) put(fd, POLLIN);
    const ownedBytes = count * SIZEOF_POLLFD;
    return { set, owners, ownedBytes, owned: set.subarray(0, ownedBytes), view: dv };
  }

  /** Runs the callbacks of every ready entry of the wait that just returned. */
  #dispatch(ps: PollSet): void {
    const dv = ps.view;
    if (dv.getUint16(6, true) & POLLIN) {
      drainEventFd(this.#efd);
      this.#signalled = false;
      this.#quiet = false;
    }
    let doneReqs: Map<PollRequest, number> | null = null;
    for (let i = 1; i < ps.owners.length; i++) {
      const revents = dv.getUint16(i * SIZEOF_POLLFD + 6, true);
      if ((revents & READY) === 0) continue;
      const owner = ps.owners[i]!;
      if ("cb" in owner) {
        if (!owner.open) continue;
        if (!owner.quiet) this.#quiet = false;
        try {
          owner.cb(revents);
        } catch {
          // A callback must not throw (see watch); one that does must not end the loop.
        }
      } else if (owner.req.open) {
        const r = owner.req.set;
        new DataView(r.buffer, r.byteOffset, r.length).setUint16(
          owner.index * SIZEOF_POLLFD + 6,
          revents,
          true,
        );
        doneReqs ??= new Map();
        doneReqs.set(owner.req, (doneReqs.get(owner.req) ?? 0) + 1);
      }
    }
    if (doneReqs) { for (const [req, count] of doneReqs) this.#finish(req, count); }
  }

  #finish(req: PollRequest, n: number): void {
    if (!req.open) return;
    this.#quiet = false;
    req.open = false;
    req.cancelTimer?.();
    req.cancelTimer = null;
    if (req.onAbort) req.signal?.removeEventListener("abort", req.onAbort);
    req.onAbort = null;
    this.#requests.delete(req);
    this.#poll = null;
    req.resolve(n);
  }

  // --- timers: a binary heap keyed by time, ties by creation order ---

  #nextTimer(): number {
    const h = this.#timers;
    while (h.length > 0 && !h[0].live) {
      this.#popTimer();
      this.#deadTimers--;
    }
    return h.length > 0 ? h[0].at : Infinity;
  }

  /** Fires every timer due now, in order; timers they add for now fire next wake. */
  #fireTimers(): void {
    const now = performance.now();
    this.#firedAtMs = now;
    // One array for every wake: only the loop fires timers, and never from a callback.
    const due = this.#due;
    while (this.#nextTimer() <= now) due.push(this.#popTimer()!);
    for (let i = 0; i < due.length; i++) {
      const t = due[i];
      if (!t.live) continue;
      if (!t.quiet) this.#quiet = false;
      t.live = false;
      this.#liveTimers--;
      this.#firing = i;
      try {
        t.fn();
      } catch {
        // A timer callback must not throw; one that does must not end the loop.
      }
    }
    this.#firing = -1;
    due.length = 0;
  }

  #compactTimers(): void {
    const live = this.#timers.filter((t) => t.live);
    this.#timers = [];
    this.#deadTimers = 0;
    for (const t of live) this.#pushTimer(t);
  }

  #pushTimer(t: Timer): void {
    const h = this.#timers;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(t, h[p])) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = t;
  }

  #popTimer(): Timer | undefined {
    const h = this.#timers;
    const top = h[0];
    const last = h.pop();
    if (h.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && before(h[r], h[l]) ? r : l;
      if (!before(h[c], last)) break;
      h[i] = h[c];
      i = c;
    }
    h[i] = last;
    return top;
  }
}

/** True when a wait's revents show one of Deno's epoll fds readable. */
function runtimeReady(ps: PollSet): boolean {
  const dv = ps.view;
  for (let off = ps.ownedBytes; off < ps.set.length; off += SIZEOF_POLLFD) {
    if (dv.getUint16(off + 6, true) !== 0) return true;
  }
  return false;
}

let epollFds: readonly number[] | null = null;

/**
 * The epoll fds of Deno's own event loop (tokio's I/O driver: its waker eventfd, the
 * signal pipe, Deno's sockets), read once from /proc/self/fd; they live as long as the
 * process. An epoll fd is readable while events wait in it, so a blocking wait that
 * polls it ends as soon as Deno has something to do: without it, a SIGTERM that did
 * not interrupt this thread's own ppoll (it arrived while the thread ran, or went to
 * another thread) was heard only at the next async wait, up to {@link BLOCK_CAP_MS}
 * later (seen: 140 ms in 2 of 40 stops). Tokio registers its fds edge-triggered, so the
 * epoll fd goes quiet once the event loop has looked. None without /proc.
 */
function runtimeEpollFds(): readonly number[] {
  if (epollFds !== null) return epollFds;
  const found: number[] = [];
  try {
    for (const e of Deno.readDirSync("/proc/self/fd")) {
      const fd = Number(e.name);
      if (isEpoll(fd)) found.push(fd);
    }
  } catch {
    // No /proc: the cap alone bounds how late Deno's work is seen, as before.
  }
  epollFds = found;
  return found;
}

function isEpoll(fd: number): boolean {
  try {
    return Deno.readLinkSync(`/proc/self/fd/${fd}`) === "anon_inode:[eventpoll]";
  } catch {
    return false; // the directory's own fd, closed by now
  }
}

/** The microtask turns every wait gives first (see {@link MIN_SETTLE_TURNS}); always false (no
 * blocking wait). */
async function settleBriefly(): Promise<false> {
  for (let i = 0; i < MIN_SETTLE_TURNS; i++) await null;
  return false;
}

function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/**
 * Watches the socket `fd` and calls `drain` whenever it is readable (or in error); the
 * returned stop ends the watch, then closes `fd`. The one shape of every packet-socket
 * reader (the VRRP transports, the VIP guard): the reactor holds no reference to a
 * closed watch, and a wait that still covers the old number only wakes once for nothing.
 *
 * @example
 * ```ts
 * const stop = watchSocket(reactor, fd, () => { while (recvMsg(fd, buf)) handle(buf); });
 * stop(); // fd closed
 * ```
 */
export function watchSocket(
  reactor: Reactor,
  fd: number,
  drain: () => void,
  opts: WatchOptions = {},
): () => void {
  const w = reactor.watch(fd, drain, opts);
  let open = true;
  return () => {
    if (!open) return;
    open = false;
    w.close();
    try {
      closeFd(fd);
    } catch {
      // close(2) releases the descriptor even when it reports an error.
    }
  };
}

let shared: Reactor | null = null;

/**
 * The process-wide reactor, made on first use (async mode): what the production ports
 * use when none is given, so every daemon of a process shares one wait.
 *
 * @example
 * ```ts
 * const reactor = defaultReactor();
 * ```
 */
export function defaultReactor(): Reactor {
  shared ??= new Reactor();
  return shared;
}
