/**
 * rtnetlink I/O: add and delete addresses, routes and macvlans, dump links, addresses
 * and routes, and follow change events. Messages come from the pure codec
 * (rtnl_codec.ts); sockets, sequence numbers, acks, dumps and timeouts are the generic
 * {@link NetlinkConnection}'s, so the JS event loop is never blocked and
 * {@link Rtnl.close} always returns promptly.
 *
 * Two connections: one for requests and, when groups are asked for, one subscribed to
 * them for {@link Rtnl.events}. Keeping events off the request socket means a burst of
 * notifications can never be mistaken for, or delay, an ack.
 *
 * @module
 */

import { formatIp, parseIp } from "../../net/addr.ts";
import { ENODEV } from "../errno.ts";
import { AF_INET, AF_INET6, AF_UNSPEC, type IpInput, NETLINK_ROUTE } from "../libc.ts";
import { NetlinkConnection, NetlinkError } from "./connection.ts";
import {
  type AddrMessage,
  type AddrSpec,
  buildDelAddr,
  buildDelLink,
  buildDelRoute,
  buildDelRule,
  buildGetAddrDump,
  buildGetLink,
  buildGetLinkDump,
  buildGetRouteDump,
  buildGetRuleDump,
  buildNewAddr,
  buildNewMacvlan,
  buildNewRoute,
  buildNewRule,
  buildSetLink,
  decodeRtnlMessage,
  FR_ACT_TO_TBL,
  FR_ACT_UNSPEC,
  IFA_PROTO_HACORE,
  type LinkChange,
  type LinkMessage,
  type MacvlanSpec,
  type RouteMessage,
  type RouteSpec,
  RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  RT_TABLE_UNSPEC,
  RTN_UNICAST,
  RTN_UNSPEC,
  RTNLGRP_IPV4_IFADDR,
  RTNLGRP_IPV6_IFADDR,
  RTNLGRP_LINK,
  type RtnlMessage,
  RTPROT_HACORE,
  type RuleMessage,
  type RuleSpec,
} from "./rtnl_codec.ts";

// Callers have always caught NetlinkError from here.
export { NetlinkError } from "./connection.ts";

/** Groups {@link Rtnl.open} subscribes to when none are named. */
export const DEFAULT_GROUPS: readonly number[] = [
  RTNLGRP_LINK,
  RTNLGRP_IPV4_IFADDR,
  RTNLGRP_IPV6_IFADDR,
];

// Event bursts (a bridge with many ports going down) must not overrun the socket.
const EVENT_RCVBUF_BYTES = 4 * 1024 * 1024;

/**
 * Options of {@link Rtnl.open}.
 *
 * @example
 * ```ts
 * Rtnl.open({ groups: [RTNLGRP_LINK], timeoutMs: 2000 } satisfies RtnlOptions);
 * ```
 */
export interface RtnlOptions {
  /**
   * RTNLGRP_* groups to follow with {@link Rtnl.events}; defaults to links and IPv4 and
   * IPv6 addresses. `[]` opens no event socket.
   */
  groups?: readonly number[];
  /** How long a request waits for its ack; 5000 ms when omitted. */
  timeoutMs?: number;
}

/**
 * An address to add or delete. `family` is inferred from the address; `ifname` only
 * names the interface in errors (it is looked up by index when omitted).
 *
 * @example
 * ```ts
 * const vip: RtnlAddrSpec = { index: 3, address: "192.0.2.10", prefixLen: 24, ifname: "eth0" };
 * ```
 */
export type RtnlAddrSpec = Omit<AddrSpec, "family"> & { family?: number; ifname?: string };

/**
 * A route to add or delete; unset fields take the defaults each method documents.
 *
 * @example
 * ```ts
 * const r: RtnlRouteSpec = { dst: "198.51.100.0", dstLen: 24, gateway: "192.0.2.1" };
 * ```
 */
export type RtnlRouteSpec = Partial<Omit<RouteSpec, "dstLen">> & {
  dstLen: number;
  ifname?: string;
};

/**
 * A rule to add or delete; unset fields take the defaults each method documents.
 *
 * @example
 * ```ts
 * const r: RtnlRuleSpec = { src: "10.0.0.0", srcLen: 24, table: 200, priority: 100 };
 * ```
 */
export type RtnlRuleSpec = Partial<RuleSpec>;

function inferFamily(address: IpInput | undefined, fallback?: number): number {
  if (fallback !== undefined) return fallback;
  if (address === undefined) return AF_INET;
  if (typeof address !== "string") return address.length === 16 ? AF_INET6 : AF_INET;
  return parseIp(address)?.family === "ipv6" ? AF_INET6 : AF_INET;
}

/** A rule as `ip rule` writes it, for errors. */
function ruleTarget(spec: RuleSpec): Promise<string> {
  const parts = ["rule"];
  if (spec.src !== undefined) parts.push(`from ${ipText(spec.src)}/${spec.srcLen ?? ""}`);
  if (spec.dst !== undefined) parts.push(`to ${ipText(spec.dst)}/${spec.dstLen ?? ""}`);
  if (spec.iifname !== undefined) parts.push(`iif ${spec.iifname}`);
  if (spec.oifname !== undefined) parts.push(`oif ${spec.oifname}`);
  if (spec.fwmark !== undefined) parts.push(`fwmark ${spec.fwmark}`);
  if (spec.priority !== undefined) parts.push(`priority ${spec.priority}`);
  if (spec.table !== RT_TABLE_UNSPEC) parts.push(`table ${spec.table}`);
  return Promise.resolve(parts.join(" "));
}

function ipText(a: IpInput | undefined): string {
  if (a === undefined) return "";
  if (typeof a === "string") return a;
  return a.length === 4 || a.length === 16 ? formatIp(a) : `<${a.length}-byte address>`;
}

/**
 * An rtnetlink connection.
 *
 * @example
 * ```ts
 * const rtnl = Rtnl.open();
 * try {
 *   await rtnl.addAddress({ index: 3, address: "192.0.2.10", prefixLen: 24, label: "eth0:hc" });
 *   const mine = (await rtnl.dumpAddresses(AF_INET)).filter(isHacoreAddress);
 * } finally {
 *   await rtnl.close();
 * }
 * ```
 */
export class Rtnl {
  #conn: NetlinkConnection;
  #events: NetlinkConnection | null;
  #iterating = false;

  private constructor(conn: NetlinkConnection, events: NetlinkConnection | null) {
    this.#conn = conn;
    this.#events = events;
  }

  /**
   * Opens the request socket and, unless `groups` is `[]`, the event socket. Both live
   * in the network namespace of the calling thread at the time of the call.
   *
   * @example
   * ```ts
   * const rtnl = Rtnl.open({ groups: [RTNLGRP_LINK] });
   * ```
   * @throws {SyscallError} when a socket cannot be opened or bound.
   */
  static open(opts: RtnlOptions = {}): Rtnl {
    const groups = opts.groups ?? DEFAULT_GROUPS;
    const conn = NetlinkConnection.open(NETLINK_ROUTE, { timeoutMs: opts.timeoutMs });
    let events: NetlinkConnection | null = null;
    if (groups.length > 0) {
      try {
        events = NetlinkConnection.open(NETLINK_ROUTE, {
          groups,
          rcvBufBytes: EVENT_RCVBUF_BYTES,
        });
      } catch (e) {
        // Nothing polls the request socket yet, so its close cannot wait on anything.
        void conn.close();
        throw e;
      }
    }
    return new Rtnl(conn, events);
  }

  /**
   * Adds an address (NLM_F_CREATE | NLM_F_EXCL: EEXIST when present). Tagged with
   * IFA_PROTO_HACORE unless `proto` says otherwise.
   *
   * @example
   * ```ts
   * await rtnl.addAddress({ index: 3, address: "2001:db8::10", prefixLen: 64, flags: IFA_F_NODAD });
   * ```
   * @throws {NetlinkError} e.g. `add 192.0.2.1/24 dev veth0: EEXIST (File exists)`.
   */
  async addAddress(spec: RtnlAddrSpec): Promise<void> {
    const full: AddrSpec = {
      ...spec,
      family: inferFamily(spec.address, spec.family),
      proto: spec.proto ?? IFA_PROTO_HACORE,
    };
    await this.#ack(
      "RTM_NEWADDR",
      "add",
      buildNewAddr(full),
      () => this.#addrTarget(spec),
    );
  }

  /**
   * Deletes an address (matched on address, prefix length and, when given, label).
   *
   * @example
   * ```ts
   * await rtnl.delAddress({ index: 3, address: "192.0.2.10", prefixLen: 24 });
   * ```
   * @throws {NetlinkError} `EADDRNOTAVAIL` when it is not there.
   */
  async delAddress(spec: RtnlAddrSpec): Promise<void> {
    const full = {
      index: spec.index,
      family: inferFamily(spec.address, spec.family),
      prefixLen: spec.prefixLen,
      address: spec.address,
      local: spec.local,
      label: spec.label,
      scope: spec.scope,
      flags: spec.flags,
    };
    await this.#ack(
      "RTM_DELADDR",
      "del",
      buildDelAddr(full),
      () => this.#addrTarget(spec),
    );
  }

  /**
   * Adds a route. Defaults: main table, protocol RTPROT_HACORE, type unicast, scope
   * universe with a gateway and link without.
   *
   * @example
   * ```ts
   * await rtnl.addRoute({ dst: "198.51.100.0", dstLen: 24, gateway: "192.0.2.1", oif: 3 });
   * ```
   * @throws {NetlinkError} e.g. `add 198.51.100.0/24 via 192.0.2.1: EEXIST (File exists)`.
   */
  async addRoute(spec: RtnlRouteSpec): Promise<void> {
    const full: RouteSpec = {
      ...spec,
      family: inferFamily(spec.dst ?? spec.gateway, spec.family),
      table: spec.table ?? RT_TABLE_MAIN,
      protocol: spec.protocol ?? RTPROT_HACORE,
      scope: spec.scope ?? (spec.gateway !== undefined ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK),
      type: spec.type ?? RTN_UNICAST,
    };
    await this.#ack(
      "RTM_NEWROUTE",
      "add",
      buildNewRoute(full),
      () => this.#routeTarget(spec),
    );
  }

  /**
   * Deletes a route. Defaults: main table, protocol RTPROT_HACORE (so only hacore's
   * own route matches), any scope, any type.
   *
   * @example
   * ```ts
   * await rtnl.delRoute({ dst: "198.51.100.0", dstLen: 24, oif: 3 });
   * ```
   * @throws {NetlinkError} `ESRCH` when no such route exists.
   */
  async delRoute(spec: RtnlRouteSpec): Promise<void> {
    const full: RouteSpec = {
      ...spec,
      family: inferFamily(spec.dst ?? spec.gateway, spec.family),
      table: spec.table ?? RT_TABLE_MAIN,
      protocol: spec.protocol ?? RTPROT_HACORE,
      scope: spec.scope ?? RT_SCOPE_NOWHERE,
      type: spec.type ?? RTN_UNSPEC,
    };
    await this.#ack(
      "RTM_DELROUTE",
      "del",
      buildDelRoute(full),
      () => this.#routeTarget(spec),
    );
  }

  /**
   * Adds a policy routing rule. Defaults: family from the addresses (IPv4 without),
   * action "lookup table" (main unless `table`), protocol RTPROT_HACORE, so hacore's
   * own rules can be told apart in a dump.
   *
   * @example
   * ```ts
   * await rtnl.addRule({ src: "10.0.0.0", srcLen: 24, table: 200, priority: 100 });
   * ```
   * @throws {NetlinkError} e.g. `add rule from 10.0.0.0/24 table 200: EEXIST (File exists)`.
   */
  async addRule(spec: RtnlRuleSpec): Promise<void> {
    const action = spec.action ?? FR_ACT_TO_TBL;
    const full: RuleSpec = {
      ...spec,
      family: inferFamily(spec.src ?? spec.dst, spec.family),
      table: spec.table ?? (action === FR_ACT_TO_TBL ? RT_TABLE_MAIN : RT_TABLE_UNSPEC),
      action,
      protocol: spec.protocol ?? RTPROT_HACORE,
    };
    await this.#ack("RTM_NEWRULE", "add", buildNewRule(full), () => ruleTarget(full));
  }

  /**
   * Deletes the first rule that every given selector matches, as `ip rule del`.
   * Defaults: any action and table; the protocol only when given (kernels before 4.17
   * keep none), so name the priority and selectors of the rule meant.
   *
   * @example
   * ```ts
   * await rtnl.delRule({ src: "10.0.0.0", srcLen: 24, table: 200, priority: 100 });
   * ```
   * @throws {NetlinkError} `ENOENT` when no rule matches.
   */
  async delRule(spec: RtnlRuleSpec): Promise<void> {
    const full: RuleSpec = {
      ...spec,
      family: inferFamily(spec.src ?? spec.dst, spec.family),
      table: spec.table ?? RT_TABLE_UNSPEC,
      action: spec.action ?? FR_ACT_UNSPEC,
    };
    await this.#ack("RTM_DELRULE", "del", buildDelRule(full), () => ruleTarget(full));
  }

  /**
   * Creates a macvlan (down; NLM_F_EXCL: EEXIST when the name is taken).
   *
   * @example
   * ```ts
   * await rtnl.addMacvlan({ name: "vrrp.51", parentIndex: 3, mac: "00:00:5e:00:01:33", mode: MACVLAN_MODE_BRIDGE });
   * ```
   * @throws {NetlinkError} e.g. `add macvlan vrrp.51 on #3: EEXIST (File exists)`.
   */
  async addMacvlan(spec: MacvlanSpec): Promise<void> {
    await this.#ack(
      "RTM_NEWLINK",
      "add",
      buildNewMacvlan(spec),
      async () => `macvlan ${spec.name} on ${await this.#nameOf(spec.parentIndex)}`,
    );
  }

  /**
   * Changes a link: up or down, and/or its alias.
   *
   * @example
   * ```ts
   * await rtnl.setLink(4, { up: true });
   * ```
   * @throws {NetlinkError} `ENODEV` when there is no such link.
   */
  async setLink(index: number, change: LinkChange, ifname?: string): Promise<void> {
    await this.#ack(
      "RTM_NEWLINK",
      "set",
      buildSetLink(index, change),
      async () => `link ${ifname ?? (await this.#nameOf(index))}`,
    );
  }

  /**
   * Deletes a link (and, with it, its addresses and routes).
   *
   * @example
   * ```ts
   * await rtnl.delLink(4, "vrrp.51");
   * ```
   * @throws {NetlinkError} `ENODEV` when there is no such link.
   */
  async delLink(index: number, ifname?: string): Promise<void> {
    await this.#ack(
      "RTM_DELLINK",
      "del",
      buildDelLink(index),
      async () => `link ${ifname ?? (await this.#nameOf(index))}`,
    );
  }

  /**
   * Every address of one family (AF_UNSPEC: both), as the kernel holds them now.
   *
   * @example
   * ```ts
   * const v4 = await rtnl.dumpAddresses(AF_INET);
   * ```
   */
  async dumpAddresses(family: number = AF_UNSPEC): Promise<AddrMessage[]> {
    const all = await this.#dump("addresses", buildGetAddrDump(family));
    return all.filter((m): m is AddrMessage => m.kind === "addr");
  }

  /**
   * Every link, without statistics.
   *
   * @example
   * ```ts
   * const up = (await rtnl.dumpLinks()).filter((l) => l.flags & IFF_RUNNING);
   * ```
   */
  async dumpLinks(): Promise<LinkMessage[]> {
    const all = await this.#dump("links", buildGetLinkDump());
    return all.filter((m): m is LinkMessage => m.kind === "link");
  }

  /**
   * Every route of one family, all tables.
   *
   * @example
   * ```ts
   * const mine = (await rtnl.dumpRoutes(AF_INET)).filter((r) => r.protocol === RTPROT_HACORE);
   * ```
   */
  async dumpRoutes(family: number = AF_UNSPEC): Promise<RouteMessage[]> {
    const all = await this.#dump("routes", buildGetRouteDump(family));
    return all.filter((m): m is RouteMessage => m.kind === "route");
  }

  /**
   * Every policy routing rule of one family (the kernel's own included).
   *
   * @example
   * ```ts
   * const mine = (await rtnl.dumpRules(AF_INET)).filter((r) => r.protocol === RTPROT_HACORE);
   * ```
   */
  async dumpRules(family: number = AF_UNSPEC): Promise<RuleMessage[]> {
    const all = await this.#dump("rules", buildGetRuleDump(family));
    return all.filter((m): m is RuleMessage => m.kind === "rule");
  }

  /**
   * One link by index, or null when there is none.
   *
   * @example
   * ```ts
   * (await rtnl.getLink(1))?.name; // "lo"
   * ```
   */
  async getLink(index: number): Promise<LinkMessage | null> {
    try {
      const got = await this.#conn.queryMessages(buildGetLink(index), { call: "RTM_GETLINK" });
      return got.map(decodeRtnlMessage).find((m): m is LinkMessage => m.kind === "link") ?? null;
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === ENODEV) return null;
      throw await this.#named(e, "get", () => Promise.resolve(`link #${index}`));
    }
  }

  /**
   * Change notifications from the subscribed groups, in kernel order. An
   * `{ kind: "overrun" }` item means the kernel dropped events (ENOBUFS): re-dump.
   * Ends when {@link Rtnl.close} is called. One iteration at a time.
   *
   * @example
   * ```ts
   * for await (const m of rtnl.events()) {
   *   if (m.kind === "addr" && m.deleted && isHacoreAddress(m)) reconcileSoon();
   *   if (m.kind === "overrun") resync();
   * }
   * ```
   */
  async *events(): AsyncGenerator<RtnlMessage, void, undefined> {
    if (!this.#events) throw new Error("Rtnl was opened without event groups");
    if (this.#iterating) throw new Error("Rtnl.events() is already being iterated");
    this.#iterating = true;
    try {
      for await (const m of this.#events.notifications()) yield decodeRtnlMessage(m);
    } finally {
      this.#iterating = false;
    }
  }

  /**
   * Ends {@link Rtnl.events} iterations, fails pending requests' waits, and closes both
   * sockets once no worker thread is polling them.
   *
   * @example
   * ```ts
   * await rtnl.close();
   * ```
   */
  async close(): Promise<void> {
    await Promise.all([this.#conn.close(), this.#events?.close()]);
  }

  // -------------------------------------------------------------------------------------

  async #addrTarget(spec: RtnlAddrSpec): Promise<string> {
    const name = spec.ifname ?? (await this.#nameOf(spec.index));
    return `${ipText(spec.address)}/${spec.prefixLen} dev ${name}`;
  }

  async #routeTarget(spec: RtnlRouteSpec): Promise<string> {
    let s = spec.dst === undefined ? "default" : `${ipText(spec.dst)}/${spec.dstLen}`;
    if (spec.gateway !== undefined) s += ` via ${ipText(spec.gateway)}`;
    if (spec.oif !== undefined) s += ` dev ${spec.ifname ?? (await this.#nameOf(spec.oif))}`;
    if (spec.table !== undefined && spec.table !== RT_TABLE_MAIN) s += ` table ${spec.table}`;
    return s;
  }

  async #nameOf(index: number): Promise<string> {
    // Asked on this socket, so the name comes from the socket's own namespace.
    try {
      const got = await this.#conn.queryMessages(buildGetLink(index), { call: "RTM_GETLINK" });
      const l = got.map(decodeRtnlMessage).find((m): m is LinkMessage => m.kind === "link");
      return l?.name ?? `#${index}`;
    } catch {
      return `#${index}`;
    }
  }

  async #ack(
    call: string,
    operation: string,
    msg: Uint8Array,
    target: () => Promise<string>,
  ): Promise<void> {
    try {
      await this.#conn.request(msg, { call });
    } catch (e) {
      throw await this.#named(e, operation, target);
    }
  }

  async #dump(what: string, msg: Uint8Array): Promise<RtnlMessage[]> {
    try {
      return (await this.#conn.dumpMessages(msg, { call: "dump" })).map(decodeRtnlMessage);
    } catch (e) {
      throw await this.#named(e, "dump", () => Promise.resolve(what));
    }
  }

  /**
   * The connection's error renamed after the operation and its target; the target is
   * worked out only now, since naming an interface costs a request of its own.
   */
  async #named(e: unknown, operation: string, target: () => Promise<string>): Promise<unknown> {
    if (!(e instanceof NetlinkError)) return e;
    return new NetlinkError(e.call, operation, await target(), e.errno, e.kernelMessage);
  }
}
