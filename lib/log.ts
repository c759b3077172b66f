/**
 * A small logger: five levels, one line per record, to stderr by default.
 *
 * Formats:
 * - human (default): `2026-11-21T22:59:06.400Z notice VI_1: BACKUP -> MASTER (...) key=value`;
 * - json: one object per line, `{"ts":"…","level":"notice","msg":"…",…fields}`.
 *
 * Under systemd (`JOURNAL_STREAM` set, see {@link journaldFromEnv}) the human format
 * starts each line with the syslog priority (`<5>notice VI_1: …`) instead of a
 * timestamp: journald records its own time and reads the `<N>` as the priority, so
 * `journalctl -p warning` works and no time is printed twice.
 *
 * The sink is injected, so tests capture lines instead of writing to stderr, and the
 * wall clock is injected, so a simulated daemon logs simulated time.
 *
 * {@link RateLimiter} keeps hostile or broken traffic from flooding the log: at most
 * one line per (reason, source) key per window, the next line says how many were held
 * back, and {@link RateLimiter.sweep} owes a "N similar lines suppressed" summary for a
 * flood that stopped. {@link truncateText} bounds any value that came from outside.
 *
 * @example
 * ```ts
 * const lines: string[] = [];
 * const log = new Logger({ sink: (l) => lines.push(l), wallClock: () => new Date(0) });
 * log.notice("VI_1: BACKUP -> MASTER", { vrid: 51 });
 * lines[0]; // "1970-01-01T00:00:00.000Z notice VI_1: BACKUP -> MASTER vrid=51"
 * ```
 *
 * @module
 */

/**
 * Severity of a record, least to most severe.
 *
 * @example
 * ```ts
 * const level: LogLevel = "notice";
 * ```
 */
export type LogLevel = "debug" | "info" | "notice" | "warn" | "error";

/**
 * Levels in increasing severity; a logger at level L prints L and everything after it.
 *
 * @example
 * ```ts
 * LOG_LEVELS.indexOf("warn") > LOG_LEVELS.indexOf("info"); // true
 * ```
 */
export const LOG_LEVELS: readonly LogLevel[] = Object.freeze([
  "debug",
  "info",
  "notice",
  "warn",
  "error",
]);

/**
 * The syslog priority (RFC 5424 severity) journald reads from a `<N>` line prefix.
 *
 * @example
 * ```ts
 * SYSLOG_PRIORITY.warn; // 4 (LOG_WARNING)
 * ```
 */
export const SYSLOG_PRIORITY: Readonly<Record<LogLevel, number>> = Object.freeze({
  debug: 7,
  info: 6,
  notice: 5,
  warn: 4,
  error: 3,
});

/**
 * Extra structured data on a record: printed as `key=value` (human) or as keys of the
 * object (json).
 *
 * @example
 * ```ts
 * const f: LogFields = { instance: "VI_1", vrid: 51, held: true };
 * ```
 */
export type LogFields = Readonly<Record<string, string | number | boolean | null>>;

/**
 * Output format of a logger.
 *
 * @example
 * ```ts
 * const f: LogFormat = "json";
 * ```
 */
export type LogFormat = "human" | "json";

/**
 * Where finished lines go (without the trailing newline).
 *
 * @example
 * ```ts
 * const lines: string[] = [];
 * const sink: LogSink = (line) => lines.push(line);
 * ```
 */
export type LogSink = (line: string) => void;

/**
 * Options of {@link Logger}; every field has a default.
 *
 * @example
 * ```ts
 * const opts: LoggerOptions = { level: "debug", format: "json" };
 * ```
 */
export interface LoggerOptions {
  /** Least severe level printed; "info" by default. */
  level?: LogLevel;
  /** "human" by default. */
  format?: LogFormat;
  /** Where lines go; {@link stderrSink} by default. */
  sink?: LogSink;
  /** Prefix `<N>` syslog priorities instead of timestamps (human format). */
  journald?: boolean;
  /** Wall clock for timestamps; `new Date()` by default. */
  wallClock?: () => Date;
}

const encoder = new TextEncoder();

/**
 * Writes one line to stderr synchronously, so lines are never reordered or lost when
 * the process exits right after logging. A closed stderr is ignored: losing a log
 * line must never take the daemon down.
 *
 * @example
 * ```ts
 * stderrSink("hello");
 * ```
 */
export function stderrSink(line: string): void {
  try {
    const bytes = encoder.encode(line + "\n");
    let off = 0;
    while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
  } catch {
    // Nowhere left to report it.
  }
}

/**
 * True when stderr is (most likely) connected to journald: systemd sets
 * `JOURNAL_STREAM` for services whose stdout/stderr go to the journal. Without
 * permission to read the environment, false.
 *
 * @example
 * ```ts
 * const log = new Logger({ journald: journaldFromEnv() });
 * ```
 */
export function journaldFromEnv(): boolean {
  try {
    return (Deno.env.get("JOURNAL_STREAM") ?? "") !== "";
  } catch {
    return false;
  }
}

/**
 * Parses a level name (as a CLI flag or config gives it), or returns null.
 *
 * @example
 * ```ts
 * parseLogLevel("WARN"); // "warn"
 * parseLogLevel("warning"); // "warn"
 * parseLogLevel("loud"); // null
 * ```
 */
export function parseLogLevel(text: string): LogLevel | null {
  const t = text.toLowerCase();
  if (t === "warning") return "warn";
  if (t === "err") return "error";
  return (LOG_LEVELS as readonly string[]).includes(t) ? t as LogLevel : null;
}

/**
 * The logger. Cheap to call at a disabled level (nothing is formatted).
 *
 * @example
 * ```ts
 * const log = new Logger({ level: "warn" });
 * log.info("not printed");
 * log.error("printed", { errno: "EPERM" });
 * ```
 */
export class Logger {
  readonly #min: number;
  readonly #format: LogFormat;
  readonly #sink: LogSink;
  readonly #journald: boolean;
  readonly #wallClock: () => Date;

  /**
   * Creates a logger; see {@link LoggerOptions} for the defaults.
   *
   * @example
   * ```ts
   * const log = new Logger({ format: "json", journald: journaldFromEnv() });
   * ```
   */
  constructor(opts: LoggerOptions = {}) {
    this.#min = LOG_LEVELS.indexOf(opts.level ?? "info");
    this.#format = opts.format ?? "human";
    this.#sink = opts.sink ?? stderrSink;
    this.#journald = opts.journald ?? false;
    this.#wallClock = opts.wallClock ?? (() => new Date());
  }

  /**
   * True when records at `level` are printed.
   *
   * @example
   * ```ts
   * if (log.enabled("debug")) log.debug(expensiveDump());
   * ```
   */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= this.#min;
  }

  /**
   * Logs one record at `level`.
   *
   * @example
   * ```ts
   * log.log("warn", "VI_1: dropped a packet", { reason: "checksum" });
   * ```
   */
  log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (!this.enabled(level)) return;
    let line: string;
    try {
      line = this.#format === "json"
        ? this.#json(level, msg, fields)
        : this.#human(level, msg, fields);
    } catch (e) {
      // A broken clock or field must not turn logging into a crash.
      line = `${level} ${msg} (log formatting failed: ${String(e)})`;
    }
    if (this.#journald) line = `<${SYSLOG_PRIORITY[level]}>${line}`;
    try {
      this.#sink(line);
    } catch {
      // Same: a failing sink loses the line, never the daemon.
    }
  }

  /**
   * Logs at debug.
   *
   * @example
   * ```ts
   * log.debug("poll woke", { fds: 2 });
   * ```
   */
  debug(msg: string, fields?: LogFields): void {
    this.log("debug", msg, fields);
  }

  /**
   * Logs at info.
   *
   * @example
   * ```ts
   * log.info("VI_1: added 192.0.2.100/24 dev eth0");
   * ```
   */
  info(msg: string, fields?: LogFields): void {
    this.log("info", msg, fields);
  }

  /**
   * Logs at notice: normal but significant, e.g. a state transition.
   *
   * @example
   * ```ts
   * log.notice("VI_1: BACKUP -> MASTER (priority-zero: 192.0.2.11 released)");
   * ```
   */
  notice(msg: string, fields?: LogFields): void {
    this.log("notice", msg, fields);
  }

  /**
   * Logs at warn.
   *
   * @example
   * ```ts
   * log.warn("VI_1: dropped a packet from 192.0.2.9: checksum: got 0x1234, expected 0x4321");
   * ```
   */
  warn(msg: string, fields?: LogFields): void {
    this.log("warn", msg, fields);
  }

  /**
   * Logs at error.
   *
   * @example
   * ```ts
   * log.error("VI_1: cannot add 192.0.2.100/24 dev eth0: EPERM");
   * ```
   */
  error(msg: string, fields?: LogFields): void {
    this.log("error", msg, fields);
  }

  #human(level: LogLevel, msg: string, fields?: LogFields): string {
    const head = this.#journald ? level : `${this.#wallClock().toISOString()} ${level}`;
    let line = `${head} ${oneLine(msg)}`;
    if (fields) {
      for (const [k, v] of Object.entries(fields)) line += ` ${k}=${humanValue(v)}`;
    }
    return line;
  }

  #json(level: LogLevel, msg: string, fields?: LogFields): string {
    const obj: Record<string, unknown> = {};
    if (!this.#journald) obj.ts = this.#wallClock().toISOString();
    obj.level = level;
    obj.msg = msg;
    // Fields never overwrite the three reserved keys, which tools rely on.
    if (fields) {
      for (const [k, v] of Object.entries(fields)) if (!(k in obj)) obj[k] = v;
    }
    return JSON.stringify(obj);
  }
}

/** A record must stay one line, or journald and grep split it. */
function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, " ");
}

function humanValue(v: string | number | boolean | null): string {
  if (typeof v !== "string") return String(v);
  return v === "" || /[\s"=]/.test(v) ? JSON.stringify(v) : v;
}

/**
 * The verdict of {@link RateLimiter.check}: print or not, and how many lines of this
 * key were held back since the last one printed.
 *
 * @example
 * ```ts
 * const v: RateVerdict = { allow: true, suppressed: 12 };
 * ```
 */
export type RateVerdict = { allow: true; suppressed: number } | { allow: false };

/**
 * A key whose window ended with lines held back: owed one "N similar lines suppressed"
 * summary, since no later line of its own may come to carry the count.
 *
 * @example
 * ```ts
 * const due: SuppressedSummary = { key: "VI_1/checksum", suppressed: 12 };
 * ```
 */
export interface SuppressedSummary {
  readonly key: string;
  readonly suppressed: number;
}

/** Keys a limiter remembers by default: far above (instances × reasons × sources). */
export const RATE_LIMITER_MAX_KEYS = 4096;

/**
 * The key every new key shares once a limiter is full, so that a flood of distinct
 * keys (spoofed sources) is limited as one instead of growing memory or the log.
 */
export const RATE_OVERFLOW_KEY = "(other)";

/**
 * At most one line per key per window. Time is passed in (monotonic ms), so it works
 * on a simulated clock. Keys are (reason, source) pairs; at most `maxKeys` are
 * remembered, and new keys beyond that share {@link RATE_OVERFLOW_KEY}. Keys idle for
 * a window with nothing held back are forgotten by {@link RateLimiter.sweep}.
 *
 * @example
 * ```ts
 * const rl = new RateLimiter(10_000);
 * rl.check("VI_1/checksum", 0); // { allow: true, suppressed: 0 }
 * rl.check("VI_1/checksum", 5); // { allow: false }
 * rl.check("VI_1/checksum", 10_000); // { allow: true, suppressed: 1 }
 * ```
 */
export class RateLimiter {
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #keys = new Map<string, { lastMs: number; suppressed: number }>();

  /**
   * Creates a limiter with the given window (10 s by default) and key bound.
   *
   * @example
   * ```ts
   * const rl = new RateLimiter(1000);
   * ```
   */
  constructor(windowMs = 10_000, maxKeys = RATE_LIMITER_MAX_KEYS) {
    this.#windowMs = windowMs;
    this.#maxKeys = Math.max(1, maxKeys);
  }

  /** The window, for callers that word their summaries with it. */
  get windowMs(): number {
    return this.#windowMs;
  }

  /**
   * Whether a line for `key` may be printed at `nowMs`. Allowed lines reset the count.
   * The verdict is about the key actually used: a full limiter answers for
   * {@link RATE_OVERFLOW_KEY} (see {@link RateLimiter.keyFor}).
   *
   * @example
   * ```ts
   * const v = rl.check(`${instance}/${reason}`, clock.nowMs());
   * if (v.allow) log.warn(msg + suppressedNote(v.suppressed));
   * ```
   */
  check(key: string, nowMs: number): RateVerdict {
    const used = this.keyFor(key);
    const k = this.#keys.get(used);
    if (k === undefined) {
      this.#keys.set(used, { lastMs: nowMs, suppressed: 0 });
      return { allow: true, suppressed: 0 };
    }
    if (nowMs - k.lastMs >= this.#windowMs) {
      const suppressed = k.suppressed;
      k.lastMs = nowMs;
      k.suppressed = 0;
      return { allow: true, suppressed };
    }
    k.suppressed++;
    return { allow: false };
  }

  /**
   * The key a line for `key` is counted under: itself, or {@link RATE_OVERFLOW_KEY}
   * when the limiter is full and does not know it.
   *
   * @example
   * ```ts
   * rl.keyFor("VI_1/foreign/192.0.2.9"); // "VI_1/foreign/192.0.2.9"
   * ```
   */
  keyFor(key: string): string {
    if (this.#keys.has(key) || this.#keys.size < this.#maxKeys) return key;
    return RATE_OVERFLOW_KEY;
  }

  /**
   * Lines held back for `key` since its last printed line.
   *
   * @example
   * ```ts
   * rl.pending("VI_1/checksum"); // 0
   * ```
   */
  pending(key: string): number {
    return this.#keys.get(key)?.suppressed ?? 0;
  }

  /**
   * The keys whose window has ended with lines held back (their count is reset, and
   * the window restarts, so a summary is itself at most one per window), and forgets
   * keys that stayed quiet for a whole window. Call it now and then (the daemon does
   * on every loop turn) so that the end of a flood is reported too.
   *
   * @example
   * ```ts
   * for (const s of rl.sweep(clock.nowMs())) log.warn(`${s.key}: ${s.suppressed} similar lines suppressed`);
   * ```
   */
  sweep(nowMs: number): SuppressedSummary[] {
    const due: SuppressedSummary[] = [];
    for (const [key, k] of this.#keys) {
      if (nowMs - k.lastMs < this.#windowMs) continue;
      if (k.suppressed > 0) {
        due.push({ key, suppressed: k.suppressed });
        k.suppressed = 0;
        k.lastMs = nowMs;
      } else {
        this.#keys.delete(key);
      }
    }
    return due;
  }

  /**
   * Number of keys remembered.
   *
   * @example
   * ```ts
   * rl.size; // 0
   * ```
   */
  get size(): number {
    return this.#keys.size;
  }
}

/**
 * The line that reports a {@link SuppressedSummary}.
 *
 * @example
 * ```ts
 * suppressedSummaryLine({ key: "VI_1/foreign/192.0.2.9", suppressed: 3 }, 10_000);
 * // "3 similar lines suppressed in 10 s (VI_1/foreign/192.0.2.9)"
 * ```
 */
export function suppressedSummaryLine(s: SuppressedSummary, windowMs: number): string {
  const lines = s.suppressed === 1 ? "line" : "lines";
  return `${s.suppressed} similar ${lines} suppressed in ${windowMs / 1000} s (${
    truncateText(s.key, 120)
  })`;
}

/**
 * Cuts a text that came from outside (a config value, a packet field) for a log line
 * or an error message: the first `max` characters, then how long it really was, so a
 * 200 000-character value cannot make a 200 000-character line.
 *
 * @example
 * ```ts
 * truncateText("short", 80); // "short"
 * truncateText("x".repeat(1000), 10); // "xxxxxxxxxx… (1000 characters)"
 * ```
 */
export function truncateText(text: string, max = 80): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… (${text.length} characters)`;
}

/**
 * The tail to append to a rate-limited line: empty, or ` (N more suppressed)`.
 *
 * @example
 * ```ts
 * suppressedNote(0); // ""
 * suppressedNote(3); // " (3 more suppressed)"
 * ```
 */
export function suppressedNote(suppressed: number): string {
  return suppressed > 0 ? ` (${suppressed} more suppressed)` : "";
}
