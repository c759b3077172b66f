/**
 * Who holds the VIP, as the kernel says: `ip -n NS -j addr show dev eth0` per node,
 * polled every few milliseconds. That is the fact a failover is about; a daemon's log
 * line saying "MASTER" is only its opinion.
 *
 * @example
 * ```ts
 * const seen = await waitForHolders(watchers, (h) => h.length === 1 && h[0] === "node2", 1000, "node2 alone");
 * console.log(`node2 holds the VIP ${seen.atMs - killedAt} ms after the kill`);
 * ```
 *
 * @module
 */

import { runChecked } from "./host.ts";
import { WaitTimeout, wallMs } from "./proc.ts";

interface IpAddrInfo {
  local?: string;
  prefixlen?: number;
}
interface IpLink {
  ifname?: string;
  addr_info?: IpAddrInfo[];
  operstate?: string;
  flags?: string[];
}

/**
 * Parses the output of `ip -j addr show` into one list of `address/prefix` per interface.
 *
 * @example
 * ```ts
 * parseIpAddrJson('[{"ifname":"eth0","addr_info":[{"local":"192.0.2.11","prefixlen":24}]}]');
 * // Map { "eth0" => ["192.0.2.11/24"] }
 * ```
 */
export function parseIpAddrJson(json: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const parsed: unknown = JSON.parse(json || "[]");
  if (!Array.isArray(parsed)) return out;
  for (const link of parsed as IpLink[]) {
    if (typeof link.ifname !== "string") continue;
    const list = (link.addr_info ?? []).flatMap((a) =>
      typeof a.local === "string" ? [`${a.local}/${a.prefixlen ?? ""}`] : []
    );
    out.set(link.ifname, list);
  }
  return out;
}

/**
 * True when interface `dev` in `ns` carries `address` (any prefix length).
 *
 * @example
 * ```ts
 * await hasAddress("hl-1-2", "eth0", "192.0.2.100"); // true on the master
 * ```
 */
export async function hasAddress(ns: string, dev: string, address: string): Promise<boolean> {
  const out = await runChecked("ip", ["-n", ns, "-j", "addr", "show", "dev", dev]);
  return (parseIpAddrJson(out).get(dev) ?? []).some((a) => a.split("/")[0] === address);
}

/**
 * One place the VIP may be: a name and how to ask whether it is held there now.
 *
 * @example
 * ```ts
 * const w: VipWatcher = { name: "node1", holds: () => hasAddress(ns, "eth0", "192.0.2.100") };
 * ```
 */
export interface VipWatcher {
  readonly name: string;
  holds(): Promise<boolean>;
}

/**
 * A watcher for the plain case: `address` on `dev` in `ns`.
 *
 * @example
 * ```ts
 * const w = addressWatcher("node1", ns, "eth0", "192.0.2.100");
 * ```
 */
export function addressWatcher(
  name: string,
  ns: string,
  dev: string,
  address: string,
): VipWatcher {
  return { name, holds: () => hasAddress(ns, dev, address) };
}

/**
 * The names of the watchers that hold the VIP now, asked all at once, in watcher order.
 *
 * @example
 * ```ts
 * await vipHolders(watchers); // ["node1"]
 * ```
 */
export async function vipHolders(watchers: readonly VipWatcher[]): Promise<string[]> {
  const held = await Promise.all(watchers.map((w) => w.holds()));
  return watchers.filter((_, i) => held[i]).map((w) => w.name);
}

/**
 * A moment at which the holders were observed.
 *
 * @example
 * ```ts
 * const s: HolderSighting = { holders: ["node2"], atMs: wallMs() };
 * ```
 */
export interface HolderSighting {
  readonly holders: readonly string[];
  /** {@link wallMs} when the poll that saw them started (the fact was true by then... or just after). */
  readonly atMs: number;
}

/**
 * Polls the holders back to back until `pred` accepts them; throws {@link WaitTimeout}
 * (naming `what` and the last holders seen) after `timeoutMs`. The reported time is the
 * midpoint of the poll that saw the change, so it is off by at most half a poll (each
 * poll is one `ip` run per watcher, in parallel: about 2-5 ms).
 *
 * @example
 * ```ts
 * const s = await waitForHolders(watchers, (h) => h.includes("node2"), 1000, "node2 to hold the VIP");
 * ```
 */
export async function waitForHolders(
  watchers: readonly VipWatcher[],
  pred: (holders: readonly string[]) => boolean,
  timeoutMs: number,
  what: string,
): Promise<HolderSighting> {
  const deadline = wallMs() + timeoutMs;
  let last: string[] = [];
  for (;;) {
    const start = wallMs();
    last = await vipHolders(watchers);
    const end = wallMs();
    if (pred(last)) return { holders: last, atMs: (start + end) / 2 };
    if (end >= deadline) {
      throw new WaitTimeout(
        `${what} within ${timeoutMs} ms (last seen: ${
          last.length > 0 ? last.join(", ") : "nobody"
        } holding it)`,
      );
    }
    // Back to back, but yield so the log readers and probe parser keep up.
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * Exactly `name` holds the VIP, nobody else.
 *
 * @example
 * ```ts
 * await waitForHolders(watchers, only("node2"), 1000, "node2 alone");
 * ```
 */
export function only(name: string): (holders: readonly string[]) => boolean {
  return (h) => h.length === 1 && h[0] === name;
}
