/**
 * lib/sys/byte_scan.ts: memcmp's common start and end are exact wherever the first
 * difference falls (inside a stride, on a stride's or a halving's edge, in the last
 * bytes), agree with the loader's JavaScript scans on random edits, and a loader
 * reloading by parts with them gives a whole parse's result.
 */
import assert from "node:assert/strict";
import { commonPrefixNative, commonSuffixNative } from "../../lib/sys/byte_scan.ts";
import { commonPrefix, commonSuffix, ConfigLoader } from "../../lib/config/incremental.ts";
import { parseConfig } from "../../lib/config/mod.ts";
import { createRng } from "../../lib/sim/rng.ts";

const STRIDE = 64 * 1024;

/** Where a difference is worth putting for a scan by strides halved down to 64 bytes. */
function edges(len: number): number[] {
  const at = new Set<number>([0, 1, len - 1, len - 2]);
  for (let step = STRIDE; step >= 32; step >>= 1) {
    for (const base of [0, STRIDE, 3 * STRIDE]) {
      for (const d of [-1, 0, 1]) at.add(base + step + d);
    }
  }
  return [...at].filter((i) => i >= 0 && i < len).sort((x, y) => x - y);
}

Deno.test("commonPrefixNative: the first difference wherever it falls, and none at all", () => {
  const len = 4 * STRIDE + 777;
  const a = new Uint8Array(len).map((_, i) => (i * 31) & 0xff);
  assert.equal(commonPrefixNative(a, a.slice()), len);
  assert.equal(commonPrefixNative(a, a.slice(0, len - 5)), len - 5);
  assert.equal(commonPrefixNative(new Uint8Array(0), a), 0);
  for (const i of edges(len)) {
    const b = a.slice();
    b[i] ^= 0x40;
    assert.equal(commonPrefixNative(a, b), i, `difference at ${i}`);
    // Views that do not start their buffers: memcmp must see the views' bytes.
    const va = new Uint8Array(len + 3);
    va.set(a, 3);
    const vb = new Uint8Array(len + 1);
    vb.set(b, 1);
    assert.equal(commonPrefixNative(va.subarray(3), vb.subarray(1)), i, `views, ${i}`);
  }
});

Deno.test("commonSuffixNative: the last difference wherever it falls, within the bound", () => {
  const len = 4 * STRIDE + 555;
  const a = new Uint8Array(len).map((_, i) => (i * 17 + 5) & 0xff);
  assert.equal(commonSuffixNative(a, a.slice(), len), len);
  assert.equal(commonSuffixNative(a, a.slice(), 1000), 1000);
  for (const i of edges(len)) {
    const b = a.slice();
    b[i] ^= 0x40;
    assert.equal(commonSuffixNative(a, b, len), len - 1 - i, `difference at ${i}`);
    // A longer b (an insertion before the difference): ends aligned, not starts.
    const longer = new Uint8Array(len + 9);
    longer.set(b, 9);
    assert.equal(commonSuffixNative(a, longer, len), len - 1 - i, `longer, ${i}`);
  }
});

// The JavaScript scans are held to a byte-by-byte scan in config_incremental_test.ts.
Deno.test("the native scans agree with the JavaScript scans on random edits", () => {
  const rng = createRng(11);
  for (let t = 0; t < 300; t++) {
    const len = rng.int(0, 3 * STRIDE);
    const a = new Uint8Array(len).map(() => rng.int(0, 2));
    const b = new Uint8Array(Math.max(0, len + rng.int(-40, 40)));
    b.set(a.subarray(0, Math.min(a.length, b.length)));
    if (b.length > 0) b[rng.int(0, b.length - 1)] = rng.int(0, 2);
    const p = commonPrefixNative(a, b);
    assert.equal(p, commonPrefix(a, b), `prefix, case ${t}`);
    const max = Math.min(a.length, b.length) - p;
    assert.equal(commonSuffixNative(a, b, max), commonSuffix(a, b, max), `suffix, case ${t}`);
  }
});

Deno.test("a loader given memcmp's scans reloads one edited virtual server by parts", () => {
  const vss = Array.from(
    { length: 1200 },
    (_, k) =>
      `[virtual_server.vs_${k}]\naddress = "192.0.2.100"\nport = ${10000 + k}\nlb_kind = "DR"\n\n` +
      `[[virtual_server.vs_${k}.real_server]]\naddress = "10.2.0.11"\nweight = 1\n\n`,
  );
  const first = '[global]\nrouter_id = "lb"\n\n' + vss.join("");
  assert.ok(first.length > 2 * STRIDE, "the file spans strides");
  const loader = new ConfigLoader({}, { prefix: commonPrefixNative, suffix: commonSuffixNative });
  assert.ok(loader.parse(first, "lb.toml").ok);
  for (const k of [0, 600, 1199]) {
    const marker = `port = ${10000 + k}\nlb_kind = "DR"\n\n[[virtual_server.vs_${k}.real_server]]` +
      `\naddress = "10.2.0.11"\nweight = 1`;
    const next = first.replace(marker, marker.replace("weight = 1", "weight = 7"));
    assert.notEqual(next, first);
    const r = loader.parse(next, "lb.toml");
    assert.equal(loader.lastMode, "incremental", `vs_${k}`);
    assert.deepStrictEqual(r, parseConfig(next, "lb.toml"));
    assert.ok(loader.parse(first, "lb.toml").ok);
  }
});
