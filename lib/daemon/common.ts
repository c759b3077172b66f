/**
 * The small helpers every part of the daemon shell shares: counters kept as plain
 * records, the text of a caught error, and the rate-limited log line that drops and
 * failing kernel operations use. A module of its own so that the daemon's
 * collaborators (`runtime.ts`, `vip_reconciler.ts`, `vmac_keeper.ts`, ...) share them
 * without importing the daemon, and so that they all rate-limit through one limiter.
 *
 * @example
 * ```ts
 * const counters: Record<string, number> = {};
 * bump(counters, "sendErrors"); // { sendErrors: 1 }
 * const rateLog = makeRateLog(logger, new RateLimiter(10_000), () => clock.nowMs());
 * rateLog("eth0/vrid", "debug", "eth0: dropped a packet from 192.0.2.9: ...");
 * ```
 *
 * @module
 */

import { type Logger, type RateLimiter, suppressedNote } from "../log.ts";

/**
 * Adds `by` (1 by default) to a counter, starting it at zero.
 *
 * @example
 * ```ts
 * const c: Record<string, number> = {};
 * bump(c, "conflicts"); bump(c, "conflicts", 2); // c.conflicts === 3
 * ```
 */
export function bump(counters: Record<string, number>, name: string, by = 1): void {
  counters[name] = (counters[name] ?? 0) + by;
}

/**
 * The message of a caught value, for a log line.
 *
 * @example
 * ```ts
 * errorText(new Error("EPERM")); // "EPERM"
 * errorText("odd"); // "odd"
 * ```
 */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Logs `msg` at `level` unless another line with the same `key` went out within the
 * limiter's window; the next one that goes out says how many were held back.
 *
 * @example
 * ```ts
 * const rateLog: RateLog = (key, level, msg) => console.log(key, level, msg);
 * ```
 */
export type RateLog = (key: string, level: "debug" | "warn" | "error", msg: string) => void;

/**
 * A {@link RateLog} over a logger, a limiter and the daemon's clock.
 *
 * @example
 * ```ts
 * const rateLog = makeRateLog(new Logger(), new RateLimiter(10_000), () => clock.nowMs());
 * rateLog("VI_1/send", "warn", "VI_1: cannot send an advert to 224.0.0.18: ENETDOWN");
 * ```
 */
export function makeRateLog(log: Logger, limiter: RateLimiter, nowMs: () => number): RateLog {
  return (key, level, msg) => {
    const v = limiter.check(key, nowMs());
    if (v.allow) log.log(level, msg + suppressedNote(v.suppressed));
  };
}
