/**
 * VRRP advertisement codec: VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798, RFC 9568), over
 * IPv4 and IPv6. Pure: bytes and the IP facts in, an `Advert` or a named reason out.
 *
 * Decoding never throws. Every refusal is one `DecodeError` with a `DropReason`, the
 * field at fault, what was seen and what was expected, so the caller can bump the
 * counter `DROP_COUNTER[reason]` and log `message` as is. Checks run in a fixed order
 * (IP facts and TTL, version, type, VRID 0, address count, length, checksum, then auth
 * type and interval) so a packet with several faults always reports the same one;
 * structural faults come before the checksum so that, as in OpenBSD carp(4) and
 * keepalived, a wrong version counts as a version error and not as a checksum error.
 *
 * Length policy (a choice, stated): the RFCs only require the packet to be complete
 * (RFC 9568 §7.1). hacore is strict: the VRRP payload must be exactly the header plus
 * `count` addresses (plus 8 auth bytes for v2); shorter is "truncated", longer is
 * "length". This is safe because the IPv4 total length and the IPv6 payload length
 * already exclude Ethernet padding, and it catches a count that disagrees with the
 * bytes in either direction.
 *
 * @module
 */

import { type Family, formatIp, parseIpCached } from "../net/addr.ts";
import {
  checksumFrom,
  hex16,
  internetChecksum,
  ipv4PseudoHeader,
  ipv4PseudoSum,
  ipv6PseudoHeader,
  ipv6PseudoSum,
} from "../net/checksum.ts";
import { IPPROTO_VRRP } from "../net/ip.ts";
import {
  type Advert,
  type AuthType,
  type ChecksumMode,
  type DropReason,
  NO_AUTH_DATA,
  type OutgoingAdvert,
  type PacketContext,
} from "./types.ts";

/*
 * VRRPv2 advertisement (RFC 3768 §5.1):
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |   Auth Type   |   Adver Int   |          Checksum             |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                         IP Address (1)                        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                            .                                  |
 *  |                            .                                  |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                         IP Address (n)                        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                     Authentication Data (1)                   |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                     Authentication Data (2)                   |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Adver Int is in seconds. The checksum covers the VRRP message only.
 *
 * VRRPv3 advertisement (RFC 5798 §5.1, RFC 9568 §5.1):
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |(rsvd) |     Max Adver Int     |          Checksum             |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                                                               |
 *  +                                                               +
 *  |                       IPvX Address(es)                        |
 *  +                                                               +
 *  |                                                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Max Adver Int is 12 bits of centiseconds; the 4 reserved bits are sent as 0 and
 * ignored on receive. Checksum over IPv6: with the RFC 8200 pseudo-header (next
 * header 112). Over IPv4 there are two forms in the field:
 *  - "pseudo-header": with the IPv4 pseudo-header (protocol 112), which is how RFC
 *    5798 was read by keepalived (its default), FRR and Wireshark;
 *  - "rfc9568": the VRRP message alone, which is what RFC 9568 §5.2.8 now says ("For
 *    the IPv4 address family, the checksum calculation only includes the VRRP message
 *    starting with the Version field and ending after the last IPv4 address"), and
 *    what Cisco and keepalived's `v3_checksum_as_v2` send.
 */

/** Length of the fixed VRRP header (both versions). */
export const VRRP_HEADER_LENGTH = 8;
/** Length of the VRRPv2 authentication data. */
export const VRRP_V2_AUTH_LENGTH = 8;
/** VRRP packet type ADVERTISEMENT, the only one defined. */
export const VRRP_TYPE_ADVERTISEMENT = 1;
/** Required TTL / hop limit of VRRP packets (RFC 9568 §5.1.1.3, §5.1.2.3). */
export const VRRP_TTL = 255;
/** IPv4 multicast group of VRRP. */
export const VRRP_GROUP_IPV4 = "224.0.0.18";
/** IPv6 multicast group of VRRP. */
export const VRRP_GROUP_IPV6 = "ff02::12";

/** Which checksum form a received advert used (or an outgoing one should use). */
export type ChecksumForm = "pseudo-header" | "rfc9568" | "v2" | "v6";

/** The drop reasons the codec itself can detect; the rest need instance state. */
export type CodecDropReason = Extract<
  DropReason,
  | "truncated"
  | "version"
  | "type"
  | "checksum"
  | "ttl"
  | "address-list"
  | "length"
  | "auth-type"
  | "interval"
  | "family"
  | "vrid"
>;

/** Why a packet was refused, in terms an operator can act on. */
export interface DecodeError {
  reason: CodecDropReason;
  /**
   * The field at fault: a VRRP field (`header`, `version`, `type`, `vrid`, `count`, `length`,
   * `checksum`, `authType`, `interval`) or an IP fact (`ip.ttl`, `ip.family`, `ip.src`,
   * `ip.dst`). `internal` would mean a codec bug; the fuzz test holds it to never.
   */
  field: string;
  seen: string;
  expected: string;
  /** One line: `field: got …, expected … (context)`. */
  message: string;
}

/** Result of `decodeAdvert`. */
export type DecodeResult =
  | { ok: true; advert: Advert; checksumForm: ChecksumForm }
  | { ok: false; error: DecodeError };

/** Options of `decodeAdvert`. */
export interface DecodeOptions {
  /** How to check the VRRPv3-over-IPv4 checksum; ignored for v2 and IPv6. */
  checksumMode: ChecksumMode;
}

function refuse(
  reason: CodecDropReason,
  field: string,
  seen: string,
  expected: string,
  context?: string,
): { ok: false; error: DecodeError } {
  const tail = context ? ` (${context})` : "";
  return {
    ok: false,
    error: {
      reason,
      field,
      seen,
      expected,
      message: `${field}: got ${seen}, expected ${expected}${tail}`,
    },
  };
}

function addressLength(family: Family): number {
  return family === "ipv4" ? 4 : 16;
}

/** Sum of the message with its checksum field read as zero, i.e. the value to send. */
function checksumOf(msg: Uint8Array, pseudo: Uint8Array | null): number {
  const head = msg.subarray(0, 6);
  const zero = new Uint8Array(2);
  const rest = msg.subarray(8);
  return pseudo ? internetChecksum(pseudo, head, zero, rest) : internetChecksum(head, zero, rest);
}

/**
 * Decodes and validates one VRRP advertisement (the IP payload). `ctx` carries the IP
 * facts: family, source and destination (for the pseudo-header) and the TTL / hop
 * limit as received. Never throws, whatever the bytes.
 *
 * @example
 * ```ts
 * const r = decodeAdvert(ip.payload, {
 *   family: "ipv4", src: ip.src, dst: ip.dst, ttl: ip.ttl,
 * }, { checksumMode: "auto" });
 * if (!r.ok) counters[DROP_COUNTER[r.error.reason]]++;
 * ```
 */
export function decodeAdvert(
  bytes: Uint8Array,
  ctx: PacketContext,
  opts: DecodeOptions,
): DecodeResult {
  try {
    return decode(bytes, ctx, opts);
  } catch (e) {
    // Unreachable by design, and the fuzz test fails on any "internal" field; kept so
    // that a bug here costs one dropped packet, never the daemon.
    return refuse("truncated", "internal", `an exception (${String(e)})`, "none");
  }
}

function decode(bytes: Uint8Array, ctx: PacketContext, opts: DecodeOptions): DecodeResult {
  if (bytes.length < VRRP_HEADER_LENGTH) {
    return refuse(
      "truncated",
      "header",
      `${bytes.length} bytes`,
      `at least ${VRRP_HEADER_LENGTH}`,
      "fixed VRRP header",
    );
  }
  if (ctx.family !== "ipv4" && ctx.family !== "ipv6") {
    return refuse("family", "ip.family", String(ctx.family), "ipv4 or ipv6");
  }
  const src = parseIpCached(ctx.src);
  if (src?.family !== ctx.family) {
    return refuse("family", "ip.src", JSON.stringify(ctx.src), `an ${ctx.family} address`);
  }
  const dst = parseIpCached(ctx.dst);
  if (dst?.family !== ctx.family) {
    return refuse("family", "ip.dst", JSON.stringify(ctx.dst), `an ${ctx.family} address`);
  }
  if (ctx.ttl !== VRRP_TTL) {
    return refuse(
      "ttl",
      "ip.ttl",
      `${ctx.ttl}`,
      `${VRRP_TTL}`,
      ctx.family === "ipv4" ? "IPv4 TTL" : "IPv6 hop limit",
    );
  }
  const version = bytes[0] >> 4;
  if (version !== 2 && version !== 3) {
    return refuse("version", "version", `${version}`, "2 or 3");
  }
  if (version === 2 && ctx.family !== "ipv4") {
    return refuse("family", "ip.family", ctx.family, "ipv4", "VRRPv2 is defined for IPv4 only");
  }
  const type = bytes[0] & 0x0f;
  if (type !== VRRP_TYPE_ADVERTISEMENT) {
    return refuse("type", "type", `${type}`, `${VRRP_TYPE_ADVERTISEMENT}`, "ADVERTISEMENT");
  }
  if (bytes[1] === 0) {
    // VRID 0 is outside 1..255 (RFC 9568 §5.2.3), so no instance anywhere can own it.
    return refuse("vrid", "vrid", "0", "1..255");
  }
  const count = bytes[3];
  if (count === 0) {
    return refuse("address-list", "count", "0", "at least 1");
  }
  const alen = addressLength(ctx.family);
  const expectedLength = VRRP_HEADER_LENGTH + count * alen +
    (version === 2 ? VRRP_V2_AUTH_LENGTH : 0);
  // Words for a refusal only: built per packet, they were most of a good advert's garbage.
  const shape = () =>
    `VRRPv${version} with ${count} ${ctx.family === "ipv4" ? "IPv4" : "IPv6"} address${
      count === 1 ? "" : "es"
    }`;
  if (bytes.length < expectedLength) {
    return refuse(
      "truncated",
      "count",
      `${bytes.length} bytes`,
      `${expectedLength} bytes`,
      shape(),
    );
  }
  if (bytes.length > expectedLength) {
    return refuse("length", "length", `${bytes.length} bytes`, `${expectedLength} bytes`, shape());
  }

  const wire = (bytes[6] << 8) | bytes[7];
  let checksumForm: ChecksumForm;
  if (version === 2) {
    checksumForm = "v2";
    if (checksumFrom(0, bytes) !== 0) {
      return refuse("checksum", "checksum", hex16(wire), hex16(checksumOf(bytes, null)), "VRRPv2");
    }
  } else if (ctx.family === "ipv6") {
    checksumForm = "v6";
    if (
      checksumFrom(ipv6PseudoSum(src.bytes, dst.bytes, IPPROTO_VRRP, bytes.length), bytes) !== 0
    ) {
      const pseudo = ipv6PseudoHeader(src.bytes, dst.bytes, IPPROTO_VRRP, bytes.length);
      return refuse(
        "checksum",
        "checksum",
        hex16(wire),
        hex16(checksumOf(bytes, pseudo)),
        "VRRPv3 over IPv6 with pseudo-header",
      );
    }
  } else {
    const withPseudo = opts.checksumMode !== "rfc9568" &&
      checksumFrom(ipv4PseudoSum(src.bytes, dst.bytes, IPPROTO_VRRP, bytes.length), bytes) === 0;
    const plain = !withPseudo && opts.checksumMode !== "pseudo-header" &&
      checksumFrom(0, bytes) === 0;
    if (withPseudo) checksumForm = "pseudo-header";
    else if (plain) checksumForm = "rfc9568";
    else {
      const pseudo = ipv4PseudoHeader(src.bytes, dst.bytes, IPPROTO_VRRP, bytes.length);
      const ph = hex16(checksumOf(bytes, pseudo));
      const np = hex16(checksumOf(bytes, null));
      if (opts.checksumMode === "pseudo-header") {
        return refuse(
          "checksum",
          "checksum",
          hex16(wire),
          ph,
          "VRRPv3 over IPv4 with pseudo-header",
        );
      }
      if (opts.checksumMode === "rfc9568") {
        return refuse(
          "checksum",
          "checksum",
          hex16(wire),
          np,
          "VRRPv3 over IPv4 without pseudo-header, RFC 9568",
        );
      }
      return refuse(
        "checksum",
        "checksum",
        hex16(wire),
        `${ph} or ${np}`,
        "VRRPv3 over IPv4 with pseudo-header, or without it as RFC 9568",
      );
    }
  }

  let authType: AuthType = 0;
  let intervalMs: number;
  let authData = NO_AUTH_DATA;
  if (version === 2) {
    const at = bytes[4];
    if (at !== 0 && at !== 1) {
      return refuse(
        "auth-type",
        "authType",
        at === 2 ? "2 (IP Authentication Header, removed by RFC 3768)" : `${at}`,
        "0 (none) or 1 (simple text)",
      );
    }
    authType = at;
    const seconds = bytes[5];
    if (seconds === 0) return refuse("interval", "interval", "0 s", "1..255 s");
    intervalMs = seconds * 1000;
    authData = bytes.slice(expectedLength - VRRP_V2_AUTH_LENGTH, expectedLength);
  } else {
    const centiseconds = ((bytes[4] & 0x0f) << 8) | bytes[5];
    if (centiseconds === 0) {
      return refuse("interval", "interval", "0 cs", "1..4095 cs", "RFC 9568 §7.1");
    }
    intervalMs = centiseconds * 10;
  }

  const addresses: string[] = [];
  for (let i = 0; i < count; i++) {
    const at = VRRP_HEADER_LENGTH + i * alen;
    addresses.push(formatIp(bytes.subarray(at, at + alen)));
  }
  return {
    ok: true,
    checksumForm,
    advert: {
      version,
      vrid: bytes[1],
      priority: bytes[2],
      intervalMs,
      addresses,
      authType,
      authData,
      checksum: wire,
    },
  };
}

/** IP facts the encoder needs for the checksum. */
export interface EncodeContext {
  family: Family;
  src: string;
  dst: string;
}

/**
 * Encodes an advertisement, checksum included. `form` picks the VRRPv3-over-IPv4
 * checksum ("pseudo-header" is keepalived's default and what `auto` mode sends); it is
 * ignored for v2 and IPv6, which each have only one form.
 *
 * Throws RangeError on an advert that cannot be put on the wire (v2 over IPv6, an
 * interval that is not a whole number of the version's unit or out of its range, an
 * address of the wrong family, auth type 2): these come from configuration that the
 * config layer validates, so reaching here is a programming error.
 *
 * @example
 * ```ts
 * const bytes = encodeAdvert(
 *   { version: 3, vrid: 51, priority: 150, intervalMs: 100, addresses: ["10.77.0.200"],
 *     authType: 0, authData: new Uint8Array(0) },
 *   { family: "ipv4", src: "10.77.0.11", dst: "224.0.0.18" },
 *   "pseudo-header",
 * ); // checksum 0x42c5, as keepalived sent it
 * ```
 */
export function encodeAdvert(
  advert: OutgoingAdvert,
  ctx: EncodeContext,
  form: "pseudo-header" | "rfc9568",
): Uint8Array {
  const { version } = advert;
  if (version !== 2 && version !== 3) throw new RangeError(`VRRP version ${version} is not 2 or 3`);
  if (version === 2 && ctx.family !== "ipv4") {
    throw new RangeError("VRRPv2 is defined for IPv4 only");
  }
  const src = parseIpCached(ctx.src);
  const dst = parseIpCached(ctx.dst);
  if (src?.family !== ctx.family || dst?.family !== ctx.family) {
    throw new RangeError(`source ${ctx.src} and destination ${ctx.dst} must be ${ctx.family}`);
  }
  integer("vrid", advert.vrid, 1, 255);
  integer("priority", advert.priority, 0, 255);
  const count = advert.addresses.length;
  integer("address count", count, 1, 255);
  let intervalField: number;
  if (version === 2) {
    intervalField = advert.intervalMs / 1000;
    integer("VRRPv2 interval (s)", intervalField, 1, 255);
    if (advert.authType !== 0 && advert.authType !== 1) {
      throw new RangeError(`VRRPv2 auth type ${advert.authType} is not supported`);
    }
    if (advert.authData.length > VRRP_V2_AUTH_LENGTH) {
      throw new RangeError(`auth data is ${advert.authData.length} bytes, at most 8`);
    }
  } else {
    intervalField = advert.intervalMs / 10;
    integer("VRRPv3 interval (cs)", intervalField, 1, 0x0fff);
  }
  const alen = addressLength(ctx.family);
  const length = VRRP_HEADER_LENGTH + count * alen + (version === 2 ? VRRP_V2_AUTH_LENGTH : 0);
  const out = new Uint8Array(length);
  out[0] = (version << 4) | VRRP_TYPE_ADVERTISEMENT;
  out[1] = advert.vrid;
  out[2] = advert.priority;
  out[3] = count;
  if (version === 2) {
    out[4] = advert.authType;
    out[5] = intervalField;
  } else {
    out[4] = intervalField >> 8; // the reserved high nibble stays 0
    out[5] = intervalField & 0xff;
  }
  for (let i = 0; i < count; i++) {
    const text = advert.addresses[i];
    const a = parseIpCached(text);
    if (a?.family !== ctx.family) {
      throw new RangeError(`virtual address ${text} is not ${ctx.family}`);
    }
    out.set(a.bytes, VRRP_HEADER_LENGTH + i * alen);
  }
  if (version === 2) out.set(advert.authData, length - VRRP_V2_AUTH_LENGTH);
  let pseudo = 0;
  if (version === 3 && ctx.family === "ipv6") {
    pseudo = ipv6PseudoSum(src.bytes, dst.bytes, IPPROTO_VRRP, length);
  } else if (version === 3 && form === "pseudo-header") {
    pseudo = ipv4PseudoSum(src.bytes, dst.bytes, IPPROTO_VRRP, length);
  }
  // The checksum field of a fresh message is still zero: sum it as it is.
  const sum = checksumFrom(pseudo, out);
  out[6] = sum >> 8;
  out[7] = sum & 0xff;
  return out;
}

function integer(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  }
}

export { DROP_COUNTER, type DropCounterName } from "./types.ts";

/**
 * The MIB object each drop reason is reported as: RFC 6527 (VRRPv3 MIB) where it has
 * one, RFC 2787 (VRRPv2 MIB) for the v2-only authentication counters. Unicast peer
 * filtering is not in either MIB; its name is hacore's own and says so.
 *
 * @example
 * ```ts
 * RFC6527_NAME["ttl"]; // "vrrpv3StatisticsIpTtlErrors"
 * ```
 */
export const RFC6527_NAME: Readonly<Record<DropReason, string>> = Object.freeze({
  truncated: "vrrpv3StatisticsPacketLengthErrors",
  length: "vrrpv3StatisticsPacketLengthErrors",
  version: "vrrpv3RouterVersionErrors",
  family: "vrrpv3RouterVersionErrors",
  type: "vrrpv3StatisticsRcvdInvalidTypePackets",
  checksum: "vrrpv3RouterChecksumErrors",
  ttl: "vrrpv3StatisticsIpTtlErrors",
  vrid: "vrrpv3RouterVrIdErrors",
  "address-list": "vrrpv3StatisticsAddressListErrors",
  "auth-type": "vrrpStatsInvalidAuthType",
  auth: "vrrpStatsAuthFailures",
  interval: "vrrpv3StatisticsAdvIntervalErrors",
  "unicast-peer": "hacoreUnicastPeerErrors (not in a MIB)",
  "peer-mac": "hacorePeerMacErrors (not in a MIB)",
});
