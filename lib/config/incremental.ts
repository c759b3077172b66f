/**
 * A config loader that remembers its last file, so that a reload re-reads only what
 * changed: a one-weight edit of a 1,000-service file parses and validates one virtual
 * server, not the whole file (~100 ms on a fast host, ~0.6 s in a small guest).
 *
 * The result is always what {@link parseConfig} would return for the new text; the
 * shortcut is taken only where that is provable, and anything else parses the whole
 * file:
 * - the same bytes of a TOML file as last time: the same `Config` (it is frozen; a
 *   keepalived.conf may include other files, so it is parsed again);
 * - an ASCII TOML file whose changed bytes all lie in `[virtual_server.NAME...]` blocks
 *   (`blocks.ts`) that hold every header of their virtual servers: the new text of those
 *   blocks is parsed alone (it starts at a header line, as in the whole file, and the
 *   parser accepting it alone means the text after it starts clean, as before), each of
 *   its virtual servers is read as the whole-file path reads it (`readVirtualServer`,
 *   with the groups of the last load), they replace the old ones in place (file order:
 *   blocks outside the change keep their relative order), and the checks that span
 *   virtual servers run over the new list. Any error or warning in the new blocks, a
 *   name used outside them, a `[virtual_server]` header or keys before the first
 *   header, numeric names (objects list those first), a last load with warnings, a
 *   non-ASCII file (offsets are bytes and characters at once) or keepalived.conf: the
 *   whole file, so every message has its line.
 *
 * The file is read into one of two buffers kept from load to load and compared byte for
 * byte (natively) with the last one, and only the changed blocks are decoded: in a small
 * guest, a fresh 850 KiB buffer and string cost ~25 ms of page faults per reload. The
 * second buffer and the block index are made by {@link ConfigLoader.prepare} once the
 * daemon has started (or by the first reload), not on the start's way to its table.
 *
 * @example
 * ```ts
 * const loader = new ConfigLoader();
 * const first = loader.load("/etc/hacore/hacore.toml");
 * // ... the file is edited ...
 * const next = loader.load("/etc/hacore/hacore.toml"); // only the edited virtual servers re-read
 * ```
 *
 * @module
 */

import { type TomlBlocks, tomlBlocks } from "./blocks.ts";
import { Ctx } from "./fields.ts";
import { readVirtualServer, serviceKeys } from "./lvs.ts";
import type { VirtualServerConfig } from "./lvs_schema.ts";
import { deepFreeze } from "./freeze.ts";
import { detectFormat, type LoadOptions, type LoadResult, parseConfig, parseToml } from "./mod.ts";
import type { Config } from "./schema.ts";
import { namedTables } from "./sections.ts";

/** How the last {@link ConfigLoader} load was made. */
export type LoadMode = "full" | "incremental" | "unchanged";

/** What a reload by blocks needs of the last load besides its bytes and config. */
interface BlockIndex {
  readonly blocks: TomlBlocks;
  /** Virtual server name → how many blocks it has. */
  readonly counts: Map<string, number>;
  /** Kernel service key → the virtual server that stands for it. */
  readonly owners: Map<string, string>;
}

/** What the loader keeps of its last successful load. */
interface Last {
  readonly file: string;
  readonly bytes: Uint8Array;
  readonly result: LoadResult & { ok: true };
  /**
   * Null: the file cannot be reloaded by blocks (see the module notes). Undefined: not
   * built yet, from `source` (a whole load builds it when a reload or
   * {@link ConfigLoader.prepare} first needs it, not on a start's way to its table).
   */
  index: BlockIndex | null | undefined;
  /** The text the index is still to be built from; null once it is. */
  source: string | null;
  /**
   * TOML: the file is all there is. keepalived.conf may `include` other files, so the
   * same bytes in it do not mean the same config.
   */
  readonly toml: boolean;
}

/** As `Deno.readTextFile` decodes: a byte order mark stays, bad bytes become U+FFFD. */
const DECODER = new TextDecoder("utf-8", { ignoreBOM: true });
/** Anything but printable ASCII, tabs and line ends: offsets would not be bytes and characters at once. */
const NOT_ASCII = /[^\t\n\r -~]/;

/**
 * Loads config files like {@link parseConfig}, re-reading only the changed virtual
 * servers of a file it loaded before (see the module notes).
 */
export class ConfigLoader {
  readonly #options: LoadOptions;
  #last: Last | null = null;
  #mode: LoadMode = "full";
  /** The buffer the next read goes to; the other one holds `#last.bytes`. */
  #spare = new Uint8Array(0);

  constructor(options: LoadOptions = {}) {
    this.#options = options;
  }

  /** How the last load was made: for tests and benchmarks. */
  get lastMode(): LoadMode {
    return this.#mode;
  }

  /** Reads `file` (synchronously: a reload runs in one loop turn) and loads it. */
  load(file: string): LoadResult {
    let bytes: Uint8Array;
    try {
      bytes = this.#read(file);
    } catch (e) {
      return unreadable(file, e);
    }
    return this.#load(bytes, file, () => DECODER.decode(bytes));
  }

  /** {@link load}, for a caller that awaits (the start). */
  loadAsync(file: string): Promise<LoadResult> {
    return Promise.resolve(this.load(file));
  }

  /** Loads `source` as the text of `file`. */
  parse(source: string, file: string): LoadResult {
    return this.#load(new TextEncoder().encode(source), file, () => source);
  }

  /**
   * Readies the next reload: the last load's block index, a spare buffer as big as its
   * file with its pages touched (a fresh 850 KiB buffer cost ~25 ms of page faults in a
   * reload in a small guest), and the byte comparisons' code compiled. For after the
   * start: a big table's start reaches the kernel ~0.1-0.2 s sooner in such a guest
   * without this on its way. A reload that comes first does it itself.
   */
  prepare(): void {
    const last = this.#last;
    if (last === null) return;
    indexOf(last);
    // Each comparison once over the whole file, so that their code is compiled before a
    // reload needs it: the first reload's scans of 850 KiB, left to the interpreter,
    // took ~70 ms in a small guest.
    commonPrefix(last.bytes, last.bytes);
    commonSuffix(last.bytes, last.bytes, last.bytes.length);
    const size = last.bytes.buffer.byteLength;
    if (this.#spare.buffer !== last.bytes.buffer && this.#spare.length < size) {
      this.#spare = new Uint8Array(size).fill(0);
    }
  }

  /** The file's bytes, in the spare buffer (grown when too small). */
  #read(file: string): Uint8Array {
    using f = Deno.openSync(file);
    let n = 0;
    for (;;) {
      if (n === this.#spare.length) {
        const size = Math.max(f.statSync().size, n) + 1;
        // Not filled first: the read touches the pages anyway.
        const grown = new Uint8Array(Math.ceil(size * 1.25) + 4096);
        grown.set(this.#spare.subarray(0, n));
        this.#spare = grown;
      }
      const got = f.readSync(this.#spare.subarray(n));
      if (got === null) break;
      n += got;
    }
    return this.#spare.subarray(0, n);
  }

  #load(bytes: Uint8Array, file: string, text: () => string): LoadResult {
    const last = this.#last;
    const same = last !== null && last.file === file;
    // The common start, scanned once for both questions below.
    const p = same ? commonPrefix(last.bytes, bytes) : 0;
    if (same && last.toml && last.bytes.length === bytes.length && p === bytes.length) {
      this.#mode = "unchanged";
      return last.result;
    }
    const index = same ? indexOf(last) : null;
    const quick = same && index !== null
      ? reloadBlocks(last, index, bytes, p, this.#options)
      : null;
    let r: LoadResult;
    if (quick !== null) {
      this.#mode = "incremental";
      this.#keep(quick);
      r = quick.result;
    } else {
      this.#mode = "full";
      const source = text();
      r = parseConfig(source, file, this.#options);
      // A refused file changes nothing: the next load compares with the last good one.
      if (r.ok) this.#keep(remember(file, bytes, source, r, this.#toml(source)));
    }
    return r;
  }

  /**
   * `next` becomes the last load; the buffer of the one before is the next read's when
   * it is at least as big as this one's (its pages touched by then), else there is none
   * until {@link prepare} or the next read makes one.
   */
  #keep(next: Last): void {
    const old = this.#last?.bytes.buffer;
    this.#last = next;
    if (next.bytes.buffer !== this.#spare.buffer) return;
    const size = next.bytes.buffer.byteLength;
    this.#spare = old instanceof ArrayBuffer && old.byteLength >= size
      ? new Uint8Array(old)
      : new Uint8Array(0);
  }

  #toml(source: string): boolean {
    const f = this.#options.format ?? "auto";
    return f === "toml" || (f === "auto" && detectFormat(source) === "toml");
  }
}

function unreadable(file: string, e: unknown): LoadResult {
  const why = e instanceof Error ? e.message : String(e);
  return {
    ok: false,
    errors: [{ file, line: null, path: "", message: `cannot read the file: ${why}` }],
  };
}

/** Numeric keys come first in an object's key order, not in file order. */
const INDEX_LIKE = /^\d+$/;

/** A whole load, its block index to be built when first needed (see {@link indexOf}). */
function remember(
  file: string,
  bytes: Uint8Array,
  source: string,
  result: LoadResult,
  toml: boolean,
): Last {
  const ok = result as LoadResult & { ok: true };
  const usable = toml && (result.warnings ?? []).length === 0;
  return {
    file,
    bytes,
    result: ok,
    index: usable ? undefined : null,
    source: usable ? source : null,
    toml,
  };
}

/** The block index of `last`, built now if it was not yet; null: not reloadable by blocks. */
function indexOf(last: Last): BlockIndex | null {
  if (last.index === undefined) {
    last.index = last.source === null ? null : buildIndex(last.source, last.result.config);
    last.source = null;
  }
  return last.index;
}

function buildIndex(source: string, config: Config): BlockIndex | null {
  if (NOT_ASCII.test(source)) return null;
  const blocks = tomlBlocks(source);
  if (blocks === null || blocks.looseVirtualServers || blocks.rootKeys) return null;
  const counts = new Map<string, number>();
  const owners = new Map<string, string>();
  for (const name of blocks.names) {
    if (name === null) continue;
    if (INDEX_LIKE.test(name)) return null;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  const { virtualServers, virtualServerGroups } = config;
  const groups = new Map(virtualServerGroups.map((g) => [g.name, g]));
  for (const vs of virtualServers) for (const k of serviceKeys(vs, groups)) owners.set(k, vs.name);
  return { blocks, counts, owners };
}

/**
 * Length of the common start of `a` and `b`, four bytes a step where both are aligned.
 * Plain JavaScript, not `node:buffer`'s native compare: no `node:` module may load on
 * the start path (see tests/unit/bundle_test.ts), and this scans ~850 KiB in ~1 ms.
 *
 * @example
 * ```ts
 * commonPrefix(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4])); // 2
 * ```
 */
export function commonPrefix(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    const wa = new Uint32Array(a.buffer, a.byteOffset, n >> 2);
    const wb = new Uint32Array(b.buffer, b.byteOffset, n >> 2);
    let w = 0;
    while (w < wa.length && wa[w] === wb[w]) w++;
    i = w << 2;
  }
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/**
 * Length of the common end of `a` and `b`, at most `max`: four bytes a step once both
 * ends are aligned alike (always so for an edit that kept the length).
 *
 * @example
 * ```ts
 * commonSuffix(new Uint8Array([1, 2, 3]), new Uint8Array([9, 2, 3]), 3); // 2
 * ```
 */
export function commonSuffix(a: Uint8Array, b: Uint8Array, max: number): number {
  let k = 0;
  const aEnd = a.byteOffset + a.length;
  const bEnd = b.byteOffset + b.length;
  if (aEnd % 4 === bEnd % 4) {
    while (k < max && (aEnd - k) % 4 !== 0 && a[a.length - 1 - k] === b[b.length - 1 - k]) k++;
    if ((aEnd - k) % 4 === 0) {
      const wa = new Uint32Array(a.buffer, 0, (aEnd - k) >> 2);
      const wb = new Uint32Array(b.buffer, 0, (bEnd - k) >> 2);
      const floor = (aEnd - max) / 4;
      let ia = wa.length - 1;
      let ib = wb.length - 1;
      while (ia >= floor && wa[ia] === wb[ib]) {
        ia--;
        ib--;
      }
      k = aEnd - 4 * (ia + 1);
    }
  }
  while (k < max && a[a.length - 1 - k] === b[b.length - 1 - k]) k++;
  return k;
}

/** Last index k with `starts[k] <= at`. */
function blockAt(starts: readonly number[], at: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= at) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The changed blocks: indexes `i..j` of the last load's, every block of their names. */
function changedBlocks(blocks: TomlBlocks, p: number, end: number): [number, number] | null {
  const { names, starts } = blocks;
  let i = blockAt(starts, p);
  let j = Math.max(i, blockAt(starts, end - 1));
  // Out to every block of the virtual servers touched, where they are neighbours.
  const touched = new Set(names.slice(i, j + 1));
  while (i > 1 && names[i - 1] !== null && touched.has(names[i - 1])) i--;
  while (j + 1 < names.length && names[j + 1] !== null && touched.has(names[j + 1])) j++;
  // Block 0 is the text before the first header: never re-read alone.
  return i === 0 ? null : [i, j];
}

/**
 * The load of `bytes` from `last` by re-reading the changed blocks, or null when that
 * is not provably what a whole parse gives (the caller then parses the whole file).
 * `p`: the length of their common start.
 */
function reloadBlocks(
  last: Last,
  index: BlockIndex,
  bytes: Uint8Array,
  p: number,
  options: LoadOptions,
): Last | null {
  const { blocks, counts, owners } = index;
  const old = last.bytes;
  const now = bytes;
  const s = commonSuffix(old, now, Math.min(old.length, now.length) - p);
  // The first statement says TOML or keepalived.conf: it must be the same one.
  if ((options.format ?? "auto") === "auto" && !(p > blocks.firstBracket)) return null;
  const range = changedBlocks(blocks, p, old.length - s);
  if (range === null) return null;
  const [i, j] = range;
  const { starts, names } = blocks;
  const chunkCounts = new Map<string, number>();
  for (let k = i; k <= j; k++) {
    const name = names[k];
    if (name === null) return null;
    chunkCounts.set(name, (chunkCounts.get(name) ?? 0) + 1);
  }
  for (const [name, n] of chunkCounts) if (counts.get(name) !== n) return null;
  const start = starts[i];
  const end = j + 1 < starts.length ? starts[j + 1] : old.length;
  const text = DECODER.decode(bytes.subarray(start, bytes.length - (old.length - end)));
  if (NOT_ASCII.test(text)) return null;
  if (end < old.length && text.length > 0 && !text.endsWith("\n")) return null;
  const read = readChunk(last, counts, text, chunkCounts);
  if (read === null) return null;
  const vss = spliceServers(last.result.config.virtualServers, chunkCounts, read.servers);
  if (vss === null) return null;
  // Each kernel service once (as `readLvs` checks): the others were unique already.
  const groups = new Map(last.result.config.virtualServerGroups.map((g) => [g.name, g]));
  const keys = new Map<string, string>();
  for (const vs of read.servers) {
    for (const k of serviceKeys(vs, groups)) {
      const owner = owners.get(k);
      if (keys.has(k) || (owner !== undefined && !chunkCounts.has(owner))) return null;
      keys.set(k, vs.name);
    }
  }

  const nextBlocks = sameBlocks(blocks, i, j, read.blocks, text.length - (end - start))
    ? blocks
    : spliceBlocks(blocks, i, j, read.blocks, text.length - (end - start));
  // The old maps go with the old state: updated in place, once nothing can fail.
  for (const name of chunkCounts.keys()) counts.delete(name);
  for (const [name, n] of read.counts) counts.set(name, n);
  for (const vs of vss.removed) for (const k of serviceKeys(vs, groups)) owners.delete(k);
  for (const [k, name] of keys) owners.set(k, name);
  const config: Config = Object.freeze({ ...last.result.config, virtualServers: vss.list });
  return {
    file: last.file,
    bytes,
    result: { ok: true, config, warnings: [] },
    index: { blocks: nextBlocks, counts, owners },
    source: null,
    toml: true,
  };
}

/**
 * The changed blocks' new text has the blocks it had, where it had them (an edit that
 * keeps the length, as a weight 1 -> 5): the index stands as it is.
 */
function sameBlocks(
  blocks: TomlBlocks,
  i: number,
  j: number,
  fresh: TomlBlocks,
  delta: number,
): boolean {
  if (delta !== 0 || fresh.starts.length - 1 !== j - i + 1) return false;
  for (let k = 1; k < fresh.starts.length; k++) {
    const at = i + k - 1;
    const offset = blocks.starts[at] - blocks.starts[i];
    if (fresh.starts[k] !== offset || fresh.names[k] !== blocks.names[at]) return false;
  }
  return true;
}

/** The index with blocks `i..j` replaced by the changed text's, the later ones moved. */
function spliceBlocks(
  blocks: TomlBlocks,
  i: number,
  j: number,
  fresh: TomlBlocks,
  delta: number,
): TomlBlocks {
  const { starts, names } = blocks;
  const start = starts[i];
  const nextStarts = starts.slice(0, i);
  const nextNames = names.slice(0, i);
  for (let k = 1; k < fresh.starts.length; k++) {
    nextStarts.push(start + fresh.starts[k]);
    nextNames.push(fresh.names[k]);
  }
  for (let k = j + 1; k < starts.length; k++) {
    nextStarts.push(starts[k] + delta);
    nextNames.push(names[k]);
  }
  return { ...blocks, starts: nextStarts, names: nextNames };
}

/**
 * The virtual servers of the changed blocks' new text, read alone, or null when that
 * could differ from reading them in the whole file, or they have any error or warning.
 */
function readChunk(
  last: Last,
  lastCounts: ReadonlyMap<string, number>,
  text: string,
  chunkCounts: ReadonlyMap<string, number>,
): { servers: VirtualServerConfig[]; blocks: TomlBlocks; counts: Map<string, number> } | null {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text);
  } catch {
    return null;
  }
  const blocks = tomlBlocks(text);
  if (blocks === null || blocks.rootKeys || blocks.looseVirtualServers) return null;
  const counts = new Map<string, number>();
  for (let k = 1; k < blocks.names.length; k++) {
    const name = blocks.names[k];
    if (name === null || INDEX_LIKE.test(name)) return null;
    // A name the rest of the file uses too would merge with (or clash with) that use.
    if (!chunkCounts.has(name) && lastCounts.has(name)) return null;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  if (Object.keys(doc).some((k) => k !== "virtual_server")) return null;
  const ctx = new Ctx(last.file, () => new Map());
  const groups = new Map(last.result.config.virtualServerGroups.map((g) => [g.name, g]));
  const servers = namedTables(ctx, doc.virtual_server, "virtual_server").map(([n, t]) =>
    readVirtualServer(ctx, n, t, { groups })
  );
  if (ctx.errors.length > 0 || ctx.warnings.length > 0) return null;
  for (const vs of servers) deepFreeze(vs);
  return { servers, blocks, counts };
}

/**
 * `old` with the virtual servers of the changed blocks (a contiguous run: their blocks
 * lie between the same two unchanged ones) replaced by `fresh`; null if not contiguous.
 */
function spliceServers(
  old: readonly VirtualServerConfig[],
  replaced: ReadonlyMap<string, number>,
  fresh: readonly VirtualServerConfig[],
): { list: readonly VirtualServerConfig[]; removed: readonly VirtualServerConfig[] } | null {
  let first = -1;
  let last = -1;
  for (let k = 0; k < old.length; k++) {
    if (!replaced.has(old[k].name)) continue;
    if (first < 0) first = k;
    else if (last !== k - 1) return null;
    last = k;
  }
  if (first < 0 || last - first + 1 !== replaced.size) return null;
  return {
    // concat, not spreads: a reload's first run of this is in the interpreter, where a
    // spread of 1,000 virtual servers is 1,000 iterator steps.
    list: Object.freeze(old.slice(0, first).concat(fresh, old.slice(last + 1))),
    removed: old.slice(first, last + 1),
  };
}
