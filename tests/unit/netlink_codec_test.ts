/**
 * The rtnetlink codec against iproute2: every builder produces the bytes `ip` sends for
 * the same operation (captured with strace, tests/fixtures/netlink/capture.sh), real
 * dump replies parse to what the namespace held, builders and the parser agree, padding
 * is where the kernel expects it, and no input — random or mutated — makes the parser
 * throw. Also pins the libc struct layouts and the errno table, which are pure.
 */

import assert from "node:assert/strict";
import {
  type AddrMessage,
  broadcastOf,
  buildDelAddr,
  buildDelRoute,
  buildGetAddrDump,
  buildGetLink,
  buildGetLinkDump,
  buildGetRouteDump,
  buildNewAddr,
  buildNewRoute,
  decodeHeader,
  encodeAttr,
  type ErrorMessage,
  hacoreLabel,
  IF_OPER_UP,
  IFA_F_NODAD,
  IFA_F_NOPREFIXROUTE,
  IFA_F_PERMANENT,
  IFA_FLAGS,
  IFA_LABEL,
  IFA_PROTO,
  IFA_PROTO_HACORE,
  IFF_LOWER_UP,
  IFF_RUNNING,
  IFF_UP,
  isHacoreAddress,
  kernelSupportsIfaProto,
  type LinkMessage,
  nlAlign,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLM_F_DUMP_INTR,
  NLM_F_MULTI,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
  parseAttrs,
  parseRtnlMessages as parseMessages,
  type RouteMessage,
  RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  RTEXT_FILTER_VF,
  RTM_DELADDR,
  RTM_DELROUTE,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_NEWADDR,
  RTM_NEWROUTE,
  RTN_UNICAST,
  RTN_UNSPEC,
  type RtnlMessage as NetlinkMessage,
  RTPROT_BOOT,
  RTPROT_HACORE,
  RTPROT_UNSPEC,
  withSeqPid,
} from "../../lib/sys/netlink/rtnl_codec.ts";
import {
  AF_INET,
  AF_INET6,
  AF_NETLINK,
  AF_PACKET,
  buildCmsgs,
  cmsgInt,
  cmsgSpace,
  decodeIn6Pktinfo,
  decodeInPktinfo,
  decodeSockaddr,
  describeSocket,
  encodePollFds,
  ETH_P_ARP,
  in6Pktinfo,
  IP_ADD_MEMBERSHIP,
  ipMreqn,
  IPPROTO_VRRP,
  IPV6_HOPLIMIT,
  IPV6_PKTINFO,
  ipv6Mreq,
  optionName,
  parseCmsgs,
  POLLIN,
  pollRevents,
  SIZEOF_CMSGHDR,
  SOCK_RAW,
  sockaddrIn,
  sockaddrIn6,
  sockaddrLl,
  sockaddrNl,
  SOL_IP,
  SOL_IPV6,
} from "../../lib/sys/libc.ts";
import {
  ERRNO_TABLE,
  errnoCode,
  errnoInfo,
  errnoNumber,
  SyscallError,
} from "../../lib/sys/errno.ts";

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

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

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}

function assertBytes(actual: Uint8Array, expected: Uint8Array): void {
  assert.equal(hex(actual), hex(expected));
}

// ---------------------------------------------------------------------------------------
// Byte-exact against iproute2
// ---------------------------------------------------------------------------------------

Deno.test("buildNewAddr matches `ip addr add 192.0.2.2/24 brd + dev va label va:hc`", () => {
  const built = buildNewAddr({
    index: 3,
    family: AF_INET,
    prefixLen: 24,
    address: "192.0.2.2",
    label: "va:hc",
    broadcast: broadcastOf("192.0.2.2", 24),
  });
  assertBytes(built, sentMessage("addr_add_v4.hex", RTM_NEWADDR));
});

Deno.test("buildDelAddr matches `ip addr del 192.0.2.2/24 dev va label va:hc`", () => {
  const built = buildDelAddr({
    index: 3,
    family: AF_INET,
    prefixLen: 24,
    address: "192.0.2.2",
    label: "va:hc",
  });
  assertBytes(built, sentMessage("addr_del_v4.hex", RTM_DELADDR));
});

Deno.test("buildNewAddr matches `ip addr add 2001:db8::5/64 dev va nodad`", () => {
  const built = buildNewAddr({
    index: 3,
    family: AF_INET6,
    prefixLen: 64,
    address: "2001:db8::5",
    flags: IFA_F_NODAD,
  });
  assertBytes(built, sentMessage("addr_add_v6.hex", RTM_NEWADDR));
});

Deno.test("buildNewRoute matches `ip route add 198.51.100.0/24 via 192.0.2.1 dev va`", () => {
  const built = buildNewRoute({
    family: AF_INET,
    dst: "198.51.100.0",
    dstLen: 24,
    gateway: "192.0.2.1",
    oif: 3,
    table: RT_TABLE_MAIN,
    protocol: RTPROT_BOOT,
    scope: RT_SCOPE_UNIVERSE,
    type: RTN_UNICAST,
  });
  assertBytes(built, sentMessage("route_add_v4.hex", RTM_NEWROUTE));
});

Deno.test("buildDelRoute matches `ip route del 198.51.100.0/24 via 192.0.2.1 dev va`", () => {
  const built = buildDelRoute({
    family: AF_INET,
    dst: "198.51.100.0",
    dstLen: 24,
    gateway: "192.0.2.1",
    oif: 3,
    table: RT_TABLE_MAIN,
    protocol: RTPROT_UNSPEC,
    scope: RT_SCOPE_NOWHERE,
    type: RTN_UNSPEC,
  });
  assertBytes(built, sentMessage("route_del_v4.hex", RTM_DELROUTE));
});

Deno.test("buildNewRoute matches `ip -6 route add 2001:db8:1::/64 via 2001:db8::1 dev va`", () => {
  const built = buildNewRoute({
    family: AF_INET6,
    dst: "2001:db8:1::",
    dstLen: 64,
    gateway: "2001:db8::1",
    oif: 3,
    table: RT_TABLE_MAIN,
    protocol: RTPROT_BOOT,
    scope: RT_SCOPE_UNIVERSE,
    type: RTN_UNICAST,
  });
  assertBytes(built, sentMessage("route_add_v6.hex", RTM_NEWROUTE));
});

Deno.test("buildNewRoute puts table ids >= 256 in RTA_TABLE like `ip route add … table 1000`", () => {
  const built = buildNewRoute({
    family: AF_INET,
    dst: "203.0.113.0",
    dstLen: 24,
    oif: 3,
    table: 1000,
    protocol: RTPROT_BOOT,
    scope: RT_SCOPE_LINK,
    type: RTN_UNICAST,
  });
  assertBytes(built, sentMessage("route_add_v4_table.hex", RTM_NEWROUTE));
});

Deno.test("buildGetAddrDump matches `ip -4 addr show`", () => {
  assertBytes(buildGetAddrDump(AF_INET), sentMessage("getaddr_dump_v4.hex", RTM_GETADDR));
});

Deno.test("buildGetLinkDump matches `ip link show` given its family and mask", () => {
  assertBytes(
    buildGetLinkDump({ family: AF_PACKET, extMask: RTEXT_FILTER_VF }),
    sentMessage("getlink_dump.hex", RTM_GETLINK),
  );
});

// ---------------------------------------------------------------------------------------
// Real dump replies
// ---------------------------------------------------------------------------------------

function parseFixture(name: string): NetlinkMessage[] {
  return loadBlocks(name).flatMap((b) => parseMessages(b));
}

Deno.test("an address dump captured from a namespace parses to what it held", () => {
  const msgs = parseFixture("addr_dump_reply.hex");
  assert.equal(msgs.filter((m) => m.kind === "malformed").length, 0);
  const addrs = msgs.filter((m): m is AddrMessage => m.kind === "addr" && m.index === 3);
  const v4 = addrs.find((a) => a.address === "192.0.2.2");
  assert.ok(v4, "192.0.2.2 present");
  assert.equal(v4.family, AF_INET);
  assert.equal(v4.prefixLen, 24);
  assert.equal(v4.local, "192.0.2.2");
  assert.equal(v4.broadcast, "192.0.2.255");
  assert.equal(v4.label, "va:hc");
  assert.equal(v4.scope, RT_SCOPE_UNIVERSE);
  assert.ok(v4.flags & IFA_F_PERMANENT);
  assert.equal(v4.validLifetime, 0xffffffff);
  assert.equal(v4.proto, undefined); // iproute2 6.1 cannot set IFA_PROTO
  assert.equal(isHacoreAddress(v4), true); // by label
  const v6 = addrs.find((a) => a.address === "2001:db8::5");
  assert.ok(v6, "2001:db8::5 present");
  assert.equal(v6.prefixLen, 64);
  assert.ok(v6.flags & IFA_F_NODAD);
  assert.equal(isHacoreAddress(v6), false);
  const ll = addrs.find((a) => a.address === "fe80::ff:fe00:a");
  assert.ok(ll, "EUI-64 link-local of 02:00:00:00:00:0a present");
  assert.equal(ll.scope, RT_SCOPE_LINK);
  assert.ok(msgs.some((m) => m.kind === "done"), "dump ends with NLMSG_DONE");
  for (const m of msgs) {
    if (m.kind === "addr") assert.ok(m.header.flags & NLM_F_MULTI);
  }
});

Deno.test("a link dump captured from a namespace parses names, flags, MAC, MTU, kind", () => {
  const msgs = parseFixture("link_dump_reply.hex");
  assert.equal(msgs.filter((m) => m.kind === "malformed").length, 0);
  const links = msgs.filter((m): m is LinkMessage => m.kind === "link");
  const va = links.find((l) => l.name === "va");
  assert.ok(va);
  assert.equal(va.index, 3);
  assert.equal(va.mac, "02:00:00:00:00:0a");
  assert.equal(va.mtu, 1500);
  assert.equal(va.linkKind, "veth");
  assert.equal(va.operstate, IF_OPER_UP);
  assert.equal(
    va.flags & (IFF_UP | IFF_RUNNING | IFF_LOWER_UP),
    IFF_UP | IFF_RUNNING | IFF_LOWER_UP,
  );
  assert.equal(va.carrier, true);
  const lo = links.find((l) => l.name === "lo");
  assert.ok(lo);
  assert.equal(lo.index, 1);
  assert.ok(msgs.some((m) => m.kind === "done"));
});

// ---------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------

Deno.test("a built RTM_NEWADDR parses back to its fields, IFA_PROTO included", () => {
  const [m] = parseMessages(buildNewAddr({
    index: 7,
    family: AF_INET,
    prefixLen: 32,
    address: "10.1.2.3",
    label: "eth1:hc",
    proto: IFA_PROTO_HACORE,
    scope: RT_SCOPE_UNIVERSE,
  }, { seq: 42, pid: 9 }));
  assert.equal(m.kind, "addr");
  const a = m as AddrMessage;
  assert.deepEqual(
    [
      a.header.seq,
      a.header.pid,
      a.index,
      a.family,
      a.prefixLen,
      a.address,
      a.local,
      a.label,
      a.proto,
    ],
    [42, 9, 7, AF_INET, 32, "10.1.2.3", "10.1.2.3", "eth1:hc", IFA_PROTO_HACORE],
  );
  assert.equal(isHacoreAddress(a), true);
});

Deno.test("flags above 0xff travel in IFA_FLAGS, the low byte in ifa_flags", () => {
  const flags = IFA_F_NODAD | IFA_F_NOPREFIXROUTE;
  const b = buildNewAddr({
    index: 2,
    family: AF_INET6,
    prefixLen: 64,
    address: "2001:db8::9",
    flags,
  });
  assert.equal(b[16 + 2], IFA_F_NODAD);
  const attrs = parseAttrs(b.subarray(16 + 8));
  assert.ok(Array.isArray(attrs));
  assert.ok(attrs.some((x) => x.type === IFA_FLAGS));
  const [m] = parseMessages(b);
  assert.equal((m as AddrMessage).flags, flags);
});

Deno.test("a built route parses back; RTA_TABLE overrides rtm_table", () => {
  const [m] = parseMessages(buildNewRoute({
    family: AF_INET6,
    dst: "2001:db8:2::",
    dstLen: 48,
    gateway: "fe80::1",
    oif: 4,
    table: 4242,
    protocol: RTPROT_HACORE,
    scope: RT_SCOPE_UNIVERSE,
    type: RTN_UNICAST,
    priority: 1024,
    prefsrc: "2001:db8::1",
  }));
  const r = m as RouteMessage;
  assert.equal(r.kind, "route");
  assert.deepEqual(
    [r.dst, r.dstLen, r.gateway, r.oif, r.table, r.protocol, r.priority, r.prefsrc],
    ["2001:db8:2::", 48, "fe80::1", 4, 4242, RTPROT_HACORE, 1024, "2001:db8::1"],
  );
});

Deno.test("a default route has no RTA_DST", () => {
  const b = buildNewRoute({
    family: AF_INET,
    dstLen: 0,
    gateway: "192.0.2.1",
    table: RT_TABLE_MAIN,
    protocol: RTPROT_HACORE,
    scope: RT_SCOPE_UNIVERSE,
    type: RTN_UNICAST,
  });
  const r = parseMessages(b)[0] as RouteMessage;
  assert.equal(r.dst, undefined);
  assert.equal(r.gateway, "192.0.2.1");
});

Deno.test("other dump requests have the fixed header only (plus IFLA_EXT_MASK for links)", () => {
  assert.equal(buildGetRouteDump(AF_INET).length, 16 + 12);
  assert.equal(buildGetLink(5).length, 16 + 16 + 8);
  assert.equal(new DataView(buildGetLink(5).buffer).getInt32(16 + 4, true), 5);
});

Deno.test("builders refuse the wrong family, a bad prefix and a long label", () => {
  assert.throws(
    () => buildNewAddr({ index: 1, family: AF_INET, prefixLen: 24, address: "::1" }),
    RangeError,
  );
  assert.throws(
    () => buildNewAddr({ index: 1, family: AF_INET, prefixLen: 33, address: "10.0.0.1" }),
    RangeError,
  );
  assert.throws(
    () =>
      buildNewAddr({
        index: 1,
        family: AF_INET,
        prefixLen: 8,
        address: "10.0.0.1",
        label: "x".repeat(16),
      }),
    RangeError,
  );
  assert.throws(
    () => buildNewAddr({ index: 1, family: 99, prefixLen: 8, address: "10.0.0.1" }),
    RangeError,
  );
});

// ---------------------------------------------------------------------------------------
// Alignment and padding
// ---------------------------------------------------------------------------------------

Deno.test("labels of every length are NUL-terminated and zero-padded to 4 bytes", () => {
  for (let n = 1; n <= 15; n++) {
    const label = "l".repeat(n);
    const b = buildNewAddr({ index: 1, family: AF_INET, prefixLen: 8, address: "10.0.0.1", label });
    assert.equal(b.length % 4, 0);
    assert.equal(new DataView(b.buffer).getUint32(0, true), b.length);
    const attrs = parseAttrs(b.subarray(16 + 8));
    assert.ok(Array.isArray(attrs));
    const a = attrs.find((x) => x.type === IFA_LABEL);
    assert.ok(a);
    assert.equal(a.payload.length, n + 1); // rta_len counts the NUL, not the padding
    const off = a.payload.byteOffset - b.byteOffset + a.payload.length;
    for (let i = off; i < nlAlign(off); i++) {
      assert.equal(b[i], 0, `padding byte ${i} for label of ${n}`);
    }
  }
});

Deno.test("encodeAttr pads the payload but rta_len does not count the padding", () => {
  const a = encodeAttr(IFA_PROTO, Uint8Array.of(0x48));
  assert.deepEqual(Array.from(a), [5, 0, IFA_PROTO, 0, 0x48, 0, 0, 0]);
});

Deno.test("messages back to back parse one after another across padding", () => {
  const one = buildNewAddr({
    index: 1,
    family: AF_INET,
    prefixLen: 8,
    address: "10.0.0.1",
    label: "a",
  });
  const two = buildDelAddr({ index: 2, family: AF_INET6, prefixLen: 64, address: "2001:db8::1" });
  const buf = new Uint8Array(one.length + two.length);
  buf.set(one);
  buf.set(two, one.length);
  const msgs = parseMessages(buf);
  assert.deepEqual(msgs.map((m) => m.kind), ["addr", "addr"]);
  assert.equal((msgs[1] as AddrMessage).deleted, true);
});

// ---------------------------------------------------------------------------------------
// Acks, errors, done
// ---------------------------------------------------------------------------------------

function errorReply(
  opts: { errno: number; capped: boolean; text?: string; offset?: number },
): Uint8Array {
  const request = buildNewAddr({ index: 3, family: AF_INET, prefixLen: 24, address: "192.0.2.1" }, {
    seq: 77,
  });
  const echoed = opts.capped ? request.subarray(0, 16) : request;
  const tlvs: Uint8Array[] = [];
  if (opts.text !== undefined) {
    tlvs.push(encodeAttr(NLMSGERR_ATTR_MSG, new TextEncoder().encode(opts.text + "\0")));
  }
  if (opts.offset !== undefined) {
    const v = new Uint8Array(4);
    new DataView(v.buffer).setUint32(0, opts.offset, true);
    tlvs.push(encodeAttr(NLMSGERR_ATTR_OFFS, v));
  }
  const tlvLen = tlvs.reduce((s, t) => s + t.length, 0);
  const len = 16 + 4 + echoed.length + tlvLen;
  const b = new Uint8Array(len);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, len, true);
  dv.setUint16(4, NLMSG_ERROR, true);
  dv.setUint16(6, (opts.capped ? NLM_F_CAPPED : 0) | (tlvs.length ? NLM_F_ACK_TLVS : 0), true);
  dv.setUint32(8, 77, true);
  dv.setInt32(16, -opts.errno, true);
  b.set(echoed, 20);
  let off = 20 + echoed.length;
  for (const t of tlvs) {
    b.set(t, off);
    off += t.length;
  }
  return b;
}

Deno.test("an error ack yields errno, the acked seq and type, and the kernel's text", () => {
  for (const capped of [true, false]) {
    const [m] = parseMessages(
      errorReply({ errno: 17, capped, text: "ipv4: Address already assigned", offset: 24 }),
    );
    const e = m as ErrorMessage;
    assert.equal(e.kind, "error");
    assert.equal(e.errno, 17);
    assert.equal(e.ackedSeq, 77);
    assert.equal(e.ackedType, RTM_NEWADDR);
    assert.equal(e.extAckMessage, "ipv4: Address already assigned");
    assert.equal(e.extAckOffset, 24);
  }
  const [ack] = parseMessages(errorReply({ errno: 0, capped: true }));
  assert.equal((ack as ErrorMessage).errno, 0);
});

Deno.test("NLMSG_DONE carries a dump's own error, and DUMP_INTR is visible in the header", () => {
  const b = new Uint8Array(20);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, 20, true);
  dv.setUint16(4, NLMSG_DONE, true);
  dv.setUint16(6, NLM_F_MULTI | NLM_F_DUMP_INTR, true);
  dv.setInt32(16, -16, true);
  const [m] = parseMessages(b);
  assert.equal(m.kind, "done");
  if (m.kind === "done") {
    assert.equal(m.errno, 16);
    assert.ok(m.header.flags & NLM_F_DUMP_INTR);
  }
});

// ---------------------------------------------------------------------------------------
// Malformed input
// ---------------------------------------------------------------------------------------

Deno.test("a truncated header, an impossible length and a short body become malformed items", () => {
  assert.deepEqual(parseMessages(new Uint8Array(0)), []);
  assert.equal(parseMessages(new Uint8Array(2)).length, 0); // alignment slack only
  assert.equal(parseMessages(new Uint8Array(8))[0].kind, "malformed");
  const bad = buildNewAddr({ index: 1, family: AF_INET, prefixLen: 8, address: "10.0.0.1" });
  new DataView(bad.buffer).setUint32(0, 9999, true);
  const [m] = parseMessages(bad);
  assert.equal(m.kind, "malformed");
  const short = buildGetAddrDump(AF_INET).slice();
  new DataView(short.buffer).setUint16(4, RTM_NEWADDR, true);
  new DataView(short.buffer).setUint32(0, 20, true);
  const [s] = parseMessages(short.subarray(0, 20));
  assert.equal(s.kind, "malformed");
  if (s.kind === "malformed") assert.match(s.reason, /ifaddrmsg/);
});

Deno.test("an address attribute of the wrong size is reported, not misread", () => {
  const b = buildNewAddr({ index: 1, family: AF_INET, prefixLen: 8, address: "10.0.0.1" });
  b[16] = AF_INET6; // family now says 16-byte addresses
  const [m] = parseMessages(b);
  assert.equal(m.kind, "malformed");
  if (m.kind === "malformed") assert.match(m.reason, /IFA_LOCAL: 4 bytes for family 10/);
});

/** mulberry32: small, seeded, good enough to spread fuzz cases. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("10k random and mutated inputs never throw and never hit an internal error", () => {
  const rand = rng(0x48c0de);
  const int = (n: number) => Math.floor(rand() * n);
  const seeds: Uint8Array[] = [
    ...loadBlocks("addr_dump_reply.hex"),
    ...loadBlocks("link_dump_reply.hex"),
    buildNewAddr({
      index: 3,
      family: AF_INET,
      prefixLen: 24,
      address: "192.0.2.1",
      label: "a:hc",
      proto: 0x48,
    }),
    buildNewRoute({
      family: AF_INET6,
      dst: "2001:db8::",
      dstLen: 32,
      gateway: "fe80::1",
      oif: 2,
      table: 300,
      protocol: RTPROT_HACORE,
      scope: RT_SCOPE_UNIVERSE,
      type: RTN_UNICAST,
    }),
    errorReply({ errno: 17, capped: false, text: "boom", offset: 4 }),
  ];
  let malformed = 0;
  for (let i = 0; i < 10_000; i++) {
    let input: Uint8Array;
    const mode = i % 4;
    if (mode === 0) {
      input = Uint8Array.from({ length: int(200) }, () => int(256));
    } else {
      input = seeds[int(seeds.length)].slice();
      const flips = 1 + int(8);
      for (let f = 0; f < flips; f++) {
        if (input.length === 0) break;
        const at = int(input.length);
        if (mode === 1) input[at] ^= 1 << int(8);
        else if (mode === 2) input[at] = [0, 0xff, 4, 16, 3, 2][int(6)];
      }
      if (mode === 3) input = input.subarray(0, int(input.length + 1));
      // Keep the outer length honest half the time so the body parsers get exercised.
      if (rand() < 0.5 && input.length >= 4) {
        new DataView(input.buffer, input.byteOffset).setUint32(0, input.length, true);
      }
    }
    let out: NetlinkMessage[] = [];
    try {
      out = parseMessages(input);
    } catch (e) {
      assert.fail(`case ${i} threw ${e} on ${hex(input)}`);
    }
    for (const m of out) {
      if (m.kind === "malformed") {
        malformed++;
        assert.ok(!m.reason.startsWith("internal:"), `case ${i}: ${m.reason} on ${hex(input)}`);
      }
    }
  }
  assert.ok(malformed > 1000, `fuzz produced only ${malformed} malformed items`);
});

// ---------------------------------------------------------------------------------------
// hacore's tag
// ---------------------------------------------------------------------------------------

Deno.test("isHacoreAddress: IFA_PROTO 0x48 or the :hc label; nothing else", () => {
  assert.equal(isHacoreAddress({ proto: IFA_PROTO_HACORE }), true);
  assert.equal(isHacoreAddress({ label: "eth0:hc" }), true);
  assert.equal(isHacoreAddress({ label: "eth0" }), false);
  assert.equal(isHacoreAddress({ proto: 3, label: "eth0:1" }), false);
  assert.equal(isHacoreAddress({}), false);
});

Deno.test("hacoreLabel fits the kernel's 15-byte label limit", () => {
  assert.equal(hacoreLabel("eth0"), "eth0:hc");
  assert.equal(hacoreLabel("averylongname15"), "averylongnam:hc");
  assert.ok(hacoreLabel("x".repeat(15)).length <= 15);
});

Deno.test("kernelSupportsIfaProto: 6.1 and later", () => {
  assert.equal(kernelSupportsIfaProto("6.18.44-fc-v657"), true);
  assert.equal(kernelSupportsIfaProto("6.1.0-13-amd64"), true);
  assert.equal(kernelSupportsIfaProto("6.0.19"), false);
  assert.equal(kernelSupportsIfaProto("5.15.0-91-generic"), false);
  assert.equal(kernelSupportsIfaProto("7.0"), true);
  assert.equal(kernelSupportsIfaProto("garbage"), false);
});

Deno.test("broadcastOf computes `brd +` and has none for /31 and /32", () => {
  assert.equal(broadcastOf("192.0.2.2", 24), "192.0.2.255");
  assert.equal(broadcastOf("10.1.2.3", 8), "10.255.255.255");
  assert.equal(broadcastOf("172.16.5.4", 20), "172.16.15.255");
  assert.equal(broadcastOf("10.0.0.1", 0), "255.255.255.255");
  assert.equal(broadcastOf("10.0.0.1", 31), undefined);
});

// ---------------------------------------------------------------------------------------
// libc struct layouts and the errno table (pure: no library is loaded)
// ---------------------------------------------------------------------------------------

Deno.test("sockaddr_in / sockaddr_in6 layouts", () => {
  assert.equal(
    hex(sockaddrIn("224.0.0.18", 0x1234)),
    "02 00 12 34 e0 00 00 12 00 00 00 00 00 00 00 00",
  );
  const s6 = sockaddrIn6("ff02::12", 0, 5);
  assert.equal(s6.length, 28);
  assert.equal(hex(s6.subarray(0, 8)), "0a 00 00 00 00 00 00 00");
  assert.equal(hex(s6.subarray(8, 24)), "ff 02 00 00 00 00 00 00 00 00 00 00 00 00 00 12");
  assert.equal(hex(s6.subarray(24)), "05 00 00 00");
  const d = decodeSockaddr(s6);
  assert.equal(d.family, AF_INET6);
  if ("scopeId" in d) assert.equal(d.scopeId, 5);
});

Deno.test("sockaddr_ll / sockaddr_nl layouts", () => {
  const ll = sockaddrLl({ protocol: ETH_P_ARP, ifindex: 7, addr: Uint8Array.of(1, 2, 3, 4, 5, 6) });
  assert.equal(hex(ll), "11 00 08 06 07 00 00 00 00 00 00 06 01 02 03 04 05 06 00 00");
  const d = decodeSockaddr(ll);
  assert.equal(d.family, AF_PACKET);
  if ("ifindex" in d) assert.equal(d.ifindex, 7);
  assert.equal(hex(sockaddrNl(0x01020304, 0x10)), "10 00 00 00 04 03 02 01 10 00 00 00");
  assert.equal(decodeSockaddr(sockaddrNl()).family, AF_NETLINK);
});

Deno.test("ip_mreqn / ipv6_mreq layouts", () => {
  assert.equal(hex(ipMreqn("224.0.0.18", 3)), "e0 00 00 12 00 00 00 00 03 00 00 00");
  const m6 = ipv6Mreq("ff02::12", 4);
  assert.equal(m6.length, 20);
  assert.equal(hex(m6.subarray(16)), "04 00 00 00");
});

Deno.test("control messages round-trip through buildCmsgs / parseCmsgs with 8-byte alignment", () => {
  const hop = new Uint8Array(4);
  new DataView(hop.buffer).setInt32(0, 255, true);
  const ctl = buildCmsgs([
    { level: SOL_IPV6, type: IPV6_HOPLIMIT, data: hop },
    { level: SOL_IPV6, type: IPV6_PKTINFO, data: in6Pktinfo("ff02::12", 9) },
  ]);
  assert.equal(ctl.length, cmsgSpace(4) + cmsgSpace(20));
  assert.equal(cmsgSpace(4), SIZEOF_CMSGHDR + 8);
  const parsed = parseCmsgs(ctl, ctl.length);
  assert.equal(parsed.length, 2);
  assert.equal(cmsgInt(parsed[0].data), 255);
  assert.equal(decodeIn6Pktinfo(parsed[1].data)?.ifindex, 9);
  assert.deepEqual(parseCmsgs(ctl, 10), []); // truncated: stops, no throw
  assert.equal(decodeInPktinfo(new Uint8Array(3)), null);
});

Deno.test("pollfd arrays and names used in error messages", () => {
  const set = encodePollFds([5, 6], POLLIN);
  assert.equal(hex(set), "05 00 00 00 01 00 00 00 06 00 00 00 01 00 00 00");
  set[6 + 8] = 1;
  assert.equal(pollRevents(set, 1), 1);
  assert.equal(describeSocket(AF_INET, SOCK_RAW, IPPROTO_VRRP), "AF_INET raw/112");
  assert.equal(optionName(SOL_IP, IP_ADD_MEMBERSHIP), "IP_ADD_MEMBERSHIP");
});

Deno.test("errno table: codes, texts, and SyscallError's message", () => {
  assert.ok(ERRNO_TABLE.length >= 40);
  assert.equal(errnoCode(99), "EADDRNOTAVAIL");
  assert.equal(errnoNumber("EEXIST"), 17);
  assert.equal(errnoInfo(4000).code, "E4000");
  const numbers = new Set(ERRNO_TABLE.map((e) => e.errno));
  assert.equal(numbers.size, ERRNO_TABLE.length, "no duplicate numbers");
  const e = new SyscallError("bind", 99, "AF_INET raw/112");
  assert.equal(e.message, "bind(AF_INET raw/112): EADDRNOTAVAIL (Cannot assign requested address)");
  assert.equal(e.code, "EADDRNOTAVAIL");
  assert.ok(e instanceof Error);
});
