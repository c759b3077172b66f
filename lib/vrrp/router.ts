/**
 * The VRRP protocol engine for one virtual router: RFC 3768 (v2), RFC 5798 and
 * RFC 9568 (v3) §6.4, plus Fault as keepalived and RFC 6527 know it.
 *
 * Sans-IO: `step(state, event, nowMs)` returns the next state and the actions to
 * carry out; it never reads a clock, arms a timer or touches a socket. Timers are
 * deadlines kept in the state; the caller asks `nextDeadline(state)` and feeds
 * `{ type: "tick" }` at or after that time. Inputs are never mutated: nested arrays
 * and objects of a state are replaced, not edited, so states can share them safely.
 *
 * @example
 * ```ts
 * let r = createRouter(config, 0);
 * ({ state: r } = step(r, { type: "startup" }, 0)); // Backup, Master_Down_Timer armed
 * const due = nextDeadline(r)!; // 3609.375 for v2 priority 100 at 1 s
 * const { state, actions } = step(r, { type: "tick" }, due); // Master: transition, send, hold-vips, announce
 * ```
 *
 * @module
 */

import { canonicalIp, compareIp, sameIpSet } from "../net/addr.ts";
import { sameBytes } from "../net/bytes.ts";
import { earlierDeadline, firstMasterDownMs, masterDownIntervalMs, skewTimeMs } from "./timing.ts";
import {
  type Advert,
  DROP_COUNTER,
  type DropReason,
  HISTORY_LIMIT,
  NO_AUTH_DATA,
  type OutgoingAdvert,
  type RouterAction,
  type RouterConfig,
  type RouterEvent,
  type RouterState,
  type RouterStateName,
  type StepResult,
  type TransitionReason,
  zeroCounters,
} from "./types.ts";

/**
 * The fault name a sync group uses to hold a member in Fault while another member
 * is faulty. Tracker names come from the config and cannot contain `@`, so it
 * never collides with a real tracker.
 *
 * @example
 * ```ts
 * step(r, { type: "force", state: "fault", detail: "sync group g" }, now).state.faults;
 * // [SYNC_GROUP_FAULT]
 * ```
 */
export const SYNC_GROUP_FAULT = "@sync-group";

const OWNER_PRIORITY = 255;

/** Longest a releasing master keeps its VIPs after hearing the new master. */
export const HANDOVER_GRACE_MAX_MS = 20;

/**
 * A lower-priority master heard this soon after our takeover is the old master's
 * parting advert crossing the network, not a dual-master episode. LAN latency is far
 * below it; a router whose first advert had not reached the old master by then was
 * partitioned from it.
 */
export const HANDOVER_ECHO_MAX_MS = 100;

/**
 * A lower-priority rival master counts as gone after this many of its advert intervals
 * without an advert from it: it missed at least one of its own adverts, so it heard us
 * and stepped down (or died), and its own GARPs are over.
 *
 * @example
 * ```ts
 * state.rivalQuietDeadlineMs === heardAtMs + RIVAL_QUIET_INTERVALS * rivalIntervalMs; // true
 * ```
 */
export const RIVAL_QUIET_INTERVALS = 2;

/**
 * Creates a router in state `init`, not started: it does nothing until `startup`.
 *
 * @example
 * ```ts
 * const r = createRouter(config, 0);
 * r.state; // "init"
 * r.priority; // config.priority
 * ```
 */
export function createRouter(config: RouterConfig, nowMs: number): RouterState {
  return {
    config,
    state: "init",
    priority: config.priority,
    faults: [],
    masterAdverIntervalMs: config.advertIntervalMs,
    adverDeadlineMs: null,
    masterDownDeadlineMs: null,
    preemptDeadlineMs: null,
    releaseDeadlineMs: null,
    holdingVips: false,
    lastMaster: null,
    rival: null,
    rivalQuietDeadlineMs: null,
    peerChecksum: {},
    sinceMs: nowMs,
    lastTransition: null,
    history: [],
    counters: zeroCounters(),
    stopped: false,
    maintenance: false,
  };
}

/**
 * The advert this router sends: configured VRID, addresses and auth, the given
 * priority (0 to release) and interval. v2 carries the password NUL-padded to its
 * 8 bytes (zeros for auth type 0); v3 has no auth.
 *
 * @example
 * ```ts
 * outgoingAdvert(config, 0, config.advertIntervalMs).priority; // 0
 * ```
 */
export function outgoingAdvert(
  config: RouterConfig,
  priority: number,
  intervalMs: number,
): OutgoingAdvert {
  return {
    version: config.version,
    vrid: config.vrid,
    priority,
    intervalMs,
    addresses: [...config.addresses],
    authType: config.version === 2 ? config.authType : 0,
    authData: config.version === 2 ? authBytes(config) : NO_AUTH_DATA,
  };
}

/**
 * The earliest pending deadline, or null when nothing is pending. Feed
 * `{ type: "tick" }` at or after it.
 *
 * @example
 * ```ts
 * const r = step(createRouter(config, 0), { type: "startup" }, 0).state;
 * nextDeadline(r); // r.masterDownDeadlineMs
 * ```
 */
export function nextDeadline(state: RouterState): number | null {
  // Asked for every router on every loop turn: compared in place, no array built.
  let best = earlierDeadline(state.adverDeadlineMs, state.masterDownDeadlineMs);
  best = earlierDeadline(best, state.preemptDeadlineMs);
  best = earlierDeadline(best, state.releaseDeadlineMs);
  return earlierDeadline(best, state.rivalQuietDeadlineMs);
}

/**
 * Advances the router by one event at time `nowMs` and returns the new state and the
 * actions to carry out, in order. A state change always puts its `transition` action
 * first. The input state is never modified.
 *
 * Events:
 * - `startup`: owner (priority 255) → Master; anyone else → Backup with a full
 *   Master_Down_Interval, counted from `startedAtMs` when given (see
 *   `firstMasterDownMs`); pending faults → Fault.
 * - `tick`: fires whichever deadlines are due.
 * - `advertise`: a Master sends an extra advert now; its schedule is unchanged.
 * - `advert`: validated (version, unicast peer, v2 auth, v2 interval, address list),
 *   then the RFC §6.4.2/§6.4.3 rules, with the RFC 9568 immediate reply by a Master.
 *   A Master that hears a lower-priority master (a dual-master episode it wins) also
 *   remembers it as its `rival`, and emits `reannounce` once the rival has been quiet
 *   for {@link RIVAL_QUIET_INTERVALS} of its intervals (or released with priority 0).
 * - `dropped`: a codec drop, counted.
 * - `priority`: new effective priority (clamped to 1..254; an owner stays 255).
 * - `fault`: one tracker failing or recovered; any failing → Fault.
 * - `force`: sync-group propagation. `master` takes over from Backup; `backup`
 *   demotes a Master (sending priority 0) and clears a sync-group fault; `fault`
 *   holds the router in Fault under `SYNC_GROUP_FAULT` until a `backup` force clears it.
 * - `shutdown`: priority 0 from a Master, then stopped for good.
 * - `maintenance`: on, a Master hands over (priority 0, VIPs kept through its release
 *   hold like a shutdown) and the router stays Backup with no timer: no takeover by
 *   Master_Down_Timer, priority-0 release, preemption or sync group. Off: a Backup gets
 *   a fresh Master_Down_Timer (an owner becomes Master at once).
 * - `reconfigure`: the config replaced in place (see {@link RouterEvent}); a Master
 *   keeps its advert schedule (the next advert no later than the new interval allows).
 *
 * @example
 * ```ts
 * let r = step(createRouter(config, 0), { type: "startup" }, 0).state;
 * const res = step(r, { type: "tick" }, nextDeadline(r)!);
 * res.actions.map((a) => a.type); // ["transition", "send", "hold-vips", "announce"]
 * ```
 */
export function step(state: RouterState, event: RouterEvent, nowMs: number): StepResult {
  const d: Draft = { s: { ...state, counters: { ...state.counters } }, actions: [], now: nowMs };
  stepDraft(d, event);
  return { state: d.s, actions: d.actions };
}

/**
 * {@link step}, with `state` itself (and its counters) as the next state: the same
 * changes and actions, without the copy. Only for a holder that keeps no earlier
 * version of the state and lends it to nobody who does: the daemon's instance table,
 * where a Backup following 50 Masters copied ~0.5 KB of state for each advert, a
 * quarter of what it allocated.
 *
 * @example
 * ```ts
 * const actions = stepInPlace(router, { type: "tick" }, nextDeadline(router)!);
 * ```
 */
export function stepInPlace(state: RouterState, event: RouterEvent, nowMs: number): RouterAction[] {
  const d: Draft = { s: state, actions: [], now: nowMs };
  stepDraft(d, event);
  return d.actions;
}

/** One event applied to the draft's state. */
function stepDraft(d: Draft, event: RouterEvent): void {
  if (d.s.stopped) {
    stepStopped(d, event);
    return;
  }
  switch (event.type) {
    case "startup":
      onStartup(d, event.startedAtMs ?? null);
      break;
    case "tick":
      onTick(d);
      break;
    case "advertise":
      // An extra advert: the periodic schedule stays as it was.
      if (d.s.state === "master") send(d, d.s.priority);
      break;
    case "advert":
      onAdvert(d, event.advert, event.src, event.checksumForm, event.srcMac, event.count ?? 1);
      break;
    case "dropped": {
      // A VRID nobody serves has no router to charge; the node counts those.
      const key = DROP_COUNTER[event.reason];
      if (key !== "vridErrors") d.s.counters[key]++;
      break;
    }
    case "priority":
      onPriority(d, event.priority);
      break;
    case "fault":
      onFault(d, event.tracker, event.failing);
      break;
    case "force":
      onForce(d, event.state, event.detail);
      break;
    case "shutdown":
      onShutdown(d);
      break;
    case "maintenance":
      onMaintenance(d, event.on);
      break;
    case "reconfigure":
      onReconfigure(d, event.config);
      break;
  }
}

/**
 * Postpones a takeover that is due now: re-arms the Master_Down_Timer (a full
 * Master_Down_Interval) and the preemption delay if they are due, changing nothing
 * else. A sync group uses it to keep a member in Backup while a sibling still follows
 * a live master, so the group does not split or flap.
 *
 * @example
 * ```ts
 * const held = deferTakeover(backup, backup.masterDownDeadlineMs!);
 * nextDeadline(held)! > backup.masterDownDeadlineMs!; // true
 * ```
 */
export function deferTakeover(state: RouterState, nowMs: number): RouterState {
  const s = { ...state };
  if (s.masterDownDeadlineMs !== null && s.masterDownDeadlineMs <= nowMs) {
    s.masterDownDeadlineMs = nowMs + mdi(s);
  }
  if (s.preemptDeadlineMs !== null && s.preemptDeadlineMs <= nowMs) {
    s.preemptDeadlineMs = nowMs + s.config.preemptDelayMs;
  }
  return s;
}

/**
 * True when this router is a Backup following a master it would not preempt (equal
 * or higher priority, or preemption off), heard within its Master_Down_Interval.
 * Sync groups must not take over while any member is in this state.
 *
 * @example
 * ```ts
 * followsLiveMaster(backupHearing200, now); // true while adverts keep coming
 * ```
 */
export function followsLiveMaster(state: RouterState, nowMs: number): boolean {
  const m = state.lastMaster;
  if (state.stopped || state.state !== "backup" || m === null || m.priority === 0) return false;
  if (nowMs - m.atMs >= mdi(state)) return false;
  // In maintenance nothing is preempted: the live master is followed whatever its priority.
  return m.priority >= state.priority || !state.config.preempt || state.maintenance;
}

// ---------------------------------------------------------------------------------
// Internals. A Draft is a shallow copy of the input state that handlers edit; nested
// arrays/objects are replaced whole, never edited, so the input stays untouched.

interface Draft {
  s: RouterState;
  actions: RouterAction[];
  now: number;
}

function isOwner(s: RouterState): boolean {
  return s.config.priority >= OWNER_PRIORITY;
}

function mdi(s: RouterState): number {
  return masterDownIntervalMs(s.config.version, s.priority, s.masterAdverIntervalMs);
}

function authBytes(config: RouterConfig): Uint8Array {
  const out = new Uint8Array(8);
  if (config.authType === 1) out.set(new TextEncoder().encode(config.authPass).subarray(0, 8));
  return out;
}

function transition(d: Draft, to: RouterStateName, reason: TransitionReason, detail: string) {
  const t = { from: d.s.state, to, reason, atMs: d.now, detail };
  const history = [...d.s.history, t];
  if (history.length > HISTORY_LIMIT) history.splice(0, history.length - HISTORY_LIMIT);
  d.s.state = to;
  d.s.sinceMs = d.now;
  d.s.lastTransition = t;
  d.s.history = history;
  if (to === "master") d.s.counters.masterTransitions++;
  d.actions.push({ type: "transition", transition: t });
}

function send(d: Draft, priority: number) {
  d.actions.push({ type: "send", advert: advertToSend(d.s.config, priority) });
  d.s.counters.advertisementsSent++;
  if (priority === 0) d.s.counters.priorityZeroSent++;
}

/**
 * The last advert made for each config, handed out again while the priority is the
 * same: a Master sends the same advert every interval, and a fresh object (its address
 * list copied, a v2 password encoded) was most of its tick's garbage. Frozen, since
 * every send of it shares it.
 */
const lastAdvert = new WeakMap<RouterConfig, Readonly<OutgoingAdvert>>();

function advertToSend(config: RouterConfig, priority: number): OutgoingAdvert {
  const last = lastAdvert.get(config);
  if (last !== undefined && last.priority === priority) return last;
  const advert = outgoingAdvert(config, priority, config.advertIntervalMs);
  Object.freeze(advert.addresses);
  lastAdvert.set(config, Object.freeze(advert));
  return advert;
}

/**
 * A Master's tick when all it does is send the periodic advert: the state and the one
 * `send` action {@link step} gives for `{ type: "tick" }` at `nowMs`, without the
 * general step's draft and dispatch (at 10 ms adverts this is most of what a Master
 * does). Null when that tick would do anything else or nothing (not a Master, stopped,
 * the advert not due, a rival's quiet deadline due): step then.
 *
 * @example
 * ```ts
 * const res = routineAdvertTick(master, master.adverDeadlineMs!) ?? step(master, { type: "tick" }, t);
 * ```
 */
export function routineAdvertTick(state: RouterState, nowMs: number): StepResult | null {
  if (state.state !== "master" || state.stopped || state.priority === 0) return null;
  const due = state.adverDeadlineMs;
  if (due === null || nowMs < due) return null;
  const quiet = state.rivalQuietDeadlineMs;
  if (quiet !== null && nowMs >= quiet && state.rival !== null) return null;
  const counters = { ...state.counters };
  counters.advertisementsSent++;
  return {
    state: { ...state, counters, adverDeadlineMs: nowMs + state.config.advertIntervalMs },
    actions: [{ type: "send", advert: advertToSend(state.config, state.priority) }],
  };
}

function holdVips(d: Draft) {
  if (d.s.holdingVips) return;
  d.s.holdingVips = true;
  d.actions.push({ type: "hold-vips" });
}

function releaseVips(d: Draft) {
  if (!d.s.holdingVips) return;
  d.s.holdingVips = false;
  d.actions.push({ type: "release-vips" });
}

function clearTimers(d: Draft) {
  d.s.adverDeadlineMs = null;
  d.s.masterDownDeadlineMs = null;
  d.s.preemptDeadlineMs = null;
  // A rival only matters to a Master; every way in or out of Master clears the timers.
  d.s.rival = null;
  d.s.rivalQuietDeadlineMs = null;
}

function enterMaster(d: Draft, reason: TransitionReason, detail: string) {
  transition(d, "master", reason, detail);
  clearTimers(d);
  // Taking back over during a maintenance release hold: the VIPs are still ours.
  d.s.releaseDeadlineMs = null;
  // As Master our own interval is the master's interval; a v3 Backup learns it from us.
  d.s.masterAdverIntervalMs = d.s.config.advertIntervalMs;
  // VIPs, then the announcement, then the advert: the old master releases as soon as
  // it hears us, so by then the VIPs must answer here and hosts must be told where
  // they are, or clients' connects land in the gap.
  holdVips(d);
  d.actions.push({ type: "announce" });
  send(d, d.s.priority);
  d.s.adverDeadlineMs = d.now + d.s.config.advertIntervalMs;
}

/**
 * Leaves Master (or Fault, or Init) for Backup. `learnedIntervalMs` is the v3
 * master's interval when a better advert caused this; otherwise the configured one,
 * since no master is known yet. `hold`: after the release advert, keep the VIPs
 * through the release hold (as a shutdown does) instead of dropping them at once.
 * In maintenance no Master_Down_Timer is armed: the router must not take over.
 */
function enterBackup(
  d: Draft,
  reason: TransitionReason,
  detail: string,
  opts: { releaseAdvert: boolean; learnedIntervalMs?: number; hold?: boolean; heard?: boolean },
) {
  const wasMaster = d.s.state === "master";
  transition(d, "backup", reason, detail);
  if (wasMaster && opts.releaseAdvert) send(d, 0);
  if (wasMaster && opts.releaseAdvert && opts.hold && d.s.config.releaseHoldMs > 0) {
    d.s.releaseDeadlineMs = d.now + d.s.config.releaseHoldMs;
  } else if (wasMaster && opts.heard && d.s.holdingVips) {
    // Preempted: the new master holds the VIPs and has announced them (it does both
    // before its first advert), but connects already on their way to us are still
    // arriving. Keep answering them for the handover grace, then let go.
    d.s.releaseDeadlineMs = d.now + handoverGraceMs(d.s);
  } else {
    releaseVips(d);
  }
  clearTimers(d);
  d.s.masterAdverIntervalMs = opts.learnedIntervalMs ?? d.s.config.advertIntervalMs;
  d.s.masterDownDeadlineMs = d.s.maintenance ? null : d.now + mdi(d.s);
}

function enterFault(d: Draft, reason: TransitionReason, detail: string) {
  const wasMaster = d.s.state === "master";
  transition(d, "fault", reason, detail);
  // Tell the Backups at once rather than let them wait out Master_Down_Interval.
  if (wasMaster) send(d, 0);
  // A fault ends a maintenance release hold too: a faulty router must not forward.
  d.s.releaseDeadlineMs = null;
  releaseVips(d);
  clearTimers(d);
}

function leaveFault(d: Draft, reason: TransitionReason, detail: string) {
  if (isOwner(d.s) && !d.s.maintenance) enterMaster(d, reason, detail);
  else enterBackup(d, reason, detail, { releaseAdvert: false });
}

function onStartup(d: Draft, startedAtMs: number | null) {
  if (d.s.state !== "init") return;
  if (d.s.faults.length > 0) {
    enterFault(d, "fault", `failing at startup: ${d.s.faults.join(", ")}`);
  } else if (isOwner(d.s) && !d.s.maintenance) {
    enterMaster(d, "owner", "address owner (priority 255)");
  } else {
    // `initialState: "master"` is only a hint: a non-owner that claimed Master at once
    // would fight a live master for up to one interval on every restart. Like
    // keepalived 2.x we always wait out a full Master_Down_Interval as Backup.
    const detail = d.s.maintenance
      ? "maintenance: staying backup"
      : `initial state hint ${d.s.config.initialState}`;
    enterBackup(d, "startup", detail, { releaseAdvert: false });
    // Counted from the process's start, not from whenever its sockets opened: routers
    // started together then decide by priority, not by start-up jitter.
    if (d.s.masterDownDeadlineMs !== null) {
      const s = d.s;
      s.masterDownDeadlineMs = firstMasterDownMs(
        s.config.version,
        s.priority,
        s.masterAdverIntervalMs,
        startedAtMs,
        d.now,
      );
    }
  }
}

function onTick(d: Draft) {
  const s = d.s;
  const now = d.now;
  if (s.state === "master") {
    if (s.adverDeadlineMs !== null && now >= s.adverDeadlineMs) {
      send(d, s.priority);
      s.adverDeadlineMs = now + s.config.advertIntervalMs;
    }
    if (s.rivalQuietDeadlineMs !== null && now >= s.rivalQuietDeadlineMs && s.rival !== null) {
      const r = s.rival;
      const silentMs = Number((now - r.atMs).toFixed(1));
      reannounce(d, `${r.ip} (priority ${r.priority}) silent for ${silentMs} ms`);
    }
    return;
  }
  if (s.state !== "backup") return;
  if (s.releaseDeadlineMs !== null && now >= s.releaseDeadlineMs) {
    s.releaseDeadlineMs = null;
    releaseVips(d);
  }
  if (s.maintenance) {
    // Nothing is armed in maintenance; this only guards against a stale deadline.
    s.masterDownDeadlineMs = null;
    s.preemptDeadlineMs = null;
    return;
  }
  if (s.masterDownDeadlineMs !== null && now >= s.masterDownDeadlineMs) {
    const [reason, detail] = takeoverReason(s, now);
    enterMaster(d, reason, detail);
    return;
  }
  if (s.preemptDeadlineMs !== null && now >= s.preemptDeadlineMs) {
    const m = s.lastMaster;
    if (s.config.preempt && m !== null && m.priority > 0 && m.priority < s.priority) {
      enterMaster(d, "preempt", `preempt delay over, master ${m.ip} priority ${m.priority}`);
    } else {
      s.preemptDeadlineMs = null;
    }
  }
}

/** Why the Master_Down_Timer fired, from the last advert heard. */
function takeoverReason(s: RouterState, now: number): [TransitionReason, string] {
  const m = s.lastMaster;
  // Accepted adverts reset the timer, so a timer firing within one Master_Down_Interval
  // of the last advert means that advert was not accepted (or was a release).
  if (m !== null && now - m.atMs < mdi(s)) {
    if (m.priority === 0) return ["priority-zero", `${m.ip} released (priority 0)`];
    if (m.priority < s.priority) {
      return ["preempt", `lower-priority master ${m.ip} priority ${m.priority}`];
    }
  }
  if (m === null && now - s.sinceMs < mdi(s)) return ["master-down-timer", NO_MASTER_SINCE_START];
  return ["master-down-timer", m ? `last heard ${m.ip} at ${m.atMs}` : NO_MASTER_HEARD];
}

/**
 * A takeover by the first Master_Down deadline after start, shorter than a full
 * interval (it counts from exec, see `firstMasterDownMs`) with no advert heard yet: a
 * live master's first advert may simply not have reached us, and one that steps down
 * on hearing us was handed over from, not a split brain.
 */
const NO_MASTER_SINCE_START = "no master heard since start (a shortened first wait)";
const NO_MASTER_HEARD = "no master heard";

/**
 * Whether this Master took over with no master heard at all: another router may have
 * taken over at the same moment (a cold start of several), and its GARPs may then have
 * reached the hosts after ours.
 */
function tookOverBlind(s: RouterState): boolean {
  const t = s.lastTransition;
  return t?.reason === "master-down-timer" &&
    (t.detail === NO_MASTER_HEARD || t.detail === NO_MASTER_SINCE_START);
}

/** How soon after our takeover a lower master's advert counts as crossing ours. */
function echoWindowMs(s: RouterState): number {
  return Math.min(s.config.advertIntervalMs, HANDOVER_ECHO_MAX_MS);
}

/** Why an advert is refused, as the counter to bump, or null when it is acceptable. */
/** Why an instance refuses a well-formed advert, with words for the log. */
interface Refusal {
  reason: DropReason;
  detail: string;
}

function refusal(s: RouterState, a: Advert, src: string): Refusal | null {
  const c = s.config;
  if (a.version !== c.version) {
    return {
      reason: "version",
      detail: `VRRPv${a.version} advert, this instance runs VRRPv${c.version}`,
    };
  }
  if (c.unicastPeers.length > 0) {
    const from = canonicalIp(src) ?? src;
    if (!c.unicastPeers.some((p) => (canonicalIp(p) ?? p) === from)) {
      return { reason: "unicast-peer", detail: `${src} is not in unicast_peer` };
    }
  }
  if (c.version === 2) {
    // Type 2 (IP AH) was removed from the protocol; refuse it even if both ends agree.
    if (a.authType !== c.authType || a.authType === 2) {
      return { reason: "auth-type", detail: `auth type ${a.authType}, expected ${c.authType}` };
    }
    if (a.authType === 1 && !sameBytes(a.authData, authBytes(c))) {
      return { reason: "auth", detail: "wrong auth_pass" };
    }
    // RFC 3768 §7.1: a differing Adver Int MUST be discarded.
    if (a.intervalMs !== c.advertIntervalMs) {
      return {
        reason: "interval",
        detail: `advert_int ${a.intervalMs / 1000} s, expected ${c.advertIntervalMs / 1000} s`,
      };
    }
  } else if (!(a.intervalMs > 0)) {
    // RFC 9568 erratum 8301: a zero interval would make every Backup time out at once.
    return { reason: "interval", detail: "Max Adver Int 0" };
  }
  // RFC 3768/5798 §7.1 say a differing address list SHOULD be logged and MUST be
  // dropped unless it comes from the owner (255). We also accept priority 0, so a
  // misconfigured master that steps down still gets a fast takeover. Either way the
  // mismatch is counted (the accepted ones in `onAdvert`).
  if (!sameIpSet(a.addresses, c.addresses) && a.priority !== 255 && a.priority !== 0) {
    return {
      reason: "address-list",
      detail: `addresses [${a.addresses.join(", ")}], configured [${c.addresses.join(", ")}]`,
    };
  }
  return null;
}

function isOwnAdvert(s: RouterState, src: string): boolean {
  return (canonicalIp(src) ?? src) === (canonicalIp(s.config.primaryIp) ?? s.config.primaryIp);
}

/** Sender beats us on the tie-break: higher primary address in network byte order. */
function senderWinsTie(s: RouterState, src: string): boolean {
  try {
    return compareIp(src, s.config.primaryIp) > 0;
  } catch {
    // A source of the other family cannot be ours to compare with; keep Master.
    return false;
  }
}

function onAdvert(
  d: Draft,
  a: Advert,
  src: string,
  checksumForm: "pseudo-header" | "rfc9568" | undefined,
  srcMac: string | undefined,
  count: number,
) {
  const s = d.s;
  // Our own multicast looped back is not a peer's advert: no counter, no effect.
  if (isOwnAdvert(s, src)) return;
  s.counters.advertisementsReceived += count;
  if (s.state === "fault" || s.state === "init") return;
  const refused = refusal(s, a, src);
  if (refused) {
    const counter = DROP_COUNTER[refused.reason];
    if (counter !== "vridErrors") s.counters[counter] += count;
    d.actions.push({ type: "refused", reason: refused.reason, src, detail: refused.detail });
    return;
  }
  if (!sameIpSet(a.addresses, s.config.addresses)) s.counters.addressListErrors += count;
  if (checksumForm && s.peerChecksum[src] !== checksumForm) {
    s.peerChecksum = { ...s.peerChecksum, [src]: checksumForm };
  }
  if (a.priority === 0) s.counters.priorityZeroReceived += count;
  // RFC 3768/5798/9568 §7.1: the address owner MUST discard adverts; it is Master
  // whatever anyone else says. It still notes a rival master, to announce again once
  // the rival has stepped down.
  if (isOwner(s)) {
    if (s.state === "master") noteRival(d, a, src);
    return;
  }
  if (s.state === "backup") backupAdvert(d, a, src, srcMac);
  else if (s.state === "master") masterAdvert(d, a, src, srcMac);
}

/**
 * Whether a priority-0 advert comes from the master this Backup follows: the same
 * address, and the same MAC when both are known. RFC 5798 §6.4.2 has a Backup act on
 * any priority 0; it can only mean "the Master is leaving" when the Master sent it. A
 * release from anyone else (VRRPv3 has no authentication, so anyone on the LAN can
 * send one) is ignored, and the Master_Down_Timer still runs as before: a real
 * master that left without being followed yet is taken over from within
 * Master_Down_Interval all the same.
 */
function fromFollowedMaster(s: RouterState, src: string, srcMac: string | undefined): boolean {
  const m = s.lastMaster;
  if (m === null || m.ip !== src) return false;
  return m.mac === undefined || srcMac === undefined || m.mac === srcMac;
}

/** The master just heard, with its MAC when the transport told it. */
function heardMaster(
  ip: string,
  priority: number,
  atMs: number,
  mac: string | undefined,
): NonNullable<RouterState["lastMaster"]> {
  return mac === undefined ? { ip, priority, atMs } : { ip, priority, atMs, mac };
}

function backupAdvert(d: Draft, a: Advert, src: string, srcMac: string | undefined) {
  const s = d.s;
  const now = d.now;
  if (a.priority === 0 && !fromFollowedMaster(s, src, srcMac)) {
    s.counters.priorityZeroIgnored++;
    return;
  }
  if (s.releaseDeadlineMs !== null && a.priority > 0) {
    // Handing over in maintenance: the new master speaks, so the VIPs can go soon.
    newMasterHeard(d);
  }
  s.lastMaster = heardMaster(src, a.priority, now, srcMac);
  if (s.maintenance) {
    // Follow (for status and the next Master_Down_Timer) but never arm a takeover.
    if (s.config.version === 3 && a.priority > 0) s.masterAdverIntervalMs = a.intervalMs;
    return;
  }
  if (a.priority === 0) {
    // The master stepped down: take over after Skew_Time only, best Backup first.
    s.masterDownDeadlineMs = now +
      skewTimeMs(s.config.version, s.priority, s.masterAdverIntervalMs);
    s.preemptDeadlineMs = null;
    return;
  }
  const accept = !s.config.preempt || a.priority >= s.priority;
  if (!accept && s.config.preemptDelayMs <= 0) {
    // RFC: discard, so the timer runs out and we preempt. lastMaster (set above)
    // lets the takeover be reported as "preempt".
    return;
  }
  if (s.config.version === 3) s.masterAdverIntervalMs = a.intervalMs;
  s.masterDownDeadlineMs = now + mdi(s);
  if (accept) {
    s.preemptDeadlineMs = null;
  } else if (s.preemptDeadlineMs === null) {
    // Delayed preemption: follow the lower master for now, take over when the delay ends.
    s.preemptDeadlineMs = now + s.config.preemptDelayMs;
  }
}

function masterAdvert(d: Draft, a: Advert, src: string, srcMac: string | undefined) {
  const s = d.s;
  const now = d.now;
  if (a.priority === 0) {
    // Another master stepped down: assert ourselves at once so Backups do not take over.
    send(d, s.priority);
    s.adverDeadlineMs = now + s.config.advertIntervalMs;
    // The rival of a dual-master episode released on its own: the episode is over.
    if (s.rival !== null && s.rival.ip === src) {
      reannounce(d, `${src} (priority ${s.rival.priority}) released (priority 0)`);
    }
    return;
  }
  if (a.priority > s.priority || (a.priority === s.priority && senderWinsTie(s, src))) {
    // Said as what it is, a preemption by a better router, so that nobody goes looking
    // for a split brain that did not happen.
    const why = a.priority > s.priority
      ? `preempted by ${src} (priority ${a.priority} > ${s.priority})`
      : `preempted by ${src} (priority ${a.priority}, higher address wins the tie)`;
    // One parting advert (keepalived's higher_prio_send_advert): after a healed
    // partition the winner may never have heard us, and only this tells it that hosts
    // learned our MAC for the VIPs and need its re-announcement.
    send(d, s.priority);
    enterBackup(d, "higher-priority", why, {
      releaseAdvert: false,
      learnedIntervalMs: s.config.version === 3 ? a.intervalMs : undefined,
      heard: true,
    });
    d.s.lastMaster = heardMaster(src, a.priority, now, srcMac);
    return;
  }
  // RFC 9568 §6.4.3: answer a lower-priority master at once, so it steps down within
  // one packet instead of both holding the VIPs until our next interval (keepalived
  // does the same unless `vrrp_lower_prio_no_advert`).
  send(d, s.priority);
  s.adverDeadlineMs = now + s.config.advertIntervalMs;
  noteRival(d, a, src);
}

/**
 * A lower-priority router advertises as Master while we are: a dual-master episode
 * (a healed partition, a one-way link) that we win. Remember it; when it has been
 * quiet for {@link RIVAL_QUIET_INTERVALS} of its intervals, `reannounce`.
 */
function noteRival(d: Draft, a: Advert, src: string) {
  const s = d.s;
  if (a.priority === 0) return;
  if (d.now - s.sinceMs < echoWindowMs(s)) {
    // Within moments of a preemption this is the old master's parting advert (or one
    // that crossed our first): its GARPs are long over, ours went out at the takeover.
    if (!tookOverBlind(s)) return;
    // A router that took over at the same moment as we did: its GARPs went out before
    // its advert, so they may have reached the hosts after ours. Announce again now,
    // and once more when it has gone quiet (the rival noted below).
    if (s.rival === null) d.actions.push({ type: "announce" });
  }
  const firstAtMs = s.rival !== null && s.rival.ip === src ? s.rival.firstAtMs : d.now;
  s.rival = { ip: src, priority: a.priority, atMs: d.now, firstAtMs };
  const quiet = d.now + RIVAL_QUIET_INTERVALS * a.intervalMs;
  // Two rivals at once: the episode ends when the slower of them is quiet.
  s.rivalQuietDeadlineMs = Math.max(s.rivalQuietDeadlineMs ?? quiet, quiet);
}

function reannounce(d: Draft, detail: string) {
  const rival = d.s.rival;
  const handover = rival !== null && isHandover(d.s, rival);
  d.s.rival = null;
  d.s.rivalQuietDeadlineMs = null;
  if (rival === null) return;
  d.actions.push({ type: "reannounce", rival: rival.ip, detail, handover });
}

/**
 * Whether a rival was only the master this router preempted (or, as the address owner,
 * took over from, or, just started, took over from before its first advert arrived:
 * see {@link NO_MASTER_SINCE_START}; or one that took over at the same moment as this
 * router, heard within the echo window), still speaking for a moment: heard first and
 * last within one Master_Down_Interval of ours (at least {@link HANDOVER_ECHO_MAX_MS})
 * after the takeover. A master that kept advertising longer than a backup waits before
 * declaring a master down did not step down on hearing us: that is a real dual master.
 */
function isHandover(s: RouterState, rival: NonNullable<RouterState["rival"]>): boolean {
  const t = s.lastTransition;
  const early = t?.reason === "master-down-timer" && t.detail === NO_MASTER_SINCE_START;
  const together = tookOverBlind(s) && rival.firstAtMs - s.sinceMs < echoWindowMs(s);
  if (t?.reason !== "preempt" && t?.reason !== "owner" && !early && !together) return false;
  const windowMs = Math.max(mdi(s), HANDOVER_ECHO_MAX_MS);
  return rival.firstAtMs - s.sinceMs <= windowMs && rival.atMs - s.sinceMs <= windowMs;
}

function onPriority(d: Draft, priority: number) {
  if (isOwner(d.s) || !Number.isFinite(priority)) return;
  d.s.priority = Math.min(254, Math.max(1, Math.round(priority)));
  // Nothing else changes now: a Master advertises the new value at its next interval
  // and Backups re-evaluate on the next advert, as keepalived does.
}

function onFault(d: Draft, tracker: string, failing: boolean) {
  const had = d.s.faults.includes(tracker);
  if (had === failing) return;
  d.s.faults = failing ? [...d.s.faults, tracker] : d.s.faults.filter((f) => f !== tracker);
  syncFaultState(d, failing ? "fault" : "fault-cleared", `tracker ${tracker}`);
}

/** Moves a started router into or out of Fault to match its fault set. */
function syncFaultState(d: Draft, reason: TransitionReason, detail: string) {
  const s = d.s;
  if (s.state === "init") return;
  if (s.faults.length > 0 && s.state !== "fault") enterFault(d, reason, detail);
  else if (s.faults.length === 0 && s.state === "fault") leaveFault(d, reason, detail);
}

function onForce(d: Draft, target: "backup" | "master" | "fault", detail: string) {
  const s = d.s;
  if (target === "master") {
    if (s.state === "backup" && !s.maintenance) enterMaster(d, "sync-group", detail);
    return;
  }
  if (target === "fault") {
    if (s.faults.includes(SYNC_GROUP_FAULT)) return;
    s.faults = [...s.faults, SYNC_GROUP_FAULT];
    syncFaultState(d, "sync-group", detail);
    return;
  }
  if (s.faults.includes(SYNC_GROUP_FAULT)) {
    s.faults = s.faults.filter((f) => f !== SYNC_GROUP_FAULT);
    syncFaultState(d, "sync-group", detail);
  } else if (s.state === "master") {
    // Leaving on purpose while still healthy: release so the peer takes over after
    // Skew_Time rather than Master_Down_Interval.
    enterBackup(d, "sync-group", detail, { releaseAdvert: true });
  }
}

function onShutdown(d: Draft) {
  const s = d.s;
  if (s.state === "master") {
    transition(d, "init", "shutdown", "stopped while master");
    send(d, 0);
    if (s.config.releaseHoldMs > 0) {
      // Keep forwarding until the new master speaks, so a planned handover drops nothing.
      s.releaseDeadlineMs = d.now + s.config.releaseHoldMs;
    } else {
      releaseVips(d);
    }
  } else if (s.state !== "init") {
    transition(d, "init", "shutdown", `stopped while ${s.state}`);
    // A maintenance handover still in its release hold finishes it as a stopped router.
    if (s.releaseDeadlineMs === null) releaseVips(d);
  }
  clearTimers(d);
  s.stopped = true;
}

function onMaintenance(d: Draft, on: boolean) {
  const s = d.s;
  if (s.maintenance === on) return;
  s.maintenance = on;
  // Init: startup reads the flag. Fault: leaving it does.
  if (s.state === "init" || s.state === "fault") return;
  if (on) {
    if (s.state === "master") {
      enterBackup(d, "maintenance", "maintenance on: handing over", {
        releaseAdvert: true,
        hold: true,
      });
    } else {
      s.masterDownDeadlineMs = null;
      s.preemptDeadlineMs = null;
    }
    return;
  }
  if (isOwner(s)) {
    enterMaster(d, "maintenance", "maintenance off: address owner (priority 255)");
  } else {
    // As after a fault: whoever is master now has a full interval to be heard.
    s.masterDownDeadlineMs = d.now + mdi(s);
  }
}

/** Identity of a router: what a reconfigure must not change (a new router instead). */
function sameIdentity(a: RouterConfig, b: RouterConfig): boolean {
  return a.name === b.name && a.vrid === b.vrid && a.version === b.version &&
    a.family === b.family && isOwnerPriority(a.priority) === isOwnerPriority(b.priority);
}

function isOwnerPriority(p: number): boolean {
  return p >= OWNER_PRIORITY;
}

function onReconfigure(d: Draft, config: RouterConfig) {
  const s = d.s;
  if (!sameIdentity(s.config, config)) return;
  s.config = config;
  if (s.state === "master") {
    s.masterAdverIntervalMs = config.advertIntervalMs;
    // Never later than the new interval allows, never earlier than already planned:
    // a shorter interval takes effect at once, a longer one after the advert due.
    if (s.adverDeadlineMs !== null) {
      s.adverDeadlineMs = Math.min(s.adverDeadlineMs, d.now + config.advertIntervalMs);
    }
  } else if (config.version === 2 || s.lastMaster === null) {
    // v2 has no learned interval, and a v3 Backup that heard nobody uses its own.
    s.masterAdverIntervalMs = config.advertIntervalMs;
  }
  if (!config.preempt) s.preemptDeadlineMs = null;
}

/** A stopped router only finishes its release hold; everything else is ignored. */
function stepStopped(d: Draft, event: RouterEvent) {
  const s = d.s;
  if (s.releaseDeadlineMs === null) return;
  if (event.type === "advert") {
    const fromNewMaster = event.advert.priority > 0 && !isOwnAdvert(s, event.src) &&
      refusal(s, event.advert, event.src) === null;
    if (fromNewMaster) newMasterHeard(d);
  }
  if (s.releaseDeadlineMs !== null && d.now >= s.releaseDeadlineMs) {
    s.releaseDeadlineMs = null;
    releaseVips(d);
  }
}

/** How long a master that heard its successor keeps the VIPs: one interval, at most 20 ms. */
function handoverGraceMs(s: RouterState): number {
  return Math.min(s.config.advertIntervalMs, HANDOVER_GRACE_MAX_MS);
}

/**
 * The new master's first advert ends a release hold, but not at once: connects that
 * hosts sent our way before its gratuitous ARPs / NAs reached them are still arriving
 * (the new master installs and announces the VIPs before that advert, but the wire and
 * the hosts take their time). Measured here, letting go at once cost 1–2 failed
 * connects in a third of planned handovers; keeping the VIPs one more advert interval
 * (at most {@link HANDOVER_GRACE_MAX_MS}) covers it. A master preempted by a better
 * router keeps them for the same grace.
 */
function newMasterHeard(d: Draft) {
  const s = d.s;
  if (s.releaseDeadlineMs === null) return;
  s.releaseDeadlineMs = Math.min(s.releaseDeadlineMs, d.now + handoverGraceMs(s));
  if (d.now >= s.releaseDeadlineMs) {
    s.releaseDeadlineMs = null;
    releaseVips(d);
  }
}
