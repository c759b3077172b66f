/**
 * Slow start: a real server whose checks recover gets its weight back in a few steps,
 * from 1 to its weight over `slow_start` seconds, so a cold cache or JIT is not handed
 * its full share of new connections at once. Pure: the runtime keeps when each ramp
 * started and asks for the weight and the next step as deadlines.
 *
 * @module
 */

import type { VirtualServerConfig, VirtualServerGroupConfig } from "../config/lvs_schema.ts";
import { type IpvsTable, servicesOf } from "./desired.ts";
import { destKey, serviceKey } from "./plan.ts";

/** The time between two steps of a ramp of `durationMs`: a tenth of it, at least 1 s. */
export function slowStartStepMs(durationMs: number): number {
  return Math.max(1000, durationMs / 10);
}

/**
 * The weight `elapsedMs` into a ramp of `durationMs` towards `weight`: 1 at the start,
 * `weight` at the end, whole steps between; never 0 (which would stop new connections)
 * and never above `weight`. A weight of 0 stays 0: the config wants no new connections.
 *
 * @example
 * ```ts
 * slowStartWeight(100, 0, 10_000); // 1
 * slowStartWeight(100, 5_000, 10_000); // 50
 * slowStartWeight(100, 10_000, 10_000); // 100
 * ```
 */
export function slowStartWeight(weight: number, elapsedMs: number, durationMs: number): number {
  if (weight <= 1 || durationMs <= 0 || elapsedMs >= durationMs) return weight;
  const step = slowStartStepMs(durationMs);
  const done = Math.floor(Math.max(0, elapsedMs) / step) * step;
  const share = Math.min(1, done / durationMs);
  return Math.min(weight, Math.max(1, 1 + Math.floor((weight - 1) * share)));
}

/**
 * When the weight of a ramp started at `startMs` changes next, or null once it is done.
 *
 * @example
 * ```ts
 * slowStartNextMs(0, 0, 10_000); // 1000
 * slowStartNextMs(0, 10_000, 10_000); // null
 * ```
 */
export function slowStartNextMs(startMs: number, nowMs: number, durationMs: number): number | null {
  if (nowMs - startMs >= durationMs) return null;
  const step = slowStartStepMs(durationMs);
  const next = startMs + (Math.floor((nowMs - startMs) / step) + 1) * step;
  return Math.min(next, startMs + durationMs);
}

/**
 * The table with the weights of ramping real servers (real server id → ramp start)
 * lowered to their step; destinations at weight 0 (failed, inhibited) stay at 0.
 *
 * @example
 * ```ts
 * // applySlowStart(table, vss, groups, new Map([["web/192.0.2.11:80", 0]]), 0): weight 1
 * ```
 */
export function applySlowStart(
  table: IpvsTable,
  virtualServers: readonly VirtualServerConfig[],
  groups: readonly VirtualServerGroupConfig[],
  ramps: ReadonlyMap<string, number>,
  nowMs: number,
): IpvsTable {
  if (ramps.size === 0) return table;
  const weights = new Map<string, (w: number) => number>();
  for (const vs of virtualServers) {
    for (const rs of vs.realServers) {
      const start = ramps.get(rs.id);
      if (start === undefined || rs.slowStartMs <= 0) continue;
      const f = (w: number) => slowStartWeight(w, nowMs - start, rs.slowStartMs);
      for (const s of servicesOf(vs, groups)) weights.set(`${serviceKey(s)}|${destKey(rs)}`, f);
    }
  }
  return table.map((e) => {
    const sk = serviceKey(e.service);
    return {
      service: e.service,
      dests: e.dests.map((d) => {
        const f = weights.get(`${sk}|${destKey(d)}`);
        return f === undefined || d.weight === 0 ? d : { ...d, weight: f(d.weight) };
      }),
    };
  });
}
