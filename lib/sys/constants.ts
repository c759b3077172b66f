/**
 * Socket-level numbers that pure codecs need (address families, netlink protocols),
 * kept apart from the FFI module so importing them can never load libc. libc.ts
 * re-exports every one, so callers that already import them from there keep working.
 *
 * @module
 */

/** `AF_UNSPEC`: no particular family (netlink: "all families"). */
export const AF_UNSPEC = 0;
/** `AF_UNIX` (= AF_LOCAL): local sockets (systemd's `NOTIFY_SOCKET`). */
export const AF_UNIX = 1;
/** `AF_INET`: IPv4. */
export const AF_INET = 2;
/** `AF_INET6`: IPv6. */
export const AF_INET6 = 10;
/** `AF_NETLINK`: kernel ⇄ user messaging (rtnetlink, generic netlink). */
export const AF_NETLINK = 16;
/** `AF_PACKET`: link-layer frames (gratuitous ARP, unsolicited NA). */
export const AF_PACKET = 17;

/** `NETLINK_ROUTE`: rtnetlink (links, addresses, routes, neighbours). */
export const NETLINK_ROUTE = 0;
/** `NETLINK_USERSOCK`: netlink between user-space sockets (tests play the kernel with it). */
export const NETLINK_USERSOCK = 2;
/** `NETLINK_GENERIC`: generic netlink (IPVS lives there). */
export const NETLINK_GENERIC = 16;
