/**
 * When this process started, on `performance.now()`'s scale: the anchor of a VRRP
 * router's first Master_Down deadline (`firstMasterDownMs` in `lib/vrrp/timing.ts`).
 * Routers spawned together then decide by priority however long each takes to load its
 * modules and open its sockets, as keepalived (which starts in ~12 ms) does by being fast.
 *
 * `/proc/self/stat`'s `starttime` (the fork, in USER_HZ ticks on CLOCK_BOOTTIME) set
 * against CLOCK_BOOTTIME now: truncated to a 10 ms tick, and the same tick for
 * processes spawned within one, which is what decides the order of routers started
 * together. `performance.timeOrigin` would not do: it is taken once the runtime is up,
 * 20 to 55 ms after the spawn here, with the jitter this is meant to remove.
 *
 * @module
 */
import { clockBoottimeUsec } from "./libc.ts";

/** USER_HZ, the unit of `/proc/PID/stat` times: 100 on every Linux architecture we run on. */
const USER_HZ = 100;
/** `starttime` is field 22; the fields after the `(comm)` one start at field 3. */
const STARTTIME_AFTER_COMM = 22 - 3;

/**
 * The `starttime` field of a `/proc/PID/stat` line, in ticks; null when it is not there.
 * The command name may hold spaces and parentheses: fields are counted after its last `)`.
 *
 * @example
 * ```ts
 * statStartTicks("42 (a) b) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 12345 0"); // 12345
 * ```
 */
export function statStartTicks(stat: string): number | null {
  const close = stat.lastIndexOf(")");
  if (close < 0) return null;
  const field = stat.slice(close + 2).split(" ")[STARTTIME_AFTER_COMM];
  const ticks = Number(field);
  return field === undefined || field === "" || !Number.isFinite(ticks) ? null : ticks;
}

/**
 * This process's start on `performance.now()`'s scale (the daemon's clock); null when
 * it cannot be told (no procfs), and never later than now.
 *
 * @example
 * ```ts
 * const startedAtMs = processStartedAtMs(); // e.g. -41.2
 * ```
 */
export function processStartedAtMs(): number | null {
  try {
    const ticks = statStartTicks(Deno.readTextFileSync("/proc/self/stat"));
    if (ticks === null) return null;
    // The first call opens libc (milliseconds): not between the two readings below.
    clockBoottimeUsec();
    const sinceBootMs = Number(clockBoottimeUsec()) / 1000;
    const nowMs = performance.now();
    const agoMs = sinceBootMs - (ticks * 1000) / USER_HZ;
    return nowMs - Math.max(0, agoMs);
  } catch {
    return null;
  }
}
