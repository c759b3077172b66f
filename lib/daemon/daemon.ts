/**
 * The daemon: the one place where the pure engine meets the world. It owns the loop
 * and the lifecycle, and answers the control socket ({@link DaemonControl}). What runs
 * in the loop is a list of subsystems (`subsystem.ts`: deadlines, kernel events,
 * reload, status, stop) beside the one check service they subscribe to
 * (`lib/check/service.ts`); the loop waits once, for the nearest deadline of all of
 * them. The VRRP subsystem is the runtime (`runtime.ts`), which turns every input (a
 * received packet, a kernel address event, a deadline) into an engine step and carries
 * out the resulting actions through the ports (`ports.ts`): adverts go out through a
 * transport, VIPs are reconciled against the kernel, GARPs/NAs follow the announce
 * schedule, transitions are logged.
 *
 * One loop, one input at a time: nothing runs concurrently with a step, so state
 * never needs a lock. Port callbacks only queue into an inbox (`inbox.ts`) and wake the
 * loop, and so do the operator verbs of {@link DaemonControl} (demote, promote, resume,
 * maintenance, reload): they validate at once (`operator.ts`) and take effect in the
 * loop.
 *
 * Reload (SIGHUP, `hacore reload`): the new file is validated first (an invalid one
 * changes nothing), then the pure diff (`reload.ts`) is applied in one loop turn
 * (`reload_apply.ts`): removed instances release like a shutdown (priority 0, VIPs kept
 * through the release hold, then removed), added ones start, changed ones are
 * reconfigured in place (VIPs reconciled address by address, no state change, no
 * missed advert), and untouched ones do not notice.
 *
 * Robustness rules:
 * - nothing a packet contains can throw out of the loop: each packet is handled under
 *   its own try/catch; a bug there is counted (`internalErrors`) and logged, never fatal;
 * - every dropped packet has a reason and a counter, per instance when its VRID maps
 *   to one, node-wide otherwise; drop logs are rate-limited per (instance, reason);
 * - a failed kernel operation is logged, counted and retried after a second; the
 *   reconcile is idempotent, so a retry or a duplicate event costs nothing.
 *
 * The other modules of the daemon: `status.ts` (what status shows), `instance.ts` and
 * `instance_table.ts` (the instances and the engine state), `packet_intake.ts`,
 * `tracking.ts`, `vip_reconciler.ts`, `vmac_keeper.ts`, `transports.ts`,
 * `state_notifier.ts`, `foreign_watch.ts` (one job each, wired by the runtime).
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

import { CheckService, type CheckServiceOptions } from "../check/service.ts";
import { formatConfigErrors, loadConfig, type LoadResult } from "../config/mod.ts";
import { summarizeInstance } from "../config/router.ts";
import { startsInstances } from "../config/diff.ts";
import type { Config } from "../config/schema.ts";
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
} from "../control/api.ts";
import { type Logger, RateLimiter } from "../log.ts";
// The LVS subsystems and the preflight are loaded by a start whose config has them: a
// VRRP-only start does not pay for their modules (start time is what a Backup costs).
import type { LvsRuntime } from "../lvs/runtime.ts";
import type { KernelFacts } from "../lvs/preflight.ts";
import { fileStateStore, ownsAddress, RealServerRole } from "../lvs/realserver.ts";
import type { LvsSyncRuntime } from "../lvs/sync.ts";
import type { IpvsPort, RoutePort } from "../sys/ports.ts";
import { procSysctls, type Sysctls } from "../sys/vmac.ts";
import { TrackerHub } from "../track/hub.ts";
import { systemProbes } from "../track/system.ts";
import { bump, errorText, type FlushingRateLog, makeRateLog } from "./common.ts";
import { Inbox, type InboxItem } from "./inbox.ts";
import { Reactor } from "../sys/reactor.ts";
import { type Instance, makeInstance } from "./instance.ts";
import {
  dualStackHalves,
  maintenanceResult,
  MAX_OPERATOR_PRIORITY,
  MIN_OPERATOR_PRIORITY,
  notRunningError,
  onBothHalves,
  overrideAccepted,
  overrideRefusal,
  resumeOutcome,
  unknownInstanceError,
} from "./operator.ts";
import type {
  AddressPort,
  Announcer,
  Clock,
  KernelEvent,
  NotifySink,
  PrimaryAddresses,
  TransportFactory,
  VipGuardPort,
  VmacPort,
} from "./ports.ts";
import { NodeRuntime } from "./runtime.ts";
import { type DaemonStatus, instanceDetail, processStatus } from "./status.ts";
import { mergeReloads, type Subsystem } from "./subsystem.ts";
import { vmacProblems } from "./vmac_keeper.ts";
import type { AcceptFilter } from "../sys/nft.ts";

export type { DaemonStatus, ForeignSenderStatus, InstanceStatus, VipStatus } from "./status.ts";

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
  /**
   * When the process started, on `clock`'s scale (`processStartedAtMs`): the first
   * Master_Down deadlines count from it, so nodes started together decide by priority.
   * Absent or null: from the first loop turn.
   */
  readonly startedAtMs?: number | null;
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
  /** Enforces no-accept mode (`lib/sys/nft.ts`); none by default. */
  readonly acceptFilter?: AcceptFilter | null;
  /** Installs hacore's routes and rules (`lib/sys/routes.ts`); none by default. */
  readonly routes?: RoutePort | null;
  /** Watches for other hosts claiming held VIPs (`lib/sys/vip_guard.ts`); none by default. */
  readonly vipGuard?: VipGuardPort | null;
  /** How {@link Daemon.reload} reads `config.file`; `loadConfig` by default. */
  readonly loadConfig?: (file: string) => Promise<LoadResult>;
  /**
   * The trackers (`vrrp_script`, `track_interface`, `track_file`, `track_process`); a
   * hub over the real probes (`lib/track/system.ts`) by default. The daemon starts it,
   * feeds it link states, reconfigures it on reload and stops it.
   */
  readonly trackers?: TrackerHub;
  /**
   * How the daemon's check service runs a check and spreads first runs: the real
   * checks and Math.random by default (a fake runner in tests). The service itself
   * always runs on the daemon's clock and loop.
   */
  readonly checks?: Pick<CheckServiceOptions, "runner" | "random">;
  /**
   * Virtual-MAC macvlans (`use_vmac`): made before the first reconcile, kept in place by
   * every reconcile, removed at stop. Needed only when an instance sets `use_vmac`.
   */
  readonly vmacs?: VmacPort;
  /**
   * Opens the kernel's IPVS table, at start, when the config has virtual servers (a
   * VRRP-only config never calls it). A config with virtual servers and no way to open
   * IPVS, or one that fails, is a start error.
   */
  readonly openIpvs?: () => Promise<IpvsPort>;
  /**
   * Reads the kernel's IPVS facts for the preflight at start (`lib/lvs/preflight.ts`):
   * its findings are logged as warnings and shown in status. None by default (tests);
   * `hacore run` passes `readKernelFacts`.
   */
  readonly kernelFacts?: () => Promise<KernelFacts>;
  /** The sysctls the real-server role sets; /proc/sys by default. */
  readonly sysctls?: Sysctls;
  /**
   * Where state that must outlive a crash goes (the real-server role's original
   * sysctls); the control socket's directory in `hacore run`. None by default (tests).
   */
  readonly stateDir?: string;
  /** The LVS ownership file (`/run/hacore/NAME.lvs.json`); absent: kept in memory only. */
  readonly lvsStateFile?: string;
  /** Leave the IPVS table in place at stop (`hacore run --keep-lvs`). */
  readonly keepLvs?: boolean;
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

/** After a stop, leave no later than the longest release hold plus this. */
const STOP_GRACE_MS = 2000;
/** Pause after an unexpected error in the loop itself, so a persistent bug cannot spin. */
const LOOP_ERROR_PAUSE_MS = 100;
/** `isLive` tolerates at least this much loop silence (a GC pause is not death). */
const MIN_LIVENESS_MS = 2000;

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
  readonly #clock: Clock;
  readonly #addresses: AddressPort;
  readonly #log: Logger;
  readonly #rateLog: FlushingRateLog;
  readonly #notify: NotifySink | null;
  readonly #load: (file: string) => Promise<LoadResult>;
  readonly #version: string;
  /** Wall time minus clock time at construction: labels monotonic times for people. */
  readonly #wallOffsetMs: number;
  #startedAtWall: string;
  /** Node-wide counters the daemon keeps (drops no instance could own, internal errors). */
  readonly #counters: Record<string, number> = {};
  /** The instances, the engine state, and the execution of the engine's actions. */
  readonly #rt: NodeRuntime;
  /** What the loop drives, in order: the virtual servers (when any), then the VRRP runtime. */
  readonly #subsystems: Subsystem<unknown>[];
  /** The virtual servers, once {@link Daemon.start} opened IPVS; null for VRRP only. */
  #lvs: LvsRuntime | null = null;
  /** The IPVS sync daemon following a VRRP instance, once started; null when not configured. */
  #lvsSync: LvsSyncRuntime | null = null;
  /** The LVS-DR real server's side; null when not configured. */
  readonly #realServer: RealServerRole | null;
  readonly #openIpvs: (() => Promise<IpvsPort>) | null;
  readonly #kernelFacts: (() => Promise<KernelFacts>) | null;
  /** Preflight findings at start, one line each. */
  #preflight: string[] = [];
  readonly #lvsStateFile: string | null;
  readonly #keepLvs: boolean | undefined;
  readonly #inbox = new Inbox();
  /**
   * The one check service: its deadline is part of the loop's wait, a run that ends
   * early enough wakes the loop, and every subscriber (the trackers) shares it.
   */
  readonly #checks: CheckService;
  #phase: DaemonStatus["phase"] = "new";
  #unwatch: (() => void) | null = null;
  #done: Promise<void> = Promise.resolve();
  #stopRequested = false;
  #shutdownFed = false;
  #stopHardAtMs: number | null = null;
  #reloadChain: Promise<unknown> = Promise.resolve();
  /** Clock time the loop last finished an iteration. */
  #lastTurnMs: number;
  /** Loop iterations since start (see {@link Daemon.loopTurns}). */
  #loopTurns = 0;
  /**
   * From this clock time on, a rate-limited line may owe its "suppressed" summary (a
   * window after the last line); null when none may. A packet handled in place then
   * takes a loop turn, whose flush prints it, as every packet's turn did before.
   */
  #summaryDueMs: number | null = null;
  /** The loop is parked in its pause after an error: packets are queued, not handled. */
  #pausing = false;

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
    this.#clock = opts.clock;
    this.#addresses = opts.addresses;
    this.#log = opts.logger;
    const limiter = new RateLimiter(opts.dropLogWindowMs ?? 10_000);
    this.#rateLog = this.#owingSummaries(
      makeRateLog(opts.logger, limiter, () => this.#clock.nowMs()),
      limiter.windowMs,
    );
    this.#notify = opts.notify ?? null;
    this.#load = opts.loadConfig ?? loadConfig;
    this.#version = opts.version ?? "unknown";
    const wallClock = opts.wallClock ?? (() => new Date());
    const trackers = opts.trackers ??
      new TrackerHub({ probes: systemProbes(), logger: opts.logger });
    const vmacs = opts.vmacs ?? null;
    const now = this.#clock.nowMs();
    this.#lastTurnMs = now;
    const wall = wallClock();
    this.#wallOffsetMs = wall.getTime() - now;
    this.#startedAtWall = wall.toISOString();

    const problems: string[] = [];
    const instances: Instance[] = [];
    for (const vi of opts.config.instances) {
      const inst = makeInstance(vi, opts.config, opts.primaryAddresses);
      if (typeof inst === "string") problems.push(inst);
      else instances.push(inst);
    }
    problems.push(...vmacProblems(opts.config.instances, vmacs !== null));
    if (problems.length > 0) throw new DaemonSetupError(problems);
    this.#checks = new CheckService({
      ...opts.checks,
      clock: opts.clock,
      wake: () => this.#inbox.poke(),
    });
    const role = opts.config.realServerRole;
    this.#realServer = role === null ? null : new RealServerRole({
      config: role,
      addresses: opts.addresses,
      sysctls: opts.sysctls ?? procSysctls,
      log: opts.logger,
      clock: opts.clock,
      ...(opts.stateDir === undefined
        ? {}
        : { state: fileStateStore(`${opts.stateDir}/real_server_role.json`) }),
    });
    this.#rt = new NodeRuntime({
      config: opts.config,
      instances,
      primaries: opts.primaryAddresses,
      clock: opts.clock,
      transports: opts.transports,
      addresses: this.#hideRoleAddresses(opts.addresses),
      announcer: opts.announcer,
      vmacs,
      notify: this.#notify,
      trackers,
      checks: this.#checks,
      log: opts.logger,
      rateLog: this.#rateLog,
      counters: this.#counters,
      retryMs: opts.retryMs ?? 1000,
      wallOffsetMs: this.#wallOffsetMs,
      nowMs: now,
      startedAtMs: opts.startedAtMs ?? null,
      enqueue: (item) => this.#push(item),
      acceptFilter: opts.acceptFilter ?? null,
      routes: opts.routes ?? null,
      vipGuard: opts.vipGuard ?? null,
    });
    this.#subsystems = [this.#rt];
    // After the VRRP runtime: its VIPs on lo never depend on an instance.
    if (this.#realServer !== null) this.#subsystems.push(this.#realServer);
    this.#openIpvs = opts.openIpvs ?? null;
    this.#kernelFacts = opts.kernelFacts ?? null;
    this.#lvsStateFile = opts.lvsStateFile ?? null;
    this.#keepLvs = opts.keepLvs ? true : undefined;
  }

  /**
   * The VRRP side's view of the addresses, without the real-server role's VIPs: it
   * would take them (tagged as hacore's, wanted by no instance) for leftovers.
   */
  #hideRoleAddresses(port: AddressPort): AddressPort {
    const hide = (list: Awaited<ReturnType<AddressPort["list"]>>) =>
      list.filter((a) => !ownsAddress(this.#rt?.table.config.realServerRole ?? null, a));
    return {
      list: async (dev) => hide(await port.list(dev)),
      add: (spec) => port.add(spec),
      remove: (a) => port.remove(a),
      watch: (onEvent) => port.watch(onEvent),
      ...(port.linkStates === undefined ? {} : { linkStates: () => port.linkStates!() }),
      ...(port.prepare === undefined ? {} : { prepare: (dev, f) => port.prepare!(dev, f) }),
    };
  }

  /** Logs the preflight's findings for the config at start and keeps them for status. */
  async #runPreflight(): Promise<void> {
    const config = this.#rt.table.config;
    if (this.#kernelFacts === null) return;
    if (config.virtualServers.length === 0 && config.lvsSyncDaemon === null) return;
    const { preflightFindings, preflightLine } = await import("../lvs/preflight.ts");
    try {
      const findings = preflightFindings(config, await this.#kernelFacts());
      this.#preflight = findings.map(preflightLine);
      for (const f of findings) {
        const line = preflightLine(f);
        if (f.level === "warn") this.#log.warn(line);
        else this.#log.info(line);
      }
    } catch (e) {
      this.#log.warn(`preflight: cannot read the kernel's IPVS settings: ${errorText(e)}`);
    }
  }

  /**
   * Opens its own IPVS port and builds the sync subsystem when the config has
   * `[global.lvs_sync_daemon]`; it runs last in the loop, so it sees an instance's
   * transition in the turn that made it.
   * @throws {DaemonSetupError} when IPVS cannot be opened.
   */
  async #openLvsSync(): Promise<void> {
    const cfg = this.#rt.table.config.lvsSyncDaemon;
    if (cfg === null) return;
    if (this.#openIpvs === null) {
      throw new DaemonSetupError(["the config has lvs_sync_daemon, but this daemon has no IPVS"]);
    }
    const { LvsSyncRuntime } = await import("../lvs/sync.ts");
    let ipvs: IpvsPort;
    try {
      ipvs = await this.#openIpvs();
    } catch (e) {
      throw new DaemonSetupError([`cannot open IPVS for lvs_sync_daemon: ${errorText(e)}`]);
    }
    this.#lvsSync = new LvsSyncRuntime({
      config: cfg,
      ipvs,
      clock: this.#clock,
      log: this.#log,
      instanceState: (name) => {
        const inst = this.#rt.table.instance(name);
        return inst === undefined ? null : this.#rt.table.routerOf(inst).state;
      },
    });
    this.#subsystems.push(this.#lvsSync);
  }

  /**
   * Opens IPVS and builds the LVS subsystem when the config has virtual servers.
   * @throws {DaemonSetupError} when IPVS cannot be opened.
   */
  async #openLvs(): Promise<void> {
    const config = this.#rt.table.config;
    if (config.virtualServers.length === 0) return;
    if (this.#openIpvs === null) {
      throw new DaemonSetupError(["the config has virtual servers, but this daemon has no IPVS"]);
    }
    const { LvsRuntime } = await import("../lvs/runtime.ts");
    let ipvs: IpvsPort;
    try {
      ipvs = await this.#openIpvs();
    } catch (e) {
      throw new DaemonSetupError([
        `cannot open the kernel's IPVS table for the virtual servers: ${errorText(e)}`,
      ]);
    }
    if (this.#phase !== "new") {
      await ipvs.close();
      throw new Error("the daemon was stopped while it started");
    }
    this.#lvs = new LvsRuntime({
      config,
      ipvs,
      checks: this.#checks,
      clock: this.#clock,
      log: this.#log,
      rateLog: this.#rateLog,
      notify: (n) => {
        try {
          this.#notify?.notifyLvs?.(n);
        } catch (e) {
          this.#log.error(`${n.virtualServer}: notify failed: ${errorText(e)}`);
        }
      },
      enqueue: (run) => this.#push({ kind: "control", run, cancel: () => {} }),
      localAddresses: async () => (await this.#addresses.list()).map((a) => a.address),
      stateFile: this.#lvsStateFile,
      ...(this.#keepLvs === undefined ? {} : { keepOnStop: this.#keepLvs }),
    });
    // First in the loop: its table is applied at start before VRRP may take a VIP, so a
    // director answers for the VIP only with its IPVS table in place (a backup holds the
    // same table, ready for a failover).
    this.#subsystems.unshift(this.#lvs);
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
    return this.#phase === "new" || this.#phase === "stopped" || this.#inbox.idle;
  }

  /**
   * Loop iterations since start: a routine advert handled in place (see `#fastPacket`)
   * turns no loop, so on a quiet Backup this stays still while adverts arrive.
   *
   * @example
   * ```ts
   * daemon.loopTurns; // 3
   * ```
   */
  get loopTurns(): number {
    return this.#loopTurns;
  }

  /**
   * Opens the transports, subscribes to kernel events, removes hacore leftovers from
   * an earlier run, starts every subsystem (the IPVS table first), logs the IPVS
   * preflight's findings, and resolves then (the loop keeps running until
   * {@link Daemon.stop}).
   *
   * @example
   * ```ts
   * await daemon.start();
   * ```
   * @throws when a transport cannot be opened (no such interface, no permission), or
   * IPVS for the virtual servers; whatever was opened is closed again.
   */
  async start(): Promise<void> {
    if (this.#phase !== "new") throw new Error("the daemon was already started");
    await this.#openLvs();
    try {
      await this.#openLvsSync();
      await this.#startLoop();
    } catch (e) {
      // Nothing ran: closing the LVS side only releases its IPVS socket.
      await this.#lvs?.close();
      await this.#lvsSync?.close();
      throw e;
    }
    // Advice only (logged, kept for status): its reads of /proc and /lib/modules come
    // after the IPVS table is in place, not before (50-300 ms of a small guest's start).
    await this.#runPreflight();
  }

  #startLoop(): Promise<void> {
    if (this.#phase !== "new") return Promise.reject(new Error("the daemon was already started"));
    this.#phase = "running";
    this.#startedAtWall = this.#wallIso(this.#clock.nowMs());
    try {
      this.#rt.openTransports();
      this.#unwatch = this.#addresses.watch((event) => this.#push({ kind: "kernel", event }));
    } catch (e) {
      this.#teardown();
      return Promise.reject(e);
    }
    const instances = this.#rt.table.live;
    this.#log.notice(
      `hacore starting: ${instances.length} instance${
        instances.length === 1 ? "" : "s"
      } from ${this.#rt.table.config.file}`,
    );
    for (const inst of instances) this.#log.info(summarizeInstance(inst.cfg));
    let started!: () => void;
    const startedP = new Promise<void>((r) => (started = r));
    this.#done = this.#loop(started).catch((e) => {
      // #loop handles its own errors; this is the last line of defence.
      this.#log.error(`daemon loop failed: ${errorText(e)}`);
      this.#teardown();
      void Promise.allSettled(this.#subsystems.map((s) => s.close()))
        .then(() => this.#checks.stop());
      started();
    });
    return startedP;
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
    const parked = this.#inPlaceAllowed();
    this.#stopRequested = true;
    this.#phase = "stopping";
    let hold = 0;
    for (const s of this.#subsystems) hold = Math.max(hold, s.stopBudgetMs());
    this.#stopHardAtMs = this.#clock.nowMs() + hold + STOP_GRACE_MS;
    if (parked) this.#shutdownInPlace();
    this.#inbox.poke();
    return this.#done;
  }

  /**
   * The stop's first step, taken in the caller's turn when the loop is parked (as a
   * packet is handled in place): the priority-0 adverts leave now rather than after the
   * loop's wake-up, which is most of a signal's way to the wire at 10 ms adverts.
   */
  #shutdownInPlace(): void {
    this.#shutdownFed = true;
    try {
      for (const s of this.#subsystems) s.shutdown();
    } catch (e) {
      this.#inPlaceFailed(e);
    }
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
    return {
      phase: this.#phase,
      nowMs: now,
      ...this.#rt.status(now),
      // Absent for VRRP only, so that status stays as it was.
      ...(this.#lvs === null ? {} : { lvs: this.#lvs.status(now) }),
      ...this.#lvsRoleStatus(now),
      configFile: this.#rt.table.config.file,
      startedAtWall: this.#startedAtWall,
      version: this.#version,
      process: processStatus(),
      loopTurns: this.#loopTurns,
    };
  }

  /** The parts of status only a config with them shows (a VRRP-only status is unchanged). */
  #lvsRoleStatus(now: number): Partial<DaemonStatus> {
    const checks = this.#checks.stats();
    return {
      ...(checks.checks === 0 ? {} : { checks }),
      ...(this.#lvsSync === null ? {} : { lvsSync: this.#lvsSync.status(now) }),
      ...(this.#realServer === null ? {} : { realServerRole: this.#realServer.status(now) }),
      ...(this.#preflight.length === 0 ? {} : { preflight: [...this.#preflight] }),
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
    const inst = this.#rt.table.instance(name);
    if (inst === undefined) return null;
    const hooks = [...(this.#notify?.recent(name) ?? [])];
    if (inst.cfg.syncGroup !== null) {
      hooks.push(...(this.#notify?.recent(inst.cfg.syncGroup) ?? []));
    }
    return instanceDetail({
      inst,
      router: this.#rt.table.routerOf(inst),
      summary: this.#rt.instanceStatus(inst, this.#clock.nowMs()),
      override: this.#rt.table.overrides.get(name) ?? null,
      hooks,
      wallIso: (atMs) => this.#wallIso(atMs),
    });
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
    return this.#onInstance(name, (n) => this.#resumeOne(n));
  }

  #resumeOne(name: string): OperatorResult {
    const inst = this.#rt.table.instance(name);
    if (inst === undefined) return { ok: false, error: this.#unknownInstance(name) };
    const refused = this.#refuseUnlessRunning();
    if (refused) return refused;
    const o = this.#rt.table.overrides.get(name);
    // The configured priority as the trackers move it.
    const { notice, result } = resumeOutcome(name, o, inst.track?.effective ?? inst.rc.priority);
    if (notice === null) return result;
    this.#rt.table.overrides.delete(name);
    this.#log.notice(notice);
    this.#control(() => this.#rt.applyPriority(name));
    return result;
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
  /**
   * Drains a real server (the LVS subsystem's {@link LvsRuntime.drain}); the loop applies
   * its weight 0 in the turn this wakes.
   *
   * @example
   * ```ts
   * daemon.drain("web", "192.0.2.12:80", 60_000);
   * ```
   */
  drain(virtualServer: string, realServer: string, deadlineMs?: number): OperatorResult {
    return this.#onLvs((lvs) => lvs.drain(virtualServer, realServer, deadlineMs ?? null));
  }

  /** Ends a drain (the LVS subsystem's {@link LvsRuntime.undrain}). */
  undrain(virtualServer: string, realServer: string): OperatorResult {
    return this.#onLvs((lvs) => lvs.undrain(virtualServer, realServer));
  }

  #onLvs(run: (lvs: LvsRuntime) => OperatorResult): OperatorResult {
    const refused = this.#refuseUnlessRunning();
    if (refused) return refused;
    const lvs = this.#lvs;
    if (lvs === null) return { ok: false, error: "this daemon runs no virtual servers" };
    const r = run(lvs);
    // Wakes the loop: the runtime's change is due now.
    if (r.ok) this.#control(() => {});
    return r;
  }

  maintenance(on: boolean): OperatorResult {
    const refused = this.#refuseUnlessRunning();
    if (refused) return refused;
    const table = this.#rt.table;
    if (table.maintenance === on) {
      return { ok: true, message: `maintenance is already ${on ? "on" : "off"}` };
    }
    table.maintenance = on;
    const masters = table.live.filter((i) => table.routerOf(i).state === "master")
      .map((i) => i.cfg.name);
    this.#log.notice(`maintenance ${on ? "on" : "off"} by the operator`);
    this.#control(() => this.#rt.feed({ type: "maintenance", on }));
    return maintenanceResult(on, masters);
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
    return this.#rt.table.config;
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
    const inst = run.target === "INSTANCE" ? this.#rt.table.instance(run.name) : undefined;
    if (inst) bump(inst.extra, hookCounterKey(run.hook, result));
    else bump(this.#counters, groupHookCounterKey(run.name, run.hook, result));
  }

  /**
   * Counts one node-wide event by name (e.g. `mailFailed`): shown in status and as
   * `hacore_node_events_total{event=NAME}`.
   *
   * @example
   * ```ts
   * const mailer = openMailer(config, host, (o) => daemon.countNodeEvent(`mail_${o}`));
   * ```
   */
  countNodeEvent(name: string): void {
    bump(this.#counters, name);
  }

  /**
   * Readies the Backups' takeover path (see `NodeRuntime.warmTakeover`) while the loop
   * is parked; a failure here is a bug logged as the loop's own, never a stop.
   *
   * @example
   * ```ts
   * daemon.warmTakeover();
   * ```
   */
  warmTakeover(): void {
    if (this.#finished()) return;
    try {
      this.#rt.warmTakeover();
    } catch (e) {
      this.#inPlaceFailed(e);
    }
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
    const smallest = Math.min(
      Infinity,
      ...this.#rt.table.live.map((i) => i.rc.advertIntervalMs),
    );
    const limit = Math.max(MIN_LIVENESS_MS, 3 * (Number.isFinite(smallest) ? smallest : 0));
    const now = this.#clock.nowMs();
    if (now - this.#lastTurnMs <= limit) return true;
    const parked = this.#inbox.parkedUntil;
    if (parked === undefined) return false;
    return parked === null || now - parked <= limit;
  }

  /** A verb on the dual-stack instance written as `name` means both its halves. */
  #onInstance(name: string, verb: (name: string) => OperatorResult): OperatorResult {
    const halves = dualStackHalves(this.#rt.table.live.map((i) => i.cfg), name);
    if (halves !== null) return onBothHalves(halves, verb);
    return verb(name);
  }

  #unknownInstance(name: string): string {
    return unknownInstanceError(name, this.#rt.table.live.map((i) => i.cfg.name));
  }

  #refuseUnlessRunning(): OperatorResult | null {
    const error = notRunningError(this.#phase);
    return error === null ? null : { ok: false, error };
  }

  #setOverride(kind: PriorityOverride["kind"], name: string, priority: number): OperatorResult {
    return this.#onInstance(name, (n) => this.#setOverrideOne(kind, n, priority));
  }

  #setOverrideOne(
    kind: PriorityOverride["kind"],
    name: string,
    priority: number,
  ): OperatorResult {
    const inst = this.#rt.table.instance(name);
    if (inst === undefined) return { ok: false, error: this.#unknownInstance(name) };
    const refused = this.#refuseUnlessRunning();
    if (refused) return refused;
    const base = inst.rc.priority;
    const error = overrideRefusal(kind, name, priority, base);
    if (error !== null) return { ok: false, error };
    this.#rt.table.overrides.set(name, { kind, priority });
    const { notice, result } = overrideAccepted(kind, name, base, priority);
    this.#log.notice(notice);
    this.#control(() => this.#rt.applyPriority(name));
    return result;
  }

  /** Queues operator work for the loop (never run concurrently with a step). */
  #control(run: () => void, cancel: () => void = () => {}) {
    this.#push({ kind: "control", run, cancel });
  }

  // -------------------------------------------------------------------------------
  // Reload

  async #reload(): Promise<ReloadOutcome> {
    const refused = (errors: string[]): ReloadOutcome => ({ ok: false, errors, changes: [] });
    const notRunning = notRunningError(this.#phase);
    if (notRunning !== null) return refused([notRunning]);
    const file = this.#rt.table.config.file;
    this.#log.notice(`reload: reading ${file}`);
    let loaded: LoadResult;
    try {
      // Without instances no Master's advert waits on it: read at once, not a loop turn
      // later (behind a dump of the IPVS table, say).
      loaded = this.#rt.table.config.instances.length === 0
        ? await this.#load(file)
        : await this.#afterAdverts(() => this.#load(file));
    } catch (e) {
      loaded = {
        ok: false,
        errors: [{ file, line: null, path: "", message: `cannot read the file: ${errorText(e)}` }],
      };
    }
    if (!loaded.ok) {
      // A screenful at most, each line cut: the file is untrusted input.
      const errors = formatConfigErrors(loaded.errors);
      for (const e of errors) this.#log.error(`reload: ${e}`);
      this.#log.error(`reload: ${loaded.errors.length} error(s) in ${file}; nothing changed`);
      return refused(errors);
    }
    const next = loaded.config;
    const added = [
      ...(next.virtualServers.length > 0 && this.#lvs === null ? ["virtual servers"] : []),
      ...(next.lvsSyncDaemon !== null && this.#lvsSync === null ? ["lvs_sync_daemon"] : []),
      ...(next.realServerRole !== null && this.#realServer === null ? ["real_server_role"] : []),
    ];
    if (added.length > 0) {
      const error = `${added.join(", ")} added to a daemon started without: restart hacore`;
      this.#log.error(`reload: ${error}; nothing changed`);
      return refused([error]);
    }
    // Read before the loop applies anything: an added instance on a dead link must
    // start in Fault, as at startup. When none starts: no query (a netlink round trip
    // of a one-weight LVS reload, ~2-4 ms in a small guest).
    const down = new Set<string>();
    try {
      const states = startsInstances(this.#rt.table.config, next)
        ? await this.#addresses.linkStates?.()
        : [];
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

  /**
   * Starts `work` in a loop turn right after every Master sent an extra advert: what it
   * does before its first await (a reload's read and parse with the loader `run` gives,
   * and the apply that follows a netlink dump later) then has a whole
   * Master_Down_Interval before a Backup would take over, not just what was left of an
   * advert interval. At 10 ms adverts a parse whose code had gone cold took longer than
   * that remainder on a busy host, and a reload of an unchanged file moved the VIP.
   */
  #afterAdverts<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#control(
        () => {
          this.#rt.feed({ type: "advertise" });
          work().then(resolve, reject);
        },
        () => reject(new Error("the daemon stopped")),
      );
    });
  }

  /** Applies a validated config in one loop turn, unless a stop came first. */
  #applyReload(next: Config, down: ReadonlySet<string>): ReloadOutcome {
    if (this.#phase !== "running") {
      return { ok: false, errors: [`the daemon is ${this.#phase}`], changes: [] };
    }
    return mergeReloads(this.#subsystems.map((s) => s.reload(next, { linksDown: down })));
  }

  // -------------------------------------------------------------------------------
  // The loop

  #push(item: InboxItem) {
    if (this.#phase === "stopped" || this.#phase === "new") {
      if (item.kind === "control") item.cancel();
      return;
    }
    if (item.kind === "packet" && this.#fastPacket(item)) return;
    if (!this.#inbox.push(item)) bump(this.#counters, "inboxOverflows");
  }

  /**
   * A packet arriving while the loop is parked is handled here, in the transport's
   * callback, as the loop would (the same `onPacket`): the loop is parked, so nothing
   * else runs, and a routine advert (it only moved the Master_Down deadline and
   * bumped counters) then just moves the park's wake-up, with no loop turn, no
   * promise and no microtask: at 10 ms adverts that turn was most of a Backup's CPU.
   * Anything else the packet did (see `NodeRuntime.takeTurnWanted`), or a summary the
   * rate-limited log may owe, wakes the loop. False: not parked, queue it.
   */
  #fastPacket(item: Extract<InboxItem, { kind: "packet" }>): boolean {
    if (!this.#inPlaceAllowed()) return false;
    if (!this.#inPlace(() => this.#rt.onPacket(item.iface, item.family, item.packet))) {
      this.#inbox.poke();
    }
    return true;
  }

  /** Work may be done in place: the loop runs, is parked, and no stop or pause is on. */
  #inPlaceAllowed(): boolean {
    return this.#phase === "running" && !this.#stopRequested && !this.#pausing &&
      this.#inbox.idle;
  }

  /**
   * Runs `work` while the loop stays parked; true when it needs no turn (see
   * `#stayParked`). A bug in it is the loop's own, and the loop must then wake.
   */
  #inPlace(work: () => void): boolean {
    try {
      this.#rt.takeTurnWanted();
      work();
      return this.#stayParked();
    } catch (e) {
      this.#inPlaceFailed(e);
      return false;
    }
  }

  /** A bug in work done in place: counted and logged as the loop's own, and the loop wakes. */
  #inPlaceFailed(e: unknown): void {
    bump(this.#counters, "internalErrors");
    this.#rateLog("loop/internal", "error", `internal error in the daemon loop: ${errorText(e)}`);
  }

  /**
   * The park's deadline came: when it is only the engine's (a Master's next advert, a
   * timer that turns out to need nothing else), the tick runs here, as the turn would
   * run it first (`NodeRuntime.tickDue`), and the loop stays parked unless what it did
   * needs the rest of a turn. False: the loop wakes, as before.
   */
  #fastDeadline(): boolean {
    return this.#inPlaceAllowed() && this.#inPlace(() => this.#rt.tickDue());
  }

  /**
   * After work done in place while parked: true when it needs no loop turn (nothing
   * wanted by the runtime, no log summary owed, no other deadline due now), and the
   * park was moved to the next deadline.
   */
  #stayParked(): boolean {
    if (this.#rt.takeTurnWanted()) return false;
    // The deadlines first, then the clock: a subsystem that wants a turn at once says so
    // with the clock's own "now", which must not look a hair in the future here.
    const next = this.#nextDeadline();
    const now = this.#clock.nowMs();
    const owed = this.#summaryDueMs;
    if (owed !== null && now >= owed) return false;
    if (next !== null && next <= now) return false;
    return this.#inbox.repark(next);
  }

  /** `rateLog`, noting when the summaries it may owe are due (see `#summaryDueMs`). */
  #owingSummaries(rateLog: FlushingRateLog, windowMs: number): FlushingRateLog {
    const log = (key: string, level: Parameters<FlushingRateLog>[1], msg: string) => {
      this.#summaryDueMs = this.#clock.nowMs() + windowMs;
      rateLog(key, level, msg);
    };
    const flush = () => {
      const due = this.#summaryDueMs;
      rateLog.flush();
      if (due !== null && this.#clock.nowMs() >= due) this.#summaryDueMs = null;
    };
    return Object.assign(log, { flush });
  }

  async #loop(started: () => void): Promise<void> {
    // A reactor clock may block its next wait on the JS thread only once this loop is
    // parked (packets and timers reach it through the reactor's own dispatch).
    const offIdle = this.#clock instanceof Reactor
      ? this.#clock.addIdleCheck(() => this.#inbox.idle)
      : null;
    this.#inbox.onDeadline(() => this.#fastDeadline());
    try {
      for (const s of this.#subsystems) await s.start((work) => this.#guarded(work));
      started();
      for (;;) {
        await this.#guarded(() => this.#iteration());
        this.#loopTurns++;
        this.#lastTurnMs = this.#clock.nowMs();
        // A flood that stopped still gets its "N similar lines suppressed" line.
        this.#rateLog.flush();
        if (this.#finished()) break;
        await this.#wait(this.#nextDeadline());
      }
    } finally {
      // The VIPs are released by now (or the stop gave up on them): what the subsystems
      // made goes last, then the checks they subscribed to.
      for (const s of this.#subsystems) await s.close();
      this.#teardown();
      await this.#checks.stop();
      this.#inbox.onDeadline(null);
      offIdle?.();
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
      // Not shortened by a packet handled in place: the pause is what stops a spin.
      this.#pausing = true;
      try {
        await this.#wait(this.#clock.nowMs() + LOOP_ERROR_PAUSE_MS);
      } finally {
        this.#pausing = false;
      }
    }
  }

  async #iteration(): Promise<void> {
    for (const item of this.#inbox.drain()) {
      if (item.kind === "packet") this.#rt.onPacket(item.iface, item.family, item.packet);
      else if (item.kind === "kernel") this.#onKernel(item.event);
      else item.run();
    }
    if (this.#stopRequested && !this.#shutdownFed) {
      this.#shutdownFed = true;
      for (const s of this.#subsystems) s.shutdown();
    }
    for (const s of this.#subsystems) await s.advance();
    this.#checks.runDue();
  }

  /** Every subsystem hears every kernel event. */
  #onKernel(event: KernelEvent) {
    for (const s of this.#subsystems) s.onKernel(event);
  }

  #finished(): boolean {
    if (!this.#stopRequested || !this.#shutdownFed) return false;
    if (this.#stopHardAtMs !== null && this.#clock.nowMs() >= this.#stopHardAtMs) {
      this.#log.warn("stop: giving up waiting for the release hold and address removal");
      return true;
    }
    return this.#subsystems.every((s) => s.settled());
  }

  #nextDeadline(): number | null {
    // Asked on every turn and every packet handled in place: no array built.
    let best = this.#checks.nextDeadlineMs();
    const hard = this.#stopHardAtMs;
    if (hard !== null && (best === null || hard < best)) best = hard;
    for (const s of this.#subsystems) {
      const d = s.nextDeadlineMs();
      if (d !== null && (best === null || d < best)) best = d;
    }
    return best;
  }

  #wait(deadline: number | null): Promise<void> {
    if (this.#stopRequested && !this.#shutdownFed) return Promise.resolve();
    return this.#inbox.park(deadline, this.#clock);
  }

  #teardown() {
    this.#rt.closeTransports();
    try {
      this.#unwatch?.();
    } catch (e) {
      this.#log.warn(`unsubscribing from kernel events: ${errorText(e)}`);
    }
    this.#unwatch = null;
    this.#rt.silenceAnnouncements();
    const pending = this.#inbox.drain();
    if (this.#phase !== "stopped") {
      this.#phase = "stopped";
      this.#log.notice("hacore stopped");
    }
    for (const item of pending) if (item.kind === "control") item.cancel();
  }
}
