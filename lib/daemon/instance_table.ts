/**
 * What the node runs, as state: the config, its instances (live ones in config order,
 * and the ones a reload removed that are still finishing their release hold), the
 * engine's `NodeState` over them, the lookups the daemon needs (by name, by transport,
 * by VIP), and the operator's overrides and maintenance switch.
 *
 * No effects: stepping the engine here returns its actions, paired with the instances
 * they are for, and the caller (`runtime.ts`) carries them out. Separate so that the
 * bookkeeping of who is live, who is retiring and which router is whose can be read
 * (and changed) in one place, apart from what the actions do.
 *
 * @example
 * ```ts
 * const table = new InstanceTable(config, instances, clock.nowMs());
 * for (const { inst, action } of table.step({ type: "startup" }, clock.nowMs())) execute(inst, action);
 * table.routerOf(table.live[0]).state; // "backup"
 * ```
 *
 * @module
 */

import { earlierDeadline } from "../vrrp/timing.ts";
import type { Config } from "../config/schema.ts";
import type { PriorityOverride } from "../control/api.ts";
import { canonicalIp } from "../net/addr.ts";
import { foreignNextDeadline } from "../vrrp/foreign.ts";
import {
  createNode,
  nodeAddRouter,
  type NodeEvent,
  nodeNextDeadline,
  nodeRemoveRouter,
  nodeSetSyncGroups,
  type NodeState,
  routineRouterTick,
  stepNode,
} from "../vrrp/node.ts";
import { nextDeadline, step, stepInPlace } from "../vrrp/router.ts";
import type { OutgoingAdvert, RouterAction, RouterEvent, RouterState } from "../vrrp/types.ts";
import {
  type AnnounceConfig,
  announceConfig,
  announceNextDeadline,
  IDLE_ANNOUNCE,
} from "./announce.ts";
import { groupOf, indexInstances, type Instance, type InstanceIndex } from "./instance.ts";

/** What a lookup that finds no instance returns (shared, never written). */
const NO_INSTANCES: readonly Instance[] = Object.freeze([]);

/**
 * The node's instances and engine state.
 *
 * @example
 * ```ts
 * const table = new InstanceTable(config, instances, 0);
 * table.instance("VI_1")?.rc.priority; // 150
 * ```
 */
export class InstanceTable {
  /**
   * The operator's demotes and promotes in force, by instance; they end with a resume,
   * a restart, or the instance.
   */
  readonly overrides: Map<string, PriorityOverride> = new Map();
  /** Operator maintenance is on: instances stay Backup (and ones a reload adds start so). */
  maintenance = false;
  #config: Config;
  #announceCfg: AnnounceConfig;
  /** Live instances, in config order. */
  #live: Instance[];
  /** Instances a reload removed, still finishing their release hold. */
  #retiring: Instance[] = [];
  #index: InstanceIndex;
  #node: NodeState;

  /**
   * The table of a config's instances (every one runnable), engine started at `nowMs`.
   *
   * @example
   * ```ts
   * new InstanceTable(config, instances, clock.nowMs());
   * ```
   */
  constructor(config: Config, instances: readonly Instance[], nowMs: number) {
    this.#config = config;
    this.#announceCfg = announceConfig(config.global);
    this.#live = [...instances];
    this.#index = indexInstances(this.#live, this.#retiring);
    this.#node = createNode({
      routers: this.#live.map((i) => i.rc),
      syncGroups: config.syncGroups.map(groupOf),
    }, nowMs);
  }

  /**
   * The config the node runs (the last one a reload installed).
   *
   * @example
   * ```ts
   * table.config.file;
   * ```
   */
  get config(): Config {
    return this.#config;
  }

  /**
   * The announce timings of the config's `[global]`.
   *
   * @example
   * ```ts
   * startAnnounce(table.announceCfg, inst.targets, now);
   * ```
   */
  get announceCfg(): AnnounceConfig {
    return this.#announceCfg;
  }

  /**
   * Live instances, in config order.
   *
   * @example
   * ```ts
   * table.live.map((i) => i.cfg.name);
   * ```
   */
  get live(): readonly Instance[] {
    return this.#live;
  }

  /**
   * Instances a reload removed, still finishing their release hold.
   *
   * @example
   * ```ts
   * table.retiring.length;
   * ```
   */
  get retiring(): readonly Instance[] {
    return this.#retiring;
  }

  /**
   * Live instances, then retiring ones.
   *
   * @example
   * ```ts
   * new Set(table.all().map((i) => i.key)); // the transports in use
   * ```
   */
  all(): Instance[] {
    return [...this.#live, ...this.#retiring];
  }

  /**
   * The live instance called `name` (as of the last re-index).
   *
   * @example
   * ```ts
   * table.instance("VI_1");
   * ```
   */
  instance(name: string): Instance | undefined {
    return this.#index.byName.get(name);
  }

  /**
   * The live instances on a transport with VRID `vrid`, in config order.
   *
   * @example
   * ```ts
   * table.onTransportVrid("eth0/ipv4", 51);
   * ```
   */
  onTransportVrid(key: string, vrid: number): readonly Instance[] {
    return this.#index.byTransportVrid.get(key)?.get(vrid) ?? NO_INSTANCES;
  }

  /**
   * The instances (live, then retiring) with `address` (any spelling) among their VIPs;
   * undefined when it is nobody's.
   *
   * @example
   * ```ts
   * table.vipOwners("192.0.2.100")?.map((i) => i.cfg.name);
   * ```
   */
  vipOwners(address: string): readonly Instance[] | undefined {
    return this.#index.vipOwners.get(canonicalIp(address) ?? address);
  }

  /**
   * The engine state of an instance, live or retiring.
   *
   * @example
   * ```ts
   * table.routerOf(inst).holdingVips;
   * ```
   */
  routerOf(inst: Instance): RouterState {
    return inst.retired ?? this.#node.routers[inst.cfg.name];
  }

  /**
   * The engine's node state (sync groups, routers, node-wide counters).
   *
   * @example
   * ```ts
   * table.node.counters;
   * ```
   */
  get node(): NodeState {
    return this.#node;
  }

  /**
   * Steps the engine with `event`; returns its actions, each with the live instance it
   * is for (in the engine's order).
   *
   * @example
   * ```ts
   * for (const { inst, action } of table.step({ type: "tick" }, now)) execute(inst, action, now);
   * ```
   */
  step(event: NodeEvent, now: number): { inst: Instance; action: RouterAction }[] {
    const alone = this.#stepAlone(event, now);
    if (alone !== null) return alone;
    const { node, actions } = stepNode(this.#node, event, now);
    this.#node = node;
    const out: { inst: Instance; action: RouterAction }[] = [];
    for (const { router, action } of actions) {
      const inst = this.#index.byName.get(router);
      if (inst) out.push({ inst, action });
    }
    return out;
  }

  /**
   * An event for one router of a node without sync groups (an advert heard, a tracker's
   * verdict): that router stepped alone, its new state written into the node in place.
   * `stepNode` would do the same to it (no group rule can apply), but first copies every
   * router's entry to keep the node it was given: O(instances) an event, the largest
   * allocation of a Backup following 50 Masters (~0.7 KB an advert). The router's own
   * state is stepped in place too (`stepInPlace`): no copy of it and its counters. The
   * table is its node's one holder and keeps no earlier version, so nothing can see the
   * writes.
   * Null: not such an event; step the node.
   */
  #stepAlone(event: NodeEvent, now: number): { inst: Instance; action: RouterAction }[] | null {
    if (event.type !== "router" || this.#node.syncGroups.length > 0) return null;
    const before = this.#node.routers[event.name];
    const inst = this.#index.byName.get(event.name);
    if (before === undefined || inst === undefined) return null;
    const actions = stepInPlace(before, event.event, now);
    const out: { inst: Instance; action: RouterAction }[] = [];
    for (let i = 0; i < actions.length; i++) out.push({ inst, action: actions[i] });
    return out;
  }

  /**
   * A tick that only sends one Master's periodic advert (see `routineRouterTick`), taken
   * without a full step: that instance and the advert to send; null when the tick must
   * be a full step (nothing changed then).
   *
   * @example
   * ```ts
   * const hit = table.routineTick(now);
   * if (hit === null) table.step({ type: "tick" }, now);
   * ```
   */
  routineTick(now: number): { inst: Instance; advert: OutgoingAdvert } | null {
    const hit = routineRouterTick(this.#node, now);
    if (hit === null) return null;
    const inst = this.#index.byName.get(hit.router);
    if (inst === undefined || hit.action.type !== "send") return null;
    // In place, as #stepAlone: not a copy of every router's entry for one advert.
    this.#node.routers[hit.router] = hit.state;
    return { inst, advert: hit.action.advert };
  }

  /**
   * Steps a retiring instance's stopped router; its actions (none for a live one).
   *
   * @example
   * ```ts
   * for (const a of table.stepRetired(inst, { type: "tick" }, now)) execute(inst, a, now);
   * ```
   */
  stepRetired(inst: Instance, event: RouterEvent, now: number): RouterAction[] {
    if (inst.retired === null) return [];
    const { state, actions } = step(inst.retired, event, now);
    inst.retired = state;
    return actions;
  }

  /**
   * Takes a live instance's router out of the node (after its shutdown step): it goes
   * on retiring, announcing nothing. The lookups keep it until the next re-index.
   *
   * @example
   * ```ts
   * table.retire(inst);
   * ```
   */
  retire(inst: Instance): void {
    const { node, router } = nodeRemoveRouter(this.#node, inst.cfg.name);
    this.#node = node;
    if (router === null) return;
    inst.retired = router;
    inst.announce = IDLE_ANNOUNCE;
    this.#retiring.push(inst);
    this.#live = this.#live.filter((i) => i !== inst);
  }

  /**
   * Installs a reloaded config: the live instances become `next`'s, in its order
   * (`fresh` ones new, the others kept), fresh routers join the node at `now`, the sync
   * groups are `next`'s, and the lookups are rebuilt. Returns the config it replaced.
   *
   * @example
   * ```ts
   * const old = table.install(next, fresh, now);
   * ```
   */
  install(next: Config, fresh: ReadonlyMap<string, Instance>, now: number): Config {
    const old = this.#config;
    this.#config = next;
    this.#announceCfg = announceConfig(next.global);
    const live = new Map(this.#live.map((i) => [i.cfg.name, i]));
    this.#live = next.instances.map((vi) => fresh.get(vi.name) ?? live.get(vi.name)!);
    for (const inst of this.#live) {
      if (fresh.has(inst.cfg.name)) this.#node = nodeAddRouter(this.#node, inst.rc, now);
    }
    this.#node = nodeSetSyncGroups(this.#node, next.syncGroups.map(groupOf));
    this.#reindex();
    return old;
  }

  /**
   * Forgets the retiring instances whose VIPs are gone and whose release hold is over;
   * returns them.
   *
   * @example
   * ```ts
   * for (const i of table.finishRetired()) log.info(`${i.cfg.name}: removed instance released`);
   * ```
   */
  finishRetired(): Instance[] {
    const done = this.#retiring.filter((i) =>
      i.retired !== null && !i.retired.holdingVips && i.retired.releaseDeadlineMs === null
    );
    if (done.length === 0) return done;
    this.#retiring = this.#retiring.filter((i) => !done.includes(i));
    this.#reindex();
    return done;
  }

  /**
   * True when no instance holds VIPs or waits out a release hold (a stop may end).
   *
   * @example
   * ```ts
   * table.settled();
   * ```
   */
  settled(): boolean {
    return this.all().every((i) => {
      const r = this.routerOf(i);
      return !r.holdingVips && r.releaseDeadlineMs === null;
    });
  }

  /**
   * The earliest deadline of the engine, the announcements, the retiring routers and
   * the foreign senders; null when none.
   *
   * @example
   * ```ts
   * table.nextDeadline(); // 1234.5
   * ```
   */
  nextDeadline(): number | null {
    // Asked on every loop turn: no closure, no array, no iterator.
    let best = nodeNextDeadline(this.#node);
    const live = this.#live;
    for (let i = 0; i < live.length; i++) {
      best = earlierDeadline(best, announceNextDeadline(live[i].announce));
      best = earlierDeadline(best, foreignNextDeadline(live[i].foreign));
    }
    const retiring = this.#retiring;
    for (let i = 0; i < retiring.length; i++) {
      const r = retiring[i].retired;
      if (r !== null) best = earlierDeadline(best, nextDeadline(r));
    }
    return best;
  }

  #reindex() {
    this.#index = indexInstances(this.#live, this.#retiring);
  }
}
