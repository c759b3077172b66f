/**
 * The one door to the C library: `Deno.dlopen("libc.so.6")`, every symbol hacore calls,
 * every constant and struct layout those calls take, and a small typed wrapper surface
 * that turns a failing call into a {@link SyscallError} carrying errno.
 *
 * Rules this module keeps (see DESIGN.md, "Facts that bite"):
 * - errno is per thread. Every call whose error matters is declared synchronous, so it
 *   runs on the JS thread and `__errno_location()` read right after it sees its errno.
 *   Only `ppoll` is `nonblocking: true`, and nothing reads errno after it
 *   (`ppoll_sync`, the same ppoll on the JS thread, is the reactor's blocking wait).
 * - Sockets are opened `SOCK_NONBLOCK | SOCK_CLOEXEC`: reads return null on EAGAIN and
 *   readiness comes from the reactor (see reactor.ts), never from a parked `recv`.
 * - The library is opened lazily on first use, so pure modules (the netlink codec, the
 *   simulator) may import the constants below without `--allow-ffi`.
 *
 * Layouts are those of LP64 little-endian Linux (x86_64 and aarch64, which share the
 * generic socket constants); {@link libc} refuses to load anywhere else.
 *
 * @module
 */

import { ipBytes, type IpInput } from "../net/ip_bytes.ts";
import { AF_INET, AF_INET6, AF_NETLINK, AF_PACKET, AF_UNIX, AF_UNSPEC } from "./constants.ts";
import { EAGAIN, EINTR, ENODEV, errnoNumber, SyscallError } from "./errno.ts";

export { SyscallError } from "./errno.ts";
export { ipBytes, type IpInput } from "../net/ip_bytes.ts";

// ---------------------------------------------------------------------------------------
// Constants: address families, socket types, protocols
// ---------------------------------------------------------------------------------------

// Address families and netlink protocols live in a pure module so codecs can use them
// without this one; they are re-exported here for the callers that import them from libc.
export {
  AF_INET,
  AF_INET6,
  AF_NETLINK,
  AF_PACKET,
  AF_UNIX,
  AF_UNSPEC,
  NETLINK_GENERIC,
  NETLINK_ROUTE,
  NETLINK_USERSOCK,
} from "./constants.ts";

/** `SOCK_STREAM`. */
export const SOCK_STREAM = 1;
/** `SOCK_DGRAM` (also: AF_PACKET "cooked" sockets, link header supplied by the kernel). */
export const SOCK_DGRAM = 2;
/** `SOCK_RAW`. */
export const SOCK_RAW = 3;
/** `SOCK_NONBLOCK`, or-ed into the type: the socket never blocks the JS thread. */
export const SOCK_NONBLOCK = 0o4000;
/** `SOCK_CLOEXEC`, or-ed into the type: notify scripts must not inherit our sockets. */
export const SOCK_CLOEXEC = 0o2000000;

/** `IPPROTO_IP` (also the `SOL_IP` option level). */
export const IPPROTO_IP = 0;
/** `IPPROTO_ICMP`. */
export const IPPROTO_ICMP = 1;
/** `IPPROTO_IPV6` (also the `SOL_IPV6` option level). */
export const IPPROTO_IPV6 = 41;
// IANA protocol numbers the pure codec also needs; defined once, there, so the core
// never imports the FFI module. IPPROTO_ICMPV6 is also the `SOL_ICMPV6` level.
export { IPPROTO_ICMPV6, IPPROTO_VRRP } from "../net/ip.ts";
/** `IPPROTO_RAW`. */
export const IPPROTO_RAW = 255;

/** `ETH_P_ALL`: every protocol (AF_PACKET). */
export const ETH_P_ALL = 0x0003;
/** `ETH_P_IP`: IPv4 ethertype. */
export const ETH_P_IP = 0x0800;
/** `ETH_P_ARP`: ARP ethertype. */
export const ETH_P_ARP = 0x0806;
/** `ETH_P_IPV6`: IPv6 ethertype. */
export const ETH_P_IPV6 = 0x86dd;
/** `ARPHRD_ETHER`: Ethernet hardware type (sockaddr_ll.sll_hatype, ARP htype). */
export const ARPHRD_ETHER = 1;
/** `PACKET_HOST`: frame addressed to us (sockaddr_ll.sll_pkttype). */
export const PACKET_HOST = 0;
/** `PACKET_BROADCAST`: link-layer broadcast frame. */
export const PACKET_BROADCAST = 1;
/** `PACKET_MULTICAST`: link-layer multicast frame. */
export const PACKET_MULTICAST = 2;
/** `PACKET_OTHERHOST`: frame for another host, seen in promiscuous mode. */
export const PACKET_OTHERHOST = 3;
/** `PACKET_OUTGOING`: our own outgoing frame looped back to a packet socket. */
export const PACKET_OUTGOING = 4;

// ---------------------------------------------------------------------------------------
// Constants: socket option levels and names
// ---------------------------------------------------------------------------------------

/** `SOL_SOCKET`: generic socket options. */
export const SOL_SOCKET = 1;
/** `SOL_IP` (= IPPROTO_IP): IPv4 options. */
export const SOL_IP = 0;
/** `SOL_IPV6` (= IPPROTO_IPV6): IPv6 options. */
export const SOL_IPV6 = 41;
/** `SOL_ICMPV6` (= IPPROTO_ICMPV6): ICMPv6 filter. */
export const SOL_ICMPV6 = 58;
/** `SOL_PACKET`: AF_PACKET options. */
export const SOL_PACKET = 263;
/** `SOL_NETLINK`: netlink socket options. */
export const SOL_NETLINK = 270;

/** `SO_REUSEADDR`. */
export const SO_REUSEADDR = 2;
/** `SO_ERROR`. */
export const SO_ERROR = 4;
/** `SO_SNDBUF`. */
export const SO_SNDBUF = 7;
/** `SO_RCVBUF`: receive buffer size (the kernel doubles the value it is given). */
export const SO_RCVBUF = 8;
/** `SO_PRIORITY`. */
export const SO_PRIORITY = 12;
/** `SO_BINDTODEVICE`: only traffic through the named interface (value: the name). */
export const SO_BINDTODEVICE = 25;
/** `SO_RCVBUFFORCE`: like SO_RCVBUF but past rmem_max (needs CAP_NET_ADMIN). */
export const SO_RCVBUFFORCE = 33;
/** `SO_ATTACH_FILTER`: a classic BPF program deciding what the socket queues. */
export const SO_ATTACH_FILTER = 26;
/**
 * `SO_TIMESTAMPNS` (x86-64): each datagram comes with the kernel's receive time, a
 * `CLOCK_REALTIME` timespec in an `SCM_TIMESTAMPNS` control message of the same number.
 */
export const SO_TIMESTAMPNS = 35;
/** `SO_PEERCRED`: the pid, uid and gid of the process at the other end of a unix socket. */
export const SO_PEERCRED = 17;

/** `IP_TOS`. */
export const IP_TOS = 1;
/** `IP_TTL`: unicast TTL of outgoing packets. */
export const IP_TTL = 2;
/** `IP_HDRINCL`: the caller writes the IPv4 header. */
export const IP_HDRINCL = 3;
/** `IP_PKTINFO`: receive `struct in_pktinfo` (arrival interface, destination). */
export const IP_PKTINFO = 8;
/** `IP_RECVTTL`: receive the TTL as ancillary data. */
export const IP_RECVTTL = 12;
/** `IP_FREEBIND`. */
export const IP_FREEBIND = 15;
/** `IP_MULTICAST_IF`: outgoing interface for multicast (value: struct ip_mreqn). */
export const IP_MULTICAST_IF = 32;
/** `IP_MULTICAST_TTL`: TTL of outgoing multicast (VRRP requires 255). */
export const IP_MULTICAST_TTL = 33;
/** `IP_MULTICAST_LOOP`: deliver our own multicast back to local sockets. */
export const IP_MULTICAST_LOOP = 34;
/** `IP_ADD_MEMBERSHIP`: join a group (value: struct ip_mreqn). */
export const IP_ADD_MEMBERSHIP = 35;
/** `IP_DROP_MEMBERSHIP`: leave a group (value: struct ip_mreqn). */
export const IP_DROP_MEMBERSHIP = 36;
/** `IP_MULTICAST_ALL`: 0 = deliver only groups this socket joined (Linux defaults to 1). */
export const IP_MULTICAST_ALL = 49;

/** `IPV6_CHECKSUM`: kernel computes/verifies a checksum at this offset (raw sockets). */
export const IPV6_CHECKSUM = 7;
/** `IPV6_UNICAST_HOPS`: hop limit of outgoing unicast. */
export const IPV6_UNICAST_HOPS = 16;
/** `IPV6_MULTICAST_IF`: outgoing interface index for multicast. */
export const IPV6_MULTICAST_IF = 17;
/** `IPV6_MULTICAST_HOPS`: hop limit of outgoing multicast (VRRP requires 255). */
export const IPV6_MULTICAST_HOPS = 18;
/** `IPV6_MULTICAST_LOOP`. */
export const IPV6_MULTICAST_LOOP = 19;
/** `IPV6_ADD_MEMBERSHIP` (= IPV6_JOIN_GROUP): value struct ipv6_mreq. */
export const IPV6_ADD_MEMBERSHIP = 20;
/** `IPV6_DROP_MEMBERSHIP` (= IPV6_LEAVE_GROUP). */
export const IPV6_DROP_MEMBERSHIP = 21;
/** `IPV6_V6ONLY`. */
export const IPV6_V6ONLY = 26;
/** `IPV6_MULTICAST_ALL`: 0 = only groups this socket joined. */
export const IPV6_MULTICAST_ALL = 29;
/** `IPV6_RECVPKTINFO`: receive `struct in6_pktinfo` as IPV6_PKTINFO cmsgs. */
export const IPV6_RECVPKTINFO = 49;
/** `IPV6_PKTINFO`: cmsg type of `struct in6_pktinfo`. */
export const IPV6_PKTINFO = 50;
/** `IPV6_RECVHOPLIMIT`: receive the hop limit as IPV6_HOPLIMIT cmsgs (raw v6 strips it). */
export const IPV6_RECVHOPLIMIT = 51;
/** `IPV6_HOPLIMIT`: cmsg type carrying the received hop limit (an int). */
export const IPV6_HOPLIMIT = 52;
/** `IPV6_TCLASS`: traffic class of outgoing packets (VRRP adverts use 0xc0, CS6). */
export const IPV6_TCLASS = 67;
/** `IPV6_FREEBIND` (Linux ≥ 4.15): accept a source address not (yet) on the interface. */
export const IPV6_FREEBIND = 78;
/** `ICMP6_FILTER`: which ICMPv6 types a raw ICMPv6 socket receives. */
export const ICMP6_FILTER = 1;

/** `NETLINK_ADD_MEMBERSHIP`: subscribe to a multicast group by number (any number). */
export const NETLINK_ADD_MEMBERSHIP = 1;
/** `NETLINK_DROP_MEMBERSHIP`. */
export const NETLINK_DROP_MEMBERSHIP = 2;
/** `NETLINK_BROADCAST_ERROR`. */
export const NETLINK_BROADCAST_ERROR = 4;
/** `NETLINK_NO_ENOBUFS`: hide overruns (hacore wants to see them and resync instead). */
export const NETLINK_NO_ENOBUFS = 5;
/** `NETLINK_CAP_ACK`: error acks omit the echoed request payload. */
export const NETLINK_CAP_ACK = 10;
/** `NETLINK_EXT_ACK`: error acks carry the kernel's text (`NLMSGERR_ATTR_MSG`). */
export const NETLINK_EXT_ACK = 11;
/** `NETLINK_GET_STRICT_CHK`: strict checking of dump requests. */
export const NETLINK_GET_STRICT_CHK = 12;

// ---------------------------------------------------------------------------------------
// Constants: flags for send/recv, fcntl, eventfd, poll, open, setns
// ---------------------------------------------------------------------------------------

/** `MSG_PEEK`. */
export const MSG_PEEK = 0x02;
/** `MSG_CTRUNC`: control data was cut short (msg_flags on return). */
export const MSG_CTRUNC = 0x08;
/** `MSG_TRUNC`: datagram was longer than the buffer (msg_flags on return). */
export const MSG_TRUNC = 0x20;
/** `MSG_DONTWAIT`. */
export const MSG_DONTWAIT = 0x40;
/** `MSG_NOSIGNAL`: a write to a closed stream fails with EPIPE instead of raising SIGPIPE. */
export const MSG_NOSIGNAL = 0x4000;

/** `F_GETFL`. */
export const F_GETFL = 3;
/** `F_SETFL`. */
export const F_SETFL = 4;
/** `O_RDONLY`. */
export const O_RDONLY = 0;
/** `O_WRONLY`. */
export const O_WRONLY = 1;
/** `O_APPEND`. */
export const O_APPEND = 0o2000;
/** `O_NONBLOCK`. */
export const O_NONBLOCK = 0o4000;
/** `O_CLOEXEC`. */
export const O_CLOEXEC = 0o2000000;

/** `EFD_NONBLOCK`. */
export const EFD_NONBLOCK = 0o4000;
/** `EFD_CLOEXEC`. */
export const EFD_CLOEXEC = 0o2000000;

/** `POLLIN`: readable. */
export const POLLIN = 0x001;
/** `POLLPRI`. */
export const POLLPRI = 0x002;
/** `POLLOUT`: writable. */
export const POLLOUT = 0x004;
/** `POLLERR`: error pending (reported even when not asked for). */
export const POLLERR = 0x008;
/** `POLLHUP`: hang-up. */
export const POLLHUP = 0x010;
/** `POLLNVAL`: the fd is not open. */
export const POLLNVAL = 0x020;

/** `CLONE_NEWNET`: setns(2) nstype for a network namespace. */
export const CLONE_NEWNET = 0x40000000;

/** `IF_NAMESIZE`: interface names hold at most 15 bytes plus the NUL. */
export const IF_NAMESIZE = 16;

/** `CLOCK_MONOTONIC`: the clock systemd's `MONOTONIC_USEC=` is read from. */
export const CLOCK_MONOTONIC = 1;
/** `CLOCK_BOOTTIME`: the clock a process's start time in `/proc/PID/stat` counts on. */
export const CLOCK_BOOTTIME = 7;
/** `CLOCK_REALTIME`: the clock socket receive timestamps are taken on. */
export const CLOCK_REALTIME = 0;

// ---------------------------------------------------------------------------------------
// Struct sizes (LP64 Linux)
// ---------------------------------------------------------------------------------------

/** `sizeof(struct sockaddr_in)`. */
export const SIZEOF_SOCKADDR_IN = 16;
/** `sizeof(struct sockaddr_in6)`. */
export const SIZEOF_SOCKADDR_IN6 = 28;
/** `sizeof(struct sockaddr_ll)`. */
export const SIZEOF_SOCKADDR_LL = 20;
/** `sizeof(struct sockaddr_nl)`. */
export const SIZEOF_SOCKADDR_NL = 12;
/** `sizeof(struct sockaddr_un)`: sa_family_t plus a 108-byte `sun_path`. */
export const SIZEOF_SOCKADDR_UN = 110;
/** `sizeof(struct timespec)`: two 64-bit fields. */
export const SIZEOF_TIMESPEC = 16;
/** `sizeof(struct sockaddr_storage)`: room for any address a recv may report. */
export const SIZEOF_SOCKADDR_STORAGE = 128;
/** `sizeof(struct ip_mreqn)`. */
export const SIZEOF_IP_MREQN = 12;
/** `sizeof(struct ipv6_mreq)`. */
export const SIZEOF_IPV6_MREQ = 20;
/** `sizeof(struct in_pktinfo)`. */
export const SIZEOF_IN_PKTINFO = 12;
/** `sizeof(struct in6_pktinfo)`. */
export const SIZEOF_IN6_PKTINFO = 20;
/** `sizeof(struct iovec)`. */
export const SIZEOF_IOVEC = 16;
/** `sizeof(struct msghdr)`. */
export const SIZEOF_MSGHDR = 56;
/** `sizeof(struct cmsghdr)`: size_t len, int level, int type. */
export const SIZEOF_CMSGHDR = 16;
/** `sizeof(struct pollfd)`. */
export const SIZEOF_POLLFD = 8;
/** `sizeof(struct ucred)`: pid, uid, gid. */
export const SIZEOF_UCRED = 12;

// msghdr field offsets; the two 4-byte holes after msg_namelen and msg_flags are padding.
const MSGHDR_NAME = 0;
const MSGHDR_NAMELEN = 8;
const MSGHDR_IOV = 16;
const MSGHDR_IOVLEN = 24;
const MSGHDR_CONTROL = 32;
const MSGHDR_CONTROLLEN = 40;
const MSGHDR_FLAGS = 48;

/**
 * `CMSG_ALIGN`: control messages are padded to `sizeof(size_t)`.
 *
 * @example
 * ```ts
 * cmsgAlign(4); // 8
 * ```
 */
export function cmsgAlign(n: number): number {
  return (n + 7) & ~7;
}

/**
 * `CMSG_SPACE`: bytes one control message with `dataLen` bytes of data occupies.
 *
 * @example
 * ```ts
 * cmsgSpace(4); // 24: room for IPV6_HOPLIMIT
 * ```
 */
export function cmsgSpace(dataLen: number): number {
  return SIZEOF_CMSGHDR + cmsgAlign(dataLen);
}

// ---------------------------------------------------------------------------------------
// The library
// ---------------------------------------------------------------------------------------

/** Every libc symbol hacore calls, with its FFI signature. */
export const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  sendto: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
    result: "isize",
  },
  recvfrom: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "buffer"],
    result: "isize",
  },
  sendmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  // The only nonblocking symbol (the reactor's async wait): it runs on a worker thread,
  // so its errno is unreadable. A timespec: nanosecond timeouts, where poll's are whole ms.
  ppoll: { parameters: ["buffer", "u64", "buffer", "pointer"], result: "i32", nonblocking: true },
  // The same ppoll, blocking the JS thread: the reactor's cheap wait (no thread handoff),
  // used only when nothing else needs the event loop; its errno (EINTR) is readable.
  ppoll_sync: { name: "ppoll", parameters: ["buffer", "u64", "buffer", "pointer"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // Pure: no errno. Typed arrays pass their view's first byte.
  memcmp: { parameters: ["buffer", "buffer", "usize"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
  if_indextoname: { parameters: ["u32", "buffer"], result: "pointer" },
  getpid: { parameters: [], result: "i32" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  setns: { parameters: ["i32", "i32"], result: "i32" },
  mkfifo: { parameters: ["buffer", "u32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  accept4: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  // read and send of the checks' streams, whose counts fit 32 bits (buffers of at most
  // 64 KiB, the count in the low half of the return register): a number comes back,
  // where an isize result is a BigInt, and the length goes in as a number. Two fewer
  // BigInts per call, three calls per HTTP check.
  read_stream: { name: "read", parameters: ["i32", "buffer", "u32"], result: "i32" },
  send_stream: {
    name: "sendto",
    parameters: ["i32", "buffer", "u32", "i32", "pointer", "u32"],
    result: "i32",
  },
  // io_uring's three calls have no libc wrapper: syscall(2), every argument a full
  // register (the variadic syscall moves registers as they are: a 32-bit argument's
  // upper half would be garbage). Results fit 32 bits.
  uring_setup: { name: "syscall", parameters: ["i64", "i64", "buffer"], result: "i32" },
  uring_enter: {
    name: "syscall",
    parameters: ["i64", "i64", "i64", "i64", "i64", "i64", "i64"],
    result: "i32",
  },
  uring_register: {
    name: "syscall",
    parameters: ["i64", "i64", "i64", "buffer", "i64"],
    result: "i32",
  },
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  // Variadic in C; its arguments are integers, which both 64-bit ABIs pass in the same
  // registers as fixed ones (so prctl's va_arg reads them where they were put).
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  madvise: { parameters: ["usize", "usize", "i32"], result: "i32" },
  malloc_trim: { parameters: ["usize"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * The typed symbol table of libc, as returned by `Deno.dlopen`.
 *
 * @example
 * ```ts
 * const sym: LibcSymbols = libc();
 * ```
 */
export type LibcSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let opened: LibcSymbols | null = null;

/**
 * The libc symbols, loading the library on first use. Prefer the wrappers below; the
 * raw table is exported for the rare call that has no wrapper yet.
 *
 * @example
 * ```ts
 * const pid = libc().getpid();
 * ```
 */
export function libc(): LibcSymbols {
  if (opened) return opened;
  if (Deno.build.os !== "linux" || !["x86_64", "aarch64"].includes(Deno.build.arch)) {
    throw new Error(
      `libc.ts: struct layouts are those of 64-bit Linux; this is ${Deno.build.os}/${Deno.build.arch}`,
    );
  }
  opened = lazySymbols();
  // Made before any call can fail, so that making it cannot touch an errno to be read.
  errnoCell ??= errnoOfThisThread();
  return opened;
}

/**
 * Binds `names` now rather than at their first call: for a path that must be fast the
 * first time it runs (a Backup's takeover sends its first advert and GARPs with
 * symbols it never called before).
 *
 * @example
 * ```ts
 * bindNow("sendto", "getsockname");
 * ```
 */
export function bindNow(...names: (keyof typeof SYMBOLS)[]): void {
  const table = libc() as unknown as Record<string, unknown>;
  for (const name of names) {
    const fn = table[name];
    if (typeof fn === "function" && lazyThunks.has(fn)) table[name] = bindSymbol(name);
  }
}

/** The placeholders {@link lazySymbols} puts in the table, each until its first call. */
const lazyThunks = new WeakSet<object>();

function bindSymbol<K extends keyof typeof SYMBOLS>(name: K): unknown {
  return Deno.dlopen("libc.so.6", { [name]: SYMBOLS[name] } as Pick<typeof SYMBOLS, K>)
    .symbols[name];
}

/**
 * The symbol table with each symbol bound at its first call. Binding costs ~0.25 ms a
 * symbol (Deno builds a call trampoline for each), and a start calls fewer than half
 * of them before it joins its LAN. `__errno_location` is bound at once: binding it
 * after a failed call could itself change errno before it is read.
 */
function lazySymbols(): LibcSymbols {
  const table: Record<string, unknown> = {};
  for (const name of Object.keys(SYMBOLS) as (keyof typeof SYMBOLS)[]) {
    const thunk = (...args: unknown[]) => {
      const fn = bindSymbol(name) as (...a: unknown[]) => unknown;
      table[name] = fn;
      return fn(...args);
    };
    lazyThunks.add(thunk);
    table[name] = thunk;
  }
  table.__errno_location = bindSymbol("__errno_location");
  return table as LibcSymbols;
}

/**
 * errno of the last failing synchronous call on this (the JS) thread. Must be called
 * immediately after the call, before anything else that could touch libc.
 *
 * @example
 * ```ts
 * if (libc().close(-1) < 0) lastErrno(); // 9 (EBADF)
 * ```
 */
export function lastErrno(): number {
  return (errnoCell ??= errnoOfThisThread())[0];
}

/**
 * The JS thread's errno as an array over its own memory: synchronous FFI calls all run
 * on that thread, whose errno lives at one address for its whole life. Reading it is
 * then a plain array read, where a pointer view's read is a call into the runtime (a
 * lookup per call was an FFI call and two objects, for every EAGAIN of every drain).
 */
let errnoCell: Int32Array | null = null;

function errnoOfThisThread(): Int32Array {
  const p = libc().__errno_location();
  if (p === null) return new Int32Array(1);
  return new Int32Array(Deno.UnsafePointerView.getArrayBuffer(p, 4));
}

// ---------------------------------------------------------------------------------------
// Struct encoders and decoders
// ---------------------------------------------------------------------------------------

/**
 * `struct sockaddr_in` { sa_family_t family; in_port_t port (BE); in_addr addr; zero[8] }.
 *
 * @example
 * ```ts
 * sendTo(fd, packet, sockaddrIn("224.0.0.18"));
 * ```
 */
export function sockaddrIn(addr: IpInput, port = 0): Uint8Array {
  const b = new Uint8Array(SIZEOF_SOCKADDR_IN);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, AF_INET, true);
  dv.setUint16(2, port, false);
  b.set(ipBytes(addr, 4), 4);
  return b;
}

/**
 * `struct sockaddr_in6` { family; port (BE); flowinfo; in6_addr addr; u32 scope_id }.
 * A link-local destination needs `scopeId` (the interface index).
 *
 * @example
 * ```ts
 * sendTo(fd, packet, sockaddrIn6("ff02::12", 0, ifindex));
 * ```
 */
export function sockaddrIn6(addr: IpInput, port = 0, scopeId = 0, flowinfo = 0): Uint8Array {
  const b = new Uint8Array(SIZEOF_SOCKADDR_IN6);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, AF_INET6, true);
  dv.setUint16(2, port, false);
  dv.setUint32(4, flowinfo, false);
  b.set(ipBytes(addr, 16), 8);
  dv.setUint32(24, scopeId, true);
  return b;
}

/**
 * Fields of `struct sockaddr_ll`.
 *
 * @example
 * ```ts
 * const f: SockaddrLlFields = { protocol: ETH_P_ARP, ifindex: 3 };
 * ```
 */
export interface SockaddrLlFields {
  /** Ethertype in host order (ETH_P_ARP); stored big-endian. */
  protocol: number;
  /** Interface index. */
  ifindex: number;
  /** ARPHRD_* (only meaningful when receiving). */
  hatype?: number;
  /** PACKET_* (only meaningful when receiving). */
  pkttype?: number;
  /** Link-layer address (at most 8 bytes); its length becomes `sll_halen`. */
  addr?: Uint8Array;
}

/**
 * `struct sockaddr_ll` { family; u16 protocol (BE); int ifindex; u16 hatype; u8 pkttype;
 * u8 halen; u8 addr[8] }, for binding and sending on AF_PACKET sockets.
 *
 * @example
 * ```ts
 * const to = sockaddrLl({ protocol: ETH_P_ARP, ifindex, addr: new Uint8Array(6).fill(0xff) });
 * ```
 */
export function sockaddrLl(f: SockaddrLlFields): Uint8Array {
  const b = new Uint8Array(SIZEOF_SOCKADDR_LL);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, AF_PACKET, true);
  dv.setUint16(2, f.protocol, false);
  dv.setInt32(4, f.ifindex, true);
  dv.setUint16(8, f.hatype ?? 0, true);
  b[10] = f.pkttype ?? 0;
  const addr = f.addr ?? new Uint8Array(0);
  if (addr.length > 8) throw new RangeError(`sll_addr holds 8 bytes, got ${addr.length}`);
  b[11] = addr.length;
  b.set(addr, 12);
  return b;
}

/**
 * `struct sockaddr_nl` { family; u16 pad; u32 pid (port id, 0 = kernel); u32 groups }.
 *
 * @example
 * ```ts
 * bindSocket(fd, sockaddrNl()); // let the kernel pick our port id
 * ```
 */
export function sockaddrNl(pid = 0, groups = 0): Uint8Array {
  const b = new Uint8Array(SIZEOF_SOCKADDR_NL);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, AF_NETLINK, true);
  dv.setUint32(4, pid, true);
  dv.setUint32(8, groups, true);
  return b;
}

/**
 * `struct sockaddr_un` { sa_family_t family; char sun_path[108] }, cut to the length the
 * kernel must be given. A path is NUL-terminated and the NUL is counted; a name starting
 * with `@` is in the abstract namespace: `sun_path[0]` is NUL, the rest is the name, and
 * nothing follows it, because every byte up to the length is part of an abstract name
 * (this is how systemd reads `NOTIFY_SOCKET=@name`).
 *
 * @example
 * ```ts
 * sendTo(fd, new TextEncoder().encode("READY=1"), sockaddrUn("/run/systemd/notify"));
 * sockaddrUn("@hacore").length; // 2 + 1 + 6 = 9
 * ```
 * @throws {RangeError} when the name does not fit in `sun_path`, or is empty.
 */
export function sockaddrUn(path: string): Uint8Array {
  const abstract = path.startsWith("@");
  const name = new TextEncoder().encode(abstract ? path.slice(1) : path);
  // Abstract: leading NUL + name. Path: name + trailing NUL. Either way one extra byte.
  const pathLen = name.length + 1;
  if (name.length === 0 || pathLen > SIZEOF_SOCKADDR_UN - 2) {
    throw new RangeError(
      `AF_UNIX address must be 1..${SIZEOF_SOCKADDR_UN - 3} bytes, got ${name.length}: ${path}`,
    );
  }
  const b = new Uint8Array(2 + pathLen);
  new DataView(b.buffer).setUint16(0, AF_UNIX, true);
  b.set(name, abstract ? 3 : 2);
  return b;
}

/**
 * `struct ip_mreqn` { in_addr multiaddr; in_addr address; int ifindex }: the interface
 * is chosen by index, so an interface without an IPv4 address can still join.
 *
 * @example
 * ```ts
 * setsockoptBuf(fd, SOL_IP, IP_ADD_MEMBERSHIP, ipMreqn("224.0.0.18", ifindex));
 * ```
 */
export function ipMreqn(group: IpInput, ifindex: number, address: IpInput = "0.0.0.0"): Uint8Array {
  const b = new Uint8Array(SIZEOF_IP_MREQN);
  b.set(ipBytes(group, 4), 0);
  b.set(ipBytes(address, 4), 4);
  new DataView(b.buffer).setInt32(8, ifindex, true);
  return b;
}

/**
 * `struct ipv6_mreq` { in6_addr multiaddr; unsigned ifindex }.
 *
 * @example
 * ```ts
 * setsockoptBuf(fd, SOL_IPV6, IPV6_ADD_MEMBERSHIP, ipv6Mreq("ff02::12", ifindex));
 * ```
 */
export function ipv6Mreq(group: IpInput, ifindex: number): Uint8Array {
  const b = new Uint8Array(SIZEOF_IPV6_MREQ);
  b.set(ipBytes(group, 16), 0);
  new DataView(b.buffer).setUint32(16, ifindex, true);
  return b;
}

/**
 * A socket address decoded from what recvfrom/recvmsg/getsockname reported.
 *
 * @example
 * ```ts
 * const from = recvFrom(fd, buf)?.from;
 * if (from?.family === AF_INET && "address" in from) formatIp(from.address);
 * ```
 */
export type SockAddr =
  | { family: typeof AF_INET; address: Uint8Array; port: number }
  | { family: typeof AF_INET6; address: Uint8Array; port: number; scopeId: number }
  | {
    family: typeof AF_PACKET;
    protocol: number;
    ifindex: number;
    hatype: number;
    pkttype: number;
    addr: Uint8Array;
  }
  | { family: typeof AF_NETLINK; pid: number; groups: number }
  | { family: number; raw: Uint8Array };

/**
 * Decodes a sockaddr of `len` bytes; unknown or short ones come back raw.
 *
 * @example
 * ```ts
 * const a = decodeSockaddr(sockaddrIn("192.0.2.1"));
 * a.family === AF_INET; // true
 * ```
 */
export function decodeSockaddr(buf: Uint8Array, len = buf.length): SockAddr {
  const n = Math.min(len, buf.length);
  const dv = new DataView(buf.buffer, buf.byteOffset, n);
  if (n < 2) return { family: AF_UNSPEC, raw: buf.slice(0, n) };
  const family = dv.getUint16(0, true);
  if (family === AF_INET && n >= 8) {
    return { family, address: buf.slice(4, 8), port: dv.getUint16(2, false) };
  }
  if (family === AF_INET6 && n >= 24) {
    return {
      family,
      address: buf.slice(8, 24),
      port: dv.getUint16(2, false),
      scopeId: n >= 28 ? dv.getUint32(24, true) : 0,
    };
  }
  if (family === AF_PACKET && n >= 12) {
    const halen = Math.min(buf[11], 8, n - 12);
    return {
      family,
      protocol: dv.getUint16(2, false),
      ifindex: dv.getInt32(4, true),
      hatype: dv.getUint16(8, true),
      pkttype: buf[10],
      addr: buf.slice(12, 12 + halen),
    };
  }
  if (family === AF_NETLINK && n >= 12) {
    return { family, pid: dv.getUint32(4, true), groups: dv.getUint32(8, true) };
  }
  return { family, raw: buf.slice(0, n) };
}

/**
 * One control message from recvmsg: level, type and its data bytes.
 *
 * @example
 * ```ts
 * const hop: Cmsg = { level: SOL_IPV6, type: IPV6_HOPLIMIT, data: Uint8Array.of(255, 0, 0, 0) };
 * ```
 */
export interface Cmsg {
  /** cmsg_level: SOL_IP, SOL_IPV6, …. */
  level: number;
  /** cmsg_type: IPV6_HOPLIMIT, IPV6_PKTINFO, IP_PKTINFO, …. */
  type: number;
  /** The payload, without padding. */
  data: Uint8Array;
}

/**
 * Walks the control buffer recvmsg filled (`len` = the returned msg_controllen).
 * Never throws: a malformed header ends the walk.
 *
 * @example
 * ```ts
 * const hop = parseCmsgs(control, len).find((c) => c.type === IPV6_HOPLIMIT);
 * ```
 */
export function parseCmsgs(control: Uint8Array, len: number): Cmsg[] {
  const out: Cmsg[] = [];
  const end = Math.min(len, control.length);
  const dv = new DataView(control.buffer, control.byteOffset, control.length);
  let off = 0;
  while (off + SIZEOF_CMSGHDR <= end) {
    const cmsgLen = Number(dv.getBigUint64(off, true));
    if (cmsgLen < SIZEOF_CMSGHDR || off + cmsgLen > end) break;
    out.push({
      level: dv.getInt32(off + 8, true),
      type: dv.getInt32(off + 12, true),
      data: control.slice(off + SIZEOF_CMSGHDR, off + cmsgLen),
    });
    off += cmsgAlign(cmsgLen);
  }
  return out;
}

/**
 * Builds a control buffer from messages, for sendmsg (e.g. IPV6_PKTINFO to pick the
 * source address).
 *
 * @example
 * ```ts
 * const ctl = buildCmsgs([{ level: SOL_IPV6, type: IPV6_PKTINFO, data: in6Pktinfo("fe80::1", 2) }]);
 * ```
 */
export function buildCmsgs(msgs: readonly Cmsg[]): Uint8Array {
  const total = msgs.reduce((s, m) => s + cmsgSpace(m.data.length), 0);
  const b = new Uint8Array(total);
  const dv = new DataView(b.buffer);
  let off = 0;
  for (const m of msgs) {
    dv.setBigUint64(off, BigInt(SIZEOF_CMSGHDR + m.data.length), true);
    dv.setInt32(off + 8, m.level, true);
    dv.setInt32(off + 12, m.type, true);
    b.set(m.data, off + SIZEOF_CMSGHDR);
    off += cmsgSpace(m.data.length);
  }
  return b;
}

/**
 * Reads a native int from cmsg data (IPV6_HOPLIMIT, IP_TTL), or null when too short.
 *
 * @example
 * ```ts
 * cmsgInt(new Uint8Array([255, 0, 0, 0])); // 255
 * ```
 */
export function cmsgInt(data: Uint8Array): number | null {
  if (data.length < 4) return null;
  return new DataView(data.buffer, data.byteOffset, 4).getInt32(0, true);
}

/**
 * Decodes `struct in_pktinfo` { int ifindex; in_addr spec_dst; in_addr addr }.
 *
 * @example
 * ```ts
 * const info = decodeInPktinfo(cmsg.data); // { ifindex, specDst, addr }
 * ```
 */
export function decodeInPktinfo(
  data: Uint8Array,
): { ifindex: number; specDst: Uint8Array; addr: Uint8Array } | null {
  if (data.length < SIZEOF_IN_PKTINFO) return null;
  const dv = new DataView(data.buffer, data.byteOffset, data.length);
  return { ifindex: dv.getInt32(0, true), specDst: data.slice(4, 8), addr: data.slice(8, 12) };
}

/**
 * Encodes `struct in6_pktinfo` { in6_addr addr; unsigned ifindex }.
 *
 * @example
 * ```ts
 * in6Pktinfo("fe80::1", 3).length; // 20
 * ```
 */
export function in6Pktinfo(addr: IpInput, ifindex: number): Uint8Array {
  const b = new Uint8Array(SIZEOF_IN6_PKTINFO);
  b.set(ipBytes(addr, 16), 0);
  new DataView(b.buffer).setUint32(16, ifindex, true);
  return b;
}

/**
 * Decodes `struct in6_pktinfo` (the destination address and arrival interface).
 *
 * @example
 * ```ts
 * decodeIn6Pktinfo(in6Pktinfo("ff02::12", 3))?.ifindex; // 3
 * ```
 */
export function decodeIn6Pktinfo(
  data: Uint8Array,
): { addr: Uint8Array; ifindex: number } | null {
  if (data.length < SIZEOF_IN6_PKTINFO) return null;
  const dv = new DataView(data.buffer, data.byteOffset, data.length);
  return { addr: data.slice(0, 16), ifindex: dv.getUint32(16, true) };
}

/**
 * Encodes an array of `struct pollfd` { int fd; short events; short revents }.
 *
 * @example
 * ```ts
 * const set = encodePollFds([fd], POLLIN);
 * ```
 */
export function encodePollFds(fds: readonly number[], events: number): Uint8Array {
  const b = new Uint8Array(fds.length * SIZEOF_POLLFD);
  const dv = new DataView(b.buffer);
  fds.forEach((fd, i) => {
    dv.setInt32(i * SIZEOF_POLLFD, fd, true);
    dv.setInt16(i * SIZEOF_POLLFD + 4, events, true);
  });
  return b;
}

/**
 * The `revents` of entry `i` of a pollfd array after poll returned.
 *
 * @example
 * ```ts
 * if (pollRevents(set, 0) & POLLIN) drain();
 * ```
 */
export function pollRevents(set: Uint8Array, i: number): number {
  return new DataView(set.buffer, set.byteOffset, set.length).getUint16(
    i * SIZEOF_POLLFD + 6,
    true,
  );
}

/**
 * Encodes an array of `struct pollfd` where each fd asks for its own events (a stream
 * socket waits for POLLIN while it reads a request and for POLLOUT while a reply is
 * queued).
 *
 * @example
 * ```ts
 * const set = encodePollEntries([{ fd: listenFd, events: POLLIN }, { fd: conn, events: POLLOUT }]);
 * ```
 */
export function encodePollEntries(
  entries: readonly { readonly fd: number; readonly events: number }[],
): Uint8Array {
  const b = new Uint8Array(entries.length * SIZEOF_POLLFD);
  const dv = new DataView(b.buffer);
  entries.forEach((e, i) => {
    dv.setInt32(i * SIZEOF_POLLFD, e.fd, true);
    dv.setInt16(i * SIZEOF_POLLFD + 4, e.events, true);
  });
  return b;
}

/** `BPF_LD | BPF_B | BPF_ABS`: load the byte at offset k of the packet. */
export const BPF_LDB_ABS = 0x30;
/** `BPF_JMP | BPF_JEQ | BPF_K`: jump by jt if A == k, else by jf. */
export const BPF_JEQ_K = 0x15;
/** `BPF_RET | BPF_K`: accept k bytes of the packet (0 drops it). */
export const BPF_RET_K = 0x06;
/** `BPF_LD | BPF_H | BPF_ABS`: load the big-endian 16 bits at offset k. */
export const BPF_LDH_ABS = 0x28;
/** `BPF_LD | BPF_W | BPF_ABS`: load the big-endian 32 bits at offset k. */
export const BPF_LDW_ABS = 0x20;
/** `BPF_MISC | BPF_TAX`: copy A into X. */
export const BPF_TAX = 0x07;
/** `BPF_JMP | BPF_JEQ | BPF_X`: jump by jt if A == X, else by jf. */
export const BPF_JEQ_X = 0x1d;
/** `BPF_LDX | BPF_B | BPF_MSH`: X = 4 × (the byte at k & 0xf), an IPv4 header's length. */
export const BPF_LDX_MSH = 0xb1;
/** `BPF_LD | BPF_W | BPF_IND`: load the big-endian 32 bits at offset X + k. */
export const BPF_LDW_IND = 0x40;
/** `BPF_LD | BPF_H | BPF_IND`: load the big-endian 16 bits at offset X + k. */
export const BPF_LDH_IND = 0x48;
/**
 * The `k` of a `BPF_LD | BPF_W | BPF_ABS` that loads the packet's type (`SKF_AD_OFF +
 * SKF_AD_PKTTYPE`): PACKET_HOST, PACKET_OUTGOING, ….
 */
export const BPF_K_PKTTYPE = (-0x1000 + 4) >>> 0;

/**
 * One classic BPF instruction (`struct sock_filter`).
 *
 * @example
 * ```ts
 * const accept: BpfInsn = { code: BPF_RET_K, jt: 0, jf: 0, k: 0xffff };
 * ```
 */
export interface BpfInsn {
  readonly code: number;
  readonly jt: number;
  readonly jf: number;
  readonly k: number;
}

/**
 * `struct sock_filter[]`: u16 code, u8 jt, u8 jf, u32 k per instruction.
 *
 * @example
 * ```ts
 * encodeBpf([{ code: BPF_RET_K, jt: 0, jf: 0, k: 0 }]).length; // 8
 * ```
 */
export function encodeBpf(prog: readonly BpfInsn[]): Uint8Array {
  const b = new Uint8Array(prog.length * 8);
  const dv = new DataView(b.buffer);
  prog.forEach((i, n) => {
    dv.setUint16(n * 8, i.code, true);
    b[n * 8 + 2] = i.jt;
    b[n * 8 + 3] = i.jf;
    dv.setUint32(n * 8 + 4, i.k, true);
  });
  return b;
}

// ---------------------------------------------------------------------------------------
// Wrappers
// ---------------------------------------------------------------------------------------

const ECONNABORTED = errnoNumber("ECONNABORTED") ?? 103;

// What each socket we opened is, so an error names it: "bind(AF_INET raw/112)".
const fdLabels = new Map<number, string>();

const FAMILY_NAMES: Record<number, string> = {
  [AF_UNSPEC]: "AF_UNSPEC",
  [AF_UNIX]: "AF_UNIX",
  [AF_INET]: "AF_INET",
  [AF_INET6]: "AF_INET6",
  [AF_NETLINK]: "AF_NETLINK",
  [AF_PACKET]: "AF_PACKET",
};
const TYPE_NAMES: Record<number, string> = {
  [SOCK_STREAM]: "stream",
  [SOCK_DGRAM]: "dgram",
  [SOCK_RAW]: "raw",
};

/**
 * A readable name for a socket kind, as used in error messages.
 *
 * @example
 * ```ts
 * describeSocket(AF_INET, SOCK_RAW, IPPROTO_VRRP); // "AF_INET raw/112"
 * ```
 */
export function describeSocket(domain: number, type: number, protocol: number): string {
  const t = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  const key = (domain * 256 + t) * 65536 + protocol;
  let name = socketNames.get(key);
  if (name === undefined) {
    name = `${FAMILY_NAMES[domain] ?? `family ${domain}`} ${
      TYPE_NAMES[t] ?? `type ${t}`
    }/${protocol}`;
    socketNames.set(key, name);
  }
  return name;
}

/**
 * Names by socket kind, made once each: the checks open 1,000 sockets a second, all
 * of two or three kinds, and each named its socket anew.
 */
const socketNames = new Map<number, string>();

function label(fd: number): string {
  return fdLabels.get(fd) ?? `fd ${fd}`;
}

function fail(call: string, context: string): never {
  throw new SyscallError(call, lastErrno(), context);
}

function cstring(s: string): Uint8Array {
  const enc = new TextEncoder().encode(s);
  const b = new Uint8Array(enc.length + 1);
  b.set(enc);
  return b;
}

/**
 * Opens a socket, always non-blocking and close-on-exec.
 *
 * @example
 * ```ts
 * const fd = openSocket(AF_INET, SOCK_RAW, IPPROTO_VRRP);
 * ```
 * @throws {SyscallError} e.g. `socket(AF_INET raw/112): EPERM (Operation not permitted)`.
 */
export function openSocket(domain: number, type: number, protocol: number): number {
  const what = describeSocket(domain, type, protocol);
  const fd = libc().socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) fail("socket", what);
  fdLabels.set(fd, what);
  return fd;
}

/**
 * Closes a file descriptor. EINTR is not retried: on Linux the fd is gone either way.
 *
 * @example
 * ```ts
 * closeFd(fd);
 * ```
 */
export function closeFd(fd: number): void {
  const what = label(fd);
  fdLabels.delete(fd);
  const r = libc().close(fd);
  if (r < 0) {
    const errno = lastErrno();
    if (errno !== EINTR) throw new SyscallError("close", errno, what);
  }
}

/**
 * Binds a socket to an address built by {@link sockaddrIn}, {@link sockaddrNl}, ….
 *
 * @example
 * ```ts
 * bindSocket(fd, sockaddrNl());
 * ```
 */
export function bindSocket(fd: number, sockaddr: Uint8Array): void {
  if (libc().bind(fd, sockaddr, sockaddr.length) < 0) fail("bind", label(fd));
}

/**
 * Sets an int-valued socket option.
 *
 * @example
 * ```ts
 * setsockoptInt(fd, SOL_IP, IP_MULTICAST_TTL, 255);
 * ```
 */
export function setsockoptInt(fd: number, level: number, name: number, value: number): void {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, value, true);
  if (libc().setsockopt(fd, level, name, b, 4) < 0) {
    fail("setsockopt", `${label(fd)}, ${optionName(level, name)}`);
  }
}

/**
 * Sets a socket option whose value is a struct (ip_mreqn, ipv6_mreq, a name).
 *
 * @example
 * ```ts
 * setsockoptBuf(fd, SOL_IP, IP_ADD_MEMBERSHIP, ipMreqn("224.0.0.18", ifindex));
 * ```
 */
export function setsockoptBuf(fd: number, level: number, name: number, value: Uint8Array): void {
  if (libc().setsockopt(fd, level, name, value, value.length) < 0) {
    fail("setsockopt", `${label(fd)}, ${optionName(level, name)}`);
  }
}

/**
 * Attaches a classic BPF program to a socket (`SO_ATTACH_FILTER`): the kernel runs it
 * on every packet before queueing, so what it refuses costs no wake-up and no copy.
 *
 * @example
 * ```ts
 * attachFilter(fd, [{ code: BPF_RET_K, jt: 0, jf: 0, k: 0 }]); // queue nothing
 * ```
 */
export function attachFilter(fd: number, prog: readonly BpfInsn[]): void {
  const filter = encodeBpf(prog);
  // struct sock_fprog { u16 len; (pad); struct sock_filter *filter; }
  const fprog = new Uint8Array(16);
  const dv = new DataView(fprog.buffer);
  dv.setUint16(0, prog.length, true);
  dv.setBigUint64(8, ptrValue(filter), true);
  // `filter` stays reachable in this frame for the call; the kernel copies it.
  if (libc().setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, fprog, fprog.length) < 0) {
    fail("setsockopt", `${label(fd)}, SO_ATTACH_FILTER`);
  }
}

/**
 * Reads an int-valued socket option.
 *
 * @example
 * ```ts
 * getsockoptInt(fd, SOL_SOCKET, SO_RCVBUF); // what the kernel actually granted
 * ```
 */
export function getsockoptInt(fd: number, level: number, name: number): number {
  const b = new Uint8Array(4);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, 4, true);
  if (libc().getsockopt(fd, level, name, b, len) < 0) {
    fail("getsockopt", `${label(fd)}, ${optionName(level, name)}`);
  }
  return new DataView(b.buffer).getInt32(0, true);
}

/**
 * Restricts a socket to one interface (`SO_BINDTODEVICE`), so a raw VRRP socket sees
 * only adverts that arrived there.
 *
 * @example
 * ```ts
 * bindToDevice(fd, "eth0");
 * ```
 */
export function bindToDevice(fd: number, ifname: string): void {
  const name = cstring(ifname);
  if (name.length > IF_NAMESIZE) {
    throw new SyscallError("setsockopt", ENODEV, `${label(fd)}, SO_BINDTODEVICE ${ifname}`);
  }
  if (libc().setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, name.length) < 0) {
    fail("setsockopt", `${label(fd)}, SO_BINDTODEVICE ${ifname}`);
  }
}

/**
 * Joins an IPv4 multicast group on an interface (by index).
 *
 * @example
 * ```ts
 * joinGroupV4(fd, "224.0.0.18", ifNameToIndex("eth0"));
 * ```
 */
export function joinGroupV4(fd: number, group: IpInput, ifindex: number): void {
  setsockoptBuf(fd, SOL_IP, IP_ADD_MEMBERSHIP, ipMreqn(group, ifindex));
}

/**
 * Joins an IPv6 multicast group on an interface (by index).
 *
 * @example
 * ```ts
 * joinGroupV6(fd, "ff02::12", ifNameToIndex("eth0"));
 * ```
 */
export function joinGroupV6(fd: number, group: IpInput, ifindex: number): void {
  setsockoptBuf(fd, SOL_IPV6, IPV6_ADD_MEMBERSHIP, ipv6Mreq(group, ifindex));
}

/**
 * Sends a datagram. Returns the bytes sent, or null when the socket buffer is full
 * (EAGAIN): the caller may drop the packet, as a router would.
 *
 * @example
 * ```ts
 * sendTo(fd, advert, sockaddrIn("224.0.0.18"));
 * ```
 */
export function sendTo(fd: number, buf: Uint8Array, sockaddr: Uint8Array | null): number | null {
  for (;;) {
    const r = Number(
      libc().sendto(fd, buf, BigInt(buf.length), 0, sockaddr, sockaddr?.length ?? 0),
    );
    if (r >= 0) return r;
    const errno = lastErrno();
    if (errno === EINTR) continue;
    if (errno === EAGAIN) return null;
    throw new SyscallError("sendto", errno, label(fd));
  }
}

/**
 * Receives one datagram into `buf`. Returns its length (possibly more than `buf` holds
 * when truncated, as MSG_TRUNC reports) and the sender, or null when nothing is queued.
 *
 * @example
 * ```ts
 * const got = recvFrom(fd, new Uint8Array(65536));
 * if (got) handle(buf.subarray(0, got.n), got.from);
 * ```
 */
export function recvFrom(fd: number, buf: Uint8Array): { n: number; from: SockAddr } | null {
  const name = new Uint8Array(SIZEOF_SOCKADDR_STORAGE);
  const nameLen = new Uint8Array(4);
  const nlv = new DataView(nameLen.buffer);
  for (;;) {
    nlv.setUint32(0, name.length, true);
    const r = Number(libc().recvfrom(fd, buf, BigInt(buf.length), 0, name, nameLen));
    if (r >= 0) return { n: r, from: decodeSockaddr(name, nlv.getUint32(0, true)) };
    const errno = lastErrno();
    if (errno === EINTR) continue;
    if (errno === EAGAIN) return null;
    throw new SyscallError("recvfrom", errno, label(fd));
  }
}

/**
 * What {@link recvMsg} returns for one datagram.
 *
 * @example
 * ```ts
 * const r: RecvMsgResult | null = recvMsg(fd, buf, control);
 * if (r && r.flags & MSG_TRUNC) drop();
 * ```
 */
export interface RecvMsgResult {
  /** Bytes received (the datagram's length). */
  n: number;
  /** The sender. */
  from: SockAddr;
  /** msg_flags: MSG_TRUNC, MSG_CTRUNC. */
  flags: number;
  /** Ancillary data: IPV6_HOPLIMIT, IPV6_PKTINFO, IP_PKTINFO, …. */
  cmsgs: Cmsg[];
  /**
   * The kernel's receive time, `CLOCK_REALTIME` in milliseconds, from a reader made
   * with `stamps` on a socket with {@link SO_TIMESTAMPNS}; NaN otherwise.
   */
  stampMs?: number;
}

function ptrValue(b: Uint8Array): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b)));
}

/**
 * Receives one datagram with ancillary data (hop limit, packet info). Returns null when
 * nothing is queued.
 *
 * @example
 * ```ts
 * const got = recvMsg(fd, buf, new Uint8Array(256));
 * const hop = got?.cmsgs.find((c) => c.level === SOL_IPV6 && c.type === IPV6_HOPLIMIT);
 * ```
 */
export function recvMsg(
  fd: number,
  buf: Uint8Array,
  control: Uint8Array = new Uint8Array(0),
): RecvMsgResult | null {
  const name = new Uint8Array(SIZEOF_SOCKADDR_STORAGE);
  const iov = new Uint8Array(SIZEOF_IOVEC);
  const msg = new Uint8Array(SIZEOF_MSGHDR);
  const iv = new DataView(iov.buffer);
  const mv = new DataView(msg.buffer);
  // Every buffer referenced by pointer stays reachable in this frame during the call.
  iv.setBigUint64(0, buf.length ? ptrValue(buf) : 0n, true);
  iv.setBigUint64(8, BigInt(buf.length), true);
  for (;;) {
    mv.setBigUint64(MSGHDR_NAME, ptrValue(name), true);
    mv.setUint32(MSGHDR_NAMELEN, name.length, true);
    mv.setBigUint64(MSGHDR_IOV, ptrValue(iov), true);
    mv.setBigUint64(MSGHDR_IOVLEN, 1n, true);
    mv.setBigUint64(MSGHDR_CONTROL, control.length ? ptrValue(control) : 0n, true);
    mv.setBigUint64(MSGHDR_CONTROLLEN, BigInt(control.length), true);
    mv.setInt32(MSGHDR_FLAGS, 0, true);
    const r = Number(libc().recvmsg(fd, msg, 0));
    if (r >= 0) {
      const controlLen = Number(mv.getBigUint64(MSGHDR_CONTROLLEN, true));
      return {
        n: r,
        from: decodeSockaddr(name, mv.getUint32(MSGHDR_NAMELEN, true)),
        flags: mv.getInt32(MSGHDR_FLAGS, true),
        cmsgs: parseCmsgs(control, controlLen),
      };
    }
    const errno = lastErrno();
    if (errno === EINTR) continue;
    if (errno === EAGAIN) return null;
    throw new SyscallError("recvmsg", errno, label(fd));
  }
}

/**
 * Sends one datagram with optional ancillary data (built by {@link buildCmsgs}).
 * Returns the bytes sent, or null on EAGAIN.
 *
 * @example
 * ```ts
 * sendMsg(fd, advert, sockaddrIn6("ff02::12", 0, ifindex), buildCmsgs([...]));
 * ```
 */
export function sendMsg(
  fd: number,
  buf: Uint8Array,
  sockaddr: Uint8Array | null,
  control: Uint8Array = new Uint8Array(0),
): number | null {
  const iov = new Uint8Array(SIZEOF_IOVEC);
  const msg = new Uint8Array(SIZEOF_MSGHDR);
  const iv = new DataView(iov.buffer);
  const mv = new DataView(msg.buffer);
  iv.setBigUint64(0, buf.length ? ptrValue(buf) : 0n, true);
  iv.setBigUint64(8, BigInt(buf.length), true);
  mv.setBigUint64(MSGHDR_NAME, sockaddr && sockaddr.length ? ptrValue(sockaddr) : 0n, true);
  mv.setUint32(MSGHDR_NAMELEN, sockaddr?.length ?? 0, true);
  mv.setBigUint64(MSGHDR_IOV, ptrValue(iov), true);
  mv.setBigUint64(MSGHDR_IOVLEN, 1n, true);
  mv.setBigUint64(MSGHDR_CONTROL, control.length ? ptrValue(control) : 0n, true);
  mv.setBigUint64(MSGHDR_CONTROLLEN, BigInt(control.length), true);
  for (;;) {
    const r = Number(libc().sendmsg(fd, msg, 0));
    if (r >= 0) return r;
    const errno = lastErrno();
    if (errno === EINTR) continue;
    if (errno === EAGAIN) return null;
    throw new SyscallError("sendmsg", errno, label(fd));
  }
}

/**
 * The address a socket is bound to (netlink: our port id, which the kernel picked).
 *
 * @example
 * ```ts
 * const me = getSockName(fd);
 * ```
 */
export function getSockName(fd: number): SockAddr {
  const name = new Uint8Array(SIZEOF_SOCKADDR_STORAGE);
  const len = new Uint8Array(4);
  const lv = new DataView(len.buffer);
  lv.setUint32(0, name.length, true);
  if (libc().getsockname(fd, name, len) < 0) fail("getsockname", label(fd));
  return decodeSockaddr(name, lv.getUint32(0, true));
}

/**
 * The index of an interface by name (in the calling thread's network namespace).
 *
 * @example
 * ```ts
 * ifNameToIndex("lo"); // 1
 * ```
 * @throws {SyscallError} `if_nametoindex(eth9): ENODEV (No such device)`.
 */
export function ifNameToIndex(name: string): number {
  const idx = libc().if_nametoindex(cstring(name));
  if (idx === 0) {
    const errno = lastErrno();
    throw new SyscallError("if_nametoindex", errno === 0 ? ENODEV : errno, name);
  }
  return idx;
}

/**
 * The name of an interface by index, or null when there is none.
 *
 * @example
 * ```ts
 * ifIndexToName(1); // "lo"
 * ```
 */
export function ifIndexToName(index: number): string | null {
  const b = new Uint8Array(IF_NAMESIZE);
  const p = libc().if_indextoname(index, b);
  if (p === null) return null;
  const end = b.indexOf(0);
  return new TextDecoder().decode(b.subarray(0, end < 0 ? b.length : end));
}

/**
 * Makes an fd non-blocking (for fds not opened here, e.g. inherited ones).
 *
 * @example
 * ```ts
 * setNonBlocking(fd);
 * ```
 */
export function setNonBlocking(fd: number): void {
  const flags = libc().fcntl(fd, F_GETFL, 0);
  if (flags < 0) fail("fcntl", `${label(fd)}, F_GETFL`);
  if (libc().fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) fail("fcntl", `${label(fd)}, F_SETFL`);
}

/**
 * Creates a non-blocking, close-on-exec eventfd (the wake-up line of a poller).
 *
 * @example
 * ```ts
 * const efd = createEventFd();
 * ```
 */
export function createEventFd(): number {
  const fd = libc().eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) fail("eventfd", "");
  fdLabels.set(fd, "eventfd");
  return fd;
}

/**
 * Adds 1 to an eventfd's counter, making it readable. Never blocks (EAGAIN only when
 * the counter is about to overflow, which already means "readable").
 *
 * @example
 * ```ts
 * signalEventFd(efd);
 * ```
 */
export function signalEventFd(fd: number): void {
  const one = new Uint8Array(8);
  new DataView(one.buffer).setBigUint64(0, 1n, true);
  const r = Number(libc().write(fd, one, 8n));
  if (r < 0) {
    const errno = lastErrno();
    if (errno !== EAGAIN) throw new SyscallError("write", errno, label(fd));
  }
}

/**
 * Resets an eventfd's counter; returns the count drained (0 when it was not signalled).
 *
 * @example
 * ```ts
 * drainEventFd(efd);
 * ```
 */
export function drainEventFd(fd: number): number {
  const b = new Uint8Array(8);
  const r = Number(libc().read(fd, b, 8n));
  if (r < 0) {
    const errno = lastErrno();
    if (errno === EAGAIN) return 0;
    throw new SyscallError("read", errno, label(fd));
  }
  return Number(new DataView(b.buffer).getBigUint64(0, true));
}

/**
 * `ppoll(2)` on a worker thread with a timeout in (fractional) milliseconds, resolved
 * to the nanosecond: for timers that must not fire a millisecond late. Resolves with
 * ppoll's return value (ready count, 0 on timeout, -1 on error, whose errno is lost by
 * design: another thread's); `set` must stay untouched until it resolves, revents are
 * read from it afterwards. A negative timeout waits for ever. `ts` is the
 * `struct timespec` to fill (a caller sleeping 100 times a second keeps one, which
 * must then not be shared by two polls at once).
 *
 * @example
 * ```ts
 * const n = await ppollAsync(encodePollFds([efd], POLLIN), 2.5);
 * ```
 */
export function ppollAsync(
  set: Uint8Array,
  timeoutMs: number,
  ts: Uint8Array = new Uint8Array(SIZEOF_TIMESPEC),
): Promise<number> {
  encodeTimeout(ts, timeoutMs);
  return libc().ppoll(set, BigInt(set.length / SIZEOF_POLLFD), ts, null);
}

/**
 * `ppoll(2)` on the JS thread, blocking it for up to `timeoutMs` (fractional; negative:
 * for ever): poll's return value, or minus errno when it failed (`-EINTR` when a signal
 * arrived on this thread). Nothing else runs meanwhile, not even Deno's event loop: only
 * for a caller that knows nothing but its fds can happen (the reactor's blocking mode).
 *
 * @example
 * ```ts
 * const n = ppollSync(encodePollFds([efd], POLLIN), 2.5); // 0 after 2.5 ms
 * ```
 */
export function ppollSync(
  set: Uint8Array,
  timeoutMs: number,
  ts: Uint8Array = new Uint8Array(SIZEOF_TIMESPEC),
): number {
  encodeTimeout(ts, timeoutMs);
  const n = libc().ppoll_sync(set, BigInt(set.length / SIZEOF_POLLFD), ts, null);
  return n < 0 ? -lastErrno() : n;
}

/** Writes `timeoutMs` (negative: for ever) into the `struct timespec` `ts`. */
function encodeTimeout(ts: Uint8Array, timeoutMs: number): void {
  // "For ever" is a timespec of ~36 years rather than NULL, so one code path. Plain
  // numbers rather than BigInt: whole nanoseconds stay exact far below 2^53.
  const ns = timeoutMs < 0 ? FOREVER_NS : Math.round(timeoutMs * 1e6);
  const sec = Math.floor(ns / 1e9);
  // Every wait writes the same few buffers (the reactor's one): a view kept per buffer.
  let dv = timespecViews.get(ts);
  if (dv === undefined) {
    dv = new DataView(ts.buffer, ts.byteOffset, SIZEOF_TIMESPEC);
    timespecViews.set(ts, dv);
  }
  dv.setUint32(0, sec % 2 ** 32, true);
  dv.setUint32(4, Math.floor(sec / 2 ** 32), true);
  dv.setUint32(8, ns - sec * 1e9, true);
  dv.setUint32(12, 0, true);
}

const timespecViews = new WeakMap<Uint8Array, DataView>();

/** ppoll's "for ever": 2^60 ns, about 36 years. */
const FOREVER_NS = 2 ** 60;

/**
 * Opens a path read-only, close-on-exec, returning the raw fd (for namespace files,
 * which Deno's file API cannot hand to setns).
 *
 * @example
 * ```ts
 * const fd = openPath("/run/netns/blue");
 * ```
 */
export function openPath(path: string): number {
  const fd = libc().open(cstring(path), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) fail("open", path);
  fdLabels.set(fd, path);
  return fd;
}

/**
 * Opens a path write-only, non-blocking and close-on-exec (plus `O_APPEND` when
 * asked), returning the raw fd. Non-blocking is the point: opening a FIFO that has no
 * reader fails at once with ENXIO instead of parking the JS thread until one appears.
 * Throws a {@link SyscallError} (ENXIO, ENOENT, ...) on failure.
 *
 * @example
 * ```ts
 * const fd = openWriteNonBlocking("/run/hacore/events", false); // ENXIO when no reader
 * ```
 */
export function openWriteNonBlocking(path: string, append: boolean): number {
  const flags = O_WRONLY | O_NONBLOCK | O_CLOEXEC | (append ? O_APPEND : 0);
  const fd = libc().open(cstring(path), flags, 0);
  if (fd < 0) fail("open", path);
  fdLabels.set(fd, path);
  return fd;
}

/**
 * Writes once to a non-blocking fd: the byte count written, or null on EAGAIN (a full
 * pipe). Any other error (EPIPE when the reader went away) throws a
 * {@link SyscallError}.
 *
 * @example
 * ```ts
 * const n = writeNonBlocking(fd, new TextEncoder().encode("line\n")); // null: pipe full
 * ```
 */
export function writeNonBlocking(fd: number, bytes: Uint8Array): number | null {
  const r = Number(libc().write(fd, bytes, BigInt(bytes.length)));
  if (r < 0) {
    const errno = lastErrno();
    if (errno === EAGAIN) return null;
    throw new SyscallError("write", errno, label(fd));
  }
  return r;
}

/**
 * Creates a FIFO (`mkfifo(3)`) with `mode` (less the umask). Throws a
 * {@link SyscallError} (EEXIST when the path exists).
 *
 * @example
 * ```ts
 * makeFifo("/run/hacore/events", 0o600);
 * ```
 */
export function makeFifo(path: string, mode: number): void {
  if (libc().mkfifo(cstring(path), mode) < 0) fail("mkfifo", path);
}

/**
 * Moves the calling thread (the JS thread) into the namespace `fd` refers to. Sockets
 * belong to the namespace they were created in, so a socket opened between two setns
 * calls keeps working there after the thread moves back.
 *
 * @example
 * ```ts
 * setNs(openPath("/run/netns/blue"), CLONE_NEWNET);
 * ```
 */
export function setNs(fd: number, nstype: number): void {
  if (libc().setns(fd, nstype) < 0) fail("setns", label(fd));
}

/**
 * `clock_gettime(CLOCK_MONOTONIC)` in microseconds: the clock systemd compares
 * `MONOTONIC_USEC=` against. `performance.now()` is not it (its origin is our start).
 *
 * @example
 * ```ts
 * const usec = clockMonotonicUsec(); // e.g. 12345678901n
 * ```
 */
export function clockMonotonicUsec(): bigint {
  const ts = new Uint8Array(SIZEOF_TIMESPEC);
  if (libc().clock_gettime(CLOCK_MONOTONIC, ts) < 0) fail("clock_gettime", "CLOCK_MONOTONIC");
  const dv = new DataView(ts.buffer);
  return dv.getBigInt64(0, true) * 1_000_000n + dv.getBigInt64(8, true) / 1000n;
}

/**
 * `clock_gettime(CLOCK_BOOTTIME)` in microseconds: the scale of `/proc/PID/stat`'s
 * `starttime`, so that how long ago the process started can be told.
 *
 * @example
 * ```ts
 * const usec = clockBoottimeUsec(); // e.g. 13345678901n
 * ```
 */
export function clockBoottimeUsec(): bigint {
  const ts = new Uint8Array(SIZEOF_TIMESPEC);
  if (libc().clock_gettime(CLOCK_BOOTTIME, ts) < 0) fail("clock_gettime", "CLOCK_BOOTTIME");
  const dv = new DataView(ts.buffer);
  return dv.getBigInt64(0, true) * 1_000_000n + dv.getBigInt64(8, true) / 1000n;
}

/**
 * A timespec at `at` in milliseconds, read as 32-bit halves: no BigInt on a path taken
 * per received packet. Exact while seconds stay below 2^53 / 1000.
 */
function timespecMs(dv: DataView, at: number): number {
  const sec = dv.getUint32(at, true) + dv.getInt32(at + 4, true) * 2 ** 32;
  return sec * 1000 + dv.getUint32(at + 8, true) / 1e6;
}

const realtimeBuf = new Uint8Array(SIZEOF_TIMESPEC);
const realtimeView = new DataView(realtimeBuf.buffer);

/**
 * `clock_gettime(CLOCK_REALTIME)` in milliseconds (fractional): the scale of receive
 * timestamps ({@link SO_TIMESTAMPNS}), to tell how long ago a datagram arrived.
 *
 * @example
 * ```ts
 * const ageMs = clockRealtimeMs() - got.stampMs;
 * ```
 */
export function clockRealtimeMs(): number {
  if (libc().clock_gettime(CLOCK_REALTIME, realtimeBuf) < 0) {
    fail("clock_gettime", "CLOCK_REALTIME");
  }
  return timespecMs(realtimeView, 0);
}

/**
 * The process id.
 *
 * @example
 * ```ts
 * getPid() === Deno.pid; // true
 * ```
 */
export function getPid(): number {
  return libc().getpid();
}

const OPTION_NAMES: Record<string, string> = {
  [`${SOL_SOCKET}.${SO_RCVBUF}`]: "SO_RCVBUF",
  [`${SOL_SOCKET}.${SO_RCVBUFFORCE}`]: "SO_RCVBUFFORCE",
  [`${SOL_SOCKET}.${SO_SNDBUF}`]: "SO_SNDBUF",
  [`${SOL_SOCKET}.${SO_BINDTODEVICE}`]: "SO_BINDTODEVICE",
  [`${SOL_SOCKET}.${SO_REUSEADDR}`]: "SO_REUSEADDR",
  [`${SOL_SOCKET}.${SO_PRIORITY}`]: "SO_PRIORITY",
  [`${SOL_IP}.${IP_TTL}`]: "IP_TTL",
  [`${SOL_IP}.${IP_TOS}`]: "IP_TOS",
  [`${SOL_IP}.${IP_HDRINCL}`]: "IP_HDRINCL",
  [`${SOL_IP}.${IP_PKTINFO}`]: "IP_PKTINFO",
  [`${SOL_IP}.${IP_RECVTTL}`]: "IP_RECVTTL",
  [`${SOL_IP}.${IP_MULTICAST_IF}`]: "IP_MULTICAST_IF",
  [`${SOL_IP}.${IP_MULTICAST_TTL}`]: "IP_MULTICAST_TTL",
  [`${SOL_IP}.${IP_MULTICAST_LOOP}`]: "IP_MULTICAST_LOOP",
  [`${SOL_IP}.${IP_ADD_MEMBERSHIP}`]: "IP_ADD_MEMBERSHIP",
  [`${SOL_IP}.${IP_DROP_MEMBERSHIP}`]: "IP_DROP_MEMBERSHIP",
  [`${SOL_IP}.${IP_MULTICAST_ALL}`]: "IP_MULTICAST_ALL",
  [`${SOL_IPV6}.${IPV6_CHECKSUM}`]: "IPV6_CHECKSUM",
  [`${SOL_IPV6}.${IPV6_UNICAST_HOPS}`]: "IPV6_UNICAST_HOPS",
  [`${SOL_IPV6}.${IPV6_MULTICAST_IF}`]: "IPV6_MULTICAST_IF",
  [`${SOL_IPV6}.${IPV6_MULTICAST_HOPS}`]: "IPV6_MULTICAST_HOPS",
  [`${SOL_IPV6}.${IPV6_MULTICAST_LOOP}`]: "IPV6_MULTICAST_LOOP",
  [`${SOL_IPV6}.${IPV6_ADD_MEMBERSHIP}`]: "IPV6_ADD_MEMBERSHIP",
  [`${SOL_IPV6}.${IPV6_DROP_MEMBERSHIP}`]: "IPV6_DROP_MEMBERSHIP",
  [`${SOL_IPV6}.${IPV6_V6ONLY}`]: "IPV6_V6ONLY",
  [`${SOL_IPV6}.${IPV6_MULTICAST_ALL}`]: "IPV6_MULTICAST_ALL",
  [`${SOL_IPV6}.${IPV6_RECVPKTINFO}`]: "IPV6_RECVPKTINFO",
  [`${SOL_IPV6}.${IPV6_RECVHOPLIMIT}`]: "IPV6_RECVHOPLIMIT",
  [`${SOL_IPV6}.${IPV6_TCLASS}`]: "IPV6_TCLASS",
  [`${SOL_ICMPV6}.${ICMP6_FILTER}`]: "ICMP6_FILTER",
  [`${SOL_NETLINK}.${NETLINK_ADD_MEMBERSHIP}`]: "NETLINK_ADD_MEMBERSHIP",
  [`${SOL_NETLINK}.${NETLINK_DROP_MEMBERSHIP}`]: "NETLINK_DROP_MEMBERSHIP",
  [`${SOL_NETLINK}.${NETLINK_NO_ENOBUFS}`]: "NETLINK_NO_ENOBUFS",
  [`${SOL_NETLINK}.${NETLINK_CAP_ACK}`]: "NETLINK_CAP_ACK",
  [`${SOL_NETLINK}.${NETLINK_EXT_ACK}`]: "NETLINK_EXT_ACK",
  [`${SOL_NETLINK}.${NETLINK_GET_STRICT_CHK}`]: "NETLINK_GET_STRICT_CHK",
};

/**
 * A readable name for a socket option, as used in error messages.
 *
 * @example
 * ```ts
 * optionName(SOL_IP, IP_ADD_MEMBERSHIP); // "IP_ADD_MEMBERSHIP"
 * ```
 */
export function optionName(level: number, name: number): string {
  return OPTION_NAMES[`${level}.${name}`] ?? `option ${level}/${name}`;
}

// ---------------------------------------------------------------------------------------
// Stream sockets (the control socket)
// ---------------------------------------------------------------------------------------

/**
 * Marks a bound stream socket as accepting connections.
 *
 * @example
 * ```ts
 * const fd = openSocket(AF_UNIX, SOCK_STREAM, 0);
 * bindSocket(fd, sockaddrUn("/run/hacore/hacore.sock"));
 * listenSocket(fd, 64);
 * ```
 */
export function listenSocket(fd: number, backlog: number): void {
  if (libc().listen(fd, backlog) < 0) fail("listen", label(fd));
}

/**
 * Accepts one pending connection as a non-blocking, close-on-exec fd, or returns null
 * when none is pending. A connection that was reset before it could be accepted is
 * skipped, as there is nothing to talk to.
 *
 * @example
 * ```ts
 * for (let fd = acceptSocket(lfd); fd !== null; fd = acceptSocket(lfd)) serve(fd);
 * ```
 */
export function acceptSocket(fd: number): number | null {
  for (;;) {
    const r = libc().accept4(fd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (r >= 0) {
      fdLabels.set(r, `${label(fd)} connection`);
      return r;
    }
    const errno = lastErrno();
    if (errno === EINTR || errno === ECONNABORTED) continue;
    if (errno === EAGAIN) return null;
    throw new SyscallError("accept4", errno, label(fd));
  }
}

/**
 * Connects a socket (for unix sockets this completes at once or fails at once, also
 * on a non-blocking socket: EAGAIN means the listener's backlog is full).
 *
 * @example
 * ```ts
 * connectSocket(fd, sockaddrUn("/run/hacore/hacore.sock"));
 * ```
 * @throws {SyscallError} e.g. ECONNREFUSED when nothing listens, ENOENT without a file.
 */
export function connectSocket(fd: number, sockaddr: Uint8Array): void {
  for (;;) {
    if (libc().connect(fd, sockaddr, sockaddr.length) === 0) return;
    const errno = lastErrno();
    if (errno === EINTR) continue;
    throw new SyscallError("connect", errno, label(fd));
  }
}

/**
 * `connect(2)` on a non-blocking socket, for the health checks' hot path: the errno
 * (0 when connected) instead of a {@link SyscallError}. Most calls "fail" with
 * EINPROGRESS or EALREADY, and an exception per check (its message, its stack) was a
 * visible share of the checker's CPU and garbage at 1,000 checks a second.
 *
 * @example
 * ```ts
 * const err = connectErrno(fd, sockaddrIn("10.0.0.5", 80));
 * if (err === EINPROGRESS) await reactor.writable(fd, signal);
 * ```
 */
export function connectErrno(fd: number, sockaddr: Uint8Array): number {
  for (;;) {
    if (libc().connect(fd, sockaddr, sockaddr.length) === 0) return 0;
    const errno = lastErrno();
    if (errno !== EINTR) return errno;
  }
}

/**
 * The credentials of the process at the other end of a connected unix socket, as the
 * kernel recorded them at connect time (`SO_PEERCRED`): they cannot be forged.
 *
 * @example
 * ```ts
 * if (peerCredentials(conn).uid !== 0) refuse(conn);
 * ```
 */
export function peerCredentials(fd: number): { pid: number; uid: number; gid: number } {
  const b = new Uint8Array(SIZEOF_UCRED);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, SIZEOF_UCRED, true);
  if (libc().getsockopt(fd, SOL_SOCKET, SO_PEERCRED, b, len) < 0) {
    fail("getsockopt", `${label(fd)}, SO_PEERCRED`);
  }
  const dv = new DataView(b.buffer);
  return { pid: dv.getInt32(0, true), uid: dv.getUint32(4, true), gid: dv.getUint32(8, true) };
}

/** The most one {@link recvStream} or {@link sendStream} moves: its count fits an i32. */
const STREAM_IO_MAX_BYTES = 1 << 30;

/**
 * Reads what a stream socket has: the byte count (0 at end of stream), or null when
 * nothing is there yet (EAGAIN).
 *
 * @example
 * ```ts
 * const n = recvStream(conn, buf);
 * if (n === 0) closeFd(conn);
 * ```
 */
export function recvStream(fd: number, buf: Uint8Array): number | null {
  for (;;) {
    const r = libc().read_stream(fd, buf, Math.min(buf.length, STREAM_IO_MAX_BYTES));
    if (r >= 0) return r;
    const errno = lastErrno();
    if (errno === EINTR) continue;
    if (errno === EAGAIN) return null;
    throw new SyscallError("read", errno, label(fd));
  }
}

/**
 * Writes to a stream socket without ever raising SIGPIPE: the bytes written, or null
 * when the socket buffer is full (EAGAIN).
 *
 * @example
 * ```ts
 * const n = sendStream(conn, reply);
 * if (n !== null) reply = reply.subarray(n);
 * ```
 * @throws {SyscallError} EPIPE / ECONNRESET when the peer has gone.
 */
export function sendStream(fd: number, buf: Uint8Array): number | null {
  for (;;) {
    const r = libc().send_stream(
      fd,
      buf,
      Math.min(buf.length, STREAM_IO_MAX_BYTES),
      MSG_NOSIGNAL,
      null,
      0,
    );
    if (r >= 0) return r;
    const errno = lastErrno();
    if (errno === EINTR) continue;
    if (errno === EAGAIN) return null;
    throw new SyscallError("send", errno, label(fd));
  }
}

// ---------------------------------------------------------------------------------------
// Health checks: ICMP echo over raw sockets (lib/check/pinger.ts)
// ---------------------------------------------------------------------------------------

/** `SOL_RAW`: option level of raw IPv4 sockets (ICMP_FILTER). */
export const SOL_RAW = 255;
/** `ICMP_FILTER`: on a raw IPPROTO_ICMP socket, a u32 mask of ICMP types to drop (bit = type). */
export const ICMP_FILTER = 1;
/** `ICMP_ECHOREPLY`: ICMPv4 type of an echo reply. */
export const ICMP_ECHOREPLY = 0;
/** `ICMP_ECHO`: ICMPv4 type of an echo request. */
export const ICMP_ECHO = 8;
/** `ICMP6_ECHO_REQUEST`: ICMPv6 type of an echo request. */
export const ICMP6_ECHO_REQUEST = 128;
/** `ICMP6_ECHO_REPLY`: ICMPv6 type of an echo reply. */
export const ICMP6_ECHO_REPLY = 129;
/** `sizeof(struct icmp6_filter)`: 256 bits, a set bit blocks that ICMPv6 type. */
export const SIZEOF_ICMP6_FILTER = 32;

OPTION_NAMES[`${SOL_RAW}.${ICMP_FILTER}`] = "ICMP_FILTER";

/**
 * `struct icmp_filter` letting only the given ICMPv4 types through (types above 31
 * cannot be named, and are always delivered).
 *
 * @example
 * ```ts
 * setsockoptBuf(fd, SOL_RAW, ICMP_FILTER, icmpFilterPassing([ICMP_ECHOREPLY]));
 * ```
 */
export function icmpFilterPassing(types: readonly number[]): Uint8Array {
  let blocked = 0xffffffff;
  for (const t of types) if (t < 32) blocked &= ~(1 << t);
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, blocked >>> 0, true);
  return b;
}

/**
 * `struct icmp6_filter` letting only the given ICMPv6 types through
 * (`ICMP6_FILTER_SETBLOCKALL` then `ICMP6_FILTER_SETPASS` for each).
 *
 * @example
 * ```ts
 * setsockoptBuf(fd, SOL_ICMPV6, ICMP6_FILTER, icmp6FilterPassing([ICMP6_ECHO_REPLY]));
 * ```
 */
export function icmp6FilterPassing(types: readonly number[]): Uint8Array {
  const words = new Uint32Array(SIZEOF_ICMP6_FILTER / 4).fill(0xffffffff);
  for (const t of types) words[t >> 5] &= ~(1 << (t & 31));
  const b = new Uint8Array(SIZEOF_ICMP6_FILTER);
  const dv = new DataView(b.buffer);
  words.forEach((w, i) => dv.setUint32(i * 4, w >>> 0, true));
  return b;
}

/**
 * {@link recvMsg} for one socket read over and over (a VRRP transport): the message
 * header, I/O vector and address buffers are made once with their pointers, and the
 * result is one object refilled by each read, so a read allocates nothing when the
 * sender is a packet socket's (`AF_PACKET`) and no control data is asked for. A
 * backup at 10 ms adverts reads 100 adverts a second per instance; the buffers,
 * views and BigInts a {@link recvMsg} makes per call were most of that read's cost.
 *
 * What {@link RecvMsgReader.read} returns, `from.addr` included, is valid until the
 * next read: read what you need from it before then.
 *
 * @example
 * ```ts
 * const reader = new RecvMsgReader(new Uint8Array(65536));
 * for (let got = reader.read(fd); got !== null; got = reader.read(fd)) handle(got);
 * ```
 */
export class RecvMsgReader {
  readonly #name = new Uint8Array(SIZEOF_SOCKADDR_STORAGE);
  readonly #iov = new Uint8Array(SIZEOF_IOVEC);
  readonly #msg = new Uint8Array(SIZEOF_MSGHDR);
  readonly #mv = new DataView(this.#msg.buffer);
  readonly #nv = new DataView(this.#name.buffer);
  readonly #buf: Uint8Array;
  readonly #control: Uint8Array;
  /** `from.addr` views of the name buffer, by hardware address length (0..8). */
  readonly #addrs: Uint8Array[] = [];
  readonly #from = {
    family: AF_PACKET as typeof AF_PACKET,
    protocol: 0,
    ifindex: 0,
    hatype: 0,
    pkttype: 0,
    addr: new Uint8Array(0) as Uint8Array,
  };
  readonly #result: RecvMsgResult = { n: 0, from: this.#from, flags: 0, cmsgs: [], stampMs: NaN };
  /** Control data holds only receive timestamps: read straight, not as a cmsg list. */
  readonly #stamps: boolean;
  readonly #cv: DataView;

  /**
   * Reads into `buf`, with control data into `control` (none by default); both must
   * stay the same for the reader's life, as its header points at them. `stamps`: the
   * sockets read have {@link SO_TIMESTAMPNS} and nothing else that sends control data;
   * each result's `stampMs` is then the receive time, without a cmsg list built per
   * datagram (`control` needs room for one timestamp, {@link STAMP_CONTROL_BYTES}).
   *
   * @example
   * ```ts
   * new RecvMsgReader(buf, new Uint8Array(256)); // with IPV6_PKTINFO and hop limits
   * new RecvMsgReader(buf, new Uint8Array(STAMP_CONTROL_BYTES), { stamps: true });
   * ```
   */
  constructor(
    buf: Uint8Array,
    control: Uint8Array = new Uint8Array(0),
    opts: { stamps?: boolean } = {},
  ) {
    // Both are held here: the header points at them, so they must outlive the reader.
    this.#buf = buf;
    this.#control = control;
    this.#stamps = opts.stamps === true;
    this.#cv = new DataView(control.buffer, control.byteOffset, control.length);
    const iv = new DataView(this.#iov.buffer);
    iv.setBigUint64(0, buf.length ? ptrValue(buf) : 0n, true);
    iv.setBigUint64(8, BigInt(buf.length), true);
    const mv = this.#mv;
    mv.setBigUint64(MSGHDR_NAME, ptrValue(this.#name), true);
    mv.setBigUint64(MSGHDR_IOV, ptrValue(this.#iov), true);
    mv.setBigUint64(MSGHDR_IOVLEN, 1n, true);
    mv.setBigUint64(MSGHDR_CONTROL, control.length ? ptrValue(control) : 0n, true);
    for (let i = 0; i <= 8; i++) this.#addrs.push(this.#name.subarray(12, 12 + i));
  }

  /**
   * Receives one datagram, as {@link recvMsg} does: null when nothing is queued.
   *
   * @example
   * ```ts
   * const got = reader.read(fd); // { n, from, flags, cmsgs } or null
   * ```
   * @throws {SyscallError} on an error other than EAGAIN (EINTR is retried).
   */
  read(fd: number): RecvMsgResult | null {
    const mv = this.#mv;
    for (;;) {
      mv.setUint32(MSGHDR_NAMELEN, SIZEOF_SOCKADDR_STORAGE, true);
      // Both halves: the kernel writes the whole size_t back.
      mv.setUint32(MSGHDR_CONTROLLEN, this.#control.length, true);
      mv.setUint32(MSGHDR_CONTROLLEN + 4, 0, true);
      mv.setInt32(MSGHDR_FLAGS, 0, true);
      const r = Number(libc().recvmsg(fd, this.#msg, 0));
      if (r >= 0) return this.#fill(r);
      const errno = lastErrno();
      if (errno === EINTR) continue;
      if (errno === EAGAIN) return null;
      throw new SyscallError("recvmsg", errno, label(fd));
    }
  }

  #fill(n: number): RecvMsgResult {
    const res = this.#result;
    res.n = n;
    res.flags = this.#mv.getInt32(MSGHDR_FLAGS, true);
    const nameLen = Math.min(this.#mv.getUint32(MSGHDR_NAMELEN, true), SIZEOF_SOCKADDR_STORAGE);
    const nv = this.#nv;
    if (nameLen >= 12 && nv.getUint16(0, true) === AF_PACKET) {
      const f = this.#from;
      f.protocol = nv.getUint16(2, false);
      f.ifindex = nv.getInt32(4, true);
      f.hatype = nv.getUint16(8, true);
      f.pkttype = this.#name[10];
      f.addr = this.#addrs[Math.min(this.#name[11], 8, nameLen - 12)];
      res.from = f;
    } else {
      res.from = decodeSockaddr(this.#name, nameLen);
    }
    // msg_controllen is a size_t no larger than the buffer: its low half is all of it.
    const controlLen = this.#control.length === 0 ? 0 : this.#mv.getUint32(MSGHDR_CONTROLLEN, true);
    if (this.#stamps) {
      res.cmsgs = NO_CMSGS;
      res.stampMs = this.#stampOf(controlLen);
    } else {
      res.cmsgs = controlLen === 0 ? NO_CMSGS : parseCmsgs(this.#control, controlLen);
    }
    return res;
  }

  /** The `SCM_TIMESTAMPNS` among the control messages, in ms; NaN without one. */
  #stampOf(controlLen: number): number {
    const cv = this.#cv;
    for (let at = 0; at + STAMP_CONTROL_BYTES <= controlLen;) {
      // cmsg_len is a size_t; a control buffer this small needs only its low half.
      const len = cv.getUint32(at, true);
      if (len < SIZEOF_CMSGHDR || cv.getUint32(at + 4, true) !== 0) break;
      if (
        cv.getInt32(at + 8, true) === SOL_SOCKET && cv.getInt32(at + 12, true) === SO_TIMESTAMPNS
      ) {
        return timespecMs(cv, at + SIZEOF_CMSGHDR);
      }
      at += cmsgAlign(len);
    }
    return NaN;
  }
}

/** Control room for one `SCM_TIMESTAMPNS` (a cmsghdr and a timespec). */
export const STAMP_CONTROL_BYTES = SIZEOF_CMSGHDR + SIZEOF_TIMESPEC;

/** No control data: shared, and frozen so that no caller can add to it. */
const NO_CMSGS = Object.freeze([]) as unknown as Cmsg[];

// ---------------------------------------------------------------------------------------
// io_uring (lib/sys/uring.ts builds the rings on these)
// ---------------------------------------------------------------------------------------

const NR_IO_URING_SETUP = 425;
const NR_IO_URING_ENTER = 426;
const NR_IO_URING_REGISTER = 427;

/**
 * `io_uring_setup(2)`: the ring's fd, or -errno. `params` is the 120-byte
 * `struct io_uring_params`, filled in by the kernel.
 *
 * @example
 * ```ts
 * const fd = ioUringSetup(256, new Uint8Array(120));
 * ```
 */
export function ioUringSetup(entries: number, params: Uint8Array): number {
  const fd = libc().uring_setup(BigInt(NR_IO_URING_SETUP), BigInt(entries), params);
  return fd < 0 ? -lastErrno() : fd;
}

/**
 * `io_uring_enter(2)` without a signal mask: how many entries the kernel took, or -errno.
 *
 * @example
 * ```ts
 * ioUringEnter(fd, 2, 0, 0);
 * ```
 */
export function ioUringEnter(
  fd: number,
  toSubmit: number,
  minComplete: number,
  flags: number,
): number {
  const n = libc().uring_enter(
    BigInt(NR_IO_URING_ENTER),
    BigInt(fd),
    BigInt(toSubmit),
    BigInt(minComplete),
    BigInt(flags),
    0n,
    0n,
  );
  return n < 0 ? -lastErrno() : n;
}

/**
 * `io_uring_register(2)`: 0 (or the opcode's count), or -errno.
 *
 * @example
 * ```ts
 * ioUringRegister(fd, 2, new Uint8Array(new Int32Array(64).fill(-1).buffer), 64);
 * ```
 */
export function ioUringRegister(fd: number, opcode: number, arg: Uint8Array, nr: number): number {
  const r = libc().uring_register(
    BigInt(NR_IO_URING_REGISTER),
    BigInt(fd),
    BigInt(opcode),
    arg,
    BigInt(nr),
  );
  return r < 0 ? -lastErrno() : r;
}

const PROT_READ_WRITE = 0x3;
const MAP_SHARED = 0x1;
const MAP_PRIVATE = 0x2;
const MAP_POPULATE = 0x8000;
const MAP_ANONYMOUS = 0x20;

/**
 * Memory outside the JS heap, for the kernel to read or write while no call is made
 * (an io_uring's rings, the addresses its connects read): `fd`'s pages at `offset`
 * shared, or anonymous ones when `fd` is -1. The view and its address; never unmapped
 * (a ring lives as long as the process).
 *
 * @example
 * ```ts
 * const { buffer, address } = mapMemory(-1, 0, 4096);
 * ```
 * @throws {SyscallError} when mmap fails.
 */
export function mapMemory(
  fd: number,
  offset: number,
  length: number,
): { buffer: ArrayBuffer; address: bigint } {
  const flags = fd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_SHARED | MAP_POPULATE;
  const p = libc().mmap(null, BigInt(length), PROT_READ_WRITE, flags, fd, BigInt(offset));
  const address = p === null ? 0n : Deno.UnsafePointer.value(p);
  if (p === null || address === 0xffffffffffffffffn) throw new SyscallError("mmap", lastErrno());
  return { buffer: Deno.UnsafePointerView.getArrayBuffer(p, length), address: BigInt(address) };
}

const PR_SET_TIMERSLACK = 29;

/**
 * Sets the calling thread's timer slack (`PR_SET_TIMERSLACK`): how much later than asked
 * the kernel may end its timed waits, 50 µs by default, to batch wake-ups. False when
 * the kernel refused.
 *
 * @example
 * ```ts
 * setTimerSlackNs(1); // the reactor's blocking waits end on their deadline
 * ```
 */
export function setTimerSlackNs(ns: number): boolean {
  return libc().prctl(PR_SET_TIMERSLACK, BigInt(ns), 0n, 0n, 0n) === 0;
}

const MADV_DONTNEED = 4;

/**
 * Drops this process's page-table entries for `[start, end)` (`MADV_DONTNEED`): resident
 * pages of a file mapping leave the resident set and stay in the page cache, so a later
 * touch maps them back with a minor fault. Only for mappings nothing ever wrote: on a
 * private mapping with written pages, those writes would be lost (see
 * `lib/sys/resident.ts`). False when the kernel refused.
 *
 * @example
 * ```ts
 * dropPages(0x5612_0000_0000, 0x5612_0010_0000);
 * ```
 */
export function dropPages(start: number, end: number): boolean {
  return libc().madvise(BigInt(start), BigInt(end - start), MADV_DONTNEED) === 0;
}

/**
 * Gives malloc's free memory back to the kernel (`malloc_trim(0)`: every arena, not only
 * the top of the brk heap). True when some was released.
 *
 * @example
 * ```ts
 * trimMalloc();
 * ```
 */
export function trimMalloc(): boolean {
  return libc().malloc_trim(0n) === 1;
}
