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

interface MutableNode {
  keyword: string;
  args: string[];
  file: string;
  line: number;
  children: MutableNode[] | null;
}

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
  readonly #root: MutableNode = { keyword: "", args: [], file: "", line: 0, children: null };
  readonly #stack: MutableNode[] = [this.#root];
  readonly #problems: LexProblem[] = [];
  readonly #onStatement: (n: KaNode) => void;
  #current: MutableNode | null = null;
  #last: MutableNode | null = null;
  /** The top-level statement being read: it may still get a block (or its block, statements). */
  #statement: MutableNode | null = null;

  /**
   * `onStatement` takes each top-level statement as soon as it is complete, so a big
   * file's tree is never whole in memory (the translator keeps what it needs).
   */
  constructor(onStatement: (n: KaNode) => void) {
    this.#onStatement = onStatement;
  }

  word(text: string, quoted: boolean, first: boolean, file: string, line: number): void {
    const brace = !quoted && (text === "{" || text === "}");
    if (first && this.#current !== null) this.#current = null;
    if (brace) {
      if (text === "{") this.#open(first, file, line);
      else this.#close(file, line);
      this.#current = null;
      this.#last = null;
      return;
    }
    if (this.#current === null) {
      const node: MutableNode = { keyword: text, args: [], file, line, children: null };
      if (this.#stack.length > 1) this.#stack[this.#stack.length - 1].children?.push(node);
      else {
        if (this.#statement !== null) this.#onStatement(this.#statement);
        this.#statement = node;
      }
      this.#current = node;
      this.#last = node;
    } else this.#current.args.push(text);
  }

  #open(first: boolean, file: string, line: number): void {
    const owner = this.#current ?? (first ? this.#last : null);
    if (owner === null || owner.children !== null) {
      this.#problems.push({ file, line, message: "expected a keyword before {", warning: false });
      this.#stack.push({ keyword: "", args: [], file, line, children: [] });
    } else {
      owner.children = [];
      this.#stack.push(owner);
    }
  }

  #close(file: string, line: number): void {
    if (this.#stack.length > 1) this.#stack.pop();
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
    for (const open of this.#stack.slice(1)) {
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
