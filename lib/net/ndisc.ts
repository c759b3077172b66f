/**
 * Unsolicited IPv6 Neighbor Advertisements (RFC 4861 §4.4, §7.2.6), pure: the
 * announcement a new master sends for each IPv6 VIP, as a whole Ethernet frame (for
 * an `AF_PACKET` socket) or as the ICMPv6 message alone (for a raw ICMPv6 socket,
 * where the kernel builds the IPv6 header).
 *
 * keepalived's NA, as captured: IPv6 source = the VIP itself (not the interface's
 * link-local address), destination ff02::1, hop limit 255, traffic class and flow
 * label 0, flags R=0 S=0 O=1, one Target Link-Layer Address option with the
 * interface MAC. RFC 5798 / RFC 9568 §6.4.2 ask for R set (the Active Router is a
 * router), while keepalived left it clear in the lab (IPv6 forwarding was off there),
 * so `router` is a parameter rather than a constant.
 *
 * @module
 */

import { formatIp, parseIp } from "./addr.ts";
import { hex16, internetChecksum, ipv6PseudoHeader } from "./checksum.ts";
import { decodeIpv6Header, encodeIpv6Header, IPPROTO_ICMPV6 } from "./ip.ts";
import { decodeEthernet, encodeEthernet, ETHERTYPE_IPV6, ipv6MulticastMac } from "./ether.ts";

/** ICMPv6 type of a Neighbor Advertisement. */
export const ICMPV6_NEIGHBOR_ADVERTISEMENT = 136;
/** ND option type: Target Link-Layer Address. */
export const ND_OPT_TARGET_LINKADDR = 2;
/** Length of an NA with one Ethernet target link-layer address option. */
export const NA_PAYLOAD_LENGTH = 32;
/** Hop limit every ND message is sent with and must be received with (RFC 4861 §7.1.2). */
export const ND_HOP_LIMIT = 255;

const FLAG_ROUTER = 0x80;
const FLAG_SOLICITED = 0x40;
const FLAG_OVERRIDE = 0x20;

/*
 * Neighbor Advertisement (RFC 4861 §4.4):
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |     Type      |     Code      |          Checksum             |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |R|S|O|                     Reserved                            |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                                                               |
 *  +                                                               +
 *  |                                                               |
 *  +                       Target Address                          +
 *  |                                                               |
 *  +                                                               +
 *  |                                                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |   Options ...
 *  +-+-+-+-+-+-+-+-+-+-+-+-
 *
 * Target Link-Layer Address option (RFC 4861 §4.6.1), Ethernet:
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |   Type (2)    |  Length (1)   |    Link-Layer Address ...
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The checksum covers the RFC 8200 pseudo-header (next header 58) and the message.
 */

/** Inputs of `encodeNaPayload`. */
export interface NaPayloadFields {
  /** IPv6 source and destination, needed for the checksum pseudo-header. */
  src: string;
  dst: string;
  targetIp: string;
  /** Link-layer address for the Target Link-Layer Address option. */
  targetMac: Uint8Array;
  router: boolean;
  solicited: boolean;
  override: boolean;
}

/**
 * Encodes the 32-byte ICMPv6 Neighbor Advertisement with its checksum. On a raw
 * ICMPv6 socket Linux recomputes the checksum (and copes with one already filled in),
 * so the same bytes serve both socket kinds. Throws RangeError on non-IPv6 addresses
 * or a MAC that is not 6 bytes.
 *
 * @example
 * ```ts
 * encodeNaPayload({
 *   src: "fe80::61", dst: "ff02::1", targetIp: "fe80::61", targetMac: mac,
 *   router: false, solicited: false, override: true,
 * }).length; // 32
 * ```
 */
export function encodeNaPayload(f: NaPayloadFields): Uint8Array {
  const src = parseIp(f.src);
  const dst = parseIp(f.dst);
  const target = parseIp(f.targetIp);
  if (src?.family !== "ipv6" || dst?.family !== "ipv6" || target?.family !== "ipv6") {
    throw new RangeError(`NA needs IPv6 addresses, got ${f.src}, ${f.dst}, ${f.targetIp}`);
  }
  if (f.targetMac.length !== 6) throw new RangeError("target MAC must be 6 bytes");
  const out = new Uint8Array(NA_PAYLOAD_LENGTH);
  out[0] = ICMPV6_NEIGHBOR_ADVERTISEMENT;
  out[4] = (f.router ? FLAG_ROUTER : 0) | (f.solicited ? FLAG_SOLICITED : 0) |
    (f.override ? FLAG_OVERRIDE : 0);
  out.set(target.bytes, 8);
  out[24] = ND_OPT_TARGET_LINKADDR;
  out[25] = 1;
  out.set(f.targetMac, 26);
  const sum = internetChecksum(
    ipv6PseudoHeader(src.bytes, dst.bytes, IPPROTO_ICMPV6, out.length),
    out,
  );
  out[2] = sum >> 8;
  out[3] = sum & 0xff;
  return out;
}

/** Inputs of `encodeUnsolicitedNa`. */
export interface UnsolicitedNaFields {
  /** Interface MAC: Ethernet source and the target link-layer address. */
  srcMac: Uint8Array;
  /** IPv6 source; keepalived uses the VIP itself, hence no default. */
  srcIp: string;
  targetIp: string;
  /** R flag: RFC 9568 §6.4.2 sets it; keepalived sent 0 in the reference capture. */
  router: boolean;
  /** S flag; false in an unsolicited NA (RFC 4861 §7.2.6). */
  solicited?: boolean;
  /** O flag; true so caches replace the old master's MAC. */
  override?: boolean;
  /** IPv6 destination, all-nodes by default. */
  dst?: string;
  /** Ethernet destination; by default the multicast MAC of `dst`. */
  dstMac?: Uint8Array;
}

/**
 * Encodes a whole unsolicited-NA Ethernet frame (86 bytes), as keepalived sends it on
 * a packet socket. Throws RangeError when `dst` is unicast and no `dstMac` is given.
 *
 * @example
 * ```ts
 * encodeUnsolicitedNa({
 *   srcMac: parseMac("a6:a1:14:b3:ec:0d")!, srcIp: "fd00:88::100", targetIp: "fd00:88::100",
 *   router: false,
 * }).length; // 86
 * ```
 */
export function encodeUnsolicitedNa(f: UnsolicitedNaFields): Uint8Array {
  const dst = f.dst ?? "ff02::1";
  const dstBytes = parseIp(dst);
  if (dstBytes?.family !== "ipv6") throw new RangeError(`NA destination ${dst} is not IPv6`);
  let dstMac = f.dstMac;
  if (!dstMac) {
    if (dstBytes.bytes[0] !== 0xff) {
      throw new RangeError(`NA destination ${dst} is unicast: give its MAC as dstMac`);
    }
    dstMac = ipv6MulticastMac(dstBytes.bytes);
  }
  const payload = encodeNaPayload({
    src: f.srcIp,
    dst,
    targetIp: f.targetIp,
    targetMac: f.srcMac,
    router: f.router,
    solicited: f.solicited ?? false,
    override: f.override ?? true,
  });
  const ip = encodeIpv6Header({
    src: f.srcIp,
    dst,
    hopLimit: ND_HOP_LIMIT,
    nextHeader: IPPROTO_ICMPV6,
    payloadLength: payload.length,
  });
  const packet = new Uint8Array(ip.length + payload.length);
  packet.set(ip, 0);
  packet.set(payload, ip.length);
  return encodeEthernet({ dst: dstMac, src: f.srcMac, etherType: ETHERTYPE_IPV6, payload: packet });
}

/** A decoded Neighbor Advertisement. */
export interface NeighborAdvertisement {
  router: boolean;
  solicited: boolean;
  override: boolean;
  targetIp: string;
  /** From the Target Link-Layer Address option, or null when absent. */
  targetMac: Uint8Array | null;
  checksum: number;
}

/** Result of `decodeNaPayload`. */
export type NaResult = ({ ok: true } & NeighborAdvertisement) | { ok: false; error: string };

/**
 * Decodes and validates an ICMPv6 Neighbor Advertisement: type 136, code 0, checksum
 * (with the pseudo-header from `ip`), well-formed options (RFC 4861 §7.1.2). The hop
 * limit is the caller's to check (`decodeNaFrame` does). Never throws.
 *
 * @example
 * ```ts
 * const na = decodeNaPayload(icmp, { src: "fe80::61", dst: "ff02::1" });
 * if (na.ok && na.override) console.log(na.targetIp);
 * ```
 */
export function decodeNaPayload(bytes: Uint8Array, ip: { src: string; dst: string }): NaResult {
  if (bytes.length < 24) {
    return { ok: false, error: `na: ${bytes.length} bytes, expected at least 24` };
  }
  if (bytes[0] !== ICMPV6_NEIGHBOR_ADVERTISEMENT || bytes[1] !== 0) {
    return {
      ok: false,
      error: `na: ICMPv6 type ${bytes[0]} code ${bytes[1]}, expected 136 code 0`,
    };
  }
  const src = parseIp(ip.src);
  const dst = parseIp(ip.dst);
  if (src?.family !== "ipv6" || dst?.family !== "ipv6") {
    return { ok: false, error: `na: ${ip.src} -> ${ip.dst} is not IPv6` };
  }
  const checksum = (bytes[2] << 8) | bytes[3];
  const pseudo = ipv6PseudoHeader(src.bytes, dst.bytes, IPPROTO_ICMPV6, bytes.length);
  if (internetChecksum(pseudo, bytes) !== 0) {
    const want = internetChecksum(
      pseudo,
      bytes.subarray(0, 2),
      new Uint8Array(2),
      bytes.subarray(4),
    );
    return { ok: false, error: `na: checksum ${hex16(checksum)}, expected ${hex16(want)}` };
  }
  let targetMac: Uint8Array | null = null;
  for (let o = 24; o < bytes.length;) {
    if (o + 2 > bytes.length) return { ok: false, error: `na: truncated option at ${o}` };
    const len = bytes[o + 1] * 8;
    if (len === 0) return { ok: false, error: `na: option of length 0 at ${o}` };
    if (o + len > bytes.length) return { ok: false, error: `na: option at ${o} overruns` };
    if (bytes[o] === ND_OPT_TARGET_LINKADDR && len >= 8) targetMac = bytes.slice(o + 2, o + 8);
    o += len;
  }
  return {
    ok: true,
    router: (bytes[4] & FLAG_ROUTER) !== 0,
    solicited: (bytes[4] & FLAG_SOLICITED) !== 0,
    override: (bytes[4] & FLAG_OVERRIDE) !== 0,
    targetIp: formatIp(bytes.subarray(8, 24)),
    targetMac,
    checksum,
  };
}

/** A decoded NA frame: Ethernet and IPv6 facts plus the advertisement. */
export interface NaFrame extends NeighborAdvertisement {
  ethDst: Uint8Array;
  ethSrc: Uint8Array;
  src: string;
  dst: string;
  hopLimit: number;
  trafficClass: number;
  flowLabel: number;
}

/** Result of `decodeNaFrame`. */
export type NaFrameResult = ({ ok: true } & NaFrame) | { ok: false; error: string };

/**
 * Decodes a whole Ethernet frame carrying a Neighbor Advertisement, requiring hop
 * limit 255 and no IPv6 extension headers. Never throws.
 *
 * @example
 * ```ts
 * const na = decodeNaFrame(frame);
 * if (na.ok) console.log(`${na.targetIp} is at ${macToString(na.targetMac!)}`);
 * ```
 */
export function decodeNaFrame(frame: Uint8Array): NaFrameResult {
  const eth = decodeEthernet(frame);
  if (!eth.ok) return { ok: false, error: eth.error };
  if (eth.etherType !== ETHERTYPE_IPV6) {
    return { ok: false, error: `na: ethertype 0x${eth.etherType.toString(16)} is not IPv6` };
  }
  const ip = decodeIpv6Header(eth.payload);
  if (!ip.ok) return { ok: false, error: ip.error.message };
  if (ip.nextHeader !== IPPROTO_ICMPV6) {
    return { ok: false, error: `na: next header ${ip.nextHeader} is not ICMPv6` };
  }
  if (ip.hopLimit !== ND_HOP_LIMIT) {
    return { ok: false, error: `na: hop limit ${ip.hopLimit}, expected ${ND_HOP_LIMIT}` };
  }
  const na = decodeNaPayload(ip.payload, ip);
  if (!na.ok) return na;
  return {
    ...na,
    ethDst: eth.dst.slice(),
    ethSrc: eth.src.slice(),
    src: ip.src,
    dst: ip.dst,
    hopLimit: ip.hopLimit,
    trafficClass: ip.trafficClass,
    flowLabel: ip.flowLabel,
  };
}
