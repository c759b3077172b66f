/**
 * Draining, as a state of the plan: what leaves the table leaves it without cutting a
 * connection. Pure: the runtime (every sync) and `hacore check --plan` call the same
 * {@link planLvs}, so the printed plan is the one a reload then applies.
 *
 * Something leaves the table in one of two ways:
 * - **cut**: a real server whose checks fail is removed at once (keepalived's way; its
 *   connections are dead anyway), unless `inhibit_on_failure` keeps it at weight 0;
 * - **drained**: a real server removed from the config, held out by the operator
 *   (`hacore drain`, a maintenance file), or a service no longer configured (an identity
 *   change: the new service is added first, the old one drains). It gets weight 0 at
 *   once, stays while the kernel counts connections on it (active + inactive), and goes
 *   when they reach zero or its deadline passes. UDP and SCTP have no connection end to
 *   wait for: they go at once.
 *
 * Entry keys: a service's `serviceKey`, or `serviceKey|destKey` for a destination.
 *
 * @module
 */

import {
  AF_INET6,
  IP_VS_CONN_F_DROUTE,
  IP_VS_CONN_F_FWD_MASK,
  IP_VS_CONN_F_MASQ,
  IP_VS_CONN_F_TUNNEL,
  IPPROTO_SCTP,
  IPPROTO_UDP,
  type IpvsDest,
} from "../sys/netlink/ipvs_types.ts";
import type { VirtualServerConfig, VirtualServerGroupConfig } from "../config/lvs_schema.ts";
import { canonicalIp } from "../net/addr.ts";
import { type IpvsEntry, type IpvsTable, servicesOf } from "./desired.ts";
import { destKey, type Op, plan, serviceKey } from "./plan.ts";

/** Why an entry drains: the operator's verb, a maintenance file, or gone from the config. */
export type DrainReason = "operator" | "maintenance" | "removed";

/**
 * One entry draining now.
 *
 * @example
 * ```ts
 * // { key: "2 6 192.0.2.1 80|192.0.2.11 80", reason: "removed", startedMs: 0, deadlineMs: 300000, ... }
 * ```
 */
export interface DrainRecord {
  readonly key: string;
  readonly service: IpvsEntry["service"];
  /** The destination; null when the whole service drains. */
  readonly dest: IpvsDest | null;
  readonly reason: DrainReason;
  readonly startedMs: number;
  readonly deadlineMs: number;
  /** Active + inactive connections the kernel counted at the last look. */
  readonly connections: number;
}

/** An entry the operator holds out of the table, and how long its drain may wait (null: the default). */
export interface HeldOut {
  readonly reason: "operator" | "maintenance";
  readonly deadlineAfterMs: number | null;
}

/** What {@link planLvs} plans from. */
export interface LvsPlanInputs {
  /** The table the config and the checks want (`desiredTable`), slow start applied. */
  readonly wanted: IpvsTable;
  /**
   * Entry keys the config lists at all, whatever the checks say (`configuredKeys`); asked
   * only about kernel destinations the wanted table lacks, so it may be built lazily.
   */
  readonly configured: Pick<ReadonlySet<string>, "has">;
  /** Destination entry keys held out by the operator. */
  readonly held: ReadonlyMap<string, HeldOut>;
  readonly kernel: IpvsTable;
  /** Service keys hacore created or adopted: the only ones it deletes. */
  readonly owned: ReadonlySet<string>;
  /** The drains in progress (from the previous plan), so deadlines keep their start. */
  readonly drains: ReadonlyMap<string, DrainRecord>;
  readonly nowMs: number;
  /** How long a drain waits when nobody said: `[lvs] drain_deadline`. */
  readonly drainDeadlineMs: number;
}

/** The plan: the operations, the table they make, and the drains still in progress. */
export interface LvsPlan {
  readonly ops: Op[];
  /** What the kernel holds once `ops` are applied: wanted plus draining entries. */
  readonly table: IpvsTable;
  readonly drains: ReadonlyMap<string, DrainRecord>;
}

/**
 * The entry key of a destination of a service.
 *
 * @example
 * ```ts
 * // entryKey(service, { address: "192.0.2.11", port: 80 }) === "2 6 192.0.2.1 80|192.0.2.11 80"
 * ```
 */
export function entryKey(
  service: IpvsEntry["service"],
  dest?: Pick<IpvsDest, "address" | "port">,
): string {
  const s = serviceKey(service);
  return dest === undefined ? s : `${s}|${destKey(dest)}`;
}

function connections(d: IpvsDest): number {
  return (d.activeConns ?? 0) + (d.inactConns ?? 0);
}

function datagram(service: IpvsEntry["service"]): boolean {
  return service.fwmark === 0 &&
    (service.protocol === IPPROTO_UDP || service.protocol === IPPROTO_SCTP);
}

/**
 * The plan with drains: `wanted` minus the held-out destinations, plus every leaving
 * entry that still has connections before its deadline (at weight 0), planned against
 * the kernel with {@link plan}. Adds and edits come first, deletes last, so a service
 * whose identity changed is added before the old one drains.
 *
 * @example
 * ```ts
 * planLvs({
 *   wanted: [], configured: new Set(), held: new Map(), kernel: [], owned: new Set(),
 *   drains: new Map(), nowMs: 0, drainDeadlineMs: 300_000,
 * }).ops; // []
 * ```
 */
export function planLvs(inputs: LvsPlanInputs): LvsPlan {
  const { held, configured, nowMs } = inputs;
  const table = new Map<string, { service: IpvsEntry["service"]; dests: IpvsDest[] }>();
  // Indexed, and slice() rather than a spread: a big start plans 1,000 services and
  // 10,000 destinations here in the interpreter, where each for...of and spread step
  // allocates an iterator result.
  const wanted = inputs.wanted;
  for (let w = 0; w < wanted.length; w++) {
    const e = wanted[w];
    const sk = serviceKey(e.service);
    if (table.has(sk)) continue;
    table.set(sk, {
      service: e.service,
      // No key per destination when nothing is held out (the usual case).
      dests: held.size === 0
        ? e.dests.slice()
        : e.dests.filter((d) => !held.has(entryKey(e.service, d))),
    });
  }
  const drains = new Map<string, DrainRecord>();
  const keep = (
    key: string,
    service: IpvsEntry["service"],
    dest: IpvsDest | null,
    conns: number,
    reason: DrainReason,
    afterMs: number | null,
  ): boolean => {
    const prev = inputs.drains.get(key);
    const startedMs = prev?.startedMs ?? nowMs;
    const deadline = prev?.deadlineMs ??
      startedMs + (afterMs ?? inputs.drainDeadlineMs);
    if (conns <= 0 || nowMs >= deadline || datagram(service)) return false;
    drains.set(key, {
      key,
      service,
      dest,
      reason,
      startedMs,
      deadlineMs: deadline,
      connections: conns,
    });
    return true;
  };
  for (const k of inputs.kernel) {
    const sk = serviceKey(k.service);
    const mine = table.get(sk);
    if (mine === undefined) {
      if (!inputs.owned.has(sk)) continue;
      const conns = k.dests.reduce((a, d) => a + connections(d), 0);
      if (keep(sk, k.service, null, conns, "removed", null)) {
        table.set(sk, { service: k.service, dests: k.dests.map((d) => ({ ...d, weight: 0 })) });
      }
      continue;
    }
    const present = new Set(mine.dests.map(destKey));
    for (const d of k.dests) {
      if (present.has(destKey(d))) continue;
      const ek = entryKey(k.service, d);
      const h = held.get(ek);
      // Configured but missing: its checks failed, and a dead server is cut at once.
      if (h === undefined && configured.has(ek)) continue;
      if (
        keep(
          ek,
          mine.service,
          d,
          connections(d),
          h?.reason ?? "removed",
          h?.deadlineAfterMs ?? null,
        )
      ) {
        mine.dests.push({ ...d, weight: 0 });
      }
    }
  }
  const wantedTable: IpvsTable = Array.from(table.values());
  return { ops: plan(wantedTable, inputs.kernel, inputs.owned), table: wantedTable, drains };
}

/**
 * The earliest deadline among `drains` (when the runtime must look again), or null.
 */
export function nextDrainDeadlineMs(drains: ReadonlyMap<string, DrainRecord>): number | null {
  let min: number | null = null;
  for (const d of drains.values()) if (min === null || d.deadlineMs < min) min = d.deadlineMs;
  return min;
}

/**
 * One line per operation, in order, for `hacore check --plan` and the logs: `add`,
 * `edit`, `drain` (an edit to weight 0 of a draining entry, with its connections and
 * deadline), `delete`.
 *
 * @example
 * ```ts
 * // "add service tcp 192.0.2.1:80 wlc", "add dest tcp 192.0.2.1:80 -> 192.0.2.11:80 NAT weight 1",
 * // "drain dest tcp 192.0.2.1:80 -> 192.0.2.12:80 (3 connections, deadline 300 s)"
 * ```
 */
export function describePlan(p: LvsPlan, nowMs: number): string[] {
  return p.ops.map((op) => describePlanned(op, p.drains, nowMs));
}

function describePlanned(op: Op, drains: ReadonlyMap<string, DrainRecord>, nowMs: number): string {
  const s = serviceText(op.service);
  if (!("dest" in op)) {
    const verb = op.op === "addService" ? "add" : op.op === "editService" ? "edit" : "delete";
    return `${verb} service ${s}${op.op === "delService" ? "" : ` ${op.service.scheduler}`}`;
  }
  const d = `${s} -> ${hostPort(op.dest.address, op.dest.port)}`;
  const drain = drains.get(entryKey(op.service, op.dest)) ?? drains.get(entryKey(op.service));
  if (op.op === "editDest" && op.dest.weight === 0 && drain !== undefined) {
    const left = Math.max(0, Math.ceil((drain.deadlineMs - nowMs) / 1000));
    return `drain dest ${d} (${drain.connections} connection${
      drain.connections === 1 ? "" : "s"
    }, deadline ${left} s)`;
  }
  if (op.op === "delDest") return `delete dest ${d}`;
  const verb = op.op === "addDest" ? "add" : "edit";
  return `${verb} dest ${d} ${
    FORWARD_NAME[op.dest.forward & IP_VS_CONN_F_FWD_MASK] ?? "?"
  } weight ${op.dest.weight}`;
}

const FORWARD_NAME: Readonly<Record<number, string>> = {
  [IP_VS_CONN_F_MASQ]: "NAT",
  [IP_VS_CONN_F_TUNNEL]: "TUN",
  [IP_VS_CONN_F_DROUTE]: "DR",
};

/**
 * A service for people: `tcp 192.0.2.1:80`, `udp [2001:db8::1]:53`, `fwmark 5`.
 *
 * @example
 * ```ts
 * // serviceText({ protocol: IPPROTO_TCP, address: "192.0.2.1", port: 80, fwmark: 0, ... }) === "tcp 192.0.2.1:80"
 * ```
 */
export function serviceText(s: IpvsEntry["service"]): string {
  if (s.fwmark !== 0) return `fwmark ${s.fwmark}${s.af === AF_INET6 ? " ipv6" : ""}`;
  const proto = s.protocol === IPPROTO_UDP ? "udp" : s.protocol === IPPROTO_SCTP ? "sctp" : "tcp";
  return `${proto} ${hostPort(s.address, s.port)}`;
}

function hostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * `IP:PORT` or `[V6]:PORT` (a maintenance file's name, `hacore drain`'s argument) as a
 * canonical address and a port, or null.
 *
 * @example
 * ```ts
 * parseEndpoint("[2001:db8::0011]:80"); // { address: "2001:db8::11", port: 80 }
 * parseEndpoint("192.0.2.11"); // null: the port is needed
 * ```
 */
export function parseEndpoint(text: string): { address: string; port: number } | null {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:\[\]]+):(\d{1,5})$/.exec(text);
  if (m === null) return null;
  const address = canonicalIp(m[1]);
  const port = Number(m[2]);
  if (address === null || port < 1 || port > 65535) return null;
  return { address, port };
}

/**
 * The entry keys the config lists at all, whatever the checks say: every service of
 * every virtual server, with each of its real servers and its sorry server. A kernel
 * destination missing from here was removed from the config, so it drains.
 */
export function configuredKeys(
  virtualServers: readonly VirtualServerConfig[],
  groups: readonly VirtualServerGroupConfig[],
): Set<string> {
  const out = new Set<string>();
  for (const vs of virtualServers) {
    for (const s of servicesOf(vs, groups)) {
      out.add(entryKey(s));
      for (const rs of vs.realServers) out.add(entryKey(s, rs));
      if (vs.sorryServer !== null) out.add(entryKey(s, vs.sorryServer));
    }
  }
  return out;
}
