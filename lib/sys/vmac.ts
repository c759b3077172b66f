/**
 * The production {@link VmacPort}: virtual-MAC macvlans over rtnetlink, and the sysctls
 * they need, written under /proc/sys of the daemon's network namespace.
 *
 * The macvlan is made in **bridge** mode, as FRR's vrrpd wants its own (its docs,
 * "System Configuration"), not keepalived's private mode. What the mode decides is
 * where a multicast frame whose source MAC is the macvlan's own goes when it comes in
 * from the wire, which is every advert of the other routers of the virtual router once
 * they use the virtual MAC too: in private mode the kernel hands it to the macvlan
 * alone (keepalived listens there), in bridge mode the parent gets it as well. hacore
 * listens on the parent, so both hacore and FRR on a LAN hear each other whoever is
 * Master, and a Backup's macvlan never has to be read.
 *
 * Settings, each with the reason it is needed (keepalived's list is in brackets where
 * it differs; keepalived 2.2.7 was run in a namespace to read what it really writes):
 *
 * On the macvlan (gone with it, so restored only on one hacore adopted, not created):
 * - `ipv4 arp_ignore = 1`: answer ARP only for addresses on the macvlan itself. The
 *   macvlan sees every broadcast ARP request of the LAN; by default Linux would answer
 *   for any local address, the parent's own included, with the virtual MAC.
 * - `ipv4 rp_filter = 0`: a client's packet for a VIP comes in on the macvlan, while
 *   the route back to it goes out of the parent (its prefix route is older); strict
 *   reverse-path filtering drops it, ARP requests included (measured: the VIP stays
 *   INCOMPLETE in the client's cache). Effective is max(all, this): see `all` below.
 * - `ipv4 promote_secondaries = 1`: removing the first VIP of a subnet must not take
 *   the other VIPs of that subnet with it (a reload that drops one VIP).
 * - IPv4-only macvlans, `ipv6 disable_ipv6 = 1` (keepalived does the same): no link-
 *   local address, hence no DAD probe, MLD report or router solicitation sent with the
 *   virtual MAC from a Backup, which would teach switches the MAC is at the Backup.
 * - macvlans that hold IPv6 addresses, `ipv6 addr_gen_mode = 1` (none; keepalived and
 *   FRR agree): the EUI-64 link-local of 00:00:5e:00:02:VRID is the same on every
 *   router of the virtual router, and would fail DAD or be answered from a Backup.
 * - [keepalived: `accept_local = 1`, "to hear another instance multicasting its
 *   presence" on the macvlan it listens on. hacore does not listen on the macvlan.]
 *
 * On the parent (restored when its last macvlan goes):
 * - `ipv4 arp_ignore = 1`: the parent also sees every ARP request for a VIP (bridge
 *   mode delivers broadcasts to both); without it the Master answers twice, from the
 *   parent's MAC and the virtual one, and clients keep whichever came last.
 * - `ipv4 arp_announce = 2` (keepalived only suggests `all.arp_announce = 1` in its
 *   notes): replies from a VIP leave through the parent, whose prefix route is the older
 *   one, and the ARP request resolving the client then names the VIP as its sender
 *   with the parent's MAC; the client learns that pair and stops using the virtual MAC
 *   (measured: its neighbour entry flipped to eth0's MAC right after the first
 *   connection). With 2, the parent's requests name one of its own addresses.
 * - [keepalived: also `arp_filter = 1`. With `arp_ignore = 1` the parent answers only
 *   for its own addresses already; `arp_filter` would add a route check that fails
 *   for the parent's own address once the macvlan's prefix route is the one chosen.]
 *
 * Global, only when `net.ipv4.conf.all.rp_filter` is 1 (strict), as keepalived does:
 * `all` is set to 0 and every other interface (and `default`, for interfaces made
 * later) is raised to at least 1 itself, so nothing else loses its filter while the
 * macvlans can drop theirs; all of it is put back when the last macvlan goes.
 *
 * Ownership: a macvlan hacore creates carries the alias {@link VMAC_ALIAS}, so a
 * restarted hacore (after a crash) knows it as its own and removes it at stop, while
 * one an operator made (right name, parent and MAC) is only adopted.
 *
 * @module
 */

import type { VmacOutcome, VmacPort, VmacSpec } from "./ports.ts";
import { ENODEV } from "./errno.ts";
import {
  IFF_UP,
  type LinkChange,
  type LinkMessage,
  MACVLAN_MODE_BRIDGE,
  type MacvlanSpec,
} from "./netlink/rtnl_codec.ts";
import { NetlinkError } from "./netlink/rtnl.ts";

/** The alias (IFLA_IFALIAS) that marks a macvlan as made by hacore. */
export const VMAC_ALIAS = "hacore vmac";

/**
 * What {@link SystemVmacPort} needs of an rtnetlink client; `Rtnl` is one.
 *
 * @example
 * ```ts
 * const links: VmacLinks = Rtnl.open({ groups: [] });
 * ```
 */
export interface VmacLinks {
  dumpLinks(): Promise<LinkMessage[]>;
  addMacvlan(spec: MacvlanSpec): Promise<void>;
  setLink(index: number, change: LinkChange, ifname?: string): Promise<void>;
  delLink(index: number, ifname?: string): Promise<void>;
}

/**
 * Integer sysctls by path under /proc/sys (`net/ipv4/conf/eth0/arp_ignore`).
 *
 * @example
 * ```ts
 * const s: Sysctls = procSysctls;
 * await s.write("net/ipv4/conf/eth0/arp_ignore", 1);
 * ```
 */
export interface Sysctls {
  /** The value, or null when the file does not exist (no such interface). */
  read(path: string): Promise<number | null>;
  write(path: string, value: number): Promise<void>;
  /** The names in a directory (`net/ipv4/conf`: every interface, `all`, `default`). */
  list(dir: string): Promise<string[]>;
}

/**
 * {@link Sysctls} over /proc/sys of the calling process's network namespace.
 *
 * Read and written synchronously, behind the async interface: a /proc/sys file is
 * answered by the kernel at once, and a Deno async op on a takeover's path (a VIP's
 * first add turns `promote_secondaries` on) costs a worker thread's round trip, and
 * up to a blocking stretch of the reactor if nothing holds it (lib/sys/reactor.ts).
 *
 * @example
 * ```ts
 * await procSysctls.read("net/ipv4/conf/all/rp_filter"); // 0
 * ```
 */
export const procSysctls: Sysctls = Object.freeze({
  read: (path: string): Promise<number | null> =>
    settled(() => {
      try {
        const n = parseInt(Deno.readTextFileSync(`/proc/sys/${path}`).trim(), 10);
        return Number.isNaN(n) ? null : n;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return null;
        throw e;
      }
    }),
  write: (path: string, value: number): Promise<void> =>
    settled(() => Deno.writeTextFileSync(`/proc/sys/${path}`, `${value}\n`)),
  list: (dir: string): Promise<string[]> =>
    settled(() => [...Deno.readDirSync(`/proc/sys/${dir}`)].map((e) => e.name)),
});

/** What `fn` returns or throws, as a settled promise (the sysctl ops run synchronously). */
function settled<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e);
  }
}

// One sysctl changed, and the value to put back.
interface Saved {
  readonly path: string;
  readonly value: number;
}

interface VmacRecord {
  spec: VmacSpec;
  index: number;
  parentIndex: number;
  /** Made (or left over) by hacore: deleted at removal. */
  owned: boolean;
  /** Changed on an adopted macvlan, to put back at removal. */
  saved: Saved[];
}

interface ParentRecord {
  index: number;
  saved: Saved[];
}

const v4 = (dev: string, key: string) => `net/ipv4/conf/${dev}/${key}`;
const v6 = (dev: string, key: string) => `net/ipv6/conf/${dev}/${key}`;
const RP_ALL = v4("all", "rp_filter");
/** `rp_filter = 1`: strict reverse-path filtering (RFC 3704). */
const RP_STRICT = 1;
/** `addr_gen_mode = 1`: IN6_ADDR_GEN_MODE_NONE, no link-local address. */
const ADDR_GEN_MODE_NONE = 1;

/**
 * Virtual-MAC macvlans over rtnetlink (see the module notes for what is set and why).
 * Not safe for concurrent calls; the daemon makes them one at a time from its loop.
 *
 * @example
 * ```ts
 * const vmacs = new SystemVmacPort(Rtnl.open({ groups: [] }));
 * await vmacs.ensure({ name: "vrrp.51", parent: "eth0", mac: "00:00:5e:00:01:33", ipv6: false });
 * await vmacs.remove("vrrp.51");
 * ```
 */
export class SystemVmacPort implements VmacPort {
  readonly #links: VmacLinks;
  readonly #sysctls: Sysctls;
  readonly #vmacs = new Map<string, VmacRecord>();
  readonly #parents = new Map<string, ParentRecord>();
  /** The global rp_filter juggling, while any macvlan is ours. */
  #rpAll: Saved[] | null = null;

  /**
   * Builds the port; nothing is touched until {@link SystemVmacPort.ensure}.
   *
   * @example
   * ```ts
   * new SystemVmacPort(rtnl, procSysctls);
   * ```
   */
  constructor(links: VmacLinks, sysctls: Sysctls = procSysctls) {
    this.#links = links;
    this.#sysctls = sysctls;
  }

  /**
   * Names of the macvlans this port manages now.
   *
   * @example
   * ```ts
   * vmacs.names(); // ["vrrp.51"]
   * ```
   */
  names(): string[] {
    return [...this.#vmacs.keys()];
  }

  /**
   * See {@link VmacPort.ensure}.
   *
   * @example
   * ```ts
   * await vmacs.ensure({ name: "vrrp.51", parent: "eth0", mac: "00:00:5e:00:01:33", ipv6: false }); // "created"
   * ```
   * @throws {Error} naming the macvlan: a missing parent, a name taken by another
   * interface, or the netlink / sysctl call that failed.
   */
  async ensure(spec: VmacSpec): Promise<VmacOutcome> {
    const links = await this.#links.dumpLinks();
    const parent = links.find((l) => l.name === spec.parent);
    if (parent === undefined) {
      throw new Error(`${spec.name}: its parent interface ${spec.parent} does not exist`);
    }
    let link = links.find((l) => l.name === spec.name);
    const rec = this.#vmacs.get(spec.name);
    if (
      link !== undefined && rec !== undefined && link.index === rec.index &&
      rec.parentIndex === parent.index && matches(link, spec, parent) &&
      (link.flags & IFF_UP) !== 0 && rec.spec.ipv6 === spec.ipv6
    ) {
      return "present";
    }
    let outcome: VmacOutcome;
    let owned: boolean;
    if (link !== undefined && !matches(link, spec, parent)) {
      if (link.alias !== VMAC_ALIAS) {
        throw new Error(
          `${spec.name} exists but is not a macvlan on ${spec.parent} with MAC ${spec.mac} (${
            describe(link, links)
          }); hacore leaves it alone`,
        );
      }
      // Our own from an earlier configuration (another VRID or parent): make it anew.
      await this.#links.delLink(link.index, spec.name);
      link = undefined;
    }
    if (link === undefined) {
      await this.#links.addMacvlan({
        name: spec.name,
        parentIndex: parent.index,
        mac: spec.mac,
        mode: MACVLAN_MODE_BRIDGE,
      });
      link = (await this.#links.dumpLinks()).find((l) => l.name === spec.name);
      if (link === undefined) throw new Error(`${spec.name}: created, then not found`);
      await this.#links.setLink(link.index, { alias: VMAC_ALIAS }, spec.name);
      outcome = "created";
      owned = true;
    } else {
      // A known one (re-checked after a change), our own leftover, or an operator's.
      outcome = rec !== undefined && rec.index === link.index ? "present" : "adopted";
      owned = link.alias === VMAC_ALIAS;
    }
    const same = rec !== undefined && rec.index === link.index;
    const saved = same ? rec.saved : [];
    // Settings first, then up: an IPv4-only macvlan never sends an IPv6 frame.
    await this.#tune(spec, owned ? null : saved);
    await this.#tuneParent(spec.parent, parent.index);
    await this.#tuneGlobal(spec.name);
    if ((link.flags & IFF_UP) === 0) await this.#links.setLink(link.index, { up: true }, spec.name);
    this.#vmacs.set(spec.name, {
      spec,
      index: link.index,
      parentIndex: parent.index,
      owned,
      saved,
    });
    return outcome;
  }

  /**
   * See {@link VmacPort.remove}.
   *
   * @example
   * ```ts
   * await vmacs.remove("vrrp.51");
   * ```
   * @throws {Error} when the kernel refuses the deletion (a vanished link is fine).
   */
  async remove(name: string): Promise<void> {
    const rec = this.#vmacs.get(name);
    if (rec === undefined) return;
    this.#vmacs.delete(name);
    const errors: unknown[] = [];
    try {
      const link = (await this.#links.dumpLinks()).find((l) => l.name === name);
      // Only the link we set up: one re-made by someone else under the name is theirs.
      if (link !== undefined && link.index === rec.index) {
        if (rec.owned) await this.#links.delLink(link.index, name);
        else await this.#restore(rec.saved, errors);
      }
    } catch (e) {
      if (!(e instanceof NetlinkError && e.errno === ENODEV)) errors.push(e);
    }
    const parent = rec.spec.parent;
    if (![...this.#vmacs.values()].some((r) => r.spec.parent === parent)) {
      const p = this.#parents.get(parent);
      this.#parents.delete(parent);
      if (p !== undefined) await this.#restore(p.saved, errors, parent, p.index);
    }
    if (this.#vmacs.size === 0 && this.#rpAll !== null) {
      const saved = this.#rpAll;
      this.#rpAll = null;
      await this.#restore(saved, errors);
    }
    if (errors.length > 0) {
      throw new Error(`removing ${name}: ${errors.map((e) => String(e)).join("; ")}`);
    }
  }

  /** Sets `path` to `value`, remembering the old value in `saved` (when given) once. */
  async #set(path: string, value: number, saved: Saved[] | null): Promise<void> {
    const old = await this.#sysctls.read(path);
    if (old === null) throw new Error(`sysctl ${path.replaceAll("/", ".")} does not exist`);
    if (old === value) return;
    if (saved !== null && !saved.some((s) => s.path === path)) saved.push({ path, value: old });
    await this.#sysctls.write(path, value);
  }

  async #tune(spec: VmacSpec, saved: Saved[] | null): Promise<void> {
    await this.#set(v4(spec.name, "arp_ignore"), 1, saved);
    await this.#set(v4(spec.name, "rp_filter"), 0, saved);
    await this.#set(v4(spec.name, "promote_secondaries"), 1, saved);
    if (spec.ipv6) {
      // The mode first: turning IPv6 on makes the kernel generate addresses by it.
      await this.#set(v6(spec.name, "addr_gen_mode"), ADDR_GEN_MODE_NONE, saved);
      await this.#set(v6(spec.name, "disable_ipv6"), 0, saved);
    } else {
      await this.#set(v6(spec.name, "disable_ipv6"), 1, saved);
    }
  }

  async #tuneParent(parent: string, index: number): Promise<void> {
    let p = this.#parents.get(parent);
    // A parent re-created under its name starts from the kernel's defaults again.
    if (p === undefined || p.index !== index) {
      p = { index, saved: [] };
      this.#parents.set(parent, p);
    }
    await this.#set(v4(parent, "arp_ignore"), 1, p.saved);
    await this.#set(v4(parent, "arp_announce"), 2, p.saved);
  }

  async #tuneGlobal(name: string): Promise<void> {
    if (this.#rpAll !== null) return;
    const all = await this.#sysctls.read(RP_ALL);
    if (all !== RP_STRICT) return;
    const saved: Saved[] = [];
    const ours = new Set([...this.#vmacs.keys(), name]);
    for (const dev of await this.#sysctls.list("net/ipv4/conf")) {
      if (dev === "all" || ours.has(dev)) continue;
      const path = v4(dev, "rp_filter");
      const own = await this.#sysctls.read(path);
      if (own !== null && own < RP_STRICT) {
        saved.push({ path, value: own });
        await this.#sysctls.write(path, RP_STRICT);
      }
    }
    saved.push({ path: RP_ALL, value: all });
    await this.#sysctls.write(RP_ALL, 0);
    this.#rpAll = saved;
  }

  /** Puts saved values back, newest first, collecting failures. */
  async #restore(
    saved: readonly Saved[],
    errors: unknown[],
    dev?: string,
    index?: number,
  ): Promise<void> {
    if (dev !== undefined && index !== undefined) {
      // A parent deleted (or re-made) meanwhile has nothing of ours left to restore.
      const now = (await this.#links.dumpLinks()).find((l) => l.name === dev);
      if (now === undefined || now.index !== index) return;
    }
    for (const s of [...saved].reverse()) {
      try {
        await this.#sysctls.write(s.path, s.value);
      } catch (e) {
        errors.push(new Error(`restoring ${s.path.replaceAll("/", ".")} = ${s.value}: ${e}`));
      }
    }
  }
}

function matches(link: LinkMessage, spec: VmacSpec, parent: LinkMessage): boolean {
  return link.linkKind === "macvlan" && link.link === parent.index &&
    link.mac?.toLowerCase() === spec.mac.toLowerCase();
}

function describe(link: LinkMessage, links: readonly LinkMessage[]): string {
  const kind = link.linkKind ?? "no kind";
  const on = link.link === undefined
    ? ""
    : ` on ${links.find((l) => l.index === link.link)?.name ?? `#${link.link}`}`;
  return `${kind}${on}, MAC ${link.mac ?? "none"}`;
}
