/**
 * The check scheduler outside a daemon: it only says when it next needs to run, so a
 * test that runs it alone needs the loop a daemon would give it. {@link ClockDriver} is
 * that loop (wait on the clock for the deadline, or until woken, then run what is
 * due), and {@link drivenScheduler} a scheduler with one, on the real clock by default.
 *
 * @example
 * ```ts
 * const s = drivenScheduler({ onChange: (st) => seen.push(st), runner, random: () => 0 });
 * s.set(check);
 * await s.stop(); // the loop ends, then the scheduler stops
 * ```
 *
 * @module
 */

import { CheckScheduler, type CheckSchedulerOptions } from "../../lib/check/scheduler.ts";
import { type Clock, systemClock } from "../../lib/daemon/ports.ts";

/** What a {@link ClockDriver} drives: a scheduler, or the check service. */
export interface Driven {
  nextDeadlineMs(): number | null;
  runDue(): void;
}

/**
 * The daemon loop's part for a {@link Driven} alone: one sleep on the clock at a
 * time, cut short by {@link ClockDriver.wake}.
 *
 * @example
 * ```ts
 * let driver!: ClockDriver;
 * const s = new CheckScheduler({ clock, onChange, wake: () => driver.wake() });
 * driver = new ClockDriver(clock, s);
 * ```
 */
export class ClockDriver {
  readonly #clock: Clock;
  readonly #target: Driven;
  readonly #done: Promise<void>;
  #stopped = false;
  #poked = false;
  #wake: (() => void) | null = null;

  /**
   * Starts the loop (at the next microtask).
   *
   * @example
   * ```ts
   * const driver = new ClockDriver(systemClock, scheduler);
   * ```
   */
  constructor(clock: Clock, target: Driven) {
    this.#clock = clock;
    this.#target = target;
    this.#done = Promise.resolve().then(() => this.#loop());
  }

  /**
   * The target's deadline moved earlier: wait again.
   *
   * @example
   * ```ts
   * driver.wake();
   * ```
   */
  wake(): void {
    this.#poked = true;
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /**
   * Ends the loop and waits for it; no sleep is left pending.
   *
   * @example
   * ```ts
   * await driver.stop();
   * ```
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.wake();
    await this.#done;
  }

  async #loop(): Promise<void> {
    while (!this.#stopped) {
      this.#poked = false;
      const at = this.#target.nextDeadlineMs();
      const ac = new AbortController();
      const woken = new Promise<void>((resolve) => (this.#wake = resolve));
      const waits = [woken];
      if (at !== null) waits.push(this.#clock.sleepUntil(at, ac.signal));
      if (!this.#poked && !this.#stopped) await Promise.race(waits);
      this.#wake = null;
      ac.abort();
      if (this.#stopped) return;
      this.#target.runDue();
    }
  }
}

/**
 * A scheduler and its driver, stopped together.
 *
 * @example
 * ```ts
 * const s: DrivenScheduler = drivenScheduler({ onChange: () => {} });
 * ```
 */
export type DrivenScheduler = Pick<CheckScheduler, "set" | "remove" | "status" | "all" | "stop">;

/**
 * A scheduler on `clock` (the real one by default) with a {@link ClockDriver}; its
 * `stop` ends the driver, then stops the scheduler.
 *
 * @example
 * ```ts
 * const s = drivenScheduler({ onChange: (st) => console.log(st.id, st.up), random: () => 0 });
 * ```
 */
export function drivenScheduler(
  opts: Omit<CheckSchedulerOptions, "clock" | "wake">,
  clock: Clock = systemClock,
): DrivenScheduler {
  let driver: ClockDriver | null = null;
  const s = new CheckScheduler({ ...opts, clock, wake: () => driver?.wake() });
  driver = new ClockDriver(clock, s);
  const d = driver;
  return {
    set: (c) => s.set(c),
    remove: (id) => s.remove(id),
    status: (id) => s.status(id),
    all: () => s.all(),
    stop: async () => {
      await d.stop();
      await s.stop();
    },
  };
}
