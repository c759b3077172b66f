/**
 * The bundle's eager-compile hints (scripts/bundle_hints.ts): each lazy module
 * initializer's body goes in parentheses where V8's log says it ends, the source map's
 * columns follow, and a bundle so rewritten still runs and still maps its stack frames
 * to the original lines.
 */
import assert from "node:assert/strict";
import {
  functionEnds,
  graphFiles,
  initBodies,
  lazyInitHelper,
  parenthesize,
  shiftMappings,
} from "../../scripts/bundle_hints.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("hints: esbuild's lazy-initializer helper is found by its shape, whatever its name", () => {
  assert.equal(lazyInitHelper("var a=1;var $q=(t,e)=>()=>(t&&(e=t(t=0)),e);var x"), "$q");
  assert.equal(lazyInitHelper("var w=(a,b)=>()=>(a&&(b=a(a=0)),b);"), "w");
  assert.equal(lazyInitHelper("var w=(t,e)=>()=>t;"), null);
});

Deno.test("hints: the log's ranges are the named script's only", () => {
  const log = [
    "script-details,3,file:///other.js,0,0",
    "script-details,7,file:///b.js,0,0",
    "function,preparse-no-resolution,7,10,20,0.01,5,",
    "function,parse-function,3,10,99,0.01,6,x",
    "function,first-execution,7,30,45,0,7,f",
  ].join("\n");
  assert.deepEqual([...functionEnds(log, "file:///b.js")], [[10, 20], [30, 45]]);
  assert.equal(functionEnds(log, "file:///none.js").size, 0);
});

Deno.test("hints: each initializer's body is bracketed, and a log of another bundle is refused", () => {
  const text = "var w=(t,e)=>()=>(t&&(e=t(t=0)),e);var a,A=w(()=>{a={b:1}});var B=w(()=>{A()});";
  const a = text.indexOf("()=>{a");
  const b = text.indexOf("()=>{A");
  const ends = new Map([[a, text.indexOf("})", a) + 1], [b, text.indexOf("})", b) + 1]]);
  const bodies = initBodies(text, "w", ends);
  assert.deepEqual(bodies.map((r) => text.slice(r.start, r.end)), ["()=>{a={b:1}}", "()=>{A()}"]);
  assert.equal(
    parenthesize(text, bodies).text,
    "var w=(t,e)=>()=>(t&&(e=t(t=0)),e);var a,A=w((()=>{a={b:1}}));var B=w((()=>{A()}));",
  );
  // An end that is not the body's closing brace: not this bundle's log.
  assert.throws(() => initBodies(text, "w", new Map([[a, a + 6], [b, b + 9]])), /does not end/);
  assert.throws(() => initBodies(text, "w", new Map([[a, a + 13]])), /no end/);
});

Deno.test("hints: generated columns after an insertion move right on its line only", () => {
  // Line 0: segments at columns 0, 4, 9; line 1: one at column 2.
  const mappings = "AAAA,IAAE,KAAE;EAAE";
  const text = "0123456789\nabcdef";
  // Characters go in at offsets 4 (before the second segment) and 7.
  const shifted = shiftMappings(mappings, text, [4, 7]);
  const cols = shifted.split(";").map((l) =>
    l.split(",").reduce<number[]>((acc, seg) => {
      const d = decodeFirst(seg);
      acc.push((acc.at(-1) ?? 0) + d);
      return acc;
    }, [])
  );
  assert.deepEqual(cols, [[0, 5, 11], [2]]);
});

Deno.test("hints: the module graph keeps its modules and its npm packages' files", () => {
  const inGraph = graphFiles({
    modules: [{ specifier: "file:///r/lib/a.ts" }],
    npmPackages: { "x@1.0.0": { localPath: "/cache/x/1.0.0" } },
  });
  assert.ok(inGraph("file:///r/lib/a.ts"));
  assert.ok(inGraph("file:///cache/x/1.0.0/dist/parse.js"));
  assert.ok(!inGraph("file:///r/lib/b.ts"));
  assert.ok(!inGraph("file:///cache/x/1.0.01/dist/parse.js"));
});

Deno.test("hints: a hinted bundle runs, and its stack frames keep their original lines", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hacore-hints-test-" });
  try {
    // Four initializers before the throw, which is inside a fifth: its column moves by
    // nine characters, past the token it would map through unshifted.
    await Deno.writeTextFile(
      `${dir}/main.ts`,
      'const m = await import("./thrower.ts");\nnew m.Thrower().boom();\n',
    );
    for (const i of [1, 2, 3, 4]) {
      await Deno.writeTextFile(
        `${dir}/t${i}.ts`,
        i < 4
          ? `import { n${i + 1} } from "./t${i + 1}.ts";\nexport const n${i} = n${i + 1} + 1;\n`
          : "export const n4 = new Map([[4, 4]]).size;\n",
      );
    }
    await Deno.writeTextFile(
      `${dir}/thrower.ts`,
      'import { n1 } from "./t1.ts";\nexport class Thrower {\n' +
        '  boom(): never {\n    throw new Error("boom " + n1);\n  }\n}\n',
    );
    const deno = Deno.execPath();
    const run = async (args: string[]) => {
      const o = await new Deno.Command(deno, {
        args,
        cwd: dir,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: o.code, out: new TextDecoder().decode(o.stderr) };
    };
    const bundled = await run([
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "--minify",
      "--sourcemap=linked",
      "--output",
      "b.js",
      "main.ts",
    ]);
    assert.equal(bundled.code, 0, bundled.out);
    const before = await run(["run", "--no-config", "b.js"]);
    assert.match(before.out, /boom 4/);
    const logged = await run([
      "run",
      "--no-config",
      `--v8-flags=--log-function-events,--logfile=${dir}/v8.log,--no-logfile-per-isolate`,
      "b.js",
    ]);
    assert.match(logged.out, /boom 4/);
    const real = await Deno.realPath(dir);
    await Deno.writeTextFile(
      `${dir}/graph.json`,
      JSON.stringify({
        modules: ["t1.ts", "t2.ts", "t3.ts", "t4.ts", "thrower.ts"].map((f) => ({
          specifier: `file://${real}/${f}`,
        })),
      }),
    );
    const hinted = await run([
      "run",
      "--allow-read",
      "--allow-write",
      `${ROOT}scripts/bundle_hints.ts`,
      "b.js",
      "v8.log",
      "graph.json",
    ]);
    assert.equal(hinted.code, 0, hinted.out);
    const text = await Deno.readTextFile(`${dir}/b.js`);
    assert.equal(text.match(/\(\(\)=>\{/g)?.length, 5, "every initializer is in parentheses");
    const after = await run(["run", "--no-config", "b.js"]);
    assert.match(after.out, /boom 4/);
    // The same original frame (file, line and column) before and after.
    const frame = (s: string) => /thrower\.ts:\d+:\d+/.exec(s)?.[0];
    assert.equal(frame(after.out), frame(before.out));
    assert.equal(frame(before.out), "thrower.ts:4:11");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The first VLQ field of a source map segment. */
function decodeFirst(seg: string): number {
  const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  let value = 0;
  let shift = 0;
  for (const ch of seg) {
    const d = B64.indexOf(ch);
    value += (d & 31) << shift;
    if (!(d & 32)) break;
    shift += 5;
  }
  return value & 1 ? -(value >>> 1) : value >>> 1;
}
