/**
 * The production {@link VipGuardPort}: one `AF_PACKET` socket per watched interface,
 * watched on the reactor, reporting who claims which address on the link.
 *
 * Why a packet socket: the kernel's neighbour code consumes ARP and NA frames and tells
 * no one; only a packet socket sees them with their sender MAC. Its classic BPF filter
 * ({@link claimFilter}) keeps ARP replies, gratuitous ARP requests and ICMPv6 neighbour
 * advertisements, so ordinary ARP questions and all other traffic never reach user
 * space. Frames we sent (`PACKET_OUTGOING`: our own GARPs, those of a macvlan on the
 * interface included) are skipped here; the daemon still compares the claimant with
 * the interface's MAC, which each claim carries (read with `getsockname`, so a bond
 * that changed its MAC is seen as it is now).
 *
 * @module
 */

import type { VipClaim, VipGuardPort } from "./ports.ts";
import { ARP_OP_REPLY, ARP_OP_REQUEST, decodeArp } from "../net/arp.ts";
import { ETHERTYPE_ARP, ETHERTYPE_IPV6, macToString } from "../net/ether.ts";
import { decodeNaFrame, ICMPV6_NEIGHBOR_ADVERTISEMENT } from "../net/ndisc.ts";
import {
  AF_PACKET,
  attachFilter,
  bindSocket,
  BPF_JEQ_K,
  BPF_JEQ_X,
  BPF_LDB_ABS,
  BPF_LDH_ABS,
  BPF_LDW_ABS,
  BPF_RET_K,
  BPF_TAX,
  type BpfInsn,
  closeFd,
  ETH_P_ALL,
  getSockName,
  ifNameToIndex,
  openSocket,
  PACKET_OUTGOING,
  recvMsg,
  type RecvMsgResult,
  SOCK_RAW,
  sockaddrLl,
} from "./libc.ts";
import { defaultReactor, type Reactor } from "./reactor.ts";

/** IP protocol number of ICMPv6 (the IPv6 next header of an NA). */
const IPPROTO_ICMPV6 = 58;
// Offsets in an untagged Ethernet frame.
const OFF_ETHERTYPE = 12;
const OFF_ARP_OP = 20;
const OFF_ARP_SENDER_IP = 28;
const OFF_ARP_TARGET_IP = 38;
const OFF_IPV6_NEXT_HEADER = 20;
const OFF_ICMPV6_TYPE = 54;
const FRAME_BYTES = 2048;
// A LAN storm must not starve the loop: what is left stays readable for the next wake.
const MAX_READS_PER_WAKE = 256;

/**
 * The kernel filter of a guard socket: ARP replies, ARP requests whose sender IP equals
 * their target IP (gratuitous), and ICMPv6 neighbour advertisements; nothing else.
 *
 * @example
 * ```ts
 * attachFilter(fd, claimFilter());
 * ```
 */
export function claimFilter(): BpfInsn[] {
  const accept = { code: BPF_RET_K, jt: 0, jf: 0, k: 0xffff };
  const drop = { code: BPF_RET_K, jt: 0, jf: 0, k: 0 };
  // Jump offsets count from the next instruction: 14 is accept, 15 is drop.
  return [
    /* 0 */ { code: BPF_LDH_ABS, jt: 0, jf: 0, k: OFF_ETHERTYPE },
    /* 1 */ { code: BPF_JEQ_K, jt: 0, jf: 7, k: ETHERTYPE_ARP },
    /* 2 */ { code: BPF_LDH_ABS, jt: 0, jf: 0, k: OFF_ARP_OP },
    /* 3 */ { code: BPF_JEQ_K, jt: 10, jf: 0, k: ARP_OP_REPLY },
    /* 4 */ { code: BPF_JEQ_K, jt: 0, jf: 10, k: ARP_OP_REQUEST },
    /* 5 */ { code: BPF_LDW_ABS, jt: 0, jf: 0, k: OFF_ARP_SENDER_IP },
    /* 6 */ { code: BPF_TAX, jt: 0, jf: 0, k: 0 },
    /* 7 */ { code: BPF_LDW_ABS, jt: 0, jf: 0, k: OFF_ARP_TARGET_IP },
    /* 8 */ { code: BPF_JEQ_X, jt: 5, jf: 6, k: 0 },
    /* 9 */ { code: BPF_JEQ_K, jt: 0, jf: 5, k: ETHERTYPE_IPV6 },
    /* 10 */ { code: BPF_LDB_ABS, jt: 0, jf: 0, k: OFF_IPV6_NEXT_HEADER },
    /* 11 */ { code: BPF_JEQ_K, jt: 0, jf: 3, k: IPPROTO_ICMPV6 },
    /* 12 */ { code: BPF_LDB_ABS, jt: 0, jf: 0, k: OFF_ICMPV6_TYPE },
    /* 13 */ { code: BPF_JEQ_K, jt: 0, jf: 1, k: ICMPV6_NEIGHBOR_ADVERTISEMENT },
    /* 14 */ accept,
    /* 15 */ drop,
  ];
}

/**
 * The claim a frame makes, or null when it makes none (not ARP reply / gratuitous ARP /
 * valid NA). An NA without a target link-layer option claims for its Ethernet source.
 *
 * @example
 * ```ts
 * parseClaimFrame(encodeGratuitousArp({ senderMac, ip: "192.0.2.100" }));
 * // { address: "192.0.2.100", mac: "02:...", kind: "garp" }
 * ```
 */
export function parseClaimFrame(frame: Uint8Array): Omit<VipClaim, "dev" | "localMac"> | null {
  if (frame.length < OFF_ETHERTYPE + 2) return null;
  const type = (frame[OFF_ETHERTYPE] << 8) | frame[OFF_ETHERTYPE + 1];
  if (type === ETHERTYPE_ARP) {
    const arp = decodeArp(frame);
    if (!arp.ok) return null;
    const mac = macToString(arp.senderMac);
    if (arp.op === ARP_OP_REPLY) return { address: arp.senderIp, mac, kind: "arp-reply" };
    if (arp.op === ARP_OP_REQUEST && arp.gratuitous) {
      return { address: arp.senderIp, mac, kind: "garp" };
    }
    return null;
  }
  if (type !== ETHERTYPE_IPV6) return null;
  const na = decodeNaFrame(frame);
  if (!na.ok) return null;
  const mac = macToString(na.targetMac ?? na.ethSrc);
  return { address: na.targetIp, mac, kind: "na" };
}

interface Watch {
  dev: string;
  ifindex: number;
  fd: number;
  onClaim: (claim: VipClaim) => void;
  closed: boolean;
  /** Ends the reactor's watch (the socket stays open: see {@link PacketVipGuard}). */
  stop: () => void;
}

/** A guard socket kept for its interface between watches, filtering out every frame. */
interface Parked {
  fd: number;
  ifindex: number;
}

/**
 * Guard sockets, each watched on the reactor.
 *
 * A watch that stops keeps its socket, parked with a filter that drops every frame, for
 * the next watch of the same interface: closing a packet socket waits for an RCU grace
 * period in the kernel (`synchronize_net`, ~100 ms here), which would stall the loop on
 * every transition out of Master, exactly when adverts must keep flowing.
 *
 * @example
 * ```ts
 * const guard = new PacketVipGuard();
 * const stop = guard.watch("eth0", (c) => console.log(c.address, c.mac));
 * stop();
 * await guard.close();
 * ```
 */
export class PacketVipGuard implements VipGuardPort {
  #open = new Map<number, Watch>();
  #parked = new Map<string, Parked>();
  readonly #reactor: Reactor;
  #buf = new Uint8Array(FRAME_BYTES);

  /**
   * A guard watching its sockets on `reactor` (the process-wide one by default).
   *
   * @example
   * ```ts
   * const guard = new PacketVipGuard(reactor);
   * ```
   */
  constructor(reactor: Reactor = defaultReactor()) {
    this.#reactor = reactor;
  }

  /**
   * Opens the interface's guard socket; claims go to `onClaim` until the returned
   * function is called.
   *
   * @example
   * ```ts
   * const stop = guard.watch("eth0", onClaim);
   * ```
   * @throws {SyscallError} ENODEV for a missing interface, EPERM without CAP_NET_RAW.
   */
  watch(dev: string, onClaim: (claim: VipClaim) => void): () => void {
    const ifindex = ifNameToIndex(dev);
    const fd = this.#unpark(dev, ifindex) ?? openGuardSocket(ifindex);
    const w: Watch = { dev, ifindex, fd, onClaim, closed: false, stop: () => {} };
    const handle = this.#reactor.watch(fd, () => this.#drain(w));
    w.stop = () => handle.close();
    this.#open.set(fd, w);
    return () => this.#unwatch(w);
  }

  /**
   * Number of watched interfaces.
   *
   * @example
   * ```ts
   * guard.watchCount(); // 0 once every watch stopped
   * ```
   */
  watchCount(): number {
    return this.#open.size;
  }

  /**
   * Stops every watch and closes every socket, parked ones included.
   *
   * @example
   * ```ts
   * await guard.close();
   * ```
   */
  close(): Promise<void> {
    for (const w of [...this.#open.values()]) this.#unwatch(w);
    for (const p of this.#parked.values()) closeQuietly(p.fd);
    this.#parked.clear();
    return Promise.resolve();
  }

  #unwatch(w: Watch): void {
    if (w.closed) return;
    w.closed = true;
    this.#open.delete(w.fd);
    w.stop();
    try {
      attachFilter(w.fd, DROP_ALL);
    } catch {
      closeQuietly(w.fd);
      return;
    }
    const old = this.#parked.get(w.dev);
    if (old !== undefined) closeQuietly(old.fd);
    this.#parked.set(w.dev, { fd: w.fd, ifindex: w.ifindex });
  }

  /** The parked socket of `dev`, emptied and filtering claims again; null when none fits. */
  #unpark(dev: string, ifindex: number): number | null {
    const p = this.#parked.get(dev);
    if (p === undefined) return null;
    this.#parked.delete(dev);
    // A re-created interface has a new index: the old socket is bound to a dead one.
    if (p.ifindex !== ifindex) {
      closeQuietly(p.fd);
      return null;
    }
    try {
      // Frames queued before parking are stale claims: dropped, not judged.
      while (recvMsg(p.fd, this.#buf) !== null);
      attachFilter(p.fd, claimFilter());
      return p.fd;
    } catch {
      closeQuietly(p.fd);
      return null;
    }
  }

  #drain(w: Watch): void {
    for (let i = 0; i < MAX_READS_PER_WAKE && !w.closed; i++) {
      let got: RecvMsgResult | null;
      try {
        got = recvMsg(w.fd, this.#buf);
      } catch {
        // A pending socket error (ENETDOWN) is cleared by the read; go on next wake.
        return;
      }
      if (got === null) return;
      const from = got.from;
      if (from.family === AF_PACKET && "pkttype" in from && from.pkttype === PACKET_OUTGOING) {
        continue;
      }
      const claim = parseClaimFrame(this.#buf.subarray(0, got.n));
      if (claim === null) continue;
      try {
        w.onClaim({ ...claim, dev: w.dev, localMac: localMac(w.fd) });
      } catch {
        // The port's contract says callbacks do not throw; one that does loses its claim.
      }
    }
  }
}

/** The filter of a parked guard socket: every frame dropped in the kernel. */
const DROP_ALL: BpfInsn[] = [{ code: BPF_RET_K, jt: 0, jf: 0, k: 0 }];

/** A packet socket on `ifindex` that queues only claims ({@link claimFilter}). */
function openGuardSocket(ifindex: number): number {
  // Protocol 0 queues nothing until the bind, by which time the filter is in place.
  const fd = openSocket(AF_PACKET, SOCK_RAW, 0);
  try {
    attachFilter(fd, claimFilter());
    bindSocket(fd, sockaddrLl({ protocol: ETH_P_ALL, ifindex }));
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
  return fd;
}

function localMac(fd: number): string | null {
  try {
    const me = getSockName(fd);
    return me.family === AF_PACKET && "addr" in me && me.addr.length === 6
      ? macToString(me.addr)
      : null;
  } catch {
    return null;
  }
}

function closeQuietly(fd: number): void {
  try {
    closeFd(fd);
  } catch {
    // close(2) releases the descriptor even when it reports an error.
  }
}
