/**
 * keepalived.conf's block structure over the lexer's words: each source line is one
 * statement (a keyword and its arguments), and a statement followed by `{` owns the
 * statements up to the matching `}`. `{` may sit on the statement's line or alone on
 * the next; several statements may share a line inside braces (`{ 192.0.2.1 }`).
 *
 * @module
 */

import type { LexProblem, WordSink } from "./lexer.ts";

/** One statement: `keyword args...`, with a block when followed by braces. */
export interface KaNode {
  readonly keyword: string;
  readonly args: readonly string[];
  readonly file: string;
  readonly line: number;
  /** null: no block; [] an empty one. */
  readonly children: KaNode[] | null;
}

/** The arguments of a statement that has none (never written to). */
const NO_ARGS: readonly string[] = Object.freeze([]);

interface MutableNode {
  keyword: string;
  args: readonly string[];
  file: string;
  line: number;
  children: MutableNode[] | null;
}

/** What a gathering buffer holds once its block is closed (its statements are not kept alive). */
const NO_NODE: MutableNode = { keyword: "", args: NO_ARGS, file: "", line: 0, children: null };

/**
 * Builds the statement tree from the lexer's words as they come (it is the lexer's
 * sink), and hands each top-level statement to `onStatement` once it is complete (the
 * next one has begun, or the input ended). Unbalanced braces are problems, not
 * exceptions.
 *
 * @example
 * ```ts
 * import { diskReader, lexKeepalived } from "./lexer.ts";
 * const nodes: KaNode[] = [];
 * const tree = new TreeBuilder((n) => nodes.push(n));
 * lexKeepalived("a 1 {\n b\n}\n", "k.conf", diskReader, { configId: "x" }, tree);
 * tree.finish();
 * nodes[0].children?.[0].keyword; // "b"
 * ```
 */
export class TreeBuilder implements WordSink {
  /** Top-level statements are not kept here: each goes to `onStatement`. */
  readonly #root: MutableNode = { keyword: "", args: NO_ARGS, file: "", line: 0, children: null };
  /** The open blocks, the root first. */
  readonly #stack: MutableNode[] = [this.#root];
  /**
   * The current statement's arguments, and each open block's statements (by depth in
   * `#stack`), gathered here and copied out at their exact length when the statement or
   * the block ends: arrays grown by push kept room for 17 items, which was two thirds of
   * what reading a 10,000-server file allocated.
   */
  readonly #args: string[] = [];
  #argCount = 0;
  readonly #kids: MutableNode[][] = [];
  readonly #kidCount: number[] = [];
  readonly #problems: LexProblem[] = [];
  readonly #onStatement: (n: KaNode) => void;
  #current: MutableNode | null = null;
  #last: MutableNode | null = null;
  /** The top-level statement being read: it may still get a block (or its block, statements). */
  #statement: MutableNode | null = null;
  #statementsStartLines = true;

  /**
   * `onStatement` takes each top-level statement as soon as it is complete, so a big
   * file's tree is never whole in memory (the translator keeps what it needs).
   */
  constructor(onStatement: (n: KaNode) => void) {
    this.#onStatement = onStatement;
  }

  /**
   * Every top-level statement so far began its line (none came after a `}` on the line
   * before it): the start of each statement's line is then a point where the reader is
   * at the top level with nothing pending, so the text from there can be read alone
   * (the keepalived.conf reload that re-reads only the changed statements needs this).
   */
  get statementsStartLines(): boolean {
    return this.#statementsStartLines;
  }

  word(text: string, quoted: boolean, first: boolean, file: string, line: number): void {
    const brace = !quoted && (text === "{" || text === "}");
    if (first && this.#current !== null) this.#endStatement();
    if (brace) {
      // `{` opens the block of the statement on its line, or alone on a line, of the last one.
      const owner = first ? this.#last : this.#current;
      if (this.#current !== null) this.#endStatement();
      if (text === "{") this.#open(owner, file, line);
      else this.#close(file, line);
      this.#last = null;
      return;
    }
    if (this.#current === null) {
      const node: MutableNode = { keyword: text, args: NO_ARGS, file, line, children: null };
      const depth = this.#stack.length - 1;
      if (depth > 0) this.#kids[depth][this.#kidCount[depth]++] = node;
      else {
        if (this.#statement !== null) this.#onStatement(this.#statement);
        this.#statement = node;
        if (!first) this.#statementsStartLines = false;
      }
      this.#current = node;
      this.#last = node;
    } else this.#args[this.#argCount++] = text;
  }

  /** The current statement has all its arguments. */
  #endStatement(): void {
    if (this.#current !== null && this.#argCount > 0) {
      this.#current.args = this.#args.slice(0, this.#argCount);
    }
    this.#argCount = 0;
    this.#current = null;
  }

  #open(owner: MutableNode | null, file: string, line: number): void {
    if (owner === null || owner.children !== null) {
      this.#problems.push({ file, line, message: "expected a keyword before {", warning: false });
      this.#push({ keyword: "", args: NO_ARGS, file, line, children: null });
    } else this.#push(owner);
  }

  /** Opens `owner`'s block: its statements are gathered until it closes. */
  #push(owner: MutableNode): void {
    // Not null from here on: a second `{` for the same statement is an error.
    owner.children = [];
    this.#stack.push(owner);
    const depth = this.#stack.length - 1;
    this.#kids[depth] ??= [];
    this.#kidCount[depth] = 0;
  }

  /** Closes the innermost block, giving its owner its statements. */
  #pop(): void {
    const depth = this.#stack.length - 1;
    const owner = this.#stack.pop() as MutableNode;
    const n = this.#kidCount[depth];
    if (n > 0) owner.children = this.#kids[depth].slice(0, n);
    this.#kids[depth].fill(NO_NODE, 0, n);
  }

  #close(file: string, line: number): void {
    if (this.#stack.length > 1) this.#pop();
    else {
      this.#problems.push({
        file,
        line,
        message: "unexpected } (no block is open)",
        warning: false,
      });
    }
  }

  /**
   * Hands over the last statement; returns the problems, with the blocks left open at
   * the end of the input.
   */
  finish(): LexProblem[] {
    this.#endStatement();
    const unclosed = this.#stack.slice(1);
    while (this.#stack.length > 1) this.#pop();
    for (const open of unclosed) {
      this.#problems.push({
        file: open.file,
        line: open.line,
        message: `expected } to close "${open.keyword}" before the end of the file`,
        warning: false,
      });
    }
    if (this.#statement !== null) this.#onStatement(this.#statement);
    this.#statement = null;
    return this.#problems;
  }
}
