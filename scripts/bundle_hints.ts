/**
 * Eager-compile hints for the bundle, applied by `scripts/compile.sh --bundle`: each
 * module that `hacore run` may load is wrapped by esbuild in a lazy initializer,
 * `var X=w(()=>{...})`, whose body V8 compiles only when it is first called. Deno writes
 * V8's code cache for the bundle right after compiling its top level, so those bodies
 * are never in it: every start compiled ~100 of them again, ~6 ms of CPU before a Backup
 * is one. A function in parentheses is one V8 compiles with the top level (its "called
 * soon" heuristic), and so one the cache holds: this puts each such body in parentheses,
 * `w((()=>{...}))`, and moves the source map's columns to match.
 *
 * Where each body ends is V8's own answer, not a parse of ours: compile.sh runs the
 * bundle once with `--log-function-events` (`hacore --version`), whose log gives the
 * start and end of every function V8 parsed. Only the modules in `hacore run`'s module
 * graph (`deno info --json lib/cli/run.ts`) get the hint: the other commands' modules
 * would cost their bytecode's memory in every daemon.
 *
 * ```sh
 * deno run -A scripts/bundle_hints.ts dist/hacore.js V8_LOG MODULE_GRAPH_JSON
 * ```
 *
 * Prints what it did; exits 1 (leaving the bundle as it was) when the log or the bundle
 * is not what it expects.
 *
 * @module
 */

/** A function's text in the bundle: `text.slice(start, end)`. */
export interface Range {
  readonly start: number;
  readonly end: number;
}

/**
 * The name esbuild gave its lazy-initializer helper (`var w=(t,e)=>()=>(t&&(e=t(t=0)),e);`
 * in a minified bundle), or null when the bundle has none.
 *
 * @example
 * ```ts
 * lazyInitHelper("var w=(t,e)=>()=>(t&&(e=t(t=0)),e);"); // "w"
 * ```
 */
export function lazyInitHelper(text: string): string | null {
  return /var ([\w$]+)=\(([\w$]+),([\w$]+)\)=>\(\)=>\(\2&&\(\3=\2\(\2=0\)\),\3\);/.exec(text)
    ?.[1] ??
    null;
}

/**
 * Where each function V8 parsed in `scriptUrl` ends, by where it starts, from a
 * `--log-function-events` log (`function,EVENT,SCRIPT_ID,START,END,...` lines; the
 * script's id from its `script-details,ID,URL,...` line).
 *
 * @example
 * ```ts
 * functionEnds("script-details,7,file:///b.js,0,0\nfunction,preparse-no-resolution,7,10,20,0.01,5,", "file:///b.js");
 * // Map { 10 => 20 }
 * ```
 */
export function functionEnds(log: string, scriptUrl: string): Map<number, number> {
  const lines = log.split("\n");
  let id: string | null = null;
  for (const l of lines) {
    const p = l.split(",");
    if (p[0] === "script-details" && p[2] === scriptUrl) id = p[1];
  }
  const ends = new Map<number, number>();
  if (id === null) return ends;
  for (const l of lines) {
    const p = l.split(",");
    if (p[0] !== "function" || p[2] !== id) continue;
    const start = Number(p[3]);
    const end = Number(p[4]);
    if (Number.isInteger(start) && Number.isInteger(end) && end > start) ends.set(start, end);
  }
  return ends;
}

/**
 * Every lazy initializer's body (`()=>{...}` after `=HELPER(`), with its end from
 * `ends`. Throws when one has no end, or one that is not `}` followed by the call's `)`:
 * the log is not of this bundle.
 *
 * @example
 * ```ts
 * const text = "var a=w(()=>{x=1});";
 * initBodies(text, "w", new Map([[8, 17]])); // [{ start: 8, end: 17 }]
 * ```
 */
export function initBodies(text: string, helper: string, ends: Map<number, number>): Range[] {
  const opening = `=${helper}(()=>{`;
  const out: Range[] = [];
  for (let at = text.indexOf(opening); at >= 0; at = text.indexOf(opening, at + 1)) {
    const start = at + helper.length + 2;
    const end = ends.get(start);
    if (end === undefined) throw new Error(`no end for the initializer at ${start}`);
    if (text[end - 1] !== "}" || text[end] !== ")") {
      throw new Error(`the initializer at ${start} does not end in "})" at ${end}`);
    }
    out.push({ start, end });
  }
  return out;
}

/**
 * `text` with each range in parentheses; the ranges in order, not overlapping. Also the
 * offsets (in `text`) at which a character went in, for {@link shiftMappings}.
 *
 * @example
 * ```ts
 * parenthesize("w(()=>{})", [{ start: 2, end: 8 }]).text; // "w((()=>{}))"
 * ```
 */
export function parenthesize(
  text: string,
  ranges: readonly Range[],
): { text: string; inserted: number[] } {
  let out = "";
  let last = 0;
  const inserted: number[] = [];
  for (const r of ranges) {
    out += text.slice(last, r.start) + "(" + text.slice(r.start, r.end) + ")";
    inserted.push(r.start, r.end);
    last = r.end;
  }
  return { text: out + text.slice(last), inserted };
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function decodeVlq(segment: string): number[] {
  const out: number[] = [];
  let value = 0;
  let shift = 0;
  for (const ch of segment) {
    const digit = B64.indexOf(ch);
    if (digit < 0) throw new Error(`not a source map segment: ${segment}`);
    value += (digit & 31) * 2 ** shift;
    if (digit & 32) {
      shift += 5;
      continue;
    }
    out.push(value % 2 === 1 ? -(value - 1) / 2 : value / 2);
    value = 0;
    shift = 0;
  }
  return out;
}

function encodeVlq(n: number): string {
  let v = n < 0 ? -n * 2 + 1 : n * 2;
  let out = "";
  do {
    let digit = v & 31;
    v = Math.floor(v / 32);
    if (v > 0) digit |= 32;
    out += B64[digit];
  } while (v > 0);
  return out;
}

/**
 * A source map's `mappings` for the text after characters went in at `inserted`
 * (offsets in the old `text`, ascending): each generated column on a line moves right
 * by the insertions before it on that line. Source positions are untouched.
 *
 * @example
 * ```ts
 * shiftMappings("AAAA,EAAE", "ab", [1]); // "AAAA,GAAE": the second segment's column 2 -> 3
 * ```
 */
export function shiftMappings(mappings: string, text: string, inserted: readonly number[]): string {
  // Insertions per line, as columns on that line.
  const byLine: number[][] = [];
  let line = 0;
  let lineStart = 0;
  let next = 0;
  for (let i = 0; i <= text.length && next < inserted.length; i++) {
    while (next < inserted.length && inserted[next] === i) {
      (byLine[line] ??= []).push(i - lineStart);
      next++;
    }
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return mappings.split(";").map((lineText, l) => {
    const cols = byLine[l];
    if (cols === undefined || lineText === "") return lineText;
    let oldCol = 0;
    let newPrev = 0;
    return lineText.split(",").map((seg) => {
      if (seg === "") return seg;
      const [dCol, ...rest] = decodeVlq(seg);
      oldCol += dCol;
      // An insertion at a segment's own column goes before it: the "(" before `()=>{`.
      let shift = 0;
      while (shift < cols.length && cols[shift] <= oldCol) shift++;
      const newCol = oldCol + shift;
      const out = encodeVlq(newCol - newPrev) + rest.map(encodeVlq).join("");
      newPrev = newCol;
      return out;
    }).join(",");
  }).join(";");
}

/**
 * The source file (as the map names it) of each range: the file of the first mapped
 * segment inside it; null when none is.
 */
function rangeSources(text: string, map: SourceMap, ranges: readonly Range[]): (string | null)[] {
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineStarts.push(i + 1);
  // Absolute (offset, source index) of every segment with a source, in text order.
  const segs: [number, number][] = [];
  let src = 0;
  map.mappings.split(";").forEach((lineText, l) => {
    let col = 0;
    for (const seg of lineText.split(",")) {
      if (seg === "") continue;
      const v = decodeVlq(seg);
      col += v[0];
      if (v.length > 1) {
        src += v[1];
        segs.push([(lineStarts[l] ?? text.length) + col, src]);
      }
    }
  });
  let i = 0;
  return ranges.map((r) => {
    while (i < segs.length && segs[i][0] < r.start) i++;
    return i < segs.length && segs[i][0] < r.end ? map.sources[segs[i][1]] : null;
  });
}

/** The parts of a source map (v3) this reads and writes. */
interface SourceMap {
  sources: string[];
  mappings: string;
}

/**
 * Which files a `deno info --json` module graph holds: its modules, and the files of
 * its npm packages (the bundle's source map names those by their path in Deno's cache).
 *
 * @example
 * ```ts
 * const inGraph = graphFiles({ modules: [{ specifier: "file:///r/lib/a.ts" }] });
 * inGraph("file:///r/lib/a.ts"); // true
 * ```
 */
export function graphFiles(graph: ModuleGraph): (url: string) => boolean {
  const modules = new Set(graph.modules.map((m) => m.specifier));
  const packages = Object.values(graph.npmPackages ?? {}).flatMap((p) =>
    p.localPath === undefined ? [] : [new URL(`file://${p.localPath}/`).href]
  );
  return (url) => modules.has(url) || packages.some((dir) => url.startsWith(dir));
}

/** The parts of `deno info --json` this reads. */
export interface ModuleGraph {
  readonly modules: readonly { readonly specifier: string }[];
  readonly npmPackages?: Readonly<Record<string, { readonly localPath?: string }>>;
}

/**
 * Rewrites `bundlePath` (and its `.map`) with the hint on each initializer of a module
 * `keep` holds.
 */
function applyHints(bundlePath: string, log: string, keep: (url: string) => boolean): string {
  const text = Deno.readTextFileSync(bundlePath);
  const helper = lazyInitHelper(text);
  if (helper === null) throw new Error("no lazy-initializer helper in the bundle");
  const url = new URL(`file://${Deno.realPathSync(bundlePath)}`).href;
  const ends = functionEnds(log, url);
  if (ends.size === 0) throw new Error(`the log has no functions of ${url}`);
  const bodies = initBodies(text, helper, ends);
  const mapPath = `${bundlePath}.map`;
  const map = JSON.parse(Deno.readTextFileSync(mapPath)) as SourceMap;
  const mapDir = new URL(".", url);
  const sources = rangeSources(text, map, bodies);
  const chosen = bodies.filter((_, i) => {
    const s = sources[i];
    return s !== null && keep(new URL(s, mapDir).href);
  });
  const { text: out, inserted } = parenthesize(text, chosen);
  map.mappings = shiftMappings(map.mappings, text, inserted);
  Deno.writeTextFileSync(bundlePath, out);
  Deno.writeTextFileSync(mapPath, JSON.stringify(map));
  return `${chosen.length} of ${bodies.length} module initializers compiled with the top level`;
}

if (import.meta.main) {
  const [bundlePath, logPath, graphPath] = Deno.args;
  if (graphPath === undefined) {
    console.error("usage: bundle_hints.ts BUNDLE.js V8_LOG MODULE_GRAPH_JSON");
    Deno.exit(2);
  }
  try {
    const graph = JSON.parse(Deno.readTextFileSync(graphPath)) as ModuleGraph;
    const keep = graphFiles(graph);
    console.log(`bundle_hints: ${applyHints(bundlePath, Deno.readTextFileSync(logPath), keep)}`);
  } catch (e) {
    console.error(`bundle_hints: ${e instanceof Error ? e.message : e}; bundle left as it was`);
    Deno.exit(1);
  }
}
