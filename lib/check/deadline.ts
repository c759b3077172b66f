/**
 * The time budget of one check run: a signal that aborts when the caller aborts or the
 * timeout passes, whichever comes first, and the text that says which.
 *
 * Two ways to keep the time:
 * - A {@link Deadline} made on any signal starts a timer of its own, cleared by
 *   {@link Deadline.dispose}, so a finished check leaves no timer behind (Deno's test
 *   sanitizers see the difference). For a check run by hand.
 * - A {@link CheckBudget} is kept by its owner's clock: the check scheduler sweeps
 *   every running check's expiry at the one deadline it keeps anyway (the daemon
 *   loop's wait), and a Deadline made on a budget's signal adopts it, with no timer,
 *   no second AbortController and no listener of its own. At 1,200 checks a second those were a twentieth of the
 *   daemon's CPU, and a timer armed and cleared per run is most of it.
 *
 * Both abort with reasons made once ({@link TIMED_OUT}, {@link CANCELLED}): a bare
 * `abort()` builds a DOMException with a stack each time.
 *
 * @module
 */

import { defaultReactor } from "../sys/reactor.ts";
import { checkClock } from "./clock.ts";

/**
 * The abort reason of a check that ran out of time: made once, shared by every abort.
 *
 * @example
 * ```ts
 * if (signal.reason === TIMED_OUT) console.log("timed out");
 * ```
 */
export const TIMED_OUT: DOMException = new DOMException("check timed out", "TimeoutError");

/**
 * The abort reason of a check stopped by its owner (removed, scheduler stopped).
 *
 * @example
 * ```ts
 * budget.cancel(); // budget.signal.reason === CANCELLED
 * ```
 */
export const CANCELLED: DOMException = new DOMException("check cancelled", "AbortError");

/**
 * The budget that owns a signal, for {@link Deadline} to adopt: a property under a
 * symbol of this module on the signal itself. A WeakMap did the same, but its
 * ephemeron entries (1,200 a second) kept budgets alive through young-generation GCs.
 */
const BUDGET: unique symbol = Symbol("hacore.checkBudget");
type BudgetSignal = AbortSignal & { [BUDGET]?: CheckBudget };

/**
 * One run's time budget kept by its owner: it aborts `signal` when the owner calls
 * {@link CheckBudget.expire} (at `expiresAt`, on the owner's own deadline) or
 * {@link CheckBudget.cancel}. A {@link Deadline} on this signal with the same timeout
 * uses it as it is.
 *
 * @example
 * ```ts
 * const b = new CheckBudget(1000);
 * const run = runCheck(spec, 1000, b.signal);
 * // later, at the owner's deadline: if (!b.settled && now >= b.expiresAt) b.expire();
 * b.settle(); // once the run has ended
 * ```
 */
export class CheckBudget {
  /** When the budget started, on the owner's clock. */
  readonly startedAt: number;
  /** The budget in milliseconds. */
  readonly timeoutMs: number;
  /** When, on the owner's clock, the owner should call {@link CheckBudget.expire}. */
  expiresAt: number;
  #reprieved = false;
  readonly #controller = new AbortController();
  #settled = false;
  /** See {@link CheckBudget.onAbort}. */
  #onAbort: (() => void) | null = null;

  /**
   * Starts a budget now.
   *
   * @param timeoutMs how long the run may take.
   * @param nowMs the owner's clock now (the check scheduler's is the daemon's, a
   *   manual one in tests); `performance.now()` by default.
   */
  constructor(timeoutMs: number, nowMs: number = performance.now()) {
    this.startedAt = nowMs;
    this.timeoutMs = timeoutMs;
    this.expiresAt = this.startedAt + Math.max(0, timeoutMs);
    (this.#controller.signal as BudgetSignal)[BUDGET] = this;
  }

  /** Aborts with {@link TIMED_OUT} or {@link CANCELLED}. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** True once the run ended or the signal aborted: the owner has nothing to expire. */
  get settled(): boolean {
    return this.#settled;
  }

  /**
   * Called once the signal aborts (after its listeners), while set: one callback, set
   * and cleared by the one wait the run has at a time ({@link Deadline.onEnd}), where
   * a listener on the signal cost an event-listener record per wait.
   */
  set onAbort(fn: (() => void) | null) {
    this.#onAbort = fn;
  }

  /**
   * Moves the expiry to `untilMs`, once per budget: for an owner that wakes late and
   * finds the budget expired while it could not look at the answer, which may have come
   * in meanwhile. False when the budget was already reprieved (or is settled): then it
   * expires as usual, so a daemon late on every turn still times checks out.
   *
   * @example
   * ```ts
   * if (!b.reprieve(now + 10)) b.expire();
   * ```
   */
  reprieve(untilMs: number): boolean {
    if (this.#settled || this.#reprieved) return false;
    this.#reprieved = true;
    this.expiresAt = Math.max(this.expiresAt, untilMs);
    return true;
  }

  /** The time is up: aborts with {@link TIMED_OUT} (unless already settled). */
  expire(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#controller.abort(TIMED_OUT);
    this.#aborted();
  }

  /** The owner gives up on the run: aborts with {@link CANCELLED} (unless settled). */
  cancel(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#controller.abort(CANCELLED);
    this.#aborted();
  }

  #aborted(): void {
    const fn = this.#onAbort;
    this.#onAbort = null;
    fn?.();
  }

  /** The run has ended: nothing will abort the signal any more. */
  settle(): void {
    this.#settled = true;
  }
}

/**
 * A timeout joined with a caller's abort signal.
 *
 * @example
 * ```ts
 * const d = new Deadline(new AbortController().signal, 1000);
 * try {
 *   await Deno.connect({ hostname: "127.0.0.1", port: 80, signal: d.signal });
 * } finally {
 *   d.dispose();
 * }
 * ```
 */
export class Deadline {
  /** Aborted once the timeout passes or the caller's signal aborts. */
  readonly signal: AbortSignal;
  /**
   * `performance.now()` when the budget started, as the turn's {@link checkClock} read
   * it (the checks started in one batch share a reading).
   */
  readonly startedAt: number;
  readonly #timeoutMs: number;
  /** Null when the budget is adopted from a {@link CheckBudget}. */
  readonly #controller: AbortController | null;
  /** The adopted budget, when there is one. */
  readonly #budget: CheckBudget | null = null;
  readonly #parent: AbortSignal;
  /** See {@link Deadline.onEnd} (own budget only; an adopted one keeps its own). */
  #onEnd: (() => void) | null = null;
  /** Cancels the timeout's reactor timer (a Deno timer would fire late in a blocking wait). */
  #timer: (() => void) | undefined;
  #timedOut = false;
  #done: Promise<void> | null = null;

  /**
   * Starts the budget now, or adopts the one `parent` already is (a
   * {@link CheckBudget}'s signal with the same timeout).
   *
   * @param parent the caller's signal (scheduler stop, check removed).
   * @param timeoutMs the budget; the signal aborts this long from now.
   */
  constructor(parent: AbortSignal, timeoutMs: number) {
    this.startedAt = checkClock.now();
    this.#timeoutMs = timeoutMs;
    this.#parent = parent;
    const budget = (parent as BudgetSignal)[BUDGET];
    if (budget !== undefined && budget.timeoutMs === timeoutMs) {
      this.#budget = budget;
      this.#controller = null;
      this.signal = parent;
      return;
    }
    this.#controller = new AbortController();
    this.signal = this.#controller.signal;
    if (parent.aborted) {
      this.#controller.abort(CANCELLED);
      return;
    }
    parent.addEventListener("abort", this.#onParentAbort, { once: true });
    this.#timer = defaultReactor().at(this.startedAt + Math.max(0, timeoutMs), this.#onTimeout);
  }

  /** True when the timeout (not the caller) ended the budget. */
  get timedOut(): boolean {
    return this.#controller === null ? this.signal.reason === TIMED_OUT : this.#timedOut;
  }

  /** True once the budget has ended, either way. */
  get expired(): boolean {
    return this.signal.aborted;
  }

  /**
   * Why the budget ended: `timed out after 1000 ms` or `aborted`.
   *
   * @example
   * ```ts
   * if (d.expired) return failed(`connect ${where}: ${d.reason()}`, d.startedAt);
   * ```
   */
  reason(): string {
    return this.timedOut ? `timed out after ${this.#timeoutMs} ms` : "aborted";
  }

  /**
   * Resolves when the budget ends (never rejects); for racing against reads that take
   * no signal.
   *
   * @example
   * ```ts
   * const got = await Promise.race([conn.read(buf), d.done().then(() => null)]);
   * ```
   */
  done(): Promise<void> {
    if (this.#done === null) {
      this.#done = this.signal.aborted ? Promise.resolve() : new Promise((resolve) => {
        this.signal.addEventListener("abort", () => resolve(), { once: true });
      });
    }
    return this.#done;
  }

  /**
   * Calls `fn` once when the budget ends, while set (null clears it): for a wait kept
   * with callbacks, at most one at a time (a second replaces the first). Not called
   * when the budget has ended already: look at {@link Deadline.expired} first.
   *
   * @example
   * ```ts
   * d.onEnd(() => stopWaiting());
   * // ... the wait ended otherwise:
   * d.onEnd(null);
   * ```
   */
  onEnd(fn: (() => void) | null): void {
    if (this.#budget !== null) this.#budget.onAbort = fn;
    else this.#onEnd = fn;
  }

  #ended(): void {
    const fn = this.#onEnd;
    this.#onEnd = null;
    fn?.();
  }

  /**
   * Releases the timer and the listener on the caller's signal. Idempotent. The
   * signal stays as it is: a connection tied to it is not closed by this.
   *
   * @example
   * ```ts
   * d.dispose();
   * ```
   */
  dispose(): void {
    // An adopted budget has nothing of its own to release: its owner settles it.
    if (this.#controller === null) return;
    if (this.#timer !== undefined) {
      this.#timer();
      this.#timer = undefined;
    }
    this.#parent.removeEventListener("abort", this.#onParentAbort);
  }

  #onTimeout = (): void => {
    this.#timer = undefined;
    this.#timedOut = true;
    this.#parent.removeEventListener("abort", this.#onParentAbort);
    this.#controller?.abort(TIMED_OUT);
    this.#ended();
  };

  #onParentAbort = (): void => {
    if (this.#timer !== undefined) this.#timer();
    this.#timer = undefined;
    this.#controller?.abort(CANCELLED);
    this.#ended();
  };
}
