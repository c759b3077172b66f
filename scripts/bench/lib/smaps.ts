/**
 * A process's resident memory by kind, from /proc/PID/smaps: which part of an RSS is
 * the runtime's own code, which is other files, which is anonymous memory (V8's heap,
 * malloc's arenas), which is thread stacks. What is ours to cut is in the anonymous
 * part; the executable's pages are the price of the runtime (and count only as far as
 * the process touches them).
 *
 * @module
 */

import { parseSmaps, type SmapsMapping } from "../../../lib/sys/resident.ts";

/**
 * Resident KiB per kind of mapping.
 *
 * @example
 * ```ts
 * const k: RssByKind = { exeText: 30000, exeData: 9000, otherFiles: 1200, heap: 900, anon: 14000, stacks: 300, threads: 6, totalKiB: 55400 };
 * ```
 */
export interface RssByKind {
  /** The executable's code and read-only data (mapped r-x or r--). */
  readonly exeText: number;
  /** The executable's writable data (relocated pointers: touched by every start). */
  readonly exeData: number;
  /** Shared libraries and any other file. */
  readonly otherFiles: number;
  /** `[heap]`: the brk area, malloc's main arena. */
  readonly heap: number;
  /** Other anonymous mappings: V8's heap pages, malloc's other arenas, mmapped blocks. */
  readonly anon: number;
  /** `[stack]` and the threads' stacks (an anonymous mapping right above a guard page). */
  readonly stacks: number;
  /** Threads in the process now. */
  readonly threads: number;
  readonly totalKiB: number;
}

/**
 * Sums `mappings` by kind; `exe` is the path of the process's executable.
 *
 * @example
 * ```ts
 * classify(parseSmaps(text), "/usr/bin/deno", 4).anon;
 * ```
 */
export function classify(
  mappings: readonly SmapsMapping[],
  exe: string,
  threads: number,
): RssByKind {
  let exeText = 0, exeData = 0, otherFiles = 0, heap = 0, anon = 0, stacks = 0;
  mappings.forEach((m, i) => {
    if (m.path === exe) {
      if (m.perms.includes("w")) exeData += m.rssKb;
      else exeText += m.rssKb;
    } else if (m.path === "[heap]") heap += m.rssKb;
    else if (m.path === "[stack]") stacks += m.rssKb;
    else if (m.path.startsWith("/")) otherFiles += m.rssKb;
    else if (m.path === "" && isThreadStack(mappings, i)) stacks += m.rssKb;
    else anon += m.rssKb;
  });
  const totalKiB = exeText + exeData + otherFiles + heap + anon + stacks;
  return { exeText, exeData, otherFiles, heap, anon, stacks, threads, totalKiB };
}

// A thread's stack: a private read-write anonymous mapping of a thread stack's size
// (Rust's 2 MiB, glibc's 8 MiB, with a page or two of slack) right above a ---p guard.
function isThreadStack(mappings: readonly SmapsMapping[], i: number): boolean {
  const m = mappings[i];
  const below = mappings[i - 1];
  if (below === undefined || below.perms !== "---p" || below.end !== m.start) return false;
  if (m.perms !== "rw-p") return false;
  const kib = (m.end - m.start) / 1024;
  return [2048, 8192].some((s) => kib >= s - 16 && kib <= s + 16);
}

/**
 * `pid`'s resident memory by kind, or null when it is gone.
 *
 * @example
 * ```ts
 * const k = await rssByKind(Deno.pid);
 * ```
 */
export async function rssByKind(pid: number): Promise<RssByKind | null> {
  try {
    const [text, exe, tasks] = await Promise.all([
      Deno.readTextFile(`/proc/${pid}/smaps`),
      Deno.readLink(`/proc/${pid}/exe`),
      Array.fromAsync(Deno.readDir(`/proc/${pid}/task`)),
    ]);
    return classify(parseSmaps(text), exe, tasks.length);
  } catch {
    return null;
  }
}
