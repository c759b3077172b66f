/**
 * What the daemon needs to know about interfaces, read over rtnetlink: each
 * interface's own addresses (the sources of adverts when no `unicast_src_ip` is set) and
 * its index, MAC, state and MTU.
 *
 * The choice of addresses is a pure function of a link dump and an address dump
 * ({@link primariesFrom}), so the rules are testable without a kernel.
 *
 * @module
 */

import type { PrimaryAddresses } from "./ports.ts";
import { parseIp } from "../net/addr.ts";
import { AF_INET, AF_INET6 } from "./libc.ts";
import {
  type AddrMessage,
  IFA_F_DADFAILED,
  IFA_F_SECONDARY,
  IFA_F_TENTATIVE,
  IFF_LOWER_UP,
  IFF_RUNNING,
  IFF_UP,
  isHacoreAddress,
  type LinkMessage,
} from "./netlink/rtnl_codec.ts";

/**
 * The part of an rtnetlink client these readers use; `Rtnl` is one, a test double can
 * be another.
 *
 * @example
 * ```ts
 * const source: LinkSource = Rtnl.open({ groups: [] });
 * ```
 */
export interface LinkSource {
  /** Every link, as RTM_GETLINK with NLM_F_DUMP returns them. */
  dumpLinks(): Promise<LinkMessage[]>;
  /** Every address of `family` (AF_UNSPEC or omitted: both). */
  dumpAddresses(family?: number): Promise<AddrMessage[]>;
}

/**
 * The IPv4 primary and IPv6 link-local address of every interface, as the kernel holds
 * them now (see {@link primariesFrom} for the rules).
 *
 * @example
 * ```ts
 * const rtnl = Rtnl.open({ groups: [] });
 * const primaries = await readPrimaryAddresses(rtnl);
 * primaries.get("eth0"); // { ipv4: "192.0.2.11", ipv6: "fe80::11" }
 * await rtnl.close();
 * ```
 */
export async function readPrimaryAddresses(rtnl: LinkSource): Promise<PrimaryAddresses> {
  const links = await rtnl.dumpLinks();
  const addrs = await rtnl.dumpAddresses();
  return primariesFrom(links, addrs);
}

/**
 * Picks each interface's own addresses from dumps:
 * - IPv4: the first address hacore did not install whose `IFA_F_SECONDARY` is clear,
 *   which is what the kernel uses as source for the subnet. When every such address
 *   is flagged secondary (a VIP was added first and so became the subnet's primary),
 *   the first one hacore did not install, since a VIP moves away with mastership.
 * - IPv6: the first link-local (fe80::/10) address hacore did not install that is
 *   usable: neither tentative (DAD still running) nor failed DAD.
 *
 * Every interface of the link dump gets an entry, empty when it has neither.
 *
 * @example
 * ```ts
 * const p = primariesFrom(await rtnl.dumpLinks(), await rtnl.dumpAddresses());
 * p.get("eth0")?.ipv4; // "192.0.2.11"
 * ```
 */
export function primariesFrom(
  links: readonly LinkMessage[],
  addrs: readonly AddrMessage[],
): PrimaryAddresses {
  const out = new Map<string, { ipv4?: string; ipv6?: string }>();
  for (const link of links) {
    if (link.deleted || link.name === undefined) continue;
    const own = addrs.filter((a) => a.index === link.index && !a.deleted && !isHacoreAddress(a));
    const v4 = own.filter((a) => a.family === AF_INET);
    const v4Primary = v4.find((a) => !(a.flags & IFA_F_SECONDARY)) ?? v4[0];
    const v6LinkLocal = own.find((a) =>
      a.family === AF_INET6 && isLinkLocal(a.address) &&
      !(a.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED))
    );
    const entry: { ipv4?: string; ipv6?: string } = {};
    const ipv4 = v4Primary?.local ?? v4Primary?.address;
    if (ipv4 !== undefined) entry.ipv4 = ipv4;
    if (v6LinkLocal?.address !== undefined) entry.ipv6 = v6LinkLocal.address;
    out.set(link.name, entry);
  }
  return out;
}

function isLinkLocal(address: string | undefined): boolean {
  const p = address === undefined ? null : parseIp(address);
  // fe80::/10: the first ten bits are 1111111010.
  return p?.family === "ipv6" && p.bytes[0] === 0xfe && (p.bytes[1] & 0xc0) === 0x80;
}

/**
 * One interface's identity and state.
 *
 * @example
 * ```ts
 * const info: InterfaceInfo = {
 *   name: "eth0", index: 2, mac: "52:54:00:12:34:56", up: true, running: true, lowerUp: true, mtu: 1500,
 * };
 * ```
 */
export interface InterfaceInfo {
  /** Interface name (IFLA_IFNAME). */
  readonly name: string;
  /** Interface index. */
  readonly index: number;
  /** `aa:bb:cc:dd:ee:ff`, or null for links without one (tun, some tunnels). */
  readonly mac: string | null;
  /** Administratively up (`IFF_UP`). */
  readonly up: boolean;
  /** Operationally up (`IFF_RUNNING`). */
  readonly running: boolean;
  /** Carrier present (`IFF_LOWER_UP`). */
  readonly lowerUp: boolean;
  /** IFLA_MTU, or null when the kernel did not report it. */
  readonly mtu: number | null;
}

/**
 * The {@link InterfaceInfo} of a link message.
 *
 * @example
 * ```ts
 * const infos = (await rtnl.dumpLinks()).map(interfaceInfoFrom);
 * ```
 */
export function interfaceInfoFrom(link: LinkMessage): InterfaceInfo {
  return {
    name: link.name ?? `#${link.index}`,
    index: link.index,
    mac: link.mac ?? null,
    up: (link.flags & IFF_UP) !== 0,
    running: (link.flags & IFF_RUNNING) !== 0,
    lowerUp: (link.flags & IFF_LOWER_UP) !== 0,
    mtu: link.mtu ?? null,
  };
}

/**
 * True when a link can carry traffic: administratively up, operationally up and with
 * carrier. What `link-up` / `link-down` events report.
 *
 * @example
 * ```ts
 * linkIsUp(link); // false once the switch port (or the veth peer) goes down
 * ```
 */
export function linkIsUp(link: Pick<LinkMessage, "flags">): boolean {
  const want = IFF_UP | IFF_RUNNING | IFF_LOWER_UP;
  return (link.flags & want) === want;
}

/**
 * Index, MAC, state and MTU of the interface named `dev`, or null when there is none.
 *
 * @example
 * ```ts
 * const eth0 = await interfaceInfo(rtnl, "eth0");
 * if (eth0 && !eth0.running) log.warn("eth0 has no carrier");
 * ```
 */
export async function interfaceInfo(
  rtnl: Pick<LinkSource, "dumpLinks">,
  dev: string,
): Promise<InterfaceInfo | null> {
  const link = (await rtnl.dumpLinks()).find((l) => l.name === dev);
  return link ? interfaceInfoFrom(link) : null;
}
