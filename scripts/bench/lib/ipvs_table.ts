/**
 * Watching a namespace's IPVS table from the benchmark process itself, never through
 * `ipvsadm` (a process start costs 40-90 ms in the UML guest: far coarser than what is
 * measured).
 *
 * - {@link readProcIpvs}: the whole table as `/proc/net/ip_vs` shows it, read with this
 *   thread moved into the namespace for the open. One read of a 10,000-destination table
 *   is ~650 KB of text: fine for counting, too slow for millisecond timing.
 * - {@link ServiceDests}: one service's destinations over a generic netlink socket made
 *   in the namespace (a socket keeps the namespace it was made in): one small dump,
 *   well under a millisecond, for timing a single entry.
 *
 * @example
 * ```ts
 * const t = parseProcIpvs(readProcIpvs(ns));
 * const w = await ServiceDests.open(ns, "192.0.2.100", 80);
 * (await w.dests()).get("10.2.1.2:80"); // its weight, or undefined once removed
 * ```
 *
 * @module
 */

import { NETLINK_GENERIC } from "../../../lib/sys/libc.ts";
import { NetlinkConnection, NetlinkError } from "../../../lib/sys/netlink/connection.ts";
import { resolveGenlFamily } from "../../../lib/sys/netlink/genl_conn.ts";
import { buildGetDests, decodeDest, IPVS_GENL_NAME } from "../../../lib/sys/netlink/ipvs.ts";
import { AF_INET, IPPROTO_TCP, type IpvsService } from "../../../lib/sys/netlink/ipvs_types.ts";
import { inNetns } from "../../../tests/netns/helpers.ts";

/**
 * A table read from `/proc/net/ip_vs`: service `ADDR:PORT` (IPv4 services only, as the
 * benchmark makes) → destination `ADDR:PORT` → weight.
 *
 * @example
 * ```ts
 * const t: ProcTable = { services: 1, dests: 1, table: new Map([["192.0.2.100:80", new Map([["10.2.1.2:80", 1]])]]) };
 * ```
 */
export interface ProcTable {
  readonly services: number;
  readonly dests: number;
  readonly table: ReadonlyMap<string, ReadonlyMap<string, number>>;
}

/** "C0000264:0050" → "192.0.2.100:80". */
function hexEndpoint(hex: string): string {
  const [a, p] = hex.split(":");
  const n = parseInt(a, 16);
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}:${parseInt(p, 16)}`;
}

/**
 * Parses `/proc/net/ip_vs` text (IPv4 TCP/UDP/SCTP services; fwmark and IPv6 services
 * are counted but keyed by their raw text).
 *
 * @example
 * ```ts
 * parseProcIpvs("TCP  C0000264:0050 wrr \n  -> 0A020102:0050      Route   1      0          0\n").dests; // 1
 * ```
 */
export function parseProcIpvs(text: string): ProcTable {
  const table = new Map<string, Map<string, number>>();
  let current: Map<string, number> | null = null;
  let dests = 0;
  for (const line of text.split("\n")) {
    const m = /^(TCP|UDP|SCTP|FWM)\s+(\S+)/.exec(line);
    if (m) {
      const key = /^[0-9A-F]{8}:[0-9A-F]{4}$/.test(m[2]) ? hexEndpoint(m[2]) : m[2];
      current = new Map();
      table.set(key, current);
      continue;
    }
    const d = /^\s+->\s+([0-9A-F]{8}:[0-9A-F]{4})\s+\S+\s+(\d+)/.exec(line);
    if (d && current !== null) {
      current.set(hexEndpoint(d[1]), Number(d[2]));
      dests++;
    }
  }
  return { services: table.size, dests, table };
}

/**
 * The text of `/proc/net/ip_vs` in namespace `ns` (empty when IPVS is missing there).
 *
 * @example
 * ```ts
 * const text = readProcIpvs("lb-1-1");
 * ```
 */
export function readProcIpvs(ns: string): string {
  // Big reads: the kernel then walks the table once per call. Deno.readTextFileSync's
  // small reads (each restarting the walk at a position) came back short now and then
  // (944 of 1,000 services) on the guest's 6.1 kernel.
  const file = inNetns(ns, () => {
    try {
      return Deno.openSync("/proc/thread-self/net/ip_vs");
    } catch {
      return null;
    }
  });
  if (file === null) return "";
  try {
    let len = 0;
    for (;;) {
      // One buffer for every read: fresh pages cost a fault each, slow under UML.
      if (len === readBuf.length) {
        const bigger = new Uint8Array(readBuf.length * 2);
        bigger.set(readBuf);
        readBuf = bigger;
      }
      const n = file.readSync(readBuf.subarray(len));
      if (n === null || n === 0) break;
      len += n;
    }
    return DECODER.decode(readBuf.subarray(0, len));
  } finally {
    file.close();
  }
}

let readBuf = new Uint8Array(1 << 20);
const DECODER = new TextDecoder();

/**
 * One TCP service's destinations in one namespace, by generic netlink.
 *
 * @example
 * ```ts
 * const w = await ServiceDests.open("lb-1-1", "192.0.2.100", 80);
 * const weights = await w.dests();
 * await w.close();
 * ```
 */
export class ServiceDests {
  readonly #conn: NetlinkConnection;
  readonly #family: number;
  readonly #service: IpvsService;

  private constructor(conn: NetlinkConnection, family: number, service: IpvsService) {
    this.#conn = conn;
    this.#family = family;
    this.#service = service;
  }

  /** Opens a socket in `ns` and resolves the IPVS family on it. */
  static async open(ns: string, address: string, port: number): Promise<ServiceDests> {
    const conn = inNetns(ns, () => NetlinkConnection.open(NETLINK_GENERIC, { timeoutMs: 2000 }));
    try {
      const family = await resolveGenlFamily(conn, IPVS_GENL_NAME);
      // Only the identity (family, protocol, address, port, mark) goes into the request.
      const service: IpvsService = {
        af: AF_INET,
        protocol: IPPROTO_TCP,
        address,
        port,
        fwmark: 0,
        scheduler: "wrr",
        flags: 0,
        timeoutS: 0,
        netmask: 32,
        persistenceEngine: null,
      };
      return new ServiceDests(conn, family.id, service);
    } catch (e) {
      await conn.close();
      throw e;
    }
  }

  /**
   * Destination `ADDR:PORT` → weight; empty when the service itself is missing (the
   * kernel answers ESRCH then), as before a daemon has made it.
   */
  async dests(): Promise<Map<string, number>> {
    let parts: Uint8Array[];
    try {
      parts = await this.#conn.dump(buildGetDests(this.#family, this.#service), {
        call: "IPVS",
        what: "dump destinations",
      });
    } catch (e) {
      if (e instanceof NetlinkError) return new Map();
      throw e;
    }
    const out = new Map<string, number>();
    for (const p of parts) {
      const d = decodeDest(p, AF_INET);
      if (typeof d === "string") throw new Error(`IPVS destination: ${d}`);
      out.set(`${d.address}:${d.port}`, d.weight);
    }
    return out;
  }

  close(): Promise<void> {
    return this.#conn.close();
  }
}
