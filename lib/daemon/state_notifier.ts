/**
 * Tells the notify sink (hooks, the FIFO, the event stream) about state changes, in
 * keepalived's words: each instance transition as it happens, and after each engine
 * step, each sync group's change as a whole (logged too), caused by the first member
 * that moved in that step.
 *
 * Separate from the daemon because the translation (engine states to keepalived's
 * names, a group's state from its members', which hooks a dual-stack half runs) is
 * its own set of rules; the daemon only reports transitions and says when a step ends.
 *
 * @example
 * ```ts
 * const notifier = new StateNotifier({ sink, log, rateLog, counters, wallOffsetMs });
 * notifier.setGroups(config.syncGroups.map((g) => g.name));
 * notifier.instanceMoved(inst, router, transition, "no advert from 192.0.2.2 for 3.6 ms");
 * notifier.stepDone(node, config.syncGroups, now); // "sync group G: BACKUP -> MASTER"
 * ```
 *
 * @module
 */

import type { NotifyConfig, SyncGroupConfig } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import type { NodeState } from "../vrrp/node.ts";
import type { RouterState, RouterStateName, Transition } from "../vrrp/types.ts";
import { bump, errorText, type RateLog } from "./common.ts";
import { type Instance, isDualStackV6Half } from "./instance.ts";
import type { NotifyEvent, NotifySink } from "./ports.ts";

/** keepalived's names of states, as notify hooks and the FIFO see them. */
type NotifyState = NotifyEvent["state"];
type GroupState = NotifyState | "INIT";

const NO_HOOKS: NotifyConfig = Object.freeze({
  master: null,
  backup: null,
  fault: null,
  stop: null,
  generic: null,
});

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

/**
 * What {@link StateNotifier} needs.
 *
 * @example
 * ```ts
 * const deps: StateNotifierDeps = { sink: null, log, rateLog, counters, wallOffsetMs: 0 };
 * ```
 */
export interface StateNotifierDeps {
  /** Null: nothing is told, but sync-group changes are still logged. */
  readonly sink: NotifySink | null;
  readonly log: Logger;
  readonly rateLog: RateLog;
  /** Node-wide counters (`notifyErrors`). */
  readonly counters: Record<string, number>;
  /** Wall time minus clock time: events carry wall times. */
  readonly wallOffsetMs: number;
}

/**
 * The last state told for each sync group, and the transitions of the current step.
 *
 * @example
 * ```ts
 * const notifier = new StateNotifier(deps);
 * ```
 */
export class StateNotifier {
  readonly #deps: StateNotifierDeps;
  /** Last state told for each sync group. */
  #groupStates = new Map<string, GroupState>();
  /** Transitions of the current step, by router, for the group event that may follow. */
  #moved: { name: string; t: Transition }[] = [];
  /** Events told but not yet handed to the sink (see `#emit`). */
  #queued: NotifyEvent[] = [];

  /**
   * No group known yet (see {@link StateNotifier.setGroups}).
   *
   * @example
   * ```ts
   * new StateNotifier({ sink, log, rateLog, counters, wallOffsetMs });
   * ```
   */
  constructor(deps: StateNotifierDeps) {
    this.#deps = deps;
  }

  /**
   * The sync groups there are now: known ones keep their last state, new ones start at
   * INIT, and the rest are forgotten.
   *
   * @example
   * ```ts
   * notifier.setGroups(next.syncGroups.map((g) => g.name));
   * ```
   */
  setGroups(names: readonly string[]): void {
    const groups = new Map<string, GroupState>();
    for (const name of names) groups.set(name, this.#groupStates.get(name) ?? "INIT");
    this.#groupStates = groups;
  }

  /**
   * Records an instance's transition for its group and tells it; `router` is its
   * engine state after the step and `why` the transition's detail as people read it.
   *
   * @example
   * ```ts
   * notifier.instanceMoved(inst, router, t, t.detail);
   * ```
   */
  instanceMoved(inst: Instance, router: RouterState, t: Transition, why: string): void {
    // A router a reload removed belongs to no group any more; its successor may share
    // its name, and must not inherit its transition as a group event's cause.
    if (inst.retired === null) this.#moved.push({ name: inst.cfg.name, t });
    if (this.#deps.sink === null) return;
    const r = router;
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
      at: new Date(this.#deps.wallOffsetMs + t.atMs),
      // The hooks were written for the instance as a whole: its IPv4 half (named as
      // written) runs them, so a dual-stack takeover runs notify_master once, not twice.
      hooks: isDualStackV6Half(inst.cfg) ? NO_HOOKS : inst.cfg.notify,
    });
  }

  /**
   * Ends an engine step: tells each sync group's change as a whole (every member
   * stopped → STOP; else, among the started ones, any in Fault → FAULT, all Master →
   * MASTER, else BACKUP). `declared` is the config's groups (their hooks, and which
   * are implicit: a dual-stack pair's own, which is not told).
   *
   * @example
   * ```ts
   * notifier.stepDone(node, config.syncGroups, clock.nowMs());
   * ```
   */
  stepDone(node: NodeState, declaredGroups: readonly SyncGroupConfig[], now: number): void {
    const moved = this.#moved;
    if (moved.length > 0) this.#moved = [];
    // Told after every engine step, most often on a node without groups.
    if (node.syncGroups.length === 0) return;
    for (const g of node.syncGroups) {
      const rs = g.members.map((m) => node.routers[m]);
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
      const declared = declaredGroups.find((c) => c.name === g.name);
      // A dual-stack instance's implicit group is not one the file declares: its
      // halves' own events already tell the story, under the instance's name.
      if (declared?.implicit === true) continue;
      this.#deps.log.notice(`sync group ${g.name}: ${prev} -> ${state}`);
      if (this.#deps.sink === null) continue;
      const hooks = declared?.notify;
      this.#emit({
        target: "GROUP",
        name: g.name,
        state,
        previous: notifyPrevious(prev),
        priority: trigger ? node.routers[trigger.name].priority : 0,
        reason: trigger?.t.reason ?? "sync-group",
        detail: trigger ? `${trigger.name}: ${trigger.t.detail}` : "group membership changed",
        masterIp: null,
        at: new Date(this.#deps.wallOffsetMs + (trigger?.t.atMs ?? now)),
        hooks: hooks ?? NO_HOOKS,
      });
    }
  }

  /**
   * Queues `event` until {@link StateNotifier.flush}: the runtime tells a turn's events
   * once its kernel work is done, so that a new master's VIP is in place before its
   * notify_master starts (as keepalived orders them). A hook's first start forks the
   * daemon: ~6 ms, which came before the VIP.
   */
  #emit(event: NotifyEvent) {
    if (this.#deps.sink !== null) this.#queued.push(event);
  }

  /** True while events wait for {@link StateNotifier.flush}. */
  get pending(): boolean {
    return this.#queued.length > 0;
  }

  /**
   * Hands the queued events to the sink, in order.
   *
   * @example
   * ```ts
   * await rt.reconcileNow(); notifier.flush();
   * ```
   */
  flush(): void {
    if (this.#queued.length === 0) return;
    const events = this.#queued;
    this.#queued = [];
    for (const event of events) this.#tell(event);
  }

  /** Hands an event to the sink; a misbehaving sink costs a counter, never the loop. */
  #tell(event: NotifyEvent) {
    try {
      this.#deps.sink?.notify(event);
    } catch (e) {
      bump(this.#deps.counters, "notifyErrors");
      this.#deps.rateLog("notify", "error", `notify ${event.name} ${event.state}: ${errorText(e)}`);
    }
  }
}
