import assert from "node:assert/strict";
import { parseKeepalived } from "../../lib/config/keepalived/mod.ts";
import {
  formatLineEnd,
  lineOffsets,
  plainStatements,
  readStatements,
  statementStarts,
} from "../../lib/config/keepalived/statements.ts";

const OPTS = { configId: "lb" };
const TEXT = "# lb\nglobal_defs {\n  router_id lb\n}\n\n" +
  "virtual_server 192.0.2.1 80 {\n  protocol TCP\n  real_server 10.0.0.1 80 {\n  }\n}\n";

Deno.test("a whole read's outline: each statement's keyword and line, the files read", () => {
  const r = parseKeepalived(TEXT, "k.conf", OPTS);
  assert.ok(r.ok, r.ok ? "" : JSON.stringify(r.errors));
  assert.deepEqual(r.outline, {
    files: ["k.conf"],
    keywords: ["global_defs", "virtual_server"],
    lines: [2, 6],
    startLines: true,
  });
  const starts = statementStarts(TEXT, r.outline, "lb");
  assert.deepEqual(starts, { starts: [5, 37], keywords: ["global_defs", "virtual_server"] });
  assert.ok(TEXT.startsWith("virtual_server", 37));
});

Deno.test("a statement after a `}` on its line does not start its line", () => {
  const text =
    "global_defs {\n  router_id lb\n} virtual_server 192.0.2.1 80 {\n  protocol TCP\n}\n";
  const r = parseKeepalived(text, "k.conf", OPTS);
  assert.ok(r.ok, r.ok ? "" : JSON.stringify(r.errors));
  assert.equal(r.outline.startLines, false);
  assert.equal(statementStarts(text, r.outline, "lb"), null);
  assert.equal(readStatements(text, "k.conf", "lb"), null);
});

Deno.test("statement starts: none for an include read, non-ASCII, or host-dependent text without a config id", () => {
  const outline = { files: ["k.conf"], keywords: ["global_defs"], lines: [1], startLines: true };
  const text = "global_defs {\n}\n";
  assert.deepEqual(statementStarts(text, outline, undefined)?.starts, [0]);
  assert.equal(statementStarts(text, { ...outline, files: ["k.conf", "a.conf"] }, "lb"), null);
  assert.equal(statementStarts("global_defs { # é\n}\n", outline, "lb"), null);
  const param = "global_defs {\n  router_id $ID\n}\n";
  assert.equal(statementStarts(param, outline, undefined), null);
  assert.deepEqual(statementStarts(param, outline, "lb")?.starts, [0]);
  const cond = "global_defs {\n  @lb router_id a\n}\n";
  assert.equal(statementStarts(cond, outline, undefined), null);
  // An address with @ is not a conditional line.
  const mail = "global_defs {\n  notification_email_from a@b.c\n}\n";
  assert.deepEqual(statementStarts(mail, outline, undefined)?.starts, [0]);
});

Deno.test("line offsets: lines must increase, and exist", () => {
  assert.deepEqual(lineOffsets("a\nb\n\nc", [1, 2, 4]), [0, 2, 5]);
  assert.equal(lineOffsets("a\nb\n", [2, 2]), null);
  assert.equal(lineOffsets("a\nb\n", [2, 1]), null);
  assert.equal(lineOffsets("a\nb", [3]), null);
  assert.deepEqual(lineOffsets("a\r\nb", [2]), [3]);
});

Deno.test("the format line ends after the first line that is not blank or a comment", () => {
  assert.equal(formatLineEnd("# x\n! y\n\n  global_defs {\n}\n"), 25);
  assert.equal(formatLineEnd("# only\n\n"), -1);
  assert.equal(formatLineEnd("global_defs {"), 14);
});

Deno.test("plain statements: no parameter, conditional, sequence, include or joined line, ASCII only", () => {
  assert.ok(plainStatements(TEXT));
  assert.ok(plainStatements('virtual_server 192.0.2.1 80 {\n  quorum_up "a@b ~x"\n}\n'));
  for (
    const bad of [
      "  delay_loop $D\n",
      '  quorum_up "echo $1"\n',
      "  @lb weight 1\n",
      "\t~SEQ(i, 1, 2) x\n",
      "  include x.conf\n",
      "  lb_kind \\\n DR\n",
      "  lb_kind \\\r\n DR\r\n",
      "  weight 1 # é\n",
    ]
  ) assert.equal(plainStatements(bad), false, bad);
});

Deno.test("statements read alone: their nodes and lines, or null on any problem", () => {
  const nodes = readStatements(TEXT, "k.conf", "lb");
  assert.deepEqual(nodes?.map((n) => [n.keyword, n.line]), [["global_defs", 2], [
    "virtual_server",
    6,
  ]]);
  assert.equal(readStatements("virtual_server 1 2 {\n", "k.conf", "lb"), null);
  assert.equal(readStatements("}\nvirtual_server 1 2 {\n}\n", "k.conf", "lb"), null);
  assert.equal(readStatements('virtual_server "1 2 {\n}\n', "k.conf", "lb"), null);
});
