/**
 * The address helpers the packet path leans on: the IPv4 scanner refuses what the
 * old split-and-regex parser refused, formatted and canonical texts are shared
 * rather than rebuilt, and the set comparison answers like a set.
 */
import assert from "node:assert/strict";
import { canonicalIp, formatIp, parseIp, parseIpv4, sameIpSet } from "../../lib/net/addr.ts";

/** The parser before the scanner: the reference the scanner must agree with. */
function referenceParseIpv4(text: string): number[] | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out.push(n);
  }
  return out;
}

Deno.test("parseIpv4 accepts and refuses exactly what the split-and-regex parser did", () => {
  const cases = [
    "0.0.0.0",
    "255.255.255.255",
    "192.0.2.1",
    "10.0.0.10",
    "1.2.3",
    "1.2.3.4.5",
    "1.2.3.",
    ".1.2.3",
    "1..2.3",
    "01.2.3.4",
    "00.1.2.3",
    "1.2.3.04",
    "256.1.1.1",
    "1.2.3.1000",
    "1.2.3.999",
    "1.2.3.4 ",
    " 1.2.3.4",
    "a.b.c.d",
    "1.2.3.-4",
    "1.2.3.+4",
    "",
    "....",
    "1.2.3.4%eth0",
    "fe80::1",
    "١.2.3.4",
    "1e2.0.0.1",
    "0x1.2.3.4",
  ];
  for (const c of cases) {
    const got = parseIpv4(c);
    assert.deepEqual(got === null ? null : [...got], referenceParseIpv4(c), c);
  }
  // And at random, over digit-and-dot strings.
  const alphabet = "0123456789.";
  let seed = 7;
  for (let n = 0; n < 20_000; n++) {
    let s = "";
    const len = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 16;
    for (let i = 0; i < len; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      s += alphabet[seed % alphabet.length];
    }
    const got = parseIpv4(s);
    assert.deepEqual(got === null ? null : [...got], referenceParseIpv4(s), s);
  }
});

Deno.test("formatIp hands out the same IPv4 text for the same bytes, and right after many", () => {
  const a = formatIp(new Uint8Array([192, 0, 2, 1]));
  assert.equal(a, "192.0.2.1");
  assert.equal(formatIp(new Uint8Array([192, 0, 2, 1])), a);
  // More distinct addresses than the cache holds: every text stays right.
  for (let i = 0; i < 3000; i++) {
    const b = [10, (i >> 8) & 0xff, i & 0xff, 255 - (i & 0xff)];
    assert.equal(formatIp(new Uint8Array(b)), b.join("."));
  }
  assert.equal(formatIp(new Uint8Array([0, 0, 0, 0])), "0.0.0.0");
  assert.equal(formatIp(new Uint8Array([255, 255, 255, 255])), "255.255.255.255");
});

Deno.test("canonicalIp answers the same from its cache, for good and bad texts", () => {
  for (let round = 0; round < 2; round++) {
    assert.equal(canonicalIp("FE80:0:0::01"), "fe80::1");
    assert.equal(canonicalIp("192.0.2.1"), "192.0.2.1");
    assert.equal(canonicalIp("192.0.2.01"), null);
    assert.equal(canonicalIp("not an address"), null);
  }
  for (let i = 1; i <= 3000; i++) {
    const text = `2001:DB8::${i.toString(16)}`;
    assert.equal(canonicalIp(text), `2001:db8::${i.toString(16)}`);
  }
  assert.equal(parseIp("2001:db8::1")?.family, "ipv6");
});

Deno.test("sameIpSet compares canonical sets: order, duplicates and spelling do not count", () => {
  assert.equal(sameIpSet(["192.0.2.1", "192.0.2.2"], ["192.0.2.1", "192.0.2.2"]), true);
  assert.equal(sameIpSet(["192.0.2.2", "192.0.2.1"], ["192.0.2.1", "192.0.2.2"]), true);
  assert.equal(sameIpSet(["fe80::1"], ["FE80:0::1"]), true);
  assert.equal(sameIpSet(["192.0.2.1", "192.0.2.1"], ["192.0.2.1"]), true);
  assert.equal(sameIpSet(["192.0.2.1"], ["192.0.2.2"]), false);
  assert.equal(sameIpSet(["192.0.2.1", "192.0.2.2"], ["192.0.2.1"]), false);
  assert.equal(sameIpSet(["192.0.2.1", "192.0.2.1"], ["192.0.2.1", "192.0.2.2"]), false);
  assert.equal(sameIpSet([], []), true);
});
