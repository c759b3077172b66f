/**
 * The production {@link AddressPort}: the kernel's addresses over rtnetlink.
 *
 * Two kinds of rtnetlink socket: one for requests (dumps, adds, deletes), opened with
 * the port, and one subscribed to link and address groups per {@link
 * RtnlAddressPort.watch}, opened when the watch starts. Both come from `openRtnl`, so a
 * test can open them inside a network namespace; production opens them where the daemon
 * runs.
 *
 * Addresses are reported by interface name, the kernel speaks in indexes: a link table
 * (a link dump) translates. While a watch runs, its RTM_NEWLINK / RTM_DELLINK events keep
 * the table current; otherwise every call re-reads it, so a renamed or re-created
 * interface is never looked up stale.
 *
 * @module
 */

import { defaultReactor } from "./reactor.ts";
import type { Family } from "../net/addr.ts";

import type {
  AddressPort,
  AddressScope,
  AddressSpec,
  KernelAddress,
  KernelEvent,
  PrimaryAddresses,
} from "./ports.ts";
import { ENODEV } from "./errno.ts";
import { AF_INET, AF_INET6 } from "./libc.ts";
import {
  type AddrMessage,
  broadcastOf,
  hacoreLabel,
  IFA_F_NODAD,
  isHacoreAddress,
  kernelSupportsIfaProto,
  type LinkMessage,
  RT_SCOPE_HOST,
  RT_SCOPE_LINK,
  RT_SCOPE_SITE,
  RT_SCOPE_UNIVERSE,
  type RtnlMessage as NetlinkMessage,
} from "./netlink/rtnl_codec.ts";
import { DEFAULT_GROUPS, NetlinkError, Rtnl, type RtnlOptions } from "./netlink/rtnl.ts";
import { procSysctls, type Sysctls } from "./vmac.ts";
import {
  type InterfaceInfo,
  interfaceInfo as readInterfaceInfo,
  linkIsUp,
  readPrimaryAddresses,
} from "./interfaces.ts";

function promotePath(dev: string): string {
  return `net/ipv4/conf/${dev}/promote_secondaries`;
}

/** RT_SCOPE_* of each configured VIP scope. */
export const SCOPE_VALUES: Readonly<Record<AddressScope, number>> = Object.freeze({
  global: RT_SCOPE_UNIVERSE,
  site: RT_SCOPE_SITE,
  link: RT_SCOPE_LINK,
  host: RT_SCOPE_HOST,
});

// After an event socket fails (it should not), wait this long before subscribing again.
const RESUBSCRIBE_DELAY_MS = 1000;

/**
 * Options of {@link RtnlAddressPort.open}.
 *
 * @example
 * ```ts
 * const opts: AddressPortOptions = { openRtnl: (o) => inNetns(ns, () => Rtnl.open(o)) };
 * ```
 */
export interface AddressPortOptions {
  /** Opens an rtnetlink client; `Rtnl.open` by default. Called for the request socket
   * at once and for each watch's event socket when that watch (re)subscribes. */
  openRtnl?: (opts: RtnlOptions) => Rtnl;
  /**
   * Whether the kernel keeps `IFA_PROTO` (Linux ≥ 6.1). When it does not, IPv4 VIPs
   * without a configured label get hacore's label so a restarted daemon can still tell
   * them apart. Read from `Deno.osRelease()` by default.
   */
  ifaProto?: boolean;
  /** Delay before a failed event subscription is opened again; 1000 ms by default. */
  resubscribeDelayMs?: number;
  /**
   * Where `promote_secondaries` is set (see {@link RtnlAddressPort.add}); null leaves
   * it alone. By default /proc/sys, unless `openRtnl` is given: a port whose sockets
   * live in another namespace cannot reach that namespace's sysctls through ours.
   */
  sysctls?: Sysctls | null;
}

/**
 * The kernel's addresses over rtnetlink, tagged as hacore's on the way in.
 *
 * @example
 * ```ts
 * const port = RtnlAddressPort.open();
 * await port.add({ address: "192.0.2.100", prefix: 24, dev: "eth0", label: null,
 *   scope: "global", family: "ipv4" });
 * const mine = (await port.list("eth0")).filter((a) => a.hacore);
 * const stop = port.watch((e) => inbox.push(e));
 * stop();
 * await port.close();
 * ```
 */
export class RtnlAddressPort implements AddressPort {
  /** The request socket; also what {@link RtnlAddressPort.primaries} reads. */
  readonly rtnl: Rtnl;
  readonly #openRtnl: (opts: RtnlOptions) => Rtnl;
  readonly #ifaProto: boolean;
  readonly #resubscribeDelayMs: number;
  #links = new Map<number, LinkMessage>();
  // Watches whose subscription is up: while any is, events keep #links current.
  #liveWatches = 0;
  #watches = new Set<AddressWatch>();
  #closed = false;
  readonly #sysctls: Sysctls | null;
  /** Interfaces whose `promote_secondaries` was looked at (set or not). */
  #promoteSeen = new Set<string>();
  /** Interfaces whose `promote_secondaries` hacore turned on, with the value to restore. */
  #promoted = new Map<string, number>();

  private constructor(rtnl: Rtnl, opts: AddressPortOptions) {
    this.rtnl = rtnl;
    this.#sysctls = opts.sysctls !== undefined
      ? opts.sysctls
      : opts.openRtnl === undefined
      ? procSysctls
      : null;
    this.#openRtnl = opts.openRtnl ?? ((o) => Rtnl.open(o));
    this.#ifaProto = opts.ifaProto ?? kernelSupportsIfaProto(Deno.osRelease());
    this.#resubscribeDelayMs = opts.resubscribeDelayMs ?? RESUBSCRIBE_DELAY_MS;
  }

  /**
   * Opens the request socket (no subscriptions: events come per watch).
   *
   * @example
   * ```ts
   * const port = RtnlAddressPort.open();
   * ```
   * @throws {SyscallError} when the netlink socket cannot be opened.
   */
  static open(opts: AddressPortOptions = {}): RtnlAddressPort {
    const open = opts.openRtnl ?? ((o: RtnlOptions) => Rtnl.open(o));
    return new RtnlAddressPort(open({ groups: [] }), opts);
  }

  /**
   * Every address on `dev` (every interface when omitted), with `hacore` set for the
   * ones hacore installed. An unknown `dev` has no addresses.
   *
   * @example
   * ```ts
   * const stale = (await port.list()).filter((a) => a.hacore);
   * ```
   */
  async list(dev?: string): Promise<KernelAddress[]> {
    if (this.#liveWatches === 0) await this.#refreshLinks();
    const dump = await this.rtnl.dumpAddresses();
    if (dump.some((m) => !this.#links.has(m.index))) await this.#refreshLinks();
    const out: KernelAddress[] = [];
    for (const m of dump) {
      const name = this.#links.get(m.index)?.name;
      if (name === undefined || (dev !== undefined && name !== dev)) continue;
      const k = toKernelAddress(m, name);
      if (k) out.push(k);
    }
    return out;
  }

  /**
   * Installs a VIP: `IFA_PROTO` = hacore's, the configured label (IPv4; hacore's own
   * label instead when none is configured and the kernel drops `IFA_PROTO`), its scope,
   * the directed broadcast for IPv4, and `IFA_F_NODAD` for IPv6.
   *
   * @example
   * ```ts
   * await port.add({ address: "2001:db8::100", prefix: 64, dev: "eth0", label: null,
   *   scope: "global", family: "ipv6" });
   * ```
   * @throws {NetlinkError} e.g. `add 192.0.2.100/24 dev eth0: EEXIST (File exists)`, or
   * ENODEV when `dev` does not exist.
   */
  async add(spec: AddressSpec): Promise<void> {
    const index = await this.#indexOf(spec.dev, "RTM_NEWADDR", "add", spec);
    const v4 = spec.family === "ipv4";
    if (v4) await this.#promoteSecondaries(spec.dev);
    const label = v4
      ? (spec.label ?? (this.#ifaProto ? undefined : hacoreLabel(spec.dev)))
      : undefined;
    await this.rtnl.addAddress({
      index,
      ifname: spec.dev,
      family: v4 ? AF_INET : AF_INET6,
      address: spec.address,
      prefixLen: spec.prefix,
      label,
      scope: SCOPE_VALUES[spec.scope],
      broadcast: v4 ? broadcastOf(spec.address, spec.prefix) : undefined,
      // A VIP must answer at once; DAD would also fail against the old master still
      // holding it during a handover.
      flags: v4 ? 0 : IFA_F_NODAD,
    });
  }

  /**
   * Turns `promote_secondaries` on for `dev` ahead of its first IPv4 VIP (see
   * {@link RtnlAddressPort.add}), so that a takeover's add does not read and write the
   * sysctl on its way.
   *
   * @example
   * ```ts
   * await port.prepare("eth0", "ipv4");
   * ```
   */
  async prepare(dev: string, family: Family): Promise<void> {
    if (family === "ipv4") await this.#promoteSecondaries(dev);
  }

  /**
   * The interfaces whose `net.ipv4.conf.DEV.promote_secondaries` this port turned on,
   * to be put back by {@link RtnlAddressPort.close}.
   *
   * @example
   * ```ts
   * port.promotedInterfaces(); // ["eth0"]
   * ```
   */
  promotedInterfaces(): string[] {
    return [...this.#promoted.keys()];
  }

  /**
   * Removes an address, matched on interface, address and prefix.
   *
   * @example
   * ```ts
   * for (const a of await port.list("eth0")) if (a.hacore) await port.remove(a);
   * ```
   * @throws {NetlinkError} `EADDRNOTAVAIL` when it is not there, ENODEV when `dev` is gone.
   */
  async remove(address: KernelAddress): Promise<void> {
    const index = await this.#indexOf(address.dev, "RTM_DELADDR", "del", {
      address: address.address,
      prefix: address.prefix,
      dev: address.dev,
    });
    await this.rtnl.delAddress({
      index,
      ifname: address.dev,
      family: address.family === "ipv4" ? AF_INET : AF_INET6,
      address: address.address,
      prefixLen: address.prefix,
    });
  }

  /**
   * Follows address and link changes on a socket of its own until the returned
   * function is called; after that call no event is delivered. Kernel overruns (and a
   * failed subscription, which is re-opened) are reported as `resync`.
   *
   * @example
   * ```ts
   * const stop = port.watch((e) => {
   *   if (e.kind === "addr-removed") reconcileSoon();
   * });
   * stop();
   * ```
   */
  watch(onEvent: (event: KernelEvent) => void): () => void {
    if (this.#closed) return () => {};
    const host: WatchHost = {
      resubscribeDelayMs: this.#resubscribeDelayMs,
      openEvents: () => this.#openRtnl({ groups: DEFAULT_GROUPS }),
      ended: (x) => this.#watches.delete(x),
      setLive: (delta) => this.#liveWatches += delta,
      linkName: (index) => this.#links.get(index)?.name,
      applyLink: (m) => {
        if (m.deleted) this.#links.delete(m.index);
        else this.#links.set(m.index, m);
      },
      refreshLinks: () => this.#refreshLinks(),
    };
    const w = new AddressWatch(host, onEvent);
    this.#watches.add(w);
    w.start();
    return () => w.stop();
  }

  /**
   * The IPv4 primary and IPv6 link-local address of every interface.
   *
   * @example
   * ```ts
   * (await port.primaries()).get("eth0"); // { ipv4: "192.0.2.11", ipv6: "fe80::11" }
   * ```
   */
  primaries(): Promise<PrimaryAddresses> {
    return readPrimaryAddresses(this.rtnl);
  }

  /**
   * Every interface's link state by name: up means `IFF_UP`, `IFF_RUNNING` and
   * `IFF_LOWER_UP` all set, the same rule `watch` uses for its link events.
   *
   * @example
   * ```ts
   * (await port.linkStates()).get("eth0"); // true
   * ```
   */
  async linkStates(): Promise<ReadonlyMap<string, boolean>> {
    const out = new Map<string, boolean>();
    for (const link of await this.rtnl.dumpLinks()) {
      if (link.name) out.set(link.name, linkIsUp(link));
    }
    return out;
  }

  /**
   * Index, MAC, state and MTU of `dev`, or null when there is no such interface.
   *
   * @example
   * ```ts
   * (await port.interfaceInfo("eth0"))?.mac; // "52:54:00:12:34:56"
   * ```
   */
  interfaceInfo(dev: string): Promise<InterfaceInfo | null> {
    return readInterfaceInfo(this.rtnl, dev);
  }

  /**
   * Stops every watch, waits until their sockets are closed, and closes the request
   * socket.
   *
   * @example
   * ```ts
   * await port.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const watches = [...this.#watches];
    for (const w of watches) w.stop();
    await Promise.all(watches.map((w) => w.done));
    await this.#restorePromoteSecondaries();
    await this.rtnl.close();
  }

  /**
   * Before hacore's first IPv4 address on `dev`: turns `promote_secondaries` on while
   * hacore runs. Without it, removing the address the kernel made primary for a subnet
   * deletes every secondary in that subnet: 50 VIPs in one subnet other than the
   * interface's own would all vanish when the first is released. Best effort: the
   * reconcile also removes secondaries first.
   */
  async #promoteSecondaries(dev: string): Promise<void> {
    if (this.#sysctls === null || this.#promoteSeen.has(dev)) return;
    this.#promoteSeen.add(dev);
    const path = promotePath(dev);
    try {
      const old = await this.#sysctls.read(path);
      if (old !== 0) return;
      await this.#sysctls.write(path, 1);
      this.#promoted.set(dev, old);
    } catch {
      // Not ours to insist on (a read-only /proc/sys in a container): the removal order
      // still keeps the cascade away in the common case.
    }
  }

  async #restorePromoteSecondaries(): Promise<void> {
    if (this.#sysctls === null) return;
    for (const [dev, old] of this.#promoted) {
      try {
        await this.#sysctls.write(promotePath(dev), old);
      } catch {
        // The interface is gone, and its setting with it.
      }
    }
    this.#promoted.clear();
  }

  // -------------------------------------------------------------------------------------

  async #refreshLinks(): Promise<LinkMessage[]> {
    const links = await this.rtnl.dumpLinks();
    this.#links = new Map(links.map((l) => [l.index, l]));
    return links;
  }

  async #indexOf(
    dev: string,
    call: string,
    operation: string,
    what: { address: string; prefix: number; dev: string },
  ): Promise<number> {
    const find = () => [...this.#links.values()].find((l) => l.name === dev)?.index;
    let index = this.#liveWatches > 0 ? find() : undefined;
    if (index === undefined) {
      await this.#refreshLinks();
      index = find();
    }
    if (index === undefined) {
      throw new NetlinkError(call, operation, `${what.address}/${what.prefix} dev ${dev}`, ENODEV);
    }
    return index;
  }
}

/**
 * The port's view of an address message, or null for one without an address.
 *
 * @example
 * ```ts
 * toKernelAddress(msg, "eth0"); // { dev: "eth0", address: "192.0.2.11", prefix: 24, ... }
 * ```
 */
export function toKernelAddress(m: AddrMessage, dev: string): KernelAddress | null {
  const family = m.family === AF_INET ? "ipv4" : m.family === AF_INET6 ? "ipv6" : null;
  if (family === null) return null;
  // IPv4 keeps our own address in IFA_LOCAL (IFA_ADDRESS is the peer on point-to-point
  // links); IPv6 reports only IFA_ADDRESS.
  const address = family === "ipv4" ? (m.local ?? m.address) : (m.address ?? m.local);
  if (address === undefined) return null;
  return {
    dev,
    address,
    prefix: m.prefixLen,
    family,
    label: m.label ?? null,
    hacore: isHacoreAddress(m),
  };
}

// What a watch may touch of its port: the link table and the socket factory.
interface WatchHost {
  readonly resubscribeDelayMs: number;
  openEvents(): Rtnl;
  ended(w: AddressWatch): void;
  setLive(delta: 1 | -1): void;
  linkName(index: number): string | undefined;
  applyLink(m: LinkMessage): void;
  refreshLinks(): Promise<LinkMessage[]>;
}

// One watch: its own subscribed socket, the link states it last reported, and a loop
// that turns notifications into KernelEvents.
class AddressWatch {
  readonly #port: WatchHost;
  readonly #onEvent: (event: KernelEvent) => void;
  #stopped = false;
  #events: Rtnl | null = null;
  #closing: Promise<void>[] = [];
  #sleep = new AbortController();
  // Last reported state per link index: up (true) or not.
  #up = new Map<number, boolean>();
  done: Promise<void> = Promise.resolve();

  constructor(port: WatchHost, onEvent: (event: KernelEvent) => void) {
    this.#port = port;
    this.#onEvent = onEvent;
  }

  start(): void {
    this.done = this.#run().catch(() => {}).then(async () => {
      await Promise.all(this.#closing);
      this.#port.ended(this);
    });
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#sleep.abort();
    this.#closeEvents();
  }

  #closeEvents(): void {
    const ev = this.#events;
    this.#events = null;
    if (ev) this.#closing.push(ev.close().catch(() => {}));
  }

  #emit(e: KernelEvent): void {
    if (this.#stopped) return;
    try {
      this.#onEvent(e);
    } catch {
      // Callbacks must not throw (ports.ts); one that does must not end the watch.
    }
  }

  async #run(): Promise<void> {
    let first = true;
    while (!this.#stopped) {
      let live = false;
      try {
        const events = this.#port.openEvents();
        this.#events = events;
        // Subscribed first, then the baseline: a change between the two shows up as an
        // event, never as a gap.
        await this.#baseline(!first);
        if (this.#stopped) break;
        if (!first) this.#emit({ kind: "resync" });
        first = false;
        this.#port.setLive(1);
        live = true;
        for await (const m of events.events()) {
          if (this.#stopped) break;
          await this.#handle(m);
        }
      } catch {
        // A broken subscription: whatever happened meanwhile is unknown.
        if (!this.#stopped) this.#emit({ kind: "resync" });
      } finally {
        if (live) this.#port.setLive(-1);
        this.#closeEvents();
      }
      if (!this.#stopped) await this.#pause();
    }
  }

  #pause(): Promise<void> {
    // On the reactor's clock: a blocking wait would hold a Deno timer back.
    const reactor = defaultReactor();
    return reactor.sleepUntil(reactor.nowMs() + this.#port.resubscribeDelayMs, this.#sleep.signal);
  }

  // Re-reads the links and, unless this is the first baseline, reports every link
  // whose state changed since it was last reported.
  async #baseline(report: boolean): Promise<void> {
    const links = await this.#port.refreshLinks();
    const seen = new Set<number>();
    for (const l of links) {
      seen.add(l.index);
      const up = linkIsUp(l);
      const before = this.#up.get(l.index);
      this.#up.set(l.index, up);
      if (report && before !== undefined && before !== up && l.name !== undefined) {
        this.#emit({ kind: up ? "link-up" : "link-down", interface: l.name });
      }
    }
    for (const index of [...this.#up.keys()]) {
      if (!seen.has(index)) this.#up.delete(index);
    }
  }

  async #handle(m: NetlinkMessage): Promise<void> {
    switch (m.kind) {
      case "overrun":
        await this.#baseline(true);
        this.#emit({ kind: "resync" });
        return;
      case "link":
        this.#link(m);
        return;
      case "addr": {
        let name = this.#port.linkName(m.index);
        if (name === undefined) {
          await this.#port.refreshLinks();
          name = this.#port.linkName(m.index);
        }
        const k = name === undefined ? null : toKernelAddress(m, name);
        // An address on a link we cannot name (gone already): the daemon re-reads all.
        if (k === null) this.#emit({ kind: "resync" });
        else {
          this.#emit({
            kind: m.deleted ? "addr-removed" : "addr-added",
            interface: k.dev,
            address: k.address,
          });
        }
        return;
      }
      default:
        // Routes are not subscribed; malformed and unknown messages carry nothing usable.
        return;
    }
  }

  #link(m: LinkMessage): void {
    const name = m.name ?? this.#port.linkName(m.index);
    // Before applyLink: a deleted link's lower device is still named.
    const over = this.#lowerOf(m);
    this.#port.applyLink(m);
    const before = this.#up.get(m.index);
    if (m.deleted) {
      this.#up.delete(m.index);
      // A deleted link is news even when it was down: its sockets' index is gone.
      if (before !== undefined && name !== undefined) {
        this.#emit({ kind: "link-down", interface: name, removed: true, ...over });
      }
      return;
    }
    const up = linkIsUp(m);
    this.#up.set(m.index, up);
    // A link seen for the first time is news only when it is up: a new link that is
    // down changes nothing for an instance that could not use it before either.
    if (before === undefined ? up : before !== up) {
      if (name !== undefined) {
        this.#emit({ kind: up ? "link-up" : "link-down", interface: name, ...over });
      }
    }
  }

  /** `over` of a macvlan or ipvlan: its lower link's name (keepalived's allow_if_changes). */
  #lowerOf(m: LinkMessage): { over?: string } {
    if (m.linkKind !== "macvlan" && m.linkKind !== "ipvlan") return {};
    if (m.link === undefined) return { over: "?" };
    return { over: this.#port.linkName(m.link) ?? `#${m.link}` };
  }
}
