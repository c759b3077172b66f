/**
 * What `status()` and `detail()` show: the snapshot types (plain JSON, as the control
 * socket serves them) and the pure functions that build them from an instance's
 * runtime record, its engine state and what the last reconcile found.
 *
 * Separate from the daemon so that the shape people and scripts read is defined in one
 * place, apart from the loop, and so that building it is a function of its inputs: the
 * daemon gathers the facts, these functions only arrange them.
 *
 * @example
 * ```ts
 * const s = instanceStatus({ inst, router, now, held, override: null, trackers: [], wallIso });
 * `${s.name} ${s.state} prio ${s.priority.effective}`;
 * ```
 *
 * @module
 */

import type {
  HookRun,
  InstanceDetail,
  PriorityOverride,
  TransitionRecord,
} from "../control/api.ts";
import type { InstanceConfig } from "../config/schema.ts";
import type { TrackerStatus } from "../track/priority.ts";
import type { Family } from "../net/addr.ts";
import type { ForeignReason } from "../vrrp/foreign.ts";
import type { RouterState, RouterStateName, TransitionReason } from "../vrrp/types.ts";
import { bump } from "./common.ts";
import type { Instance } from "./instance.ts";
import { vipKey } from "./reconcile.ts";

/**
 * One VIP in a status snapshot.
 *
 * @example
 * ```ts
 * const v: VipStatus = { address: "192.0.2.100", prefix: 24, dev: "eth0", excluded: false, held: true };
 * ```
 */
export interface VipStatus {
  readonly address: string;
  readonly prefix: number;
  readonly dev: string;
  /** From `virtual_ipaddress_excluded`. */
  readonly excluded: boolean;
  /** Present in the kernel as hacore's, per the last reconcile. */
  readonly held: boolean;
}

/**
 * Another router advertising an instance's VRID (same link, same family) with other
 * settings: a split-brain risk, listed until it agrees again or has been quiet for
 * max(3 × its interval, 10 s). See `lib/vrrp/foreign.ts`.
 *
 * @example
 * ```ts
 * const f: ForeignSenderStatus = daemon.status().instances[0].foreignSenders[0];
 * `${f.source}: ${f.differences.join("; ")} (${f.count} adverts)`;
 * ```
 */
export interface ForeignSenderStatus {
  readonly source: string;
  /** What differs, as codes: version, addresses, auth, interval. */
  readonly reasons: readonly ForeignReason[];
  /** What differs, in words: `VIPs 192.0.2.10,192.0.2.11 vs ours 192.0.2.10`. */
  readonly differences: readonly string[];
  /** Priority and interval (ms) of its last advert. */
  readonly priority: number;
  readonly intervalMs: number;
  /** Conflicting adverts from it since it started conflicting. */
  readonly count: number;
  /** Clock times, how long ago, and wall times (ISO 8601) of its first and last advert. */
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  readonly firstSeenAgoMs: number;
  readonly lastSeenAgoMs: number;
  readonly firstSeen: string;
  readonly lastSeen: string;
}

/**
 * One instance in a status snapshot. Plain JSON.
 *
 * @example
 * ```ts
 * const s: InstanceStatus = daemon.status().instances[0];
 * `${s.name} ${s.state} prio ${s.priority.effective}`;
 * ```
 */
export interface InstanceStatus {
  readonly name: string;
  readonly interface: string;
  readonly vrid: number;
  readonly version: number;
  readonly family: Family;
  readonly state: RouterStateName;
  /** Clock time of entering the state, and how long ago that was. */
  readonly sinceMs: number;
  readonly inStateMs: number;
  readonly priority: { readonly base: number; readonly effective: number };
  readonly faults: readonly string[];
  readonly lastMaster:
    | { readonly ip: string; readonly priority: number; readonly agoMs: number }
    | null;
  readonly advertIntervalMs: number;
  readonly masterAdvertIntervalMs: number;
  readonly transport: "multicast" | "unicast";
  readonly holdingVips: boolean;
  readonly vips: readonly VipStatus[];
  readonly lastTransition:
    | {
      readonly from: RouterStateName;
      readonly to: RouterStateName;
      readonly reason: TransitionReason;
      readonly detail: string;
      readonly atMs: number;
    }
    | null;
  /** Non-zero counters only: the engine's (RFC 6527 names) plus the daemon's own. */
  readonly counters: Readonly<Record<string, number>>;
  /** The operator's demote/promote in force, or null. */
  readonly override: PriorityOverride | null;
  /** In maintenance: stays Backup, never takes over. */
  readonly maintenance: boolean;
  /** Other routers advertising this VRID with other settings, oldest first. */
  readonly foreignSenders: readonly ForeignSenderStatus[];
  /** Every tracker the instance (or its sync group) uses, as it stands now. */
  readonly trackers: readonly TrackerStatus[];
}

/**
 * A whole status snapshot, as the control socket will serve it.
 *
 * @example
 * ```ts
 * console.log(JSON.stringify(daemon.status(), null, 2));
 * ```
 */
export interface DaemonStatus {
  readonly phase: "new" | "running" | "stopping" | "stopped";
  readonly nowMs: number;
  readonly instances: readonly InstanceStatus[];
  /** Non-zero node-wide counters (drops no instance could own, internal errors). */
  readonly counters: Readonly<Record<string, number>>;
  /** Current conflicts, described. */
  readonly conflicts: readonly string[];
  /** Operator maintenance is on (see {@link DaemonControl.maintenance}). */
  readonly maintenance: boolean;
  /** The config file the daemon runs (and reloads). */
  readonly configFile: string;
  /** Wall time of `start()` (of construction, before that), ISO 8601. */
  readonly startedAtWall: string;
  /** hacore's version. */
  readonly version: string;
}

/** Counters the daemon keeps per instance beside the engine's; shown even at zero. */
const INSTANCE_EXTRA_COUNTERS = [
  "vridErrors",
  "sendErrors",
  "vipsRestored",
  "vipAddErrors",
  "vipRemoveErrors",
  "announceErrors",
  "foreignAdverts",
  "reannouncements",
] as const;

/** How many transitions {@link instanceDetail} lists. */
const HISTORY_LENGTH = 50;

/**
 * The non-zero counters of several records, merged (a name in more than one is summed).
 *
 * @example
 * ```ts
 * nonZeroCounters({ a: 1, b: 0 }, { a: 2, c: 3 }); // { a: 3, c: 3 }
 * ```
 */
export function nonZeroCounters(...sources: readonly object[]): Record<string, number> {
  const counters: Record<string, number> = {};
  for (const source of sources) {
    // Counter records (the engine's interfaces included) hold numbers only.
    for (const [k, v] of Object.entries(source) as [string, number][]) {
      if (v !== 0) bump(counters, k, v);
    }
  }
  return counters;
}

/**
 * What {@link instanceStatus} is built from.
 *
 * @example
 * ```ts
 * const input: InstanceStatusInput = { inst, router, now, held, override: null, trackers: [], wallIso };
 * ```
 */
export interface InstanceStatusInput {
  readonly inst: Instance;
  /** Its engine state (live, or retiring). */
  readonly router: RouterState;
  /** The daemon's clock now. */
  readonly now: number;
  /** `vipKey` of the wanted VIPs present in the kernel, per the last reconcile. */
  readonly held: ReadonlySet<string>;
  readonly override: PriorityOverride | null;
  /** The instance's trackers as they stand now (empty before their first verdict). */
  readonly trackers: readonly TrackerStatus[];
  /** Labels a clock time with its wall time (ISO 8601). */
  readonly wallIso: (atMs: number) => string;
}

/**
 * One instance's status snapshot.
 *
 * @example
 * ```ts
 * instanceStatus({ inst, router, now, held, override: null, trackers: [], wallIso }).state;
 * ```
 */
export function instanceStatus(input: InstanceStatusInput): InstanceStatus {
  const { inst, router: r, now, held, wallIso } = input;
  const counters = nonZeroCounters(r.counters, inst.extra);
  const vip = (excluded: boolean) => (v: InstanceConfig["vips"][number]): VipStatus => ({
    address: v.address,
    prefix: v.prefix,
    dev: v.dev,
    excluded,
    held: r.holdingVips && held.has(vipKey(v.dev, v.address)),
  });
  const t = r.lastTransition;
  return {
    name: inst.cfg.name,
    interface: inst.cfg.interface,
    vrid: inst.cfg.vrid,
    version: inst.cfg.version,
    family: inst.cfg.family,
    state: r.state,
    sinceMs: r.sinceMs,
    inStateMs: now - r.sinceMs,
    priority: { base: inst.rc.priority, effective: r.priority },
    faults: [...r.faults],
    lastMaster: r.lastMaster === null ? null : {
      ip: r.lastMaster.ip,
      priority: r.lastMaster.priority,
      agoMs: now - r.lastMaster.atMs,
    },
    advertIntervalMs: inst.rc.advertIntervalMs,
    masterAdvertIntervalMs: r.masterAdverIntervalMs,
    transport: inst.peers.size > 0 ? "unicast" : "multicast",
    holdingVips: r.holdingVips,
    vips: [...inst.cfg.vips.map(vip(false)), ...inst.cfg.excludedVips.map(vip(true))],
    lastTransition: t === null
      ? null
      : { from: t.from, to: t.to, reason: t.reason, detail: t.detail, atMs: t.atMs },
    counters,
    override: input.override,
    maintenance: r.maintenance,
    trackers: input.trackers,
    foreignSenders: inst.foreign.map((f): ForeignSenderStatus => ({
      source: f.src,
      reasons: f.differences.map((d) => d.reason),
      differences: f.differences.map((d) => d.text),
      priority: f.priority,
      intervalMs: f.intervalMs,
      count: f.count,
      firstSeenMs: f.firstSeenMs,
      lastSeenMs: f.lastSeenMs,
      firstSeenAgoMs: now - f.firstSeenMs,
      lastSeenAgoMs: now - f.lastSeenMs,
      firstSeen: wallIso(f.firstSeenMs),
      lastSeen: wallIso(f.lastSeenMs),
    })),
  };
}

/**
 * What {@link instanceDetail} is built from.
 *
 * @example
 * ```ts
 * const input: InstanceDetailInput = { inst, router, summary, override: null, hooks: [], wallIso };
 * ```
 */
export interface InstanceDetailInput {
  readonly inst: Instance;
  readonly router: RouterState;
  /** The instance's {@link instanceStatus}. */
  readonly summary: InstanceStatus;
  readonly override: PriorityOverride | null;
  /** Recent hook runs of the instance and of its sync group, in any order. */
  readonly hooks: readonly HookRun[];
  readonly wallIso: (atMs: number) => string;
}

/**
 * One instance in full: the summary, its last 50 transitions with wall times, every
 * counter (the daemon's own shown even at zero), the override and the hook runs,
 * oldest first.
 *
 * @example
 * ```ts
 * instanceDetail({ inst, router, summary, override: null, hooks: [], wallIso }).history.at(-1);
 * ```
 */
export function instanceDetail(input: InstanceDetailInput): InstanceDetail {
  const { router: r, wallIso } = input;
  const history = r.history.slice(-HISTORY_LENGTH).map((t): TransitionRecord => ({
    from: t.from,
    to: t.to,
    reason: t.reason,
    detail: t.detail,
    atMs: t.atMs,
    wallTime: wallIso(t.atMs),
  }));
  const counters: Record<string, number> = { ...r.counters };
  for (const k of INSTANCE_EXTRA_COUNTERS) counters[k] ??= 0;
  for (const [k, v] of Object.entries(input.inst.extra)) bump(counters, k, v);
  const hooks = [...input.hooks];
  hooks.sort((a, b) => (a.startedAt < b.startedAt ? -1 : a.startedAt > b.startedAt ? 1 : 0));
  return {
    summary: input.summary,
    history,
    counters,
    override: input.override,
    hooks,
  };
}
