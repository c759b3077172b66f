/**
 * The runtime's known kernel table after operations it applied: the last dump with each
 * success folded in, so that an edit or a verdict is planned against the table of now
 * without a dump; and the one-line summary of a batch.
 *
 * @module
 */

import type { IpvsEntry, IpvsTable } from "./desired.ts";
import { destKey, type Op, serviceKey } from "./plan.ts";
import type { IpvsDest, IpvsService } from "../sys/netlink/ipvs_types.ts";

/**
 * One line for a batch of operations: how many of each kind.
 *
 * @example
 * ```ts
 * opsSummary(ops); // "applied 11000 operations: 1000 addService, 10000 addDest"
 * ```
 */
export function opsSummary(ops: readonly Op[]): string {
  const byKind = new Map<string, number>();
  for (const op of ops) byKind.set(op.op, (byKind.get(op.op) ?? 0) + 1);
  const kinds = [...byKind].map(([k, n]) => `${n} ${k}`).join(", ");
  return `applied ${ops.length} operations: ${kinds}`;
}

/**
 * The table after one applied operation: what the kernel holds now, without a dump.
 *
 * Called once per applied operation, so it must not cost a key string per service: a
 * first apply of 1,000 services × 10 destinations is 11,000 calls, which took 1.8 s on
 * a fast host (and most of a minute in the UML guest) when every call built every
 * service's key.
 *
 * @example
 * ```ts
 * foldOp([], { op: "addService", service }); // [{ service, dests: [] }]
 * ```
 */
export function foldOp(table: IpvsTable, op: Op): IpvsTable {
  if (op.op === "addService") return [...table, { service: op.service, dests: [] }];
  const i = table.findIndex((e) => sameService(e.service, op.service));
  if (i < 0) return table;
  if (op.op === "delService") return table.filter((_, j) => j !== i);
  const e = table[i];
  let next: IpvsEntry;
  if (op.op === "editService") next = { service: op.service, dests: e.dests };
  else {
    const dk = destKey(op.dest);
    const rest = e.dests.filter((d) => destKey(d) !== dk);
    if (op.op === "delDest") next = { service: e.service, dests: rest };
    else {
      const old = e.dests.find((d) => destKey(d) === dk);
      // An edit keeps the counters the last dump showed until the next one.
      const dest = op.op === "editDest" && old !== undefined ? { ...old, ...op.dest } : op.dest;
      next = { service: e.service, dests: [...rest, dest] };
    }
  }
  return table.map((x, j) => (j === i ? next : x));
}

/**
 * The table after `ops` applied in order: {@link foldOp} of each, in one pass over keyed
 * maps, so a batch of 11,000 operations costs one key per operation, not one scan of the
 * table each.
 *
 * @example
 * ```ts
 * foldOps([], plan(wanted, [], new Set())); // the wanted table
 * ```
 */
export function foldOps(table: IpvsTable, ops: readonly Op[]): IpvsTable {
  if (ops.length <= FOLD_ONE_BY_ONE) return ops.reduce(foldOp, table);
  const byKey = new Map<string, { service: IpvsService; dests: Map<string, IpvsDest> }>();
  for (const e of table) {
    byKey.set(serviceKey(e.service), {
      service: e.service,
      dests: new Map(e.dests.map((d) => [destKey(d), d])),
    });
  }
  // A service's key once for the run of operations naming it (a start adds a service,
  // then its destinations): not a key string per operation, 11,000 of them.
  let lastService: IpvsService | null = null;
  let lastKey = "";
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    if (op.service !== lastService) {
      lastService = op.service;
      lastKey = serviceKey(op.service);
    }
    const sk = lastKey;
    if (op.op === "addService") {
      byKey.delete(sk);
      byKey.set(sk, { service: op.service, dests: new Map() });
      continue;
    }
    const e = byKey.get(sk);
    if (e === undefined) continue;
    if (op.op === "delService") byKey.delete(sk);
    else if (op.op === "editService") e.service = op.service;
    else {
      const dk = destKey(op.dest);
      const old = e.dests.get(dk);
      // Deleted and set again, so an edited destination goes last, as foldOp puts it.
      e.dests.delete(dk);
      if (op.op === "delDest") continue;
      e.dests.set(dk, op.op === "editDest" && old !== undefined ? { ...old, ...op.dest } : op.dest);
    }
  }
  return Array.from(byKey.values(), (e) => ({
    service: e.service,
    dests: Array.from(e.dests.values()),
  }));
}

/**
 * `table` with the connection counts and stats of `from` (a fresh dump) on each
 * destination both hold: the known table as it would be planned with today's counts,
 * so that comparing plans of the two tells structural drift from a drain that only
 * today's counts call for.
 *
 * @example
 * ```ts
 * withCountersOf(known, dumped); // known's entries, dumped's activeConns/inactConns/stats
 * ```
 */
export function withCountersOf(table: IpvsTable, from: IpvsTable): IpvsTable {
  const fresh = new Map<string, Map<string, IpvsDest>>();
  for (const e of from) {
    fresh.set(serviceKey(e.service), new Map(e.dests.map((d) => [destKey(d), d])));
  }
  return table.map((e) => {
    const dests = fresh.get(serviceKey(e.service));
    if (dests === undefined) return e;
    return {
      service: e.service,
      dests: e.dests.map((d) => {
        const f = dests.get(destKey(d));
        if (f === undefined) return d;
        return { ...d, ...countersOf(f) };
      }),
    };
  });
}

/** The counters a dump reports of a destination, only those it has. */
function countersOf(d: IpvsDest): Partial<IpvsDest> {
  const out: { -readonly [K in keyof IpvsDest]?: IpvsDest[K] } = {};
  if (d.activeConns !== undefined) out.activeConns = d.activeConns;
  if (d.inactConns !== undefined) out.inactConns = d.inactConns;
  if (d.persistConns !== undefined) out.persistConns = d.persistConns;
  if (d.stats !== undefined) out.stats = d.stats;
  return out;
}

// Up to this many operations, folding one by one (a weight change) beats rebuilding maps.
const FOLD_ONE_BY_ONE = 8;

/** `serviceKey(a) === serviceKey(b)`, without building the two strings. */
function sameService(a: IpvsService, b: IpvsService): boolean {
  if (a.af !== b.af || a.fwmark !== b.fwmark) return false;
  return a.fwmark !== 0 ||
    (a.protocol === b.protocol && a.port === b.port && a.address === b.address);
}
