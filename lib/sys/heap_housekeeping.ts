/**
 * A full V8 collection once a minute (the first a few seconds after the start, and
 * another whenever the anonymous memory grew by {@link HEAP_GROWTH_COLLECT_BYTES} since
 * the start or the last one), on the daemon's loop, and the live heap it leaves.
 *
 * Why: a daemon this quiet (a few kilobytes promoted a second at 10 ms adverts) may run
 * an hour without V8 deciding on a full collection of its own, so its old generation
 * fills with garbage that was promoted and then died: RSS climbed ~5 MiB in the first
 * hour of a soak and only a full collection would have told a leak from that garbage.
 * Collecting every minute keeps the heap at its live size (a flat RSS, as an appliance's
 * operator expects) and reports that size (`heapLiveBytes` in status,
 * `hacore_process_heap_live_bytes`), which is the number a leak moves.
 *
 * A collection that follows such growth is V8's "last resort" one, which also gives
 * back the pages the heap grew by and no longer uses (a plain `gc()` keeps them pooled:
 * after a burst of allocation a test process stayed at 136 MiB with a plain one and fell
 * to 45 MiB with it). It is two mark-compacts, not one (9.3 + 7.9 ms for a 50-instance
 * daemon's, against one of 6.1 ms), a pause a Master at 10 ms adverts should not take
 * for nothing: the other rounds are plain. Each is followed by a `malloc_trim`, which
 * hands the collector's own freed memory back.
 *
 * The price: one mark-compact of a ~10 MB heap a minute, a few milliseconds of the loop
 * (V8 pauses as long for its own full collections, which this makes rarer). A big heap
 * is left to V8 (see {@link HEAP_COLLECT_MAX_BYTES}). It needs
 * the `--expose-gc` V8 flag (see `lib/sys/runtime_flags.ts`); without it nothing runs
 * and the live heap stays unknown (null).
 *
 * @module
 */

import { trimMalloc } from "./libc.ts";

/** How often the full collection runs. */
export const HEAP_COLLECT_EVERY_MS = 60_000;

/**
 * When the first runs, after the start: the start's own garbage (the config as read,
 * the first transitions, the checks' first round) is then collected within seconds,
 * not a minute. On its own it did not hold 255 instances with 1,000 checks under
 * 64 MiB: their takeover burst could come after it, and a plain collection keeps the
 * pages (see {@link HEAP_GROWTH_CHECK_MS}).
 */
export const HEAP_COLLECT_FIRST_MS = 5_000;

/**
 * How often the anonymous memory is compared with what the start or the last collection
 * left, and by how much it must have grown for a collection that gives it back. A burst
 * (all 255 instances taking over at once) grew the V8 heap to ~30 MiB that plain
 * collections kept as pooled pages: 73-81 MiB in the loop bench where a given-back heap
 * leaves 56-58. At most one such collection per this much growth.
 */
export const HEAP_GROWTH_CHECK_MS = 5_000;

/** See {@link HEAP_GROWTH_CHECK_MS}. */
export const HEAP_GROWTH_COLLECT_BYTES = 8 * 1024 * 1024;

/**
 * Above this much heap in use, no collection is forced: a forced one stops the loop for
 * all of its marking (tens of ms for a big LVS table's heap, far more in a small guest),
 * where V8's own, incremental, collections pause for little; and a heap this big
 * allocates enough to get them. The quiet daemon this is for holds ~10 MiB.
 */
export const HEAP_COLLECT_MAX_BYTES = 32 * 1024 * 1024;

/**
 * A collection is put off while the loop's next timer is nearer than this (a Master's
 * advert, a Backup's Master_Down deadline): it runs just after that timer instead, in
 * the gap to the one after. A full collection pauses the loop ~6 ms (50 instances),
 * and a 10 ms Master's advert left waiting behind it was that late.
 */
export const HEAP_COLLECT_CLEARANCE_MS = 8;

/** Put-offs before a collection runs whatever comes next (checks every few ms, say). */
export const HEAP_COLLECT_MAX_DEFERRALS = 20;

/**
 * What the housekeeping needs of the loop: its clock, a one-shot timer and, when it can
 * tell, when its next timer is due (see {@link HEAP_COLLECT_CLEARANCE_MS}).
 */
export interface HousekeepingClock {
  nowMs(): number;
  at(atMs: number, fn: () => void, opts?: { readonly quiet?: boolean }): () => void;
  nextTimerAtMs?(): number;
}

/**
 * Options of {@link startHeapHousekeeping}; the defaults are the runtime's own.
 *
 * @example
 * ```ts
 * const opts: HeapHousekeepingOptions = { everyMs: 1000, collect: () => {}, heapUsed: () => 1 };
 * ```
 */
export interface HeapHousekeepingOptions {
  readonly everyMs?: number;
  /** The first round, after the start (default the sooner of {@link HEAP_COLLECT_FIRST_MS} and `everyMs`). */
  readonly firstMs?: number;
  /** Heap in use above which a round is skipped (see {@link HEAP_COLLECT_MAX_BYTES}). */
  readonly maxHeapBytes?: number;
  /**
   * A full collection, `giveBack`: the last-resort one (default {@link exposedGc}, else
   * none).
   */
  readonly collect?: ((giveBack: boolean) => void) | null;
  /** Heap in use now (default: `Deno.memoryUsage().heapUsed`). */
  readonly heapUsed?: () => number;
  /** How often growth is looked at (default {@link HEAP_GROWTH_CHECK_MS}). */
  readonly checkEveryMs?: number;
  /** Growth that brings a collection forward (default {@link HEAP_GROWTH_COLLECT_BYTES}). */
  readonly growthBytes?: number;
  /** The process's anonymous resident bytes, null when unknown (default: `RssAnon`). */
  readonly anonBytes?: () => number | null;
}

let lastLiveBytes: number | null = null;

/**
 * The heap in use right after the last full collection this module ran (null before
 * the first, or when the runtime exposes no `gc`).
 *
 * @example
 * ```ts
 * heapLiveBytes(); // e.g. 8_912_000
 * ```
 */
export function heapLiveBytes(): number | null {
  return lastLiveBytes;
}

/**
 * Starts the minute's collections on `clock`; returns the stop. A runtime without
 * `gc` gets a no-op.
 *
 * @example
 * ```ts
 * const stop = startHeapHousekeeping(reactor);
 * stop();
 * ```
 */
export function startHeapHousekeeping(
  clock: HousekeepingClock,
  opts: HeapHousekeepingOptions = {},
): () => void {
  const collect = opts.collect === undefined ? exposedGc() : opts.collect;
  if (collect === null) return () => {};
  const everyMs = opts.everyMs ?? HEAP_COLLECT_EVERY_MS;
  const heapUsed = opts.heapUsed ?? (() => Deno.memoryUsage().heapUsed);
  const anonBytes = opts.anonBytes ?? anonResidentBytes;
  const maxHeap = opts.maxHeapBytes ?? HEAP_COLLECT_MAX_BYTES;
  const growth = opts.growthBytes ?? HEAP_GROWTH_COLLECT_BYTES;
  const checkMs = Math.min(opts.checkEveryMs ?? HEAP_GROWTH_CHECK_MS, everyMs);
  let roundAt = clock.nowMs() + (opts.firstMs ?? Math.min(HEAP_COLLECT_FIRST_MS, everyMs));
  // The start's own memory is the first mark: what the instances and checks grow
  // beyond it (all of them taking over at once) is given back.
  let anonAfter = anonBytes() ?? Infinity;
  let cancel: (() => void) | null = null;
  const arm = () => {
    cancel = clock.at(Math.min(roundAt, clock.nowMs() + checkMs), run, { quiet: true });
  };
  const grown = () => {
    const anon = anonBytes();
    return anon !== null && anon - anonAfter >= growth;
  };
  let deferrals = 0;
  // Just after the loop's next timer when that is too near (see HEAP_COLLECT_CLEARANCE_MS).
  const putOff = (now: number): boolean => {
    const next = clock.nextTimerAtMs?.() ?? Infinity;
    if (next - now >= HEAP_COLLECT_CLEARANCE_MS || deferrals >= HEAP_COLLECT_MAX_DEFERRALS) {
      deferrals = 0;
      return false;
    }
    deferrals++;
    cancel = clock.at(next + 0.2, run, { quiet: true });
    return true;
  };
  const run = () => {
    try {
      const now = clock.nowMs();
      const giveBack = grown();
      if (now >= roundAt || giveBack) {
        if (putOff(now)) return;
        roundAt = now + everyMs;
        if (heapUsed() <= maxHeap) {
          collect(giveBack);
          lastLiveBytes = heapUsed();
        }
        anonAfter = anonBytes() ?? Infinity;
      }
    } catch {
      // A collection cannot fail in a way the daemon could act on; try again next time.
    }
    arm();
  };
  arm();
  return () => {
    cancel?.();
    cancel = null;
  };
}

/** `RssAnon` of `/proc/self/status`: the anonymous resident memory, what V8's heap is in. */
function anonResidentBytes(): number | null {
  try {
    const m = /^RssAnon:\s+(\d+) kB/m.exec(Deno.readTextFileSync("/proc/self/status"));
    return m === null ? null : Number(m[1]) * 1024;
  } catch {
    return null;
  }
}

/**
 * The collection a round runs: V8's full collection (its last-resort one when
 * `giveBack`), then `malloc_trim` (V8 mallocs its marking worklists and frees them when
 * done, which left ~1-3 MiB of free chunks resident). Null when the runtime exposes no
 * `gc`.
 *
 * @example
 * ```ts
 * exposedGc()?.(true);
 * ```
 */
export function exposedGc(): ((giveBack: boolean) => void) | null {
  const gc = (globalThis as { gc?: unknown }).gc;
  if (typeof gc !== "function") return null;
  const lastResort = { type: "major", execution: "sync", flavor: "last-resort" } as const;
  const run = gc as (opts?: typeof lastResort) => void;
  return (giveBack) => {
    // Not `run(undefined)`: V8 takes any argument as options, and that one as a minor GC.
    if (giveBack) run(lastResort);
    else run();
    trimMalloc();
  };
}
