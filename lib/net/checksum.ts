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
