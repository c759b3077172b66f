/**
 * The loop benchmark's pure parts: how each kind of target is judged against hacore's
 * and keepalived's figures, the table's rows in the constants' order, and the
 * many-instance workload as each daemon's config.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/mod.ts";
import {
  ratio,
  renderVerdicts,
  type TargetId,
  TARGETS,
  verdict,
} from "../../scripts/bench/lib/loop_report.ts";
import { manyInstancesConfig } from "../../scripts/bench/lib/many_instances.ts";
import {
  keepalivedConfigTest,
  keepalivedMissing,
} from "../../scripts/bench/lib/keepalived_check.ts";

Deno.test("an absolute bound passes at the limit and fails above it", () => {
  const rule = { kind: "max", limit: 60 } as const;
  assert.equal(verdict(rule, { hacore: 60, keepalived: 15 }), "PASS");
  assert.equal(verdict(rule, { hacore: 60.1, keepalived: 15 }), "FAIL");
});

Deno.test("a ratio bound judges hacore against keepalived's figure from the same run", () => {
  const rule = { kind: "ratio", limit: 2 } as const;
  assert.equal(verdict(rule, { hacore: 0.8, keepalived: 0.4 }), "PASS");
  assert.equal(verdict(rule, { hacore: 0.81, keepalived: 0.4 }), "FAIL");
  // keepalived below /proc's tick: only a hacore at 0 too passes, and no ratio is shown.
  assert.equal(verdict(rule, { hacore: 0.01, keepalived: 0 }), "FAIL");
  assert.equal(ratio({ hacore: 0.01, keepalived: 0 }), null);
  assert.equal(verdict(rule, { hacore: 1, keepalived: null }), "n/a");
});

Deno.test("a floor passes at the limit; an unmeasured target is n/a, a record-only one '-'", () => {
  assert.equal(verdict({ kind: "min", limit: 0.9 }, { hacore: 0.9, keepalived: 1 }), "PASS");
  assert.equal(verdict({ kind: "min", limit: 0.9 }, { hacore: 0.8, keepalived: 1 }), "FAIL");
  assert.equal(verdict({ kind: "max", limit: 0 }, undefined), "n/a");
  assert.equal(verdict({ kind: "info" }, { hacore: 5, keepalived: 1 }), "-");
});

Deno.test("the verdict table has one row per target in the constants' order, with figures", () => {
  const figures = new Map<TargetId, { hacore: number; keepalived: number; hacoreText?: string }>([
    ["spawn.median", { hacore: 163.5, keepalived: 14.3 }],
    ["cold.right", { hacore: 0.5, keepalived: 1, hacoreText: "5/10" }],
  ]);
  const lines = renderVerdicts(figures).split("\n");
  assert.equal(lines.length, TARGETS.length + 1);
  assert.match(lines[0], /^target\s+bound\s+today\s+hacore\s+keepalived\s+ratio\s+verdict$/);
  assert.match(
    lines[1],
    /^spawn → BACKUP, median\s+≤ 60 ms\s+187\s+163\.5\s+14\.3\s+11\.43×\s+FAIL$/,
  );
  const cold = lines.find((l) => l.startsWith("cold start"))!;
  assert.match(cold, /5\/10\s+1\s+0\.50×\s+FAIL$/);
  assert.equal(new Set(TARGETS.map((t) => t.id)).size, TARGETS.length);
});

Deno.test("hacore's many-instance config loads as that many instances at the interval", () => {
  const r = parseConfig(manyInstancesConfig("hacore", "node1", 150, 50, 0.01), "many.toml");
  if (!r.ok) throw new Error(JSON.stringify(r.errors.slice(0, 3)));
  assert.equal(r.config.instances.length, 50);
  assert.deepEqual(
    r.config.instances.map((i) => i.vrid),
    Array.from({ length: 50 }, (_, i) => i + 1),
  );
  assert.ok(r.config.instances.every((i) => i.priority === 150 && i.advertIntervalMs === 10));
});

Deno.test({
  name: "keepalived's many-instance config passes keepalived -t",
  ignore: keepalivedMissing(),
  fn: async () => {
    const text = manyInstancesConfig("keepalived", "node1", 100, 3, 0.01);
    assert.equal(text.match(/^vrrp_instance /gm)?.length, 3);
    const r = await keepalivedConfigTest(text);
    assert.equal(r.code, 0, r.output);
  },
});

Deno.test("a figure measured off the target's conditions is VOID, with the reason below the table", () => {
  assert.equal(
    verdict({ kind: "max", limit: 2 }, { hacore: 1, keepalived: 5, void: "1% load" }),
    "VOID",
  );
  const out = renderVerdicts(
    new Map([["late.checks", { hacore: 1, keepalived: 5, void: "1% load" }]]),
  );
  assert.match(out, /VOID$/m);
  assert.match(
    out.split("\n").at(-1)!,
    /^VOID advert lateness p99, 1,000 TCP \+ 200 HTTP\/s: 1% load$/,
  );
});
