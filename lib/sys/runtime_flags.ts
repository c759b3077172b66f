/**
 * The V8 flags hacore runs with, in one place for every launcher: `scripts/compile.sh`
 * bakes them into the binary (`deno compile --v8-flags=...`), the deno.json `run` task
 * and the labs, tests and benchmarks that start a daemon (`lib/lab/hacore.ts`) pass
 * them to `deno run`. Run this file to print the argument:
 *
 * ```sh
 * deno run lib/sys/runtime_flags.ts   # --v8-flags=--optimize-for-size,--expose-gc,--no-flush-bytecode,--no-opt
 * ```
 *
 * Why these (measured with the workloads of scripts/bench/checks.ts: 255 instances
 * tracking 1,000 checks, and one instance advertising every 10 ms tracking 1,200
 * checks a second):
 * - `--optimize-for-size` takes the RSS of the 255 instances from ~125 MiB to
 *   ~83 MiB (RssAnon ~78 → ~37 MiB; the deno executable's own pages are another
 *   ~45 MiB whatever the flags), and of the 10 ms instance from ~112 to ~81 MiB: 1 MiB
 *   semi-spaces, a heap that grows less before it collects, and a memory reducer that
 *   hands pages back. Young GCs run ten times as often but last ~0.35 ms instead of
 *   ~1.5 ms; advert lateness (p50 and p99) and CPU under load stay within the noise.
 *   The cost: a full GC every ~12 s instead of ~25 s, whose final pause is 3-10 ms
 *   instead of 3-5 ms, so the worst advert of a minute can be a few ms later.
 *   `--max-semi-space-size=1` alone (~100 MiB) and `--single-threaded-gc` (no
 *   change) were measured too.
 * - Measured again with `deno task bench:rss` (50 instances at 10 ms, one node master
 *   of all, on top of this flag, several runs on a shared 2-core machine; baseline
 *   72.5-77.0 MiB RSS, 5.0-7.7 CPU-s per minute): `--no-opt --no-maglev` 63.8-65.3 MiB
 *   (TurboFan's and Maglev's pages and code gone) but 8.5-9.6 CPU-s/min; `--no-opt`
 *   alone 70.5-76.9 MiB, `--no-maglev` 70.8-73.8, `--single-threaded` 70.3-72.5 (two
 *   threads fewer; every GC then marks on the loop's own thread), `--max-lazy` 74.2:
 *   within the noise. None is taken: CPU at 10 ms adverts may not get worse. No flag
 *   moved the start time either.
 * - No cap on the old space (`--max-old-space-size`): the live heap is ~12-15 MB and
 *   the old generation is collected long before any cap, so a cap would not lower the
 *   RSS; reaching one kills the daemon (and with it the VIPs) on the day a reload or
 *   a burst of checks needs more.
 * - `--no-opt`: no TurboFan, Maglev stays. TurboFan spends its CPU on worker threads
 *   compiling what a start runs once (the config reader, the IPVS table's plan): `hacore
 *   check` of 1,000 services × 10 real servers took 210 ms of CPU on the host with it,
 *   116 without, and ~1,100 page faults fewer. In a one-CPU guest those threads take
 *   the loop's only CPU: exec → a complete 1,000 × 10 IPVS table (`scripts/bench/lvs.ts`,
 *   5 runs each, interleaved) went from a median of 1,967 ms to 1,601 (keepalived
 *   ~1,500), and the checker's CPU for 100 × 10 real servers from 10.2-14.5 % to
 *   9.1-10.1 % (TCP) and 35.7-46.3 % to 30.9-31.8 % (HTTP): the compile time left the
 *   window. At 10 ms adverts (`deno task bench:loop`: 1 and 50 instances, 1,000 TCP +
 *   200 HTTP checks a second) CPU, RSS and lateness stayed within the runs' noise; the
 *   worst advert under checks was 1.1 and 1.5 ms against 3.5 and 6.7 with TurboFan.
 *   `--single-threaded` as well took the table to 1,523 ms, but marks on the loop's
 *   thread: one advert under checks then went 32.5 ms late, at a 10 ms Backup's
 *   Master_Down_Interval. Not taken.
 * - `--expose-gc`: the daemon runs a full collection once a minute itself
 *   (`lib/sys/heap_housekeeping.ts`): in a quiet daemon V8 may not run one for an hour,
 *   and the old generation fills with dead promoted objects meanwhile (RSS +5 MiB in a
 *   soak's first hour); collecting keeps the heap at its live size and reports that
 *   size.
 *
 * - `--no-flush-bytecode`: V8 drops the bytecode of functions that did not run through a
 *   few full collections, and the housekeeping above runs one a minute. A Backup's
 *   takeover code (warmed once after the start, see `Daemon.warmTakeover`) was then
 *   compiled afresh at the takeover itself: after a minute of idling, its first advert
 *   went 4 ms after its timer and its GARPs 8 ms (2 and 5 ms a second after the start;
 *   keepalived 0.2 and 0.8). The bytecode kept is that of code that ran once, a few
 *   hundred KB at most.
 *
 * @module
 */

/**
 * The V8 flags, without the `--v8-flags=` wrapper.
 *
 * @example
 * ```ts
 * HACORE_V8_FLAGS.includes("--optimize-for-size"); // true
 * ```
 */
export const HACORE_V8_FLAGS: readonly string[] = Object.freeze([
  "--optimize-for-size",
  "--expose-gc",
  "--no-flush-bytecode",
  "--no-opt",
]);

/**
 * The `deno run` / `deno compile` argument carrying {@link HACORE_V8_FLAGS}.
 *
 * @example
 * ```ts
 * new Deno.Command(Deno.execPath(), { args: ["run", "-A", v8FlagsArg(), "main.ts", "run", file] });
 * ```
 */
export function v8FlagsArg(flags: readonly string[] = HACORE_V8_FLAGS): string {
  return `--v8-flags=${flags.join(",")}`;
}

if (import.meta.main) console.log(v8FlagsArg());
