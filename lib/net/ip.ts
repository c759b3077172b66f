/**
 * IPv4 and IPv6 fixed headers: decode (what a raw IPv4 socket hands us, what a
 * capture holds) and encode (what `IP_HDRINCL` sends and what frame builders need).
 *
 * Linux raw IPv4 sockets deliver the IP header exactly as received, in network byte
 * order (unlike the BSDs, which rewrite `ip_len`); raw IPv6 sockets strip the header
 * and report the hop limit through `IPV6_HOPLIMIT` ancillary data instead.
 *
 * @module
 */

import { formatIp, parseIpCached } from "./addr.ts";
import { checksumFrom, hex16, internetChecksum } from "./checksum.ts";

/** IP protocol number of VRRP (IANA). */
export const IPPROTO_VRRP = 112;
/** IP protocol number of ICMPv6 (IANA). */
export const IPPROTO_ICMPV6 = 58;
/** Length of an IPv4 header without options. */
export const IPV4_HEADER_LENGTH = 20;
/** Length of the IPv6 fixed header. */
export const IPV6_HEADER_LENGTH = 40;

/** Why an IP header was refused: which field, what it held, what was expected. */
export interface IpHeaderError {
  field: string;
  seen: string;
  expected: string;
  message: string;
}

function fail(field: string, seen: string, expected: string, why: string): {
  ok: false;
  error: IpHeaderError;
} {
  return { ok: false, error: { field, seen, expected, message: `${field}: ${why}` } };
}

/*
 * IPv4 header (RFC 791 §3.1):
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |Version|  IHL  |Type of Service|          Total Length         |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |         Identification        |Flags|      Fragment Offset    |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  Time to Live |    Protocol   |         Header Checksum       |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                       Source Address                          |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                    Destination Address                        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                    Options                    |    Padding    |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */

/** A decoded IPv4 header; `payload` is a view of the bytes it announces. */
export interface Ipv4Header {
  src: string;
  dst: string;
  ttl: number;
  tos: number;
  protocol: number;
  id: number;
  /** Don't Fragment flag. */
  df: boolean;
  /** More Fragments flag. */
  mf: boolean;
  /** Fragment offset in 8-byte units. */
  fragmentOffset: number;
  /** IHL × 4, options included. */
  headerLength: number;
  totalLength: number;
  /** Header checksum as received. */
  checksum: number;
  /** The bytes from the end of the header to Total Length (Ethernet padding excluded). */
  payload: Uint8Array;
}

/** Result of `decodeIpv4Header`. */
export type Ipv4Result = ({ ok: true } & Ipv4Header) | { ok: false; error: IpHeaderError };

/**
 * Decodes and validates an IPv4 header: version 4, IHL ≥ 5, total length within the
 * buffer, and (unless `verifyChecksum` is false, for captures taken with checksum
 * offload) a correct header checksum. Never throws.
 *
 * @example
 * ```ts
 * const ip = decodeIpv4Header(buf);
 * if (ip.ok && ip.protocol === IPPROTO_VRRP) decodeAdvert(ip.payload, ctx, opts);
 * ```
 */
export function decodeIpv4Header(
  bytes: Uint8Array,
  opts: { verifyChecksum?: boolean } = {},
): Ipv4Result {
  if (bytes.length < IPV4_HEADER_LENGTH) {
    return fail(
      "ip.header",
      `${bytes.length} bytes`,
      `at least ${IPV4_HEADER_LENGTH}`,
      `got ${bytes.length} bytes, expected at least ${IPV4_HEADER_LENGTH} (IPv4 header)`,
    );
  }
  const version = bytes[0] >> 4;
  if (version !== 4) {
    return fail("ip.version", `${version}`, "4", `got ${version}, expected 4`);
  }
  const headerLength = (bytes[0] & 0x0f) * 4;
  if (headerLength < IPV4_HEADER_LENGTH) {
    return fail(
      "ip.ihl",
      `${headerLength / 4}`,
      "at least 5",
      `got ${headerLength / 4} words, expected at least 5`,
    );
  }
  if (headerLength > bytes.length) {
    return fail(
      "ip.ihl",
      `${headerLength} bytes`,
      `at most ${bytes.length}`,
      `header of ${headerLength} bytes overruns the ${bytes.length}-byte buffer`,
    );
  }
  const totalLength = (bytes[2] << 8) | bytes[3];
  if (totalLength < headerLength || totalLength > bytes.length) {
    return fail(
      "ip.totalLength",
      `${totalLength}`,
      `${headerLength}..${bytes.length}`,
      `got ${totalLength}, expected between the header length ${headerLength} and the ${bytes.length} bytes received`,
    );
  }
  const checksum = (bytes[10] << 8) | bytes[11];
  if (opts.verifyChecksum !== false) {
    const residue = internetChecksum(bytes.subarray(0, headerLength));
    if (residue !== 0) {
      const copy = bytes.slice(0, headerLength);
      copy[10] = copy[11] = 0;
      const want = internetChecksum(copy);
      return fail(
        "ip.checksum",
        hex16(checksum),
        hex16(want),
        `got ${hex16(checksum)}, expected ${hex16(want)}`,
      );
    }
  }
  const flagsFrag = (bytes[6] << 8) | bytes[7];
  return {
    ok: true,
    src: formatIp(bytes.subarray(12, 16)),
    dst: formatIp(bytes.subarray(16, 20)),
    ttl: bytes[8],
    tos: bytes[1],
    protocol: bytes[9],
    id: (bytes[4] << 8) | bytes[5],
    df: (flagsFrag & 0x4000) !== 0,
    mf: (flagsFrag & 0x2000) !== 0,
    fragmentOffset: flagsFrag & 0x1fff,
    headerLength,
    totalLength,
    checksum,
    payload: bytes.subarray(headerLength, totalLength),
  };
}

/**
 * The header length of a well-formed IPv4 packet at the start of `bytes`, or -1: the
 * checks of {@link decodeIpv4Header} (length, version, IHL, total length, header
 * checksum) without building its result. The receive path reads the few fields it
 * needs from the bytes itself; a decoded header per advert was its largest garbage.
 *
 * @example
 * ```ts
 * const hl = ipv4HeaderLength(frame);
 * if (hl >= 0) ttl = frame[8];
 * ```
 */
export function ipv4HeaderLength(bytes: Uint8Array): number {
  if (bytes.length < IPV4_HEADER_LENGTH || bytes[0] >> 4 !== 4) return -1;
  const headerLength = (bytes[0] & 0x0f) * 4;
  if (headerLength < IPV4_HEADER_LENGTH || headerLength > bytes.length) return -1;
  const totalLength = (bytes[2] << 8) | bytes[3];
  if (totalLength < headerLength || totalLength > bytes.length) return -1;
  return checksumFrom(0, bytes, 0, headerLength) === 0 ? headerLength : -1;
}

/**
 * Writes an IPv4 header without options into `out` at 0 (the same bytes as
 * {@link encodeIpv4Header}, with the addresses given as 4 bytes each), so that a
 * packet can be framed in a buffer kept from one send to the next.
 *
 * @example
 * ```ts
 * writeIpv4Header(packet, src, dst, { ttl: 255, tos: 0xc0, protocol: 112, id: 1, df: false }, 12);
 * ```
 * @throws {RangeError} on a field out of range, as {@link encodeIpv4Header}.
 */
export function writeIpv4Header(
  out: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  ttl: number,
  tos: number,
  protocol: number,
  id: number,
  df: boolean,
  payloadLength: number,
): void {
  const totalLength = IPV4_HEADER_LENGTH + payloadLength;
  checkRange("ttl", ttl, 0, 255);
  checkRange("tos", tos, 0, 255);
  checkRange("protocol", protocol, 0, 255);
  checkRange("id", id, 0, 0xffff);
  checkRange("total length", totalLength, IPV4_HEADER_LENGTH, 0xffff);
  out[0] = 0x45;
  out[1] = tos;
  out[2] = totalLength >> 8;
  out[3] = totalLength & 0xff;
  out[4] = id >> 8;
  out[5] = id & 0xff;
  out[6] = df ? 0x40 : 0;
  out[7] = 0;
  out[8] = ttl;
  out[9] = protocol;
  out[10] = 0;
  out[11] = 0;
  for (let i = 0; i < 4; i++) {
    out[12 + i] = src[i];
    out[16 + i] = dst[i];
  }
  const sum = checksumFrom(0, out, 0, IPV4_HEADER_LENGTH);
  out[10] = sum >> 8;
  out[11] = sum & 0xff;
}

/** Fields of an IPv4 header to encode (no options). */
export interface Ipv4HeaderFields {
  src: string;
  dst: string;
  ttl: number;
  tos: number;
  protocol: number;
  id: number;
  payloadLength: number;
  df: boolean;
}

/**
 * Encodes a 20-byte IPv4 header with its checksum, for `IP_HDRINCL` sends and for
 * building test frames. Throws RangeError on addresses that are not IPv4 or values
 * out of range, which are programming errors, not network input.
 *
 * @example
 * ```ts
 * encodeIpv4Header({
 *   src: "10.77.0.11", dst: "224.0.0.18", ttl: 255, tos: 0xc0,
 *   protocol: IPPROTO_VRRP, id: 1, payloadLength: 20, df: false,
 * }).length; // 20
 * ```
 */
export function encodeIpv4Header(h: Ipv4HeaderFields): Uint8Array {
  const src = parseIpCached(h.src);
  const dst = parseIpCached(h.dst);
  if (src?.family !== "ipv4" || dst?.family !== "ipv4") {
    throw new RangeError(`IPv4 header needs IPv4 addresses, got ${h.src} and ${h.dst}`);
  }
  const totalLength = IPV4_HEADER_LENGTH + h.payloadLength;
  checkRange("ttl", h.ttl, 0, 255);
  checkRange("tos", h.tos, 0, 255);
  checkRange("protocol", h.protocol, 0, 255);
  checkRange("id", h.id, 0, 0xffff);
  checkRange("total length", totalLength, IPV4_HEADER_LENGTH, 0xffff);
  const out = new Uint8Array(IPV4_HEADER_LENGTH);
  out[0] = 0x45;
  out[1] = h.tos;
  out[2] = totalLength >> 8;
  out[3] = totalLength & 0xff;
  out[4] = h.id >> 8;
  out[5] = h.id & 0xff;
  out[6] = h.df ? 0x40 : 0;
  out[8] = h.ttl;
  out[9] = h.protocol;
  out.set(src.bytes, 12);
  out.set(dst.bytes, 16);
  const sum = internetChecksum(out);
  out[10] = sum >> 8;
  out[11] = sum & 0xff;
  return out;
}

/*
 * IPv6 fixed header (RFC 8200 §3):
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |Version| Traffic Class |           Flow Label                  |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |         Payload Length        |  Next Header  |   Hop Limit   |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                                                               |
 *  +                                                               +
 *  |                                                               |
 *  +                         Source Address                        +
 *  |                                                               |
 *  +                                                               +
 *  |                                                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                                                               |
 *  +                                                               +
 *  |                                                               |
 *  +                      Destination Address                      +
 *  |                                                               |
 *  +                                                               +
 *  |                                                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */

/** A decoded IPv6 fixed header; `payload` is a view of `payloadLength` bytes. */
export interface Ipv6Header {
  trafficClass: number;
  flowLabel: number;
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
  src: string;
  dst: string;
  payload: Uint8Array;
}

/** Result of `decodeIpv6Header`. */
export type Ipv6Result = ({ ok: true } & Ipv6Header) | { ok: false; error: IpHeaderError };

/**
 * Decodes the 40-byte IPv6 fixed header. Extension headers are not walked: the caller
 * sees `nextHeader` and decides (VRRP and NDISC senders use none). Never throws.
 *
 * @example
 * ```ts
 * const ip6 = decodeIpv6Header(eth.payload);
 * if (ip6.ok && ip6.nextHeader === IPPROTO_VRRP) decodeAdvert(ip6.payload, ctx, opts);
 * ```
 */
export function decodeIpv6Header(bytes: Uint8Array): Ipv6Result {
  if (bytes.length < IPV6_HEADER_LENGTH) {
    return fail(
      "ip.header",
      `${bytes.length} bytes`,
      `at least ${IPV6_HEADER_LENGTH}`,
      `got ${bytes.length} bytes, expected at least ${IPV6_HEADER_LENGTH} (IPv6 header)`,
    );
  }
  const version = bytes[0] >> 4;
  if (version !== 6) {
    return fail("ip.version", `${version}`, "6", `got ${version}, expected 6`);
  }
  const payloadLength = (bytes[4] << 8) | bytes[5];
  if (IPV6_HEADER_LENGTH + payloadLength > bytes.length) {
    return fail(
      "ip.payloadLength",
      `${payloadLength}`,
      `at most ${bytes.length - IPV6_HEADER_LENGTH}`,
      `got ${payloadLength}, but only ${bytes.length - IPV6_HEADER_LENGTH} bytes follow the header`,
    );
  }
  return {
    ok: true,
    trafficClass: ((bytes[0] & 0x0f) << 4) | (bytes[1] >> 4),
    flowLabel: ((bytes[1] & 0x0f) << 16) | (bytes[2] << 8) | bytes[3],
    payloadLength,
    nextHeader: bytes[6],
    hopLimit: bytes[7],
    src: formatIp(bytes.subarray(8, 24)),
    dst: formatIp(bytes.subarray(24, 40)),
    payload: bytes.subarray(IPV6_HEADER_LENGTH, IPV6_HEADER_LENGTH + payloadLength),
  };
}

/** Fields of an IPv6 fixed header to encode. */
export interface Ipv6HeaderFields {
  src: string;
  dst: string;
  hopLimit: number;
  nextHeader: number;
  payloadLength: number;
  /** Defaults to 0. keepalived's adverts use 0xc0 (CS6); its NAs use 0. */
  trafficClass?: number;
  /** Defaults to 0. The kernel may set one on its own sends (auto flow labels). */
  flowLabel?: number;
}

/**
 * Encodes the 40-byte IPv6 fixed header. Throws RangeError on non-IPv6 addresses or
 * out-of-range values.
 *
 * @example
 * ```ts
 * encodeIpv6Header({
 *   src: "fe80::61", dst: "ff02::1", hopLimit: 255, nextHeader: IPPROTO_ICMPV6, payloadLength: 32,
 * }).length; // 40
 * ```
 */
export function encodeIpv6Header(h: Ipv6HeaderFields): Uint8Array {
  const src = parseIpCached(h.src);
  const dst = parseIpCached(h.dst);
  if (src?.family !== "ipv6" || dst?.family !== "ipv6") {
    throw new RangeError(`IPv6 header needs IPv6 addresses, got ${h.src} and ${h.dst}`);
  }
  const tc = h.trafficClass ?? 0;
  const fl = h.flowLabel ?? 0;
  checkRange("traffic class", tc, 0, 255);
  checkRange("flow label", fl, 0, 0xfffff);
  checkRange("hop limit", h.hopLimit, 0, 255);
  checkRange("next header", h.nextHeader, 0, 255);
  checkRange("payload length", h.payloadLength, 0, 0xffff);
  const out = new Uint8Array(IPV6_HEADER_LENGTH);
  out[0] = 0x60 | (tc >> 4);
  out[1] = ((tc & 0x0f) << 4) | (fl >> 16);
  out[2] = (fl >> 8) & 0xff;
  out[3] = fl & 0xff;
  out[4] = h.payloadLength >> 8;
  out[5] = h.payloadLength & 0xff;
  out[6] = h.nextHeader;
  out[7] = h.hopLimit;
  out.set(src.bytes, 8);
  out.set(dst.bytes, 24);
  return out;
}

function checkRange(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  }
}
