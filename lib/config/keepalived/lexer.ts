/**
 * keepalived.conf's line language, before any block structure: comments, quoting,
 * `include` (globs and braces, relative to the including file), `@id` / `@^id`
 * conditional lines, `$NAME=value` parameters (and the predefined ones), and
 * `~SEQ(...)` / `~LST(...)` line repetition. The output is the stream of words, each
 * with the file and line it came from, so every later error points back at the source.
 *
 * File access goes through a `SourceReader` so the lexer stays testable without a disk.
 *
 * @module
 */

/**
 * Where the lexer hands each word, in order. The parser takes them as they come: a
 * list of every word of a 10,000-server file (a token object each) lived until the
 * tree was built, and the collector copied it on every pass.
 */
export interface WordSink {
  /**
   * One word: `quoted` when written in double quotes (never a brace, never a keyword),
   * `first` when it starts its source line (a statement starts there).
   */
  word(text: string, quoted: boolean, first: boolean, file: string, line: number): void;
}

/** A problem found while lexing: always an error (keepalived -t fails on these too). */
export interface LexProblem {
  readonly file: string;
  readonly line: number | null;
  readonly message: string;
  /** True when keepalived warns and carries on; false for an error. */
  readonly warning: boolean;
}

/** What the lexer needs from the file system. */
export interface SourceReader {
  /** The text of `path`, or null when it cannot be read. */
  read(path: string): string | null;
  /** Names in directory `dir` (not recursive), or null when it cannot be listed. */
  list(dir: string): string[] | null;
}

/** Options that change what a file means. */
export interface LexOptions {
  /** keepalived's `--config-id`: selects `@id` lines. */
  readonly configId: string;
  /** Value of the predefined `${_INSTANCE}` (keepalived's `-i`), default the config id. */
  readonly instance?: string;
}

/** Result of lexing a file and everything it includes (the words went to the sink). */
export interface LexResult {
  readonly problems: LexProblem[];
  /** Every file read, the top one first. */
  readonly files: string[];
}

const MAX_INCLUDE_DEPTH = 8;

/**
 * The host name's first label, as keepalived takes its default config id.
 *
 * @example
 * ```ts
 * defaultConfigId(); // "lb-a" on lb-a.example.com
 * ```
 */
export function defaultConfigId(): string {
  try {
    return Deno.hostname().split(".")[0];
  } catch {
    return "keepalived";
  }
}

/**
 * A `SourceReader` over the real file system.
 *
 * @example
 * ```ts
 * const text = diskReader.read("/etc/keepalived/keepalived.conf");
 * ```
 */
export const diskReader: SourceReader = {
  read(path) {
    try {
      return Deno.readTextFileSync(path);
    } catch {
      return null;
    }
  },
  list(dir) {
    try {
      return [...Deno.readDirSync(dir)].map((e) => e.name);
    } catch {
      return null;
    }
  },
};

/**
 * A reader that keeps what it answered, so that a file and its includes can be lexed
 * again exactly as they were read the first time (the error path reads the file again
 * for the lines of its keys), whatever happens on the disk in between.
 *
 * @example
 * ```ts
 * const tape = new TapeReader(diskReader);
 * lexKeepalived(text, "k.conf", tape, { configId: "a" }, sink);
 * lexKeepalived(text, "k.conf", tape.replay(), { configId: "a" }, sink2); // the same words
 * ```
 */
export class TapeReader implements SourceReader {
  readonly #base: SourceReader;
  readonly #tape: { readonly path: string; readonly answer: string | string[] | null }[] = [];

  constructor(base: SourceReader) {
    this.#base = base;
  }

  read(path: string): string | null {
    const answer = this.#base.read(path);
    this.#tape.push({ path, answer });
    return answer;
  }

  list(dir: string): string[] | null {
    const answer = this.#base.list(dir);
    this.#tape.push({ path: dir, answer: answer === null ? null : [...answer] });
    return answer;
  }

  /** A reader that gives the same answers to the same questions, asked in the same order. */
  replay(): SourceReader {
    const tape = this.#tape;
    let at = 0;
    const next = (path: string) => {
      const entry = tape[at++];
      // The lexer is a function of what it reads: a second reading asks the same.
      if (entry?.path !== path) throw new Error(`keepalived.conf re-read asked for ${path}`);
      return entry.answer;
    };
    return {
      read: (path) => next(path) as string | null,
      list: (dir) => {
        const names = next(dir) as string[] | null;
        return names === null ? null : [...names];
      },
    };
  }
}

/**
 * Lexes `file` (whose text is `source`) and every file it includes, handing the words
 * to `sink`.
 *
 * @example
 * ```ts
 * const words: string[] = [];
 * lexKeepalived("vrrp_instance VI_1 {\n}\n", "k.conf", diskReader, { configId: "a" }, {
 *   word: (text) => words.push(text),
 * });
 * words; // ["vrrp_instance", "VI_1", "{", "}"]
 * ```
 */
export function lexKeepalived(
  source: string,
  file: string,
  reader: SourceReader,
  options: LexOptions,
  sink: WordSink,
): LexResult {
  const lexer = new Lexer(reader, options, sink);
  lexer.lexFile(source, file, 0);
  return { problems: lexer.problems, files: lexer.files };
}

const CR = 13;
const SPACE = 32;
const TAB = 9;
const QUOTE = 34;
const BANG = 33;
const HASH = 35;
const DOLLAR = 36;
const AT = 64;
const TILDE = 126;
const OPEN = 123;
const CLOSE = 125;
const BACKSLASH = 92;
/** Size of the recent-words table (a power of two). */
const RECENT = 512;

class Lexer {
  readonly problems: LexProblem[] = [];
  readonly files: string[] = [];
  readonly #reader: SourceReader;
  readonly #options: LexOptions;
  readonly #sink: WordSink;
  readonly #params = new Map<string, string>();
  /** The words of the line being read: kept until the line is known to be plain. */
  readonly #texts: string[] = [];
  readonly #quoted: boolean[] = [];
  /**
   * Short words seen recently, by a hash of their length and end characters: the same
   * keywords and values (`real_server`, `weight`, `1`, the same real servers' addresses
   * under each virtual server) come back on almost every line, and a new string for
   * each was a fifth of what reading a big file allocated.
   */
  readonly #recent: string[] = new Array(RECENT).fill("");

  constructor(reader: SourceReader, options: LexOptions, sink: WordSink) {
    this.#reader = reader;
    this.#options = options;
    this.#sink = sink;
  }

  /**
   * Line by line, as `split("\n")` would cut them, without the array: the 25,000 lines
   * of a 1,000-service file, alive together, were copied by every collection.
   */
  lexFile(source: string, file: string, depth: number): void {
    this.files.push(file);
    let line = 0;
    for (let at = 0;;) {
      const nl = source.indexOf("\n", at);
      let end = nl < 0 ? source.length : nl;
      line++;
      if (end > at && source.charCodeAt(end - 1) === CR) end--;
      if (nl >= 0 && end > at && source.charCodeAt(end - 1) === BACKSLASH) {
        // A trailing backslash joins the next line (keepalived's multi-line parameters).
        const next = this.#joined(source, at, file, line, depth);
        if (next.at < 0) return;
        at = next.at;
        line += next.joined;
        continue;
      }
      if (!this.#plainLine(source, at, end, file, line)) {
        this.#logicalLine(source.slice(at, end), file, line, depth);
      }
      if (nl < 0) return;
      at = nl + 1;
    }
  }

  /** `source.slice(start, end)`, the same string as the last time these characters came. */
  #text(source: string, start: number, end: number): string {
    const length = end - start;
    if (length > 32) return source.slice(start, end);
    const h = (length * 31 + source.charCodeAt(start) * 7 + source.charCodeAt(end - 1)) &
      (RECENT - 1);
    const seen = this.#recent[h];
    if (seen.length === length && source.startsWith(seen, start)) return seen;
    return this.#recent[h] = source.slice(start, end);
  }

  /**
   * Reads the line at `at` (which ends in a backslash, and another line follows) and the
   * lines it joins as one logical line. Returns where the next line starts (-1: the end
   * of the file) and how many lines were joined to the first.
   */
  #joined(
    source: string,
    at: number,
    file: string,
    line: number,
    depth: number,
  ): { at: number; joined: number } {
    let nl = source.indexOf("\n", at);
    let text = source.slice(at, nl).replace(/\r$/, "");
    let joined = 0;
    while (text.endsWith("\\") && nl >= 0) {
      at = nl + 1;
      nl = source.indexOf("\n", at);
      const piece = source.slice(at, nl < 0 ? source.length : nl).replace(/\r$/, "");
      text = text.slice(0, -1) + " " + piece;
      joined++;
    }
    this.#logicalLine(text, file, line, depth);
    return { at: nl < 0 ? -1 : nl + 1, joined };
  }

  /**
   * The common line, read in place: no conditional, parameter, repetition or include,
   * no `$`, quotes closed, and nothing but ASCII blanks around it. Returns false, having
   * handed over nothing, for any other line: the general path reads that one.
   */
  #plainLine(source: string, start: number, end: number, file: string, line: number): boolean {
    while (start < end && isBlank(source.charCodeAt(start))) start++;
    while (end > start && isBlank(source.charCodeAt(end - 1))) end--;
    if (start === end) return true;
    const c0 = source.charCodeAt(start);
    if (c0 === AT || c0 === DOLLAR || c0 === TILDE || c0 >= 0x80) return false;
    if (source.charCodeAt(end - 1) >= 0x80 || source.startsWith("include", start)) return false;
    const texts = this.#texts;
    const quoted = this.#quoted;
    let n = 0;
    for (let i = start; i < end;) {
      const c = source.charCodeAt(i);
      if (c === SPACE || c === TAB) i++;
      else if (c === BANG || c === HASH) break;
      else if (c === OPEN || c === CLOSE) {
        texts[n] = c === OPEN ? "{" : "}";
        quoted[n++] = false;
        i++;
      } else if (c === QUOTE) {
        let j = i + 1;
        while (j < end && source.charCodeAt(j) !== QUOTE) {
          if (source.charCodeAt(j) === DOLLAR) return false;
          j++;
        }
        if (j === end) return false;
        texts[n] = source.slice(i + 1, j);
        quoted[n++] = true;
        i = j + 1;
      } else {
        let j = i;
        for (; j < end; j++) {
          const w = source.charCodeAt(j);
          if (w === SPACE || w === TAB || w === OPEN || w === CLOSE || w === QUOTE) break;
          if (w === DOLLAR) return false;
        }
        // A comment character inside a word (e.g. a URL's #fragment) is part of the word.
        texts[n] = this.#text(source, i, j);
        quoted[n++] = false;
        i = j;
      }
    }
    for (let k = 0; k < n; k++) this.#sink.word(texts[k], quoted[k], k === 0, file, line);
    return true;
  }

  #problem(file: string, line: number | null, message: string, warning = false): void {
    this.problems.push({ file, line, message, warning });
  }

  #logicalLine(raw: string, file: string, line: number, depth: number): void {
    let text = raw.trim();
    const cond = /^@(\^?)(\S+)\s*(.*)$/.exec(text);
    if (cond) {
      const matches = cond[2] === this.#options.configId;
      if (matches === (cond[1] === "^")) return;
      text = cond[3];
    }
    const def = /^\$([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(text);
    if (def) {
      this.#params.set(def[1], stripComment(def[2]).trim());
      return;
    }
    const rep = /^~(SEQ|LST)\(([^)]*)\)\s*(.*)$/.exec(text);
    if (rep) {
      this.#repeat(rep[1], rep[2], rep[3], file, line, depth);
      return;
    }
    if (text.startsWith("~")) {
      this.#problem(file, line, `expected ~SEQ(VAR, START, [STEP,] END) or ~LST(VAR, A, B, ...)`);
      return;
    }
    this.#words(this.#expand(text, file), file, line, depth);
  }

  #repeat(kind: string, argText: string, rest: string, file: string, line: number, depth: number) {
    const args = argText.split(",").map((a) => this.#expand(a.trim(), file));
    const name = args.shift() ?? "";
    let values: string[] = [];
    if (kind === "LST") values = args;
    else {
      const n = args.map(Number);
      if (n.length < 2 || n.length > 3 || n.some((x) => !Number.isInteger(x))) {
        this.#problem(file, line, `expected ~SEQ(VAR, START, [STEP,] END) with integers`);
        return;
      }
      const [start, step, end] = n.length === 2 ? [n[0], 1, n[1]] : [n[0], n[1], n[2]];
      if (step === 0) {
        this.#problem(file, line, `expected a non-zero step in ~SEQ, got 0`);
        return;
      }
      for (let v = start; step > 0 ? v <= end : v >= end; v += step) values.push(String(v));
    }
    const saved = this.#params.get(name);
    for (const v of values) {
      this.#params.set(name, v);
      this.#logicalLine(rest, file, line, depth);
    }
    if (saved === undefined) this.#params.delete(name);
    else this.#params.set(name, saved);
  }

  #predefined(name: string, file: string): string | undefined {
    switch (name) {
      case "_PWD":
        return dirname(file);
      case "_INSTANCE":
        return this.#options.instance ?? this.#options.configId;
      case "_HASH":
        return "#";
      case "_BANG":
        return "!";
      case "_SPACE":
        return " ";
    }
    return undefined;
  }

  /** Replaces `$NAME` and `${NAME}` (repeatedly, for parameters made of parameters). */
  #expand(text: string, file = "", rounds = 0): string {
    if (rounds > 16 || !text.includes("$")) return text;
    // keepalived expands `${NAME}` anywhere, but a bare `$NAME` only where a word starts.
    const out = text.replace(
      /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|(^|[\s{}])\$([A-Za-z_][A-Za-z0-9_]*)/g,
      (whole, a?: string, lead?: string, b?: string) => {
        const name = a ?? b ?? "";
        const value = this.#params.get(name) ?? this.#predefined(name, file);
        return value === undefined ? whole : `${lead ?? ""}${value}`;
      },
    );
    return out === text ? out : this.#expand(out, file, rounds + 1);
  }

  #words(text: string, file: string, line: number, depth: number): void {
    // An include's pattern may hold braces ({a,b}): it is read before braces are split.
    const inc = /^include\s+(?:"([^"]*)"|([^\s!#]+))\s*(?:[!#].*)?$/.exec(text);
    if (inc) {
      this.#include([inc[1] ?? inc[2]], file, line, depth);
      return;
    }
    const words = splitWords(text);
    if (words === null) {
      this.#problem(file, line, "expected a closing double quote");
      return;
    }
    if (words.length > 0 && words[0].text === "include" && !words[0].quoted) {
      this.#include(words.slice(1).map((w) => w.text), file, line, depth);
      return;
    }
    words.forEach((w, i) => this.#sink.word(w.text, w.quoted, i === 0, file, line));
  }

  #include(args: string[], file: string, line: number, depth: number): void {
    if (args.length !== 1) {
      this.#problem(file, line, `include: expected one file name or pattern, got ${args.length}`);
      return;
    }
    if (depth >= MAX_INCLUDE_DEPTH) {
      this.#problem(file, line, `include: nested more than ${MAX_INCLUDE_DEPTH} deep (a loop?)`);
      return;
    }
    const pattern = args[0].startsWith("/") ? args[0] : `${dirname(file)}/${args[0]}`;
    const matches = expandBraces(pattern).flatMap((p) => globFiles(p, this.#reader));
    if (matches.length === 0) {
      // keepalived reports the missing files and carries on; so does hacore, with a warning.
      this.#problem(
        file,
        line,
        `include: no file matches "${args[0]}" (skipped, as keepalived does)`,
        true,
      );
      return;
    }
    for (const path of [...new Set(matches)]) {
      const text = this.#reader.read(path);
      if (text === null) {
        this.#problem(file, line, `include: cannot read "${path}"`);
        continue;
      }
      this.lexFile(text, path, depth + 1);
    }
  }
}

interface Word {
  text: string;
  quoted: boolean;
}

/** Splits a line into words: quotes group, `!` and `#` outside quotes start a comment. */
function splitWords(text: string): Word[] | null {
  const out: Word[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === " " || c === "\t") i++;
    else if (c === "!" || c === "#") break;
    else if (c === "{" || c === "}") {
      out.push({ text: c, quoted: false });
      i++;
    } else if (c === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) return null;
      out.push({ text: text.slice(i + 1, end), quoted: true });
      i = end + 1;
    } else {
      let j = i;
      while (j < text.length && !' \t{}"'.includes(text[j])) j++;
      // A comment character inside a word (e.g. a URL's #fragment) is part of the word.
      out.push({ text: text.slice(i, j), quoted: false });
      i = j;
    }
  }
  return out;
}

/** The text before a `!` or `#` that is outside double quotes. */
function stripComment(text: string): string {
  const m = /^[^"!#]*(?:"[^"]*"[^"!#]*)*/.exec(text);
  return m ? m[0] : text;
}

/** The ASCII characters `String.prototype.trim` removes. */
function isBlank(c: number): boolean {
  return c === SPACE || (c >= TAB && c <= CR);
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/**
 * `a{b,c}d` → `abd`, `acd` (nested braces too), as glob(3) with GLOB_BRACE does.
 *
 * @example
 * ```ts
 * expandBraces("conf.d/{vrrp,lvs}.conf"); // ["conf.d/vrrp.conf", "conf.d/lvs.conf"]
 * ```
 */
export function expandBraces(pattern: string): string[] {
  const open = pattern.indexOf("{");
  if (open < 0) return [pattern];
  let depth = 0;
  const commas: number[] = [];
  for (let i = open; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "{") depth++;
    else if (c === "}" && --depth === 0) {
      const parts: string[] = [];
      let from = open + 1;
      for (const comma of commas) {
        parts.push(pattern.slice(from, comma));
        from = comma + 1;
      }
      parts.push(pattern.slice(from, i));
      const head = pattern.slice(0, open);
      const tail = pattern.slice(i + 1);
      return parts.flatMap((p) => expandBraces(head + p + tail));
    } else if (c === "," && depth === 1) commas.push(i);
  }
  return [pattern];
}

/** Files matching a glob of `*`, `?` and `[...]`, sorted as glob(3) sorts them. */
function globFiles(pattern: string, reader: SourceReader): string[] {
  const parts = pattern.split("/");
  let paths = [parts[0] === "" ? "" : parts[0]];
  for (const part of parts.slice(1)) {
    if (part === "") continue;
    const next: string[] = [];
    for (const base of paths) {
      if (!/[*?[]/.test(part)) {
        next.push(`${base}/${part}`);
        continue;
      }
      const re = globToRegExp(part);
      const names = reader.list(base === "" ? "/" : base) ?? [];
      for (const n of names.filter((n) => re.test(n) && !n.startsWith(".")).sort()) {
        next.push(`${base}/${n}`);
      }
    }
    paths = next;
  }
  return paths.filter((p) => reader.read(p) !== null || !/[*?[]/.test(pattern));
}

function globToRegExp(part: string): RegExp {
  let re = "";
  for (let i = 0; i < part.length; i++) {
    const c = part[i];
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = part.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        re += `[${part.slice(i + 1, end).replace(/^!/, "^")}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}
