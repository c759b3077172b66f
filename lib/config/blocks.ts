/**
 * Where a TOML document's table headers are, and which virtual server each belongs to:
 * the map an incremental reload (`incremental.ts`) needs to re-read only the virtual
 * servers whose text changed.
 *
 * A block runs from the start of a table header's line to the start of the next block's
 * first header line; a virtual server's headers in a row (its real servers, their checks)
 * are one block. Finding headers needs a lexer, not a regular expression: a line starting with `[`
 * may sit inside a multi-line array or string. Most lines of a config hold no `[`, `{`,
 * `"""` or `'''`, and such a line cannot open anything that spans lines, so the scan
 * jumps (with one native regular expression) from one line holding such a character to
 * the next and lexes only those lines exactly: a 10,000-server file costs a few ms, not
 * the ~50 ms of a character-by-character pass.
 *
 * Only for documents the TOML parser accepted: on anything it does not expect it gives
 * up (null), and the caller then parses the whole file.
 *
 * @module
 */

import { isBareKeyChar } from "./scan.ts";

/**
 * The blocks of a document: `starts[k]` is the offset of block k's first line, `names[k]`
 * the virtual server its headers belong to (`[virtual_server.NAME...]`), or null for any
 * other header (block 0 is the text before the first header, always null).
 */
export interface TomlBlocks {
  readonly starts: readonly number[];
  readonly names: readonly (string | null)[];
  /**
   * The document may define a virtual server outside the blocks named for it: a
   * `[virtual_server]` header, or `virtual_server` keys before the first header.
   */
  readonly looseVirtualServers: boolean;
  /** Something other than blank lines and comments comes before the first header. */
  readonly rootKeys: boolean;
  /** Offset of the first header's `[` (-1: none): the statement that says "TOML". */
  readonly firstBracket: number;
}

/** What may open a header or a value spanning lines, or hide one. */
const SPECIAL = ["[", "{", '"""', "'''"] as const;
const ROOT_KEY = /^[ \t]*[^#\s]/m;

/**
 * The blocks of `source` (a document the TOML parser accepted), or null when the scan
 * cannot vouch for them.
 *
 * @example
 * ```ts
 * const b = tomlBlocks('[global]\nx = 1\n[virtual_server.web]\nport = 80\n')!;
 * b.starts; // [0, 0, 15]
 * b.names; // [null, null, "web"]
 * ```
 */
export function tomlBlocks(source: string): TomlBlocks | null {
  const starts = [0];
  const names: (string | null)[] = [null];
  let loose = false;
  let pos = 0;
  const n = source.length;
  const special = new NextSpecial(source);
  while (pos < n) {
    const at = special.from(pos);
    if (at < 0) break;
    // The lines from `pos` to this one hold nothing that spans lines: each ends clean.
    const line = source.lastIndexOf("\n", at - 1) + 1;
    const first = skipSpaces(source, line);
    if (source.charCodeAt(first) === BRACKET_OPEN) {
      const last = names[names.length - 1];
      let name: string | null;
      if (sameVirtualServer(source, first, last)) name = last;
      else {
        const path = headerPath(source, first);
        if (path === null) return null;
        // A long slice would keep the whole text alive for as long as the name lives.
        if (path.length > 1 && path[1].length >= 13) {
          path[1] = JSON.parse(JSON.stringify(path[1]));
        }
        if (path[0] === "virtual_server" && path.length === 1) loose = true;
        name = path[0] === "virtual_server" && path.length > 1 ? path[1] : null;
      }
      // A virtual server's own headers in a row are one block: 1,000 blocks, not 11,000.
      if (name === null || name !== names[names.length - 1]) {
        starts.push(line);
        names.push(name);
      }
      pos = endOfLine(source, first);
      continue;
    }
    const end = statementEnd(source, first);
    if (end === null) return null;
    pos = end;
  }
  const root = source.slice(0, starts.length > 1 ? starts[1] : n);
  return {
    starts,
    names,
    looseVirtualServers: loose || root.includes("virtual_server"),
    rootKeys: ROOT_KEY.test(root.replace(/^[ \t]*#.*$/gm, "")),
    firstBracket: starts.length > 1 ? skipSpaces(source, starts[1]) : -1,
  };
}

const BRACKET_OPEN = 0x5b;

/**
 * The next offset of any of {@link SPECIAL}, by native `indexOf`s whose answers are
 * kept until passed: no match object per header (a regular expression's `exec` made
 * one for each of 11,000 headers).
 */
class NextSpecial {
  readonly #s: string;
  readonly #at: number[] = SPECIAL.map(() => -2);

  constructor(source: string) {
    this.#s = source;
  }

  /** The first offset at or after `pos` where one begins, or -1. */
  from(pos: number): number {
    let best = -1;
    for (let k = 0; k < SPECIAL.length; k++) {
      let at = this.#at[k];
      if (at !== -1 && at < pos) this.#at[k] = at = this.#s.indexOf(SPECIAL[k], pos);
      if (at >= 0 && (best < 0 || at < best)) best = at;
    }
    return best;
  }
}

/**
 * The header at `i` is `[virtual_server.NAME...]` or `[[virtual_server.NAME...]]` of
 * bare keys only, with NAME `name`: the block goes on, found without a slice or an
 * array (a virtual server's real server headers). Anything else: false, and the
 * header is read in full.
 */
function sameVirtualServer(s: string, i: number, name: string | null): boolean {
  if (name === null) return false;
  i++;
  if (s.charCodeAt(i) === BRACKET_OPEN) i++;
  if (!s.startsWith("virtual_server.", i) || !s.startsWith(name, i + 15)) return false;
  i += 15 + name.length;
  // The name ends there; the rest of the path is `.KEY`s of bare keys up to the `]`.
  for (;;) {
    const c = s.charCodeAt(i);
    if (c === 0x5d) return true;
    if (c !== 0x2e || !isBareKeyChar(s.charCodeAt(i + 1))) return false;
    i += 2;
    while (isBareKeyChar(s.charCodeAt(i))) i++;
  }
}

function skipSpaces(s: string, i: number): number {
  while (i < s.length && (s.charCodeAt(i) === 0x20 || s.charCodeAt(i) === 0x09)) i++;
  return i;
}

/** Offset of the next line's start (or the end). */
function endOfLine(s: string, i: number): number {
  const nl = s.indexOf("\n", i);
  return nl < 0 ? s.length : nl + 1;
}

/** `[a.b]` or `[[a.b]]` at `i`: its key path, or null when it does not read as one. */
function headerPath(s: string, i: number): string[] | null {
  i++;
  if (s.charCodeAt(i) === BRACKET_OPEN) i++;
  const key = readKey(s, i);
  if (key === null) return null;
  return s.charCodeAt(skipSpaces(s, key.end)) === 0x5d ? key.parts : null;
}

/** A dotted key at `i`: its parts and where it ends, or null. */
function readKey(s: string, i: number): { parts: string[]; end: number } | null {
  const parts: string[] = [];
  for (;;) {
    i = skipSpaces(s, i);
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x27) {
      const end = quotedEnd(s, i);
      if (end === null) return null;
      const raw = s.slice(i, end);
      if (c === 0x27) parts.push(raw.slice(1, -1));
      else {
        try {
          parts.push(JSON.parse(raw));
        } catch {
          return null;
        }
      }
      i = end;
    } else {
      const from = i;
      while (i < s.length && isBareKeyChar(s.charCodeAt(i))) i++;
      if (i === from) return null;
      parts.push(s.slice(from, i));
    }
    i = skipSpaces(s, i);
    if (s.charCodeAt(i) !== 0x2e) return { parts, end: i };
    i++;
  }
}

/** End (past the closing quote) of a one-line string at `i`, or null. */
function quotedEnd(s: string, i: number): number | null {
  const q = s.charCodeAt(i);
  for (let j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 0x0a) return null;
    if (c === 0x5c && q === 0x22) j++;
    else if (c === q) return j + 1;
  }
  return null;
}

/** End (past the closing delimiter and up to two more quotes) of a multi-line string. */
function multilineEnd(s: string, i: number): number | null {
  const q = s.charCodeAt(i);
  const delimiter = q === 0x22 ? '"""' : "'''";
  let j = i + 3;
  for (;;) {
    if (q === 0x22) {
      // Find the closing delimiter, skipping escaped characters.
      const close = s.indexOf(delimiter, j);
      const slash = s.indexOf("\\", j);
      if (close < 0) return null;
      if (slash >= 0 && slash < close) {
        j = slash + 2;
        continue;
      }
      j = close;
    } else {
      j = s.indexOf(delimiter, j);
      if (j < 0) return null;
    }
    let end = j + 3;
    for (let k = 0; k < 2 && s.charCodeAt(end) === q; k++) end++;
    return end;
  }
}

/**
 * A statement that is not a header, from its first character: a comment, or a key, `=`
 * and a value (which may span lines); the offset of the line after it, or null.
 */
function statementEnd(s: string, i: number): number | null {
  const c = s.charCodeAt(i);
  if (c === 0x23 || c === 0x0a || c === 0x0d || i >= s.length) return endOfLine(s, i);
  const key = readKey(s, i);
  if (key === null || s.charCodeAt(key.end) !== 0x3d) return null;
  const end = valueEnd(s, skipSpaces(s, key.end + 1));
  return end === null ? null : endOfLine(s, end);
}

/** End of the value at `i`: a string, an array or inline table (to its close), a scalar. */
function valueEnd(s: string, i: number): number | null {
  const c = s.charCodeAt(i);
  if (c === 0x22 || c === 0x27) {
    return s.startsWith(c === 0x22 ? '"""' : "'''", i) ? multilineEnd(s, i) : quotedEnd(s, i);
  }
  if (c !== BRACKET_OPEN && c !== 0x7b) return i;
  // Nested arrays and tables, strings and comments: only they matter to find the close.
  let depth = 0;
  let j = i;
  while (j < s.length) {
    const d = s.charCodeAt(j);
    if (d === 0x22 || d === 0x27) {
      const multi = s.startsWith(d === 0x22 ? '"""' : "'''", j);
      const end = multi ? multilineEnd(s, j) : quotedEnd(s, j);
      if (end === null) return null;
      j = end;
      continue;
    }
    if (d === 0x23) {
      const nl = s.indexOf("\n", j);
      if (nl < 0) return null;
      j = nl + 1;
      continue;
    }
    if (d === BRACKET_OPEN || d === 0x7b) depth++;
    else if (d === 0x5d || d === 0x7d) {
      depth--;
      if (depth === 0) return j + 1;
    }
    j++;
  }
  return null;
}
