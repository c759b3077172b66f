/**
 * In-memory implementations of the daemon's ports, for tests and simulations: a
 * manual clock, a LAN that carries real VRRP bytes between daemons, a kernel address
 * table with events, and an announcer that records what it was asked to send.
 *
 * Nothing here touches the OS or arms a real timer: time moves only when the test
 * says so ({@link runClock}), which makes every run exact and repeatable.
 *
 * @example
 * ```ts
 * const clock = new ManualClock();
 * const lan = new FakeLan({ clock, delayMs: 1 });
 * const a = new Daemon({ config, primaryAddresses, clock, transports: lan.host("a", ["192.0.2.11"]),
 *   addresses: new FakeAddressPort(), announcer: new RecordingAnnouncer(clock), logger });
 * await a.start();
 * await runClock(clock, 5000, () => settle([a]));
 * ```
 *
 * @module
 */

import type { Family } from "../../lib/net/addr.ts";
import { canonicalIp, parseIp } from "../../lib/net/addr.ts";
import type {
  AddressPort,
  AddressSpec,
  Announcer,
  Clock,
  KernelAddress,
  KernelEvent,
  ReceivedPacket,
  TransportFactory,
  TransportRequest,
  VipClaim,
  VipGuardPort,
  VmacOutcome,
  VmacPort,
  VmacSpec,
  VrrpTransport,
} from "../../lib/daemon/ports.ts";

interface Timer {
  atMs: number;
  seq: number;
  fn: () => void;
}

/**
 * A clock that moves only when told. Sleeps and scheduled callbacks are timers on it;
 * {@link ManualClock.fireNext} advances to the earliest and runs every timer due then.
 *
 * @example
 * ```ts
 * const clock = new ManualClock();
 * clock.schedule(10, () => console.log("at 10"));
 * clock.fireNext(Infinity); // true; nowMs() is 10
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #timers: Timer[] = [];
  #seq = 0;

  /**
   * Starts at `startMs` (0 by default).
   *
   * @example
   * ```ts
   * new ManualClock(1000).nowMs(); // 1000
   * ```
   */
  constructor(startMs = 0) {
    this.#now = startMs;
  }

  /**
   * The current manual time.
   *
   * @example
   * ```ts
   * clock.nowMs(); // 0
   * ```
   */
  nowMs(): number {
    return this.#now;
  }

  /**
   * Resolves when the clock reaches `atMs` (at once if it has), or when `signal` aborts.
   *
   * @example
   * ```ts
   * const p = clock.sleepUntil(50, new AbortController().signal);
   * ```
   */
  sleepUntil(atMs: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted || atMs <= this.#now) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const cancel = this.schedule(atMs, () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      });
      const onAbort = () => {
        cancel();
        resolve();
      };
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * Runs `fn` when the clock reaches `atMs`; returns a function that cancels it.
   *
   * @example
   * ```ts
   * const cancel = clock.schedule(clock.nowMs() + 1, () => deliver());
   * ```
   */
  schedule(atMs: number, fn: () => void): () => void {
    const t: Timer = { atMs: Math.max(atMs, this.#now), seq: this.#seq++, fn };
    // Sorted insert; equal times keep scheduling order.
    let i = this.#timers.length;
    while (i > 0 && this.#timers[i - 1].atMs > t.atMs) i--;
    this.#timers.splice(i, 0, t);
    return () => {
      const at = this.#timers.indexOf(t);
      if (at >= 0) this.#timers.splice(at, 1);
    };
  }

  /**
   * Time of the earliest timer, or null.
   *
   * @example
   * ```ts
   * clock.nextTimerMs(); // null when nothing is scheduled
   * ```
   */
  nextTimerMs(): number | null {
    return this.#timers.length > 0 ? this.#timers[0].atMs : null;
  }

  /**
   * Number of pending timers (sleeps included).
   *
   * @example
   * ```ts
   * clock.pendingTimers(); // 0 once every daemon has stopped
   * ```
   */
  pendingTimers(): number {
    return this.#timers.length;
  }

  /**
   * When the earliest timer is due at or before `limitMs`, moves the clock to it and
   * runs every timer due at that instant (including ones they schedule for it);
   * returns whether it did.
   *
   * @example
   * ```ts
   * while (clock.fireNext(until)) await settle();
   * ```
   */
  fireNext(limitMs: number): boolean {
    const next = this.nextTimerMs();
    if (next === null || next > limitMs) return false;
    this.#now = next;
    while (this.#timers.length > 0 && this.#timers[0].atMs <= this.#now) {
      this.#timers.shift()!.fn();
    }
    return true;
  }

  /**
   * Moves the clock forward to `atMs` without running anything (timers due by then
   * run at the next {@link ManualClock.fireNext}).
   *
   * @example
   * ```ts
   * clock.setNow(1000);
   * ```
   */
  setNow(atMs: number): void {
    if (atMs > this.#now) this.#now = atMs;
  }
}

/**
 * Advances `clock` to `untilMs`, timer by timer, calling `settle` after each instant
 * so that the daemons process what happened before time moves on.
 *
 * @example
 * ```ts
 * await runClock(clock, clock.nowMs() + 4000, () => settle(daemons));
 * ```
 */
export async function runClock(
  clock: ManualClock,
  untilMs: number,
  settle: () => Promise<void>,
): Promise<void> {
  await settle();
  while (clock.fireNext(untilMs)) await settle();
  clock.setNow(untilMs);
  await settle();
}

/**
 * A packet as it went over the fake LAN.
 *
 * @example
 * ```ts
 * lan.sent.filter((p) => p.host === "a" && p.bytes[2] === 0); // a's priority-0 adverts
 * ```
 */
export interface LanPacket {
  readonly atMs: number;
  readonly host: string;
  readonly interface: string;
  readonly family: Family;
  readonly src: string;
  readonly dst: string;
  readonly bytes: Uint8Array;
  /** The interface it was sent out of when not the transport's own (a vmac). */
  readonly via?: string;
}

interface Endpoint {
  host: string;
  req: TransportRequest;
  onPacket: (p: ReceivedPacket) => void;
  open: boolean;
}

/**
 * Options of {@link FakeLan}.
 *
 * @example
 * ```ts
 * const opts: FakeLanOptions = { clock, delayMs: 1 };
 * ```
 */
export interface FakeLanOptions {
  /** Deliveries are timers on this clock; without one they are microtasks. */
  clock?: ManualClock;
  /** One-way delay (needs `clock`); 0 by default. */
  delayMs?: number;
}

/**
 * One broadcast segment per interface name: every host's transport on `eth0` hears
 * every other host's on `eth0`. Multicast goes to all of them; unicast to the host
 * that owns the destination address. Bytes are copied, TTL is 255, a sender does not
 * hear itself.
 *
 * @example
 * ```ts
 * const lan = new FakeLan({ clock, delayMs: 1 });
 * const transports = lan.host("a", ["192.0.2.11"]);
 * ```
 */
export class FakeLan {
  readonly #clock: ManualClock | undefined;
  readonly #delayMs: number;
  readonly #endpoints: Endpoint[] = [];
  readonly #addresses = new Map<string, Set<string>>();
  readonly #down = new Set<string>();
  /** Every packet sent, in order. */
  readonly sent: LanPacket[] = [];

  /**
   * Creates an empty LAN.
   *
   * @example
   * ```ts
   * const lan = new FakeLan();
   * ```
   */
  constructor(opts: FakeLanOptions = {}) {
    this.#clock = opts.clock;
    this.#delayMs = opts.delayMs ?? 0;
  }

  /**
   * The transports of host `name`, which owns `addresses` (for unicast delivery).
   *
   * @example
   * ```ts
   * const t = lan.host("b", ["192.0.2.12", "fe80::12"]);
   * ```
   */
  host(name: string, addresses: readonly string[]): TransportFactory {
    this.#addresses.set(name, new Set(addresses.map((a) => canonicalIp(a) ?? a)));
    return {
      open: (req, onPacket) => {
        const ep: Endpoint = { host: name, req, onPacket, open: true };
        this.#endpoints.push(ep);
        const transport: VrrpTransport = {
          send: (bytes, dst, src, via) => this.#send(ep, bytes, dst, src, via),
          close: () => {
            ep.open = false;
          },
        };
        return transport;
      },
    };
  }

  /**
   * Cuts a host off (its packets are lost both ways) or reconnects it.
   *
   * @example
   * ```ts
   * lan.setDown("a", true);
   * ```
   */
  setDown(host: string, down: boolean): void {
    if (down) this.#down.add(host);
    else this.#down.delete(host);
  }

  /**
   * Delivers an arbitrary packet to `host`'s open transports on `iface` and `family`
   * at once (no delay), as if it came off the wire. Returns how many got it.
   *
   * @example
   * ```ts
   * lan.inject("b", "eth0", "ipv4", { bytes: new Uint8Array(3), src: "192.0.2.9", dst: "224.0.0.18", ttl: 255 });
   * ```
   */
  inject(host: string, iface: string, family: Family, packet: ReceivedPacket): number {
    let n = 0;
    for (const ep of this.#endpoints) {
      if (!ep.open || ep.host !== host || ep.req.interface !== iface || ep.req.family !== family) {
        continue;
      }
      ep.onPacket(packet);
      n++;
    }
    return n;
  }

  /**
   * Open transports, for checking that a stopped daemon closed its own.
   *
   * @example
   * ```ts
   * lan.openCount("a"); // 0 after a.stop()
   * ```
   */
  openCount(host?: string): number {
    return this.#endpoints.filter((e) => e.open && (host === undefined || e.host === host)).length;
  }

  #send(from: Endpoint, bytes: Uint8Array, dst: string, src: string, via?: string) {
    if (!from.open) throw new Error("send on a closed transport");
    const atMs = this.#clock?.nowMs() ?? 0;
    const copy = bytes.slice();
    this.sent.push({
      atMs,
      host: from.host,
      interface: from.req.interface,
      family: from.req.family,
      src,
      dst,
      bytes: copy,
      ...(via === undefined ? {} : { via }),
    });
    if (this.#down.has(from.host)) return;
    const multicast = isMulticast(dst);
    const target = canonicalIp(dst) ?? dst;
    for (const ep of this.#endpoints) {
      if (ep === from || ep.host === from.host) continue;
      if (ep.req.interface !== from.req.interface || ep.req.family !== from.req.family) continue;
      if (!multicast && !this.#addresses.get(ep.host)?.has(target)) continue;
      const deliver = () => {
        if (!ep.open || this.#down.has(ep.host)) return;
        ep.onPacket({ bytes: copy.slice(), src, dst, ttl: 255 });
      };
      if (this.#clock) this.#clock.schedule(atMs + this.#delayMs, deliver);
      else queueMicrotask(deliver);
    }
  }
}

function isMulticast(ip: string): boolean {
  const p = parseIp(ip);
  if (p === null) return false;
  return p.family === "ipv4" ? (p.bytes[0] & 0xf0) === 0xe0 : p.bytes[0] === 0xff;
}

/**
 * One call a {@link FakeVmacPort} saw.
 *
 * @example
 * ```ts
 * vmacs.calls.filter((c) => c.op === "remove").map((c) => c.name); // ["vrrp.51"]
 * ```
 */
export interface FakeVmacCall {
  readonly op: "ensure" | "remove";
  readonly name: string;
  /** What `ensure` answered; absent for `remove` and for an ensure that failed. */
  readonly outcome?: VmacOutcome;
  /** Clock time of the call, when the port was given a clock. */
  readonly atMs?: number;
}

/**
 * Virtual-MAC macvlans in memory: `ensure` creates (or reports present), `remove`
 * deletes, every call is recorded. `failing` names make `ensure` throw, as a missing
 * parent or a name taken by another interface does on a real kernel.
 *
 * @example
 * ```ts
 * const vmacs = new FakeVmacPort(clock);
 * vmacs.failing.add("vrrp.51");
 * vmacs.present.has("vrrp.51"); // false until an ensure succeeds
 * ```
 */
export class FakeVmacPort implements VmacPort {
  /** The macvlans that exist now, by name. */
  readonly present = new Map<string, VmacSpec>();
  /** Every call, in order. */
  readonly calls: FakeVmacCall[] = [];
  /** Names whose `ensure` fails. */
  readonly failing = new Set<string>();
  readonly #clock: Clock | undefined;

  /**
   * An empty port; with a clock, calls are stamped with its time.
   *
   * @example
   * ```ts
   * const vmacs = new FakeVmacPort();
   * ```
   */
  constructor(clock?: Clock) {
    this.#clock = clock;
  }

  /**
   * Creates `spec.name` unless it exists with the same settings.
   *
   * @example
   * ```ts
   * await vmacs.ensure({ name: "vrrp.51", parent: "eth0", mac: "00:00:5e:00:01:33", ipv6: false });
   * ```
   */
  ensure(spec: VmacSpec): Promise<VmacOutcome> {
    const atMs = this.#clock?.nowMs();
    if (this.failing.has(spec.name)) {
      this.calls.push({ op: "ensure", name: spec.name, atMs });
      return Promise.reject(
        new Error(`${spec.name}: its parent interface ${spec.parent} does not exist`),
      );
    }
    const had = this.present.get(spec.name);
    const outcome: VmacOutcome = had !== undefined && had.mac === spec.mac &&
        had.parent === spec.parent && had.ipv6 === spec.ipv6
      ? "present"
      : "created";
    this.present.set(spec.name, spec);
    this.calls.push({ op: "ensure", name: spec.name, outcome, atMs });
    return Promise.resolve(outcome);
  }

  /**
   * Deletes `name` (a no-op when absent).
   *
   * @example
   * ```ts
   * await vmacs.remove("vrrp.51");
   * ```
   */
  remove(name: string): Promise<void> {
    this.calls.push({ op: "remove", name, atMs: this.#clock?.nowMs() });
    this.present.delete(name);
    return Promise.resolve();
  }
}

/**
 * One change the fake kernel saw, for assertions.
 *
 * @example
 * ```ts
 * port.ops.filter((o) => o.op === "remove" && o.by === "hacore");
 * ```
 */
export interface FakeAddressOp {
  readonly op: "add" | "remove";
  /** "hacore" for calls through the port, "hand" for the test playing an operator. */
  readonly by: "hacore" | "hand";
  readonly dev: string;
  readonly address: string;
  readonly prefix: number;
}

/**
 * A kernel address table. `add`/`remove` behave like rtnetlink (EEXIST, EADDRNOTAVAIL
 * as errors), emit events to watchers as microtasks, and are recorded in `ops`.
 * The `…ByHand` methods play an operator running `ip addr`.
 *
 * @example
 * ```ts
 * const port = new FakeAddressPort([
 *   { dev: "eth0", address: "192.0.2.11", prefix: 24, family: "ipv4", label: null, hacore: false },
 * ]);
 * ```
 */
export class FakeAddressPort implements AddressPort {
  #addresses: KernelAddress[];
  readonly #watchers = new Set<(e: KernelEvent) => void>();
  /** Links set with {@link FakeAddressPort.link}; unnamed ones are up. */
  readonly #links = new Map<string, boolean>();
  /** Every change, in order. */
  readonly ops: FakeAddressOp[] = [];
  /** Make the next N `add` calls fail (to test retries). */
  failAdds = 0;

  /**
   * Starts with `initial` addresses (e.g. the primary ones, or stale VIPs).
   *
   * @example
   * ```ts
   * const port = new FakeAddressPort();
   * ```
   */
  constructor(initial: readonly KernelAddress[] = []) {
    this.#addresses = [...initial];
  }

  /**
   * Current addresses, optionally on one interface.
   *
   * @example
   * ```ts
   * await port.list("eth0");
   * ```
   */
  list(dev?: string): Promise<KernelAddress[]> {
    return Promise.resolve(this.#addresses.filter((a) => dev === undefined || a.dev === dev));
  }

  /**
   * Adds a hacore-tagged address.
   *
   * @example
   * ```ts
   * await port.add({ address: "192.0.2.100", prefix: 24, dev: "eth0", label: null, scope: "global", family: "ipv4" });
   * ```
   */
  add(spec: AddressSpec): Promise<void> {
    if (this.failAdds > 0) {
      this.failAdds--;
      return Promise.reject(
        new Error(`add ${spec.address}/${spec.prefix} dev ${spec.dev}: ENOBUFS`),
      );
    }
    if (this.has(spec.dev, spec.address, spec.prefix)) {
      return Promise.reject(
        new Error(`add ${spec.address}/${spec.prefix} dev ${spec.dev}: EEXIST`),
      );
    }
    this.#put({
      dev: spec.dev,
      address: spec.address,
      prefix: spec.prefix,
      family: spec.family,
      label: spec.label,
      hacore: true,
    }, "hacore");
    return Promise.resolve();
  }

  /**
   * Removes an address.
   *
   * @example
   * ```ts
   * await port.remove(addr);
   * ```
   */
  remove(address: KernelAddress): Promise<void> {
    if (!this.#drop(address.dev, address.address, address.prefix, "hacore")) {
      return Promise.reject(
        new Error(`del ${address.address}/${address.prefix} dev ${address.dev}: EADDRNOTAVAIL`),
      );
    }
    return Promise.resolve();
  }

  /**
   * Subscribes to changes.
   *
   * @example
   * ```ts
   * const stop = port.watch((e) => events.push(e));
   * ```
   */
  watch(onEvent: (event: KernelEvent) => void): () => void {
    this.#watchers.add(onEvent);
    return () => {
      this.#watchers.delete(onEvent);
    };
  }

  /**
   * Link states as last set with {@link FakeAddressPort.link}.
   *
   * @example
   * ```ts
   * port.link("eth0", false);
   * (await port.linkStates()).get("eth0"); // false
   * ```
   */
  linkStates(): Promise<ReadonlyMap<string, boolean>> {
    this.linkStateReads++;
    return Promise.resolve(new Map(this.#links));
  }

  /** How many times {@link FakeAddressPort.linkStates} was asked. */
  linkStateReads = 0;

  /**
   * Number of watchers, for checking a stopped daemon unsubscribed.
   *
   * @example
   * ```ts
   * port.watcherCount(); // 0 after stop()
   * ```
   */
  watcherCount(): number {
    return this.#watchers.size;
  }

  /**
   * True when the address is present (on `prefix` if given, tagged if `hacore` given).
   *
   * @example
   * ```ts
   * port.has("eth0", "192.0.2.100"); // true while master
   * ```
   */
  has(dev: string, address: string, prefix?: number, hacore?: boolean): boolean {
    const a = canonicalIp(address) ?? address;
    return this.#addresses.some((k) =>
      k.dev === dev && (canonicalIp(k.address) ?? k.address) === a &&
      (prefix === undefined || k.prefix === prefix) && (hacore === undefined || k.hacore === hacore)
    );
  }

  /**
   * An operator adds an address (`ip addr add`), tagged or not.
   *
   * @example
   * ```ts
   * port.addByHand({ dev: "eth0", address: "192.0.2.100", prefix: 24, family: "ipv4", label: null, hacore: false });
   * ```
   */
  addByHand(address: KernelAddress): void {
    this.#put(address, "hand");
  }

  /**
   * An operator deletes an address (`ip addr del`); returns whether it was there.
   *
   * @example
   * ```ts
   * port.removeByHand("eth0", "192.0.2.100");
   * ```
   */
  removeByHand(dev: string, address: string): boolean {
    return this.#drop(dev, address, undefined, "hand");
  }

  /**
   * The link goes down or up (events only; addresses stay, as IPv4 ones do); `over`:
   * the link under it, for a macvlan or ipvlan.
   *
   * @example
   * ```ts
   * port.link("eth0", false);
   * ```
   */
  link(dev: string, up: boolean, over?: string): void {
    this.#links.set(dev, up);
    const lower = over === undefined ? {} : { over };
    this.#emit({ kind: up ? "link-up" : "link-down", interface: dev, ...lower });
  }

  /**
   * The interface is deleted (`ip link del`): its addresses go with it (each told), then
   * the link-down that says it was removed (`over`: the link under a macvlan or ipvlan).
   *
   * @example
   * ```ts
   * port.deleteLink("eth9");
   * ```
   */
  deleteLink(dev: string, over?: string): void {
    for (const a of this.#addresses.filter((k) => k.dev === dev)) {
      this.#drop(dev, a.address, a.prefix, "hand");
    }
    this.#links.delete(dev);
    const lower = over === undefined ? {} : { over };
    this.#emit({ kind: "link-down", interface: dev, removed: true, ...lower });
  }

  #put(a: KernelAddress, by: "hacore" | "hand") {
    this.#addresses.push(a);
    this.ops.push({ op: "add", by, dev: a.dev, address: a.address, prefix: a.prefix });
    this.#emit({ kind: "addr-added", interface: a.dev, address: a.address });
  }

  #drop(dev: string, address: string, prefix: number | undefined, by: "hacore" | "hand"): boolean {
    const a = canonicalIp(address) ?? address;
    const i = this.#addresses.findIndex((k) =>
      k.dev === dev && (canonicalIp(k.address) ?? k.address) === a &&
      (prefix === undefined || k.prefix === prefix)
    );
    if (i < 0) return false;
    const [k] = this.#addresses.splice(i, 1);
    this.ops.push({ op: "remove", by, dev: k.dev, address: k.address, prefix: k.prefix });
    this.#emit({ kind: "addr-removed", interface: k.dev, address: k.address });
    return true;
  }

  #emit(e: KernelEvent) {
    // Netlink notifications arrive after the request returns, never inside it.
    queueMicrotask(() => {
      for (const w of this.#watchers) w(e);
    });
  }
}

/**
 * One announcement the daemon asked for.
 *
 * @example
 * ```ts
 * const r: AnnounceRecord = { atMs: 3609.375, kind: "garp", dev: "eth0", address: "192.0.2.100" };
 * ```
 */
export interface AnnounceRecord {
  readonly atMs: number;
  readonly kind: "garp" | "na";
  readonly dev: string;
  readonly address: string;
}

/**
 * An {@link Announcer} that records calls with the clock's time.
 *
 * @example
 * ```ts
 * const ann = new RecordingAnnouncer(clock);
 * ann.records.length; // 0
 * ```
 */
export class RecordingAnnouncer implements Announcer {
  readonly #clock: Clock;
  /** Every call, in order. */
  readonly records: AnnounceRecord[] = [];

  /**
   * Records against `clock`.
   *
   * @example
   * ```ts
   * new RecordingAnnouncer(new ManualClock());
   * ```
   */
  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /**
   * Records a gratuitous ARP.
   *
   * @example
   * ```ts
   * ann.garp("eth0", "192.0.2.100");
   * ```
   */
  garp(dev: string, ip: string): void {
    this.records.push({ atMs: this.#clock.nowMs(), kind: "garp", dev, address: ip });
  }

  /**
   * Records an unsolicited NA.
   *
   * @example
   * ```ts
   * ann.unsolicitedNa("eth0", "2001:db8::100");
   * ```
   */
  unsolicitedNa(dev: string, ip: string): void {
    this.records.push({ atMs: this.#clock.nowMs(), kind: "na", dev, address: ip });
  }

  /** What was readied with {@link RecordingAnnouncer.prepare}: "garp eth0 192.0.2.100". */
  readonly prepared: string[] = [];

  /**
   * Records a preparation (nothing is announced).
   *
   * @example
   * ```ts
   * ann.prepare("eth0", "garp", "192.0.2.100");
   * ```
   */
  prepare(dev: string, kind: "garp" | "na", ip: string): void {
    this.prepared.push(`${kind} ${dev} ${ip}`);
  }
}

/**
 * A {@link VipGuardPort} in memory: remembers which interfaces are watched, and
 * {@link FakeVipGuardPort.claim} delivers a claim as if the frame had arrived there.
 *
 * @example
 * ```ts
 * const guard = new FakeVipGuardPort();
 * guard.claim({ dev: "eth0", address: "192.0.2.100", mac: "02:00:00:00:00:66", kind: "garp", localMac: null });
 * ```
 */
export class FakeVipGuardPort implements VipGuardPort {
  readonly #watches = new Map<string, Set<(claim: VipClaim) => void>>();
  /** Interfaces that cannot be watched (watch throws ENODEV-like errors). */
  readonly missing = new Set<string>();

  /** Starts delivering claims on `dev` to `onClaim`. */
  watch(dev: string, onClaim: (claim: VipClaim) => void): () => void {
    if (this.missing.has(dev)) throw new Error(`if_nametoindex(${dev}): ENODEV`);
    const set = this.#watches.get(dev) ?? new Set();
    set.add(onClaim);
    this.#watches.set(dev, set);
    return () => {
      set.delete(onClaim);
      if (set.size === 0) this.#watches.delete(dev);
    };
  }

  /** The interfaces watched now, sorted. */
  watched(): string[] {
    return [...this.#watches.keys()].sort();
  }

  /** Delivers `claim` to the watchers of its interface; false when none watches it. */
  claim(claim: VipClaim): boolean {
    const set = this.#watches.get(claim.dev);
    if (!set) return false;
    for (const cb of set) cb(claim);
    return true;
  }
}
