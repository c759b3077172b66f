/**
 * The shared vocabulary of the VRRP core: adverts as the codec sees them, and the
 * router's configuration, state, events and actions as the engine sees them.
 *
 * Everything here is plain data (JSON-serialisable) so that golden traces, the
 * simulator and the control socket can print and compare it directly.
 *
 * Time is milliseconds everywhere in the engine (`…Ms`, possibly fractional: the
 * RFC skew divides by 256, which floating point holds exactly). v2 seconds and v3
 * centiseconds exist only at the codec edge.
 *
 * @module
 */

import type { Family } from "../net/addr.ts";
export type { Family } from "../net/addr.ts";

/** VRRP protocol version. */
export type VrrpVersion = 2 | 3;

/**
 * How the VRRPv3-over-IPv4 checksum is computed and checked.
 * - `auto`: send with the pseudo-header (keepalived's default), accept either form and
 *   remember which form each peer uses;
 * - `pseudo-header`: RFC 5798 as written: send and accept only with the pseudo-header;
 * - `rfc9568`: send and accept only the RFC 9568 form (no pseudo-header for IPv4).
 * IPv6 always uses the pseudo-header and v2 never does.
 */
export type ChecksumMode = "auto" | "pseudo-header" | "rfc9568";

/** v2 authentication types (RFC 3768 §5.2.6; type 2 is deprecated and refused). */
export type AuthType = 0 | 1 | 2;

/**
 * The auth data of a VRRPv3 advert (it has none): one shared empty array, since every
 * advert sent and received carries it and an array of its own cost an ArrayBuffer
 * each. Empty, so there is nothing in it to change.
 */
export const NO_AUTH_DATA: Uint8Array = new Uint8Array(0);

/** A decoded VRRP advertisement (the part after the IP header). */
export interface Advert {
  version: VrrpVersion;
  vrid: number;
  priority: number;
  /** Advertisement interval in ms: v2 seconds × 1000, v3 centiseconds × 10. */
  intervalMs: number;
  /** Virtual addresses carried in the advert, canonical text, in wire order. */
  addresses: string[];
  /** v2 only: auth type; 0 for v3. */
  authType: AuthType;
  /** v2 only: the 8 auth bytes as sent (simple-text password, NUL padded); empty for v3. */
  authData: Uint8Array;
  /** The checksum field as it was on the wire (or as computed when encoding). */
  checksum: number;
}

/** An advert to be encoded: the checksum is computed by the codec. */
export type OutgoingAdvert = Omit<Advert, "checksum">;

/**
 * Packet context the codec needs beyond the VRRP bytes: the IP header facts that feed
 * the pseudo-header checksum and the TTL / hop-limit rule.
 */
export interface PacketContext {
  family: Family;
  /** IP source address, canonical text. */
  src: string;
  /** IP destination address, canonical text. */
  dst: string;
  /** TTL (IPv4) or hop limit (IPv6) as received. */
  ttl: number;
}

/**
 * The closed set of reasons a received packet is dropped. Each maps to an RFC 6527
 * (VRRPv3 MIB) or RFC 2787 (VRRPv2 MIB) counter; see `DROP_COUNTER` in the codec.
 */
export type DropReason =
  | "truncated" // shorter than a header, or than its own address count says
  | "version" // version field is not 2 or 3, or not this instance's version
  | "type" // type field is not 1 (ADVERTISEMENT)
  | "checksum" // checksum mismatch
  | "ttl" // TTL / hop limit is not 255
  | "vrid" // no instance for this VRID on this interface
  | "address-list" // address count is 0, or the list differs from the configured VIPs
  | "length" // packet length does not match the address count
  | "auth-type" // v2 auth type unknown, or differs from ours
  | "auth" // v2 password mismatch
  | "interval" // v2 advert interval differs from ours
  | "family" // address family does not match the instance
  | "unicast-peer" // source not in the instance's peer list (unicast_peer, allowed_peers)
  | "peer-mac"; // a known peer's address from another link-layer address (pin_peer_mac)

/** Why a router changed state; shown in logs and status, and counted. */
export type TransitionReason =
  | "startup" // Initialize → Backup/Master at startup
  | "owner" // priority 255 goes straight to Master
  | "master-down-timer" // Master_Down_Timer fired
  | "higher-priority" // Master heard a better advert
  | "priority-zero" // Backup heard a priority-0 release (fast takeover)
  | "preempt" // Backup preempted a lower-priority master
  | "lower-priority-master" // Backup whose preemption is off/delayed still waits; recorded on preempt-delay expiry
  | "fault" // a tracker put the router in Fault
  | "fault-cleared" // the last fault cleared
  | "sync-group" // moved because another member of its sync group moved
  | "shutdown" // stopped by the operator
  | "maintenance"; // released on the operator's request

/** Router states (RFC 5798 §6.4, plus Fault as keepalived and RFC 6527 use it). */
export type RouterStateName = "init" | "backup" | "master" | "fault";

/**
 * Configuration of one protocol instance as the engine needs it. Derived from the
 * validated `Config` plus runtime facts (the primary address of the interface).
 */
export interface RouterConfig {
  name: string;
  vrid: number;
  version: VrrpVersion;
  family: Family;
  /** Configured (base) priority 1..255; 255 only for the address owner. */
  priority: number;
  /** Configured advert interval in ms. */
  advertIntervalMs: number;
  /** Preempt a lower-priority master. */
  preempt: boolean;
  /** When preempting, wait this long first (0 = at once). */
  preemptDelayMs: number;
  /** VIPs carried in adverts, canonical text, configured order. */
  addresses: string[];
  /** Our own primary address on the interface (tie-break, and what peers see as source). */
  primaryIp: string;
  /** Unicast peers; empty for multicast. */
  unicastPeers: string[];
  /** v2 auth: type and password (≤ 8 bytes). */
  authType: AuthType;
  authPass: string;
  /** Start in this state when allowed (keepalived's `state MASTER|BACKUP` hint). */
  initialState: "backup" | "master";
  /**
   * After sending priority 0 on shutdown, keep the VIPs until a new master is heard or
   * this long has passed, so a planned handover loses no traffic. 0 releases at once.
   */
  releaseHoldMs: number;
}

/** Counters kept per router; names follow RFC 6527 where it has one. */
export interface RouterCounters {
  masterTransitions: number;
  advertisementsSent: number;
  advertisementsReceived: number;
  priorityZeroSent: number;
  priorityZeroReceived: number;
  advertiseIntervalErrors: number;
  addressListErrors: number;
  authFailures: number;
  invalidAuthType: number;
  ipTtlErrors: number;
  packetLengthErrors: number;
  invalidTypePackets: number;
  versionErrors: number;
  checksumErrors: number;
  unicastPeerErrors: number;
  /** A pinned peer's address seen from another MAC (hacore's own, not in a MIB). */
  peerMacErrors: number;
  /**
   * Priority-0 adverts acted on by no one: not from the master this Backup follows
   * (address and MAC), so a forged release moves nothing (hacore's own).
   */
  priorityZeroIgnored: number;
}

/**
 * A fresh set of counters, every one at zero: what a new router starts with.
 *
 * @example
 * ```ts
 * zeroCounters().masterTransitions; // 0
 * ```
 */
export function zeroCounters(): RouterCounters {
  return {
    masterTransitions: 0,
    advertisementsSent: 0,
    advertisementsReceived: 0,
    priorityZeroSent: 0,
    priorityZeroReceived: 0,
    advertiseIntervalErrors: 0,
    addressListErrors: 0,
    authFailures: 0,
    invalidAuthType: 0,
    ipTtlErrors: 0,
    packetLengthErrors: 0,
    invalidTypePackets: 0,
    versionErrors: 0,
    checksumErrors: 0,
    unicastPeerErrors: 0,
    peerMacErrors: 0,
    priorityZeroIgnored: 0,
  };
}

/** One recorded transition. */
export interface Transition {
  from: RouterStateName;
  to: RouterStateName;
  reason: TransitionReason;
  atMs: number;
  /** Free text detail, e.g. "advert from 10.0.0.2 priority 200". */
  detail: string;
}

/** The full state of one router. Pure data; the engine never mutates it in place. */
export interface RouterState {
  config: RouterConfig;
  state: RouterStateName;
  /** Effective priority (base ± trackers, or operator override). */
  priority: number;
  /** Faults that are active now, by tracker name; non-empty means Fault. */
  faults: string[];
  /** Learned (v3) or configured interval of the current master, ms. */
  masterAdverIntervalMs: number;
  /** Deadline to send the next advert (Master), or null. */
  adverDeadlineMs: number | null;
  /** Deadline of the Master_Down_Timer (Backup), or null. */
  masterDownDeadlineMs: number | null;
  /** Deadline after which a delayed preemption happens (Backup), or null. */
  preemptDeadlineMs: number | null;
  /** After a shutdown advert, keep VIPs until this deadline (see releaseHoldMs). */
  releaseDeadlineMs: number | null;
  /** Whether the VIPs are (meant to be) held right now. */
  holdingVips: boolean;
  /**
   * Last advert heard from the master (address, priority, time, and the sender's MAC
   * when the transport reported it): for status, and the only router whose priority-0
   * release a Backup acts on.
   */
  lastMaster: { ip: string; priority: number; atMs: number; mac?: string } | null;
  /**
   * Master only: the last lower-priority router heard advertising as Master too (a
   * dual-master episode this router wins, e.g. after a partition heals, or the master
   * this router just preempted, still speaking), or null. `atMs`: its last advert;
   * `firstAtMs`: its first since it became our rival.
   */
  rival: { ip: string; priority: number; atMs: number; firstAtMs: number } | null;
  /**
   * When the rival counts as gone (it heard us and stepped down, or died): then the
   * Master announces its VIPs again (`reannounce`), so switches and hosts that learned
   * the rival's MAC during the episode learn ours. Null without a rival.
   */
  rivalQuietDeadlineMs: number | null;
  /** Checksum form each peer was seen using (v3/IPv4 in auto mode). */
  peerChecksum: Record<string, "pseudo-header" | "rfc9568">;
  /** Time of entering the current state. */
  sinceMs: number;
  lastTransition: Transition | null;
  /** The last transitions, newest last, at most `HISTORY_LIMIT`. */
  history: Transition[];
  counters: RouterCounters;
  /** True once stopped (shutdown); a stopped router ignores everything. */
  stopped: boolean;
  /**
   * Operator maintenance: the router stays out of Master (no Master_Down_Timer, no
   * preemption, no takeover on a priority-0 release or by its sync group) until off.
   */
  maintenance: boolean;
}

/** Inputs to the engine. */
export type RouterEvent =
  /**
   * Start the router. `startedAtMs`: when the router's process started (its exec), on
   * the caller's clock; the first Master_Down deadline counts from it (see
   * `firstMasterDownMs`). Absent: from now, as a router added by a reload starts.
   */
  | { type: "startup"; startedAtMs?: number }
  /** Time has advanced; the engine fires whichever deadlines are due. */
  | { type: "tick" }
  /**
   * A Master sends an extra advert now (its periodic schedule unchanged); anyone else
   * ignores it. Fed before work that keeps the caller's loop busy (a reload reading,
   * parsing and applying a config): the Backups' Master_Down timers restart, so the work
   * has a whole Master_Down_Interval before a Backup would take over, not what is left
   * of the current advert interval.
   */
  | { type: "advertise" }
  /**
   * A received advert that passed codec validation. `srcMac`: the sender's link-layer
   * address ("aa:bb:cc:dd:ee:ff") when the transport can tell it.
   */
  | {
    type: "advert";
    advert: Advert;
    src: string;
    checksumForm?: "pseudo-header" | "rfc9568";
    srcMac?: string;
    /**
     * How many identical copies arrived back to back, the last now (default 1): they
     * are counted as that many and judged once, since each after the first changes
     * nothing but the counters and the time it was heard.
     */
    count?: number;
  }
  /** A packet for this instance dropped before it reached the engine (codec error). */
  | { type: "dropped"; reason: DropReason }
  /** New effective priority from trackers or an operator override. */
  | { type: "priority"; priority: number }
  /** A tracker's fault state changed. */
  | { type: "fault"; tracker: string; failing: boolean }
  /** Sync-group propagation: move to this state because a peer member did. */
  | { type: "force"; state: "backup" | "master" | "fault"; detail: string }
  /** Orderly stop (SIGTERM, removed by reload): send priority 0 and release. */
  | { type: "shutdown" }
  /**
   * Operator maintenance on: a Master hands over (priority 0, then release like a
   * shutdown) and the router stays Backup; off: Backup with a fresh Master_Down_Timer.
   */
  | { type: "maintenance"; on: boolean }
  /**
   * A reload changed settings that need no new router (same name, VRID, version and
   * family): the config is replaced in place with no state change and no missed
   * advert. The effective priority is not touched; feed a `priority` event for that.
   */
  | { type: "reconfigure"; config: RouterConfig };

/** Outputs of the engine; the daemon (or simulator) carries them out in order. */
export type RouterAction =
  /** Send this advertisement (priority 0 on release); the codec fills in the checksum. */
  | { type: "send"; advert: OutgoingAdvert }
  /** Install the VIPs now. */
  | { type: "hold-vips" }
  /** Remove the VIPs now. */
  | { type: "release-vips" }
  /** Gratuitous ARP / unsolicited NA for the VIPs. */
  | { type: "announce" }
  /**
   * A dual-master episode ended in this Master's favour: the lower-priority master
   * `rival` went quiet (or released). Start a fresh GARP/NA burst, so what learned
   * the rival's MAC for the VIPs learns ours again; the daemon counts and logs it.
   */
  /**
   * `handover`: the rival was the master this router just preempted, heard only within
   * the handover window after the takeover: a plain preemption, not a split brain.
   */
  | { type: "reannounce"; rival: string; detail: string; handover: boolean }
  /** A state change happened; run notify hooks and log it. */
  | { type: "transition"; transition: Transition }
  /**
   * An advert that decoded fine was refused by this instance's rules (version, auth,
   * interval, address list, unicast peer); already counted. The daemon logs it,
   * rate-limited, so a misconfigured peer is visible and not only a counter.
   */
  | { type: "refused"; reason: DropReason; src: string; detail: string };

/** Result of one engine step. */
export interface StepResult {
  state: RouterState;
  actions: RouterAction[];
}

/** How many transitions the state remembers. */
export const HISTORY_LIMIT = 50;

/**
 * Names of drop counters: every `RouterCounters` field, plus the one that has no
 * router to live on (a VRID nobody here serves is counted node-wide, as RFC 6527's
 * `vrrpv3RouterVrIdErrors` is).
 */
export type DropCounterName = keyof RouterCounters | "vridErrors";

/**
 * The counter each drop reason bumps; the codec, the engine and the daemon share this
 * one table. Both "truncated" and "length" are packet-length errors in the MIB;
 * "family" (v2 over IPv6, or an advert on the wrong family) has no MIB object of its
 * own and is counted as a version error, which is what it is to a VRRPv2 peer.
 *
 * @example
 * ```ts
 * counters[DROP_COUNTER["checksum"]]++; // checksumErrors
 * ```
 */
export const DROP_COUNTER: Readonly<Record<DropReason, DropCounterName>> = Object.freeze({
  truncated: "packetLengthErrors",
  length: "packetLengthErrors",
  version: "versionErrors",
  family: "versionErrors",
  type: "invalidTypePackets",
  checksum: "checksumErrors",
  ttl: "ipTtlErrors",
  vrid: "vridErrors",
  "address-list": "addressListErrors",
  "auth-type": "invalidAuthType",
  auth: "authFailures",
  interval: "advertiseIntervalErrors",
  "unicast-peer": "unicastPeerErrors",
  "peer-mac": "peerMacErrors",
});
