/**
 * Addresses as the bytes a struct or an attribute carries, checked against the family
 * the caller expects. Pure, so codecs (netlink, sockaddrs) share one parser and one error.
 *
 * @module
 */

import { parseIpCached } from "./addr.ts";

/**
 * An IP address as text ("192.0.2.1", "ff02::12") or as 4 / 16 network-order bytes.
 *
 * @example
 * ```ts
 * const a: IpInput = "192.0.2.1";
 * const b: IpInput = Uint8Array.of(192, 0, 2, 1);
 * ```
 */
export type IpInput = string | Uint8Array;

/**
 * The bytes of an address, checked against the family the caller expects. Parsed text
 * is remembered ({@link parseIpCached}): every send builds a sockaddr from the same few
 * addresses. The result may be shared, so it is read (copied into a struct), never
 * written.
 *
 * @example
 * ```ts
 * ipBytes("192.0.2.1", 4); // Uint8Array [192, 0, 2, 1]
 * ```
 */
export function ipBytes(addr: IpInput, length: 4 | 16): Uint8Array {
  if (typeof addr !== "string") {
    if (addr.length !== length) {
      throw new RangeError(`expected a ${length}-byte address, got ${addr.length} bytes`);
    }
    return addr;
  }
  const p = parseIpCached(addr);
  if (!p || p.bytes.length !== length) {
    throw new RangeError(`not an IPv${length === 4 ? 4 : 6} address: ${addr}`);
  }
  return p.bytes;
}
