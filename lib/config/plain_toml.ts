/**
 * A reader for the plain subset of TOML that hacore's configs are written in, building
 * the document smol-toml's `parse(source, { integersAsBigInt: true,
 * unsafeKeyBehaviour: "keep" })` builds, with a fraction of its garbage.
 *
 * Why: a 1,000-service LVS file (850 KiB, 11,000 tables, 26,000 keys) made smol-toml
 * allocate a dictionary-mode table and a bookkeeping record with a dictionary of its own
 * for every key, all alive until validation ended. In a small guest whose young
 * generation is 1 MiB (`--optimize-for-size`) that was ~30 scavenges of 15-30 ms each,
 * every one copying the growing document: most of the start's config load. Here a
 * table is one fast-mode object that inherits nothing (its prototype is empty, so a key
 * named like an `Object.prototype` member reads as in smol-toml's null-prototype
 * tables), strings that recur (the same real server addresses in every virtual server)
 * are shared, and small integers come from one table of bigints.
 *
 * The subset: `[a.b]` and `[[a.b]]` headers of bare keys, `key = value` lines with a
 * bare key, values that are basic or literal one-line strings without escapes,
 * decimal integers, decimal fractions (`0.1`), booleans, arrays of those and of inline
 * tables, one-line inline tables of those and of arrays, comments and blank lines. Anything
 * else, and anything that smol-toml could refuse (a table defined twice, a duplicate
 * key, a control character), returns null: the caller then parses with smol-toml,
 * which words every error, so messages do not depend on this reader.
 *
 * @example
 * ```ts
 * const doc = parsePlainToml('[global]\nrouter_id = "a"\n');
 * doc?.global; // { router_id: "a" }, inheriting nothing
 * parsePlainToml("a = 1e5\n"); // null: an exponent is outside the subset
 * ```
 *
 * @module
 */

import { isBareKeyChar } from "./scan.ts";

/** A TOML table as this reader (and smol-toml) builds it: it inherits nothing. */
type Table = Record<string, unknown>;

/** Integers below this come from one shared table of bigints. */
const SMALL_INTS = 65536;
const smallInts: bigint[] = [];

/**
 * A table's prototype: frozen, empty and with no prototype of its own, so that a table
 * reads like smol-toml's null-prototype one (`t.constructor` is undefined). Made by a
 * constructor, not `Object.create(null)` (a slow dictionary per table, 2-4 times the
 * bytes) nor `Object.setPrototypeOf` (three times slower).
 */
const NOTHING: object = Object.freeze(Object.create(null));
const PlainTable = function () {} as unknown as new () => Table;
PlainTable.prototype = NOTHING;

/** Thrown (and caught in {@link parsePlainToml}) on anything outside the subset. */
class OutsideSubset {}
const OUTSIDE = new OutsideSubset();

function outside(): never {
  throw OUTSIDE;
}

/**
 * The document `source` holds, as smol-toml would build it, or null when the text uses
 * more than the plain subset (see the module notes) or is not valid TOML.
 */
export function parsePlainToml(source: string): Table | null {
  try {
    return new PlainTomlReader(source).read();
  } catch (e) {
    if (e === OUTSIDE) return null;
    throw e;
  }
}

/** Where a value stands: what may end it, and which structures it may be. */
const enum In {
  /** `key = value` of a table: ended by a blank, comment or line end. */
  Table,
  /** An array's element: `,` and `]` end it too; no array in an array. */
  Array,
  /** An inline table's value: `,` and `}` end it too; no inline table in one. */
  Inline,
}

function isControl(c: number): boolean {
  return (c < 0x20 && c !== 0x09) || c === 0x7f;
}

class PlainTomlReader {
  readonly #s: string;
  #p = 0;
  /**
   * Tables made only on a header's way down (`virtual_server` of
   * `[virtual_server.web]`): the one table a header may still define. Every other table
   * was defined by a header (or is the document), and a second header for it is refused.
   */
  readonly #implicit = new Set<Table>();
  /** Inline tables (`{ k = v }`): complete as written, no header may add to one. */
  readonly #inline = new Set<Table>();
  /** Keys read, by length and first and last characters (see #bareKey). */
  readonly #keys = new Map<number, string>();
  /** Recurring strings, shared: 10,000 real servers name the same ten addresses. */
  readonly #strings = new Map<string, string>();

  constructor(source: string) {
    this.#s = source;
  }

  read(): Table {
    const s = this.#s;
    // A byte order mark: smol-toml skips it; rare enough to leave to it.
    if (s.charCodeAt(0) === 0xfeff) outside();
    const root = new PlainTable();
    let table = root;
    while (this.#p < s.length) {
      this.#skipSpaces();
      const c = s.charCodeAt(this.#p);
      if (c === 0x0a) {
        this.#p++;
        continue;
      }
      if (c === 0x23) {
        this.#skipComment();
        continue;
      }
      if (c === 0x5b) table = this.#header(root);
      else this.#keyValue(table, In.Table);
      this.#endOfLine();
    }
    return root;
  }

  #skipSpaces(): void {
    const s = this.#s;
    let c = s.charCodeAt(this.#p);
    while (c === 0x20 || c === 0x09) c = s.charCodeAt(++this.#p);
  }

  /** From `#` to the end of the line (its newline included). */
  #skipComment(): void {
    const s = this.#s;
    for (this.#p++; this.#p < s.length; this.#p++) {
      const c = s.charCodeAt(this.#p);
      if (c === 0x0a) {
        this.#p++;
        return;
      }
      if (isControl(c)) outside();
    }
  }

  /** After a statement: blanks, maybe a comment, then a newline or the end. */
  #endOfLine(): void {
    this.#skipSpaces();
    const c = this.#s.charCodeAt(this.#p);
    if (c === 0x23) this.#skipComment();
    else if (c === 0x0a) this.#p++;
    else if (this.#p < this.#s.length) outside();
  }

  #bareKey(): string {
    const s = this.#s;
    const start = this.#p;
    while (isBareKeyChar(s.charCodeAt(this.#p))) this.#p++;
    const length = this.#p - start;
    if (length === 0) outside();
    // The last key of this length and first and last characters, if it is this one:
    // no slice for the 26,000 `address`, `weight`, ... of a big file.
    const slot = length * 65536 + s.charCodeAt(start) * 256 + s.charCodeAt(this.#p - 1);
    const seen = this.#keys.get(slot);
    if (seen !== undefined && s.startsWith(seen, start)) return seen;
    const key = s.slice(start, this.#p);
    // smol-toml makes it an own property ("keep"); not worth copying here.
    if (key === "__proto__") outside();
    this.#keys.set(slot, key);
    return key;
  }

  /** `[a.b]` or `[[a.b]]`: the table the following keys go to. */
  #header(root: Table): Table {
    const s = this.#s;
    const array = s.charCodeAt(++this.#p) === 0x5b;
    if (array) this.#p++;
    // Down the path as it is read: no array of its keys per header.
    let t = root;
    for (;;) {
      this.#skipSpaces();
      const key = this.#bareKey();
      this.#skipSpaces();
      const c = s.charCodeAt(this.#p++);
      if (c === 0x2e) {
        t = this.#descend(t, key);
        continue;
      }
      if (c !== 0x5d) outside();
      if (array && s.charCodeAt(this.#p++) !== 0x5d) outside();
      return array ? this.#arrayElement(t, key) : this.#defineTable(t, key);
    }
  }

  /** The table under `key` on a header's way down, made (implicitly) if absent. */
  #descend(t: Table, key: string): Table {
    if (!Object.hasOwn(t, key)) {
      const fresh = new PlainTable();
      this.#implicit.add(fresh);
      t[key] = fresh;
      return fresh;
    }
    const v = t[key];
    if (Array.isArray(v)) {
      if (!this.#isTableArray(v)) outside();
      return v[v.length - 1] as Table;
    }
    if (typeof v !== "object" || v === null || this.#inline.has(v as Table)) outside();
    return v as Table;
  }

  /** `[a.b]`: a new table, or one only made implicitly so far by a deeper header. */
  #defineTable(t: Table, key: string): Table {
    let table: Table;
    if (!Object.hasOwn(t, key)) {
      table = new PlainTable();
      t[key] = table;
    } else {
      const v = t[key];
      if (typeof v !== "object" || v === null || Array.isArray(v)) outside();
      table = v as Table;
      if (!this.#implicit.delete(table)) outside();
    }
    return table;
  }

  /** `[[a.b]]`: a new element of the array of tables. */
  #arrayElement(t: Table, key: string): Table {
    const table = new PlainTable();
    if (!Object.hasOwn(t, key)) {
      t[key] = [table];
      return table;
    }
    const v = t[key];
    if (!Array.isArray(v) || !this.#isTableArray(v)) outside();
    v.push(table);
    return table;
  }

  /**
   * An array `[[...]]` headers made: a header always adds a table, and no other array
   * holds one but an inline table.
   */
  #isTableArray(v: unknown[]): boolean {
    return v.length > 0 && typeof v[0] === "object" && !this.#inline.has(v[0] as Table);
  }

  /** `key = value` into `table`, which must not have the key yet. */
  #keyValue(table: Table, where: In): void {
    const key = this.#bareKey();
    this.#skipSpaces();
    if (this.#s.charCodeAt(this.#p++) !== 0x3d) outside();
    this.#skipSpaces();
    if (Object.hasOwn(table, key)) outside();
    table[key] = this.#value(where);
  }

  #value(where: In): unknown {
    const c = this.#s.charCodeAt(this.#p);
    if (c === 0x22 || c === 0x27) return this.#string(c);
    if (c === 0x74) return this.#word("true", true, where);
    if (c === 0x66) return this.#word("false", false, where);
    if (c === 0x5b && where !== In.Array) return this.#array();
    if (c === 0x7b && where !== In.Inline) return this.#inlineTable();
    return this.#number(where);
  }

  /** Ends a value: a blank, a newline, a comment, or the delimiters of where it is. */
  #atEndOfValue(where: In): boolean {
    if (this.#p >= this.#s.length) return true;
    const c = this.#s.charCodeAt(this.#p);
    return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x23 ||
      (where === In.Array && (c === 0x2c || c === 0x5d)) ||
      (where === In.Inline && (c === 0x2c || c === 0x7d));
  }

  /** A one-line string without escapes (a backslash, `"""` or `'''` is outside). */
  #string(quote: number): string {
    const s = this.#s;
    const start = ++this.#p;
    if (s.charCodeAt(start) === quote && s.charCodeAt(start + 1) === quote) outside();
    for (;;) {
      const c = s.charCodeAt(this.#p);
      if (c === quote) break;
      // NaN past the end: outside too (an unfinished string).
      if (!(c >= 0) || c === 0x5c || isControl(c)) outside();
      this.#p++;
    }
    const text = s.slice(start, this.#p++);
    const known = this.#strings.get(text);
    if (known !== undefined) return known;
    this.#strings.set(text, text);
    return text;
  }

  #word<T>(word: string, value: T, where: In): T {
    if (!this.#s.startsWith(word, this.#p)) outside();
    this.#p += word.length;
    if (!this.#atEndOfValue(where)) outside();
    return value;
  }

  /**
   * A decimal integer (a bigint), or a decimal fraction like `0.1` (a number): an
   * optional sign, then `0` or digits without a leading zero, then maybe `.` and
   * digits. Exponents, underscores, other bases, inf, nan, dates and times are outside.
   */
  #number(where: In): bigint | number {
    const s = this.#s;
    const start = this.#p;
    let c = s.charCodeAt(this.#p);
    const negative = c === 0x2d;
    if (c === 0x2b || c === 0x2d) c = s.charCodeAt(++this.#p);
    const digits = this.#p;
    if (!(c >= 0x30 && c <= 0x39)) outside();
    let n = 0;
    while (c >= 0x30 && c <= 0x39) {
      n = n * 10 + (c - 0x30);
      c = s.charCodeAt(++this.#p);
    }
    const length = this.#p - digits;
    if (length > 1 && s.charCodeAt(digits) === 0x30) outside();
    if (c === 0x2e) return this.#fraction(start, where);
    if (!this.#atEndOfValue(where)) outside();
    if (length > 15) return BigInt(s.slice(start, this.#p));
    if (negative) return n === 0 ? 0n : -BigInt(n);
    if (n >= SMALL_INTS) return BigInt(n);
    return smallInts[n] ??= BigInt(n);
  }

  /** The digits after a number's `.`, at least one; the whole number as smol-toml reads it. */
  #fraction(start: number, where: In): number {
    const s = this.#s;
    let c = s.charCodeAt(++this.#p);
    if (!(c >= 0x30 && c <= 0x39)) outside();
    while (c >= 0x30 && c <= 0x39) c = s.charCodeAt(++this.#p);
    if (!this.#atEndOfValue(where)) outside();
    return parseFloat(s.slice(start, this.#p));
  }

  /** `[v, v, ...]`, no array in it; newlines and comments between. */
  #array(): unknown[] {
    const s = this.#s;
    this.#p++;
    const out: unknown[] = [];
    for (;;) {
      this.#skipVoid();
      if (s.charCodeAt(this.#p) === 0x5d) break;
      out.push(this.#value(In.Array));
      this.#skipVoid();
      const c = s.charCodeAt(this.#p);
      if (c === 0x5d) break;
      if (c !== 0x2c) outside();
      this.#p++;
    }
    this.#p++;
    return out;
  }

  /** `{ k = v, ... }` on one line, no inline table in it (nor a trailing comma). */
  #inlineTable(): Table {
    const s = this.#s;
    this.#p++;
    const t = new PlainTable();
    this.#inline.add(t);
    this.#skipSpaces();
    if (s.charCodeAt(this.#p) === 0x7d) {
      this.#p++;
      return t;
    }
    for (;;) {
      this.#skipSpaces();
      this.#keyValue(t, In.Inline);
      this.#skipSpaces();
      const c = s.charCodeAt(this.#p++);
      if (c === 0x7d) return t;
      if (c !== 0x2c) outside();
    }
  }

  /** Blanks, newlines and comments, as between an array's elements. */
  #skipVoid(): void {
    const s = this.#s;
    for (;;) {
      this.#skipSpaces();
      const c = s.charCodeAt(this.#p);
      if (c === 0x0a) this.#p++;
      else if (c === 0x23) this.#skipComment();
      else return;
    }
  }
}
