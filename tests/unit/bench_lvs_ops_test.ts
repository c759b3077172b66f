/**
 * The LVS operations benchmark's pure parts: the NAT director configs of the reload run
 * (hacore's loads with the drain deadline and the real servers; keepalived's passes
 * `keepalived -t`), the load summary's counts for the removed server's connections, and
 * the count of IPVS operations hacore logged (single lines and summaries, never both).
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/mod.ts";
import {
  type ConnRecord,
  hacoreNatToml,
  hacoreOpsApplied,
  keepalivedNatConf,
  type NatSpec,
  summarizeLoad,
} from "../../scripts/bench/lib/lvs_ops.ts";

const SPEC: NatSpec = {
  vip: "10.3.0.100",
  port: 8080,
  reals: ["10.4.0.11", "10.4.0.12", "10.4.0.13"],
  drainDeadlineS: 30,
};

Deno.test("hacore's NAT config loads with its drain deadline and every real server", () => {
  const r = parseConfig(hacoreNatToml(SPEC), "ops.toml");
  if (!r.ok) throw new Error(JSON.stringify(r.errors.slice(0, 3)));
  assert.equal(r.config.lvs.drainDeadlineMs, 30_000);
  const [vs] = r.config.virtualServers;
  assert.equal(r.config.virtualServers.length, 1);
  assert.equal(vs.method, "NAT");
  assert.deepEqual(vs.target, { kind: "address", address: "10.3.0.100", port: 8080 });
  assert.deepEqual(vs.realServers.map((rs) => rs.address), SPEC.reals);
});

Deno.test({
  name: "keepalived's NAT config passes keepalived -t",
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
    const dir = await Deno.makeTempDir({ prefix: "hacore-bench-ops-" });
    try {
      const file = `${dir}/ka.conf`;
      await Deno.writeTextFile(file, keepalivedNatConf(SPEC));
      const out = await new Deno.Command("/usr/sbin/keepalived", {
        args: ["-t", "-f", file],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, err);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const conn = (
  server: string | null,
  ok: number,
  timeouts = 0,
  errors = 0,
  firstFailMs: number | null = null,
): ConnRecord => ({ server, ok, timeouts, errors, firstFailMs });

Deno.test("the load summary counts the removed server's failed connections apart", () => {
  const s = summarizeLoad([
    conn("a:80", 100),
    conn("c:80", 40, 1, 0, 6200),
    conn("c:80", 90),
    conn("c:80", 35, 0, 1, 5100),
    conn(null, 0, 0, 1, 9000),
  ], "c:80");
  assert.equal(s.connections, 5);
  assert.equal(s.ok, 265);
  assert.equal(s.failed, 3);
  assert.equal(s.timeouts, 1);
  assert.equal(s.requests, 268);
  assert.equal(s.removedConns, 3);
  assert.equal(s.removedConnsFailed, 2);
  assert.equal(s.removedFailed, 2);
  assert.equal(s.firstFailMs, 5100);
  assert.deepEqual(s.okByServer, { "a:80": 100, "c:80": 165 });
});

const log = (msg: string) => JSON.stringify({ level: "info", msg });

Deno.test("hacore's operations count each single line, and a summary once with its first ten", () => {
  const first10 = Array.from(
    { length: 10 },
    (_, i) => log(`lvs: addDest 1.2.3.4:80 -> 10.0.0.${i}:80 weight 1`),
  );
  const lines = [
    log("lvs starting: 2 virtual servers"),
    log("lvs: editDest 1.2.3.4:80 -> 10.0.0.9:80 weight 0"),
    ...first10,
    log("lvs: applied 42 operations: 2 addService, 40 addDest (0 failed)"),
    log("lvs: delDest 1.2.3.4:80 -> 10.0.0.9:80 weight 0"),
    JSON.stringify({
      level: "error",
      msg: "lvs: addDest 1.2.3.4:80 -> 10.0.0.1:80 weight 1 failed: EEXIST",
    }),
  ];
  assert.equal(hacoreOpsApplied(lines), 1 + 42 + 1);
  assert.equal(hacoreOpsApplied([log("lvs starting: 2000 virtual servers")]), 0);
});
