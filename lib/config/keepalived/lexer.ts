/**
 * keepalived.conf's line language, before any block structure: comments, quoting,
 * `include` (globs and braces, relative to the including file), `@id` / `@^id`
 * conditional lines, `$NAME=value` parameters (and the predefined ones), and
 * `~SEQ(...)` / `~LST(...)` line repetition. The output is a flat list of tokens, each
 * with the file and line it came from, so every later error points back at the source.
 *
 * File access goes through a `SourceReader` so the lexer stays testable without a disk.
 *
 * @module
 */

/** One word of keepalived.conf, with where it was written. */
export interface Token {
  readonly text: string;
  readonly file: string;
  readonly line: number;
  /** Written in double quotes: never a brace, never a keyword. */
  readonly quoted: boolean;
  /** First token of its source line: a statement starts here. */
  readonly first: boolean;
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

/** Result of lexing a file and everything it includes. */
export interface LexResult {
  readonly tokens: Token[];
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
 * Lexes `file` (whose text is `source`) and every file it includes.
 *
 * @example
 * ```ts
 * const r = lexKeepalived("vrrp_instance VI_1 {\n}\n", "k.conf", diskReader, { configId: "a" });
 * r.tokens.map((t) => t.text); // ["vrrp_instance", "VI_1", "{", "}"]
 * ```
 */
export function lexKeepalived(
  source: string,
  file: string,
  reader: SourceReader,
  options: LexOptions,
): LexResult {
  const lexer = new Lexer(reader, options);
  lexer.lexFile(source, file, 0);
  return { tokens: lexer.tokens, problems: lexer.problems, files: lexer.files };
}

class Lexer {
  readonly tokens: Token[] = [];
  readonly problems: LexProblem[] = [];
  readonly files: string[] = [];
  readonly #reader: SourceReader;
  readonly #options: LexOptions;
  readonly #params = new Map<string, string>();

  constructor(reader: SourceReader, options: LexOptions) {
    this.#reader = reader;
    this.#options = options;
  }

  lexFile(source: string, file: string, depth: number): void {
    this.files.push(file);
    const lines = source.split("\n");
    for (let i = 0; i < lines.length; i++) {
      let text = lines[i].replace(/\r$/, "");
      const line = i + 1;
      // A trailing backslash joins the next line (keepalived's multi-line parameters).
      while (text.endsWith("\\") && i + 1 < lines.length) {
        text = text.slice(0, -1) + " " + lines[++i].replace(/\r$/, "");
      }
      this.#logicalLine(text, file, line, depth);
    }
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
    words.forEach((w, i) => this.tokens.push({ ...w, file, line, first: i === 0 }));
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
