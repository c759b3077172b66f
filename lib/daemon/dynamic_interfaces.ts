/**
 * keepalived's `dynamic_interfaces`: instances whose interface does not exist yet (or
 * has no address to send adverts from) wait in FAULT instead of stopping the start;
 * their sockets are opened when the interface appears, closed when it is deleted, and
 * opened again (on the new index) when it is re-created. Without the setting none of
 * this runs: a missing interface stays an error at start, as before.
 *
 * What an instance waits for is a fault tracker of its own, so `hacore status` names
 * it: `interface eth9 missing` until the interface exists and its sockets are open,
 * `no ipv4 address on eth9` until the interface has an address of the family (its
 * first, as the kernel picks sources; a VIP or a static address never counts).
 *
 * Separate from the runtime because it is one concern that touches several of its
 * inputs (the start, link and address events, reloads) and keeps its own state: the
 * interfaces known to be missing and the sources learned since start.
 *
 * @example
 * ```ts
 * const waits = new DynamicInterfaces({ table, transports, primaries, log, feed, isOwnAddress });
 * waits.openAtStart(); // eth9 missing: VI_1 will wait
 * waits.raiseAtStart(); // VI_1 in FAULT: "interface eth9 missing"
 * waits.linkUp("eth9"); // eth9 created: sockets open, the fault cleared
 * ```
 *
 * @module
 */

import { toRouterConfig } from "../config/router.ts";
import type { Logger } from "../log.ts";
import { canonicalIp, type Family, isLinkLocalV6, parseIp } from "../net/addr.ts";
import type { NodeEvent } from "../vrrp/node.ts";
import {
  awaitsSource,
  changedInterfaceTracker,
  type Instance,
  missingInterfaceTracker,
  noSourceTracker,
  waitingSource,
} from "./instance.ts";
import type { InstanceTable } from "./instance_table.ts";
import type { Transports } from "./transports.ts";

/** The interfaces' own addresses, as the runtime keeps them (and reloads read them). */
export type LivePrimaries = Map<string, { ipv4?: string; ipv6?: string }>;

/**
 * What {@link DynamicInterfaces} works with.
 *
 * @example
 * ```ts
 * const deps: DynamicInterfacesDeps = { table, transports, primaries: new Map(), log, feed,
 *   isOwnAddress: (a) => table.vipOwners(a) !== undefined };
 * ```
 */
export interface DynamicInterfacesDeps {
  readonly table: InstanceTable;
  readonly transports: Transports;
  /** Updated with the sources learned, and emptied for a deleted interface. */
  readonly primaries: LivePrimaries;
  readonly log: Logger;
  /** Steps the engine and carries out its actions. */
  readonly feed: (event: NodeEvent) => void;
  /** A VIP or static address: hacore's own, never an advert source. */
  readonly isOwnAddress: (address: string) => boolean;
  /**
   * Has the addresses on an interface told again, as `addr-added` events through the
   * loop: the ones an instance waits for may have come before their event could be seen.
   */
  readonly retellAddresses: (iface: string) => void;
}

/**
 * The waiting instances of `dynamic_interfaces`, and what makes them stop waiting.
 *
 * @example
 * ```ts
 * const waits = new DynamicInterfaces(deps);
 * waits.enabled; // the running config's global.dynamicInterfaces
 * ```
 */
export class DynamicInterfaces {
  readonly #deps: DynamicInterfacesDeps;
  /** Interfaces with instances whose sockets could not open: the interface is missing. */
  readonly #missing = new Set<string>();
  /**
   * What each interface was when first seen, for `allow_if_changes`: the link a macvlan
   * or ipvlan sits on, "" for any other kind (keepalived compares just that).
   */
  readonly #shapes = new Map<string, string>();
  /** Interfaces re-created as another shape and not taken up (no `allow_if_changes`). */
  readonly #changed = new Set<string>();

  /**
   * Nothing is waited for until {@link DynamicInterfaces.openAtStart}.
   *
   * @example
   * ```ts
   * new DynamicInterfaces(deps);
   * ```
   */
  constructor(deps: DynamicInterfacesDeps) {
    this.#deps = deps;
  }

  /**
   * Whether the running config has `dynamic_interfaces`.
   *
   * @example
   * ```ts
   * if (!waits.enabled) transports.ensure(inst);
   * ```
   */
  get enabled(): boolean {
    return this.#deps.table.config.global.dynamicInterfaces;
  }

  /**
   * Whether `iface` is waited for: its instances' sockets could not open, or it was
   * deleted since. Nothing should be made over it meanwhile (a virtual MAC).
   *
   * @example
   * ```ts
   * waits.isMissing("eth9"); // true until eth9 appears
   * ```
   */
  isMissing(iface: string): boolean {
    return this.#missing.has(iface);
  }

  /**
   * Opens the sockets of every live instance, noting the interfaces that do not exist
   * (any other failure throws, as without the setting).
   *
   * @example
   * ```ts
   * waits.openAtStart();
   * ```
   */
  openAtStart(): void {
    for (const inst of this.#deps.table.live) {
      const iface = inst.cfg.interface;
      if (this.#missing.has(iface) || this.#deps.transports.ensureUnlessMissing(inst)) continue;
      this.#missing.add(iface);
      this.#deps.log.warn(
        `${iface}: no such interface at start; its instances wait in FAULT until it appears (dynamic_interfaces)`,
      );
    }
  }

  /**
   * Puts the instances that wait in FAULT, before the startup step (so they start there).
   *
   * @example
   * ```ts
   * waits.raiseAtStart();
   * ```
   */
  raiseAtStart(): void {
    for (const inst of this.#deps.table.live) {
      for (const tracker of this.waitingFaults(inst)) this.#fault(inst, tracker, true);
    }
  }

  /**
   * The fault trackers an instance starts with because it waits (its interface is
   * missing, or it has no source address); empty when it waits for nothing. For an
   * instance a reload adds, whose sockets could not open, the interface is noted missing.
   *
   * @example
   * ```ts
   * waits.waitingFaults(inst); // ["interface eth9 missing", "no ipv4 address on eth9"]
   * ```
   */
  waitingFaults(inst: Instance): string[] {
    if (!this.enabled) return [];
    const out: string[] = [];
    const iface = inst.cfg.interface;
    if (!this.#deps.transports.has(inst.key)) {
      this.#missing.add(iface);
      out.push(missingInterfaceTracker(iface));
    }
    if (awaitsSource(inst)) out.push(noSourceTracker(inst.cfg));
    return out;
  }

  /**
   * A link dump (at start): a missing interface that exists by now (created between
   * the socket opening and the watch starting) is taken up as if it had just appeared.
   *
   * @example
   * ```ts
   * waits.linkStates(await addresses.linkStates());
   * ```
   */
  linkStates(states: ReadonlyMap<string, boolean>): void {
    for (const iface of [...this.#missing]) {
      if (states.has(iface)) this.linkUp(iface);
    }
  }

  /**
   * An interface came up (`over`: the link under a macvlan or ipvlan): the waiting
   * instances there open their sockets and leave the missing-interface fault (an open
   * failure other than a missing interface is logged, and the instances keep waiting
   * for the next link event). As in keepalived, an interface re-created as a macvlan
   * where it was none (or the reverse), or over another link, is not taken up unless
   * `allow_if_changes`: its instances stay in FAULT, saying so.
   *
   * @example
   * ```ts
   * waits.linkUp("eth9");
   * ```
   */
  linkUp(iface: string, over?: string): void {
    const shape = over ?? "";
    // Not gated on the setting: instances a reload turned it off under still wait.
    if (!this.#missing.has(iface)) {
      if (!this.#shapes.has(iface)) this.#shapes.set(iface, shape);
      return;
    }
    const users = this.#deps.table.live.filter((i) => i.cfg.interface === iface);
    const was = this.#shapes.get(iface);
    if (was !== undefined && was !== shape && !this.#deps.table.config.global.allowIfChanges) {
      this.#refuseChanged(iface, users, was, shape);
      return;
    }
    try {
      if (!users.every((inst) => this.#deps.transports.ensureUnlessMissing(inst))) return;
    } catch (e) {
      this.#deps.log.error(`${iface}: cannot open the VRRP socket: ${(e as Error).message}`);
      return;
    }
    this.#missing.delete(iface);
    this.#shapes.set(iface, shape);
    this.#deps.log.notice(
      `${iface}: interface present; its instances leave FAULT when it is ready`,
    );
    for (const inst of users) this.#fault(inst, missingInterfaceTracker(iface), false);
    if (users.some(awaitsSource)) this.#deps.retellAddresses(iface);
  }

  /**
   * Kernel events were lost: the addresses of the interfaces that instances wait on
   * for a source are read again.
   *
   * @example
   * ```ts
   * waits.resync();
   * ```
   */
  resync(): void {
    const waiting = this.#deps.table.live.filter((i) => awaitsSource(i));
    for (const iface of new Set(waiting.map((i) => i.cfg.interface))) {
      if (!this.#missing.has(iface)) this.#deps.retellAddresses(iface);
    }
  }

  /** Once per re-creation: the error, and the fault that shows it in status. */
  #refuseChanged(iface: string, users: readonly Instance[], was: string, now: string) {
    if (this.#changed.has(iface)) return;
    this.#changed.add(iface);
    const shape = (s: string) => s === "" ? "not a macvlan/ipvlan" : `a macvlan/ipvlan over ${s}`;
    this.#deps.log.error(
      `${iface}: re-created as ${shape(now)}, it was ${
        shape(was)
      }: not used without allow_if_changes (as keepalived); its instances stay in FAULT`,
    );
    for (const inst of users) this.#fault(inst, changedInterfaceTracker(iface), true);
  }

  /**
   * An interface was deleted: its sockets close (their index is gone for good), its
   * instances go to FAULT, and the sources learned from it are forgotten, since the
   * interface that comes back may have other addresses.
   *
   * @example
   * ```ts
   * waits.linkRemoved("eth9");
   * ```
   */
  linkRemoved(iface: string, over?: string): void {
    if (!this.enabled) return;
    const users = this.#deps.table.live.filter((i) => i.cfg.interface === iface);
    if (users.length === 0) return;
    // The first shape seen stays the reference (a refused one never replaces it).
    if (!this.#shapes.has(iface)) this.#shapes.set(iface, over ?? "");
    if (this.#changed.delete(iface)) {
      for (const inst of users) this.#fault(inst, changedInterfaceTracker(iface), false);
    }
    this.#deps.log.warn(
      `${iface}: interface deleted; its instances wait in FAULT until it is back (dynamic_interfaces)`,
    );
    this.#missing.add(iface);
    this.#deps.transports.closeInterface(iface);
    this.#deps.primaries.delete(iface);
    for (const inst of users) {
      this.#fault(inst, missingInterfaceTracker(iface), true);
      if (inst.cfg.srcIp !== null || awaitsSource(inst)) continue;
      this.#setSource(inst, null);
    }
  }

  /**
   * An address appeared: an instance there waiting for a source of its family takes
   * it (for IPv6 only a link-local address, as at start) and leaves that fault.
   *
   * @example
   * ```ts
   * waits.addressAdded("eth9", "192.0.2.11");
   * ```
   */
  addressAdded(iface: string, address: string): void {
    if (this.#deps.isOwnAddress(address)) return;
    const parsed = parseIp(address);
    if (parsed === null) return;
    const ip = canonicalIp(address) ?? address;
    if (parsed.family === "ipv6" && !isLinkLocalV6(ip)) return;
    const waiting = this.#deps.table.live.filter((i) =>
      i.cfg.interface === iface && i.cfg.family === parsed.family && awaitsSource(i)
    );
    if (waiting.length === 0) return;
    this.#remember(iface, parsed.family, ip);
    this.#deps.log.notice(
      `${iface}: ${ip} appeared; the instances there send their adverts from it`,
    );
    for (const inst of waiting) this.#setSource(inst, ip);
  }

  #remember(iface: string, family: Family, ip: string) {
    const entry = { ...this.#deps.primaries.get(iface) };
    entry[family] = ip;
    this.#deps.primaries.set(iface, entry);
  }

  /** A new advert source (null: none, wait again), with its fault raised or cleared. */
  #setSource(inst: Instance, ip: string | null) {
    inst.rc = toRouterConfig(inst.cfg, ip ?? waitingSource(inst.cfg.family));
    const name = inst.cfg.name;
    this.#deps.feed({ type: "router", name, event: { type: "reconfigure", config: inst.rc } });
    this.#fault(inst, noSourceTracker(inst.cfg), ip === null);
  }

  #fault(inst: Instance, tracker: string, failing: boolean) {
    this.#deps.feed({
      type: "router",
      name: inst.cfg.name,
      event: { type: "fault", tracker, failing },
    });
  }
}
