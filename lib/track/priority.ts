/**
 * What trackers do to a VRRP instance, as keepalived defines it: each tracker an
 * instance (or its sync group) refers to either adds a weight to the configured
 * priority or, with weight 0, holds the instance in FAULT while it fails. Pure: the
 * readings come in (from `hub.ts`), the effective priority, the faults and a line per
 * tracker for status come out; {@link trackerChange} says what moved between two such
 * verdicts, for the daemon's log and engine.
 *
 * The rules, per kind:
 * - `script` (a `vrrp_script` of any check type) and `process` (`vrrp_track_process`,
 *   up while at least `quorum` processes run): weight > 0 is added while up, weight < 0
 *   while down, weight 0 faults while down. A passing check that reports a dynamic
 *   weight (a `script` check with `dynamic`) adds that weight instead.
 * - `interface` (`track_interface`): the same, where no weight means 0 (fault while the
 *   link is down or the interface is missing).
 * - `file` (`vrrp_track_file`): the integer in the file times the weight is added;
 *   weight 0 faults while the value is not 0, and a product of -254 or less faults
 *   (keepalived's rule, so a file can be a maintenance switch). A product above 253
 *   counts as 253.
 * - a tracker of the instance's sync group ignores weights: failing means FAULT.
 *
 * A reference's weight (`track_script = [{ name, weight }]`) overrides the tracker's
 * own. The sum is added to the base and clamped to 1..254; the address owner (255)
 * keeps 255 whatever the weights, but still faults.
 *
 * @example
 * ```ts
 * const uses = trackerUses(config.instances[0], config);
 * const r = computePriority(150, uses, (kind, name) => hub.reading(kind, name));
 * r.effective; // 130 while chk_web (weight -20) fails
 * r.faults; // ["interface eth1"] while eth1 (no weight) is down
 * ```
 *
 * @module
 */

import type { Config, InstanceConfig, SyncGroupConfig, TrackRef } from "../config/schema.ts";

/**
 * A temporary priority set by `hacore demote` / `hacore promote`, until `hacore resume`
 * or a restart.
 *
 * @example
 * ```ts
 * const o: PriorityOverride = { kind: "demote", priority: 1 };
 * ```
 */
export interface PriorityOverride {
  readonly kind: "demote" | "promote";
  readonly priority: number;
}

/**
 * The kinds of tracker.
 *
 * @example
 * ```ts
 * const k: TrackerKind = "script";
 * ```
 */
export type TrackerKind = "script" | "interface" | "file" | "process";

/** Every kind, in the order status lists them. */
export const TRACKER_KINDS: readonly TrackerKind[] = ["script", "interface", "file", "process"];

/** Priorities a tracked (non-owner) instance can have. */
export const MIN_TRACKED_PRIORITY = 1;
/** Highest priority short of the owner's. */
export const MAX_TRACKED_PRIORITY = 254;
/** The address owner's priority, which trackers never move. */
export const OWNER_PRIORITY = 255;
/** A file tracker whose value × weight reaches this (or below) faults (keepalived). */
export const FILE_FAULT_PRODUCT = -254;
/** The most a file tracker adds (keepalived caps the product at 253). */
export const FILE_MAX_PRODUCT = 253;

/**
 * One tracker as one instance uses it: the weight in force, and whether it comes from
 * the instance's sync group.
 *
 * @example
 * ```ts
 * const use: TrackerUse = { kind: "script", name: "chk_web", weight: -20, group: null };
 * ```
 */
export interface TrackerUse {
  readonly kind: TrackerKind;
  readonly name: string;
  /** The reference's weight, else the tracker's own (interfaces: 0). Ignored for a group's. */
  readonly weight: number;
  /** The sync group the tracker is on, or null for the instance's own. */
  readonly group: string | null;
}

/**
 * What a probe says of one tracker now.
 *
 * @example
 * ```ts
 * const r: TrackerReading = { up: false, value: null, dynamicWeight: null, detail: "HTTP 503 (expected 200-299)" };
 * ```
 */
export interface TrackerReading {
  /**
   * script: the debounced check state; interface: the link is up; process: at least
   * `quorum` run. For a file, unused (its value decides).
   */
  readonly up: boolean;
  /** file: the integer in the file (0 when missing or unreadable); process: how many run. */
  readonly value: number | null;
  /** script: the dynamic weight of the last passing run, else null. */
  readonly dynamicWeight: number | null;
  /** One line for people: the last check's outcome, "link down", "3 running (quorum 2)". */
  readonly detail: string;
}

/**
 * One tracker of one instance in a status snapshot. Plain JSON.
 *
 * @example
 * ```ts
 * const t: TrackerStatus = {
 *   kind: "script", name: "chk_web", group: null, label: "script chk_web", state: "down",
 *   value: null, weight: -20, contribution: -20, fault: false,
 *   detail: "HTTP 503 (expected 200-299)",
 * };
 * ```
 */
export interface TrackerStatus {
  readonly kind: TrackerKind;
  readonly name: string;
  /** The sync group the tracker is on, or null for the instance's own. */
  readonly group: string | null;
  /** How faults and logs name it: `script chk_web`, `group G: file maint`. */
  readonly label: string;
  /** A file is "down" while it faults or pulls the priority down. */
  readonly state: "up" | "down";
  /** file: the number in the file; process: how many matching processes run; else null. */
  readonly value: number | null;
  /** The weight in force (a dynamic weight when the check reported one); 0 for a group's. */
  readonly weight: number;
  /** What it adds to the priority now: 0 when it faults, for the owner, and for a group's. */
  readonly contribution: number;
  /** It holds the instance in FAULT now. */
  readonly fault: boolean;
  readonly detail: string;
}

/**
 * The outcome for one instance.
 *
 * @example
 * ```ts
 * const r: PriorityResult = { base: 150, effective: 130, faults: [], trackers: [] };
 * ```
 */
export interface PriorityResult {
  readonly base: number;
  /** base + contributions, clamped to 1..254; the owner's 255 unchanged. */
  readonly effective: number;
  /** Labels of the trackers that fault now, in `trackers` order. */
  readonly faults: readonly string[];
  readonly trackers: readonly TrackerStatus[];
}

/**
 * How a tracker is named in faults, logs and the status table.
 *
 * @example
 * ```ts
 * trackerLabel("script", "chk_web", null); // "script chk_web"
 * trackerLabel("file", "maint", "G"); // "group G: file maint"
 * ```
 */
export function trackerLabel(kind: TrackerKind, name: string, group: string | null): string {
  return group === null ? `${kind} ${name}` : `group ${group}: ${kind} ${name}`;
}

/**
 * Every tracker an instance uses, with the weight in force: its own references first
 * (scripts, interfaces, files, processes), then those of its sync group. The config
 * must be validated (every reference names a defined tracker).
 *
 * @example
 * ```ts
 * trackerUses(config.instances[0], config);
 * // [{ kind: "script", name: "chk_web", weight: -20, group: null }, ...]
 * ```
 */
export function trackerUses(vi: InstanceConfig, config: Config): TrackerUse[] {
  const own = (weight: number | null, fallback: number) => weight ?? fallback;
  // Maps, not finds: an instance may track a thousand scripts.
  const weights = (list: readonly { name: string; weight: number }[]) =>
    new Map(list.map((t) => [t.name, t.weight]));
  const scripts = weights(config.scripts);
  const files = weights(config.trackFiles);
  const procs = weights(config.trackProcesses);
  const scriptWeight = (n: string) => scripts.get(n) ?? 0;
  const fileWeight = (n: string) => files.get(n) ?? 1;
  const procWeight = (n: string) => procs.get(n) ?? 0;
  const list = (
    kind: TrackerKind,
    refs: readonly TrackRef[],
    weightOf: (name: string) => number,
    group: string | null,
  ): TrackerUse[] =>
    refs.map((r) => ({
      kind,
      name: r.name,
      weight: group === null ? own(r.weight, weightOf(r.name)) : 0,
      group,
    }));
  const g: SyncGroupConfig | undefined = config.syncGroups.find((s) =>
    s.instances.includes(vi.name)
  );
  // keepalived: in a sync group, a member's weights turn into faults unless the group
  // says sync_group_tracking_weight (see SyncGroupConfig.trackingWeight).
  const weighted = g === undefined || g.trackingWeight;
  const w = (f: (name: string) => number) => weighted ? f : () => 0;
  const uses: TrackerUse[] = [
    ...list(
      "script",
      weighted ? vi.trackScripts : unweighted(vi.trackScripts),
      w(scriptWeight),
      null,
    ),
    ...list(
      "interface",
      weighted ? vi.trackInterfaces : unweighted(vi.trackInterfaces),
      () => 0,
      null,
    ),
    ...list("file", weighted ? vi.trackFiles : unweighted(vi.trackFiles), w(fileWeight), null),
    ...list(
      "process",
      weighted ? vi.trackProcesses : unweighted(vi.trackProcesses),
      w(procWeight),
      null,
    ),
  ];
  if (g !== undefined) {
    uses.push(
      ...list("script", g.trackScripts, scriptWeight, g.name),
      ...list("interface", g.trackInterfaces, () => 0, g.name),
      ...list("file", g.trackFiles, fileWeight, g.name),
      ...list("process", g.trackProcesses, procWeight, g.name),
    );
  }
  return uses;
}

function unweighted(refs: readonly TrackRef[]): TrackRef[] {
  return refs.map((r) => ({ name: r.name, weight: 0 }));
}

const NO_READING: TrackerReading = Object.freeze({
  up: false,
  value: null,
  dynamicWeight: null,
  detail: "no reading yet",
});

/** One tracker's verdict: its state, its weight in force, what it adds, whether it faults. */
function judge(
  use: TrackerUse,
  r: TrackerReading,
): { up: boolean; weight: number; add: number; fault: boolean } {
  if (use.kind === "file") {
    const value = r.value ?? 0;
    // A group's file has weight 0: any non-zero value faults, as keepalived does.
    const weight = use.group === null ? use.weight : 0;
    if (weight === 0) return { up: value === 0, weight, add: 0, fault: value !== 0 };
    const product = value * weight;
    if (product <= FILE_FAULT_PRODUCT) return { up: false, weight, add: 0, fault: true };
    const add = Math.min(product, FILE_MAX_PRODUCT);
    return { up: add >= 0, weight, add, fault: false };
  }
  if (use.group !== null || use.weight === 0) {
    const dyn = r.up && r.dynamicWeight !== null && use.group === null ? r.dynamicWeight : null;
    return { up: r.up, weight: dyn ?? 0, add: dyn ?? 0, fault: !r.up };
  }
  if (r.up && r.dynamicWeight !== null) {
    return { up: true, weight: r.dynamicWeight, add: r.dynamicWeight, fault: false };
  }
  const w = use.weight;
  const add = w > 0 ? (r.up ? w : 0) : (r.up ? 0 : w);
  return { up: r.up, weight: w, add, fault: false };
}

/**
 * The effective priority, the faults and a status line per tracker of one instance.
 * A tracker without a reading counts as down ("no reading yet").
 *
 * @example
 * ```ts
 * const uses = [{ kind: "script", name: "chk", weight: -20, group: null }] as const;
 * computePriority(150, uses, () => ({ up: false, value: null, dynamicWeight: null, detail: "" })).effective;
 * // 130
 * ```
 */
export function computePriority(
  base: number,
  uses: readonly TrackerUse[],
  readingOf: (kind: TrackerKind, name: string) => TrackerReading | undefined,
): PriorityResult {
  const owner = base >= OWNER_PRIORITY;
  let sum = 0;
  const faults: string[] = [];
  const trackers: TrackerStatus[] = [];
  for (const use of uses) {
    const r = readingOf(use.kind, use.name) ?? NO_READING;
    const v = judge(use, r);
    const label = trackerLabel(use.kind, use.name, use.group);
    const contribution = owner || v.fault ? 0 : v.add;
    sum += contribution;
    if (v.fault) faults.push(label);
    trackers.push({
      kind: use.kind,
      name: use.name,
      group: use.group,
      label,
      state: v.up && !v.fault ? "up" : "down",
      value: use.kind === "file" || use.kind === "process" ? r.value : null,
      weight: v.weight,
      contribution,
      fault: v.fault,
      detail: r.detail,
    });
  }
  const effective = owner
    ? OWNER_PRIORITY
    : Math.min(MAX_TRACKED_PRIORITY, Math.max(MIN_TRACKED_PRIORITY, base + sum));
  return { base, effective, faults, trackers };
}

/**
 * The compact form of what moved an instance's priority, for the status table and
 * logs: each tracker that contributes, as `name ±N`, joined by ", "; "" when none.
 *
 * @example
 * ```ts
 * contributionsText(result.trackers); // "chk_web -20, maint +5"
 * ```
 */
export function contributionsText(trackers: readonly TrackerStatus[]): string {
  return trackers.filter((t) => t.contribution !== 0).map((t) =>
    `${t.group === null ? t.name : `${t.group}:${t.name}`} ${
      t.contribution > 0 ? "+" : ""
    }${t.contribution}`
  ).join(", ");
}

/**
 * One tracker fault that started or ended, with its log line.
 *
 * @example
 * ```ts
 * const f: FaultChange = { tracker: "script chk_web", line: "VI_1: FAULT while script chk_web fails" };
 * ```
 */
export interface FaultChange {
  readonly tracker: string;
  readonly line: string;
}

/**
 * What moved between two verdicts on an instance.
 *
 * @example
 * ```ts
 * const c: TrackerChange = { priorityNotice: null, started: [], ended: [] };
 * ```
 */
export interface TrackerChange {
  /** The notice when the tracked priority moved; null when it did not. */
  readonly priorityNotice: string | null;
  /** Faults that started (a warning each), in the verdict's order. */
  readonly started: readonly FaultChange[];
  /** Faults that ended (a notice each). */
  readonly ended: readonly FaultChange[];
}

/**
 * Compares the verdict last fed (`before`; null before the first, which counts as
 * the configured priority `base` and no faults) with `next`. An operator `override`
 * in force is mentioned: the tracked priority then waits behind it.
 *
 * @example
 * ```ts
 * trackerChange("VI_1", null, next, 150, undefined).priorityNotice;
 * // "VI_1: tracked priority 150 -> 130 (script chk_web -20)"
 * ```
 */
export function trackerChange(
  name: string,
  before: PriorityResult | null,
  next: PriorityResult,
  base: number,
  override: PriorityOverride | undefined,
): TrackerChange {
  const was = before?.effective ?? base;
  let priorityNotice: string | null = null;
  if (next.effective !== was) {
    const why = contributionsText(next.trackers);
    const o = override;
    priorityNotice = `${name}: tracked priority ${was} -> ${next.effective}${
      why ? ` (${why})` : ""
    }${o ? `; the operator's ${o.kind} to ${o.priority} stays in force` : ""}`;
  }
  const old = new Set(before?.faults ?? []);
  const now = new Set(next.faults);
  const started: FaultChange[] = [];
  for (const f of now) {
    if (old.has(f)) continue;
    const t = next.trackers.find((x) => x.label === f);
    started.push({
      tracker: f,
      line: `${name}: FAULT while ${f} fails${t ? ` (${t.detail})` : ""}`,
    });
  }
  const ended: FaultChange[] = [];
  for (const f of old) {
    if (now.has(f)) continue;
    ended.push({ tracker: f, line: `${name}: ${f} recovered` });
  }
  return { priorityNotice, started, ended };
}
