/**
 * Ethernet II framing and MAC address helpers (pure).
 *
 * The announce path (gratuitous ARP, unsolicited NA) writes whole frames on an
 * `AF_PACKET` socket, and the capture tests read whole frames from pcaps; both need
 * the 14-byte header split from its payload, so it lives in one small place.
 *
 * @module
 */

/** EtherType of IPv4. */
export const ETHERTYPE_IPV4 = 0x0800;
/** EtherType of ARP. */
export const ETHERTYPE_ARP = 0x0806;
/** EtherType of IPv6. */
export const ETHERTYPE_IPV6 = 0x86dd;
/** EtherType of an IEEE 802.1Q VLAN tag. */
export const ETHERTYPE_VLAN = 0x8100;

/** Length of an Ethernet II header without a VLAN tag. */
export const ETHER_HEADER_LENGTH = 14;

/** The all-ones broadcast MAC. */
export const BROADCAST_MAC: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/**
 * Formats 6 bytes as lower-case colon-separated hex.
 *
 * @example
 * ```ts
 * macToString(new Uint8Array([0xa6, 0xa1, 0x14, 0xb3, 0xec, 0x0d])); // "a6:a1:14:b3:ec:0d"
 * ```
 */
export function macToString(mac: Uint8Array): string {
  if (mac.length !== 6) return formatMac(mac);
  // Every received advert names its sender's MAC: the same few senders, so the same
  // few strings, each handed out again rather than built (keys are two Smis).
  const hi = (mac[0] << 16) | (mac[1] << 8) | mac[2];
  const lo = (mac[3] << 16) | (mac[4] << 8) | mac[5];
  let byLo = macTexts.get(hi);
  const hit = byLo?.get(lo);
  if (hit !== undefined) return hit;
  const text = formatMac(mac);
  if (macTextCount >= MAC_TEXTS_MAX) {
    macTexts.clear();
    macTextCount = 0;
    byLo = undefined;
  }
  if (byLo === undefined) macTexts.set(hi, byLo = new Map());
  byLo.set(lo, text);
  macTextCount++;
  return text;
}

/** Distinct MACs {@link macToString} remembers before it starts over. */
const MAC_TEXTS_MAX = 1024;
const macTexts = new Map<number, Map<number, string>>();
let macTextCount = 0;

function formatMac(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join(":");
}

/**
 * Parses `aa:bb:cc:dd:ee:ff` (or with `-`) into 6 bytes, or returns null.
 *
 * @example
 * ```ts
 * parseMac("33:33:00:00:00:12")?.[5]; // 0x12
 * ```
 */
export function parseMac(text: string): Uint8Array | null {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6) return null;
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) {
    if (!/^[0-9a-fA-F]{2}$/.test(parts[i])) return null;
    out[i] = parseInt(parts[i], 16);
  }
  return out;
}

/**
 * The multicast MAC an IPv6 multicast address maps to (RFC 2464 §7): 33:33 and the
 * low 32 bits of the group.
 *
 * @example
 * ```ts
 * macToString(ipv6MulticastMac(new Uint8Array(16).fill(0x12, 15))); // "33:33:00:00:00:12"
 * ```
 */
export function ipv6MulticastMac(group: Uint8Array): Uint8Array {
  return new Uint8Array([0x33, 0x33, group[12], group[13], group[14], group[15]]);
}

/**
 * The multicast MAC an IPv4 multicast address maps to (RFC 1112 §6.4): 01:00:5e and
 * the low 23 bits of the group.
 *
 * @example
 * ```ts
 * macToString(ipv4MulticastMac(new Uint8Array([224, 0, 0, 18]))); // "01:00:5e:00:00:12"
 * ```
 */
export function ipv4MulticastMac(group: Uint8Array): Uint8Array {
  return new Uint8Array([0x01, 0x00, 0x5e, group[1] & 0x7f, group[2], group[3]]);
}

/** An Ethernet II frame split into its header fields and payload. */
export interface EthernetFrame {
  dst: Uint8Array;
  src: Uint8Array;
  /** The EtherType after any VLAN tag. */
  etherType: number;
  /** 802.1Q VLAN id when the frame carried one tag, else null. */
  vlan: number | null;
  /** Everything after the header (may include Ethernet padding). */
  payload: Uint8Array;
}

/** Result of `decodeEthernet`. */
export type EthernetResult =
  | ({ ok: true } & EthernetFrame)
  | { ok: false; error: string };

/**
 * Splits an Ethernet II frame. The payload is a view into `frame`, not a copy. One
 * 802.1Q tag is understood because captures on trunk ports carry one.
 *
 * @example
 * ```ts
 * const eth = decodeEthernet(frame);
 * if (eth.ok && eth.etherType === ETHERTYPE_ARP) decodeArp(frame);
 * ```
 */
export function decodeEthernet(frame: Uint8Array): EthernetResult {
  if (frame.length < ETHER_HEADER_LENGTH) {
    return { ok: false, error: `ethernet: frame of ${frame.length} bytes is shorter than 14` };
  }
  let etherType = (frame[12] << 8) | frame[13];
  let offset = ETHER_HEADER_LENGTH;
  let vlan: number | null = null;
  if (etherType === ETHERTYPE_VLAN) {
    if (frame.length < ETHER_HEADER_LENGTH + 4) {
      return { ok: false, error: `ethernet: VLAN-tagged frame of ${frame.length} bytes is short` };
    }
    vlan = ((frame[14] << 8) | frame[15]) & 0x0fff;
    etherType = (frame[16] << 8) | frame[17];
    offset += 4;
  }
  return {
    ok: true,
    dst: frame.subarray(0, 6),
    src: frame.subarray(6, 12),
    etherType,
    vlan,
    payload: frame.subarray(offset),
  };
}

/**
 * Builds an untagged Ethernet II frame. No padding is added: the kernel pads short
 * frames on transmit, and keepalived's 42-byte ARP frames go out unpadded too.
 *
 * @example
 * ```ts
 * encodeEthernet({ dst: BROADCAST_MAC, src: mac, etherType: ETHERTYPE_ARP, payload: arp });
 * ```
 */
export function encodeEthernet(
  f: { dst: Uint8Array; src: Uint8Array; etherType: number; payload: Uint8Array },
): Uint8Array {
  if (f.dst.length !== 6 || f.src.length !== 6) {
    throw new RangeError(`MAC addresses must be 6 bytes, got ${f.dst.length} and ${f.src.length}`);
  }
  const out = new Uint8Array(ETHER_HEADER_LENGTH + f.payload.length);
  out.set(f.dst, 0);
  out.set(f.src, 6);
  out[12] = f.etherType >> 8;
  out[13] = f.etherType & 0xff;
  out.set(f.payload, ETHER_HEADER_LENGTH);
  return out;
}
