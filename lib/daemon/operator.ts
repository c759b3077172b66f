/**
 * The rules of the operator verbs (demote, promote, resume, maintenance): which
 * requests are refused and with what words, what a dual-stack name means, which
 * priority the engine should run with, and the sentences the operator and the log get.
 *
 * Pure, and apart from the daemon, so that the rules read as a list and are tested
 * without a loop. The daemon keeps the override bookkeeping (it lives as long as the
 * instance does) and queues the engine work; these functions decide, it carries out.
 *
 * @example
 * ```ts
 * const error = overrideRefusal("demote", "VI_1", 200, 150);
 * // "cannot demote VI_1 to 200: not below its priority 150 (promote raises it)"
 * ```
 *
 * @module
 */

import type { InstanceConfig } from "../config/schema.ts";
import type { OperatorResult, PriorityOverride } from "../control/api.ts";
import type { DaemonStatus } from "./status.ts";

/**
 * The lowest priority an operator may set: 0 is the release advert's.
 *
 * @example
 * ```ts
 * daemon.demote("VI_1", MIN_OPERATOR_PRIORITY);
 * ```
 */
export const MIN_OPERATOR_PRIORITY = 1;

/**
 * The highest priority an operator may set: 255 is the address owner's.
 *
 * @example
 * ```ts
 * daemon.promote("VI_1", MAX_OPERATOR_PRIORITY);
 * ```
 */
export const MAX_OPERATOR_PRIORITY = 254;

/** The address owner's priority, which never changes. */
const OWNER_PRIORITY = 255;

/**
 * Why a verb cannot run in this phase of the daemon, or null while it runs.
 *
 * @example
 * ```ts
 * notRunningError("new"); // "the daemon is not started"
 * notRunningError("running"); // null
 * ```
 */
export function notRunningError(phase: DaemonStatus["phase"]): string | null {
  if (phase === "running") return null;
  return `the daemon is ${phase === "new" ? "not started" : phase}`;
}

/**
 * The refusal for a name that is no instance, listing the ones there are.
 *
 * @example
 * ```ts
 * unknownInstanceError("VI_9", ["VI_1", "VI_2"]); // 'no instance "VI_9"; instances: VI_1, VI_2'
 * ```
 */
export function unknownInstanceError(name: string, names: readonly string[]): string {
  return `no instance ${JSON.stringify(name)}; instances: ${
    names.length > 0 ? names.join(", ") : "(none)"
  }`;
}

/**
 * The two halves of the dual-stack instance written as `name` in the file (its IPv4
 * half is also called `name`), or null when `name` is no such instance. A verb on
 * that name means the instance as written: both halves, so they stay alike.
 *
 * @example
 * ```ts
 * dualStackHalves(config.instances, "VI_1"); // ["VI_1", "VI_1@v6"]
 * ```
 */
export function dualStackHalves(
  cfgs: readonly InstanceConfig[],
  name: string,
): string[] | null {
  const halves = cfgs.filter((c) => c.dualStackOf === name).map((c) => c.name);
  return halves.length > 1 ? halves : null;
}

/**
 * Runs a verb on each half; both must agree to succeed (they share every setting).
 *
 * @example
 * ```ts
 * onBothHalves(["VI_1", "VI_1@v6"], (n) => ({ ok: true, message: `${n}: done` }));
 * // { ok: true, message: "VI_1: done\nVI_1@v6: done" }
 * ```
 */
export function onBothHalves(
  halves: readonly string[],
  verb: (name: string) => OperatorResult,
): OperatorResult {
  const results = halves.map(verb);
  const failed = results.find((r) => !r.ok);
  if (failed !== undefined) return failed;
  return {
    ok: true,
    message: results.map((r) => (r.ok ? r.message : "")).join("\n"),
  };
}

/**
 * Why `name` (configured priority `base`) cannot be demoted or promoted to `priority`,
 * or null when it can.
 *
 * @example
 * ```ts
 * overrideRefusal("promote", "VI_1", 300, 100);
 * // "priority must be an integer from 1 to 254, got 300"
 * ```
 */
export function overrideRefusal(
  kind: PriorityOverride["kind"],
  name: string,
  priority: number,
  base: number,
): string | null {
  if (base >= OWNER_PRIORITY) {
    return `${name} is the address owner (priority ${OWNER_PRIORITY}): its priority never changes`;
  }
  if (
    !Number.isInteger(priority) || priority < MIN_OPERATOR_PRIORITY ||
    priority > MAX_OPERATOR_PRIORITY
  ) {
    return `priority must be an integer from ${MIN_OPERATOR_PRIORITY} to ${MAX_OPERATOR_PRIORITY}, got ${priority}`;
  }
  if (kind === "demote" && priority >= base) {
    return `cannot demote ${name} to ${priority}: not below its priority ${base} (promote raises it)`;
  }
  if (kind === "promote" && priority <= base) {
    return `cannot promote ${name} to ${priority}: not above its priority ${base} (demote lowers it)`;
  }
  return null;
}

/**
 * The log line and the answer of an accepted demote or promote.
 *
 * @example
 * ```ts
 * overrideAccepted("demote", "VI_1", 150, 1).notice;
 * // "VI_1: demoted by the operator to priority 1 (configured 150)"
 * ```
 */
export function overrideAccepted(
  kind: PriorityOverride["kind"],
  name: string,
  base: number,
  priority: number,
): { notice: string; result: OperatorResult } {
  const what = kind === "demote"
    ? "a peer with preempt and a higher priority takes over within its Master_Down_Interval"
    : "with preempt it takes over from a lower-priority master within its Master_Down_Interval";
  return {
    notice: `${name}: ${kind}d by the operator to priority ${priority} (configured ${base})`,
    result: { ok: true, message: `${name}: priority ${base} -> ${priority} until resume; ${what}` },
  };
}

/**
 * The log line (null when there is nothing to clear) and the answer of a resume, where
 * `tracked` is the configured priority as the trackers move it.
 *
 * @example
 * ```ts
 * resumeOutcome("VI_1", { kind: "demote", priority: 1 }, 150).result;
 * // { ok: true, message: "VI_1: override cleared; priority 1 -> 150" }
 * ```
 */
export function resumeOutcome(
  name: string,
  override: PriorityOverride | undefined,
  tracked: number,
): { notice: string | null; result: OperatorResult } {
  if (override === undefined) {
    return {
      notice: null,
      result: { ok: true, message: `${name}: no override; priority stays ${tracked}` },
    };
  }
  return {
    notice: `${name}: ${override.kind} cleared by the operator; priority back to ${tracked}`,
    result: {
      ok: true,
      message: `${name}: override cleared; priority ${override.priority} -> ${tracked}`,
    },
  };
}

/**
 * The answer of a maintenance switch; `masters` are the instances Master now, which
 * maintenance on releases.
 *
 * @example
 * ```ts
 * maintenanceResult(true, ["VI_1"]);
 * // { ok: true, message: "maintenance on: every instance stays backup; releasing VI_1 (priority 0)" }
 * ```
 */
export function maintenanceResult(on: boolean, masters: readonly string[]): OperatorResult {
  if (!on) {
    return {
      ok: true,
      message: "maintenance off: every instance is a backup again and takes over as usual",
    };
  }
  return {
    ok: true,
    message: `maintenance on: every instance stays backup${
      masters.length > 0 ? `; releasing ${masters.join(", ")} (priority 0)` : ""
    }`,
  };
}

/**
 * The priority an instance should run with now: the operator's override, else the
 * trackers' (base plus weights), else the configured base.
 *
 * @example
 * ```ts
 * wantedPriority(undefined, 130, 150); // 130
 * wantedPriority({ kind: "demote", priority: 1 }, 130, 150); // 1
 * ```
 */
export function wantedPriority(
  override: PriorityOverride | undefined,
  tracked: number | undefined,
  base: number,
): number {
  return override?.priority ?? tracked ?? base;
}
