/**
 * The netlink message layer every netlink protocol shares (rtnetlink, generic netlink,
 * IPVS on top of it): the `nlmsghdr`, attribute encoders and a bounds-checked decoder,
 * and the control messages (ack/error, done, overrun). Pure functions over bytes; no
 * sockets (connection.ts) and no protocol knowledge (rtnl_codec.ts, genl.ts).
 *
 * Wire layout (linux/netlink.h), all integers in host (little-endian) order unless an
 * attribute says otherwise:
 *
 * ```
 *  0               4       6       8              12              16
 *  +---------------+-------+-------+---------------+---------------+
 *  |  nlmsg_len    | type  | flags |  nlmsg_seq    |  nlmsg_pid    |  struct nlmsghdr
 *  +---------------+-------+-------+---------------+---------------+
 *  | protocol header (ifaddrmsg 8, ifinfomsg 16, rtmsg 12, genlmsghdr 4)  |
 *  +-------+-------+-----------------------------------------------+
 *  |nla_len|nla_typ| payload, zero-padded to a multiple of 4 ...   |  struct nlattr, repeated
 *  +-------+-------+-----------------------------------------------+
 * ```
 *
 * `nla_len` counts the 4-byte attribute header and the payload but not the padding;
 * `nlmsg_len` counts everything, and the next message starts at the 4-byte boundary.
 * {@link parseMessages} and {@link parseAttrs} never throw: what they cannot read comes
 * back as a `malformed` item or an error string naming the offset and the reason.
 *
 * @module
 */

import {
  NLA_ALIGNTO,
  NLA_F_NESTED,
  NLA_F_NET_BYTEORDER,
  NLA_HDRLEN,
  NLA_TYPE_MASK,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLMSG_ALIGNTO,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLMSG_OVERRUN,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
} from "./constants.ts";

// The message-level numbers, so a protocol codec needs one import for the whole layer.
export {
  NLA_ALIGNTO,
  NLA_F_NESTED,
  NLA_F_NET_BYTEORDER,
  NLA_HDRLEN,
  NLA_TYPE_MASK,
  NLM_F_ACK,
  NLM_F_ACK_TLVS,
  NLM_F_APPEND,
  NLM_F_CAPPED,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_DUMP_FILTERED,
  NLM_F_DUMP_INTR,
  NLM_F_ECHO,
  NLM_F_EXCL,
  NLM_F_MATCH,
  NLM_F_MULTI,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  NLM_F_ROOT,
  NLMSG_ALIGNTO,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
} from "./constants.ts";

// ---------------------------------------------------------------------------------------
// Header
// ---------------------------------------------------------------------------------------

/**
 * struct nlmsghdr.
 *
 * @example
 * ```ts
 * const h: NlHeader = { len: 16, type: NLMSG_DONE, flags: 0, seq: 1, pid: 0 };
 * ```
 */
export interface NlHeader {
  /** nlmsg_len: header and body, without trailing padding. */
  len: number;
  /** nlmsg_type: RTM_*, a genl family id, NLMSG_ERROR, NLMSG_DONE, …. */
  type: number;
  /** nlmsg_flags: NLM_F_*. */
  flags: number;
  /** nlmsg_seq: echoed by the kernel in replies to a request. */
  seq: number;
  /** nlmsg_pid: the sender's port id (0 from the kernel). */
  pid: number;
}

/**
 * Rounds up to the netlink alignment (4).
 *
 * @example
 * ```ts
 * nlAlign(5); // 8
 * ```
 */
export function nlAlign(n: number): number {
  return (n + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1);
}

/**
 * One message: a 16-byte nlmsghdr with `nlmsg_len` set, then the payload, padded to 4.
 * Protocol codecs build their payload and hand it here, so the header is written once.
 *
 * @example
 * ```ts
 * encodeNlMessage(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, new Uint8Array(8), 1);
 * ```
 */
export function encodeNlMessage(
  type: number,
  flags: number,
  payload: Uint8Array,
  seq = 0,
  pid = 0,
): Uint8Array {
  const len = NLMSG_HDRLEN + payload.length;
  const out = new Uint8Array(nlAlign(len));
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  // nlmsg_len counts the payload's own trailing padding, as the kernel's nlmsg_end does.
  dv.setUint32(0, out.length, true);
  dv.setUint16(4, type, true);
  dv.setUint16(6, flags, true);
  dv.setUint32(8, seq >>> 0, true);
  dv.setUint32(12, pid >>> 0, true);
  out.set(payload, NLMSG_HDRLEN);
  return out;
}

/**
 * Decodes one nlmsghdr at `off`, or returns null when fewer than 16 bytes remain.
 *
 * @example
 * ```ts
 * decodeHeader(encodeNlMessage(NLMSG_DONE, 0, new Uint8Array(4)), 0)?.type; // NLMSG_DONE
 * ```
 */
export function decodeHeader(buf: Uint8Array, off = 0): NlHeader | null {
  if (off < 0 || off + NLMSG_HDRLEN > buf.length) return null;
  const dv = new DataView(buf.buffer, buf.byteOffset + off, NLMSG_HDRLEN);
  return {
    len: dv.getUint32(0, true),
    type: dv.getUint16(4, true),
    flags: dv.getUint16(6, true),
    seq: dv.getUint32(8, true),
    pid: dv.getUint32(12, true),
  };
}

/**
 * A copy of a buffer of messages with every nlmsg_seq and nlmsg_pid replaced, so two
 * captures of one operation compare equal (and a connection can stamp its own seq).
 *
 * @example
 * ```ts
 * withSeqPid(captured, 0, 0);
 * ```
 */
export function withSeqPid(buf: Uint8Array, seq: number, pid: number): Uint8Array {
  const out = buf.slice();
  const dv = new DataView(out.buffer);
  let off = 0;
  while (off + NLMSG_HDRLEN <= out.length) {
    const len = dv.getUint32(off, true);
    dv.setUint32(off + 8, seq >>> 0, true);
    dv.setUint32(off + 12, pid >>> 0, true);
    if (len < NLMSG_HDRLEN) break;
    off += nlAlign(len);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Attribute encoders
// ---------------------------------------------------------------------------------------

/**
 * Encodes one attribute (header, payload, zero padding to 4 bytes). `type` may carry
 * NLA_F_NESTED / NLA_F_NET_BYTEORDER.
 *
 * @example
 * ```ts
 * encodeAttr(IFA_LABEL, new TextEncoder().encode("eth0\0")); // 4 + 5 bytes, padded to 12
 * ```
 */
export function encodeAttr(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(nlAlign(NLA_HDRLEN + payload.length));
  attrHeader(out, NLA_HDRLEN + payload.length, type);
  out.set(payload, NLA_HDRLEN);
  return out;
}

// Bytes by hand, not a DataView: a view needs the array's ArrayBuffer, which moves a
// small on-heap array off the heap; an IPVS request of ~20 attributes cost ~25 µs that
// way, which 11,000 requests of a big table turned into a quarter of a second.
function attrHeader(out: Uint8Array, len: number, type: number): void {
  out[0] = len & 0xff;
  out[1] = len >>> 8;
  out[2] = type & 0xff;
  out[3] = (type >>> 8) & 0xff;
}

function attrInt(type: number, size: 1 | 2 | 4, v: number, littleEndian: boolean): Uint8Array {
  const out = new Uint8Array(NLA_HDRLEN + 4);
  attrHeader(out, NLA_HDRLEN + size, type);
  const u = v >>> 0;
  for (let i = 0; i < size; i++) {
    const shift = 8 * (littleEndian ? i : size - 1 - i);
    out[NLA_HDRLEN + i] = (u >>> shift) & 0xff;
  }
  return out;
}

/**
 * A u8 attribute.
 *
 * @example
 * ```ts
 * attrU8(IFA_PROTO, 0x48); // 05 00 0b 00 48 00 00 00
 * ```
 */
export function attrU8(type: number, v: number): Uint8Array {
  return attrInt(type, 1, v, true);
}

/** A u16 attribute in host (little-endian) order. */
export function attrU16(type: number, v: number): Uint8Array {
  return attrInt(type, 2, v, true);
}

/** A u32 attribute in host (little-endian) order. */
export function attrU32(type: number, v: number): Uint8Array {
  return attrInt(type, 4, v, true);
}

/**
 * A u64 attribute in host order; a bigint so counters past 2^53 survive.
 *
 * @example
 * ```ts
 * attrU64(1, 1n << 60n);
 * ```
 */
export function attrU64(type: number, v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
  return encodeAttr(type, b);
}

/** A u16 attribute in network (big-endian) order: ports, as IPVS carries them. */
export function attrBe16(type: number, v: number): Uint8Array {
  return attrInt(type, 2, v, false);
}

/** A u32 attribute in network (big-endian) order: firewall marks, IPv4 addresses as ints. */
export function attrBe32(type: number, v: number): Uint8Array {
  return attrInt(type, 4, v, false);
}

/**
 * A NUL-terminated string attribute (what NLA_NUL_STRING and NLA_STRING policies take).
 *
 * @example
 * ```ts
 * attrString(CTRL_ATTR_FAMILY_NAME, "nlctrl"); // nla_len 11, padded to 12
 * ```
 */
export function attrString(type: number, s: string): Uint8Array {
  const enc = new TextEncoder().encode(s);
  const b = new Uint8Array(enc.length + 1);
  b.set(enc);
  return encodeAttr(type, b);
}

/** An attribute holding raw bytes (addresses, MACs, structs). */
export function attrBytes(type: number, b: Uint8Array): Uint8Array {
  return encodeAttr(type, b);
}

/**
 * A nest: the children, already encoded, under one header with NLA_F_NESTED set (which
 * strict generic-netlink policies require).
 *
 * @example
 * ```ts
 * attrNested(IPVS_CMD_ATTR_SERVICE, [attrU16(IPVS_SVC_ATTR_AF, AF_INET), attrU16(IPVS_SVC_ATTR_PROTOCOL, 6)]);
 * ```
 */
export function attrNested(type: number, children: readonly Uint8Array[]): Uint8Array {
  return encodeAttr(type | NLA_F_NESTED, concatBytes(children));
}

/**
 * The parts laid end to end in one new buffer.
 *
 * @example
 * ```ts
 * concatBytes([Uint8Array.of(1), Uint8Array.of(2, 3)]); // [1, 2, 3]
 * ```
 */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Attribute decoder
// ---------------------------------------------------------------------------------------

/**
 * One attribute: its type (flags stripped), whether it is a nest, and its payload.
 *
 * @example
 * ```ts
 * const attrs = parseAttrs(body);
 * if (Array.isArray(attrs)) attrs.find((a: NlAttr) => a.type === IFA_LABEL);
 * ```
 */
export interface NlAttr {
  /** Attribute type, masked with NLA_TYPE_MASK. */
  type: number;
  /** NLA_F_NESTED was set: the payload is more attributes. */
  nested: boolean;
  /** NLA_F_NET_BYTEORDER was set: the payload is big-endian. */
  netByteOrder: boolean;
  /** The payload (a view into the buffer, without padding). */
  payload: Uint8Array;
}

/**
 * Splits a run of attributes. Returns an error string instead of throwing when an
 * attribute's length is impossible; up to 3 trailing padding bytes are accepted.
 *
 * @example
 * ```ts
 * const r = parseAttrs(encodeAttr(IFA_PROTO, Uint8Array.of(0x48)));
 * if (Array.isArray(r)) r[0].payload[0]; // 0x48
 * ```
 */
export function parseAttrs(buf: Uint8Array): NlAttr[] | string {
  const out: NlAttr[] = [];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = dv.getUint16(off, true);
    const rawType = dv.getUint16(off + 2, true);
    if (len < NLA_HDRLEN) return `attribute at +${off} has length ${len} < ${NLA_HDRLEN}`;
    if (off + len > buf.length) {
      return `attribute ${rawType & NLA_TYPE_MASK} at +${off} runs past the message (${len} > ${
        buf.length - off
      })`;
    }
    out.push({
      type: rawType & NLA_TYPE_MASK,
      nested: (rawType & NLA_F_NESTED) !== 0,
      netByteOrder: (rawType & NLA_F_NET_BYTEORDER) !== 0,
      payload: buf.subarray(off + NLA_HDRLEN, off + len),
    });
    off += (len + NLA_ALIGNTO - 1) & ~(NLA_ALIGNTO - 1);
  }
  // Up to 3 bytes of trailing padding are legal; anything else is debris.
  if (off < buf.length && buf.length - off >= NLA_HDRLEN) {
    return `stray ${buf.length - off} bytes after attributes`;
  }
  return out;
}

/**
 * The attributes by type (the last one wins when a type repeats, as the kernel's
 * nla_parse does), or the error string of {@link parseAttrs}.
 *
 * @example
 * ```ts
 * const m = attrMap(body);
 * if (typeof m !== "string") readU16(m.get(CTRL_ATTR_FAMILY_ID) ?? new Uint8Array(0));
 * ```
 */
export function attrMap(buf: Uint8Array): Map<number, Uint8Array> | string {
  const attrs = parseAttrs(buf);
  if (typeof attrs === "string") return attrs;
  return new Map(attrs.map((a) => [a.type, a.payload]));
}

function view(p: Uint8Array, size: number): DataView | undefined {
  return p.length < size ? undefined : new DataView(p.buffer, p.byteOffset, size);
}

/** The u8 at the start of a payload, or undefined when it is empty. */
export function readU8(p: Uint8Array): number | undefined {
  return view(p, 1)?.getUint8(0);
}

/** A host-order u16, or undefined when the payload is shorter than 2 bytes. */
export function readU16(p: Uint8Array): number | undefined {
  return view(p, 2)?.getUint16(0, true);
}

/** A host-order u32, or undefined when the payload is shorter than 4 bytes. */
export function readU32(p: Uint8Array): number | undefined {
  return view(p, 4)?.getUint32(0, true);
}

/** A host-order u64 as a bigint, or undefined when the payload is shorter than 8 bytes. */
export function readU64(p: Uint8Array): bigint | undefined {
  return view(p, 8)?.getBigUint64(0, true);
}

/** A network-order u16 (a port), or undefined when the payload is shorter than 2 bytes. */
export function readBe16(p: Uint8Array): number | undefined {
  return view(p, 2)?.getUint16(0, false);
}

/** A network-order u32, or undefined when the payload is shorter than 4 bytes. */
export function readBe32(p: Uint8Array): number | undefined {
  return view(p, 4)?.getUint32(0, false);
}

/**
 * A string payload, up to its first NUL (or the whole payload when there is none).
 *
 * @example
 * ```ts
 * readString(new TextEncoder().encode("nlctrl\0")); // "nlctrl"
 * ```
 */
export function readString(p: Uint8Array): string {
  const end = p.indexOf(0);
  return new TextDecoder().decode(end < 0 ? p : p.subarray(0, end));
}

// ---------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------

/**
 * A message of a protocol type (not NLMSG_*): the header fields, flat, and the payload
 * after the nlmsghdr for the protocol's codec to decode.
 *
 * @example
 * ```ts
 * if (m.kind === "data" && m.type === familyId) decodeGenlPayload(m.payload);
 * ```
 */
export interface DataMessage {
  /** Discriminant. */
  kind: "data";
  /** The netlink header. */
  header: NlHeader;
  /** nlmsg_type (RTM_*, a genl family id). */
  type: number;
  /** nlmsg_flags. */
  flags: number;
  /** nlmsg_seq. */
  seq: number;
  /** nlmsg_pid. */
  pid: number;
  /** The bytes after the nlmsghdr, up to nlmsg_len (a view into the buffer). */
  payload: Uint8Array;
  /** Byte offset of the message in the buffer it was parsed from. */
  offset: number;
}

/**
 * NLMSG_ERROR: an ack when `errno` is 0, a failure otherwise.
 *
 * @example
 * ```ts
 * if (m.kind === "error" && m.ackedSeq === seq && m.errno !== 0) fail(m.errno);
 * ```
 */
export interface ErrorMessage {
  /** Discriminant. */
  kind: "error";
  /** The netlink header. */
  header: NlHeader;
  /** Positive errno (the wire carries it negated); 0 for an ack. */
  errno: number;
  /** Sequence number of the request this answers. */
  ackedSeq: number;
  /** Message type of the request this answers. */
  ackedType: number;
  /** NLMSGERR_ATTR_MSG: the kernel's explanation, when extended acks are on. */
  extAckMessage?: string;
  /** NLMSGERR_ATTR_OFFS: offset of the offending attribute in the request. */
  extAckOffset?: number;
}

/**
 * NLMSG_DONE: the end of a dump.
 *
 * @example
 * ```ts
 * if (m.kind === "done" && m.errno !== 0) throw new Error("dump failed");
 * ```
 */
export interface DoneMessage {
  /** Discriminant. */
  kind: "done";
  /** The netlink header. */
  header: NlHeader;
  /** Positive errno when the dump itself failed (the body's int is negative), else 0. */
  errno: number;
}

/**
 * Messages were lost: NLMSG_OVERRUN on the wire, or (from a connection) ENOBUFS on a
 * socket subscribed to groups. Whoever sees it must resynchronise with a dump.
 *
 * @example
 * ```ts
 * if (m.kind === "overrun") await resyncFromDump();
 * ```
 */
export interface OverrunMessage {
  /** Discriminant. */
  kind: "overrun";
  /** Present when the kernel sent NLMSG_OVERRUN itself. */
  header?: NlHeader;
}

/**
 * Bytes that could not be read: where, and why. Parsing continues with the next message
 * when the header was sound.
 *
 * @example
 * ```ts
 * if (m.kind === "malformed") log.warn(`netlink +${m.offset}: ${m.reason}`);
 * ```
 */
export interface MalformedMessage {
  /** Discriminant. */
  kind: "malformed";
  /** Byte offset of the message in the buffer. */
  offset: number;
  /** What was wrong. */
  reason: string;
  /** The header, when it could be read. */
  header?: NlHeader;
}

/**
 * Everything {@link parseMessages} can return, for any netlink protocol.
 *
 * @example
 * ```ts
 * const payloads = parseMessages(buf).flatMap((m) => m.kind === "data" ? [m.payload] : []);
 * ```
 */
export type NetlinkMessage =
  | DataMessage
  | ErrorMessage
  | DoneMessage
  | OverrunMessage
  | MalformedMessage;

/**
 * Parses every message in a buffer (one recv's worth). Never throws: a control message
 * whose body cannot be read becomes a `malformed` item and parsing goes on with the
 * next; a header whose length is impossible ends the buffer with a `malformed` item.
 * Protocol messages come back as `data` with their payload, undecoded.
 *
 * @example
 * ```ts
 * for (const m of parseMessages(buf)) {
 *   if (m.kind === "error" && m.errno !== 0) console.log(m.errno, m.extAckMessage);
 * }
 * ```
 */
export function parseMessages(buf: Uint8Array): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off < buf.length) {
    const header = decodeHeader(buf, off);
    if (!header) {
      // Trailing alignment padding is not an error; anything longer than that is.
      if (buf.length - off >= NLMSG_ALIGNTO) {
        out.push({
          kind: "malformed",
          offset: off,
          reason: `truncated header: ${buf.length - off} bytes`,
        });
      }
      break;
    }
    if (header.len < NLMSG_HDRLEN || off + header.len > buf.length) {
      out.push({
        kind: "malformed",
        offset: off,
        header,
        reason: `nlmsg_len ${header.len} impossible with ${buf.length - off} bytes left`,
      });
      break;
    }
    const body = buf.subarray(off + NLMSG_HDRLEN, off + header.len);
    out.push(parseOne(header, body, off));
    off += nlAlign(header.len);
  }
  return out;
}

function parseOne(header: NlHeader, body: Uint8Array, offset: number): NetlinkMessage {
  switch (header.type) {
    case NLMSG_ERROR: {
      const m = parseError(header, body);
      return typeof m === "string" ? { kind: "malformed", offset, header, reason: m } : m;
    }
    case NLMSG_DONE: {
      // The body is an int: 0, or a negated errno when the dump failed midway.
      const err = body.length >= 4
        ? new DataView(body.buffer, body.byteOffset, 4).getInt32(0, true)
        : 0;
      return { kind: "done", header, errno: err < 0 ? -err : 0 };
    }
    case NLMSG_OVERRUN:
      return { kind: "overrun", header };
    default: {
      const { type, flags, seq, pid } = header;
      return { kind: "data", header, type, flags, seq, pid, payload: body, offset };
    }
  }
}

function parseError(header: NlHeader, body: Uint8Array): ErrorMessage | string {
  // struct nlmsgerr { int error; struct nlmsghdr msg; [payload]; [TLVs] }
  if (body.length < 4 + NLMSG_HDRLEN) {
    return `nlmsgerr: body ${body.length} bytes < ${4 + NLMSG_HDRLEN}`;
  }
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const error = dv.getInt32(0, true);
  const m: ErrorMessage = {
    kind: "error",
    header,
    errno: error === 0 ? 0 : Math.abs(error),
    ackedSeq: dv.getUint32(4 + 8, true),
    ackedType: dv.getUint16(4 + 4, true),
  };
  if (!(header.flags & NLM_F_ACK_TLVS)) return m;
  const origLen = dv.getUint32(4, true);
  // Without NLM_F_CAPPED the whole request is echoed before the TLVs.
  const tlvAt = 4 + (header.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : nlAlign(origLen));
  if (tlvAt > body.length) {
    return `extended ack: TLVs at +${tlvAt} beyond ${body.length}-byte body`;
  }
  const attrs = parseAttrs(body.subarray(tlvAt));
  if (typeof attrs === "string") return `extended ack: ${attrs}`;
  for (const a of attrs) {
    if (a.type === NLMSGERR_ATTR_MSG) m.extAckMessage = readString(a.payload);
    if (a.type === NLMSGERR_ATTR_OFFS) {
      const v = readU32(a.payload);
      if (v === undefined) {
        return `NLMSGERR_ATTR_OFFS: ${a.payload.length} bytes, want 4`;
      }
      m.extAckOffset = v;
    }
  }
  return m;
}
