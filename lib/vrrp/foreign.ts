/**
 * Foreign senders: other routers that advertise OUR virtual router (same VRID, same
 * link, same family) with settings that differ from ours: another VIP set, another
 * authentication, another advert interval or another VRRP version. Two such routers
 * do not agree on who is Master, or on what Master means, so each may hold
 * addresses the other claims too: the classic split brain of a copy-pasted VRID.
 *
 * The engine already drops what RFC 3768/5798 §7.1 tell it to (and counts it with the
 * RFC 6527 counters); this table is the report on top: who, what differs, since when,
 * how often. It never changes what the engine does, so it lives beside the engine
 * rather than in `RouterState`: the golden traces and the simulator, which replay
 * protocol behaviour, stay free of a purely diagnostic concern, and a foreign sender
 * is reported in every state (a router in Fault still hears the link).
 *
 * What counts as different, and why (RFC 3768 §7.1, RFC 5798 §6.4.2 and §7.1,
 * keepalived's `vrrp_check_packet`):
 * - the VIP set (as a set: order does not matter). The RFCs drop such adverts unless
 *   they come from the owner (255); the owner's differing list is still reported;
 * - v2 authentication: the type, or the password (never printed);
 * - the advert interval. In v2 a differing interval MUST be discarded (RFC 3768 §7.1);
 *   in v3 it is legitimate (a Backup learns Master_Adver_Interval from the Master,
 *   RFC 5798 §6.4.2, and keepalived only logs it), so the engine accepts the advert
 *   and only this report says the two configs disagree: when this router takes over
 *   it will advertise at its own rate;
 * - the version (a v2 router on a v3 instance's VRID, or the reverse);
 * - what the daemon refused before the engine (`extra` of {@link observeForeign}): a
 *   pinned peer's address from another MAC (`mac`), a source outside `allowed_peers`
 *   (`peer`). Those adverts are dropped, and this report says who sent them.
 *
 * Pure and deadline-based like the engine: the caller feeds each advert with
 * {@link observeForeign}, asks {@link foreignNextDeadline} when to wake, and calls
 * {@link expireForeign} then. A sender is resolved when its adverts agree with ours
 * again, or when it has been quiet for {@link quietWindowMs} of its interval.
 *
 * @example
 * ```ts
 * let table: ForeignTable = [];
 * const r = observeForeign(table, config, advert, "192.0.2.99", now);
 * table = r.table;
 * if (r.change?.kind === "started") log.warn(`foreign sender ${r.change.sender.src}: ${describeForeign(r.change.sender)}`);
 * const due = foreignNextDeadline(table); // wake then, and call expireForeign(table, due)
 * ```
 *
 * @module
 */

import { canonicalIp, sameIpSet } from "../net/addr.ts";
import { sameBytes } from "../net/bytes.ts";
import { outgoingAdvert } from "./router.ts";
import type { Advert, AuthType, RouterConfig } from "./types.ts";

/**
 * What differs between a foreign sender's adverts and ours.
 *
 * @example
 * ```ts
 * const r: ForeignReason = "addresses";
 * ```
 */
export type ForeignReason = "version" | "addresses" | "auth" | "interval" | "mac" | "peer";

/**
 * One difference, with words for people: `VIPs 192.0.2.10,192.0.2.11 vs ours 192.0.2.10`,
 * `auth PASS differs`, `interval 2000 ms vs ours 1000 ms`.
 *
 * @example
 * ```ts
 * const d: ForeignDifference = { reason: "interval", text: "interval 2000 ms vs ours 1000 ms" };
 * ```
 */
export interface ForeignDifference {
  readonly reason: ForeignReason;
  readonly text: string;
}

/**
 * One foreign sender as the table keeps it. Times are the caller's clock (ms).
 *
 * @example
 * ```ts
 * const s: ForeignSender = table[0];
 * `${s.src}: ${s.count} adverts since ${s.firstSeenMs}`;
 * ```
 */
export interface ForeignSender {
  /** Source address, canonical text. */
  readonly src: string;
  /**
   * The sender's MAC when the transport tells it: a sender is an (address, MAC) pair,
   * so the real peer's agreeing adverts do not resolve a forger using its address.
   */
  readonly mac?: string;
  /** What its last advert had that ours do not, in a fixed order (version, addresses, auth, interval). */
  readonly differences: readonly ForeignDifference[];
  /** Priority of its last advert. */
  readonly priority: number;
  /** Interval of its last advert, ms. */
  readonly intervalMs: number;
  /** Conflicting adverts from it since it started conflicting. */
  readonly count: number;
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  /** Resolved as quiet if nothing more is heard from it by then. */
  readonly quietDeadlineMs: number;
}

/**
 * The foreign senders of one instance, oldest first. Pure data; functions here return
 * new tables and never edit one.
 *
 * @example
 * ```ts
 * const empty: ForeignTable = [];
 * ```
 */
export type ForeignTable = readonly ForeignSender[];

/**
 * How the table changed with one advert or one expiry.
 * - `started`: a sender began to conflict (log a warning);
 * - `changed`: a known sender now differs in another way (log, rate-limited);
 * - `resolved`: its adverts agree with ours again (`agrees`), or it went quiet (`quiet`);
 * - `full`: a new conflicting sender, but the table is at {@link FOREIGN_SENDERS_MAX}
 *   (a flood of spoofed sources must not grow memory); counted, not listed.
 *
 * @example
 * ```ts
 * const c: ForeignChange = { kind: "resolved", sender, why: "quiet" };
 * ```
 */
export type ForeignChange =
  | { readonly kind: "started"; readonly sender: ForeignSender }
  | { readonly kind: "changed"; readonly sender: ForeignSender; readonly before: ForeignSender }
  | { readonly kind: "resolved"; readonly sender: ForeignSender; readonly why: "agrees" | "quiet" }
  | {
    readonly kind: "full";
    readonly src: string;
    readonly differences: readonly ForeignDifference[];
  };

/**
 * At most this many senders are listed per instance; more are counted only.
 *
 * @example
 * ```ts
 * table.length <= FOREIGN_SENDERS_MAX; // always
 * ```
 */
export const FOREIGN_SENDERS_MAX = 16;
/**
 * A sender is quiet after this many of its own intervals without an advert...
 *
 * @example
 * ```ts
 * quietWindowMs(5000) === FOREIGN_QUIET_INTERVALS * 5000; // true
 * ```
 */
export const FOREIGN_QUIET_INTERVALS = 3;
/**
 * ...and never sooner than this, so a slow or lossy sender does not flap in the log.
 *
 * @example
 * ```ts
 * quietWindowMs(100) === FOREIGN_QUIET_MIN_MS; // true
 * ```
 */
export const FOREIGN_QUIET_MIN_MS = 10_000;

const AUTH_NAME: Readonly<Record<AuthType, string>> = { 0: "NONE", 1: "PASS", 2: "AH" };

function authName(t: number): string {
  return AUTH_NAME[t as AuthType] ?? `type ${t}`;
}

/** No difference: shared, and frozen so that no caller can add one to it. */
const NO_DIFFERENCES: readonly ForeignDifference[] = Object.freeze([]);

/** {@link observeForeign}'s answer for an agreeing advert to an empty table. */
const AGREED = Object.freeze({
  table: Object.freeze([]) as ForeignTable,
  conflicting: false,
  change: null,
});

function canon(ips: readonly string[]): string[] {
  return ips.map((x) => canonicalIp(x) ?? x);
}

function list(ips: readonly string[]): string {
  return ips.length === 0 ? "none" : canon(ips).join(",");
}

/**
 * How long a sender that advertises every `intervalMs` must be silent to count as
 * gone: {@link FOREIGN_QUIET_INTERVALS} of its intervals, at least
 * {@link FOREIGN_QUIET_MIN_MS}.
 *
 * @example
 * ```ts
 * quietWindowMs(1000); // 10000
 * quietWindowMs(5000); // 15000
 * ```
 */
export function quietWindowMs(intervalMs: number): number {
  const i = Number.isFinite(intervalMs) && intervalMs > 0 ? intervalMs : 0;
  return Math.max(FOREIGN_QUIET_MIN_MS, FOREIGN_QUIET_INTERVALS * i);
}

/**
 * What an advert for our VRID has that ours do not; empty when it agrees. With another
 * version only the version and the VIP set are compared: v2 auth and a v2/v3 interval
 * mean different things across versions.
 *
 * @example
 * ```ts
 * foreignDifferences(config, { ...advert, addresses: ["192.0.2.10", "192.0.2.11"] });
 * // [{ reason: "addresses", text: "VIPs 192.0.2.10,192.0.2.11 vs ours 192.0.2.10" }]
 * ```
 */
export function foreignDifferences(
  config: RouterConfig,
  advert: Advert,
): readonly ForeignDifference[] {
  // Most adverts agree: the answer is then the one shared empty list.
  if (
    advert.version === config.version && advert.intervalMs === config.advertIntervalMs &&
    config.version === 3 && sameIpSet(advert.addresses, config.addresses)
  ) {
    return NO_DIFFERENCES;
  }
  const out: ForeignDifference[] = [];
  const sameVersion = advert.version === config.version;
  if (!sameVersion) {
    out.push({
      reason: "version",
      text: `VRRPv${advert.version} vs ours VRRPv${config.version}`,
    });
  }
  if (!sameIpSet(advert.addresses, config.addresses)) {
    out.push({
      reason: "addresses",
      text: `VIPs ${list(advert.addresses)} vs ours ${list(config.addresses)}`,
    });
  }
  if (!sameVersion) return out;
  if (config.version === 2) {
    if (advert.authType !== config.authType) {
      out.push({
        reason: "auth",
        text: `auth ${authName(advert.authType)} vs ours ${authName(config.authType)}`,
      });
    } else if (
      advert.authType === 1 && !sameBytes(advert.authData, outgoingAdvert(config, 0, 0).authData)
    ) {
      out.push({ reason: "auth", text: "auth PASS differs" });
    }
  }
  if (advert.intervalMs !== config.advertIntervalMs) {
    out.push({
      reason: "interval",
      text: `interval ${advert.intervalMs} ms vs ours ${config.advertIntervalMs} ms`,
    });
  }
  return out;
}

/**
 * The differences of a sender as one line: `VIPs 192.0.2.10,192.0.2.11 vs ours
 * 192.0.2.10; auth PASS differs`.
 *
 * @example
 * ```ts
 * describeForeign(table[0]); // "interval 2000 ms vs ours 1000 ms"
 * ```
 */
export function describeForeign(sender: Pick<ForeignSender, "differences">): string {
  return sender.differences.map((d) => d.text).join("; ");
}

function sameDifferences(a: readonly ForeignDifference[], b: readonly ForeignDifference[]) {
  return a.length === b.length && a.every((d, i) => d.text === b[i].text);
}

/**
 * Feeds one advert received for the instance `config` describes (our own looped-back
 * adverts must not be fed), with what the daemon found wrong in it already (`extra`:
 * another MAC, a source not allowed) and the sender's MAC when known. Returns the new table, whether the advert conflicts (count
 * it), and how the table changed, if it did.
 *
 * @example
 * ```ts
 * const { table: next, conflicting, change } = observeForeign(table, config, advert, src, now);
 * if (conflicting) counters.foreignAdverts++;
 * ```
 */
export function observeForeign(
  table: ForeignTable,
  config: RouterConfig,
  advert: Advert,
  src: string,
  nowMs: number,
  extra: readonly ForeignDifference[] = NO_DIFFERENCES,
  mac?: string,
): { table: ForeignTable; conflicting: boolean; change: ForeignChange | null } {
  const own = foreignDifferences(config, advert);
  // Every advert a backup hears comes through here, nearly always agreeing, from a
  // sender not listed, to an empty table: that answer is one shared object.
  if (own.length === 0 && extra.length === 0 && table.length === 0) return AGREED;
  const from = canonicalIp(src) ?? src;
  const differences = extra.length === 0 ? own : [...extra, ...own];
  const i = table.findIndex((s) => s.src === from && s.mac === mac);
  if (differences.length === 0) {
    if (i < 0) return { table, conflicting: false, change: null };
    return {
      table: table.filter((_, k) => k !== i),
      conflicting: false,
      change: { kind: "resolved", sender: table[i], why: "agrees" },
    };
  }
  const quietDeadlineMs = nowMs + quietWindowMs(advert.intervalMs);
  if (i < 0) {
    if (table.length >= FOREIGN_SENDERS_MAX) {
      return { table, conflicting: true, change: { kind: "full", src: from, differences } };
    }
    const sender: ForeignSender = {
      src: from,
      ...(mac === undefined ? {} : { mac }),
      differences,
      priority: advert.priority,
      intervalMs: advert.intervalMs,
      count: 1,
      firstSeenMs: nowMs,
      lastSeenMs: nowMs,
      quietDeadlineMs,
    };
    return { table: [...table, sender], conflicting: true, change: { kind: "started", sender } };
  }
  const before = table[i];
  const sender: ForeignSender = {
    ...before,
    differences: sameDifferences(before.differences, differences)
      ? before.differences
      : differences,
    priority: advert.priority,
    intervalMs: advert.intervalMs,
    count: before.count + 1,
    lastSeenMs: nowMs,
    quietDeadlineMs,
  };
  const next = table.map((s, k) => (k === i ? sender : s));
  const change: ForeignChange | null = sender.differences === before.differences
    ? null
    : { kind: "changed", sender, before };
  return { table: next, conflicting: true, change };
}

/**
 * Resolves every sender quiet by `nowMs` (its quiet deadline reached), oldest first.
 *
 * @example
 * ```ts
 * const { table: next, resolved } = expireForeign(table, now);
 * for (const c of resolved) log.info(`foreign sender ${c.sender.src} resolved: quiet`);
 * ```
 */
export function expireForeign(
  table: ForeignTable,
  nowMs: number,
): { table: ForeignTable; resolved: ForeignChange[] } {
  if (!table.some((s) => s.quietDeadlineMs <= nowMs)) return { table, resolved: [] };
  const resolved: ForeignChange[] = [];
  const next: ForeignSender[] = [];
  for (const s of table) {
    if (s.quietDeadlineMs <= nowMs) resolved.push({ kind: "resolved", sender: s, why: "quiet" });
    else next.push(s);
  }
  return { table: next, resolved };
}

/**
 * The earliest quiet deadline, or null for an empty table.
 *
 * @example
 * ```ts
 * foreignNextDeadline([]); // null
 * ```
 */
export function foreignNextDeadline(table: ForeignTable): number | null {
  let best: number | null = null;
  for (let i = 0; i < table.length; i++) {
    const at = table[i].quietDeadlineMs;
    if (best === null || at < best) best = at;
  }
  return best;
}
