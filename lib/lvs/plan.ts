/**
 * The plan: from the table hacore wants and the kernel's dump, the IPVS operations that
 * turn one into the other. Pure, deterministic, and conservative:
 *
 * - a service is identified by (af, protocol, address, port), or (af, fwmark); a
 *   destination by (address, port) within its service;
 * - a changed scheduler, flag, timeout, granularity or persistence engine is an edit of
 *   the service, a changed weight, method, threshold or tunnel an edit of the
 *   destination: never delete + add, which would cut every established connection;
 * - HASHED, which the kernel adds to every service it holds, is not a difference;
 * - only services in `owned` (or wanted) are touched: an operator's own `ipvsadm`
 *   services, or another daemon's, stay as they are.
 *
 * Order: per wanted service, its add or edit, then its destinations' adds and edits
 * (additions first, so a swap to the sorry server never leaves a service empty); then
 * destination deletes; then deletes of services no longer wanted, whose destinations the
 * kernel drops with them.
 *
 * @module
 */

import {
  IP_VS_CONN_F_FWD_MASK,
  IP_VS_CONN_F_TUNNEL,
  type IpvsDest,
  type IpvsService,
  userFlags,
} from "../sys/netlink/ipvs_types.ts";
import type { IpvsEntry, IpvsTable } from "./desired.ts";

/** One IPVS operation; `service` names the service (and holds its wanted values). */
export type Op =
  | { readonly op: "addService"; readonly service: IpvsService }
  | { readonly op: "editService"; readonly service: IpvsService }
  | { readonly op: "delService"; readonly service: IpvsService }
  | { readonly op: "addDest"; readonly service: IpvsService; readonly dest: IpvsDest }
  | { readonly op: "editDest"; readonly service: IpvsService; readonly dest: IpvsDest }
  | { readonly op: "delDest"; readonly service: IpvsService; readonly dest: IpvsDest };

/**
 * The identity of a service, as a string for maps and for the `owned` set.
 *
 * @example
 * ```ts
 * import { AF_INET, IPPROTO_TCP } from "../sys/netlink/ipvs_types.ts";
 * serviceKey({ af: AF_INET, protocol: IPPROTO_TCP, address: "192.0.2.1", port: 80, fwmark: 0 });
 * // "2 6 192.0.2.1 80"
 * ```
 */
export function serviceKey(
  s: Pick<IpvsService, "af" | "protocol" | "address" | "port" | "fwmark">,
): string {
  return s.fwmark !== 0
    ? `${s.af} fwmark ${s.fwmark}`
    : `${s.af} ${s.protocol} ${s.address} ${s.port}`;
}

/** The identity of a destination within its service. */
export function destKey(d: Pick<IpvsDest, "address" | "port">): string {
  return `${d.address} ${d.port}`;
}

/**
 * The services of a table as `owned` keys: what hacore records after applying a table,
 * so that the next plan may delete what the next config no longer wants.
 */
export function ownedKeys(table: IpvsTable): Set<string> {
  return new Set(table.map((e) => serviceKey(e.service)));
}

/**
 * True when the kernel's service already has the wanted settings (HASHED aside).
 *
 * @example
 * ```ts
 * // sameServiceSettings(wanted, { ...wanted, flags: wanted.flags | IP_VS_SVC_F_HASHED }) === true
 * ```
 */
export function sameServiceSettings(a: IpvsService, b: IpvsService): boolean {
  return a.scheduler === b.scheduler && userFlags(a.flags) === userFlags(b.flags) &&
    a.timeoutS === b.timeoutS && a.netmask === b.netmask &&
    a.persistenceEngine === b.persistenceEngine;
}

/** True when the kernel's destination already has the wanted settings (counters aside). */
export function sameDestSettings(a: IpvsDest, b: IpvsDest): boolean {
  const fa = a.forward & IP_VS_CONN_F_FWD_MASK;
  const same = fa === (b.forward & IP_VS_CONN_F_FWD_MASK) && a.weight === b.weight &&
    a.uThreshold === b.uThreshold && a.lThreshold === b.lThreshold;
  // Tunnel settings mean nothing (and may read back as anything) for other methods.
  if (!same || fa !== IP_VS_CONN_F_TUNNEL) return same;
  return a.tunnelType === b.tunnelType && a.tunnelPort === b.tunnelPort &&
    a.tunnelFlags === b.tunnelFlags;
}

/**
 * True when a plan sees no difference between two readings of one kernel service (the
 * caller matched them by {@link serviceKey}): the same settings, and the same
 * destinations with the same settings (counters aside). A periodic dump that reads
 * every service the same as the known table, when nothing moved since a plan applied
 * whole, needs no plan: it would be empty.
 *
 * @example
 * ```ts
 * sameEntry(known, { ...known, dests: known.dests.map((d) => ({ ...d, activeConns: 3 })) }); // true
 * ```
 */
export function sameEntry(a: IpvsEntry, b: IpvsEntry): boolean {
  if (!sameServiceSettings(a.service, b.service) || a.dests.length !== b.dests.length) {
    return false;
  }
  // Usually in the same order (the kernel lists them as it did before): a map only if not.
  let inOrder = true;
  for (let i = 0; i < a.dests.length && inOrder; i++) {
    const x = a.dests[i];
    const y = b.dests[i];
    if (x.address !== y.address || x.port !== y.port) inOrder = false;
    else if (!sameDestSettings(x, y)) return false;
  }
  if (inOrder) return true;
  const byKey = new Map(a.dests.map((d) => [destKey(d), d]));
  if (byKey.size !== a.dests.length) return false;
  for (const y of b.dests) {
    const x = byKey.get(destKey(y));
    if (x === undefined || !sameDestSettings(x, y)) return false;
  }
  return true;
}

/**
 * The operations that make the kernel's table hold `wanted`, touching only services in
 * `owned` or in `wanted`.
 *
 * @example
 * ```ts
 * plan([], [], new Set()); // []
 * ```
 */
export function plan(
  wanted: IpvsTable,
  kernel: IpvsTable,
  owned: ReadonlySet<string>,
): Op[] {
  const inKernel = new Map(kernel.map((e) => [serviceKey(e.service), e]));
  const wantedKeys = new Set<string>();
  const changes: Op[] = [];
  const destDeletes: Op[] = [];
  // Indexed loops: a big start plans 10,000 destinations here, mostly in the
  // interpreter, where for...of allocates an iterator result per element.
  for (let w = 0; w < wanted.length; w++) {
    const { service, dests } = wanted[w];
    const key = serviceKey(service);
    if (wantedKeys.has(key)) continue;
    wantedKeys.add(key);
    const have = inKernel.get(key);
    if (have === undefined) {
      changes.push({ op: "addService", service });
      for (let d = 0; d < dests.length; d++) {
        changes.push({ op: "addDest", service, dest: dests[d] });
      }
      continue;
    }
    if (!sameServiceSettings(service, have.service)) changes.push({ op: "editService", service });
    const haveDests = new Map(have.dests.map((d) => [destKey(d), d]));
    const wantedDests = new Set<string>();
    for (let d = 0; d < dests.length; d++) {
      const dest = dests[d];
      const dk = destKey(dest);
      wantedDests.add(dk);
      const old = haveDests.get(dk);
      if (old === undefined) changes.push({ op: "addDest", service, dest });
      else if (!sameDestSettings(dest, old)) changes.push({ op: "editDest", service, dest });
    }
    // Only the leaving are sorted: sorting every service's destinations built two keys per
    // comparison for each plan, where in a steady table nothing leaves.
    const leaving = have.dests.filter((d) => !wantedDests.has(destKey(d)));
    for (const dest of sortedDests(leaving)) destDeletes.push({ op: "delDest", service, dest });
  }
  const serviceDeletes: Op[] = [...inKernel]
    .filter(([key]) => owned.has(key) && !wantedKeys.has(key))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, e]) => ({ op: "delService", service: e.service }));
  // concat, not spreads: a start's 11,000 changes would be 11,000 iterator steps.
  return changes.concat(destDeletes, serviceDeletes);
}

function sortedDests(dests: readonly IpvsDest[]): IpvsDest[] {
  return [...dests].sort((a, b) => {
    const ka = destKey(a);
    const kb = destKey(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}
