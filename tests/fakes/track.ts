/**
 * Hand-driven tracker probes for tests: a test says "chk_web fails now" or "the file
 * holds 5" and the hub hears it at once, with no timer, no file and no process, so
 * daemon tests on a `ManualClock` stay deterministic.
 *
 * @example
 * ```ts
 * const probes = new FakeTrackProbes();
 * const hub = new TrackerHub({ probes, logger });
 * hub.start(config, () => recompute());
 * probes.setScript("chk_web", false, "HTTP 503 (expected 200-299)"); // recompute() runs
 * ```
 *
 * @module
 */

import type { CheckStatus } from "../../lib/check/scheduler.ts";
import type {
  CheckDefinition,
  CheckSource,
  CheckSubscription,
  VerdictListener,
} from "../../lib/check/service.ts";
import type { CheckScriptOptions, ScriptVerdict } from "../../lib/sys/script_security.ts";
import type { FileReading } from "../../lib/track/file.ts";
import {
  type FilePort,
  type ProcessPort,
  scriptCheckId,
  type TrackProbes,
} from "../../lib/track/hub.ts";
import { matcherKey, type ProcessMatcher } from "../../lib/track/process.ts";

/**
 * Probes a test drives; see the module notes.
 *
 * @example
 * ```ts
 * const probes = new FakeTrackProbes();
 * probes.setFile("/etc/hacore/maint", 5);
 * probes.setProcesses({ process: "nginx", fullCommand: false }, 0);
 * ```
 */
export class FakeTrackProbes implements TrackProbes {
  /** Every check the hub started or replaced, by id, in order (an equal re-set is none). */
  readonly checkSets: string[] = [];
  /** Check ids removed, in order. */
  readonly checkRemovals: string[] = [];
  /** Commands that script security refuses (with this reason). */
  readonly refused = new Map<string, string>();
  #statuses = new Map<string, CheckStatus>();
  #specs = new Map<string, string>();
  #files = new Map<string, FileReading>();
  #watchedFiles = new Set<string>();
  #counts = new Map<string, number>();
  #onCheck: VerdictListener | null = null;
  #onFile: (() => void) | null = null;
  #onProcess: (() => void) | null = null;
  #stopped = false;

  /**
   * The check source the hub subscribes to, instead of a daemon's service: what a
   * check says is set by hand ({@link FakeTrackProbes.setScript}).
   *
   * @example
   * ```ts
   * probes.checks().subscribe("vrrp_script", () => {});
   * ```
   */
  checks(): CheckSource {
    return { subscribe: (owner, onVerdict) => this.#subscribe(owner, onVerdict) };
  }

  #subscribe(owner: string, onVerdict: VerdictListener): CheckSubscription {
    this.#onCheck = onVerdict;
    return {
      owner,
      set: (checks) => {
        for (const id of [...this.#statuses.keys()]) {
          if (checks.has(id)) continue;
          this.checkRemovals.push(id);
          this.#statuses.delete(id);
          this.#specs.delete(id);
        }
        for (const [id, c] of checks) this.#set(id, c);
      },
      status: (id: string) => this.#statuses.get(id),
      close: () => {
        this.#stopped = true;
      },
    };
  }

  /** Adds a check, or replaces one whose spec or timing changed (an equal one stays). */
  #set(id: string, c: CheckDefinition): void {
    const json = JSON.stringify(c, (_k, v) => v instanceof Uint8Array ? [...v] : v);
    if (this.#statuses.has(id) && this.#specs.get(id) === json) return;
    this.checkSets.push(id);
    this.#specs.set(id, json);
    this.#statuses.set(id, {
      id,
      up: c.timing.initialUp,
      settled: false,
      last: null,
      weight: null,
      runs: 0,
      failures: 0,
      streak: 0,
    });
  }

  /**
   * The file port.
   *
   * @example
   * ```ts
   * probes.files(() => {}, () => {});
   * ```
   */
  files(onChange: () => void, _warn: (message: string) => void): FilePort {
    this.#onFile = onChange;
    return {
      set: (paths) => {
        this.#watchedFiles = new Set(paths);
      },
      reading: (path) =>
        this.#watchedFiles.has(path)
          ? this.#files.get(path) ?? { value: 0, detail: "missing (counts as 0)" }
          : undefined,
      close: () => {
        this.#stopped = true;
        return Promise.resolve();
      },
    };
  }

  /**
   * The process port.
   *
   * @example
   * ```ts
   * probes.processes(() => {}, () => {});
   * ```
   */
  processes(onChange: () => void, _warn: (message: string) => void): ProcessPort {
    this.#onProcess = onChange;
    let watched = new Set<string>();
    return {
      set: (ms) => {
        watched = new Set(ms.map(matcherKey));
      },
      count: (m) => watched.has(matcherKey(m)) ? this.#counts.get(matcherKey(m)) ?? 0 : undefined,
      close: () => {
        this.#stopped = true;
        return Promise.resolve();
      },
    };
  }

  /**
   * Script security: refuses the commands in {@link FakeTrackProbes.refused}.
   *
   * @example
   * ```ts
   * probes.refused.set("/tmp/x", "vrrp_script.chk: /tmp/x is in /tmp, writable by all");
   * ```
   */
  checkScript(commandLine: string, _opts: CheckScriptOptions): ScriptVerdict {
    const why = this.refused.get(commandLine);
    if (why !== undefined) return { ok: false, error: why };
    return { ok: true, path: commandLine, argv: [commandLine], warning: null };
  }

  /**
   * Sets a script's debounced state (and dynamic weight) and tells the hub.
   *
   * @example
   * ```ts
   * probes.setScript("chk_web", false, "connect 127.0.0.1:80: ECONNREFUSED");
   * ```
   */
  setScript(
    name: string,
    up: boolean,
    detail = up ? "ok" : "failed",
    weight: number | null = null,
  ) {
    const id = scriptCheckId(name);
    const was = this.#statuses.get(id);
    if (was === undefined) throw new Error(`fake probes: ${id} is not scheduled`);
    const s: CheckStatus = {
      ...was,
      up,
      settled: true,
      last: { ok: up, detail, weight, durationMs: 1 },
      weight: up ? weight : null,
      runs: was.runs + 1,
      failures: was.failures + (up ? 0 : 1),
      streak: 0,
    };
    this.#statuses.set(id, s);
    if (!this.#stopped) this.#onCheck?.(id, s);
  }

  /**
   * Whether a check is scheduled now.
   *
   * @example
   * ```ts
   * probes.scheduled("chk_web"); // true
   * ```
   */
  scheduled(name: string): boolean {
    return this.#statuses.has(scriptCheckId(name));
  }

  /**
   * Sets what a track file holds and tells the hub.
   *
   * @example
   * ```ts
   * probes.setFile("/etc/hacore/maint", 5);
   * ```
   */
  setFile(path: string, value: number, detail = String(value)) {
    this.#files.set(path, { value, detail });
    if (!this.#stopped) this.#onFile?.();
  }

  /**
   * Sets how many processes match and tells the hub.
   *
   * @example
   * ```ts
   * probes.setProcesses({ process: "nginx", fullCommand: false }, 2);
   * ```
   */
  setProcesses(m: ProcessMatcher, count: number) {
    this.#counts.set(matcherKey(m), count);
    if (!this.#stopped) this.#onProcess?.();
  }
}
