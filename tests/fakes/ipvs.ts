/**
 * An in-memory kernel IPVS table behind the `IpvsPort` seam, for the LVS runtime's tests:
 * the kernel's rules where the runtime could get them wrong (EEXIST on a second add,
 * ENOENT on editing or deleting what is not there, HASHED added to every service it
 * holds, a service's destinations dropped with it), a log of every mutating call, hand
 * edits behind the runtime's back (drift), settable counters, and injectable failures.
 *
 * @example
 * ```ts
 * const ipvs = new FakeIpvs();
 * const daemon = new Daemon({ ...opts, openIpvs: () => Promise.resolve(ipvs) });
 * ipvs.calls; // ["addService 2 6 192.0.2.100 80", "addDest 2 6 192.0.2.100 80 192.0.2.11 80 w1"]
 * ```
 *
 * @module
 */

import type { IpvsOp, IpvsOpOutcome, IpvsPort } from "../../lib/sys/ports.ts";
import {
  IP_VS_SVC_F_HASHED,
  type IpvsDest,
  type IpvsInfo,
  type IpvsService,
  type IpvsServiceEntry,
  type IpvsStats,
  type IpvsSyncDaemon,
  type IpvsTimeouts,
} from "../../lib/sys/netlink/ipvs_types.ts";
import { destKey, serviceKey } from "../../lib/lvs/plan.ts";

/** The mutating operations of the port, as named in {@link FakeIpvs.calls}. */
export type FakeIpvsOp =
  | "addService"
  | "editService"
  | "delService"
  | "addDest"
  | "editDest"
  | "delDest";

/** Decides whether one operation fails: an errno name (it rejects with it), or null. */
export type FakeIpvsFailure = (
  op: FakeIpvsOp,
  service: IpvsService,
  dest?: IpvsDest,
) => string | null;

/** The read-only counters of one destination a dump reports. */
export interface FakeDestCounters {
  readonly activeConns?: number;
  readonly inactConns?: number;
  readonly persistConns?: number;
  readonly stats?: IpvsStats;
}

interface Held {
  service: IpvsService;
  dests: Map<string, IpvsDest>;
}

/** The error a failed call rejects with: the errno name first, as the real port's. */
export class FakeIpvsError extends Error {
  /** The errno name ("EEXIST"). */
  readonly code: string;

  /** An error for `code` about `what`. */
  constructor(code: string, what: string) {
    super(`${code}: ${what}`);
    this.name = "FakeIpvsError";
    this.code = code;
  }
}

/** See the module notes. */
export class FakeIpvs implements IpvsPort {
  readonly #table = new Map<string, Held>();
  readonly #counters = new Map<string, FakeDestCounters>();
  /** Every mutating call in order, failed ones with " !ERRNO" appended. */
  readonly calls: string[] = [];
  /** Dumps begun (a whole `dump` or a `dumpServices`). */
  dumps = 0;
  /** Netlink round trips the reads would cost: one per service list, one per service's destinations. */
  exchanges = 0;
  /** Batches applied, and the count of operations in each. */
  readonly batches: number[] = [];
  /** Set to make operations fail; null = none fails. */
  failure: FakeIpvsFailure | null = null;
  /** Set to make dumps (and each slice of one) reject with this errno name. */
  dumpFailure: string | null = null;
  closed = false;

  /** Puts a service straight into the table, as another tool (ipvsadm) would. */
  seed(entry: IpvsServiceEntry): void {
    const held: Held = {
      service: { ...entry.service, flags: entry.service.flags | IP_VS_SVC_F_HASHED },
      dests: new Map(),
    };
    for (const d of entry.dests) held.dests.set(destKey(d), strip(d));
    this.#table.set(serviceKey(entry.service), held);
  }

  /** Deletes a destination behind the runtime's back (an operator's ipvsadm -d). */
  handDeleteDest(service: IpvsService, dest: Pick<IpvsDest, "address" | "port">): void {
    this.#table.get(serviceKey(service))?.dests.delete(destKey(dest));
  }

  /** Sets what a dump reports of one destination's connections and stats. */
  setCounters(
    service: Pick<IpvsService, "af" | "protocol" | "address" | "port" | "fwmark">,
    dest: Pick<IpvsDest, "address" | "port">,
    counters: FakeDestCounters,
  ): void {
    this.#counters.set(`${serviceKey(service)}|${destKey(dest)}`, counters);
  }

  /** The table now, without counters, services in key order. */
  table(): IpvsServiceEntry[] {
    return [...this.#table.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, h]) => ({ service: h.service, dests: [...h.dests.values()] }));
  }

  /** One destination as held now, or undefined. */
  dest(
    service: Pick<IpvsService, "af" | "protocol" | "address" | "port" | "fwmark">,
    address: string,
    port: number,
  ): IpvsDest | undefined {
    return this.#table.get(serviceKey(service))?.dests.get(destKey({ address, port }));
  }

  async dump(): Promise<readonly IpvsServiceEntry[]> {
    return await this.dumpDests(await this.dumpServices());
  }

  /** Counts a dump begun (`dumps`) and one exchange. */
  dumpServices(): Promise<readonly IpvsService[]> {
    this.dumps++;
    this.exchanges++;
    const failed = this.#readFailure("dump services");
    if (failed !== null) return Promise.reject(failed);
    return Promise.resolve(this.table().map((e) => e.service));
  }

  /** One exchange per service, as the kernel's; a service not held has no destination. */
  dumpDests(services: readonly IpvsService[]): Promise<readonly IpvsServiceEntry[]> {
    this.exchanges += services.length;
    const failed = this.#readFailure("dump destinations");
    if (failed !== null) return Promise.reject(failed);
    const sk = (s: IpvsService) => serviceKey(s);
    return Promise.resolve(services.map((service) => ({
      service,
      dests: [...(this.#table.get(sk(service))?.dests.values() ?? [])].map((d) => ({
        ...d,
        activeConns: 0,
        inactConns: 0,
        persistConns: 0,
        stats: ZERO_STATS,
        ...this.#counters.get(`${sk(service)}|${destKey(d)}`),
      })),
    })));
  }

  #readFailure(what: string): Error | null {
    if (this.closed) return new Error("closed");
    if (this.dumpFailure !== null) return new FakeIpvsError(this.dumpFailure, what);
    return null;
  }

  addService(service: IpvsService): Promise<void> {
    return this.#op("addService", service, undefined, (key) => {
      if (this.#table.has(key)) return "EEXIST";
      this.#table.set(key, {
        service: { ...service, flags: service.flags | IP_VS_SVC_F_HASHED },
        dests: new Map(),
      });
      return null;
    });
  }

  editService(service: IpvsService): Promise<void> {
    return this.#op("editService", service, undefined, (key) => {
      const h = this.#table.get(key);
      if (h === undefined) return "ESRCH";
      h.service = { ...service, flags: service.flags | IP_VS_SVC_F_HASHED };
      return null;
    });
  }

  delService(service: IpvsService): Promise<void> {
    return this.#op("delService", service, undefined, (key) => {
      return this.#table.delete(key) ? null : "ESRCH";
    });
  }

  addDest(service: IpvsService, dest: IpvsDest): Promise<void> {
    return this.#op("addDest", service, dest, (key) => {
      const h = this.#table.get(key);
      if (h === undefined) return "ESRCH";
      if (h.dests.has(destKey(dest))) return "EEXIST";
      h.dests.set(destKey(dest), strip(dest));
      return null;
    });
  }

  editDest(service: IpvsService, dest: IpvsDest): Promise<void> {
    return this.#op("editDest", service, dest, (key) => {
      const h = this.#table.get(key);
      if (h === undefined) return "ESRCH";
      if (!h.dests.has(destKey(dest))) return "ENOENT";
      h.dests.set(destKey(dest), strip(dest));
      return null;
    });
  }

  delDest(service: IpvsService, dest: IpvsDest): Promise<void> {
    return this.#op("delDest", service, dest, (key) => {
      const h = this.#table.get(key);
      if (h === undefined) return "ESRCH";
      return h.dests.delete(destKey(dest)) ? null : "ENOENT";
    });
  }

  /** Each operation in order, as its own call would run it (and log it in `calls`). */
  async applyBatch(ops: readonly IpvsOp[]): Promise<IpvsOpOutcome[]> {
    this.batches.push(ops.length);
    const out: IpvsOpOutcome[] = [];
    for (const op of ops) {
      const run = "dest" in op ? this[op.op](op.service, op.dest) : this[op.op](op.service);
      out.push(await run.then(() => OK, (error: Error) => ({ ok: false as const, error })));
    }
    return out;
  }

  info(): Promise<IpvsInfo> {
    return Promise.resolve({ version: "1.2.1", connTableSize: 4096 });
  }

  timeouts(): Promise<IpvsTimeouts> {
    return Promise.resolve({ tcpS: 900, tcpFinS: 120, udpS: 300 });
  }

  setTimeouts(_t: IpvsTimeouts): Promise<void> {
    return Promise.resolve();
  }

  syncDaemons(): Promise<readonly IpvsSyncDaemon[]> {
    return Promise.resolve([]);
  }

  startSyncDaemon(_d: IpvsSyncDaemon): Promise<void> {
    return Promise.resolve();
  }

  stopSyncDaemon(_state: IpvsSyncDaemon["state"]): Promise<void> {
    return Promise.resolve();
  }

  zero(_service?: IpvsService): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  #op(
    op: FakeIpvsOp,
    service: IpvsService,
    dest: IpvsDest | undefined,
    apply: (key: string) => string | null,
  ): Promise<void> {
    const key = serviceKey(service);
    let line = `${op} ${key}`;
    if (dest !== undefined) line += ` ${destKey(dest)} w${dest.weight}`;
    if (this.closed) return Promise.reject(new Error("closed"));
    const errno = this.failure?.(op, service, dest) ?? apply(key);
    if (errno !== null) {
      this.calls.push(`${line} !${errno}`);
      return Promise.reject(new FakeIpvsError(errno, line));
    }
    this.calls.push(line);
    return Promise.resolve();
  }
}

const OK: IpvsOpOutcome = { ok: true };

function strip(d: IpvsDest): IpvsDest {
  const { activeConns: _a, inactConns: _i, persistConns: _p, stats: _s, ...rest } = d;
  return rest;
}

const ZERO_STATS: IpvsStats = {
  conns: 0n,
  inpkts: 0n,
  outpkts: 0n,
  inbytes: 0n,
  outbytes: 0n,
  cps: 0n,
  inpps: 0n,
  outpps: 0n,
  inbps: 0n,
  outbps: 0n,
};
