/**
 * The IPVS generic netlink codec (uapi `include/uapi/linux/ip_vs.h`): requests for every
 * command, built from the model of `ipvs_types.ts`, and decoders of the kernel's replies
 * back into it. Pure functions over bytes; `lib/sys/ipvs.ts` talks to the kernel.
 *
 * The requests are the bytes `ipvsadm` 1.31 sends for the same operation (checked against
 * the captures in `tests/fixtures/ipvs/`), so hacore asks the kernel nothing that the
 * kernel's own tool has not asked it before:
 *
 * - A command that only names a service (delete it, zero it, act on one of its
 *   destinations) carries ipvsadm's "reference" form of the service: its identity, an
 *   empty scheduler, no flags (all bits in the mask), timeout 0 and netmask all-ones. The
 *   kernel reads only the identity there.
 * - A dump of destinations names the service by its identity alone.
 * - Byte order: ports are big-endian, the fwmark and every other integer host order, the
 *   IPv4 persistence netmask is a big-endian mask and the IPv6 one a prefix length.
 * - Addresses are 16 bytes (`union nf_inet_addr`), an IPv4 address in the first 4.
 * - Flags travel as `struct ip_vs_flags { u32 flags; u32 mask; }`; hacore always sends the
 *   full mask, so an edit sets every user flag and clears the others.
 *
 * The builders throw a RangeError only for an address that is not of the family it is
 * declared with (a caller's bug, not a kernel answer). The decoders never throw: a reply
 * they cannot read comes back as a string naming the attribute that was wrong.
 *
 * @module
 */

import { formatIp } from "../../net/addr.ts";
import type { IpvsOp } from "../ports.ts";
import { ipBytes } from "../../net/ip_bytes.ts";
import { NLA_ALIGNTO, NLA_F_NESTED, NLA_HDRLEN, NLA_TYPE_MASK, NLMSG_HDRLEN } from "./constants.ts";
import { encodeGenlMessage, GENL_HDRLEN } from "./genl.ts";
import {
  AF_INET,
  AF_INET6,
  IP_VS_CONN_F_FWD_MASK,
  IP_VS_SVC_F_HASHED,
  type IpvsAf,
  type IpvsDest,
  type IpvsForward,
  type IpvsInfo,
  type IpvsProtocol,
  type IpvsService,
  type IpvsStats,
  type IpvsSyncDaemon,
  type IpvsTimeouts,
  type IpvsTunnelType,
} from "./ipvs_types.ts";
import {
  attrBe16,
  attrBytes,
  attrNested,
  attrString,
  attrU16,
  attrU32,
  attrU8,
  type NlAttr,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  parseAttrs,
  readBe16,
  readBe32,
  readString,
  readU16,
  readU32,
  readU64,
} from "./message.ts";

/** The generic netlink family name the kernel registers IPVS under. */
export const IPVS_GENL_NAME = "IPVS";
/** `IPVS_GENL_VERSION`: the genlmsghdr version of every IPVS message. */
export const IPVS_GENL_VERSION = 1;

/** `IPVS_CMD_NEW_SERVICE`: add a virtual service. */
export const IPVS_CMD_NEW_SERVICE = 1;
/** `IPVS_CMD_SET_SERVICE`: edit a service in place (also the kernel's dump reply). */
export const IPVS_CMD_SET_SERVICE = 2;
/** `IPVS_CMD_DEL_SERVICE`: delete a service and its destinations. */
export const IPVS_CMD_DEL_SERVICE = 3;
/** `IPVS_CMD_GET_SERVICE`: one service, or a dump of them all. */
export const IPVS_CMD_GET_SERVICE = 4;
/** `IPVS_CMD_NEW_DEST`: add a real server to a service. */
export const IPVS_CMD_NEW_DEST = 5;
/** `IPVS_CMD_SET_DEST`: edit a real server in place (also the dump reply). */
export const IPVS_CMD_SET_DEST = 6;
/** `IPVS_CMD_DEL_DEST`: delete a real server. */
export const IPVS_CMD_DEL_DEST = 7;
/** `IPVS_CMD_GET_DEST`: dump a service's real servers. */
export const IPVS_CMD_GET_DEST = 8;
/** `IPVS_CMD_NEW_DAEMON`: start a connection-sync daemon (also the dump reply). */
export const IPVS_CMD_NEW_DAEMON = 9;
/** `IPVS_CMD_DEL_DAEMON`: stop one. */
export const IPVS_CMD_DEL_DAEMON = 10;
/** `IPVS_CMD_GET_DAEMON`: dump the running sync daemons. */
export const IPVS_CMD_GET_DAEMON = 11;
/** `IPVS_CMD_SET_CONFIG`: set the connection timeouts (also the GET_CONFIG reply). */
export const IPVS_CMD_SET_CONFIG = 12;
/** `IPVS_CMD_GET_CONFIG`: read the connection timeouts. */
export const IPVS_CMD_GET_CONFIG = 13;
/** `IPVS_CMD_SET_INFO`: only ever the GET_INFO reply. */
export const IPVS_CMD_SET_INFO = 14;
/** `IPVS_CMD_GET_INFO`: version and connection table size. */
export const IPVS_CMD_GET_INFO = 15;
/** `IPVS_CMD_ZERO`: zero the counters of one service, or of all. */
export const IPVS_CMD_ZERO = 16;
/** `IPVS_CMD_FLUSH`: delete every service. */
export const IPVS_CMD_FLUSH = 17;

/** `IPVS_CMD_ATTR_SERVICE`: nest of `IPVS_SVC_ATTR_*`. */
export const IPVS_CMD_ATTR_SERVICE = 1;
/** `IPVS_CMD_ATTR_DEST`: nest of `IPVS_DEST_ATTR_*`. */
export const IPVS_CMD_ATTR_DEST = 2;
/** `IPVS_CMD_ATTR_DAEMON`: nest of `IPVS_DAEMON_ATTR_*`. */
export const IPVS_CMD_ATTR_DAEMON = 3;
/** `IPVS_CMD_ATTR_TIMEOUT_TCP`: u32 seconds. */
export const IPVS_CMD_ATTR_TIMEOUT_TCP = 4;
/** `IPVS_CMD_ATTR_TIMEOUT_TCP_FIN`: u32 seconds. */
export const IPVS_CMD_ATTR_TIMEOUT_TCP_FIN = 5;
/** `IPVS_CMD_ATTR_TIMEOUT_UDP`: u32 seconds. */
export const IPVS_CMD_ATTR_TIMEOUT_UDP = 6;

/** `IPVS_SVC_ATTR_AF`: u16 address family. */
export const IPVS_SVC_ATTR_AF = 1;
/** `IPVS_SVC_ATTR_PROTOCOL`: u16 IPPROTO_*. */
export const IPVS_SVC_ATTR_PROTOCOL = 2;
/** `IPVS_SVC_ATTR_ADDR`: 16-byte `union nf_inet_addr`. */
export const IPVS_SVC_ATTR_ADDR = 3;
/** `IPVS_SVC_ATTR_PORT`: be16. */
export const IPVS_SVC_ATTR_PORT = 4;
/** `IPVS_SVC_ATTR_FWMARK`: u32, host order. */
export const IPVS_SVC_ATTR_FWMARK = 5;
/** `IPVS_SVC_ATTR_SCHED_NAME`: string. */
export const IPVS_SVC_ATTR_SCHED_NAME = 6;
/** `IPVS_SVC_ATTR_FLAGS`: `struct ip_vs_flags`. */
export const IPVS_SVC_ATTR_FLAGS = 7;
/** `IPVS_SVC_ATTR_TIMEOUT`: u32 persistence seconds. */
export const IPVS_SVC_ATTR_TIMEOUT = 8;
/** `IPVS_SVC_ATTR_NETMASK`: IPv4 be32 mask, IPv6 u32 prefix length. */
export const IPVS_SVC_ATTR_NETMASK = 9;
/** `IPVS_SVC_ATTR_STATS`: nest of 32-bit `IPVS_STATS_ATTR_*` (bytes are u64). */
export const IPVS_SVC_ATTR_STATS = 10;
/** `IPVS_SVC_ATTR_PE_NAME`: string, the persistence engine. */
export const IPVS_SVC_ATTR_PE_NAME = 11;
/** `IPVS_SVC_ATTR_STATS64`: nest of 64-bit `IPVS_STATS_ATTR_*`. */
export const IPVS_SVC_ATTR_STATS64 = 12;

/** `IPVS_DEST_ATTR_ADDR`: 16-byte address. */
export const IPVS_DEST_ATTR_ADDR = 1;
/** `IPVS_DEST_ATTR_PORT`: be16. */
export const IPVS_DEST_ATTR_PORT = 2;
/** `IPVS_DEST_ATTR_FWD_METHOD`: u32 `IP_VS_CONN_F_*` forwarding bits. */
export const IPVS_DEST_ATTR_FWD_METHOD = 3;
/** `IPVS_DEST_ATTR_WEIGHT`: u32. */
export const IPVS_DEST_ATTR_WEIGHT = 4;
/** `IPVS_DEST_ATTR_U_THRESH`: u32 upper connection threshold. */
export const IPVS_DEST_ATTR_U_THRESH = 5;
/** `IPVS_DEST_ATTR_L_THRESH`: u32 lower connection threshold. */
export const IPVS_DEST_ATTR_L_THRESH = 6;
/** `IPVS_DEST_ATTR_ACTIVE_CONNS`: u32, read-only. */
export const IPVS_DEST_ATTR_ACTIVE_CONNS = 7;
/** `IPVS_DEST_ATTR_INACT_CONNS`: u32, read-only. */
export const IPVS_DEST_ATTR_INACT_CONNS = 8;
/** `IPVS_DEST_ATTR_PERSIST_CONNS`: u32, read-only. */
export const IPVS_DEST_ATTR_PERSIST_CONNS = 9;
/** `IPVS_DEST_ATTR_STATS`: nest of 32-bit stats. */
export const IPVS_DEST_ATTR_STATS = 10;
/** `IPVS_DEST_ATTR_ADDR_FAMILY`: u16, when the real server's family differs from the service's. */
export const IPVS_DEST_ATTR_ADDR_FAMILY = 11;
/** `IPVS_DEST_ATTR_STATS64`: nest of 64-bit stats. */
export const IPVS_DEST_ATTR_STATS64 = 12;
/** `IPVS_DEST_ATTR_TUN_TYPE`: u8 `IP_VS_CONN_F_TUNNEL_TYPE_*`. */
export const IPVS_DEST_ATTR_TUN_TYPE = 13;
/** `IPVS_DEST_ATTR_TUN_PORT`: be16 GUE port. */
export const IPVS_DEST_ATTR_TUN_PORT = 14;
/** `IPVS_DEST_ATTR_TUN_FLAGS`: u16 `IP_VS_TUNNEL_ENCAP_FLAG_*`. */
export const IPVS_DEST_ATTR_TUN_FLAGS = 15;

/** `IPVS_DAEMON_ATTR_STATE`: u32 `IP_VS_STATE_*`. */
export const IPVS_DAEMON_ATTR_STATE = 1;
/** `IPVS_DAEMON_ATTR_MCAST_IFN`: string, the multicast interface. */
export const IPVS_DAEMON_ATTR_MCAST_IFN = 2;
/** `IPVS_DAEMON_ATTR_SYNC_ID`: u32. */
export const IPVS_DAEMON_ATTR_SYNC_ID = 3;
/** `IPVS_DAEMON_ATTR_SYNC_MAXLEN`: u16. */
export const IPVS_DAEMON_ATTR_SYNC_MAXLEN = 4;
/** `IPVS_DAEMON_ATTR_MCAST_GROUP`: 4-byte IPv4 group. */
export const IPVS_DAEMON_ATTR_MCAST_GROUP = 5;
/** `IPVS_DAEMON_ATTR_MCAST_GROUP6`: 16-byte IPv6 group. */
export const IPVS_DAEMON_ATTR_MCAST_GROUP6 = 6;
/** `IPVS_DAEMON_ATTR_MCAST_PORT`: u16. */
export const IPVS_DAEMON_ATTR_MCAST_PORT = 7;
/** `IPVS_DAEMON_ATTR_MCAST_TTL`: u8. */
export const IPVS_DAEMON_ATTR_MCAST_TTL = 8;

/** `IP_VS_STATE_MASTER`: the daemon sends. */
export const IP_VS_STATE_MASTER = 1;
/** `IP_VS_STATE_BACKUP`: the daemon receives. */
export const IP_VS_STATE_BACKUP = 2;

/** `IPVS_STATS_ATTR_CONNS`. */
export const IPVS_STATS_ATTR_CONNS = 1;
/** `IPVS_STATS_ATTR_INPKTS`. */
export const IPVS_STATS_ATTR_INPKTS = 2;
/** `IPVS_STATS_ATTR_OUTPKTS`. */
export const IPVS_STATS_ATTR_OUTPKTS = 3;
/** `IPVS_STATS_ATTR_INBYTES` (u64 in both nests). */
export const IPVS_STATS_ATTR_INBYTES = 4;
/** `IPVS_STATS_ATTR_OUTBYTES` (u64 in both nests). */
export const IPVS_STATS_ATTR_OUTBYTES = 5;
/** `IPVS_STATS_ATTR_CPS`. */
export const IPVS_STATS_ATTR_CPS = 6;
/** `IPVS_STATS_ATTR_INPPS`. */
export const IPVS_STATS_ATTR_INPPS = 7;
/** `IPVS_STATS_ATTR_OUTPPS`. */
export const IPVS_STATS_ATTR_OUTPPS = 8;
/** `IPVS_STATS_ATTR_INBPS`. */
export const IPVS_STATS_ATTR_INBPS = 9;
/** `IPVS_STATS_ATTR_OUTBPS`. */
export const IPVS_STATS_ATTR_OUTBPS = 10;
/** `IPVS_STATS_ATTR_PAD`: alignment filler before a u64 in STATS64. */
export const IPVS_STATS_ATTR_PAD = 11;

// ipvsadm's request flags: an ack for every command, and ROOT|MATCH (NLM_F_DUMP) on dumps.
const CMD_FLAGS = NLM_F_REQUEST | NLM_F_ACK;
const DUMP_FLAGS = CMD_FLAGS | NLM_F_DUMP;
// The flags mask hacore sends: every bit, so an edit sets the flags exactly.
const ALL_FLAGS_MASK = 0xffffffff;
// ipvsadm's netmask when it has none to say (reference form, non-persistent IPv4).
const NO_NETMASK = 0xffffffff;

function message(
  family: number,
  cmd: number,
  attrs: readonly Uint8Array[],
  dump = false,
): Uint8Array {
  return encodeGenlMessage({
    family,
    cmd,
    version: IPVS_GENL_VERSION,
    flags: dump ? DUMP_FLAGS : CMD_FLAGS,
    attrs,
  });
}

// ---------------------------------------------------------------------------------------
// Service and destination attributes
// ---------------------------------------------------------------------------------------

function addrAttr(type: number, af: IpvsAf, address: string): Uint8Array {
  const out = new Uint8Array(16);
  out.set(ipBytes(address, af === AF_INET ? 4 : 16));
  return attrBytes(type, out);
}

/**
 * The kernel's netmask attribute value for a prefix length: a big-endian mask for IPv4,
 * the prefix length itself for IPv6.
 *
 * @example
 * ```ts
 * netmaskToKernel(AF_INET, 24); // 0xffffff00 (sent big-endian)
 * netmaskToKernel(AF_INET6, 64); // 64
 * ```
 */
export function netmaskToKernel(af: IpvsAf, prefixLen: number): number {
  if (af === AF_INET6) return prefixLen;
  return prefixLen <= 0 ? 0 : (0xffffffff << (32 - Math.min(prefixLen, 32))) >>> 0;
}

/**
 * The prefix length of the kernel's netmask attribute (see {@link netmaskToKernel}), or
 * null when an IPv4 mask has holes or an IPv6 length is above 128.
 *
 * @example
 * ```ts
 * netmaskFromKernel(AF_INET, 0xffffff00); // 24
 * ```
 */
export function netmaskFromKernel(af: IpvsAf, value: number): number | null {
  if (af === AF_INET6) return value <= 128 ? value : null;
  const inverted = ~value >>> 0;
  // A contiguous mask inverted is 2^k - 1: adding one clears every bit.
  if ((inverted & (inverted + 1)) !== 0) return null;
  return 32 - Math.log2(inverted + 1);
}

function identityAttrs(s: IpvsService): Uint8Array[] {
  const out = [attrU16(IPVS_SVC_ATTR_AF, s.af)];
  if (s.fwmark !== 0) {
    out.push(attrU32(IPVS_SVC_ATTR_FWMARK, s.fwmark));
  } else {
    out.push(
      attrU16(IPVS_SVC_ATTR_PROTOCOL, s.protocol),
      addrAttr(IPVS_SVC_ATTR_ADDR, s.af, s.address),
      attrBe16(IPVS_SVC_ATTR_PORT, s.port),
    );
  }
  return out;
}

// ipvsadm's way of naming a service in a command about it: the kernel reads the identity
// only, and the rest is what ipvsadm fills in when the command line gave none.
// A service's reference, by object: the ten destinations of one service in a plan share
// its object, so a big apply encodes each service once, not once per destination.
const refNests = new WeakMap<IpvsService, Uint8Array>();

function refServiceNest(s: IpvsService): Uint8Array {
  let nest = refNests.get(s);
  if (nest === undefined) {
    nest = encodeRefServiceNest(s);
    refNests.set(s, nest);
  }
  return nest;
}

function encodeRefServiceNest(s: IpvsService): Uint8Array {
  const out = new Uint8Array(serviceNestInto(null, 0, s, false));
  serviceNestInto(out, 0, s, false);
  return out;
}

/**
 * Bytes of a destination's nest: its header and ten attributes (family, the 16-byte
 * address, port, method, weight, tunnel type, port and flags, two thresholds).
 */
const DEST_NEST_LEN = NLA_HDRLEN + 9 * 8 + (NLA_HDRLEN + 16);

/**
 * A whole destination command (NEW/SET/DEL_DEST) written into one buffer: the service's
 * reference nest (cached per service) and the destination's attributes in place. Built
 * attribute by attribute and concatenated, the 10,000 destinations of a big table cost
 * ~0.6 s of a small guest's CPU, half of it the garbage of those small arrays.
 *
 * ipvsadm names the real server's family first, always (the kernel needs it only when
 * it differs from the service's: an IPv4 server tunnelled behind an IPv6 service).
 */
function destMessage(
  family: number,
  cmd: number,
  s: IpvsService,
  d: IpvsDest,
  arena: MessageArena | undefined,
): Uint8Array {
  const len = destMessageLength(s);
  const out = arena === undefined ? new Uint8Array(len) : arena.take(len);
  destMessageInto(out, 0, family, cmd, s, d);
  return out;
}

function destMessageLength(s: IpvsService): number {
  return NLMSG_HDRLEN + GENL_HDRLEN + refServiceNest(s).length + DEST_NEST_LEN;
}

/** {@link destMessage} written at `base` of `out` (zeroed there). */
function destMessageInto(
  out: Uint8Array,
  base: number,
  family: number,
  cmd: number,
  s: IpvsService,
  d: IpvsDest,
): void {
  const svc = refServiceNest(s);
  const len = NLMSG_HDRLEN + GENL_HDRLEN + svc.length + DEST_NEST_LEN;
  putInt(out, base, 4, len, true);
  putInt(out, base + 4, 2, family, true);
  putInt(out, base + 6, 2, CMD_FLAGS, true);
  out[base + NLMSG_HDRLEN] = cmd;
  out[base + NLMSG_HDRLEN + 1] = IPVS_GENL_VERSION;
  let at = base + NLMSG_HDRLEN + GENL_HDRLEN;
  out.set(svc, at);
  at += svc.length;
  attrHead(out, at, DEST_NEST_LEN, IPVS_CMD_ATTR_DEST | NLA_F_NESTED);
  at += NLA_HDRLEN;
  at = putAttrInt(out, at, IPVS_DEST_ATTR_ADDR_FAMILY, 2, d.af, true);
  attrHead(out, at, NLA_HDRLEN + 16, IPVS_DEST_ATTR_ADDR);
  out.set(ipBytes(d.address, d.af === AF_INET ? 4 : 16), at + NLA_HDRLEN);
  at += NLA_HDRLEN + 16;
  at = putAttrInt(out, at, IPVS_DEST_ATTR_PORT, 2, d.port, false);
  at = putAttrInt(out, at, IPVS_DEST_ATTR_FWD_METHOD, 4, d.forward, true);
  at = putAttrInt(out, at, IPVS_DEST_ATTR_WEIGHT, 4, d.weight, true);
  at = putAttrInt(out, at, IPVS_DEST_ATTR_TUN_TYPE, 1, d.tunnelType, true);
  at = putAttrInt(out, at, IPVS_DEST_ATTR_TUN_PORT, 2, d.tunnelPort, false);
  at = putAttrInt(out, at, IPVS_DEST_ATTR_TUN_FLAGS, 2, d.tunnelFlags, true);
  at = putAttrInt(out, at, IPVS_DEST_ATTR_U_THRESH, 4, d.uThreshold, true);
  putAttrInt(out, at, IPVS_DEST_ATTR_L_THRESH, 4, d.lThreshold, true);
}

/**
 * A service command (NEW/SET/DEL_SERVICE) written into one buffer: nlmsghdr, genlmsghdr
 * and the service's nest, attribute by attribute in place. Built as ~12 small arrays
 * and concatenated, the 1,000 services of a big table's start were ~9 MB of garbage
 * (each array a typed array and a buffer object) in the apply's way to the kernel.
 * `full`: every setting (NEW/SET); else ipvsadm's reference form (see refServiceNest).
 */
function serviceMessage(family: number, cmd: number, s: IpvsService, full: boolean): Uint8Array {
  const out = new Uint8Array(serviceMessageLength(s, full));
  serviceMessageInto(out, 0, family, cmd, s, full);
  return out;
}

function serviceMessageLength(s: IpvsService, full: boolean): number {
  return NLMSG_HDRLEN + GENL_HDRLEN + serviceNestInto(null, 0, s, full);
}

/** {@link serviceMessage} written at `base` of `out` (zeroed there). */
function serviceMessageInto(
  out: Uint8Array,
  base: number,
  family: number,
  cmd: number,
  s: IpvsService,
  full: boolean,
): void {
  const end = serviceNestInto(out, base + NLMSG_HDRLEN + GENL_HDRLEN, s, full);
  putInt(out, base, 4, end - base, true);
  putInt(out, base + 4, 2, family, true);
  putInt(out, base + 6, 2, CMD_FLAGS, true);
  out[base + NLMSG_HDRLEN] = cmd;
  out[base + NLMSG_HDRLEN + 1] = IPVS_GENL_VERSION;
}

/**
 * One table change as {@link writeTableChange} writes it: the command and its service
 * (and destination), the port's `IpvsOp` itself.
 */
export type TableChange = IpvsOp;

/**
 * The length of the request of `c` (the bytes `buildNewService`, `buildNewDest`, ... of
 * it would be), for a batch written into its datagrams.
 *
 * @example
 * ```ts
 * tableChangeLength({ op: "addService", service }) === buildNewService(family, service).length;
 * ```
 */
export function tableChangeLength(c: TableChange): number {
  switch (c.op) {
    case "addService":
    case "editService":
      return serviceMessageLength(c.service, true);
    case "delService":
      return serviceMessageLength(c.service, false);
    default:
      return destMessageLength(c.service);
  }
}

/**
 * Writes the request of `c` at `at` of `out`, whose bytes there are zero: the same bytes
 * as its builder's (`buildNewService`, `buildSetDest`, ...), with no array of its own.
 *
 * @example
 * ```ts
 * const out = new Uint8Array(tableChangeLength(c));
 * writeTableChange(out, 0, family, c); // the bytes of buildNewDest(family, s, d)
 * ```
 */
export function writeTableChange(
  out: Uint8Array,
  at: number,
  family: number,
  c: TableChange,
): void {
  switch (c.op) {
    case "addService":
      return serviceMessageInto(out, at, family, IPVS_CMD_NEW_SERVICE, c.service, true);
    case "editService":
      return serviceMessageInto(out, at, family, IPVS_CMD_SET_SERVICE, c.service, true);
    case "delService":
      return serviceMessageInto(out, at, family, IPVS_CMD_DEL_SERVICE, c.service, false);
    case "addDest":
      return destMessageInto(out, at, family, IPVS_CMD_NEW_DEST, c.service, c.dest);
    case "editDest":
      return destMessageInto(out, at, family, IPVS_CMD_SET_DEST, c.service, c.dest);
    case "delDest":
      return destMessageInto(out, at, family, IPVS_CMD_DEL_DEST, c.service, c.dest);
  }
}

/**
 * Writes the service nest into `out` at `at` (only measures when `out` is null); the
 * offset after it. The same bytes, in the same order, as the attribute encoders give:
 * identity (family, then mark or protocol, address and port), then the scheduler,
 * engine, flags, timeout and netmask (`full`), or ipvsadm's empty reference values.
 */
function serviceNestInto(
  out: Uint8Array | null,
  at: number,
  s: IpvsService,
  full: boolean,
): number {
  const start = at;
  at += NLA_HDRLEN;
  at = putAttrInt(out, at, IPVS_SVC_ATTR_AF, 2, s.af, true);
  if (s.fwmark !== 0) at = putAttrInt(out, at, IPVS_SVC_ATTR_FWMARK, 4, s.fwmark, true);
  else {
    at = putAttrInt(out, at, IPVS_SVC_ATTR_PROTOCOL, 2, s.protocol, true);
    if (out !== null) {
      attrHead(out, at, NLA_HDRLEN + 16, IPVS_SVC_ATTR_ADDR);
      out.set(ipBytes(s.address, s.af === AF_INET ? 4 : 16), at + NLA_HDRLEN);
    }
    at += NLA_HDRLEN + 16;
    at = putAttrInt(out, at, IPVS_SVC_ATTR_PORT, 2, s.port, false);
  }
  at = putAttrString(out, at, IPVS_SVC_ATTR_SCHED_NAME, full ? s.scheduler : "");
  if (full && s.persistenceEngine) {
    at = putAttrString(out, at, IPVS_SVC_ATTR_PE_NAME, s.persistenceEngine);
  }
  if (out !== null) {
    attrHead(out, at, NLA_HDRLEN + 8, IPVS_SVC_ATTR_FLAGS);
    // HASHED is the kernel's to set; hacore never claims it.
    putInt(out, at + NLA_HDRLEN, 4, full ? s.flags & ~IP_VS_SVC_F_HASHED : 0, true);
    putInt(out, at + NLA_HDRLEN + 4, 4, ALL_FLAGS_MASK, true);
  }
  at += NLA_HDRLEN + 8;
  at = putAttrInt(out, at, IPVS_SVC_ATTR_TIMEOUT, 4, full ? s.timeoutS : 0, true);
  at = full
    ? putAttrInt(
      out,
      at,
      IPVS_SVC_ATTR_NETMASK,
      4,
      netmaskToKernel(s.af, s.netmask),
      s.af !== AF_INET,
    )
    : putAttrInt(out, at, IPVS_SVC_ATTR_NETMASK, 4, NO_NETMASK, true);
  if (out !== null) attrHead(out, start, at - start, IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED);
  return at;
}

/** A NUL-terminated string attribute, padded to 4; ASCII written in place. */
function putAttrString(out: Uint8Array | null, at: number, type: number, s: string): number {
  // deno-lint-ignore no-control-regex
  const bytes = /^[\x00-\x7f]*$/.test(s) ? null : new TextEncoder().encode(s);
  const n = bytes === null ? s.length : bytes.length;
  if (out !== null) {
    attrHead(out, at, NLA_HDRLEN + n + 1, type);
    if (bytes !== null) out.set(bytes, at + NLA_HDRLEN);
    else for (let i = 0; i < n; i++) out[at + NLA_HDRLEN + i] = s.charCodeAt(i);
  }
  return at + ((NLA_HDRLEN + n + 1 + NLA_ALIGNTO - 1) & ~(NLA_ALIGNTO - 1));
}

/**
 * Room for many messages in a few shared buffers: a message of over 64 bytes in a
 * `Uint8Array` of its own gets a backing store off V8's heap, and the 10,000 of a big
 * table's start (then copied once more into datagrams) were most of that apply's
 * garbage-collection time. Each message is a view of a chunk, zero-filled as a fresh
 * array is; a chunk lives as long as a view of it does.
 *
 * @example
 * ```ts
 * const arena = new MessageArena();
 * const msgs = dests.map((d) => buildNewDest(family, service, d, arena));
 * ```
 */
export class MessageArena {
  readonly #chunkBytes: number;
  #chunk = new Uint8Array(0);
  #at = 0;

  /** `chunkBytes`: the size of each shared buffer (a bigger message gets its own). */
  constructor(chunkBytes = 64 * 1024) {
    this.#chunkBytes = chunkBytes;
  }

  /** `len` zeroed bytes no other message shares. */
  take(len: number): Uint8Array {
    if (len > this.#chunkBytes) return new Uint8Array(len);
    if (this.#at + len > this.#chunk.length) {
      this.#chunk = new Uint8Array(this.#chunkBytes);
      this.#at = 0;
    }
    const out = this.#chunk.subarray(this.#at, this.#at + len);
    // Aligned, so every message starts on a netlink boundary of its chunk.
    this.#at += (len + 3) & ~3;
    return out;
  }
}

function attrHead(out: Uint8Array, at: number, len: number, type: number): void {
  putInt(out, at, 2, len, true);
  putInt(out, at + 2, 2, type, true);
}

/**
 * An integer attribute of `size` bytes at `at` (padded to 8 in all); the offset after it.
 * With `out` null it only measures (see serviceNestInto).
 */
function putAttrInt(
  out: Uint8Array | null,
  at: number,
  type: number,
  size: 1 | 2 | 4,
  v: number,
  littleEndian: boolean,
): number {
  if (out !== null) {
    attrHead(out, at, NLA_HDRLEN + size, type);
    putInt(out, at + NLA_HDRLEN, size, v, littleEndian);
  }
  return at + NLA_HDRLEN + 4;
}

// Bytes by hand, not a DataView (see message.ts: a view moves a small array off-heap).
function putInt(out: Uint8Array, at: number, size: number, v: number, le: boolean): void {
  const u = v >>> 0;
  for (let i = 0; i < size; i++) out[at + i] = (u >>> (8 * (le ? i : size - 1 - i))) & 0xff;
}

// ---------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------

/**
 * `IPVS_CMD_NEW_SERVICE` (`ipvsadm -A`). `family` is the IPVS family id of the lookup.
 *
 * @example
 * ```ts
 * buildNewService(family.id, service);
 * ```
 */
export function buildNewService(family: number, s: IpvsService): Uint8Array {
  return serviceMessage(family, IPVS_CMD_NEW_SERVICE, s, true);
}

/** `IPVS_CMD_SET_SERVICE` (`ipvsadm -E`): scheduler, flags, timeout, netmask, engine. */
export function buildSetService(family: number, s: IpvsService): Uint8Array {
  return serviceMessage(family, IPVS_CMD_SET_SERVICE, s, true);
}

/** `IPVS_CMD_DEL_SERVICE` (`ipvsadm -D`), naming the service in ipvsadm's reference form. */
export function buildDelService(family: number, s: IpvsService): Uint8Array {
  return serviceMessage(family, IPVS_CMD_DEL_SERVICE, s, false);
}

/** `IPVS_CMD_GET_SERVICE` as a dump: every service (`ipvsadm -Ln`). */
export function buildGetServices(family: number): Uint8Array {
  return message(family, IPVS_CMD_GET_SERVICE, [], true);
}

/** `IPVS_CMD_GET_SERVICE` of one service, by identity. */
export function buildGetService(family: number, s: IpvsService): Uint8Array {
  return message(family, IPVS_CMD_GET_SERVICE, [
    attrNested(IPVS_CMD_ATTR_SERVICE, identityAttrs(s)),
  ]);
}

/** `IPVS_CMD_NEW_DEST` (`ipvsadm -a`); in `arena` when given (a batch's many). */
export function buildNewDest(
  family: number,
  s: IpvsService,
  d: IpvsDest,
  arena?: MessageArena,
): Uint8Array {
  return destMessage(family, IPVS_CMD_NEW_DEST, s, d, arena);
}

/** `IPVS_CMD_SET_DEST` (`ipvsadm -e`): weight, method, thresholds, tunnel, in place. */
export function buildSetDest(
  family: number,
  s: IpvsService,
  d: IpvsDest,
  arena?: MessageArena,
): Uint8Array {
  return destMessage(family, IPVS_CMD_SET_DEST, s, d, arena);
}

/** `IPVS_CMD_DEL_DEST` (`ipvsadm -d`). The kernel reads the address and port only. */
export function buildDelDest(
  family: number,
  s: IpvsService,
  d: IpvsDest,
  arena?: MessageArena,
): Uint8Array {
  return destMessage(family, IPVS_CMD_DEL_DEST, s, d, arena);
}

/** `IPVS_CMD_GET_DEST` as a dump: one service's real servers, the service by identity. */
export function buildGetDests(family: number, s: IpvsService): Uint8Array {
  return message(family, IPVS_CMD_GET_DEST, [
    attrNested(IPVS_CMD_ATTR_SERVICE, identityAttrs(s)),
  ], true);
}

function daemonState(state: IpvsSyncDaemon["state"]): number {
  return state === "master" ? IP_VS_STATE_MASTER : IP_VS_STATE_BACKUP;
}

/** `IPVS_CMD_NEW_DAEMON` (`ipvsadm --start-daemon`). */
export function buildNewDaemon(family: number, d: IpvsSyncDaemon): Uint8Array {
  return message(family, IPVS_CMD_NEW_DAEMON, [
    attrNested(IPVS_CMD_ATTR_DAEMON, [
      attrU32(IPVS_DAEMON_ATTR_STATE, daemonState(d.state)),
      attrString(IPVS_DAEMON_ATTR_MCAST_IFN, d.ifname),
      attrU32(IPVS_DAEMON_ATTR_SYNC_ID, d.syncId),
      ...daemonOptions(d),
    ]),
  ]);
}

/** The optional daemon attributes, only those set (the kernel keeps its defaults otherwise). */
function daemonOptions(d: IpvsSyncDaemon): Uint8Array[] {
  const out: Uint8Array[] = [];
  if (d.maxLen !== undefined) out.push(attrU16(IPVS_DAEMON_ATTR_SYNC_MAXLEN, d.maxLen));
  if (d.group !== undefined) {
    const six = d.group.includes(":");
    const type = six ? IPVS_DAEMON_ATTR_MCAST_GROUP6 : IPVS_DAEMON_ATTR_MCAST_GROUP;
    out.push(attrBytes(type, ipBytes(d.group, six ? 16 : 4)));
  }
  // Host byte order: the kernel converts the port itself.
  if (d.port !== undefined) out.push(attrU16(IPVS_DAEMON_ATTR_MCAST_PORT, d.port));
  if (d.ttl !== undefined) out.push(attrU8(IPVS_DAEMON_ATTR_MCAST_TTL, d.ttl));
  return out;
}

/**
 * `IPVS_CMD_DEL_DAEMON` (`ipvsadm --stop-daemon`). The kernel wants the interface and id
 * attributes present though it reads only the state: empty, as ipvsadm sends them.
 */
export function buildDelDaemon(family: number, state: IpvsSyncDaemon["state"]): Uint8Array {
  return message(family, IPVS_CMD_DEL_DAEMON, [
    attrNested(IPVS_CMD_ATTR_DAEMON, [
      attrU32(IPVS_DAEMON_ATTR_STATE, daemonState(state)),
      attrString(IPVS_DAEMON_ATTR_MCAST_IFN, ""),
      attrU32(IPVS_DAEMON_ATTR_SYNC_ID, 0),
    ]),
  ]);
}

/** `IPVS_CMD_GET_DAEMON` as a dump. */
export function buildGetDaemons(family: number): Uint8Array {
  return message(family, IPVS_CMD_GET_DAEMON, [], true);
}

/** `IPVS_CMD_SET_CONFIG` (`ipvsadm --set`); a 0 leaves that timeout as it is. */
export function buildSetConfig(family: number, t: IpvsTimeouts): Uint8Array {
  return message(family, IPVS_CMD_SET_CONFIG, [
    attrU32(IPVS_CMD_ATTR_TIMEOUT_TCP, t.tcpS),
    attrU32(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, t.tcpFinS),
    attrU32(IPVS_CMD_ATTR_TIMEOUT_UDP, t.udpS),
  ]);
}

/** `IPVS_CMD_GET_CONFIG`: the timeouts. */
export function buildGetConfig(family: number): Uint8Array {
  return message(family, IPVS_CMD_GET_CONFIG, []);
}

/** `IPVS_CMD_GET_INFO`: version and connection table size. */
export function buildGetInfo(family: number): Uint8Array {
  return message(family, IPVS_CMD_GET_INFO, []);
}

/** `IPVS_CMD_ZERO` (`ipvsadm -Z`): one service's counters, or every counter without one. */
export function buildZero(family: number, s?: IpvsService): Uint8Array {
  return message(family, IPVS_CMD_ZERO, s ? [refServiceNest(s)] : []);
}

/** `IPVS_CMD_FLUSH` (`ipvsadm -C`): every service goes. */
export function buildFlush(family: number): Uint8Array {
  return message(family, IPVS_CMD_FLUSH, []);
}

// ---------------------------------------------------------------------------------------
// Decoders
// ---------------------------------------------------------------------------------------

// Thrown inside a decoder only, and turned into its string result at the edge.
class Malformed extends Error {}

function decoding<T>(what: string, fn: () => T): T | string {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Malformed) return `${what}: ${e.message}`;
    throw e;
  }
}

type Attrs = Map<number, Uint8Array>;

function attrsOf(payload: Uint8Array, name: string): Attrs {
  const list = parseAttrs(payload);
  if (typeof list === "string") throw new Malformed(`${name}: ${list}`);
  return new Map(list.map((a: NlAttr) => [a.type, a.payload]));
}

// The kernel answers a GET with its NEW (dumps) or SET (config, info) command; a reply to
// the other of the pair is read the same way, as the attributes are.
function genlAttrs(payload: Uint8Array, cmds: readonly number[], cmdName: string): Attrs {
  if (payload.length < GENL_HDRLEN) {
    throw new Malformed(`genlmsghdr: ${payload.length} bytes < ${GENL_HDRLEN}`);
  }
  if (!cmds.includes(payload[0])) throw new Malformed(`command ${payload[0]}, want ${cmdName}`);
  return attrsOf(payload.subarray(GENL_HDRLEN), "attributes");
}

function need<T>(
  a: Attrs,
  type: number,
  name: string,
  read: (p: Uint8Array) => T | undefined,
): T {
  const p = a.get(type);
  if (p === undefined) throw new Malformed(`${name} missing`);
  const v = read(p);
  if (v === undefined) throw new Malformed(`${name}: ${p.length} bytes is too short`);
  return v;
}

function optional<T>(
  a: Attrs,
  type: number,
  name: string,
  read: (p: Uint8Array) => T | undefined,
): T | undefined {
  return a.has(type) ? need(a, type, name, read) : undefined;
}

function readAf(p: Uint8Array): IpvsAf | undefined {
  const v = readU16(p);
  if (v === undefined) return undefined;
  if (v !== AF_INET && v !== AF_INET6) throw new Malformed(`address family ${v} is not IPv4/6`);
  return v;
}

function readAddr(af: IpvsAf, name: string): (p: Uint8Array) => string | undefined {
  const n = af === AF_INET ? 4 : 16;
  return (p) => {
    if (p.length < n) throw new Malformed(`${name}: ${p.length} bytes, want ${n}`);
    return formatIp(p.subarray(0, n));
  };
}

function readStats(nest: Uint8Array, wide: boolean, name: string): IpvsStats {
  const a = attrsOf(nest, name);
  // The 32-bit nest carries the byte counters as u64 too.
  const u = (type: number, field: string, always64 = false) => {
    const read = wide || always64 ? readU64 : (p: Uint8Array) => {
      const v = readU32(p);
      return v === undefined ? undefined : BigInt(v);
    };
    return optional(a, type, `${name}.${field}`, read) ?? 0n;
  };
  return {
    conns: u(IPVS_STATS_ATTR_CONNS, "CONNS"),
    inpkts: u(IPVS_STATS_ATTR_INPKTS, "INPKTS"),
    outpkts: u(IPVS_STATS_ATTR_OUTPKTS, "OUTPKTS"),
    inbytes: u(IPVS_STATS_ATTR_INBYTES, "INBYTES", true),
    outbytes: u(IPVS_STATS_ATTR_OUTBYTES, "OUTBYTES", true),
    cps: u(IPVS_STATS_ATTR_CPS, "CPS"),
    inpps: u(IPVS_STATS_ATTR_INPPS, "INPPS"),
    outpps: u(IPVS_STATS_ATTR_OUTPPS, "OUTPPS"),
    inbps: u(IPVS_STATS_ATTR_INBPS, "INBPS"),
    outbps: u(IPVS_STATS_ATTR_OUTBPS, "OUTBPS"),
  };
}

function statsOf(
  a: Attrs,
  stats64: number,
  stats32: number,
  prefix: string,
): IpvsStats | undefined {
  const wide = a.get(stats64);
  if (wide !== undefined) return readStats(wide, true, `${prefix}_STATS64`);
  const narrow = a.get(stats32);
  return narrow === undefined ? undefined : readStats(narrow, false, `${prefix}_STATS`);
}

/**
 * A service with the counters the kernel reports for it (the model's service has none).
 *
 * @example
 * ```ts
 * const d: DecodedService = { service, stats: undefined };
 * ```
 */
export interface DecodedService {
  readonly service: IpvsService;
  readonly stats?: IpvsStats;
}

function serviceFrom(a: Attrs): DecodedService {
  const af = need(a, IPVS_SVC_ATTR_AF, "IPVS_SVC_ATTR_AF", readAf);
  const fwmark = optional(a, IPVS_SVC_ATTR_FWMARK, "IPVS_SVC_ATTR_FWMARK", readU32) ?? 0;
  const any = af === AF_INET ? "0.0.0.0" : "::";
  const byAddress = fwmark === 0;
  const protocol = byAddress
    ? need(a, IPVS_SVC_ATTR_PROTOCOL, "IPVS_SVC_ATTR_PROTOCOL", readU16) as IpvsProtocol
    : 0;
  const address = byAddress
    ? need(a, IPVS_SVC_ATTR_ADDR, "IPVS_SVC_ATTR_ADDR", readAddr(af, "IPVS_SVC_ATTR_ADDR"))
    : any;
  const port = byAddress ? need(a, IPVS_SVC_ATTR_PORT, "IPVS_SVC_ATTR_PORT", readBe16) : 0;
  const flagsPayload = need(a, IPVS_SVC_ATTR_FLAGS, "IPVS_SVC_ATTR_FLAGS", (p) => p);
  if (flagsPayload.length !== 8) {
    throw new Malformed(`IPVS_SVC_ATTR_FLAGS: ${flagsPayload.length} bytes, want 8`);
  }
  const rawMask = need(
    a,
    IPVS_SVC_ATTR_NETMASK,
    "IPVS_SVC_ATTR_NETMASK",
    (p) => af === AF_INET ? readBe32(p) : readU32(p),
  );
  const netmask = netmaskFromKernel(af, rawMask);
  if (netmask === null) throw new Malformed(`IPVS_SVC_ATTR_NETMASK: ${rawMask} is no prefix`);
  const pe = optional(a, IPVS_SVC_ATTR_PE_NAME, "IPVS_SVC_ATTR_PE_NAME", readString);
  return {
    service: {
      af,
      protocol,
      address,
      port,
      fwmark,
      scheduler: need(a, IPVS_SVC_ATTR_SCHED_NAME, "IPVS_SVC_ATTR_SCHED_NAME", readString),
      flags: readU32(flagsPayload) ?? 0,
      timeoutS: need(a, IPVS_SVC_ATTR_TIMEOUT, "IPVS_SVC_ATTR_TIMEOUT", readU32),
      netmask,
      persistenceEngine: pe ? pe : null,
    },
    stats: statsOf(a, IPVS_SVC_ATTR_STATS64, IPVS_SVC_ATTR_STATS, "IPVS_SVC_ATTR"),
  };
}

/**
 * One part of a GET_SERVICE reply or dump (`IPVS_CMD_NEW_SERVICE` or `SET_SERVICE`
 * payload, the bytes after the nlmsghdr), or why it cannot be read. The flags are the
 * kernel's, HASHED included.
 *
 * @example
 * ```ts
 * const r = decodeService(payload);
 * if (typeof r !== "string") console.log(r.service.scheduler);
 * ```
 */
export function decodeService(payload: Uint8Array): DecodedService | string {
  return decoding("IPVS service", () => {
    const top = genlAttrs(
      payload,
      [IPVS_CMD_NEW_SERVICE, IPVS_CMD_SET_SERVICE],
      "IPVS_CMD_NEW_SERVICE",
    );
    const nest = need(top, IPVS_CMD_ATTR_SERVICE, "IPVS_CMD_ATTR_SERVICE", (p) => p);
    return serviceFrom(attrsOf(nest, "IPVS_CMD_ATTR_SERVICE"));
  });
}

/**
 * One attribute nest read in place: each type's payload offset and length in one view
 * of the message, the last of a repeated type winning (as the kernel's nla_parse). A
 * dump of 10,000 destinations read through a Map of sub-arrays and a DataView per value
 * cost ~1 s of a small guest's CPU at every periodic comparison.
 */
class Nest {
  readonly #dv: DataView;
  readonly #base: number;
  /** Each type's payload offset (-1: absent), then each type's payload length. */
  readonly #ix: Int32Array;

  /**
   * The attributes of `buf` (a nest's payload); types past {@link NEST_TYPES} are
   * skipped. Its index comes from {@link nestIndexes}: valid until the next
   * {@link beginNests}, so a nest must not outlive the decode that read it.
   */
  constructor(buf: Uint8Array, name: string) {
    this.#dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.#base = buf.byteOffset;
    const ix = this.#ix = nestIndexes[nestsInUse] ??= new Int32Array(2 * NEST_TYPES);
    nestsInUse++;
    ix.fill(-1, 0, NEST_TYPES);
    ix.fill(0, NEST_TYPES);
    let off = 0;
    while (off + NLA_HDRLEN <= buf.length) {
      const len = this.#dv.getUint16(off, true);
      const type = this.#dv.getUint16(off + 2, true) & NLA_TYPE_MASK;
      if (len < NLA_HDRLEN) {
        throw new Malformed(`${name}: attribute at +${off} has length ${len} < ${NLA_HDRLEN}`);
      }
      if (off + len > buf.length) {
        throw new Malformed(
          `${name}: attribute ${type} at +${off} runs past the message (${len} > ${
            buf.length - off
          })`,
        );
      }
      if (type < NEST_TYPES) {
        this.#ix[type] = off + NLA_HDRLEN;
        this.#ix[NEST_TYPES + type] = len - NLA_HDRLEN;
      }
      off += (len + NLA_ALIGNTO - 1) & ~(NLA_ALIGNTO - 1);
    }
    if (off < buf.length && buf.length - off >= NLA_HDRLEN) {
      throw new Malformed(`${name}: stray ${buf.length - off} bytes after attributes`);
    }
  }

  /** The payload length of `type` (0 when absent). */
  #length(type: number): number {
    return this.#ix[NEST_TYPES + type];
  }

  has(type: number): boolean {
    return this.#ix[type] >= 0;
  }

  /** The payload offset of `type`, at least `size` bytes long; undefined when absent. */
  #at(type: number, name: string, size: number, required: boolean): number | undefined {
    const at = this.#ix[type];
    if (at < 0) {
      if (required) throw new Malformed(`${name} missing`);
      return undefined;
    }
    if (this.#length(type) < size) {
      throw new Malformed(`${name}: ${this.#length(type)} bytes is too short`);
    }
    return at;
  }

  u8(type: number, name: string, required = true): number | undefined {
    const at = this.#at(type, name, 1, required);
    return at === undefined ? undefined : this.#dv.getUint8(at);
  }

  u16(type: number, name: string, required = true, be = false): number | undefined {
    const at = this.#at(type, name, 2, required);
    return at === undefined ? undefined : this.#dv.getUint16(at, !be);
  }

  u32(type: number, name: string, required = true): number | undefined {
    const at = this.#at(type, name, 4, required);
    return at === undefined ? undefined : this.#dv.getUint32(at, true);
  }

  /** Zero is the one shared `0n`: most of an idle table's counters and rates are. */
  u64(type: number, name: string): bigint | undefined {
    const at = this.#at(type, name, 8, false);
    if (at === undefined) return undefined;
    const dv = this.#dv;
    return dv.getUint32(at, true) === 0 && dv.getUint32(at + 4, true) === 0
      ? 0n
      : dv.getBigUint64(at, true);
  }

  /** An address of `af`: IPv4 ones (all but a few) formatted from one u32, cached. */
  address(type: number, name: string, af: IpvsAf): string {
    const n = af === AF_INET ? 4 : 16;
    const at = this.#ix[type];
    if (at < 0) throw new Malformed(`${name} missing`);
    if (this.#length(type) < n) {
      throw new Malformed(`${name}: ${this.#length(type)} bytes, want ${n}`);
    }
    if (n === 16) {
      return formatIp(new Uint8Array(this.#dv.buffer, this.#base + at, 16));
    }
    const key = this.#dv.getUint32(at, false);
    let text = ipv4Texts.get(key);
    if (text === undefined) {
      text = `${key >>> 24}.${(key >>> 16) & 0xff}.${(key >>> 8) & 0xff}.${key & 0xff}`;
      if (ipv4Texts.size >= IPV4_TEXTS_MAX) ipv4Texts.clear();
      ipv4Texts.set(key, text);
    }
    return text;
  }

  nest(type: number, name: string): Nest | undefined {
    const at = this.#ix[type];
    if (at < 0) return undefined;
    return new Nest(
      new Uint8Array(this.#dv.buffer, this.#base + at, this.#length(type)),
      name,
    );
  }
}

/** Attribute types a {@link Nest} indexes: every destination and stats attribute. */
const NEST_TYPES = 32;

/**
 * The nests' offset and length tables, reused by every decode: a dump of 10,000
 * destinations made three nests each, and each table of its own was an ArrayBuffer
 * (128 bytes, past V8's on-heap size) with malloc'd memory and a finalizer: 60,000 a
 * dump, paid in page faults where those are dear (~0.2 ms each in the IPVS guest).
 */
const nestIndexes: Int32Array[] = [];
/** Tables of {@link nestIndexes} the current decode holds. */
let nestsInUse = 0;

/** Starts a decode: the nests of the one before are done with. */
function beginNests(): void {
  nestsInUse = 0;
}
/** Dotted quads by address: a dump names the same few real servers thousands of times. */
const ipv4Texts = new Map<number, string>();
const IPV4_TEXTS_MAX = 4096;

function nestStats(n: Nest, wide: boolean, name: string): IpvsStats {
  // The 32-bit nest carries the byte counters as u64 too.
  const u = (type: number, field: string, always64 = false): bigint => {
    if (wide || always64) return n.u64(type, `${name}.${field}`) ?? 0n;
    const v = n.u32(type, `${name}.${field}`, false);
    return v === undefined || v === 0 ? 0n : BigInt(v);
  };
  return {
    conns: u(IPVS_STATS_ATTR_CONNS, "CONNS"),
    inpkts: u(IPVS_STATS_ATTR_INPKTS, "INPKTS"),
    outpkts: u(IPVS_STATS_ATTR_OUTPKTS, "OUTPKTS"),
    inbytes: u(IPVS_STATS_ATTR_INBYTES, "INBYTES", true),
    outbytes: u(IPVS_STATS_ATTR_OUTBYTES, "OUTBYTES", true),
    cps: u(IPVS_STATS_ATTR_CPS, "CPS"),
    inpps: u(IPVS_STATS_ATTR_INPPS, "INPPS"),
    outpps: u(IPVS_STATS_ATTR_OUTPPS, "OUTPPS"),
    inbps: u(IPVS_STATS_ATTR_INBPS, "INBPS"),
    outbps: u(IPVS_STATS_ATTR_OUTBPS, "OUTBPS"),
  };
}

function destFrom(n: Nest, serviceAf: IpvsAf): IpvsDest {
  let af = serviceAf;
  if (n.has(IPVS_DEST_ATTR_ADDR_FAMILY)) {
    const v = n.u16(IPVS_DEST_ATTR_ADDR_FAMILY, "IPVS_DEST_ATTR_ADDR_FAMILY")!;
    if (v !== AF_INET && v !== AF_INET6) throw new Malformed(`address family ${v} is not IPv4/6`);
    af = v;
  }
  const u32 = (type: number, name: string) => n.u32(type, name)!;
  const wide = n.nest(IPVS_DEST_ATTR_STATS64, "IPVS_DEST_ATTR_STATS64");
  const narrow = wide === undefined
    ? n.nest(IPVS_DEST_ATTR_STATS, "IPVS_DEST_ATTR_STATS")
    : undefined;
  const stats = wide !== undefined
    ? nestStats(wide, true, "IPVS_DEST_ATTR_STATS64")
    : narrow !== undefined
    ? nestStats(narrow, false, "IPVS_DEST_ATTR_STATS")
    : undefined;
  const d: IpvsDest = {
    af,
    address: n.address(IPVS_DEST_ATTR_ADDR, "IPVS_DEST_ATTR_ADDR", af),
    port: n.u16(IPVS_DEST_ATTR_PORT, "IPVS_DEST_ATTR_PORT", true, true)!,
    forward: (u32(IPVS_DEST_ATTR_FWD_METHOD, "IPVS_DEST_ATTR_FWD_METHOD") &
      IP_VS_CONN_F_FWD_MASK) as IpvsForward,
    weight: u32(IPVS_DEST_ATTR_WEIGHT, "IPVS_DEST_ATTR_WEIGHT"),
    uThreshold: u32(IPVS_DEST_ATTR_U_THRESH, "IPVS_DEST_ATTR_U_THRESH"),
    lThreshold: u32(IPVS_DEST_ATTR_L_THRESH, "IPVS_DEST_ATTR_L_THRESH"),
    tunnelType: (n.u8(IPVS_DEST_ATTR_TUN_TYPE, "IPVS_DEST_ATTR_TUN_TYPE", false) ??
      0) as IpvsTunnelType,
    tunnelPort: n.u16(IPVS_DEST_ATTR_TUN_PORT, "IPVS_DEST_ATTR_TUN_PORT", false, true) ?? 0,
    tunnelFlags: n.u16(IPVS_DEST_ATTR_TUN_FLAGS, "IPVS_DEST_ATTR_TUN_FLAGS", false) ?? 0,
    activeConns: n.u32(IPVS_DEST_ATTR_ACTIVE_CONNS, "IPVS_DEST_ATTR_ACTIVE_CONNS", false),
    inactConns: n.u32(IPVS_DEST_ATTR_INACT_CONNS, "IPVS_DEST_ATTR_INACT_CONNS", false),
    persistConns: n.u32(IPVS_DEST_ATTR_PERSIST_CONNS, "IPVS_DEST_ATTR_PERSIST_CONNS", false),
  };
  return stats === undefined ? d : { ...d, stats };
}

/**
 * One part of a GET_DEST dump (an `IPVS_CMD_NEW_DEST` payload), or why it cannot be read.
 * `serviceAf` is the family of the service asked about: the kernel names a real server's
 * own family only in `IPVS_DEST_ATTR_ADDR_FAMILY`, which older kernels leave out.
 *
 * @example
 * ```ts
 * const d = decodeDest(payload, AF_INET);
 * ```
 */
export function decodeDest(payload: Uint8Array, serviceAf: IpvsAf): IpvsDest | string {
  return decoding("IPVS destination", () => {
    if (payload.length < GENL_HDRLEN) {
      throw new Malformed(`genlmsghdr: ${payload.length} bytes < ${GENL_HDRLEN}`);
    }
    if (payload[0] !== IPVS_CMD_NEW_DEST && payload[0] !== IPVS_CMD_SET_DEST) {
      throw new Malformed(`command ${payload[0]}, want IPVS_CMD_NEW_DEST`);
    }
    beginNests();
    const top = new Nest(payload.subarray(GENL_HDRLEN), "attributes");
    const nest = top.nest(IPVS_CMD_ATTR_DEST, "IPVS_CMD_ATTR_DEST");
    if (nest === undefined) throw new Malformed("IPVS_CMD_ATTR_DEST missing");
    return destFrom(nest, serviceAf);
  });
}

/**
 * The GET_CONFIG reply (an `IPVS_CMD_SET_CONFIG` payload): the timeouts.
 *
 * @example
 * ```ts
 * decodeConfig(payload); // { tcpS: 900, tcpFinS: 120, udpS: 300 }
 * ```
 */
export function decodeConfig(payload: Uint8Array): IpvsTimeouts | string {
  return decoding("IPVS config", () => {
    const a = genlAttrs(payload, [IPVS_CMD_SET_CONFIG], "IPVS_CMD_SET_CONFIG");
    return {
      tcpS: need(a, IPVS_CMD_ATTR_TIMEOUT_TCP, "IPVS_CMD_ATTR_TIMEOUT_TCP", readU32),
      tcpFinS: need(a, IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, "IPVS_CMD_ATTR_TIMEOUT_TCP_FIN", readU32),
      udpS: need(a, IPVS_CMD_ATTR_TIMEOUT_UDP, "IPVS_CMD_ATTR_TIMEOUT_UDP", readU32),
    };
  });
}

/** `IPVS_INFO_ATTR_VERSION`: u32 version, 0x00MMmmpp. */
export const IPVS_INFO_ATTR_VERSION = 1;
/** `IPVS_INFO_ATTR_CONN_TAB_SIZE`: u32 connection hash table size. */
export const IPVS_INFO_ATTR_CONN_TAB_SIZE = 2;

/**
 * The kernel's packed IPVS version as text.
 *
 * @example
 * ```ts
 * ipvsVersionText(0x010201); // "1.2.1"
 * ```
 */
export function ipvsVersionText(v: number): string {
  return `${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

/**
 * The GET_INFO reply (an `IPVS_CMD_SET_INFO` payload).
 *
 * @example
 * ```ts
 * decodeInfo(payload); // { version: "1.2.1", connTableSize: 4096 }
 * ```
 */
export function decodeInfo(payload: Uint8Array): IpvsInfo | string {
  return decoding("IPVS info", () => {
    const a = genlAttrs(payload, [IPVS_CMD_SET_INFO], "IPVS_CMD_SET_INFO");
    return {
      version: ipvsVersionText(need(a, IPVS_INFO_ATTR_VERSION, "IPVS_INFO_ATTR_VERSION", readU32)),
      connTableSize: need(
        a,
        IPVS_INFO_ATTR_CONN_TAB_SIZE,
        "IPVS_INFO_ATTR_CONN_TAB_SIZE",
        readU32,
      ),
    };
  });
}

/**
 * One part of a GET_DAEMON dump (an `IPVS_CMD_NEW_DAEMON` payload).
 *
 * @example
 * ```ts
 * decodeDaemon(payload); // { state: "master", ifname: "lo", syncId: 5 }
 * ```
 */
export function decodeDaemon(payload: Uint8Array): IpvsSyncDaemon | string {
  return decoding("IPVS sync daemon", () => {
    const top = genlAttrs(payload, [IPVS_CMD_NEW_DAEMON], "IPVS_CMD_NEW_DAEMON");
    const nest = need(top, IPVS_CMD_ATTR_DAEMON, "IPVS_CMD_ATTR_DAEMON", (p) => p);
    const a = attrsOf(nest, "IPVS_CMD_ATTR_DAEMON");
    const state = need(a, IPVS_DAEMON_ATTR_STATE, "IPVS_DAEMON_ATTR_STATE", readU32);
    if (state !== IP_VS_STATE_MASTER && state !== IP_VS_STATE_BACKUP) {
      throw new Malformed(`IPVS_DAEMON_ATTR_STATE: ${state} is neither master nor backup`);
    }
    return {
      state: state === IP_VS_STATE_MASTER ? "master" : "backup",
      ifname: need(a, IPVS_DAEMON_ATTR_MCAST_IFN, "IPVS_DAEMON_ATTR_MCAST_IFN", readString),
      syncId: need(a, IPVS_DAEMON_ATTR_SYNC_ID, "IPVS_DAEMON_ATTR_SYNC_ID", readU32),
    };
  });
}
