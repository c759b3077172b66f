/**
 * The real probes of the tracker hub: track files through {@link FileWatcher}, process
 * counts through {@link ProcessWatcher}. What `hacore run` gives its daemon. Health
 * checks are not a probe: they run on the daemon's check service.
 *
 * @example
 * ```ts
 * const hub = new TrackerHub({ probes: systemProbes(), logger });
 * ```
 *
 * @module
 */

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
    files: (onChange, warn) =>
      new FileWatcher({ onReading: onChange, onWarning: warn, rereadMs: opts.fileRereadMs }),
    processes: (onChange, warn) =>
      new ProcessWatcher({ onCounts: onChange, onWarning: warn, intervalMs: opts.processScanMs }),
  };
}
