/**
 * The daemon: the one place where the pure engine meets the world. It owns a
 * `NodeState`, turns every input (a received packet, a kernel address event, a
 * deadline) into a `stepNode` call, and carries out the resulting actions through the
 * ports (`ports.ts`): adverts go out through a transport, VIPs are reconciled against
 * the kernel, GARPs/NAs follow the announce schedule, transitions are logged.
 *
 * One loop, one input at a time: nothing runs concurrently with a step, so state
 * never needs a lock. Port callbacks only queue into an inbox and wake the loop.
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

import { summarizeInstance, toRouterConfig } from "../config/router.ts";
import type { Config, InstanceConfig } from "../config/schema.ts";
import { type Logger, RateLimiter, suppressedNote } from "../log.ts";
import { canonicalIp, type Family, parseIp } from "../vrrp/addr.ts";
import {
  createNode,
  type NodeEvent,
  nodeNextDeadline,
  type NodeState,
  stepNode,
} from "../vrrp/node.ts";
import { decodeAdvert, DROP_COUNTER, encodeAdvert } from "../vrrp/packet.ts";
import type {
  DropReason,
  OutgoingAdvert,
  RouterAction,
  RouterConfig,
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
  PrimaryAddresses,
  ReceivedPacket,
  TransportFactory,
  VrrpTransport,
} from "./ports.ts";
import {
  type Conflict,
  describeConflict,
  type InstanceVips,
  reconcile,
  vipKey,
} from "./reconcile.ts";

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
}

type InboxItem =
  | { kind: "packet"; iface: string; family: Family; packet: ReceivedPacket }
  | { kind: "kernel"; event: KernelEvent };

/** Tracker name of an instance's own link; shown in status as the fault's cause. */
const LINK_FAULT_PREFIX = "link ";

/** Beyond this many queued inputs, packets are dropped (and counted) rather than queued. */
const INBOX_LIMIT = 65_536;
/** After a stop, leave no later than the longest release hold plus this. */
const STOP_GRACE_MS = 2000;
/** Pause after an unexpected error in the loop itself, so a persistent bug cannot spin. */
const LOOP_ERROR_PAUSE_MS = 100;

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

/**
 * The VRRP daemon over a set of ports. Construct, `start()`, and `stop()` on SIGTERM.
 *
 * @example
 * ```ts
 * const d = new Daemon(opts);
 * await d.start();
 * d.status().instances.map((i) => `${i.name}: ${i.state}`);
 * await d.stop();
 * ```
 */
export class Daemon {
  readonly #config: Config;
  readonly #clock: Clock;
  readonly #transportFactory: TransportFactory;
  readonly #addresses: AddressPort;
  readonly #announcer: Announcer;
  readonly #log: Logger;
  readonly #retryMs: number;
  readonly #limiter: RateLimiter;
  readonly #announceCfg: AnnounceConfig;
  readonly #instances: Instance[] = [];
  readonly #byName = new Map<string, Instance>();
  readonly #byTransport = new Map<string, Instance[]>();
  /** Every configured VIP address (canonical) → instances, for filtering kernel events. */
  readonly #vipOwners = new Map<string, Instance[]>();

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
  #reconcileReason: "startup" | "engine" | "kernel" | "retry" = "startup";
  #retryAtMs: number | null = null;
  /** `vipKey` of wanted VIPs present in the kernel, per the last reconcile. */
  #held = new Set<string>();
  /** `vipKey` of addresses hacore itself removed, whose kernel event is still to come. */
  #selfRemoved = new Set<string>();
  #conflicts = new Map<string, string>();
  #counters: Record<string, number> = {};

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
    this.#log = opts.logger;
    this.#retryMs = opts.retryMs ?? 1000;
    this.#limiter = new RateLimiter(opts.dropLogWindowMs ?? 10_000);
    this.#announceCfg = announceConfig(opts.config.global);

    const problems: string[] = [];
    for (const vi of opts.config.instances) {
      const primary = opts.primaryAddresses.get(vi.interface)?.[vi.family];
      const src = vi.srcIp ?? primary ?? null;
      if (src === null) {
        problems.push(
          `${vi.name}: no ${vi.family} address on ${vi.interface} to send adverts from (and no unicast_src_ip)`,
        );
        continue;
      }
      const inst: Instance = {
        cfg: vi,
        rc: toRouterConfig(vi, canonicalIp(src) ?? src),
        key: transportKey(vi.interface, vi.family),
        group: vi.family === "ipv4"
          ? opts.config.global.mcastGroup4
          : opts.config.global.mcastGroup6,
        peers: new Set(vi.unicastPeers.map((p) => canonicalIp(p) ?? p)),
        targets: [...vi.vips, ...vi.excludedVips].flatMap((v) => {
          const p = parseIp(v.address);
          return p ? [{ dev: v.dev, address: v.address, family: p.family }] : [];
        }),
        announce: IDLE_ANNOUNCE,
        extra: {},
      };
      this.#instances.push(inst);
      this.#byName.set(vi.name, inst);
      const list = this.#byTransport.get(inst.key) ?? [];
      list.push(inst);
      this.#byTransport.set(inst.key, list);
      for (const t of inst.targets) {
        const a = canonicalIp(t.address) ?? t.address;
        this.#vipOwners.set(a, [...(this.#vipOwners.get(a) ?? []), inst]);
      }
    }
    if (problems.length > 0) throw new DaemonSetupError(problems);
    this.#node = createNode({
      routers: this.#instances.map((i) => i.rc),
      syncGroups: opts.config.syncGroups.map((g) => ({ name: g.name, members: [...g.instances] })),
    }, this.#clock.nowMs());
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
    try {
      for (const inst of this.#instances) {
        if (this.#transports.has(inst.key)) continue;
        const iface = inst.cfg.interface;
        const family = inst.cfg.family;
        const t = this.#transportFactory.open(
          { interface: iface, family, group: inst.group },
          (packet) => this.#push({ kind: "packet", iface, family, packet }),
        );
        this.#transports.set(inst.key, t);
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
    this.#stopRequested = true;
    this.#phase = "stopping";
    const hold = Math.max(0, ...this.#instances.map((i) => i.rc.releaseHoldMs));
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
    const instances = this.#instances.map((inst): InstanceStatus => {
      const r = this.#node.routers[inst.cfg.name];
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
      };
    });
    const counters: Record<string, number> = {};
    for (const [k, v] of Object.entries(this.#node.counters)) if (v !== 0) counters[k] = v;
    for (const [k, v] of Object.entries(this.#counters)) if (v !== 0) bump(counters, k, v);
    return {
      phase: this.#phase,
      nowMs: now,
      instances,
      counters,
      conflicts: [...this.#conflicts.values()],
    };
  }

  // -------------------------------------------------------------------------------
  // The loop

  #push(item: InboxItem) {
    if (this.#phase === "stopped" || this.#phase === "new") return;
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
      this.#feed({ type: "startup" });
      started();
      for (;;) {
        await this.#guarded(() => this.#iteration());
        if (this.#finished()) break;
        await this.#wait(this.#nextDeadline());
      }
    } finally {
      this.#teardown();
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
      else this.#onKernel(item.event);
    }
    if (this.#stopRequested && !this.#shutdownFed) {
      this.#shutdownFed = true;
      this.#feed({ type: "shutdown" });
    }
    const due = nodeNextDeadline(this.#node);
    if (due !== null && due <= this.#clock.nowMs()) this.#feed({ type: "tick" });
    if (this.#retryAtMs !== null && this.#retryAtMs <= this.#clock.nowMs()) {
      this.#reconcileWanted = true;
      this.#reconcileReason = "retry";
    }
    if (this.#reconcileWanted) await this.#reconcileNow();
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
    return this.#instances.every((i) => {
      const r = this.#node.routers[i.cfg.name];
      return !r.holdingVips && r.releaseDeadlineMs === null;
    });
  }

  #nextDeadline(): number | null {
    let best = nodeNextDeadline(this.#node);
    const consider = (d: number | null) => {
      if (d !== null && (best === null || d < best)) best = d;
    };
    for (const inst of this.#instances) consider(announceNextDeadline(inst.announce));
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
    try {
      await Promise.race(waits);
    } finally {
      this.#idle = false;
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
    this.#inbox = [];
    if (this.#phase !== "stopped") {
      this.#phase = "stopped";
      this.#log.notice("hacore stopped");
    }
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
      case "transition":
        if (action.transition.to !== "master") inst.announce = IDLE_ANNOUNCE;
        this.#logTransition(inst, action.transition);
        break;
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

  #logTransition(inst: Instance, t: Transition) {
    const r = this.#node.routers[inst.cfg.name];
    let why = t.detail;
    if (t.reason === "master-down-timer") {
      const m = r.lastMaster;
      why = m === null
        ? "no master heard"
        : `no advert from ${m.ip} for ${(t.atMs - m.atMs).toFixed(1)} ms`;
    }
    this.#log.notice(`${inst.cfg.name}: ${upper(t.from)} -> ${upper(t.to)} (${t.reason}: ${why})`);
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
        t.send(bytes, dst, src);
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
    const learned = this.#node.routers[inst.cfg.name].peerChecksum;
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
    const targets = candidates.filter((i) => i.cfg.vrid === advert.vrid);
    if (targets.length === 0) {
      this.#drop(iface, [], "vrid", `no ${family} instance for vrid ${advert.vrid}`, p.src);
      return;
    }
    const src = canonicalIp(p.src) ?? p.src;
    const checksumForm = res.checksumForm === "pseudo-header" || res.checksumForm === "rfc9568"
      ? res.checksumForm
      : undefined;
    for (const inst of targets) {
      // Our own advert looped back is not a peer's; the engine would ignore it too.
      if (src === inst.rc.primaryIp) continue;
      if (inst.peers.size > 0 && !inst.peers.has(src)) {
        this.#drop(iface, [inst], "unicast-peer", `source ${src} is not in unicast_peer`, src);
        continue;
      }
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
          : owners.find((i) => this.#node.routers[i.cfg.name].holdingVips && this.#held.has(key));
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
        this.#wantReconcile("kernel");
        return;
      case "link-down":
        this.#log.warn(`${e.interface}: link down`);
        this.#setLinkFault(e.interface, true);
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
    for (const iface of new Set(this.#instances.map((i) => i.cfg.interface))) {
      if (states.get(iface) === false) {
        this.#log.warn(`${iface}: link is down at start`);
        this.#setLinkFault(iface, true);
      }
    }
  }

  /**
   * A link that comes back may be a new interface under the old name (a re-created
   * VLAN or bond), whose index our bound, group-joined sockets no longer match; opening
   * them again is cheap and right in both cases.
   */
  #reopenTransports(iface: string) {
    const reopened = new Set<string>();
    for (const inst of this.#instances) {
      if (inst.cfg.interface !== iface || reopened.has(inst.key)) continue;
      reopened.add(inst.key);
      const old = this.#transports.get(inst.key);
      if (!old) continue;
      old.close();
      this.#transports.delete(inst.key);
      try {
        const family = inst.cfg.family;
        this.#transports.set(
          inst.key,
          this.#transportFactory.open(
            { interface: iface, family, group: inst.group },
            (packet) => this.#push({ kind: "packet", iface, family, packet }),
          ),
        );
      } catch (e) {
        bump(this.#counters, "transportErrors");
        this.#log.error(
          `${inst.cfg.name}: cannot reopen the VRRP socket on ${iface}: ${errorText(e)}`,
        );
      }
    }
  }

  #wantReconcile(reason: "kernel") {
    if (!this.#reconcileWanted) this.#reconcileReason = reason;
    this.#reconcileWanted = true;
  }

  #wants(): InstanceVips[] {
    return this.#instances.map((i) => ({
      name: i.cfg.name,
      holding: this.#node.routers[i.cfg.name].holdingVips,
      vips: i.cfg.vips,
      excluded: i.cfg.excludedVips,
    }));
  }

  async #reconcileNow(): Promise<void> {
    const reason = this.#reconcileReason;
    this.#reconcileWanted = false;
    this.#retryAtMs = null;
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
    let failed = false;
    for (const op of plan.ops) {
      const owner = op.instance === null ? undefined : this.#byName.get(op.instance);
      const who = op.instance ?? "hacore";
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
        const why = op.why === "leftover"
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
  }

  #reportConflicts(conflicts: readonly Conflict[]) {
    const now = new Map<string, string>();
    for (const c of conflicts) {
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
