/**
 * A config loader that remembers its last file, so that a reload re-reads only what
 * changed: a one-weight edit of a 1,000-service file (TOML or keepalived.conf) parses
 * and validates one virtual server, not the whole file (~100 ms on a fast host, ~0.6 s
 * in a small guest).
 *
 * The result is always what {@link parseConfig} would return for the new text; the
 * shortcut is taken only where that is provable, and anything else parses the whole
 * file:
 * - the same bytes as last time: the same `Config` (it is frozen), for a keepalived.conf
 *   only when it read no other file (an included one may have changed) and nothing the
 *   host name decides (see below);
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
 *   non-ASCII file (offsets are bytes and characters at once): the whole file, so every
 *   message has its line;
 * - a keepalived.conf whose changed bytes all lie in `virtual_server` statements
 *   (`keepalived/statements.ts`: a statement runs from its keyword's line to the next
 *   one's, and the last whole read said where those are): the new text of those
 *   statements is read alone (it starts and ends where the reader is at the top level
 *   with nothing pending) and replaces their virtual servers in place, as for TOML.
 *   The whole file instead when the last read included a file, had a warning, began a
 *   statement after a `}` on its line or was not ASCII; when the changed text (old or
 *   new) has a `$`, a conditional, sequence or include line or a joined line, or
 *   anything but virtual servers, or any problem; when the line that says
 *   "keepalived.conf" changed; when a name or kernel service is taken elsewhere; and
 *   when the file has conditional lines or parameters and no config id was given (its
 *   default, the host name, may have changed).
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
import { Ctx, type RawTable } from "./fields.ts";
import { readVirtualServer, serviceKeys } from "./lvs.ts";
import type { VirtualServerConfig, VirtualServerGroupConfig } from "./lvs_schema.ts";
import { deepFreeze } from "./freeze.ts";
import { detectFormat, type LoadOptions, type LoadResult, parseConfig, parseToml } from "./mod.ts";
import type { Config } from "./schema.ts";
import { namedTables } from "./sections.ts";
import { type KeepalivedOutline, parseKeepalived } from "./keepalived/mod.ts";
import {
  formatLineEnd,
  lineOffsets,
  plainStatements,
  readStatements,
  statementStarts,
} from "./keepalived/statements.ts";
import { translateKeepalived } from "./keepalived/translate.ts";

/** How the last {@link ConfigLoader} load was made. */
export type LoadMode = "full" | "incremental" | "unchanged";

/** What a reload by blocks needs of the last load besides its bytes and config. */
interface BlockIndex {
  readonly kind: "toml";
  readonly blocks: TomlBlocks;
  /** Virtual server name → how many blocks it has. */
  readonly counts: Map<string, number>;
  /** Kernel service key → the virtual server that stands for it. */
  readonly owners: Map<string, string>;
}

/**
 * What a reload by statements needs of the last keepalived.conf load besides its bytes
 * and config (see `keepalived/statements.ts`).
 */
interface StatementIndex {
  readonly kind: "keepalived";
  /** Offset of the line of each top-level statement's keyword. */
  readonly starts: readonly number[];
  readonly keywords: readonly string[];
  /** Offset just past the line that says "keepalived.conf" (-1: none). */
  readonly formatEnd: number;
  /** The virtual servers' names. */
  readonly names: Set<string>;
  /** Kernel service key → the virtual server that stands for it. */
  readonly owners: Map<string, string>;
}

/** What the loader keeps of its last successful load. */
interface Last {
  readonly file: string;
  readonly bytes: Uint8Array;
  readonly result: LoadResult & { ok: true };
  /**
   * Null: the file cannot be reloaded by parts (see the module notes). Undefined: not
   * built yet, by `build` (a whole load builds it when a reload or
   * {@link ConfigLoader.prepare} first needs it, not on a start's way to its table).
   */
  index: BlockIndex | StatementIndex | null | undefined;
  /** Builds the index from the whole load's text; null once it has. */
  build: (() => BlockIndex | StatementIndex | null) | null;
  /**
   * TOML: the file is all there is. keepalived.conf may `include` other files, so the
   * same bytes in it mean the same config only when it read none (its index says so).
   */
  readonly toml: boolean;
}

/** As `Deno.readTextFile` decodes: a byte order mark stays, bad bytes become U+FFFD. */
const DECODER = new TextDecoder("utf-8", { ignoreBOM: true });
/** Anything but printable ASCII, tabs and line ends: offsets would not be bytes and characters at once. */
const NOT_ASCII = /[^\t\n\r -~]/;

/**
 * How a reload finds where a file changed: the common start of the last load's bytes and
 * the new ones, and their common end (at most `max`).
 */
export interface ByteScan {
  prefix(a: Uint8Array, b: Uint8Array): number;
  suffix(a: Uint8Array, b: Uint8Array, max: number): number;
}

/** {@link commonPrefix} and {@link commonSuffix}: no FFI, as fast as V8's tier of them. */
export const JS_BYTE_SCAN: ByteScan = { prefix: commonPrefix, suffix: commonSuffix };

/**
 * Loads config files like {@link parseConfig}, re-reading only the changed virtual
 * servers of a file it loaded before (see the module notes). `scan`: the daemon gives
 * memcmp's (`lib/sys/byte_scan.ts`), whose speed no garbage collection takes away.
 */
export class ConfigLoader {
  readonly #options: LoadOptions;
  readonly #scan: ByteScan;
  #last: Last | null = null;
  #mode: LoadMode = "full";
  /** The buffer the next read goes to; the other one holds `#last.bytes`. */
  #spare = new Uint8Array(0);

  constructor(options: LoadOptions = {}, scan: ByteScan = JS_BYTE_SCAN) {
    this.#options = options;
    this.#scan = scan;
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
    // Each comparison once over the whole file: the JavaScript scan's code is then
    // compiled before a reload needs it (its first scans of 850 KiB, left to the
    // interpreter, took ~70 ms in a small guest); memcmp's calls get bound.
    this.#scan.prefix(last.bytes, last.bytes);
    this.#scan.suffix(last.bytes, last.bytes, last.bytes.length);
    const size = last.bytes.buffer.byteLength;
    if (this.#spare.buffer !== last.bytes.buffer && this.#spare.length < size) {
      this.#spare = new Uint8Array(size).fill(0);
    }
  }

  /**
   * Reloads the last load's last virtual server by parts from the unchanged bytes, and
   * drops the result (the index's maps are rewritten with what they held). For once the
   * daemon has given back its start-up pages: the first reload then finds the by-parts
   * path compiled and its pages mapped. In a small guest, a one-weight reload of a
   * 1,000-service file took 57-90 ms the first time and 7-15 ms after.
   *
   * Returns whether it re-read a virtual server: false when nothing was loaded, the file
   * has none, or it reloads only whole.
   *
   * @example
   * ```ts
   * loader.load("/etc/hacore/hacore.toml");
   * loader.rehearse(); // true with a virtual server in the file
   * ```
   */
  rehearse(): boolean {
    const last = this.#last;
    if (last === null) return false;
    const index = indexOf(last);
    if (index === null) return false;
    try {
      // One byte into the last virtual server's block or statement: as an edit there.
      if (index.kind === "toml") {
        const at = lastStart(index.blocks.starts, (k) => index.blocks.names[k] !== null);
        return at >= 0 &&
          reloadBlocks(last, index, last.bytes, at + 1, this.#options, this.#scan) !== null;
      }
      const at = lastStart(index.starts, (k) => index.keywords[k] === "virtual_server");
      return at >= 0 &&
        reloadStatements(last, index, last.bytes, at + 1, this.#options, this.#scan) !==
          null;
    } catch {
      // Only a warm-up: whatever a real reload would meet, it meets and reports itself.
      return false;
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
    const p = same ? this.#scan.prefix(last.bytes, bytes) : 0;
    const sameBytes = same && last.bytes.length === bytes.length && p === bytes.length;
    if (sameBytes && last.toml) {
      this.#mode = "unchanged";
      return last.result;
    }
    const index = same ? indexOf(last) : null;
    // A keepalived.conf with an index read no other file, and nothing the host decides.
    if (sameBytes && index !== null) {
      this.#mode = "unchanged";
      return last.result;
    }
    const quick = last === null || index === null
      ? null
      : index.kind === "toml"
      ? reloadBlocks(last, index, bytes, p, this.#options, this.#scan)
      : reloadStatements(last, index, bytes, p, this.#options, this.#scan);
    let r: LoadResult;
    if (quick !== null) {
      this.#mode = "incremental";
      this.#keep(quick);
      r = quick.result;
    } else {
      this.#mode = "full";
      const source = text();
      const toml = this.#toml(source);
      const whole = toml
        ? { r: parseConfig(source, file, this.#options), outline: null }
        : this.#keepalived(source, file);
      r = whole.r;
      // A refused file changes nothing: the next load compares with the last good one.
      if (r.ok) this.#keep(remember(file, bytes, source, r, whole.outline, this.#options));
    }
    return r;
  }

  /** `parseConfig` of a keepalived.conf, and where its statements are. */
  #keepalived(source: string, file: string): { r: LoadResult; outline: KeepalivedOutline | null } {
    const k = parseKeepalived(source, file, { configId: this.#options.configId });
    // As parseConfig makes its result (the tests hold the two equal).
    return k.ok
      ? { r: { ok: true, config: k.config, warnings: k.warnings }, outline: k.outline }
      : { r: { ok: false, errors: k.errors, warnings: k.warnings }, outline: null };
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

/**
 * A whole load, its index to be built when first needed (see {@link indexOf}).
 * `outline`: a keepalived.conf's (null: TOML).
 */
function remember(
  file: string,
  bytes: Uint8Array,
  source: string,
  result: LoadResult,
  outline: KeepalivedOutline | null,
  options: LoadOptions,
): Last {
  const ok = result as LoadResult & { ok: true };
  const usable = (result.warnings ?? []).length === 0;
  const config = ok.config;
  const build = !usable
    ? null
    : outline === null
    ? () => buildIndex(source, config)
    : () => buildStatementIndex(source, outline, config, options.configId);
  return {
    file,
    bytes,
    result: ok,
    index: build === null ? null : undefined,
    build,
    toml: outline === null,
  };
}

/** The index of `last`, built now if it was not yet; null: not reloadable by parts. */
function indexOf(last: Last): BlockIndex | StatementIndex | null {
  if (last.index === undefined) {
    last.index = last.build === null ? null : last.build();
    last.build = null;
  }
  return last.index;
}

/** Kernel service key → the virtual server that stands for it. */
function serviceOwners(config: Config): Map<string, string> {
  const owners = new Map<string, string>();
  const groups = groupMap(config.virtualServerGroups);
  for (const vs of config.virtualServers) {
    for (const k of serviceKeys(vs, groups)) owners.set(k, vs.name);
  }
  return owners;
}

function groupMap(
  groups: readonly VirtualServerGroupConfig[],
): Map<string, VirtualServerGroupConfig> {
  return new Map(groups.map((g) => [g.name, g]));
}

function buildStatementIndex(
  source: string,
  outline: KeepalivedOutline,
  config: Config,
  configId: string | undefined,
): StatementIndex | null {
  const found = statementStarts(source, outline, configId);
  if (found === null) return null;
  const names = new Set<string>();
  for (const vs of config.virtualServers) {
    if (INDEX_LIKE.test(vs.name)) return null;
    names.add(vs.name);
  }
  return {
    kind: "keepalived",
    starts: found.starts,
    keywords: found.keywords,
    formatEnd: formatLineEnd(source),
    names,
    owners: serviceOwners(config),
  };
}

function buildIndex(source: string, config: Config): BlockIndex | null {
  if (NOT_ASCII.test(source)) return null;
  const blocks = tomlBlocks(source);
  if (blocks === null || blocks.looseVirtualServers || blocks.rootKeys) return null;
  const counts = new Map<string, number>();
  for (const name of blocks.names) {
    if (name === null) continue;
    if (INDEX_LIKE.test(name)) return null;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return { kind: "toml", blocks, counts, owners: serviceOwners(config) };
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

/** The start of the last block `wanted` takes, -1 for none. */
function lastStart(starts: readonly number[], wanted: (k: number) => boolean): number {
  for (let k = starts.length - 1; k >= 0; k--) if (wanted(k)) return starts[k];
  return -1;
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
  scan: ByteScan,
): Last | null {
  const { blocks, counts, owners } = index;
  const old = last.bytes;
  const now = bytes;
  const s = scan.suffix(old, now, Math.min(old.length, now.length) - p);
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
  const groups = groupMap(last.result.config.virtualServerGroups);
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
    index: { kind: "toml", blocks: nextBlocks, counts, owners },
    build: null,
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
  const servers = readServers(last, doc.virtual_server);
  return servers === null ? null : { servers, blocks, counts };
}

/**
 * The virtual servers of a document's `virtual_server` table, each read as the
 * whole-file path reads it (with the groups of the last load) and frozen; null on any
 * error or warning (the whole file then says where it is).
 */
function readServers(last: Last, raw: unknown): VirtualServerConfig[] | null {
  const ctx = new Ctx(last.file, () => new Map());
  const groups = groupMap(last.result.config.virtualServerGroups);
  const servers = namedTables(ctx, raw, "virtual_server").map(([n, t]) =>
    readVirtualServer(ctx, n, t, { groups })
  );
  if (ctx.errors.length > 0 || ctx.warnings.length > 0) return null;
  for (const vs of servers) deepFreeze(vs);
  return servers;
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

/**
 * The load of a keepalived.conf's `bytes` from `last` by re-reading the changed
 * top-level statements alone, or null when that is not provably what a whole parse
 * gives: the changed text must lie in `virtual_server` statements, and their new text
 * be plain (see `keepalived/statements.ts`), read without a problem, hold only virtual
 * servers, each read without an error or warning, of names and kernel services no
 * other virtual server has. `p`: the length of the common start.
 */
function reloadStatements(
  last: Last,
  index: StatementIndex,
  bytes: Uint8Array,
  p: number,
  options: LoadOptions,
  scan: ByteScan,
): Last | null {
  const { starts, keywords, names, owners } = index;
  const old = last.bytes;
  // The first statement says TOML or keepalived.conf: it must be the same one.
  if ((options.format ?? "auto") === "auto" && !(index.formatEnd >= 0 && p >= index.formatEnd)) {
    return null;
  }
  // Text before the first statement is never re-read alone.
  if (starts.length === 0 || starts[0] > p) return null;
  const s = scan.suffix(old, bytes, Math.min(old.length, bytes.length) - p);
  const end = old.length - s;
  const i = blockAt(starts, p);
  const j = Math.max(i, end > 0 ? blockAt(starts, end - 1) : 0);
  for (let k = i; k <= j; k++) if (keywords[k] !== "virtual_server") return null;
  const from = starts[i];
  const to = j + 1 < starts.length ? starts[j + 1] : old.length;
  const delta = bytes.length - old.length;
  const text = DECODER.decode(bytes.subarray(from, to + delta));
  // The next statement's line must still start a line.
  if (to < old.length && text.length > 0 && !text.endsWith("\n")) return null;
  if (!plainStatements(text) || !plainStatements(DECODER.decode(old.subarray(from, to)))) {
    return null;
  }
  const read = readVirtualServerStatements(last, text, options);
  if (read === null) return null;

  // The old statements' virtual servers, a run in the list (one per statement, in order).
  const list = last.result.config.virtualServers;
  let first = 0;
  for (let k = 0; k < i; k++) if (keywords[k] === "virtual_server") first++;
  const removed = list.slice(first, first + j - i + 1);
  const replaced = new Set(removed.map((vs) => vs.name));
  const groups = groupMap(last.result.config.virtualServerGroups);
  const keys = new Map<string, string>();
  for (const vs of read.servers) {
    // A name or kernel service another virtual server has: the whole file says where.
    if (names.has(vs.name) && !replaced.has(vs.name)) return null;
    for (const k of serviceKeys(vs, groups)) {
      const owner = owners.get(k);
      if (keys.has(k) || (owner !== undefined && !replaced.has(owner))) return null;
      keys.set(k, vs.name);
    }
  }

  const nextStarts = starts.slice(0, i);
  const nextKeywords = keywords.slice(0, i);
  for (const at of read.starts) {
    nextStarts.push(from + at);
    nextKeywords.push("virtual_server");
  }
  for (let k = j + 1; k < starts.length; k++) {
    nextStarts.push(starts[k] + delta);
    nextKeywords.push(keywords[k]);
  }
  // The old sets go with the old state: updated in place, once nothing can fail.
  for (const vs of removed) {
    names.delete(vs.name);
    for (const k of serviceKeys(vs, groups)) owners.delete(k);
  }
  for (const vs of read.servers) names.add(vs.name);
  for (const [k, name] of keys) owners.set(k, name);
  const virtualServers = Object.freeze(
    list.slice(0, first).concat(read.servers, list.slice(first + removed.length)),
  );
  const config: Config = Object.freeze({ ...last.result.config, virtualServers });
  return {
    file: last.file,
    bytes,
    result: { ok: true, config, warnings: [] },
    index: { ...index, starts: nextStarts, keywords: nextKeywords },
    build: null,
    toml: false,
  };
}

/**
 * The virtual servers of `text` (whole top-level statements, plain) read alone, and
 * where each statement's line starts in it; null when anything in it is not a
 * virtual server, or gives a problem.
 */
function readVirtualServerStatements(
  last: Last,
  text: string,
  options: LoadOptions,
): { servers: VirtualServerConfig[]; starts: number[] } | null {
  // Plain text has no conditional line: the config id changes nothing in it.
  const nodes = readStatements(text, last.file, options.configId ?? "");
  if (nodes === null || nodes.some((n) => n.keyword !== "virtual_server")) return null;
  const starts = lineOffsets(text, nodes.map((n) => n.line));
  if (starts === null) return null;
  const t = translateKeepalived((onStatement) => nodes.forEach(onStatement));
  if (t.problems.length > 0) return null;
  for (const k in t.doc) if (k !== "virtual_server") return null;
  const servers = readServers(last, (t.doc as RawTable).virtual_server);
  if (servers === null || servers.length !== nodes.length) return null;
  for (const vs of servers) if (INDEX_LIKE.test(vs.name)) return null;
  return { servers, starts };
}
