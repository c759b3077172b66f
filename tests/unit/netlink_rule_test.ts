/**
 * FIB rules (RTM_NEWRULE / RTM_DELRULE / RTM_GETRULE): byte for byte against what
 * iproute2's `ip rule` sends (tests/fixtures/netlink/capture.sh), and a captured dump
 * parsed back.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  buildDelRule,
  buildGetRuleDump,
  buildNewRule,
  decodeHeader,
  FIB_RULE_INVERT,
  FR_ACT_BLACKHOLE,
  FR_ACT_TO_TBL,
  FR_ACT_UNSPEC,
  parseRtnlMessages,
  RT_TABLE_LOCAL,
  RT_TABLE_MAIN,
  RTM_DELRULE,
  RTM_GETRULE,
  RTM_NEWRULE,
  RTPROT_HACORE,
  type RuleMessage,
  type RuleSpec,
  withSeqPid,
} from "../../lib/sys/netlink/rtnl_codec.ts";
import { AF_INET, AF_INET6 } from "../../lib/sys/libc.ts";

const FIXTURES = new URL("../fixtures/netlink/", import.meta.url);

/** The blocks of a capture.sh fixture: one byte array per syscall buffer. */
function loadBlocks(name: string): Uint8Array[] {
  const text = Deno.readTextFileSync(new URL(name, FIXTURES));
  const body = text.split("\n").filter((l) => !l.startsWith("#")).join("\n");
  return body.split(/^--$/m)
    .map((b) => b.trim())
    .filter((b) => b.length > 0)
    .map((b) => Uint8Array.from(b.split(/\s+/), (h) => parseInt(h, 16)));
}

/** The one message of `type` iproute2 sent, cut to its nlmsg_len, seq and pid zeroed. */
function sentMessage(name: string, type: number): Uint8Array {
  for (const block of loadBlocks(name)) {
    const h = decodeHeader(block, 0);
    if (h && h.type === type) return withSeqPid(block.subarray(0, h.len), 0, 0);
  }
  throw new Error(`${name}: no message of type ${type}`);
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");

const FULL: RuleSpec = {
  family: AF_INET,
  src: "10.0.0.0",
  srcLen: 24,
  dst: "10.1.0.0",
  dstLen: 16,
  iifname: "va",
  oifname: "vb",
  fwmark: 0x10,
  fwmask: 0xff,
  priority: 110,
  table: 1000,
  action: FR_ACT_TO_TBL,
  protocol: RTPROT_HACORE,
};

Deno.test("buildNewRule matches `ip rule add from … to … iif oif fwmark/mask priority table 1000 protocol`", () => {
  assert.equal(hex(buildNewRule(FULL)), hex(sentMessage("rule_add_v4.hex", RTM_NEWRULE)));
});

Deno.test("buildDelRule matches `ip rule del` with the same selectors (any action)", () => {
  const built = buildDelRule({ ...FULL, action: FR_ACT_UNSPEC });
  assert.equal(hex(built), hex(sentMessage("rule_del_v4.hex", RTM_DELRULE)));
});

Deno.test("buildNewRule matches `ip -6 rule add to 2001:db8::/32 priority 102 blackhole`", () => {
  const built = buildNewRule({
    family: AF_INET6,
    dst: "2001:db8::",
    dstLen: 32,
    priority: 102,
    table: 0,
    action: FR_ACT_BLACKHOLE,
  });
  assert.equal(hex(built), hex(sentMessage("rule_add_v6.hex", RTM_NEWRULE)));
});

Deno.test("a table below 256 rides in the header, and `not` is FIB_RULE_INVERT", () => {
  const built = buildNewRule({
    family: AF_INET,
    src: "192.0.2.0",
    srcLen: 24,
    priority: 103,
    table: 200,
    action: FR_ACT_TO_TBL,
    flags: FIB_RULE_INVERT,
  });
  assert.equal(hex(built), hex(sentMessage("rule_add_v4_not.hex", RTM_NEWRULE)));
});

Deno.test("buildGetRuleDump matches `ip -4 rule show`", () => {
  assert.equal(
    hex(buildGetRuleDump(AF_INET)),
    hex(sentMessage("getrule_dump_v4.hex", RTM_GETRULE)),
  );
});

Deno.test("a captured rule dump parses: the kernel's three rules and the added one", () => {
  const rules = loadBlocks("rule_dump_reply.hex").flatMap((b) => parseRtnlMessages(b))
    .filter((m): m is RuleMessage => m.kind === "rule");
  assert.deepEqual(
    rules.map((r) => [r.priority ?? 0, r.table, r.action, r.src, r.srcLen, r.flags]),
    [
      [0, RT_TABLE_LOCAL, FR_ACT_TO_TBL, undefined, 0, 0],
      [103, 200, FR_ACT_TO_TBL, "192.0.2.0", 24, FIB_RULE_INVERT],
      [32766, RT_TABLE_MAIN, FR_ACT_TO_TBL, undefined, 0, 0],
      [32767, 253, FR_ACT_TO_TBL, undefined, 0, 0],
    ],
  );
});

Deno.test("a built rule parses back to every selector, FRA_TABLE and FRA_PROTOCOL included", () => {
  const [m] = parseRtnlMessages(buildNewRule(FULL));
  const r = m as RuleMessage;
  assert.equal(r.kind, "rule");
  assert.deepEqual(
    [r.src, r.srcLen, r.dst, r.dstLen, r.iifname, r.oifname, r.fwmark, r.fwmask],
    ["10.0.0.0", 24, "10.1.0.0", 16, "va", "vb", 0x10, 0xff],
  );
  assert.deepEqual([r.priority, r.table, r.action, r.protocol], [110, 1000, FR_ACT_TO_TBL, 0x48]);
});

Deno.test("rule builders refuse a prefix without an address and a bad interface name", () => {
  assert.throws(
    () => buildNewRule({ family: AF_INET, srcLen: 8, table: 254, action: FR_ACT_TO_TBL }),
    RangeError,
  );
  assert.throws(
    () => buildNewRule({ family: AF_INET, iifname: "a b", table: 254, action: FR_ACT_TO_TBL }),
    RangeError,
  );
  assert.throws(
    () => buildNewRule({ family: AF_INET6, dst: "::", dstLen: 129, table: 254, action: 1 }),
    RangeError,
  );
});
