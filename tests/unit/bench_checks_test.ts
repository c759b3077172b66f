/**
 * The checks benchmark's pure parts: the workload as each daemon's config (hacore's
 * loads into the expected instances and checks; keepalived's passes `keepalived -t`),
 * advert lateness from captured frames, and check rates from server counts.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/mod.ts";
import { advertLateness } from "../../scripts/bench/lib/adverts.ts";
import type { Frame } from "../../scripts/bench/lib/capture.ts";
import {
  CHECK_TIMING,
  checkSet,
  hacoreChecksToml,
  HTTP_PORTS,
  keepalivedChecksConf,
  manyInstances,
  TCP_PORTS,
} from "../../scripts/bench/lib/check_configs.ts";
import { rates } from "../../scripts/bench/lib/check_servers.ts";
import {
  keepalivedConfigTest,
  keepalivedMissing,
} from "../../scripts/bench/lib/keepalived_check.ts";

Deno.test("checkSet spreads TCP and HTTP checks round-robin over their ports", () => {
  const c = checkSet(12, 3);
  assert.equal(c.length, 15);
  assert.deepEqual(c.slice(0, 2).map((x) => [x.name, x.kind, x.port]), [
    ["tcp_1", "tcp", TCP_PORTS[0]],
    ["tcp_2", "tcp", TCP_PORTS[0] + 1],
  ]);
  // 10 TCP ports: the 11th check wraps to the first.
  assert.equal(c[10].port, TCP_PORTS[0]);
  assert.deepEqual(c.slice(12).map((x) => x.port), [HTTP_PORTS[0], HTTP_PORTS[1], HTTP_PORTS[0]]);
});

Deno.test("every check of the workload has a target of its own, so none is merged into another", () => {
  const c = checkSet(1000, 200);
  assert.equal(new Set(c.map((x) => `${x.host}:${x.port}`)).size, 1200);
  assert.deepEqual(c.slice(0, 2).map((x) => x.host), ["127.1.0.1", "127.1.0.2"]);
  assert.equal(c[250].host, "127.1.1.1");
  assert.ok(c.every((x) => /^127\.1\.\d+\.([1-9]\d*)$/.test(x.host) && !x.host.endsWith(".255")));
});

Deno.test("manyInstances gives every check to exactly one instance", () => {
  const checks = checkSet(800, 200);
  const inst = manyInstances(255, checks, 1);
  assert.deepEqual(inst.map((i) => i.vrid), Array.from({ length: 255 }, (_, i) => i + 1));
  const tracked = inst.flatMap((i) => i.track);
  assert.equal(tracked.length, 1000);
  assert.equal(new Set(tracked).size, 1000);
  assert.equal(new Set(inst.map((i) => i.vip)).size, 255);
  assert.throws(() => manyInstances(256, checks, 1), /1\.\.255/);
});

Deno.test("hacore's config of the workload loads with every check tracked", () => {
  const checks = checkSet(800, 200);
  const inst = manyInstances(255, checks, 1);
  const r = parseConfig(hacoreChecksToml("node1", inst, checks, CHECK_TIMING), "bench.toml");
  if (!r.ok) throw new Error(JSON.stringify(r.errors.slice(0, 3)));
  assert.equal(r.config.instances.length, 255);
  assert.equal(r.config.scripts.length, 1000);
  const tcp1 = r.config.scripts.find((s) => s.name === "tcp_1")!;
  assert.deepEqual(tcp1.check, { kind: "tcp", target: { host: "127.1.0.1", port: 8001 } });
  assert.equal(tcp1.intervalMs, 1000);
  assert.equal(tcp1.weight, -1);
  const http1 = r.config.scripts.find((s) => s.name === "http_1")!;
  assert.equal(http1.check.kind, "http");
  assert.equal(r.config.instances.reduce((n, i) => n + i.trackScripts.length, 0), 1000);
  const vi1 = r.config.instances.find((i) => i.name === "VI_1")!;
  assert.equal(vi1.version, 3);
  assert.equal(vi1.advertIntervalMs, 1000);
});

Deno.test("the one-instance load config advertises every 10 ms", () => {
  const checks = checkSet(3, 1);
  const toml = hacoreChecksToml(
    "node1",
    [{
      name: "VI_1",
      vrid: 51,
      advertIntS: 0.01,
      vip: "192.0.2.100/24",
      track: checks.map((c) => c.name),
    }],
    checks,
    CHECK_TIMING,
  );
  const r = parseConfig(toml, "load.toml");
  if (!r.ok) throw new Error(JSON.stringify(r.errors.slice(0, 3)));
  assert.equal(r.config.instances[0].trackScripts.length, 4);
  assert.equal(r.config.instances[0].advertIntervalMs, 10);
});

Deno.test({
  name: "keepalived's config of the workload passes keepalived -t",
  ignore: keepalivedMissing(),
  fn: async () => {
    const checks = checkSet(20, 5);
    const text = keepalivedChecksConf(
      "node1",
      manyInstances(5, checks, 1),
      checks,
      CHECK_TIMING,
      { nc: null, curl: "/usr/bin/curl" },
    );
    assert.equal(text.match(/^vrrp_script /gm)?.length, 25);
    assert.match(text, /script "\/bin\/bash -c '<\/dev\/tcp\/127\.1\.0\.1\/8001'"/);
    assert.match(
      text,
      /script "\/usr\/bin\/curl -sf -o \/dev\/null --max-time 1 http:\/\/127\.1\.0\.21:8080\//,
    );
    const r = await keepalivedConfigTest(text);
    assert.equal(r.code, 0, r.output);
    assert.doesNotMatch(r.output, /not found|Unknown keyword/);
  },
});

/** An Ethernet + IPv4 + VRRP frame from `src` for `vrid` with `priority`. */
function vrrpFrame(realMs: number, src: number, vrid: number, priority: number): Frame {
  const b = new Uint8Array(14 + 20 + 12);
  b[12] = 0x08;
  b[13] = 0x00;
  b[14] = 0x45;
  b[14 + 9] = 112;
  b.set([192, 0, 2, src], 14 + 12);
  b[34] = 0x31;
  b[35] = vrid;
  b[36] = priority;
  return { realMs, data: b };
}

Deno.test("advertLateness: gaps minus the interval, one sender and VRID only", () => {
  const frames: Frame[] = [];
  // Due every 10 ms; the 4th is 3 ms late and one advert is skipped later on.
  const times = [0, 10, 20, 33, 43, 63, 73];
  for (const t of times) frames.push(vrrpFrame(1000 + t, 11, 51, 150));
  frames.push(vrrpFrame(1005, 12, 51, 100)); // another sender
  frames.push(vrrpFrame(1006, 11, 52, 150)); // another VRID
  frames.push(vrrpFrame(1080, 11, 51, 0)); // resigning, not a timer
  const l = advertLateness(frames, {
    src: "192.0.2.11",
    vrid: 51,
    intervalMs: 10,
    fromMs: 1000,
    toMs: 1100,
  });
  assert.equal(l.adverts, 7);
  assert.equal(l.expected, 10);
  // Gaps − 10: 0, 0, 3, 0, 10, 0 → sorted 0 0 0 0 3 10.
  assert.equal(l.p50Ms, 0);
  assert.equal(l.p99Ms, 10);
  assert.equal(l.maxMs, 10);
  assert.equal(l.skipped, 1);
  assert.equal(l.bunched, 0);
  const bunched = advertLateness([0, 10, 19, 20, 30].map((t) => vrrpFrame(t, 11, 51, 150)), {
    src: "192.0.2.11",
    vrid: 51,
    intervalMs: 10,
    fromMs: 0,
    toMs: 30,
  });
  assert.equal(bunched.bunched, 1);
  assert.equal(bunched.minMs, -9);
  const none = advertLateness([], {
    src: "192.0.2.11",
    vrid: 51,
    intervalMs: 10,
    fromMs: 0,
    toMs: 5,
  });
  assert.equal(none.p99Ms, null);
});

Deno.test("rates: per second of the servers' clock", () => {
  const a = { atMs: 1000, tcp: 100, http: 20, httpRequests: 20, httpBad: 0 };
  const b = { atMs: 3000, tcp: 2100, http: 420, httpRequests: 419, httpBad: 1 };
  assert.deepEqual(rates(a, b), {
    seconds: 2,
    tcpPerS: 1000,
    httpPerS: 200,
    httpRequestsPerS: 199.5,
    httpBadPerS: 0.5,
  });
});
