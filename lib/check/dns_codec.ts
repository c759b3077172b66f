/**
 * The little of DNS (RFC 1035) a health check needs: a one-question query, and a
 * decoder for the reply that never throws, whatever bytes arrive.
 *
 * ```
 *  header (12 bytes)        question                  resource record
 *  +----+-------+----+      +-------+-----+------+    +------+------+-------+-----+-------+-------+
 *  | ID | flags |QD..|      | QNAME |QTYPE|QCLASS|    | NAME | TYPE | CLASS | TTL | RDLEN | RDATA |
 *  +----+-------+----+      +-------+-----+------+    +------+------+-------+-----+-------+-------+
 *  flags: QR(1) OPCODE(4) AA TC RD RA Z(3) RCODE(4)
 * ```
 *
 * Names may be compressed (a 2-byte pointer `11xxxxxx xxxxxxxx` to an earlier name);
 * the decoder follows at most {@link MAX_POINTER_JUMPS} pointers and stops at 255
 * bytes of name, so a pointer loop or a runaway name is an error, not a hang.
 *
 * @module
 */

import { formatIp } from "../net/addr.ts";
import type { DnsRecordType } from "./types.ts";

/** Record type numbers (IANA). */
export const DNS_TYPE: Readonly<Record<DnsRecordType, number>> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
};

/** Class IN. */
export const DNS_CLASS_IN = 1;
/** Length of the fixed header. */
export const DNS_HEADER_BYTES = 12;
/** Pointers followed in one name before it is declared a loop. */
export const MAX_POINTER_JUMPS = 32;
/** RFC 1035 §3.1: a name (wire form) is at most 255 bytes. */
export const MAX_NAME_BYTES = 255;

const FLAG_QR = 0x8000;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;

const RCODE_NAMES: readonly string[] = [
  "NOERROR",
  "FORMERR",
  "SERVFAIL",
  "NXDOMAIN",
  "NOTIMP",
  "REFUSED",
  "YXDOMAIN",
  "YXRRSET",
  "NXRRSET",
  "NOTAUTH",
  "NOTZONE",
];

/**
 * The name of a response code (`NXDOMAIN`), or `RCODE n`.
 *
 * @example
 * ```ts
 * rcodeName(5); // "REFUSED"
 * ```
 */
export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `RCODE ${rcode}`;
}

/**
 * A name as the checks compare names: lower case, no trailing dot (`""` for the root).
 *
 * @example
 * ```ts
 * normalizeName("WWW.Example.COM."); // "www.example.com"
 * ```
 */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/**
 * Encodes a standard query (RD set) for one name and type, class IN.
 *
 * @example
 * ```ts
 * encodeDnsQuery(0x1234, "example.com", DNS_TYPE.A).length; // 12 + 13 + 4 = 29
 * ```
 * @throws {RangeError} on a label longer than 63 bytes or a name over 255 bytes.
 */
export function encodeDnsQuery(id: number, name: string, type: number): Uint8Array {
  const labels = normalizeName(name) === "" ? [] : name.replace(/\.$/, "").split(".");
  const enc = new TextEncoder();
  const parts = labels.map((l) => enc.encode(l));
  const nameBytes = parts.reduce((s, p) => s + 1 + p.length, 1);
  if (nameBytes > MAX_NAME_BYTES) throw new RangeError(`DNS name over 255 bytes: ${name}`);
  const out = new Uint8Array(DNS_HEADER_BYTES + nameBytes + 4);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, id & 0xffff);
  dv.setUint16(2, FLAG_RD);
  dv.setUint16(4, 1);
  let off = DNS_HEADER_BYTES;
  for (const p of parts) {
    if (p.length === 0 || p.length > 63) {
      throw new RangeError(`DNS label must be 1..63 bytes: "${name}"`);
    }
    out[off++] = p.length;
    out.set(p, off);
    off += p.length;
  }
  out[off++] = 0;
  dv.setUint16(off, type);
  dv.setUint16(off + 2, DNS_CLASS_IN);
  return out;
}

/**
 * One question of a reply.
 *
 * @example
 * ```ts
 * const q: DnsQuestion = { name: "example.com", type: 1, cls: 1 };
 * ```
 */
export interface DnsQuestion {
  /** Normalized (see {@link normalizeName}). */
  readonly name: string;
  /** QTYPE. */
  readonly type: number;
  /** QCLASS. */
  readonly cls: number;
}

/**
 * One answer record, its data as text: an address (canonical), a name (normalized;
 * the exchange of MX, the target of SRV, the primary server of SOA) or the joined
 * strings of TXT. Other types carry `""`.
 *
 * @example
 * ```ts
 * const a: DnsAnswer = { name: "example.com", type: 1, cls: 1, ttl: 60, text: "192.0.2.1" };
 * ```
 */
export interface DnsAnswer {
  /** Owner name, normalized. */
  readonly name: string;
  /** Record type number. */
  readonly type: number;
  /** Record class (1 = IN). */
  readonly cls: number;
  /** Seconds. */
  readonly ttl: number;
  /** The data as text (see above). */
  readonly text: string;
}

/**
 * A decoded reply, or why it is not one.
 *
 * @example
 * ```ts
 * const r = decodeDnsMessage(bytes);
 * if (r.ok && r.rcode === 0) use(r.answers);
 * ```
 */
export type DnsMessage =
  | {
    readonly ok: true;
    readonly id: number;
    /** QR: this is a response. */
    readonly response: boolean;
    readonly opcode: number;
    /** TC: the server cut the reply short. */
    readonly truncated: boolean;
    readonly rcode: number;
    readonly questions: readonly DnsQuestion[];
    readonly answers: readonly DnsAnswer[];
  }
  | { readonly ok: false; readonly error: string };

/**
 * A name read from a message: its text and the offset just after it where it was
 * written (not where its pointers led).
 *
 * @example
 * ```ts
 * const n: NameRead = { name: "example.com", next: 25 };
 * ```
 */
export type NameRead = { name: string; next: number } | { error: string };

/**
 * Reads a possibly compressed name at `offset`. Never throws: out-of-bounds reads,
 * reserved label types, pointer loops and names over 255 bytes are errors.
 *
 * @example
 * ```ts
 * readName(encodeDnsQuery(1, "a.b", 1), 12); // { name: "a.b", next: 17 }
 * ```
 */
export function readName(msg: Uint8Array, offset: number): NameRead {
  const labels: string[] = [];
  let pos = offset;
  let next = -1;
  let jumps = 0;
  let wireBytes = 1;
  for (;;) {
    if (pos >= msg.length) return { error: `name at byte ${offset} runs past the end` };
    const len = msg[pos];
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= msg.length) return { error: `name at byte ${offset}: cut pointer` };
      if (++jumps > MAX_POINTER_JUMPS) return { error: `name at byte ${offset}: pointer loop` };
      if (next < 0) next = pos + 2;
      pos = ((len & 0x3f) << 8) | msg[pos + 1];
      continue;
    }
    if (kind !== 0) {
      return { error: `name at byte ${offset}: reserved label type 0x${len.toString(16)}` };
    }
    if (len === 0) {
      if (next < 0) next = pos + 1;
      return { name: labels.join(".").toLowerCase(), next };
    }
    wireBytes += len + 1;
    if (wireBytes > MAX_NAME_BYTES) return { error: `name at byte ${offset} is over 255 bytes` };
    if (pos + 1 + len > msg.length) return { error: `name at byte ${offset} runs past the end` };
    labels.push(labelText(msg.subarray(pos + 1, pos + 1 + len)));
    pos += 1 + len;
  }
}

/** Printable ASCII as is, anything else (including dots inside a label) escaped. */
function labelText(b: Uint8Array): string {
  let s = "";
  for (const c of b) {
    s += c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c
      ? String.fromCharCode(c)
      : `\\${c.toString().padStart(3, "0")}`;
  }
  return s;
}

/**
 * Decodes a DNS message (header, questions, answers; authority and additional records
 * are not needed and not read). Never throws.
 *
 * @example
 * ```ts
 * decodeDnsMessage(new Uint8Array(3)); // { ok: false, error: "3 bytes, shorter than the 12-byte header" }
 * ```
 */
export function decodeDnsMessage(msg: Uint8Array): DnsMessage {
  if (msg.length < DNS_HEADER_BYTES) {
    return { ok: false, error: `${msg.length} bytes, shorter than the 12-byte header` };
  }
  const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const id = dv.getUint16(0);
  const flags = dv.getUint16(2);
  const qdcount = dv.getUint16(4);
  const ancount = dv.getUint16(6);
  let off = DNS_HEADER_BYTES;
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < qdcount; i++) {
    const n = readName(msg, off);
    if ("error" in n) return { ok: false, error: `question ${i + 1}: ${n.error}` };
    if (n.next + 4 > msg.length) return { ok: false, error: `question ${i + 1} is cut short` };
    questions.push({ name: n.name, type: dv.getUint16(n.next), cls: dv.getUint16(n.next + 2) });
    off = n.next + 4;
  }
  const answers: DnsAnswer[] = [];
  for (let i = 0; i < ancount; i++) {
    const n = readName(msg, off);
    if ("error" in n) return { ok: false, error: `answer ${i + 1}: ${n.error}` };
    if (n.next + 10 > msg.length) return { ok: false, error: `answer ${i + 1} is cut short` };
    const type = dv.getUint16(n.next);
    const cls = dv.getUint16(n.next + 2);
    const ttl = dv.getUint32(n.next + 4);
    const rdlen = dv.getUint16(n.next + 8);
    const rdata = n.next + 10;
    if (rdata + rdlen > msg.length) {
      return { ok: false, error: `answer ${i + 1}: RDATA of ${rdlen} bytes runs past the end` };
    }
    const text = rdataText(msg, type, rdata, rdlen);
    if (typeof text !== "string") return { ok: false, error: `answer ${i + 1}: ${text.error}` };
    answers.push({ name: n.name, type, cls, ttl, text });
    off = rdata + rdlen;
  }
  return {
    ok: true,
    id,
    response: (flags & FLAG_QR) !== 0,
    opcode: (flags >> 11) & 0xf,
    truncated: (flags & FLAG_TC) !== 0,
    rcode: flags & 0xf,
    questions,
    answers,
  };
}

function rdataText(
  msg: Uint8Array,
  type: number,
  at: number,
  len: number,
): string | { error: string } {
  const nameAt = (skip: number): string | { error: string } => {
    if (len < skip + 1) return { error: `RDATA of ${len} bytes is too short` };
    const n = readName(msg, at + skip);
    if ("error" in n) return n;
    return n.next > at + len ? { error: "name runs past its RDATA" } : n.name;
  };
  switch (type) {
    case DNS_TYPE.A:
      return len === 4 ? formatIp(msg.slice(at, at + 4)) : { error: `A record of ${len} bytes` };
    case DNS_TYPE.AAAA:
      return len === 16
        ? formatIp(msg.slice(at, at + 16))
        : { error: `AAAA record of ${len} bytes` };
    case DNS_TYPE.NS:
    case DNS_TYPE.CNAME:
    case DNS_TYPE.PTR:
    case DNS_TYPE.SOA:
      return nameAt(0);
    case DNS_TYPE.MX:
      return nameAt(2);
    case DNS_TYPE.SRV:
      return nameAt(6);
    case DNS_TYPE.TXT: {
      let s = "";
      let p = at;
      while (p < at + len) {
        const l = msg[p];
        if (p + 1 + l > at + len) return { error: "TXT string runs past its RDATA" };
        s += new TextDecoder().decode(msg.subarray(p + 1, p + 1 + l));
        p += 1 + l;
      }
      return s;
    }
    default:
      return "";
  }
}
