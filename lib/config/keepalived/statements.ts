/**
 * keepalived.conf's top-level statements as runs of text that can be read alone: what a
 * reload that re-reads only the changed statements (lib/config/incremental.ts) needs.
 *
 * A statement's text runs from the start of the line its keyword begins to the start of
 * the next statement's line (the comments and blank lines after it included). Where
 * every statement begins its line (`TreeBuilder.statementsStartLines`), each such start
 * is a point where the reader is at the top level with nothing pending. A run of
 * statements then reads alone as it reads in the whole file when it is plain: no `$`
 * (parameters are set and used across statements), no conditional (`@`), sequence
 * (`~`) or include line, no line joined to the next by a backslash (these are what the
 * lexer reads by its general path, or what changes the lines after them).
 *
 * @module
 */

import type { KeepalivedOutline } from "./mod.ts";
import { lexKeepalived, type SourceReader } from "./lexer.ts";
import { type KaNode, TreeBuilder } from "./parser.ts";

/**
 * Where the statements of a whole read begin: `starts[k]` is the offset of the line of
 * statement k's keyword, `keywords[k]` that keyword.
 */
export interface StatementStarts {
  readonly starts: number[];
  readonly keywords: string[];
}

/**
 * A conditional, sequence or include line, a line joined to the next, a `$` anywhere:
 * text whose meaning depends on (or changes) what is around it.
 */
const NOT_PLAIN = /^[\t-\r ]*(?:[@~]|include)|\\$|\$/m;
/** Anything but printable ASCII, tabs and line ends. */
const NOT_ASCII = /[^\t\n\r -~]/;
/** A conditional line, or a parameter: what the host name (the default config id) may change. */
const HOST_DEPENDENT = /^[\t-\r ]*@|\$/m;

/**
 * True when `text` reads alone as it reads in any file around it (see the module notes).
 *
 * @example
 * ```ts
 * plainStatements("virtual_server 192.0.2.1 80 {\n}\n"); // true
 * plainStatements("$PORT=80\n"); // false
 * ```
 */
export function plainStatements(text: string): boolean {
  return !NOT_PLAIN.test(text) && !NOT_ASCII.test(text);
}

/**
 * Where the statements of `source` begin, from the outline of its whole read; null when
 * they cannot be re-read alone: an include was read, a statement began after another on
 * its line, the file is not ASCII, or (with no fixed config id, whose default is the
 * host name) it has conditional lines or parameters.
 *
 * @example
 * ```ts
 * const o = { files: ["k.conf"], keywords: ["global_defs"], lines: [2], startLines: true };
 * statementStarts("# lb\nglobal_defs {\n}\n", o, "lb")?.starts; // [5]
 * ```
 */
export function statementStarts(
  source: string,
  outline: KeepalivedOutline,
  configId: string | undefined,
): StatementStarts | null {
  if (outline.files.length !== 1 || !outline.startLines || NOT_ASCII.test(source)) return null;
  if (configId === undefined && HOST_DEPENDENT.test(source)) return null;
  const starts = lineOffsets(source, outline.lines);
  return starts === null ? null : { starts, keywords: outline.keywords.slice() };
}

/**
 * The offsets of `lines` (1-based, strictly increasing) in `text`; null when they do not
 * increase or lie past its end.
 */
export function lineOffsets(text: string, lines: readonly number[]): number[] | null {
  const out = new Array<number>(lines.length);
  let line = 1;
  let at = 0;
  for (let k = 0; k < lines.length; k++) {
    if (lines[k] < line || (k > 0 && lines[k] === lines[k - 1])) return null;
    while (line < lines[k]) {
      const nl = text.indexOf("\n", at);
      if (nl < 0) return null;
      at = nl + 1;
      line++;
    }
    out[k] = at;
  }
  return out;
}

/**
 * The offset just past the line that tells keepalived.conf from TOML (the first that is
 * not blank or a comment: see `looksLikeKeepalived`); -1 when there is none.
 *
 * @example
 * ```ts
 * formatLineEnd("# x\nglobal_defs {\n}\n"); // 18
 * ```
 */
export function formatLineEnd(source: string): number {
  for (let at = 0; at < source.length;) {
    const nl = source.indexOf("\n", at);
    const end = nl < 0 ? source.length : nl;
    const line = source.slice(at, end).trim();
    if (line !== "" && !line.startsWith("#") && !line.startsWith("!")) return end + 1;
    at = end + 1;
  }
  return -1;
}

/** Includes are refused before a run is read alone: a reader that has nothing. */
const NO_FILES: SourceReader = { read: () => null, list: () => null };

/**
 * The top-level statements of `text` read alone (lines numbered from 1 at its start),
 * or null when it has any problem, or a statement begins after another on its line.
 * `text` must be plain (see {@link plainStatements}).
 *
 * @example
 * ```ts
 * readStatements("virtual_server 192.0.2.1 80 {\n}\n", "k.conf", "lb")?.[0].line; // 1
 * ```
 */
export function readStatements(text: string, file: string, configId: string): KaNode[] | null {
  const nodes: KaNode[] = [];
  const tree = new TreeBuilder((n) => nodes.push(n));
  const lexed = lexKeepalived(text, file, NO_FILES, { configId }, tree);
  const problems = tree.finish();
  if (lexed.problems.length > 0 || problems.length > 0 || !tree.statementsStartLines) return null;
  return nodes;
}
