/**
 * The Internet checksum (RFC 1071) and the IPv4 / IPv6 pseudo-headers that VRRPv3
 * and ICMPv6 prepend to it.
 *
 * @module
 */

/**
 * The 16-bit one's complement of the one's complement sum of the concatenation of
 * `parts` (an odd-length part is continued by the next one, as if concatenated).
 * A message whose checksum field holds this value sums to 0xffff, so running this
 * over a received message, checksum included, returns 0 when it is intact.
 *
 * @example
 * ```ts
 * internetChecksum(new Uint8Array([0x45, 0x00, 0x00, 0x1c])); // 0xbae3
 * ```
 */
export function internetChecksum(...parts: Uint8Array[]): number {
  let sum = 0;
  let odd = false;
  for (const part of parts) {
    for (let i = 0; i < part.length; i++) {
      // Byte position within the 16-bit word depends on everything summed before it.
      sum += odd ? part[i] : part[i] << 8;
      odd = !odd;
      // Fold before the sum leaves the range `>>>` handles (it truncates to 32 bits).
      if (sum > 0x7fffffff) sum = (sum & 0xffff) + (sum >>> 16);
    }
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/*
 * IPv4 pseudo-header (RFC 768, the form RFC 5798 and keepalived use for VRRPv3):
 *
 *   0      7 8     15 16    23 24    31
 *  +--------+--------+--------+--------+
 *  |          source address           |
 *  +--------+--------+--------+--------+
 *  |        destination address        |
 *  +--------+--------+--------+--------+
 *  |  zero  |protocol|      length     |
 *  +--------+--------+--------+--------+
 */

/**
 * The internet checksum of `bytes[start, end)` on top of `sum`, a partial sum of
 * 16-bit words such as {@link ipv4PseudoSum} returns: {@link internetChecksum} of the
 * pseudo-header and the message without building either into one buffer. The packet
 * path checks and makes a checksum per advert, and those buffers were its garbage.
 *
 * @example
 * ```ts
 * checksumFrom(ipv4PseudoSum(src, dst, 112, msg.length), msg) === 0; // a good VRRPv3 checksum
 * ```
 */
export function checksumFrom(
  sum: number,
  bytes: Uint8Array,
  start = 0,
  end: number = bytes.length,
): number {
  let i = start;
  for (; i + 1 < end; i += 2) {
    sum += (bytes[i] << 8) | bytes[i + 1];
    if (sum > 0x7fffffff) sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (i < end) sum += bytes[i] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * The 16-bit words of the IPv4 pseudo-header ({@link ipv4PseudoHeader}) summed,
 * unfolded, for {@link checksumFrom}.
 *
 * @example
 * ```ts
 * ipv4PseudoSum(new Uint8Array([192, 0, 2, 1]), new Uint8Array([224, 0, 0, 18]), 112, 12);
 * ```
 */
export function ipv4PseudoSum(
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  length: number,
): number {
  if (src.length !== 4 || dst.length !== 4) {
    throw new RangeError(`IPv4 pseudo-header needs 4-byte addresses`);
  }
  return ((src[0] << 8) | src[1]) + ((src[2] << 8) | src[3]) + ((dst[0] << 8) | dst[1]) +
    ((dst[2] << 8) | dst[3]) + protocol + (length & 0xffff);
}

/**
 * The 16-bit words of the IPv6 pseudo-header ({@link ipv6PseudoHeader}) summed,
 * unfolded, for {@link checksumFrom}.
 *
 * @example
 * ```ts
 * checksumFrom(ipv6PseudoSum(src, dst, 112, msg.length), msg);
 * ```
 */
export function ipv6PseudoSum(
  src: Uint8Array,
  dst: Uint8Array,
  nextHeader: number,
  length: number,
): number {
  if (src.length !== 16 || dst.length !== 16) {
    throw new RangeError(`IPv6 pseudo-header needs 16-byte addresses`);
  }
  let sum = 0;
  for (let i = 0; i < 16; i += 2) {
    sum += ((src[i] << 8) | src[i + 1]) + ((dst[i] << 8) | dst[i + 1]);
  }
  const len = length >>> 0;
  return sum + (len >>> 16) + (len & 0xffff) + nextHeader;
}

/**
 * The 12-byte IPv4 pseudo-header for `protocol` carrying `length` bytes.
 *
 * @example
 * ```ts
 * ipv4PseudoHeader(src, dst, 112, 12).length; // 12
 * ```
 */
export function ipv4PseudoHeader(
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  length: number,
): Uint8Array {
  if (src.length !== 4 || dst.length !== 4) {
    throw new RangeError(`IPv4 pseudo-header needs 4-byte addresses`);
  }
  const out = new Uint8Array(12);
  out.set(src, 0);
  out.set(dst, 4);
  out[9] = protocol;
  out[10] = (length >> 8) & 0xff;
  out[11] = length & 0xff;
  return out;
}

/*
 * IPv6 pseudo-header (RFC 8200 §8.1):
 *
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
 *  |                   Upper-Layer Packet Length                   |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                      zero                     |  Next Header  |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */

/**
 * The 40-byte IPv6 pseudo-header for `nextHeader` carrying `length` bytes.
 *
 * @example
 * ```ts
 * ipv6PseudoHeader(src, dst, 58, 32)[39]; // 58
 * ```
 */
export function ipv6PseudoHeader(
  src: Uint8Array,
  dst: Uint8Array,
  nextHeader: number,
  length: number,
): Uint8Array {
  if (src.length !== 16 || dst.length !== 16) {
    throw new RangeError(`IPv6 pseudo-header needs 16-byte addresses`);
  }
  const out = new Uint8Array(40);
  out.set(src, 0);
  out.set(dst, 16);
  new DataView(out.buffer).setUint32(32, length >>> 0);
  out[39] = nextHeader;
  return out;
}

/**
 * Formats a 16-bit checksum the way messages and logs show it.
 *
 * @example
 * ```ts
 * hex16(0x1a2b); // "0x1a2b"
 * ```
 */
export function hex16(value: number): string {
  return `0x${value.toString(16).padStart(4, "0")}`;
}
