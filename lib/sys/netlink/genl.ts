/**
 * Generic netlink (linux/genetlink.h): the 4-byte `genlmsghdr` every genl message
 * carries after its nlmsghdr, and the controller family `nlctrl`, which turns a family
 * name ("IPVS") into the message type its requests must carry. Pure functions over
 * bytes; genl_conn.ts asks the kernel.
 *
 * ```
 *  0               4       6       8              12              16
 *  +---------------+-------+-------+---------------+---------------+
 *  |  nlmsg_len    |family | flags |  nlmsg_seq    |  nlmsg_pid    |  nlmsghdr (type = family id)
 *  +-------+-------+-------+-------+---------------+---------------+
 *  |  cmd  |version|   reserved    |  attributes ...                  genlmsghdr, then nlattrs
 *  +-------+-------+---------------+
 * ```
 *
 * @module
 */

import {
  attrMap,
  attrString,
  concatBytes,
  encodeNlMessage,
  type NlAttr,
  NLM_F_ACK,
  NLM_F_REQUEST,
  parseAttrs,
  readString,
  readU16,
  readU32,
} from "./message.ts";

/** `GENL_HDRLEN`: sizeof(struct genlmsghdr) { u8 cmd; u8 version; u16 reserved }. */
export const GENL_HDRLEN = 4;
/** `GENL_NAMSIZ`: a family name has at most 15 bytes and its NUL. */
export const GENL_NAMSIZ = 16;
/** `GENL_ID_CTRL` (= NLMSG_MIN_TYPE): the controller's fixed family id. */
export const GENL_ID_CTRL = 0x10;
/** The controller version hacore speaks (libnl's CTRL_VERSION; the kernel accepts any). */
export const CTRL_VERSION = 1;

/** `CTRL_CMD_NEWFAMILY`: a family's description (the answer to GETFAMILY). */
export const CTRL_CMD_NEWFAMILY = 1;
/** `CTRL_CMD_DELFAMILY`: a family went away (notification). */
export const CTRL_CMD_DELFAMILY = 2;
/** `CTRL_CMD_GETFAMILY`: describe one family (by name or id), or dump them all. */
export const CTRL_CMD_GETFAMILY = 3;

/** `CTRL_ATTR_FAMILY_ID`: u16, the nlmsg_type of the family's messages. */
export const CTRL_ATTR_FAMILY_ID = 1;
/** `CTRL_ATTR_FAMILY_NAME`: NUL-terminated string. */
export const CTRL_ATTR_FAMILY_NAME = 2;
/** `CTRL_ATTR_VERSION`: u32, the family's protocol version. */
export const CTRL_ATTR_VERSION = 3;
/** `CTRL_ATTR_HDRSIZE`: u32, bytes of family header after the genlmsghdr. */
export const CTRL_ATTR_HDRSIZE = 4;
/** `CTRL_ATTR_MAXATTR`: u32, the highest attribute type the family knows. */
export const CTRL_ATTR_MAXATTR = 5;
/** `CTRL_ATTR_OPS`: nested, the family's commands. */
export const CTRL_ATTR_OPS = 6;
/** `CTRL_ATTR_MCAST_GROUPS`: nested, one nest per multicast group. */
export const CTRL_ATTR_MCAST_GROUPS = 7;
/** `CTRL_ATTR_MCAST_GRP_NAME` (inside a group nest): string. */
export const CTRL_ATTR_MCAST_GRP_NAME = 1;
/** `CTRL_ATTR_MCAST_GRP_ID` (inside a group nest): u32, the group number to join. */
export const CTRL_ATTR_MCAST_GRP_ID = 2;

/**
 * What a genl message holds besides its attributes.
 *
 * @example
 * ```ts
 * encodeGenlMessage({ family: GENL_ID_CTRL, cmd: CTRL_CMD_GETFAMILY, version: 1, flags: NLM_F_REQUEST, attrs: [] });
 * ```
 */
export interface GenlMessageOptions {
  /** The family id (nlmsg_type), from {@link parseFamilyReply}. */
  family: number;
  /** genlmsghdr.cmd. */
  cmd: number;
  /** genlmsghdr.version. */
  version: number;
  /** nlmsg_flags (NLM_F_REQUEST, NLM_F_DUMP, …). */
  flags: number;
  /** Attributes, each already encoded (attrU32, attrNested, …). */
  attrs: readonly Uint8Array[];
  /** nlmsg_seq; 0 when omitted (a connection stamps its own). */
  seq?: number;
  /** nlmsg_pid; 0 when omitted. */
  pid?: number;
}

/**
 * One generic netlink message: nlmsghdr, genlmsghdr, attributes.
 *
 * @example
 * ```ts
 * const msg = encodeGenlMessage({
 *   family: ipvsId, cmd: IPVS_CMD_GET_SERVICE, version: 1, flags: NLM_F_REQUEST | NLM_F_DUMP, attrs: [],
 * });
 * ```
 */
export function encodeGenlMessage(opts: GenlMessageOptions): Uint8Array {
  const hdr = Uint8Array.of(opts.cmd, opts.version, 0, 0);
  return encodeNlMessage(
    opts.family,
    opts.flags,
    concatBytes([hdr, ...opts.attrs]),
    opts.seq,
    opts.pid,
  );
}

/**
 * A genl payload (what follows the nlmsghdr) split into command, version and
 * attributes; an error string when it is too short or its attributes are malformed.
 *
 * @example
 * ```ts
 * const g = decodeGenlPayload(payload);
 * if (typeof g !== "string" && g.cmd === CTRL_CMD_NEWFAMILY) use(g.attrs);
 * ```
 */
export function decodeGenlPayload(
  payload: Uint8Array,
): { cmd: number; version: number; attrs: NlAttr[] } | string {
  if (payload.length < GENL_HDRLEN) {
    return `genlmsghdr: ${payload.length} bytes < ${GENL_HDRLEN}`;
  }
  const attrs = parseAttrs(payload.subarray(GENL_HDRLEN));
  if (typeof attrs === "string") return `genl attributes: ${attrs}`;
  return { cmd: payload[0], version: payload[1], attrs };
}

/**
 * CTRL_CMD_GETFAMILY for one family by name, with NLM_F_REQUEST | NLM_F_ACK, as libnl's
 * genl_ctrl_resolve sends it.
 *
 * @example
 * ```ts
 * buildGetFamily("IPVS", { seq: 1 });
 * ```
 * @throws {RangeError} when the name is empty or longer than 15 bytes.
 */
export function buildGetFamily(
  name: string,
  opts: { seq?: number; pid?: number } = {},
): Uint8Array {
  const n = new TextEncoder().encode(name).length;
  if (n === 0 || n >= GENL_NAMSIZ) {
    throw new RangeError(`genl family name ${JSON.stringify(name)} must be 1-15 bytes`);
  }
  return encodeGenlMessage({
    family: GENL_ID_CTRL,
    cmd: CTRL_CMD_GETFAMILY,
    version: CTRL_VERSION,
    flags: NLM_F_REQUEST | NLM_F_ACK,
    attrs: [attrString(CTRL_ATTR_FAMILY_NAME, name)],
    seq: opts.seq,
    pid: opts.pid,
  });
}

/**
 * A generic netlink family as the controller describes it.
 *
 * @example
 * ```ts
 * const f: GenlFamily = { id: 0x10, name: "nlctrl", version: 2, maxAttr: 10, mcastGroups: new Map([["notify", 16]]) };
 * ```
 */
export interface GenlFamily {
  /** The family id: the nlmsg_type of its messages. Assigned at registration. */
  id: number;
  /** Its name. */
  name: string;
  /** Its protocol version. */
  version: number;
  /** The highest attribute type its commands take. */
  maxAttr: number;
  /** Multicast groups by name, to the number to join (NETLINK_ADD_MEMBERSHIP). */
  mcastGroups: ReadonlyMap<string, number>;
}

/**
 * Reads a CTRL_CMD_NEWFAMILY payload (the reply to {@link buildGetFamily}); an error
 * string when it is not one, or lacks the family's id or name.
 *
 * @example
 * ```ts
 * const f = parseFamilyReply(payload);
 * if (typeof f !== "string") console.log(f.name, f.id);
 * ```
 */
export function parseFamilyReply(payload: Uint8Array): GenlFamily | string {
  const g = decodeGenlPayload(payload);
  if (typeof g === "string") return g;
  if (g.cmd !== CTRL_CMD_NEWFAMILY) return `genl ctrl: command ${g.cmd}, want NEWFAMILY`;
  const by = new Map(g.attrs.map((a) => [a.type, a.payload]));
  const id = readU16(by.get(CTRL_ATTR_FAMILY_ID) ?? new Uint8Array(0));
  const nameBytes = by.get(CTRL_ATTR_FAMILY_NAME);
  if (id === undefined) return "genl ctrl: no CTRL_ATTR_FAMILY_ID";
  if (nameBytes === undefined) return "genl ctrl: no CTRL_ATTR_FAMILY_NAME";
  const groups = mcastGroups(by.get(CTRL_ATTR_MCAST_GROUPS));
  if (typeof groups === "string") return groups;
  return {
    id,
    name: readString(nameBytes),
    version: readU32(by.get(CTRL_ATTR_VERSION) ?? new Uint8Array(0)) ?? 0,
    maxAttr: readU32(by.get(CTRL_ATTR_MAXATTR) ?? new Uint8Array(0)) ?? 0,
    mcastGroups: groups,
  };
}

function mcastGroups(nest: Uint8Array | undefined): Map<string, number> | string {
  const out = new Map<string, number>();
  if (nest === undefined) return out;
  const entries = parseAttrs(nest);
  if (typeof entries === "string") return `CTRL_ATTR_MCAST_GROUPS: ${entries}`;
  // Each entry is a nest whose own type is just its index (1, 2, …).
  for (const e of entries) {
    const m = attrMap(e.payload);
    if (typeof m === "string") return `CTRL_ATTR_MCAST_GROUPS[${e.type}]: ${m}`;
    const name = m.get(CTRL_ATTR_MCAST_GRP_NAME);
    const id = readU32(m.get(CTRL_ATTR_MCAST_GRP_ID) ?? new Uint8Array(0));
    if (name === undefined || id === undefined) {
      return `CTRL_ATTR_MCAST_GROUPS[${e.type}]: group without name or id`;
    }
    out.set(readString(name), id);
  }
  return out;
}
