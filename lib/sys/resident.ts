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

/** One mapping of a `/proc/PID/smaps`. Addresses are below 2^47: exact as numbers. */
export interface SmapsMapping {
  readonly start: number;
  readonly end: number;
  /** As smaps shows them, e.g. `r-xp`. */
  readonly perms: string;
  /** The file, `[heap]` and the like, or "" for anonymous memory. */
  readonly path: string;
  /** Resident, KiB. */
  rssKb: number;
  /** Anonymous pages (copies written by this process), KiB; -1 when not reported. */
  anonKb: number;
}

const HEADER = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$/;

/**
 * The mappings of `text`, the contents of a `/proc/PID/smaps`, with their resident and
 * anonymous sizes. Also what `scripts/bench/lib/smaps.ts` sorts a daemon's memory by.
 *
 * @example
 * ```ts
 * parseSmaps("7f00-7f01 rw-p 00000000 00:00 0 \nRss: 4 kB\n")[0].rssKb; // 4
 * ```
 */
export function parseSmaps(text: string): SmapsMapping[] {
  const out: SmapsMapping[] = [];
  let cur: SmapsMapping | null = null;
  for (const line of text.split("\n")) {
    const h = HEADER.exec(line);
    if (h !== null) {
      cur = {
        start: Number.parseInt(h[1], 16),
        end: Number.parseInt(h[2], 16),
        perms: h[3],
        path: h[4].trim(),
        rssKb: 0,
        anonKb: -1,
      };
      out.push(cur);
    } else if (cur !== null) {
      if (line.startsWith("Rss:")) cur.rssKb = kb(line);
      else if (line.startsWith("Anonymous:")) cur.anonKb = kb(line);
    }
  }
  return out;
}

function kb(line: string): number {
  const n = Number.parseInt(line.slice(line.indexOf(":") + 1), 10);
  return Number.isFinite(n) ? n : -1;
}

/**
 * The read-only file mappings in `smaps` (the text of `/proc/PID/smaps`) known to hold
 * no anonymous page: what {@link releaseStartupPages} may drop. A mapping whose
 * `Anonymous:` line is missing is not known clean, and kept.
 *
 * @example
 * ```ts
 * droppableMappings(Deno.readTextFileSync("/proc/self/smaps")).length > 0; // true
 * ```
 */
export function droppableMappings(smaps: string): SmapsMapping[] {
  return parseSmaps(smaps).filter((m) =>
    m.perms[0] === "r" && m.perms[1] === "-" && m.anonKb === 0 && m.path.startsWith("/")
  );
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
