/**
 * The IPVS netlink captures: strace's hex dumps become one message per line, and every
 * committed capture is whole (each message as long as its header says) and holds the
 * command's own request to the IPVS family, not only the family lookup. Plain tests: they
 * need no IPVS.
 *
 * @module
 */

import assert from "node:assert/strict";
import { straceNetlink, toHex } from "../../scripts/vm/strace_netlink.ts";
import { IPVS_FIXTURES, type NetlinkMessage, readIpvsFixture } from "./fixtures.ts";

const GENL_ID_CTRL = 0x10;
const CTRL_ATTR_FAMILY_ID = 1;

// Shaped like `strace -f -o FILE -xx -e write=all -e read=all` output, trimmed.
const STRACE_LOG = [
  "512 sendmsg(3, {msg_name={sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, msg_iov=[...], msg_iovlen=1}, 0) = 20",
  "512  * 20 bytes in buffer 0",
  "512  | 00000  14 00 00 00 10 00 05 00  01 00 00 00 00 00 00 00  ................ |",
  "512  | 00010  03 01 00 00                                       ....             |",
  "512 recvmsg(3, {msg_iov=[...]}, MSG_PEEK|MSG_TRUNC) = 36",
  "512  * 36 bytes in buffer 0",
  "512  | 00000  12 00 00 00 02 00 00 00  01 00 00 00 00 00 00 00  ................ |",
  "512  | 00010  00 00 00 00 10 00 00 00  03 00 00 00 01 00 00 00  ................ |",
  "512  | 00020  00 00 00 00                                       ....             |",
  "512 recvmsg(3, {msg_iov=[...]}, 0) = 36",
  "512  * 36 bytes in buffer 0",
  "512  | 00000  12 00 00 00 02 00 00 00  01 00 00 00 00 00 00 00  ................ |",
  "512  | 00010  00 00 00 00 10 00 00 00  03 00 00 00 01 00 00 00  ................ |",
  "512  | 00020  00 00 00 00                                       ....             |",
  "512 +++ exited with 0 +++",
].join("\n");

Deno.test("strace dumps become one netlink message per line, peeked reads dropped", () => {
  const msgs = straceNetlink(STRACE_LOG);
  assert.deepEqual(msgs.map((m) => `${m.dir} ${toHex(m.bytes)}`), [
    "> 1400000010000500010000000000000003010000",
    // One read, two messages: nlmsg_len 18 padded to 20, then a 16-byte one.
    "< 1200000002000000010000000000000000000000",
    "< 10000000030000000100000000000000",
  ]);
});

function nlmsgLen(m: NetlinkMessage): number {
  return new DataView(m.bytes.buffer, m.bytes.byteOffset).getUint32(0, true);
}

function nlmsgType(m: NetlinkMessage): number {
  return new DataView(m.bytes.buffer, m.bytes.byteOffset).getUint16(4, true);
}

/** CTRL_ATTR_FAMILY_ID from a CTRL_CMD_NEWFAMILY reply (attributes after the 4-byte genl header). */
function familyId(reply: NetlinkMessage): number | null {
  const view = new DataView(reply.bytes.buffer, reply.bytes.byteOffset, reply.bytes.byteLength);
  for (let at = 20; at + 4 <= nlmsgLen(reply);) {
    const len = view.getUint16(at, true);
    if ((view.getUint16(at + 2, true) & 0x3fff) === CTRL_ATTR_FAMILY_ID) {
      return view.getUint16(at + 4, true);
    }
    at += (Math.max(len, 4) + 3) & ~3;
  }
  return null;
}

async function fixtureNames(): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(IPVS_FIXTURES)) {
    if (e.name.endsWith(".txt")) names.push(e.name.slice(0, -4));
  }
  return names.sort();
}

Deno.test("every IPVS capture is whole: each message as long as its nlmsg_len says", async () => {
  const names = await fixtureNames();
  assert.ok(names.includes("family") && names.length >= 20, `captures found: ${names}`);
  for (const name of names) {
    const { comments, messages } = await readIpvsFixture(name);
    assert.ok(comments.length > 0, `${name}: no command line`);
    assert.ok(messages.some((m) => m.dir === ">") && messages.some((m) => m.dir === "<"), name);
    for (const m of messages) {
      assert.equal(m.bytes.length, (nlmsgLen(m) + 3) & ~3, `${name}: ${toHex(m.bytes)}`);
    }
  }
});

Deno.test("every ipvsadm capture holds a request to the IPVS family the lookup named", async () => {
  const family = await readIpvsFixture("family");
  assert.equal(nlmsgType(family.messages[0]), GENL_ID_CTRL);
  const id = familyId(family.messages[1]);
  assert.ok(id !== null && id >= 0x10, `no family id in ${toHex(family.messages[1].bytes)}`);
  for (const name of (await fixtureNames()).filter((n) => n !== "family")) {
    const { comments, messages } = await readIpvsFixture(name);
    assert.match(comments[0], /^ipvsadm /, name);
    assert.equal(comments[1], "exit 0", `${name}: ${comments.join(" | ")}`);
    assert.ok(
      messages.some((m) => m.dir === ">" && nlmsgType(m) === id),
      `${name}: no IPVS request`,
    );
  }
});
