/**
 * A small, pure scanner that maps TOML key paths to the line they appear on.
 *
 * smol-toml returns values without positions, and an error without a line makes a
 * person search the file by hand. This scanner reads only what it needs (table
 * headers, keys, the starts of array elements and inline-table keys) and skips over
 * every value. It runs after smol-toml has accepted the document, so it can be
 * forgiving: anything it does not understand it skips to the end of the line.
 *
 * @module
 */

/** One step of a key path: a table key, or an array index. */
export type PathSegment = string | number;
/** A key path, outermost first, e.g. `["vrrp_instance", "VI_1", "virtual_ipaddress", 2]`. */
export type KeyPath = readonly PathSegment[];

/**
 * Formats a key path the way a person would write it in TOML: dotted, with keys that are
 * not bare quoted and indexes in brackets.
 *
 * @example
 * ```ts
 * formatPath(["vrrp_instance", "VI 1", "virtual_ipaddress", 2]);
 * // 'vrrp_instance."VI 1".virtual_ipaddress[2]'
 * ```
 */
export function formatPath(path: KeyPath): string {
  let out = "";
  for (const seg of path) out = appendSegment(out, seg);
  return out;
}

/** `formatPath([...path, seg])` from `formatPath(path)`, without formatting `path` again. */
function appendSegment(formatted: string, seg: PathSegment): string {
  if (typeof seg === "number") return `${formatted}[${seg}]`;
  const key = bareKeyLength(seg, 0) === seg.length && seg.length > 0 ? seg : JSON.stringify(seg);
  return formatted === "" ? key : `${formatted}.${key}`;
}

/** How many characters of a bare key (A-Z a-z 0-9 _ -) start at `from`. */
function bareKeyLength(s: string, from: number): number {
  let i = from;
  while (i < s.length && isBareKeyChar(s.charCodeAt(i))) i++;
  return i - from;
}

/**
 * Whether the UTF-16 code `c` may stand in a bare TOML key: A-Z a-z 0-9 _ -.
 *
 * @example
 * ```ts
 * isBareKeyChar("_".charCodeAt(0)); // true
 * ```
 */
export function isBareKeyChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 ||
    c === 45;
}

/**
 * Scans TOML source and returns the 1-based line of every key path it can see: table
 * headers, keys (dotted ones and their prefixes too), inline-table keys and array elements
 * (each element maps to the line where it starts). The first occurrence wins.
 *
 * @example
 * ```ts
 * const lines = scanKeyLines('[vrrp_instance.VI_1]\npriority = 150\n');
 * lines.get("vrrp_instance.VI_1.priority"); // 2
 * ```
 */
export function scanKeyLines(source: string): Map<string, number> {
  return new Scanner(source).run();
}

/**
 * The line of `path`, or of its nearest ancestor the scanner saw, or null.
 *
 * @example
 * ```ts
 * const lines = scanKeyLines('[global]\nchecksum = "auto"\n');
 * lineOf(lines, ["global", "vrrp_strict"]); // 1 (the [global] header)
 * ```
 */
export function lineOf(lines: ReadonlyMap<string, number>, path: KeyPath): number | null {
  for (let n = path.length; n > 0; n--) {
    const line = lines.get(formatPath(path.slice(0, n)));
    if (line !== undefined) return line;
  }
  return null;
}

/** A key or table the document defines twice, as smol-toml's error leaves unnamed. */
export interface Redefinition {
  /** Dotted path of the key or table, e.g. `global.router_id`. */
  path: string;
  /** 1-based line of its first definition. */
  firstLine: number;
}

/**
 * The key or table defined a second time on `line` (where the TOML parser stopped with
 * "trying to redefine an already defined table or value"), or null when the scanner
 * cannot tell. smol-toml names the line but not the key, and in a long file a person
 * should not have to compare every table header by eye.
 *
 * @example
 * ```ts
 * findRedefinition('[global]\nrouter_id = "a"\nrouter_id = "b"\n', 3);
 * // { path: "global.router_id", firstLine: 2 }
 * ```
 */
export function findRedefinition(source: string, line: number): Redefinition | null {
  const scanner = new Scanner(source);
  scanner.run();
  const first = new Map<string, number>();
  for (const [path, at] of scanner.definitions) {
    const before = first.get(path);
    if (before !== undefined && at === line) return { path, firstLine: before };
    if (before === undefined) first.set(path, at);
  }
  return null;
}

class Scanner {
  readonly #src: string;
  readonly #lineStarts: number[] = [0];
  readonly #out = new Map<string, number>();
  /** Every key and table header as written (not their prefixes), in order, with its line. */
  readonly definitions: [string, number][] = [];
  readonly #arrayTableCounts = new Map<string, number>();
  #pos = 0;

  constructor(src: string) {
    this.#src = src;
    for (let i = 0; i < src.length; i++) if (src[i] === "\n") this.#lineStarts.push(i + 1);
  }

  /**
   * A header inside an array of tables (`[[a.b]]` then `[[a.b.c]]`) belongs to the last
   * element of that array: `a.b[N].c`, so nested arrays of tables get their own lines.
   */
  #withArrayIndexes(key: PathSegment[]): PathSegment[] {
    const out: PathSegment[] = [];
    let formatted = "";
    key.forEach((seg, i) => {
      out.push(seg);
      formatted = appendSegment(formatted, seg);
      if (i === key.length - 1) return;
      const count = this.#arrayTableCounts.get(formatted);
      if (count !== undefined) {
        out.push(count - 1);
        formatted = appendSegment(formatted, count - 1);
      }
    });
    return out;
  }

  run(): Map<string, number> {
    // The current table's path, formatted: every key below it extends this string.
    let table = "";
    const src = this.#src;
    while (this.#pos < src.length) {
      this.#skipSpaces();
      const c = src[this.#pos];
      if (c === undefined) break;
      if (c === "\n" || c === "\r") {
        this.#pos++;
      } else if (c === "#") {
        this.#skipLine();
      } else if (c === "[") {
        const line = this.#line();
        const arrayOfTables = src[this.#pos + 1] === "[";
        this.#pos += arrayOfTables ? 2 : 1;
        const key = this.#key();
        if (key === null) {
          this.#skipLine();
          continue;
        }
        const resolved = this.#withArrayIndexes(key);
        if (arrayOfTables) {
          const k = formatPath(resolved);
          const index = this.#arrayTableCounts.get(k) ?? 0;
          this.#arrayTableCounts.set(k, index + 1);
          resolved.push(index);
        }
        table = this.#record("", resolved, line);
        this.definitions.push([table, line]);
        this.#skipLine();
      } else {
        const start = this.#pos;
        this.#keyValue(table);
        this.#skipLine();
        if (this.#pos === start) this.#pos++;
      }
    }
    return this.#out;
  }

  // `prefix` is formatted, and it and its own prefixes were recorded before (as a table
  // header, or as the key whose value holds this inline table).
  #keyValue(prefix: string): void {
    const line = this.#line();
    const key = this.#key();
    if (key === null) return;
    this.#skipSpaces();
    if (this.#src[this.#pos] !== "=") return;
    this.#pos++;
    const path = this.#record(prefix, key, line);
    this.definitions.push([path, line]);
    this.#skipSpaces();
    this.#value(path);
  }

  /**
   * Records `base` extended by each of `segments` in turn (first occurrence wins) and
   * returns the whole path, formatted. `base` itself is recorded already: building only
   * the new prefixes keeps a 10,000-server file linear, not quadratic in key depth.
   */
  #record(base: string, segments: readonly PathSegment[], line: number): string {
    let k = base;
    for (const seg of segments) {
      k = appendSegment(k, seg);
      if (!this.#out.has(k)) this.#out.set(k, line);
    }
    return k;
  }

  /** A dotted key: bare, "basic" or 'literal' parts joined by dots; null if none here. */
  #key(): string[] | null {
    const src = this.#src;
    const parts: string[] = [];
    for (;;) {
      this.#skipSpaces();
      const c = src[this.#pos];
      let part: string | null = null;
      if (c === '"' || c === "'") {
        const start = this.#pos;
        this.#quoted(c);
        const raw = src.slice(start, this.#pos);
        part = c === "'" ? raw.slice(1, -1) : unescapeBasic(raw);
      } else {
        const n = bareKeyLength(src, this.#pos);
        if (n > 0) {
          part = src.slice(this.#pos, this.#pos + n);
          this.#pos += n;
        }
      }
      if (part === null) return parts.length > 0 ? parts : null;
      parts.push(part);
      this.#skipSpaces();
      if (src[this.#pos] !== ".") return parts;
      this.#pos++;
    }
  }

  #value(path: string): void {
    const src = this.#src;
    const c = src[this.#pos];
    if (src.startsWith('"""', this.#pos) || src.startsWith("'''", this.#pos)) {
      this.#multiline(src.slice(this.#pos, this.#pos + 3));
    } else if (c === '"' || c === "'") {
      this.#quoted(c);
    } else if (c === "[") {
      this.#array(path);
    } else if (c === "{") {
      this.#inlineTable(path);
    } else {
      while (this.#pos < src.length && !",]}\n\r#".includes(src[this.#pos])) this.#pos++;
    }
  }

  #array(path: string): void {
    const src = this.#src;
    this.#pos++;
    let index = 0;
    while (this.#pos < src.length) {
      this.#skipBlank();
      const c = src[this.#pos];
      if (c === "]") {
        this.#pos++;
        return;
      }
      if (c === ",") {
        this.#pos++;
        continue;
      }
      const start = this.#pos;
      const elementPath = this.#record(path, [index], this.#line());
      this.#value(elementPath);
      index++;
      if (this.#pos === start) this.#pos++;
    }
  }

  #inlineTable(path: string): void {
    const src = this.#src;
    this.#pos++;
    while (this.#pos < src.length) {
      this.#skipBlank();
      const c = src[this.#pos];
      if (c === "}") {
        this.#pos++;
        return;
      }
      if (c === ",") {
        this.#pos++;
        continue;
      }
      const start = this.#pos;
      this.#keyValue(path);
      if (this.#pos === start) this.#pos++;
    }
  }

  #quoted(quote: string): void {
    const src = this.#src;
    this.#pos++;
    while (this.#pos < src.length && src[this.#pos] !== quote && src[this.#pos] !== "\n") {
      if (quote === '"' && src[this.#pos] === "\\") this.#pos++;
      this.#pos++;
    }
    this.#pos++;
  }

  #multiline(delimiter: string): void {
    const src = this.#src;
    this.#pos += 3;
    while (this.#pos < src.length && !src.startsWith(delimiter, this.#pos)) {
      if (delimiter === '"""' && src[this.#pos] === "\\") this.#pos++;
      this.#pos++;
    }
    this.#pos += 3;
    // Up to two more quotes may close the string as part of its content ("""a"""").
    for (let i = 0; i < 2 && src[this.#pos] === delimiter[0]; i++) this.#pos++;
  }

  #skipSpaces(): void {
    while (this.#src[this.#pos] === " " || this.#src[this.#pos] === "\t") this.#pos++;
  }

  /** Whitespace, newlines and comments: what may sit between array elements. */
  #skipBlank(): void {
    const src = this.#src;
    while (this.#pos < src.length) {
      const c = src[this.#pos];
      if (c === " " || c === "\t" || c === "\n" || c === "\r") this.#pos++;
      else if (c === "#") { while (this.#pos < src.length && src[this.#pos] !== "\n") this.#pos++; }
      else return;
    }
  }

  #skipLine(): void {
    const end = this.#src.indexOf("\n", this.#pos);
    this.#pos = end < 0 ? this.#src.length : end + 1;
  }

  #line(): number {
    let lo = 0;
    let hi = this.#lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#lineStarts[mid] <= this.#pos) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }
}

function unescapeBasic(raw: string): string {
  try {
    const v: unknown = JSON.parse(raw);
    return typeof v === "string" ? v : raw.slice(1, -1);
  } catch {
    return raw.slice(1, -1);
  }
}
