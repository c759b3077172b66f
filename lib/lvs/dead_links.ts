/**
 * The director's links that lost their carrier, and the real servers they cut off: a
 * real server whose most specific route leaves by a dead link is down at once, whatever
 * its checks say yet (they would only time out). The routing table is read while the
 * links are up and the routes of a dead link are kept until it is back, since the
 * kernel drops them when the interface itself is set down ({@link linkOf}).
 *
 * @module
 */

import { defaultReactor } from "../sys/reactor.ts";
import { linkOf, type LinkRoute, parseProcRoutes } from "./link_routes.ts";

/**
 * Reads the routing table of the daemon's network namespace from `/proc/net`.
 *
 * @example
 * ```ts
 * const routes = await readProcRoutes();
 * ```
 */
export async function readProcRoutes(): Promise<LinkRoute[]> {
  // Deno's file ops, awaited off the daemon's loop (an address event starts a read):
  // the reactor's waits stay async until they are back, or a blocking one would hold
  // their answers up to its stretch (lib/sys/reactor.ts).
  const release = defaultReactor().hold();
  try {
    const read = (p: string) => Deno.readTextFile(p).catch(() => "");
    return parseProcRoutes(await read("/proc/net/route"), await read("/proc/net/ipv6_route"));
  } finally {
    release();
  }
}

/**
 * Dead links and the routes to judge by.
 *
 * @example
 * ```ts
 * const links = new DeadLinks(readProcRoutes);
 * await links.refresh();
 * links.set("eth1", false); // true: a change
 * links.cutting("10.2.0.11"); // "eth1" when its route leaves by eth1
 * ```
 */
export class DeadLinks {
  readonly #read: () => Promise<readonly LinkRoute[]>;
  #routes: readonly LinkRoute[] = [];
  readonly #dead = new Set<string>();
  /** Address → its link, per routing table read. */
  #links = new Map<string, string | null>();

  /** Links judged by the routes `read` returns ({@link readProcRoutes} in production). */
  constructor(read: () => Promise<readonly LinkRoute[]>) {
    this.#read = read;
  }

  /** Re-reads the routes; a dead link's routes are kept from before (see the module). */
  async refresh(): Promise<void> {
    let fresh: readonly LinkRoute[];
    try {
      fresh = await this.#read();
    } catch {
      return; // The table stays as last read; the next address or link event retries.
    }
    const kept = this.#routes.filter((r) => this.#dead.has(r.iface));
    this.#routes = kept.length === 0 ? fresh : [...fresh, ...kept];
    this.#links = new Map();
  }

  /** Records a link's carrier; true when that changed what is dead. */
  set(iface: string, up: boolean): boolean {
    if (up) return this.#dead.delete(iface);
    if (this.#dead.has(iface)) return false;
    this.#dead.add(iface);
    return true;
  }

  /** The dead link `address` is reached through, or null. */
  cutting(address: string): string | null {
    if (this.#dead.size === 0) return null;
    let link = this.#links.get(address);
    if (link === undefined) {
      link = linkOf(this.#routes, address);
      this.#links.set(address, link);
    }
    return link !== null && this.#dead.has(link) ? link : null;
  }

  /** Whether `address` is reached through `iface` (dead or not). */
  reachedBy(address: string, iface: string): boolean {
    let link = this.#links.get(address);
    if (link === undefined) {
      link = linkOf(this.#routes, address);
      this.#links.set(address, link);
    }
    return link === iface;
  }
}
