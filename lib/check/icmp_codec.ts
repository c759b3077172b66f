/**
 * ICMP echo messages (RFC 792, RFC 4443) for the ICMP check: build a request, pick
 * the matching reply out of what a raw socket delivers. Pure; never throws.
 *
 * ```
 *  0        7 8       15 16                31
 * +----------+----------+--------------------+
 * |   type   |   code   |      checksum      |
 * +----------+----------+--------------------+
 * |      identifier     |  sequence number   |
 * +---------------------+--------------------+
 * |                  data ...                |
 * ```
 *
 * A raw IPv4 socket delivers the IPv4 header in front of the message; a raw ICMPv6
 * socket delivers the message alone, and the kernel fills in the ICMPv6 checksum
 * (it needs the pseudo-header, which only it knows for sure).
 *
 * @module
 */

import {
  ICMP6_ECHO_REPLY,
  ICMP6_ECHO_REQUEST,
  ICMP_ECHO,
  ICMP_ECHOREPLY,
  IPPROTO_ICMP,
} from "../sys/libc.ts";
import { internetChecksum } from "../net/checksum.ts";

/** Bytes of the echo header (type, code, checksum, identifier, sequence). */
export const ICMP_ECHO_HEADER_BYTES = 8;

/**
 * Encodes an echo request. For IPv4 the checksum is computed; for IPv6 it is left 0
 * for the kernel.
 *
 * @example
 * ```ts
 * const req = encodeEchoRequest(4, 0x1234, 1, new TextEncoder().encode("hacore"));
 * req[0]; // 8 (ICMP_ECHO)
 * ```
 */
export function encodeEchoRequest(
  ipVersion: 4 | 6,
  identifier: number,
  sequence: number,
  data: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(ICMP_ECHO_HEADER_BYTES + data.length);
  const dv = new DataView(out.buffer);
  out[0] = ipVersion === 4 ? ICMP_ECHO : ICMP6_ECHO_REQUEST;
  dv.setUint16(4, identifier & 0xffff);
  dv.setUint16(6, sequence & 0xffff);
  out.set(data, ICMP_ECHO_HEADER_BYTES);
  if (ipVersion === 4) dv.setUint16(2, internetChecksum(out));
  return out;
}

/**
 * The identifier and sequence of an echo reply as a raw socket delivered it (IPv4:
 * with its IP header), or null when it is anything else: another ICMP type, a cut or
 * corrupt message (IPv4 checksums are verified).
 *
 * @example
 * ```ts
 * decodeEchoReply(6, Uint8Array.of(129, 0, 0, 0, 0x12, 0x34, 0, 1)); // { identifier: 0x1234, sequence: 1 }
 * ```
 */
export function decodeEchoReply(
  ipVersion: 4 | 6,
  packet: Uint8Array,
): { identifier: number; sequence: number } | null {
  let msg = packet;
  if (ipVersion === 4) {
    if (packet.length < 20 || packet[0] >> 4 !== 4) return null;
    const ihl = (packet[0] & 0x0f) * 4;
    if (ihl < 20 || packet.length < ihl + ICMP_ECHO_HEADER_BYTES || packet[9] !== IPPROTO_ICMP) {
      return null;
    }
    msg = packet.subarray(ihl);
    if (internetChecksum(msg) !== 0) return null;
  }
  if (msg.length < ICMP_ECHO_HEADER_BYTES) return null;
  if (msg[0] !== (ipVersion === 4 ? ICMP_ECHOREPLY : ICMP6_ECHO_REPLY) || msg[1] !== 0) return null;
  return { identifier: (msg[4] << 8) | msg[5], sequence: (msg[6] << 8) | msg[7] };
}
