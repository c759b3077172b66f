/**
 * The sweep: the moment, every {@link SWEEP_MS} of the check clock, when the checks
 * started in earlier turns look at what their sockets have for them (a TCP connect
 * done, an HTTP reply in) all at once. The check scheduler rounds due times to the
 * same boundaries (its `SLOT_MS` is {@link SWEEP_MS}), so a sweep falls in the wake
 * that starts the next batch of checks anyway; one reactor timer serves every waiting
 * run.
 *
 * Why: a nearby server (same host, a veth, the LAN) has answered by the next sweep. A
 * look at once mostly found nothing yet (EAGAIN, a syscall for nothing), and a watch per
 * socket woke the loop once per answer: 250-570 wakes a second for 1,000 HTTP checks
 * against the scheduler's 100, each a ppoll and clock readings (in the User-Mode Linux
 * guest, syscalls all). A run whose answer is not there by its sweep waits on the
 * reactor as before. The cost: an answer is looked at up to {@link SWEEP_MS} after it
 * came (a check's reported duration grows by as much), always within its own timeout.
 *
 * @module
 */

import { defaultReactor } from "../sys/reactor.ts";
import { checkClock } from "./clock.ts";

/** Milliseconds between sweeps, and the check scheduler's due-time slot. */
export const SWEEP_MS = 10;

/**
 * A run (or a batch of runs) waiting for the next sweep.
 *
 * @example
 * ```ts
 * const w: Sweepable = { swept: () => tryRead() };
 * ```
 */
export interface Sweepable {
  /** Called once, at the sweep. */
  swept(): void;
}

let waiting: Sweepable[] = [];
let armed = false;

/**
 * Calls `w.swept()` at the next sweep (the next {@link SWEEP_MS} boundary of the check
 * clock), with everything else waiting for it.
 *
 * @example
 * ```ts
 * atNextSweep({ swept: () => console.log("look now") });
 * ```
 */
export function atNextSweep(w: Sweepable): void {
  waiting.push(w);
  if (armed) return;
  armed = true;
  const at = (Math.floor(checkClock.now() / SWEEP_MS) + 1) * SWEEP_MS;
  defaultReactor().at(at, sweep);
}

function sweep(): void {
  const list = waiting;
  waiting = [];
  armed = false;
  for (let i = 0; i < list.length; i++) list[i].swept();
}
