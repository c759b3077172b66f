/**
 * Summarises a V8 CPU profile (`deno run --cpu-prof --cpu-prof-dir=DIR ...` writes one
 * `.cpuprofile` per process at exit): where the busy time went, by function (self
 * time), by function with what it called (total time), and by the nearest hacore
 * `lib/daemon` or `lib/sys` frame on the stack (which part of the daemon paid for it).
 * Idle samples are left out of every share.
 *
 * ```sh
 * deno run -A scripts/bench/cpuprofile.ts FILE.cpuprofile [--top N]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";

/** One node of a `.cpuprofile`'s call tree. */
interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
  readonly children?: readonly number[];
}

/** What a `.cpuprofile` holds that this reads. */
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/**
 * Milliseconds per frame: self, total, and by nearest daemon frame; and the busy and
 * sampled totals.
 */
export interface ProfileSummary {
  readonly sampledMs: number;
  readonly busyMs: number;
  readonly self: ReadonlyMap<string, number>;
  readonly total: ReadonlyMap<string, number>;
  readonly byDaemonFrame: ReadonlyMap<string, number>;
}

function frameName(n: ProfileNode): string {
  const url = n.callFrame.url.replace(/^.*\/(lib|tests|scripts)\//, "$1/");
  return `${n.callFrame.functionName || "(anonymous)"} ${url}:${n.callFrame.lineNumber + 1}`;
}

function add(m: Map<string, number>, k: string, v: number) {
  m.set(k, (m.get(k) ?? 0) + v);
}

/**
 * Sums a profile's samples per frame (a sample's time is the delta to the next one).
 *
 * @example
 * ```ts
 * const s = summarise(JSON.parse(await Deno.readTextFile("CPU.123.cpuprofile")));
 * s.busyMs; // time not idle
 * ```
 */
export function summarise(p: CpuProfile): ProfileSummary {
  const nodes = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    nodes.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const byDaemonFrame = new Map<string, number>();
  let sampledMs = 0;
  let busyMs = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const ms = (p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0) / 1000;
    sampledMs += ms;
    const leaf = nodes.get(p.samples[i]);
    if (leaf === undefined || leaf.callFrame.functionName === "(idle)") continue;
    busyMs += ms;
    add(self, frameName(leaf), ms);
    const seen = new Set<string>();
    let daemon: string | null = null;
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const n = nodes.get(id)!;
      const name = frameName(n);
      if (!seen.has(name)) {
        seen.add(name);
        add(total, name, ms);
      }
      if (daemon === null && /lib\/(daemon|sys)\//.test(n.callFrame.url)) daemon = name;
    }
    add(byDaemonFrame, daemon ?? "(no daemon frame)", ms);
  }
  return { sampledMs, busyMs, self, total, byDaemonFrame };
}

/**
 * The `top` largest entries of `m` as lines: milliseconds, share of the busy time, frame.
 *
 * @example
 * ```ts
 * console.log(topLines(s.self, s.busyMs, 10).join("\n"));
 * ```
 */
export function topLines(m: ReadonlyMap<string, number>, busyMs: number, top: number): string[] {
  return [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) =>
    `${v.toFixed(0).padStart(7)} ms ${
      (busyMs > 0 ? (100 * v) / busyMs : 0).toFixed(1).padStart(5)
    }%  ${k}`
  );
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { top: { type: "string" } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) {
    console.error("usage: cpuprofile.ts FILE.cpuprofile [--top N]");
    Deno.exit(2);
  }
  const top = Number(values.top ?? 15);
  const s = summarise(JSON.parse(await Deno.readTextFile(positionals[0])));
  console.log(
    `${positionals[0]}: ${(s.sampledMs / 1000).toFixed(1)} s sampled, busy ${
      (s.busyMs / 1000).toFixed(2)
    } s (${(s.sampledMs > 0 ? (100 * s.busyMs) / s.sampledMs : 0).toFixed(1)}%)`,
  );
  for (
    const [title, m] of [
      ["self time", s.self],
      ["total time", s.total],
      ["by nearest lib/daemon or lib/sys frame", s.byDaemonFrame],
    ] as const
  ) {
    console.log(`-- ${title}`);
    for (const line of topLines(m, s.busyMs, top)) console.log(line);
  }
}
