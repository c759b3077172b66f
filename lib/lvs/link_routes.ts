/**
 * Which of the director's links reaches a real server: the kernel's routing table as
 * `/proc/net/route` and `/proc/net/ipv6_route` list it, and the most specific route to
 * an address. The LVS runtime takes a real server out the moment the link its route
 * goes through loses its carrier: nothing reaches the server through a dead link, and
 * waiting for the checks' connects to time out took 3-4 s (keepalived too).
 *
 * The table is read while the links are up and kept: when a director's own interface
 * is set down the kernel drops its routes at once, so a lookup after the event would
 * no longer find the link the server was reached through.
 *
 * Pure: text in, answers out.
 *
 * @module
 */

import { parseIp } from "../net/addr.ts";

/**
 * One usable route: the destination prefix as bytes (4 or 16), its length, the
 * interface it leaves by.
 *
 * @example
 * ```ts
 * const r: LinkRoute = { dst: Uint8Array.of(10, 2, 0, 0), len: 24, iface: "eth0" };
 * ```
 */
export interface LinkRoute {
  readonly dst: Uint8Array;
  readonly len: number;
  readonly iface: string;
}

const RTF_UP = 0x1;
const RTF_REJECT = 0x200;

/**
 * The usable routes of `/proc/net/route` (IPv4, the main table, hex fields in host
 * byte order: little-endian here) and `/proc/net/ipv6_route` (every table, hex in
 * network order); routes via `lo`, down or rejecting are left out.
 *
 * @example
 * ```ts
 * parseProcRoutes("Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n" +
 *   "eth0\t0000020A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n", "");
 * // [{ dst: Uint8Array [10, 2, 0, 0], len: 24, iface: "eth0" }]
 * ```
 */
export function parseProcRoutes(v4: string, v6: string): LinkRoute[] {
  const out: LinkRoute[] = [];
  for (const line of v4.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || f[0] === "lo") continue;
    const flags = parseInt(f[3], 16);
    if (!(flags & RTF_UP) || flags & RTF_REJECT) continue;
    const dst = leBytes(parseInt(f[1], 16));
    const mask = parseInt(f[7], 16) >>> 0;
    out.push({ dst, len: popcount(mask), iface: f[0] });
  }
  for (const line of v6.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[9] === "lo") continue;
    const flags = parseInt(f[8], 16);
    if (!(flags & RTF_UP) || flags & RTF_REJECT) continue;
    const dst = new Uint8Array(16);
    for (let i = 0; i < 16; i++) dst[i] = parseInt(f[0].slice(2 * i, 2 * i + 2), 16);
    out.push({ dst, len: parseInt(f[1], 16), iface: f[9] });
  }
  return out;
}

/**
 * The interface of the most specific route to `address`; null when no route covers it,
 * or when equally specific routes leave by different interfaces (then no one link is the
 * only way there).
 *
 * @example
 * ```ts
 * linkOf(routes, "10.2.0.11"); // "eth0"
 * ```
 */
export function linkOf(routes: readonly LinkRoute[], address: string): string | null {
  const ip = parseIp(address);
  if (ip === null) return null;
  let best = -1;
  let iface: string | null = null;
  for (const r of routes) {
    if (r.dst.length !== ip.bytes.length || r.len < best || !covers(r, ip.bytes)) continue;
    if (r.len > best) {
      best = r.len;
      iface = r.iface;
    } else if (iface !== r.iface) iface = null;
  }
  return iface;
}

function covers(r: LinkRoute, addr: Uint8Array): boolean {
  let bits = r.len;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((addr[i] & mask) !== (r.dst[i] & mask)) return false;
  }
  return true;
}

function leBytes(u: number): Uint8Array {
  return Uint8Array.of(u & 0xff, (u >>> 8) & 0xff, (u >>> 16) & 0xff, (u >>> 24) & 0xff);
}

function popcount(u: number): number {
  let n = 0;
  for (let v = u >>> 0; v !== 0; v >>>= 1) n += v & 1;
  return n;
}
