/**
 * The commands' flag parser (lib/cli/args.ts): what node:util's parseArgs did for them,
 * without loading Deno's Node compatibility layer at every start.
 */
import assert from "node:assert/strict";
import { parseArgs } from "../../lib/cli/args.ts";

const OPTIONS = {
  pidfile: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

Deno.test("args: string flags take the next argument or an = value; booleans are true", () => {
  const { values, positionals } = parseArgs({
    args: ["a.toml", "--pidfile", "/run/x.pid", "--json", "-h"],
    options: OPTIONS,
    allowPositionals: true,
  });
  assert.deepEqual(values, { pidfile: "/run/x.pid", json: true, help: true });
  assert.deepEqual(positionals, ["a.toml"]);
  assert.equal(parseArgs({ args: ["--pidfile=/a=b"], options: OPTIONS }).values.pidfile, "/a=b");
});

Deno.test("args: the last of a repeated flag wins, and -- ends the flags", () => {
  const { values, positionals } = parseArgs({
    args: ["--pidfile", "a", "--pidfile", "b", "--", "--json"],
    options: OPTIONS,
    allowPositionals: true,
  });
  assert.deepEqual(values, { pidfile: "b" });
  assert.deepEqual(positionals, ["--json"]);
});

Deno.test("args: strict mode refuses unknown flags, missing values and stray positionals", () => {
  const parse = (args: string[], allowPositionals = false) => () =>
    parseArgs({ args, options: OPTIONS, allowPositionals });
  assert.throws(parse(["--nope"]), { name: "TypeError", message: "Unknown option '--nope'" });
  assert.throws(parse(["-x"]), { message: "Unknown option '-x'" });
  assert.throws(parse(["--pidfile"]), { message: "Option '--pidfile <value>' argument missing" });
  assert.throws(parse(["--pidfile", "--json"]), /argument is ambiguous/);
  assert.throws(parse(["--json=yes"]), { message: "Option '--json' does not take an argument" });
  assert.throws(parse(["a.toml"]), /Unexpected argument 'a.toml'/);
  assert.deepEqual(parse(["a.toml"], true)().positionals, ["a.toml"]);
});

Deno.test("args: a flag named like an Object.prototype member is still unknown", () => {
  assert.throws(() => parseArgs({ args: ["--toString"], options: OPTIONS }), /Unknown option/);
});

Deno.test("args: without strict, unknown flags are kept and positionals allowed", () => {
  const { values, positionals } = parseArgs({
    args: ["--other", "x", "--k=v"],
    options: OPTIONS,
    strict: false,
  });
  assert.deepEqual(values, { other: true, k: "v" });
  assert.deepEqual(positionals, ["x"]);
});
