import assert from "node:assert/strict";
import { parse } from "smol-toml";
import { parsePlainToml } from "../../lib/config/plain_toml.ts";
import { parseToml } from "../../lib/config/mod.ts";
import { createRng } from "../../lib/sim/rng.ts";
import { hacoreLvsToml, lvsWorkload, realAddresses } from "../../scripts/bench/lib/lvs_configs.ts";

const EXAMPLES = new URL("../../examples/", import.meta.url);

/** smol-toml's document for `source`, or null where it refuses it. */
function smol(source: string): Record<string, unknown> | null {
  try {
    return parse(source, { integersAsBigInt: true, unsafeKeyBehaviour: "keep" });
  } catch {
    return null;
  }
}

/**
 * The same document: the same keys in the same order (validation reads them in order),
 * the same values and types (bigint, not number), tables without inherited members.
 */
function assertSameDocument(got: unknown, want: unknown, at = "document"): void {
  if (Array.isArray(want)) {
    assert.ok(Array.isArray(got), `${at}: expected an array`);
    assert.equal(got.length, want.length, `${at}: length`);
    want.forEach((w, i) => assertSameDocument(got[i], w, `${at}[${i}]`));
    return;
  }
  if (want instanceof Date) {
    assert.ok(got instanceof Date, `${at}: a datetime`);
    assert.equal(got.getTime(), want.getTime(), at);
    return;
  }
  if (typeof want === "object" && want !== null) {
    assert.ok(typeof got === "object" && got !== null && !Array.isArray(got), `${at}: a table`);
    const g = got as Record<string, unknown>;
    const w = want as Record<string, unknown>;
    assert.deepEqual(Object.keys(g), Object.keys(w), `${at}: keys`);
    for (const k of Object.keys(w)) assertSameDocument(g[k], w[k], `${at}.${k}`);
    for (const inherited of ["constructor", "toString", "hasOwnProperty", "valueOf"]) {
      assert.equal(g[inherited], undefined, `${at}: inherits ${inherited}`);
    }
    return;
  }
  assert.equal(typeof got, typeof want, `${at}: type`);
  assert.equal(got, want, at);
}

function smallLvsToml(check: "none" | "tcp" | "http"): string {
  return hacoreLvsToml(lvsWorkload({ ports: [10000, 10019], reals: realAddresses(4), check }));
}

Deno.test("the LVS benchmark's configs are read by the plain reader, as smol-toml reads them", () => {
  for (const check of ["none", "tcp", "http"] as const) {
    const source = smallLvsToml(check);
    const doc = parsePlainToml(source);
    assert.notEqual(doc, null, `${check}: inside the plain subset`);
    assertSameDocument(doc, smol(source));
  }
});

Deno.test("every example config reads the same by the plain reader as by smol-toml", () => {
  let plain = 0;
  for (const e of Deno.readDirSync(EXAMPLES)) {
    if (!e.name.endsWith(".toml")) continue;
    const source = Deno.readTextFileSync(new URL(e.name, EXAMPLES));
    const doc = parsePlainToml(source);
    if (doc === null) continue;
    plain++;
    assertSameDocument(doc, smol(source), e.name);
  }
  // Hand-written files (multi-line arrays, comments) are inside the subset too.
  assert.ok(plain >= 14, `only ${plain} examples read by the plain reader`);
});

Deno.test("text outside the plain subset or invalid is left to smol-toml (null)", () => {
  const cases = [
    "a = 1e3\n",
    'a = "x\\ty"\n',
    'a = """x"""\n',
    "a = '''x'''\n",
    "a = 1_000\n",
    "a = 0x10\n",
    "a = 01\n",
    "a = 1979-05-27\n",
    "a = 07:32:00\n",
    "a = inf\n",
    "a = {x = {y = 1}}\n",
    "a = {x = 1, x = 2}\n",
    "a = {x = 1,}\n",
    "a = {x = 1\n}\n",
    "a = {x = 1}\n[a]\n",
    "a = {x = 1}\n[a.b]\n",
    "a = [{x = 1}]\n[[a]]\n",
    "a = 1.\n",
    "a = .5\n",
    "a = 1.5.2\n",
    "a = [[1]]\n",
    "a.b = 1\n",
    '"a" = 1\n',
    "[a]\n[a]\n",
    "[a.b]\n[a]\n[a]\n",
    "[[a]]\n[a]\n",
    "[a]\n[[a]]\n",
    "a = [1]\n[[a]]\n",
    "a = [1]\n[a.b]\n",
    "a = 1\n[a]\n",
    "a = 1\na = 2\n",
    "[a.b]\n[a]\nb = 1\n",
    "a = 1\r\n",
    "\uFEFFa = 1\n",
    "# bell \x07\na = 1\n",
    'a = "unfinished\n',
    "a = truex\n",
    "a = 1 2\n",
    "a = [1 2]\n",
    "__proto__ = 1\n",
    "[a\n",
    "[[a]\n",
    "a =\n",
  ];
  for (const source of cases) assert.equal(parsePlainToml(source), null, JSON.stringify(source));
});

Deno.test("tables defined through a deeper header first, arrays of tables and empty arrays read as smol-toml reads them", () => {
  const source = [
    "top = true",
    // Keys alike in length and first and last characters: each read as itself.
    "abc = 1",
    "axc = 2",
    "abc2 = 3",
    "ratio = -0.25",
    'auth = { type = "PASS", pass = "x", n = 1, list = [1, 2] }',
    "vips = [",
    '  "192.0.2.1/24",',
    '  { address = "198.51.100.1", prefix = 24 }, # inline',
    "]",
    "list = [] # none",
    "ports = [ 80, -1, +2, 0,",
    "  # a comment between elements",
    "  'lit',",
    "]",
    "[a.b.c]",
    "x = 1",
    "[a]",
    "y = false",
    "[[a.arr]]",
    'name = "one"',
    "[a.arr.sub]",
    "z = 123456789012345678901234567890",
    "[[a.arr]]",
    'name = "two"#c',
    "[[a.arr.sub2]]",
    "[ a . d ]",
  ].join("\n");
  const doc = parsePlainToml(source);
  assert.notEqual(doc, null);
  assertSameDocument(doc, smol(source));
});

Deno.test("parseToml reads the plain subset and everything else alike, and throws smol-toml's errors", () => {
  for (const source of ['a = "x"\n', "a = 1e5\n", "a = 1979-05-27T07:32:00Z\n"]) {
    assertSameDocument(parseToml(source), smol(source));
  }
  assert.throws(() => parseToml("[a]\n[a]\n"), /redefine/);
});

Deno.test("a mutated config is either refused by the plain reader or read exactly as smol-toml reads it", () => {
  const lvs = smallLvsToml("http");
  const base = lvs.slice(0, lvs.indexOf("\n\n", 1500) + 1) +
    "list = [1, 'a', true, 0.5]\nauth = { type = \"PASS\", n = -1 }\n" +
    'vips = [\n  "192.0.2.1/24",\n  { address = "198.51.100.1", prefix = 24 },\n]\n[x.y]\n[x]\n';
  const alphabet = [
    ..."[]{}=.\"'#\n 01-+,a_",
    "[[",
    "]]",
  ];
  const rng = createRng(11);
  let plain = 0;
  for (let i = 0; i < 3000; i++) {
    let s = base;
    for (let k = rng.int(1, 3); k > 0; k--) {
      const at = rng.int(0, s.length - 1);
      const op = rng.int(0, 2);
      const ch = rng.pick(alphabet);
      s = op === 0
        ? s.slice(0, at) + ch + s.slice(at)
        : op === 1
        ? s.slice(0, at) + s.slice(at + 1)
        : s.slice(0, at) + ch + s.slice(at + 1);
    }
    const doc = parsePlainToml(s);
    if (doc === null) continue;
    plain++;
    const want = smol(s);
    assert.notEqual(want, null, `accepted what smol-toml refuses: ${JSON.stringify(s)}`);
    assertSameDocument(doc, want);
  }
  // The fuzz means something only if many mutants stay inside the subset.
  assert.ok(plain > 300, `only ${plain} mutants read`);
});
