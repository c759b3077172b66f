/**
 * Typed reading of raw TOML tables with error collection.
 *
 * Validation never throws: every problem is recorded in a `Ctx` with its key path and
 * line, and the reader hands back `undefined` for a bad value so the caller can carry on
 * with a default and find the next problem. A `TableReader` remembers which of its keys
 * were bad, so cross-field checks can skip inputs that are already reported instead of
 * piling a second, confusing error on top of the first.
 *
 * @module
 */

import { canonicalIp, type Family, formatIp, parseIp, parseIpCached } from "../net/addr.ts";
import { allZero } from "../net/bytes.ts";
import { type ConfigError, describeValue, didYouMean, quoteList } from "./errors.ts";
import { formatPath, type KeyPath, lineOf } from "./scan.ts";

/** A TOML table as smol-toml returns it. */
export type RawTable = { [key: string]: unknown };

/**
 * True for a TOML table (not an array, not a datetime).
 *
 * @example
 * ```ts
 * isTable({ a: 1 }); // true
 * isTable([1]); // false
 * ```
 */
export function isTable(v: unknown): v is RawTable {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/**
 * Collects errors for one file, attaching lines from the key-line index.
 *
 * The index may be given as a function: it is then built on the first line asked for,
 * so a valid file (no error, no warning) never pays for scanning (a third of loading a
 * 10,000-real-server file).
 *
 * @example
 * ```ts
 * const ctx = new Ctx("a.toml", new Map([["global", 1]]));
 * ctx.error(["global", "checksum"], "expected ...");
 * ctx.errors[0].line; // 1
 * ```
 */
export class Ctx {
  readonly errors: ConfigError[] = [];
  /** What is accepted but differs from what keepalived would do (or is ignored), said by name. */
  readonly warnings: ConfigError[] = [];
  readonly file: string;
  #lines: ReadonlyMap<string, number> | (() => ReadonlyMap<string, number>);

  constructor(
    file: string,
    lines: ReadonlyMap<string, number> | (() => ReadonlyMap<string, number>),
  ) {
    this.file = file;
    this.#lines = lines;
  }

  get #index(): ReadonlyMap<string, number> {
    if (typeof this.#lines === "function") this.#lines = this.#lines();
    return this.#lines;
  }

  /** Records one error at `path`. */
  error(path: KeyPath, message: string): void {
    this.errors.push({
      file: this.file,
      line: lineOf(this.#index, path),
      path: formatPath(path),
      message,
    });
  }

  /** Records one warning at `path`: the file still loads. */
  warn(path: KeyPath, message: string): void {
    this.warnings.push({
      file: this.file,
      line: lineOf(this.#index, path),
      path: formatPath(path),
      message,
    });
  }

  /** Line of `path` (or its nearest known ancestor). */
  lineOf(path: KeyPath): number | null {
    return lineOf(this.#index, path);
  }
}

/** Outcome of converting one raw value: the value, or the full error message. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };
/** Converts a raw TOML value into `T` or explains why not. */
export type Parser<T> = (v: unknown) => Parsed<T>;

/**
 * Success.
 *
 * @example
 * ```ts
 * ok(5); // { ok: true, value: 5 }
 * ```
 */
export function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

/**
 * The standard failure: "expected X, got Y".
 *
 * @example
 * ```ts
 * expected("a boolean", "yes"); // { ok: false, message: 'expected a boolean, got "yes"' }
 * ```
 */
export function expected<T>(what: string, got: unknown): Parsed<T> {
  return { ok: false, message: `expected ${what}, got ${describeValue(got)}` };
}

/**
 * Runs a parser on a value that sits at `path`, recording the error there.
 *
 * @example
 * ```ts
 * const ctx = new Ctx("a.toml", new Map());
 * check(ctx, ["global", "vrrp_strict"], "yes", bool); // undefined, error recorded
 * ```
 */
export function check<T>(ctx: Ctx, path: KeyPath, v: unknown, parser: Parser<T>): T | undefined {
  const r = parser(v);
  if (r.ok) return r.value;
  ctx.error(path, r.message);
  return undefined;
}

/**
 * Reads the keys of one table: reports unknown keys on construction (with "did you
 * mean"), then converts keys on request and remembers which ones were bad.
 *
 * @example
 * ```ts
 * const ctx = new Ctx("a.toml", new Map());
 * const r = new TableReader(ctx, { priority: 300n }, ["vrrp_instance", "VI_1"], ["priority"]);
 * r.opt("priority", int(1, 255)) ?? 100; // 100, and an error is recorded
 * r.ok("priority"); // false
 * ```
 */
export class TableReader {
  readonly ctx: Ctx;
  readonly table: RawTable;
  readonly path: KeyPath;
  /** Keys with an error; made at the first (a big LVS config reads 10,000+ clean tables). */
  #bad: Set<string> | null = null;

  constructor(ctx: Ctx, table: RawTable, path: KeyPath, allowed: readonly string[]) {
    this.ctx = ctx;
    this.table = table;
    this.path = path;
    // for...in, not Object.keys: no array per table (a big LVS start reads 11,000), and
    // tables of one shape share V8's enumeration cache. Own keys only, as Object.keys.
    for (const key in table) {
      if (!Object.hasOwn(table, key) || allowed.includes(key)) continue;
      this.#markBad(key);
      const where = path.length === 0 ? "at the top level" : `in [${formatPath(path)}]`;
      const guess = didYouMean(key, allowed);
      ctx.error(
        this.at(key),
        guess !== null
          ? `unknown key "${key}" ${where}; did you mean "${guess}"?`
          : `unknown key "${key}" ${where}; expected one of: ${allowed.join(", ")}`,
      );
    }
  }

  #markBad(key: string): void {
    (this.#bad ??= new Set()).add(key);
  }

  /** Path of a key of this table. */
  at(key: string): KeyPath {
    // concat, not a spread: no iterator per call in the interpreter.
    return this.path.concat(key);
  }

  has(key: string): boolean {
    return Object.hasOwn(this.table, key);
  }

  /** False once an error was recorded for `key`. Absent keys are ok. */
  ok(key: string): boolean {
    return this.#bad === null || !this.#bad.has(key);
  }

  /** Records an error for `key` and marks it bad. */
  fail(key: string, message: string): void {
    this.#markBad(key);
    this.ctx.error(this.at(key), message);
  }

  /** The value of an optional key: undefined when absent or bad. */
  opt<T>(key: string, parser: Parser<T>): T | undefined {
    if (!this.has(key)) return undefined;
    const r = parser(this.table[key]);
    if (r.ok) return r.value;
    this.fail(key, r.message);
    return undefined;
  }

  /** The value of a required key; a missing key is an error saying what to put there. */
  req<T>(key: string, parser: Parser<T>, what: string): T | undefined {
    if (!this.has(key)) {
      this.#markBad(key);
      this.ctx.error(this.at(key), `missing required key "${key}": expected ${what}`);
      return undefined;
    }
    return this.opt(key, parser);
  }

  /**
   * An array whose elements are converted by `each` (which reports at the element's
   * path). Returns the good elements; the key is marked bad if any element was not.
   */
  list<T>(
    key: string,
    each: (v: unknown, path: KeyPath) => T | undefined,
    what: string,
  ): T[] | undefined {
    if (!this.has(key)) return undefined;
    const raw = this.table[key];
    if (!Array.isArray(raw)) {
      this.fail(key, `expected ${what}, got ${describeValue(raw)}`);
      return undefined;
    }
    const out: T[] = [];
    raw.forEach((v, i) => {
      const before = this.ctx.errors.length;
      const value = each(v, [...this.path, key, i]);
      if (this.ctx.errors.length > before) this.#markBad(key);
      if (value !== undefined) out.push(value);
    });
    return out;
  }
}

/**
 * An integer (TOML integer, not float) in `min..max`.
 *
 * @example
 * ```ts
 * int(1, 255)(51n); // { ok: true, value: 51 }
 * ```
 */
export function int(min: number, max: number): Parser<number> {
  const lo = BigInt(min);
  const hi = BigInt(max);
  return (v) => {
    if (typeof v !== "bigint" || v < lo || v > hi) {
      return expected(`an integer in ${min}..${max}`, v);
    }
    return ok(Number(v));
  };
}

/**
 * A number (integer or float) in `min..max`, e.g. a duration in seconds.
 *
 * @example
 * ```ts
 * num(0, 1000, "seconds")(1.5); // { ok: true, value: 1.5 }
 * ```
 */
export function num(min: number, max: number, unit = ""): Parser<number> {
  const what = `a number in ${min}..${max}${unit === "" ? "" : ` ${unit}`}`;
  return (v) => {
    const n = typeof v === "bigint" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isFinite(n) || n < min || n > max) {
      return expected(what, v);
    }
    return ok(n);
  };
}

/**
 * A boolean.
 *
 * @example
 * ```ts
 * bool(true); // { ok: true, value: true }
 * ```
 */
export const bool: Parser<boolean> = (v) =>
  typeof v === "boolean" ? ok(v) : expected("true or false", v);

/**
 * A non-empty string without control characters (they would end up in logs and argv).
 *
 * @example
 * ```ts
 * text("a command line")("/bin/true"); // { ok: true, value: "/bin/true" }
 * ```
 */
export function text(what: string): Parser<string> {
  return (v) => {
    // deno-lint-ignore no-control-regex
    if (typeof v !== "string" || v.trim() === "" || /[\x00-\x1f\x7f]/.test(v)) {
      return expected(`${what} (a non-empty string)`, v);
    }
    return ok(v);
  };
}

/**
 * One of a fixed set of strings; returns the canonical spelling from `values`.
 *
 * @example
 * ```ts
 * oneOf(["MASTER", "BACKUP"], true)("master"); // { ok: true, value: "MASTER" }
 * ```
 */
export function oneOf<T extends string>(
  values: readonly T[],
  caseInsensitive = false,
): Parser<T> {
  return (v) => {
    if (typeof v === "string") {
      const hit = values.find((x) =>
        caseInsensitive ? x.toLowerCase() === v.toLowerCase() : x === v
      );
      if (hit !== undefined) return ok(hit);
    }
    return expected(`one of ${quoteList(values)}`, v);
  };
}

/**
 * A Linux interface name: 1..15 bytes (IFNAMSIZ - 1), no slash, colon or whitespace.
 *
 * @example
 * ```ts
 * ifname("eth0"); // { ok: true, value: "eth0" }
 * ```
 */
export const ifname: Parser<string> = (v) => {
  const good = typeof v === "string" && /^[^\s/:]{1,15}$/.test(v) && v !== "." && v !== ".." &&
    new TextEncoder().encode(v).length <= 15;
  return good ? ok(v) : expected("an interface name (1..15 characters, no /, : or spaces)", v);
};

/** An address with its family, canonical. */
export interface Ip {
  address: string;
  family: Family;
}

/**
 * A unicast IP address of either family, canonical. Multicast, unspecified and
 * limited-broadcast addresses are refused: none of them can be a VIP, a peer or a source.
 *
 * @example
 * ```ts
 * unicastIp("2001:DB8::1"); // { ok: true, value: { address: "2001:db8::1", family: "ipv6" } }
 * ```
 */
export const unicastIp: Parser<Ip> = (v) => {
  const what = "a unicast IPv4 or IPv6 address";
  if (typeof v !== "string") return expected(what, v);
  // Cached: a big LVS file names the same few addresses thousands of times (each real
  // server's address in each virtual server), and the cache's bytes are only read here.
  const p = parseIpCached(v);
  if (p === null) return expected(what, v);
  const b = p.bytes;
  const isV4 = p.family === "ipv4";
  if (allZero(b)) return expected(`${what}, not the unspecified address`, v);
  if (isV4 ? b[0] >= 224 && b[0] <= 239 : b[0] === 0xff) {
    return expected(`${what}, not a multicast address`, v);
  }
  if (isV4 && b[0] >= 240) return expected(`${what}, not a reserved/broadcast address`, v);
  return ok({ address: canonicalText(v, b), family: p.family });
};

const canonicalCache = new Map<string, string>();
const CANONICAL_CACHE_LIMIT = 65536;

// `canonicalIp(v)`, for a `v` already parsed to `bytes`, remembered.
function canonicalText(v: string, bytes: Uint8Array): string {
  let c = canonicalCache.get(v);
  if (c === undefined) {
    c = formatIp(bytes);
    if (canonicalCache.size >= CANONICAL_CACHE_LIMIT) canonicalCache.clear();
    canonicalCache.set(v, c);
  }
  return c;
}

/**
 * A multicast group of the given family, canonical.
 *
 * @example
 * ```ts
 * multicastGroup("ipv4")("224.0.0.18"); // { ok: true, value: "224.0.0.18" }
 * ```
 */
export function multicastGroup(family: Family): Parser<string> {
  return (v) => {
    const what = family === "ipv4"
      ? "an IPv4 multicast address (224.0.0.0/4)"
      : "an IPv6 multicast address (ff00::/8)";
    const p = typeof v === "string" ? parseIp(v) : null;
    if (p === null || p.family !== family) return expected(what, v);
    const multicast = family === "ipv4"
      ? p.bytes[0] >= 224 && p.bytes[0] <= 239
      : p.bytes[0] === 0xff;
    return multicast ? ok(canonicalIp(v as string) ?? (v as string)) : expected(what, v);
  };
}

/**
 * Human name of a family for messages.
 *
 * @example
 * ```ts
 * familyName("ipv6"); // "IPv6"
 * ```
 */
export function familyName(f: Family): string {
  return f === "ipv4" ? "IPv4" : "IPv6";
}
