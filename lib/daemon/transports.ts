/**
 * The daemon's open VRRP transports, one per interface and family (`iface/family`),
 * shared by every instance there: opening them (at start, or for a reload's new
 * instances), opening them again (a link that came back, a new multicast group),
 * closing the ones nobody uses, and sending an instance's adverts through its own.
 *
 * Separate from the daemon because the transports' lifetime follows the set of
 * instances, not any one of them, and the send path (encode, choose the checksum form,
 * pick unicast peers or the group, count failures) is the same for all of them.
 *
 * @example
 * ```ts
 * const transports = new Transports({ factory, onPacket, log, rateLog, counters });
 * transports.ensure(inst); // opens eth0/ipv4 unless open
 * transports.sendAdvert(inst, advert, "pseudo-header");
 * transports.closeAll();
 * ```
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { Family } from "../net/addr.ts";
import { sameBytes } from "../net/bytes.ts";
import { encodeAdvert } from "../vrrp/packet.ts";
import type { OutgoingAdvert } from "../vrrp/types.ts";
import { bump, errorText, hasErrorCode, type RateLog } from "./common.ts";
import type { Instance } from "./instance.ts";
import type { ReceivedPacket, RoutineAdvert, TransportFactory, VrrpTransport } from "./ports.ts";
import { advertVia } from "./vmac.ts";

/**
 * The VRRPv3-over-IPv4 checksum forms (RFC 9568's, or keepalived's pseudo-header one).
 *
 * @example
 * ```ts
 * const form: ChecksumForm = "rfc9568";
 * ```
 */
export type ChecksumForm = "pseudo-header" | "rfc9568";

/**
 * The checksum form to send with to `dst`. In `auto` mode: what a unicast peer was
 * seen using; to the group, the RFC 9568 form only when every peer heard so far uses
 * it (keepalived's pseudo-header form otherwise, the common default).
 *
 * @example
 * ```ts
 * checksumFormFor("auto", { "192.0.2.2": "rfc9568" }, new Set(), "224.0.0.18"); // "rfc9568"
 * ```
 */
export function checksumFormFor(
  mode: "auto" | ChecksumForm,
  learned: Readonly<Record<string, ChecksumForm>>,
  peers: ReadonlySet<string>,
  dst: string,
): ChecksumForm {
  if (mode !== "auto") return mode;
  if (peers.size > 0) return learned[dst] ?? "pseudo-header";
  // Once per advert sent: a loop, not an array of the values.
  let heard = false;
  for (const peer in learned) {
    if (learned[peer] !== "rfc9568") return "pseudo-header";
    heard = true;
  }
  return heard ? "rfc9568" : "pseudo-header";
}

/**
 * Whether `e` says the interface does not exist (`ENODEV` from `if_nametoindex` and the
 * like): what `dynamic_interfaces` waits out rather than refuses.
 *
 * @example
 * ```ts
 * isNoDevice(new SyscallError("if_nametoindex", 19, "eth9")); // true
 * ```
 */
export function isNoDevice(e: unknown): boolean {
  return hasErrorCode(e, "ENODEV");
}

const NO_ROUTINE: readonly RoutineAdvert[] = Object.freeze([]);

interface EncodedAdvert {
  readonly advert: OutgoingAdvert;
  readonly src: string;
  readonly form: ChecksumForm;
  readonly bytes: Uint8Array;
}

/** Same fields, same bytes on the wire (for one source, destination and form). */
function sameAdvert(a: OutgoingAdvert, b: OutgoingAdvert): boolean {
  if (a === b) return true;
  if (
    a.version !== b.version || a.vrid !== b.vrid || a.priority !== b.priority ||
    a.intervalMs !== b.intervalMs || a.authType !== b.authType ||
    a.addresses.length !== b.addresses.length || !sameBytes(a.authData, b.authData)
  ) return false;
  for (let i = 0; i < a.addresses.length; i++) if (a.addresses[i] !== b.addresses[i]) return false;
  return true;
}

/**
 * What {@link Transports} needs.
 *
 * @example
 * ```ts
 * const deps: TransportsDeps = { factory, onPacket: (i, f, p) => inbox.push(...), log, rateLog, counters };
 * ```
 */
export interface TransportsDeps {
  readonly factory: TransportFactory;
  /** Receives every packet of every transport (outside the loop: queue it). */
  readonly onPacket: (iface: string, family: Family, packet: ReceivedPacket) => void;
  readonly log: Logger;
  readonly rateLog: RateLog;
  /** Node-wide counters (`transportErrors`). */
  readonly counters: Record<string, number>;
}

/**
 * The open transports by key.
 *
 * @example
 * ```ts
 * const transports = new Transports(deps);
 * transports.has("eth0/ipv4"); // false
 * ```
 */
export class Transports {
  readonly #deps: TransportsDeps;
  #open = new Map<string, VrrpTransport>();
  /** Per instance, per destination: the advert last encoded and its bytes. */
  #lastSent = new WeakMap<Instance, Map<string, EncodedAdvert>>();

  /**
   * No transport is open until asked.
   *
   * @example
   * ```ts
   * new Transports({ factory, onPacket, log, rateLog, counters });
   * ```
   */
  constructor(deps: TransportsDeps) {
    this.#deps = deps;
  }

  /**
   * Whether the transport of `key` is open.
   *
   * @example
   * ```ts
   * transports.has("eth0/ipv4");
   * ```
   */
  has(key: string): boolean {
    return this.#open.has(key);
  }

  /**
   * Opens the transport an instance needs, without keeping it (throws like the factory).
   *
   * @example
   * ```ts
   * const t = transports.open(inst); transports.adopt(inst.key, t);
   * ```
   */
  open(inst: Instance): VrrpTransport {
    const iface = inst.cfg.interface;
    const family = inst.cfg.family;
    return this.#deps.factory.open(
      { interface: iface, family, group: inst.group },
      (packet) => this.#deps.onPacket(iface, family, packet),
    );
  }

  /**
   * Opens and keeps an instance's transport unless it is open already (throws).
   *
   * @example
   * ```ts
   * for (const inst of instances) transports.ensure(inst);
   * ```
   */
  ensure(inst: Instance): void {
    if (!this.#open.has(inst.key)) this.#open.set(inst.key, this.open(inst));
  }

  /**
   * Like {@link Transports.ensure}, but false instead of a throw when the instance's
   * interface does not exist (`dynamic_interfaces` waits for it); other failures throw.
   *
   * @example
   * ```ts
   * if (!transports.ensureUnlessMissing(inst)) missing.add(inst.cfg.interface);
   * ```
   */
  ensureUnlessMissing(inst: Instance): boolean {
    try {
      this.ensure(inst);
      return true;
    } catch (e) {
      if (isNoDevice(e)) return false;
      throw e;
    }
  }

  /**
   * Closes the transports of an interface (it was deleted: their sockets are bound to
   * an index that no longer exists); a later {@link Transports.ensure} opens them anew.
   *
   * @example
   * ```ts
   * transports.closeInterface("eth9"); // closes eth9/ipv4 and eth9/ipv6
   * ```
   */
  closeInterface(iface: string): void {
    for (const [key, t] of this.#open) {
      if (!key.startsWith(`${iface}/`)) continue;
      this.#close(key, t);
      this.#open.delete(key);
    }
  }

  /**
   * Keeps a transport opened with {@link Transports.open}.
   *
   * @example
   * ```ts
   * transports.adopt("eth1/ipv4", t);
   * ```
   */
  adopt(key: string, t: VrrpTransport): void {
    this.#open.set(key, t);
  }

  /**
   * Closes and opens again the transport of `key` for `inst` (a new index, or a new
   * group); nothing when none is open. A failure to open is logged and counted.
   *
   * @example
   * ```ts
   * transports.reopen("eth0/ipv4", inst);
   * ```
   */
  reopen(key: string, inst: Instance | undefined): void {
    const old = this.#open.get(key);
    if (!inst || !old) return;
    // A failing close must not skip the rest of the link-up handling (clearing the fault).
    this.#close(key, old);
    this.#open.delete(key);
    try {
      this.#open.set(key, this.open(inst));
    } catch (e) {
      bump(this.#deps.counters, "transportErrors");
      this.#deps.log.error(
        `${inst.cfg.name}: cannot reopen the VRRP socket on ${inst.cfg.interface}: ${errorText(e)}`,
      );
    }
  }

  /**
   * Closes the transports whose key is not in `used`.
   *
   * @example
   * ```ts
   * transports.closeUnused(new Set(instances.map((i) => i.key)));
   * ```
   */
  closeUnused(used: ReadonlySet<string>): void {
    for (const [key, t] of this.#open) {
      if (used.has(key)) continue;
      this.#close(key, t);
      this.#open.delete(key);
    }
  }

  /**
   * Closes every transport (a close that throws is logged).
   *
   * @example
   * ```ts
   * transports.closeAll();
   * ```
   */
  closeAll(): void {
    for (const [key, t] of this.#open) this.#close(key, t);
    this.#open.clear();
  }

  /**
   * Sends an instance's advert to each unicast peer, or to its group, with the checksum
   * form `formFor` picks per destination. A failed send is counted and logged, rate
   * limited; nothing is sent when the instance has no open transport.
   *
   * @example
   * ```ts
   * transports.sendAdvert(inst, advert, () => "pseudo-header");
   * ```
   */
  /**
   * Tells every open transport its Backups' routine adverts (see
   * `VrrpTransport.expectRoutine`); a transport without any gets an empty list.
   *
   * @example
   * ```ts
   * transports.expectRoutine(new Map([["eth0/ipv4", [{ src: "192.0.2.1", head }]]]));
   * ```
   */
  expectRoutine(byKey: ReadonlyMap<string, readonly RoutineAdvert[]>): void {
    for (const [key, t] of this.#open) t.expectRoutine?.(byKey.get(key) ?? NO_ROUTINE);
  }

  /**
   * The bytes {@link Transports.sendAdvert} would send first, made and dropped: what
   * a Backup's takeover warm-up runs (see `NodeRuntime.warmTakeover`).
   *
   * @example
   * ```ts
   * transports.encodeOnly(inst, advert, () => "pseudo-header");
   * ```
   */
  encodeOnly(inst: Instance, advert: OutgoingAdvert, formFor: (dst: string) => ChecksumForm) {
    const dst = inst.peers.size === 0 ? inst.group : inst.peers.values().next().value;
    const t = this.#open.get(inst.key);
    if (dst === undefined || t === undefined) return;
    const src = inst.rc.primaryIp;
    t.prepareSend?.(
      encodeAdvert(advert, { family: inst.cfg.family, src, dst }, formFor(dst)),
      dst,
      src,
    );
  }

  sendAdvert(inst: Instance, advert: OutgoingAdvert, formFor: (dst: string) => ChecksumForm) {
    const t = this.#open.get(inst.key);
    if (t === undefined) return;
    // Multicast (every interval of every Master) without a list of one made per send.
    if (inst.peers.size === 0) this.#sendOne(t, inst, advert, inst.group, formFor);
    else for (const dst of inst.peers) this.#sendOne(t, inst, advert, dst, formFor);
  }

  #sendOne(
    t: VrrpTransport,
    inst: Instance,
    advert: OutgoingAdvert,
    dst: string,
    formFor: (dst: string) => ChecksumForm,
  ) {
    const src = inst.rc.primaryIp;
    try {
      const bytes = this.#encoded(inst, advert, src, dst, formFor(dst));
      // keepalived's unicast_ttl: a unicast advert may have routers to cross.
      const ttl = inst.peers.size > 0 ? inst.cfg.unicastTtl : undefined;
      t.send(bytes, dst, src, advertVia(inst.cfg), ttl);
    } catch (e) {
      bump(inst.extra, "sendErrors");
      this.#deps.rateLog(
        `${inst.cfg.name}/send`,
        "warn",
        `${inst.cfg.name}: cannot send an advert to ${dst}: ${errorText(e)}`,
      );
    }
  }

  /**
   * The advert's bytes: a Master sends the same advert every interval, so the bytes
   * last sent to `dst` serve again while nothing in them changed (what was a tenth of
   * a 10 ms Master's CPU: a fresh array and a checksum each time).
   */
  #encoded(
    inst: Instance,
    advert: OutgoingAdvert,
    src: string,
    dst: string,
    form: ChecksumForm,
  ): Uint8Array {
    let byDst = this.#lastSent.get(inst);
    const last = byDst?.get(dst);
    if (
      last !== undefined && last.src === src && last.form === form &&
      sameAdvert(last.advert, advert)
    ) {
      return last.bytes;
    }
    const bytes = encodeAdvert(advert, { family: inst.cfg.family, src, dst }, form);
    if (byDst === undefined) this.#lastSent.set(inst, byDst = new Map());
    // Bounded by the instance's unicast peers (or its one group).
    if (byDst.size > inst.peers.size) byDst.clear();
    byDst.set(dst, { advert, src, form, bytes });
    return bytes;
  }

  #close(key: string, t: VrrpTransport) {
    try {
      t.close();
    } catch (e) {
      this.#deps.log.warn(`closing the transport on ${key}: ${errorText(e)}`);
    }
  }
}
