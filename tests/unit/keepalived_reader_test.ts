/**
 * The keepalived.conf reader's fast path (words read in place, statements translated as
 * they complete, no source location recorded for a clean file) against what the general
 * path and the location map must still give: every line an error or warning names.
 */

import assert from "node:assert/strict";
import { parseKeepalived } from "../../lib/config/keepalived/mod.ts";
import { diskReader, lexKeepalived, TapeReader } from "../../lib/config/keepalived/lexer.ts";
import type { SourceReader } from "../../lib/config/keepalived/lexer.ts";

const VI = (body: string) =>
  `vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n${body}\n virtual_ipaddress {\n  192.0.2.1/24\n }\n}\n`;

/** The words of `text`, each as `file:line:text` (`"text"` when quoted, `^` when first). */
function words(text: string, reader: SourceReader = diskReader): string[] {
  const out: string[] = [];
  lexKeepalived(text, "/k/k.conf", reader, { configId: "a" }, {
    word: (w, quoted, first, file, line) =>
      out.push(`${file}:${line}:${first ? "^" : ""}${quoted ? `"${w}"` : w}`),
  });
  return out;
}

Deno.test("plain lines, CRLF endings and non-ASCII blanks lex as String.prototype.trim reads them", () => {
  assert.deepEqual(words('a b {\r\n\t c "d e"#x\r\n\u00a0f\u00a0\n}'), [
    "/k/k.conf:1:^a",
    "/k/k.conf:1:b",
    "/k/k.conf:1:{",
    "/k/k.conf:2:^c",
    '/k/k.conf:2:"d e"',
    "/k/k.conf:3:^f",
    "/k/k.conf:4:^}",
  ]);
});

Deno.test("a line joined by a backslash keeps its first line, and the next line its own", () => {
  assert.deepEqual(words("a \\\n b \\\r\n c\nd\n"), [
    "/k/k.conf:1:^a",
    "/k/k.conf:1:b",
    "/k/k.conf:1:c",
    "/k/k.conf:4:^d",
  ]);
});

Deno.test("an unclosed quote is reported and hands over none of its line's words", () => {
  const out: string[] = [];
  const r = lexKeepalived('a "b\nc\n', "k.conf", diskReader, { configId: "a" }, {
    word: (w) => out.push(w),
  });
  assert.deepEqual(out, ["c"]);
  assert.deepEqual(r.problems.map((p) => [p.line, p.message]), [
    [1, "expected a closing double quote"],
  ]);
});

Deno.test("a replayed tape answers as the disk did the first time, whatever the disk says now", () => {
  let text = "b 1\n";
  const disk: SourceReader = { read: () => text, list: () => ["inc.conf"] };
  const tape = new TapeReader(disk);
  const first = words("include /k/*.conf\n", tape);
  text = "\n\nchanged 2\n";
  assert.deepEqual(words("include /k/*.conf\n", tape.replay()), first);
  assert.deepEqual(first, ["/k/inc.conf:1:^b", "/k/inc.conf:1:1"]);
  assert.throws(() => words("include /other/x.conf\n", tape.replay()), /re-read asked for/);
});

Deno.test("an error's line comes from the file as read, even when an include changed since", () => {
  let calls = 0;
  const files: Record<string, string> = {
    "/etc/keepalived/vrrp.conf":
      "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 999\n}\n",
  };
  const reader: SourceReader = {
    read: (p) => {
      // After the first reading, the file gains lines at its top.
      const text = files[p] ?? null;
      return calls++ < 2 || text === null ? text : `\n\n\n${text}`;
    },
    list: () => null,
  };
  const r = parseKeepalived("include vrrp.conf\n", "/etc/keepalived/keepalived.conf", {
    configId: "x",
    reader,
  });
  assert.ok(!r.ok);
  const e = r.errors.find((e) => e.path.endsWith("virtual_router_id"));
  assert.equal(e?.file, "/etc/keepalived/vrrp.conf");
  assert.equal(e?.line, 3);
});

Deno.test("a finishing step's warning names its line though the first pass records none", () => {
  const r = parseKeepalived(VI(" state MASTER\n nopreempt"), "k.conf", { configId: "x" });
  assert.ok(r.ok);
  const w = r.warnings.find((w) => w.message.includes("nopreempt does not work"));
  assert.equal(w?.file, "k.conf");
  assert.equal(w?.line, 5);
});

Deno.test("the locations of a file that loads cleanly are made when asked, key by key", () => {
  const r = parseKeepalived(VI(" priority 150"), "k.conf", { configId: "x" });
  assert.ok(r.ok);
  assert.deepEqual(r.warnings, []);
  assert.deepEqual(r.locs.get("vrrp_instance.VI_1.priority"), { file: "k.conf", line: 4 });
  assert.deepEqual(r.locs.get("vrrp_instance.VI_1.virtual_ipaddress[0]"), {
    file: "k.conf",
    line: 6,
  });
  assert.equal(r.locs, r.locs, "made once");
});

Deno.test("statements are handed over whole: a brace on the next line and an unclosed block", () => {
  const r = parseKeepalived(
    "global_defs\n{\n router_id a\n}\nvrrp_instance VI_1 {\n interface eth0\n",
    "k.conf",
    { configId: "x" },
  );
  assert.ok(!r.ok);
  assert.deepEqual(r.errors.map((e) => [e.line, e.message]).slice(0, 1), [
    [5, 'expected } to close "vrrp_instance" before the end of the file'],
  ]);
  const ok = parseKeepalived("global_defs\n{\n router_id a\n}\n", "k.conf", { configId: "x" });
  assert.ok(ok.ok);
  assert.equal(ok.config.global.routerId, "a");
});
