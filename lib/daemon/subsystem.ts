/**
 * A seat in the daemon loop. The loop owns the lifecycle, the one wait and the inbox;
 * what runs in it is a list of subsystems (the VRRP runtime today, the LVS virtual
 * servers beside it next), each asked the same few things: start, the next deadline,
 * kernel events, what is due, a reload, its status section, and an orderly stop. The
 * health checks are not a subsystem: they are one service every subsystem subscribes
 * to (`lib/check/service.ts`), driven by the loop beside them.
 *
 * A subsystem's own inputs from outside the loop (a packet, a check verdict) are queued
 * with the `enqueue` it was built with, and run in the loop like every other input:
 * nothing in a subsystem runs concurrently with the loop.
 *
 * @example
 * ```ts
 * const subsystems: Subsystem<unknown>[] = [vrrpRuntime];
 * const next = earliestDeadline(subsystems.map((s) => s.nextDeadlineMs()));
 * ```
 *
 * @module
 */

import type { Config } from "../config/schema.ts";
import type { ReloadOutcome } from "../control/api.ts";
import type { KernelEvent } from "./ports.ts";

/**
 * Runs one step of loop work so that an unexpected error is counted and logged (and
 * paused on) instead of ending the loop; the daemon's, handed to
 * {@link Subsystem.start} so that one failing start step does not skip the others.
 */
export type LoopGuard = (work: () => Promise<void>) => Promise<void>;

/**
 * What the daemon reads once for every subsystem before a reload is applied.
 *
 * @example
 * ```ts
 * const facts: ReloadFacts = { linksDown: new Set(["eth1"]) };
 * ```
 */
export interface ReloadFacts {
  /** Links that were down when the reload started: an added instance there starts in Fault. */
  readonly linksDown: ReadonlySet<string>;
}

/**
 * One subsystem of the daemon; see the module notes. `S` is its status section.
 *
 * @example
 * ```ts
 * class Quiet implements Subsystem<null> {
 *   readonly name = "quiet";
 *   start() { return Promise.resolve(); }
 *   nextDeadlineMs() { return null; }
 *   onKernel() {}
 *   advance() { return Promise.resolve(); }
 *   reload() { return { ok: true, errors: [], changes: [] }; }
 *   status() { return null; }
 *   stopBudgetMs() { return 0; }
 *   shutdown() {}
 *   settled() { return true; }
 *   close() { return Promise.resolve(); }
 * }
 * ```
 */
export interface Subsystem<S> {
  /** For logs: "vrrp", "lvs". */
  readonly name: string;
  /** Before the loop's first turn: reconcile, first verdicts, the startup step. */
  start(guard: LoopGuard): Promise<void>;
  /** The earliest clock time it needs {@link Subsystem.advance}; null when none. */
  nextDeadlineMs(): number | null;
  /** A kernel address or link event (every subsystem hears every one). */
  onKernel(event: KernelEvent): void;
  /** After the turn's inputs: whatever is due or was asked for (timers, reconciles). */
  advance(): Promise<void>;
  /** Applies a validated config in one loop turn; its changes and errors, for the operator. */
  reload(next: Config, facts: ReloadFacts): ReloadOutcome;
  /** Its section of the daemon's status. */
  status(nowMs: number): S;
  /**
   * How long its orderly stop may take at most (the VRRP release hold), read when the
   * stop is asked: the daemon gives up waiting for it that long (and a grace) later.
   */
  stopBudgetMs(): number;
  /** Starts the orderly stop, in the loop's turn or while it is parked (synchronous). */
  shutdown(): void;
  /** True once its orderly stop is complete: the loop ends when every subsystem is. */
  settled(): boolean;
  /** After the loop: releases what it holds (kernel state it made, sockets, probes). */
  close(): Promise<void>;
}

/**
 * The earliest of some deadlines, null when there is none.
 *
 * @example
 * ```ts
 * earliestDeadline([null, 120, 80]); // 80
 * ```
 */
export function earliestDeadline(deadlines: Iterable<number | null>): number | null {
  let best: number | null = null;
  for (const d of deadlines) if (d !== null && (best === null || d < best)) best = d;
  return best;
}

/**
 * One reload outcome from the subsystems' own: ok when all are, their errors and
 * changes in subsystem order.
 *
 * @example
 * ```ts
 * mergeReloads([{ ok: true, errors: [], changes: ["VI_1: priority 100 -> 150"] }]);
 * ```
 */
export function mergeReloads(outcomes: readonly ReloadOutcome[]): ReloadOutcome {
  if (outcomes.length === 1) return outcomes[0];
  return {
    ok: outcomes.every((o) => o.ok),
    errors: outcomes.flatMap((o) => o.errors),
    changes: outcomes.flatMap((o) => o.changes),
  };
}
