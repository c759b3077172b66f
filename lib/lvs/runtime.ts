/**
 * The LVS runtime: the daemon subsystem that keeps the kernel's IPVS table as the config
 * and the health checks want it. It is the thin shell around the pure core of this
 * folder: verdicts come from the daemon's check service (one check per real server and
 * check, owner `"lvs"`), the wanted table from `desiredTable`, the operations from `plan`
 * against the last known kernel table, and they go out through the `IpvsPort` in order.
 *
 * - A verdict reaches the kernel in the loop turn that hears it: the listener only marks
 *   the runtime dirty (through the loop's queue) and `advance` applies the plan.
 * - The known kernel table is the last dump with each applied operation folded in; a
 *   periodic dump ({@link LVS_SYNC_INTERVAL_MS}) refreshes the counters shown in status
 *   and metrics, and heals drift (a destination deleted by hand is restored, counted).
 *   It is read in slices across loop turns ({@link DUMP_SLICE_SERVICES}, {@link DUMP_SLICE_MS}),
 *   so a big table never holds the daemon loop (a Master's adverts); what is applied
 *   meanwhile goes out at once and is folded into what the dump has read.
 * - A failed operation is logged with the kernel's error (rate-limited per entry),
 *   counted, and retried by a full dump and plan a second later: never a tight loop.
 * - Only services the config owns are touched; at start matching entries are adopted
 *   (no "already exists"); at close the owned services are removed, after the `omega`
 *   notifiers ran at shutdown.
 * - `ha_suspend`: the checks of a virtual server run only while this node holds one of
 *   its addresses (kernel address events keep the set of local addresses).
 *
 * It imports nothing of the daemon: what it needs of it (the loop's queue, the notifier,
 * the local addresses, the rate-limited log) comes in {@link LvsRuntimeDeps}.
 *
 * @module
 */

import type { CheckDefinition, CheckSource, CheckSubscription } from "../check/service.ts";
import type { CheckStatus } from "../check/scheduler.ts";
import type { RealServerConfig, VirtualServerConfig } from "../config/lvs_schema.ts";
import { virtualServerChanges } from "../config/diff.ts";
import type { Config } from "../config/schema.ts";
import type { OperatorResult, ReloadOutcome } from "../control/api.ts";
import {
  type DrainStatus,
  type DriftRecord,
  LVS_DRIFT_KEPT,
  type LvsStatus,
  type RealServerCheckStatus,
  type RealServerStatus,
  type VirtualServerStatus,
} from "../control/status.ts";
import type { Logger } from "../log.ts";
import type { IpvsOpOutcome, IpvsPort, KernelEvent } from "../sys/ports.ts";
import {
  IPPROTO_SCTP,
  IPPROTO_UDP,
  type IpvsDest,
  type IpvsService,
  type IpvsStats,
} from "../sys/netlink/ipvs_types.ts";
import {
  checksActive,
  desiredTable,
  type HealthMap,
  type IpvsEntry,
  type IpvsTable,
  liveWeight,
  omegaNotifications,
  type RealServerHealth,
  realServerUp,
  servicesOf,
} from "./desired.ts";
import { type QuorumUpdate, realServerTransitions, updateQuorum } from "./events.ts";
import { destKey, type Op, ownedKeys, plan, sameEntry, serviceKey } from "./plan.ts";
import {
  type DrainRecord,
  entryKey,
  type HeldOut,
  type LvsPlan,
  nextDrainDeadlineMs,
  parseEndpoint,
  serviceText,
} from "./drain.ts";
import {
  type ConfigPlanInputs,
  configServiceKeys,
  heldEntries,
  planConfig,
  startOwned,
} from "./plan_config.ts";
import { type ScopedServers, scopePlanInputs } from "./reload_scope.ts";
import { foldOps, opsSummary, withCountersOf } from "./fold.ts";
import { DeadLinks, readProcRoutes } from "./dead_links.ts";
import type { LinkRoute } from "./link_routes.ts";
import { readOwnership, writeOwnership } from "./ownership.ts";
import { slowStartNextMs } from "./slow_start.ts";

export { foldOp, foldOps, opsSummary } from "./fold.ts";

/** Between two full dumps of the kernel's table (counters for status, drift healing). */
export const LVS_SYNC_INTERVAL_MS = 5_000;
/**
 * The periodic comparison waits at least this many times what the last one cost (dump
 * and plan), so it never takes more than about 5 % of a CPU, however large the table.
 */
export const SYNC_COST_SHARE = 20;
/**
 * The wait before the next periodic comparison of the kernel's table: `intervalMs`, or
 * {@link SYNC_COST_SHARE} times what the last one cost when that is longer.
 *
 * @example
 * ```ts
 * syncPaceMs(5000, 40); // 5000
 * syncPaceMs(5000, 2500); // 50000: a 40,000-destination dump in a small guest
 * ```
 */
export function syncPaceMs(intervalMs: number, costMs: number): number {
  return Math.max(intervalMs, costMs * SYNC_COST_SHARE);
}

/**
 * A dump of the kernel's table is read in slices across loop turns, so that the VRRP
 * subsystem runs between them (a Master's adverts must not wait for a 1,000-service
 * read): each turn reads at most this many services' destinations...
 */
export const DUMP_SLICE_SERVICES = 32;
/** ...and stops a slice early once it has taken this long. */
export const DUMP_SLICE_MS = 5;

/** After a failed operation or dump, the full dump and plan that retries it comes this late. */
export const LVS_RETRY_MS = 1_000;
/** While a drain is in progress, the kernel's counters are dumped this often. */
export const LVS_DRAIN_POLL_MS = 300;
/** The maintenance directory is read this often. */
export const LVS_MAINTENANCE_POLL_MS = 1_000;
/** Operations of one apply logged one line each; the rest are summed up in one line. */
export const OPS_LOGGED_EACH = 10;

/** A table by service key, memoized per table: status looks up every virtual server's. */
const indexes = new WeakMap<IpvsTable, ReadonlyMap<string, IpvsEntry>>();
function byService(table: IpvsTable): ReadonlyMap<string, IpvsEntry> {
  let index = indexes.get(table);
  if (index === undefined) {
    index = new Map(table.map((e) => [serviceKey(e.service), e]));
    indexes.set(table, index);
  }
  return index;
}

function entriesOf(index: ReadonlyMap<string, IpvsEntry>, keys: readonly string[]): IpvsEntry[] {
  const out: IpvsEntry[] = [];
  for (const k of keys) {
    const e = index.get(k);
    if (e !== undefined) out.push(e);
  }
  return out;
}

/** The check service owner name of the virtual servers' checks. */
export const LVS_CHECK_OWNER = "lvs";

/**
 * A change to tell the outside world about, keepalived's way: a real server up or down
 * (its `notify_up` / `notify_down`, run with exactly the arguments written), or a
 * virtual server's quorum (its `quorum_up` / `quorum_down`); `fifoLine` is keepalived's
 * line for the notify FIFO (`RS <rs> <vs> UP`, `VS <vs> DOWN`), without the newline.
 *
 * @example
 * ```ts
 * const n: LvsNotice = {
 *   kind: "real_server", virtualServer: "web", realServer: "web/192.0.2.11:80", up: false,
 *   hook: "notify_down", command: "/bin/rs-down", fifoLine: "RS [192.0.2.11]:tcp:80 [192.0.2.100]:tcp:80 DOWN",
 * };
 * ```
 */
export interface LvsNotice {
  readonly kind: "real_server" | "quorum";
  readonly virtualServer: string;
  /** The real server's id for `real_server`; null for `quorum`. */
  readonly realServer: string | null;
  readonly up: boolean;
  readonly hook: "notify_up" | "notify_down" | "quorum_up" | "quorum_down";
  /** The command line configured for it; null when none is (the FIFO line still goes out). */
  readonly command: string | null;
  readonly fifoLine: string;
}

/** A rate-limited log line: one per `key` per window (the daemon's `RateLog`). */
export type LvsRateLog = (key: string, level: "debug" | "warn" | "error", msg: string) => void;

/**
 * What the runtime needs from the daemon.
 *
 * @example
 * ```ts
 * const deps: LvsRuntimeDeps = {
 *   config, ipvs, checks, clock, log, rateLog, notify: (n) => notifier.notifyLvs(n),
 *   enqueue: (run) => inbox.push({ kind: "control", run, cancel: () => {} }),
 *   localAddresses: async () => (await addresses.list()).map((a) => a.address),
 * };
 * ```
 */
export interface LvsRuntimeDeps {
  readonly config: Config;
  readonly ipvs: IpvsPort;
  readonly checks: CheckSource;
  readonly clock: { nowMs(): number };
  readonly log: Logger;
  readonly rateLog: LvsRateLog;
  /** Runs or queues the hooks and FIFO line of a notice; must return at once. */
  readonly notify: (notice: LvsNotice) => void;
  /** Queues work for the loop (a verdict heard outside it). */
  readonly enqueue: (run: () => void) => void;
  /** The addresses configured on this node now (for `ha_suspend`). */
  readonly localAddresses: () => Promise<readonly string[]>;
  /** The routing table, to tell which link reaches a real server; `/proc/net` by default. */
  readonly readRoutes?: () => Promise<readonly LinkRoute[]>;
  /** Overrides {@link LVS_SYNC_INTERVAL_MS}. */
  readonly syncIntervalMs?: number;
  /** Overrides {@link LVS_RETRY_MS}. */
  readonly retryMs?: number;
  /** Overrides {@link LVS_DRAIN_POLL_MS}. */
  readonly drainPollMs?: number;
  /** Overrides {@link LVS_MAINTENANCE_POLL_MS}. */
  readonly maintenancePollMs?: number;
  /**
   * The ownership file (`/run/hacore/NAME.lvs.json`); null or absent: ownership is kept
   * in memory only (what this run created or adopted).
   */
  readonly stateFile?: string | null;
  /** Leave the table in place at stop (`--keep-lvs`); else `[lvs] keep_on_stop`. */
  readonly keepOnStop?: boolean;
}

/** Counter names of the runtime (status `lvs.counters`, metrics). */
export const LVS_COUNTERS = [
  "opsApplied",
  "opsFailed",
  "driftRepairs",
  "dumpsFailed",
  "drainsStarted",
  "drainsCompleted",
  "drainsDeadlineHit",
] as const;

/**
 * The check id of a real server's `index`th check among the runtime's checks.
 *
 * @example
 * ```ts
 * lvsCheckId("web/192.0.2.11:80", 0); // "web/192.0.2.11:80#0"
 * ```
 */
export function lvsCheckId(realServerId: string, index: number): string {
  return `${realServerId}#${index}`;
}

/**
 * The scheduler's pacing of one real server check, keepalived's way: every `delay_loop`
 * while healthy; a failure is retried `retry` times `delay_before_retry` apart before
 * the server counts as down (fall = retry + 1); one pass brings it back; with `alpha`
 * it starts down; the first run comes within `warmup`.
 *
 * @example
 * ```ts
 * // { intervalMs: 1000, retry: 1, delayBeforeRetryMs: 300, ... } → fall 2, retryIntervalMs 300
 * ```
 */
export function lvsCheckDefinition(
  vs: VirtualServerConfig,
  rs: RealServerConfig,
  index: number,
): CheckDefinition {
  const c = rs.checks[index];
  return {
    spec: c.check,
    timing: {
      intervalMs: c.intervalMs,
      timeoutMs: c.timeoutMs,
      rise: 1,
      fall: c.retry + 1,
      initialUp: !vs.alpha,
      retryIntervalMs: c.delayBeforeRetryMs,
      warmupMs: c.warmupMs,
      // A refused connection is a dead backend, not a passing hiccup: out at once.
      failFastOnRefused: true,
      // A killed server process closes the idle connection held to it: checked at once.
      watchConnection: true,
    },
  };
}

/**
 * keepalived's text for a virtual server in its FIFO lines and logs (`FMT_VS`):
 * `[192.0.2.100]:tcp:80`, `FWM 5`, `[group]`.
 *
 * @example
 * ```ts
 * // formatVs({ target: { kind: "fwmark", fwmark: 5 }, ... }) === "FWM 5"
 * ```
 */
export function formatVs(vs: VirtualServerConfig): string {
  const t = vs.target;
  if (t.kind === "fwmark") return `FWM ${t.fwmark}`;
  if (t.kind === "group") return `[${t.group}]`;
  return `[${t.address}]:${vs.protocol}:${t.port}`;
}

/**
 * keepalived's text for a real server (`FMT_RS`): `[192.0.2.11]:tcp:80`.
 *
 * @example
 * ```ts
 * // formatRs(vs, rs) === "[192.0.2.11]:tcp:80"
 * ```
 */
export function formatRs(vs: VirtualServerConfig, rs: { address: string; port: number }): string {
  return `[${rs.address}]:${vs.protocol}:${rs.port}`;
}

/**
 * A virtual server's endpoint for people: `192.0.2.100:80`, `[2001:db8::1]:80`,
 * `fwmark 5`, `group NAME`.
 */
export function vsEndpoint(vs: VirtualServerConfig): string {
  const t = vs.target;
  if (t.kind === "fwmark") return `fwmark ${t.fwmark}`;
  if (t.kind === "group") return `group ${t.group}`;
  return hostPort(t.address, t.port);
}

function hostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * The LVS subsystem; see the module notes. Implements the daemon's `Subsystem` (its
 * shape, not its import: `lib/lvs` does not depend on `lib/daemon`).
 *
 * @example
 * ```ts
 * const lvs = new LvsRuntime(deps);
 * await lvs.start(guard); // dump, adopt, apply
 * // in the loop: lvs.nextDeadlineMs(), lvs.onKernel(e), await lvs.advance()
 * lvs.shutdown(); await lvs.close(); // omega notifiers, then the owned services go
 * ```
 */
export class LvsRuntime {
  readonly name = "lvs";
  readonly #d: LvsRuntimeDeps;
  readonly #syncMs: number;
  readonly #retryMs: number;
  #config: Config;
  #sub: CheckSubscription | null = null;
  /** Real server id → verdict, for servers whose checks have said something. */
  #health = new Map<string, RealServerHealth>();
  #quorum = new Map<string, boolean>();
  /** The kernel's table as last dumped, with every applied operation folded in. */
  #kernel: IpvsTable = [];
  /** Service keys hacore may delete: those it wanted last (and, over a reload, before). */
  #owned = new Set<string>();
  #local = new Set<string>();
  /** Links without carrier: the real servers reached through one are down at once. */
  readonly #links: DeadLinks;
  /** Virtual server names whose checks run now. */
  #active = new Set<string>();
  /** The checks last handed to the subscription, by check id. */
  #checkDefs = new Map<string, CheckDefinition>();
  #dirty = false;
  /** The last plan was applied whole: until something moves, nothing more is intended. */
  #settledPlan = false;
  /**
   * A drain began or the config changed: plan against a fresh dump, so the connections a
   * drain waits for are counted now, not at the last periodic dump.
   */
  #dumpSoon = false;
  #addressesStale = false;
  /**
   * A reload's plan, narrowed to the virtual servers it changed, for the next turn to
   * apply; dropped when a full plan comes first (it covers the reload too).
   */
  #reloadOps: readonly Op[] | null = null;
  #nextSyncMs: number;
  /** The dump being read in slices, one per loop turn; null when none is. */
  #dump: SlicedDump | null = null;
  #retryAtMs: number | null = null;
  #lastDumpMs: number | null = null;
  /** When the last dump was tried (a failed one too): the drain poll counts from it. */
  #lastDumpTryMs: number | null = null;
  #stopping = false;
  #closed = false;
  /** Drains in progress (the last plan's). */
  #drains: ReadonlyMap<string, DrainRecord> = new Map();
  /** Real server id → drain deadline (ms after it starts; null = the default). */
  #operatorHeld = new Map<string, number | null>();
  /** `IP:PORT` names of the maintenance directory's files, canonical. */
  #maintenance = new Set<string>();
  #nextMaintenanceMs: number | null = null;
  /** Real server id → when its slow start began. */
  #ramps = new Map<string, number>();
  /** When the next step of a slow start is due (set after each plan). */
  #rampDueMs: number | null = null;
  #drift: DriftRecord[] = [];
  /** The ownership file's content as last written (sorted, joined), to write on change only. */
  #ownedWritten: string | null = null;
  readonly #counters: Record<string, number> = Object.fromEntries(
    LVS_COUNTERS.map((c) => [c, 0]),
  );

  /**
   * A runtime for `deps.config`; nothing is read or subscribed until {@link start}.
   *
   * @example
   * ```ts
   * new LvsRuntime(deps);
   * ```
   */
  constructor(deps: LvsRuntimeDeps) {
    this.#d = deps;
    this.#config = deps.config;
    this.#syncMs = deps.syncIntervalMs ?? LVS_SYNC_INTERVAL_MS;
    this.#retryMs = deps.retryMs ?? LVS_RETRY_MS;
    this.#nextSyncMs = deps.clock.nowMs() + this.#syncMs;
    this.#links = new DeadLinks(deps.readRoutes ?? readProcRoutes);
  }

  get #drainPollMs(): number {
    return this.#d.drainPollMs ?? LVS_DRAIN_POLL_MS;
  }

  get #keepOnStop(): boolean {
    return this.#d.keepOnStop ?? this.#config.lvs.keepOnStop;
  }

  /**
   * The kernel's table as the runtime knows it: the last dump with every operation
   * applied since folded in (what verdicts are planned against). For tests and
   * debugging: it must equal the kernel's whenever nobody edited the table by hand.
   */
  knownTable(): IpvsTable {
    return this.#kernel;
  }

  /** The config it runs now. */
  get config(): Config {
    return this.#config;
  }

  /**
   * Reads the local addresses, subscribes the checks, dumps the kernel's table, adopts
   * what matches and applies the rest.
   */
  async start(guard: (work: () => Promise<void>) => Promise<void>): Promise<void> {
    const vss = this.#config.virtualServers;
    this.#d.log.notice(
      `lvs starting: ${vss.length} virtual server${vss.length === 1 ? "" : "s"}`,
    );
    await guard(() => this.#readAddresses());
    await guard(() => this.#links.refresh());
    this.#sub = this.#d.checks.subscribe(
      LVS_CHECK_OWNER,
      (id, st) => this.#d.enqueue(() => this.#verdict(id, st)),
    );
    this.#quorum = new Map(updateQuorum(this.#quorumView(), new Map(), this.#health).quorum);
    this.#announceInitialQuorum();
    this.#setChecks();
    // Ours: what the ownership file lists (a previous run's, draining what the config
    // dropped since) and what the config wants (adopted when the kernel has it).
    const path = this.#d.stateFile ?? null;
    const listed = path === null ? new Set<string>() : await readOwnership(
      path,
      (m) => this.#d.log.warn(`lvs: ownership file: ${m}; treating its services as foreign`),
    );
    this.#owned = startOwned(this.#config, listed);
    await guard(() => this.#readMaintenance());
    await guard(() => this.#sync(true, false));
  }

  nextDeadlineMs(): number | null {
    // Stopping: nothing more is applied (the table goes at close), so nothing is due.
    if (this.#closed || this.#stopping) return null;
    // Due since it began, not "now": the loop compares a deadline with a time it took
    // before asking, and a clock read here is later than that, so would look not due
    // yet (the loop stayed parked, re-arming its timer, until a packet woke it).
    if (this.#dump !== null) return this.#dump.startedMs;
    if (this.#dirty || this.#dumpSoon || this.#addressesStale || this.#reloadOps !== null) {
      return this.#d.clock.nowMs();
    }
    let next = this.#nextSyncMs;
    const at = (t: number | null) => {
      if (t !== null && t < next) next = t;
    };
    at(this.#retryAtMs);
    at(this.#drainPollDueMs());
    at(nextDrainDeadlineMs(this.#drains));
    at(this.#nextMaintenanceMs);
    at(this.#rampDueMs);
    return next;
  }

  /** While anything drains, the next dump that refreshes its connection count. */
  #drainPollDueMs(): number | null {
    if (this.#drains.size === 0) return null;
    // From the last try, so a failing dump is retried at this pace, not in a tight loop.
    return (this.#lastDumpTryMs ?? this.#d.clock.nowMs()) + this.#drainPollMs;
  }

  #nextRampMs(now: number): number | null {
    let min: number | null = null;
    for (const [id, start] of this.#ramps) {
      const rs = this.#findRs(id)?.rs;
      const t = rs === undefined ? null : slowStartNextMs(start, now, rs.slowStartMs);
      if (t === null) {
        this.#ramps.delete(id);
        continue;
      }
      if (min === null || t < min) min = t;
    }
    return min;
  }

  onKernel(event: KernelEvent): void {
    if (event.kind === "link-up" || event.kind === "link-down") {
      if (this.#closed || this.#stopping) return;
      const up = event.kind === "link-up";
      if (this.#links.set(event.interface, up)) this.#reassessLink(event.interface);
      if (up) void this.#links.refresh();
      return;
    }
    // Addresses come and go with their connected routes.
    void this.#links.refresh();
    if (event.kind === "addr-added") this.#local.add(event.address);
    else if (event.kind === "addr-removed") this.#local.delete(event.address);
    else if (event.kind === "resync") this.#addressesStale = true;
    else return;
    this.#setChecks();
  }

  async advance(): Promise<void> {
    if (this.#closed || this.#stopping) return;
    if (this.#addressesStale) {
      this.#addressesStale = false;
      await this.#readAddresses();
      this.#setChecks();
    }
    // A verdict goes to the kernel first, against the known table: the fast path, and
    // what a dump due in the same turn then finds different is drift, not the verdict.
    let now = this.#d.clock.nowMs();
    if (this.#nextMaintenanceMs !== null && now >= this.#nextMaintenanceMs) {
      await this.#readMaintenance();
    }
    const ramp = this.#rampDueMs;
    const deadline = nextDrainDeadlineMs(this.#drains);
    if ((ramp !== null && now >= ramp) || (deadline !== null && now >= deadline)) {
      this.#dirty = true;
    }
    const reloadOps = this.#reloadOps;
    this.#reloadOps = null;
    if (this.#dumpSoon) {
      // Counts of now: a dump already under way read some of its services before. What
      // the change calls for goes out meanwhile (removals held for the counts).
      this.#dumpSoon = false;
      this.#beginDump(true, this.#retryAtMs === null);
      this.#dirty = true;
    }
    if (this.#dirty) {
      if (!this.#freshDumpPending()) await this.#sync(false, false);
    } else if (reloadOps !== null) await this.#applyReloadOps(reloadOps);
    now = this.#d.clock.nowMs();
    if (this.#dump === null) {
      const retryDue = this.#retryAtMs !== null && now >= this.#retryAtMs;
      const poll = this.#drainPollDueMs();
      const syncDue = now >= this.#nextSyncMs || (poll !== null && now >= poll);
      if (retryDue || syncDue) this.#beginDump(false, syncDue && this.#retryAtMs === null);
    }
    if (this.#dump !== null) await this.#dumpSlice(this.#dump);
    // A verdict heard while a dump for fresh counts is still being read goes out now,
    // its removals held back (at weight 0) until the counts are in.
    if (this.#dirty && this.#freshDumpPending()) await this.#sync(false, false, true);
  }

  /** A dump for fresh connection counts (a drain began, the config changed) is being read. */
  #freshDumpPending(): boolean {
    return this.#dump !== null && this.#dump.fresh;
  }

  /**
   * Begins a dump read in slices by {@link #dumpSlice} (one that was under way is
   * dropped: a dump for fresh counts must not keep what was read before it).
   */
  #beginDump(fresh: boolean, drift: boolean): void {
    this.#retryAtMs = null;
    const now = this.#d.clock.nowMs();
    this.#lastDumpTryMs = now;
    this.#dump = {
      startedMs: now,
      costMs: 0,
      fresh,
      drift: drift && (this.#dump?.drift ?? true),
      pending: null,
      read: [],
      same: true,
    };
  }

  /**
   * Reads the next slice of the dump: the service list first, then the destinations of
   * at most {@link DUMP_SLICE_SERVICES} services, within about {@link DUMP_SLICE_MS};
   * the last slice ends the dump (plan and apply against it).
   */
  async #dumpSlice(d: SlicedDump): Promise<void> {
    const clock = this.#d.clock;
    const t0 = clock.nowMs();
    try {
      if (d.pending === null) {
        d.pending = new Map((await this.#d.ipvs.dumpServices()).map((s) => [serviceKey(s), s]));
        if (this.#dump !== d) return;
        d.same &&= sameServiceList(this.#kernel, d.pending);
      }
      let n = 0;
      while (d.pending.size > 0 && n < DUMP_SLICE_SERVICES && clock.nowMs() - t0 < DUMP_SLICE_MS) {
        const [key, service] = d.pending.entries().next().value!;
        const entries = await this.#d.ipvs.dumpDests([service]);
        // Dropped or replaced while it was read (a stop, a fresh dump): nothing to keep.
        if (this.#dump !== d) return;
        d.pending.delete(key);
        d.read.push(...entries);
        if (d.same) {
          const known = byService(this.#kernel).get(key);
          d.same = entries.length === 1 && known !== undefined && sameEntry(known, entries[0]);
        }
        n++;
      }
    } catch (e) {
      if (this.#dump !== d) return;
      this.#dump = null;
      d.costMs += clock.nowMs() - t0;
      this.#dumpFailed(e, d);
      return;
    }
    d.costMs += clock.nowMs() - t0;
    if (d.pending.size === 0 && this.#dump === d) await this.#finishDump(d);
  }

  #dumpFailed(e: unknown, d: SlicedDump): void {
    const now = this.#d.clock.nowMs();
    this.#counters.dumpsFailed++;
    this.#d.rateLog("lvs/dump", "error", `lvs: cannot dump the IPVS table: ${text(e)}`);
    this.#lastDumpTryMs = now;
    this.#nextSyncMs = d.startedMs + this.#syncPace(d.costMs);
    this.#retryAtMs = now + this.#retryMs;
  }

  /**
   * The dump is read whole: it becomes the known table, and the plan against it is
   * applied; with `drift`, what it calls for that the known table did not is drift.
   */
  async #finishDump(d: SlicedDump): Promise<void> {
    this.#dump = null;
    const t0 = this.#d.clock.nowMs();
    const wasDirty = this.#dirty;
    this.#dirty = false;
    // Read as known after a plan applied whole, and nothing moved since: the plan would
    // be empty (what `#expectedOps` takes a settled table to mean), and nothing drifted.
    const settled = d.same && !wasDirty && this.#settledPlan && this.#drains.size === 0 &&
      this.#rampDueMs === null;
    // Planned with the dump's counts: a drain they call for is not drift.
    const expected = d.drift && !settled
      ? this.#expectedOps(wasDirty, t0, withCountersOf(this.#kernel, d.read))
      : null;
    this.#kernel = d.read;
    this.#lastDumpMs = t0;
    this.#lastDumpTryMs = t0;
    if (this.#nextMaintenanceMs === null) await this.#readMaintenance();
    // Only the counts are new, unless the maintenance directory just moved something.
    if (!settled || this.#dirty) await this.#applyPlan(t0, expected, false);
    this.#nextSyncMs = d.startedMs + this.#syncPace(d.costMs + this.#d.clock.nowMs() - t0);
  }

  /**
   * What the known table already calls for: intended, not drift (only what a dump adds
   * to it is). Nothing is intended when the last plan was applied whole and nothing
   * moved since (no verdict, drain or ramp): then the plan is not made twice.
   */
  #expectedOps(wasDirty: boolean, now: number, known: IpvsTable = this.#kernel): Set<string> {
    const idle = !wasDirty && this.#settledPlan && this.#drains.size === 0 &&
      this.#rampDueMs === null;
    if (idle) return new Set<string>();
    return new Set(planConfig({ ...this.#planInputs(now), kernel: known }).ops.map(opId));
  }

  /**
   * Folds operations applied while a dump is being read into what it read: onto the
   * services read already, and as the list's change for those not read yet (a deleted
   * one is not read; an edited one keeps its new settings); the destinations of a
   * service read later come from the kernel as it is then, with these already in.
   */
  #foldIntoDump(ops: readonly Op[]): void {
    const d = this.#dump;
    if (d === null || d.pending === null || ops.length === 0) return;
    const pending = d.pending;
    d.same = false;
    const rest: Op[] = [];
    for (const op of ops) {
      const sk = serviceKey(op.service);
      if (!pending.has(sk)) rest.push(op);
      else if (op.op === "delService") pending.delete(sk);
      else if (op.op === "editService") pending.set(sk, op.service);
    }
    if (rest.length > 0) d.read = [...foldOps(d.read, rest)];
  }

  /**
   * `hacore drain VS RS`: weight 0 now, removed once its connections are gone or at the
   * deadline (`deadlineMs` after now; null: `[lvs] drain_deadline`), and kept out, checks
   * or not, until {@link undrain}.
   */
  drain(virtualServer: string, realServer: string, deadlineMs: number | null): OperatorResult {
    const found = this.#operatorTarget(virtualServer, realServer);
    if ("error" in found) return { ok: false, error: found.error };
    const { vs, rs } = found;
    const ep = hostPort(rs.address, rs.port);
    if (this.#operatorHeld.has(rs.id)) {
      return { ok: true, message: `${vs.name}: ${ep} is already drained or draining` };
    }
    this.#operatorHeld.set(rs.id, deadlineMs);
    this.#counters.drainsStarted++;
    this.#dumpSoon = true;
    this.#settledPlan = false;
    this.#requorum();
    const limit = deadlineMs ?? this.#config.lvs.drainDeadlineMs;
    const message = `${vs.name}: draining ${ep}: weight 0, removed once its connections ` +
      `end or in ${Math.round(limit / 1000)} s; hacore undrain puts it back`;
    this.#d.log.notice(message);
    return { ok: true, message };
  }

  /** Ends an operator drain: the server is back as its checks say (slow start applies). */
  undrain(virtualServer: string, realServer: string): OperatorResult {
    const found = this.#operatorTarget(virtualServer, realServer);
    if ("error" in found) return { ok: false, error: found.error };
    const { vs, rs } = found;
    const ep = hostPort(rs.address, rs.port);
    if (!this.#operatorHeld.delete(rs.id)) {
      return { ok: false, error: `${vs.name}: ${ep} is not drained` };
    }
    if (rs.slowStartMs > 0) this.#ramps.set(rs.id, this.#d.clock.nowMs());
    this.#dirty = true;
    this.#requorum();
    const message = `${vs.name}: ${ep} undrained; back in the table as its checks say`;
    this.#d.log.notice(message);
    return { ok: true, message };
  }

  #operatorTarget(
    virtualServer: string,
    realServer: string,
  ): { vs: VirtualServerConfig; rs: RealServerConfig } | { error: string } {
    if (this.#closed || this.#stopping) return { error: "the daemon is stopping" };
    const vss = this.#config.virtualServers;
    const vs = vss.find((v) => v.name === virtualServer);
    if (vs === undefined) {
      return {
        error: `no virtual server ${JSON.stringify(virtualServer)}; virtual servers: ${
          vss.map((v) => v.name).join(", ") || "none"
        }`,
      };
    }
    const ep = parseEndpoint(realServer);
    const rs = vs.realServers.find((r) =>
      ep === null
        ? r.address === realServer && vs.realServers.filter((x) => x.address === r.address)
              .length === 1
        : r.address === ep.address && r.port === ep.port
    );
    if (rs === undefined) {
      return {
        error: `${vs.name}: no real server ${JSON.stringify(realServer)}; real servers: ${
          vs.realServers.map((r) => hostPort(r.address, r.port)).join(", ") || "none"
        }`,
      };
    }
    return { vs, rs };
  }

  /** Reads the maintenance directory: each `IP:PORT` file drains that server everywhere. */
  async #readMaintenance(): Promise<void> {
    const dir = this.#config.lvs.maintenanceDir;
    if (dir === null) {
      this.#nextMaintenanceMs = null;
      this.#maintenance.clear();
      return;
    }
    this.#nextMaintenanceMs = this.#d.clock.nowMs() +
      (this.#d.maintenancePollMs ?? LVS_MAINTENANCE_POLL_MS);
    const next = new Set<string>();
    try {
      for await (const e of Deno.readDir(dir)) {
        const ep = parseEndpoint(e.name);
        if (ep !== null) next.add(hostPort(ep.address, ep.port));
      }
    } catch (e) {
      // No directory: looked at again with each periodic dump only, not every second.
      if (e instanceof Deno.errors.NotFound) this.#nextMaintenanceMs = null;
      else this.#d.rateLog("lvs/maintenance", "warn", `lvs: cannot read ${dir}: ${text(e)}`);
    }
    const same = next.size === this.#maintenance.size &&
      [...next].every((x) => this.#maintenance.has(x));
    if (same) return;
    for (const x of next) {
      if (!this.#maintenance.has(x)) this.#d.log.notice(`lvs: maintenance file ${x}: draining`);
    }
    for (const x of this.#maintenance) {
      if (!next.has(x)) this.#d.log.notice(`lvs: maintenance file ${x} gone: back in service`);
    }
    this.#maintenance = next;
    this.#dumpSoon = true;
    this.#settledPlan = false;
    this.#requorum();
  }

  /**
   * The virtual servers as quorum counts them: a held-out server serves no new
   * connection, so it does not count (its checks and notifications still run).
   */
  #quorumView(vss: readonly VirtualServerConfig[] = this.#config.virtualServers) {
    const held = this.#heldServers();
    if (held.size === 0) return vss;
    return vss.map((vs) => ({ ...vs, realServers: vs.realServers.filter((r) => !held.has(r.id)) }));
  }

  /** The live weight quorum is held to (held-out servers aside). */
  #liveWeight(vs: VirtualServerConfig): number {
    return liveWeight(this.#quorumView([vs])[0], this.#health);
  }

  /** A drain began or ended: quorum may have moved (the sorry server in or out). */
  #requorum(): void {
    const q = updateQuorum(this.#quorumView(), this.#quorum, this.#health);
    this.#quorum = new Map(q.quorum);
    this.#announceQuorum(q.changes);
  }

  /** Real servers held out now: operator drains first, then maintenance files. */
  #heldServers(): Map<string, HeldOut> {
    const out = new Map<string, HeldOut>();
    // The common case, and asked per virtual server (quorum, status): a walk of 10,000
    // real servers each time made a 1,000-service reload quadratic.
    if (this.#operatorHeld.size === 0 && this.#maintenance.size === 0) return out;
    for (const vs of this.#config.virtualServers) {
      for (const rs of vs.realServers) {
        const op = this.#operatorHeld.get(rs.id);
        if (op !== undefined) out.set(rs.id, { reason: "operator", deadlineAfterMs: op });
        else if (this.#maintenance.has(hostPort(rs.address, rs.port))) {
          out.set(rs.id, { reason: "maintenance", deadlineAfterMs: null });
        }
      }
    }
    return out;
  }

  /** Destination entry keys held out now. */
  #held(): Map<string, HeldOut> {
    const c = this.#config;
    return heldEntries(c.virtualServers, c.virtualServerGroups, this.#heldServers());
  }

  /**
   * How a reload's changes reach the kernel. Edits and additions go against the known
   * table at once (a one-weight change is one editDest in ~ms; a dump of 10,000
   * destinations first cost ~1 s in the UML guest). A reload that deletes or starts a
   * drain dumps first, so the drain counts the connections of now, not of the last dump.
   * From a settled table the plan covers only the virtual servers the reload changed
   * (`names`, {@link scopePlanInputs}): the others' entries are as wanted already.
   */
  #planReload(before: Config, names: ReadonlySet<string>, lists?: ScopedServers): void {
    const settled = this.#settledPlan && !this.#dirty && !this.#dumpSoon &&
      this.#reloadOps === null && this.#drains.size === 0 && this.#rampDueMs === null;
    this.#settledPlan = false;
    const inputs = this.#planInputs(this.#d.clock.nowMs());
    const scoped = settled ? scopePlanInputs(inputs, before, names, lists) : null;
    const p = planConfig(scoped ?? inputs);
    const removes = p.ops.some((op) => op.op === "delService" || op.op === "delDest");
    const drains = [...p.drains.keys()].some((k) => !this.#drains.has(k));
    if (removes || drains) this.#dumpSoon = true;
    else if (scoped === null) this.#dirty = true;
    else if (p.ops.length === 0) this.#settledPlan = true;
    else this.#reloadOps = p.ops;
  }

  /** Applies a narrowed reload plan; the table is settled again once all of it applied. */
  async #applyReloadOps(ops: readonly Op[]): Promise<void> {
    const failed = await this.#applyOps(ops, true);
    this.#settledPlan = failed === 0;
    // The services it owns were added to `#owned` by the reload already.
    if (failed === 0) await this.#writeOwned();
    else if (this.#retryAtMs === null) this.#retryAtMs = this.#d.clock.nowMs() + this.#retryMs;
  }

  /** The shared plan (`planConfig`) of the wanted table against the known kernel table. */
  #plan(now: number): LvsPlan {
    return planConfig(this.#planInputs(now));
  }

  #planInputs(now: number): ConfigPlanInputs {
    return {
      config: this.#config,
      health: this.#health,
      quorum: this.#quorum,
      ramps: this.#ramps,
      heldServers: this.#heldServers(),
      kernel: this.#kernel,
      owned: this.#owned,
      drains: this.#drains,
      nowMs: now,
    };
  }

  /**
   * Applies a validated config: the plan edits in place, deletes the removed, adds the new.
   *
   * When the virtual server groups stay, only the virtual servers the diff names are
   * worked out again (`ReloadScope`): every other one is equal to what it was, and so are
   * its verdicts, quorum (the quorum map is always stepped to the current health, so
   * stepping it again changes nothing), checks and owned services. A one-weight reload of
   * 1,000 virtual servers then costs one virtual server, not ten walks of 10,000 real
   * servers (~70 ms of a small guest's CPU before the kernel heard of it).
   */
  reload(next: Config, _facts: unknown): ReloadOutcome {
    const before = this.#config;
    const changes = virtualServerChanges(before.virtualServers, next.virtualServers);
    const scope = reloadScope(before, next, changes.names);
    const prevOwned = configServiceKeys(
      scope?.before ?? before.virtualServers,
      before.virtualServerGroups,
    );
    this.#config = next;
    for (const id of [...this.#operatorHeld.keys()]) {
      if (this.#findRs(id) === null) this.#operatorHeld.delete(id);
    }
    for (const id of [...this.#ramps.keys()]) if (this.#findRs(id) === null) this.#ramps.delete(id);
    if (before.lvs.maintenanceDir !== next.lvs.maintenanceDir) {
      this.#nextMaintenanceMs = this.#d.clock.nowMs();
    }
    // Verdicts of real servers that are gone mean nothing; kept ones keep theirs.
    if (this.#health.size > 0) {
      const ids = new Set(
        (scope?.next ?? next.virtualServers).flatMap((v) => v.realServers.map((r) => r.id)),
      );
      const gone = scope === null
        ? [...this.#health.keys()]
        : scope.before.flatMap((v) => v.realServers.map((r) => r.id));
      for (const id of gone) if (!ids.has(id)) this.#health.delete(id);
    }
    const q = this.#requorumFor(scope, next);
    this.#announceQuorum(q.changes);
    this.#setChecks(scope);
    for (const k of prevOwned) this.#owned.add(k);
    for (
      const k of configServiceKeys(scope?.next ?? next.virtualServers, next.virtualServerGroups)
    ) {
      this.#owned.add(k);
    }
    const names = new Set(changes.names);
    for (const c of q.changes) names.add(c.virtualServer);
    // Quorum changes are of virtual servers the diff names already, when scoped.
    this.#planReload(
      before,
      names,
      scope !== null && names.size === scope.names.size ? scope : undefined,
    );
    if (changes.lines.length > 0) {
      this.#d.log.info("lvs: reload: planning the virtual servers' changes");
    }
    // The lines are the config diff's (`diffVirtualServers`), which the VRRP side already
    // reports with the rest of the diff: told once.
    return { ok: true, errors: [], changes: [] };
  }

  status(nowMs: number): LvsStatus {
    const wanted = this.#wanted();
    const drains = this.#drainStatuses(nowMs);
    const wantedKeys = ownedKeys(wanted);
    return {
      virtualServers: this.#config.virtualServers.map((vs) =>
        this.#vsStatus(vs, byService(wanted), byService(this.#kernel), drains)
      ),
      counters: { ...this.#counters },
      lastDumpMs: this.#lastDumpMs === null ? null : Math.min(this.#lastDumpMs, nowMs),
      drains: [...drains.values()],
      drift: [...this.#drift],
      foreign: this.#kernel
        .filter((e) => {
          const k = serviceKey(e.service);
          return !this.#owned.has(k) && !wantedKeys.has(k);
        })
        .map((e) => serviceText(e.service)),
      owned: this.#owned.size,
      keepOnStop: this.#keepOnStop,
    };
  }

  /** Entry key → its drain: the plan's drains, then held-out servers already removed. */
  #drainStatuses(nowMs: number): Map<string, DrainStatus> {
    const out = new Map<string, DrainStatus>();
    for (const d of this.#drains.values()) {
      out.set(d.key, {
        entry: d.dest === null
          ? serviceText(d.service)
          : `${serviceText(d.service)} -> ${hostPort(d.dest.address, d.dest.port)}`,
        state: "draining",
        reason: d.reason,
        connections: d.connections,
        timeLeftMs: Math.max(0, d.deadlineMs - nowMs),
      });
    }
    for (const [key, h] of this.#held()) {
      if (out.has(key)) continue;
      const [sk, dk] = key.split("|");
      const e = this.#kernel.find((x) => serviceKey(x.service) === sk);
      const d = e?.dests.find((x) => destKey(x) === dk);
      const svc = e?.service ?? this.#servicesByKey().get(sk);
      if (svc === undefined) continue;
      const [address, port] = splitDestKey(dk);
      out.set(key, {
        entry: `${serviceText(svc)} -> ${hostPort(address, port)}`,
        // Still in the kernel without a drain record: the next turn removes it.
        state: d === undefined ? "drained" : "draining",
        reason: h.reason,
        connections: d === undefined ? 0 : (d.activeConns ?? 0) + (d.inactConns ?? 0),
        timeLeftMs: null,
      });
    }
    return out;
  }

  #servicesByKey(): Map<string, IpvsEntry["service"]> {
    const m = new Map<string, IpvsEntry["service"]>();
    for (const vs of this.#config.virtualServers) {
      for (const s of servicesOf(vs, this.#config.virtualServerGroups)) m.set(serviceKey(s), s);
    }
    return m;
  }

  stopBudgetMs(): number {
    return 0;
  }

  /** Runs the `omega` notifiers (real servers down, quorum down); the table goes at close. */
  shutdown(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    const vss = this.#config.virtualServers;
    for (const n of omegaNotifications(vss, this.#health)) {
      const vs = vss.find((v) => v.realServers.some((r) => r.id === n.realServer));
      const rs = vs?.realServers.find((r) => r.id === n.realServer);
      if (vs === undefined || rs === undefined) continue;
      this.#d.notify(rsNotice(vs, rs, false));
    }
    for (const vs of vss) {
      if (vs.omega && this.#quorum.get(vs.name) === true) {
        this.#d.notify(quorumNotice(vs, false));
      }
    }
  }

  settled(): boolean {
    return true;
  }

  /**
   * Stops the checks, removes the services it owns (unless the table is kept: then the
   * ownership file stays for the next start to adopt from), closes the port.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // A dump under way is dropped: the stop dumps whole below.
    this.#dump = null;
    this.#sub?.close();
    this.#sub = null;
    if (this.#keepOnStop) {
      this.#d.log.notice(
        `lvs: keeping the IPVS table at stop (${this.#owned.size} service(s) owned)`,
      );
      await this.#writeOwned();
    } else {
      try {
        await this.#refreshKernel();
        await this.#applyOps(plan([], this.#kernel, this.#owned), false);
        this.#owned = new Set(
          this.#kernel.map((e) => serviceKey(e.service)).filter((k) => this.#owned.has(k)),
        );
      } catch (e) {
        this.#d.log.warn(`lvs: cannot remove the virtual services at stop: ${text(e)}`);
      }
      await this.#writeOwned();
    }
    try {
      await this.#d.ipvs.close();
    } catch (e) {
      this.#d.log.warn(`lvs: closing IPVS: ${text(e)}`);
    }
  }

  // -------------------------------------------------------------------------------

  async #readAddresses(): Promise<void> {
    if (!this.#config.virtualServers.some((v) => v.haSuspend)) return;
    this.#local = new Set(await this.#d.localAddresses());
  }

  /**
   * The reload's quorum: stepped for the virtual servers in `scope` (null: all), every
   * other one kept, the removed ones dropped.
   */
  #requorumFor(scope: ReloadScope | null, next: Config): QuorumUpdate {
    const kept = new Map<string, boolean>();
    for (const vs of scope?.next ?? next.virtualServers) {
      const q = this.#quorum.get(vs.name);
      if (q !== undefined) kept.set(vs.name, q);
    }
    const q = updateQuorum(this.#quorumView(scope?.next), kept, this.#health);
    if (scope === null) this.#quorum = new Map(q.quorum);
    else {
      for (const vs of scope.before) this.#quorum.delete(vs.name);
      for (const [name, up] of q.quorum) this.#quorum.set(name, up);
    }
    return q;
  }

  /**
   * The checks of every virtual server whose checks run now (ha_suspend aside, all).
   * With a reload's `scope`, only its virtual servers' are worked out again, in place.
   */
  #setChecks(scope: ReloadScope | null = null): void {
    const sub = this.#sub;
    if (sub === null || this.#closed) return;
    const groups = this.#config.virtualServerGroups;
    const was = this.#active;
    // The subscription reads the map while it is set, and keeps nothing of it.
    const wanted = scope === null ? new Map<string, CheckDefinition>() : this.#checkDefs;
    const active = new Set<string>();
    for (const vs of scope?.before ?? []) {
      for (const rs of vs.realServers) {
        rs.checks.forEach((_, i) => wanted.delete(lvsCheckId(rs.id, i)));
      }
    }
    const candidates = scope?.next ?? this.#config.virtualServers;
    for (const vs of candidates) {
      if (!checksActive(vs, groups, this.#local)) continue;
      active.add(vs.name);
      // Indexed, and nothing for a server without checks: a big start comes here for
      // each of 10,000 real servers, mostly in the interpreter (an iterator result and
      // a closure each).
      const rss = vs.realServers;
      for (let r = 0; r < rss.length; r++) {
        const rs = rss[r];
        for (let i = 0; i < rs.checks.length; i++) {
          wanted.set(lvsCheckId(rs.id, i), lvsCheckDefinition(vs, rs, i));
        }
      }
    }
    const started = candidates.map((v) => v.name).filter((n) => active.has(n) && !was.has(n));
    // One line each for a few; a start with a thousand virtual servers is one line.
    if (started.length > OPS_LOGGED_EACH) {
      this.#d.log.info(`${started.length} virtual servers: checks running`);
    } else for (const name of started) this.#d.log.info(`${name}: checks running`);
    const configured = new Set(candidates.map((v) => v.name));
    for (const name of scope === null ? was : scope.before.map((v) => v.name)) {
      if (was.has(name) && !active.has(name) && configured.has(name)) {
        this.#d.log.info(`${name}: checks suspended (ha_suspend: the address is not here)`);
      }
    }
    if (scope === null) this.#active = active;
    else {
      for (const vs of scope.before) was.delete(vs.name);
      for (const name of active) was.add(name);
    }
    this.#checkDefs = wanted;
    sub.set(wanted);
  }

  /** A check's verdict changed: fold it into its real server's, then into the table. */
  #verdict(id: string, _st: CheckStatus): void {
    const hash = id.lastIndexOf("#");
    this.#reassess(hash < 0 ? id : id.slice(0, hash));
  }

  /** A link lost or regained its carrier: the checked real servers reached through it. */
  #reassessLink(iface: string): void {
    for (const vs of this.#config.virtualServers) {
      for (const rs of vs.realServers) {
        if (rs.checks.length > 0 && this.#links.reachedBy(rs.address, iface)) {
          this.#reassess(rs.id);
        }
      }
    }
  }

  /** A real server's health from its checks and its link, folded into the table. */
  #reassess(rsId: string): void {
    if (this.#closed || this.#stopping) return;
    const found = this.#findRs(rsId);
    if (found === null) return;
    const next = this.#rsHealth(found.rs);
    if (next === null) return;
    const before: HealthMap = new Map(this.#health);
    const old = this.#health.get(rsId);
    if (old !== undefined && old.up === next.up && old.weight === next.weight) return;
    this.#health.set(rsId, next);
    const vss = this.#config.virtualServers;
    for (const t of realServerTransitions(vss, before, this.#health)) {
      const vs = vss.find((v) => v.name === t.virtualServer)!;
      const rs = vs.realServers.find((r) => r.id === t.realServer)!;
      this.#d.log.notice(
        `${vs.name}: real server ${hostPort(rs.address, rs.port)} ${t.up ? "up" : "down"}` +
          (t.up ? "" : `: ${this.#failingDetail(rs) ?? "check failed"}`),
      );
      this.#d.notify(rsNotice(vs, rs, t.up));
      if (t.up && rs.slowStartMs > 0) this.#ramps.set(rs.id, this.#d.clock.nowMs());
      else if (!t.up) this.#ramps.delete(rs.id);
    }
    const q = updateQuorum(this.#quorumView(), this.#quorum, this.#health);
    this.#quorum = new Map(q.quorum);
    this.#announceQuorum(q.changes);
    this.#dirty = true;
  }

  /** All checks up = up (keepalived); a dynamic weight from the first check that has one. */
  #rsHealth(rs: RealServerConfig): RealServerHealth | null {
    const sub = this.#sub;
    if (sub === null) return null;
    let up = true;
    let weight: number | undefined;
    let settled = false;
    for (let i = 0; i < rs.checks.length; i++) {
      const st = sub.status(lvsCheckId(rs.id, i));
      if (st === undefined) return null;
      settled ||= st.settled;
      up &&= st.up;
      if (weight === undefined && st.weight !== null) weight = st.weight;
    }
    if (!settled) return null;
    // Nothing reaches it through a dead link, whatever its checks say yet.
    if (up && this.#links.cutting(rs.address) !== null) return { up: false };
    return weight === undefined ? { up } : { up, weight };
  }

  #failingDetail(rs: RealServerConfig): string | null {
    const link = this.#links.cutting(rs.address);
    if (link !== null) return `its link ${link} has no carrier`;
    for (let i = 0; i < rs.checks.length; i++) {
      const st = this.#sub?.status(lvsCheckId(rs.id, i));
      if (st?.last !== null && st?.last !== undefined && !st.last.ok) return st.last.detail;
    }
    return null;
  }

  #findRs(id: string): { vs: VirtualServerConfig; rs: RealServerConfig } | null {
    for (const vs of this.#config.virtualServers) {
      const rs = vs.realServers.find((r) => r.id === id);
      if (rs !== undefined) return { vs, rs };
    }
    return null;
  }

  #announceInitialQuorum(): void {
    for (const vs of this.#config.virtualServers) {
      if (this.#quorum.get(vs.name) === false) this.#announceQuorum([{ virtualServer: vs.name }]);
    }
  }

  #announceQuorum(changes: readonly { readonly virtualServer: string }[]): void {
    for (const c of changes) {
      const vs = this.#config.virtualServers.find((v) => v.name === c.virtualServer);
      if (vs === undefined) continue;
      const up = this.#quorum.get(vs.name) === true;
      const w = this.#liveWeight(vs);
      this.#d.log.notice(
        `${vs.name}: quorum ${up ? "gained" : "lost"} (live weight ${w}, quorum ${vs.quorum}` +
          ` ± ${vs.hysteresis})${!up && vs.sorryServer !== null ? "; sorry server in use" : ""}`,
      );
      this.#d.notify(quorumNotice(vs, up));
    }
  }

  #wanted(): IpvsTable {
    return desiredTable({
      virtualServers: this.#config.virtualServers,
      groups: this.#config.virtualServerGroups,
      health: this.#health,
      quorum: this.#quorum,
    });
  }

  async #refreshKernel(): Promise<boolean> {
    this.#lastDumpTryMs = this.#d.clock.nowMs();
    try {
      this.#kernel = await this.#d.ipvs.dump();
      this.#lastDumpMs = this.#d.clock.nowMs();
      return true;
    } catch (e) {
      this.#counters.dumpsFailed++;
      this.#d.rateLog("lvs/dump", "error", `lvs: cannot dump the IPVS table: ${text(e)}`);
      return false;
    }
  }

  /**
   * Plans the wanted table against the kernel's and applies it: dumped whole first when
   * `dump` (the start: nothing else runs yet), else the known table (a verdict's fast
   * path); `holdRemovals` while fresh counts are being read (see {@link #applyPlan}).
   */
  async #sync(dump: boolean, drift: boolean, holdRemovals = false): Promise<void> {
    const wasDirty = this.#dirty;
    this.#dirty = false;
    const now = this.#d.clock.nowMs();
    const expected = drift ? this.#expectedOps(wasDirty, now) : null;
    if (dump) {
      this.#retryAtMs = null;
      const ok = await this.#refreshKernel();
      this.#nextSyncMs = now + this.#syncPace(this.#d.clock.nowMs() - now);
      if (!ok) {
        this.#retryAtMs = now + this.#retryMs;
        return;
      }
      if (this.#nextMaintenanceMs === null) await this.#readMaintenance();
    }
    await this.#applyPlan(now, expected, holdRemovals);
  }

  /**
   * Applies the plan against the known table; ops not in `expected` are counted as
   * drift. With `holdRemovals` (a dump for fresh connection counts is under way), a
   * removal waits for them: a destination goes to weight 0 now and out when the dump is
   * in, so a drain never cuts a connection the last counts did not show.
   */
  async #applyPlan(
    now: number,
    expected: Set<string> | null,
    holdRemovals: boolean,
  ): Promise<void> {
    const p = this.#plan(now);
    this.#settledPlan = false;
    this.#rampDueMs = this.#nextRampMs(now);
    if (!holdRemovals) this.#noteDrains(p.drains);
    const ops = holdRemovals ? withoutRemovals(p.ops) : p.ops;
    if (ops.length === 0) {
      if (holdRemovals) return;
      this.#settledPlan = true;
      await this.#setOwned(ownedKeys(p.table));
      return;
    }
    if (expected !== null) this.#noteDrift(ops.filter((op) => !expected.has(opId(op))), now);
    const failed = await this.#applyOps(ops, true);
    this.#settledPlan = failed === 0 && !holdRemovals;
    if (this.#settledPlan) await this.#setOwned(ownedKeys(p.table));
    else if (failed > 0 && this.#retryAtMs === null) {
      this.#retryAtMs = this.#d.clock.nowMs() + this.#retryMs;
    }
  }

  /**
   * The wait before the next periodic comparison: the configured interval, or longer
   * when a dump and plan take long (a table of 40,000 destinations: seconds in a small
   * guest), so that comparing keeps to about 1/{@link SYNC_COST_SHARE} of a CPU
   * instead of all of it. Verdicts never wait for it.
   */
  #syncPace(costMs: number): number {
    return syncPaceMs(this.#syncMs, costMs);
  }

  /** Counts and logs drains that ended (connections gone, or their deadline hit). */
  #noteDrains(next: ReadonlyMap<string, DrainRecord>): void {
    const now = this.#d.clock.nowMs();
    for (const [key, d] of this.#drains) {
      if (next.has(key)) continue;
      const hit = now >= d.deadlineMs;
      this.#counters[hit ? "drainsDeadlineHit" : "drainsCompleted"]++;
      const what = d.dest === null
        ? serviceText(d.service)
        : `${serviceText(d.service)} -> ${hostPort(d.dest.address, d.dest.port)}`;
      this.#d.log.notice(
        `lvs: drained ${what}: ${hit ? "deadline reached, removing it" : "no connection left"}`,
      );
    }
    for (const [key, d] of next) {
      if (this.#drains.has(key)) continue;
      if (d.reason !== "operator") this.#counters.drainsStarted++;
    }
    this.#drains = next;
  }

  #noteDrift(ops: readonly Op[], now: number): void {
    if (ops.length === 0) return;
    this.#counters.driftRepairs += ops.length;
    for (const op of ops) this.#drift.push({ atMs: now, repair: describeOp(op) });
    if (this.#drift.length > LVS_DRIFT_KEPT) {
      this.#drift.splice(0, this.#drift.length - LVS_DRIFT_KEPT);
    }
    this.#d.rateLog(
      "lvs/drift",
      "warn",
      `lvs: the IPVS table drifted; repairing ${ops.length} entr${
        ops.length === 1 ? "y" : "ies"
      }: ${ops.map(describeOp).join("; ")}`,
    );
  }

  async #setOwned(keys: Set<string>): Promise<void> {
    this.#owned = keys;
    await this.#writeOwned();
  }

  /** Writes the ownership file when its content changed; a failure is logged, not fatal. */
  async #writeOwned(): Promise<void> {
    const path = this.#d.stateFile ?? null;
    if (path === null) return;
    const body = [...this.#owned].sort().join("\n");
    if (body === this.#ownedWritten) return;
    try {
      await writeOwnership(path, this.#owned);
      this.#ownedWritten = body;
    } catch (e) {
      this.#d.rateLog("lvs/state", "error", `lvs: cannot write ${path}: ${text(e)}`);
    }
  }

  /**
   * Applies `ops` in order in one batch (a service is added before its destinations, as
   * the plan orders them), folding each success into the known table; the failures.
   * Destinations refused because their service's add was refused just before are one
   * line, not one each: the service's line says why.
   */
  async #applyOps(ops: readonly Op[], log: boolean): Promise<number> {
    let outcomes: IpvsOpOutcome[];
    try {
      outcomes = await this.#d.ipvs.applyBatch(ops);
    } catch (e) {
      // The port itself failed (closed socket): nothing is known to have applied.
      outcomes = ops.map(() => ({ ok: false, error: e instanceof Error ? e : new Error(text(e)) }));
    }
    let failed = 0;
    // Asked once: a start's 11,000 lines at debug are 11,000 strings built for nothing
    // when debug is off.
    const debug = log && this.#d.log.enabled("debug");
    const refusedServices = new Set<string>();
    const orphans = new Map<string, { label: string; n: number }>();
    const applied: Op[] = [];
    // Indexed, not ops.entries(): a start's 11,000 outcomes are read right after the
    // table is in the kernel, in the interpreter, where each step allocated an iterator
    // result and an [i, op] pair.
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      const o = outcomes[i] ?? { ok: false, error: new Error("no outcome from the IPVS port") };
      if (o.ok) {
        this.#counters.opsApplied++;
        applied.push(op);
        if (!log) continue;
        // A server leaving is one line an operator wants; a start that builds 10,000
        // entries is a summary, not 10,000 lines (and ~1 ms of the loop each).
        if (i < OPS_LOGGED_EACH) this.#d.log.info(`lvs: ${describeOp(op)}`);
        else if (debug) this.#d.log.debug(`lvs: ${describeOp(op)}`);
        continue;
      }
      failed++;
      this.#counters.opsFailed++;
      const sk = serviceKey(op.service);
      if (op.op === "addService") refusedServices.add(sk);
      else if (op.op === "addDest" && refusedServices.has(sk)) {
        const o = orphans.get(sk) ?? { label: serviceText(op.service), n: 0 };
        o.n++;
        orphans.set(sk, o);
        continue;
      }
      this.#d.rateLog(
        `lvs/op/${opKey(op)}`,
        "error",
        `lvs: ${describeOp(op)} failed: ${text(o.error)}; retrying in ${this.#retryMs} ms`,
      );
    }
    for (const [sk, { label, n }] of orphans) {
      this.#d.rateLog(
        `lvs/op/${sk} dests`,
        "error",
        `lvs: ${n} destination${n === 1 ? "" : "s"} of ${label} not added: the service's add ` +
          `failed; retrying in ${this.#retryMs} ms`,
      );
    }
    this.#kernel = foldOps(this.#kernel, applied);
    this.#foldIntoDump(applied);
    if (log && ops.length > OPS_LOGGED_EACH) {
      this.#d.log.info(`lvs: ${opsSummary(ops)} (${failed} failed)`);
    }
    return failed;
  }

  #vsStatus(
    vs: VirtualServerConfig,
    wanted: ReadonlyMap<string, IpvsEntry>,
    kernel: ReadonlyMap<string, IpvsEntry>,
    drains: ReadonlyMap<string, DrainStatus>,
  ): VirtualServerStatus {
    const services = servicesOf(vs, this.#config.virtualServerGroups);
    const keys = services.map((s) => serviceKey(s));
    const wantedEntries = entriesOf(wanted, keys);
    const kernelEntries = entriesOf(kernel, keys);
    const quorumUp = this.#quorum.get(vs.name) ?? true;
    const sorry = vs.sorryServer;
    return {
      name: vs.name,
      endpoint: vsEndpoint(vs),
      protocol: vs.target.kind === "fwmark" ? "fwmark" : vs.protocol,
      scheduler: vs.scheduler,
      method: vs.method,
      quorumUp,
      liveWeight: this.#liveWeight(vs),
      quorum: vs.quorum,
      hysteresis: vs.hysteresis,
      sorryServer: sorry === null ? null : hostPort(sorry.address, sorry.port),
      sorryActive: !quorumUp && sorry !== null,
      checksActive: this.#active.has(vs.name),
      servicesInKernel: kernelEntries.length,
      servicesWanted: wantedEntries.length,
      realServers: vs.realServers.map((rs) => ({
        ...this.#rsStatus(vs, rs, wantedEntries, kernelEntries),
        drain: services.map((s) => drains.get(entryKey(s, rs))).find((d) => d !== undefined) ??
          null,
      })),
    };
  }

  #rsStatus(
    vs: VirtualServerConfig,
    rs: RealServerConfig,
    wanted: readonly IpvsEntry[],
    kernel: readonly IpvsEntry[],
  ): RealServerStatus {
    const dk = destKey(rs);
    const find = (es: readonly IpvsEntry[]) =>
      es.flatMap((e) => e.dests.filter((d) => destKey(d) === dk));
    const inKernel = find(kernel);
    const w = find(wanted)[0];
    const sum = (f: (d: IpvsDest) => number) => inKernel.reduce((a, d) => a + f(d), 0);
    const big = (f: (s: IpvsStats) => bigint) =>
      inKernel.reduce((a, d) => a + (d.stats === undefined ? 0n : f(d.stats)), 0n);
    return {
      id: rs.id,
      address: rs.address,
      port: rs.port,
      up: realServerUp(vs, rs, this.#health),
      checks: rs.checks.map((c, i) => this.#checkStatus(c.check.kind, rs, i, vs)),
      desiredWeight: w === undefined ? null : w.weight,
      kernelWeight: inKernel.length === 0 ? null : inKernel[0].weight,
      activeConns: sum((d) => d.activeConns ?? 0),
      inactConns: sum((d) => d.inactConns ?? 0),
      conns: big((s) => s.conns).toString(),
      inBytes: big((s) => s.inbytes).toString(),
      outBytes: big((s) => s.outbytes).toString(),
      inPackets: big((s) => s.inpkts).toString(),
      outPackets: big((s) => s.outpkts).toString(),
      cps: Number(big((s) => s.cps)),
      inBps: Number(big((s) => s.inbps)),
      outBps: Number(big((s) => s.outbps)),
    };
  }

  #checkStatus(
    kind: string,
    rs: RealServerConfig,
    i: number,
    vs: VirtualServerConfig,
  ): RealServerCheckStatus {
    const st = this.#sub?.status(lvsCheckId(rs.id, i));
    const last = st?.last ?? null;
    return {
      kind,
      up: st?.up ?? !vs.alpha,
      lastError: last !== null && !last.ok ? last.detail : null,
    };
  }
}

/**
 * The virtual servers a reload changed, before and after (by name, in config order),
 * when only they need working out again: the groups are the same (a group's change can
 * move every virtual server using it) and the diff names them.
 */
interface ReloadScope {
  readonly names: ReadonlySet<string>;
  readonly before: readonly VirtualServerConfig[];
  readonly next: readonly VirtualServerConfig[];
}

function reloadScope(before: Config, next: Config, names: ReadonlySet<string>): ReloadScope | null {
  const g = before.virtualServerGroups;
  if (
    g !== next.virtualServerGroups && JSON.stringify(g) !== JSON.stringify(next.virtualServerGroups)
  ) {
    return null;
  }
  return {
    names,
    before: before.virtualServers.filter((v) => names.has(v.name)),
    next: next.virtualServers.filter((v) => names.has(v.name)),
  };
}

function rsNotice(vs: VirtualServerConfig, rs: RealServerConfig, up: boolean): LvsNotice {
  return {
    kind: "real_server",
    virtualServer: vs.name,
    realServer: rs.id,
    up,
    hook: up ? "notify_up" : "notify_down",
    command: up ? rs.notifyUp : rs.notifyDown,
    fifoLine: `RS ${formatRs(vs, rs)} ${formatVs(vs)} ${up ? "UP" : "DOWN"}`,
  };
}

function quorumNotice(vs: VirtualServerConfig, up: boolean): LvsNotice {
  return {
    kind: "quorum",
    virtualServer: vs.name,
    realServer: null,
    up,
    hook: up ? "quorum_up" : "quorum_down",
    command: up ? vs.quorumUp : vs.quorumDown,
    fifoLine: `VS ${formatVs(vs)} ${up ? "UP" : "DOWN"}`,
  };
}

function opKey(op: Op): string {
  const s = serviceKey(op.service);
  return "dest" in op ? `${s} ${destKey(op.dest)}` : s;
}

function describeOp(op: Op): string {
  const s = op.service.fwmark !== 0
    ? `fwmark ${op.service.fwmark}`
    : hostPort(op.service.address, op.service.port);
  if (!("dest" in op)) return `${op.op} ${s} (${op.service.scheduler})`;
  return `${op.op} ${s} -> ${hostPort(op.dest.address, op.dest.port)} weight ${op.dest.weight}`;
}

function text(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function opId(op: Op): string {
  return `${op.op} ${opKey(op)} ${"dest" in op ? op.dest.weight : ""}`;
}

function splitDestKey(dk: string): [string, number] {
  const i = dk.lastIndexOf(" ");
  return [dk.slice(0, i), Number(dk.slice(i + 1))];
}

/**
 * A dump being read in slices: the services still to read (in the kernel's order, by
 * key; null until the list is read) and the entries read so far, with the operations
 * applied since folded in.
 */
interface SlicedDump {
  readonly startedMs: number;
  /** For fresh connection counts: removals wait for it. */
  readonly fresh: boolean;
  /** What its plan adds to the known table's is counted as drift. */
  readonly drift: boolean;
  /** Time spent reading it so far (its slices), for {@link syncPaceMs}. */
  costMs: number;
  pending: Map<string, IpvsService> | null;
  read: IpvsEntry[];
  /**
   * So far the kernel lists the known table's services and every one read is as the
   * known table has it (`sameEntry`), and nothing was applied meanwhile: compared
   * slice by slice, so a settled table's final turn needs no plan over every
   * destination (100-230 ms of a small guest's loop at 10,000, which held a reload).
   */
  same: boolean;
}

/** The kernel lists exactly the known table's services (by key). */
function sameServiceList(known: IpvsTable, listed: ReadonlyMap<string, IpvsService>): boolean {
  if (known.length !== listed.size) return false;
  const index = byService(known);
  if (index.size !== known.length) return false;
  for (const key of listed.keys()) if (!index.has(key)) return false;
  return true;
}

/**
 * The plan with its removals held back: a destination it deletes goes to weight 0
 * instead (no new connection reaches it), a service it deletes stays as it is.
 */
function withoutRemovals(ops: readonly Op[]): Op[] {
  const out: Op[] = [];
  for (const op of ops) {
    // No connection end to wait for (UDP, SCTP): they go at once, as a drain has them.
    if (datagram(op.service)) out.push(op);
    else if (op.op === "delService") continue;
    else if (op.op !== "delDest") out.push(op);
    else if (op.dest.weight !== 0) {
      out.push({ op: "editDest", service: op.service, dest: { ...op.dest, weight: 0 } });
    }
  }
  return out;
}

function datagram(s: IpvsService): boolean {
  return s.fwmark === 0 && (s.protocol === IPPROTO_UDP || s.protocol === IPPROTO_SCTP);
}
