/**
 * Generic netlink over a {@link NetlinkConnection}: resolving a family name to the id
 * its messages must carry. Family ids are assigned when a module registers, so they
 * differ between hosts and boots and must be asked for, never hard-coded.
 *
 * @module
 */

import { EBADMSG, ENOENT } from "../errno.ts";
import { type NetlinkConnection, NetlinkError } from "./connection.ts";
import { buildGetFamily, type GenlFamily, parseFamilyReply } from "./genl.ts";

/**
 * Asks the controller (`nlctrl`) for a family by name, on a NETLINK_GENERIC connection.
 *
 * @example
 * ```ts
 * const conn = NetlinkConnection.open(NETLINK_GENERIC);
 * const ipvs = await resolveGenlFamily(conn, "IPVS"); // ipvs.id goes in nlmsg_type
 * ```
 * @throws {NetlinkError} ENOENT with "family not found" when the kernel has no such
 *   family (its module is not loaded or not built); ETIMEDOUT, EBADMSG as any exchange.
 */
export async function resolveGenlFamily(
  conn: NetlinkConnection,
  name: string,
): Promise<GenlFamily> {
  const target = `generic netlink family ${JSON.stringify(name)}`;
  let replies: Uint8Array[];
  try {
    replies = await conn.query(buildGetFamily(name), { call: "CTRL_CMD_GETFAMILY", what: target });
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === ENOENT) {
      throw new NetlinkError(
        "CTRL_CMD_GETFAMILY",
        "find",
        target,
        ENOENT,
        e.kernelMessage,
        "family not found (not registered in this kernel: is its module loaded?)",
      );
    }
    throw e;
  }
  for (const payload of replies) {
    const family = parseFamilyReply(payload);
    if (typeof family === "string") {
      throw new NetlinkError("CTRL_CMD_GETFAMILY", "find", target, EBADMSG, family);
    }
    if (family.name === name) return family;
  }
  throw new NetlinkError("CTRL_CMD_GETFAMILY", "find", target, EBADMSG, "no NEWFAMILY reply");
}
