/**
 * Gives back, once the daemon has started, the pages of its files that only the start
 * touched.
 *
 * Why: the Deno executable is ~140 MB, and starting the runtime (the V8 snapshot, module
 * loading, the compiler tiers the start runs) maps ~35 MiB of it into the resident set,
 * where it stays for the life of the daemon. Dropping this process's page-table entries
 * for read-only file mappings (`MADV_DONTNEED`) leaves those pages in the page cache:
 * what the loop still runs is mapped back by minor faults as it runs it (with the
 * kernel's fault-around, 64 KiB at a time: about two thirds of the 35 MiB come back
 * within a minute), and the rest stops counting against the daemon. No disk read, unlike
 * `MADV_PAGEOUT`, which would evict them and could make a takeover wait for one.
 * malloc's free memory goes back too (`malloc_trim`).
 *
 * Only mappings that cannot hold a write are dropped: no `w` permission and no anonymous
 * page. A private mapping made read-only after the loader wrote it (RELRO) has anonymous
 * pages, and dropping those would lose the loader's relocations; it is skipped.
 *
 * @module
 */

import { dropPages, trimMalloc } from "./libc.ts";

/** One mapping of `/proc/self/smaps` this module may drop. */
export interface FileMapping {
  readonly start: bigint;
  readonly end: bigint;
  readonly path: string;
  /** Resident, KiB. */
  readonly rssKb: number;
}

const HEADER = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$/;

interface Parsing {
  start: bigint;
  end: bigint;
  path: string;
  readOnly: boolean;
  rssKb: number;
  anonKb: number;
}

/**
 * The read-only file mappings in `smaps` (the text of `/proc/PID/smaps`) that hold no
 * anonymous page, with their resident size: what {@link releaseStartupPages} may drop.
 *
 * @example
 * ```ts
 * droppableMappings(Deno.readTextFileSync("/proc/self/smaps")).length > 0; // true
 * ```
 */
export function droppableMappings(smaps: string): FileMapping[] {
  const out: FileMapping[] = [];
  let cur: Parsing | null = null;
  const flush = () => {
    if (cur !== null && cur.readOnly && cur.anonKb === 0 && cur.path.startsWith("/")) {
      out.push({ start: cur.start, end: cur.end, path: cur.path, rssKb: cur.rssKb });
    }
  };
  for (const line of smaps.split("\n")) {
    const h = HEADER.exec(line);
    if (h !== null) {
      flush();
      const perms = h[3];
      cur = {
        start: BigInt(`0x${h[1]}`),
        end: BigInt(`0x${h[2]}`),
        path: h[4],
        readOnly: perms[0] === "r" && perms[1] === "-",
        rssKb: 0,
        // Unknown until its line is read: a mapping without one is never dropped.
        anonKb: -1,
      };
    } else if (cur !== null) {
      if (line.startsWith("Rss:")) cur.rssKb = kb(line);
      else if (line.startsWith("Anonymous:")) cur.anonKb = kb(line);
    }
  }
  flush();
  return out;
}

function kb(line: string): number {
  const n = Number.parseInt(line.slice(line.indexOf(":") + 1), 10);
  return Number.isFinite(n) ? n : -1;
}

/** What one {@link releaseStartupPages} did. */
export interface Released {
  /** Mappings dropped. */
  readonly mappings: number;
  /** Their resident size when dropped, KiB. */
  readonly droppedKb: number;
  /** Whether malloc gave memory back. */
  readonly trimmed: boolean;
}

/**
 * Drops the resident pages of every {@link droppableMappings} of this process and trims
 * malloc. Throws only when `/proc/self/smaps` cannot be read.
 *
 * @example
 * ```ts
 * const r = releaseStartupPages();
 * console.log(`${r.droppedKb} KiB of start-up pages given back`);
 * ```
 */
export function releaseStartupPages(): Released {
  let mappings = 0;
  let droppedKb = 0;
  for (const m of droppableMappings(Deno.readTextFileSync("/proc/self/smaps"))) {
    if (m.rssKb === 0 || !dropPages(m.start, m.end)) continue;
    mappings++;
    droppedKb += m.rssKb;
  }
  return { mappings, droppedKb, trimmed: trimMalloc() };
}
