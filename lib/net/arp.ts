/**
 * ARP over Ethernet (RFC 826), pure: the gratuitous ARP a new master sends for each
 * IPv4 VIP, and a decoder for any ARP frame.
 *
 * keepalived's gratuitous ARP, as captured: Ethernet broadcast, opcode 1 (request),
 * sender MAC = interface MAC, sender IP = target IP = the VIP, target MAC
 * ff:ff:ff:ff:ff:ff. (RFC 5227's "ARP announcement" puts zeros in the target MAC; we
 * match the incumbent byte for byte because that is what switches and hosts have
 * been seeing from it for twenty years.)
 *
 * @module
 */

import { formatIp, parseIp } from "./addr.ts";
import {
  BROADCAST_MAC,
  decodeEthernet,
  encodeEthernet,
  ETHER_HEADER_LENGTH,
  ETHERTYPE_ARP,
} from "./ether.ts";

export { macToString, parseMac } from "./ether.ts";

/** ARP opcode: request. */
export const ARP_OP_REQUEST = 1;
/** ARP opcode: reply. */
export const ARP_OP_REPLY = 2;
/** Length of an Ethernet/IPv4 ARP packet. */
export const ARP_PACKET_LENGTH = 28;
/** Length of a whole unpadded Ethernet ARP frame. */
export const ARP_FRAME_LENGTH: number = ETHER_HEADER_LENGTH + ARP_PACKET_LENGTH;

const HTYPE_ETHERNET = 1;
const PTYPE_IPV4 = 0x0800;

/*
 * ARP packet for Ethernet and IPv4 (RFC 826):
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |     Hardware Type (1)         |    Protocol Type (0x0800)     |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  | HW Len (6)    | Proto Len (4) |            Opcode             |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                 Sender Hardware Address (0-3)                 |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  Sender HW Address (4-5)      |  Sender Protocol Addr (0-1)   |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  Sender Protocol Addr (2-3)   |  Target Hardware Addr (0-1)   |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                 Target Hardware Address (2-5)                 |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                   Target Protocol Address                     |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */

/** The fields of an Ethernet/IPv4 ARP frame. */
export interface ArpFields {
  /** Ethernet destination. */
  ethDst: Uint8Array;
  /** Ethernet source; on encode it defaults to `senderMac`. */
  ethSrc?: Uint8Array;
  op: number;
  senderMac: Uint8Array;
  senderIp: string;
  targetMac: Uint8Array;
  targetIp: string;
}

/**
 * Encodes a whole Ethernet/IPv4 ARP frame (42 bytes, unpadded). Throws RangeError on
 * a MAC that is not 6 bytes or an address that is not IPv4.
 *
 * @example
 * ```ts
 * encodeArp({
 *   ethDst: BROADCAST_MAC, op: ARP_OP_REQUEST, senderMac: mac, senderIp: "10.88.0.1",
 *   targetMac: new Uint8Array(6), targetIp: "10.88.0.2",
 * }).length; // 42
 * ```
 */
export function encodeArp(f: ArpFields): Uint8Array {
  const spa = parseIp(f.senderIp);
  const tpa = parseIp(f.targetIp);
  if (spa?.family !== "ipv4" || tpa?.family !== "ipv4") {
    throw new RangeError(`ARP needs IPv4 addresses, got ${f.senderIp} and ${f.targetIp}`);
  }
  if (f.senderMac.length !== 6 || f.targetMac.length !== 6) {
    throw new RangeError("ARP hardware addresses must be 6 bytes");
  }
  const arp = new Uint8Array(ARP_PACKET_LENGTH);
  arp[0] = HTYPE_ETHERNET >> 8;
  arp[1] = HTYPE_ETHERNET & 0xff;
  arp[2] = PTYPE_IPV4 >> 8;
  arp[3] = PTYPE_IPV4 & 0xff;
  arp[4] = 6;
  arp[5] = 4;
  arp[6] = f.op >> 8;
  arp[7] = f.op & 0xff;
  arp.set(f.senderMac, 8);
  arp.set(spa.bytes, 14);
  arp.set(f.targetMac, 18);
  arp.set(tpa.bytes, 24);
  return encodeEthernet({
    dst: f.ethDst,
    src: f.ethSrc ?? f.senderMac,
    etherType: ETHERTYPE_ARP,
    payload: arp,
  });
}

/**
 * Encodes the gratuitous ARP keepalived sends for a VIP: a 42-byte broadcast ARP
 * request with sender IP = target IP = `ip` and target MAC all ones.
 *
 * @example
 * ```ts
 * const frame = encodeGratuitousArp({ senderMac: parseMac("a6:a1:14:b3:ec:0d")!, ip: "10.88.0.100" });
 * frame.length; // 42
 * ```
 */
export function encodeGratuitousArp(g: { senderMac: Uint8Array; ip: string }): Uint8Array {
  return encodeArp({
    ethDst: BROADCAST_MAC,
    op: ARP_OP_REQUEST,
    senderMac: g.senderMac,
    senderIp: g.ip,
    targetMac: BROADCAST_MAC,
    targetIp: g.ip,
  });
}

/** A decoded ARP frame. */
export interface ArpFrame {
  ethDst: Uint8Array;
  ethSrc: Uint8Array;
  op: number;
  senderMac: Uint8Array;
  senderIp: string;
  targetMac: Uint8Array;
  targetIp: string;
  /** Sender IP equals target IP: an announcement, not a question. */
  gratuitous: boolean;
}

/** Result of `decodeArp`. */
export type ArpResult = ({ ok: true } & ArpFrame) | { ok: false; error: string };

/**
 * Decodes an Ethernet/IPv4 ARP frame (trailing Ethernet padding is allowed). Never
 * throws.
 *
 * @example
 * ```ts
 * const arp = decodeArp(frame);
 * if (arp.ok && arp.gratuitous) console.log(`${arp.senderIp} is at ${macToString(arp.senderMac)}`);
 * ```
 */
export function decodeArp(frame: Uint8Array): ArpResult {
  const eth = decodeEthernet(frame);
  if (!eth.ok) return { ok: false, error: eth.error };
  if (eth.etherType !== ETHERTYPE_ARP) {
    return { ok: false, error: `arp: ethertype 0x${eth.etherType.toString(16)} is not ARP` };
  }
  const p = eth.payload;
  if (p.length < ARP_PACKET_LENGTH) {
    return { ok: false, error: `arp: ${p.length} bytes, expected at least ${ARP_PACKET_LENGTH}` };
  }
  const htype = (p[0] << 8) | p[1];
  const ptype = (p[2] << 8) | p[3];
  if (htype !== HTYPE_ETHERNET || ptype !== PTYPE_IPV4 || p[4] !== 6 || p[5] !== 4) {
    return {
      ok: false,
      error: `arp: hardware ${htype}/${p[4]}, protocol 0x${ptype.toString(16)}/${
        p[5]
      } is not Ethernet/IPv4`,
    };
  }
  const senderIp = formatIp(p.subarray(14, 18));
  const targetIp = formatIp(p.subarray(24, 28));
  return {
    ok: true,
    ethDst: eth.dst.slice(),
    ethSrc: eth.src.slice(),
    op: (p[6] << 8) | p[7],
    senderMac: p.slice(8, 14),
    senderIp,
    targetMac: p.slice(18, 24),
    targetIp,
    gratuitous: senderIp === targetIp,
  };
}
