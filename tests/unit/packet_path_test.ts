/**
 * The lean receive and send helpers answer exactly as the code they replaced: the
 * IPv4 header check against `decodeIpv4Header`, the packet socket's frame parsing
 * against the decode-based parser it replaced (kept here as the reference), the
 * framing against `encodeIpv4Header`, the pseudo-header sums against a checksum of the
 * built pseudo-header, and `RecvMsgReader` against what was sent.
 */
import assert from "node:assert/strict";
import { formatIp, parseIp } from "../../lib/net/addr.ts";
import {
  checksumFrom,
  internetChecksum,
  ipv4PseudoHeader,
  ipv4PseudoSum,
  ipv6PseudoHeader,
  ipv6PseudoSum,
} from "../../lib/net/checksum.ts";
import { macToString } from "../../lib/net/ether.ts";
import {
  decodeIpv4Header,
  encodeIpv4Header,
  IPPROTO_VRRP,
  ipv4HeaderLength,
} from "../../lib/net/ip.ts";
import {
  AF_INET,
  AF_PACKET,
  bindSocket,
  closeFd,
  getSockName,
  openSocket,
  PACKET_HOST,
  PACKET_MULTICAST,
  PACKET_OTHERHOST,
  RecvMsgReader,
  type RecvMsgResult,
  sendTo,
  SOCK_DGRAM,
  sockaddrIn,
} from "../../lib/sys/libc.ts";
import type { ReceivedPacket } from "../../lib/sys/ports.ts";
import { frameIpv4Advert, NOT_FOR_US, parseLinkFrame, VRRP_TOS } from "../../lib/sys/transport.ts";
import { encodeAdvert } from "../../lib/vrrp/packet.ts";

const GROUP = "224.0.0.18";

/** A deterministic generator, so that a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s >>> 8;
  };
}

/** The packet socket's IPv4 parsing before the lean one: the reference. */
function referenceParseLinkV4(
  group: string,
  buf: Uint8Array,
  got: RecvMsgResult,
): ReceivedPacket | typeof NOT_FOR_US | null {
  if (got.from.family !== AF_PACKET || !("pkttype" in got.from)) return null;
  const from = got.from;
  if (from.pkttype === 4 || from.pkttype === PACKET_OTHERHOST) return NOT_FOR_US;
  const ip = decodeIpv4Header(buf.subarray(0, got.n));
  if (!ip.ok || ip.protocol !== IPPROTO_VRRP) return null;
  if (ip.mf || ip.fragmentOffset !== 0) return NOT_FOR_US;
  const p = { bytes: ip.payload.slice(), src: ip.src, dst: ip.dst, ttl: ip.ttl };
  const first = Number(p.dst.slice(0, p.dst.indexOf(".")));
  if (first >= 224 && first <= 239 && p.dst !== group) return NOT_FOR_US;
  return from.addr.length === 6 ? { ...p, srcMac: macToString(from.addr) } : p;
}

/**
 * Every packet's own keys, in order, whatever is known of it: one hidden class for V8
 * (a field added later made one that only short-lived packets held; a full collection
 * dropped it and deoptimised every function a packet passes through).
 */
const PACKET_KEYS = ["bytes", "src", "dst", "ttl", "srcMac", "atMs", "repeats"];

/** `p` without its unknown (undefined) fields, as the reference parser gives it. */
function known<T>(p: T): T {
  if (p === null || typeof p !== "object") return p;
  return Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as T;
}

function advertFrame(src: string, dst: string, id: number): Uint8Array {
  const advert = encodeAdvert(
    {
      version: 3,
      vrid: 51,
      priority: 150,
      intervalMs: 10,
      addresses: ["198.51.100.1", "198.51.100.2"],
      authType: 0,
      authData: new Uint8Array(0),
    },
    { family: "ipv4", src, dst },
    "pseudo-header",
  );
  return frameIpv4Advert(advert, dst, src, 255, id);
}

/** A frame now and then broken in one of the ways a header can be. */
function mutate(frame: Uint8Array, next: () => number): Uint8Array {
  const f = frame.slice(0, next() % 4 === 0 ? next() % (frame.length + 1) : frame.length);
  const flips = next() % 3;
  for (let k = 0; k < flips && f.length > 0; k++) {
    f[next() % Math.min(f.length, 24)] = next() & 0xff;
  }
  if (next() % 4 === 0 && f.length >= 20) {
    // A header that stays valid but says something else: a fragment, another
    // destination, another protocol, a shorter total length; the checksum redone.
    const what = next() % 4;
    if (what === 0) {
      f[6] = next() % 2 === 0 ? 0x20 : 0x00;
      f[7] = next() % 2;
    }
    if (what === 1) {
      f[16] = [224, 239, 10, 240][next() % 4];
      f[19] = next() & 0xff;
    }
    if (what === 2) f[9] = next() % 2 === 0 ? 6 : IPPROTO_VRRP;
    if (what === 3) f[3] = Math.max(0, f[3] - (next() % 8));
    f[10] = f[11] = 0;
    const sum = internetChecksum(f.subarray(0, 20));
    f[10] = sum >> 8;
    f[11] = sum & 0xff;
  }
  return f;
}

Deno.test("ipv4HeaderLength accepts exactly the headers decodeIpv4Header accepts", () => {
  const next = rng(1);
  const good = advertFrame("192.0.2.11", GROUP, 1);
  for (let n = 0; n < 20_000; n++) {
    const f = mutate(good, next);
    const ip = decodeIpv4Header(f);
    assert.equal(ipv4HeaderLength(f), ip.ok ? ip.headerLength : -1, `frame ${n}`);
  }
});

Deno.test("parseLinkFrame reads IPv4 frames as the decode-based parser did", () => {
  const next = rng(2);
  const frames = [
    advertFrame("192.0.2.11", GROUP, 1),
    advertFrame("192.0.2.12", "192.0.2.13", 2),
    advertFrame("10.1.2.3", "224.0.0.19", 3),
  ];
  const buf = new Uint8Array(256);
  const macs = [new Uint8Array([2, 0, 0, 0, 0, 0x11]), new Uint8Array(4), new Uint8Array(0)];
  const types = [PACKET_HOST, PACKET_MULTICAST, PACKET_OTHERHOST, 4];
  const seen = new Set<string>();
  for (let n = 0; n < 20_000; n++) {
    const f = mutate(frames[next() % frames.length], next);
    buf.fill(0xee);
    buf.set(f);
    const got: RecvMsgResult = {
      n: f.length,
      flags: 0,
      from: {
        family: AF_PACKET,
        protocol: 0x0800,
        ifindex: 2,
        hatype: 1,
        pkttype: types[next() % types.length],
        addr: macs[next() % macs.length],
      },
      cmsgs: [],
    };
    const p = parseLinkFrame("ipv4", GROUP, buf, got);
    assert.deepEqual(known(p), referenceParseLinkV4(GROUP, buf, got), `frame ${n}`);
    if (p !== null && p !== NOT_FOR_US) assert.deepEqual(Object.keys(p), PACKET_KEYS);
    seen.add(p === null ? "null" : p === NOT_FOR_US ? p : p.srcMac ? "mac" : "packet");
  }
  // Every outcome came up, so the comparison covered each.
  assert.deepEqual([...seen].sort(), ["mac", "not-for-us", "null", "packet"]);
});

Deno.test("a received message keeps its bytes after the receive buffer is reused", () => {
  const buf = new Uint8Array(256);
  const got = (n: number): RecvMsgResult => ({
    n,
    flags: 0,
    from: {
      family: AF_PACKET,
      protocol: 0x0800,
      ifindex: 2,
      hatype: 1,
      pkttype: PACKET_MULTICAST,
      addr: new Uint8Array(6),
    },
    cmsgs: [],
  });
  const kept: { p: ReceivedPacket; want: Uint8Array }[] = [];
  // Enough messages to fill several slabs.
  for (let i = 0; i < 5000; i++) {
    const f = advertFrame("192.0.2.11", GROUP, i + 1);
    buf.set(f);
    const p = parseLinkFrame("ipv4", GROUP, buf, got(f.length));
    assert.ok(p !== null && p !== NOT_FOR_US);
    kept.push({ p, want: f.slice(20) });
    buf.fill(0);
  }
  for (const { p, want } of kept) assert.deepEqual([...p.bytes], [...want]);
});

Deno.test("frameIpv4Advert writes encodeIpv4Header's bytes, into the buffer given when it fits", () => {
  const advert = new Uint8Array([0x31, 51, 150, 1, 0, 1, 0x12, 0x34, 198, 51, 100, 1]);
  for (const [id, ttl] of [[1, 255], [0xffff, 1], [4242, 64]]) {
    const want = new Uint8Array(20 + advert.length);
    want.set(
      encodeIpv4Header({
        src: "192.0.2.11",
        dst: GROUP,
        ttl,
        tos: VRRP_TOS,
        protocol: IPPROTO_VRRP,
        id,
        payloadLength: advert.length,
        df: false,
      }),
    );
    want.set(advert, 20);
    assert.deepEqual(frameIpv4Advert(advert, GROUP, "192.0.2.11", ttl, id), want);
    const into = new Uint8Array(want.length).fill(0xaa);
    assert.equal(frameIpv4Advert(advert, GROUP, "192.0.2.11", ttl, id, into), into);
    assert.deepEqual(into, want);
    const small = new Uint8Array(want.length - 1);
    const made = frameIpv4Advert(advert, GROUP, "192.0.2.11", ttl, id, small);
    assert.notEqual(made, small);
    assert.deepEqual(made, want);
  }
  assert.throws(() => frameIpv4Advert(advert, "ff02::12", "fe80::1", 255, 1), RangeError);
});

Deno.test("pseudo-header sums give the checksum of the built pseudo-header and message", () => {
  const next = rng(3);
  for (let n = 0; n < 2000; n++) {
    const v6 = n % 2 === 1;
    const alen = v6 ? 16 : 4;
    const src = Uint8Array.from({ length: alen }, () => next() & 0xff);
    const dst = Uint8Array.from({ length: alen }, () => next() & 0xff);
    const msg = Uint8Array.from({ length: next() % 64 }, () => next() & 0xff);
    const pseudo = v6
      ? ipv6PseudoHeader(src, dst, IPPROTO_VRRP, msg.length)
      : ipv4PseudoHeader(src, dst, IPPROTO_VRRP, msg.length);
    const sum = v6
      ? ipv6PseudoSum(src, dst, IPPROTO_VRRP, msg.length)
      : ipv4PseudoSum(src, dst, IPPROTO_VRRP, msg.length);
    assert.equal(checksumFrom(sum, msg), internetChecksum(pseudo, msg));
    assert.equal(checksumFrom(0, msg), internetChecksum(msg));
  }
});

Deno.test("RecvMsgReader reads each datagram queued, then reports nothing left", () => {
  const rx = openSocket(AF_INET, SOCK_DGRAM, 0);
  const tx = openSocket(AF_INET, SOCK_DGRAM, 0);
  try {
    bindSocket(rx, sockaddrIn("127.0.0.1", 0));
    const name = getSockName(rx);
    assert.ok("port" in name);
    const to = sockaddrIn("127.0.0.1", name.port);
    const sent = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array([9, 8, 7, 6, 5])];
    for (const s of sent) sendTo(tx, s, to);
    const buf = new Uint8Array(64);
    const reader = new RecvMsgReader(buf);
    for (const s of sent) {
      const got = reader.read(rx);
      assert.ok(got !== null);
      assert.deepEqual([...buf.subarray(0, got.n)], [...s]);
      assert.equal(got.from.family, AF_INET);
      assert.ok("address" in got.from);
      assert.equal(formatIp(got.from.address), "127.0.0.1");
      assert.deepEqual(got.cmsgs, []);
    }
    assert.equal(reader.read(rx), null);
    assert.equal(parseIp("127.0.0.1")?.family, "ipv4");
  } finally {
    closeFd(rx);
    closeFd(tx);
  }
});
