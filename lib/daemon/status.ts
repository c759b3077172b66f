/**
 * What `status()` and `detail()` show, built: the pure functions that arrange an
 * instance's runtime record, its engine state and what the last reconcile found into
 * the snapshot types of the control contract (`lib/control/status.ts`).
 *
 * The types live with the contract, not here, so that the control room (server, client,
 * metrics) never imports the daemon; the daemon builds them, the CLI formats them.
 * Building is a function of its inputs: the daemon gathers the facts, these functions
 * only arrange them.
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
import type {
  DaemonStatus,
  ForeignSenderStatus,
  InstanceStatus,
  ProcessStatus,
  VipStatus,
} from "../control/status.ts";
import type { InstanceConfig } from "../config/schema.ts";
import type { TrackerStatus } from "../track/priority.ts";
import type { RouterState } from "../vrrp/types.ts";
import { bump } from "./common.ts";
import type { Instance } from "./instance.ts";
import { vipKey } from "./reconcile.ts";
import type { ClaimRecord } from "./vip_guard.ts";
import { heapLiveBytes } from "../sys/heap_housekeeping.ts";

/** Re-exported so that the daemon's callers keep one import for the daemon and its snapshots. */
export type { DaemonStatus, ForeignSenderStatus, InstanceStatus, ProcessStatus, VipStatus };

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
  "vipConflicts",
] as const;

/**
 * The process section of status from one memory reading: taken on request only (a
 * status call or a scrape), never on the daemon's loop, so it costs nothing between
 * them. The defaults read this process; tests pass a reading.
 *
 * @example
 * ```ts
 * processStatus().heapUsedBytes; // e.g. 9_412_000
 * processStatus({ rss: 1, heapUsed: 2, heapTotal: 3, external: 4 }, 42).rssBytes; // 1
 * ```
 */
export function processStatus(
  usage: Pick<Deno.MemoryUsage, "rss" | "heapUsed" | "heapTotal" | "external"> = Deno
    .memoryUsage(),
  pid: number = Deno.pid,
  heapLive: number | null = heapLiveBytes(),
): ProcessStatus {
  return {
    pid,
    rssBytes: usage.rss,
    heapUsedBytes: usage.heapUsed,
    heapTotalBytes: usage.heapTotal,
    externalBytes: usage.external,
    ...(heapLive === null ? {} : { heapLiveBytes: heapLive }),
  };
}

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
  /** The VIP guard's last conflict for the instance (absent: no guard). */
  readonly vipClaim?: ClaimRecord | null;
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
    ...(input.vipClaim === undefined ? {} : {
      vipClaim: input.vipClaim === null
        ? null
        : { ...input.vipClaim, at: wallIso(input.vipClaim.atMs) },
    }),
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
