/**
 * Config errors: the record every validation failure becomes, how it is printed, and
 * the "did you mean" helper that makes a typo cost one glance instead of a doc search.
 *
 * @module
 */

/**
 * One problem found in a config file. `message` says what was expected and what was seen.
 *
 * @example
 * ```ts
 * const e: ConfigError = {
 *   file: "/etc/hacore/hacore.toml",
 *   line: 12,
 *   path: "vrrp_instance.VI_1.priority",
 *   message: "expected an integer in 1..255, got 300",
 * };
 * ```
 */
export interface ConfigError {
  file: string;
  /** 1-based line of the key (or of its nearest enclosing table), null when unknown. */
  line: number | null;
  /** Dotted key path, e.g. `vrrp_instance.VI_1.virtual_ipaddress[2]`; "" for the whole file. */
  path: string;
  message: string;
}

/**
 * Formats an error the way compilers do, so editors can jump to it: `FILE:LINE: PATH: MESSAGE`.
 * The line or the path is left out when there is none. A config is untrusted text, so
 * any run of more than {@link ERROR_WORD_MAX} non-blank characters in the path or the
 * message (a 200 000-character value, or key) is cut to its start and its length, and
 * so is a message longer than {@link ERROR_MESSAGE_MAX}: one error stays one readable line.
 *
 * @example
 * ```ts
 * formatConfigError({ file: "a.toml", line: 3, path: "global.checksum", message: "bad" });
 * // "a.toml:3: global.checksum: bad"
 * ```
 */
export function formatConfigError(e: ConfigError): string {
  const where = e.line === null ? e.file : `${e.file}:${e.line}`;
  const message = cutText(cutLongWords(e.message), ERROR_MESSAGE_MAX);
  return e.path === "" ? `${where}: ${message}` : `${where}: ${cutLongWords(e.path)}: ${message}`;
}

/** Longest run of non-blank characters an error line shows from a config. */
export const ERROR_WORD_MAX = 64;

/** Longest message an error line shows (a value full of blanks is cut here). */
export const ERROR_MESSAGE_MAX = 240;

function cutText(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/** Errors listed before "and N more": about a screenful. */
export const ERRORS_SHOWN_MAX = 20;

/**
 * Cuts every run of more than `max` non-blank characters to its first `max` and its
 * length, leaving the words of the message whole.
 *
 * @example
 * ```ts
 * cutLongWords(`got "${"x".repeat(100)}"`, 5); // 'got "xxxx… (102 characters)'
 * ```
 */
export function cutLongWords(text: string, max = ERROR_WORD_MAX): string {
  return text.replace(
    new RegExp(`\\S{${max + 1},}`, "g"),
    (w) => `${w.slice(0, max)}… (${w.length} characters)`,
  );
}

/**
 * The lines to print for a failed load: at most `max` formatted errors, then
 * `and N more errors` when there were more, so 2 000 broken instances cost a screenful
 * of log on each refused reload rather than thousands of lines. Callers still report
 * the full count.
 *
 * @example
 * ```ts
 * formatConfigErrors(errors, 20); // [..20 lines, "and 1980 more errors"]
 * ```
 */
export function formatConfigErrors(
  errors: readonly ConfigError[],
  max = ERRORS_SHOWN_MAX,
): string[] {
  return boundedLines(errors, max, formatConfigError, "error");
}

/**
 * Warnings as lines, bounded like errors: at most `max`, then "and N more warnings".
 *
 * @example
 * ```ts
 * formatConfigWarnings([{ file: "a.toml", line: 3, path: "p", message: "m" }]);
 * // ["a.toml:3: warning: p: m"]
 * ```
 */
export function formatConfigWarnings(
  warnings: readonly ConfigError[],
  max = ERRORS_SHOWN_MAX,
): string[] {
  return boundedLines(warnings, max, formatConfigWarning, "warning");
}

function boundedLines(
  items: readonly ConfigError[],
  max: number,
  format: (e: ConfigError) => string,
  noun: string,
): string[] {
  const lines = items.slice(0, max).map(format);
  const more = items.length - lines.length;
  if (more > 0) lines.push(`and ${more} more ${noun}${more === 1 ? "" : "s"}`);
  return lines;
}

/**
 * Formats a warning like an error, marked as one: `FILE:LINE: warning: PATH: MESSAGE`.
 *
 * @example
 * ```ts
 * formatConfigWarning({ file: "a.toml", line: 3, path: "vrrp_instance.VI_1.preempt", message: "x" });
 * // "a.toml:3: warning: vrrp_instance.VI_1.preempt: x"
 * ```
 */
export function formatConfigWarning(e: ConfigError): string {
  const where = e.line === null ? e.file : `${e.file}:${e.line}`;
  return e.path === ""
    ? `${where}: warning: ${e.message}`
    : `${where}: warning: ${e.path}: ${e.message}`;
}

/**
 * Edit distance (insertions, deletions, substitutions) between two strings.
 *
 * @example
 * ```ts
 * levenshtein("priorty", "priority"); // 1
 * ```
 */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost));
    }
    prev = cur;
  }
  return prev[b.length];
}

/**
 * The candidate closest to `word`, or null when none is close enough to be a plausible
 * typo. Case is ignored, and a prefix of at least 4 characters counts as close, so that
 * `advert` finds `advert_int`.
 *
 * @example
 * ```ts
 * didYouMean("virtual_routerid", ["virtual_router_id", "priority"]); // "virtual_router_id"
 * didYouMean("zzz", ["priority"]); // null
 * ```
 */
export function didYouMean(word: string, candidates: Iterable<string>): string | null {
  const w = word.toLowerCase();
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const lc = c.toLowerCase();
    let d = levenshtein(w, lc);
    const shorter = Math.min(w.length, lc.length);
    if (shorter >= 4 && (lc.startsWith(w) || w.startsWith(lc))) d = Math.min(d, 1);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  // A third of the word may be wrong: enough for typos, too little for unrelated words.
  const limit = Math.max(1, Math.min(3, Math.floor(w.length / 3)));
  return best !== null && bestDistance <= limit ? best : null;
}

/**
 * Describes a parsed TOML value for "got …" messages, keeping the TOML type visible
 * (a float that happens to be whole still reads as a float).
 *
 * @example
 * ```ts
 * describeValue(1.5); // "1.5"
 * describeValue(2); // "float 2.0"
 * describeValue(2n); // "2"
 * describeValue("x"); // "\"x\""
 * ```
 */
export function describeValue(v: unknown): string {
  switch (typeof v) {
    case "bigint":
      return v.toString();
    case "number":
      if (Number.isNaN(v)) return "nan";
      if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
      return Number.isInteger(v) ? `float ${v.toFixed(1)}` : String(v);
    case "string":
      return JSON.stringify(v);
    case "boolean":
      return String(v);
    case "undefined":
      return "nothing";
  }
  if (v instanceof Date) return `a datetime (${v.toISOString()})`;
  if (Array.isArray(v)) return v.length === 0 ? "an empty array" : `an array of ${v.length}`;
  if (v !== null && typeof v === "object") return "a table";
  return String(v);
}

/**
 * Quotes each name for a readable list in a message.
 *
 * @example
 * ```ts
 * quoteList(["MASTER", "BACKUP"]); // "\"MASTER\", \"BACKUP\""
 * ```
 */
export function quoteList(names: readonly string[]): string {
  return names.map((n) => JSON.stringify(n)).join(", ");
}
