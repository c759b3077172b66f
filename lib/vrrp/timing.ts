/**
 * VRRP timer arithmetic (RFC 3768 §6.1, RFC 5798 / RFC 9568 §6.1), in milliseconds.
 *
 * Nothing is truncated: v2 skews are multiples of 1000/256 ms and v3 skews are
 * multiples of interval/256 ms, both exact in binary floating point, so two routers
 * computing the same deadline get the same number and golden traces stay stable.
 *
 * @module
 */

import type { VrrpVersion } from "./types.ts";

/**
 * Skew_Time: how much longer a lower-priority Backup waits, so that the best Backup
 * answers first.
 *
 * - v2 (RFC 3768): `(256 - Priority) / 256` seconds; the interval plays no part.
 * - v3 (RFC 5798/9568): `((256 - Priority) * Master_Adver_Interval) / 256`.
 *
 * @example
 * ```ts
 * skewTimeMs(2, 100, 1000); // 609.375
 * skewTimeMs(3, 200, 10); // 2.1875
 * ```
 */
export function skewTimeMs(
  version: VrrpVersion,
  priority: number,
  masterAdverIntervalMs: number,
): number {
  if (version === 2) return ((256 - priority) * 1000) / 256;
  return ((256 - priority) * masterAdverIntervalMs) / 256;
}

/**
 * Master_Down_Interval: `3 × Master_Adver_Interval + Skew_Time`, how long a Backup
 * waits without hearing the Master before taking over.
 *
 * @example
 * ```ts
 * masterDownIntervalMs(2, 100, 1000); // 3609.375
 * masterDownIntervalMs(3, 200, 10); // 32.1875
 * ```
 */
export function masterDownIntervalMs(
  version: VrrpVersion,
  priority: number,
  masterAdverIntervalMs: number,
): number {
  return 3 * masterAdverIntervalMs + skewTimeMs(version, priority, masterAdverIntervalMs);
}

/**
 * The first Master_Down deadline of a Backup that just started: Master_Down_Interval
 * from the moment the router started (`startedAtMs`, the process's exec), so that
 * routers started together decide by priority however long each took to open its
 * sockets; but never sooner than one advert interval plus Skew_Time after `nowMs`
 * (sockets open and joined), so a restarting Backup always hears a live Master's
 * advert before it may take over, even when starting took longer than the interval.
 * Without `startedAtMs` (or one in the future) it is the RFC's full
 * Master_Down_Interval from `nowMs`.
 *
 * @example
 * ```ts
 * firstMasterDownMs(3, 150, 100, 0, 135); // 341.40625: 0 + 3 × 100 + 41.40625
 * firstMasterDownMs(3, 150, 10, 0, 135); // 149.140625: 135 + 10 + 4.140625
 * firstMasterDownMs(3, 150, 100, null, 135); // 476.40625
 * ```
 */
export function firstMasterDownMs(
  version: VrrpVersion,
  priority: number,
  masterAdverIntervalMs: number,
  startedAtMs: number | null,
  nowMs: number,
): number {
  const full = masterDownIntervalMs(version, priority, masterAdverIntervalMs);
  if (startedAtMs === null || startedAtMs >= nowMs) return nowMs + full;
  const floor = nowMs + masterAdverIntervalMs +
    skewTimeMs(version, priority, masterAdverIntervalMs);
  return Math.max(startedAtMs + full, floor);
}

/**
 * The earlier of two deadlines, null meaning none: for the deadline scans run on every
 * loop turn, which compare in place rather than build an array to take its minimum.
 *
 * @example
 * ```ts
 * earlierDeadline(null, 20); // 20
 * earlierDeadline(10, 20); // 10
 * ```
 */
export function earlierDeadline(a: number | null, b: number | null): number | null {
  return a === null || (b !== null && b < a) ? b : a;
}
