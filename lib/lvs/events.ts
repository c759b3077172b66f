/**
 * What changes of health mean besides the table: the `notify_up` / `notify_down`
 * commands of real servers, and quorum decisions with their `quorum_up` /
 * `quorum_down` commands. Pure: the runtime feeds the verdicts before and after a
 * change and runs what comes out.
 *
 * @module
 */

import type { VirtualServerConfig } from "../config/lvs_schema.ts";
import { type HealthMap, liveWeight, realServerUp } from "./desired.ts";
import { initialQuorum, type QuorumChange, stepQuorum } from "./quorum.ts";

/** A real server that went up or down, with its command (null when none is configured). */
export interface RealServerTransition {
  readonly virtualServer: string;
  readonly realServer: string;
  readonly up: boolean;
  readonly command: string | null;
}

/**
 * The real servers whose up/down state differs between two health maps, in config order.
 *
 * @example
 * ```ts
 * // A server whose verdict went from up to down yields { up: false, command: notify_down }.
 * ```
 */
export function realServerTransitions(
  virtualServers: readonly VirtualServerConfig[],
  before: HealthMap,
  after: HealthMap,
): RealServerTransition[] {
  const out: RealServerTransition[] = [];
  for (const vs of virtualServers) {
    for (const rs of vs.realServers) {
      const was = realServerUp(vs, rs, before);
      const is = realServerUp(vs, rs, after);
      if (was === is) continue;
      out.push({
        virtualServer: vs.name,
        realServer: rs.id,
        up: is,
        command: is ? rs.notifyUp : rs.notifyDown,
      });
    }
  }
  return out;
}

/** The quorum of every virtual server after a health change, and what changed. */
export interface QuorumUpdate {
  readonly quorum: ReadonlyMap<string, boolean>;
  readonly changes: readonly (QuorumChange & { readonly virtualServer: string })[];
}

/**
 * Steps the quorum of every virtual server with the live weight `health` gives. A
 * virtual server new to `quorum` (start, reload) gets its initial state, announced only
 * when lost: whatever watches `quorum_down` learns that a pool starts closed, while an
 * open pool at start is the normal case and says nothing.
 *
 * @example
 * ```ts
 * // updateQuorum(config.virtualServers, new Map(), health) → the initial quorum of each.
 * ```
 */
export function updateQuorum(
  virtualServers: readonly VirtualServerConfig[],
  quorum: ReadonlyMap<string, boolean>,
  health: HealthMap,
): QuorumUpdate {
  const next = new Map<string, boolean>();
  const changes: (QuorumChange & { virtualServer: string })[] = [];
  for (const vs of virtualServers) {
    const weight = liveWeight(vs, health);
    const was = quorum.get(vs.name);
    if (was === undefined) {
      const up = initialQuorum(vs, weight);
      next.set(vs.name, up);
      if (!up) {
        changes.push({ virtualServer: vs.name, event: "quorum_down", command: vs.quorumDown });
      }
      continue;
    }
    const step = stepQuorum(vs, was, weight);
    next.set(vs.name, step.up);
    if (step.change !== null) changes.push({ virtualServer: vs.name, ...step.change });
  }
  return { quorum: next, changes };
}
