/**
 * `vrrp_track_file` probes: the integer a file holds, read when the file changes
 * (`Deno.watchFs` on its directory, so a file created, replaced by a rename or removed
 * is seen too) and re-read every second anyway, since inotify misses changes on some
 * file systems (NFS, bind mounts replaced underneath) and a lost watch must not freeze
 * a maintenance switch.
 *
 * keepalived's reading: the file holds one integer; a missing, empty or unparsable
 * file counts as 0 (and the reason is kept, for status and the log).
 *
 * @example
 * ```ts
 * const w = new FileWatcher({ onReading: (path, r) => console.log(path, r.value, r.detail) });
 * w.set(["/etc/hacore/maint"]); // reads it at once (synchronously), then watches
 * await w.close();
 * ```
 *
 * @module
 */

import { defaultReactor } from "../sys/reactor.ts";

/**
 * What a track file says now.
 *
 * @example
 * ```ts
 * const r: FileReading = { value: 0, detail: "missing (counts as 0)" };
 * ```
 */
export interface FileReading {
  /** The integer in the file; 0 when missing, empty or not an integer. */
  readonly value: number;
  /** "5", "missing (counts as 0)", `not an integer: "abc" (counts as 0)`. */
  readonly detail: string;
}

/** Longest file content worth reading: one integer and some whitespace. */
const MAX_READ_BYTES = 4096;
/** Longest excerpt of a bad content quoted in a detail. */
const QUOTE_CHARS = 40;

/**
 * Parses a track file's text: an optional sign and decimal digits, surrounded by
 * whitespace. Empty is 0.
 *
 * @example
 * ```ts
 * parseTrackFile("  -5\n"); // { value: -5, detail: "-5" }
 * parseTrackFile("abc").value; // 0
 * ```
 */
export function parseTrackFile(text: string): FileReading {
  const t = text.trim();
  if (t === "") return { value: 0, detail: "empty (counts as 0)" };
  if (/^[+-]?\d+$/.test(t)) {
    const n = Number(t);
    if (Number.isSafeInteger(n)) return { value: n, detail: String(n) };
  }
  const q = t.length > QUOTE_CHARS ? `${t.slice(0, QUOTE_CHARS)}…` : t;
  return { value: 0, detail: `not an integer: ${JSON.stringify(q)} (counts as 0)` };
}

function readingOfError(e: unknown): FileReading {
  if (e instanceof Deno.errors.NotFound) return { value: 0, detail: "missing (counts as 0)" };
  const msg = e instanceof Error ? e.message : String(e);
  return { value: 0, detail: `cannot read: ${msg} (counts as 0)` };
}

function decode(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes.subarray(0, MAX_READ_BYTES));
}

/**
 * Reads a track file now, synchronously (a few bytes; used when a tracker is added, so
 * the first decision is made on the real value). Never throws.
 *
 * @example
 * ```ts
 * readTrackFileSync("/etc/hacore/maint").value; // 0 when missing
 * ```
 */
export function readTrackFileSync(path: string): FileReading {
  try {
    return parseTrackFile(decode(Deno.readFileSync(path)));
  } catch (e) {
    return readingOfError(e);
  }
}

/**
 * Reads a track file. Never rejects.
 *
 * @example
 * ```ts
 * (await readTrackFile("/etc/hacore/maint")).detail; // "5"
 * ```
 */
export async function readTrackFile(path: string): Promise<FileReading> {
  try {
    return parseTrackFile(decode(await Deno.readFile(path)));
  } catch (e) {
    return readingOfError(e);
  }
}

/**
 * Options of {@link FileWatcher}.
 *
 * @example
 * ```ts
 * const opts: FileWatcherOptions = { onReading: () => {}, rereadMs: 1000 };
 * ```
 */
export interface FileWatcherOptions {
  /** Called with a file's reading when it differs from the last one (not on `set`). */
  readonly onReading: (path: string, reading: FileReading) => void;
  /** Re-read every file this often whatever the watches say; 1000 ms by default. */
  readonly rereadMs?: number;
  /** Called when a directory cannot be watched (the re-read still covers it). */
  readonly onWarning?: (message: string) => void;
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/**
 * Watches a set of track files; see the module notes.
 *
 * @example
 * ```ts
 * const w = new FileWatcher({ onReading: (p, r) => hub.fileChanged(p, r) });
 * w.set(["/etc/hacore/maint"]);
 * w.reading("/etc/hacore/maint")?.value; // 0
 * ```
 */
export class FileWatcher {
  readonly #onReading: FileWatcherOptions["onReading"];
  readonly #onWarning: (message: string) => void;
  readonly #rereadMs: number;
  #readings = new Map<string, FileReading>();
  #watches = new Map<string, Deno.FsWatcher>();
  /** Directories whose watch failed; retried at each re-read. */
  #unwatched = new Set<string>();
  /**
   * Cancels the armed re-read: a reactor timer, which a blocking wait of the daemon's
   * reactor never delays (a Deno timer would wait for its next event-loop turn).
   */
  #timer: (() => void) | null = null;
  #closed = false;
  #reading = false;
  #again = false;

  /**
   * Creates an idle watcher; {@link FileWatcher.set} gives it files.
   *
   * @example
   * ```ts
   * new FileWatcher({ onReading: () => {} });
   * ```
   */
  constructor(opts: FileWatcherOptions) {
    this.#onReading = opts.onReading;
    this.#onWarning = opts.onWarning ?? (() => {});
    this.#rereadMs = opts.rereadMs ?? 1000;
  }

  /**
   * Watches exactly these files (absolute paths) from now on: new ones are read at
   * once, synchronously; dropped ones are forgotten. Readings of kept files stay.
   *
   * @example
   * ```ts
   * watcher.set(["/etc/hacore/maint", "/run/app/weight"]);
   * ```
   */
  set(paths: readonly string[]): void {
    if (this.#closed) return;
    const want = new Set(paths);
    for (const p of [...this.#readings.keys()]) if (!want.has(p)) this.#readings.delete(p);
    for (const p of want) if (!this.#readings.has(p)) this.#readings.set(p, readTrackFileSync(p));
    const dirs = new Set([...want].map(dirOf));
    for (const [dir, w] of this.#watches) {
      if (dirs.has(dir)) continue;
      this.#watches.delete(dir);
      closeQuietly(w);
    }
    for (const dir of this.#unwatched) if (!dirs.has(dir)) this.#unwatched.delete(dir);
    for (const dir of dirs) if (!this.#watches.has(dir)) this.#watch(dir);
    if (want.size === 0) this.#stopTimer();
    else if (this.#timer === null) this.#arm();
  }

  /**
   * The last reading of a watched file.
   *
   * @example
   * ```ts
   * watcher.reading("/etc/hacore/maint"); // { value: 0, detail: "missing (counts as 0)" }
   * ```
   */
  reading(path: string): FileReading | undefined {
    return this.#readings.get(path);
  }

  /**
   * Stops every watch and timer; no callback fires afterwards.
   *
   * @example
   * ```ts
   * await watcher.close();
   * ```
   */
  close(): Promise<void> {
    this.#closed = true;
    this.#stopTimer();
    for (const w of this.#watches.values()) closeQuietly(w);
    this.#watches.clear();
    this.#readings.clear();
    return Promise.resolve();
  }

  #watch(dir: string) {
    let w: Deno.FsWatcher;
    try {
      w = Deno.watchFs(dir, { recursive: false });
    } catch (e) {
      if (!this.#unwatched.has(dir)) {
        this.#onWarning(
          `cannot watch ${dir} (${
            e instanceof Error ? e.message : String(e)
          }); re-reading its track files every ${this.#rereadMs} ms`,
        );
      }
      this.#unwatched.add(dir);
      return;
    }
    this.#unwatched.delete(dir);
    this.#watches.set(dir, w);
    void this.#follow(dir, w);
  }

  async #follow(dir: string, w: Deno.FsWatcher) {
    try {
      for await (const ev of w) {
        if (this.#closed || this.#watches.get(dir) !== w) return;
        // A busy directory (/run) sees many events; only ours cost a read.
        if (ev.paths.some((p) => this.#readings.has(p))) void this.#rereadAll();
      }
    } catch {
      // The directory went away: the timer re-reads and re-creates the watch.
    }
    if (this.#watches.get(dir) === w) {
      this.#watches.delete(dir);
      this.#unwatched.add(dir);
    }
  }

  #arm() {
    const reactor = defaultReactor();
    this.#timer = reactor.at(reactor.nowMs() + this.#rereadMs, () => {
      this.#timer = null;
      if (this.#closed) return;
      for (const dir of [...this.#unwatched]) this.#watch(dir);
      void this.#rereadAll().finally(() => {
        if (!this.#closed && this.#timer === null && this.#readings.size > 0) this.#arm();
      });
    });
  }

  #stopTimer() {
    this.#timer?.();
    this.#timer = null;
  }

  /** Re-reads every file; one pass at a time (a burst of events costs one more pass). */
  async #rereadAll(): Promise<void> {
    if (this.#reading) {
      this.#again = true;
      return;
    }
    this.#reading = true;
    // The reads are Deno's async ops: the reactor's waits stay async until they are done.
    const release = defaultReactor().hold();
    try {
      do {
        this.#again = false;
        for (const path of [...this.#readings.keys()]) {
          const r = await readTrackFile(path);
          if (this.#closed) return;
          const was = this.#readings.get(path);
          // Dropped by set() while reading: not ours any more.
          if (was === undefined) continue;
          if (was.value === r.value && was.detail === r.detail) continue;
          this.#readings.set(path, r);
          this.#onReading(path, r);
        }
      } while (this.#again && !this.#closed);
    } finally {
      this.#reading = false;
      release();
    }
  }
}

function closeQuietly(w: Deno.FsWatcher) {
  try {
    w.close();
  } catch {
    // already closed
  }
}
