/**
 * The real probes of the tracker hub: health checks on the `lib/check` scheduler,
 * track files through {@link FileWatcher}, process counts through
 * {@link ProcessWatcher}. What `hacore run` gives its daemon.
 *
 * @example
 * ```ts
 * const hub = new TrackerHub({ probes: systemProbes(), logger });
 * ```
 *
 * @module
 */

// A namespace import: the module must load even where the scheduler is only declared
// (its contract stub), so that a config without checks still runs.
import * as scheduler from "../check/scheduler.ts";
import { FileWatcher } from "./file.ts";
import type { TrackProbes } from "./hub.ts";
import { ProcessWatcher } from "./process.ts";

/**
 * Options of {@link systemProbes}.
 *
 * @example
 * ```ts
 * const opts: SystemProbeOptions = { fileRereadMs: 1000, processScanMs: 1000 };
 * ```
 */
export interface SystemProbeOptions {
  /** Track files are re-read this often besides their watches; 1000 ms by default. */
  readonly fileRereadMs?: number;
  /** `/proc` is scanned this often; 1000 ms by default. */
  readonly processScanMs?: number;
}

/**
 * The production probes.
 *
 * @example
 * ```ts
 * const probes = systemProbes({ processScanMs: 500 });
 * ```
 */
export function systemProbes(opts: SystemProbeOptions = {}): TrackProbes {
  return {
    checks(onChange) {
      const Scheduler = scheduler.CheckScheduler as typeof scheduler.CheckScheduler | undefined;
      if (typeof Scheduler !== "function") {
        throw new Error("this build has no check scheduler (lib/check/scheduler.ts)");
      }
      return new Scheduler({ onChange });
    },
    files: (onChange, warn) =>
      new FileWatcher({ onReading: onChange, onWarning: warn, rereadMs: opts.fileRereadMs }),
    processes: (onChange, warn) =>
      new ProcessWatcher({ onCounts: onChange, onWarning: warn, intervalMs: opts.processScanMs }),
  };
}
