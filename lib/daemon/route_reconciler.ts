/**
 * Routes and policy rules hacore holds, reconciled like the VIPs: the daemon says what
 * it wants (each instance's `virtual_routes`/`virtual_rules` while it holds its VIPs,
 * and the `static_routes`/`static_rules` while it runs), this reads hacore's own
 * routes and rules from the kernel (tagged `RTPROT_HACORE`, so nothing else is ever
 * touched), asks the pure {@link planRoutes} / {@link planRules} what differs, and
 * applies it: removals first, so a changed route is gone before it is added back.
 *
 * A route or rule deleted by hand is restored at the next reconcile: one runs on every
 * VIP reconcile (a state change, a reload, a kernel event) and every
 * {@link ROUTE_RECHECK_MS} while anything is configured, as the kernel's route events
 * are not followed. A failed operation is logged, counted and retried.
 *
 * @example
 * ```ts
 * const routes = new RouteReconciler({ port, log, rateLog, counters, clock, retryMs: 1000 });
 * await routes.apply({ routes: [{ owner: "VI_1", item: route }], rules: [] });
 * routes.dueAtMs; // the next recheck
 * ```
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { canonicalIp } from "../net/addr.ts";
import type { KernelRoute, KernelRule, RoutePort } from "../sys/ports.ts";
import { bump, errorText, type RateLog } from "./common.ts";
import type { Clock } from "./ports.ts";

/** How often hacore's routes and rules are checked against the kernel while any are configured. */
export const ROUTE_RECHECK_MS = 2000;

/**
 * Something wanted, and who wants it (an instance's name, or `static`), for the logs.
 *
 * @example
 * ```ts
 * const w: Owned<KernelRoute> = { owner: "VI_1", item: route };
 * ```
 */
export interface Owned<T> {
  readonly owner: string;
  readonly item: T;
}

/**
 * Everything hacore should hold now.
 *
 * @example
 * ```ts
 * const none: WantedRoutes = { routes: [], rules: [] };
 * ```
 */
export interface WantedRoutes {
  readonly routes: readonly Owned<KernelRoute>[];
  readonly rules: readonly Owned<KernelRule>[];
}

/**
 * What to change: the kernel's entries to remove, then the wanted ones to add.
 *
 * @example
 * ```ts
 * const { removes, adds } = planRoutes(wanted, kernel);
 * ```
 */
export interface Plan<T> {
  readonly removes: readonly T[];
  readonly adds: readonly Owned<T>[];
}

/** IPv4 routes default to metric 0, IPv6 ones to 1024: a null metric is that. */
function metricOf(r: KernelRoute): number {
  return r.metric ?? (r.family === "ipv6" ? 1024 : 0);
}

const sameIp = (a: string | null, b: string | null) =>
  a === b || (a !== null && b !== null && canonicalIp(a) === canonicalIp(b));

/**
 * Whether the kernel's route `have` is the configured `want`: what identifies it
 * (family, table, destination, metric, type, next hop) must be equal; what the kernel
 * picks when the config does not say (device, preferred source, scope) is compared
 * only where the config says it.
 *
 * @example
 * ```ts
 * routeMatches(want, { ...want, dev: "eth0", scope: "global" }); // true when want.dev is null
 * ```
 */
export function routeMatches(want: KernelRoute, have: KernelRoute): boolean {
  return want.family === have.family && want.table === have.table &&
    sameIp(want.dst, have.dst) && want.dstLen === have.dstLen &&
    metricOf(want) === metricOf(have) && want.type === have.type && sameIp(want.via, have.via) &&
    (want.dev === null || want.dev === have.dev) &&
    (want.src === null || sameIp(want.src, have.src)) &&
    (want.scope === null || want.scope === have.scope);
}

/** The kernel reports a whole-mark mask for a mark without one. */
function maskOf(r: KernelRule): number | null {
  return r.fwmask ?? (r.fwmark === null ? null : 0xffff_ffff);
}

const samePrefix = (a: KernelRule["from"], b: KernelRule["from"]) =>
  a === b || (a !== null && b !== null && a.prefix === b.prefix && sameIp(a.address, b.address));

/**
 * Whether the kernel's rule `have` is the configured `want`: every selector and the
 * action equal; the priority too, unless the config leaves it to the kernel.
 *
 * @example
 * ```ts
 * ruleMatches({ ...rule, priority: null }, { ...rule, priority: 32765 }); // true
 * ```
 */
export function ruleMatches(want: KernelRule, have: KernelRule): boolean {
  return want.family === have.family && samePrefix(want.from, have.from) &&
    samePrefix(want.to, have.to) && want.iif === have.iif && want.oif === have.oif &&
    want.fwmark === have.fwmark && maskOf(want) === maskOf(have) &&
    (want.tos ?? 0) === (have.tos ?? 0) && want.action === have.action &&
    (want.action !== "lookup" || want.table === have.table) && want.goto === have.goto &&
    want.invert === have.invert && (want.priority === null || want.priority === have.priority);
}

/**
 * The generic plan: each wanted item is satisfied by at most one kernel entry that
 * matches it; kernel entries nobody's want matches are removed; wanted items with no
 * match are added. One item wanted twice (by two instances) is added once.
 */
function plan<T>(
  wanted: readonly Owned<T>[],
  kernel: readonly T[],
  matches: (want: T, have: T) => boolean,
): Plan<T> {
  const used = new Set<number>();
  const adds: Owned<T>[] = [];
  for (const w of wanted) {
    const i = kernel.findIndex((k, j) => !used.has(j) && matches(w.item, k));
    if (i >= 0) {
      used.add(i);
      continue;
    }
    // A second owner of the same item: the first one's add covers it.
    if (adds.some((a) => matches(a.item, w.item) && matches(w.item, a.item))) continue;
    adds.push(w);
  }
  const removes = kernel.filter((_, j) => !used.has(j));
  return { removes, adds };
}

/**
 * Routes to remove and to add so the kernel holds exactly the wanted ones (of hacore's).
 *
 * @example
 * ```ts
 * planRoutes([{ owner: "static", item: route }], []).adds.length; // 1
 * ```
 */
export function planRoutes(
  wanted: readonly Owned<KernelRoute>[],
  kernel: readonly KernelRoute[],
): Plan<KernelRoute> {
  return plan(wanted, kernel, routeMatches);
}

/**
 * Rules to remove and to add so the kernel holds exactly the wanted ones (of hacore's).
 *
 * @example
 * ```ts
 * planRules([], [leftover]).removes; // [leftover]
 * ```
 */
export function planRules(
  wanted: readonly Owned<KernelRule>[],
  kernel: readonly KernelRule[],
): Plan<KernelRule> {
  return plan(wanted, kernel, ruleMatches);
}

/**
 * A route as `ip route` writes it, for logs.
 *
 * @example
 * ```ts
 * describeRoute(route); // "10.9.0.0/16 via 192.0.2.1 dev eth0 table 100"
 * ```
 */
export function describeRoute(r: KernelRoute): string {
  const parts = [r.type === "unicast" ? "" : `${r.type} `, `${r.dst}/${r.dstLen}`];
  if (r.src !== null) parts.push(` src ${r.src}`);
  if (r.via !== null) parts.push(` via ${r.via}`);
  if (r.dev !== null) parts.push(` dev ${r.dev}`);
  if (r.table !== 254) parts.push(` table ${r.table}`);
  if (r.metric !== null) parts.push(` metric ${r.metric}`);
  return parts.join("");
}

/**
 * A rule as `ip rule` writes it, for logs.
 *
 * @example
 * ```ts
 * describeRule(rule); // "from 10.0.0.0/24 lookup 100 priority 100"
 * ```
 */
export function describeRule(r: KernelRule): string {
  const parts: string[] = [];
  if (r.invert) parts.push("not");
  if (r.from !== null) parts.push(`from ${r.from.address}/${r.from.prefix}`);
  if (r.to !== null) parts.push(`to ${r.to.address}/${r.to.prefix}`);
  if (r.iif !== null) parts.push(`iif ${r.iif}`);
  if (r.oif !== null) parts.push(`oif ${r.oif}`);
  if (r.fwmark !== null) parts.push(`fwmark ${r.fwmark}${r.fwmask === null ? "" : `/${r.fwmask}`}`);
  if (r.tos !== null) parts.push(`tos ${r.tos}`);
  if (r.action === "lookup") parts.push(`lookup ${r.table}`);
  else if (r.action === "goto") parts.push(`goto ${r.goto}`);
  else parts.push(r.action);
  if (r.priority !== null) parts.push(`priority ${r.priority}`);
  return parts.join(" ");
}

/**
 * What {@link RouteReconciler} needs.
 *
 * @example
 * ```ts
 * const deps: RouteReconcilerDeps = { port, log, rateLog, counters, clock, retryMs: 1000 };
 * ```
 */
export interface RouteReconcilerDeps {
  readonly port: RoutePort;
  readonly log: Logger;
  readonly rateLog: RateLog;
  /** Node-wide counters (`routeErrors`, `routesRestored`). */
  readonly counters: Record<string, number>;
  readonly clock: Clock;
  /** Retry a failed operation after this long. */
  readonly retryMs: number;
}

/**
 * The executor and its bookkeeping: when to look again, and whether the kernel holds
 * none of hacore's routes and rules (the end of an orderly stop).
 *
 * @example
 * ```ts
 * const routes = new RouteReconciler(deps);
 * routes.idle; // true until something is wanted
 * ```
 */
export class RouteReconciler {
  readonly #deps: RouteReconcilerDeps;
  #dueAtMs: number | null = null;
  #idle = true;
  /** A reconcile has read the kernel's routes and rules (a crash's leftovers go then). */
  #looked = false;
  /** owner|description of what the last reconcile left in the kernel: re-adding one is a restore. */
  #held = new Set<string>();

  /**
   * Nothing held yet.
   *
   * @example
   * ```ts
   * new RouteReconciler({ port, log, rateLog, counters, clock, retryMs: 1000 });
   * ```
   */
  constructor(deps: RouteReconcilerDeps) {
    this.#deps = deps;
  }

  /**
   * When to reconcile again (a retry, or the periodic check); null when nothing is
   * configured and nothing is held.
   *
   * @example
   * ```ts
   * if ((routes.dueAtMs ?? Infinity) <= now) await routes.apply(wanted);
   * ```
   */
  get dueAtMs(): number | null {
    return this.#dueAtMs;
  }

  /**
   * True when the last reconcile wanted nothing and left nothing of hacore's.
   *
   * @example
   * ```ts
   * if (rt.settled() && routes.idle) exit();
   * ```
   */
  get idle(): boolean {
    return this.#idle;
  }

  /**
   * Reads hacore's routes and rules and applies the plans. Never throws: a failure is
   * logged (rate limited), counted and retried after `retryMs`.
   *
   * @example
   * ```ts
   * await routes.apply({ routes: [], rules: [] }); // removes every hacore route and rule
   * ```
   */
  async apply(want: WantedRoutes): Promise<void> {
    // Nothing wanted, and the last look found nothing of hacore's: no dump of the
    // kernel's tables (two netlink round trips, 0.3-3 ms of a takeover's way to its
    // first GARP at every VIP reconcile of a node without routes).
    if (want.routes.length === 0 && want.rules.length === 0 && this.#idle && this.#looked) return;
    const { port, counters, rateLog, clock } = this.#deps;
    let routes: KernelRoute[];
    let rules: KernelRule[];
    try {
      [routes, rules] = await Promise.all([port.listRoutes(), port.listRules()]);
    } catch (e) {
      bump(counters, "routeErrors");
      rateLog("routes/list", "error", `cannot read the kernel's routes and rules: ${errorText(e)}`);
      this.#idle = false;
      this.#dueAtMs = clock.nowMs() + this.#deps.retryMs;
      return;
    }
    this.#looked = true;
    let failed = false;
    const run = async (who: string, done: string, what: string, op: () => Promise<void>) => {
      try {
        await op();
        this.#deps.log.info(`${who}: ${done} ${what}`);
        return true;
      } catch (e) {
        failed = true;
        bump(counters, "routeErrors");
        const verb = done === "removed" ? "remove" : "add";
        rateLog(`${who}/${what}`, "error", `${who}: cannot ${verb} ${what}: ${errorText(e)}`);
        return false;
      }
    };
    const routePlan = planRoutes(want.routes, routes);
    const rulePlan = planRules(want.rules, rules);
    // Rules first out, last in: a rule may send traffic to a table its routes fill.
    for (const r of rulePlan.removes) {
      await run("hacore", "removed", `rule ${describeRule(r)}`, () => port.removeRule(r));
    }
    for (const r of routePlan.removes) {
      await run("hacore", "removed", `route ${describeRoute(r)}`, () => port.removeRoute(r));
    }
    const held = new Set<string>();
    const add = async (owner: string, what: string, op: () => Promise<void>) => {
      const key = `${owner}|${what}`;
      // Held at the last reconcile and gone now: deleted outside hacore.
      const restore = this.#held.has(key);
      if (restore) bump(counters, "routesRestored");
      if (await run(owner, restore ? "restored" : "added", what, op)) held.add(key);
    };
    for (const a of routePlan.adds) {
      await add(a.owner, `route ${describeRoute(a.item)}`, () => port.addRoute(a.item));
    }
    for (const a of rulePlan.adds) {
      await add(a.owner, `rule ${describeRule(a.item)}`, () => port.addRule(a.item));
    }
    for (const w of want.routes) {
      const key = `${w.owner}|route ${describeRoute(w.item)}`;
      if (!routePlan.adds.includes(w) || held.has(key)) held.add(key);
    }
    for (const w of want.rules) {
      const key = `${w.owner}|rule ${describeRule(w.item)}`;
      if (!rulePlan.adds.includes(w) || held.has(key)) held.add(key);
    }
    this.#held = held;
    const nothing = want.routes.length === 0 && want.rules.length === 0;
    this.#idle = nothing && !failed;
    const now = clock.nowMs();
    this.#dueAtMs = failed ? now + this.#deps.retryMs : nothing ? null : now + ROUTE_RECHECK_MS;
  }
}
