/**
 * The rtnetlink codec: builds the requests hacore sends (address, route and link
 * changes, dumps) and decodes what the kernel sends back (addresses, links, routes), as
 * pure functions over bytes, on the shared message layer (message.ts). No sockets here;
 * rtnl.ts does the I/O through connection.ts.
 *
 * After the 16-byte nlmsghdr each rtnetlink message carries its family header
 * (ifaddrmsg 8 bytes, ifinfomsg 16, rtmsg 12), then attributes (see message.ts).
 *
 * Builders lay attributes out in the order iproute2 does, so tests can compare their
 * output byte for byte with what `ip` sends. {@link parseRtnlMessages} never throws:
 * anything it cannot read becomes a `malformed` item naming the offset and the reason.
 *
 * @module
 */

import { formatIp } from "../../net/addr.ts";
import { parseMac } from "../../net/ether.ts";
import { ipBytes, type IpInput } from "../../net/ip_bytes.ts";
import { AF_INET, AF_INET6, AF_PACKET, AF_UNSPEC } from "../constants.ts";
import {
  FIB_RULE_HDR_LEN,
  FRA_DST,
  FRA_FWMARK,
  FRA_FWMASK,
  FRA_GOTO,
  FRA_IIFNAME,
  FRA_OIFNAME,
  FRA_PRIORITY,
  FRA_PROTOCOL,
  FRA_SRC,
  FRA_TABLE,
  IFA_ADDRESS,
  IFA_BROADCAST,
  IFA_CACHEINFO,
  IFA_FLAGS,
  IFA_LABEL,
  IFA_LOCAL,
  IFA_PROTO,
  IFA_PROTO_HACORE,
  IFADDRMSG_LEN,
  IFF_UP,
  IFINFOMSG_LEN,
  IFLA_ADDRESS,
  IFLA_CARRIER,
  IFLA_EXT_MASK,
  IFLA_IFALIAS,
  IFLA_IFNAME,
  IFLA_INFO_DATA,
  IFLA_INFO_KIND,
  IFLA_LINK,
  IFLA_LINKINFO,
  IFLA_MACVLAN_MODE,
  IFLA_MASTER,
  IFLA_MTU,
  IFLA_OPERSTATE,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  RT_TABLE_UNSPEC,
  RTA_DST,
  RTA_GATEWAY,
  RTA_OIF,
  RTA_PREFSRC,
  RTA_PRIORITY,
  RTA_SRC,
  RTA_TABLE,
  RTEXT_FILTER_SKIP_STATS,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELROUTE,
  RTM_DELRULE,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTM_GETRULE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTM_NEWRULE,
  RTMSG_LEN,
} from "./constants.ts";

import {
  attrBytes,
  attrString,
  attrU32,
  attrU8,
  concatBytes,
  type DoneMessage,
  encodeNlMessage,
  type ErrorMessage,
  type MalformedMessage,
  type NetlinkMessage,
  type NlAttr,
  type NlHeader,
  type OverrunMessage,
  parseAttrs,
  parseMessages,
  readString,
} from "./message.ts";

export * from "./constants.ts";
// The message layer's pieces rtnetlink callers use, so one import serves them.
export {
  concatBytes,
  decodeHeader,
  type DoneMessage,
  encodeAttr,
  type ErrorMessage,
  type MalformedMessage,
  nlAlign,
  type NlAttr,
  type NlHeader,
  type OverrunMessage,
  parseAttrs,
  withSeqPid,
} from "./message.ts";

// ---------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------

/**
 * An address (RTM_NEWADDR / RTM_DELADDR) as the kernel reported it.
 *
 * @example
 * ```ts
 * if (m.kind === "addr" && !m.deleted) console.log(`${m.address}/${m.prefixLen} on #${m.index}`);
 * ```
 */
export interface AddrMessage {
  /** Discriminant. */
  kind: "addr";
  /** The netlink header. */
  header: NlHeader;
  /** True for RTM_DELADDR. */
  deleted: boolean;
  /** AF_INET or AF_INET6. */
  family: number;
  /** Prefix length. */
  prefixLen: number;
  /** IFA_FLAGS when present (all 32 bits), else the 8-bit ifa_flags. */
  flags: number;
  /** RT_SCOPE_*. */
  scope: number;
  /** Interface index. */
  index: number;
  /** IFA_ADDRESS as text (the prefix address; the peer on point-to-point links). */
  address?: string;
  /** IFA_LOCAL as text (IPv4; IPv6 reports only IFA_ADDRESS). */
  local?: string;
  /** IFA_BROADCAST as text. */
  broadcast?: string;
  /** IFA_LABEL (IPv4 only). */
  label?: string;
  /** IFA_PROTO (Linux ≥ 6.1), absent when unset or unsupported. */
  proto?: number;
  /** From IFA_CACHEINFO, seconds; 0xffffffff is "forever". */
  validLifetime?: number;
  /** From IFA_CACHEINFO, seconds; 0xffffffff is "forever". */
  preferredLifetime?: number;
}

/**
 * A link (RTM_NEWLINK / RTM_DELLINK).
 *
 * @example
 * ```ts
 * const carrier = (m.flags & IFF_LOWER_UP) !== 0;
 * ```
 */
export interface LinkMessage {
  /** Discriminant. */
  kind: "link";
  /** The netlink header. */
  header: NlHeader;
  /** True for RTM_DELLINK. */
  deleted: boolean;
  /** ifi_family (AF_UNSPEC for most links). */
  family: number;
  /** ifi_type: ARPHRD_*. */
  linkType: number;
  /** Interface index. */
  index: number;
  /** IFF_* flags: IFF_UP, IFF_RUNNING, IFF_LOWER_UP, …. */
  flags: number;
  /** ifi_change: which flags changed (notifications). */
  change: number;
  /** IFLA_IFNAME. */
  name?: string;
  /** IFLA_MTU. */
  mtu?: number;
  /** IFLA_OPERSTATE: IF_OPER_*. */
  operstate?: number;
  /** IFLA_ADDRESS as `aa:bb:cc:dd:ee:ff`. */
  mac?: string;
  /** IFLA_LINK: the lower device (veth peer, vlan parent). */
  link?: number;
  /** IFLA_MASTER: the bridge or bond holding this link. */
  master?: number;
  /** IFLA_CARRIER. */
  carrier?: boolean;
  /** IFLA_INFO_KIND: "veth", "bridge", …. */
  linkKind?: string;
  /** IFLA_MACVLAN_MODE (MACVLAN_MODE_*), for a macvlan. */
  macvlanMode?: number;
  /** IFLA_IFALIAS: the link's free-text alias. */
  alias?: string;
}

/**
 * A route (RTM_NEWROUTE / RTM_DELROUTE).
 *
 * @example
 * ```ts
 * const ours = m.kind === "route" && m.protocol === RTPROT_HACORE;
 * ```
 */
export interface RouteMessage {
  /** Discriminant. */
  kind: "route";
  /** The netlink header. */
  header: NlHeader;
  /** True for RTM_DELROUTE. */
  deleted: boolean;
  /** rtm_family. */
  family: number;
  /** rtm_dst_len. */
  dstLen: number;
  /** rtm_src_len. */
  srcLen: number;
  /** rtm_tos. */
  tos: number;
  /** RTA_TABLE when present (full 32 bits), else rtm_table. */
  table: number;
  /** rtm_protocol: RTPROT_*. */
  protocol: number;
  /** rtm_scope: RT_SCOPE_*. */
  scope: number;
  /** rtm_type: RTN_*. */
  type: number;
  /** rtm_flags. */
  flags: number;
  /** RTA_DST as text. */
  dst?: string;
  /** RTA_SRC as text. */
  src?: string;
  /** RTA_GATEWAY as text. */
  gateway?: string;
  /** RTA_OIF. */
  oif?: number;
  /** RTA_PRIORITY (metric). */
  priority?: number;
  /** RTA_PREFSRC as text. */
  prefsrc?: string;
}

/**
 * A policy routing rule (RTM_NEWRULE / RTM_DELRULE), as `ip rule` shows it.
 *
 * @example
 * ```ts
 * const ours = m.kind === "rule" && m.protocol === RTPROT_HACORE;
 * ```
 */
export interface RuleMessage {
  /** Discriminant. */
  kind: "rule";
  /** The netlink header. */
  header: NlHeader;
  /** True for RTM_DELRULE. */
  deleted: boolean;
  /** family. */
  family: number;
  /** dst_len. */
  dstLen: number;
  /** src_len. */
  srcLen: number;
  /** tos. */
  tos: number;
  /** FRA_TABLE when present (full 32 bits), else the header's table. */
  table: number;
  /** FR_ACT_*. */
  action: number;
  /** Header flags (FIB_RULE_INVERT ...). */
  flags: number;
  /** FRA_DST as text. */
  dst?: string;
  /** FRA_SRC as text. */
  src?: string;
  /** FRA_IIFNAME. */
  iifname?: string;
  /** FRA_OIFNAME. */
  oifname?: string;
  /** FRA_FWMARK. */
  fwmark?: number;
  /** FRA_FWMASK. */
  fwmask?: number;
  /** FRA_PRIORITY. */
  priority?: number;
  /** FRA_GOTO. */
  goto?: number;
  /** FRA_PROTOCOL (RTPROT_*; absent before Linux 4.17). */
  protocol?: number;
}

/**
 * A well-formed message of a type this codec does not decode (NLMSG_NOOP, neighbours, …).
 *
 * @example
 * ```ts
 * if (m.kind === "other") log.debug(`skipped type ${m.header.type}`);
 * ```
 */
export interface OtherMessage {
  /** Discriminant. */
  kind: "other";
  /** The netlink header. */
  header: NlHeader;
  /** The undecoded body (a copy). */
  body: Uint8Array;
}

/**
 * Everything {@link parseRtnlMessages} can return: the message layer's control items,
 * and rtnetlink messages decoded.
 *
 * @example
 * ```ts
 * const links = parseRtnlMessages(buf).filter((m) => m.kind === "link");
 * ```
 */
export type RtnlMessage =
  | AddrMessage
  | LinkMessage
  | RouteMessage
  | RuleMessage
  | ErrorMessage
  | DoneMessage
  | OverrunMessage
  | OtherMessage
  | MalformedMessage;

/**
 * Header fields a builder lets the caller set.
 *
 * @example
 * ```ts
 * buildGetAddrDump(AF_INET, { seq: 12 } satisfies BuildOptions);
 * ```
 */
export interface BuildOptions {
  /** nlmsg_seq; 0 when omitted. */
  seq?: number;
  /** nlmsg_pid; 0 (from user space: "let the kernel fill it") when omitted. */
  pid?: number;
  /** nlmsg_flags, replacing the builder's default. */
  flags?: number;
}

// ---------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------

/**
 * One rtnetlink message under construction: the family header field by field, then
 * attributes from message.ts's encoders; {@link encodeNlMessage} adds the nlmsghdr.
 */
class MessageWriter {
  #buf = new Uint8Array(128);
  #dv = new DataView(this.#buf.buffer);
  #len = 0;
  #type: number;
  #flags: number;
  #opts: BuildOptions;

  constructor(type: number, flags: number, opts: BuildOptions) {
    this.#type = type;
    this.#flags = opts.flags ?? flags;
    this.#opts = opts;
  }

  #grow(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + n));
    next.set(this.#buf);
    this.#buf = next;
    this.#dv = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.#grow(1);
    this.#dv.setUint8(this.#len, v);
    this.#len += 1;
  }

  u16(v: number): void {
    this.#grow(2);
    this.#dv.setUint16(this.#len, v, true);
    this.#len += 2;
  }

  u32(v: number): void {
    this.#grow(4);
    this.#dv.setUint32(this.#len, v >>> 0, true);
    this.#len += 4;
  }

  i32(v: number): void {
    this.#grow(4);
    this.#dv.setInt32(this.#len, v, true);
    this.#len += 4;
  }

  bytes(b: Uint8Array): void {
    this.#grow(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
  }

  attr(type: number, payload: Uint8Array): void {
    this.bytes(attrBytes(type, payload));
  }

  attrU8(type: number, v: number): void {
    this.bytes(attrU8(type, v));
  }

  attrU32(type: number, v: number): void {
    this.bytes(attrU32(type, v));
  }

  attrString(type: number, s: string): void {
    this.bytes(attrString(type, s));
  }

  finish(): Uint8Array {
    const body = this.#buf.subarray(0, this.#len);
    return encodeNlMessage(this.#type, this.#flags, body, this.#opts.seq, this.#opts.pid);
  }
}

// ---------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------

/**
 * What an address request names.
 *
 * @example
 * ```ts
 * const spec: AddrSpec = { index: 3, family: AF_INET, prefixLen: 24, address: "192.0.2.1" };
 * ```
 */
export interface AddrSpec {
  /** Interface index. */
  index: number;
  /** AF_INET or AF_INET6. */
  family: number;
  /** Prefix length. */
  prefixLen: number;
  /** The address (IFA_ADDRESS; also IFA_LOCAL unless `local` is given). */
  address: IpInput;
  /** IFA_LOCAL when it differs from `address` (point-to-point peers). */
  local?: IpInput;
  /** IFA_BROADCAST (IPv4); see {@link broadcastOf}. */
  broadcast?: IpInput;
  /** IFA_LABEL (IPv4 only, at most 15 bytes). */
  label?: string;
  /** RT_SCOPE_*; universe (0) when omitted. */
  scope?: number;
  /** IFA_F_* flags; the low 8 bits go in ifa_flags, IFA_FLAGS is added when more are set. */
  flags?: number;
  /** IFA_PROTO; no attribute when omitted. */
  proto?: number;
}

function familyLength(family: number): 4 | 16 {
  if (family === AF_INET) return 4;
  if (family === AF_INET6) return 16;
  throw new RangeError(`family must be AF_INET or AF_INET6, got ${family}`);
}

function checkPrefix(prefixLen: number, len: 4 | 16): void {
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > len * 8) {
    throw new RangeError(`prefix length ${prefixLen} out of range for a ${len * 8}-bit address`);
  }
}

function addrBody(w: MessageWriter, spec: AddrSpec, withExtras: boolean): void {
  const len = familyLength(spec.family);
  checkPrefix(spec.prefixLen, len);
  const address = ipBytes(spec.address, len);
  const local = spec.local === undefined ? address : ipBytes(spec.local, len);
  const flags = spec.flags ?? 0;
  // struct ifaddrmsg
  w.u8(spec.family);
  w.u8(spec.prefixLen);
  w.u8(flags & 0xff);
  w.u8(spec.scope ?? 0);
  w.u32(spec.index);
  // iproute2's order: IFA_LOCAL, IFA_FLAGS, IFA_LABEL, IFA_ADDRESS, IFA_BROADCAST ("brd +").
  w.attr(IFA_LOCAL, local);
  if (flags > 0xff) w.attrU32(IFA_FLAGS, flags);
  if (spec.label !== undefined) {
    if (new TextEncoder().encode(spec.label).length > 15) {
      throw new RangeError(`label ${JSON.stringify(spec.label)} is longer than 15 bytes`);
    }
    w.attrString(IFA_LABEL, spec.label);
  }
  w.attr(IFA_ADDRESS, address);
  if (withExtras) {
    if (spec.broadcast !== undefined) w.attr(IFA_BROADCAST, ipBytes(spec.broadcast, 4));
    if (spec.proto !== undefined) w.attrU8(IFA_PROTO, spec.proto);
  }
}

/**
 * RTM_NEWADDR with NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, as
 * `ip addr add` sends it.
 *
 * @example
 * ```ts
 * const msg = buildNewAddr({
 *   index: 3, family: AF_INET, prefixLen: 24, address: "192.0.2.1",
 *   label: "eth0:hc", proto: IFA_PROTO_HACORE,
 * }, { seq: 7 });
 * ```
 * @throws {RangeError} on an address of the wrong family, a bad prefix or a long label.
 */
export function buildNewAddr(spec: AddrSpec, opts: BuildOptions = {}): Uint8Array {
  const w = new MessageWriter(
    RTM_NEWADDR,
    NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
    opts,
  );
  addrBody(w, spec, true);
  return w.finish();
}

/**
 * RTM_DELADDR with NLM_F_REQUEST | NLM_F_ACK, as `ip addr del` sends it. The kernel
 * matches on local address, prefix length and (when given) label.
 *
 * @example
 * ```ts
 * buildDelAddr({ index: 3, family: AF_INET, prefixLen: 24, address: "192.0.2.1" });
 * ```
 */
export function buildDelAddr(
  spec: Omit<AddrSpec, "broadcast" | "proto">,
  opts: BuildOptions = {},
): Uint8Array {
  const w = new MessageWriter(RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, opts);
  addrBody(w, spec, false);
  return w.finish();
}

/**
 * What a route request names.
 *
 * @example
 * ```ts
 * const spec: RouteSpec = {
 *   family: AF_INET, dst: "198.51.100.0", dstLen: 24, gateway: "192.0.2.1",
 *   table: RT_TABLE_MAIN, protocol: RTPROT_HACORE, scope: RT_SCOPE_UNIVERSE, type: RTN_UNICAST,
 * };
 * ```
 */
export interface RouteSpec {
  /** AF_INET or AF_INET6. */
  family: number;
  /** Destination prefix; omit (with dstLen 0) for a default route. */
  dst?: IpInput;
  /** Destination prefix length. */
  dstLen: number;
  /** Next hop; omit for an on-link route. */
  gateway?: IpInput;
  /** Outgoing interface index. */
  oif?: number;
  /** Table id; ids ≥ 256 travel in RTA_TABLE. */
  table: number;
  /** RTPROT_*. */
  protocol: number;
  /** RT_SCOPE_*. */
  scope: number;
  /** RTN_*. */
  type: number;
  /** RTA_PRIORITY (metric). */
  priority?: number;
  /** RTA_PREFSRC. */
  prefsrc?: IpInput;
}

function routeBody(w: MessageWriter, spec: RouteSpec): void {
  const len = familyLength(spec.family);
  checkPrefix(spec.dstLen, len);
  // struct rtmsg
  w.u8(spec.family);
  w.u8(spec.dstLen);
  w.u8(0); // src_len
  w.u8(0); // tos
  w.u8(spec.table < 256 ? spec.table : RT_TABLE_UNSPEC);
  w.u8(spec.protocol);
  w.u8(spec.scope);
  w.u8(spec.type);
  w.u32(0); // rtm_flags
  // iproute2 adds attributes in argument order and the device last; this is the order
  // of `ip route add DST src S via GW metric M table T dev D`.
  if (spec.dst !== undefined) w.attr(RTA_DST, ipBytes(spec.dst, len));
  else if (spec.dstLen !== 0) throw new RangeError("dstLen without dst");
  if (spec.prefsrc !== undefined) w.attr(RTA_PREFSRC, ipBytes(spec.prefsrc, len));
  if (spec.gateway !== undefined) w.attr(RTA_GATEWAY, ipBytes(spec.gateway, len));
  if (spec.priority !== undefined) w.attrU32(RTA_PRIORITY, spec.priority);
  if (spec.table >= 256) w.attrU32(RTA_TABLE, spec.table);
  if (spec.oif !== undefined) w.attrU32(RTA_OIF, spec.oif);
}

/**
 * RTM_NEWROUTE with NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL.
 *
 * @example
 * ```ts
 * buildNewRoute({
 *   family: AF_INET, dst: "198.51.100.0", dstLen: 24, gateway: "192.0.2.1", oif: 3,
 *   table: RT_TABLE_MAIN, protocol: RTPROT_HACORE, scope: RT_SCOPE_UNIVERSE, type: RTN_UNICAST,
 * });
 * ```
 */
export function buildNewRoute(spec: RouteSpec, opts: BuildOptions = {}): Uint8Array {
  const w = new MessageWriter(
    RTM_NEWROUTE,
    NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
    opts,
  );
  routeBody(w, spec);
  return w.finish();
}

/**
 * RTM_DELROUTE with NLM_F_REQUEST | NLM_F_ACK. Zero protocol and type and scope
 * RT_SCOPE_NOWHERE match anything, as `ip route del` does.
 *
 * @example
 * ```ts
 * buildDelRoute({
 *   family: AF_INET, dst: "198.51.100.0", dstLen: 24, oif: 3, table: RT_TABLE_MAIN,
 *   protocol: RTPROT_HACORE, scope: RT_SCOPE_NOWHERE, type: RTN_UNSPEC,
 * });
 * ```
 */
export function buildDelRoute(spec: RouteSpec, opts: BuildOptions = {}): Uint8Array {
  const w = new MessageWriter(RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, opts);
  routeBody(w, spec);
  return w.finish();
}

/**
 * What a rule request names; the fields of `ip rule add|del`.
 *
 * @example
 * ```ts
 * const spec: RuleSpec = {
 *   family: AF_INET, src: "10.0.0.0", srcLen: 24, priority: 100, table: 200,
 *   action: FR_ACT_TO_TBL, protocol: RTPROT_HACORE,
 * };
 * ```
 */
export interface RuleSpec {
  /** AF_INET or AF_INET6. */
  family: number;
  /** Source prefix (`from`); omit for any. */
  src?: IpInput;
  /** Its length; 0 with no src. */
  srcLen?: number;
  /** Destination prefix (`to`); omit for any. */
  dst?: IpInput;
  /** Its length; 0 with no dst. */
  dstLen?: number;
  /** `tos`. */
  tos?: number;
  /** `iif`: input interface name. */
  iifname?: string;
  /** `oif`: output interface name. */
  oifname?: string;
  /** `fwmark`. */
  fwmark?: number;
  /** The mask after `fwmark M/MASK`. */
  fwmask?: number;
  /** `priority` (`preference`, `order`); omit to let the kernel choose. */
  priority?: number;
  /** `table` (FR_ACT_TO_TBL); 0 for other actions. Ids ≥ 256 travel in FRA_TABLE. */
  table: number;
  /** FR_ACT_*. */
  action: number;
  /** FRA_PROTOCOL (RTPROT_*); omit for none (kernels before 4.17 refuse it). */
  protocol?: number;
  /** FRA_GOTO: the priority a goto rule jumps to. */
  goto?: number;
  /** FIB_RULE_INVERT for `not`. */
  flags?: number;
}

function ruleBody(w: MessageWriter, spec: RuleSpec): void {
  const len = familyLength(spec.family);
  const srcLen = spec.srcLen ?? (spec.src === undefined ? 0 : len * 8);
  const dstLen = spec.dstLen ?? (spec.dst === undefined ? 0 : len * 8);
  checkPrefix(srcLen, len);
  checkPrefix(dstLen, len);
  if (spec.src === undefined && srcLen !== 0) throw new RangeError("srcLen without src");
  if (spec.dst === undefined && dstLen !== 0) throw new RangeError("dstLen without dst");
  // struct fib_rule_hdr
  w.u8(spec.family);
  w.u8(dstLen);
  w.u8(srcLen);
  w.u8(spec.tos ?? 0);
  w.u8(spec.table < 256 ? spec.table : RT_TABLE_UNSPEC);
  w.u8(0); // res1
  w.u8(0); // res2
  w.u8(spec.action);
  w.u32(spec.flags ?? 0);
  // The order of `ip rule add from S to D iif I oif O fwmark M/K priority P table T
  // protocol X`, as iproute2 sends it.
  if (spec.src !== undefined) w.attr(FRA_SRC, ipBytes(spec.src, len));
  if (spec.dst !== undefined) w.attr(FRA_DST, ipBytes(spec.dst, len));
  if (spec.iifname !== undefined) {
    checkIfname(spec.iifname);
    w.attrString(FRA_IIFNAME, spec.iifname);
  }
  if (spec.oifname !== undefined) {
    checkIfname(spec.oifname);
    w.attrString(FRA_OIFNAME, spec.oifname);
  }
  if (spec.fwmark !== undefined) w.attrU32(FRA_FWMARK, spec.fwmark);
  if (spec.fwmask !== undefined) w.attrU32(FRA_FWMASK, spec.fwmask);
  if (spec.priority !== undefined) w.attrU32(FRA_PRIORITY, spec.priority);
  if (spec.goto !== undefined) w.attrU32(FRA_GOTO, spec.goto);
  if (spec.table >= 256) w.attrU32(FRA_TABLE, spec.table);
  if (spec.protocol !== undefined) w.attrU8(FRA_PROTOCOL, spec.protocol);
}

/**
 * RTM_NEWRULE with NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, as `ip rule add`.
 *
 * @example
 * ```ts
 * buildNewRule({ family: AF_INET, src: "10.0.0.0", srcLen: 24, table: 200, action: FR_ACT_TO_TBL });
 * ```
 */
export function buildNewRule(spec: RuleSpec, opts: BuildOptions = {}): Uint8Array {
  const w = new MessageWriter(
    RTM_NEWRULE,
    NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
    opts,
  );
  ruleBody(w, spec);
  return w.finish();
}

/**
 * RTM_DELRULE with NLM_F_REQUEST | NLM_F_ACK, as `ip rule del`: the kernel deletes the
 * first rule every given selector matches (an unset one matches anything).
 *
 * @example
 * ```ts
 * buildDelRule({ family: AF_INET, priority: 100, table: 0, action: FR_ACT_UNSPEC });
 * ```
 */
export function buildDelRule(spec: RuleSpec, opts: BuildOptions = {}): Uint8Array {
  const w = new MessageWriter(RTM_DELRULE, NLM_F_REQUEST | NLM_F_ACK, opts);
  ruleBody(w, spec);
  return w.finish();
}

/**
 * RTM_GETRULE dump request for one family, as `ip rule show` sends it.
 *
 * @example
 * ```ts
 * buildGetRuleDump(AF_INET6);
 * ```
 */
export function buildGetRuleDump(family: number = AF_UNSPEC, opts: BuildOptions = {}): Uint8Array {
  const w = new MessageWriter(RTM_GETRULE, NLM_F_REQUEST | NLM_F_DUMP, opts);
  w.u8(family);
  for (let i = 1; i < FIB_RULE_HDR_LEN; i++) w.u8(0);
  return w.finish();
}

/**
 * RTM_GETADDR dump request for one family (AF_UNSPEC: all), as `ip addr show` sends it.
 *
 * @example
 * ```ts
 * buildGetAddrDump(AF_INET, { seq: 1 });
 * ```
 */
export function buildGetAddrDump(family: number = AF_UNSPEC, opts: BuildOptions = {}): Uint8Array {
  const w = new MessageWriter(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, opts);
  w.u8(family);
  w.u8(0);
  w.u8(0);
  w.u8(0);
  w.u32(0);
  return w.finish();
}

/**
 * Options of a link dump.
 *
 * @example
 * ```ts
 * buildGetLinkDump({ family: AF_PACKET, extMask: RTEXT_FILTER_VF } satisfies LinkDumpOptions);
 * ```
 */
export interface LinkDumpOptions extends BuildOptions {
  /** ifi_family; `ip link show` uses AF_PACKET. */
  family?: number;
  /** IFLA_EXT_MASK (RTEXT_FILTER_*); statistics are skipped unless asked for. */
  extMask?: number;
}

/**
 * RTM_GETLINK dump request.
 *
 * @example
 * ```ts
 * buildGetLinkDump({ seq: 2 });
 * ```
 */
export function buildGetLinkDump(opts: LinkDumpOptions = {}): Uint8Array {
  const w = new MessageWriter(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, opts);
  linkHeader(w, opts.family ?? AF_PACKET, 0);
  w.attrU32(IFLA_EXT_MASK, opts.extMask ?? RTEXT_FILTER_SKIP_STATS);
  return w.finish();
}

/**
 * RTM_GETLINK for one interface by index (answered by one RTM_NEWLINK or an error).
 *
 * @example
 * ```ts
 * buildGetLink(3, { seq: 9 });
 * ```
 */
export function buildGetLink(index: number, opts: BuildOptions = {}): Uint8Array {
  const w = new MessageWriter(RTM_GETLINK, NLM_F_REQUEST, opts);
  linkHeader(w, AF_UNSPEC, index);
  w.attrU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  return w.finish();
}

function linkHeader(w: MessageWriter, family: number, index: number): void {
  // struct ifinfomsg
  w.u8(family);
  w.u8(0);
  w.u16(0);
  w.i32(index);
  w.u32(0);
  w.u32(0);
}

/**
 * RTM_GETROUTE dump request for one family.
 *
 * @example
 * ```ts
 * buildGetRouteDump(AF_INET6);
 * ```
 */
export function buildGetRouteDump(
  family: number = AF_UNSPEC,
  opts: BuildOptions = {},
): Uint8Array {
  const w = new MessageWriter(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, opts);
  w.u8(family);
  for (let i = 1; i < RTMSG_LEN; i++) w.u8(0);
  return w.finish();
}

/** Longest interface name the kernel takes (IFNAMSIZ 16, less the NUL). */
const IFNAME_MAX_BYTES = 15;
/** Longest alias the kernel takes (IFALIASZ 256, less the NUL). */
const IFALIAS_MAX_BYTES = 255;

function checkIfname(name: string): void {
  const n = new TextEncoder().encode(name).length;
  if (n === 0 || n > IFNAME_MAX_BYTES || /[\s/:]/.test(name) || name === "." || name === "..") {
    throw new RangeError(
      `interface name ${
        JSON.stringify(name)
      } is not valid (1-${IFNAME_MAX_BYTES} bytes, no space, '/' or ':')`,
    );
  }
}

function macBytes(mac: string | Uint8Array): Uint8Array {
  const b = typeof mac === "string" ? parseMac(mac) : mac;
  if (b === null || b.length !== 6) {
    throw new RangeError(
      `MAC ${
        typeof mac === "string" ? JSON.stringify(mac) : `of ${mac.length} bytes`
      } is not 6 bytes`,
    );
  }
  return b;
}

/**
 * What a macvlan creation names.
 *
 * @example
 * ```ts
 * const spec: MacvlanSpec = { name: "vrrp.51", parentIndex: 3, mac: "00:00:5e:00:01:33", mode: MACVLAN_MODE_BRIDGE };
 * ```
 */
export interface MacvlanSpec {
  /** IFLA_IFNAME of the new link (1-15 bytes). */
  name: string;
  /** IFLA_LINK: index of the parent (lower) interface. */
  parentIndex: number;
  /** IFLA_ADDRESS: the macvlan's own MAC, `aa:bb:cc:dd:ee:ff` or 6 bytes. */
  mac: string | Uint8Array;
  /** IFLA_MACVLAN_MODE: one MACVLAN_MODE_*. */
  mode: number;
}

/**
 * RTM_NEWLINK creating a macvlan, with NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE |
 * NLM_F_EXCL, byte for byte what `ip link add link PARENT name NAME address MAC type
 * macvlan mode MODE` sends: IFLA_ADDRESS, IFLA_LINK, IFLA_IFNAME, then IFLA_LINKINFO
 * { IFLA_INFO_KIND "macvlan", IFLA_INFO_DATA { IFLA_MACVLAN_MODE } } (iproute2 sets no
 * NLA_F_NESTED flag on the nests, and the kernel does not ask for one). The link is
 * created down.
 *
 * @example
 * ```ts
 * buildNewMacvlan({ name: "vrrp.51", parentIndex: 3, mac: "00:00:5e:00:01:33", mode: MACVLAN_MODE_BRIDGE });
 * ```
 * @throws {RangeError} on a bad name, MAC or parent index.
 */
export function buildNewMacvlan(spec: MacvlanSpec, opts: BuildOptions = {}): Uint8Array {
  checkIfname(spec.name);
  if (!Number.isInteger(spec.parentIndex) || spec.parentIndex <= 0) {
    throw new RangeError(`parent index ${spec.parentIndex} is not a positive integer`);
  }
  const mac = macBytes(spec.mac);
  const w = new MessageWriter(
    RTM_NEWLINK,
    NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
    opts,
  );
  linkHeader(w, AF_UNSPEC, 0);
  w.attr(IFLA_ADDRESS, mac);
  w.attrU32(IFLA_LINK, spec.parentIndex);
  w.attrString(IFLA_IFNAME, spec.name);
  // iproute2 sends the kind without its NUL (addattr_l with strlen); the kernel takes both.
  // Nor does it flag the nests NLA_F_NESTED, so attrNested (which does) is not used here.
  const kind = new TextEncoder().encode("macvlan");
  const info = concatBytes([
    attrBytes(IFLA_INFO_KIND, kind),
    attrBytes(IFLA_INFO_DATA, attrU32(IFLA_MACVLAN_MODE, spec.mode)),
  ]);
  w.attr(IFLA_LINKINFO, info);
  return w.finish();
}

/**
 * A change to an existing link: any of these, unset ones are left alone.
 *
 * @example
 * ```ts
 * const c: LinkChange = { up: true };
 * ```
 */
export interface LinkChange {
  /** Set (true) or clear (false) IFF_UP, `ip link set … up|down`. */
  up?: boolean;
  /** IFLA_IFALIAS, `ip link set … alias TEXT` (sent without a NUL, as iproute2 does). */
  alias?: string;
}

/**
 * RTM_NEWLINK changing an existing link (by index), with NLM_F_REQUEST | NLM_F_ACK, as
 * `ip link set dev NAME up` / `alias TEXT` sends it: the flags go in ifi_flags with
 * ifi_change masking the ones that change.
 *
 * @example
 * ```ts
 * buildSetLink(4, { up: true });
 * ```
 * @throws {RangeError} on a bad index or an alias over 255 bytes.
 */
export function buildSetLink(
  index: number,
  change: LinkChange,
  opts: BuildOptions = {},
): Uint8Array {
  if (!Number.isInteger(index) || index <= 0) {
    throw new RangeError(`link index ${index} is not a positive integer`);
  }
  const w = new MessageWriter(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, opts);
  // struct ifinfomsg
  w.u8(AF_UNSPEC);
  w.u8(0);
  w.u16(0);
  w.i32(index);
  w.u32(change.up === true ? IFF_UP : 0);
  w.u32(change.up === undefined ? 0 : IFF_UP);
  if (change.alias !== undefined) {
    const text = new TextEncoder().encode(change.alias);
    if (text.length > IFALIAS_MAX_BYTES) {
      throw new RangeError(`alias is ${text.length} bytes, more than ${IFALIAS_MAX_BYTES}`);
    }
    w.attr(IFLA_IFALIAS, text);
  }
  return w.finish();
}

/**
 * RTM_DELLINK of one link by index, with NLM_F_REQUEST | NLM_F_ACK, as `ip link del
 * dev NAME` sends it.
 *
 * @example
 * ```ts
 * buildDelLink(4);
 * ```
 * @throws {RangeError} on a bad index.
 */
export function buildDelLink(index: number, opts: BuildOptions = {}): Uint8Array {
  if (!Number.isInteger(index) || index <= 0) {
    throw new RangeError(`link index ${index} is not a positive integer`);
  }
  const w = new MessageWriter(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, opts);
  linkHeader(w, AF_UNSPEC, index);
  return w.finish();
}

// ---------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------

class Malformed extends Error {}

function u32(data: Uint8Array, what: string): number {
  if (data.length < 4) throw new Malformed(`${what}: ${data.length} bytes, want 4`);
  return new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true);
}

function u8(data: Uint8Array, what: string): number {
  if (data.length < 1) throw new Malformed(`${what}: empty`);
  return data[0];
}

function ip(data: Uint8Array, family: number, what: string): string {
  const want = family === AF_INET ? 4 : family === AF_INET6 ? 16 : data.length;
  if (data.length !== want || (want !== 4 && want !== 16)) {
    throw new Malformed(`${what}: ${data.length} bytes for family ${family}`);
  }
  return formatIp(data);
}

/**
 * Formats link-layer address bytes as lowercase colon-separated hex.
 *
 * @example
 * ```ts
 * formatMac(Uint8Array.of(0, 0x5e, 0, 1, 0, 7)); // "00:5e:00:01:00:07"
 * ```
 */
export function formatMac(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");
}

function attrsOf(body: Uint8Array, fixed: number, what: string): NlAttr[] {
  if (body.length < fixed) throw new Malformed(`${what}: body ${body.length} bytes < ${fixed}`);
  const attrs = parseAttrs(body.subarray(fixed));
  if (typeof attrs === "string") throw new Malformed(`${what}: ${attrs}`);
  return attrs;
}

function parseAddr(header: NlHeader, body: Uint8Array): AddrMessage {
  const attrs = attrsOf(body, IFADDRMSG_LEN, "ifaddrmsg");
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const m: AddrMessage = {
    kind: "addr",
    header,
    deleted: header.type === RTM_DELADDR,
    family: body[0],
    prefixLen: body[1],
    flags: body[2],
    scope: body[3],
    index: dv.getUint32(4, true),
  };
  for (const a of attrs) {
    switch (a.type) {
      case IFA_ADDRESS:
        m.address = ip(a.payload, m.family, "IFA_ADDRESS");
        break;
      case IFA_LOCAL:
        m.local = ip(a.payload, m.family, "IFA_LOCAL");
        break;
      case IFA_BROADCAST:
        m.broadcast = ip(a.payload, m.family, "IFA_BROADCAST");
        break;
      case IFA_LABEL:
        m.label = readString(a.payload);
        break;
      case IFA_FLAGS:
        m.flags = u32(a.payload, "IFA_FLAGS");
        break;
      case IFA_PROTO:
        m.proto = u8(a.payload, "IFA_PROTO");
        break;
      case IFA_CACHEINFO:
        if (a.payload.length < 16) throw new Malformed(`IFA_CACHEINFO: ${a.payload.length} bytes`);
        m.preferredLifetime = u32(a.payload.subarray(0, 4), "ifa_prefered");
        m.validLifetime = u32(a.payload.subarray(4, 8), "ifa_valid");
        break;
    }
  }
  return m;
}

function parseLink(header: NlHeader, body: Uint8Array): LinkMessage {
  const attrs = attrsOf(body, IFINFOMSG_LEN, "ifinfomsg");
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const m: LinkMessage = {
    kind: "link",
    header,
    deleted: header.type === RTM_DELLINK,
    family: body[0],
    linkType: dv.getUint16(2, true),
    index: dv.getInt32(4, true),
    flags: dv.getUint32(8, true),
    change: dv.getUint32(12, true),
  };
  for (const a of attrs) {
    switch (a.type) {
      case IFLA_IFNAME:
        m.name = readString(a.payload);
        break;
      case IFLA_MTU:
        m.mtu = u32(a.payload, "IFLA_MTU");
        break;
      case IFLA_OPERSTATE:
        m.operstate = u8(a.payload, "IFLA_OPERSTATE");
        break;
      case IFLA_ADDRESS:
        m.mac = formatMac(a.payload);
        break;
      case IFLA_LINK:
        m.link = u32(a.payload, "IFLA_LINK");
        break;
      case IFLA_MASTER:
        m.master = u32(a.payload, "IFLA_MASTER");
        break;
      case IFLA_CARRIER:
        m.carrier = u8(a.payload, "IFLA_CARRIER") !== 0;
        break;
      case IFLA_LINKINFO: {
        const inner = parseAttrs(a.payload);
        if (typeof inner === "string") throw new Malformed(`IFLA_LINKINFO: ${inner}`);
        const kind = inner.find((x) => x.type === IFLA_INFO_KIND);
        if (kind) m.linkKind = readString(kind.payload);
        const data = inner.find((x) => x.type === IFLA_INFO_DATA);
        if (data && m.linkKind === "macvlan") {
          const d = parseAttrs(data.payload);
          if (typeof d === "string") throw new Malformed(`IFLA_INFO_DATA: ${d}`);
          const mode = d.find((x) => x.type === IFLA_MACVLAN_MODE);
          if (mode) m.macvlanMode = u32(mode.payload, "IFLA_MACVLAN_MODE");
        }
        break;
      }
      case IFLA_IFALIAS:
        m.alias = readString(a.payload);
        break;
    }
  }
  return m;
}

function parseRoute(header: NlHeader, body: Uint8Array): RouteMessage {
  const attrs = attrsOf(body, RTMSG_LEN, "rtmsg");
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const m: RouteMessage = {
    kind: "route",
    header,
    deleted: header.type === RTM_DELROUTE,
    family: body[0],
    dstLen: body[1],
    srcLen: body[2],
    tos: body[3],
    table: body[4],
    protocol: body[5],
    scope: body[6],
    type: body[7],
    flags: dv.getUint32(8, true),
  };
  // Routes of other families (multicast, MPLS) carry addresses this codec does not read.
  const ipFamily = m.family === AF_INET || m.family === AF_INET6;
  for (const a of attrs) {
    switch (a.type) {
      case RTA_DST:
        if (ipFamily) m.dst = ip(a.payload, m.family, "RTA_DST");
        break;
      case RTA_SRC:
        if (ipFamily) m.src = ip(a.payload, m.family, "RTA_SRC");
        break;
      case RTA_GATEWAY:
        if (ipFamily) m.gateway = ip(a.payload, m.family, "RTA_GATEWAY");
        break;
      case RTA_PREFSRC:
        if (ipFamily) m.prefsrc = ip(a.payload, m.family, "RTA_PREFSRC");
        break;
      case RTA_OIF:
        m.oif = u32(a.payload, "RTA_OIF");
        break;
      case RTA_PRIORITY:
        m.priority = u32(a.payload, "RTA_PRIORITY");
        break;
      case RTA_TABLE:
        m.table = u32(a.payload, "RTA_TABLE");
        break;
    }
  }
  return m;
}

function parseRule(header: NlHeader, body: Uint8Array): RuleMessage {
  const attrs = attrsOf(body, FIB_RULE_HDR_LEN, "fib_rule_hdr");
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const m: RuleMessage = {
    kind: "rule",
    header,
    deleted: header.type === RTM_DELRULE,
    family: body[0],
    dstLen: body[1],
    srcLen: body[2],
    tos: body[3],
    table: body[4],
    action: body[7],
    flags: dv.getUint32(8, true),
  };
  const ipFamily = m.family === AF_INET || m.family === AF_INET6;
  for (const a of attrs) {
    switch (a.type) {
      case FRA_DST:
        if (ipFamily) m.dst = ip(a.payload, m.family, "FRA_DST");
        break;
      case FRA_SRC:
        if (ipFamily) m.src = ip(a.payload, m.family, "FRA_SRC");
        break;
      case FRA_IIFNAME:
        m.iifname = readString(a.payload);
        break;
      case FRA_OIFNAME:
        m.oifname = readString(a.payload);
        break;
      case FRA_FWMARK:
        m.fwmark = u32(a.payload, "FRA_FWMARK");
        break;
      case FRA_FWMASK:
        m.fwmask = u32(a.payload, "FRA_FWMASK");
        break;
      case FRA_PRIORITY:
        m.priority = u32(a.payload, "FRA_PRIORITY");
        break;
      case FRA_GOTO:
        m.goto = u32(a.payload, "FRA_GOTO");
        break;
      case FRA_TABLE:
        m.table = u32(a.payload, "FRA_TABLE");
        break;
      case FRA_PROTOCOL:
        m.protocol = u8(a.payload, "FRA_PROTOCOL");
        break;
    }
  }
  return m;
}

/**
 * Decodes one message of the message layer as rtnetlink: addresses, links and routes
 * become typed items, other protocol types come through as `other`, control items
 * (error, done, overrun, malformed) pass unchanged. Never throws.
 *
 * @example
 * ```ts
 * const events = parseMessages(buf).map(decodeRtnlMessage);
 * ```
 */
export function decodeRtnlMessage(m: NetlinkMessage): RtnlMessage {
  if (m.kind !== "data") return m;
  const { header, payload: body } = m;
  try {
    switch (header.type) {
      case RTM_NEWADDR:
      case RTM_DELADDR:
        return parseAddr(header, body);
      case RTM_NEWLINK:
      case RTM_DELLINK:
        return parseLink(header, body);
      case RTM_NEWROUTE:
      case RTM_DELROUTE:
        return parseRoute(header, body);
      case RTM_NEWRULE:
      case RTM_DELRULE:
        return parseRule(header, body);
      default:
        return { kind: "other", header, body: body.slice() };
    }
  } catch (e) {
    // Malformed is the expected path; anything else is a codec bug, kept visible by its
    // "internal:" prefix (the fuzz test asserts none occur) rather than thrown at a caller.
    const reason = e instanceof Malformed ? e.message : `internal: ${String(e)}`;
    return { kind: "malformed", offset: m.offset, header, reason };
  }
}

/**
 * Parses every message in a buffer (one recv's worth) as rtnetlink. Never throws: a
 * message whose body cannot be read becomes a `malformed` item and parsing goes on with
 * the next; a header whose length is impossible ends the buffer with a `malformed` item.
 *
 * @example
 * ```ts
 * for (const m of parseRtnlMessages(buf)) {
 *   if (m.kind === "addr" && !m.deleted) console.log(m.address, m.label);
 * }
 * ```
 */
export function parseRtnlMessages(buf: Uint8Array): RtnlMessage[] {
  return parseMessages(buf).map(decodeRtnlMessage);
}

// ---------------------------------------------------------------------------------------
// hacore's own addresses
// ---------------------------------------------------------------------------------------

/**
 * Suffix of the label hacore gives IPv4 addresses, the tag that survives on kernels
 * without IFA_PROTO (< 6.1). IPv6 has no labels, so there only IFA_PROTO can tag.
 */
export const HACORE_LABEL_SUFFIX = ":hc";

/**
 * The label hacore puts on an IPv4 address on `ifname`: `<ifname>:hc`, with the name
 * shortened so the whole fits the kernel's 15-byte limit.
 *
 * @example
 * ```ts
 * hacoreLabel("eth0"); // "eth0:hc"
 * hacoreLabel("averylongname15"); // "averylongnam:hc"
 * ```
 */
export function hacoreLabel(ifname: string): string {
  return ifname.slice(0, 15 - HACORE_LABEL_SUFFIX.length) + HACORE_LABEL_SUFFIX;
}

/**
 * True when an address was installed by hacore: tagged with {@link IFA_PROTO_HACORE},
 * or (kernels without IFA_PROTO) labelled by {@link hacoreLabel}.
 *
 * @example
 * ```ts
 * const mine = dump.filter((m) => m.kind === "addr" && isHacoreAddress(m));
 * ```
 */
export function isHacoreAddress(addr: Pick<AddrMessage, "proto" | "label">): boolean {
  if (addr.proto === IFA_PROTO_HACORE) return true;
  return addr.label !== undefined && addr.label.endsWith(HACORE_LABEL_SUFFIX);
}

/**
 * Whether a kernel release (`Deno.osRelease()`, `uname -r`) keeps IFA_PROTO: Linux 6.1
 * and later. Older kernels accept the attribute and silently drop it.
 *
 * @example
 * ```ts
 * kernelSupportsIfaProto("6.18.44-fc"); // true
 * kernelSupportsIfaProto("5.15.0-91-generic"); // false
 * ```
 */
export function kernelSupportsIfaProto(release: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  return major > 6 || (major === 6 && minor >= 1);
}

/**
 * The IPv4 directed broadcast of an address and prefix (what `ip addr add … brd +`
 * computes), or undefined for /31 and /32, which have none.
 *
 * @example
 * ```ts
 * broadcastOf("192.0.2.2", 24); // "192.0.2.255"
 * ```
 */
export function broadcastOf(address: IpInput, prefixLen: number): string | undefined {
  const b = ipBytes(address, 4);
  checkPrefix(prefixLen, 4);
  if (prefixLen >= 31) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(8, prefixLen - i * 8));
    const hostMask = 0xff >> bits;
    out[i] = b[i] | hostMask;
  }
  return formatIp(out);
}
