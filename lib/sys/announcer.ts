/**
 * The production {@link Announcer}: gratuitous ARP and unsolicited neighbour
 * advertisements written as whole Ethernet frames on an `AF_PACKET` socket, one socket
 * per interface.
 *
 * Why whole frames for IPv6 too, rather than a raw ICMPv6 socket: the NA must come from
 * the VIP itself (keepalived's does), and a packet socket sends exactly the 86 bytes
 * {@link encodeUnsolicitedNa} built, with no source-address selection, no hop-limit
 * option and no kernel checksum to reason about. The frames are the ones the unit tests
 * pin against keepalived's capture.
 *
 * The interface's MAC comes from the socket itself: once an `AF_PACKET` socket is bound
 * to an interface, `getsockname` reports that interface's hardware address. That is a
 * synchronous call (the `Announcer` methods are synchronous), it always gives the
 * current MAC (bonds change theirs on failover), and it reads the interface in the
 * socket's own network namespace.
 *
 * The sockets are opened with protocol 0, which registers no receive hook: they only
 * send, and never queue a copy of every ARP frame on the host.
 *
 * @module
 */

import type { Announcer } from "./ports.ts";
import { encodeGratuitousArp } from "../net/arp.ts";
import { EAGAIN, SyscallError } from "./errno.ts";
import { BROADCAST_MAC, ipv6MulticastMac, macToString } from "../net/ether.ts";
import {
  AF_PACKET,
  bindNow,
  bindSocket,
  closeFd,
  ETH_P_ARP,
  ETH_P_IPV6,
  getSockName,
  ifNameToIndex,
  openSocket,
  sendTo,
  SOCK_RAW,
  sockaddrLl,
} from "./libc.ts";
import { encodeUnsolicitedNa } from "../net/ndisc.ts";
import { parseIp } from "../net/addr.ts";
import { allZero } from "../net/bytes.ts";

/** Destination of unsolicited NAs: all nodes (RFC 4861 §7.2.6). */
export const ALL_NODES = "ff02::1";
const ALL_NODES_MAC = ipv6MulticastMac(parseIp(ALL_NODES)!.bytes);
const ETHER_ADDR_LEN = 6;

interface PacketSocket {
  fd: number;
  ifindex: number;
}

/**
 * Sends gratuitous ARPs and unsolicited NAs (R=1 S=0 O=1: RFC 9568 §6.4.2 has the
 * master advertise itself as a router) from the interface's own MAC.
 *
 * Sockets are opened on first use in the network namespace of the calling thread, and
 * re-opened when the interface was re-created under the same name (a new index).
 *
 * @example
 * ```ts
 * const announcer = new PacketAnnouncer();
 * announcer.garp("eth0", "192.0.2.100");
 * announcer.unsolicitedNa("eth0", "2001:db8::100");
 * announcer.close();
 * ```
 */
export class PacketAnnouncer implements Announcer {
  #sockets = new Map<string, PacketSocket>();
  #closed = false;

  /**
   * Broadcasts one gratuitous ARP request for `ip` from `dev`'s MAC.
   *
   * @example
   * ```ts
   * announcer.garp("eth0", "192.0.2.100");
   * ```
   * @throws {SyscallError} ENODEV for a missing interface, ENETDOWN when it is down, ….
   * @throws {RangeError} when `ip` is not IPv4.
   */
  garp(dev: string, ip: string): void {
    const s = this.#socket(dev);
    const frame = encodeGratuitousArp({ senderMac: macOf(s.fd, dev), ip });
    this.#send(s, frame, ETH_P_ARP, BROADCAST_MAC, dev);
  }

  /**
   * Sends one unsolicited neighbour advertisement for `ip` to all nodes, from `ip`
   * itself and `dev`'s MAC, hop limit 255.
   *
   * @example
   * ```ts
   * announcer.unsolicitedNa("eth0", "2001:db8::100");
   * ```
   * @throws {SyscallError} ENODEV for a missing interface, ENETDOWN when it is down, ….
   * @throws {RangeError} when `ip` is not IPv6.
   */
  unsolicitedNa(dev: string, ip: string): void {
    const s = this.#socket(dev);
    this.#send(s, naFrame(macOf(s.fd, dev), ip), ETH_P_IPV6, ALL_NODES_MAC, dev);
  }

  /**
   * Opens `dev`'s socket and builds the frame a first GARP or NA for `ip` would be,
   * without sending it: a Backup's takeover then sends at once. Quiet on any error
   * (a missing interface, no MAC yet): the real send reports it.
   *
   * @example
   * ```ts
   * announcer.prepare("eth0", "garp", "192.0.2.100");
   * ```
   */
  prepare(dev: string, kind: "garp" | "na", ip: string): void {
    try {
      const s = this.#socket(dev);
      const mac = macOf(s.fd, dev);
      bindNow("sendto");
      if (kind === "garp") encodeGratuitousArp({ senderMac: mac, ip });
      else naFrame(mac, ip);
    } catch {
      // The first real announcement tries again and says what is wrong.
    }
  }

  /**
   * Closes every socket. Later calls open new ones, so a closed announcer still works;
   * the daemon calls this once, when it stops.
   *
   * @example
   * ```ts
   * announcer.close();
   * ```
   */
  close(): void {
    for (const s of this.#sockets.values()) closeQuietly(s.fd);
    this.#sockets.clear();
    this.#closed = true;
  }

  /**
   * True once {@link PacketAnnouncer.close} ran and no socket was opened since.
   *
   * @example
   * ```ts
   * announcer.close();
   * announcer.closed; // true
   * ```
   */
  get closed(): boolean {
    return this.#closed && this.#sockets.size === 0;
  }

  #socket(dev: string): PacketSocket {
    const ifindex = ifNameToIndex(dev);
    const cached = this.#sockets.get(dev);
    if (cached && cached.ifindex === ifindex) return cached;
    if (cached) {
      this.#sockets.delete(dev);
      closeQuietly(cached.fd);
    }
    const fd = openSocket(AF_PACKET, SOCK_RAW, 0);
    try {
      bindSocket(fd, sockaddrLl({ protocol: 0, ifindex }));
    } catch (e) {
      closeQuietly(fd);
      throw e;
    }
    const s = { fd, ifindex };
    this.#sockets.set(dev, s);
    this.#closed = false;
    return s;
  }

  #send(s: PacketSocket, frame: Uint8Array, protocol: number, dst: Uint8Array, dev: string) {
    const to = sockaddrLl({ protocol, ifindex: s.ifindex, addr: dst });
    if (sendTo(s.fd, frame, to) === null) {
      throw new SyscallError("sendto", EAGAIN, `AF_PACKET on ${dev}`);
    }
  }
}

/** An unsolicited NA for `ip` from `ip` itself, to all nodes, as a router (R=1 S=0 O=1). */
function naFrame(mac: Uint8Array, ip: string): Uint8Array {
  return encodeUnsolicitedNa({
    srcMac: mac,
    srcIp: ip,
    targetIp: ip,
    router: true,
    solicited: false,
    override: true,
    dst: ALL_NODES,
  });
}

function macOf(fd: number, dev: string): Uint8Array {
  const me = getSockName(fd);
  const mac = me.family === AF_PACKET && "addr" in me ? me.addr : new Uint8Array(0);
  if (mac.length !== ETHER_ADDR_LEN) {
    throw new Error(`${dev} has no Ethernet address (link-layer address of ${mac.length} bytes)`);
  }
  if (allZero(mac)) {
    throw new Error(`${dev} has the all-zero MAC ${macToString(mac)}: nothing to announce`);
  }
  return mac;
}

function closeQuietly(fd: number): void {
  try {
    closeFd(fd);
  } catch {
    // close(2) releases the descriptor even when it reports an error.
  }
}
