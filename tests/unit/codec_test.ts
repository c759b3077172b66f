/**
 * VRRP codec against real keepalived packets: every advert in the reference captures
 * decodes to what tshark saw and re-encodes to the same bytes, IP header included;
 * mutations of real packets fail with the exact reason and field; random input never
 * throws.
 */

import assert from "node:assert/strict";
import {
  decodeEthernet,
  encodeEthernet,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
} from "../../lib/net/ether.ts";
import { parseIp, parseIpCached } from "../../lib/net/addr.ts";
import {
  hex16,
  internetChecksum,
  ipv4PseudoHeader,
  ipv6PseudoHeader,
} from "../../lib/net/checksum.ts";
import {
  decodeIpv4Header,
  decodeIpv6Header,
  encodeIpv4Header,
  encodeIpv6Header,
  IPPROTO_VRRP,
} from "../../lib/net/ip.ts";
import {
  type ChecksumForm,
  type CodecDropReason,
  decodeAdvert,
  type DecodeResult,
  DROP_COUNTER,
  encodeAdvert,
  RFC6527_NAME,
} from "../../lib/vrrp/packet.ts";
import type {
  Advert,
  ChecksumMode,
  DropReason,
  OutgoingAdvert,
  PacketContext,
  RouterCounters,
} from "../../lib/vrrp/types.ts";
import { zeroCounters } from "../../lib/vrrp/types.ts";
import {
  CAPTURE_NAMES,
  type CaptureName,
  capturesMissing,
  loadCapture,
  type ReferenceCapture,
  type TsharkFrame,
} from "./pcap.ts";

const missing = capturesMissing();
if (missing) console.warn(`codec_test: SKIPPING capture tests: ${missing}`);
const ignore = missing !== null;

// ---------------------------------------------------------------------------------------
// Helpers

/** A VRRP frame from a capture, split into its layers. */
interface VrrpFrame {
  number: number;
  frame: Uint8Array;
  ethDst: Uint8Array;
  ethSrc: Uint8Array;
  ctx: PacketContext;
  /** IP header fields needed to rebuild the header exactly. */
  ip:
    | { family: "ipv4"; tos: number; id: number; df: boolean }
    | { family: "ipv6"; trafficClass: number; flowLabel: number };
  vrrp: Uint8Array;
}

const captureCache = new Map<CaptureName, Promise<ReferenceCapture>>();
function capture(name: CaptureName): Promise<ReferenceCapture> {
  let c = captureCache.get(name);
  if (!c) captureCache.set(name, c = loadCapture(name));
  return c;
}

/** Every frame of a capture that carries VRRP (IPv4 protocol or IPv6 next header 112). */
function vrrpFrames(cap: ReferenceCapture): VrrpFrame[] {
  const out: VrrpFrame[] = [];
  for (const rec of cap.pcap.records) {
    const eth = decodeEthernet(rec.data);
    assert.ok(eth.ok, `frame ${rec.number}: ethernet`);
    if (eth.etherType === ETHERTYPE_IPV4) {
      const ip = decodeIpv4Header(eth.payload);
      assert.ok(ip.ok, `frame ${rec.number}: ${!ip.ok && ip.error.message}`);
      if (ip.protocol !== IPPROTO_VRRP) continue;
      out.push({
        number: rec.number,
        frame: rec.data,
        ethDst: eth.dst,
        ethSrc: eth.src,
        ctx: { family: "ipv4", src: ip.src, dst: ip.dst, ttl: ip.ttl },
        ip: { family: "ipv4", tos: ip.tos, id: ip.id, df: ip.df },
        vrrp: ip.payload,
      });
    } else if (eth.etherType === ETHERTYPE_IPV6) {
      const ip = decodeIpv6Header(eth.payload);
      assert.ok(ip.ok, `frame ${rec.number}: ${!ip.ok && ip.error.message}`);
      if (ip.nextHeader !== IPPROTO_VRRP) continue;
      out.push({
        number: rec.number,
        frame: rec.data,
        ethDst: eth.dst,
        ethSrc: eth.src,
        ctx: { family: "ipv6", src: ip.src, dst: ip.dst, ttl: ip.hopLimit },
        ip: { family: "ipv6", trafficClass: ip.trafficClass, flowLabel: ip.flowLabel },
        vrrp: ip.payload,
      });
    }
  }
  return out;
}

/** Rebuilds the whole Ethernet frame from a decoded advert and the IP facts. */
function reencodeFrame(f: VrrpFrame, advert: Advert, form: ChecksumForm): Uint8Array {
  const { checksum: _ignored, ...outgoing } = advert;
  const vrrp = encodeAdvert(outgoing, f.ctx, form === "rfc9568" ? "rfc9568" : "pseudo-header");
  const header = f.ip.family === "ipv4"
    ? encodeIpv4Header({
      src: f.ctx.src,
      dst: f.ctx.dst,
      ttl: f.ctx.ttl,
      tos: f.ip.tos,
      protocol: IPPROTO_VRRP,
      id: f.ip.id,
      payloadLength: vrrp.length,
      df: f.ip.df,
    })
    : encodeIpv6Header({
      src: f.ctx.src,
      dst: f.ctx.dst,
      hopLimit: f.ctx.ttl,
      nextHeader: IPPROTO_VRRP,
      payloadLength: vrrp.length,
      trafficClass: f.ip.trafficClass,
      flowLabel: f.ip.flowLabel,
    });
  const packet = new Uint8Array(header.length + vrrp.length);
  packet.set(header);
  packet.set(vrrp, header.length);
  return encodeEthernet({
    dst: f.ethDst,
    src: f.ethSrc,
    etherType: f.ip.family === "ipv4" ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6,
    payload: packet,
  });
}

function expectOk(r: DecodeResult, what: string): { advert: Advert; checksumForm: ChecksumForm } {
  if (!r.ok) assert.fail(`${what}: ${r.error.message}`);
  return r;
}

function expectError(
  r: DecodeResult,
  reason: CodecDropReason,
  field: string,
): { seen: string; expected: string; message: string } {
  if (r.ok) assert.fail(`expected ${reason}/${field}, but it decoded`);
  assert.equal(r.error.reason, reason, r.error.message);
  assert.equal(r.error.field, field, r.error.message);
  assert.match(r.error.message, new RegExp(`^${field.replace(".", "\\.")}: got .+, expected .+`));
  return r.error;
}

/** tshark's VRRP fields for a frame: everything from "VRRP protocol version" on. */
function tsharkVrrp(frame: TsharkFrame): Map<string, string[]> {
  const start = frame.fields.findIndex(([k]) => k === "VRRP protocol version");
  assert.ok(start >= 0, `tshark frame ${frame.number} has no VRRP section`);
  const out = new Map<string, string[]>();
  for (const [k, v] of frame.fields.slice(start)) out.set(k, [...(out.get(k) ?? []), v]);
  return out;
}

function one(m: Map<string, string[]>, key: string): string {
  const v = m.get(key);
  assert.ok(v && v.length === 1, `tshark field ${key}: ${JSON.stringify(v)}`);
  return v[0];
}

/** Leading integer of a tshark value such as "150 (Non-default backup priority)". */
function num(text: string): number {
  const m = /^(0x[0-9a-f]+|\d+)/.exec(text);
  assert.ok(m, `not a number: ${text}`);
  return Number(m[1]);
}

/** Sets the checksum so that only the field a test changed is wrong. */
function withChecksum(bytes: Uint8Array, ctx: PacketContext, form: ChecksumForm): Uint8Array {
  const out = bytes.slice();
  out[6] = out[7] = 0;
  const src = parseIp(ctx.src)!.bytes;
  const dst = parseIp(ctx.dst)!.bytes;
  const version = out[0] >> 4;
  let sum: number;
  if (version === 3 && ctx.family === "ipv6") {
    sum = internetChecksum(ipv6PseudoHeader(src, dst, IPPROTO_VRRP, out.length), out);
  } else if (version === 3 && form === "pseudo-header") {
    sum = internetChecksum(ipv4PseudoHeader(src, dst, IPPROTO_VRRP, out.length), out);
  } else {
    sum = internetChecksum(out);
  }
  out[6] = sum >> 8;
  out[7] = sum & 0xff;
  return out;
}

const AUTO = { checksumMode: "auto" } as const;

async function frameOf(name: CaptureName, number: number): Promise<VrrpFrame> {
  const f = vrrpFrames(await capture(name)).find((x) => x.number === number);
  assert.ok(f, `${name} frame ${number} is not VRRP`);
  return f;
}

// ---------------------------------------------------------------------------------------
// Every captured advert

/** VRRP frames per capture, from the index files (checked against them below too). */
const EXPECTED_VRRP_FRAMES: Record<CaptureName, number> = {
  "keepalived-vrrpv2": 17,
  "keepalived-vrrpv3": 149,
  "keepalived-v3-ipv6-unicast-v2auth": 19,
};

for (const name of CAPTURE_NAMES) {
  Deno.test({
    name: `pcap reader: every frame of ${name} equals tshark's hex dump`,
    ignore,
    async fn() {
      const cap = await capture(name);
      assert.equal(cap.pcap.linkType, 1, "Ethernet link type");
      assert.equal(cap.pcap.records.length, cap.index.length, "frames in pcap vs index");
      assert.equal(cap.tshark.size, cap.index.length, "frames in decode vs index");
      for (const rec of cap.pcap.records) {
        assert.deepEqual(rec.data, cap.tshark.get(rec.number)!.bytes, `frame ${rec.number}`);
        assert.equal(
          rec.data.length,
          cap.index[rec.number - 1].length,
          `frame ${rec.number} length`,
        );
      }
    },
  });

  Deno.test({
    name: `every VRRP frame of ${name} decodes as tshark did and re-encodes byte for byte`,
    ignore,
    async fn() {
      const cap = await capture(name);
      const frames = vrrpFrames(cap);
      const indexed = cap.index.filter((l) => l.protocol === "VRRP").map((l) => l.number);
      assert.deepEqual(frames.map((f) => f.number), indexed, "VRRP frames vs index");
      assert.equal(frames.length, EXPECTED_VRRP_FRAMES[name]);
      let verified = 0;
      for (const f of frames) {
        const what = `${name} frame ${f.number}`;
        const { advert, checksumForm } = expectOk(decodeAdvert(f.vrrp, f.ctx, AUTO), what);
        const t = tsharkVrrp(cap.tshark.get(f.number)!);
        assert.equal(advert.version, num(one(t, "VRRP protocol version")), what);
        assert.equal(advert.vrid, num(one(t, "Virtual Rtr ID")), what);
        assert.equal(advert.priority, num(one(t, "Priority")), what);
        assert.equal(advert.addresses.length, num(one(t, "Addr Count")), what);
        const unitMs = advert.version === 2 ? 1000 : 10;
        assert.equal(advert.intervalMs, num(one(t, "Adver Int")) * unitMs, what);
        assert.equal(advert.checksum, num(one(t, "Checksum")), what);
        assert.match(one(t, "Checksum"), /\[correct\]/, what);
        const tsharkAddrs = t.get(f.ctx.family === "ipv4" ? "IP Address" : "IPv6 Address");
        assert.deepEqual(advert.addresses, tsharkAddrs, what);
        if (advert.version === 2) {
          assert.equal(advert.authType, num(/\((\d+)\)$/.exec(one(t, "Auth Type"))![1]), what);
          const text = new TextDecoder().decode(advert.authData).replace(/\0+$/, "");
          assert.equal(text, t.get("Authentication String")?.[0] ?? "", what);
          assert.equal(checksumForm, "v2", what);
        } else {
          assert.equal(checksumForm, f.ctx.family === "ipv6" ? "v6" : "pseudo-header", what);
        }
        assert.deepEqual(reencodeFrame(f, advert, checksumForm), f.frame, what);
        verified++;
      }
      assert.equal(verified, EXPECTED_VRRP_FRAMES[name]);
    },
  });
}

// ---------------------------------------------------------------------------------------
// Concrete values, one capture at a time

Deno.test({
  name: "VRRPv2 capture: first advert of 10.77.0.11 and both priority-0 releases",
  ignore,
  async fn() {
    const f = await frameOf("keepalived-vrrpv2", 5);
    assert.deepEqual(f.ctx, { family: "ipv4", src: "10.77.0.11", dst: "224.0.0.18", ttl: 255 });
    const r = expectOk(decodeAdvert(f.vrrp, f.ctx, AUTO), "frame 5");
    assert.equal(r.checksumForm, "v2");
    assert.deepEqual(r.advert, {
      version: 2,
      vrid: 51,
      priority: 150,
      intervalMs: 1000,
      addresses: ["10.77.0.200"],
      authType: 0,
      authData: new Uint8Array(8),
      checksum: 0x3db5,
    });
    for (
      const [n, src, checksum] of [[23, "10.77.0.11", 0xd3b5], [43, "10.77.0.12", 0xd3b5]] as const
    ) {
      const z = await frameOf("keepalived-vrrpv2", n);
      const a = expectOk(decodeAdvert(z.vrrp, z.ctx, AUTO), `frame ${n}`).advert;
      assert.equal(z.ctx.src, src);
      assert.equal(a.priority, 0, `frame ${n} is the SIGTERM release`);
      assert.equal(a.checksum, checksum);
    }
  },
});

Deno.test({
  name: "VRRPv3 capture: 100 ms adverts with the IPv4 pseudo-header, priority 0 on stop",
  ignore,
  async fn() {
    const f = await frameOf("keepalived-vrrpv3", 3);
    const r = expectOk(decodeAdvert(f.vrrp, f.ctx, AUTO), "frame 3");
    assert.equal(r.checksumForm, "pseudo-header");
    assert.deepEqual(r.advert, {
      version: 3,
      vrid: 51,
      priority: 150,
      intervalMs: 100,
      addresses: ["10.77.0.200"],
      authType: 0,
      authData: new Uint8Array(0),
      checksum: 0x42c5,
    });
    const backup = expectOk(
      decodeAdvert((await frameOf("keepalived-vrrpv3", 94)).vrrp, {
        family: "ipv4",
        src: "10.77.0.12",
        dst: "224.0.0.18",
        ttl: 255,
      }, AUTO),
      "frame 94",
    ).advert;
    assert.equal(backup.priority, 100);
    assert.equal(backup.checksum, 0x74c4);
    for (const [n, checksum] of [[92, 0xd8c5], [175, 0xd8c4]] as const) {
      const z = await frameOf("keepalived-vrrpv3", n);
      const a = expectOk(decodeAdvert(z.vrrp, z.ctx, AUTO), `frame ${n}`).advert;
      assert.equal(a.priority, 0);
      assert.equal(a.checksum, checksum);
    }
  },
});

Deno.test({
  name: "mixed capture: VRID 61 over IPv6, 62 unicast v3/IPv4, 63 v2 with auth secret12",
  ignore,
  async fn() {
    const name = "keepalived-v3-ipv6-unicast-v2auth";
    const v6 = await frameOf(name, 1);
    assert.deepEqual(v6.ctx, {
      family: "ipv6",
      src: "fe80::a4a1:14ff:feb3:ec0d",
      dst: "ff02::12",
      ttl: 255,
    });
    const r61 = expectOk(decodeAdvert(v6.vrrp, v6.ctx, AUTO), "frame 1");
    assert.equal(r61.checksumForm, "v6");
    assert.deepEqual(r61.advert, {
      version: 3,
      vrid: 61,
      priority: 150,
      intervalMs: 500,
      addresses: ["fe80::61", "fd00:88::100"],
      authType: 0,
      authData: new Uint8Array(0),
      checksum: 0x9892,
    });

    const uni = await frameOf(name, 14);
    assert.deepEqual(uni.ctx, { family: "ipv4", src: "10.88.0.1", dst: "10.88.0.2", ttl: 255 });
    const r62 = expectOk(decodeAdvert(uni.vrrp, uni.ctx, AUTO), "frame 14");
    assert.equal(r62.checksumForm, "pseudo-header");
    assert.equal(r62.advert.vrid, 62);
    assert.equal(r62.advert.intervalMs, 500);
    assert.deepEqual(r62.advert.addresses, ["10.88.0.100"]);
    assert.equal(r62.advert.checksum, 0x18a3);
    // keepalived 2.2.7 puts the unicast peer, not 224.0.0.18, in the pseudo-header (its
    // pre-1.3.8 behaviour, still selectable as `old_unicast_checksum`, used the group).
    expectError(
      decodeAdvert(uni.vrrp, { ...uni.ctx, dst: "224.0.0.18" }, AUTO),
      "checksum",
      "checksum",
    );

    const v2 = await frameOf(name, 26);
    const r63 = expectOk(decodeAdvert(v2.vrrp, v2.ctx, AUTO), "frame 26");
    assert.deepEqual(r63.advert, {
      version: 2,
      vrid: 63,
      priority: 150,
      intervalMs: 1000,
      addresses: ["10.88.0.101", "10.88.0.102"],
      authType: 1,
      authData: new TextEncoder().encode("secret12"),
      checksum: 0xc4c3,
    });

    // All three instances release with priority 0 on SIGTERM.
    const released = new Map<number, number>();
    for (const n of [44, 45, 46]) {
      const z = await frameOf(name, n);
      const a = expectOk(decodeAdvert(z.vrrp, z.ctx, AUTO), `frame ${n}`).advert;
      assert.equal(a.priority, 0, `frame ${n}`);
      released.set(a.vrid, n);
    }
    assert.deepEqual([...released.keys()].sort(), [61, 62, 63]);
  },
});

// ---------------------------------------------------------------------------------------
// Checksum forms

Deno.test({
  name: "v3/IPv4 checksum: keepalived's is the pseudo-header form and not the RFC 9568 one",
  ignore,
  async fn() {
    let v3v4 = 0;
    for (const name of CAPTURE_NAMES) {
      for (const f of vrrpFrames(await capture(name))) {
        if (f.vrrp[0] >> 4 !== 3 || f.ctx.family !== "ipv4") continue;
        v3v4++;
        const src = parseIp(f.ctx.src)!.bytes;
        const dst = parseIp(f.ctx.dst)!.bytes;
        const pseudo = ipv4PseudoHeader(src, dst, IPPROTO_VRRP, f.vrrp.length);
        assert.equal(internetChecksum(pseudo, f.vrrp), 0, `${name} ${f.number} with pseudo-header`);
        assert.notEqual(internetChecksum(f.vrrp), 0, `${name} ${f.number} without`);
        const modes: Array<[ChecksumMode, ChecksumForm | null]> = [
          ["auto", "pseudo-header"],
          ["pseudo-header", "pseudo-header"],
          ["rfc9568", null],
        ];
        for (const [mode, form] of modes) {
          const r = decodeAdvert(f.vrrp, f.ctx, { checksumMode: mode });
          if (form) assert.equal(expectOk(r, `${name} ${f.number} ${mode}`).checksumForm, form);
          else expectError(r, "checksum", "checksum");
        }
      }
    }
    assert.equal(v3v4, 149 + 8, "v3/IPv4 frames: 149 multicast, 8 unicast");
  },
});

Deno.test({
  name: "v3/IPv4 checksum: rfc9568 mode names both values in its message",
  ignore,
  async fn() {
    const f = await frameOf("keepalived-vrrpv3", 3);
    const e = expectError(
      decodeAdvert(f.vrrp, f.ctx, { checksumMode: "rfc9568" }),
      "checksum",
      "checksum",
    );
    assert.equal(e.seen, "0x42c5");
    assert.equal(e.expected, "0x2dac");
    assert.equal(
      e.message,
      "checksum: got 0x42c5, expected 0x2dac (VRRPv3 over IPv4 without pseudo-header, RFC 9568)",
    );
  },
});

Deno.test({
  name: "v3/IPv4 checksum: an RFC 9568 sender is accepted in auto and rfc9568 modes only",
  ignore,
  async fn() {
    const f = await frameOf("keepalived-vrrpv3", 3);
    const advert = expectOk(decodeAdvert(f.vrrp, f.ctx, AUTO), "frame 3").advert;
    const { checksum: _c, ...out } = advert;
    const bytes = encodeAdvert(out, f.ctx, "rfc9568");
    assert.equal((bytes[6] << 8) | bytes[7], 0x2dac);
    assert.equal(internetChecksum(bytes), 0);
    assert.equal(expectOk(decodeAdvert(bytes, f.ctx, AUTO), "auto").checksumForm, "rfc9568");
    assert.equal(
      expectOk(decodeAdvert(bytes, f.ctx, { checksumMode: "rfc9568" }), "rfc9568").checksumForm,
      "rfc9568",
    );
    const e = expectError(
      decodeAdvert(bytes, f.ctx, { checksumMode: "pseudo-header" }),
      "checksum",
      "checksum",
    );
    assert.equal(
      e.message,
      "checksum: got 0x2dac, expected 0x42c5 (VRRPv3 over IPv4 with pseudo-header)",
    );
    const bad = bytes.slice();
    bad[7] ^= 1;
    const both = expectError(decodeAdvert(bad, f.ctx, AUTO), "checksum", "checksum");
    assert.equal(both.expected, "0x42c5 or 0x2dac");
  },
});

Deno.test({
  name: "checksum mode is ignored for v2 and for IPv6, which have one form each",
  ignore,
  async fn() {
    const v2 = await frameOf("keepalived-vrrpv2", 5);
    const v6 = await frameOf("keepalived-v3-ipv6-unicast-v2auth", 1);
    for (const mode of ["auto", "pseudo-header", "rfc9568"] as const) {
      assert.equal(
        expectOk(decodeAdvert(v2.vrrp, v2.ctx, { checksumMode: mode }), mode).checksumForm,
        "v2",
      );
      assert.equal(
        expectOk(decodeAdvert(v6.vrrp, v6.ctx, { checksumMode: mode }), mode).checksumForm,
        "v6",
      );
    }
    const a2 = expectOk(decodeAdvert(v2.vrrp, v2.ctx, AUTO), "v2").advert;
    const { checksum: _c2, ...o2 } = a2;
    assert.deepEqual(encodeAdvert(o2, v2.ctx, "rfc9568"), v2.vrrp);
    const a6 = expectOk(decodeAdvert(v6.vrrp, v6.ctx, AUTO), "v6").advert;
    const { checksum: _c6, ...o6 } = a6;
    assert.deepEqual(encodeAdvert(o6, v6.ctx, "rfc9568"), v6.vrrp);
    // The IPv6 checksum covers the addresses through the pseudo-header.
    expectError(decodeAdvert(v6.vrrp, { ...v6.ctx, src: "fe80::1" }, AUTO), "checksum", "checksum");
  },
});

// ---------------------------------------------------------------------------------------
// Mutations of real packets: one field wrong at a time

Deno.test({
  name: "mutations: each broken field gives its own reason and field",
  ignore,
  async fn() {
    const v2 = await frameOf("keepalived-v3-ipv6-unicast-v2auth", 26); // v2, auth, 2 VIPs
    const v3 = await frameOf("keepalived-vrrpv3", 3); // v3/IPv4, 1 VIP
    const v6 = await frameOf("keepalived-v3-ipv6-unicast-v2auth", 1); // v3/IPv6, 2 VIPs

    // Every valid packet first decodes, so the failures below are the mutation's.
    for (const f of [v2, v3, v6]) expectOk(decodeAdvert(f.vrrp, f.ctx, AUTO), `frame ${f.number}`);

    const mutate = (f: VrrpFrame, edit: (b: Uint8Array) => void, ctx = f.ctx) => {
      const b = f.vrrp.slice();
      edit(b);
      return decodeAdvert(withChecksum(b, ctx, "pseudo-header"), ctx, AUTO);
    };

    // TTL / hop limit
    for (const f of [v2, v3, v6]) {
      for (const ttl of [0, 1, 64, 254]) {
        const e = expectError(decodeAdvert(f.vrrp, { ...f.ctx, ttl }, AUTO), "ttl", "ip.ttl");
        assert.equal(e.seen, `${ttl}`);
        assert.equal(e.expected, "255");
      }
    }
    // version
    for (const version of [0, 1, 4, 15]) {
      const e = expectError(mutate(v3, (b) => b[0] = (version << 4) | 1), "version", "version");
      assert.equal(e.seen, `${version}`);
    }
    // VRID 0
    expectError(mutate(v3, (b) => b[1] = 0), "vrid", "vrid");
    expectError(mutate(v6, (b) => b[1] = 0), "vrid", "vrid");
    // type
    for (const type of [0, 2, 15]) {
      const e = expectError(mutate(v2, (b) => b[0] = 0x20 | type), "type", "type");
      assert.equal(e.seen, `${type}`);
      expectError(mutate(v6, (b) => b[0] = 0x30 | type), "type", "type");
    }
    // address count
    expectError(mutate(v3, (b) => b[3] = 0), "address-list", "count");
    expectError(mutate(v6, (b) => b[3] = 0), "address-list", "count");
    const more = expectError(mutate(v3, (b) => b[3] = 2), "truncated", "count");
    assert.equal(more.seen, "12 bytes");
    assert.equal(more.expected, "16 bytes");
    expectError(mutate(v6, (b) => b[3] = 3), "truncated", "count");
    const fewer = expectError(mutate(v2, (b) => b[3] = 1), "length", "length");
    assert.equal(fewer.seen, "24 bytes");
    assert.equal(fewer.expected, "20 bytes");
    // length: bytes beyond what the count announces, or cut short
    for (const f of [v2, v3, v6]) {
      const longer = new Uint8Array(f.vrrp.length + 4);
      longer.set(f.vrrp);
      expectError(
        decodeAdvert(withChecksum(longer, f.ctx, "pseudo-header"), f.ctx, AUTO),
        "length",
        "length",
      );
      for (let cut = 1; cut < f.vrrp.length; cut++) {
        const short = f.vrrp.subarray(0, f.vrrp.length - cut);
        const e = decodeAdvert(short, f.ctx, AUTO);
        if (short.length < 8) expectError(e, "truncated", "header");
        else expectError(e, "truncated", "count");
      }
    }
    // A v2 packet relabelled v3 carries 8 auth bytes a v3 packet has no room for.
    expectError(mutate(v2, (b) => b[0] = 0x31), "length", "length");
    // family: VRRPv2 exists only over IPv4
    const v6ctx = { ...v6.ctx };
    expectError(decodeAdvert(v2.vrrp, v6ctx, AUTO), "family", "ip.family");
    expectError(decodeAdvert(v3.vrrp, { ...v3.ctx, src: "fe80::1" }, AUTO), "family", "ip.src");
    expectError(decodeAdvert(v3.vrrp, { ...v3.ctx, dst: "not an ip" }, AUTO), "family", "ip.dst");
    // checksum: one bit anywhere the checksum covers, including the pseudo-header
    for (const f of [v2, v3, v6]) {
      for (let i = 0; i < f.vrrp.length; i++) {
        const b = f.vrrp.slice();
        b[i] ^= 0x01;
        const r = decodeAdvert(b, f.ctx, AUTO);
        // Flipping the low bit of byte 0 changes the type, of byte 3 the count: those
        // structural checks rightly come first.
        if (i === 0) expectError(r, "type", "type");
        else if (i === 3) continue;
        else {
          const e = expectError(r, "checksum", "checksum");
          if (i === 6 || i === 7) {
            const want = (f.vrrp[6] << 8) | f.vrrp[7];
            assert.equal(e.expected.split(" ")[0], `0x${want.toString(16).padStart(4, "0")}`);
          }
        }
      }
    }
    const moved = { ...v3.ctx, src: "10.77.0.99" };
    expectError(
      decodeAdvert(v3.vrrp, moved, { checksumMode: "pseudo-header" }),
      "checksum",
      "checksum",
    );
    // v2 auth type: 0 and 1 are the codec's; 2 (AH) and unknown values are refused
    for (const at of [2, 3, 255]) {
      const e = expectError(mutate(v2, (b) => b[4] = at), "auth-type", "authType");
      assert.match(e.seen, new RegExp(`^${at}`));
    }
    const noAuth = expectOk(mutate(v2, (b) => b[4] = 0), "auth type 0").advert;
    assert.equal(noAuth.authType, 0);
    // interval 0 (RFC 9568 §7.1 erratum: Max Advertise Interval must be non-zero)
    expectError(mutate(v2, (b) => b[5] = 0), "interval", "interval");
    expectError(mutate(v3, (b) => (b[4] = 0, b[5] = 0)), "interval", "interval");
    expectError(mutate(v6, (b) => (b[4] = 0xf0, b[5] = 0)), "interval", "interval");
  },
});

Deno.test({
  name: "v3 reserved bits are ignored on receive and sent as zero",
  ignore,
  async fn() {
    for (
      const f of [
        await frameOf("keepalived-vrrpv3", 3),
        await frameOf("keepalived-v3-ipv6-unicast-v2auth", 1),
      ]
    ) {
      const original = expectOk(decodeAdvert(f.vrrp, f.ctx, AUTO), "original").advert;
      for (const rsvd of [0x1, 0x8, 0xf]) {
        const b = f.vrrp.slice();
        b[4] |= rsvd << 4;
        const fixed = withChecksum(b, f.ctx, "pseudo-header");
        const a = expectOk(decodeAdvert(fixed, f.ctx, AUTO), `rsvd ${rsvd}`).advert;
        assert.equal(a.intervalMs, original.intervalMs);
        const { checksum: _c, ...out } = a;
        const again = encodeAdvert(out, f.ctx, "pseudo-header");
        assert.equal(again[4] >> 4, 0, "reserved nibble sent as 0");
        assert.deepEqual(again, f.vrrp);
      }
    }
  },
});

Deno.test({
  name: "checks run in a fixed order: TTL, version, type, count, length, checksum, fields",
  ignore,
  async fn() {
    const f = await frameOf("keepalived-vrrpv3", 3);
    const b = f.vrrp.slice();
    b[0] = 0x42; // version 4, type 2
    b[6] ^= 0xff; // and a bad checksum
    expectError(decodeAdvert(b, { ...f.ctx, ttl: 1 }, AUTO), "ttl", "ip.ttl");
    expectError(decodeAdvert(b, f.ctx, AUTO), "version", "version");
    b[0] = 0x32;
    expectError(decodeAdvert(b, f.ctx, AUTO), "type", "type");
    b[0] = 0x31;
    b[3] = 0;
    expectError(decodeAdvert(b, f.ctx, AUTO), "address-list", "count");
    b[3] = 1;
    expectError(decodeAdvert(b, f.ctx, AUTO), "checksum", "checksum");
    b[4] = 0;
    b[5] = 0;
    expectError(decodeAdvert(b, f.ctx, AUTO), "checksum", "checksum");
    expectError(
      decodeAdvert(withChecksum(b, f.ctx, "pseudo-header"), f.ctx, AUTO),
      "interval",
      "interval",
    );
  },
});

// ---------------------------------------------------------------------------------------
// Encoder

Deno.test("encodeAdvert: builds keepalived's bytes from scratch", () => {
  const v3 = encodeAdvert(
    {
      version: 3,
      vrid: 51,
      priority: 150,
      intervalMs: 100,
      addresses: ["10.77.0.200"],
      authType: 0,
      authData: new Uint8Array(0),
    },
    { family: "ipv4", src: "10.77.0.11", dst: "224.0.0.18" },
    "pseudo-header",
  );
  assert.deepEqual(
    v3,
    new Uint8Array([0x31, 0x33, 0x96, 0x01, 0x00, 0x0a, 0x42, 0xc5, 10, 77, 0, 200]),
  );
  const v2 = encodeAdvert(
    {
      version: 2,
      vrid: 63,
      priority: 150,
      intervalMs: 1000,
      addresses: ["10.88.0.101", "10.88.0.102"],
      authType: 1,
      authData: new TextEncoder().encode("secret12"),
    },
    { family: "ipv4", src: "10.88.0.1", dst: "224.0.0.18" },
    "pseudo-header",
  );
  assert.equal((v2[6] << 8) | v2[7], 0xc4c3);
  // A shorter password is NUL padded to 8 bytes.
  const short = encodeAdvert(
    {
      version: 2,
      vrid: 1,
      priority: 100,
      intervalMs: 3000,
      addresses: ["192.0.2.1"],
      authType: 1,
      authData: new TextEncoder().encode("pw"),
    },
    { family: "ipv4", src: "192.0.2.2", dst: "224.0.0.18" },
    "pseudo-header",
  );
  assert.deepEqual(short.subarray(12), new Uint8Array([0x70, 0x77, 0, 0, 0, 0, 0, 0]));
  assert.equal(short[5], 3);
  assert.equal(internetChecksum(short), 0);
});

Deno.test("encodeAdvert: refuses adverts that cannot go on the wire", () => {
  const base: OutgoingAdvert = {
    version: 3,
    vrid: 1,
    priority: 100,
    intervalMs: 1000,
    addresses: ["192.0.2.1"],
    authType: 0,
    authData: new Uint8Array(0),
  };
  const v4 = { family: "ipv4", src: "192.0.2.2", dst: "224.0.0.18" } as const;
  const v6 = { family: "ipv6", src: "fe80::2", dst: "ff02::12" } as const;
  const cases: Array<[string, OutgoingAdvert, typeof v4 | typeof v6]> = [
    ["v2 over IPv6", { ...base, version: 2, addresses: ["2001:db8::1"] }, v6],
    ["v2 interval not whole seconds", { ...base, version: 2, intervalMs: 1500 }, v4],
    ["v2 interval over 255 s", { ...base, version: 2, intervalMs: 256_000 }, v4],
    ["v3 interval not whole centiseconds", { ...base, intervalMs: 105 }, v4],
    ["v3 interval 0", { ...base, intervalMs: 0 }, v4],
    ["v3 interval over 40.95 s", { ...base, intervalMs: 40_960 }, v4],
    ["vrid 0", { ...base, vrid: 0 }, v4],
    ["vrid 256", { ...base, vrid: 256 }, v4],
    ["priority 256", { ...base, priority: 256 }, v4],
    ["no addresses", { ...base, addresses: [] }, v4],
    ["IPv6 VIP in an IPv4 advert", { ...base, addresses: ["2001:db8::1"] }, v4],
    ["auth type 2", { ...base, version: 2, authType: 2 }, v4],
    [
      "auth data over 8 bytes",
      { ...base, version: 2, authType: 1, authData: new Uint8Array(9) },
      v4,
    ],
  ];
  for (const [what, advert, ctx] of cases) {
    assert.throws(() => encodeAdvert(advert, ctx, "pseudo-header"), RangeError, what);
  }
  assert.throws(() => encodeAdvert(base, { ...v4, src: "fe80::1" }, "pseudo-header"), RangeError);
});

// ---------------------------------------------------------------------------------------
// IP headers

Deno.test({
  name: "IPv4 header: every captured header re-encodes exactly; broken ones are refused",
  ignore,
  async fn() {
    let headers = 0;
    for (const name of CAPTURE_NAMES) {
      for (const rec of (await capture(name)).pcap.records) {
        const eth = decodeEthernet(rec.data);
        if (!eth.ok || eth.etherType !== ETHERTYPE_IPV4) continue;
        const ip = decodeIpv4Header(eth.payload);
        assert.ok(ip.ok, `${name} ${rec.number}`);
        if (ip.headerLength !== 20) continue; // IGMP reports carry a Router Alert option
        const again = encodeIpv4Header({
          src: ip.src,
          dst: ip.dst,
          ttl: ip.ttl,
          tos: ip.tos,
          protocol: ip.protocol,
          id: ip.id,
          payloadLength: ip.totalLength - 20,
          df: ip.df,
        });
        assert.deepEqual(again, eth.payload.subarray(0, 20), `${name} ${rec.number}`);
        headers++;
      }
    }
    assert.equal(headers, 17 + 149 + 11);

    const good = (await frameOf("keepalived-vrrpv3", 3)).frame.subarray(14);
    const broken = (edit: (b: Uint8Array) => void) => {
      const b = good.slice();
      edit(b);
      const r = decodeIpv4Header(b);
      assert.ok(!r.ok);
      return r.error;
    };
    assert.equal(broken((b) => b[0] = 0x65).field, "ip.version");
    assert.equal(broken((b) => b[0] = 0x44).field, "ip.ihl");
    assert.equal(broken((b) => b[0] = 0x4f).field, "ip.ihl");
    assert.equal(broken((b) => b[3] = 200).field, "ip.totalLength");
    assert.equal(broken((b) => b[3] = 10).field, "ip.totalLength");
    const ck = broken((b) => b[8] = 254);
    assert.equal(ck.field, "ip.checksum");
    assert.equal(
      ck.seen,
      hex16((good[10] << 8) | good[11]),
    );
    // The expected value is the sum of the header as received, TTL 254 included.
    const refixed = encodeIpv4Header({
      src: "10.77.0.11",
      dst: "224.0.0.18",
      ttl: 254,
      tos: 0xc0,
      protocol: IPPROTO_VRRP,
      id: 1,
      payloadLength: 12,
      df: false,
    });
    assert.equal(ck.expected, hex16((refixed[10] << 8) | refixed[11]));
    assert.equal(decodeIpv4Header(good.subarray(0, 19)).ok, false);
    // Offloaded captures carry no header checksum; the option lets them through.
    const zeroed = good.slice();
    zeroed[10] = zeroed[11] = 0;
    assert.equal(decodeIpv4Header(zeroed, { verifyChecksum: false }).ok, true);
    // Ethernet padding after Total Length is not payload.
    const padded = new Uint8Array(good.length + 14);
    padded.set(good);
    const p = decodeIpv4Header(padded);
    assert.ok(p.ok);
    assert.equal(p.payload.length, 12);
  },
});

Deno.test("IPv6 header: fields, flow label and refusals", () => {
  const h = encodeIpv6Header({
    src: "fe80::a4a1:14ff:feb3:ec0d",
    dst: "ff02::12",
    hopLimit: 255,
    nextHeader: IPPROTO_VRRP,
    payloadLength: 0,
    trafficClass: 0xc0,
    flowLabel: 0x400b0,
  });
  assert.deepEqual(
    h.subarray(0, 8),
    new Uint8Array([0x6c, 0x04, 0x00, 0xb0, 0x00, 0x00, 0x70, 0xff]),
  );
  const d = decodeIpv6Header(h);
  assert.ok(d.ok);
  assert.equal(d.trafficClass, 0xc0);
  assert.equal(d.flowLabel, 0x400b0);
  assert.equal(d.src, "fe80::a4a1:14ff:feb3:ec0d");
  const v4 = h.slice();
  v4[0] = 0x4c;
  assert.equal((decodeIpv6Header(v4) as { error: { field: string } }).error.field, "ip.version");
  const long = h.slice();
  long[5] = 1;
  assert.equal(
    (decodeIpv6Header(long) as { error: { field: string } }).error.field,
    "ip.payloadLength",
  );
  assert.equal(decodeIpv6Header(h.subarray(0, 39)).ok, false);
  assert.throws(
    () =>
      encodeIpv6Header({
        src: "10.0.0.1",
        dst: "ff02::1",
        hopLimit: 1,
        nextHeader: 1,
        payloadLength: 0,
      }),
    RangeError,
  );
  assert.throws(
    () =>
      encodeIpv6Header({
        src: "::1",
        dst: "ff02::1",
        hopLimit: 1,
        nextHeader: 1,
        payloadLength: 0,
        flowLabel: 0x100000,
      }),
    RangeError,
  );
});

Deno.test("parseIpCached: parseIp's answer, parsed once per text, bounded", () => {
  for (const text of ["192.0.2.1", "224.0.0.18", "fe80::1", "::ffff:192.0.2.1"]) {
    const a = parseIpCached(text);
    assert.deepEqual(a, parseIp(text));
    assert.equal(parseIpCached(text), a, "the second ask is the remembered answer");
  }
  assert.equal(parseIpCached("10.0.0.256"), null);
  assert.equal(parseIpCached("not an address"), null);
  // Thousands of distinct sources (a hostile LAN) still get right answers; the cache
  // starts over rather than growing.
  for (let i = 0; i < 3000; i++) {
    const text = `10.${(i >> 8) & 255}.${i & 255}.1`;
    assert.deepEqual(parseIpCached(text)?.bytes, new Uint8Array([10, (i >> 8) & 255, i & 255, 1]));
  }
  assert.deepEqual(parseIpCached("192.0.2.1")?.bytes, new Uint8Array([192, 0, 2, 1]));
});

Deno.test("internet checksum: RFC 1071 example, odd lengths, split parts", () => {
  // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
  const data = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
  assert.equal(internetChecksum(data), ~0xddf2 & 0xffff);
  assert.equal(internetChecksum(data.subarray(0, 3), data.subarray(3)), ~0xddf2 & 0xffff);
  assert.equal(internetChecksum(new Uint8Array([0x01])), ~0x0100 & 0xffff);
  assert.equal(internetChecksum(new Uint8Array(0)), 0xffff);
  // Large inputs fold without losing carries.
  const big = new Uint8Array(200_000).fill(0xff);
  assert.equal(internetChecksum(big), 0);
  assert.equal(internetChecksum(new Uint8Array([0x45, 0x00, 0x00, 0x1c])), 0xbae3);
});

// ---------------------------------------------------------------------------------------
// Counters

Deno.test("DROP_COUNTER and RFC6527_NAME cover every drop reason with a real counter", () => {
  const counters: RouterCounters = zeroCounters();
  const reasons: DropReason[] = [
    "truncated",
    "version",
    "type",
    "checksum",
    "ttl",
    "vrid",
    "address-list",
    "length",
    "auth-type",
    "auth",
    "interval",
    "family",
    "unicast-peer",
    "peer-mac",
  ];
  assert.deepEqual(Object.keys(DROP_COUNTER).sort(), [...reasons].sort());
  assert.deepEqual(Object.keys(RFC6527_NAME).sort(), [...reasons].sort());
  for (const r of reasons) {
    const c = DROP_COUNTER[r];
    assert.ok(c === "vridErrors" || c in counters, `${r} -> ${c}`);
    assert.match(RFC6527_NAME[r], /^(vrrpv3|vrrpStats|hacore)/);
  }
  assert.equal(DROP_COUNTER.checksum, "checksumErrors");
  assert.equal(RFC6527_NAME.checksum, "vrrpv3RouterChecksumErrors");
  assert.equal(DROP_COUNTER.ttl, "ipTtlErrors");
  assert.equal(RFC6527_NAME["address-list"], "vrrpv3StatisticsAddressListErrors");
  assert.equal(RFC6527_NAME["auth-type"], "vrrpStatsInvalidAuthType");
});

// ---------------------------------------------------------------------------------------
// Fuzz

/** mulberry32: small, seeded, good enough to spread inputs. */
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

/** Valid packets built by the encoder, one of each shape, to seed the fuzz. */
function synthesized(): Array<{ vrrp: Uint8Array; ctx: PacketContext }> {
  const v4 = { family: "ipv4", src: "192.0.2.1", dst: "224.0.0.18", ttl: 255 } as const;
  const v6 = { family: "ipv6", src: "fe80::1", dst: "ff02::12", ttl: 255 } as const;
  const base = { vrid: 7, priority: 100, authType: 0, authData: new Uint8Array(0) } as const;
  return [
    {
      ctx: v4,
      vrrp: encodeAdvert(
        { ...base, version: 2, intervalMs: 1000, addresses: ["192.0.2.10"] },
        v4,
        "pseudo-header",
      ),
    },
    {
      ctx: v4,
      vrrp: encodeAdvert(
        {
          ...base,
          version: 2,
          intervalMs: 2000,
          addresses: ["192.0.2.10", "192.0.2.11"],
          authType: 1,
          authData: new TextEncoder().encode("hunter2"),
        },
        v4,
        "pseudo-header",
      ),
    },
    {
      ctx: v4,
      vrrp: encodeAdvert(
        { ...base, version: 3, intervalMs: 100, addresses: ["192.0.2.10"] },
        v4,
        "pseudo-header",
      ),
    },
    {
      ctx: v4,
      vrrp: encodeAdvert(
        { ...base, version: 3, intervalMs: 40950, addresses: ["192.0.2.10", "192.0.2.12"] },
        v4,
        "rfc9568",
      ),
    },
    {
      ctx: v6,
      vrrp: encodeAdvert(
        { ...base, version: 3, intervalMs: 1000, addresses: ["fe80::10", "2001:db8::10"] },
        v6,
        "pseudo-header",
      ),
    },
  ];
}

const CODEC_REASONS: ReadonlySet<string> = new Set([
  "truncated",
  "version",
  "type",
  "checksum",
  "ttl",
  "address-list",
  "length",
  "auth-type",
  "interval",
  "family",
  "vrid",
]);

Deno.test({
  // Runs without the captures too: then only the synthesized packets seed it.
  name: "fuzz: 20k random, truncated and mutated packets never throw; what decodes round-trips",
  async fn() {
    const seed = 0x5eed1234;
    const rand = rng(seed);
    const int = (n: number) => Math.floor(rand() * n);
    const real: Array<{ vrrp: Uint8Array; ctx: PacketContext }> = synthesized();
    if (!missing) {
      for (const name of CAPTURE_NAMES) real.push(...vrrpFrames(await capture(name)));
    }
    const ctxs: PacketContext[] = [
      ...real.map((f) => f.ctx),
      { family: "ipv4", src: "0.0.0.0", dst: "255.255.255.255", ttl: 255 },
      { family: "ipv6", src: "::", dst: "ff02::12", ttl: 255 },
      { family: "ipv4", src: "::1", dst: "224.0.0.18", ttl: 255 },
    ];
    const modes: ChecksumMode[] = ["auto", "pseudo-header", "rfc9568"];
    const seen = new Map<string, number>();
    let decoded = 0;
    const CASES = 20_000;
    for (let i = 0; i < CASES; i++) {
      let bytes: Uint8Array;
      let ctx = ctxs[int(ctxs.length)];
      const kind = i % 4;
      const base = real[int(real.length)];
      if (kind === 0) {
        bytes = new Uint8Array(int(72));
        for (let j = 0; j < bytes.length; j++) bytes[j] = int(256);
      } else if (kind === 1) {
        bytes = base.vrrp.subarray(0, int(base.vrrp.length + 1));
        ctx = base.ctx;
      } else {
        bytes = base.vrrp.slice();
        for (let k = 1 + int(3); k > 0; k--) bytes[int(bytes.length)] = int(256);
        ctx = kind === 2 ? base.ctx : { ...base.ctx, ttl: rand() < 0.8 ? 255 : int(256) };
        // Half of these get a valid checksum, so the checks behind it are reached too.
        if (rand() < 0.5 && bytes.length >= 8) bytes = withChecksum(bytes, ctx, "pseudo-header");
      }
      const mode = modes[int(modes.length)];
      let r: DecodeResult;
      try {
        r = decodeAdvert(bytes, ctx, { checksumMode: mode });
      } catch (e) {
        throw new Error(`seed ${seed} case ${i}: decodeAdvert threw ${e}`);
      }
      if (!r.ok) {
        assert.ok(CODEC_REASONS.has(r.error.reason), `case ${i}: ${r.error.reason}`);
        assert.notEqual(r.error.field, "internal", `case ${i}: ${r.error.message}`);
        assert.ok(r.error.message.length > 0);
        seen.set(r.error.reason, (seen.get(r.error.reason) ?? 0) + 1);
        continue;
      }
      decoded++;
      const { checksum: _c, ...out } = r.advert;
      const again = encodeAdvert(
        out,
        ctx,
        r.checksumForm === "rfc9568" ? "rfc9568" : "pseudo-header",
      );
      const back = decodeAdvert(again, ctx, { checksumMode: mode });
      assert.ok(back.ok, `case ${i}: re-encoded advert does not decode`);
      assert.deepEqual({ ...back.advert, checksum: 0 }, { ...r.advert, checksum: 0 }, `case ${i}`);
    }
    // The fuzz must reach deep into the decoder, not bounce off the first check.
    for (
      const reason of [
        "truncated",
        "version",
        "type",
        "checksum",
        "ttl",
        "length",
        "address-list",
        "auth-type",
      ]
    ) {
      assert.ok(
        (seen.get(reason) ?? 0) > 0,
        `fuzz never produced ${reason}: ${JSON.stringify([...seen])}`,
      );
    }
    assert.ok(decoded > 1000, `only ${decoded} fuzz cases decoded`);
  },
});
