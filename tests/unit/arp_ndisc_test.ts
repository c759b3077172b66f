/**
 * Gratuitous ARP and unsolicited NA against keepalived's frames: every ARP and NA in
 * the reference captures decodes as tshark did and re-encodes byte for byte; broken
 * frames are refused; random frames never throw.
 */

import assert from "node:assert/strict";
import {
  ARP_FRAME_LENGTH,
  ARP_OP_REPLY,
  ARP_OP_REQUEST,
  decodeArp,
  encodeArp,
  encodeGratuitousArp,
  macToString,
  parseMac,
} from "../../lib/net/arp.ts";
import {
  BROADCAST_MAC,
  decodeEthernet,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ipv4MulticastMac,
  ipv6MulticastMac,
} from "../../lib/net/ether.ts";
import {
  decodeNaFrame,
  decodeNaPayload,
  encodeNaPayload,
  encodeUnsolicitedNa,
  NA_PAYLOAD_LENGTH,
} from "../../lib/net/ndisc.ts";
import { parseIp } from "../../lib/net/addr.ts";
import { internetChecksum, ipv6PseudoHeader } from "../../lib/net/checksum.ts";
import {
  decodeIpv4Header,
  decodeIpv6Header,
  IPPROTO_ICMPV6,
  IPPROTO_VRRP,
} from "../../lib/net/ip.ts";
import {
  CAPTURE_NAMES,
  type CaptureName,
  capturesMissing,
  loadCapture,
  type ReferenceCapture,
  type TsharkFrame,
} from "./pcap.ts";

const missing = capturesMissing();
if (missing) console.warn(`arp_ndisc_test: SKIPPING capture tests: ${missing}`);
const ignore = missing !== null;

const captureCache = new Map<CaptureName, Promise<ReferenceCapture>>();
function capture(name: CaptureName): Promise<ReferenceCapture> {
  let c = captureCache.get(name);
  if (!c) captureCache.set(name, c = loadCapture(name));
  return c;
}

function field(t: TsharkFrame, key: string): string {
  const hits = t.fields.filter(([k]) => k === key);
  assert.equal(hits.length, 1, `tshark frame ${t.number}: ${key} appears ${hits.length} times`);
  return hits[0][1];
}

/** "a6:a1:14:b3:ec:0d (a6:a1:14:b3:ec:0d)" or "Broadcast (ff:…)" → the MAC text. */
function macIn(text: string): string {
  const m = /([0-9a-f]{2}(?::[0-9a-f]{2}){5})/.exec(text);
  if (m) return m[1];
  // tshark prints an OUI name for zeros: "00:00:00_00:00:00 (00:00:00:00:00:00)".
  const z = /\(([0-9a-f:]{17})\)/.exec(text);
  assert.ok(z, `no MAC in ${text}`);
  return z[1];
}

/** Expected counts from the index files, so a reader that finds nothing cannot pass. */
const EXPECTED: Record<CaptureName, { arp: number; garp: number; na: number }> = {
  "keepalived-vrrpv2": { arp: 20, garp: 20, na: 0 },
  "keepalived-vrrpv3": { arp: 20, garp: 20, na: 0 },
  "keepalived-v3-ipv6-unicast-v2auth": { arp: 17, garp: 15, na: 10 },
};

// ---------------------------------------------------------------------------------------
// Every ARP frame

for (const name of CAPTURE_NAMES) {
  Deno.test({
    name: `every ARP frame of ${name} decodes as tshark did and re-encodes byte for byte`,
    ignore,
    async fn() {
      const cap = await capture(name);
      const indexed = cap.index.filter((l) => l.protocol === "ARP");
      const indexedGarp = indexed.filter((l) => l.summary.startsWith("Gratuitous ARP"));
      assert.equal(indexed.length, EXPECTED[name].arp);
      assert.equal(indexedGarp.length, EXPECTED[name].garp);
      let arps = 0;
      let garps = 0;
      for (const rec of cap.pcap.records) {
        const eth = decodeEthernet(rec.data);
        assert.ok(eth.ok);
        if (eth.etherType !== ETHERTYPE_ARP) continue;
        const what = `${name} frame ${rec.number}`;
        const arp = decodeArp(rec.data);
        if (!arp.ok) assert.fail(`${what}: ${arp.error}`);
        const t = cap.tshark.get(rec.number)!;
        assert.equal(arp.op, Number(/\((\d+)\)/.exec(field(t, "Opcode"))![1]), what);
        assert.equal(macToString(arp.senderMac), macIn(field(t, "Sender MAC address")), what);
        assert.equal(arp.senderIp, field(t, "Sender IP address"), what);
        assert.equal(macToString(arp.targetMac), macIn(field(t, "Target MAC address")), what);
        assert.equal(arp.targetIp, field(t, "Target IP address"), what);
        assert.deepEqual(encodeArp(arp), rec.data, what);
        arps++;
        const isGarp = indexedGarp.some((l) => l.number === rec.number);
        assert.equal(arp.gratuitous, isGarp, what);
        if (isGarp) {
          assert.deepEqual(
            encodeGratuitousArp({ senderMac: arp.senderMac, ip: arp.senderIp }),
            rec.data,
            what,
          );
          garps++;
        }
      }
      assert.equal(arps, EXPECTED[name].arp);
      assert.equal(garps, EXPECTED[name].garp);
    },
  });
}

Deno.test({
  name: "gratuitous ARP: keepalived's exact frame for 10.77.0.200",
  ignore,
  async fn() {
    const rec = (await capture("keepalived-vrrpv2")).pcap.records[5]; // frame 6
    assert.equal(rec.number, 6);
    const mac = parseMac("5a:5d:b1:13:70:d4")!;
    const frame = encodeGratuitousArp({ senderMac: mac, ip: "10.77.0.200" });
    assert.equal(frame.length, ARP_FRAME_LENGTH);
    assert.deepEqual(frame, rec.data);
    const arp = decodeArp(frame);
    assert.ok(arp.ok);
    assert.equal(arp.op, ARP_OP_REQUEST);
    assert.deepEqual(arp.ethDst, BROADCAST_MAC);
    assert.deepEqual(arp.targetMac, BROADCAST_MAC, "keepalived puts ff:ff:ff:ff:ff:ff, not zeros");
    assert.equal(arp.senderIp, "10.77.0.200");
    assert.equal(arp.targetIp, "10.77.0.200");
    assert.equal(arp.gratuitous, true);
  },
});

Deno.test({
  name: "reference timing: advert, then 5 GARPs within 2 ms, then 5 more 5 s later",
  ignore,
  async fn() {
    // Not a test of our code: it pins the capture fact the announcer should imitate.
    for (const name of ["keepalived-vrrpv2", "keepalived-vrrpv3"] as const) {
      const recs = (await capture(name)).pcap.records;
      const kinds = recs.map((r) => {
        const eth = decodeEthernet(r.data);
        if (!eth.ok) return "?";
        if (eth.etherType === ETHERTYPE_ARP) return "G";
        if (eth.etherType !== ETHERTYPE_IPV4) return "?";
        const ip = decodeIpv4Header(eth.payload);
        return ip.ok && ip.protocol === IPPROTO_VRRP ? "V" : "-";
      }).join("");
      const bursts = [...kinds.matchAll(/G+/g)].map((m) => ({ at: m.index!, n: m[0].length }));
      assert.ok(bursts.length >= 2, name);
      for (const b of bursts) assert.equal(b.n, 5, `${name}: bursts of 5`);
      // Two masters in each capture, each with a pair of bursts.
      for (let i = 0; i + 1 < bursts.length; i += 2) {
        const first = bursts[i];
        assert.equal(kinds[first.at - 1], "V", `${name}: the first burst follows an advert`);
        const advertAt = recs[first.at - 1].time;
        assert.ok(recs[first.at].time - advertAt < 0.002, `${name}: GARPs right after the advert`);
        const gap = recs[bursts[i + 1].at].time - recs[first.at].time;
        assert.ok(Math.abs(gap - 5) < 0.01, `${name}: second burst ${gap} s later`);
      }
    }
  },
});

Deno.test("ARP decode refuses what is not Ethernet/IPv4 ARP", () => {
  const good = encodeGratuitousArp({ senderMac: parseMac("02:00:00:00:00:01")!, ip: "192.0.2.1" });
  const broken = (edit: (b: Uint8Array) => void) => {
    const b = good.slice();
    edit(b);
    return decodeArp(b).ok;
  };
  assert.equal(broken(() => {}), true);
  assert.equal(broken((b) => b[13] = 0x00), false, "IPv4 ethertype");
  assert.equal(broken((b) => b[15] = 6), false, "hardware type 6");
  assert.equal(broken((b) => b[17] = 0xdd), false, "protocol type");
  assert.equal(broken((b) => b[18] = 8), false, "hardware length");
  assert.equal(decodeArp(good.subarray(0, 41)).ok, false, "short");
  const padded = new Uint8Array(60);
  padded.set(good);
  assert.equal(decodeArp(padded).ok, true, "Ethernet padding is fine");
  const reply = encodeArp({
    ethDst: parseMac("02:00:00:00:00:02")!,
    op: ARP_OP_REPLY,
    senderMac: parseMac("02:00:00:00:00:01")!,
    senderIp: "192.0.2.1",
    targetMac: parseMac("02:00:00:00:00:02")!,
    targetIp: "192.0.2.2",
  });
  const r = decodeArp(reply);
  assert.ok(r.ok);
  assert.equal(r.op, ARP_OP_REPLY);
  assert.equal(r.gratuitous, false);
  assert.throws(
    () => encodeGratuitousArp({ senderMac: new Uint8Array(5), ip: "192.0.2.1" }),
    RangeError,
  );
  assert.throws(
    () => encodeGratuitousArp({ senderMac: new Uint8Array(6), ip: "2001:db8::1" }),
    RangeError,
  );
});

// ---------------------------------------------------------------------------------------
// Every NA frame

Deno.test({
  name: "every NA frame decodes as tshark did and re-encodes byte for byte",
  ignore,
  async fn() {
    const name = "keepalived-v3-ipv6-unicast-v2auth";
    const cap = await capture(name);
    const indexed = cap.index.filter((l) => l.summary.startsWith("Neighbor Advertisement"));
    assert.equal(indexed.length, EXPECTED[name].na);
    let nas = 0;
    const targets = new Map<string, number>();
    for (const rec of cap.pcap.records) {
      const eth = decodeEthernet(rec.data);
      assert.ok(eth.ok);
      if (eth.etherType !== ETHERTYPE_IPV6) continue;
      const ip = decodeIpv6Header(eth.payload);
      assert.ok(ip.ok);
      if (ip.nextHeader !== IPPROTO_ICMPV6) continue;
      const what = `frame ${rec.number}`;
      const na = decodeNaFrame(rec.data);
      if (!na.ok) assert.fail(`${what}: ${na.error}`);
      const t = cap.tshark.get(rec.number)!;
      const icmp = t.fields.slice(
        t.fields.findIndex(([, v]) => v === "Neighbor Advertisement (136)"),
      );
      const get = (k: string) => icmp.find(([key]) => key === k)![1];
      assert.equal(na.checksum, parseInt(get("Checksum"), 16), what);
      assert.equal(na.router, get("Router") === "Set", what);
      assert.equal(na.solicited, get("Solicited") === "Set", what);
      assert.equal(na.override, get("Override") === "Set", what);
      assert.equal(na.targetIp, get("Target Address"), what);
      assert.equal(macToString(na.targetMac!), macIn(get("Link-layer address")), what);
      assert.equal(na.hopLimit, 255, what);
      // keepalived: source = the VIP itself, R clear, S clear, O set.
      assert.equal(na.src, na.targetIp, what);
      assert.equal([na.router, na.solicited, na.override].join(), "false,false,true", what);
      assert.deepEqual(
        encodeUnsolicitedNa({
          srcMac: na.ethSrc,
          srcIp: na.src,
          targetIp: na.targetIp,
          router: na.router,
        }),
        rec.data,
        what,
      );
      assert.deepEqual(
        encodeNaPayload({
          src: na.src,
          dst: na.dst,
          targetIp: na.targetIp,
          targetMac: na.targetMac!,
          router: false,
          solicited: false,
          override: true,
        }),
        ip.payload,
        what,
      );
      targets.set(na.targetIp, (targets.get(na.targetIp) ?? 0) + 1);
      nas++;
    }
    assert.equal(nas, EXPECTED[name].na);
    assert.deepEqual(Object.fromEntries(targets), { "fe80::61": 5, "fd00:88::100": 5 });
  },
});

Deno.test({
  name: "unsolicited NA: keepalived's exact 86-byte frame for fe80::61",
  ignore,
  async fn() {
    const rec = (await capture("keepalived-v3-ipv6-unicast-v2auth")).pcap.records[1];
    assert.equal(rec.number, 2);
    const frame = encodeUnsolicitedNa({
      srcMac: parseMac("a6:a1:14:b3:ec:0d")!,
      srcIp: "fe80::61",
      targetIp: "fe80::61",
      router: false,
    });
    assert.equal(frame.length, 86);
    assert.deepEqual(frame, rec.data);
    assert.equal(frame.length - 54, NA_PAYLOAD_LENGTH);
    assert.equal(macToString(frame.subarray(0, 6)), "33:33:00:00:00:01");
    assert.equal((frame[56] << 8) | frame[57], 0xb179);
  },
});

Deno.test("unsolicited NA: the R flag follows `router`, and the checksum follows it", () => {
  const mac = parseMac("02:00:5e:00:02:01")!;
  const plain = encodeUnsolicitedNa({
    srcMac: mac,
    srcIp: "fe80::1",
    targetIp: "2001:db8::1",
    router: false,
  });
  const router = encodeUnsolicitedNa({
    srcMac: mac,
    srcIp: "fe80::1",
    targetIp: "2001:db8::1",
    router: true,
  });
  assert.equal(plain[58], 0x20);
  assert.equal(router[58], 0xa0);
  const r = decodeNaFrame(router);
  assert.ok(r.ok);
  assert.equal(r.router, true);
  assert.equal(r.override, true);
  assert.equal(r.solicited, false);
  const s = decodeNaFrame(
    encodeUnsolicitedNa({
      srcMac: mac,
      srcIp: "fe80::1",
      targetIp: "fe80::9",
      router: false,
      solicited: true,
      override: false,
    }),
  );
  assert.ok(s.ok);
  assert.equal(s.solicited, true);
  assert.equal(s.override, false);
  // A unicast destination needs its MAC.
  assert.throws(
    () =>
      encodeUnsolicitedNa({
        srcMac: mac,
        srcIp: "fe80::1",
        targetIp: "fe80::9",
        router: false,
        dst: "fe80::2",
      }),
    RangeError,
  );
  const uni = encodeUnsolicitedNa({
    srcMac: mac,
    srcIp: "fe80::1",
    targetIp: "fe80::9",
    router: false,
    dst: "fe80::2",
    dstMac: parseMac("02:00:00:00:00:02")!,
  });
  assert.equal(macToString(uni.subarray(0, 6)), "02:00:00:00:00:02");
  assert.equal(decodeNaFrame(uni).ok, true);
});

Deno.test("NA decode refuses bad checksums, hop limits, types and options", () => {
  const mac = parseMac("02:00:00:00:00:01")!;
  const good = encodeUnsolicitedNa({
    srcMac: mac,
    srcIp: "fe80::1",
    targetIp: "2001:db8::1",
    router: false,
  });
  const refused = (edit: (b: Uint8Array) => void) => {
    const b = good.slice();
    edit(b);
    const r = decodeNaFrame(b);
    return r.ok ? "ok" : r.error;
  };
  assert.equal(refused(() => {}), "ok");
  assert.match(refused((b) => b[57] ^= 1), /checksum/);
  assert.match(refused((b) => b[70] ^= 1), /checksum/, "target address is covered");
  assert.match(refused((b) => b[21] = 64), /hop limit/);
  assert.match(refused((b) => b[20] = 17), /next header/);
  assert.match(refused((b) => b[54] = 135), /type 135/);
  assert.match(refused((b) => (b[12] = 0x08, b[13] = 0x06)), /not IPv6/);
  // Option length 0 must be discarded (RFC 4861 §7.1.2); the checksum is fixed so the
  // option is the reason.
  const ip = { src: "fe80::1", dst: "ff02::1" };
  const zeroLen = good.slice(54);
  zeroLen[25] = 0;
  const z = decodeNaPayload(withIcmpChecksum(zeroLen, ip), ip);
  assert.ok(!z.ok);
  assert.match(z.error, /length 0/);
  const overrun = good.slice(54);
  overrun[25] = 2;
  const o = decodeNaPayload(withIcmpChecksum(overrun, ip), ip);
  assert.ok(!o.ok);
  assert.match(o.error, /overruns/);
  assert.equal(decodeNaPayload(good.subarray(54, 54 + 23), ip).ok, false, "short");
  assert.equal(decodeNaPayload(good.subarray(54), { src: "10.0.0.1", dst: "ff02::1" }).ok, false);
  // Without the option the NA is still valid, with no target MAC.
  const noOpt = decodeNaPayload(withIcmpChecksum(good.slice(54, 54 + 24), ip), ip);
  assert.ok(noOpt.ok);
  assert.equal(noOpt.targetMac, null);
  assert.equal(noOpt.targetIp, "2001:db8::1");
});

function withIcmpChecksum(b: Uint8Array, ip: { src: string; dst: string }): Uint8Array {
  const out = b.slice();
  out[2] = out[3] = 0;
  const pseudo = ipv6PseudoHeader(
    parseIp(ip.src)!.bytes,
    parseIp(ip.dst)!.bytes,
    IPPROTO_ICMPV6,
    out.length,
  );
  const sum = internetChecksum(pseudo, out);
  out[2] = sum >> 8;
  out[3] = sum & 0xff;
  return out;
}

// ---------------------------------------------------------------------------------------
// MAC helpers

Deno.test("MAC helpers: text round trip, multicast mappings", () => {
  assert.equal(macToString(parseMac("A6:A1:14:B3:EC:0D")!), "a6:a1:14:b3:ec:0d");
  assert.equal(macToString(parseMac("02-00-5e-00-01-33")!), "02:00:5e:00:01:33");
  for (
    const bad of [
      "",
      "a6:a1:14:b3:ec",
      "a6:a1:14:b3:ec:0d:00",
      "a6:a1:14:b3:ec:0g",
      "a6a1.14b3.ec0d",
    ]
  ) {
    assert.equal(parseMac(bad), null, bad);
  }
  assert.equal(macToString(ipv6MulticastMac(parseIp("ff02::12")!.bytes)), "33:33:00:00:00:12");
  assert.equal(
    macToString(ipv6MulticastMac(parseIp("ff02::1:ff00:61")!.bytes)),
    "33:33:ff:00:00:61",
  );
  assert.equal(macToString(ipv4MulticastMac(parseIp("224.0.0.18")!.bytes)), "01:00:5e:00:00:12");
  assert.equal(macToString(ipv4MulticastMac(parseIp("239.129.1.2")!.bytes)), "01:00:5e:01:01:02");
});

Deno.test({
  name: "multicast MACs agree with the Ethernet destinations in the captures",
  ignore,
  async fn() {
    const v2 = (await capture("keepalived-vrrpv2")).pcap.records[4];
    assert.equal(
      macToString(v2.data.subarray(0, 6)),
      macToString(ipv4MulticastMac(parseIp("224.0.0.18")!.bytes)),
    );
    const v6 = (await capture("keepalived-v3-ipv6-unicast-v2auth")).pcap.records[0];
    assert.equal(
      macToString(v6.data.subarray(0, 6)),
      macToString(ipv6MulticastMac(parseIp("ff02::12")!.bytes)),
    );
  },
});

// ---------------------------------------------------------------------------------------
// Fuzz

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

Deno.test("fuzz: 20k random and mutated frames never make a frame decoder throw", () => {
  const seed = 0xa5a5f00d;
  const rand = rng(seed);
  const int = (n: number) => Math.floor(rand() * n);
  const mac = parseMac("02:00:00:00:00:01")!;
  const seeds = [
    encodeGratuitousArp({ senderMac: mac, ip: "192.0.2.1" }),
    encodeUnsolicitedNa({ srcMac: mac, srcIp: "fe80::1", targetIp: "2001:db8::1", router: true }),
  ];
  let arpOk = 0;
  let naOk = 0;
  for (let i = 0; i < 20_000; i++) {
    let b: Uint8Array;
    if (i % 3 === 0) {
      b = new Uint8Array(int(100));
      for (let j = 0; j < b.length; j++) b[j] = int(256);
      // Give random frames a plausible ethertype half the time so decoders go deeper.
      if (b.length >= 14 && rand() < 0.5) {
        const et = [ETHERTYPE_ARP, ETHERTYPE_IPV6, ETHERTYPE_IPV4, 0x8100][int(4)];
        b[12] = et >> 8;
        b[13] = et & 0xff;
      }
    } else {
      const s = seeds[i % 2];
      b = i % 3 === 1 ? s.subarray(0, int(s.length + 1)) : s.slice();
      if (i % 3 === 2) { for (let k = 1 + int(3); k > 0; k--) b[int(b.length)] = int(256); }
    }
    try {
      decodeEthernet(b);
      if (decodeArp(b).ok) arpOk++;
      if (decodeNaFrame(b).ok) naOk++;
      const eth = decodeEthernet(b);
      if (eth.ok) {
        decodeIpv4Header(eth.payload);
        decodeIpv6Header(eth.payload);
        decodeNaPayload(eth.payload, { src: "fe80::1", dst: "ff02::1" });
      }
    } catch (e) {
      throw new Error(`seed ${seed} case ${i}: a decoder threw ${e}`);
    }
  }
  assert.ok(arpOk > 100, `arp decoded ${arpOk}`);
  assert.ok(naOk > 100, `na decoded ${naOk}`);
});
