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

import { type Logger, type RateLimiter, suppressedNote, suppressedSummaryLine } from "../log.ts";

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
 * Whether a caught value carries errno `code` (a `SyscallError`, or a netlink error the
 * ports raise with the same `code`).
 *
 * @example
 * ```ts
 * hasErrorCode(new SyscallError("if_nametoindex", 19, "eth9"), "ENODEV"); // true
 * ```
 */
export function hasErrorCode(e: unknown, code: string): boolean {
  return typeof e === "object" && e !== null && (e as { code?: unknown }).code === code;
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
export type RateLog = (key: string, level: RateLevel, msg: string) => void;

/**
 * A {@link RateLog} that also owes summaries: {@link FlushingRateLog.flush} prints one
 * "N similar lines suppressed" line per key whose window ended with lines held back,
 * so that a flood that stopped is still reported (the counters count every one).
 *
 * @example
 * ```ts
 * const rateLog: FlushingRateLog = makeRateLog(log, new RateLimiter(), () => clock.nowMs());
 * rateLog.flush(); // on every loop turn
 * ```
 */
export interface FlushingRateLog extends RateLog {
  /** Prints the summaries that are due. */
  flush(): void;
}

/**
 * A {@link RateLog} over a logger, a limiter and the daemon's clock: the one limiter
 * every line the network or a config can trigger goes through.
 *
 * @example
 * ```ts
 * const rateLog = makeRateLog(new Logger(), new RateLimiter(10_000), () => clock.nowMs());
 * rateLog("VI_1/send", "warn", "VI_1: cannot send an advert to 224.0.0.18: ENETDOWN");
 * ```
 */
export function makeRateLog(
  log: Logger,
  limiter: RateLimiter,
  nowMs: () => number,
): FlushingRateLog {
  // The level of each key's last line, so its summary goes out at the same level.
  const levels = new Map<string, RateLevel>();
  const rateLog = (key: string, level: RateLevel, msg: string) => {
    const used = limiter.keyFor(key);
    levels.set(used, level);
    const v = limiter.check(used, nowMs());
    if (v.allow) log.log(level, msg + suppressedNote(v.suppressed));
  };
  const flush = () => {
    for (const s of limiter.sweep(nowMs())) {
      log.log(levels.get(s.key) ?? "warn", suppressedSummaryLine(s, limiter.windowMs));
    }
    if (levels.size > limiter.size) {
      for (const k of levels.keys()) if (limiter.pending(k) === 0) levels.delete(k);
    }
  };
  return Object.assign(rateLog, { flush });
}

/**
 * The levels a rate-limited line may have.
 *
 * @example
 * ```ts
 * const level: RateLevel = "notice";
 * ```
 */
export type RateLevel = "debug" | "info" | "notice" | "warn" | "error";
