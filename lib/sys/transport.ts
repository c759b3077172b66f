/**
 * The production {@link TransportFactory}: raw IP protocol 112 sockets, one per
 * (interface, family), each watched on the daemon's {@link Reactor}.
 *
 * IPv4 sends with `IP_HDRINCL`: hacore writes the IPv4 header itself, as keepalived
 * does. The source address is part of the VRRPv3 checksum the daemon already computed,
 * so it must reach the wire exactly as given; with our own header it does, whatever
 * the routing table would have picked, and the header matches keepalived's byte for
 * byte (TOS 0xc0, TTL 255, DF clear, a per-socket identification counter). The kernel
 * still fills the total length and header checksum.
 *
 * IPv6 has no usable header-include mode for protocol 112, so each send carries an
 * `IPV6_PKTINFO` control message naming the source and the interface; traffic class
 * and hop limits are socket options. The kernel adds no checksum for protocol 112: the
 * daemon's bytes already carry it.
 *
 * Receiving, with the sender's MAC (the default): a raw IP socket cannot tell who sent a
 * packet on the link, and VRRPv3 has no authentication, so peer MAC pinning and the
 * priority-0 rule need the link-layer source. Each transport therefore reads from an
 * `AF_PACKET` "cooked" socket bound to the interface and its IP ethertype, whose
 * classic BPF filter keeps only IP protocol 112 (everything else is refused in the
 * kernel, so the cost per advert is one recvmsg, as before); `recvmsg` names the
 * sender's MAC in its `sockaddr_ll`. The raw IP socket stays for sending and for the
 * multicast join (IGMP/MLD snooping switches need it), with a filter that queues
 * nothing. What the IP layer did for the raw socket is done here: frames for other
 * hosts and our own are skipped, the IPv4 header checksum is verified, fragments are
 * skipped (an advert is never fragmented), and a multicast destination must be the
 * group joined.
 *
 * Without the packet socket (`linkLayer: false`, or when it cannot be opened) the raw
 * socket receives as before: IPv4 raw sockets hand over the IP header, which
 * {@link decodeIpv4Header} parses for source, destination, TTL and the exact payload
 * (Ethernet padding cut off by the total length); IPv6 raw sockets strip the header,
 * so the hop limit and the destination come as `IPV6_HOPLIMIT` and `IPV6_PKTINFO`
 * control messages, and no MAC is known.
 *
 * A steady Backup's routine adverts (its Master's, unchanged) need not wake the loop:
 * told which they are (`expectRoutine`), a transport stops watching its packet socket
 * and reads it on every wake of the reactor instead, before that wake's callbacks and
 * timers; the kernel's receive stamp (`SO_TIMESTAMPNS`) says when each arrived, so the
 * Master_Down timer runs from the advert, not from its read. A second packet socket,
 * the doorbell, queues (one byte of) whatever is not routine, and is what is watched.
 * A Backup at 10 ms adverts then wakes about once per Master_Down interval. Only where
 * a transport carries several routine adverts (see {@link DOORBELL_MIN_ROUTINE}): with
 * one, every advert wakes the loop, which costs less.
 *
 * Nothing that arrives is validated as VRRP here; the daemon does all of it, so every
 * drop is counted in one place. Only packets whose IP facts cannot be read are
 * skipped, and counted in {@link TransportStats}.
 *
 * @module
 */

import type {
  ReceivedPacket,
  RoutineAdvert,
  TransportFactory,
  TransportRequest,
  VrrpTransport,
} from "./ports.ts";
import { canonicalIp, formatIp, ipv4Text, parseIp, parseIpCached } from "../net/addr.ts";
import { macToString } from "../net/ether.ts";
import {
  decodeIpv6Header,
  encodeIpv6Header,
  IPV4_HEADER_LENGTH,
  ipv4HeaderLength,
  IPV6_HEADER_LENGTH,
  writeIpv4Header,
} from "../net/ip.ts";
import { EAGAIN, EBADF, SyscallError } from "./errno.ts";
import {
  AF_INET,
  AF_INET6,
  AF_PACKET,
  attachFilter,
  bindNow,
  bindSocket,
  bindToDevice,
  BPF_JEQ_K,
  BPF_K_PKTTYPE,
  BPF_LDB_ABS,
  BPF_LDH_ABS,
  BPF_LDH_IND,
  BPF_LDW_ABS,
  BPF_LDW_IND,
  BPF_LDX_MSH,
  BPF_RET_K,
  type BpfInsn,
  buildCmsgs,
  clockRealtimeMs,
  closeFd,
  cmsgInt,
  cmsgSpace,
  decodeIn6Pktinfo,
  ETH_P_IP,
  ETH_P_IPV6,
  ifNameToIndex,
  in6Pktinfo,
  IP_HDRINCL,
  IP_MULTICAST_ALL,
  IP_MULTICAST_IF,
  IP_MULTICAST_LOOP,
  IP_MULTICAST_TTL,
  IP_TOS,
  IP_TTL,
  ipMreqn,
  IPPROTO_RAW,
  IPPROTO_VRRP,
  IPV6_FREEBIND,
  IPV6_HOPLIMIT,
  IPV6_MULTICAST_ALL,
  IPV6_MULTICAST_HOPS,
  IPV6_MULTICAST_IF,
  IPV6_MULTICAST_LOOP,
  IPV6_PKTINFO,
  IPV6_RECVHOPLIMIT,
  IPV6_RECVPKTINFO,
  IPV6_TCLASS,
  IPV6_UNICAST_HOPS,
  joinGroupV4,
  joinGroupV6,
  MSG_TRUNC,
  openSocket,
  PACKET_OTHERHOST,
  PACKET_OUTGOING,
  RecvMsgReader,
  type RecvMsgResult,
  sendMsg,
  sendTo,
  setsockoptBuf,
  setsockoptInt,
  SIZEOF_IN6_PKTINFO,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_TIMESTAMPNS,
  SOCK_DGRAM,
  SOCK_RAW,
  sockaddrIn,
  sockaddrIn6,
  sockaddrLl,
  SOL_IP,
  SOL_IPV6,
  SOL_SOCKET,
  STAMP_CONTROL_BYTES,
} from "./libc.ts";
import { defaultReactor, type Reactor, type WatchHandle } from "./reactor.ts";

/** TTL / hop limit of every VRRP packet (RFC 5798 §5.1.1.3, §5.1.2.3). */
export const VRRP_HOP_LIMIT = 255;
/** TOS / traffic class keepalived sends adverts with: DSCP CS6 (network control). */
export const VRRP_TOS = 0xc0;

// Adverts are tiny, but a LAN with many instances can deliver bursts while the JS thread
// is busy (a reload, a slow notify spawn); a large buffer turns that into latency, not loss.
const RCVBUF_BYTES = 1024 * 1024;
// An IPv4 datagram, header included, is at most 65535 bytes.
const RECV_BUFFER_BYTES = 65536;
const CONTROL_BYTES = cmsgSpace(SIZEOF_IN6_PKTINFO) + cmsgSpace(4) + 64;
// Reads per fd per wake-up: a flooded socket must not starve the others or the event
// loop. What is left stays readable, so the next poll returns at once.
const MAX_READS_PER_WAKE = 256;

// Reads per fd in one drainNow: a 1 MiB buffer of adverts is about this many frames, so a
// stalled loop gets all of them, and a flood still cannot hold the loop for long.
const MAX_READS_PER_DRAIN = 2048;

/**
 * How recent the reactor's last wait must be for `drainNow` to trust it: a timer fired
 * on the same wake runs 20-250 µs after it here (more under load). An advert landing
 * in this window is read on the next wake, as one landing just after the deadline would
 * be; a Master_Down deadline is three advert intervals and a skew long.
 */
export const POLL_FRESH_MS = 1;

/**
 * What a factory's receive loop has seen, for status and metrics.
 *
 * @example
 * ```ts
 * const s: TransportStats = factory.stats();
 * if (s.malformed > 0) log.warn(`${s.malformed} packets with unreadable IP facts`);
 * ```
 */
export interface TransportStats {
  /** Packets handed to an `onPacket` callback. */
  readonly received: number;
  /** Packets skipped because their IP header or control data could not be read. */
  readonly malformed: number;
  /**
   * Frames the packet socket saw that the IP layer would not have delivered to us
   * (another host's, our own, a fragment, another multicast group).
   */
  readonly notForUs: number;
  /** recvmsg calls that failed with something other than EAGAIN. */
  readonly receiveErrors: number;
  /** `onPacket` callbacks that threw (the contract says they must not). */
  readonly callbackErrors: number;
}

// One open socket and what its sends need; handed out as a VrrpTransport.
class RawTransport implements VrrpTransport {
  /** The raw IP socket: sends, and holds the multicast join. */
  readonly fd: number;
  /** The socket received on: the packet socket, or `fd` without one. */
  readonly rxFd: number;
  /** True when `rxFd` is a packet socket (frames carry the sender's MAC). */
  readonly linkLayer: boolean;
  /** The group joined, canonical: the only multicast destination heard. */
  readonly group: string;
  readonly family: "ipv4" | "ipv6";
  readonly ifindex: number;
  readonly interface: string;
  readonly onPacket: (packet: ReceivedPacket) => void;
  /**
   * Receive stamps to the reactor's clock, when the receive socket stamps each packet
   * with its arrival (`SO_TIMESTAMPNS`); null otherwise.
   */
  readonly stamps: StampClock | null;
  closed = false;
  /** The receive socket's watch; null while routine adverts are read on each wake. */
  rxWatch: WatchHandle | null = null;
  /** The doorbell socket (see `SystemTransportFactory.expectRoutine`); -1 without one. */
  bellFd = -1;
  bellWatch: WatchHandle | null = null;
  /** The routine adverts the doorbell lets pass, as compared (empty: none). */
  routineKey = "";
  /** Those adverts (empty: none): identical ones read in a row are handed on once. */
  routine: readonly RoutineAdvert[] = NO_ROUTINE;
  #ipId = 0;
  #owner: TransportOwner;
  /** Send-only sockets per `via` interface (virtual-MAC macvlans). */
  #via = new Map<string, { fd: number; ifindex: number }>();
  /** The last IPv4 destination and its sockaddr: an instance sends to one group. */
  #lastDst = "";
  #lastSockaddr: Uint8Array | null = null;
  /** The last IPv4 packet framed, reused when the next has its length. */
  #frame: Uint8Array | undefined = undefined;

  constructor(
    owner: TransportOwner,
    fd: number,
    rx: { fd: number; stamps: StampClock | null },
    req: TransportRequest,
    ifindex: number,
    onPacket: (packet: ReceivedPacket) => void,
  ) {
    this.#owner = owner;
    this.fd = fd;
    this.rxFd = rx.fd;
    this.stamps = rx.stamps;
    this.linkLayer = rx.fd !== fd;
    this.group = canonicalIp(req.group) ?? req.group;
    this.family = req.family;
    this.interface = req.interface;
    this.ifindex = ifindex;
    this.onPacket = onPacket;
  }

  send(bytes: Uint8Array, dst: string, src: string, via?: string, ttl?: number): void {
    if (this.closed) {
      throw new SyscallError("send", EBADF, `VRRP ${this.family} on ${this.interface}, closed`);
    }
    // `unicast_ttl` (IPv4 only; the config refuses it for IPv6): 255 otherwise, the RFC's.
    const hops = ttl ?? VRRP_HOP_LIMIT;
    const sent = via !== undefined && via !== this.interface
      ? this.#sendVia(via, bytes, dst, src, hops)
      : this.family === "ipv4"
      ? this.#sendV4(bytes, dst, src, hops)
      : this.#sendV6(bytes, dst, src);
    // A full socket buffer is a local failure the daemon counts, like ENOBUFS.
    if (sent === null) {
      throw new SyscallError("sendto", EAGAIN, `VRRP ${this.family} on ${this.interface}`);
    }
  }

  #sendV4(bytes: Uint8Array, dst: string, src: string, ttl: number): number | null {
    return sendTo(this.fd, this.#v4Packet(bytes, dst, src, ttl), this.#sockaddr4(dst));
  }

  /**
   * Sends out of another interface (a virtual-MAC macvlan), on a send-only
   * `IPPROTO_RAW` socket bound to it: the IP header is ours for both families, so the
   * source stays exactly `src` although that address lives on the parent, and such a
   * socket never queues received packets.
   */
  #sendVia(
    via: string,
    bytes: Uint8Array,
    dst: string,
    src: string,
    ttl: number,
  ): number | null {
    const s = this.#viaSocket(via);
    if (this.family === "ipv4") {
      return sendTo(s.fd, this.#v4Packet(bytes, dst, src, ttl), this.#sockaddr4(dst));
    }
    const header = encodeIpv6Header({
      src,
      dst,
      hopLimit: VRRP_HOP_LIMIT,
      trafficClass: VRRP_TOS,
      nextHeader: IPPROTO_VRRP,
      payloadLength: bytes.length,
    });
    const packet = new Uint8Array(IPV6_HEADER_LENGTH + bytes.length);
    packet.set(header, 0);
    packet.set(bytes, IPV6_HEADER_LENGTH);
    // The route lookup still wants a source, and the macvlan has no address of its own:
    // IPV6_PKTINFO names ours, which IPV6_FREEBIND lets live on the parent.
    const info = { level: SOL_IPV6, type: IPV6_PKTINFO, data: in6Pktinfo(src, s.ifindex) };
    return sendMsg(s.fd, packet, sockaddrIn6(dst, 0, s.ifindex), buildCmsgs([info]));
  }

  #sockaddr4(dst: string): Uint8Array {
    if (this.#lastSockaddr === null || this.#lastDst !== dst) {
      this.#lastSockaddr = sockaddrIn(dst);
      this.#lastDst = dst;
    }
    return this.#lastSockaddr;
  }

  #viaSocket(via: string): { fd: number; ifindex: number } {
    // Looked up on every send: a macvlan re-made under its name has a new index, and a
    // socket bound to the old one would fail with ENODEV for ever.
    const ifindex = ifNameToIndex(via);
    const cached = this.#via.get(via);
    if (cached && cached.ifindex === ifindex) return cached;
    if (cached) {
      this.#via.delete(via);
      closeQuietly(cached.fd);
    }
    const fd = openSocket(this.family === "ipv4" ? AF_INET : AF_INET6, SOCK_RAW, IPPROTO_RAW);
    try {
      // IPPROTO_RAW sockets only send (and imply a header of our own); binding picks the
      // interface even for multicast destinations.
      bindToDevice(fd, via);
      if (this.family === "ipv6") setsockoptInt(fd, SOL_IPV6, IPV6_FREEBIND, 1);
    } catch (e) {
      closeQuietly(fd);
      throw e;
    }
    const s = { fd, ifindex };
    this.#via.set(via, s);
    return s;
  }

  #v4Packet(bytes: Uint8Array, dst: string, src: string, ttl: number): Uint8Array {
    // 0 would ask the kernel to pick the identification; keepalived counts from 1.
    this.#ipId = this.#ipId >= 0xffff ? 1 : this.#ipId + 1;
    // An instance's adverts keep their length: one buffer serves every send.
    this.#frame = frameIpv4Advert(bytes, dst, src, ttl, this.#ipId, this.#frame);
    return this.#frame;
  }

  #sendV6(bytes: Uint8Array, dst: string, src: string): number | null {
    const info = { level: SOL_IPV6, type: IPV6_PKTINFO, data: in6Pktinfo(src, this.ifindex) };
    // The scope id only matters for link-scoped destinations (ff02::12, fe80::/10);
    // the kernel ignores it for the rest, so it is always given.
    return sendMsg(this.fd, bytes, sockaddrIn6(dst, 0, this.ifindex), buildCmsgs([info]));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Send-only sockets are never polled: they can go at once.
    for (const s of this.#via.values()) closeQuietly(s.fd);
    this.#via.clear();
    this.#owner.close(this);
  }

  expectRoutine(routine: readonly RoutineAdvert[]): void {
    if (!this.closed) this.#owner.expectRoutine(this, routine);
  }

  prepareSend(bytes: Uint8Array, dst: string, src: string): void {
    if (this.closed) return;
    if (this.family === "ipv4") {
      this.#v4Packet(bytes, dst, src, VRRP_HOP_LIMIT);
      this.#sockaddr4(dst);
      bindNow("sendto");
    } else {
      sockaddrIn6(dst, 0, this.ifindex);
      bindNow("sendmsg");
    }
  }
}

/** What a transport asks of the factory that opened it. */
interface TransportOwner {
  close(t: RawTransport): void;
  expectRoutine(t: RawTransport, routine: readonly RoutineAdvert[]): void;
}

/**
 * The IPv4 packet an advert is sent as with `IP_HDRINCL`: keepalived's header (TOS
 * 0xc0, DF clear, identification `id`, TTL `ttl`) and the advert after it; written
 * into `into` when it has the packet's length (a buffer kept from one send to the
 * next: `sendto` copies it to the kernel before returning), a new array otherwise.
 *
 * @example
 * ```ts
 * sendTo(fd, frameIpv4Advert(advert, "224.0.0.18", "192.0.2.11", 255, 1), sockaddrIn("224.0.0.18"));
 * ```
 */
export function frameIpv4Advert(
  bytes: Uint8Array,
  dst: string,
  src: string,
  ttl: number,
  id: number,
  into?: Uint8Array,
): Uint8Array {
  const s = parseIpCached(src);
  const d = parseIpCached(dst);
  if (s?.family !== "ipv4" || d?.family !== "ipv4") {
    throw new RangeError(`IPv4 header needs IPv4 addresses, got ${src} and ${dst}`);
  }
  const length = IPV4_HEADER_LENGTH + bytes.length;
  const packet = into !== undefined && into.length === length ? into : new Uint8Array(length);
  writeIpv4Header(packet, s.bytes, d.bytes, ttl, VRRP_TOS, IPPROTO_VRRP, id, false, bytes.length);
  packet.set(bytes, IPV4_HEADER_LENGTH);
  return packet;
}

/**
 * Fewest routine adverts on one transport for which the doorbell is used. With one
 * Master followed (a single Backup on the interface), waking on each of its adverts is
 * cheaper than the doorbell's wake per Master_Down interval: a timer's wake costs more
 * than a packet's, and that wake reads the ~3 adverts queued meanwhile. One instance at
 * 10 ms adverts, CPU-s per minute over 15 s, alternating runs: beside a keepalived
 * Master 0.45 with the doorbell (33 wakes a second), 0.31 without (100), 7 runs each;
 * beside a hacore Master 0.45 and 0.42, 5 runs each, within the noise. With 50
 * instances the doorbell wins by far (1.36-1.56 against 3.1-3.6 at 4,000 wakes a
 * second); with 2 the two were within the noise.
 */
export const DOORBELL_MIN_ROUTINE = 2;

/**
 * Opens VRRP transports on raw sockets, each watched on the reactor: a readable socket
 * is drained (up to a bound) on the JS thread, packets handed to `onPacket`.
 *
 * Sockets live in the network namespace of the calling thread at the time of
 * {@link SystemTransportFactory.open}; the reactor reads them wherever they live, so
 * one factory can serve transports in several namespaces (the namespace tests do).
 *
 * A closed transport's watch ends before its socket is closed; a wait that still
 * covers the old number (an async one, on a worker thread) wakes once for nothing.
 *
 * @example
 * ```ts
 * const factory = new SystemTransportFactory();
 * const t = factory.open({ interface: "eth0", family: "ipv4", group: "224.0.0.18" },
 *   (p) => inbox.push(p));
 * t.send(advert, "224.0.0.18", "192.0.2.11");
 * t.close();
 * await factory.close();
 * ```
 */
export class SystemTransportFactory implements TransportFactory {
  /** By receiving fd. */
  #open = new Map<number, RawTransport>();
  /** Transports whose routine adverts are read on every wake, not watched. */
  #quiet = new Set<RawTransport>();
  #offWake: (() => void) | null = null;
  readonly #linkLayer: boolean;
  readonly #reactor: Reactor;
  readonly #doorbellMin: number;
  #buf = new Uint8Array(RECV_BUFFER_BYTES);
  #control = new Uint8Array(CONTROL_BYTES);
  /**
   * Reads into `#buf` without allocating (see `RecvMsgReader`): with receive stamps
   * for packet sockets (and raw IPv4 ones, which have none), with control data for
   * raw IPv6.
   */
  #reader = new RecvMsgReader(this.#buf, new Uint8Array(STAMP_CONTROL_BYTES), { stamps: true });
  #readerV6 = new RecvMsgReader(this.#buf, this.#control);
  /** Empties doorbell sockets: what they hold only says "wake up". */
  #bellReader = new RecvMsgReader(new Uint8Array(BELL_SNAP_BYTES));
  /** Identical routine adverts of one drain, handed on once (see {@link RepeatRun}). */
  readonly #run = new RepeatRun();
  readonly #owner: TransportOwner = {
    close: (t) => this.#closeTransport(t),
    expectRoutine: (t, routine) => this.#expectRoutine(t, routine),
  };
  #stats = { received: 0, malformed: 0, notForUs: 0, receiveErrors: 0, callbackErrors: 0 };
  /**
   * Last time a socket may hold packets the reactor's last wait did not cover: one was
   * opened, or a read stopped at its bound rather than at EAGAIN (see `drainNow`).
   */
  #uncoveredMs = -Infinity;

  /**
   * `linkLayer` (true by default): receive on a packet socket, so that each packet
   * names its sender's MAC; false receives on the raw IP socket, without it.
   * `reactor`: where the sockets are watched (the process-wide one by default).
   * `doorbellMin`: fewest routine adverts for the doorbell ({@link DOORBELL_MIN_ROUTINE}
   * by default).
   *
   * @example
   * ```ts
   * const factory = new SystemTransportFactory({ linkLayer: false });
   * ```
   */
  constructor(opts: { linkLayer?: boolean; reactor?: Reactor; doorbellMin?: number } = {}) {
    this.#linkLayer = opts.linkLayer ?? true;
    this.#reactor = opts.reactor ?? defaultReactor();
    this.#doorbellMin = Math.max(1, opts.doorbellMin ?? DOORBELL_MIN_ROUTINE);
  }

  /**
   * Opens a raw VRRP socket on `req.interface` for `req.family`, joined to `req.group`,
   * and starts delivering what arrives there to `onPacket`.
   *
   * @example
   * ```ts
   * const t = factory.open({ interface: "eth0", family: "ipv6", group: "ff02::12" }, onPacket);
   * ```
   * @throws {SyscallError} `if_nametoindex(eth9): ENODEV` for a missing interface, EPERM
   * without CAP_NET_RAW, and so on.
   * @throws {RangeError} when `group` is not an address of `family`.
   */
  open(req: TransportRequest, onPacket: (packet: ReceivedPacket) => void): VrrpTransport {
    if (parseIp(req.group)?.family !== req.family) {
      throw new RangeError(`group ${req.group} is not an ${req.family} address`);
    }
    const ifindex = ifNameToIndex(req.interface);
    const fd = req.family === "ipv4"
      ? openV4(req.interface, ifindex, req.group)
      : openV6(req.interface, ifindex, req.group);
    const rxFd = this.#linkLayer ? openLinkReceiver(fd, req.family, ifindex) : fd;
    // Only a packet socket's stamps are used: routine adverts need them (see
    // expectRoutine), and a stall's backlog is then timed right too.
    const stamps = rxFd !== fd && trySetInt(rxFd, SOL_SOCKET, SO_TIMESTAMPNS, 1)
      ? new StampClock(this.#reactor)
      : null;
    const t = new RawTransport(this.#owner, fd, { fd: rxFd, stamps }, req, ifindex, onPacket);
    // Opened now, in the namespace the interface is in (a test's, say), though it queues
    // nothing until routine adverts are expected.
    if (stamps !== null) t.bellFd = tryOpenBell(req.family, ifindex);
    this.#open.set(rxFd, t);
    this.#uncoveredMs = this.#reactor.nowMs();
    this.#watchRx(t);
    return t;
  }

  #watchRx(t: RawTransport): void {
    // Quiet: the daemon's callback handles a packet in place or queues it in its inbox
    // (which its idle check sees), so a dispatch of adverts alone needs no settle turns.
    t.rxWatch = this.#reactor.watch(t.rxFd, () => this.#drain(t), { quiet: true });
  }

  /**
   * Routine adverts stop waking the loop: the receive socket is no longer watched but
   * read on every wake (the reactor's `onWake`), before that wake's callbacks and
   * timers; a Backup's Master_Down deadline is such a wake, and each advert read
   * counts from its receive stamp, so the timer runs from the advert as before. What
   * is not routine (another sender, a priority or interval that changed, a VRID
   * without an entry) is also queued on a second packet socket, the doorbell, whose
   * filter ({@link routineBell}) lets only that through; the doorbell is watched, and
   * its wake reads the receive socket. A steady Backup at 10 ms adverts wakes about
   * once per Master_Down interval instead of once per advert.
   */
  #expectRoutine(t: RawTransport, routine: readonly RoutineAdvert[]): void {
    if (t.bellFd < 0) return;
    const key = routineKey(routine);
    if (key === t.routineKey) return;
    if (routine.length < this.#doorbellMin) {
      this.#wakeEveryPacket(t);
      // Still known as routine, so that a run of them queued behind a late wake is
      // handed on once (see RepeatRun).
      if (routine.length > 0) {
        t.routineKey = key;
        t.routine = routine;
      }
      return;
    }
    try {
      attachFilter(t.bellFd, routineBell(t.family, routine));
    } catch {
      // Without a doorbell every packet wakes the loop, as before.
      this.#wakeEveryPacket(t);
      return;
    }
    t.routineKey = key;
    t.routine = routine;
    if (t.bellWatch !== null) return;
    const bellFd = t.bellFd;
    t.bellWatch = this.#reactor.watch(bellFd, () => this.#ring(t, bellFd), { quiet: true });
    t.rxWatch?.close();
    t.rxWatch = null;
    this.#quiet.add(t);
    this.#offWake ??= this.#reactor.onWake(() => this.#drainQuiet());
    // Packets that came in before the switch wait for the next wake, as routine ones.
    this.#uncoveredMs = this.#reactor.nowMs();
  }

  #wakeEveryPacket(t: RawTransport): void {
    if (!this.#leaveQuiet(t)) return;
    try {
      attachFilter(t.bellFd, QUEUE_NOTHING);
    } catch {
      // Unwatched, what it still queues is never read; closing it frees that.
    }
    this.#watchRx(t);
    this.#uncoveredMs = this.#reactor.nowMs();
  }

  /** Stops reading `t` on every wake and watching its doorbell; false if it was not. */
  #leaveQuiet(t: RawTransport): boolean {
    t.routineKey = "";
    t.routine = NO_ROUTINE;
    if (t.bellWatch === null) return false;
    t.bellWatch.close();
    t.bellWatch = null;
    this.#quiet.delete(t);
    if (this.#quiet.size === 0 && this.#offWake !== null) {
      this.#offWake();
      this.#offWake = null;
    }
    return true;
  }

  /** The doorbell rang: empty it, then read what it rang for. */
  #ring(t: RawTransport, bellFd: number): void {
    for (let i = 0; i < MAX_READS_PER_WAKE; i++) {
      try {
        if (this.#bellReader.read(bellFd) === null) break;
      } catch {
        break;
      }
    }
    this.#drain(t);
  }

  #drainQuiet(): void {
    for (const t of this.#quiet) this.#drain(t);
  }

  /**
   * Counters of the receive loop since the factory was made.
   *
   * @example
   * ```ts
   * factory.stats().received; // 42
   * ```
   */
  stats(): TransportStats {
    return { ...this.#stats };
  }

  /**
   * Number of open transports.
   *
   * @example
   * ```ts
   * factory.openCount(); // 0 after every transport was closed
   * ```
   */
  openCount(): number {
    return this.#open.size;
  }

  /**
   * Resolves at once: a closed transport's socket is closed with it and the reactor
   * holds nothing of it (kept for callers written when a poll loop had to let go).
   *
   * @example
   * ```ts
   * t.close();
   * await factory.settled();
   * ```
   */
  settled(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Closes every transport.
   *
   * @example
   * ```ts
   * await factory.close();
   * ```
   */
  close(): Promise<void> {
    for (const t of [...this.#open.values()]) t.close();
    return Promise.resolve();
  }

  /**
   * Reads what every open socket holds now, synchronously (the sockets are
   * non-blocking, so each read ends at EAGAIN, and errno is read on this thread), and
   * hands each packet to its transport's `onPacket` before returning. The number of
   * packets delivered.
   *
   * Why: when the JS thread wakes late (a stall, CPU contention), adverts can still sit
   * in the socket buffers — the poll worker has not reported them yet, or its promise
   * has not run — while a Master_Down deadline is already overdue. The daemon calls
   * this before firing an overdue deadline, so a backup that has its master's adverts
   * queued never declares the master down.
   *
   * Skipped (0) when the reactor's last wait, which covered every socket and whose
   * readable ones were drained to EAGAIN, returned less than {@link POLL_FRESH_MS} ago:
   * the reads would find what that wait found, nothing. That is every advert a Master
   * sends from its timer on an idle loop: one recvmsg (and errno read) fewer each.
   *
   * @example
   * ```ts
   * if (deadline <= clock.nowMs()) factory.drainNow(); // packets before timers
   * ```
   */
  drainNow(): number {
    const polled = this.#reactor.lastPolledMs;
    if (this.#uncoveredMs < polled && this.#reactor.nowMs() - polled < POLL_FRESH_MS) return 0;
    const before = this.#stats.received;
    for (const t of [...this.#open.values()]) this.#drain(t, MAX_READS_PER_DRAIN);
    return this.#stats.received - before;
  }

  #closeTransport(t: RawTransport): void {
    if (this.#open.get(t.rxFd) !== t) return;
    this.#open.delete(t.rxFd);
    this.#leaveQuiet(t);
    t.rxWatch?.close();
    t.rxWatch = null;
    if (t.bellFd >= 0) closeQuietly(t.bellFd);
    t.bellFd = -1;
    if (t.rxFd !== t.fd) closeQuietly(t.fd);
    closeQuietly(t.rxFd);
  }

  #drain(t: RawTransport, maxReads: number = MAX_READS_PER_WAKE): void {
    t.stamps?.begin();
    const run = this.#run;
    try {
      this.#drainInto(t, maxReads, run);
    } finally {
      const held = run.take();
      if (held !== null) this.#deliver(t, held);
    }
  }

  #deliver(t: RawTransport, packet: ReceivedPacket): void {
    try {
      t.onPacket(packet);
    } catch {
      this.#stats.callbackErrors++;
    }
  }

  /**
   * The drain's reads. A routine advert is held (see {@link RepeatRun}) while the next
   * reads are byte for byte the same; anything else hands it on first, in order.
   */
  #drainInto(t: RawTransport, maxReads: number, run: RepeatRun): void {
    for (let i = 0; !t.closed; i++) {
      if (i === maxReads) {
        this.#uncoveredMs = this.#reactor.nowMs();
        return;
      }
      let got: RecvMsgResult | null;
      try {
        const reader = t.family === "ipv6" && !t.linkLayer ? this.#readerV6 : this.#reader;
        got = reader.read(t.rxFd);
      } catch {
        // A pending socket error (e.g. ENETDOWN) is reported once and cleared by the read;
        // packets may still be queued behind it.
        this.#stats.receiveErrors++;
        this.#uncoveredMs = this.#reactor.nowMs();
        return;
      }
      if (got === null) {
        t.stamps?.emptied(this.#reactor.lastPolledMs);
        return;
      }
      if (run.extend(t, this.#buf, got)) {
        this.#stats.received++;
        continue;
      }
      const held = run.take();
      if (held !== null) this.#deliver(t, held);
      const packet = t.linkLayer
        ? parseLinkFrame(t.family, t.group, this.#buf, got, t.stamps ?? undefined)
        : t.family === "ipv4"
        ? parseV4(this.#buf, got)
        : parseV6(this.#buf, got);
      if (packet === null) {
        this.#stats.malformed++;
        continue;
      }
      if (packet === NOT_FOR_US) {
        this.#stats.notForUs++;
        continue;
      }
      this.#stats.received++;
      if (!run.hold(t, packet, this.#buf, got)) this.#deliver(t, packet);
    }
  }
}

/**
 * A run of identical routine adverts within one drain: a lone Backup wakes on each of
 * its Master's adverts, but a wake that comes late (a stall, a busy host) finds several
 * queued, and all but their count and the last one's arrival is the same for the
 * engine, so it hears them once. Only a routine advert starts a run, on a packet
 * socket whose transport has one routine advert (the frame and sender's MAC
 * compared); a run ends at the first other read and with the drain.
 */
class RepeatRun {
  #t: RawTransport | null = null;
  #packet: Parsed | null = null;
  #repeats = 0;
  readonly #frame = new Uint8Array(RUN_FRAME_MAX);
  #len = 0;
  readonly #mac = new Uint8Array(8);
  #macLen = 0;
  #pkttype = -1;

  /** Starts a run with `packet`, read as `got` into `buf`, if it is routine for `t`. */
  hold(t: RawTransport, packet: ReceivedPacket, buf: Uint8Array, got: RecvMsgResult): boolean {
    // One routine advert only: several instances' Masters interleave their adverts, so
    // two in a row are rarely the same, and holding each would only cost.
    if (!t.linkLayer || t.routine.length !== 1 || got.n > RUN_FRAME_MAX) return false;
    if (!isRoutine(t.routine, packet)) return false;
    const from = got.from;
    if (!("pkttype" in from) || from.addr.length > this.#mac.length) return false;
    this.#frame.set(buf.subarray(0, got.n));
    this.#len = got.n;
    this.#mac.set(from.addr);
    this.#macLen = from.addr.length;
    this.#pkttype = from.pkttype;
    this.#t = t;
    // Made by this module's parsers (see `received`) and handed to no one until `take`,
    // so the run's arrival and count are filled in place, keeping its hidden class.
    this.#packet = packet as Parsed;
    this.#repeats = 1;
    return true;
  }

  /** True when `got` repeats the held advert (then counted, its arrival kept). */
  extend(t: RawTransport, buf: Uint8Array, got: RecvMsgResult): boolean {
    const p = this.#packet;
    if (p === null || this.#t !== t || got.n !== this.#len) return false;
    if (got.flags & MSG_TRUNC) return false;
    const from = got.from;
    if (!("pkttype" in from) || from.pkttype !== this.#pkttype) return false;
    if (!this.#sameMac(from.addr) || !this.#sameFrame(t.family, buf)) return false;
    // Its header's checksum is its own: checked as the parse would have (the frame is
    // the same length as the held one, whose total length was checked).
    if (t.family === "ipv4" && ipv4HeaderLength(buf) < 0) return false;
    this.#repeats++;
    if (t.stamps !== null) p.atMs = t.stamps.arrival(got.stampMs ?? NaN);
    return true;
  }

  /** The held advert, standing for its run; null when none is held. */
  take(): ReceivedPacket | null {
    const p = this.#packet;
    if (p === null) return null;
    const n = this.#repeats;
    this.#packet = null;
    this.#t = null;
    if (n > 1) p.repeats = n;
    return p;
  }

  #sameMac(addr: Uint8Array): boolean {
    if (addr.length !== this.#macLen) return false;
    for (let i = 0; i < addr.length; i++) if (addr[i] !== this.#mac[i]) return false;
    return true;
  }

  /** Byte for byte, but an IPv4 header's identification and checksum (every packet's own). */
  #sameFrame(family: "ipv4" | "ipv6", buf: Uint8Array): boolean {
    const f = this.#frame;
    for (let i = 0; i < this.#len; i++) {
      if (buf[i] === f[i]) continue;
      if (family === "ipv4" && (i === 4 || i === 5 || i === 10 || i === 11)) continue;
      return false;
    }
    return true;
  }
}

/** No routine adverts: what a transport without any holds. */
const NO_ROUTINE: readonly RoutineAdvert[] = Object.freeze([]);

/** Frames longer than this (no advert is) are never held in a run. */
const RUN_FRAME_MAX = 1500;

/** Whether `packet` is one of `routine`: its sender and its first VRRP bytes. */
function isRoutine(routine: readonly RoutineAdvert[], packet: ReceivedPacket): boolean {
  for (let i = 0; i < routine.length; i++) {
    const r = routine[i];
    if (r.src !== packet.src || packet.bytes.length < r.head.length) continue;
    let same = true;
    for (let k = 0; k < r.head.length && same; k++) same = r.head[k] === packet.bytes[k];
    if (same) return true;
  }
  return false;
}

function closeQuietly(fd: number): void {
  try {
    closeFd(fd);
  } catch {
    // close(2) releases the descriptor even when it reports an error.
  }
}

function trySetInt(fd: number, level: number, name: number, value: number): boolean {
  try {
    setsockoptInt(fd, level, name, value);
    return true;
  } catch {
    return false;
  }
}

function setReceiveBuffer(fd: number): void {
  // SO_RCVBUFFORCE passes rmem_max with CAP_NET_ADMIN; without it, take what SO_RCVBUF gives.
  if (!trySetInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF_BYTES)) {
    trySetInt(fd, SOL_SOCKET, SO_RCVBUF, RCVBUF_BYTES);
  }
}

/** Keeps IP protocol 112 only: the protocol byte (IPv4) or next header (IPv6). */
function vrrpFilter(family: "ipv4" | "ipv6"): BpfInsn[] {
  return [
    { code: BPF_LDB_ABS, jt: 0, jf: 0, k: family === "ipv4" ? 9 : 6 },
    { code: BPF_JEQ_K, jt: 0, jf: 1, k: IPPROTO_VRRP },
    { code: BPF_RET_K, jt: 0, jf: 0, k: 0xffff },
    { code: BPF_RET_K, jt: 0, jf: 0, k: 0 },
  ];
}

const QUEUE_NOTHING: BpfInsn[] = [{ code: BPF_RET_K, jt: 0, jf: 0, k: 0 }];

/** What a doorbell queues of a packet: its presence is the message. */
const BELL_SNAP_BYTES = 1;

const ld = (code: number, k: number): BpfInsn => ({ code, jt: 0, jf: 0, k });
const ret = (k: number): BpfInsn => ({ code: BPF_RET_K, jt: 0, jf: 0, k });
/** Falls through when A == k, jumps `skip` instructions ahead otherwise. */
const onlyIf = (k: number, skip: number): BpfInsn => ({ code: BPF_JEQ_K, jt: 0, jf: skip, k });

/**
 * The doorbell's filter: queues every VRRP packet from another host except the
 * routine adverts listed (same source, same first six header bytes). Frames we sent
 * and frames for other hosts ring nothing; neither would be delivered. An entry is
 * seven instructions (IPv4) or thirteen (IPv6), so 255 of them fit the kernel's
 * 4,096; jumps stay within an entry.
 *
 * @example
 * ```ts
 * attachFilter(bellFd, routineBell("ipv4", [{ src: "192.0.2.1", head }]));
 * ```
 */
export function routineBell(family: "ipv4" | "ipv6", routine: readonly RoutineAdvert[]): BpfInsn[] {
  const v4 = family === "ipv4";
  const prog: BpfInsn[] = [
    ld(BPF_LDW_ABS, BPF_K_PKTTYPE),
    { code: BPF_JEQ_K, jt: 3, jf: 0, k: PACKET_OUTGOING },
    { code: BPF_JEQ_K, jt: 2, jf: 0, k: PACKET_OTHERHOST },
    ld(BPF_LDB_ABS, v4 ? 9 : 6),
    { code: BPF_JEQ_K, jt: 1, jf: 0, k: IPPROTO_VRRP },
    ret(0),
  ];
  // X: where the VRRP header starts (IPv4's header has options; IPv6's is 40 bytes).
  if (v4) prog.push(ld(BPF_LDX_MSH, 0));
  for (const r of routine) prog.push(...routineEntry(v4, r));
  prog.push(ret(BELL_SNAP_BYTES));
  return prog;
}

/** One routine advert: refused (ret 0) when every word matches, else on to the next. */
function routineEntry(v4: boolean, r: RoutineAdvert): BpfInsn[] {
  const src = parseIp(r.src)?.bytes ?? new Uint8Array(v4 ? 4 : 16);
  const hv = new DataView(r.head.buffer, r.head.byteOffset, 6);
  const words: [number, number, number][] = [];
  for (let i = 0; i < src.length; i += 4) {
    const w = ((src[i] << 24) | (src[i + 1] << 16) | (src[i + 2] << 8) | src[i + 3]) >>> 0;
    words.push([BPF_LDW_ABS, (v4 ? 12 : 8) + i, w]);
  }
  const at = v4 ? 0 : IPV6_HEADER_LENGTH;
  words.push([v4 ? BPF_LDW_IND : BPF_LDW_ABS, at, hv.getUint32(0)]);
  words.push([v4 ? BPF_LDH_IND : BPF_LDH_ABS, at + 4, hv.getUint16(4)]);
  const out: BpfInsn[] = [];
  words.forEach(([code, k, value], i) => {
    out.push(ld(code, k), onlyIf(value, 2 * (words.length - i) - 1));
  });
  out.push(ret(0));
  return out;
}

/** Compares routine lists: equal keys, equal filters. */
function routineKey(routine: readonly RoutineAdvert[]): string {
  return routine.map((r) => `${r.src}/${Array.from(r.head.subarray(0, 6)).join(".")}`).join(" ");
}

/**
 * A doorbell: a packet socket on the interface for the family's ethertype, with a
 * filter that queues nothing until {@link routineBell}'s replaces it; -1 when one cannot
 * be had (every packet then wakes the loop).
 */
function tryOpenBell(family: "ipv4" | "ipv6", ifindex: number): number {
  try {
    return openPacketSocket(family, ifindex, QUEUE_NOTHING);
  } catch {
    return -1;
  }
}

/**
 * A "cooked" packet socket on `ifindex` for the family's ethertype, filtered by
 * `filter` from the start: protocol 0 receives nothing until the bind, and the filter
 * is in place by then.
 */
function openPacketSocket(family: "ipv4" | "ipv6", ifindex: number, filter: BpfInsn[]): number {
  const fd = openSocket(AF_PACKET, SOCK_DGRAM, 0);
  try {
    attachFilter(fd, filter);
    bindSocket(fd, sockaddrLl({ protocol: family === "ipv4" ? ETH_P_IP : ETH_P_IPV6, ifindex }));
    return fd;
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
}

/**
 * The packet socket a transport receives on, or `rawFd` when one cannot be had (the
 * transport then works as before, without senders' MACs). Once it is open, the raw
 * socket is told to queue nothing: the same packets would only pile up there.
 */
function openLinkReceiver(rawFd: number, family: "ipv4" | "ipv6", ifindex: number): number {
  let fd = -1;
  try {
    fd = openPacketSocket(family, ifindex, vrrpFilter(family));
    setReceiveBuffer(fd);
    attachFilter(rawFd, QUEUE_NOTHING);
    return fd;
  } catch {
    if (fd >= 0) closeQuietly(fd);
    return rawFd;
  }
}

function openV4(ifname: string, ifindex: number, group: string): number {
  const fd = openSocket(AF_INET, SOCK_RAW, IPPROTO_VRRP);
  try {
    bindToDevice(fd, ifname);
    setsockoptInt(fd, SOL_IP, IP_HDRINCL, 1);
    // Linux defaults to delivering every group any socket on the host joined; VRRP on
    // this interface wants only its own group (best effort: very old kernels lack it).
    trySetInt(fd, SOL_IP, IP_MULTICAST_ALL, 0);
    joinGroupV4(fd, group, ifindex);
    setsockoptBuf(fd, SOL_IP, IP_MULTICAST_IF, ipMreqn("0.0.0.0", ifindex));
    // With IP_HDRINCL our header carries TTL and TOS; the options keep the socket right
    // should anything ever send on it without one.
    setsockoptInt(fd, SOL_IP, IP_MULTICAST_TTL, VRRP_HOP_LIMIT);
    setsockoptInt(fd, SOL_IP, IP_TTL, VRRP_HOP_LIMIT);
    setsockoptInt(fd, SOL_IP, IP_TOS, VRRP_TOS);
    // The daemon ignores its own adverts anyway; not looping them saves the work.
    setsockoptInt(fd, SOL_IP, IP_MULTICAST_LOOP, 0);
    setReceiveBuffer(fd);
    return fd;
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
}

function openV6(ifname: string, ifindex: number, group: string): number {
  const fd = openSocket(AF_INET6, SOCK_RAW, IPPROTO_VRRP);
  try {
    bindToDevice(fd, ifname);
    trySetInt(fd, SOL_IPV6, IPV6_MULTICAST_ALL, 0);
    joinGroupV6(fd, group, ifindex);
    setsockoptInt(fd, SOL_IPV6, IPV6_MULTICAST_IF, ifindex);
    setsockoptInt(fd, SOL_IPV6, IPV6_MULTICAST_HOPS, VRRP_HOP_LIMIT);
    setsockoptInt(fd, SOL_IPV6, IPV6_UNICAST_HOPS, VRRP_HOP_LIMIT);
    setsockoptInt(fd, SOL_IPV6, IPV6_MULTICAST_LOOP, 0);
    // Raw IPv6 sockets strip the header: the hop limit and destination come as cmsgs.
    setsockoptInt(fd, SOL_IPV6, IPV6_RECVHOPLIMIT, 1);
    setsockoptInt(fd, SOL_IPV6, IPV6_RECVPKTINFO, 1);
    setsockoptInt(fd, SOL_IPV6, IPV6_TCLASS, VRRP_TOS);
    setReceiveBuffer(fd);
    return fd;
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
}

/**
 * The received packet from what an IPv4 raw socket returned (the datagram with its IP
 * header), or null when its IP facts cannot be read.
 *
 * @example
 * ```ts
 * const got = recvMsg(fd, buf);
 * const p = got && parseV4(buf, got); // { bytes, src, dst, ttl } or null
 * ```
 */
export function parseV4(buf: Uint8Array, got: RecvMsgResult): ReceivedPacket | null {
  if (got.flags & MSG_TRUNC) return null;
  const frame = frameOf(buf, got.n);
  const hl = ipv4HeaderLength(frame);
  if (hl < 0 || frame[9] !== IPPROTO_VRRP) return null;
  const bytes = copyOut(frame, hl, (frame[2] << 8) | frame[3]);
  return received(bytes, ipv4Text(frame, 12), ipv4Text(frame, 16), frame[8], undefined);
}

/**
 * The received packet from what an IPv6 raw socket returned (the payload, the sender,
 * and IPV6_HOPLIMIT / IPV6_PKTINFO control messages), or null when a fact is missing.
 *
 * @example
 * ```ts
 * const got = recvMsg(fd, buf, control);
 * const p = got && parseV6(buf, got);
 * ```
 */
export function parseV6(buf: Uint8Array, got: RecvMsgResult): ReceivedPacket | null {
  if (got.flags & MSG_TRUNC) return null;
  if (got.from.family !== AF_INET6 || !("address" in got.from)) return null;
  let ttl: number | null = null;
  let dst: string | null = null;
  for (const c of got.cmsgs) {
    if (c.level !== SOL_IPV6) continue;
    if (c.type === IPV6_HOPLIMIT) ttl = cmsgInt(c.data);
    if (c.type === IPV6_PKTINFO) {
      const info = decodeIn6Pktinfo(c.data);
      if (info) dst = formatIp(info.addr);
    }
  }
  if (ttl === null || dst === null) return null;
  return received(buf.slice(0, got.n), formatIp(got.from.address), dst, ttl, undefined);
}

/**
 * What {@link parseLinkFrame} returns for a frame the IP layer would not have handed
 * to a raw socket of ours: another host's (promiscuous mode), our own, a fragment,
 * another multicast group.
 */
export const NOT_FOR_US = "not-for-us";

/**
 * The received packet from what a packet socket returned (the IP packet, and the
 * sender in a `sockaddr_ll`), with the sender's MAC; {@link NOT_FOR_US} for what the
 * IP layer would not have delivered; null when its IP facts cannot be read.
 *
 * @example
 * ```ts
 * const got = recvMsg(fd, buf);
 * const p = got && parseLinkFrame("ipv4", "224.0.0.18", buf, got); // { bytes, src, dst, ttl, srcMac }
 * ```
 */
export function parseLinkFrame(
  family: "ipv4" | "ipv6",
  group: string,
  buf: Uint8Array,
  got: RecvMsgResult,
  stamps?: StampClock,
): ReceivedPacket | typeof NOT_FOR_US | null {
  if (got.flags & MSG_TRUNC) return null;
  const from = got.from;
  if (from.family !== AF_PACKET || !("pkttype" in from)) return null;
  if (from.pkttype === PACKET_OUTGOING || from.pkttype === PACKET_OTHERHOST) return NOT_FOR_US;
  const frame = frameOf(buf, got.n);
  const p = family === "ipv4"
    ? parseLinkV4(group, frame, from.addr)
    : parseLinkV6(group, frame, from.addr);
  if (p === null || p === NOT_FOR_US || stamps === undefined) return p;
  p.atMs = stamps.arrival(got.stampMs ?? NaN);
  return p;
}

/** A packet as parsed, before its arrival time is known. */
type Parsed = { -readonly [K in keyof ReceivedPacket]: ReceivedPacket[K] };

/**
 * {@link parseLinkFrame} for IPv4, read straight from the header's bytes: one object
 * per packet, and the addresses' texts shared (see `ipv4Text`).
 */
function parseLinkV4(
  group: string,
  frame: Uint8Array,
  mac: Uint8Array,
): Parsed | typeof NOT_FOR_US | null {
  // The checksum is verified: the IP layer would have dropped a bad one.
  const hl = ipv4HeaderLength(frame);
  if (hl < 0 || frame[9] !== IPPROTO_VRRP) return null;
  // MF set or a fragment offset: the IP layer would have reassembled it first.
  if ((((frame[6] << 8) | frame[7]) & 0x3fff) !== 0) return NOT_FOR_US;
  const dst = ipv4Text(frame, 16);
  if (frame[16] >= 224 && frame[16] <= 239 && dst !== group) return NOT_FOR_US;
  const bytes = copyOut(frame, hl, (frame[2] << 8) | frame[3]);
  const srcMac = mac.length === 6 ? macToString(mac) : undefined;
  return received(bytes, ipv4Text(frame, 12), dst, frame[8], srcMac);
}

function parseLinkV6(
  group: string,
  frame: Uint8Array,
  mac: Uint8Array,
): Parsed | typeof NOT_FOR_US | null {
  const ip = decodeIpv6Header(frame);
  if (!ip.ok || ip.nextHeader !== IPPROTO_VRRP) return null;
  if (isMulticastText(ip.dst) && ip.dst !== group) return NOT_FOR_US;
  const srcMac = mac.length === 6 ? macToString(mac) : undefined;
  return received(ip.payload.slice(), ip.src, ip.dst, ip.hopLimit, srcMac);
}

/**
 * Every received packet is made here, with all of its fields (unknown ones undefined)
 * and never one added later: V8's optimised code checks an object's hidden class, and
 * a class that only a field added after the literal gives is held by nothing but
 * short-lived packets. A full collection between two drains then dropped it, and
 * every function a packet passes through was deoptimised at once (seen each time the
 * memory reducer ran, ~30 s into a Backup's life), to be optimised again from cold.
 */
function received(
  bytes: Uint8Array,
  src: string,
  dst: string,
  ttl: number,
  srcMac: string | undefined,
): Parsed {
  return { bytes, src, dst, ttl, srcMac, atMs: undefined, repeats: undefined };
}

/** Clock pairs read for one offset at most, and a gap (ms) that ends the tries early. */
const OFFSET_TRIES = 3;
const OFFSET_TIGHT_MS = 0.25;

/**
 * Turns one socket's receive stamps (`CLOCK_REALTIME`) into the reactor's clock, drain
 * by drain: the clocks are read at a drain's first stamped packet only. An arrival is
 * kept between when the socket was last found empty (nothing read since can be older)
 * and now, so a step of the wall clock cannot make an advert look older than it is,
 * which could fire a Master_Down deadline, nor newer than its read.
 *
 * @example
 * ```ts
 * const stamps = new StampClock(reactor);
 * stamps.begin();
 * stamps.arrival(got.stampMs); // e.g. reactor.nowMs() - 7.3
 * stamps.emptied(reactor.lastPolledMs); // the read found nothing more
 * ```
 */
export class StampClock {
  readonly #clock: { nowMs(): number };
  /** When a read last found the socket empty, on the reactor's clock. */
  #floorMs = -Infinity;
  #nowMs = NaN;
  #offsetMs = NaN;

  /** Stamps over `clock` (the reactor's); see {@link StampClock.begin}. */
  constructor(clock: { nowMs(): number }) {
    this.#clock = clock;
  }

  /** A drain starts: its first stamped packet reads the clocks again. */
  begin(): void {
    this.#nowMs = NaN;
    this.#offsetMs = NaN;
  }

  /** The arrival of a packet stamped `stampMs` (wall ms; NaN: unstamped, now). */
  arrival(stampMs: number): number {
    if (Number.isNaN(this.#offsetMs)) this.#measure();
    const at = stampMs + this.#offsetMs;
    if (!(at <= this.#nowMs)) return this.#nowMs;
    return at < this.#floorMs ? Math.min(this.#floorMs, this.#nowMs) : at;
  }

  /**
   * The clocks' offset, erring late: the wall clock is read just before the daemon's,
   * so a preemption between the two readings makes arrivals look later than they were
   * (a Master_Down deadline a little late), never earlier (one fired early). Of a few
   * tries the tightest pair is kept, the wall clock read again after to tell.
   */
  #measure(): void {
    let gap = Infinity;
    for (let i = 0; i < OFFSET_TRIES && gap > OFFSET_TIGHT_MS; i++) {
      const before = clockRealtimeMs();
      const now = this.#clock.nowMs();
      const after = clockRealtimeMs();
      if (after - before >= gap) continue;
      gap = after - before;
      this.#nowMs = now;
      this.#offsetMs = now - before;
    }
  }

  /**
   * The drain's read found the socket empty, at or after `polledMs` (a reading taken
   * before the drain, which costs no clock read) and the first stamp's reading.
   */
  emptied(polledMs: number): void {
    const at = Number.isNaN(this.#nowMs) ? polledMs : this.#nowMs;
    if (at > this.#floorMs) this.#floorMs = at;
  }
}

/**
 * Received messages are copied out of the receive buffer (the next read overwrites
 * it) into views of one larger buffer, a slab, rather than each into an array of its
 * own: an ArrayBuffer per advert cost more than the rest of its decoding. A slab is
 * freed once no message in it is referenced any more.
 */
const SLAB_BYTES = 16 * 1024;
let slab = new Uint8Array(SLAB_BYTES);
let slabUsed = 0;

function copyOut(from: Uint8Array, start: number, end: number): Uint8Array {
  const n = end - start;
  if (n > SLAB_BYTES / 4) return from.slice(start, end);
  if (slabUsed + n > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + n);
  // Byte by byte: an advert is tens of bytes, and a view of the source to `set` from was
  // one more object per packet.
  for (let i = 0; i < n; i++) out[i] = from[start + i];
  slabUsed += n;
  return out;
}

/** Frames up to this long have their view of the receive buffer kept (see `frameOf`). */
const FRAME_VIEW_MAX = 2048;
const frameViews = new WeakMap<Uint8Array, Uint8Array[]>();

/**
 * `buf.subarray(0, n)`, made once per buffer and length: each packet read is parsed
 * through a view of its frame, and a new view per packet was ~100 bytes of garbage, an
 * eighth of what a Backup following 50 Masters allocated. At most
 * {@link FRAME_VIEW_MAX} views per buffer, whatever lengths arrive.
 */
function frameOf(buf: Uint8Array, n: number): Uint8Array {
  if (n > FRAME_VIEW_MAX) return buf.subarray(0, n);
  let views = frameViews.get(buf);
  if (views === undefined) {
    views = [];
    frameViews.set(buf, views);
  }
  return views[n] ??= buf.subarray(0, n);
}

function isMulticastText(ip: string): boolean {
  if (ip.includes(":")) return ip.startsWith("ff");
  const first = Number(ip.slice(0, ip.indexOf(".")));
  return first >= 224 && first <= 239;
}
