/**
 * IPVS codec against what ipvsadm 1.31 and the Linux 6.1 kernel said to each other
 * (`tests/fixtures/ipvs/`): each builder's request is ipvsadm's, byte for byte once seq and
 * pid are cleared and the family id is the one the capture's own lookup returned; each
 * captured reply decodes to what ipvsadm printed from it; broken replies give reasons.
 */

import assert from "node:assert/strict";
import { toHex } from "../../scripts/vm/strace_netlink.ts";
import { encodeGenlMessage, GENL_ID_CTRL, parseFamilyReply } from "../../lib/sys/netlink/genl.ts";
import {
  buildDelDaemon,
  buildDelDest,
  buildDelService,
  buildFlush,
  buildGetConfig,
  buildGetDaemons,
  buildGetDests,
  buildGetInfo,
  buildGetServices,
  buildNewDaemon,
  buildNewDest,
  buildNewService,
  buildSetConfig,
  buildSetDest,
  buildSetService,
  buildZero,
  decodeConfig,
  decodeDaemon,
  decodeDest,
  decodeInfo,
  decodeService,
  IPVS_CMD_ATTR_SERVICE,
  IPVS_GENL_NAME,
  IPVS_GENL_VERSION,
  IPVS_SVC_ATTR_ADDR,
  IPVS_SVC_ATTR_AF,
  IPVS_SVC_ATTR_FLAGS,
  IPVS_SVC_ATTR_FWMARK,
  IPVS_SVC_ATTR_NETMASK,
  IPVS_SVC_ATTR_PE_NAME,
  IPVS_SVC_ATTR_PORT,
  IPVS_SVC_ATTR_PROTOCOL,
  IPVS_SVC_ATTR_SCHED_NAME,
  IPVS_SVC_ATTR_TIMEOUT,
  ipvsVersionText,
  MessageArena,
  netmaskFromKernel,
  netmaskToKernel,
  type TableChange,
  tableChangeLength,
  writeTableChange,
} from "../../lib/sys/netlink/ipvs.ts";
import {
  AF_INET,
  AF_INET6,
  IP_VS_CONN_F_DROUTE,
  IP_VS_CONN_F_MASQ,
  IP_VS_CONN_F_TUNNEL,
  IP_VS_SVC_F_HASHED,
  IP_VS_SVC_F_PERSISTENT,
  IP_VS_SVC_F_SCHED_MH_FALLBACK,
  IP_VS_SVC_F_SCHED_MH_PORT,
  IP_VS_SVC_F_SCHED_SH_PORT,
  IPPROTO_TCP,
  IPPROTO_UDP,
  type IpvsDest,
  type IpvsService,
} from "../../lib/sys/netlink/ipvs_types.ts";
import {
  attrBe16,
  attrBe32,
  attrBytes,
  attrNested,
  attrString,
  attrU16,
  attrU32,
  NLMSG_HDRLEN,
  withSeqPid,
} from "../../lib/sys/netlink/message.ts";
import { NLM_F_ACK, NLM_F_REQUEST } from "../../lib/sys/netlink/constants.ts";
import { readIpvsFixture } from "../ipvs/fixtures.ts";

interface Capture {
  family: number;
  /** ipvsadm's IPVS requests (not its lookups), seq and pid cleared. */
  requests: Uint8Array[];
  /** The kernel's IPVS data replies (payload after the nlmsghdr), in order. */
  replies: Uint8Array[];
  comments: string[];
}

async function capture(name: string): Promise<Capture> {
  const f = await readIpvsFixture(name);
  let family = -1;
  for (const m of f.messages) {
    const type = new DataView(m.bytes.buffer, m.bytes.byteOffset).getUint16(4, true);
    if (m.dir === "<" && type === GENL_ID_CTRL) {
      const fam = parseFamilyReply(m.bytes.subarray(NLMSG_HDRLEN));
      if (typeof fam !== "string" && fam.name === IPVS_GENL_NAME) family = fam.id;
    }
  }
  assert.notEqual(family, -1, `${name}: no IPVS lookup reply`);
  const ofFamily = (dir: string) =>
    f.messages.filter((m) =>
      m.dir === dir && new DataView(m.bytes.buffer, m.bytes.byteOffset).getUint16(4, true) ===
        family
    );
  return {
    family,
    requests: ofFamily(">").map((m) => withSeqPid(m.bytes, 0, 0)),
    replies: ofFamily("<").map((m) => m.bytes.subarray(NLMSG_HDRLEN)),
    comments: f.comments,
  };
}

// The request every ipvsadm run sends first (GET_INFO); the operation's own follows.
async function operation(name: string): Promise<{ c: Capture; req: Uint8Array }> {
  const c = await capture(name);
  assert.equal(toHex(c.requests[0]), toHex(buildGetInfo(c.family)), `${name}: GET_INFO`);
  return { c, req: c.requests[1] };
}

function same(actual: Uint8Array, expected: Uint8Array): void {
  assert.equal(toHex(actual), toHex(expected));
}

function unwrap<T>(v: T | string): T {
  if (typeof v === "string") throw new Error(v);
  return v;
}

const web: IpvsService = {
  af: AF_INET,
  protocol: IPPROTO_TCP,
  address: "10.9.0.1",
  port: 80,
  fwmark: 0,
  scheduler: "wrr",
  flags: 0,
  timeoutS: 0,
  netmask: 32,
  persistenceEngine: null,
};
const dns: IpvsService = {
  ...web,
  protocol: IPPROTO_UDP,
  port: 53,
  scheduler: "rr",
  flags: IP_VS_SVC_F_PERSISTENT,
  timeoutS: 300,
};
const v6: IpvsService = {
  ...web,
  af: AF_INET6,
  address: "2001:db8::1",
  port: 443,
  scheduler: "mh",
  flags: IP_VS_SVC_F_SCHED_MH_FALLBACK | IP_VS_SVC_F_SCHED_MH_PORT,
  netmask: 128,
};
const fwm: IpvsService = {
  ...web,
  protocol: 0,
  address: "0.0.0.0",
  port: 0,
  fwmark: 7,
  scheduler: "sh",
  flags: IP_VS_SVC_F_SCHED_SH_PORT,
};
const dest = (address: string, port: number, forward: IpvsDest["forward"], weight: number) =>
  ({
    af: AF_INET,
    address,
    port,
    forward,
    weight,
    uThreshold: 0,
    lThreshold: 0,
    tunnelType: 0,
    tunnelPort: 0,
    tunnelFlags: 0,
  }) satisfies IpvsDest;

Deno.test("add service: TCP wrr is ipvsadm -A -t 10.9.0.1:80 -s wrr", async () => {
  const { c, req } = await operation("add-service-tcp-wrr");
  same(buildNewService(c.family, web), req);
});

Deno.test("add service: persistence sends the PERSISTENT flag and the timeout", async () => {
  const { c, req } = await operation("add-service-udp-rr-persistent");
  same(buildNewService(c.family, dns), req);
});

Deno.test("add service: IPv6 netmask is a prefix length, mh flags in the flags", async () => {
  const { c, req } = await operation("add-service-tcp6-mh");
  same(buildNewService(c.family, v6), req);
});

Deno.test("add service: a fwmark service names the mark (host order), no address", async () => {
  const { c, req } = await operation("add-service-fwmark-sh");
  same(buildNewService(c.family, fwm), req);
});

Deno.test("edit service: scheduler and persistence in place is ipvsadm -E", async () => {
  const { c, req } = await operation("edit-service");
  same(
    buildSetService(c.family, {
      ...web,
      scheduler: "rr",
      flags: IP_VS_SVC_F_PERSISTENT,
      timeoutS: 60,
    }),
    req,
  );
});

Deno.test("edit service: the kernel's HASHED bit is never sent back", async () => {
  const { c, req } = await operation("edit-service");
  same(
    buildSetService(c.family, {
      ...web,
      scheduler: "rr",
      flags: IP_VS_SVC_F_PERSISTENT | IP_VS_SVC_F_HASHED,
      timeoutS: 60,
    }),
    req,
  );
});

Deno.test("delete service: the service in ipvsadm's reference form (whatever its scheduler)", async () => {
  const { c, req } = await operation("del-service");
  same(buildDelService(c.family, dns), req);
});

Deno.test("add destination: direct routing with a weight", async () => {
  const { c, req } = await operation("add-dest-route");
  same(buildNewDest(c.family, web, dest("10.9.0.2", 80, IP_VS_CONN_F_DROUTE, 3)), req);
});

Deno.test("add destination: NAT with another port and both thresholds", async () => {
  const { c, req } = await operation("add-dest-masq-thresholds");
  same(
    buildNewDest(c.family, web, {
      ...dest("10.9.0.3", 8080, IP_VS_CONN_F_MASQ, 1),
      uThreshold: 100,
      lThreshold: 10,
    }),
    req,
  );
});

Deno.test("add destination: IP-in-IP tunnel", async () => {
  const { c, req } = await operation("add-dest-tunnel");
  same(buildNewDest(c.family, web, dest("10.9.0.4", 80, IP_VS_CONN_F_TUNNEL, 1)), req);
});

Deno.test("destination commands built in a shared arena are ipvsadm's bytes, each its own and aligned", async () => {
  const add = await operation("add-dest-route");
  const edit = await operation("edit-dest");
  const del = await operation("del-dest");
  // A small arena: the third message starts a new chunk.
  const arena = new MessageArena(2 * add.req.length + 8);
  const d = dest("10.9.0.2", 80, IP_VS_CONN_F_DROUTE, 3);
  const msgs = [
    buildNewDest(add.c.family, web, d, arena),
    buildSetDest(edit.c.family, web, { ...d, weight: 0 }, arena),
    buildDelDest(del.c.family, web, dest("10.9.0.4", 80, IP_VS_CONN_F_DROUTE, 1), arena),
  ];
  same(msgs[0], add.req);
  same(msgs[1], edit.req);
  same(msgs[2], del.req);
  assert.equal(msgs[0].buffer, msgs[1].buffer);
  assert.notEqual(msgs[1].buffer, msgs[2].buffer);
  assert.equal(msgs[1].byteOffset % 4, 0);
  assert.ok(msgs[1].byteOffset >= msgs[0].byteOffset + msgs[0].length);
  // Writing one leaves its neighbour alone.
  msgs[1].fill(0xff);
  same(msgs[0], add.req);
});

Deno.test("table changes written into a shared buffer are their builders' bytes, back to back", () => {
  const sip: IpvsService = { ...dns, netmask: 24, persistenceEngine: "sip", flags: 0xff };
  const d = dest("10.9.0.2", 80, IP_VS_CONN_F_DROUTE, 3);
  const d6 = { ...dest("2001:db8::2", 443, IP_VS_CONN_F_DROUTE, 2), af: AF_INET6 } as IpvsDest;
  const cases: [TableChange, Uint8Array][] = [
    [{ op: "addService", service: sip }, buildNewService(0x23, sip)],
    [{ op: "editService", service: v6 }, buildSetService(0x23, v6)],
    [{ op: "delService", service: fwm }, buildDelService(0x23, fwm)],
    [{ op: "addDest", service: web, dest: d }, buildNewDest(0x23, web, d)],
    [{ op: "editDest", service: v6, dest: d6 }, buildSetDest(0x23, v6, d6)],
    [{ op: "delDest", service: fwm, dest: d }, buildDelDest(0x23, fwm, d)],
  ];
  // An odd start: a writer must not assume an aligned buffer, nor write past its length.
  let at = 3;
  const out = new Uint8Array(at + cases.reduce((n, [c]) => n + tableChangeLength(c), 0) + 5);
  for (const [c, built] of cases) {
    assert.equal(tableChangeLength(c), built.length, c.op);
    writeTableChange(out, at, 0x23, c);
    assert.equal(toHex(out.subarray(at, at + built.length)), toHex(built), c.op);
    at += built.length;
  }
  assert.deepEqual([...out.subarray(0, 3)], [0, 0, 0]);
  assert.deepEqual([...out.subarray(at)], [0, 0, 0, 0, 0]);
});

Deno.test("edit destination: weight 0 in place is ipvsadm -e", async () => {
  const { c, req } = await operation("edit-dest");
  same(buildSetDest(c.family, web, dest("10.9.0.2", 80, IP_VS_CONN_F_DROUTE, 0)), req);
});

Deno.test("delete destination: ipvsadm sends its defaults (route, weight 1) beside the address", async () => {
  // The kernel reads only the address and port of a deleted destination; ipvsadm fills
  // the rest with its defaults, and a caller deleting what it dumped sends the dumped
  // values instead, which the kernel ignores the same way.
  const { c, req } = await operation("del-dest");
  same(buildDelDest(c.family, web, dest("10.9.0.4", 80, IP_VS_CONN_F_DROUTE, 1)), req);
});

Deno.test("timeouts: set is ipvsadm --set, get is ipvsadm -L --timeout and reads back", async () => {
  const set = await operation("set-timeout");
  same(buildSetConfig(set.c.family, { tcpS: 900, tcpFinS: 120, udpS: 300 }), set.req);
  const get = await operation("list-timeout");
  same(buildGetConfig(get.c.family), get.req);
  assert.ok(get.c.comments.includes("stdout: Timeout (tcp tcpfin udp): 900 120 300"));
  assert.deepEqual(unwrap(decodeConfig(get.c.replies[1])), { tcpS: 900, tcpFinS: 120, udpS: 300 });
});

Deno.test("info: the kernel's u32 version reads as ipvsadm prints it", async () => {
  const { c } = await operation("list");
  assert.ok(c.comments.includes("stdout: IP Virtual Server version 1.2.1 (size=4096)"));
  assert.deepEqual(unwrap(decodeInfo(c.replies[0])), { version: "1.2.1", connTableSize: 4096 });
  assert.equal(ipvsVersionText(0x010203), "1.2.3");
});

Deno.test("sync daemon: start, stop, and the listed daemon", async () => {
  const start = await operation("start-daemon");
  same(buildNewDaemon(start.c.family, { state: "master", ifname: "lo", syncId: 5 }), start.req);
  const stop = await operation("stop-daemon");
  same(buildDelDaemon(stop.c.family, "master"), stop.req);
  const list = await operation("list-daemon");
  same(buildGetDaemons(list.c.family), list.req);
  assert.match(list.c.comments.join("\n"), /master sync daemon \(mcast=lo, syncid=5/);
  assert.deepEqual(unwrap(decodeDaemon(list.c.replies[1])), {
    state: "master",
    ifname: "lo",
    syncId: 5,
  });
});

Deno.test("zero and flush: no attributes for the whole table", async () => {
  const zero = await operation("zero");
  same(buildZero(zero.c.family), zero.req);
  const clear = await operation("clear");
  same(buildFlush(clear.c.family), clear.req);
});

Deno.test("list: the dumps are ipvsadm's, services and dests read as ipvsadm printed them", async () => {
  const { c } = await operation("list");
  // GET_INFO, the service dump, then a destination dump per service, in dump order.
  same(buildGetServices(c.family), c.requests[1]);
  const services = c.replies.slice(1, 5).map((p) => unwrap(decodeService(p)).service);
  const hashed = IP_VS_SVC_F_HASHED;
  assert.deepEqual(services, [
    {
      ...web,
      scheduler: "rr",
      flags: IP_VS_SVC_F_PERSISTENT | hashed,
      timeoutS: 60,
    },
    { ...dns, flags: IP_VS_SVC_F_PERSISTENT | hashed },
    { ...v6, flags: v6.flags | hashed },
    { ...fwm, flags: fwm.flags | hashed },
  ]);
  assert.deepEqual(
    c.requests.slice(2).map(toHex),
    services.map((s) => toHex(buildGetDests(c.family, s))),
  );
  const dests = c.replies.slice(5).map((p) => unwrap(decodeDest(p, AF_INET)));
  const counters = { activeConns: 0, inactConns: 0, persistConns: 0 };
  assert.deepEqual(
    dests.map(({ stats: _, ...d }) => d),
    [
      { ...dest("10.9.0.4", 80, IP_VS_CONN_F_TUNNEL, 1), ...counters },
      {
        ...dest("10.9.0.3", 8080, IP_VS_CONN_F_MASQ, 1),
        uThreshold: 100,
        lThreshold: 10,
        ...counters,
      },
      { ...dest("10.9.0.2", 80, IP_VS_CONN_F_DROUTE, 0), ...counters },
    ],
  );
  // ipvsadm printed these lines from the same replies.
  const printed = c.comments.join("\n");
  assert.match(printed, /TCP {2}10\.9\.0\.1:80 rr persistent 60/);
  assert.match(printed, /-> 10\.9\.0\.3:8080 {16}Masq {4}1/);
  assert.match(printed, /FWM {2}7 sh \(sh-port\)/);
});

Deno.test("list --stats: 64-bit counters are read, zero on a fresh table", async () => {
  const { c } = await operation("list-stats");
  const svc = unwrap(decodeService(c.replies[1]));
  assert.ok(svc.stats, "service stats");
  assert.equal(svc.stats.conns, 0n);
  const d = unwrap(decodeDest(c.replies[5], AF_INET));
  assert.ok(d.stats, "dest stats");
  assert.deepEqual(Object.values(d.stats), new Array(10).fill(0n));
});

Deno.test("dests decoded one after another keep nothing of the one before", async () => {
  const { c } = await operation("list-stats");
  const withStats = c.replies[5];
  const gue = {
    ...dest("10.9.0.9", 443, IP_VS_CONN_F_TUNNEL, 3),
    uThreshold: 7,
    tunnelType: 1,
    tunnelPort: 6080,
    tunnelFlags: 1,
  } satisfies IpvsDest;
  const plain = dest("10.9.0.8", 80, IP_VS_CONN_F_MASQ, 2);
  // A request carries no stats and no counters: decoded right after a reply that has
  // them (and after a tunnelled dest), it must not inherit any.
  const request = (d: IpvsDest) => buildNewDest(c.family, web, d).subarray(NLMSG_HDRLEN);
  const none = { activeConns: undefined, inactConns: undefined, persistConns: undefined };
  for (let round = 0; round < 2; round++) {
    const replied = unwrap(decodeDest(withStats, AF_INET));
    assert.ok(replied.stats && replied.activeConns === 0, "the reply's stats and counters");
    assert.deepEqual(unwrap(decodeDest(request(gue), AF_INET)), { ...gue, ...none });
    assert.deepEqual(unwrap(decodeDest(request(plain), AF_INET)), { ...plain, ...none });
  }
});

Deno.test("decoded services, dests and daemons re-encode to the request that made them", async () => {
  const { c } = await operation("list");
  const [tcp] = c.replies.slice(1, 2).map((p) => unwrap(decodeService(p)).service);
  const edit = await operation("edit-service");
  same(buildSetService(edit.c.family, tcp), edit.req);
  // The dumped 10.9.0.2 (the last dest part) is what ipvsadm -e left: re-sent, it is that edit.
  const dumped = unwrap(decodeDest(c.replies[c.replies.length - 1], AF_INET));
  const editDest = await operation("edit-dest");
  same(buildSetDest(editDest.c.family, web, dumped), editDest.req);
  const listed = await operation("list-daemon");
  const start = await operation("start-daemon");
  same(buildNewDaemon(start.c.family, unwrap(decodeDaemon(listed.c.replies[1]))), start.req);
});

Deno.test("netmask: IPv4 mask <-> prefix, IPv6 as is, holes refused", () => {
  assert.equal(netmaskToKernel(AF_INET, 24), 0xffffff00);
  assert.equal(netmaskToKernel(AF_INET, 32), 0xffffffff);
  assert.equal(netmaskToKernel(AF_INET, 0), 0);
  assert.equal(netmaskFromKernel(AF_INET, 0xffffff00), 24);
  assert.equal(netmaskFromKernel(AF_INET, 0), 0);
  assert.equal(netmaskFromKernel(AF_INET, 0xff00ff00), null);
  assert.equal(netmaskToKernel(AF_INET6, 64), 64);
  assert.equal(netmaskFromKernel(AF_INET6, 129), null);
});

Deno.test("malformed replies give a reason naming the attribute, never an exception", async () => {
  const { c } = await operation("list");
  const svc = c.replies[1];
  const dst = c.replies[5];
  // Truncated inside the service nest: the nest's length runs past the message.
  const cut = decodeService(svc.subarray(0, 40));
  assert.equal(typeof cut, "string");
  assert.match(cut as string, /IPVS_CMD_ATTR_SERVICE|attributes/);
  // The port attribute (AF 8 + PROTOCOL 8 + ADDR 20 bytes into the nest) made 1 byte long.
  const shortPort = svc.slice();
  const portAt = 4 + 4 + 8 + 8 + 20;
  assert.equal(shortPort[portAt + 2], 4, "port attribute where expected");
  shortPort[portAt] = 5;
  assert.match(decodeService(shortPort) as string, /IPVS_SVC_ATTR_PORT/);
  // Flags of the wrong size (10 bytes keeps the next attribute where it was).
  const flagsAt = portAt + 8 + 8;
  assert.equal(svc[flagsAt + 2], 7, "flags attribute where expected");
  const badFlags = svc.slice();
  badFlags[flagsAt] = 10;
  assert.match(decodeService(badFlags) as string, /IPVS_SVC_ATTR_FLAGS/);
  // A dest reply given to the service decoder, and a header too short to be genl.
  assert.match(decodeService(dst) as string, /command 5/);
  assert.match(decodeDest(Uint8Array.of(5), AF_INET) as string, /genlmsghdr/);
  // Every prefix of every reply decodes or explains itself.
  for (const p of c.replies) {
    for (let n = 0; n < p.length; n += 3) {
      const part = p.subarray(0, n);
      for (const r of [decodeService(part), decodeDest(part, AF_INET), decodeInfo(part)]) {
        assert.ok(typeof r === "string" || typeof r === "object");
      }
    }
  }
  // The version attribute (the first, after the 4-byte genlmsghdr) left out.
  const info = c.replies[0];
  const noVersion = Uint8Array.of(...info.subarray(0, 4), ...info.subarray(12));
  assert.match(decodeInfo(noVersion) as string, /IPVS_INFO_ATTR_VERSION missing/);
});

/**
 * The service commands as the attribute encoders build them (how hacore built them
 * before they were written in place): the reference the in-place writer must equal.
 */
function serviceByAttributes(family: number, cmd: number, s: IpvsService, full: boolean) {
  const identity = [attrU16(IPVS_SVC_ATTR_AF, s.af)];
  if (s.fwmark !== 0) identity.push(attrU32(IPVS_SVC_ATTR_FWMARK, s.fwmark));
  else {
    const addr = new Uint8Array(16);
    addr.set(s.af === AF_INET ? Uint8Array.from(s.address.split(".").map(Number)) : V6_BYTES);
    identity.push(
      attrU16(IPVS_SVC_ATTR_PROTOCOL, s.protocol),
      attrBytes(IPVS_SVC_ATTR_ADDR, addr),
      attrBe16(IPVS_SVC_ATTR_PORT, s.port),
    );
  }
  const flags = (f: number) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setUint32(0, (f & ~IP_VS_SVC_F_HASHED) >>> 0, true);
    new DataView(b.buffer).setUint32(4, 0xffffffff, true);
    return attrBytes(IPVS_SVC_ATTR_FLAGS, b);
  };
  const rest = full
    ? [
      attrString(IPVS_SVC_ATTR_SCHED_NAME, s.scheduler),
      ...(s.persistenceEngine ? [attrString(IPVS_SVC_ATTR_PE_NAME, s.persistenceEngine)] : []),
      flags(s.flags),
      attrU32(IPVS_SVC_ATTR_TIMEOUT, s.timeoutS),
      s.af === AF_INET
        ? attrBe32(IPVS_SVC_ATTR_NETMASK, netmaskToKernel(s.af, s.netmask))
        : attrU32(IPVS_SVC_ATTR_NETMASK, netmaskToKernel(s.af, s.netmask)),
    ]
    : [
      attrString(IPVS_SVC_ATTR_SCHED_NAME, ""),
      flags(0),
      attrU32(IPVS_SVC_ATTR_TIMEOUT, 0),
      attrU32(IPVS_SVC_ATTR_NETMASK, 0xffffffff),
    ];
  return encodeGenlMessage({
    family,
    cmd,
    version: IPVS_GENL_VERSION,
    flags: NLM_F_REQUEST | NLM_F_ACK,
    attrs: [attrNested(IPVS_CMD_ATTR_SERVICE, [...identity, ...rest])],
  });
}

const V6_BYTES = Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1);

Deno.test("service commands written in place are the attribute encoders' bytes, an engine and odd scheduler names too", () => {
  const sip: IpvsService = { ...dns, netmask: 24, persistenceEngine: "sip", flags: 0xff };
  const long: IpvsService = {
    ...web,
    scheduler: "weighted-x",
    af: AF_INET6,
    address: "2001:db8::1",
  };
  for (const s of [web, dns, v6, fwm, sip, long, { ...web, scheduler: "wlc\u00e9" }]) {
    for (const [cmd, full] of [[1, true], [2, true], [3, false]] as const) {
      const build = cmd === 1 ? buildNewService : cmd === 2 ? buildSetService : buildDelService;
      assert.equal(
        toHex(build(0x23, s)),
        toHex(serviceByAttributes(0x23, cmd, s, full)),
        `${s.scheduler} ${s.address} cmd ${cmd}`,
      );
    }
  }
});
