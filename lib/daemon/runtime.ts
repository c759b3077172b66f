/**
 * The VRRP subsystem of the daemon ({@link Subsystem}): the node's effects. Every
 * input the loop takes (a packet, a kernel event, a tracker change, a deadline, an
 * operator's priority, a reload) becomes an engine step over the instance table
 * (`instance_table.ts`), and every action the engine returns is carried out here:
 * adverts through the transports, VIPs through the reconcile, GARPs/NAs on the
 * announce schedule, state changes to the notify sink.
 *
 * The daemon (`daemon.ts`) decides when (the loop, the lifecycle, the control verbs);
 * this class decides what, and wires the collaborators that do it: `Transports`,
 * `VipReconciler`, `VmacKeeper`, `StateNotifier`, `ForeignWatch`, `PacketIntake`,
 * `TrackerGlue`, and `applyReload`. Nothing here runs concurrently with anything else
 * here: the daemon calls it from its loop only, and what arrives from outside
 * (packets, tracker readings) is handed to `enqueue` for the loop.
 *
 * @example
 * ```ts
 * const rt = new NodeRuntime({ config, instances, primaries, clock, ..., enqueue });
 * rt.openTransports();
 * await rt.start(guard); // reconcile, link states, trackers, the startup step
 * await rt.advance(); // ticks, reconcile, announcements
 * ```
 *
 * @module
 */

import { earlierDeadline } from "../vrrp/timing.ts";
import type { CheckSource } from "../check/service.ts";
import type { Config } from "../config/schema.ts";
import type { ReloadOutcome } from "../control/api.ts";
import type { Logger } from "../log.ts";
import type { TrackerHub } from "../track/hub.ts";
import type { TrackerStatus } from "../track/priority.ts";
import type { Family } from "../net/addr.ts";
import { type NodeEvent, nodeNextDeadline } from "../vrrp/node.ts";
import { nextDeadline, step } from "../vrrp/router.ts";
import type {
  OutgoingAdvert,
  RouterAction,
  RouterEvent,
  RouterState,
  Transition,
  TransitionReason,
} from "../vrrp/types.ts";
import {
  type AnnounceConfig,
  announceDue,
  announceNextDeadline,
  followUpAnnounce,
  IDLE_ANNOUNCE,
  instanceAnnounceConfig,
  lowerPriorityAnnounce,
  PREEMPT_FOLLOW_UP_MS,
  startAnnounce,
} from "./announce.ts";
import { bump, errorText, type RateLog } from "./common.ts";
import { DynamicInterfaces } from "./dynamic_interfaces.ts";
import { ForeignWatch } from "./foreign_watch.ts";
import type { InboxItem } from "./inbox.ts";
import { type Instance, linkFaultTracker, retiredLabel } from "./instance.ts";
import { InstanceTable } from "./instance_table.ts";
import { wantedPriority } from "./operator.ts";
import { PacketIntake } from "./packet_intake.ts";
import type {
  AddressPort,
  Announcer,
  Clock,
  KernelEvent,
  NotifySink,
  PrimaryAddresses,
  ReceivedPacket,
  RoutineAdvert,
  TransportFactory,
  VipClaim,
  VipGuardPort,
  VmacPort,
} from "./ports.ts";
import { type InstanceVips, vipKey } from "./reconcile.ts";
import { applyReload, type ReloadContext } from "./reload_apply.ts";
import { StateNotifier } from "./state_notifier.ts";
import { TrackerGlue } from "./tracking.ts";
import {
  type DaemonStatus,
  type InstanceStatus,
  instanceStatus,
  nonZeroCounters,
} from "./status.ts";
import type { LoopGuard, ReloadFacts, Subsystem } from "./subsystem.ts";
import { type ChecksumForm, checksumFormFor, Transports } from "./transports.ts";
import { type ReconcileLookups, type ReconcileReason, VipReconciler } from "./vip_reconciler.ts";
import { VmacKeeper, type WantedVmacs } from "./vmac_keeper.ts";
import { vmacAddress, wantedVmacs } from "./vmac.ts";
import { type ClaimOwner, judgeClaim, VipGuard } from "./vip_guard.ts";
import type { AcceptFilter } from "../sys/nft.ts";
import type { KernelRoute, KernelRule, RoutePort } from "../sys/ports.ts";
import { canonicalIp } from "../net/addr.ts";
import { type Owned, RouteReconciler } from "./route_reconciler.ts";

/** The owner of the static addresses, routes and rules in logs and the reconcile. */
const STATIC_OWNER = "static";

/**
 * Whether a takeover for `reason` holds its first advert until the VIPs are in the
 * kernel and announced. Yes when it displaces a live master, which lets go of the VIPs
 * on hearing that advert (a preemption, the address owner arriving). No when backups
 * race for a master that is gone (its timer ran out, it released, a sync group moved):
 * the advert must go at once to stop the slower backups taking over too, nobody is
 * left to let go before our VIPs are up, and a releasing master keeps its VIPs for the
 * handover grace after hearing us.
 */
function holdsAdvertBack(reason: TransitionReason | undefined): boolean {
  return reason !== "master-down-timer" && reason !== "priority-zero" && reason !== "sync-group";
}

/**
 * Whether a step's adverts may go before its other actions: it has a takeover, and
 * none whose first advert waits for its VIPs (see {@link holdsAdvertBack}).
 */
function advertsLead(steps: readonly { action: RouterAction }[]): boolean {
  let takeover = false;
  for (const { action } of steps) {
    if (action.type !== "transition" || action.transition.to !== "master") continue;
    if (holdsAdvertBack(action.transition.reason)) return false;
    takeover = true;
  }
  return takeover;
}

/** A routine advert's bytes compared: version and type, VRID, priority, count, interval. */
const ROUTINE_HEAD_BYTES = 6;

function sameHead(head: Uint8Array, bytes: Uint8Array): boolean {
  for (let i = 0; i < ROUTINE_HEAD_BYTES; i++) if (head[i] !== bytes[i]) return false;
  return true;
}

/** Reads of the sockets before one firing of the deadlines (see `#packetsFirst`). */
const PACKETS_FIRST_ROUNDS = 4;

/**
 * What a {@link NodeRuntime} is built from: the config and its instances (every one
 * runnable here), the ports, and the daemon's shared plumbing.
 *
 * @example
 * ```ts
 * const opts: NodeRuntimeOptions = { config, instances, primaries, clock, transports,
 *   addresses, announcer, vmacs: null, notify: null, trackers, checks, log, rateLog, counters,
 *   retryMs: 1000, wallOffsetMs, nowMs: clock.nowMs(), enqueue };
 * ```
 */
export interface NodeRuntimeOptions {
  readonly config: Config;
  /** The config's instances, in its order, built with `makeInstance`. */
  readonly instances: readonly Instance[];
  readonly primaries: PrimaryAddresses;
  readonly clock: Clock;
  readonly transports: TransportFactory;
  readonly addresses: AddressPort;
  readonly announcer: Announcer;
  readonly vmacs: VmacPort | null;
  readonly notify: NotifySink | null;
  readonly trackers: TrackerHub;
  /** The daemon's check service, for the trackers' `vrrp_script`s. */
  readonly checks: CheckSource;
  readonly log: Logger;
  readonly rateLog: RateLog;
  /** Node-wide counters, shared with the daemon (it shows them in status). */
  readonly counters: Record<string, number>;
  /**
   * Drops traffic to the VIPs of masters in no-accept mode (`lib/sys/nft.ts`); absent or
   * null = not enforced (tests, and daemons whose instances all accept).
   */
  readonly acceptFilter?: AcceptFilter | null;
  /**
   * hacore's routes and rules (`virtual_routes`, `static_routes`, ...); absent or null =
   * none installed (tests without routes).
   */
  readonly routes?: RoutePort | null;
  /**
   * Watches for other hosts claiming a held VIP (`lib/sys/vip_guard.ts`); absent or
   * null = no VIP guard.
   */
  readonly vipGuard?: VipGuardPort | null;
  /** Retry a failed kernel operation after this long. */
  readonly retryMs: number;
  /** Wall time minus clock time: labels monotonic times for people. */
  readonly wallOffsetMs: number;
  /** The clock's time the engine's node starts at. */
  readonly nowMs: number;
  /**
   * When the process started, on the clock's scale (`processStartedAtMs`): the first
   * Master_Down deadlines count from it. Absent or null: from the startup step.
   */
  readonly startedAtMs?: number | null;
  /** Queues an input for the loop (received packets, tracker recomputes). */
  readonly enqueue: (item: InboxItem) => void;
}

/**
 * The VRRP runtime's section of the daemon's status.
 *
 * @example
 * ```ts
 * const { instances, maintenance }: VrrpStatus = rt.status(clock.nowMs());
 * ```
 */
export type VrrpStatus = Pick<DaemonStatus, "instances" | "counters" | "conflicts" | "maintenance">;

/**
 * How long a VIP claim waits before it is answered: a router taking over sends its GARP
 * and then, within a millisecond or two, its first advert, which makes this one step
 * down. Well inside the 50 ms in which a spoofed claim must be undone.
 */
export const CLAIM_CONFIRM_MS = 15;

/**
 * The node's effects, over its instance table: the VRRP subsystem.
 *
 * @example
 * ```ts
 * const rt = new NodeRuntime(opts);
 * rt.table.live.map((i) => `${i.cfg.name}: ${rt.table.routerOf(i).state}`);
 * ```
 */
export class NodeRuntime implements Subsystem<VrrpStatus> {
  /** For logs. */
  readonly name = "vrrp";
  /** The instances, the engine state, the config and the operator's overrides. */
  readonly table: InstanceTable;
  readonly #clock: Clock;
  readonly #counters: Record<string, number>;
  readonly #wallOffsetMs: number;
  readonly #startedAtMs: number | null;
  readonly #log: Logger;
  readonly #rateLog: RateLog;
  readonly #addresses: AddressPort;
  readonly #announcer: Announcer;
  readonly #transports: Transports;
  readonly #vips: VipReconciler;
  readonly #vmacs: VmacKeeper;
  readonly #notifier: StateNotifier;
  readonly #foreign: ForeignWatch;
  readonly #intake: PacketIntake;
  readonly #trackers: TrackerGlue;
  readonly #lookups: ReconcileLookups;
  readonly #reload: ReloadContext;
  /** `dynamic_interfaces`: instances waiting for their interface or its address. */
  readonly #dynamic: DynamicInterfaces;
  readonly #acceptFilter: AcceptFilter | null;
  readonly #routes: RouteReconciler | null;
  /** Where notify events go; `notify_master_rx_lower_pri` is sent here directly. */
  readonly #sink: NotifySink | null;
  /** The orderly stop has begun: static addresses, routes and rules go too. */
  #stopping = false;
  readonly #factory: TransportFactory;
  /** True while `#packetsFirst` reads the sockets: their packets are handled at once. */
  #direct = false;
  /** Instances that took over a live master in this loop turn, VIPs not yet reconciled. */
  #holdPending = new Set<Instance>();
  /**
   * Adverts of those instances, sent at the end of the turn: after the VIPs are in the
   * kernel and the first GARP/NA is out, since the old master releases on hearing them.
   */
  #afterHold: { inst: Instance; advert: OutgoingAdvert }[] = [];
  readonly #guard: VipGuard;
  /** What the VIP guard watches may have changed since it was last synced. */
  #guardDirty = true;
  /** Which adverts are routine may have changed since the transports were told. */
  #routineDirty = true;
  /** The time the engine was last stepped at: a late-read packet is not judged before. */
  #steppedAtMs = -Infinity;
  /** Claims to answer once {@link CLAIM_CONFIRM_MS} has shown they are not a handover. */
  readonly #claimAnswers: { atMs: number; claim: VipClaim }[] = [];
  /**
   * Something was done that only {@link NodeRuntime.advance} finishes (an engine
   * action, a line logged, a peer's MAC learned, a retiring router stepped): see
   * {@link NodeRuntime.takeTurnWanted}.
   */
  #turnWanted = false;

  /**
   * Builds the instance table and the collaborators; nothing is opened.
   *
   * @example
   * ```ts
   * const rt = new NodeRuntime(opts);
   * ```
   */
  constructor(opts: NodeRuntimeOptions) {
    const { log, counters, clock } = opts;
    // A line logged may owe a summary, and whatever logs is news the loop must see.
    const rateLog: RateLog = (key, level, msg) => {
      this.#turnWanted = true;
      opts.rateLog(key, level, msg);
    };
    this.#clock = clock;
    this.#counters = counters;
    this.#wallOffsetMs = opts.wallOffsetMs;
    this.#startedAtMs = opts.startedAtMs ?? null;
    this.#log = log;
    this.#rateLog = rateLog;
    this.#addresses = opts.addresses;
    this.#announcer = opts.announcer;
    this.#acceptFilter = opts.acceptFilter ?? null;
    this.#sink = opts.notify;
    this.#routes = opts.routes
      ? new RouteReconciler({
        port: opts.routes,
        log,
        rateLog,
        counters,
        clock,
        retryMs: opts.retryMs,
      })
      : null;
    this.#factory = opts.transports;
    this.#guard = new VipGuard(
      opts.vipGuard ?? null,
      () => opts.enqueue({ kind: "control", run: () => this.drainClaims(), cancel: () => {} }),
    );
    const table = new InstanceTable(opts.config, opts.instances, opts.nowMs);
    this.table = table;
    const feed = (event: NodeEvent, atMs?: number) => this.feed(event, atMs);
    const applyPriority = (name: string) => this.applyPriority(name);
    this.#transports = new Transports({
      factory: opts.transports,
      // Read by `#packetsFirst`, a packet goes straight in: the loop is running it.
      onPacket: (iface, family, packet) =>
        this.#direct
          ? this.onPacket(iface, family, packet)
          : opts.enqueue({ kind: "packet", iface, family, packet }),
      log,
      rateLog,
      counters,
    });
    const vips = new VipReconciler({
      addresses: opts.addresses,
      log,
      rateLog,
      counters,
      clock,
      retryMs: opts.retryMs,
    });
    this.#vips = vips;
    this.#vmacs = new VmacKeeper({
      port: opts.vmacs,
      log,
      rateLog,
      counters,
      retryLater: () => vips.retryLater(),
      fault: (users, tracker, failing) => {
        // A virtual MAC's fault reaches its live users.
        for (const user of users) {
          if (table.instance(user) === undefined) continue;
          this.feed({ type: "router", name: user, event: { type: "fault", tracker, failing } });
        }
      },
    });
    const wallOffsetMs = opts.wallOffsetMs;
    this.#notifier = new StateNotifier({ sink: opts.notify, log, rateLog, counters, wallOffsetMs });
    this.#notifier.setGroups(opts.config.syncGroups.map((g) => g.name));
    this.#foreign = new ForeignWatch({
      log,
      rateLog,
      clock,
      wallIso: (atMs) => new Date(wallOffsetMs + atMs).toISOString(),
    });
    this.#intake = new PacketIntake({
      table,
      foreign: this.#foreign,
      counters,
      rateLog,
      feed,
      stepRetired: (inst, event) => this.#stepRetired(inst, event),
      changed: () => (this.#turnWanted = true),
      heard: (inst, src, bytes) => this.#heard(inst, src, bytes),
    });
    this.#trackers = new TrackerGlue({
      hub: opts.trackers,
      checks: opts.checks,
      log,
      table,
      enqueue: opts.enqueue,
      applyPriority,
      feed,
    });
    this.#lookups = {
      wants: () => this.#wants(),
      retiredLabels: () => new Set(table.retiring.map((i) => retiredLabel(i.cfg.name))),
      extraOf: (name) => table.instance(name)?.extra,
      isVip: (address) => table.vipOwners(address) !== undefined,
      releasing: (name) => this.#releasing(name),
    };
    // Live: the sources dynamic_interfaces learns are what a reload's new instances use.
    const primaries = new Map([...opts.primaries].map(([k, v]) => [k, { ...v }]));
    this.#dynamic = new DynamicInterfaces({
      table,
      transports: this.#transports,
      primaries,
      log,
      feed,
      isOwnAddress: (a) => table.vipOwners(a) !== undefined || this.#isStaticAddress(a),
      retellAddresses: (iface) => this.#retellAddresses(iface, opts.enqueue),
    });
    this.#reload = {
      table,
      transports: this.#transports,
      vips,
      notifier: this.#notifier,
      trackers: this.#trackers,
      primaries,
      hasVmacPort: opts.vmacs !== null,
      log,
      clock,
      feed,
      applyPriority,
      waitingFaults: (inst) => this.#dynamic.waitingFaults(inst),
    };
  }

  // -------------------------------------------------------------------------------
  // What the daemon reads

  /**
   * `vipKey` of the wanted VIPs present in the kernel, per the last reconcile.
   *
   * @example
   * ```ts
   * rt.held.size;
   * ```
   */
  get held(): ReadonlySet<string> {
    return this.#vips.held;
  }

  /**
   * The current VIP conflicts, described.
   *
   * @example
   * ```ts
   * rt.conflicts(); // []
   * ```
   */
  conflicts(): string[] {
    return this.#vips.conflicts();
  }

  /**
   * An instance's trackers as they stand now (see `TrackerGlue.statusOf`).
   *
   * @example
   * ```ts
   * rt.trackersOf(inst).map((t) => t.label);
   * ```
   */
  trackersOf(inst: Instance): readonly TrackerStatus[] {
    return this.#trackers.statusOf(inst);
  }

  /**
   * A reconcile is wanted.
   *
   * @example
   * ```ts
   * if (rt.reconcileWanted) return false; // not finished yet
   * ```
   */
  get reconcileWanted(): boolean {
    return this.#vips.wanted;
  }

  /**
   * The earliest deadline of the table (engine, announcements, retiring routers,
   * foreign senders) and of the reconcile's retry; null when none.
   *
   * @example
   * ```ts
   * await inbox.park(rt.nextDeadlineMs(), clock);
   * ```
   */
  nextDeadlineMs(): number | null {
    // Asked on every loop turn: compared in place, no array built.
    let best = earlierDeadline(this.table.nextDeadline(), this.#vips.dueAtMs);
    best = earlierDeadline(best, this.#routes?.dueAtMs ?? null);
    return earlierDeadline(best, this.#claimAnswers.length > 0 ? this.#claimAnswers[0].atMs : null);
  }

  /**
   * The instances, the node's non-zero counters (the engine's and the daemon's), the
   * VIP conflicts and maintenance, at `nowMs`.
   *
   * @example
   * ```ts
   * rt.status(clock.nowMs()).instances[0].state; // "master"
   * ```
   */
  status(nowMs: number): VrrpStatus {
    const table = this.table;
    return {
      instances: table.live.map((inst) => this.instanceStatus(inst, nowMs)),
      counters: nonZeroCounters(table.node.counters, this.#counters),
      conflicts: this.conflicts(),
      maintenance: table.maintenance,
    };
  }

  /**
   * One instance's status at `nowMs`.
   *
   * @example
   * ```ts
   * rt.instanceStatus(inst, clock.nowMs()).priority.effective;
   * ```
   */
  instanceStatus(inst: Instance, nowMs: number): InstanceStatus {
    return instanceStatus({
      inst,
      router: this.table.routerOf(inst),
      now: nowMs,
      held: this.held,
      override: this.table.overrides.get(inst.cfg.name) ?? null,
      trackers: this.trackersOf(inst),
      wallIso: (atMs) => new Date(this.#wallOffsetMs + atMs).toISOString(),
      // Absent without a guard: status says "no claim seen" only where one could be.
      vipClaim: this.#guard.enabled ? this.#guard.lastClaim(inst.cfg.name) : undefined,
    });
  }

  // -------------------------------------------------------------------------------
  // Lifecycle

  /**
   * Before the loop's first turn: the virtual MACs, the links' states and the trackers'
   * first verdict (each can start an instance in Fault), the startup step, then the
   * first reconcile (hacore leftovers from an earlier run go; an owner's VIPs are
   * added). Each step runs under `guard`, so one that fails does not skip the others.
   *
   * The startup step comes before the reconcile's dumps (addresses, routes, rules):
   * they decide nothing it needs, and a Backup is one from that step on (its sockets
   * are open), a few milliseconds sooner. `hacore run` has removed the last run's
   * addresses before the daemon was even loaded.
   *
   * @example
   * ```ts
   * await rt.start((work) => work());
   * ```
   */
  async start(guard: LoopGuard): Promise<void> {
    await guard(() => this.#vmacs.ensure(this.#wantedVmacs()));
    await guard(() => this.readLinkStates());
    this.#dynamic.raiseAtStart();
    await guard(() => Promise.resolve(this.startTrackers()));
    this.feed(
      this.#startedAtMs === null
        ? { type: "startup" }
        : { type: "startup", startedAtMs: this.#startedAtMs },
    );
    // Asked after the step, whose transitions ask too: the reason names the leftovers.
    this.requestReconcile("startup");
    await guard(() => this.reconcileNow());
  }

  /**
   * The longest release hold: how long the orderly stop may keep VIPs.
   *
   * @example
   * ```ts
   * rt.stopBudgetMs(); // 3000
   * ```
   */
  stopBudgetMs(): number {
    return Math.max(0, ...this.table.all().map((i) => i.rc.releaseHoldMs));
  }

  /**
   * Starts the orderly stop: every instance sends its priority-0 advert and a Master
   * keeps its VIPs through its release hold.
   *
   * @example
   * ```ts
   * rt.shutdown();
   * ```
   */
  shutdown(): void {
    this.#stopping = true;
    this.feed({ type: "shutdown" });
    // Static addresses, routes and rules follow no instance: the stop itself removes them.
    this.#vips.requestAgain();
  }

  /**
   * True once the stop is complete: every release hold over and the VIPs removed.
   *
   * @example
   * ```ts
   * if (rt.settled()) break;
   * ```
   */
  settled(): boolean {
    return !this.reconcileWanted && this.table.settled() && (this.#routes?.idle ?? true);
  }

  /**
   * After the loop: removes the macvlans made since start (the VIPs are released by
   * now), closes the transports, cancels announcements and stops the trackers.
   *
   * @example
   * ```ts
   * await rt.close();
   * ```
   */
  async close(): Promise<void> {
    // Whatever the last turn left untold (a stop that gave up on its hold).
    this.#notifier.flush();
    await this.removeVmacs();
    this.#guard.close();
    this.closeTransports();
    this.silenceAnnouncements();
    await this.stopTrackers();
  }

  /**
   * Opens the transport of every live instance (throws like the factory; what was
   * opened stays open for {@link NodeRuntime.closeTransports}); under
   * `dynamic_interfaces` a missing interface is waited for instead.
   *
   * @example
   * ```ts
   * rt.openTransports();
   * ```
   */
  openTransports(): void {
    if (this.#dynamic.enabled) return this.#dynamic.openAtStart();
    for (const inst of this.table.live) this.#transports.ensure(inst);
  }

  /**
   * Closes every transport (at teardown).
   *
   * @example
   * ```ts
   * rt.closeTransports();
   * ```
   */
  closeTransports(): void {
    this.#transports.closeAll();
  }

  /**
   * Cancels every pending announcement (at teardown).
   *
   * @example
   * ```ts
   * rt.silenceAnnouncements();
   * ```
   */
  silenceAnnouncements(): void {
    for (const inst of this.table.live) inst.announce = IDLE_ANNOUNCE;
  }

  /**
   * Removes every macvlan made since start (at stop, after the VIPs are released).
   *
   * @example
   * ```ts
   * await rt.removeVmacs();
   * ```
   */
  removeVmacs(): Promise<void> {
    return this.#vmacs.removeAll();
  }

  /**
   * Reads the links' states: every link for `track_interface`, and an instance whose
   * own link is down starts in Fault.
   *
   * @example
   * ```ts
   * await rt.readLinkStates();
   * ```
   */
  async readLinkStates(): Promise<void> {
    if (!this.#addresses.linkStates) return;
    const states = await this.#addresses.linkStates();
    // Every link, for track_interface (a missing interface counts as down there).
    this.#trackers.setLinks(states);
    this.#dynamic.linkStates(states);
    for (const iface of new Set(this.table.live.map((i) => i.cfg.interface))) {
      if (states.get(iface) === false) {
        this.#log.warn(`${iface}: link is down at start`);
        this.#setLinkFault(iface, true);
      }
    }
  }

  /**
   * Starts the trackers and applies their first verdict (before startup).
   *
   * @example
   * ```ts
   * rt.startTrackers();
   * ```
   */
  startTrackers(): void {
    this.#trackers.start();
  }

  /**
   * Stops the trackers; a failure is logged.
   *
   * @example
   * ```ts
   * await rt.stopTrackers();
   * ```
   */
  stopTrackers(): Promise<void> {
    return this.#trackers.stop();
  }

  // -------------------------------------------------------------------------------
  // Engine steps and actions

  /**
   * Steps the engine with `event` and carries out its actions; then tells the sync
   * groups' changes.
   *
   * @example
   * ```ts
   * rt.feed({ type: "tick" });
   * ```
   */
  feed(event: NodeEvent, atMs?: number): void {
    const now = atMs === undefined ? this.#clock.nowMs() : Math.max(atMs, this.#steppedAtMs);
    this.#steppedAtMs = now;
    const steps = this.table.step(event, now);
    // At a stop, every priority-0 advert leaves before the lines and hooks that tell of
    // it: the peers' Skew_Time starts when it arrives, and a cold log write is ~0.2 ms.
    // So does a takeover's first advert when nothing holds it back (the slower backups
    // must hear it before their own timers run out).
    if (event.type === "shutdown" || advertsLead(steps)) this.#executeSendsFirst(steps, now);
    else for (const { inst, action } of steps) this.#execute(inst, action, now);
    this.#notifier.stepDone(this.table.node, this.table.config.syncGroups, now);
    if (event.type === "router" && event.event.type === "advert") {
      this.#afterAdvert(event.name, event.event.advert.priority, now);
    }
  }

  /**
   * A master that heard a lower-priority advert stays master; another router thinks
   * it is master too, and hosts may follow it: keepalived's `garp_lower_prio_repeat`
   * burst (then again after `garp_lower_prio_delay`) wins them back.
   */
  #afterAdvert(name: string, priority: number, now: number) {
    const inst = this.table.instance(name);
    if (inst === undefined) return;
    const r = this.table.routerOf(inst);
    if (r.state !== "master" || priority === 0 || priority > r.priority) return;
    this.#turnWanted = true;
    inst.announce = lowerPriorityAnnounce(inst.announce, this.#announceCfgOf(inst), now);
    bump(inst.extra, "lowerPriorityAdverts");
    if ((inst.cfg.notify.masterRxLowerPri ?? null) === null) return;
    this.#sink?.notify({
      target: "INSTANCE",
      name: inst.cfg.name,
      state: "MASTER",
      previous: "MASTER",
      priority: r.priority,
      reason: "lower-priority-master",
      detail: `an advert with priority ${priority} while master`,
      masterIp: inst.rc.primaryIp,
      at: new Date(this.#wallOffsetMs + now),
      hooks: inst.cfg.notify,
      lowerPriority: true,
    });
  }

  #announceCfgOf(inst: Instance): AnnounceConfig {
    return instanceAnnounceConfig(this.table.announceCfg, inst.cfg.garp);
  }

  /**
   * Feeds the engine the priority an instance should have now: the operator's
   * override, else the trackers' (base plus weights), else the base.
   *
   * @example
   * ```ts
   * rt.table.overrides.set("VI_1", { kind: "demote", priority: 1 }); rt.applyPriority("VI_1");
   * ```
   */
  applyPriority(name: string): void {
    const inst = this.table.instance(name);
    if (inst === undefined) return;
    const override = this.table.overrides.get(name);
    const want = wantedPriority(override, inst.track?.effective, inst.rc.priority);
    if (this.table.routerOf(inst).priority === want) return;
    this.feed({ type: "router", name, event: { type: "priority", priority: want } });
  }

  /**
   * True when something since the last call needs a loop turn ({@link NodeRuntime.advance})
   * to be finished: an engine action other than an advert sent at once (a transition,
   * VIPs wanted, an announcement, an advert held back), a reconcile wanted, the VIP
   * guard to re-point, a lower-priority advert heard as Master, a line logged (a drop, a
   * foreign sender seen or resolved, an internal error), a peer's MAC newly learned, a
   * retiring router stepped. False after a routine advert (the engine only moved its
   * Master_Down deadline and bumped counters) or a Master's routine tick (an advert
   * sent), which a re-armed park covers. Clears the signal. The daemon's fast path
   * asks it after handling a packet or a deadline while parked.
   *
   * @example
   * ```ts
   * rt.takeTurnWanted();
   * rt.onPacket("eth0", "ipv4", packet);
   * if (rt.takeTurnWanted()) inbox.poke();
   * ```
   */
  takeTurnWanted(): boolean {
    const wanted = this.#turnWanted || this.#vips.wanted || this.#routineDirty ||
      (this.#guardDirty && this.#guard.enabled) || this.#notifier.pending;
    this.#turnWanted = false;
    return wanted;
  }

  /**
   * Handles one received packet (see `PacketIntake`); never throws.
   *
   * @example
   * ```ts
   * rt.onPacket("eth0", "ipv4", { bytes, src: "192.0.2.2", dst: "224.0.0.18", ttl: 255 });
   * ```
   */
  onPacket(iface: string, family: Family, p: ReceivedPacket): void {
    this.#intake.onPacket(iface, family, p);
  }

  /**
   * What is due now, after the inputs: engine and retiring routers' deadlines, the
   * reconcile (wanted, or a retry), retiring instances that are done, quiet foreign
   * senders, and announcements (after the reconcile, so a new master's VIPs exist
   * before they are announced).
   *
   * @example
   * ```ts
   * await rt.advance();
   * ```
   */
  async advance(): Promise<void> {
    const now = this.tickDue();
    if (this.table.retiring.length > 0) {
      for (const inst of [...this.table.retiring]) {
        const d = inst.retired === null ? null : nextDeadline(inst.retired);
        if (d !== null && d <= now) this.#stepRetired(inst, { type: "tick" });
      }
    }
    this.#vips.retryIfDue(this.#clock.nowMs());
    if (this.#vips.wanted) await this.reconcileNow();
    else if ((this.#routes?.dueAtMs ?? Infinity) <= this.#clock.nowMs()) await this.#applyRoutes();
    this.#finishRetired();
    this.#foreign.expire(this.table.live);
    this.#runAnnouncements();
    this.#sendAfterHold();
    this.#answerClaims();
    this.#syncGuard();
    this.#syncRoutine();
    // Last: the hooks and mails of the turn's transitions start once its VIPs, adverts
    // and announcements are out.
    this.#notifier.flush();
  }

  /**
   * After an advert reached `inst`'s engine: when it came from the Master this Backup
   * follows and was taken (its time is the Master's last), adverts like it are
   * routine. A priority 0 never is: the takeover it starts is a timer's.
   */
  #heard(inst: Instance, src: string, bytes: Uint8Array): void {
    const r = this.table.routerOf(inst);
    const m = r.lastMaster;
    const routine = r.state === "backup" && m !== null && m.ip === src &&
      m.atMs === this.#steppedAtMs && bytes.length >= ROUTINE_HEAD_BYTES && bytes[2] !== 0;
    const known = inst.routine;
    if (!routine) {
      if (known !== null) this.#setRoutine(inst, null);
      return;
    }
    if (known !== null && known.src === src && sameHead(known.head, bytes)) return;
    this.#setRoutine(inst, { src, head: bytes.slice(0, ROUTINE_HEAD_BYTES) });
  }

  #setRoutine(inst: Instance, routine: Instance["routine"]): void {
    inst.routine = routine;
    this.#routineDirty = true;
  }

  /**
   * Tells each transport the routine adverts of its Backups (see
   * `VrrpTransport.expectRoutine`): a Backup's only while it is one and follows that
   * Master.
   */
  #syncRoutine(): void {
    if (!this.#routineDirty) return;
    this.#routineDirty = false;
    const byKey = new Map<string, RoutineAdvert[]>();
    for (const inst of this.table.live) {
      const r = this.table.routerOf(inst);
      const routine = inst.routine;
      if (routine === null) continue;
      if (r.state !== "backup" || r.lastMaster?.ip !== routine.src) {
        inst.routine = null;
        continue;
      }
      const list = byKey.get(inst.key);
      if (list === undefined) byKey.set(inst.key, [routine]);
      else list.push(routine);
    }
    this.#transports.expectRoutine(byKey);
  }

  /**
   * The engine's part of {@link NodeRuntime.advance}, run first there: packets first
   * (see `#packetsFirst`), then a tick when the engine's deadline is due. Returns the
   * time it judged at. On its own, the daemon's in-place handling of a deadline (a
   * Master's next advert), after which {@link NodeRuntime.takeTurnWanted} tells
   * whether the rest of a turn is needed.
   *
   * @example
   * ```ts
   * rt.tickDue();
   * ```
   */
  tickDue(): number {
    const now = this.#packetsFirst();
    const due = nodeNextDeadline(this.table.node);
    if (due !== null && due <= now && !this.#routineTick()) this.feed({ type: "tick" });
    return now;
  }

  /**
   * A Master's periodic advert without a full engine step (see `InstanceTable.routineTick`):
   * what {@link NodeRuntime.feed} would do with that tick, which is to send it. False
   * when the tick is more than that, or an advert is being held back for a reconcile.
   */
  #routineTick(): boolean {
    if (this.#holdPending.size > 0) return false;
    const now = Math.max(this.#clock.nowMs(), this.#steppedAtMs);
    const hit = this.table.routineTick(now);
    if (hit === null) return false;
    this.#steppedAtMs = now;
    this.#sendAdvert(hit.inst, hit.advert);
    return true;
  }

  /**
   * Points the VIP guard at the interfaces where a live Master holds VIPs, when that
   * may have changed: what it depends on (states, held VIPs, the instances) moves
   * only with an engine action other than a send, a reconcile, a kernel event, a
   * claim or a reload, not with the adverts of every turn. A watch that failed is
   * tried again on the next turn.
   */
  #syncGuard() {
    if (!this.#guardDirty || !this.#guard.enabled) return;
    this.#guardDirty = false;
    this.#guard.sync(this.#guardedDevs(), (dev, e) => {
      this.#guardDirty = true;
      this.#rateLog(
        `${dev}/vip-guard`,
        "warn",
        `${dev}: cannot watch for VIP claims: ${errorText(e)}`,
      );
    });
  }

  /**
   * Handles the claims the VIP guard collected since the loop last ran (coalesced, see
   * `VipGuard`); claims dropped in a flood are counted node-wide (`vipClaimsDropped`).
   *
   * @example
   * ```ts
   * rt.drainClaims();
   * ```
   */
  drainClaims(): void {
    const { claims, dropped } = this.#guard.take();
    if (dropped > 0) bump(this.#counters, "vipClaimsDropped", dropped);
    for (const { claim, count } of claims) this.onClaim(claim, count);
  }

  /**
   * Handles another host's claim to an address (see `vip_guard.ts`), seen `count` times: a VIP we hold as
   * Master claimed from a MAC that is not ours is counted, remembered for status,
   * logged (rate-limited) and answered at once with a GARP/NA burst for that VIP
   * (at most one per VIP per 100 ms, the gap doubling to 1 s while claims keep coming).
   *
   * @example
   * ```ts
   * rt.onClaim({ dev: "eth0", address: "192.0.2.100", mac: "02:00:00:00:00:66", kind: "garp", localMac: null });
   * ```
   */
  onClaim(claim: VipClaim, count = 1): void {
    this.#guardDirty = true;
    const now = this.#clock.nowMs();
    const owner = this.#claimOwner(claim);
    const verdict = judgeClaim(claim, owner, this.#guard.memory(claim), now);
    if (verdict.kind === "ignore") return;
    const inst = this.table.instance(verdict.instance);
    if (inst === undefined) return;
    bump(inst.extra, "vipConflicts", count);
    this.#guard.record(inst.cfg.name, claim, now, verdict.memory);
    this.#rateLog(
      `${inst.cfg.name}/vip-claim/${claim.mac}`,
      "warn",
      `${inst.cfg.name}: ${claim.mac} claims VIP ${claim.address} on ${claim.dev} (${claim.kind}); announcing it again`,
    );
    // Answered a moment later, and only if still ours: a router taking over sends its
    // GARP just before its first advert, and the master it replaces must not pull the
    // clients back in between.
    if (verdict.reannounce) this.#claimAnswers.push({ atMs: now + CLAIM_CONFIRM_MS, claim });
  }

  /** The live Master holding the claimed address on the claim's interface, with its MACs. */
  #claimOwner(claim: VipClaim): ClaimOwner | undefined {
    const key = vipKey(claim.dev, claim.address);
    if (!this.#vips.held.has(key)) return undefined;
    for (const inst of this.table.vipOwners(claim.address) ?? []) {
      const r = this.table.routerOf(inst);
      if (inst.retired !== null || r.state !== "master" || !r.holdingVips) continue;
      if (!inst.targets.some((t) => t.dev === claim.dev && t.address === claim.address)) continue;
      const ownMacs = new Set<string>();
      if (inst.cfg.vmac !== null) {
        ownMacs.add(vmacAddress(inst.cfg.vrid, "ipv4"));
        ownMacs.add(vmacAddress(inst.cfg.vrid, "ipv6"));
      }
      // A router heard advertising this VRID claims the VIP in a handover (the old
      // master through its release grace, the new one's GARPs): VRRP decides between
      // routers, and answering it would pull clients back to the one letting go.
      for (const mac of inst.peerMacs.values()) ownMacs.add(mac);
      return { instance: inst.cfg.name, ownMacs };
    }
    return undefined;
  }

  /** The claim answers due now whose VIP is still held here, claimed by no VRRP peer. */
  #answerClaims() {
    const now = this.#clock.nowMs();
    while (this.#claimAnswers.length > 0 && this.#claimAnswers[0].atMs <= now) {
      const { claim } = this.#claimAnswers.shift()!;
      const owner = this.#claimOwner(claim);
      if (owner === undefined || owner.ownMacs.has(claim.mac)) continue;
      const inst = this.table.instance(owner.instance);
      if (inst !== undefined) this.#answerClaim(inst, claim);
    }
  }

  /** One burst (`vrrp_garp_master_repeat` frames, back to back) for the claimed VIP only. */
  #answerClaim(inst: Instance, claim: VipClaim) {
    const repeat = Math.max(1, this.table.announceCfg.repeat);
    // Not "reannouncements": that one counts dual-master endings, and tests pin it.
    bump(inst.extra, "vipClaimAnswers");
    for (let k = 0; k < repeat; k++) {
      try {
        if (claim.kind === "na") this.#announcer.unsolicitedNa(claim.dev, claim.address);
        else this.#announcer.garp(claim.dev, claim.address);
      } catch (e) {
        bump(inst.extra, "announceErrors");
        this.#rateLog(
          `${inst.cfg.name}/announce`,
          "warn",
          `${inst.cfg.name}: cannot announce ${claim.address} on ${claim.dev}: ${errorText(e)}`,
        );
        return;
      }
    }
  }

  /** Interfaces where a live Master holds VIPs now: the ones the guard watches. */
  #guardedDevs(): Set<string> {
    const devs = new Set<string>();
    for (const inst of this.table.live) {
      const r = this.table.routerOf(inst);
      if (r.state !== "master" || !r.holdingVips) continue;
      for (const t of inst.targets) {
        if (this.#vips.held.has(vipKey(t.dev, t.address))) devs.add(t.dev);
      }
    }
    return devs;
  }

  /**
   * Packets before timers: while an engine deadline (a Master_Down or preemption timer)
   * is due, reads what the sockets hold right now, synchronously, and handles it before
   * the deadline is judged; returns the time the last read found nothing more. A loop
   * that woke late (a stall, CPU contention) would otherwise fire a Master_Down timer
   * while the master's adverts sit in the socket buffer, unread by the poll thread or
   * their callbacks not yet run. Bounded: a flood cannot hold the loop here.
   */
  #packetsFirst(): number {
    let now = this.#clock.nowMs();
    if (this.#factory.drainNow === undefined) return now;
    for (let round = 0; round < PACKETS_FIRST_ROUNDS; round++) {
      const due = nodeNextDeadline(this.table.node);
      if (due === null || due > now) break;
      this.#direct = true;
      let read: number;
      try {
        read = this.#factory.drainNow();
      } finally {
        this.#direct = false;
      }
      // Handling what was read took time: deadlines due by now get a fresh look too.
      now = this.#clock.nowMs();
      if (read === 0) break;
    }
    return now;
  }

  /** The adverts held back for a reconcile (see `#afterHold`), now that it ran. */
  #sendAfterHold() {
    if (this.#holdPending.size > 0) this.#holdPending.clear();
    if (this.#afterHold.length === 0) return;
    for (const { inst, advert } of this.#afterHold.splice(0)) this.#sendAdvert(inst, advert);
  }

  /**
   * Runs each Backup's takeover once without its effects: the engine's step at the
   * Master_Down deadline, the first advert's bytes, the announcement schedule, and for
   * each VIP the announcer's socket and frame and the interface's set-up; nothing is
   * sent or added. A Backup may wait days for its one takeover, and the first run of
   * that code (compiling it, binding its calls, opening the packet socket) was
   * milliseconds between its timer and its advert and GARPs.
   *
   * @example
   * ```ts
   * rt.warmTakeover(); // once the daemon has settled as Backup
   * ```
   */
  warmTakeover(): void {
    const now = this.#clock.nowMs();
    for (const inst of this.table.live) {
      const r = this.table.routerOf(inst);
      if (r.state !== "backup" || r.masterDownDeadlineMs === null) continue;
      try {
        this.#warmInstance(inst, r, Math.max(now, r.masterDownDeadlineMs), now);
      } catch (e) {
        // Whatever cannot be readied now (no source address yet, say) the takeover
        // itself reports, as it did before there was a warm-up.
        this.#log.debug(`${inst.cfg.name}: takeover warm-up: ${errorText(e)}`);
      }
    }
  }

  #warmInstance(inst: Instance, r: RouterState, dueMs: number, now: number) {
    for (const a of step(r, { type: "tick" }, dueMs).actions) {
      if (a.type === "send") this.#transports.encodeOnly(inst, a.advert, this.#formFor(inst));
    }
    // The schedule's code, run once; its rounds are dropped.
    const cfg = this.#announceCfgOf(inst);
    announceDue(startAnnounce(cfg, inst.targets, now), cfg, now);
    for (const t of inst.targets) {
      this.#announcer.prepare?.(t.dev, t.family === "ipv4" ? "garp" : "na", t.address);
      this.#addresses.prepare?.(t.dev, t.family).catch(() => {});
    }
  }

  #sendAdvert(inst: Instance, advert: OutgoingAdvert) {
    this.#transports.sendAdvert(inst, advert, this.#formFor(inst));
  }

  /** The checksum form of `inst`'s adverts, per destination. */
  #formFor(inst: Instance): (dst: string) => ChecksumForm {
    return (dst) =>
      checksumFormFor(
        this.table.config.global.checksum,
        this.table.routerOf(inst).peerChecksum,
        inst.peers,
        dst,
      );
  }

  /**
   * Applies a validated config in one loop turn (see `reload_apply.ts`); an added
   * instance on a link that was down when the reload started starts in Fault.
   *
   * @example
   * ```ts
   * const outcome = rt.reload(next, { linksDown: new Set(["eth1"]) });
   * ```
   */
  reload(next: Config, facts: ReloadFacts): ReloadOutcome {
    this.#guardDirty = true;
    this.#routineDirty = true;
    return applyReload(this.#reload, next, facts.linksDown);
  }

  #executeSendsFirst(steps: { inst: Instance; action: RouterAction }[], now: number) {
    for (const { inst, action } of steps) {
      if (action.type === "send") this.#execute(inst, action, now);
    }
    for (const { inst, action } of steps) {
      if (action.type !== "send") this.#execute(inst, action, now);
    }
  }

  #execute(inst: Instance, action: RouterAction, now: number) {
    // An advert sent at once is all its action asks; anything else needs the turn.
    if (action.type !== "send" || this.#holdPending.has(inst)) this.#turnWanted = true;
    if (action.type !== "send") {
      this.#guardDirty = true;
      this.#routineDirty = true;
    }
    switch (action.type) {
      case "send":
        // A new master's first advert waits for its VIPs and its first announcement.
        if (this.#holdPending.has(inst)) this.#afterHold.push({ inst, advert: action.advert });
        else this.#sendAdvert(inst, action.advert);
        break;
      case "hold-vips":
        if (holdsAdvertBack(this.table.routerOf(inst).lastTransition?.reason)) {
          this.#holdPending.add(inst);
        }
        this.#vips.request("engine");
        break;
      case "release-vips":
        this.#holdPending.delete(inst);
        this.#vips.request("engine");
        break;
      case "announce": {
        const cfg = this.#announceCfgOf(inst);
        inst.announce = startAnnounce(cfg, inst.targets, now);
        if (this.table.routerOf(inst).lastTransition?.reason === "preempt") {
          inst.announce = followUpAnnounce(inst.announce, cfg, now + PREEMPT_FOLLOW_UP_MS);
        }
        break;
      }
      case "reannounce":
        // Only a live Master has VIPs to claim back; a retiring router is no Master.
        if (inst.retired !== null) break;
        inst.announce = startAnnounce(this.#announceCfgOf(inst), inst.targets, now);
        bump(inst.extra, "reannouncements");
        // A rival is whoever sends adverts: one line per window, however many come. The
        // master we just preempted, or one that took over at the same moment, speaking
        // on for a moment, is no split brain.
        this.#rateLog(
          `${inst.cfg.name}/reannounce`,
          action.handover ? "info" : "notice",
          action.handover
            ? `${inst.cfg.name}: ${action.rival} stepped down on hearing us: ${action.detail}; announcing the VIPs again`
            : `${inst.cfg.name}: dual master over: ${action.detail}; announcing the VIPs again`,
        );
        break;
      case "transition": {
        const t = action.transition;
        if (t.to !== "master") inst.announce = IDLE_ANNOUNCE;
        const why = this.#why(inst, t);
        this.#log.notice(
          `${inst.cfg.name}: ${t.from.toUpperCase()} -> ${t.to.toUpperCase()} (${t.reason}: ${why})`,
        );
        this.#notifier.instanceMoved(inst, this.table.routerOf(inst), t, why);
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
    const m = this.table.routerOf(inst).lastMaster;
    return m === null
      ? "no master heard"
      : `no advert from ${m.ip} for ${(t.atMs - m.atMs).toFixed(1)} ms`;
  }

  #stepRetired(inst: Instance, event: RouterEvent) {
    if (inst.retired === null) return;
    this.#turnWanted = true;
    const now = this.#clock.nowMs();
    for (const a of this.table.stepRetired(inst, event, now)) this.#execute(inst, a, now);
  }

  #runAnnouncements() {
    const now = this.#clock.nowMs();
    for (const inst of this.table.live) {
      const d = announceNextDeadline(inst.announce);
      if (d === null || d > now) continue;
      const cfg = this.#announceCfgOf(inst);
      const { state, announcements } = announceDue(inst.announce, cfg, now);
      inst.announce = state;
      for (const a of announcements) {
        // Announcing an address we failed to install would pull traffic into a void.
        if (!this.#vips.held.has(vipKey(a.dev, a.address))) continue;
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

  /** Forgets retiring instances whose VIPs are gone, and closes what they alone used. */
  #finishRetired() {
    if (this.table.retiring.length === 0 || this.#vips.wanted) return;
    const done = this.table.finishRetired();
    if (done.length === 0) return;
    for (const i of done) this.#log.info(`${i.cfg.name}: removed instance released`);
    // The next reconcile removes the virtual MACs only they used.
    if (done.some((i) => i.cfg.vmac !== null)) this.#vips.requestAgain();
    this.#transports.closeUnused(new Set(this.table.all().map((i) => i.key)));
  }

  // -------------------------------------------------------------------------------
  // Kernel events and links

  /**
   * Reacts to a kernel event: a VIP removed or added (a reconcile, which restores or
   * reports), a link up or down (the instances there leave or enter Fault, and their
   * transports are opened again on the way up), lost events (a reconcile).
   *
   * @example
   * ```ts
   * rt.onKernel({ kind: "link-down", interface: "eth0" });
   * ```
   */
  onKernel(e: KernelEvent): void {
    this.#vips.kernelChanged();
    this.#guardDirty = true;
    // A transport may be opened again: it starts with every packet waking the loop.
    this.#routineDirty = true;
    switch (e.kind) {
      case "addr-removed": {
        this.#trackSource(e.interface, e.address, true);
        const owners = this.table.vipOwners(e.address);
        if (!owners) {
          if (this.#isStaticAddress(e.address)) this.#vips.requestForKernel();
          return;
        }
        this.#vips.addressRemoved(
          e,
          owners,
          (i) => this.table.routerOf(i).holdingVips,
          (name) => this.#releasing(name),
        );
        return;
      }
      case "addr-added":
        this.#trackSource(e.interface, e.address, false);
        this.#dynamic.addressAdded(e.interface, e.address);
        // Only a VIP's address matters here: a foreign copy of it is a conflict to report.
        if (this.table.vipOwners(e.address) !== undefined) this.#vips.requestForKernel();
        return;
      case "link-up":
        this.#log.info(`${e.interface}: link up`);
        this.#reopenTransports(e.interface);
        this.#dynamic.linkUp(e.interface, e.over);
        this.#setLinkFault(e.interface, false);
        this.#trackers.setLink(e.interface, true);
        this.#vips.requestForKernel();
        return;
      case "link-down":
        this.#log.warn(`${e.interface}: link down`);
        // A virtual MAC deleted (by hand, or with its parent) is made again by the reconcile.
        if (this.#vmacs.isUp(e.interface)) this.#vips.requestForKernel();
        this.#setLinkFault(e.interface, true);
        this.#trackers.setLink(e.interface, false);
        if (e.removed) this.#dynamic.linkRemoved(e.interface, e.over);
        return;
      case "resync":
        this.#vips.requestForKernel();
        this.#dynamic.resync();
        return;
    }
  }

  /**
   * `track_src_ip`: an instance whose advert source left its interface is in FAULT
   * until the address comes back.
   */
  #trackSource(iface: string, address: string, gone: boolean) {
    const ip = canonicalIp(address) ?? address;
    for (const inst of this.table.live) {
      if (!inst.cfg.trackSrcIp || inst.cfg.interface !== iface || inst.rc.primaryIp !== ip) {
        continue;
      }
      if (gone) this.#log.warn(`${inst.cfg.name}: source address ${ip} removed from ${iface}`);
      this.feed({
        type: "router",
        name: inst.cfg.name,
        event: { type: "fault", tracker: `source ${ip}`, failing: gone },
      });
    }
  }

  /**
   * An instance whose own interface has no link can neither hear nor be heard: like
   * keepalived, it goes to Fault (releasing with priority 0 if it was Master) and comes
   * back when the link does. `track_interface` for other links is the trackers' job.
   */
  #setLinkFault(iface: string, failing: boolean) {
    for (const inst of this.table.live) {
      if (inst.cfg.interface !== iface) continue;
      this.feed({
        type: "router",
        name: inst.cfg.name,
        event: { type: "fault", tracker: linkFaultTracker(iface), failing },
      });
    }
  }

  /** `dynamic_interfaces`: an interface's addresses, told again as events for the loop. */
  #retellAddresses(iface: string, enqueue: (item: InboxItem) => void) {
    this.#addresses.list(iface).then(
      (list) => {
        for (const a of list) {
          if (a.hacore) continue;
          enqueue({
            kind: "kernel",
            event: { kind: "addr-added", interface: a.dev, address: a.address },
          });
        }
      },
      (e) => this.#log.warn(`${iface}: cannot read its addresses: ${errorText(e)}`),
    );
  }

  /**
   * A link that comes back may be a new interface under the old name (a re-created
   * VLAN or bond), whose index our bound, group-joined sockets no longer match; opening
   * them again is cheap and right in both cases.
   */
  #reopenTransports(iface: string) {
    const all = this.table.all();
    const keys = new Set(all.filter((i) => i.cfg.interface === iface).map((i) => i.key));
    for (const key of keys) this.#transports.reopen(key, all.find((i) => i.key === key));
  }

  // -------------------------------------------------------------------------------
  // VIP reconcile and virtual MACs

  /**
   * Wants a reconcile for `reason` (the loop runs it before it parks).
   *
   * @example
   * ```ts
   * rt.requestReconcile("startup");
   * ```
   */
  requestReconcile(reason: ReconcileReason): void {
    this.#vips.request(reason);
  }

  /**
   * Reconciles now: the virtual MACs first (a VIP may live on one), then the VIPs and
   * their announcements, then the virtual MACs no instance wants any more (a VIP moving
   * off a macvlan on a reload is added elsewhere first).
   *
   * @example
   * ```ts
   * await rt.reconcileNow();
   * ```
   */
  async reconcileNow(): Promise<void> {
    this.#guardDirty = true;
    const reason = this.#vips.begin();
    await this.#vmacs.ensure(this.#wantedVmacs());
    const applied = await this.#vips.apply(reason, this.#lookups);
    // A takeover's GARPs as soon as its VIPs are in, not after the filter and routes:
    // until then hosts still send to the old master's MAC.
    if (applied) this.#runAnnouncements();
    this.#acceptFilter?.set(this.#notAccepted());
    // After the addresses: a route's preferred source must exist before it is added.
    await this.#applyRoutes();
    if (!applied) return;
    await this.#vmacs.drop(this.#wantedVmacs());
  }

  /**
   * The VIPs to drop traffic to: those held by a master in no-accept mode that does not
   * own them (RFC 5798 §6.4.3; the owner, priority 255, always accepts).
   */
  #notAccepted(): string[] {
    const out: string[] = [];
    for (const i of this.table.all()) {
      if (i.cfg.accept || i.cfg.priority === 255 || !this.table.routerOf(i).holdingVips) continue;
      for (const v of [...i.cfg.vips, ...i.cfg.excludedVips]) out.push(v.address);
    }
    return out;
  }

  /** In a release hold (a stop, or maintenance): its VIPs go, and none comes back. */
  #releasing(name: string): boolean {
    const inst = this.table.instance(name);
    if (inst === undefined) return false;
    const r = this.table.routerOf(inst);
    return r.holdingVips && r.releaseDeadlineMs !== null;
  }

  #wants(): InstanceVips[] {
    const want = (i: Instance, name: string): InstanceVips => ({
      name,
      holding: this.table.routerOf(i).holdingVips,
      vips: i.cfg.vips,
      excluded: i.cfg.excludedVips,
    });
    const statics = this.table.config.staticAddresses;
    return [
      ...this.table.live.map((i) => want(i, i.cfg.name)),
      ...this.table.retiring.map((i) => want(i, retiredLabel(i.cfg.name))),
      // Held for the daemon's lifetime, whatever the VRRP states.
      ...statics.length === 0
        ? []
        : [{ name: STATIC_OWNER, holding: !this.#stopping, vips: statics, excluded: [] }],
    ];
  }

  #isStaticAddress(address: string): boolean {
    const c = canonicalIp(address);
    return this.table.config.staticAddresses.some((v) => canonicalIp(v.address) === c);
  }

  /**
   * Routes and rules: each instance's while it holds its VIPs (a retiring one too,
   * through its release), the static ones until the stop.
   */
  async #applyRoutes(): Promise<void> {
    if (this.#routes === null) return;
    const routes: Owned<KernelRoute>[] = [];
    const rules: Owned<KernelRule>[] = [];
    for (const i of this.table.all()) {
      if (!this.table.routerOf(i).holdingVips) continue;
      for (const item of i.cfg.virtualRoutes) routes.push({ owner: i.cfg.name, item });
      for (const item of i.cfg.virtualRules) rules.push({ owner: i.cfg.name, item });
    }
    if (!this.#stopping) {
      const c = this.table.config;
      for (const item of c.staticRoutes) routes.push({ owner: STATIC_OWNER, item });
      for (const item of c.staticRules) rules.push({ owner: STATIC_OWNER, item });
    }
    await this.#routes.apply({ routes, rules });
  }

  /**
   * The macvlans live and retiring instances need; none over an interface that
   * `dynamic_interfaces` is waiting for (it is made once the parent is there).
   */
  #wantedVmacs(): WantedVmacs {
    const users = this.table.all().filter((i) => !this.#dynamic.isMissing(i.cfg.interface));
    return wantedVmacs(users.map((i) => i.cfg)).vmacs;
  }
}
