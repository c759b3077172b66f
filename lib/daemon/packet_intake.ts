/**
 * Received packets: where each goes, and carrying that out. A packet is decoded once,
 * then dropped (with the reason, counted on the instances it was probably meant for,
 * node-wide otherwise, logged rate-limited), handed to each retiring instance still
 * waiting for the new master's advert, and delivered to each live instance of its VRID
 * on that transport (its foreign-sender table, then the engine), unless it is our own
 * advert looped back or from a source outside `unicast_peer`.
 *
 * The routing is pure ({@link routePacket}: a list of steps in order); the intake
 * ({@link PacketIntake}) carries the steps out, and nothing a packet contains can
 * throw out of it. Apart from the daemon so that the rules for untrusted input read in
 * one place.
 *
 * @example
 * ```ts
 * const intake = new PacketIntake({ table, foreign, counters, rateLog, feed, stepRetired });
 * intake.onPacket("eth0", "ipv4", { bytes, src: "192.0.2.2", dst: "224.0.0.18", ttl: 255 });
 * ```
 *
 * @module
 */

import { canonicalIp, type Family } from "../net/addr.ts";
import { sameBytes } from "../net/bytes.ts";
import type { ForeignDifference } from "../vrrp/foreign.ts";
import type { NodeEvent } from "../vrrp/node.ts";
import { decodeAdvert, type DecodeResult, DROP_COUNTER, VRRP_TTL } from "../vrrp/packet.ts";
import type { Advert, ChecksumMode, DropReason, RouterEvent } from "../vrrp/types.ts";
import { bump, errorText, type RateLog } from "./common.ts";
import type { ForeignWatch } from "./foreign_watch.ts";
import { type Instance, transportKey } from "./instance.ts";
import type { InstanceTable } from "./instance_table.ts";
import type { ReceivedPacket } from "./ports.ts";
import type { ChecksumForm } from "./transports.ts";

/**
 * One step of a packet's handling.
 *
 * - `drop`: count and log a drop, on `targets` (none: node-wide);
 * - `retired`: the advert goes to a retiring instance's stopped router;
 * - `deliver`: the advert goes to a live instance (its foreign table, then the engine);
 * - `refuse`: a decoded advert this instance will not hear from that sender (outside
 *   `allowed_peers`, or a pinned peer's address from another MAC): counted and logged
 *   as a drop, and listed as a foreign sender.
 *
 * @example
 * ```ts
 * const step: PacketRoute = { kind: "drop", targets: [], reason: "vrid", message: "...", src: "192.0.2.9" };
 * ```
 */
export type PacketRoute =
  | {
    readonly kind: "drop";
    readonly targets: readonly Instance[];
    readonly reason: DropReason;
    readonly message: string;
    readonly src: string;
  }
  | {
    readonly kind: "retired" | "deliver";
    readonly inst: Instance;
    readonly advert: Advert;
    /** Canonical source address. */
    readonly src: string;
    /** The checksum form the advert came with (VRRPv3 over IPv4 only). */
    readonly checksumForm: ChecksumForm | undefined;
    /** The sender's MAC, when the transport reported it. */
    readonly srcMac?: string;
  }
  | {
    readonly kind: "refuse";
    readonly inst: Instance;
    readonly advert: Advert;
    readonly src: string;
    readonly reason: "unicast-peer" | "peer-mac";
    readonly message: string;
    /** What the foreign-sender report says about it. */
    readonly difference: ForeignDifference;
    readonly srcMac?: string;
  };

/**
 * Peer MACs remembered per instance: peers are a handful, so a flood of spoofed
 * sources fills this and then learns nothing more (their adverts still pass).
 */
export const PEER_MACS_MAX = 64;

/**
 * What {@link routePacket} decides over.
 *
 * @example
 * ```ts
 * const input: PacketInput = { iface: "eth0", family: "ipv4", packet, candidates, retiring, checksumMode: "auto" };
 * ```
 */
export interface PacketInput {
  readonly iface: string;
  readonly family: Family;
  readonly packet: ReceivedPacket;
  /**
   * The live instances on this transport (`iface/family`), in config order. Only those
   * of the packet's VRID byte matter: a caller may pass just those.
   */
  readonly candidates: readonly Instance[];
  /** Every retiring instance (a reload removed them; they finish their release hold). */
  readonly retiring: readonly Instance[];
  /** `global.checksum`. */
  readonly checksumMode: ChecksumMode;
}

/**
 * Decodes a packet and says where it goes, in order.
 *
 * @example
 * ```ts
 * routePacket(input); // [{ kind: "deliver", inst, advert, src: "192.0.2.2", checksumForm: undefined }]
 * ```
 */
export function routePacket(input: PacketInput): readonly PacketRoute[] {
  // Once per received advert: plain loops, nothing built that a common advert (one
  // instance of its VRID, no retiring one) does not need.
  const { family, packet: p, candidates } = input;
  const vridByte = p.bytes.length >= 2 ? p.bytes[1] : -1;
  // keepalived checks the TTL of multicast instances' adverts only: a unicast advert
  // may cross routers (`unicast_ttl`), and its sender is a listed peer anyway.
  let unicast = false;
  for (const i of candidates) {
    if (i.cfg.vrid === vridByte && i.cfg.unicastPeers.length > 0) unicast = true;
  }
  const ttl = unicast ? VRRP_TTL : p.ttl;
  const res = decodeRepeat(p, family, ttl, input.checksumMode);
  if (!res.ok) {
    // The VRID byte is only a hint here, but it lets the instance the packet was
    // probably meant for own the counter, as RFC 6527's per-router statistics do.
    return [{
      kind: "drop",
      targets: ofVrid(candidates, vridByte),
      reason: res.error.reason,
      message: res.error.message,
      src: p.src,
    }];
  }
  const advert = res.advert;
  const src = canonicalIp(p.src) ?? p.src;
  const checksumForm = res.checksumForm === "pseudo-header" || res.checksumForm === "rfc9568"
    ? res.checksumForm
    : undefined;
  // Most packets have one route: an array made with its first element holds just it
  // (pushed onto `[]`, room for 17 is allocated).
  let routes: PacketRoute[] | null = null;
  // A removed instance in its release hold waits for the new master's advert.
  let retiring = 0;
  if (input.retiring.length > 0) {
    const key = transportKey(input.iface, family);
    for (const inst of input.retiring) {
      if (inst.key !== key || inst.cfg.vrid !== advert.vrid) continue;
      retiring++;
      if (src !== inst.rc.primaryIp) {
        routes = withRoute(routes, { kind: "retired", inst, advert, src, checksumForm });
      }
    }
  }
  let targets = 0;
  const srcMac = p.srcMac;
  for (const inst of candidates) {
    if (inst.cfg.vrid !== advert.vrid) continue;
    targets++;
    // Our own advert looped back is not a peer's; the engine would ignore it too.
    if (src === inst.rc.primaryIp) continue;
    const refused = peerRefusal(inst, src, srcMac);
    if (refused !== null) {
      routes = withRoute(routes, { kind: "refuse", inst, advert, src, ...refused, srcMac });
      continue;
    }
    if (inst.peers.size > 0 && !inst.peers.has(src)) {
      routes = withRoute(routes, {
        kind: "drop",
        targets: [inst],
        reason: "unicast-peer",
        message: `source ${src} is not in unicast_peer`,
        src,
      });
      continue;
    }
    routes = withRoute(
      routes,
      srcMac === undefined
        ? { kind: "deliver", inst, advert, src, checksumForm }
        : { kind: "deliver", inst, advert, src, checksumForm, srcMac },
    );
  }
  if (targets === 0 && retiring === 0) {
    routes = withRoute(routes, {
      kind: "drop",
      targets: [],
      reason: "vrid",
      message: `no ${family} instance for vrid ${advert.vrid}`,
      src: p.src,
    });
  }
  return routes ?? NO_ROUTES;
}

/** What {@link routePacket} returns for a packet with nowhere to go. */
const NO_ROUTES: readonly PacketRoute[] = Object.freeze([]);

/** `routes` with `r` added: the array made by the first. */
function withRoute(routes: PacketRoute[] | null, r: PacketRoute): PacketRoute[] {
  if (routes === null) return [r];
  routes.push(r);
  return routes;
}

/**
 * The last advert decoded, with what its decode depended on (see `decodeRepeat`); its
 * family is in its key.
 */
interface LastDecode {
  readonly bytes: Uint8Array;
  readonly src: string;
  readonly dst: string;
  readonly ttl: number;
  readonly mode: ChecksumMode;
  readonly res: DecodeResult;
}

/**
 * The last decode per family and VRID: a Backup of many instances hears their Masters'
 * adverts interleaved, so one entry alone would never match. At most 512.
 */
const lastDecodes = new Map<number, LastDecode>();

/**
 * `decodeAdvert`, answered from the last good decode of its VRID when the packet and
 * everything its decode depends on are the same: a Backup hears the same advert from
 * its Master every interval, and decoding each afresh (its addresses formatted, its
 * objects made) was a third of the garbage per advert. The advert is frozen, being
 * shared.
 */
function decodeRepeat(
  p: ReceivedPacket,
  family: Family,
  ttl: number,
  mode: ChecksumMode,
): DecodeResult {
  const key = (family === "ipv4" ? 0 : 256) + (p.bytes.length >= 2 ? p.bytes[1] : 0);
  const l = lastDecodes.get(key);
  if (
    l !== undefined && l.ttl === ttl && l.src === p.src && l.dst === p.dst &&
    l.mode === mode && sameBytes(l.bytes, p.bytes)
  ) {
    return l.res;
  }
  const res = decodeAdvert(p.bytes, { family, src: p.src, dst: p.dst, ttl }, {
    checksumMode: mode,
  });
  if (res.ok) {
    Object.freeze(res.advert.addresses);
    Object.freeze(res.advert);
    lastDecodes.set(key, {
      bytes: p.bytes.slice(),
      src: p.src,
      dst: p.dst,
      ttl,
      mode,
      res,
    });
  }
  return res;
}

/** The instances of `vrid` among `candidates`, in their order. */
function ofVrid(candidates: readonly Instance[], vrid: number): Instance[] {
  return candidates.filter((i) => i.cfg.vrid === vrid);
}

/**
 * Why `inst` will not hear `src` (from `srcMac`), or null: a source outside
 * `allowed_peers` (multicast; `unicast_peer` is checked on its own), or, with
 * `pin_peer_mac`, a known peer's address from a MAC other than the one it was first
 * heard from. VRRPv3 has no authentication, so these are what tell a forged advert
 * from a peer's.
 *
 * @example
 * ```ts
 * peerRefusal(inst, "192.0.2.66", "02:00:00:00:00:66"); // { reason: "unicast-peer", ... }
 * ```
 */
export function peerRefusal(
  inst: Instance,
  src: string,
  srcMac: string | undefined,
): { reason: "unicast-peer" | "peer-mac"; message: string; difference: ForeignDifference } | null {
  const allowed = inst.cfg.allowedPeers;
  if (allowed.length > 0 && !allowed.includes(src)) {
    return {
      reason: "unicast-peer",
      message: `source ${src} is not in allowed_peers`,
      difference: { reason: "peer", text: "not in allowed_peers" },
    };
  }
  if (!inst.cfg.pinPeerMac || srcMac === undefined) return null;
  const pinned = inst.peerMacs.get(src);
  if (pinned === undefined || pinned === srcMac) return null;
  return {
    reason: "peer-mac",
    message: `source ${src} from MAC ${srcMac}, but that peer is pinned to ${pinned}`,
    difference: { reason: "mac", text: `MAC ${srcMac} vs pinned ${pinned}` },
  };
}

/**
 * What {@link PacketIntake} needs.
 *
 * @example
 * ```ts
 * const deps: PacketIntakeDeps = { table, foreign, counters, rateLog, feed, stepRetired };
 * ```
 */
export interface PacketIntakeDeps {
  /** The instances by transport, the retiring ones, and `global.checksum`. */
  readonly table: InstanceTable;
  readonly foreign: ForeignWatch;
  /** Node-wide counters (drops no instance owns, `internalErrors`). */
  readonly counters: Record<string, number>;
  readonly rateLog: RateLog;
  /**
   * Steps the engine and carries out its actions; `atMs`: when the packet arrived
   * (the engine judges it then), absent for now.
   */
  readonly feed: (event: NodeEvent, atMs?: number) => void;
  /** Steps a retiring instance's router and carries out its actions. */
  readonly stepRetired: (inst: Instance, event: RouterEvent) => void;
  /**
   * Told when a packet changed what only a loop turn acts on and no engine action or
   * log line shows (a peer's MAC newly learned: the VIP guard's view of its peers).
   */
  readonly changed?: () => void;
  /**
   * Told after an advert from `src` (its VRRP bytes) reached a live instance's engine:
   * whether a Backup's Master sent it is the runtime's to judge (see
   * `Instance.routine`).
   */
  readonly heard?: (inst: Instance, src: string, bytes: Uint8Array) => void;
}

/**
 * Carries out {@link routePacket}'s steps.
 *
 * @example
 * ```ts
 * const intake = new PacketIntake(deps);
 * ```
 */
export class PacketIntake {
  readonly #deps: PacketIntakeDeps;

  /**
   * Stateless beyond its dependencies.
   *
   * @example
   * ```ts
   * new PacketIntake({ table, foreign, counters, rateLog, feed, stepRetired });
   * ```
   */
  constructor(deps: PacketIntakeDeps) {
    this.#deps = deps;
  }

  /**
   * Handles one received packet. Nothing a packet contains can throw out of here: a
   * bug is counted (`internalErrors`) and logged, rate limited.
   *
   * @example
   * ```ts
   * intake.onPacket("eth0", "ipv4", { bytes, src: "192.0.2.2", dst: "224.0.0.18", ttl: 255 });
   * ```
   */
  onPacket(iface: string, family: Family, p: ReceivedPacket): void {
    try {
      this.#handle(iface, family, p);
    } catch (e) {
      bump(this.#deps.counters, "internalErrors");
      let from = "?";
      try {
        from = String(p?.src);
      } catch {
        // keep "?"
      }
      this.#deps.rateLog(
        `${iface}/internal`,
        "error",
        `${iface}: internal error handling a packet from ${from}: ${errorText(e)}`,
      );
    }
  }

  #handle(iface: string, family: Family, p: ReceivedPacket) {
    const { table } = this.#deps;
    // A run of identical routine adverts (see `ReceivedPacket.repeats`): the engine
    // counts them in one step; everything else here is done once per advert, as ever.
    const count = p.repeats ?? 1;
    const routes = routePacket({
      iface,
      family,
      packet: p,
      candidates: table.onTransportVrid(
        transportKeyOf(iface, family),
        p.bytes.length >= 2 ? p.bytes[1] : -1,
      ),
      retiring: table.retiring,
      checksumMode: table.config.global.checksum,
    });
    for (const r of routes) {
      if (r.kind === "drop") {
        for (let k = 0; k < count; k++) this.#drop(iface, r.targets, r.reason, r.message, r.src);
        continue;
      }
      if (r.kind === "refuse") {
        // Reported like any sender that disagrees with us, then dropped.
        for (let k = 0; k < count; k++) {
          this.#deps.foreign.observe(r.inst, r.advert, r.src, [r.difference], r.srcMac);
          this.#drop(iface, [r.inst], r.reason, r.message, r.src);
        }
        continue;
      }
      const { advert, src, checksumForm } = r;
      if (r.kind === "retired") {
        this.#deps.stepRetired(r.inst, { type: "advert", advert, src, checksumForm, count });
        continue;
      }
      // Learned always (the VIP guard tells peers from spoofers by it); enforced only
      // with pin_peer_mac.
      if (r.srcMac !== undefined && learnPeerMac(r.inst, src, r.srcMac)) this.#deps.changed?.();
      // Before the engine: its refusal (counted there) and this report see the same advert.
      for (let k = 0; k < count; k++) {
        this.#deps.foreign.observe(r.inst, advert, src, NO_EXTRA, r.srcMac);
      }
      // One shape, whatever is known: a field added later gives a hidden class only
      // short-lived events hold, and its loss deoptimised the engine (see `received`).
      const event: RouterEvent = {
        type: "advert",
        advert,
        src,
        checksumForm,
        srcMac: r.srcMac,
        count,
      };
      this.#deps.feed({ type: "router", name: r.inst.cfg.name, event }, p.atMs);
      this.#deps.heard?.(r.inst, src, p.bytes);
    }
  }

  #drop(
    iface: string,
    targets: readonly Instance[],
    reason: DropReason,
    message: string,
    src: string,
  ) {
    const { counters, rateLog, feed } = this.#deps;
    const counter = DROP_COUNTER[reason];
    if (targets.length === 0) {
      bump(counters, counter);
      // Other VRIDs on a shared LAN are normal (other clusters): not worth a warning.
      const level = reason === "vrid" ? "debug" : "warn";
      rateLog(`${iface}/${reason}`, level, `${iface}: dropped a packet from ${src}: ${message}`);
      return;
    }
    for (const inst of targets) {
      if (reason === "family" || reason === "vrid") {
        // The engine keeps no counter for these; the daemon does.
        bump(inst.extra, counter);
      } else {
        feed({ type: "router", name: inst.cfg.name, event: { type: "dropped", reason } });
      }
      rateLog(
        `${inst.cfg.name}/${reason}`,
        "warn",
        `${inst.cfg.name}: dropped a packet from ${src}: ${message}`,
      );
    }
  }
}

/** Nothing the intake found wrong with an advert (shared: one per packet was garbage). */
const NO_EXTRA: readonly ForeignDifference[] = Object.freeze([]);

/**
 * {@link transportKey}, remembered by interface: the key is needed for every packet,
 * and the interface names are the few the config names.
 */
const transportKeys = new Map<string, { ipv4: string; ipv6: string }>();

function transportKeyOf(iface: string, family: Family): string {
  let keys = transportKeys.get(iface);
  if (keys === undefined) {
    // Bounded by the interfaces that ever had a transport; cleared should that grow.
    if (transportKeys.size >= 4096) transportKeys.clear();
    keys = { ipv4: transportKey(iface, "ipv4"), ipv6: transportKey(iface, "ipv6") };
    transportKeys.set(iface, keys);
  }
  return keys[family];
}

/** Pins a peer's MAC on first sight (the table is bounded; see {@link PEER_MACS_MAX}). */
/** True when the MAC is newly learned. */
function learnPeerMac(inst: Instance, src: string, mac: string): boolean {
  if (inst.peerMacs.has(src) || inst.peerMacs.size >= PEER_MACS_MAX) return false;
  inst.peerMacs.set(src, mac);
  return true;
}
