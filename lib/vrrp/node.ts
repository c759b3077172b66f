/**
 * One host's VRRP routers together: dispatch of received adverts by (family, VRID),
 * and sync groups, whose members move between Master, Backup and Fault as one.
 *
 * Pure like the router engine: `stepNode(node, event, nowMs)` returns the new node and
 * the actions to carry out, each tagged with the router it belongs to.
 *
 * Sync-group rules:
 * - a member entering Master (other than by the group itself) forces the members in
 *   Backup to Master;
 * - a Master demoted by a better advert, or handing over for maintenance, forces the
 *   other Masters to Backup (they send priority 0, so the peer group takes over after
 *   Skew_Time);
 * - while any member has a fault of its own, every other member is held in Fault
 *   under `SYNC_GROUP_FAULT`; when none has, they return to Backup;
 * - anti-flap guard: a member never takes over (by timer or by force) while another
 *   member follows a live master it would not preempt (`followsLiveMaster`): the peer
 *   host is Master for that VRID, so it should be Master for the whole group. The
 *   member stays Backup and its timer is re-armed (`deferTakeover`);
 * - maintenance: a member in maintenance never becomes Master, so while one is, no
 *   other member takes over either (the same guard).
 *
 * Known limit: when two hosts' member priorities disagree (each prefers a different
 * VRID) and their timers fire in the very same instant with a fixed delivery delay,
 * both groups become Master, both lose one member, and the cycle can repeat in
 * lockstep; nothing in the packets tells the two sides apart. Any jitter, or a packet
 * landing before the other host's timer, lets the guard settle it (see node_test).
 * Disagreeing priorities are a misconfiguration; keepalived alternates there too.
 *
 * @example
 * ```ts
 * let node = createNode({ routers: [vi1, vi2], syncGroups: [{ name: "g", members: ["vi1", "vi2"] }] }, 0);
 * ({ node } = stepNode(node, { type: "startup" }, 0));
 * const at = nodeNextDeadline(node)!;
 * const { actions } = stepNode(node, { type: "tick" }, at); // [{ router: "vi1", action: ... }, ...]
 * ```
 *
 * @module
 */

import type { Family } from "../net/addr.ts";
import {
  createRouter,
  deferTakeover,
  followsLiveMaster,
  nextDeadline,
  routineAdvertTick,
  step,
  SYNC_GROUP_FAULT,
} from "./router.ts";
import type { Advert, RouterAction, RouterConfig, RouterEvent, RouterState } from "./types.ts";

/**
 * A set of routers (by name) that change state together.
 *
 * @example
 * ```ts
 * const g: SyncGroupConfig = { name: "edge", members: ["VI_inside", "VI_outside"] };
 * ```
 */
export interface SyncGroupConfig {
  name: string;
  members: string[];
}

/**
 * Everything a node needs: its routers and sync groups. Router names are unique.
 *
 * @example
 * ```ts
 * const cfg: NodeConfig = { routers: [vi1], syncGroups: [] };
 * ```
 */
export interface NodeConfig {
  routers: RouterConfig[];
  syncGroups: SyncGroupConfig[];
}

/**
 * Node-wide counters, for packets and events that no single router can own.
 *
 * @example
 * ```ts
 * stepNode(node, { type: "advert", family: "ipv4", advert, src }, now).node.counters.vridErrors;
 * ```
 */
export interface NodeCounters {
  /** Adverts for a (family, VRID) that no router here serves (RFC 6527 vrrpRouterVrIdErrors). */
  vridErrors: number;
  /** `router` events naming no configured router. */
  unknownRouterEvents: number;
}

/**
 * The state of all routers on the host. Pure data, never mutated by `stepNode`. (Its one
 * holder in the daemon, `InstanceTable`, keeps no earlier version, and where no group
 * rule applies writes into `routers` itself and steps a router's state in place:
 * see its `step`.)
 *
 * @example
 * ```ts
 * createNode(cfg, 0).routers["VI_1"].state; // "init"
 * ```
 */
export interface NodeState {
  routers: Record<string, RouterState>;
  syncGroups: SyncGroupConfig[];
  counters: NodeCounters;
  /** Router names in configuration order, the order events and actions follow. */
  order: string[];
}

/**
 * Inputs to a node.
 *
 * @example
 * ```ts
 * const e: NodeEvent = { type: "router", name: "VI_1", event: { type: "priority", priority: 90 } };
 * ```
 */
export type NodeEvent =
  /** Every router starts; `startedAtMs` as the router's `startup` event has it. */
  | { type: "startup"; startedAtMs?: number }
  | { type: "tick" }
  /** Every Master sends an extra advert now (see the router's `advertise`). */
  | { type: "advertise" }
  | { type: "shutdown" }
  /** Operator maintenance for every router at once (see the router's `maintenance`). */
  | { type: "maintenance"; on: boolean }
  | {
    type: "advert";
    family: Family;
    advert: Advert;
    src: string;
    checksumForm?: "pseudo-header" | "rfc9568";
  }
  | { type: "router"; name: string; event: RouterEvent };

/**
 * One action of one router.
 *
 * @example
 * ```ts
 * const a: NodeAction = { router: "VI_1", action: { type: "announce" } };
 * ```
 */
export interface NodeAction {
  router: string;
  action: RouterAction;
}

/**
 * Creates a node whose routers are all in `init`, not started. Sync-group members
 * naming no router are dropped; a duplicate router name throws (config validation
 * should have refused it).
 *
 * @example
 * ```ts
 * const node = createNode({ routers: [vi1, vi2], syncGroups: [] }, 0);
 * node.order; // ["vi1", "vi2"]
 * ```
 */
export function createNode(config: NodeConfig, nowMs: number): NodeState {
  const routers: Record<string, RouterState> = {};
  const order: string[] = [];
  for (const rc of config.routers) {
    if (rc.name in routers) throw new Error(`duplicate router name: ${rc.name}`);
    routers[rc.name] = createRouter(rc, nowMs);
    order.push(rc.name);
  }
  const syncGroups = config.syncGroups.map((g) => ({
    name: g.name,
    members: g.members.filter((m) => m in routers),
  }));
  return { routers, syncGroups, counters: { vridErrors: 0, unknownRouterEvents: 0 }, order };
}

/**
 * The earliest deadline of any router, or null. Feed `{ type: "tick" }` then.
 *
 * @example
 * ```ts
 * const { node: n } = stepNode(createNode(cfg, 0), { type: "startup" }, 0);
 * nodeNextDeadline(n); // e.g. 3609.375
 * ```
 */
export function nodeNextDeadline(node: NodeState): number | null {
  let best: number | null = null;
  // Asked several times a wake: an indexed loop allocates no iterator where the code
  // is not optimised yet.
  for (let i = 0; i < node.order.length; i++) {
    const d = nextDeadline(node.routers[node.order[i]]);
    if (d !== null && (best === null || d < best)) best = d;
  }
  return best;
}

/**
 * The node's tick when all it does is one Master's periodic advert (see
 * {@link routineAdvertTick}): the node and the one action {@link stepNode} gives for
 * `{ type: "tick" }` at `nowMs`. Null when another router is due too, when the due
 * router is in a sync group (its rules then have a say), or when its tick is not
 * routine: step the node then.
 *
 * @example
 * ```ts
 * const hit = routineNodeTick(node, now) ?? stepNode(node, { type: "tick" }, now);
 * ```
 */
export function routineNodeTick(
  node: NodeState,
  nowMs: number,
): { node: NodeState; actions: NodeAction[] } | null {
  const hit = routineRouterTick(node, nowMs);
  if (hit === null) return null;
  return {
    node: { ...node, routers: { ...node.routers, [hit.router]: hit.state } },
    actions: [{ router: hit.router, action: hit.action }],
  };
}

/**
 * {@link routineNodeTick} without the new node: which router's state the tick replaces,
 * with what, and its one action. For an owner that keeps the routers itself and need
 * not copy them all for one advert (see `InstanceTable`).
 *
 * @example
 * ```ts
 * const hit = routineRouterTick(node, now); // { router: "VI_1", state, action: { type: "send", ... } }
 * ```
 */
export function routineRouterTick(
  node: NodeState,
  nowMs: number,
): { router: string; state: RouterState; action: RouterAction } | null {
  let due: string | null = null;
  for (let i = 0; i < node.order.length; i++) {
    const name = node.order[i];
    const d = nextDeadline(node.routers[name]);
    if (d === null || d > nowMs) continue;
    if (due !== null) return null;
    due = name;
  }
  if (due === null) return null;
  for (let i = 0; i < node.syncGroups.length; i++) {
    if (node.syncGroups[i].members.includes(due)) return null;
  }
  const res = routineAdvertTick(node.routers[due], nowMs);
  if (res === null) return null;
  return { router: due, state: res.state, action: res.actions[0] };
}

/**
 * Advances every router concerned by one event, then applies the sync-group rules.
 * Actions come in order: the triggering router's own, then those its sync group
 * propagated, in member order.
 *
 * - `startup`, `shutdown`, `maintenance`, `tick`: every router (a tick only those with
 *   a due deadline);
 * - `advert`: the routers serving (family, advert.vrid); none → `vridErrors`;
 * - `router`: that router only (priority, fault, dropped, shutdown, ...).
 *
 * @example
 * ```ts
 * const { node: n, actions } = stepNode(node, { type: "advert", family: "ipv4", advert, src: "10.0.0.2" }, 1200);
 * ```
 */
export function stepNode(
  node: NodeState,
  event: NodeEvent,
  nowMs: number,
): { node: NodeState; actions: NodeAction[] } {
  const w: Work = {
    node: { ...node, routers: { ...node.routers }, counters: { ...node.counters } },
    actions: [],
    now: nowMs,
    everyRouter: event.type === "maintenance",
  };
  const routers = w.node.routers;
  switch (event.type) {
    case "startup":
      for (const name of node.order) apply(w, name, event);
      break;
    case "shutdown":
    case "advertise":
      for (const name of node.order) apply(w, name, { type: event.type });
      break;
    case "maintenance":
      for (const name of node.order) apply(w, name, { type: "maintenance", on: event.on });
      break;
    case "tick":
      for (const name of node.order) {
        // Earlier routers' propagation may already have moved this one; re-read it.
        const d = nextDeadline(routers[name]);
        if (d !== null && d <= nowMs) apply(w, name, { type: "tick" });
      }
      break;
    case "advert": {
      const targets = node.order.filter((n) => {
        const c = routers[n].config;
        return c.family === event.family && c.vrid === event.advert.vrid;
      });
      if (targets.length === 0) w.node.counters.vridErrors++;
      for (const name of targets) {
        apply(w, name, {
          type: "advert",
          advert: event.advert,
          src: event.src,
          checksumForm: event.checksumForm,
        });
      }
      break;
    }
    case "router":
      if (!(event.name in routers)) w.node.counters.unknownRouterEvents++;
      else apply(w, event.name, event.event);
      break;
  }
  reconcileGroups(w);
  return { node: w.node, actions: w.actions };
}

// ---------------------------------------------------------------------------------

interface Work {
  node: NodeState;
  actions: NodeAction[];
  now: number;
  /** The event goes to every router anyway: no sibling needs to be moved on its behalf. */
  everyRouter: boolean;
}

/** The other members of every sync group `name` belongs to, in member order. */
function siblings(node: NodeState, name: string): string[] {
  const out: string[] = [];
  for (const g of node.syncGroups) {
    if (!g.members.includes(name)) continue;
    for (const m of g.members) if (m !== name && !out.includes(m)) out.push(m);
  }
  return out;
}

/**
 * A member must not take over while a sibling follows a live master, or while a
 * sibling is in maintenance (it will not come along, and a group only moves whole).
 */
function heldBack(w: Work, name: string): boolean {
  return siblings(w.node, name).some((m) => {
    const r = w.node.routers[m];
    return followsLiveMaster(r, w.now) || (r.maintenance && !r.stopped);
  });
}

/** Steps one router, records its actions, then propagates its transitions. */
function apply(w: Work, name: string, event: RouterEvent) {
  const before = w.node.routers[name];
  let res = step(before, event, w.now);
  if (
    event.type === "tick" && before.state === "backup" && res.state.state === "master" &&
    heldBack(w, name)
  ) {
    res = { state: deferTakeover(before, w.now), actions: [] };
  }
  w.node.routers[name] = res.state;
  for (const action of res.actions) w.actions.push({ router: name, action });
  for (const a of res.actions) {
    if (a.type === "transition") {
      propagate(w, name, a.transition.from, a.transition.to, a.transition.reason);
    }
  }
}

function propagate(w: Work, name: string, from: string, to: string, reason: string) {
  // Moves the group made are not propagated again: the group already moved.
  if (reason === "sync-group") return;
  const others = siblings(w.node, name);
  if (others.length === 0) return;
  if (to === "master") {
    for (const m of others) {
      const r = w.node.routers[m];
      if (r.state !== "backup" || followsLiveMaster(r, w.now) || heldBack(w, m)) continue;
      apply(w, m, { type: "force", state: "master", detail: `sync group: ${name} became master` });
    }
  } else if (
    from === "master" && to === "backup" &&
    (reason === "higher-priority" || (reason === "maintenance" && !w.everyRouter))
  ) {
    const why = reason === "maintenance" ? "is in maintenance" : "lost to a higher priority";
    for (const m of others) {
      if (w.node.routers[m].state !== "master") continue;
      apply(w, m, { type: "force", state: "backup", detail: `sync group: ${name} ${why}` });
    }
  }
}

/**
 * Restores the group invariants after an event, in group and member order:
 * - each member is held in Fault exactly while another member has a fault of its own.
 *   Derived from the members' own faults (not from their states), so two members
 *   can never keep each other in Fault once both real faults have cleared;
 * - a group with a Master has no Backup left behind (members that started, or came
 *   back from a group fault, after the Master took over), subject to the guard.
 */
function reconcileGroups(w: Work) {
  // Run after every event: most nodes have no group, and then nothing is made here.
  if (w.node.syncGroups.length === 0) return;
  const routers = w.node.routers;
  const ownFault = (n: string) =>
    !routers[n].stopped && routers[n].faults.some((f) => f !== SYNC_GROUP_FAULT);
  const seen = new Set<string>();
  for (const g of w.node.syncGroups) {
    for (const name of g.members) {
      if (seen.has(name) || routers[name].stopped) continue;
      seen.add(name);
      const faulty = siblings(w.node, name).filter(ownFault);
      const held = routers[name].faults.includes(SYNC_GROUP_FAULT);
      if (faulty.length > 0 && !held) {
        apply(w, name, {
          type: "force",
          state: "fault",
          detail: `sync group: ${faulty.join(", ")} in fault`,
        });
      } else if (faulty.length === 0 && held) {
        apply(w, name, { type: "force", state: "backup", detail: "sync group: fault cleared" });
      }
    }
  }
  for (const g of w.node.syncGroups) {
    const master = g.members.find((m) => routers[m].state === "master");
    if (master === undefined) continue;
    for (const m of g.members) {
      const r = routers[m];
      if (r.state !== "backup" || followsLiveMaster(r, w.now) || heldBack(w, m)) continue;
      apply(w, m, { type: "force", state: "master", detail: `sync group: ${master} is master` });
    }
  }
}

/**
 * Adds a router (in `init`, not started: feed it a `router` startup event). Sync-group
 * membership is not changed; see {@link nodeSetSyncGroups}.
 *
 * @example
 * ```ts
 * let node = nodeAddRouter(createNode({ routers: [], syncGroups: [] }, 0), vi1, 0);
 * ({ node } = stepNode(node, { type: "router", name: "vi1", event: { type: "startup" } }, 0));
 * ```
 * @throws when a router of that name exists already.
 */
export function nodeAddRouter(node: NodeState, config: RouterConfig, nowMs: number): NodeState {
  if (config.name in node.routers) throw new Error(`duplicate router name: ${config.name}`);
  return {
    ...node,
    routers: { ...node.routers, [config.name]: createRouter(config, nowMs) },
    order: [...node.order, config.name],
  };
}

/**
 * Takes a router out of the node (and out of its sync groups), returning its last
 * state, e.g. so a stopped router can finish its release hold on its own. Unknown
 * names leave the node as it is and return null.
 *
 * @example
 * ```ts
 * ({ node } = stepNode(node, { type: "router", name: "vi1", event: { type: "shutdown" } }, now));
 * const { node: rest, router } = nodeRemoveRouter(node, "vi1");
 * ```
 */
export function nodeRemoveRouter(
  node: NodeState,
  name: string,
): { node: NodeState; router: RouterState | null } {
  if (!(name in node.routers)) return { node, router: null };
  const routers = { ...node.routers };
  const router = routers[name];
  delete routers[name];
  return {
    node: {
      ...node,
      routers,
      order: node.order.filter((n) => n !== name),
      syncGroups: node.syncGroups.map((g) => ({
        name: g.name,
        members: g.members.filter((m) => m !== name),
      })),
    },
    router,
  };
}

/**
 * Replaces the sync groups (members naming no router are dropped, as in
 * {@link createNode}). The group rules apply from the next `stepNode`.
 *
 * @example
 * ```ts
 * node = nodeSetSyncGroups(node, [{ name: "g", members: ["vi1", "vi2"] }]);
 * ```
 */
export function nodeSetSyncGroups(node: NodeState, groups: readonly SyncGroupConfig[]): NodeState {
  return {
    ...node,
    syncGroups: groups.map((g) => ({
      name: g.name,
      members: g.members.filter((m) => m in node.routers),
    })),
  };
}
