/**
 * The LVS benchmark's pure parts: the workloads as each daemon's config (hacore's loads
 * into the expected virtual servers, real servers and pacing; keepalived's passes
 * `keepalived -t`), the one-weight edit of the reload, reading `/proc/net/ip_vs`, and
 * which log lines count as errors.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/mod.ts";
import { parseProcIpvs } from "../../scripts/bench/lib/ipvs_table.ts";
import {
  BENCH_PACING,
  hacoreLvsToml,
  keepalivedLvsConf,
  lvsWorkload,
  realAddresses,
  withWeight,
} from "../../scripts/bench/lib/lvs_configs.ts";
import { isHacoreError, isKeepalivedEexist } from "../../scripts/bench/lib/lvs_daemons.ts";

Deno.test("hacore's config of the CPU workload loads with every real server checked at the pacing", () => {
  const w = lvsWorkload({ ports: [10000, 10099], reals: realAddresses(10), check: "http" });
  const r = parseConfig(hacoreLvsToml(w), "bench.toml");
  if (!r.ok) throw new Error(JSON.stringify(r.errors.slice(0, 3)));
  const vss = r.config.virtualServers;
  assert.equal(vss.length, 100);
  assert.deepEqual(vss[99].target, { kind: "address", address: "192.0.2.100", port: 10099 });
  assert.equal(vss[0].method, "DR");
  assert.equal(vss[0].alpha, false);
  const rss = vss.flatMap((v) => v.realServers);
  assert.equal(rss.length, 1000);
  assert.deepEqual(rss[0].checks.map((c) => [c.check.kind, c.intervalMs, c.timeoutMs]), [
    ["http", 1000, 1000],
  ]);
  assert.equal(rss[0].checks[0].retry, BENCH_PACING.retry);
  assert.equal(rss[0].checks[0].delayBeforeRetryMs, 1000);
  assert.equal(rss[13].address, "10.2.0.14");
  assert.equal(rss[13].port, 10001);
});

Deno.test("hacore's big table has no checks, and the reload edit changes one weight only", () => {
  const w = lvsWorkload({ ports: [10000, 10999], reals: realAddresses(10), check: "none" });
  const edited = withWeight(w, 10999, "10.2.0.11", 5);
  const r = parseConfig(hacoreLvsToml(edited), "bench.toml");
  if (!r.ok) throw new Error(JSON.stringify(r.errors.slice(0, 3)));
  const rss = r.config.virtualServers.flatMap((v) => v.realServers);
  assert.equal(rss.length, 10_000);
  assert.equal(rss.filter((x) => x.checks.length > 0).length, 0);
  assert.deepEqual(
    rss.filter((x) => x.weight !== 1).map((x) => [x.address, x.port, x.weight]),
    [["10.2.0.11", 10999, 5]],
  );
  // The original is left as it was.
  assert.equal(w.services[999].reals[0].weight, 1);
});

Deno.test({
  name: "keepalived's config of the death workload passes keepalived -t",
  ignore: (() => {
    try {
      Deno.statSync("/usr/sbin/keepalived");
      return false;
    } catch {
      console.log("skipped: keepalived is not installed at /usr/sbin/keepalived");
      return true;
    }
  })(),
  fn: async () => {
    const reals = [{ address: "10.2.1.2", weight: 1 }];
    const text = keepalivedLvsConf({
      vip: "192.0.2.100",
      pacing: BENCH_PACING,
      services: [{ port: 80, check: "tcp", reals }, { port: 8080, check: "http", reals }],
    });
    assert.match(text, /TCP_CHECK \{\n\s+connect_timeout 1\n\s+retry 1\n\s+delay_before_retry 1/);
    assert.match(text, /HTTP_GET \{\n\s+url \{\n\s+path \/\n\s+status_code 200/);
    const file = await Deno.makeTempFile({ suffix: ".conf" });
    try {
      await Deno.writeTextFile(file, text);
      const out = await new Deno.Command("/usr/sbin/keepalived", {
        args: ["-t", "-f", file],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, err);
      assert.doesNotMatch(err, /not found|Unknown keyword/);
    } finally {
      await Deno.remove(file);
    }
  },
});

Deno.test("parseProcIpvs reads services, destinations and weights as dotted addresses", () => {
  const text = [
    "IP Virtual Server version 1.2.1 (size=4096)",
    "Prot LocalAddress:Port Scheduler Flags",
    "  -> RemoteAddress:Port Forward Weight ActiveConn InActConn",
    "TCP  C0000264:0050 wrr  ",
    "  -> 0A020102:0050      Route   5      0          0         ",
    "  -> 0A02000B:0050      Route   1      0          0         ",
    "TCP  C0000264:1F90 wrr  ",
    "FWM  00000007 wlc  ",
    "  -> 0A02000C:0000      Route   0      0          0         ",
    "",
  ].join("\n");
  const t = parseProcIpvs(text);
  assert.equal(t.services, 3);
  assert.equal(t.dests, 3);
  assert.deepEqual([...t.table.get("192.0.2.100:80")!], [["10.2.1.2:80", 5], ["10.2.0.11:80", 1]]);
  assert.equal(t.table.get("192.0.2.100:8080")!.size, 0);
  assert.equal(t.table.get("00000007")!.get("10.2.0.12:0"), 0);
});

Deno.test("error lines: hacore's error level, keepalived's already-exists", () => {
  assert.equal(isHacoreError('{"ts":"x","level":"error","msg":"lvs: addDest failed"}'), true);
  assert.equal(isHacoreError('{"ts":"x","level":"info","msg":"lvs: no error here"}'), false);
  assert.equal(
    isKeepalivedEexist(
      "IPVS cmd IP_VS_SO_SET_ADDDEST(1159) error: Destination already exists(17) (x -> y)",
    ),
    true,
  );
  assert.equal(
    isKeepalivedEexist("Gained quorum 1+0=1 <= 10 for VS [192.0.2.100]:tcp:10010"),
    false,
  );
});
