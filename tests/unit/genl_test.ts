/**
 * Generic netlink codec: the GETFAMILY request is the bytes the uapi layout gives, a
 * real controller reply (captured once from Linux 6.18 in a fresh namespace) reads to
 * the family the kernel described, the kernel's ENOENT for an absent family reads as
 * such, and broken replies give reasons instead of exceptions.
 */

import assert from "node:assert/strict";
import {
  buildGetFamily,
  CTRL_ATTR_FAMILY_ID,
  CTRL_ATTR_FAMILY_NAME,
  CTRL_CMD_GETFAMILY,
  CTRL_CMD_NEWFAMILY,
  decodeGenlPayload,
  encodeGenlMessage,
  GENL_HDRLEN,
  GENL_ID_CTRL,
  parseFamilyReply,
} from "../../lib/sys/netlink/genl.ts";
import {
  attrString,
  attrU16,
  type ErrorMessage,
  NLM_F_CAPPED,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NLMSG_HDRLEN,
  parseMessages,
} from "../../lib/sys/netlink/message.ts";

function bytes(hex: string): Uint8Array {
  const clean = hex.replace(/#.*$/gm, "").trim();
  return clean.length === 0 ? new Uint8Array(0) : Uint8Array.from(
    clean.split(/\s+/),
    (h) => parseInt(h, 16),
  );
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}

// CTRL_CMD_GETFAMILY "nlctrl", seq 1, derived by hand from linux/netlink.h and
// linux/genetlink.h (little-endian host order):
const GETFAMILY_NLCTRL = `
  20 00 00 00   # nlmsg_len 32 = 16 nlmsghdr + 4 genlmsghdr + 12 attribute
  10 00         # nlmsg_type GENL_ID_CTRL
  05 00         # nlmsg_flags NLM_F_REQUEST | NLM_F_ACK
  01 00 00 00   # nlmsg_seq 1
  00 00 00 00   # nlmsg_pid 0 (the kernel fills in ours)
  03            # genlmsghdr.cmd CTRL_CMD_GETFAMILY
  01            # genlmsghdr.version 1
  00 00         # reserved
  0b 00         # nla_len 11 = 4 header + "nlctrl" + NUL
  02 00         # nla_type CTRL_ATTR_FAMILY_NAME
  6e 6c 63 74 72 6c 00   # "nlctrl\\0"
  00            # padding to 4
`;

// The kernel's answer to that request (6.18, fresh netns), one datagram: NEWFAMILY
// with id 0x10, version 2, its two ops and the "notify" group (id 0x10).
const NLCTRL_REPLY = `
  88 00 00 00 10 00 00 00 01 00 00 00 68 75 00 00 01 02 00 00 0b 00 02 00
  6e 6c 63 74 72 6c 00 00 06 00 01 00 10 00 00 00 08 00 03 00 02 00 00 00
  08 00 04 00 00 00 00 00 08 00 05 00 00 00 00 00 2c 00 06 00 14 00 01 00
  08 00 01 00 03 00 00 00 08 00 02 00 0e 00 00 00 14 00 02 00 08 00 01 00
  0a 00 00 00 08 00 02 00 0c 00 00 00 1c 00 07 00 18 00 01 00 08 00 02 00
  10 00 00 00 0b 00 01 00 6e 6f 74 69 66 79 00 00
`;

// The ack that followed it (NETLINK_CAP_ACK: the request echoed as its header only).
const NLCTRL_ACK = `
  24 00 00 00 02 00 00 01 01 00 00 00 68 75 00 00 00 00 00 00 20 00 00 00
  10 00 05 00 01 00 00 00 00 00 00 00
`;

// The answer to GETFAMILY "IPVS" (seq 2) on a kernel without IPVS: error -2 (ENOENT).
const IPVS_ENOENT = `
  24 00 00 00 02 00 00 01 02 00 00 00 68 75 00 00 fe ff ff ff 20 00 00 00
  10 00 05 00 02 00 00 00 00 00 00 00
`;

Deno.test("buildGetFamily('nlctrl') is byte for byte the uapi layout derived by hand", () => {
  assert.equal(hex(buildGetFamily("nlctrl", { seq: 1 })), hex(bytes(GETFAMILY_NLCTRL)));
});

Deno.test("buildGetFamily refuses names the kernel cannot hold (empty, 16 bytes or more)", () => {
  assert.throws(() => buildGetFamily(""), RangeError);
  assert.throws(() => buildGetFamily("x".repeat(16)), RangeError);
  assert.equal(buildGetFamily("x".repeat(15)).length, NLMSG_HDRLEN + GENL_HDRLEN + 20);
});

Deno.test("a captured nlctrl reply reads to its id, name, version, maxattr and groups", () => {
  const [m] = parseMessages(bytes(NLCTRL_REPLY));
  assert.equal(m.kind, "data");
  if (m.kind !== "data") return;
  assert.deepEqual([m.type, m.seq, m.payload.length], [GENL_ID_CTRL, 1, 0x88 - 16]);
  const f = parseFamilyReply(m.payload);
  assert.notEqual(typeof f, "string", String(f));
  if (typeof f === "string") return;
  assert.deepEqual(
    { ...f, mcastGroups: [...f.mcastGroups] },
    { id: 0x10, name: "nlctrl", version: 2, maxAttr: 0, mcastGroups: [["notify", 0x10]] },
  );
});

Deno.test("the ack after it and the IPVS refusal read as errno 0 and ENOENT for their seqs", () => {
  const [ack] = parseMessages(bytes(NLCTRL_ACK));
  const [enoent] = parseMessages(bytes(IPVS_ENOENT));
  for (const [m, errno, seq] of [[ack, 0, 1], [enoent, 2, 2]] as const) {
    assert.equal(m.kind, "error");
    const e = m as ErrorMessage;
    assert.deepEqual([e.errno, e.ackedSeq, e.ackedType], [errno, seq, GENL_ID_CTRL]);
    assert.ok(e.header.flags & NLM_F_CAPPED);
  }
});

Deno.test("encodeGenlMessage puts cmd and version after the nlmsghdr and the attributes after them", () => {
  const msg = encodeGenlMessage({
    family: 0x1234,
    cmd: 7,
    version: 1,
    flags: NLM_F_REQUEST | NLM_F_DUMP,
    attrs: [attrU16(CTRL_ATTR_FAMILY_ID, 0x42), attrString(CTRL_ATTR_FAMILY_NAME, "IPVS")],
    seq: 9,
  });
  const dv = new DataView(msg.buffer);
  assert.deepEqual(
    [dv.getUint32(0, true), dv.getUint16(4, true), dv.getUint16(6, true), dv.getUint32(8, true)],
    [msg.length, 0x1234, NLM_F_REQUEST | NLM_F_DUMP, 9],
  );
  const g = decodeGenlPayload(msg.subarray(NLMSG_HDRLEN));
  assert.notEqual(typeof g, "string");
  if (typeof g === "string") return;
  assert.deepEqual([g.cmd, g.version], [7, 1]);
  assert.deepEqual(g.attrs.map((a) => a.type), [CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME]);
});

Deno.test("a reply that is not NEWFAMILY, or lacks the id or name, is refused with a reason", () => {
  const payload = parseMessages(bytes(NLCTRL_REPLY))[0];
  assert.equal(payload.kind, "data");
  if (payload.kind !== "data") return;
  const wrongCmd = payload.payload.slice();
  wrongCmd[0] = CTRL_CMD_GETFAMILY;
  assert.match(String(parseFamilyReply(wrongCmd)), /command 3/);
  const noAttrs = Uint8Array.of(CTRL_CMD_NEWFAMILY, 2, 0, 0);
  assert.match(String(parseFamilyReply(noAttrs)), /FAMILY_ID/);
  const noName = Uint8Array.of(CTRL_CMD_NEWFAMILY, 2, 0, 0, ...attrU16(CTRL_ATTR_FAMILY_ID, 5));
  assert.match(String(parseFamilyReply(noName)), /FAMILY_NAME/);
  assert.match(String(decodeGenlPayload(Uint8Array.of(1, 2))), /genlmsghdr/);
});

Deno.test("every truncation and every byte flip of the captured reply parses without throwing", () => {
  const reply = parseMessages(bytes(NLCTRL_REPLY))[0];
  if (reply.kind !== "data") throw new Error("fixture is not a data message");
  const p = reply.payload;
  let refused = 0;
  for (let n = 0; n <= p.length; n++) {
    if (typeof parseFamilyReply(p.subarray(0, n)) === "string") refused++;
  }
  for (let i = 0; i < p.length; i++) {
    for (const v of [0x00, 0xff, 0x04]) {
      const b = p.slice();
      b[i] = v;
      parseFamilyReply(b); // must not throw
    }
  }
  assert.ok(refused > p.length / 2, `only ${refused} truncations refused`);
});
