/**
 * Advert send lateness from a capture: the gaps between a master's consecutive adverts,
 * by the kernel's capture stamps on the wire side, minus the advert interval. The
 * daemon's own clock never enters: a daemon whose timer fires late, or whose event
 * loop is busy when it fires, shows up here as it shows up to its backups.
 *
 * @example
 * ```ts
 * const l = advertLateness(cap.frames, { src: "192.0.2.11", vrid: 51, intervalMs: 10, fromMs, toMs });
 * l.p99Ms;
 * ```
 *
 * @module
 */

import { decodeVrrp, type Frame } from "./capture.ts";
import { percentile } from "./stats.ts";

/**
 * Which adverts to look at: one sender's, for one VRID, stamped within [fromMs, toMs]
 * (CLOCK_REALTIME ms, as captured).
 *
 * @example
 * ```ts
 * const s: AdvertSelector = { src: "192.0.2.11", vrid: 51, intervalMs: 10, fromMs: 0, toMs: Infinity };
 * ```
 */
export interface AdvertSelector {
  readonly src: string;
  readonly vrid: number;
  readonly intervalMs: number;
  readonly fromMs: number;
  readonly toMs: number;
}

/**
 * What the gaps say; lateness figures are null without at least two adverts.
 *
 * @example
 * ```ts
 * const l: Lateness = { adverts: 0, expected: 6000, p50Ms: null, p99Ms: null, maxMs: null, minMs: null, skipped: 0 };
 * ```
 */
export interface Lateness {
  /** Adverts seen in the window. */
  readonly adverts: number;
  /** Adverts an on-time sender would have sent in the window. */
  readonly expected: number;
  /** Percentiles (nearest rank) of gap − interval, ms; negative is early. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
  readonly minMs: number | null;
  /** Gaps of two intervals or more: at least one advert not sent when due. */
  readonly skipped: number;
  /**
   * Gaps under half an interval. A sender that resets its timer on every send (RFC 5798)
   * makes none; seen at a receiver, they are stamps bunched by a late receive path.
   */
  readonly bunched: number;
}

/**
 * Lateness of the selected adverts among `frames` (priority 0 adverts are left out:
 * they are the sender resigning, not its timer).
 *
 * @example
 * ```ts
 * advertLateness(frames, { src: "192.0.2.11", vrid: 51, intervalMs: 10, fromMs: t0, toMs: t1 });
 * ```
 */
export function advertLateness(frames: readonly Frame[], sel: AdvertSelector): Lateness {
  const times: number[] = [];
  for (const f of frames) {
    if (f.realMs < sel.fromMs || f.realMs > sel.toMs) continue;
    const a = decodeVrrp(f);
    if (a !== null && a.src === sel.src && a.vrid === sel.vrid && a.priority > 0) {
      times.push(a.realMs);
    }
  }
  times.sort((a, b) => a - b);
  const late: number[] = [];
  for (let i = 1; i < times.length; i++) late.push(times[i] - times[i - 1] - sel.intervalMs);
  const span = Number.isFinite(sel.toMs - sel.fromMs) ? sel.toMs - sel.fromMs : 0;
  return {
    adverts: times.length,
    expected: Math.floor(span / sel.intervalMs),
    p50Ms: percentile(late, 50),
    p99Ms: percentile(late, 99),
    maxMs: late.length > 0 ? Math.max(...late) : null,
    minMs: late.length > 0 ? Math.min(...late) : null,
    skipped: late.filter((x) => x >= sel.intervalMs).length,
    bunched: late.filter((x) => x < -sel.intervalMs / 2).length,
  };
}
