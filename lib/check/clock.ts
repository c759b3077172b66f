/**
 * Clock readings shared by the work of one turn. In the User-Mode Linux guest there is
 * no vDSO: every `performance.now()` is a `clock_gettime` syscall, a ptrace round-trip,
 * and at 1,000 TCP checks a second the six readings each check made were 45 % of the
 * daemon's CPU (more than its sockets). keepalived's scheduler reads the time once per
 * loop iteration (`time_now`) for the same reason.
 *
 * A {@link TurnClock} reads its clock once and hands that reading out until the
 * current microtask checkpoint has passed: the checks a scheduler starts in one batch,
 * and the runs that end in one reactor wake, share one reading, so a check's duration
 * is exact to the length of the turn it ended in (a connect that completed within its
 * own calls shows 0). Where a turn begins (the scheduler's `runDue`),
 * {@link TurnClock.fresh} reads it anew and the rest of the turn sees that reading.
 *
 * @module
 */

import { defaultReactor } from "../sys/reactor.ts";

/**
 * What a {@link TurnClock} reads: the daemon's clock (`performance.now()` in
 * production, a manual one in tests).
 *
 * @example
 * ```ts
 * const source: ClockSource = { nowMs: () => performance.now() };
 * ```
 */
export interface ClockSource {
  nowMs(): number;
}

/**
 * A clock read at most once per turn, unless asked for a fresh reading.
 *
 * @example
 * ```ts
 * const clock = new TurnClock({ nowMs: () => performance.now() });
 * const a = clock.now();
 * clock.now() === a; // true until a microtask checkpoint has passed
 * clock.fresh(); // reads the clock; now() answers this from here on
 * ```
 */
export class TurnClock {
  readonly #source: ClockSource;
  #reading = 0;
  #valid = false;
  readonly #expire = (): void => {
    this.#valid = false;
  };

  /** A clock over `source`. */
  constructor(source: ClockSource) {
    this.#source = source;
  }

  /** The turn's latest reading: the clock is read only when the turn has none yet. */
  now(): number {
    return this.#valid ? this.#reading : this.fresh();
  }

  /** Reads the clock now; the rest of the turn sees this reading. */
  fresh(): number {
    this.#reading = this.#source.nowMs();
    if (!this.#valid) {
      this.#valid = true;
      // Queued behind what this turn has queued already: continuations queued later
      // (a later wake, a later await) read the clock again.
      queueMicrotask(this.#expire);
    }
    return this.#reading;
  }
}

const turnClocks = new WeakMap<ClockSource, TurnClock>();

/**
 * The one {@link TurnClock} over `source`: the daemon's check scheduler and the checks
 * themselves (on the process reactor, the daemon's clock) then share each reading.
 *
 * @example
 * ```ts
 * turnClockOf(reactor) === turnClockOf(reactor); // true
 * ```
 */
export function turnClockOf(source: ClockSource): TurnClock {
  let clock = turnClocks.get(source);
  if (clock === undefined) {
    clock = new TurnClock(source);
    turnClocks.set(source, clock);
  }
  return clock;
}

/**
 * The checks' own clock: `performance.now()` as the process reactor (the daemon's
 * clock) reads it, through the same {@link TurnClock} as a scheduler on that reactor.
 * What durations and per-check deadlines are measured on.
 *
 * @example
 * ```ts
 * const startedAt = checkClock.now();
 * // ... the check, across awaits ...
 * const took = checkClock.now() - startedAt;
 * ```
 */
export const checkClock: Pick<TurnClock, "now" | "fresh"> = {
  now: () => turnClockOf(defaultReactor()).now(),
  fresh: () => turnClockOf(defaultReactor()).fresh(),
};
