/**
 * Netlink messages out of an strace log, and the fixture text they are stored as.
 *
 * `strace -e write=all -e read=all` follows each send/recv call with a hex dump of the
 * bytes that moved (` * N bytes in buffer K` then `| 00000  20 00 ...  ascii |` lines).
 * We take those dumps, not strace's decoded view, because the IPVS codec is tested byte
 * for byte; reads with MSG_PEEK (libnl sizing its buffer) are dropped, since the same
 * bytes arrive again with the real read. One recv can carry several netlink messages (a
 * dump); each becomes its own fixture line.
 *
 * @module
 */

/** One netlink message: `>` sent by the program, `<` received from the kernel. */
export interface NetlinkMessage {
  dir: ">" | "<";
  bytes: Uint8Array;
}

const PID_PREFIX = String.raw`(?:\[pid\s+\d+\]\s+|\d+\s+)?`;
const CALL = new RegExp(`^${PID_PREFIX}(?:<\\.\\.\\. )?(sendmsg|sendto|recvmsg|recvfrom)\\b`);
const BUFFER = new RegExp(`^${PID_PREFIX}\\s*\\* \\d+ bytes in buffer \\d+`);
// The hex area is 16 bytes in two groups of eight: 49 columns after the offset.
const DUMP = new RegExp(`^${PID_PREFIX}\\s*\\| [0-9a-f]{5}  (.{1,49})`);
const OTHER_LINE = new RegExp(`^${PID_PREFIX}\\S`);

/**
 * The netlink messages of every send/recv dump in an strace log, in order.
 *
 * @example
 * ```ts
 * const msgs = straceNetlink(await Deno.readTextFile("strace.log"));
 * msgs[0].dir; // ">" (ipvsadm's GETFAMILY request)
 * ```
 */
export function straceNetlink(log: string): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let dir: ">" | "<" | null = null;
  let hex: string[] = [];
  const flush = () => {
    if (dir && hex.length > 0) {
      for (const bytes of splitNetlink(fromHex(hex.join("")))) out.push({ dir, bytes });
    }
    hex = [];
  };
  for (const line of log.split("\n")) {
    const call = CALL.exec(line);
    if (call) {
      flush();
      const peek = line.includes("MSG_PEEK");
      dir = peek ? null : call[1].startsWith("send") ? ">" : "<";
      continue;
    }
    if (BUFFER.test(line)) continue;
    const dump = DUMP.exec(line);
    if (dump) {
      if (dir) hex.push(...(dump[1].match(/[0-9a-f]{2}/g) ?? []));
      continue;
    }
    if (OTHER_LINE.test(line)) {
      flush();
      dir = null;
    }
  }
  flush();
  return out;
}

/**
 * Cuts a buffer into netlink messages by their `nlmsg_len` (each padded to 4 bytes); a
 * malformed tail stays one piece so no byte is lost.
 *
 * @example
 * ```ts
 * splitNetlink(twoMessages).length; // 2
 * ```
 */
export function splitNetlink(buf: Uint8Array): Uint8Array[] {
  const parts: Uint8Array[] = [];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = 0;
  while (at < buf.length) {
    const len = buf.length - at >= 4 ? view.getUint32(at, true) : 0;
    const end = len >= 16 && at + len <= buf.length ? at + ((len + 3) & ~3) : buf.length;
    parts.push(buf.subarray(at, Math.min(end, buf.length)));
    at = end;
  }
  return parts;
}

/**
 * Bytes from lowercase or uppercase hex digits (no separators).
 *
 * @example
 * ```ts
 * fromHex("2000"); // Uint8Array [0x20, 0x00]
 * ```
 */
export function fromHex(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/**
 * Lowercase hex of `bytes`, no separators.
 *
 * @example
 * ```ts
 * toHex(new Uint8Array([0x20, 0])); // "2000"
 * ```
 */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A fixture file: `#` comment lines (the command first), then one `> hex` or `< hex` line
 * per netlink message.
 *
 * @example
 * ```ts
 * formatFixture(["ipvsadm -Ln"], msgs); // "# ipvsadm -Ln\n> 2000...\n< ...\n"
 * ```
 */
export function formatFixture(
  comments: readonly string[],
  msgs: readonly NetlinkMessage[],
): string {
  const lines = comments.map((c) => `# ${c}`.trimEnd());
  for (const m of msgs) lines.push(`${m.dir} ${toHex(m.bytes)}`);
  return lines.join("\n") + "\n";
}
