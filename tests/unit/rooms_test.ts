/**
 * The rooms of `lib/` (its top-level folders, see DESIGN.md) stay a directed acyclic graph:
 * a cycle between rooms pulls every file on it into one loop that cannot be read, tested
 * or loaded apart. These tests walk the real import graph of `lib/` and fail on any room
 * cycle, on `lib/` importing `tests/`, on the VRRP core reaching past `lib/net`, and on the
 * daemon loading the lab harness.
 */
import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = normalize(join(dirname(fileURLToPath(import.meta.url)), "..", ".."));

/** One import edge: `from` imports `to` (both repo-relative), `lazy` when via `import()`. */
interface Edge {
  readonly from: string;
  readonly to: string;
  readonly lazy: boolean;
}

function walk(dir: string): string[] {
  const files: string[] = [];
  for (const entry of Deno.readDirSync(join(ROOT, dir))) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...walk(path));
    else if (entry.name.endsWith(".ts")) files.push(path);
  }
  return files;
}

/** Comments hold `@example` code whose imports are not the module's own. */
function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

const STATIC_IMPORT = /(?:^|[;\n])\s*(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']/g;
const BARE_IMPORT = /(?:^|[;\n])\s*import\s*["']([^"']+)["']/g;
const DYNAMIC_IMPORT = /\bimport\(\s*["']([^"']+)["']\s*\)/g;

/** The relative imports of one file, resolved to repo-relative paths. */
function importsOf(file: string): Edge[] {
  return importsIn(file, Deno.readTextFileSync(join(ROOT, file)));
}

function importsIn(file: string, text: string): Edge[] {
  const source = stripComments(text);
  const edges: Edge[] = [];
  const add = (specifier: string, lazy: boolean) => {
    if (!specifier.startsWith(".")) return;
    const to = relative(ROOT, normalize(join(ROOT, dirname(file), specifier)));
    edges.push({ from: file, to, lazy });
  };
  for (const m of source.matchAll(STATIC_IMPORT)) add(m[1], false);
  for (const m of source.matchAll(BARE_IMPORT)) add(m[1], false);
  for (const m of source.matchAll(DYNAMIC_IMPORT)) add(m[1], true);
  return edges;
}

/** `lib/control/api.ts` -> `control`; a file directly under lib/ is a room of its own. */
function roomOf(file: string): string {
  const parts = file.split("/");
  return parts.length > 2 ? parts[1] : parts[1].replace(/\.ts$/, "");
}

const LIB_EDGES: readonly Edge[] = walk("lib").flatMap(importsOf);

/** Every cycle in the room graph, each as its rooms in order (found by DFS back edges). */
function roomCycles(edges: readonly Edge[]): string[][] {
  const graph = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    if (!to.startsWith("lib/")) continue;
    const [a, b] = [roomOf(from), roomOf(to)];
    if (a === b) continue;
    if (!graph.has(a)) graph.set(a, new Set());
    graph.get(a)!.add(b);
  }
  const cycles: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (room: string) => {
    state.set(room, "open");
    stack.push(room);
    for (const next of [...(graph.get(room) ?? [])].sort()) {
      if (state.get(next) === "open") cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(room, "done");
  };
  for (const room of [...graph.keys()].sort()) if (!state.has(room)) visit(room);
  return cycles;
}

/** The files one room imports from another, to name the culprits when a test fails. */
function crossings(edges: readonly Edge[], a: string, b: string): string[] {
  return edges
    .filter((e) => e.to.startsWith("lib/") && roomOf(e.from) === a && roomOf(e.to) === b)
    .map((e) => `${e.from} -> ${e.to}`);
}

/** Files reachable from `entry` by static imports alone (what loads before any `import()`). */
function staticClosure(entry: string): Set<string> {
  const seen = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const e of importsOf(file)) if (!e.lazy && e.to.endsWith(".ts")) pending.push(e.to);
  }
  return seen;
}

Deno.test("no import cycle between the rooms of lib/", () => {
  const described = roomCycles(LIB_EDGES).map((cycle) =>
    cycle.join(" -> ") + ":\n    " +
    cycle.slice(1).map((room, i) => crossings(LIB_EDGES, cycle[i], room).join("\n    ")).join(
      "\n    ",
    )
  );
  assert.deepEqual(described, []);
});

Deno.test("lib/control imports nothing from lib/daemon: the status types are the contract's", () => {
  const offenders = LIB_EDGES.filter((e) =>
    roomOf(e.from) === "control" && roomOf(e.to) === "daemon"
  );
  assert.deepEqual(offenders.map((e) => `${e.from} -> ${e.to}`), []);
});

Deno.test("nothing in lib/ imports from tests/", () => {
  const offenders = LIB_EDGES.filter((e) => e.to.startsWith("tests/"));
  assert.deepEqual(offenders.map((e) => `${e.from} -> ${e.to}`), []);
});

Deno.test("lib/vrrp imports nothing outside lib/vrrp and lib/net", () => {
  const offenders = LIB_EDGES.filter((e) =>
    roomOf(e.from) === "vrrp" && !["vrrp", "net"].includes(roomOf(e.to))
  );
  assert.deepEqual(offenders.map((e) => `${e.from} -> ${e.to}`), []);
});

Deno.test("hacore run never loads the lab harness", () => {
  const loaded = [...staticClosure("main.ts")].filter((f) => f.startsWith("lib/lab/"));
  assert.deepEqual(loaded, []);
});

Deno.test("no daemon-side room imports lib/lab, even lazily", () => {
  const offenders = LIB_EDGES.filter((e) =>
    roomOf(e.to) === "lab" && !["lab", "cli"].includes(roomOf(e.from))
  );
  assert.deepEqual(offenders.map((e) => `${e.from} -> ${e.to}`), []);
});

Deno.test("the import walker sees static, type-only, re-export, bare and lazy imports", () => {
  const source = [
    `import { a } from "./a.ts";`,
    `import type {\n  B,\n  C,\n} from "../b/b.ts";`,
    `export { d } from "../d/d.ts";`,
    `import "./side.ts";`,
    `const lab = await import("../lab/mod.ts");`,
    `// import { gone } from "../gone.ts";`,
    `/** @example import { e } from "../e.ts"; */`,
    `import { parse } from "smol-toml";`,
  ].join("\n");
  const edges = importsIn("lib/x/x.ts", source);
  assert.deepEqual(edges.map((e) => [e.to, e.lazy]), [
    ["lib/x/a.ts", false],
    ["lib/b/b.ts", false],
    ["lib/d/d.ts", false],
    ["lib/x/side.ts", false],
    ["lib/lab/mod.ts", true],
  ]);
});

Deno.test("the cycle finder reports a two-room loop and passes a chain", () => {
  const edge = (from: string, to: string): Edge => ({ from, to, lazy: false });
  const loop = [edge("lib/a/x.ts", "lib/b/y.ts"), edge("lib/b/y.ts", "lib/a/z.ts")];
  assert.deepEqual(roomCycles(loop), [["a", "b", "a"]]);
  assert.deepEqual(
    roomCycles([edge("lib/a/x.ts", "lib/b/y.ts"), edge("lib/b/y.ts", "lib/c.ts")]),
    [],
  );
});
