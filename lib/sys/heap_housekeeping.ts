/**
 * A full V8 collection once a minute (the first a few seconds after the start), on the
 * daemon's loop, and the live heap it leaves.
 *
 * Why: a daemon this quiet (a few kilobytes promoted a second at 10 ms adverts) may run
 * an hour without V8 deciding on a full collection of its own, so its old generation
 * fills with garbage that was promoted and then died: RSS climbed ~5 MiB in the first
 * hour of a soak and only a full collection would have told a leak from that garbage.
 * Collecting every minute keeps the heap at its live size (a flat RSS, as an appliance's
 * operator expects) and reports that size (`heapLiveBytes` in status,
 * `hacore_process_heap_live_bytes`), which is the number a leak moves.
 *
 * Each collection is followed by a `malloc_trim`, which hands the collector's own freed
 * memory back.
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
 * the first transitions, the checks' first round) is then given back within seconds,
 * not a minute. 255 instances tracking 1,000 checks, ~12 s after their start, showed
 * 78-81 MiB in 4 runs of 5: a V8 heap of ~30 MiB, grown when all 255 took over at
 * once and not yet collected; 58-61 MiB once it was.
 */
export const HEAP_COLLECT_FIRST_MS = 5_000;

/**
 * Above this much heap in use, no collection is forced: a forced one stops the loop for
 * all of its marking (tens of ms for a big LVS table's heap, far more in a small guest),
 * where V8's own, incremental, collections pause for little; and a heap this big
 * allocates enough to get them. The quiet daemon this is for holds ~10 MiB.
 */
export const HEAP_COLLECT_MAX_BYTES = 32 * 1024 * 1024;

/** What the housekeeping needs of the loop: its clock and a one-shot timer. */
export interface HousekeepingClock {
  nowMs(): number;
  at(atMs: number, fn: () => void, opts?: { readonly quiet?: boolean }): () => void;
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
  /** A full collection (default: V8's `gc()` when exposed, else none). */
  readonly collect?: (() => void) | null;
  /** Heap in use now (default: `Deno.memoryUsage().heapUsed`). */
  readonly heapUsed?: () => number;
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
  const maxHeap = opts.maxHeapBytes ?? HEAP_COLLECT_MAX_BYTES;
  const firstMs = opts.firstMs ?? Math.min(HEAP_COLLECT_FIRST_MS, everyMs);
  let cancel: (() => void) | null = null;
  const arm = (inMs = everyMs) => {
    cancel = clock.at(clock.nowMs() + inMs, run, { quiet: true });
  };
  const run = () => {
    try {
      if (heapUsed() <= maxHeap) {
        collect();
        lastLiveBytes = heapUsed();
      }
    } catch {
      // A collection cannot fail in a way the daemon could act on; try again next time.
    }
    arm();
  };
  arm(firstMs);
  return () => {
    cancel?.();
    cancel = null;
  };
}

// malloc's free memory goes back after each collection: V8 mallocs its marking
// worklists and frees them when done, which left ~1-3 MiB of free chunks resident.
function exposedGc(): (() => void) | null {
  const gc = (globalThis as { gc?: unknown }).gc;
  if (typeof gc !== "function") return null;
  return () => {
    (gc as () => void)();
    trimMalloc();
  };
}
