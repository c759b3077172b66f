/**
 * {@link RoutePort} over rtnetlink: hacore's routes and rules, tagged `RTPROT_HACORE`
 * (rules by `FRA_PROTOCOL`, Linux ≥ 4.17), read back in the shape they were configured
 * in, so the daemon's plan compares like with like. Interface names are resolved on
 * the request socket, in its own namespace.
 *
 * @example
 * ```ts
 * const routes = new SystemRoutePort(ports.addresses.rtnl);
 * await routes.addRoute({ family: "ipv4", dst: "10.9.0.0", dstLen: 16, type: "unicast", src: null,
 *   via: "192.0.2.1", dev: "eth0", table: 254, metric: null, scope: null });
 * ```
 *
 * @module
 */

import { AF_INET, AF_INET6 } from "./libc.ts";
import type { Rtnl } from "./netlink/rtnl.ts";
import {
  FIB_RULE_INVERT,
  FR_ACT_BLACKHOLE,
  FR_ACT_GOTO,
  FR_ACT_NOP,
  FR_ACT_PROHIBIT,
  FR_ACT_TO_TBL,
  FR_ACT_UNREACHABLE,
  FR_ACT_UNSPEC,
  type RouteMessage,
  RT_SCOPE_HOST,
  RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_SITE,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_UNSPEC,
  RTN_BLACKHOLE,
  RTN_PROHIBIT,
  RTN_THROW,
  RTN_UNICAST,
  RTN_UNREACHABLE,
  RTN_UNSPEC,
  RTPROT_HACORE,
  type RuleMessage,
} from "./netlink/rtnl_codec.ts";
import type { KernelRoute, KernelRule, RoutePort } from "./ports.ts";

const ROUTE_TYPES: Readonly<Record<KernelRoute["type"], number>> = {
  unicast: RTN_UNICAST,
  blackhole: RTN_BLACKHOLE,
  unreachable: RTN_UNREACHABLE,
  prohibit: RTN_PROHIBIT,
  throw: RTN_THROW,
};
const SCOPES: Readonly<Record<NonNullable<KernelRoute["scope"]>, number>> = {
  global: RT_SCOPE_UNIVERSE,
  site: RT_SCOPE_SITE,
  link: RT_SCOPE_LINK,
  host: RT_SCOPE_HOST,
};
const ACTIONS: Readonly<Record<KernelRule["action"], number>> = {
  lookup: FR_ACT_TO_TBL,
  goto: FR_ACT_GOTO,
  nop: FR_ACT_NOP,
  blackhole: FR_ACT_BLACKHOLE,
  unreachable: FR_ACT_UNREACHABLE,
  prohibit: FR_ACT_PROHIBIT,
};

const byValue = <K extends string>(t: Readonly<Record<K, number>>, v: number): K | undefined =>
  (Object.keys(t) as K[]).find((k) => t[k] === v);

const familyNumber = (f: "ipv4" | "ipv6") => f === "ipv4" ? AF_INET : AF_INET6;

/**
 * Routes and rules on one rtnetlink request socket.
 *
 * @example
 * ```ts
 * const port: RoutePort = new SystemRoutePort(rtnl);
 * ```
 */
export class SystemRoutePort implements RoutePort {
  readonly #rtnl: Rtnl;

  /**
   * Uses `rtnl` for every request; it stays the caller's to close.
   *
   * @example
   * ```ts
   * new SystemRoutePort(Rtnl.open({ groups: [] }));
   * ```
   */
  constructor(rtnl: Rtnl) {
    this.#rtnl = rtnl;
  }

  /**
   * hacore's routes.
   *
   * @example
   * ```ts
   * (await port.listRoutes()).length;
   * ```
   */
  async listRoutes(): Promise<KernelRoute[]> {
    const names = await this.#names();
    const out: KernelRoute[] = [];
    for (const m of await this.#rtnl.dumpRoutes()) {
      const r = m.protocol === RTPROT_HACORE ? toKernelRoute(m, names) : null;
      if (r !== null) out.push(r);
    }
    return out;
  }

  /**
   * Installs a route tagged as hacore's; `ip route`'s scope when none is set (link
   * for a unicast route without a next hop, global otherwise).
   *
   * @example
   * ```ts
   * await port.addRoute(route);
   * ```
   */
  async addRoute(r: KernelRoute): Promise<void> {
    const oif = r.dev === null ? undefined : await this.#index(r.dev);
    const scope = r.scope !== null
      ? SCOPES[r.scope]
      : r.type === "unicast" && r.via === null
      ? RT_SCOPE_LINK
      : RT_SCOPE_UNIVERSE;
    await this.#rtnl.addRoute({
      family: familyNumber(r.family),
      dst: r.dst,
      dstLen: r.dstLen,
      gateway: r.via ?? undefined,
      oif,
      ifname: r.dev ?? undefined,
      table: r.table,
      protocol: RTPROT_HACORE,
      scope,
      type: ROUTE_TYPES[r.type],
      priority: r.metric ?? undefined,
      prefsrc: r.src ?? undefined,
    });
  }

  /**
   * Removes one of hacore's routes (matched on table, destination, metric and device).
   *
   * @example
   * ```ts
   * await port.removeRoute(route);
   * ```
   */
  async removeRoute(r: KernelRoute): Promise<void> {
    const oif = r.dev === null ? undefined : await this.#index(r.dev).catch(() => undefined);
    await this.#rtnl.delRoute({
      family: familyNumber(r.family),
      dst: r.dst,
      dstLen: r.dstLen,
      oif,
      ifname: r.dev ?? undefined,
      table: r.table,
      protocol: RTPROT_HACORE,
      scope: RT_SCOPE_NOWHERE,
      type: RTN_UNSPEC,
      priority: r.metric ?? undefined,
    });
  }

  /**
   * hacore's rules, IPv4 then IPv6.
   *
   * @example
   * ```ts
   * (await port.listRules()).map((r) => r.priority);
   * ```
   */
  async listRules(): Promise<KernelRule[]> {
    const all = [
      ...await this.#rtnl.dumpRules(AF_INET),
      ...await this.#rtnl.dumpRules(AF_INET6),
    ];
    const out: KernelRule[] = [];
    for (const m of all) {
      const r = m.protocol === RTPROT_HACORE ? toKernelRule(m) : null;
      if (r !== null) out.push(r);
    }
    return out;
  }

  /**
   * Installs a rule tagged as hacore's.
   *
   * @example
   * ```ts
   * await port.addRule(rule);
   * ```
   */
  async addRule(r: KernelRule): Promise<void> {
    await this.#rtnl.addRule({ ...ruleSpec(r), action: ACTIONS[r.action] });
  }

  /**
   * Removes one of hacore's rules (every selector it has must match).
   *
   * @example
   * ```ts
   * await port.removeRule(rule);
   * ```
   */
  async removeRule(r: KernelRule): Promise<void> {
    await this.#rtnl.delRule({ ...ruleSpec(r), action: FR_ACT_UNSPEC, protocol: RTPROT_HACORE });
  }

  async #names(): Promise<Map<number, string>> {
    const names = new Map<number, string>();
    for (const l of await this.#rtnl.dumpLinks()) {
      if (l.name !== undefined) names.set(l.index, l.name);
    }
    return names;
  }

  async #index(name: string): Promise<number> {
    for (const [index, n] of await this.#names()) if (n === name) return index;
    throw new Error(`no interface ${name}`);
  }
}

function ruleSpec(r: KernelRule) {
  return {
    family: familyNumber(r.family),
    src: r.from?.address,
    srcLen: r.from?.prefix ?? 0,
    dst: r.to?.address,
    dstLen: r.to?.prefix ?? 0,
    tos: r.tos ?? 0,
    iifname: r.iif ?? undefined,
    oifname: r.oif ?? undefined,
    fwmark: r.fwmark ?? undefined,
    fwmask: r.fwmask ?? undefined,
    priority: r.priority ?? undefined,
    table: r.action === "lookup" ? r.table : RT_TABLE_UNSPEC,
    goto: r.goto ?? undefined,
    flags: r.invert ? FIB_RULE_INVERT : 0,
  };
}

/**
 * A dumped route in the configured shape, or null for one hacore cannot have made
 * (another family or type).
 *
 * @example
 * ```ts
 * toKernelRoute(message, new Map([[3, "eth0"]]))?.dev; // "eth0"
 * ```
 */
export function toKernelRoute(
  m: RouteMessage,
  names: ReadonlyMap<number, string>,
): KernelRoute | null {
  const type = byValue(ROUTE_TYPES, m.type);
  if (type === undefined || (m.family !== AF_INET && m.family !== AF_INET6)) return null;
  const family = m.family === AF_INET ? "ipv4" : "ipv6";
  return {
    family,
    dst: m.dst ?? (family === "ipv4" ? "0.0.0.0" : "::"),
    dstLen: m.dstLen,
    type,
    src: m.prefsrc ?? null,
    via: m.gateway ?? null,
    dev: m.oif === undefined ? null : names.get(m.oif) ?? `#${m.oif}`,
    table: m.table,
    metric: m.priority ?? null,
    scope: byValue(SCOPES, m.scope) ?? null,
  };
}

/**
 * A dumped rule in the configured shape, or null for an action hacore does not make.
 *
 * @example
 * ```ts
 * toKernelRule(message)?.priority; // 100
 * ```
 */
export function toKernelRule(m: RuleMessage): KernelRule | null {
  const action = byValue(ACTIONS, m.action);
  if (action === undefined || (m.family !== AF_INET && m.family !== AF_INET6)) return null;
  const prefix = (address: string | undefined, len: number) =>
    address === undefined || len === 0 ? null : { address, prefix: len };
  return {
    family: m.family === AF_INET ? "ipv4" : "ipv6",
    from: prefix(m.src, m.srcLen),
    to: prefix(m.dst, m.dstLen),
    iif: m.iifname ?? null,
    oif: m.oifname ?? null,
    fwmark: m.fwmark ?? null,
    fwmask: m.fwmask ?? null,
    tos: m.tos === 0 ? null : m.tos,
    priority: m.priority ?? 0,
    action,
    table: action === "lookup" ? m.table : 0,
    goto: m.goto ?? null,
    invert: (m.flags & FIB_RULE_INVERT) !== 0,
  };
}
