/**
 * keepalived.conf's block structure over the lexer's tokens: each source line is one
 * statement (a keyword and its arguments), and a statement followed by `{` owns the
 * statements up to the matching `}`. `{` may sit on the statement's line or alone on
 * the next; several statements may share a line inside braces (`{ 192.0.2.1 }`).
 *
 * @module
 */

import type { LexProblem, Token } from "./lexer.ts";

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
 * Builds the statement tree. Unbalanced braces are problems, not exceptions.
 *
 * @example
 * ```ts
 * import { diskReader, lexKeepalived } from "./lexer.ts";
 * const { tokens } = lexKeepalived("a 1 {\n b\n}\n", "k.conf", diskReader, { configId: "x" });
 * parseKeepalivedTokens(tokens).nodes[0].children?.[0].keyword; // "b"
 * ```
 */
export function parseKeepalivedTokens(
  tokens: readonly Token[],
): { nodes: KaNode[]; problems: LexProblem[] } {
  const root: MutableNode = { keyword: "", args: [], file: "", line: 0, children: [] };
  const stack: MutableNode[] = [root];
  const problems: LexProblem[] = [];
  let current: MutableNode | null = null;
  let last: MutableNode | null = null;
  const top = () => stack[stack.length - 1];
  for (const t of tokens) {
    const brace = !t.quoted && (t.text === "{" || t.text === "}");
    if (t.first && current !== null) current = null;
    if (brace && t.text === "{") {
      const owner = current ?? (t.first ? last : null);
      if (owner === null || owner.children !== null) {
        problems.push({
          file: t.file,
          line: t.line,
          message: "expected a keyword before {",
          warning: false,
        });
        const anon: MutableNode = {
          keyword: "",
          args: [],
          file: t.file,
          line: t.line,
          children: [],
        };
        stack.push(anon);
      } else {
        owner.children = [];
        stack.push(owner);
      }
      current = null;
      last = null;
      continue;
    }
    if (brace) {
      if (stack.length === 1) {
        problems.push({
          file: t.file,
          line: t.line,
          message: "unexpected } (no block is open)",
          warning: false,
        });
      } else stack.pop();
      current = null;
      last = null;
      continue;
    }
    if (current === null) {
      current = { keyword: t.text, args: [], file: t.file, line: t.line, children: null };
      top().children?.push(current);
      last = current;
    } else current.args.push(t.text);
  }
  for (const open of stack.slice(1)) {
    problems.push({
      file: open.file,
      line: open.line,
      message: `expected } to close "${open.keyword}" before the end of the file`,
      warning: false,
    });
  }
  return { nodes: root.children ?? [], problems };
}
