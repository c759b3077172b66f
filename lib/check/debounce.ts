/**
 * Rise/fall debouncing of check results, keepalived's way: a healthy check turns
 * failing after `fall` failures in a row, a failing one turns healthy after `rise`
 * passes in a row.
 *
 * The state before the first result is a guess (`initialUp`), and the two guesses are
 * not alike, as in keepalived:
 * - `initialUp = true` (keepalived's default): "probably fine, check at once". The
 *   first result decides on its own, whatever `rise` and `fall` say, so a daemon that
 *   starts with a dead backend does not claim it healthy for `fall` intervals.
 * - `initialUp = false` (`init_fail`): "failing until proven". The check is treated as
 *   settled down, and needs `rise` passes like any failing check.
 *
 * With `failFastOnRefused`, a definitive failure (the connection refused, or reset
 * before any reply) takes a healthy check down at once: `fall` is there to ride out
 * timeouts and bad replies, which can pass; nothing listening does not pass by itself.
 *
 * Pure: no clock, no I/O.
 *
 * @module
 */

import type { CheckResult, CheckTiming } from "./types.ts";

/**
 * The debounced view of one check.
 *
 * @example
 * ```ts
 * const s: DebounceState = { up: true, settled: false, streak: 0, weight: null };
 * ```
 */
export interface DebounceState {
  /** Debounced health. */
  readonly up: boolean;
  /** false until the first result arrived. */
  readonly settled: boolean;
  /** Results in a row that disagree with `up` (progress towards `rise` or `fall`). */
  readonly streak: number;
  /**
   * The dynamic weight the check contributes: that of the latest passing result while
   * `up`, null while down or when the check has no dynamic weight.
   */
  readonly weight: number | null;
}

/**
 * What {@link debounceStep} decided.
 *
 * @example
 * ```ts
 * const o: DebounceOutcome = { state: initialDebounce(true), changed: false };
 * ```
 */
export interface DebounceOutcome {
  /** The state after the result. */
  readonly state: DebounceState;
  /** `up` or `weight` differs from the state before: the caller must tell its listeners. */
  readonly changed: boolean;
}

/**
 * The state of a check that has not run yet.
 *
 * @example
 * ```ts
 * initialDebounce(false); // { up: false, settled: false, streak: 0, weight: null }
 * ```
 */
export function initialDebounce(initialUp: boolean): DebounceState {
  return { up: initialUp, settled: false, streak: 0, weight: null };
}

/**
 * Folds one result into the state.
 *
 * @example
 * ```ts
 * const t = { rise: 2, fall: 2 };
 * let s = initialDebounce(true);
 * s = debounceStep(s, { ok: true, weight: null }, t).state; // up, settled
 * const o = debounceStep(s, { ok: false, weight: null }, t); // still up, streak 1
 * debounceStep(o.state, { ok: false, weight: null }, t).changed; // true: down
 * ```
 */
export function debounceStep(
  state: DebounceState,
  result: Pick<CheckResult, "ok" | "weight" | "definitive">,
  timing: Pick<CheckTiming, "rise" | "fall" | "failFastOnRefused">,
): DebounceOutcome {
  let up = state.up;
  let streak = 0;
  let weight = state.weight;
  const passWeight = result.ok ? result.weight : null;
  if (!state.settled && state.up) {
    // The optimistic start: the first result decides on its own.
    up = result.ok;
    weight = passWeight;
  } else if (up) {
    if (result.ok) {
      weight = passWeight;
    } else {
      streak = state.streak + 1;
      const definitive = result.definitive === true && timing.failFastOnRefused === true;
      if (definitive || streak >= Math.max(1, timing.fall)) {
        up = false;
        streak = 0;
        weight = null;
      }
    }
  } else if (result.ok) {
    streak = state.streak + 1;
    if (streak >= Math.max(1, timing.rise)) {
      up = true;
      streak = 0;
      weight = passWeight;
    }
  }
  const changed = up !== state.up || weight !== state.weight;
  // A steady check folds into the state it had: the same object, so a daemon running
  // 1,000 steady checks a second keeps no new state per run past a young GC.
  if (!changed && state.settled && streak === state.streak) return { state, changed };
  return { state: { up, settled: true, streak, weight }, changed };
}
