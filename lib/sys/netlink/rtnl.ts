/**
 * rtnetlink I/O: add and delete addresses and routes, dump links, addresses and routes,
 * and follow change events. Messages come from the pure codec (codec.ts); this module
 * only moves buffers through libc.ts and waits with a {@link Poller}, so the JS event
 * loop is never blocked and {@link Rtnl.close} always returns promptly.
 *
 * Two sockets: one for requests (each carries NLM_F_ACK and waits for the ack with its
 * sequence number, under a timeout) and, when groups are asked for, one subscribed to
 * them for {@link Rtnl.events}. Keeping events off the request socket means a burst of
 * notifications can never be mistaken for, or delay, an ack.
 *
 * @module
 */

import { formatIp, parseIp } from "../../net/addr.ts";
import { EBADF, EBADMSG, ENOBUFS, ETIMEDOUT, SyscallError } from "../errno.ts";
import {
  AF_INET,
  AF_INET6,
  AF_NETLINK,
  AF_UNSPEC,
  bindSocket,
  closeFd,
  type IpInput,
  MSG_TRUNC,
  NETLINK_ADD_MEMBERSHIP,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  NETLINK_ROUTE,
  openSocket,
  recvMsg,
  sendTo,
  setsockoptInt,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SOCK_RAW,
  sockaddrNl,
  SOL_NETLINK,
  SOL_SOCKET,
} from "../libc.ts";
import { Poller } from "../poll.ts";
import {
  type AddrMessage,
  type AddrSpec,
  buildDelAddr,
  buildDelLink,
  buildDelRoute,
  buildGetAddrDump,
  buildGetLink,
  buildGetLinkDump,
  buildGetRouteDump,
  buildNewAddr,
  buildNewMacvlan,
  buildNewRoute,
  type BuildOptions,
  buildSetLink,
  IFA_PROTO_HACORE,
  type LinkChange,
  type LinkMessage,
  type MacvlanSpec,
  type NetlinkMessage,
  NLM_F_DUMP_INTR,
  parseMessages,
  type RouteMessage,
  type RouteSpec,
  RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  RTN_UNICAST,
  RTN_UNSPEC,
  RTNLGRP_IPV4_IFADDR,
  RTNLGRP_IPV6_IFADDR,
  RTNLGRP_LINK,
  RTPROT_HACORE,
} from "./codec.ts";

/** Groups {@link Rtnl.open} subscribes to when none are named. */
export const DEFAULT_GROUPS: readonly number[] = [
  RTNLGRP_LINK,
  RTNLGRP_IPV4_IFADDR,
  RTNLGRP_IPV6_IFADDR,
];

// Room for one recv of a dump: the kernel fills at most ~32 KiB per datagram.
const RECV_BUFFER_BYTES = 64 * 1024;
// Event bursts (a bridge with many ports going down) must not overrun the socket.
const EVENT_RCVBUF_BYTES = 4 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 5000;
// A dump the kernel flags as interrupted (the table changed under it) is read again.
const DUMP_ATTEMPTS = 5;

/**
 * A request the kernel refused (or never answered): which operation on what, the
 * errno, and the kernel's own explanation when extended acks carried one.
 *
 * @example
 * ```ts
 * try {
 *   await rtnl.addAddress({ index: 3, address: "192.0.2.1", prefixLen: 24 });
 * } catch (e) {
 *   if (e instanceof NetlinkError && e.code === "EEXIST") { } // already there
 *   // e.message: "add 192.0.2.1/24 dev veth0: EEXIST (File exists); kernel: ipv4: Address already assigned"
 * }
 * ```
 */
export class NetlinkError extends SyscallError {
  /** "add", "del", "set", "dump", "get". */
  readonly operation: string;
  /** What it was about: `192.0.2.1/24 dev veth0`, `addresses`. */
  readonly target: string;
  /** NLMSGERR_ATTR_MSG, when the kernel sent one. */
  readonly kernelMessage?: string;

  /**
   * Builds the error; the message names operation, target, errno and kernel text.
   *
   * @param call the request type, e.g. `"RTM_NEWADDR"`.
   * @param operation `"add"`, `"del"`, `"dump"`, `"get"`.
   * @param target what it was about, e.g. `"192.0.2.1/24 dev veth0"`.
   * @param errno the errno the kernel answered with.
   * @param kernelMessage the kernel's extended-ack text, if any.
   */
  constructor(
    call: string,
    operation: string,
    target: string,
    errno: number,
    kernelMessage?: string,
  ) {
    super(call, errno);
    this.name = "NetlinkError";
    this.operation = operation;
    this.target = target;
    this.kernelMessage = kernelMessage;
    const text = this.message.slice(this.message.indexOf(":") + 2);
    this.message = `${operation} ${target}: ${text}${
      kernelMessage ? `; kernel: ${kernelMessage}` : ""
    }`;
  }
}

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

function inferFamily(address: IpInput | undefined, fallback?: number): number {
  if (fallback !== undefined) return fallback;
  if (address === undefined) return AF_INET;
  if (typeof address !== "string") return address.length === 16 ? AF_INET6 : AF_INET;
  return parseIp(address)?.family === "ipv6" ? AF_INET6 : AF_INET;
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
  #fd: number;
  #eventFd: number;
  #poller = new Poller();
  #eventPoller: Poller | null;
  #seq: number;
  #timeoutMs: number;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  #buf = new Uint8Array(RECV_BUFFER_BYTES);
  #eventBuf = new Uint8Array(RECV_BUFFER_BYTES);
  #iterating = false;

  private constructor(fd: number, eventFd: number, timeoutMs: number) {
    this.#fd = fd;
    this.#eventFd = eventFd;
    this.#eventPoller = eventFd >= 0 ? new Poller() : null;
    this.#timeoutMs = timeoutMs;
    // Start away from 0 so a stale ack from a previous run (impossible on a fresh socket,
    // but cheap to rule out) cannot match.
    this.#seq = (Date.now() & 0x3fffffff) + 1;
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
    const fd = openSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    let eventFd = -1;
    try {
      bindSocket(fd, sockaddrNl());
      // Both are optional comforts (older kernels lack them): shorter error acks, and the
      // kernel's own words in NetlinkError messages.
      trySetsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
      trySetsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
      if (groups.length > 0) {
        eventFd = openSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
        bindSocket(eventFd, sockaddrNl());
        if (!trySetsockopt(eventFd, SOL_SOCKET, SO_RCVBUFFORCE, EVENT_RCVBUF_BYTES)) {
          trySetsockopt(eventFd, SOL_SOCKET, SO_RCVBUF, EVENT_RCVBUF_BYTES);
        }
        // By number rather than the bind() bitmask: the mask cannot name groups above 32.
        for (const g of groups) setsockoptInt(eventFd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, g);
      }
    } catch (e) {
      closeFd(fd);
      if (eventFd >= 0) closeFd(eventFd);
      throw e;
    }
    return new Rtnl(fd, eventFd, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
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
  addAddress(spec: RtnlAddrSpec): Promise<void> {
    const full: AddrSpec = {
      ...spec,
      family: inferFamily(spec.address, spec.family),
      proto: spec.proto ?? IFA_PROTO_HACORE,
    };
    return this.#ack(
      "RTM_NEWADDR",
      "add",
      (o) => buildNewAddr(full, o),
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
  delAddress(spec: RtnlAddrSpec): Promise<void> {
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
    return this.#ack(
      "RTM_DELADDR",
      "del",
      (o) => buildDelAddr(full, o),
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
  addRoute(spec: RtnlRouteSpec): Promise<void> {
    const full: RouteSpec = {
      ...spec,
      family: inferFamily(spec.dst ?? spec.gateway, spec.family),
      table: spec.table ?? RT_TABLE_MAIN,
      protocol: spec.protocol ?? RTPROT_HACORE,
      scope: spec.scope ?? (spec.gateway !== undefined ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK),
      type: spec.type ?? RTN_UNICAST,
    };
    return this.#ack(
      "RTM_NEWROUTE",
      "add",
      (o) => buildNewRoute(full, o),
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
  delRoute(spec: RtnlRouteSpec): Promise<void> {
    const full: RouteSpec = {
      ...spec,
      family: inferFamily(spec.dst ?? spec.gateway, spec.family),
      table: spec.table ?? RT_TABLE_MAIN,
      protocol: spec.protocol ?? RTPROT_HACORE,
      scope: spec.scope ?? RT_SCOPE_NOWHERE,
      type: spec.type ?? RTN_UNSPEC,
    };
    return this.#ack(
      "RTM_DELROUTE",
      "del",
      (o) => buildDelRoute(full, o),
      () => this.#routeTarget(spec),
    );
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
  addMacvlan(spec: MacvlanSpec): Promise<void> {
    return this.#ack(
      "RTM_NEWLINK",
      "add",
      (o) => buildNewMacvlan(spec, o),
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
  setLink(index: number, change: LinkChange, ifname?: string): Promise<void> {
    return this.#ack(
      "RTM_NEWLINK",
      "set",
      (o) => buildSetLink(index, change, o),
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
  delLink(index: number, ifname?: string): Promise<void> {
    return this.#ack(
      "RTM_DELLINK",
      "del",
      (o) => buildDelLink(index, o),
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
    const all = await this.#dump("addresses", (o) => buildGetAddrDump(family, o));
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
    const all = await this.#dump("links", (o) => buildGetLinkDump(o));
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
    const all = await this.#dump("routes", (o) => buildGetRouteDump(family, o));
    return all.filter((m): m is RouteMessage => m.kind === "route");
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
      const got = await this.#exchange(
        "RTM_GETLINK",
        "get",
        () => `link #${index}`,
        (o) => buildGetLink(index, o),
        "single",
      );
      return got.find((m): m is LinkMessage => m.kind === "link") ?? null;
    } catch (e) {
      if (e instanceof NetlinkError && e.code === "ENODEV") return null;
      throw e;
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
  async *events(): AsyncGenerator<NetlinkMessage, void, undefined> {
    const poller = this.#eventPoller;
    if (!poller || this.#eventFd < 0) throw new Error("Rtnl was opened without event groups");
    if (this.#iterating) throw new Error("Rtnl.events() is already being iterated");
    this.#iterating = true;
    try {
      while (!this.#closed) {
        let got: ReturnType<typeof recvMsg>;
        try {
          got = recvMsg(this.#eventFd, this.#eventBuf);
        } catch (e) {
          if (e instanceof SyscallError && e.errno === ENOBUFS) {
            yield { kind: "overrun" };
            continue;
          }
          throw e;
        }
        if (got === null) {
          // close() wakes this wait; a wait refused because close() just ran ends the loop too.
          await poller.wait([this.#eventFd], -1).catch(() => []);
          continue;
        }
        if (got.flags & MSG_TRUNC) {
          yield {
            kind: "malformed",
            offset: 0,
            reason: `event datagram truncated (${got.n} bytes)`,
          };
          continue;
        }
        for (const m of parseMessages(this.#eventBuf.subarray(0, got.n))) {
          yield m;
          if (this.#closed) return;
        }
      }
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
    if (this.#closed) return;
    this.#closed = true;
    this.#poller.close();
    this.#eventPoller?.close();
    await this.#poller.settled();
    await this.#eventPoller?.settled();
    closeFd(this.#fd);
    if (this.#eventFd >= 0) closeFd(this.#eventFd);
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
      const link = await this.#exchangeUnlocked(
        "RTM_GETLINK",
        "get",
        () => Promise.resolve(`link #${index}`),
        (o) => buildGetLink(index, o),
        "single",
      );
      const l = link.find((m): m is LinkMessage => m.kind === "link");
      return l?.name ?? `#${index}`;
    } catch {
      return `#${index}`;
    }
  }

  #ack(
    call: string,
    operation: string,
    build: (o: BuildOptions) => Uint8Array,
    target: () => Promise<string>,
  ): Promise<void> {
    return this.#exchange(call, operation, target, build, "ack").then(() => {});
  }

  async #dump(what: string, build: (o: BuildOptions) => Uint8Array): Promise<NetlinkMessage[]> {
    for (let attempt = 1;; attempt++) {
      const msgs = await this.#exchange(
        "dump",
        "dump",
        () => Promise.resolve(what),
        build,
        "dump",
      );
      const interrupted = msgs.some((m) =>
        m.kind !== "overrun" && (m.header?.flags ?? 0) & NLM_F_DUMP_INTR
      );
      if (!interrupted || attempt >= DUMP_ATTEMPTS) return msgs;
    }
  }

  #exchange(
    call: string,
    operation: string,
    target: () => Promise<string> | string,
    build: (o: BuildOptions) => Uint8Array,
    mode: "ack" | "dump" | "single",
  ): Promise<NetlinkMessage[]> {
    // One request in flight per socket: replies are matched by sequence number, but a
    // dump's parts must be read by the one waiter that asked for them.
    const run = this.#queue.then(() =>
      this.#exchangeUnlocked(call, operation, async () => await target(), build, mode)
    );
    this.#queue = run.catch(() => {});
    return run;
  }

  async #exchangeUnlocked(
    call: string,
    operation: string,
    target: () => Promise<string>,
    build: (o: BuildOptions) => Uint8Array,
    mode: "ack" | "dump" | "single",
  ): Promise<NetlinkMessage[]> {
    if (this.#closed) throw new NetlinkError(call, operation, await target(), EBADF);
    const seq = this.#seq = (this.#seq + 1) >>> 0;
    const msg = build({ seq });
    if (sendTo(this.#fd, msg, sockaddrNl()) === null) {
      throw new NetlinkError(call, operation, await target(), ENOBUFS);
    }
    const deadline = performance.now() + this.#timeoutMs;
    const collected: NetlinkMessage[] = [];
    for (;;) {
      // close() may have released the fd while we waited; its number could be reused.
      if (this.#closed) throw new NetlinkError(call, operation, await target(), EBADF);
      const got = recvMsg(this.#fd, this.#buf);
      if (got === null) {
        const left = deadline - performance.now();
        if (left <= 0) throw new NetlinkError(call, operation, await target(), ETIMEDOUT);
        await this.#poller.wait([this.#fd], left).catch(() => []);
        continue;
      }
      if (got.flags & MSG_TRUNC) {
        throw new NetlinkError(call, operation, await target(), EBADMSG, "reply truncated");
      }
      for (const m of parseMessages(this.#buf.subarray(0, got.n))) {
        if (m.kind === "malformed") {
          if (m.header && m.header.seq !== seq) continue;
          throw new NetlinkError(call, operation, await target(), EBADMSG, m.reason);
        }
        if (!("header" in m) || !m.header || m.header.seq !== seq) continue; // stale reply
        if (m.kind === "error") {
          if (m.errno === 0) return collected;
          throw new NetlinkError(call, operation, await target(), m.errno, m.extAckMessage);
        }
        if (m.kind === "done") {
          if (m.errno !== 0) throw new NetlinkError(call, operation, await target(), m.errno);
          return collected;
        }
        collected.push(m);
        if (mode === "single") return collected;
      }
    }
  }
}

function trySetsockopt(fd: number, level: number, name: number, value: number): boolean {
  try {
    setsockoptInt(fd, level, name, value);
    return true;
  } catch {
    return false;
  }
}
