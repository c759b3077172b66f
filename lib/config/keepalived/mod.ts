/**
 * keepalived.conf as a first-class input: lex (comments, includes, conditionals,
 * parameters, sequences) → parse (blocks) → translate (the keyword table) → the one
 * validator the TOML reader uses. Errors and warnings carry the keepalived.conf file
 * and line they come from, included files included.
 *
 * It costs about what the same config as TOML costs: the three first steps run as one
 * stream (words go to the parser as they are read, each top-level statement to the
 * translator as soon as it is complete), and where each key was written is only worked
 * out when something needs it (an error, a warning, `hacore import`), by reading the
 * file again, from what the first reading read, with recording on.
 *
 * @example
 * ```ts
 * import { parseKeepalived } from "./mod.ts";
 * const r = parseKeepalived("vrrp_instance VI_1 {\n interface eth0\n}\n", "keepalived.conf");
 * if (!r.ok) console.log(r.errors[0].line); // 1: virtual_router_id is missing
 * ```
 *
 * @module
 */

import type { ConfigError } from "../errors.ts";
import { Ctx, type RawTable } from "../fields.ts";
import { deepFreeze } from "../freeze.ts";
import { formatPath, type KeyPath } from "../scan.ts";
import type { Config } from "../schema.ts";
import { validateDocument } from "../validate.ts";
import {
  defaultConfigId,
  diskReader,
  lexKeepalived,
  type LexProblem,
  type SourceReader,
  TapeReader,
} from "./lexer.ts";
import { TreeBuilder } from "./parser.ts";
import { type SourceLoc, translateKeepalived } from "./translate.ts";

export { defaultConfigId } from "./lexer.ts";
export { type KeywordInfo, KEYWORDS, type KeywordStatus } from "./keywords.ts";
export type { SourceLoc } from "./translate.ts";

/** Options of the keepalived reader. */
export interface KeepalivedOptions {
  /** keepalived's `--config-id` (selects `@id` lines); default: the host name's first label. */
  readonly configId?: string;
  /** Where included files are read from; default the disk. */
  readonly reader?: SourceReader;
}

/** A keepalived.conf read into a `Config`, with what was said about it. */
export type KeepalivedResult =
  | {
    ok: true;
    config: Config;
    warnings: ConfigError[];
    /** The translated hacore document and where each key came from (for `hacore import`). */
    doc: RawTable;
    /** Made when first read: a file that is only loaded never needs it. */
    readonly locs: ReadonlyMap<string, SourceLoc>;
    readonly outline: KeepalivedOutline;
  }
  | { ok: false; errors: ConfigError[]; warnings: ConfigError[] };

/**
 * Where a read's top-level statements begin: what a reload that re-reads only the
 * statements whose text changed (lib/config/incremental.ts) needs of the last read.
 */
export interface KeepalivedOutline {
  /** Every file read, the top one first: more than one means an include was read. */
  readonly files: readonly string[];
  /** Each top-level statement's keyword, in order. */
  readonly keywords: readonly string[];
  /** The line of each one's keyword, in the file it came from. */
  readonly lines: readonly number[];
  /** Each statement's keyword was the first word of its line (see `TreeBuilder`). */
  readonly startLines: boolean;
}

/**
 * Reads keepalived.conf text (includes relative to `file`) into a validated `Config`.
 *
 * @example
 * ```ts
 * const r = parseKeepalived("global_defs {\n router_id a\n}\n", "k.conf", { configId: "a" });
 * if (r.ok) r.config.global.routerId; // "a"
 * ```
 */
export function parseKeepalived(
  source: string,
  file: string,
  options: KeepalivedOptions = {},
): KeepalivedResult {
  const configId = options.configId ?? defaultConfigId();
  // What was read is kept: an error or warning reads the file again for its keys' lines.
  const tape = new TapeReader(options.reader ?? diskReader);
  const lexParse: LexProblem[] = [];
  let reads = 0;
  const keywords: string[] = [];
  const lines: number[] = [];
  const outline = { files: [] as string[], keywords, lines, startLines: false };
  const translated = translateKeepalived((onStatement) => {
    const first = reads++ === 0;
    const tree = new TreeBuilder(
      first
        ? (n) => {
          keywords.push(n.keyword);
          lines.push(n.line);
          onStatement(n);
        }
        : onStatement,
    );
    const lexed = lexKeepalived(source, file, first ? tape : tape.replay(), { configId }, tree);
    const parsed = tree.finish();
    if (!first) return;
    // A second reading finds the same problems.
    lexParse.push(...lexed.problems, ...parsed);
    outline.files = lexed.files;
    outline.startLines = tree.statementsStartLines;
  });
  const problems = [...lexParse, ...translated.problems];
  const early = problems.filter((p) => !p.warning).map(toError);
  const ctx = new SourceCtx(file, translated.locs);
  const config = validateDocument(ctx, translated.doc);
  // The translator's corrections and the validator's (the same ones a TOML file gets).
  const warnings = [...problems.filter((p) => p.warning).map(toError), ...ctx.warnings]
    .sort(byPlace);
  const errors = [...early, ...ctx.errors].sort(byPlace);
  if (errors.length > 0) return { ok: false, errors, warnings };
  return {
    ok: true,
    config: deepFreeze({ ...config, file }),
    warnings,
    doc: translated.doc,
    get locs() {
      return translated.locs();
    },
    outline,
  };
}

/**
 * True when `source` reads as keepalived.conf rather than TOML: its first statement is
 * `word ... {` (or a keepalived line construct), where TOML would have `[table]` or
 * `key = value`.
 *
 * @example
 * ```ts
 * looksLikeKeepalived("global_defs {\n}\n"); // true
 * looksLikeKeepalived("[global]\nrouter_id = \"a\"\n"); // false
 * ```
 */
export function looksLikeKeepalived(source: string): boolean {
  // Line by line up to the first statement: splitting a 10,000-server file into its
  // 50,000 lines to read one of them cost more than the rest of a reload.
  for (let at = 0; at < source.length;) {
    const nl = source.indexOf("\n", at);
    const end = nl < 0 ? source.length : nl;
    const line = source.slice(at, end).trim();
    at = end + 1;
    if (line === "" || line.startsWith("#") || line.startsWith("!")) continue;
    if (line.startsWith("[")) return false;
    if (/^[A-Za-z0-9_."'-]+\s*=/.test(line)) return false;
    if (/^(include\s|@\^?\S+\s|\$[A-Za-z_]|~(SEQ|LST)\()/.test(line)) return true;
    return /^[A-Za-z_][A-Za-z0-9_]*(\s+[^={}\s]+)*\s*\{?/.test(line) && !line.includes("=");
  }
  return false;
}

function toError(p: LexProblem): ConfigError {
  return { file: p.file, line: p.line, path: "", message: p.message };
}

function byPlace(a: ConfigError, b: ConfigError): number {
  if (a.file !== b.file) return 0;
  return (a.line ?? Infinity) - (b.line ?? Infinity);
}

/** A `Ctx` whose errors point at the keepalived.conf file and line each key came from. */
class SourceCtx extends Ctx {
  readonly #locs: () => ReadonlyMap<string, SourceLoc>;

  constructor(file: string, locs: () => ReadonlyMap<string, SourceLoc>) {
    // Lines are looked up only for a warning (errors use `locs`): the copy of every
    // key's line (40,000 for 1,000 virtual servers) is made then, not for every file.
    super(file, () => new Map([...locs()].map(([k, v]) => [k, v.line])));
    this.#locs = locs;
  }

  override error(path: KeyPath, message: string): void {
    const locs = this.#locs();
    let loc: SourceLoc | undefined;
    for (let n = path.length; n > 0 && loc === undefined; n--) {
      loc = locs.get(formatPath(path.slice(0, n)));
    }
    this.errors.push({
      file: loc?.file ?? this.file,
      line: loc?.line ?? null,
      path: formatPath(path),
      message,
    });
  }
}
