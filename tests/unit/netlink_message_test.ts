/**
 * The netlink message layer on its own: each attribute encoder writes the bytes
 * linux/netlink.h lays out (header, payload in the stated byte order, zero padding),
 * nests carry NLA_F_NESTED and decode back, readers refuse short payloads instead of
 * misreading them, and protocol messages come through parseMessages as `data`.
 */

import assert from "node:assert/strict";
import {
  attrBe16,
  attrBe32,
  attrBytes,
  attrMap,
  attrNested,
  attrString,
  attrU16,
  attrU32,
  attrU64,
  attrU8,
  concatBytes,
  encodeNlMessage,
  NLA_F_NESTED,
  NLM_F_MULTI,
  NLMSG_DONE,
  parseAttrs,
  parseMessages,
  readBe16,
  readBe32,
  readString,
  readU16,
  readU32,
  readU64,
  readU8,
} from "../../lib/sys/netlink/message.ts";

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}

Deno.test("each attribute encoder writes nla_len, nla_type, the value in its byte order and zero padding", () => {
  const cases: [Uint8Array, string][] = [
    [attrU8(1, 0xab), "05 00 01 00 ab 00 00 00"],
    [attrU16(2, 0x1234), "06 00 02 00 34 12 00 00"],
    [attrU32(3, 0xdeadbeef), "08 00 03 00 ef be ad de"],
    [attrU64(4, 0x0102030405060708n), "0c 00 04 00 08 07 06 05 04 03 02 01"],
    [attrBe16(5, 80), "06 00 05 00 00 50 00 00"],
    [attrBe32(6, 0xc0000201), "08 00 06 00 c0 00 02 01"],
    [attrString(7, "ab"), "07 00 07 00 61 62 00 00"],
    [attrBytes(8, Uint8Array.of(1, 2, 3, 4)), "08 00 08 00 01 02 03 04"],
    [attrBytes(9, new Uint8Array(0)), "04 00 09 00"],
  ];
  for (const [got, want] of cases) assert.equal(hex(got), want);
});

Deno.test("a nest sets NLA_F_NESTED, counts its children, and decodes back to them", () => {
  const nest = attrNested(1, [attrU16(1, 2), attrString(2, "IPVS")]);
  assert.equal(hex(nest.subarray(0, 4)), "18 00 01 80"); // 4 + 8 + 12 bytes, type 1 | 0x8000
  const attrs = parseAttrs(nest);
  assert.ok(Array.isArray(attrs));
  const [outer] = attrs;
  assert.deepEqual([outer.type, outer.nested], [1, true]);
  const inner = attrMap(outer.payload);
  assert.ok(inner instanceof Map);
  assert.equal(readU16(inner.get(1)!), 2);
  assert.equal(readString(inner.get(2)!), "IPVS");
  assert.equal(attrU16(1 | NLA_F_NESTED, 0)[3], 0x80);
});

Deno.test("readers return the value of a long enough payload and undefined of a short one", () => {
  const p = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
  assert.deepEqual(
    [readU8(p), readU16(p), readU32(p), readU64(p), readBe16(p), readBe32(p)],
    [1, 0x0201, 0x04030201, 0x0807060504030201n, 0x0102, 0x01020304],
  );
  const short = Uint8Array.of(9);
  assert.deepEqual(
    [readU16(short), readU32(short), readU64(p.subarray(0, 7)), readBe16(short), readBe32(short)],
    [undefined, undefined, undefined, undefined, undefined],
  );
  assert.equal(readU8(new Uint8Array(0)), undefined);
  assert.equal(readString(Uint8Array.of(0x68, 0x63)), "hc"); // no NUL: the whole payload
});

Deno.test("parseAttrs reports an attribute running past its buffer and a length below 4", () => {
  const a = attrU32(1, 7);
  assert.match(String(parseAttrs(a.subarray(0, 6))), /runs past/);
  assert.match(String(parseAttrs(Uint8Array.of(2, 0, 1, 0))), /length 2 < 4/);
  assert.match(String(attrMap(Uint8Array.of(2, 0, 1, 0))), /length 2/);
  assert.deepEqual(parseAttrs(concatBytes([a, Uint8Array.of(0, 0)])), [
    { type: 1, nested: false, netByteOrder: false, payload: a.subarray(4) },
  ]);
});

Deno.test("encodeNlMessage sets nlmsg_len over the padded payload; parseMessages gives it back as data", () => {
  const msg = encodeNlMessage(0x22, NLM_F_MULTI, Uint8Array.of(1, 2, 3), 5, 6);
  assert.equal(hex(msg), "14 00 00 00 22 00 02 00 05 00 00 00 06 00 00 00 01 02 03 00");
  const done = encodeNlMessage(NLMSG_DONE, NLM_F_MULTI, new Uint8Array(4), 5);
  const msgs = parseMessages(concatBytes([msg, done]));
  assert.deepEqual(msgs.map((m) => m.kind), ["data", "done"]);
  const m = msgs[0];
  if (m.kind !== "data") return;
  assert.deepEqual([m.type, m.flags, m.seq, m.pid, m.offset], [0x22, NLM_F_MULTI, 5, 6, 0]);
  assert.equal(hex(m.payload), "01 02 03 00");
});
