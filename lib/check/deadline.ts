/**
 * The time budget of one check run: a signal that aborts when the caller aborts or the
 * timeout passes, whichever comes first, and the text that says which.
 *
 * One timer per running check, cleared by {@link Deadline.dispose}, so a finished
 * check leaves no timer behind (Deno's test sanitizers see the difference).
 *
 * @module
 */

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
  /** `performance.now()` when the budget started. */
  readonly startedAt: number;
  readonly #timeoutMs: number;
  readonly #controller = new AbortController();
  readonly #parent: AbortSignal;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timedOut = false;
  #done: Promise<void> | null = null;

  /**
   * Starts the budget now.
   *
   * @param parent the caller's signal (scheduler stop, check removed).
   * @param timeoutMs the budget; the signal aborts this long from now.
   */
  constructor(parent: AbortSignal, timeoutMs: number) {
    this.startedAt = performance.now();
    this.#timeoutMs = timeoutMs;
    this.#parent = parent;
    this.signal = this.#controller.signal;
    if (parent.aborted) {
      this.#controller.abort();
      return;
    }
    parent.addEventListener("abort", this.#onParentAbort, { once: true });
    this.#timer = setTimeout(this.#onTimeout, Math.max(0, timeoutMs));
  }

  /** True when the timeout (not the caller) ended the budget. */
  get timedOut(): boolean {
    return this.#timedOut;
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
    return this.#timedOut ? `timed out after ${this.#timeoutMs} ms` : "aborted";
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
   * Releases the timer and the listener on the caller's signal. Idempotent. The
   * signal stays as it is: a connection tied to it is not closed by this.
   *
   * @example
   * ```ts
   * d.dispose();
   * ```
   */
  dispose(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#parent.removeEventListener("abort", this.#onParentAbort);
  }

  #onTimeout = (): void => {
    this.#timer = undefined;
    this.#timedOut = true;
    this.#parent.removeEventListener("abort", this.#onParentAbort);
    this.#controller.abort();
  };

  #onParentAbort = (): void => {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#controller.abort();
  };
}
