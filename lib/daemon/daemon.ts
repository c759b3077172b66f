/**
 * The daemon: the one place where the pure engine meets the world. It owns a
 * `NodeState`, turns every input (a received packet, a kernel address event, a
 * deadline) into a `stepNode` call, and carries out the resulting actions through the
 * ports (`ports.ts`): adverts go out through a transport, VIPs are reconciled against
 * the kernel, GARPs/NAs follow the announce schedule, transitions are logged.
 *
 * One loop, one input at a time: nothing runs concurrently with a step, so state
 * never needs a lock. Port callbacks only queue into an inbox and wake the loop, and
 * so do the operator verbs of {@link DaemonControl} (demote, promote, resume,
 * maintenance, reload): they validate at once and take effect in the loop.
 *
 * Reload (SIGHUP, `hacore reload`): the new file is validated first (an invalid one
 * changes nothing), then the pure diff (`reload.ts`) is applied in one loop turn:
 * removed instances release like a shutdown (priority 0, VIPs kept through the release
 * hold, then removed), added ones start, changed ones are reconfigured in place (VIPs
 * reconciled address by address, no state change, no missed advert), and untouched
 * ones do not notice.
 *
 * Robustness rules:
 * - nothing a packet contains can throw out of the loop: each packet is handled under
 *   its own try/catch; a bug there is counted (`internalErrors`) and logged, never fatal;
 * - every dropped packet has a reason and a counter, per instance when its VRID maps
 *   to one, node-wide otherwise; drop logs are rate-limited per (instance, reason);
 * - a failed kernel operation is logged, counted and retried after a second; the
 *   reconcile is idempotent, so a retry or a duplicate event costs nothing.
 *
 * @example
 * ```ts
 * const daemon = new Daemon({
 *   config, primaryAddresses: new Map([["eth0", { ipv4: "192.0.2.11" }]]),
 *   clock: systemClock, transports, addresses, announcer, logger: new Logger(),
 * });
 * await daemon.start();
 * Deno.addSignalListener("SIGTERM", () => daemon.stop());
 * await daemon.done;
 * ```
 *
 * @module
 */

import { formatConfigError, loadConfig, type LoadResult } from "../config/mod.ts";
import { summarizeInstance, toRouterConfig } from "../config/router.ts";
import type { Config, InstanceConfig, NotifyConfig, SyncGroupConfig } from "../config/schema.ts";
import {
  type DaemonControl,
  groupHookCounterKey,
  hookCounterKey,
  hookResultOf,
  type HookRun,
  type InstanceDetail,
  type OperatorResult,
  type PriorityOverride,
  type ReloadOutcome,
  type TransitionRecord,
} from "../control/api.ts";
import { type Logger, RateLimiter, suppressedNote } from "../log.ts";
import { canonicalIp, type Family, parseIp } from "../vrrp/addr.ts";
import {
  createNode,
  nodeAddRouter,
  type NodeEvent,
  nodeNextDeadline,
  nodeRemoveRouter,
  nodeSetSyncGroups,
  type NodeState,
  stepNode,
} from "../vrrp/node.ts";
import { decodeAdvert, DROP_COUNTER, encodeAdvert } from "../vrrp/packet.ts";
import {
  describeForeign,
  expireForeign,
  type ForeignChange,
  foreignNextDeadline,
  type ForeignReason,
  type ForeignTable,
  observeForeign,
} from "../vrrp/foreign.ts";
import { nextDeadline, step } from "../vrrp/router.ts";
import type {
  Advert,
  DropReason,
  OutgoingAdvert,
  RouterAction,
  RouterConfig,
  RouterEvent,
  RouterState,
  RouterStateName,
  Transition,
  TransitionReason,
} from "../vrrp/types.ts";
import {
  type AnnounceConfig,
  announceConfig,
  announceDue,
  announceNextDeadline,
  type AnnounceState,
  type AnnounceTarget,
  IDLE_ANNOUNCE,
  startAnnounce,
} from "./announce.ts";
import type {
  AddressPort,
  Announcer,
  Clock,
  KernelEvent,
  NotifyEvent,
  NotifySink,
  PrimaryAddresses,
  ReceivedPacket,
  TransportFactory,
  VmacPort,
  VrrpTransport,
} from "./ports.ts";
import {
  type Conflict,
  describeConflict,
  type InstanceVips,
  reconcile,
  vipKey,
} from "./reconcile.ts";
import { diffConfigs, diffLines } from "./reload.ts";
import { advertVia, wantedVmacs } from "./vmac.ts";
import { TrackerHub } from "../track/hub.ts";
import {
  computePriority,
  contributionsText,
  type PriorityResult,
  type TrackerStatus,
  trackerUses,
} from "../track/priority.ts";
import { systemProbes } from "../track/system.ts";

/**
 * What a daemon needs: the validated config, each interface's own addresses, and the
 * ports to the outside world.
 *
 * @example
 * ```ts
 * const opts: DaemonOptions = { config, primaryAddresses, clock, transports, addresses, announcer, logger };
 * ```
 */
export interface DaemonOptions {
  readonly config: Config;
  /** Sources of adverts for instances without `unicast_src_ip`. */
  readonly primaryAddresses: PrimaryAddresses;
  readonly clock: Clock;
  readonly transports: TransportFactory;
  readonly addresses: AddressPort;
  readonly announcer: Announcer;
  readonly logger: Logger;
  /** Retry a failed kernel operation after this long; 1000 ms by default. */
  readonly retryMs?: number;
  /** Window of the drop-log rate limiter; 10 000 ms by default. */
  readonly dropLogWindowMs?: number;
  /**
   * Wall clock, only to label monotonic times for people (history, notify events);
   * `() => new Date()` by default. Read once at construction: the engine never sees it.
   */
  readonly wallClock?: () => Date;
  /** hacore's version, shown in status (`VERSION` of `lib/cli/mod.ts`); "unknown" by default. */
  readonly version?: string;
  /** Receives every instance and sync-group state change; none by default. */
  readonly notify?: NotifySink;
  /** How {@link Daemon.reload} reads `config.file`; `loadConfig` by default. */
  readonly loadConfig?: (file: string) => Promise<LoadResult>;
  /**
   * The trackers (`vrrp_script`, `track_interface`, `track_file`, `track_process`); a
   * hub over the real probes (`lib/track/system.ts`) by default. The daemon starts it,
   * feeds it link states, reconfigures it on reload and stops it.
   */
  readonly trackers?: TrackerHub;
  /**
   * Virtual-MAC macvlans (`use_vmac`): made before the first reconcile, kept in place by
   * every reconcile, removed at stop. Needed only when an instance sets `use_vmac`.
   */
  readonly vmacs?: VmacPort;
}

/**
 * Refusal to build a daemon from facts that cannot work (an instance with no source
 * address for its adverts). Lists every problem.
 *
 * @example
 * ```ts
 * try { new Daemon(opts); } catch (e) { if (e instanceof DaemonSetupError) console.error(e.problems); }
 * ```
 */
export class DaemonSetupError extends Error {
  /** One line per problem. */
  readonly problems: readonly string[];

  /**
   * Creates the error from its problems.
   *
   * @example
   * ```ts
   * new DaemonSetupError(["VI_1: no ipv4 address on eth0"]).message;
   * ```
   */
  constructor(problems: readonly string[]) {
    super(problems.join("; "));
    this.name = "DaemonSetupError";
    this.problems = problems;
  }
}

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

interface Instance {
  cfg: InstanceConfig;
  rc: RouterConfig;
  /** `iface/family` of its transport. */
  key: string;
  group: string;
  /** Canonical unicast peers; empty for multicast. */
  peers: Set<string>;
  targets: AnnounceTarget[];
  announce: AnnounceState;
  /** Counters the engine does not keep. */
  extra: Record<string, number>;
  /** Routers advertising our VRID with other settings (reported; the engine decides). */
  foreign: ForeignTable;
  /**
   * Set once a reload removed (or replaced) the instance: its stopped router, out of
   * the node, finishing its release hold. Null while the instance is live.
   */
  retired: RouterState | null;
  /** The trackers' verdict last fed to the engine; null before the first. */
  track: PriorityResult | null;
}

type InboxItem =
  | { kind: "packet"; iface: string; family: Family; packet: ReceivedPacket }
  | { kind: "kernel"; event: KernelEvent }
  /** Operator work, run in the loop; `cancel` if the loop ends before it ran. */
  | { kind: "control"; run: () => void; cancel: () => void };

/** keepalived's names of states, as notify hooks and the FIFO see them. */
type NotifyState = NotifyEvent["state"];
type GroupState = NotifyState | "INIT";

/** Tracker name of an instance's own link; shown in status as the fault's cause. */
const LINK_FAULT_PREFIX = "link ";

/** Beyond this many queued inputs, packets are dropped (and counted) rather than queued. */
const INBOX_LIMIT = 65_536;
/** After a stop, leave no later than the longest release hold plus this. */
const STOP_GRACE_MS = 2000;
/** Pause after an unexpected error in the loop itself, so a persistent bug cannot spin. */
const LOOP_ERROR_PAUSE_MS = 100;
/** `isLive` tolerates at least this much loop silence (a GC pause is not death). */
const MIN_LIVENESS_MS = 2000;
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
/** Operator priorities: 0 is the release advert and 255 the owner's; neither is settable. */
const MIN_OPERATOR_PRIORITY = 1;
const MAX_OPERATOR_PRIORITY = 254;
const OWNER_PRIORITY = 255;

function transportKey(iface: string, family: Family): string {
  return `${iface}/${family}`;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function bump(counters: Record<string, number>, name: string, by = 1): void {
  counters[name] = (counters[name] ?? 0) + by;
}

function upper(s: RouterStateName): string {
  return s.toUpperCase();
}

function notifyState(s: RouterStateName): NotifyState {
  return s === "init" ? "STOP" : s === "master" ? "MASTER" : s === "fault" ? "FAULT" : "BACKUP";
}

function notifyPrevious(s: RouterStateName | GroupState): NotifyEvent["previous"] {
  switch (s) {
    case "master":
    case "MASTER":
      return "MASTER";
    case "backup":
    case "BACKUP":
      return "BACKUP";
    case "fault":
    case "FAULT":
      return "FAULT";
    default:
      return "INIT";
  }
}

/** What GARPs/NAs announce for an instance: its VIPs, advertised and excluded. */
function targetsOf(vi: InstanceConfig): AnnounceTarget[] {
  return [...vi.vips, ...vi.excludedVips].flatMap((v) => {
    const p = parseIp(v.address);
    return p ? [{ dev: v.dev, address: v.address, family: p.family }] : [];
  });
}

function groupOf(g: SyncGroupConfig): { name: string; members: string[] } {
  return { name: g.name, members: [...g.instances] };
}

const NO_HOOKS: NotifyConfig = Object.freeze({
  master: null,
  backup: null,
  fault: null,
  stop: null,
  generic: null,
});

/** The IPv6 half (`NAME@v6`) of a dual-stack instance. */
function isDualStackV6Half(vi: InstanceConfig): boolean {
  return vi.dualStackOf !== null && vi.name !== vi.dualStackOf;
}

/** Label of a retiring instance in reconcile plans, so it never merges with its successor. */
function retiredLabel(name: string): string {
  return `${name} (removed)`;
}

/**
 * The VRRP daemon over a set of ports. Construct, `start()`, and `stop()` on SIGTERM;
 * the control socket drives it through {@link DaemonControl}.
 *
 * @example
 * ```ts
 * const d = new Daemon(opts);
 * await d.start();
 * d.status().instances.map((i) => `${i.name}: ${i.state}`);
 * await d.stop();
 * ```
 */
export class Daemon implements DaemonControl {
  #config: Config;
  readonly #clock: Clock;
  readonly #transportFactory: TransportFactory;
  readonly #addresses: AddressPort;
  readonly #announcer: Announcer;
  readonly #vmacPort: VmacPort | null;
  /** Virtual-MAC macvlans ensured since start, to remove when no instance wants them. */
  #vmacsUp = new Set<string>();
  /** Virtual-MAC macvlans whose last ensure failed: their instances are in Fault. */
  #vmacFaults = new Set<string>();
  readonly #log: Logger;
  readonly #retryMs: number;
  readonly #limiter: RateLimiter;
  readonly #primaries: PrimaryAddresses;
  readonly #notify: NotifySink | null;
  readonly #load: (file: string) => Promise<LoadResult>;
  readonly #version: string;
  readonly #wallClock: () => Date;
  readonly #trackers: TrackerHub;
  /** A tracker recompute is queued in the inbox. */
  #trackersQueued = false;
  /** Wall time minus clock time at construction: labels monotonic times for people. */
  readonly #wallOffsetMs: number;
  #startedAtWall: string;
  #announceCfg: AnnounceConfig;
  /** Live instances, in config order. */
  #instances: Instance[] = [];
  /** Instances a reload removed, still finishing their release hold. */
  #retiring: Instance[] = [];
  #byName = new Map<string, Instance>();
  #byTransport = new Map<string, Instance[]>();
  /** Every configured VIP address (canonical) → instances, for filtering kernel events. */
  #vipOwners = new Map<string, Instance[]>();

  #node: NodeState;
  #phase: DaemonStatus["phase"] = "new";
  #transports = new Map<string, VrrpTransport>();
  #unwatch: (() => void) | null = null;
  #inbox: InboxItem[] = [];
  #wake: (() => void) | null = null;
  #idle = false;
  #done: Promise<void> = Promise.resolve();
  #stopRequested = false;
  #shutdownFed = false;
  #stopHardAtMs: number | null = null;
  #reconcileWanted = false;
  #reconcileReason: "startup" | "engine" | "kernel" | "retry" | "reload" = "startup";
  #retryAtMs: number | null = null;
  /** `vipKey` of wanted VIPs present in the kernel, per the last reconcile. */
  #held = new Set<string>();
  /** `vipKey` of addresses hacore itself removed, whose kernel event is still to come. */
  #selfRemoved = new Set<string>();
  /** Canonical VIP → instance that a reload took it from, to name it in the removal log. */
  #reloadRemoved = new Map<string, string>();
  #conflicts = new Map<string, string>();
  #counters: Record<string, number> = {};
  #overrides = new Map<string, PriorityOverride>();
  #maintenance = false;
  /** Last state told for each sync group. */
  #groupStates = new Map<string, GroupState>();
  /** Transitions of the current step, by router, for the group event that may follow. */
  #stepTransitions: { name: string; t: Transition }[] = [];
  #reloadChain: Promise<unknown> = Promise.resolve();
  /** Clock time the loop last finished an iteration. */
  #lastTurnMs: number;
  /** While parked: the deadline it waits for (null: none). Undefined while turning. */
  #parkedUntil: number | null | undefined = undefined;

  /**
   * Builds the daemon; nothing is opened until {@link Daemon.start}.
   *
   * @example
   * ```ts
   * const d = new Daemon({ config, primaryAddresses, clock, transports, addresses, announcer, logger });
   * ```
   * @throws {DaemonSetupError} when an instance has no address to send adverts from.
   */
  constructor(opts: DaemonOptions) {
    this.#config = opts.config;
    this.#clock = opts.clock;
    this.#transportFactory = opts.transports;
    this.#addresses = opts.addresses;
    this.#announcer = opts.announcer;
    this.#vmacPort = opts.vmacs ?? null;
    this.#log = opts.logger;
    this.#retryMs = opts.retryMs ?? 1000;
    this.#limiter = new RateLimiter(opts.dropLogWindowMs ?? 10_000);
    this.#announceCfg = announceConfig(opts.config.global);
    this.#primaries = opts.primaryAddresses;
    this.#notify = opts.notify ?? null;
    this.#load = opts.loadConfig ?? loadConfig;
    this.#version = opts.version ?? "unknown";
    this.#wallClock = opts.wallClock ?? (() => new Date());
    this.#trackers = opts.trackers ??
      new TrackerHub({ probes: systemProbes(), logger: opts.logger });
    const now = this.#clock.nowMs();
    this.#lastTurnMs = now;
    const wall = this.#wallClock();
    this.#wallOffsetMs = wall.getTime() - now;
    this.#startedAtWall = wall.toISOString();

    const problems: string[] = [];
    for (const vi of opts.config.instances) {
      const inst = this.#makeInstance(vi, opts.config);
      if (typeof inst === "string") problems.push(inst);
      else this.#instances.push(inst);
    }
    problems.push(...this.#vmacProblems(opts.config.instances));
    if (problems.length > 0) throw new DaemonSetupError(problems);
    this.#index();
    this.#node = createNode({
      routers: this.#instances.map((i) => i.rc),
      syncGroups: opts.config.syncGroups.map(groupOf),
    }, now);
    for (const g of opts.config.syncGroups) this.#groupStates.set(g.name, "INIT");
  }

  /** An instance's runtime form, or the reason it cannot run. */
  #makeInstance(vi: InstanceConfig, config: Config): Instance | string {
    const src = this.#sourceOf(vi);
    if (src === null) {
      return `${vi.name}: no ${vi.family} address on ${vi.interface} to send adverts from (and no unicast_src_ip)`;
    }
    return {
      cfg: vi,
      rc: toRouterConfig(vi, src),
      key: transportKey(vi.interface, vi.family),
      group: vi.family === "ipv4" ? config.global.mcastGroup4 : config.global.mcastGroup6,
      peers: new Set(vi.unicastPeers.map((p) => canonicalIp(p) ?? p)),
      targets: targetsOf(vi),
      announce: IDLE_ANNOUNCE,
      extra: {},
      foreign: [],
      retired: null,
      track: null,
    };
  }

  #sourceOf(vi: InstanceConfig): string | null {
    const primary = this.#primaries.get(vi.interface)?.[vi.family];
    const src = vi.srcIp ?? primary ?? null;
    return src === null ? null : canonicalIp(src) ?? src;
  }

  /** Rebuilds the lookups from `#instances` and `#retiring`. */
  #index() {
    this.#byName = new Map(this.#instances.map((i) => [i.cfg.name, i]));
    this.#byTransport = new Map();
    for (const inst of this.#instances) {
      const list = this.#byTransport.get(inst.key) ?? [];
      list.push(inst);
      this.#byTransport.set(inst.key, list);
    }
    this.#vipOwners = new Map();
    for (const inst of [...this.#instances, ...this.#retiring]) {
      for (const t of inst.targets) {
        const a = canonicalIp(t.address) ?? t.address;
        this.#vipOwners.set(a, [...(this.#vipOwners.get(a) ?? []), inst]);
      }
    }
  }

  /** The engine state of an instance, live or retiring. */
  #routerOf(inst: Instance): RouterState {
    return inst.retired ?? this.#node.routers[inst.cfg.name];
  }

  #wallIso(atMs: number): string {
    return new Date(this.#wallOffsetMs + atMs).toISOString();
  }

  /**
   * Resolves when the loop has exited after a {@link Daemon.stop} (or at once if the
   * daemon never started). Never rejects.
   *
   * @example
   * ```ts
   * await daemon.done;
   * ```
   */
  get done(): Promise<void> {
    return this.#done;
  }

  /**
   * True while the loop is parked with nothing queued (or the daemon is not running):
   * a simulation driver may move its clock on.
   *
   * @example
   * ```ts
   * while (!daemons.every((d) => d.idle)) await new Promise((r) => setTimeout(r, 0));
   * ```
   */
  get idle(): boolean {
    return this.#phase === "new" || this.#phase === "stopped" ||
      (this.#idle && this.#inbox.length === 0);
  }

  /**
   * Opens the transports, subscribes to kernel events, removes hacore leftovers from
   * an earlier run, starts every instance, and resolves once they are started (the
   * loop keeps running until {@link Daemon.stop}).
   *
   * @example
   * ```ts
   * await daemon.start();
   * ```
   * @throws when a transport cannot be opened (no such interface, no permission);
   * whatever was opened is closed again.
   */
  start(): Promise<void> {
    if (this.#phase !== "new") return Promise.reject(new Error("the daemon was already started"));
    this.#phase = "running";
    this.#startedAtWall = this.#wallIso(this.#clock.nowMs());
    try {
      for (const inst of this.#instances) {
        if (!this.#transports.has(inst.key)) this.#transports.set(inst.key, this.#open(inst));
      }
      this.#unwatch = this.#addresses.watch((event) => this.#push({ kind: "kernel", event }));
    } catch (e) {
      this.#teardown();
      return Promise.reject(e);
    }
    this.#log.notice(
      `hacore starting: ${this.#instances.length} instance${
        this.#instances.length === 1 ? "" : "s"
      } from ${this.#config.file}`,
    );
    for (const inst of this.#instances) this.#log.info(summarizeInstance(inst.cfg));
    let started!: () => void;
    const startedP = new Promise<void>((r) => (started = r));
    this.#done = this.#loop(started).catch((e) => {
      // #loop handles its own errors; this is the last line of defence.
      this.#log.error(`daemon loop failed: ${errorText(e)}`);
      this.#teardown();
      void this.#stopTrackers();
      started();
    });
    return startedP;
  }

  /** Opens the transport an instance needs (throws like the factory). */
  #open(inst: Instance): VrrpTransport {
    const iface = inst.cfg.interface;
    const family = inst.cfg.family;
    return this.#transportFactory.open(
      { interface: iface, family, group: inst.group },
      (packet) => this.#push({ kind: "packet", iface, family, packet }),
    );
  }

  /**
   * Orderly stop (SIGTERM): every instance sends its priority-0 advert, a Master keeps
   * its VIPs through its release hold (until a new master is heard or the hold ends),
   * then every VIP is removed, the ports are closed and the loop exits. Resolves when
   * all that is done. Safe to call more than once.
   *
   * @example
   * ```ts
   * await daemon.stop();
   * ```
   */
  stop(): Promise<void> {
    if (this.#phase === "new") {
      this.#phase = "stopped";
      return this.#done;
    }
    if (this.#stopRequested || this.#phase === "stopped") return this.#done;
    this.#stopRequested = true;
    this.#phase = "stopping";
    const hold = Math.max(
      0,
      ...[...this.#instances, ...this.#retiring].map((i) => i.rc.releaseHoldMs),
    );
    this.#stopHardAtMs = this.#clock.nowMs() + hold + STOP_GRACE_MS;
    this.#poke();
    return this.#done;
  }

  /**
   * A JSON-able snapshot of every instance and the node-wide counters.
   *
   * @example
   * ```ts
   * daemon.status().instances[0].state; // "master"
   * ```
   */
  status(): DaemonStatus {
    const now = this.#clock.nowMs();
    const instances = this.#instances.map((inst) => this.#instanceStatus(inst, now));
    const counters: Record<string, number> = {};
    for (const [k, v] of Object.entries(this.#node.counters)) if (v !== 0) counters[k] = v;
    for (const [k, v] of Object.entries(this.#counters)) if (v !== 0) bump(counters, k, v);
    return {
      phase: this.#phase,
      nowMs: now,
      instances,
      counters,
      conflicts: [...this.#conflicts.values()],
      maintenance: this.#maintenance,
      configFile: this.#config.file,
      startedAtWall: this.#startedAtWall,
      version: this.#version,
    };
  }

  #instanceStatus(inst: Instance, now: number): InstanceStatus {
    const r = this.#routerOf(inst);
    const counters: Record<string, number> = {};
    for (const [k, v] of Object.entries(r.counters)) if (v !== 0) counters[k] = v;
    for (const [k, v] of Object.entries(inst.extra)) if (v !== 0) bump(counters, k, v);
    const vip = (excluded: boolean) => (v: InstanceConfig["vips"][number]): VipStatus => ({
      address: v.address,
      prefix: v.prefix,
      dev: v.dev,
      excluded,
      held: r.holdingVips && this.#held.has(vipKey(v.dev, v.address)),
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
      override: this.#overrides.get(inst.cfg.name) ?? null,
      maintenance: r.maintenance,
      // Read live, so details ("HTTP 200 in 1.2 ms") are current between recomputes.
      trackers: inst.track === null ? [] : this.#trackerVerdict(inst).trackers,
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
        firstSeen: this.#wallIso(f.firstSeenMs),
        lastSeen: this.#wallIso(f.lastSeenMs),
      })),
    };
  }

  // -------------------------------------------------------------------------------
  // DaemonControl

  /**
   * One instance in full: its summary, the last 50 transitions with wall times, every
   * counter (zeros included), the override and its recent hook runs. Null when there
   * is no such instance.
   *
   * @example
   * ```ts
   * daemon.detail("VI_1")?.history.at(-1)?.wallTime; // "2026-11-21T22:59:03.414Z"
   * ```
   */
  detail(name: string): InstanceDetail | null {
    const inst = this.#byName.get(name);
    if (inst === undefined) return null;
    const r = this.#routerOf(inst);
    const history = r.history.slice(-50).map((t): TransitionRecord => ({
      from: t.from,
      to: t.to,
      reason: t.reason,
      detail: t.detail,
      atMs: t.atMs,
      wallTime: this.#wallIso(t.atMs),
    }));
    const counters: Record<string, number> = { ...r.counters };
    for (const k of INSTANCE_EXTRA_COUNTERS) counters[k] ??= 0;
    for (const [k, v] of Object.entries(inst.extra)) bump(counters, k, v);
    const hooks = [...(this.#notify?.recent(name) ?? [])];
    if (inst.cfg.syncGroup !== null) {
      hooks.push(...(this.#notify?.recent(inst.cfg.syncGroup) ?? []));
    }
    hooks.sort((a, b) => (a.startedAt < b.startedAt ? -1 : a.startedAt > b.startedAt ? 1 : 0));
    return {
      summary: this.#instanceStatus(inst, this.#clock.nowMs()),
      history,
      counters,
      override: this.#overrides.get(name) ?? null,
      hooks,
    };
  }

  /**
   * Lowers an instance's priority until {@link Daemon.resume} (or a restart), so a peer
   * takes over. The new priority goes out in the Master's next regular advert; a
   * Backup with preemption and a higher priority discards it and takes over when its
   * Master_Down_Timer, last reset by the Master's previous advert, runs out: within
   * one Master_Down_Interval of the demote. A peer with `nopreempt` keeps following
   * (RFC 5798 §6.4.2), so nothing moves.
   *
   * The name of a dual-stack instance as written in the file means both its halves
   * (`NAME` and `NAME@v6`; so do promote and resume): demoting one half alone would
   * leave the pair disagreeing, which the sync group then holds still.
   *
   * @example
   * ```ts
   * daemon.demote("VI_1"); // { ok: true, message: "VI_1: priority 150 -> 1 until resume; ..." }
   * ```
   */
  demote(name: string, priority = MIN_OPERATOR_PRIORITY): OperatorResult {
    return this.#setOverride("demote", name, priority);
  }

  /**
   * Raises a Backup's priority until {@link Daemon.resume}. With preemption it then
   * discards the lower-priority Master's adverts and takes over when its
   * Master_Down_Timer, last reset by the Master's last advert before the promote,
   * runs out (the timer keeps the length it was armed with).
   *
   * @example
   * ```ts
   * daemon.promote("VI_1", 200);
   * ```
   */
  promote(name: string, priority = MAX_OPERATOR_PRIORITY): OperatorResult {
    return this.#setOverride("promote", name, priority);
  }

  /**
   * Clears a demote or promote: the configured priority applies again.
   *
   * @example
   * ```ts
   * daemon.resume("VI_1"); // { ok: true, message: "VI_1: override cleared; priority 1 -> 150" }
   * ```
   */
  resume(name: string): OperatorResult {
    const halves = this.#dualStackHalves(name);
    if (halves !== null) return this.#onBothHalves(halves, (n) => this.#resumeOne(n));
    return this.#resumeOne(name);
  }

  #resumeOne(name: string): OperatorResult {
    const inst = this.#byName.get(name);
    if (inst === undefined) return { ok: false, error: this.#unknownInstance(name) };
    const refused = this.#refuseUnlessRunning();
    if (refused) return refused;
    const o = this.#overrides.get(name);
    // The configured priority as the trackers move it.
    const tracked = inst.track?.effective ?? inst.rc.priority;
    if (o === undefined) {
      return { ok: true, message: `${name}: no override; priority stays ${tracked}` };
    }
    this.#overrides.delete(name);
    this.#log.notice(`${name}: ${o.kind} cleared by the operator; priority back to ${tracked}`);
    this.#control(() => this.#applyPriority(name));
    return {
      ok: true,
      message: `${name}: override cleared; priority ${o.priority} -> ${tracked}`,
    };
  }

  /**
   * Maintenance on: every instance releases mastership (a Master sends priority 0 and
   * keeps its VIPs through its release hold, as on SIGTERM) and stays Backup, taking
   * over in no case. Off: every instance is a Backup with a fresh Master_Down_Timer.
   * Instances a reload adds meanwhile start in maintenance too.
   *
   * @example
   * ```ts
   * daemon.maintenance(true); // the peers take over after their Skew_Time
   * daemon.maintenance(false);
   * ```
   */
  maintenance(on: boolean): OperatorResult {
    const refused = this.#refuseUnlessRunning();
    if (refused) return refused;
    if (this.#maintenance === on) {
      return { ok: true, message: `maintenance is already ${on ? "on" : "off"}` };
    }
    this.#maintenance = on;
    const masters = this.#instances.filter((i) => this.#routerOf(i).state === "master")
      .map((i) => i.cfg.name);
    this.#log.notice(`maintenance ${on ? "on" : "off"} by the operator`);
    this.#control(() => this.#feed({ type: "maintenance", on }));
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
   * Re-reads the config file and applies the difference (see the module notes). An
   * invalid file, or one whose instances cannot run here, changes nothing and answers
   * `ok: false` with the errors. Reloads run one at a time.
   *
   * @example
   * ```ts
   * const r = await daemon.reload();
   * if (!r.ok) console.error(r.errors.join("\n")); else console.log(r.changes.join("\n"));
   * ```
   */
  reload(): Promise<ReloadOutcome> {
    const p = this.#reloadChain.then(() => this.#reload());
    this.#reloadChain = p.catch(() => {});
    return p;
  }

  /**
   * The config the daemon runs now: the one it started with, or the last one a reload
   * applied (a refused reload leaves it as it was). The loader deep-freezes every
   * config, so handing it out lets nobody change what the daemon runs.
   *
   * @example
   * ```ts
   * diffLines(diffConfigs(daemon.config(), candidate)); // what a reload to it would change
   * ```
   */
  config(): Config {
    return this.#config;
  }

  /**
   * Counts one finished hook run, for `hacore_notify_runs_total`: an instance's under
   * its own counters, a sync group's under the node's (a group belongs to no instance).
   *
   * @example
   * ```ts
   * const notifier = new Notifier({ ...opts, onRun: (run) => daemon.countHookRun(run) });
   * ```
   */
  countHookRun(run: HookRun): void {
    const result = hookResultOf(run);
    const inst = run.target === "INSTANCE" ? this.#byName.get(run.name) : undefined;
    if (inst) bump(inst.extra, hookCounterKey(run.hook, result));
    else bump(this.#counters, groupHookCounterKey(run.name, run.hook, result));
  }

  /**
   * True while the loop turns: it finished an iteration within the last
   * max(2 s, 3 × the smallest advert interval) of the daemon's clock, or it is parked
   * on a deadline that is not overdue by more than that (or on none at all).
   *
   * @example
   * ```ts
   * const healthy = daemon.isLive(); // for /healthz
   * ```
   */
  isLive(): boolean {
    if (this.#phase !== "running" && this.#phase !== "stopping") return false;
    const smallest = Math.min(Infinity, ...this.#instances.map((i) => i.rc.advertIntervalMs));
    const limit = Math.max(MIN_LIVENESS_MS, 3 * (Number.isFinite(smallest) ? smallest : 0));
    const now = this.#clock.nowMs();
    if (now - this.#lastTurnMs <= limit) return true;
    const parked = this.#parkedUntil;
    if (parked === undefined) return false;
    return parked === null || now - parked <= limit;
  }

  /**
   * The two halves of the dual-stack instance written as `name` in the file (its IPv4
   * half is also called `name`), or null when `name` is no such instance. A verb on
   * that name means the instance as written: both halves, so they stay alike.
   */
  #dualStackHalves(name: string): string[] | null {
    const halves = this.#instances.filter((i) => i.cfg.dualStackOf === name).map((i) => i.cfg.name);
    return halves.length > 1 ? halves : null;
  }

  /** Runs a verb on each half; both must agree to succeed (they share every setting). */
  #onBothHalves(halves: string[], verb: (name: string) => OperatorResult): OperatorResult {
    const results = halves.map(verb);
    const failed = results.find((r) => !r.ok);
    if (failed !== undefined) return failed;
    return {
      ok: true,
      message: results.map((r) => (r.ok ? r.message : "")).join("\n"),
    };
  }

  #unknownInstance(name: string): string {
    const names = this.#instances.map((i) => i.cfg.name);
    return `no instance ${JSON.stringify(name)}; instances: ${
      names.length > 0 ? names.join(", ") : "(none)"
    }`;
  }

  #refuseUnlessRunning(): OperatorResult | null {
    if (this.#phase === "running") return null;
    return {
      ok: false,
      error: `the daemon is ${this.#phase === "new" ? "not started" : this.#phase}`,
    };
  }

  #setOverride(kind: "demote" | "promote", name: string, priority: number): OperatorResult {
    const halves = this.#dualStackHalves(name);
    if (halves !== null) {
      return this.#onBothHalves(halves, (n) => this.#setOverrideOne(kind, n, priority));
    }
    return this.#setOverrideOne(kind, name, priority);
  }

  #setOverrideOne(kind: "demote" | "promote", name: string, priority: number): OperatorResult {
    const inst = this.#byName.get(name);
    if (inst === undefined) return { ok: false, error: this.#unknownInstance(name) };
    const refused = this.#refuseUnlessRunning();
    if (refused) return refused;
    const base = inst.rc.priority;
    if (base >= OWNER_PRIORITY) {
      return {
        ok: false,
        error:
          `${name} is the address owner (priority ${OWNER_PRIORITY}): its priority never changes`,
      };
    }
    if (
      !Number.isInteger(priority) || priority < MIN_OPERATOR_PRIORITY ||
      priority > MAX_OPERATOR_PRIORITY
    ) {
      return {
        ok: false,
        error:
          `priority must be an integer from ${MIN_OPERATOR_PRIORITY} to ${MAX_OPERATOR_PRIORITY}, got ${priority}`,
      };
    }
    if (kind === "demote" && priority >= base) {
      return {
        ok: false,
        error:
          `cannot demote ${name} to ${priority}: not below its priority ${base} (promote raises it)`,
      };
    }
    if (kind === "promote" && priority <= base) {
      return {
        ok: false,
        error:
          `cannot promote ${name} to ${priority}: not above its priority ${base} (demote lowers it)`,
      };
    }
    this.#overrides.set(name, { kind, priority });
    this.#log.notice(
      `${name}: ${kind}d by the operator to priority ${priority} (configured ${base})`,
    );
    this.#control(() => this.#applyPriority(name));
    const what = kind === "demote"
      ? "a peer with preempt and a higher priority takes over within its Master_Down_Interval"
      : "with preempt it takes over from a lower-priority master within its Master_Down_Interval";
    return { ok: true, message: `${name}: priority ${base} -> ${priority} until resume; ${what}` };
  }

  /**
   * Feeds the engine the priority an instance should have now: the operator's
   * override, else the trackers' (base plus weights), else the base.
   */
  #applyPriority(name: string) {
    const inst = this.#byName.get(name);
    if (inst === undefined) return;
    const want = this.#overrides.get(name)?.priority ?? inst.track?.effective ??
      inst.rc.priority;
    if (this.#routerOf(inst).priority === want) return;
    this.#feed({ type: "router", name, event: { type: "priority", priority: want } });
  }

  /** Queues operator work for the loop (never run concurrently with a step). */
  #control(run: () => void, cancel: () => void = () => {}) {
    this.#push({ kind: "control", run, cancel });
  }

  // -------------------------------------------------------------------------------
  // Reload

  async #reload(): Promise<ReloadOutcome> {
    const refused = (errors: string[]): ReloadOutcome => ({ ok: false, errors, changes: [] });
    if (this.#phase !== "running") {
      return refused([`the daemon is ${this.#phase === "new" ? "not started" : this.#phase}`]);
    }
    const file = this.#config.file;
    this.#log.notice(`reload: reading ${file}`);
    let loaded: LoadResult;
    try {
      loaded = await this.#load(file);
    } catch (e) {
      loaded = {
        ok: false,
        errors: [{ file, line: null, path: "", message: `cannot read the file: ${errorText(e)}` }],
      };
    }
    if (!loaded.ok) {
      const errors = loaded.errors.map(formatConfigError);
      for (const e of errors) this.#log.error(`reload: ${e}`);
      this.#log.error(`reload: ${errors.length} error(s) in ${file}; nothing changed`);
      return refused(errors);
    }
    const next = loaded.config;
    // Read before the loop applies anything: an added instance on a dead link must
    // start in Fault, as at startup.
    const down = new Set<string>();
    try {
      const states = await this.#addresses.linkStates?.();
      for (const [iface, up] of states ?? []) if (!up) down.add(iface);
    } catch (e) {
      this.#log.warn(`reload: cannot read link states: ${errorText(e)}`);
    }
    return await new Promise<ReloadOutcome>((resolve) => {
      this.#control(
        () => {
          try {
            resolve(this.#applyReload(next, down));
          } catch (e) {
            // A bug; the loop's guard counts it. The caller must still get an answer.
            resolve(refused([`internal error applying the reload: ${errorText(e)}`]));
            throw e;
          }
        },
        () => resolve(refused(["the daemon stopped before the reload was applied"])),
      );
    });
  }

  /** Applies a validated config in one loop turn; see the module notes. */
  #applyReload(next: Config, down: ReadonlySet<string>): ReloadOutcome {
    if (this.#phase !== "running") {
      return { ok: false, errors: [`the daemon is ${this.#phase}`], changes: [] };
    }
    const diff = diffConfigs(this.#config, next);
    const lines = diffLines(diff);

    // Everything that can fail comes first, so that a refusal changes nothing.
    const problems: string[] = this.#vmacProblems(next.instances);
    const fresh = new Map<string, Instance>();
    for (const vi of [...diff.added, ...diff.replaced.map((r) => r.next)]) {
      const inst = this.#makeInstance(vi, next);
      if (typeof inst === "string") problems.push(inst);
      else fresh.set(vi.name, inst);
    }
    const sources = new Map<string, string>();
    for (const c of diff.changed) {
      const src = this.#sourceOf(c.next);
      if (src === null) {
        problems.push(
          `${c.name}: no ${c.next.family} address on ${c.next.interface} to send adverts from (and no unicast_src_ip)`,
        );
      } else {
        sources.set(c.name, src);
      }
    }
    const opened = new Map<string, VrrpTransport>();
    if (problems.length === 0) {
      for (const inst of fresh.values()) {
        if (this.#transports.has(inst.key) || opened.has(inst.key)) continue;
        try {
          opened.set(inst.key, this.#open(inst));
        } catch (e) {
          problems.push(
            `${inst.cfg.name}: cannot open the VRRP socket on ${inst.cfg.interface}: ${
              errorText(e)
            }`,
          );
          break;
        }
      }
    }
    if (problems.length > 0) {
      for (const t of opened.values()) t.close();
      for (const p of problems) this.#log.error(`reload: ${p}`);
      this.#log.error(`reload: ${next.file} cannot be applied here; nothing changed`);
      return { ok: false, errors: problems, changes: [] };
    }

    for (const line of lines) this.#log.notice(`reload: ${line}`);
    this.#log.notice(
      lines.length === 0
        ? `reload: ${next.file}: no changes`
        : `reload: ${next.file}: ${lines.length} change${lines.length === 1 ? "" : "s"} applied`,
    );
    for (const [key, t] of opened) this.#transports.set(key, t);
    const now = this.#clock.nowMs();

    for (const vi of [...diff.removed, ...diff.replaced.map((r) => r.old)]) {
      const inst = this.#byName.get(vi.name);
      if (inst) this.#retire(inst);
    }

    for (const c of diff.changed) {
      const inst = this.#byName.get(c.name);
      if (inst === undefined) continue;
      inst.cfg = c.next;
      inst.rc = toRouterConfig(c.next, sources.get(c.name)!);
      inst.peers = new Set(c.next.unicastPeers.map((p) => canonicalIp(p) ?? p));
      inst.targets = targetsOf(c.next);
      this.#feed({ type: "router", name: c.name, event: { type: "reconfigure", config: inst.rc } });
      if (c.priority !== null) this.#applyPriority(c.name);
      for (const v of [...c.vips.removed, ...c.excluded.removed]) {
        this.#reloadRemoved.set(canonicalIp(v.address) ?? v.address, c.name);
      }
      const gained = c.vips.added.length + c.excluded.added.length + c.vips.changed.length +
        c.excluded.changed.length;
      if (gained > 0 && this.#routerOf(inst).state === "master") {
        // Switches and hosts must learn the new addresses as they would on a takeover.
        inst.announce = startAnnounce(this.#announceCfg, inst.targets, now);
      } else if (inst.announce !== IDLE_ANNOUNCE) {
        inst.announce = { ...inst.announce, targets: inst.targets };
      }
    }

    const old = this.#config;
    this.#config = next;
    this.#announceCfg = announceConfig(next.global);
    const live = new Map(this.#instances.map((i) => [i.cfg.name, i]));
    this.#instances = next.instances.map((vi) => fresh.get(vi.name) ?? live.get(vi.name)!);
    for (const inst of this.#instances) {
      if (fresh.has(inst.cfg.name)) this.#node = nodeAddRouter(this.#node, inst.rc, now);
    }
    this.#node = nodeSetSyncGroups(this.#node, next.syncGroups.map(groupOf));
    const groups = new Map<string, GroupState>();
    for (const g of next.syncGroups) groups.set(g.name, this.#groupStates.get(g.name) ?? "INIT");
    this.#groupStates = groups;
    this.#index();
    // Before the added instances start, so they start in Fault (or with their tracked
    // priority) as they would at startup; the kept ones get only what changed.
    this.#trackers.configure(next);
    this.#applyTrackers();

    for (const family of ["ipv4", "ipv6"] as const) {
      const field = family === "ipv4" ? "mcastGroup4" : "mcastGroup6";
      if (old.global[field] === next.global[field]) continue;
      for (const inst of this.#instances) {
        if (inst.cfg.family === family) inst.group = next.global[field];
      }
      for (
        const key of new Set(
          this.#instances.filter((i) => i.cfg.family === family).map((i) => i.key),
        )
      ) {
        if (!opened.has(key)) this.#reopenKey(key);
      }
    }

    for (const inst of this.#instances) {
      if (!fresh.has(inst.cfg.name)) continue;
      const name = inst.cfg.name;
      if (this.#maintenance) {
        this.#feed({ type: "router", name, event: { type: "maintenance", on: true } });
      }
      if (down.has(inst.cfg.interface)) {
        this.#log.warn(`${inst.cfg.interface}: link is down`);
        this.#feed({
          type: "router",
          name,
          event: {
            type: "fault",
            tracker: `${LINK_FAULT_PREFIX}${inst.cfg.interface}`,
            failing: true,
          },
        });
      }
      this.#log.info(summarizeInstance(inst.cfg));
      this.#feed({ type: "router", name, event: { type: "startup" } });
    }
    this.#closeUnused();
    this.#reconcileWanted = true;
    this.#reconcileReason = "reload";
    return { ok: true, errors: [], changes: lines };
  }

  /**
   * Stops an instance a reload removed: the same priority-0 release as a shutdown,
   * then its router leaves the node and finishes its release hold on the side.
   */
  #retire(inst: Instance) {
    const name = inst.cfg.name;
    if (this.#overrides.delete(name)) this.#log.info(`${name}: override dropped with the instance`);
    this.#feed({ type: "router", name, event: { type: "shutdown" } });
    const { node, router } = nodeRemoveRouter(this.#node, name);
    this.#node = node;
    if (router === null) return;
    inst.retired = router;
    inst.announce = IDLE_ANNOUNCE;
    this.#retiring.push(inst);
    this.#instances = this.#instances.filter((i) => i !== inst);
  }

  #stepRetired(inst: Instance, event: RouterEvent) {
    if (inst.retired === null) return;
    const now = this.#clock.nowMs();
    const { state, actions } = step(inst.retired, event, now);
    inst.retired = state;
    for (const a of actions) this.#execute(inst, a, now);
  }

  /** Forgets retiring instances whose VIPs are gone, and closes what they alone used. */
  #finishRetired() {
    if (this.#retiring.length === 0 || this.#reconcileWanted) return;
    const done = this.#retiring.filter((i) =>
      i.retired !== null && !i.retired.holdingVips && i.retired.releaseDeadlineMs === null
    );
    if (done.length === 0) return;
    this.#retiring = this.#retiring.filter((i) => !done.includes(i));
    for (const i of done) this.#log.info(`${i.cfg.name}: removed instance released`);
    // The next reconcile removes the virtual MACs only they used.
    if (done.some((i) => i.cfg.vmac !== null)) this.#reconcileWanted = true;
    this.#index();
    this.#closeUnused();
  }

  /** Closes transports that no live or retiring instance uses any more. */
  #closeUnused() {
    const used = new Set([...this.#instances, ...this.#retiring].map((i) => i.key));
    for (const [key, t] of this.#transports) {
      if (used.has(key)) continue;
      try {
        t.close();
      } catch (e) {
        this.#log.warn(`closing the transport on ${key}: ${errorText(e)}`);
      }
      this.#transports.delete(key);
    }
  }

  // -------------------------------------------------------------------------------
  // The loop

  #push(item: InboxItem) {
    if (this.#phase === "stopped" || this.#phase === "new") {
      if (item.kind === "control") item.cancel();
      return;
    }
    if (this.#inbox.length >= INBOX_LIMIT && item.kind === "packet") {
      bump(this.#counters, "inboxOverflows");
      return;
    }
    this.#inbox.push(item);
    this.#idle = false;
    this.#poke();
  }

  #poke() {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  async #loop(started: () => void): Promise<void> {
    try {
      this.#reconcileWanted = true;
      this.#reconcileReason = "startup";
      await this.#guarded(() => this.#reconcileNow());
      await this.#guarded(() => this.#readLinkStates());
      await this.#guarded(() => Promise.resolve(this.#startTrackers()));
      this.#feed({ type: "startup" });
      started();
      for (;;) {
        await this.#guarded(() => this.#iteration());
        this.#lastTurnMs = this.#clock.nowMs();
        if (this.#finished()) break;
        await this.#wait(this.#nextDeadline());
      }
    } finally {
      // The VIPs are released by now (or the stop gave up on them); the macvlans go last.
      await this.#removeVmacs();
      this.#teardown();
      await this.#stopTrackers();
      started();
    }
  }

  /** Runs one unit of loop work; an unexpected error is logged, counted and paused on. */
  async #guarded(work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (e) {
      bump(this.#counters, "internalErrors");
      this.#rateLog("loop/internal", "error", `internal error in the daemon loop: ${errorText(e)}`);
      await this.#wait(this.#clock.nowMs() + LOOP_ERROR_PAUSE_MS);
    }
  }

  async #iteration(): Promise<void> {
    const batch = this.#inbox.splice(0);
    for (const item of batch) {
      if (item.kind === "packet") this.#onPacket(item.iface, item.family, item.packet);
      else if (item.kind === "kernel") this.#onKernel(item.event);
      else item.run();
    }
    if (this.#stopRequested && !this.#shutdownFed) {
      this.#shutdownFed = true;
      this.#feed({ type: "shutdown" });
    }
    const now = this.#clock.nowMs();
    const due = nodeNextDeadline(this.#node);
    if (due !== null && due <= now) this.#feed({ type: "tick" });
    for (const inst of [...this.#retiring]) {
      const d = inst.retired === null ? null : nextDeadline(inst.retired);
      if (d !== null && d <= now) this.#stepRetired(inst, { type: "tick" });
    }
    if (this.#retryAtMs !== null && this.#retryAtMs <= this.#clock.nowMs()) {
      this.#reconcileWanted = true;
      this.#reconcileReason = "retry";
    }
    if (this.#reconcileWanted) await this.#reconcileNow();
    this.#finishRetired();
    this.#expireForeign();
    // After the reconcile, so a new master's VIPs exist before they are announced.
    this.#runAnnouncements();
  }

  #finished(): boolean {
    if (!this.#stopRequested || !this.#shutdownFed) return false;
    if (this.#stopHardAtMs !== null && this.#clock.nowMs() >= this.#stopHardAtMs) {
      this.#log.warn("stop: giving up waiting for the release hold and address removal");
      return true;
    }
    if (this.#reconcileWanted) return false;
    return [...this.#instances, ...this.#retiring].every((i) => {
      const r = this.#routerOf(i);
      return !r.holdingVips && r.releaseDeadlineMs === null;
    });
  }

  #nextDeadline(): number | null {
    let best = nodeNextDeadline(this.#node);
    const consider = (d: number | null) => {
      if (d !== null && (best === null || d < best)) best = d;
    };
    for (const inst of this.#instances) consider(announceNextDeadline(inst.announce));
    for (const inst of this.#retiring) consider(inst.retired && nextDeadline(inst.retired));
    for (const inst of this.#instances) consider(foreignNextDeadline(inst.foreign));
    consider(this.#retryAtMs);
    consider(this.#stopHardAtMs);
    return best;
  }

  async #wait(deadline: number | null): Promise<void> {
    if (this.#inbox.length > 0 || (this.#stopRequested && !this.#shutdownFed)) return;
    const ac = new AbortController();
    const woken = new Promise<void>((resolve) => (this.#wake = resolve));
    const waits = [woken];
    if (deadline !== null) waits.push(this.#clock.sleepUntil(deadline, ac.signal));
    this.#idle = true;
    this.#parkedUntil = deadline;
    try {
      await Promise.race(waits);
    } finally {
      this.#idle = false;
      this.#parkedUntil = undefined;
      this.#wake = null;
      // Cancels the sleep's timer: a stopped daemon leaves nothing pending.
      ac.abort();
    }
  }

  #teardown() {
    for (const [key, t] of this.#transports) {
      try {
        t.close();
      } catch (e) {
        this.#log.warn(`closing the transport on ${key}: ${errorText(e)}`);
      }
    }
    this.#transports.clear();
    try {
      this.#unwatch?.();
    } catch (e) {
      this.#log.warn(`unsubscribing from kernel events: ${errorText(e)}`);
    }
    this.#unwatch = null;
    for (const inst of this.#instances) inst.announce = IDLE_ANNOUNCE;
    const pending = this.#inbox;
    this.#inbox = [];
    if (this.#phase !== "stopped") {
      this.#phase = "stopped";
      this.#log.notice("hacore stopped");
    }
    for (const item of pending) if (item.kind === "control") item.cancel();
  }

  // -------------------------------------------------------------------------------
  // Engine steps and actions

  #feed(event: NodeEvent) {
    const now = this.#clock.nowMs();
    const { node, actions } = stepNode(this.#node, event, now);
    this.#node = node;
    for (const { router, action } of actions) {
      const inst = this.#byName.get(router);
      if (inst) this.#execute(inst, action, now);
    }
    this.#checkGroups(now);
  }

  #execute(inst: Instance, action: RouterAction, now: number) {
    switch (action.type) {
      case "send":
        this.#sendAdvert(inst, action.advert);
        break;
      case "hold-vips":
      case "release-vips":
        this.#reconcileWanted = true;
        this.#reconcileReason = "engine";
        break;
      case "announce":
        inst.announce = startAnnounce(this.#announceCfg, inst.targets, now);
        break;
      case "reannounce":
        // Only a live Master has VIPs to claim back; a retiring router is no Master.
        if (inst.retired !== null) break;
        inst.announce = startAnnounce(this.#announceCfg, inst.targets, now);
        bump(inst.extra, "reannouncements");
        this.#log.notice(
          `${inst.cfg.name}: dual master over: ${action.detail}; announcing the VIPs again`,
        );
        break;
      case "transition": {
        const t = action.transition;
        if (t.to !== "master") inst.announce = IDLE_ANNOUNCE;
        const why = this.#why(inst, t);
        this.#log.notice(
          `${inst.cfg.name}: ${upper(t.from)} -> ${upper(t.to)} (${t.reason}: ${why})`,
        );
        this.#stepTransitions.push({ name: inst.cfg.name, t });
        this.#notifyInstance(inst, t, why);
        break;
      }
      case "refused":
        this.#rateLog(
          `${inst.cfg.name}/${action.reason}`,
          "warn",
          `${inst.cfg.name}: dropped an advert from ${action.src}: ${action.reason}: ${action.detail}`,
        );
        break;
      default: {
        // A new action type must be handled here; the compiler says so.
        const never: never = action;
        throw new Error(`unhandled engine action ${JSON.stringify(never)}`);
      }
    }
  }

  /** The detail of a transition as people read it. */
  #why(inst: Instance, t: Transition): string {
    if (t.reason !== "master-down-timer") return t.detail;
    const m = this.#routerOf(inst).lastMaster;
    return m === null
      ? "no master heard"
      : `no advert from ${m.ip} for ${(t.atMs - m.atMs).toFixed(1)} ms`;
  }

  // -------------------------------------------------------------------------------
  // Notify

  #notifyInstance(inst: Instance, t: Transition, why: string) {
    if (this.#notify === null) return;
    const r = this.#routerOf(inst);
    const state = notifyState(t.to);
    const heard = r.lastMaster !== null && r.lastMaster.priority > 0 ? r.lastMaster.ip : null;
    this.#emit({
      target: "INSTANCE",
      name: inst.cfg.name,
      state,
      previous: notifyPrevious(t.from),
      priority: r.priority,
      reason: t.reason,
      detail: why,
      masterIp: state === "MASTER" ? inst.rc.primaryIp : state === "BACKUP" ? heard : null,
      at: new Date(this.#wallOffsetMs + t.atMs),
      // The hooks were written for the instance as a whole: its IPv4 half (named as
      // written) runs them, so a dual-stack takeover runs notify_master once, not twice.
      hooks: isDualStackV6Half(inst.cfg) ? NO_HOOKS : inst.cfg.notify,
    });
  }

  /**
   * Tells each sync group's change as a whole: every member stopped → STOP; else,
   * among the started ones, any in Fault → FAULT, all Master → MASTER, else BACKUP.
   */
  #checkGroups(now: number) {
    const moved = this.#stepTransitions;
    this.#stepTransitions = [];
    for (const g of this.#node.syncGroups) {
      const rs = g.members.map((m) => this.#node.routers[m]);
      const active = rs.filter((r) => !r.stopped && r.state !== "init");
      let state: NotifyState;
      if (rs.length > 0 && rs.every((r) => r.stopped)) state = "STOP";
      else if (active.length === 0) continue;
      else if (active.some((r) => r.state === "fault")) state = "FAULT";
      else if (active.every((r) => r.state === "master")) state = "MASTER";
      else state = "BACKUP";
      const prev = this.#groupStates.get(g.name) ?? "INIT";
      if (state === prev) continue;
      this.#groupStates.set(g.name, state);
      // The first member that moved in this step is the cause; the rest followed it.
      const trigger = moved.find((m) => g.members.includes(m.name));
      const declared = this.#config.syncGroups.find((c) => c.name === g.name);
      // A dual-stack instance's implicit group is not one the file declares: its
      // halves' own events already tell the story, under the instance's name.
      if (declared?.implicit === true) continue;
      this.#log.notice(`sync group ${g.name}: ${prev} -> ${state}`);
      if (this.#notify === null) continue;
      const hooks = declared?.notify;
      this.#emit({
        target: "GROUP",
        name: g.name,
        state,
        previous: notifyPrevious(prev),
        priority: trigger ? this.#node.routers[trigger.name].priority : 0,
        reason: trigger?.t.reason ?? "sync-group",
        detail: trigger ? `${trigger.name}: ${trigger.t.detail}` : "group membership changed",
        masterIp: null,
        at: new Date(this.#wallOffsetMs + (trigger?.t.atMs ?? now)),
        hooks: hooks ?? NO_HOOKS,
      });
    }
  }

  /** Hands an event to the sink; a misbehaving sink costs a counter, never the loop. */
  #emit(event: NotifyEvent) {
    try {
      this.#notify?.notify(event);
    } catch (e) {
      bump(this.#counters, "notifyErrors");
      this.#rateLog("notify", "error", `notify ${event.name} ${event.state}: ${errorText(e)}`);
    }
  }

  #sendAdvert(inst: Instance, advert: OutgoingAdvert) {
    const t = this.#transports.get(inst.key);
    if (t === undefined) return;
    const src = inst.rc.primaryIp;
    const dsts = inst.peers.size > 0 ? [...inst.peers] : [inst.group];
    for (const dst of dsts) {
      try {
        const bytes = encodeAdvert(
          advert,
          { family: inst.cfg.family, src, dst },
          this.#checksumForm(inst, dst),
        );
        t.send(bytes, dst, src, advertVia(inst.cfg));
      } catch (e) {
        bump(inst.extra, "sendErrors");
        this.#rateLog(
          `${inst.cfg.name}/send`,
          "warn",
          `${inst.cfg.name}: cannot send an advert to ${dst}: ${errorText(e)}`,
        );
      }
    }
  }

  /**
   * The VRRPv3-over-IPv4 checksum form to send with. In `auto` mode: what a unicast
   * peer was seen using; to the group, the RFC 9568 form only when every peer heard so
   * far uses it (keepalived's pseudo-header form otherwise, the common default).
   */
  #checksumForm(inst: Instance, dst: string): "pseudo-header" | "rfc9568" {
    const mode = this.#config.global.checksum;
    if (mode !== "auto") return mode;
    const learned = this.#routerOf(inst).peerChecksum;
    if (inst.peers.size > 0) return learned[dst] ?? "pseudo-header";
    const forms = Object.values(learned);
    return forms.length > 0 && forms.every((f) => f === "rfc9568") ? "rfc9568" : "pseudo-header";
  }

  // -------------------------------------------------------------------------------
  // Received packets

  #onPacket(iface: string, family: Family, p: ReceivedPacket) {
    try {
      this.#handlePacket(iface, family, p);
    } catch (e) {
      bump(this.#counters, "internalErrors");
      let from = "?";
      try {
        from = String(p?.src);
      } catch {
        // keep "?"
      }
      this.#rateLog(
        `${iface}/internal`,
        "error",
        `${iface}: internal error handling a packet from ${from}: ${errorText(e)}`,
      );
    }
  }

  #handlePacket(iface: string, family: Family, p: ReceivedPacket) {
    const candidates = this.#byTransport.get(transportKey(iface, family)) ?? [];
    const res = decodeAdvert(p.bytes, { family, src: p.src, dst: p.dst, ttl: p.ttl }, {
      checksumMode: this.#config.global.checksum,
    });
    if (!res.ok) {
      // The VRID byte is only a hint here, but it lets the instance the packet was
      // probably meant for own the counter, as RFC 6527's per-router statistics do.
      const vrid = p.bytes.length >= 2 ? p.bytes[1] : -1;
      const targets = candidates.filter((i) => i.cfg.vrid === vrid);
      this.#drop(iface, targets, res.error.reason, res.error.message, p.src);
      return;
    }
    const advert = res.advert;
    const src = canonicalIp(p.src) ?? p.src;
    const checksumForm = res.checksumForm === "pseudo-header" || res.checksumForm === "rfc9568"
      ? res.checksumForm
      : undefined;
    const key = transportKey(iface, family);
    // A removed instance in its release hold waits for the new master's advert.
    const retiring = this.#retiring.filter((i) => i.key === key && i.cfg.vrid === advert.vrid);
    for (const inst of retiring) {
      if (src !== inst.rc.primaryIp) {
        this.#stepRetired(inst, { type: "advert", advert, src, checksumForm });
      }
    }
    const targets = candidates.filter((i) => i.cfg.vrid === advert.vrid);
    if (targets.length === 0) {
      if (retiring.length > 0) return;
      this.#drop(iface, [], "vrid", `no ${family} instance for vrid ${advert.vrid}`, p.src);
      return;
    }
    for (const inst of targets) {
      // Our own advert looped back is not a peer's; the engine would ignore it too.
      if (src === inst.rc.primaryIp) continue;
      if (inst.peers.size > 0 && !inst.peers.has(src)) {
        this.#drop(iface, [inst], "unicast-peer", `source ${src} is not in unicast_peer`, src);
        continue;
      }
      // Before the engine: its refusal (counted there) and this report see the same advert.
      this.#observeForeign(inst, advert, src);
      this.#feed({
        type: "router",
        name: inst.cfg.name,
        event: { type: "advert", advert, src, checksumForm },
      });
    }
  }

  #drop(iface: string, targets: Instance[], reason: DropReason, message: string, src: string) {
    const counter = DROP_COUNTER[reason];
    if (targets.length === 0) {
      bump(this.#counters, counter);
      // Other VRIDs on a shared LAN are normal (other clusters): not worth a warning.
      const level = reason === "vrid" ? "debug" : "warn";
      this.#rateLog(
        `${iface}/${reason}`,
        level,
        `${iface}: dropped a packet from ${src}: ${message}`,
      );
      return;
    }
    for (const inst of targets) {
      if (reason === "family" || reason === "vrid") {
        // The engine keeps no counter for these; the daemon does.
        bump(inst.extra, counter);
      } else {
        this.#feed({ type: "router", name: inst.cfg.name, event: { type: "dropped", reason } });
      }
      this.#rateLog(
        `${inst.cfg.name}/${reason}`,
        "warn",
        `${inst.cfg.name}: dropped a packet from ${src}: ${message}`,
      );
    }
  }

  // -------------------------------------------------------------------------------
  // Foreign senders (split-brain guard): see lib/vrrp/foreign.ts

  #observeForeign(inst: Instance, advert: Advert, src: string) {
    const now = this.#clock.nowMs();
    const r = observeForeign(inst.foreign, inst.rc, advert, src, now);
    inst.foreign = r.table;
    if (r.conflicting) bump(inst.extra, "foreignAdverts");
    if (r.change) this.#reportForeign(inst, r.change);
  }

  /** Resolves the senders that have been quiet long enough, in every live instance. */
  #expireForeign() {
    const now = this.#clock.nowMs();
    for (const inst of this.#instances) {
      const due = foreignNextDeadline(inst.foreign);
      if (due === null || due > now) continue;
      const r = expireForeign(inst.foreign, now);
      inst.foreign = r.table;
      for (const c of r.resolved) this.#reportForeign(inst, c);
    }
  }

  /**
   * One warning when a sender starts conflicting (the table is capped, so a flood of
   * sources cannot flood the log), rate-limited ones when what differs changes or the
   * table is full, one info line when it is resolved.
   */
  #reportForeign(inst: Instance, c: ForeignChange) {
    const name = inst.cfg.name;
    const what = `VRID ${inst.cfg.vrid} on ${inst.cfg.interface}`;
    switch (c.kind) {
      case "started":
        this.#log.warn(
          `${name}: foreign sender ${c.sender.src} advertises ${what} with other settings: ${
            describeForeign(c.sender)
          } (priority ${c.sender.priority}); split-brain risk`,
        );
        return;
      case "changed":
        this.#rateLog(
          `${name}/foreign`,
          "warn",
          `${name}: foreign sender ${c.sender.src} now differs: ${describeForeign(c.sender)}`,
        );
        return;
      case "full":
        this.#rateLog(
          `${name}/foreign-full`,
          "warn",
          `${name}: foreign sender ${c.src} advertises ${what} too (${
            c.differences.map((d) => d.text).join("; ")
          }); not listed, ${inst.foreign.length} senders are already`,
        );
        return;
      case "resolved": {
        const s = c.sender;
        const why = c.why === "agrees"
          ? "its adverts agree with ours now"
          : `silent for ${((this.#clock.nowMs() - s.lastSeenMs) / 1000).toFixed(1)} s`;
        this.#log.info(
          `${name}: foreign sender ${s.src} resolved: ${why} (${s.count} conflicting advert${
            s.count === 1 ? "" : "s"
          } since ${this.#wallIso(s.firstSeenMs)})`,
        );
        return;
      }
    }
  }

  #rateLog(key: string, level: "debug" | "warn" | "error", msg: string) {
    const v = this.#limiter.check(key, this.#clock.nowMs());
    if (v.allow) this.#log.log(level, msg + suppressedNote(v.suppressed));
  }

  // -------------------------------------------------------------------------------
  // Kernel addresses

  #onKernel(e: KernelEvent) {
    switch (e.kind) {
      case "addr-removed": {
        const owners = this.#vipOwners.get(canonicalIp(e.address) ?? e.address);
        if (!owners) return;
        const key = vipKey(e.interface, e.address);
        // Our own removal (a prefix replacement, say) echoing back is not an operator's;
        // the reconcile still runs, so a stale entry can cost a log line, never a VIP.
        const ours = this.#selfRemoved.delete(key);
        const holder = ours
          ? undefined
          : owners.find((i) => this.#routerOf(i).holdingVips && this.#held.has(key));
        if (holder) {
          this.#log.warn(
            `${holder.cfg.name}: ${e.address} was removed from ${e.interface} outside hacore; restoring it`,
          );
          bump(holder.extra, "vipsRestored");
          this.#held.delete(key);
        }
        this.#wantReconcile("kernel");
        return;
      }
      case "addr-added":
        // Only a VIP's address matters here: a foreign copy of it is a conflict to report.
        if (this.#vipOwners.has(canonicalIp(e.address) ?? e.address)) this.#wantReconcile("kernel");
        return;
      case "link-up":
        this.#log.info(`${e.interface}: link up`);
        this.#reopenTransports(e.interface);
        this.#setLinkFault(e.interface, false);
        if (this.#trackers.setLink(e.interface, true)) this.#applyTrackers();
        this.#wantReconcile("kernel");
        return;
      case "link-down":
        this.#log.warn(`${e.interface}: link down`);
        // A virtual MAC deleted (by hand, or with its parent) is made again by the reconcile.
        if (this.#vmacsUp.has(e.interface)) this.#wantReconcile("kernel");
        this.#setLinkFault(e.interface, true);
        if (this.#trackers.setLink(e.interface, false)) this.#applyTrackers();
        return;
      case "resync":
        this.#wantReconcile("kernel");
        return;
    }
  }

  /**
   * An instance whose own interface has no link can neither hear nor be heard: like
   * keepalived, it goes to Fault (releasing with priority 0 if it was Master) and comes
   * back when the link does. `track_interface` for other links is the trackers' job.
   */
  #setLinkFault(iface: string, failing: boolean) {
    for (const inst of this.#instances) {
      if (inst.cfg.interface !== iface) continue;
      this.#feed({
        type: "router",
        name: inst.cfg.name,
        event: { type: "fault", tracker: `${LINK_FAULT_PREFIX}${iface}`, failing },
      });
    }
  }

  async #readLinkStates(): Promise<void> {
    if (!this.#addresses.linkStates) return;
    const states = await this.#addresses.linkStates();
    // Every link, for track_interface (a missing interface counts as down there).
    this.#trackers.setLinks(states);
    for (const iface of new Set(this.#instances.map((i) => i.cfg.interface))) {
      if (states.get(iface) === false) {
        this.#log.warn(`${iface}: link is down at start`);
        this.#setLinkFault(iface, true);
      }
    }
  }

  // -------------------------------------------------------------------------------
  // Trackers

  /** Starts the trackers on the config and applies their first verdict (before startup). */
  #startTrackers() {
    this.#trackers.start(this.#config, () => this.#trackersChanged());
    this.#applyTrackers();
  }

  async #stopTrackers(): Promise<void> {
    try {
      await this.#trackers.stop();
    } catch (e) {
      this.#log.warn(`stopping the trackers: ${errorText(e)}`);
    }
  }

  /** A probe's reading changed (outside the loop): recompute in the loop, once per burst. */
  #trackersChanged() {
    if (this.#trackersQueued) return;
    this.#trackersQueued = true;
    this.#control(
      () => {
        this.#trackersQueued = false;
        this.#applyTrackers();
      },
      () => (this.#trackersQueued = false),
    );
  }

  /** What the trackers say of an instance now (pure over the hub's current readings). */
  #trackerVerdict(inst: Instance): PriorityResult {
    return computePriority(
      inst.rc.priority,
      trackerUses(inst.cfg, this.#config),
      (kind, n) => this.#trackers.reading(kind, n),
    );
  }

  /**
   * Recomputes every live instance's tracked priority and tracker faults from the
   * current readings, and feeds the engine what changed: the priority first (unless an
   * operator override is in force), then each fault that started or ended, so an
   * instance leaving Fault does so with its new priority.
   */
  #applyTrackers() {
    for (const inst of this.#instances) {
      const name = inst.cfg.name;
      const before = inst.track;
      const next = this.#trackerVerdict(inst);
      inst.track = next;
      const was = before?.effective ?? inst.rc.priority;
      if (next.effective !== was) {
        const why = contributionsText(next.trackers);
        const o = this.#overrides.get(name);
        this.#log.notice(
          `${name}: tracked priority ${was} -> ${next.effective}${why ? ` (${why})` : ""}${
            o ? `; the operator's ${o.kind} to ${o.priority} stays in force` : ""
          }`,
        );
      }
      this.#applyPriority(name);
      const old = new Set(before?.faults ?? []);
      const now = new Set(next.faults);
      for (const f of now) {
        if (old.has(f)) continue;
        const t = next.trackers.find((x) => x.label === f);
        this.#log.warn(`${name}: FAULT while ${f} fails${t ? ` (${t.detail})` : ""}`);
        this.#feed({ type: "router", name, event: { type: "fault", tracker: f, failing: true } });
      }
      for (const f of old) {
        if (now.has(f)) continue;
        this.#log.notice(`${name}: ${f} recovered`);
        this.#feed({ type: "router", name, event: { type: "fault", tracker: f, failing: false } });
      }
    }
  }

  /**
   * A link that comes back may be a new interface under the old name (a re-created
   * VLAN or bond), whose index our bound, group-joined sockets no longer match; opening
   * them again is cheap and right in both cases.
   */
  #reopenTransports(iface: string) {
    const keys = new Set(
      [...this.#instances, ...this.#retiring].filter((i) => i.cfg.interface === iface).map((i) =>
        i.key
      ),
    );
    for (const key of keys) this.#reopenKey(key);
  }

  /** Closes and opens again the transport of `key` (a new index, or a new group). */
  #reopenKey(key: string) {
    const inst = this.#instances.find((i) => i.key === key) ??
      this.#retiring.find((i) => i.key === key);
    const old = this.#transports.get(key);
    if (!inst || !old) return;
    old.close();
    this.#transports.delete(key);
    try {
      this.#transports.set(key, this.#open(inst));
    } catch (e) {
      bump(this.#counters, "transportErrors");
      this.#log.error(
        `${inst.cfg.name}: cannot reopen the VRRP socket on ${inst.cfg.interface}: ${errorText(e)}`,
      );
    }
  }

  // -------------------------------------------------------------------------------
  // Virtual MAC (use_vmac)

  /** Why these instances' virtual MACs cannot work: names clashing, or no port for them. */
  #vmacProblems(cfgs: readonly InstanceConfig[]): string[] {
    const { vmacs, conflicts } = wantedVmacs(cfgs);
    if (vmacs.size > 0 && this.#vmacPort === null) {
      const users = [...vmacs.values()].flatMap((v) => v.users);
      conflicts.push(`${users.join(", ")}: use_vmac is set, but this daemon manages no links`);
    }
    return conflicts;
  }

  /** The macvlans live and retiring instances need. */
  #wantedVmacs() {
    return wantedVmacs([...this.#instances, ...this.#retiring].map((i) => i.cfg)).vmacs;
  }

  /**
   * Makes (or keeps) the macvlans the instances need. One that cannot be made puts its
   * instances in Fault (tracker `vmac NAME`) and is tried again with the reconcile's
   * retry.
   */
  async #ensureVmacs(): Promise<void> {
    const port = this.#vmacPort;
    if (port === null) return;
    for (const [name, { spec, users }] of this.#wantedVmacs()) {
      const who = users.join(", ");
      try {
        const outcome = await port.ensure(spec);
        this.#vmacsUp.add(name);
        if (outcome !== "present") {
          this.#log.info(`${who}: ${outcome} virtual MAC ${name} (${spec.mac} on ${spec.parent})`);
        }
        this.#setVmacFault(name, users, false);
      } catch (e) {
        bump(this.#counters, "vmacErrors");
        this.#retryAtMs = this.#clock.nowMs() + this.#retryMs;
        this.#rateLog(
          `vmac/${name}`,
          "error",
          `${who}: cannot set up virtual MAC ${name}: ${errorText(e)}`,
        );
        this.#setVmacFault(name, users, true);
      }
    }
  }

  /** Removes the macvlans no live or retiring instance needs any more. */
  async #dropVmacs(): Promise<void> {
    const port = this.#vmacPort;
    if (port === null) return;
    const vmacs = this.#wantedVmacs();
    for (const name of [...this.#vmacsUp]) {
      if (vmacs.has(name)) continue;
      this.#vmacsUp.delete(name);
      this.#vmacFaults.delete(name);
      await this.#removeVmac(port, name);
    }
  }

  #setVmacFault(name: string, users: readonly string[], failing: boolean) {
    if (this.#vmacFaults.has(name) === failing) return;
    if (failing) this.#vmacFaults.add(name);
    else this.#vmacFaults.delete(name);
    for (const user of users) {
      if (!this.#byName.has(user)) continue;
      this.#feed({
        type: "router",
        name: user,
        event: { type: "fault", tracker: `vmac ${name}`, failing },
      });
    }
  }

  /** Removes every macvlan this daemon ensured (at stop). */
  async #removeVmacs(): Promise<void> {
    const port = this.#vmacPort;
    if (port === null) return;
    for (const name of [...this.#vmacsUp]) {
      this.#vmacsUp.delete(name);
      await this.#removeVmac(port, name);
    }
  }

  async #removeVmac(port: VmacPort, name: string): Promise<void> {
    try {
      await port.remove(name);
      this.#log.info(`removed virtual MAC ${name}`);
    } catch (e) {
      bump(this.#counters, "vmacErrors");
      this.#log.warn(`cannot remove virtual MAC ${name}: ${errorText(e)}`);
    }
  }

  #wantReconcile(reason: "kernel") {
    if (!this.#reconcileWanted) this.#reconcileReason = reason;
    this.#reconcileWanted = true;
  }

  #wants(): InstanceVips[] {
    const want = (i: Instance, name: string): InstanceVips => ({
      name,
      holding: this.#routerOf(i).holdingVips,
      vips: i.cfg.vips,
      excluded: i.cfg.excludedVips,
    });
    return [
      ...this.#instances.map((i) => want(i, i.cfg.name)),
      ...this.#retiring.map((i) => want(i, retiredLabel(i.cfg.name))),
    ];
  }

  async #reconcileNow(): Promise<void> {
    const reason = this.#reconcileReason;
    this.#reconcileWanted = false;
    this.#retryAtMs = null;
    await this.#ensureVmacs();
    let kernel;
    try {
      kernel = await this.#addresses.list();
    } catch (e) {
      bump(this.#counters, "reconcileErrors");
      this.#rateLog(
        "reconcile/list",
        "error",
        `cannot read the kernel's addresses: ${errorText(e)}`,
      );
      this.#retryAtMs = this.#clock.nowMs() + this.#retryMs;
      return;
    }
    const plan = reconcile(this.#wants(), kernel);
    this.#reportConflicts(plan.conflicts);
    const held = new Set(plan.held);
    const fromReload = this.#reloadRemoved;
    this.#reloadRemoved = new Map();
    let failed = false;
    for (const op of plan.ops) {
      const owner = op.instance === null ? undefined : this.#byName.get(op.instance);
      const dropped = op.op === "remove" && op.instance === null
        ? fromReload.get(canonicalIp(op.address.address) ?? op.address.address)
        : undefined;
      const who = op.instance ?? dropped ?? "hacore";
      if (op.op === "add") {
        const s = op.spec;
        const what = `${s.address}/${s.prefix} dev ${s.dev}`;
        try {
          await this.#addresses.add(s);
          this.#log.info(`${who}: ${reason === "kernel" ? "restored" : "added"} ${what}`);
        } catch (e) {
          failed = true;
          held.delete(vipKey(s.dev, s.address));
          if (owner) bump(owner.extra, "vipAddErrors");
          else bump(this.#counters, "reconcileErrors");
          this.#rateLog(`${who}/add`, "error", `${who}: cannot add ${what}: ${errorText(e)}`);
        }
      } else {
        const a = op.address;
        const what = `${a.address}/${a.prefix} dev ${a.dev}`;
        const why = dropped !== undefined
          ? " (no longer in the config)"
          : op.why === "leftover"
          ? reason === "startup"
            ? " (left over from an earlier run)"
            : " (no instance wants it here)"
          : op.why === "replace"
          ? " (wrong prefix, replacing)"
          : "";
        try {
          if (this.#vipOwners.has(canonicalIp(a.address) ?? a.address)) {
            this.#selfRemoved.add(vipKey(a.dev, a.address));
          }
          await this.#addresses.remove(a);
          this.#log.info(`${who}: removed ${what}${why}`);
        } catch (e) {
          failed = true;
          this.#selfRemoved.delete(vipKey(a.dev, a.address));
          if (owner) bump(owner.extra, "vipRemoveErrors");
          else bump(this.#counters, "reconcileErrors");
          this.#rateLog(`${who}/remove`, "error", `${who}: cannot remove ${what}: ${errorText(e)}`);
        }
      }
    }
    this.#held = held;
    if (failed) this.#retryAtMs = this.#clock.nowMs() + this.#retryMs;
    // After the addresses: a VIP moving off a macvlan (a reload) is added elsewhere first.
    await this.#dropVmacs();
  }

  #reportConflicts(conflicts: readonly Conflict[]) {
    const now = new Map<string, string>();
    const retiring = new Set(this.#retiring.map((i) => retiredLabel(i.cfg.name)));
    for (const c of conflicts) {
      // A removed instance handing its VIPs to its successor is no misconfiguration.
      if (c.kind === "shared" && c.instances.some((n) => retiring.has(n))) continue;
      const key = c.kind === "shared"
        ? `shared|${c.address}`
        : `foreign|${vipKey(c.address.dev, c.address.address)}|${c.address.prefix}`;
      now.set(key, describeConflict(c));
    }
    for (const [key, text] of now) {
      if (!this.#conflicts.has(key)) {
        bump(this.#counters, "conflicts");
        this.#log.warn(`conflict: ${text}`);
      }
    }
    for (const [key, text] of this.#conflicts) {
      if (!now.has(key)) this.#log.info(`conflict resolved: ${text}`);
    }
    this.#conflicts = now;
  }

  // -------------------------------------------------------------------------------
  // Announcements

  #runAnnouncements() {
    const now = this.#clock.nowMs();
    for (const inst of this.#instances) {
      const d = announceNextDeadline(inst.announce);
      if (d === null || d > now) continue;
      const { state, announcements } = announceDue(inst.announce, this.#announceCfg, now);
      inst.announce = state;
      for (const a of announcements) {
        // Announcing an address we failed to install would pull traffic into a void.
        if (!this.#held.has(vipKey(a.dev, a.address))) continue;
        try {
          if (a.kind === "garp") this.#announcer.garp(a.dev, a.address);
          else this.#announcer.unsolicitedNa(a.dev, a.address);
        } catch (e) {
          bump(inst.extra, "announceErrors");
          this.#rateLog(
            `${inst.cfg.name}/announce`,
            "warn",
            `${inst.cfg.name}: cannot announce ${a.address} on ${a.dev}: ${errorText(e)}`,
          );
        }
      }
    }
  }
}
