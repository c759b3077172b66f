/**
 * Renders a simulated run as a timeline a person can read: world events and state
 * transitions, merged in time order.
 *
 * @module
 */
import type { SimResult, WorldEvent } from "./sim.ts";

function describeWorld(e: WorldEvent, host: string | null | undefined): string {
  switch (e.kind) {
    case "crash":
      return `${e.host} crashes (kill -9)`;
    case "crash-master":
      return host
        ? `master ${host} of VRID ${e.vrid} crashes (kill -9)`
        : `no master of VRID ${e.vrid} to crash`;
    case "restart":
      return `${e.host} starts again`;
    case "restart-all":
      return "every stopped host starts again";
    case "shutdown":
      return `${e.host} is stopped (SIGTERM)`;
    case "partition":
      return `network partition: ${e.groups.map((g) => `[${g.join(" ")}]`).join(" | ")}`;
    case "heal":
      return "network healed";
    case "network":
      return `network: loss ${
        (e.params.lossRate * 100).toFixed(1)
      }%, delay ${e.params.minDelayMs}-${e.params.maxDelayMs} ms`;
  }
}

/**
 * One line per event, `   1234.567 ms  text`.
 *
 * @example
 * ```ts
 * console.log(formatTimeline(runScenario(spec)));
 * ```
 */
export function formatTimeline(result: SimResult): string {
  const rows: { atMs: number; order: number; text: string }[] = [];
  result.world.forEach((w, i) =>
    rows.push({ atMs: w.atMs, order: i * 2, text: `** ${describeWorld(w.event, w.host)}` })
  );
  result.transitions.forEach((t, i) =>
    rows.push({
      atMs: t.atMs,
      order: i * 2 + 1,
      text: `${t.host}/${t.router}: ${t.from.toUpperCase()} -> ${t.to.toUpperCase()} (${t.reason})`,
    })
  );
  rows.sort((a, b) => a.atMs - b.atMs || a.order - b.order);
  return rows.map((r) => `${r.atMs.toFixed(3).padStart(12)} ms  ${r.text}`).join("\n");
}
