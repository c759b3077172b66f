/**
 * The seams between the daemon and the operating system: the small interfaces the
 * daemon talks to the kernel and the clock through. This room's adapters implement them
 * over FFI sockets and rtnetlink; tests and the simulator implement them over memory.
 * They live here, beside their production implementations, so that `lib/sys` imports
 * nothing from the daemon (the daemon re-exports them from `lib/daemon/ports.ts`).
 *
 * Conventions shared by every port:
 * - addresses are canonical text (`lib/net/addr.ts`), families are `"ipv4" | "ipv6"`;
 * - callbacks handed to a port are called from the JS thread, never re-entrantly from
 *   inside a call the daemon is making into the same port, and must not throw (the
 *   daemon's never do); they only queue work for the daemon's loop;
 * - everything that subscribes or opens returns a way to stop, and after it has been
 *   called no callback fires any more (so a stopped daemon leaves nothing running).
 *
 * @module
 */

import type { Family } from "../net/addr.ts";
import type {
  IpvsDest,
  IpvsInfo,
  IpvsService,
  IpvsServiceEntry,
  IpvsSyncDaemon,
  IpvsTimeouts,
} from "./netlink/ipvs_types.ts";

/**
 * Address scope as `ip addr add ... scope` takes it (the config's `VipScope`).
 *
 * @example
 * ```ts
 * const s: AddressScope = "global";
 * ```
 */
export type AddressScope = "global" | "site" | "link" | "host";

/**
 * Monotonic time and waiting. The engine's deadlines are in this clock's
 * milliseconds, so it must never jump (no wall clock: NTP steps would fire or starve
 * every timer).
 *
 * @example
 * ```ts
 * const ac = new AbortController();
 * await clock.sleepUntil(clock.nowMs() + 100, ac.signal); // ~100 ms later
 * ```
 */
export interface Clock {
  /** Milliseconds on a monotonic scale, possibly fractional. */
  nowMs(): number;
  /**
   * Resolves at or after `atMs` (at once when it has passed), or as soon as `signal`
   * aborts. Never rejects. An aborted sleep leaves no timer behind.
   */
  sleepUntil(atMs: number, signal: AbortSignal): Promise<void>;
}

/** setTimeout takes a signed 32-bit delay; longer sleeps wake early and sleep again. */
const MAX_TIMER_MS = 0x7fffffff;

/**
 * The production clock: `performance.now()` (monotonic, sub-millisecond) and
 * `setTimeout`. A sleep cut short by its signal clears its timer, so Deno's test
 * sanitizers and a clean exit both see nothing pending.
 *
 * @example
 * ```ts
 * const t0 = systemClock.nowMs();
 * await systemClock.sleepUntil(t0 + 10, new AbortController().signal);
 * ```
 */
export const systemClock: Clock = Object.freeze({
  nowMs: () => performance.now(),
  sleepUntil(atMs: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      // Timers have millisecond resolution; rounding up keeps us from waking a hair
      // early and spinning on a deadline that is not due yet.
      const delay = Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(atMs - performance.now())));
      const onAbort = () => {
        clearTimeout(id);
        resolve();
      };
      const id = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      }, delay);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  },
});

/**
 * A VRRP packet as received: the VRRP payload (after the IP header) and the IP facts
 * the codec needs. The interface and family are those of the transport it came in on.
 *
 * @example
 * ```ts
 * const p: ReceivedPacket = { bytes, src: "192.0.2.12", dst: "224.0.0.18", ttl: 255 };
 * ```
 */
export interface ReceivedPacket {
  /** The VRRP message only: IPv4 total length / IPv6 payload length, no padding. */
  readonly bytes: Uint8Array;
  /** IP source address. */
  readonly src: string;
  /** IP destination address (the group, or our own address for unicast). */
  readonly dst: string;
  /** IPv4 TTL or IPv6 hop limit as received (`IP_RECVTTL` / `IPV6_RECVHOPLIMIT`). */
  readonly ttl: number;
  /**
   * The sender's link-layer address ("aa:bb:cc:dd:ee:ff") when the transport can tell
   * it: peer MAC pinning and the priority-0 rule use it, and do without it otherwise.
   */
  readonly srcMac?: string;
  /**
   * When the kernel received it, on the daemon's clock (`performance.now()` scale),
   * when the transport can tell; never later than when it was read. A packet read
   * late (a stall, or a Backup's routine advert read on the next wake) counts from
   * then, so its Master_Down timer runs from the advert, not from the read.
   */
  readonly atMs?: number;
  /**
   * How many identical routine adverts (see {@link VrrpTransport.expectRoutine}) this
   * one stands for: read back to back, byte for byte the same, handed on once with
   * the last one's arrival. Counted as that many; absent: one.
   */
  readonly repeats?: number;
}

/**
 * What the daemon asks for when it opens a transport: one per (interface, family)
 * used by any instance.
 *
 * @example
 * ```ts
 * const req: TransportRequest = { interface: "eth0", family: "ipv4", group: "224.0.0.18" };
 * ```
 */
export interface TransportRequest {
  readonly interface: string;
  readonly family: Family;
  /** Multicast group to join on the interface (`vrrp_mcast_group4/6`). */
  readonly group: string;
}

/**
 * An open VRRP endpoint on one interface for one family: raw IP protocol 112, bound to
 * the interface, joined to the group, sending with TTL / hop limit 255.
 *
 * @example
 * ```ts
 * t.send(bytes, "224.0.0.18", "192.0.2.11");
 * t.close();
 * ```
 */
export interface VrrpTransport {
  /**
   * Sends one VRRP message (the IP payload) to `dst` from `src`. `src` is given
   * because the checksum was computed over it (v3 pseudo-header): the OS layer must
   * use exactly that source (`IP_PKTINFO`, or its own IP header). Throws on a local
   * error (ENETDOWN, ENOBUFS, ...); the daemon counts and logs it.
   *
   * `via` names another interface to send out of: an instance's virtual-MAC macvlan
   * (`use_vmac`) on this transport's interface, so the frame carries the virtual
   * router's MAC (RFC 5798 §7.3) while `src` stays the interface's own address and
   * receiving stays on the transport's interface. `ttl` (IPv4) replaces the RFC's 255:
   * keepalived's `unicast_ttl`, for unicast adverts that cross routers.
   */
  send(bytes: Uint8Array, dst: string, src: string, via?: string, ttl?: number): void;
  /**
   * Optional: the adverts a Backup here hears from its Master every interval, which
   * change nothing but a timer. Such an advert need not wake the loop: it may be
   * delivered (with its {@link ReceivedPacket.atMs}) on the next wake, which every
   * deadline is; any other packet wakes the loop as before. An empty list: every packet
   * wakes it. The system transport lets them wait only where it follows several
   * (`DOORBELL_MIN_ROUTINE` in `lib/sys/transport.ts`).
   * Transports that cannot tell when a packet arrived omit it.
   */
  expectRoutine?(routine: readonly RoutineAdvert[]): void;
  /**
   * Optional: readies what a first {@link VrrpTransport.send} of `bytes` needs (the
   * packet's framing, the call itself), sending nothing: a Backup's takeover then
   * sends at once.
   */
  prepareSend?(bytes: Uint8Array, dst: string, src: string): void;
  /** Leaves the group and closes; no packet is delivered afterwards. Idempotent. */
  close(): void;
}

/**
 * A Backup's routine advert: from its Master's address, with the first six bytes of
 * the VRRP header (version and type, VRID, priority, count, and the VRRPv3 interval or
 * the VRRPv2 auth type and interval) as last heard.
 *
 * @example
 * ```ts
 * const r: RoutineAdvert = { src: "192.0.2.1", head: Uint8Array.of(0x31, 51, 150, 1, 0, 1) };
 * ```
 */
export interface RoutineAdvert {
  readonly src: string;
  readonly head: Uint8Array;
}

/**
 * Opens transports. `onPacket` receives every VRRP packet arriving on the interface
 * for the family until the transport is closed; the OS layer does no VRRP validation
 * (TTL included), the daemon does it all so every drop is counted in one place.
 *
 * @example
 * ```ts
 * const t = transports.open({ interface: "eth0", family: "ipv4", group: "224.0.0.18" },
 *   (p) => inbox.push(p));
 * ```
 */
export interface TransportFactory {
  /** Throws when the interface does not exist or the socket cannot be set up. */
  open(req: TransportRequest, onPacket: (packet: ReceivedPacket) => void): VrrpTransport;
  /**
   * Optional: synchronously delivers (through each transport's `onPacket`) whatever
   * the sockets hold right now, and returns how many packets that was. The daemon calls
   * it before firing an overdue deadline, so adverts queued during a stall count
   * before a Master_Down timer does. Factories without buffered input omit it.
   */
  drainNow?(): number;
}

/**
 * An address as the kernel holds it.
 *
 * @example
 * ```ts
 * const a: KernelAddress = {
 *   dev: "eth0", address: "192.0.2.100", prefix: 24, family: "ipv4", label: "eth0:hc", hacore: true,
 * };
 * ```
 */
export interface KernelAddress {
  /** Interface name. */
  readonly dev: string;
  /** Canonical text (IFA_LOCAL for IPv4, IFA_ADDRESS for IPv6). */
  readonly address: string;
  readonly prefix: number;
  readonly family: Family;
  /** IPv4 label, or null. */
  readonly label: string | null;
  /**
   * Installed by hacore: `IFA_PROTO` is hacore's, or (kernels before 6.1) the label
   * ends in hacore's suffix. Untagged addresses are never removed by hacore.
   */
  readonly hacore: boolean;
}

/**
 * An address to install: a configured VIP (`Vip` of `lib/config/schema.ts`) plus its
 * family. Spelled out rather than borrowed from the config so that this room does not
 * import the config's; the daemon passes `{ ...vip, family }`, so the compiler holds
 * the two in step.
 *
 * @example
 * ```ts
 * const spec: AddressSpec = {
 *   address: "192.0.2.100", prefix: 24, dev: "eth0", label: null, scope: "global", family: "ipv4",
 * };
 * ```
 */
export interface AddressSpec {
  /** Canonical address text. */
  readonly address: string;
  readonly prefix: number;
  readonly dev: string;
  /** IPv4 label, which must start with `dev`; always null for IPv6. */
  readonly label: string | null;
  readonly scope: AddressScope;
  readonly family: Family;
}

/**
 * A change the kernel reported (rtnetlink RTM_NEWADDR / RTM_DELADDR / RTM_NEWLINK).
 * Events are hints: the daemon re-reads the kernel's addresses before acting, so a
 * lost or coalesced event (ENOBUFS) costs nothing but latency.
 *
 * @example
 * ```ts
 * const e: KernelEvent = { kind: "addr-removed", interface: "eth0", address: "192.0.2.100" };
 * ```
 */
export type KernelEvent =
  | {
    readonly kind: "addr-added" | "addr-removed";
    readonly interface: string;
    readonly address: string;
  }
  | {
    readonly kind: "link-up" | "link-down";
    readonly interface: string;
    /** A link-down because the interface was deleted (RTM_DELLINK), not just down. */
    readonly removed?: boolean;
    /**
     * For a macvlan or ipvlan: the name of the link it sits on. keepalived's
     * `allow_if_changes` is about a re-created interface whose kind or lower link changed.
     */
    readonly over?: string;
  }
  /** Events were lost (ENOBUFS on the netlink socket): assume anything changed. */
  | { readonly kind: "resync" };

/**
 * The kernel's addresses, as rtnetlink will implement it.
 *
 * @example
 * ```ts
 * const mine = (await addresses.list("eth0")).filter((a) => a.hacore);
 * await addresses.add({ ...vip, family: "ipv4" }); // tagged as hacore's
 * const stop = addresses.watch((e) => inbox.push(e));
 * stop();
 * ```
 */
export interface AddressPort {
  /** Every address on `dev`, or on every interface when `dev` is omitted. */
  list(dev?: string): Promise<KernelAddress[]>;
  /**
   * Installs an address, tagged as hacore's (`IFA_PROTO`, or the label on older
   * kernels). IPv6 VIPs go in with `IFA_F_NODAD`: a VIP must answer at once, and DAD
   * would fail against the old master still holding it during a handover.
   */
  add(spec: AddressSpec): Promise<void>;
  /** Removes an address (matched on dev, address and prefix). */
  remove(address: KernelAddress): Promise<void>;
  /** Follows address and link changes until the returned function is called. */
  watch(onEvent: (event: KernelEvent) => void): () => void;
  /**
   * Whether each interface's link is up now (by name). `watch` reports only changes,
   * so the daemon reads this once at start to fault instances whose link is already
   * down. Optional: a port without it is taken as "all up".
   */
  linkStates?(): Promise<ReadonlyMap<string, boolean>>;
  /**
   * Optional: readies `dev` for a first VIP of `family` (what a first
   * {@link AddressPort.add} there would set up), adding nothing: a Backup's takeover
   * then adds at once. Never fails; the add reports what is wrong.
   */
  prepare?(dev: string, family: Family): Promise<void>;
}

/**
 * A route as hacore installs it and reads it back: a configured `RouteConfig`
 * (`lib/config/routes.ts`) without its bookkeeping, spelled out here (like
 * {@link AddressSpec}) so this room does not import the config's.
 *
 * @example
 * ```ts
 * const r: KernelRoute = {
 *   family: "ipv4", dst: "10.9.0.0", dstLen: 16, type: "unicast", src: null, via: "192.0.2.1",
 *   dev: "eth0", table: 254, metric: null, scope: null,
 * };
 * ```
 */
export interface KernelRoute {
  readonly family: Family;
  readonly dst: string;
  readonly dstLen: number;
  readonly type: "unicast" | "blackhole" | "unreachable" | "prohibit" | "throw";
  /** The preferred source (RTA_PREFSRC). */
  readonly src: string | null;
  readonly via: string | null;
  readonly dev: string | null;
  readonly table: number;
  /** null: the kernel's default (0 for IPv4, 1024 for IPv6). */
  readonly metric: number | null;
  readonly scope: "global" | "site" | "link" | "host" | null;
}

/**
 * A policy routing rule as hacore installs it and reads it back (`RuleConfig` of
 * `lib/config/routes.ts` without its bookkeeping).
 *
 * @example
 * ```ts
 * const r: KernelRule = {
 *   family: "ipv4", from: { address: "10.0.0.0", prefix: 24 }, to: null, iif: null, oif: null,
 *   fwmark: null, fwmask: null, tos: null, priority: 100, action: "lookup", table: 100, goto: null,
 *   invert: false,
 * };
 * ```
 */
export interface KernelRule {
  readonly family: Family;
  readonly from: { readonly address: string; readonly prefix: number } | null;
  readonly to: { readonly address: string; readonly prefix: number } | null;
  readonly iif: string | null;
  readonly oif: string | null;
  readonly fwmark: number | null;
  readonly fwmask: number | null;
  readonly tos: number | null;
  /** null when adding: the kernel picks one. */
  readonly priority: number | null;
  readonly action: "lookup" | "goto" | "nop" | "blackhole" | "unreachable" | "prohibit";
  /** The table of a `lookup` rule; 0 otherwise. */
  readonly table: number;
  readonly goto: number | null;
  readonly invert: boolean;
}

/**
 * The kernel's routes and rules that hacore installed (tagged `RTPROT_HACORE`), and
 * the calls to install and remove them. Only hacore's are ever listed, so nothing
 * else can be removed.
 *
 * @example
 * ```ts
 * for (const r of await routes.listRoutes()) await routes.removeRoute(r);
 * ```
 */
export interface RoutePort {
  /** hacore's routes, every table and family. */
  listRoutes(): Promise<KernelRoute[]>;
  addRoute(route: KernelRoute): Promise<void>;
  removeRoute(route: KernelRoute): Promise<void>;
  /** hacore's rules, both families. */
  listRules(): Promise<KernelRule[]>;
  addRule(rule: KernelRule): Promise<void>;
  removeRule(rule: KernelRule): Promise<void>;
}

/**
 * Gratuitous ARP / unsolicited neighbour advertisement for one address, so switches
 * and hosts learn the new master's MAC. The OS layer builds the frames with
 * `lib/sys/arp.ts` (`encodeGratuitousArp`) and `lib/sys/ndisc.ts`
 * (`encodeUnsolicitedNa`) from the interface's MAC. Throws on a local error; the
 * daemon counts and logs it.
 *
 * @example
 * ```ts
 * announcer.garp("eth0", "192.0.2.100");
 * announcer.unsolicitedNa("eth0", "2001:db8::100");
 * ```
 */
export interface Announcer {
  garp(dev: string, ip: string): void;
  unsolicitedNa(dev: string, ip: string): void;
  /**
   * Readies what a first GARP or NA for `ip` on `dev` needs (its socket, the frame's
   * code) without sending anything; errors are the first send's to report, not this.
   */
  prepare?(dev: string, kind: "garp" | "na", ip: string): void;
}

/**
 * A frame seen on an interface that tells the LAN where an address lives: an ARP reply,
 * a gratuitous ARP (sender IP = target IP) or an IPv6 neighbour advertisement. The VIP
 * guard compares `mac` with our own: another host claiming a VIP we hold as master.
 *
 * @example
 * ```ts
 * const c: VipClaim = { dev: "eth0", address: "192.0.2.100", mac: "02:00:00:00:00:66",
 *   kind: "garp", localMac: "02:00:00:00:00:11" };
 * ```
 */
export interface VipClaim {
  readonly dev: string;
  /** The address claimed: the ARP sender IP, or the NA's target. Canonical text. */
  readonly address: string;
  /** Who claims it: the ARP sender MAC, or the NA's target link-layer address (else the frame's source). */
  readonly mac: string;
  readonly kind: "arp-reply" | "garp" | "na";
  /** `dev`'s own MAC when the frame arrived, or null when it could not be read. */
  readonly localMac: string | null;
}

/**
 * Watches interfaces for {@link VipClaim}s, for the VIP guard: one packet socket per
 * watched interface, whose kernel filter keeps ARP replies, gratuitous ARPs and
 * neighbour advertisements only. Frames we sent ourselves are never reported.
 *
 * @example
 * ```ts
 * const stop = guard.watch("eth0", (c) => inbox.push(c));
 * stop(); // no claim is reported afterwards
 * ```
 */
export interface VipGuardPort {
  /** Throws when the interface does not exist or the socket cannot be set up. */
  watch(dev: string, onClaim: (claim: VipClaim) => void): () => void;
}

/**
 * A virtual-MAC interface an instance needs (`use_vmac`): a macvlan named `name` on
 * `parent` with the virtual router MAC, 00:00:5e:00:01:VRID for IPv4 and
 * 00:00:5e:00:02:VRID for IPv6 (RFC 5798 §7.3). Built by `vmacSpecOf` (vmac.ts).
 *
 * @example
 * ```ts
 * const spec: VmacSpec = { name: "vrrp.51", parent: "eth0", mac: "00:00:5e:00:01:33", ipv6: false };
 * ```
 */
export interface VmacSpec {
  readonly name: string;
  /** The instance's own interface, the macvlan's lower device. */
  readonly parent: string;
  /** Lowercase `aa:bb:cc:dd:ee:ff`. */
  readonly mac: string;
  /**
   * Whether IPv6 addresses live on it (an IPv6 instance, or IPv6 excluded VIPs). An
   * interface without them gets IPv6 turned off, so it never sends a frame (DAD, MLD,
   * router solicitation) with the virtual MAC from a Backup.
   */
  readonly ipv6: boolean;
}

/**
 * What {@link VmacPort.ensure} found: it made the macvlan now, took over one that was
 * already there and matched (its own leftover, or one an operator made), or everything
 * was in place since the last call.
 */
export type VmacOutcome = "created" | "adopted" | "present";

/**
 * Virtual-MAC interfaces: created (or adopted) on demand, removed when no instance wants
 * them any more. Implemented over rtnetlink and sysctls by `lib/sys/vmac.ts`.
 *
 * @example
 * ```ts
 * await vmacs.ensure({ name: "vrrp.51", parent: "eth0", mac: "00:00:5e:00:01:33", ipv6: false });
 * await vmacs.remove("vrrp.51");
 * ```
 */
export interface VmacPort {
  /**
   * Makes `spec.name` a macvlan on `spec.parent` with `spec.mac`, set up as a virtual
   * MAC needs and administratively up. Idempotent, and cheap once in place, so the
   * daemon calls it before every reconcile: a macvlan deleted by hand, or with its
   * parent, comes back. Throws when the parent is missing, or when `spec.name` is
   * taken by something else (which is never touched).
   */
  ensure(spec: VmacSpec): Promise<VmacOutcome>;
  /**
   * Deletes the macvlan when hacore made it (an adopted one is only given its settings
   * back) and restores what was changed on its parent once no other virtual MAC uses
   * it. Unknown names are ignored.
   */
  remove(name: string): Promise<void>;
}

/**
 * Each interface's own addresses: the IPv4 primary address and the IPv6 link-local
 * address, the sources of adverts when an instance sets no `unicast_src_ip`.
 *
 * @example
 * ```ts
 * const primaries: PrimaryAddresses = new Map([["eth0", { ipv4: "192.0.2.11", ipv6: "fe80::11" }]]);
 * ```
 */
export type PrimaryAddresses = ReadonlyMap<
  string,
  { readonly ipv4?: string; readonly ipv6?: string }
>;

/**
 * One change to the IPVS table, as {@link IpvsPort.applyBatch} takes it (the LVS plan's
 * operations have this shape).
 *
 * @example
 * ```ts
 * const op: IpvsOp = { op: "editDest", service, dest: { ...dest, weight: 0 } };
 * ```
 */
export type IpvsOp =
  | { readonly op: "addService" | "editService" | "delService"; readonly service: IpvsService }
  | {
    readonly op: "addDest" | "editDest" | "delDest";
    readonly service: IpvsService;
    readonly dest: IpvsDest;
  };

/**
 * What became of one operation of a batch: applied, or refused with the error its own
 * call would have rejected with.
 *
 * @example
 * ```ts
 * for (const [i, o] of outcomes.entries()) if (!o.ok) log(`${i}: ${o.error.message}`);
 * ```
 */
export type IpvsOpOutcome = { readonly ok: true } | { readonly ok: false; readonly error: Error };

/**
 * The kernel's IPVS table in the daemon's network namespace, over generic netlink. The
 * LVS runtime reads it (whole with `dump`, or in slices: `dumpServices` then
 * `dumpDests`), compares it with what it wants and applies only
 * the difference, one operation per call or many in one {@link IpvsPort.applyBatch};
 * each failure names the kernel's errno and the entry it was about, and no operation
 * leaves a partial change behind (one netlink request each). Services and destinations are identified as the kernel does: a
 * service by (af, protocol, address, port) or (af, fwmark), a destination by
 * (address, port) within its service.
 *
 * @example
 * ```ts
 * for (const { service, dests } of await ipvs.dump()) console.log(service.scheduler, dests.length);
 * ```
 */
export interface IpvsPort {
  /** Every service with its destinations, their connection counts and 64-bit stats. */
  dump(): Promise<readonly IpvsServiceEntry[]>;
  /**
   * The services alone, in the kernel's order: the first step of a dump read in slices
   * ({@link IpvsPort.dumpDests} next), so that a big table's read does not hold the
   * daemon loop (1,000 services are 1,001 round trips, ~0.9 s in the UML guest).
   */
  dumpServices(): Promise<readonly IpvsService[]>;
  /**
   * The destinations of each of `services` (one round trip each), with the service as
   * given; a service gone from the kernel meanwhile has none (the kernel's answer).
   */
  dumpDests(services: readonly IpvsService[]): Promise<readonly IpvsServiceEntry[]>;
  addService(service: IpvsService): Promise<void>;
  /** Scheduler, flags, timeout, netmask and persistence engine, in place. */
  editService(service: IpvsService): Promise<void>;
  /** The kernel drops the service's destinations with it. */
  delService(service: IpvsService): Promise<void>;
  addDest(service: IpvsService, dest: IpvsDest): Promise<void>;
  /** Weight, forwarding method, thresholds and tunnel settings, in place. */
  editDest(service: IpvsService, dest: IpvsDest): Promise<void>;
  delDest(service: IpvsService, dest: IpvsDest): Promise<void>;
  /**
   * Many operations in few round trips (11,000 one-by-one requests cost 5.6 s in the
   * UML guest), applied in order: a later one sees what the earlier ones did (a service
   * added before its destinations), and one refused does not stop the rest. Resolves
   * with one outcome per operation, in order; never rejects for a refused operation.
   */
  applyBatch(ops: readonly IpvsOp[]): Promise<IpvsOpOutcome[]>;
  info(): Promise<IpvsInfo>;
  timeouts(): Promise<IpvsTimeouts>;
  setTimeouts(t: IpvsTimeouts): Promise<void>;
  /** The running connection-sync daemons. */
  syncDaemons(): Promise<readonly IpvsSyncDaemon[]>;
  startSyncDaemon(d: IpvsSyncDaemon): Promise<void>;
  stopSyncDaemon(state: IpvsSyncDaemon["state"]): Promise<void>;
  /** Zero the counters of one service, or of every service. */
  zero(service?: IpvsService): Promise<void>;
  /** Stop using the socket; later calls reject. */
  close(): Promise<void>;
}
