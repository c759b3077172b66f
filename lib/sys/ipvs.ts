/**
 * The kernel's IPVS table over generic netlink: {@link IpvsPort} on one NETLINK_GENERIC
 * socket, with the requests and decoders of `netlink/ipvs.ts`. Every failure names the
 * operation and the entry, so a log line says which service or real server the kernel
 * refused and why.
 *
 * @module
 */

import { EBADMSG, ENOENT, ESRCH } from "./errno.ts";
import { NETLINK_GENERIC } from "./libc.ts";
import { type ExchangeOptions, NetlinkConnection, NetlinkError } from "./netlink/connection.ts";
import { resolveGenlFamily } from "./netlink/genl_conn.ts";
import {
  buildDelDaemon,
  buildDelDest,
  buildDelService,
  buildGetConfig,
  buildGetDaemons,
  buildGetDests,
  buildGetInfo,
  buildGetServices,
  buildNewDaemon,
  buildNewDest,
  buildNewService,
  buildSetConfig,
  buildSetDest,
  buildSetService,
  buildZero,
  decodeConfig,
  decodeDaemon,
  decodeDest,
  decodeInfo,
  decodeService,
  IPVS_GENL_NAME,
  tableChangeLength,
  writeTableChange,
} from "./netlink/ipvs.ts";
import {
  AF_INET6,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  type IpvsDest,
  type IpvsInfo,
  type IpvsService,
  type IpvsServiceEntry,
  type IpvsSyncDaemon,
  type IpvsTimeouts,
} from "./netlink/ipvs_types.ts";
import type { IpvsOp, IpvsOpOutcome, IpvsPort } from "./ports.ts";

/**
 * The kernel has no IPVS (the `ip_vs` module is not loaded, or not built): nothing
 * hacore's LVS side does can work until it is.
 *
 * @example
 * ```ts
 * try { await openIpvs(); } catch (e) { if (e instanceof IpvsUnavailableError) log(e.message); }
 * ```
 */
export class IpvsUnavailableError extends Error {
  constructor() {
    super(
      `IPVS is not available in this kernel (no "${IPVS_GENL_NAME}" generic netlink family): ` +
        "load the ip_vs module",
    );
    this.name = "IpvsUnavailableError";
  }
}

/**
 * A service as ipvsadm lists it: `TCP 10.0.0.1:80`, `UDP [2001:db8::1]:53`, `FWM 7`
 * (`FWM 7 IPv6` for an IPv6 mark service).
 *
 * @example
 * ```ts
 * serviceLabel({ af: AF_INET, protocol: IPPROTO_TCP, address: "10.0.0.1", port: 80, ... }); // "TCP 10.0.0.1:80"
 * ```
 */
export function serviceLabel(s: IpvsService): string {
  if (s.fwmark !== 0) return `FWM ${s.fwmark}${s.af === AF_INET6 ? " IPv6" : ""}`;
  const proto = s.protocol === IPPROTO_TCP
    ? "TCP"
    : s.protocol === IPPROTO_UDP
    ? "UDP"
    : s.protocol === IPPROTO_SCTP
    ? "SCTP"
    : `proto ${s.protocol}`;
  return `${proto} ${hostPort(s.af, s.address, s.port)}`;
}

function hostPort(af: number, address: string, port: number): string {
  return af === AF_INET6 ? `[${address}]:${port}` : `${address}:${port}`;
}

function destLabel(s: IpvsService, d: IpvsDest): string {
  return `destination ${hostPort(d.af, d.address, d.port)} of ${serviceLabel(s)}`;
}

class NetlinkIpvs implements IpvsPort {
  readonly #conn: NetlinkConnection;
  readonly #family: number;

  constructor(conn: NetlinkConnection, family: number) {
    this.#conn = conn;
    this.#family = family;
  }

  async dump(): Promise<readonly IpvsServiceEntry[]> {
    return await this.dumpDests(await this.dumpServices());
  }

  async dumpServices(): Promise<readonly IpvsService[]> {
    const parts = await this.#conn.dump(buildGetServices(this.#family), ask("dump", "services"));
    return parts.map((p) => decoded(decodeService(p), "dump", "services").service);
  }

  async dumpDests(services: readonly IpvsService[]): Promise<readonly IpvsServiceEntry[]> {
    const out: IpvsServiceEntry[] = [];
    for (const service of services) {
      const what = `destinations of ${serviceLabel(service)}`;
      const parts = await this.#conn.dumpDecoded(
        buildGetDests(this.#family, service),
        (p) => decodeDest(p, service.af),
        ask("dump", what),
      );
      const dests = parts.map((d) => decoded(d, "dump", what));
      out.push({ service, dests });
    }
    return out;
  }

  addService(s: IpvsService): Promise<void> {
    return this.#run(this.#command({ op: "addService", service: s }));
  }

  editService(s: IpvsService): Promise<void> {
    return this.#run(this.#command({ op: "editService", service: s }));
  }

  delService(s: IpvsService): Promise<void> {
    return this.#run(this.#command({ op: "delService", service: s }));
  }

  addDest(s: IpvsService, d: IpvsDest): Promise<void> {
    return this.#run(this.#command({ op: "addDest", service: s, dest: d }));
  }

  editDest(s: IpvsService, d: IpvsDest): Promise<void> {
    return this.#run(this.#command({ op: "editDest", service: s, dest: d }));
  }

  delDest(s: IpvsService, d: IpvsDest): Promise<void> {
    return this.#run(this.#command({ op: "delDest", service: s, dest: d }));
  }

  async applyBatch(ops: readonly IpvsOp[]): Promise<IpvsOpOutcome[]> {
    // Each request written straight into its datagram: no bytes, view or request object
    // per operation (~2 MB of garbage for the 11,000 of a big table's start), and how a
    // request is named (two strings each) only for the refused ones.
    const family = this.#family;
    const outcomes = await this.#conn.requestBatchWritten({
      count: ops.length,
      length: (i) => tableChangeLength(ops[i]),
      write: (i, out, at) => writeTableChange(out, at, family, ops[i]),
      describe: () => ({ type: family, call: "IPVS" }),
    });
    return outcomes.map((o, i) => {
      if (o.ok) return o;
      const c = this.#command(ops[i]);
      const e = o.error;
      const named = new NetlinkError(
        e.call,
        "",
        `${c.operation} ${c.target}`,
        e.errno,
        e.kernelMessage,
      );
      return { ok: false, error: hinted(named, c) };
    });
  }

  // The request of one table change, and how its failure is named.
  #command(op: IpvsOp): Command {
    const f = this.#family;
    const s = op.service;
    const svc = `service ${serviceLabel(s)}`;
    switch (op.op) {
      case "addService":
        return cmd(buildNewService(f, s), "add", svc, { [ENOENT]: SCHEDULER_MISSING });
      case "editService":
        return cmd(buildSetService(f, s), "edit", svc, {
          [ENOENT]: SCHEDULER_MISSING,
          [ESRCH]: NO_SERVICE,
        });
      case "delService":
        return cmd(buildDelService(f, s), "delete", svc, { [ESRCH]: NO_SERVICE });
      case "addDest": {
        const what = `destination ${hostPort(op.dest.af, op.dest.address, op.dest.port)} to ${
          serviceLabel(s)
        }`;
        return cmd(buildNewDest(f, s, op.dest), "add", what, { [ESRCH]: NO_SERVICE });
      }
      case "editDest":
        return cmd(buildSetDest(f, s, op.dest), "edit", destLabel(s, op.dest), {
          [ESRCH]: NO_SERVICE,
          [ENOENT]: NO_DEST,
        });
      case "delDest": {
        const d = op.dest;
        const what = `destination ${hostPort(d.af, d.address, d.port)} from ${serviceLabel(s)}`;
        return cmd(buildDelDest(f, s, d), "delete", what, {
          [ESRCH]: NO_SERVICE,
          [ENOENT]: NO_DEST,
        });
      }
    }
  }

  async #run(c: Command): Promise<void> {
    try {
      await this.#conn.request(c.msg, ask(c.operation, c.target));
    } catch (e) {
      throw e instanceof NetlinkError ? hinted(e, c) : e;
    }
  }

  async info(): Promise<IpvsInfo> {
    const [p] = await this.#conn.query(buildGetInfo(this.#family), ask("get", "IPVS info"));
    return decoded(decodeInfo(p ?? new Uint8Array(0)), "get", "IPVS info");
  }

  async timeouts(): Promise<IpvsTimeouts> {
    const what = "IPVS timeouts";
    const [p] = await this.#conn.query(buildGetConfig(this.#family), ask("get", what));
    return decoded(decodeConfig(p ?? new Uint8Array(0)), "get", what);
  }

  setTimeouts(t: IpvsTimeouts): Promise<void> {
    const what = `IPVS timeouts (tcp ${t.tcpS} tcpfin ${t.tcpFinS} udp ${t.udpS})`;
    return this.#conn.request(buildSetConfig(this.#family, t), ask("set", what));
  }

  async syncDaemons(): Promise<readonly IpvsSyncDaemon[]> {
    const what = "sync daemons";
    const parts = await this.#conn.dump(buildGetDaemons(this.#family), ask("dump", what));
    return parts.map((p) => decoded(decodeDaemon(p), "dump", what));
  }

  startSyncDaemon(d: IpvsSyncDaemon): Promise<void> {
    const what = `${d.state} sync daemon (mcast-interface ${d.ifname}, syncid ${d.syncId})`;
    return this.#conn.request(buildNewDaemon(this.#family, d), ask("start", what));
  }

  stopSyncDaemon(state: IpvsSyncDaemon["state"]): Promise<void> {
    return this.#request(buildDelDaemon(this.#family, state), "stop", `${state} sync daemon`, {
      [ESRCH]: "no such sync daemon is running",
    });
  }

  zero(s?: IpvsService): Promise<void> {
    const what = s ? `counters of ${serviceLabel(s)}` : "every IPVS counter";
    return this.#request(buildZero(this.#family, s), "zero", what, { [ESRCH]: NO_SERVICE });
  }

  close(): Promise<void> {
    return this.#conn.close();
  }

  // A command acked or refused, its error named as `cmd` says.
  #request(
    msg: Uint8Array,
    operation: string,
    target: string,
    hints: Readonly<Record<number, string>> = {},
  ): Promise<void> {
    return this.#run(cmd(msg, operation, target, hints));
  }
}

// One table change: its request, and how a failure names it; `hints` say what an errno
// means for this command, where the kernel's choice (ESRCH "No such process" for a
// missing service) would puzzle.
interface Command {
  readonly msg: Uint8Array;
  readonly operation: string;
  readonly target: string;
  readonly hints: Readonly<Record<number, string>>;
}

function cmd(
  msg: Uint8Array,
  operation: string,
  target: string,
  hints: Readonly<Record<number, string>>,
): Command {
  return { msg, operation, target, hints };
}

// The error as the command names it, with its hint when the errno has one.
function hinted(e: NetlinkError, c: Command): NetlinkError {
  const hint = c.hints[e.errno];
  if (hint === undefined) return e;
  return new NetlinkError(e.call, c.operation, c.target, e.errno, e.kernelMessage, hint);
}

const NO_SERVICE = "no such service";
const IPVS_RCVBUF_BYTES = 1 << 20;
const NO_DEST = "no such destination in the service";
const SCHEDULER_MISSING =
  "unknown scheduler or persistence engine (is its ip_vs_* module available?)";

// The request as a NetlinkError names it: `add destination 10.0.0.2:80 to TCP 10.0.0.1:80`.
function ask(operation: string, target: string): ExchangeOptions {
  return { what: `${operation} ${target}`, call: "IPVS" };
}

function decoded<T>(v: T | string, operation: string, target: string): T {
  // The decoder's reason goes in as the hint: it is hacore's reading, not the kernel's words.
  if (typeof v === "string") {
    throw new NetlinkError("IPVS", operation, target, EBADMSG, undefined, v);
  }
  return v;
}

/**
 * Opens the IPVS port in the calling thread's network namespace: one NETLINK_GENERIC
 * socket, on which the `IPVS` family is resolved now, so a kernel without IPVS fails here
 * with an {@link IpvsUnavailableError} rather than at the first reconcile.
 *
 * @example
 * ```ts
 * const ipvs = await openIpvs();
 * try {
 *   for (const { service, dests } of await ipvs.dump()) console.log(service.scheduler, dests.length);
 * } finally {
 *   await ipvs.close();
 * }
 * ```
 * @throws {IpvsUnavailableError} when the kernel has no IPVS family.
 * @throws {NetlinkError} when the socket or the lookup fails otherwise.
 */
export async function openIpvs(opts: { timeoutMs?: number } = {}): Promise<IpvsPort> {
  const conn = NetlinkConnection.open(NETLINK_GENERIC, {
    timeoutMs: opts.timeoutMs,
    // A batch's acks all queue before the first is read (see BATCH_MAX_MESSAGES).
    rcvBufBytes: IPVS_RCVBUF_BYTES,
  });
  try {
    const family = await resolveGenlFamily(conn, IPVS_GENL_NAME);
    return new NetlinkIpvs(conn, family.id);
  } catch (e) {
    await conn.close();
    if (e instanceof NetlinkError && e.errno === ENOENT) throw new IpvsUnavailableError();
    throw e;
  }
}
