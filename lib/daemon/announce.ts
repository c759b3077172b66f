/**
 * When to send gratuitous ARPs (IPv4) and unsolicited neighbour advertisements (IPv6)
 * for a Master's VIPs, with keepalived's semantics and global option names:
 *
 * - on becoming Master, a burst: `vrrp_garp_master_repeat` rounds, each announcing
 *   every VIP of the family once, rounds `vrrp_garp_interval` (IPv4) or
 *   `vrrp_gna_interval` (IPv6) apart; 0 sends them back to back;
 * - `vrrp_garp_master_delay` after that, the same burst again (0 = no second burst),
 *   for the switches that were still relearning during the first one;
 * - while Master, every `vrrp_garp_master_refresh` (0 = never) a burst of
 *   `vrrp_garp_master_refresh_repeat` rounds;
 * - leaving Master cancels everything pending.
 *
 * Pure and deadline-based like the engine: {@link announceNextDeadline} says when to
 * wake, {@link announceDue} returns what is due then and the new state.
 *
 * keepalived on the wire, as captured (defaults: repeat 5, delay 5 s, interval 0): the
 * first advert, then about 0.1 ms later 5 GARPs per VIP, and 5 more exactly 5 s later.
 *
 * @example
 * ```ts
 * const cfg = announceConfig(config.global);
 * let s = startAnnounce(cfg, [{ dev: "eth0", address: "192.0.2.100", family: "ipv4" }], now);
 * const r = announceDue(s, cfg, now); // 5 × { kind: "garp", dev: "eth0", address: "192.0.2.100" }
 * s = r.state;
 * announceNextDeadline(s); // now + 5000
 * ```
 *
 * @module
 */

import type { GarpConfig, GlobalConfig } from "../config/schema.ts";
import type { Family } from "../net/addr.ts";

/**
 * The timing knobs, from `[global]`.
 *
 * @example
 * ```ts
 * const cfg: AnnounceConfig = announceConfig(GLOBAL_DEFAULTS);
 * cfg.repeat; // 5
 * ```
 */
export interface AnnounceConfig {
  /** `vrrp_garp_master_repeat`: rounds per burst. */
  readonly repeat: number;
  /** `vrrp_garp_master_delay`: second burst this long after the first; 0 = none. */
  readonly delayMs: number;
  /** `vrrp_garp_master_refresh`: refresh period while Master; 0 = never. */
  readonly refreshMs: number;
  /** `vrrp_garp_master_refresh_repeat`: rounds per refresh burst. */
  readonly refreshRepeat: number;
  /** `vrrp_garp_interval`: gap between IPv4 rounds. */
  readonly garpIntervalMs: number;
  /** `vrrp_gna_interval`: gap between IPv6 rounds. */
  readonly gnaIntervalMs: number;
  /** `garp_lower_prio_repeat`: rounds per burst on a lower-priority advert; 0 = none. */
  readonly lowerPrioRepeat: number;
  /** `garp_lower_prio_delay`: that burst again this long later; 0 = not. */
  readonly lowerPrioDelayMs: number;
}

/**
 * Picks the announce settings out of the validated global config.
 *
 * @example
 * ```ts
 * announceConfig(config.global).delayMs; // 5000 by default
 * ```
 */
export function announceConfig(g: GlobalConfig): AnnounceConfig {
  return {
    repeat: g.garpMasterRepeat,
    delayMs: g.garpMasterDelayMs,
    refreshMs: g.garpMasterRefreshMs,
    refreshRepeat: g.garpMasterRefreshRepeat,
    garpIntervalMs: g.garpIntervalMs,
    gnaIntervalMs: g.gnaIntervalMs,
    lowerPrioRepeat: g.garpLowerPrioRepeat ?? 0,
    lowerPrioDelayMs: g.garpLowerPrioDelayMs ?? g.garpMasterDelayMs,
  };
}

/**
 * One instance's announce settings: the global intervals with its own
 * `garp_master_*` and `garp_lower_prio_*` (which default to the global ones).
 *
 * @example
 * ```ts
 * instanceAnnounceConfig(table.announceCfg, vi.garp).repeat; // vi's garp_master_repeat
 * ```
 */
export function instanceAnnounceConfig(base: AnnounceConfig, garp: GarpConfig): AnnounceConfig {
  return {
    ...base,
    repeat: garp.masterRepeat,
    delayMs: garp.masterDelayMs,
    refreshMs: garp.masterRefreshMs,
    refreshRepeat: garp.masterRefreshRepeat,
    lowerPrioRepeat: garp.lowerPrioRepeat,
    lowerPrioDelayMs: garp.lowerPrioDelayMs,
  };
}

/**
 * One address to announce.
 *
 * @example
 * ```ts
 * const t: AnnounceTarget = { dev: "eth0", address: "2001:db8::100", family: "ipv6" };
 * ```
 */
export interface AnnounceTarget {
  readonly dev: string;
  readonly address: string;
  readonly family: Family;
}

/**
 * One frame to send now: a gratuitous ARP (IPv4) or an unsolicited NA (IPv6).
 *
 * @example
 * ```ts
 * const a: Announcement = { kind: "garp", dev: "eth0", address: "192.0.2.100" };
 * ```
 */
export interface Announcement {
  readonly kind: "garp" | "na";
  readonly dev: string;
  readonly address: string;
}

/**
 * A pending round: at `atMs`, announce every target of `family` once.
 *
 * @example
 * ```ts
 * const r: AnnounceRound = { atMs: 5000, family: "ipv4" };
 * ```
 */
export interface AnnounceRound {
  readonly atMs: number;
  readonly family: Family;
}

/**
 * The schedule of one instance. Pure data; functions here return new states.
 *
 * @example
 * ```ts
 * IDLE_ANNOUNCE.rounds.length; // 0
 * ```
 */
export interface AnnounceState {
  readonly targets: readonly AnnounceTarget[];
  /** Pending rounds in time order (ties: the order they were scheduled in). */
  readonly rounds: readonly AnnounceRound[];
  /** Next refresh burst, or null. */
  readonly refreshAtMs: number | null;
}

/**
 * Nothing scheduled: not Master, or Master with announcements done and no refresh.
 *
 * @example
 * ```ts
 * announceNextDeadline(IDLE_ANNOUNCE); // null
 * ```
 */
export const IDLE_ANNOUNCE: AnnounceState = Object.freeze({
  targets: Object.freeze([]),
  rounds: Object.freeze([]),
  refreshAtMs: null,
});

function burst(
  cfg: AnnounceConfig,
  targets: readonly AnnounceTarget[],
  startMs: number,
  repeat: number,
): AnnounceRound[] {
  const out: AnnounceRound[] = [];
  for (const family of ["ipv4", "ipv6"] as const) {
    if (!targets.some((t) => t.family === family)) continue;
    const gap = family === "ipv4" ? cfg.garpIntervalMs : cfg.gnaIntervalMs;
    for (let k = 0; k < repeat; k++) out.push({ atMs: startMs + k * gap, family });
  }
  // The two families are spaced differently, so their rounds interleave.
  return merge([], out);
}

function merge(a: readonly AnnounceRound[], b: readonly AnnounceRound[]): AnnounceRound[] {
  // Stable on time, so earlier-scheduled rounds (and IPv4 before IPv6) go first on ties.
  return [...a, ...b].map((r, i) => ({ r, i }))
    .sort((x, y) => x.r.atMs - y.r.atMs || x.i - y.i)
    .map((x) => x.r);
}

/**
 * The schedule of a router that has just become Master at `nowMs`: the first burst
 * (due at once), the delayed second burst and the first refresh. Replaces whatever
 * was pending.
 *
 * @example
 * ```ts
 * const s = startAnnounce(cfg, targets, 1000);
 * announceNextDeadline(s); // 1000
 * ```
 */
export function startAnnounce(
  cfg: AnnounceConfig,
  targets: readonly AnnounceTarget[],
  nowMs: number,
): AnnounceState {
  if (targets.length === 0) return IDLE_ANNOUNCE;
  let rounds = burst(cfg, targets, nowMs, cfg.repeat);
  if (cfg.delayMs > 0) rounds = merge(rounds, burst(cfg, targets, nowMs + cfg.delayMs, cfg.repeat));
  return {
    targets: [...targets],
    rounds,
    refreshAtMs: cfg.refreshMs > 0 ? nowMs + cfg.refreshMs : null,
  };
}

/**
 * A master heard a lower-priority advert: another router believes it is master, and
 * hosts may be following it. keepalived answers with a burst of
 * `garp_lower_prio_repeat` rounds at once and another `garp_lower_prio_delay` later;
 * this adds those to what is pending (nothing when the repeat is 0 or nothing is held).
 *
 * @example
 * ```ts
 * inst.announce = lowerPriorityAnnounce(inst.announce, cfg, now);
 * ```
 */
export function lowerPriorityAnnounce(
  s: AnnounceState,
  cfg: AnnounceConfig,
  nowMs: number,
): AnnounceState {
  if (cfg.lowerPrioRepeat === 0 || s.targets.length === 0) return s;
  let rounds = merge(s.rounds, burst(cfg, s.targets, nowMs, cfg.lowerPrioRepeat));
  if (cfg.lowerPrioDelayMs > 0) {
    rounds = merge(
      rounds,
      burst(cfg, s.targets, nowMs + cfg.lowerPrioDelayMs, cfg.lowerPrioRepeat),
    );
  }
  return { ...s, rounds };
}

/**
 * One more burst at `atMs`, added to what is pending: after a Master preempted a live
 * lower-priority master, whose own takeover GARPs can trail ours until it hears our
 * first advert and steps down (seen on a cold start: the clients then followed the old
 * master for seconds). Nothing when nothing is held.
 *
 * @example
 * ```ts
 * inst.announce = followUpAnnounce(inst.announce, cfg, now + PREEMPT_FOLLOW_UP_MS);
 * ```
 */
export function followUpAnnounce(
  s: AnnounceState,
  cfg: AnnounceConfig,
  atMs: number,
): AnnounceState {
  if (s.targets.length === 0) return s;
  return { ...s, rounds: merge(s.rounds, burst(cfg, s.targets, atMs, cfg.repeat)) };
}

/**
 * How long after preempting a live master its GARPs are answered once more (see
 * {@link followUpAnnounce}): it steps down on our first advert, sent right after our
 * first burst, within a few milliseconds of a loaded loop.
 */
export const PREEMPT_FOLLOW_UP_MS = 60;

/**
 * Cancels everything pending (the router left Master).
 *
 * @example
 * ```ts
 * stopAnnounce() === IDLE_ANNOUNCE; // true
 * ```
 */
export function stopAnnounce(): AnnounceState {
  return IDLE_ANNOUNCE;
}

/**
 * When something is next due, or null.
 *
 * @example
 * ```ts
 * announceNextDeadline(startAnnounce(cfg, targets, 0)); // 0
 * ```
 */
export function announceNextDeadline(s: AnnounceState): number | null {
  const r = s.rounds.length > 0 ? s.rounds[0].atMs : null;
  if (r === null) return s.refreshAtMs;
  return s.refreshAtMs === null ? r : Math.min(r, s.refreshAtMs);
}

/**
 * Everything due at `nowMs`, in order, and the state after it. A refresh that comes
 * due schedules its burst (whose first round is then due too) and the next refresh.
 * After a long stall (a suspended host) missed refreshes are not replayed: one burst,
 * and the period restarts from now.
 *
 * @example
 * ```ts
 * const { state, announcements } = announceDue(s, cfg, clock.nowMs());
 * for (const a of announcements) a.kind === "garp" ? announcer.garp(a.dev, a.address) : announcer.unsolicitedNa(a.dev, a.address);
 * ```
 */
export function announceDue(
  s: AnnounceState,
  cfg: AnnounceConfig,
  nowMs: number,
): { state: AnnounceState; announcements: Announcement[] } {
  let rounds = s.rounds;
  let refreshAtMs = s.refreshAtMs;
  if (refreshAtMs !== null && refreshAtMs <= nowMs) {
    rounds = merge(rounds, burst(cfg, s.targets, refreshAtMs, cfg.refreshRepeat));
    refreshAtMs += cfg.refreshMs;
    if (refreshAtMs <= nowMs) refreshAtMs = nowMs + cfg.refreshMs;
  }
  const announcements: Announcement[] = [];
  let i = 0;
  for (; i < rounds.length && rounds[i].atMs <= nowMs; i++) {
    const family = rounds[i].family;
    for (const t of s.targets) {
      if (t.family !== family) continue;
      announcements.push({
        kind: family === "ipv4" ? "garp" : "na",
        dev: t.dev,
        address: t.address,
      });
    }
  }
  if (i === 0 && refreshAtMs === s.refreshAtMs) return { state: s, announcements };
  return { state: { targets: s.targets, rounds: rounds.slice(i), refreshAtMs }, announcements };
}
