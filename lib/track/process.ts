/**
 * `vrrp_track_process` probes: how many running processes match each tracker, from one
 * scan of `/proc` per second shared by every tracker. A scan lists `/proc` once, reads
 * `/proc/PID/comm` when a tracker matches by name and `/proc/PID/cmdline` only when
 * one matches the full command line.
 *
 * Matching is exact: by name, `comm` equals `process` (the kernel keeps the first 15
 * bytes of a name, so a longer `process` is compared by its first 15); with
 * `full_command`, the command line with its arguments joined by single spaces equals
 * `process`. Kernel threads have no command line and never match a full command.
 *
 * @example
 * ```ts
 * const w = new ProcessWatcher({ onCounts: () => hub.processesChanged() });
 * w.set([{ process: "nginx", fullCommand: false }]); // scans at once (synchronously)
 * w.count({ process: "nginx", fullCommand: false }); // 3
 * await w.close();
 * ```
 *
 * @module
 */

import { defaultReactor } from "../sys/reactor.ts";

/**
 * What a tracker looks for.
 *
 * @example
 * ```ts
 * const m: ProcessMatcher = { process: "/usr/sbin/nginx -g daemon off;", fullCommand: true };
 * ```
 */
export interface ProcessMatcher {
  readonly process: string;
  readonly fullCommand: boolean;
}

/** The kernel's TASK_COMM_LEN minus its NUL: the longest name `comm` holds. */
export const COMM_MAX_CHARS = 15;

/**
 * A stable key per distinct matcher (trackers looking for the same thing share it).
 *
 * @example
 * ```ts
 * matcherKey({ process: "nginx", fullCommand: false }); // "comm:nginx"
 * ```
 */
export function matcherKey(m: ProcessMatcher): string {
  return m.fullCommand ? `cmdline:${m.process}` : `comm:${m.process.slice(0, COMM_MAX_CHARS)}`;
}

/**
 * One process as a scan saw it; a field is null when it was not read (or the process
 * was gone by then).
 *
 * @example
 * ```ts
 * const p: ProcInfo = { comm: "nginx", cmdline: null };
 * ```
 */
export interface ProcInfo {
  readonly comm: string | null;
  readonly cmdline: string | null;
}

/**
 * Counts, for each matcher (by {@link matcherKey}), the processes that match. Pure.
 *
 * @example
 * ```ts
 * countMatches([{ process: "sleep", fullCommand: false }], [{ comm: "sleep", cmdline: null }]);
 * // Map { "comm:sleep" => 1 }
 * ```
 */
export function countMatches(
  matchers: readonly ProcessMatcher[],
  procs: Iterable<ProcInfo>,
): Map<string, number> {
  const byComm = new Set<string>();
  const byCmd = new Set<string>();
  const counts = new Map<string, number>();
  for (const m of matchers) {
    const k = matcherKey(m);
    counts.set(k, 0);
    if (m.fullCommand) byCmd.add(m.process);
    else byComm.add(m.process.slice(0, COMM_MAX_CHARS));
  }
  const bump = (k: string) => counts.set(k, (counts.get(k) ?? 0) + 1);
  for (const p of procs) {
    if (p.comm !== null && byComm.has(p.comm)) bump(`comm:${p.comm}`);
    if (p.cmdline !== null && byCmd.has(p.cmdline)) bump(`cmdline:${p.cmdline}`);
  }
  return counts;
}

/** `comm` ends with a newline; `cmdline` is NUL-separated with a trailing NUL. */
function commText(raw: string): string {
  return raw.endsWith("\n") ? raw.slice(0, -1) : raw;
}

function cmdlineText(raw: string): string | null {
  if (raw === "") return null;
  const parts = raw.split("\0");
  if (parts.at(-1) === "") parts.pop();
  return parts.join(" ");
}

function needs(matchers: readonly ProcessMatcher[]): { comm: boolean; cmdline: boolean } {
  return {
    comm: matchers.some((m) => !m.fullCommand),
    cmdline: matchers.some((m) => m.fullCommand),
  };
}

/**
 * Scans `/proc` (or `root`) synchronously: for a tracker's first reading, so that the
 * first decision is made on real counts. A few milliseconds for a few hundred processes.
 *
 * @example
 * ```ts
 * scanProcessesSync([{ process: "sshd", fullCommand: false }]).get("comm:sshd"); // 1
 * ```
 */
export function scanProcessesSync(
  matchers: readonly ProcessMatcher[],
  root = "/proc",
): Map<string, number> {
  const need = needs(matchers);
  const procs: ProcInfo[] = [];
  if (matchers.length > 0) {
    for (const e of Deno.readDirSync(root)) {
      if (!/^\d+$/.test(e.name)) continue;
      const read = (f: string) => {
        try {
          return Deno.readTextFileSync(`${root}/${e.name}/${f}`);
        } catch {
          return null; // gone already
        }
      };
      const comm = need.comm ? read("comm") : null;
      const cmd = need.cmdline ? read("cmdline") : null;
      procs.push({
        comm: comm === null ? null : commText(comm),
        cmdline: cmd === null ? null : cmdlineText(cmd),
      });
    }
  }
  return countMatches(matchers, procs);
}

/** Reads at a time during an asynchronous scan. */
const SCAN_BATCH = 64;

/**
 * Scans `/proc` (or `root`) without blocking the event loop.
 *
 * @example
 * ```ts
 * (await scanProcesses([{ process: "sshd", fullCommand: false }])).get("comm:sshd");
 * ```
 */
export async function scanProcesses(
  matchers: readonly ProcessMatcher[],
  root = "/proc",
): Promise<Map<string, number>> {
  if (matchers.length === 0) return countMatches(matchers, []);
  const need = needs(matchers);
  const pids: string[] = [];
  for await (const e of Deno.readDir(root)) if (/^\d+$/.test(e.name)) pids.push(e.name);
  const read = async (pid: string, f: string) => {
    try {
      return await Deno.readTextFile(`${root}/${pid}/${f}`);
    } catch {
      return null;
    }
  };
  const procs: ProcInfo[] = [];
  for (let i = 0; i < pids.length; i += SCAN_BATCH) {
    const batch = await Promise.all(
      pids.slice(i, i + SCAN_BATCH).map(async (pid) => {
        const [comm, cmd] = await Promise.all([
          need.comm ? read(pid, "comm") : null,
          need.cmdline ? read(pid, "cmdline") : null,
        ]);
        return {
          comm: comm === null ? null : commText(comm),
          cmdline: cmd === null ? null : cmdlineText(cmd),
        };
      }),
    );
    procs.push(...batch);
  }
  return countMatches(matchers, procs);
}

/**
 * Options of {@link ProcessWatcher}.
 *
 * @example
 * ```ts
 * const opts: ProcessWatcherOptions = { onCounts: () => {}, intervalMs: 1000 };
 * ```
 */
export interface ProcessWatcherOptions {
  /** Called after a scan in which any count changed (not on `set`). */
  readonly onCounts: () => void;
  /** Time between scans; 1000 ms by default. */
  readonly intervalMs?: number;
  /** Where `/proc` is (tests); "/proc" by default. */
  readonly root?: string;
  /** Called when a scan fails (logged by the caller); the counts stay as they were. */
  readonly onWarning?: (message: string) => void;
}

/**
 * Keeps the counts of a set of matchers current; see the module notes.
 *
 * @example
 * ```ts
 * const w = new ProcessWatcher({ onCounts: () => recompute() });
 * w.set([{ process: "haproxy", fullCommand: false }]);
 * ```
 */
export class ProcessWatcher {
  readonly #onCounts: () => void;
  readonly #onWarning: (message: string) => void;
  readonly #intervalMs: number;
  readonly #root: string;
  #matchers: ProcessMatcher[] = [];
  #counts = new Map<string, number>();
  /**
   * Cancels the armed re-read: a reactor timer, which a blocking wait of the daemon's
   * reactor never delays (a Deno timer would wait for its next event-loop turn).
   */
  #timer: (() => void) | null = null;
  #closed = false;
  #failing = false;

  /**
   * Creates an idle watcher; {@link ProcessWatcher.set} gives it matchers.
   *
   * @example
   * ```ts
   * new ProcessWatcher({ onCounts: () => {} });
   * ```
   */
  constructor(opts: ProcessWatcherOptions) {
    this.#onCounts = opts.onCounts;
    this.#onWarning = opts.onWarning ?? (() => {});
    this.#intervalMs = opts.intervalMs ?? 1000;
    this.#root = opts.root ?? "/proc";
  }

  /**
   * Follows exactly these matchers from now on; when one is new, scans at once
   * (synchronously) so its count is real before anyone reads it.
   *
   * @example
   * ```ts
   * watcher.set([{ process: "nginx", fullCommand: false }]);
   * ```
   */
  set(matchers: readonly ProcessMatcher[]): void {
    if (this.#closed) return;
    const unique = new Map(matchers.map((m) => [matcherKey(m), m]));
    this.#matchers = [...unique.values()];
    const fresh = [...unique.keys()].some((k) => !this.#counts.has(k));
    if (fresh) {
      try {
        this.#counts = scanProcessesSync(this.#matchers, this.#root);
      } catch (e) {
        this.#warn(e);
        for (const k of unique.keys()) if (!this.#counts.has(k)) this.#counts.set(k, 0);
      }
    }
    for (const k of [...this.#counts.keys()]) if (!unique.has(k)) this.#counts.delete(k);
    if (this.#matchers.length === 0) this.#stopTimer();
    else if (this.#timer === null) this.#arm();
  }

  /**
   * How many processes matched at the last scan; undefined for an unknown matcher.
   *
   * @example
   * ```ts
   * watcher.count({ process: "nginx", fullCommand: false }); // 4
   * ```
   */
  count(m: ProcessMatcher): number | undefined {
    return this.#counts.get(matcherKey(m));
  }

  /**
   * Stops scanning; no callback fires afterwards.
   *
   * @example
   * ```ts
   * await watcher.close();
   * ```
   */
  close(): Promise<void> {
    this.#closed = true;
    this.#stopTimer();
    return Promise.resolve();
  }

  #arm() {
    const reactor = defaultReactor();
    this.#timer = reactor.at(reactor.nowMs() + this.#intervalMs, () => void this.#scan());
  }

  /** One scan, then the next one armed. */
  async #scan(): Promise<void> {
    this.#timer = null;
    if (this.#closed) return;
    const matchers = this.#matchers;
    // The scan reads /proc with Deno's async ops: the reactor's waits stay async meanwhile.
    const release = defaultReactor().hold();
    try {
      const counts = await scanProcesses(matchers, this.#root);
      this.#failing = false;
      // set() may have changed the matchers meanwhile: then this scan is stale.
      if (!this.#closed && matchers === this.#matchers) {
        const changed = [...counts].some(([k, n]) => this.#counts.get(k) !== n);
        this.#counts = counts;
        if (changed) this.#onCounts();
      }
    } catch (e) {
      this.#warn(e);
    } finally {
      release();
    }
    if (!this.#closed && this.#timer === null && this.#matchers.length > 0) this.#arm();
  }

  #warn(e: unknown) {
    if (this.#failing) return;
    this.#failing = true;
    this.#onWarning(
      `cannot scan ${this.#root}: ${
        e instanceof Error ? e.message : String(e)
      }; process counts stay as they were`,
    );
  }

  #stopTimer() {
    this.#timer?.();
    this.#timer = null;
  }
}
